//! What `netrig run` shows while it works.
//!
//! On a terminal: a status line (`[3/15] seeds::docker_bridge_nat …`) replaced by each
//! result, coloured. Elsewhere (CI logs, pipes): plain lines only, no escape codes.
//! With `--json` stdout carries the JSON lines, so this display goes to stderr.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use super::plural;
use super::results::{ScenarioResult, Summary, Verdict};

pub struct Progress {
    out: Box<dyn Write>,
    /// Overwrite the status line in place (a terminal).
    live: bool,
    /// ANSI colours (a terminal, and NO_COLOR unset).
    colour: bool,
    total: usize,
    started: usize,
}

impl Progress {
    /// Display on stdout, or on stderr when stdout carries machine output.
    pub fn new(total: usize, on_stderr: bool) -> Progress {
        let (out, live): (Box<dyn Write>, bool) = if on_stderr {
            (Box::new(std::io::stderr()), std::io::stderr().is_terminal())
        } else {
            (Box::new(std::io::stdout()), std::io::stdout().is_terminal())
        };
        let colour = live && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Progress { out, live, colour, total, started: 0 }
    }

    /// A scenario starts (shown only on a terminal: a plain log gets the result line).
    pub fn start(&mut self, name: &str) {
        self.started += 1;
        if self.live {
            let width = self.total.to_string().len();
            let _ = write!(self.out, "\r\x1b[2K[{:>width$}/{}] {name} …", self.started, self.total);
            let _ = self.out.flush();
        }
    }

    /// A scenario ended: one line, then the message (indented) unless it passed.
    pub fn finish(&mut self, r: &ScenarioResult) {
        if self.live {
            let _ = write!(self.out, "\r\x1b[2K");
        }
        let (word, colour) = match r.verdict {
            Verdict::Passed => ("PASS", "32"),
            Verdict::Failed => ("FAIL", "31"),
            Verdict::Skipped => ("SKIP", "33"),
            Verdict::Invalid => ("INVALID", "31"),
            Verdict::Interrupted => ("INTERRUPTED", "35"),
        };
        let word = self.paint(word, colour);
        // An invalid file never ran, an interrupted one may not have: no time to show.
        let ran = r.verdict != Verdict::Invalid && !(r.verdict == Verdict::Interrupted && r.duration.is_zero());
        let time = if ran { format!(" ({})", seconds(r.duration)) } else { String::new() };
        let _ = writeln!(self.out, "{word} {}{time}", r.name);
        if let (Some(message), false) = (&r.message, r.verdict == Verdict::Passed) {
            for line in message.trim_end().lines() {
                let _ = writeln!(self.out, "    {line}");
            }
        }
        let _ = self.out.flush();
    }

    /// The closing lines: wall time, then `N passed, N failed, N skipped`.
    pub fn summary(&mut self, summary: &Summary, elapsed: Duration) {
        let _ = writeln!(self.out, "\nran {} in {}", plural(self.total, "scenario"), seconds(elapsed));
        let colour = if summary.all_passed() { "32" } else { "31" };
        let line = self.paint(&summary.to_string(), colour);
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
    }

    fn paint(&self, text: &str, code: &str) -> String {
        if self.colour { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}
