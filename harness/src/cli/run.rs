//! `netrig run`: load every scenario, play the valid ones, report.

use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use super::junit::junit_xml;
use super::progress::Progress;
use super::results::{ScenarioResult, Summary};
use super::usage_error;
use crate::run::{self, Outcome, RunOptions};
use crate::runner::{self, Discovered};

pub struct Options {
    pub keep_pcaps: bool,
    pub junit: Option<PathBuf>,
    pub json: bool,
}

pub fn run(found: &[Discovered], options: &Options) -> ExitCode {
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
    for (d, scenario) in loaded {
        progress.start(&d.name);
        let result = match scenario {
            Err(diagnostics) => ScenarioResult::invalid(&d.name, d.path.clone(), &diagnostics),
            Ok(scenario) => {
                let t = Instant::now();
                let run_options = RunOptions { artifacts: runner::artifacts_dir(&d.name), keep_pcaps: options.keep_pcaps };
                let outcome = play(|| run::run(&scenario, &d.path, &run_options));
                ScenarioResult::of_run(&d.name, d.path.clone(), outcome, t.elapsed())
            }
        };
        progress.finish(&result);
        if options.json {
            println!("{}", result.json_line());
        }
        results.push(result);
    }
    let elapsed = started.elapsed();
    let summary = Summary::of(&results);
    progress.summary(&summary, elapsed);

    if let Some(path) = &options.junit {
        if let Err(e) = std::fs::write(path, junit_xml(&results, elapsed)) {
            return usage_error(&format!("cannot write the JUnit report {}: {e}", path.display()));
        }
    }
    if summary.all_passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// A panic in one scenario's run (an engine bug) fails that scenario, not the whole
/// command: the others still run and the reports are still written.
fn play(run: impl FnOnce() -> Outcome) -> Outcome {
    panic::catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Outcome::Failed { report: Default::default(), message: format!("the run panicked: {what}") }
    })
}
