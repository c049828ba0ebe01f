//! What became of each scenario in `netrig run`, and the tally.

use std::fmt;
use std::io::{self, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use crate::parse::load::Diagnostics;
use crate::report::kernel_release;
use crate::run::Outcome;

/// How one scenario ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Passed,
    Failed,
    Skipped,
    /// The file did not parse or validate: nothing was built.
    Invalid,
    /// A signal ended `netrig run` before this scenario finished (or started).
    Interrupted,
}

/// One scenario's result, as the display, `--json` and `--junit` report it.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub name: String,
    pub path: PathBuf,
    pub verdict: Verdict,
    pub duration: Duration,
    /// Why it failed, was skipped or is invalid; `None` when it passed.
    pub message: Option<String>,
    /// The release of the kernel it ran on (`uname -r`; in a VM: the guest's).
    pub kernel: String,
}

impl ScenarioResult {
    pub fn of_run(name: &str, path: PathBuf, outcome: Outcome, duration: Duration) -> Self {
        let (verdict, message) = match outcome {
            Outcome::Passed(_) => (Verdict::Passed, None),
            Outcome::Failed { message, .. } => (Verdict::Failed, Some(message)),
            Outcome::Skipped(reason) => (Verdict::Skipped, Some(reason)),
        };
        ScenarioResult { name: name.to_string(), path, verdict, duration, message, kernel: kernel_release() }
    }

    pub fn invalid(name: &str, path: PathBuf, diagnostics: &Diagnostics) -> Self {
        let message = Some(diagnostics.to_string());
        let (verdict, duration, kernel) = (Verdict::Invalid, Duration::ZERO, kernel_release());
        ScenarioResult { name: name.to_string(), path, verdict, duration, message, kernel }
    }

    /// `signal` ended the run while this scenario played (`duration` so far) or before
    /// it started (`duration` zero).
    pub fn interrupted(name: &str, path: PathBuf, signal: Signal, duration: Duration) -> Self {
        let when = if duration.is_zero() { "before it started" } else { "while it ran" };
        let message = Some(format!("interrupted by {signal} {when}"));
        let (verdict, kernel) = (Verdict::Interrupted, kernel_release());
        ScenarioResult { name: name.to_string(), path, verdict, duration, message, kernel }
    }

    /// One line of `--json` output: `{"name":…,"path":…,"outcome":
    /// "passed|failed|skipped|invalid|interrupted","duration_ms":…,"message":…|null,
    /// "kernel":"6.1.0-57-amd64"}`.
    pub fn json_line(&self) -> String {
        let line = Line {
            name: self.name.clone(),
            path: self.path.display().to_string(),
            outcome: self.verdict,
            duration_ms: self.duration.as_millis() as u64,
            message: self.message.clone(),
            kernel: self.kernel.clone(),
        };
        serde_json::to_string(&line).expect("plain strings and numbers serialize")
    }

    /// The result a `--json` line describes (read back from a VM's run); `None` for any
    /// other line.
    pub fn from_json_line(line: &str) -> Option<ScenarioResult> {
        let line: Line = serde_json::from_str(line.trim()).ok()?;
        Some(ScenarioResult {
            name: line.name,
            path: line.path.into(),
            verdict: line.outcome,
            duration: Duration::from_millis(line.duration_ms),
            message: line.message,
            kernel: line.kernel,
        })
    }
}

/// A `--json` line.
#[derive(Serialize, Deserialize)]
struct Line {
    name: String,
    path: String,
    outcome: Verdict,
    duration_ms: u64,
    message: Option<String>,
    kernel: String,
}

/// The tally of a run. Invalid scenarios count as failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub interrupted: usize,
}

impl Summary {
    pub fn of(results: &[ScenarioResult]) -> Summary {
        let count = |f: fn(Verdict) -> bool| results.iter().filter(|r| f(r.verdict)).count();
        Summary {
            passed: count(|v| v == Verdict::Passed),
            failed: count(|v| matches!(v, Verdict::Failed | Verdict::Invalid)),
            skipped: count(|v| v == Verdict::Skipped),
            interrupted: count(|v| v == Verdict::Interrupted),
        }
    }

    pub fn all_passed(&self) -> bool {
        self.failed == 0 && self.interrupted == 0
    }
}

/// `N passed, N failed, N skipped`: the closing line test tooling recognises, with
/// `, N interrupted` after it when a signal ended the run.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed, {} skipped", self.passed, self.failed, self.skipped)?;
        if self.interrupted > 0 {
            write!(f, ", {} interrupted", self.interrupted)?;
        }
        Ok(())
    }
}

/// Where `--json` lines go: the process's own stdout, which nothing else may write to
/// from then on ([`claim_stdout`]).
pub struct JsonLines(std::fs::File);

impl JsonLines {
    pub fn write(&mut self, result: &ScenarioResult) {
        // A reader that went away is no reason to stop the run.
        let _ = writeln!(self.0, "{}", result.json_line());
    }
}

/// What else the process printed on stdout under `--json` (insta prints a snapshot's
/// summary and diff there), caught in a memory file. The thread playing the scenarios
/// takes it after each one ([`Printed::take`]).
pub struct Printed(std::fs::File);

impl Printed {
    /// What was printed since the last call, which belongs to `result` (just played):
    /// also put before its message when it did not pass, so that a JSON reader (the
    /// host of a `--kernel` run) sees the diff. Whoever shows `result` shows this too.
    pub fn take(&mut self, result: &mut ScenarioResult) -> String {
        use std::io::{Read as _, Seek as _};
        let _ = io::stdout().flush();
        let mut printed = String::new();
        // The memory file shares its offset with stdout: back to 0, emptied, for the next.
        let read = self.0.rewind().and_then(|()| self.0.read_to_string(&mut printed));
        let _ = self.0.set_len(0).and_then(|()| self.0.rewind());
        if read.is_err() || printed.trim().is_empty() {
            return String::new();
        }
        let failed = !matches!(result.verdict, Verdict::Passed | Verdict::Skipped);
        if let (Some(message), true) = (&mut result.message, failed) {
            *message = format!("{printed}{message}");
        }
        printed
    }
}

/// Keep stdout for the JSON lines: from here on, what else writes to stdout writes to
/// a memory file instead.
pub fn claim_stdout() -> io::Result<(JsonLines, Printed)> {
    io::stdout().flush()?;
    let lines = nix::unistd::dup(io::stdout())?;
    let printed = nix::sys::memfd::memfd_create("netrig-stdout", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)?;
    nix::unistd::dup2_stdout(&printed)?;
    Ok((JsonLines(lines.into()), Printed(printed.into())))
}
