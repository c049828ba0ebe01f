//! `netrig run`: load every scenario, play the valid ones, report.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::junit::junit_xml;
use super::keep::{self, Hold};
use super::progress::Progress;
use super::results::{JsonLines, Printed, ScenarioResult, Summary, claim_stdout};
use super::signals::{Caught, Event};
use super::{plural, usage_error};
use crate::model::Scenario;
use crate::parse::load::Diagnostics;
use crate::run::runner::{self, Discovered};
use crate::run::{self, Kept, Outcome, RunOptions};

pub struct Options {
    pub keep_pcaps: bool,
    pub junit: Option<PathBuf>,
    pub json: bool,
    /// Keep the (single) scenario's topology after its run, until Ctrl-C.
    pub keep: bool,
}

pub fn run(found: &[Discovered], options: &Options) -> ExitCode {
    if options.keep && found.len() != 1 {
        return usage_error(&format!(
            "--keep keeps one topology, but these paths hold {}: name one file \
             (for one row of a matrix file: `netrig shell FILE --row LABEL`)",
            plural(found.len(), "scenario"),
        ));
    }
    // Load everything first: invalid files are reported even without privileges,
    // and nothing is built while the command line is still wrong.
    let loaded: Vec<_> = found.iter().map(|d| (d, d.load())).collect();
    if loaded.iter().any(|(_, l)| l.is_ok()) {
        if let Some(reason) = runner::missing_privilege() {
            return usage_error(&reason);
        }
    }

    let started = Instant::now();
    let (mut json, printed) = match options.json.then(claim_stdout).transpose() {
        Ok(Some((lines, printed))) => (Some(lines), Some(printed)),
        Ok(None) => (None, None),
        Err(e) => return usage_error(&format!("cannot keep stdout for the JSON lines: {e}")),
    };
    let mut progress = Progress::new(found.len(), options.json);
    // Caught before the first scenario: from here on Ctrl-C or `kill` ends the run with
    // its summary and reports, the unfinished scenarios marked interrupted.
    let caught = match Caught::install() {
        Ok(caught) => caught,
        Err(e) => return usage_error(&format!("cannot catch signals: {e}")),
    };
    let played = match Player::start(loaded, options, printed) {
        Ok(played) => played,
        Err(e) => return usage_error(&format!("cannot start the run: {e}")),
    };
    let mut results = Vec::new();
    // Time spent exploring a kept topology is not run time.
    let mut held_for = Duration::ZERO;
    let mut running: Option<Instant> = None;
    let interrupted = loop {
        if results.len() == found.len() {
            break None;
        }
        match caught.wait(Some(played.wake.as_fd())) {
            Ok(Event::Signal(signal)) => break Some(signal),
            Ok(Event::Ready) => {}
            Err(e) => return usage_error(&format!("cannot wait for the run: {e}")),
        }
        for message in played.take() {
            match message {
                Played::Started(name) => {
                    progress.start(&name);
                    running = Some(Instant::now());
                }
                Played::Finished(result, printed, kept) => {
                    running = None;
                    eprint!("{printed}");
                    show(&mut progress, &mut json, &result);
                    results.push(result);
                    if let Some(kept) = kept {
                        let holding = Instant::now();
                        if let Err(e) = hold(kept, options.json) {
                            return usage_error(&format!("cannot keep the topology: {e}"));
                        }
                        held_for += holding.elapsed();
                    }
                }
            }
        }
    };
    if let Some(signal) = interrupted {
        // The scenario still playing is abandoned, not waited for: its namespaces and
        // processes live only as long as this process's fds and threads (see
        // `build::netns`), so exiting tears them down.
        let unfinished = results.len();
        for (i, d) in found.iter().enumerate().skip(unfinished) {
            let result = match running.filter(|_| i == unfinished) {
                Some(since) => ScenarioResult::interrupted(&d.name, d.path.clone(), signal, since.elapsed()),
                None => ScenarioResult::interrupted(&d.name, d.path.clone(), signal, Duration::ZERO),
            };
            show(&mut progress, &mut json, &result);
            results.push(result);
        }
    }
    let elapsed = started.elapsed() - held_for;
    let summary = Summary::of(&results);
    progress.summary(&summary, elapsed);

    if let Some(path) = &options.junit {
        if let Err(e) = std::fs::write(path, junit_xml(&results, elapsed)) {
            return usage_error(&format!("cannot write the JUnit report {}: {e}", path.display()));
        }
    }
    match interrupted {
        // The shell's convention for a process ended by a signal.
        Some(signal) => ExitCode::from(128 + signal as u8),
        None if summary.all_passed() => ExitCode::SUCCESS,
        None => ExitCode::FAILURE,
    }
}

/// One result on the display and, with `--json`, as a JSON line.
fn show(progress: &mut Progress, json: &mut Option<JsonLines>, result: &ScenarioResult) {
    progress.finish(result);
    if let Some(json) = json {
        json.write(result);
    }
}

/// What the thread playing the scenarios reports.
// Two messages per scenario: the size spread between variants costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
enum Played {
    Started(String),
    /// The result, what the scenario printed on stdout under `--json` ([`Printed`]),
    /// and the topology for `--keep`.
    Finished(ScenarioResult, String, Option<Kept>),
}

/// The scenarios played one after the other on a thread of their own, so that the main
/// thread stays free to notice a signal. Each message is followed by a byte on `wake`,
/// which [`Caught::wait`] watches beside the signals.
struct Player {
    messages: mpsc::Receiver<Played>,
    wake: std::io::PipeReader,
}

impl Player {
    fn start(
        loaded: Vec<(&Discovered, Result<Scenario, Diagnostics>)>,
        options: &Options,
        mut printed: Option<Printed>,
    ) -> std::io::Result<Player> {
        let (wake, mut woken) = std::io::pipe()?;
        let (send, messages) = mpsc::channel();
        let work: Vec<_> = loaded.into_iter().map(|(d, scenario)| (d.clone(), scenario)).collect();
        let (keep, keep_pcaps) = (options.keep, options.keep_pcaps);
        std::thread::spawn(move || {
            let mut tell = |message| send.send(message).is_ok() && woken.write_all(&[1]).is_ok();
            for (d, scenario) in work {
                if !tell(Played::Started(d.name.clone())) {
                    return;
                }
                let (mut result, kept) = play_one(&d, scenario, keep, keep_pcaps);
                let printed = printed.as_mut().map(|p| p.take(&mut result)).unwrap_or_default();
                if !tell(Played::Finished(result, printed, kept)) {
                    return;
                }
            }
        });
        Ok(Player { messages, wake })
    }

    /// The messages sent so far (after a wake-up: at least the one that woke us).
    fn take(&self) -> Vec<Played> {
        let mut bytes = [0u8; 64];
        // `poll` said readable: this does not block. Extra bytes only mean an extra,
        // empty, wake-up later.
        let _ = (&self.wake).read(&mut bytes);
        self.messages.try_iter().collect()
    }
}

/// Play one scenario (or report it invalid); the topology is kept only for `--keep`.
fn play_one(
    d: &Discovered,
    scenario: Result<Scenario, Diagnostics>,
    keep: bool,
    keep_pcaps: bool,
) -> (ScenarioResult, Option<Kept>) {
    match scenario {
        Err(diagnostics) => (ScenarioResult::invalid(&d.name, d.path.clone(), &diagnostics), None),
        Ok(scenario) => {
            let t = Instant::now();
            let run_options = RunOptions { artifacts: d.artifacts.clone(), keep_pcaps };
            let (outcome, topology) = play(|| run::run_and_keep(&scenario, &d.path, &run_options, None));
            let outcome = runner::compare_snapshot(d, &scenario, outcome);
            // Without --keep the topology is dropped, and so torn down, right here.
            let kept = topology.filter(|_| keep);
            (ScenarioResult::of_run(&d.name, d.path.clone(), outcome, t.elapsed()), kept)
        }
    }
}

/// `--keep`: after the result is shown, pin and wait for Ctrl-C, then tear down. The
/// hints go where the human display goes (stderr under `--json`).
fn hold(kept: Kept, json: bool) -> std::io::Result<()> {
    let mut out: Box<dyn std::io::Write> = if json { Box::new(std::io::stderr()) } else { Box::new(std::io::stdout()) };
    keep::hold(kept.topology(), Hold::UntilSignal, &mut out)?;
    Ok(())
}

/// A panic in one scenario's run (an engine bug) fails that scenario, not the whole
/// command: the others still run and the reports are still written.
fn play(run: impl FnOnce() -> (Outcome, Option<Kept>)) -> (Outcome, Option<Kept>) {
    panic::catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        (Outcome::Failed { report: Default::default(), message: format!("the run panicked: {what}") }, None)
    })
}
