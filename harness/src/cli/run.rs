//! `netrig run`: load every scenario, play the valid ones, report.

use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::junit::junit_xml;
use super::keep::{self, Hold};
use super::progress::Progress;
use super::results::{ScenarioResult, Summary};
use super::{plural, usage_error};
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
    let mut progress = Progress::new(found.len(), options.json);
    let mut results = Vec::new();
    // Time spent exploring a kept topology is not run time.
    let mut held_for = Duration::ZERO;
    for (d, scenario) in loaded {
        progress.start(&d.name);
        let (result, kept) = match scenario {
            Err(diagnostics) => (ScenarioResult::invalid(&d.name, d.path.clone(), &diagnostics), None),
            Ok(scenario) => {
                let t = Instant::now();
                let run_options = RunOptions { artifacts: d.artifacts.clone(), keep_pcaps: options.keep_pcaps };
                let (outcome, topology) = play(|| run::run_and_keep(&scenario, &d.path, &run_options, None));
                let outcome = runner::compare_snapshot(d, &scenario, outcome);
                // Without --keep the topology is dropped, and so torn down, right here.
                let kept = topology.filter(|_| options.keep);
                (ScenarioResult::of_run(&d.name, d.path.clone(), outcome, t.elapsed()), kept)
            }
        };
        progress.finish(&result);
        if options.json {
            println!("{}", result.json_line());
        }
        results.push(result);
        if let Some(kept) = kept {
            let holding = Instant::now();
            if let Err(e) = hold(kept, options.json) {
                return usage_error(&format!("cannot keep the topology: {e}"));
            }
            held_for += holding.elapsed();
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
    if summary.all_passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
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
