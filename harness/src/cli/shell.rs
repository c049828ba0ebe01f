//! `netrig shell`: build one scenario's topology, play its steps up to a chosen one,
//! and keep it for a person to explore (see [`super::keep`]).

use std::path::Path;
use std::process::ExitCode;

use super::keep::{self, Hold};
use super::{plural, usage_error};
use crate::model::Scenario;
use crate::run::layout::Layout;
use crate::run::runner::{self, Discovered};
use crate::run::{self, Outcome, RunOptions};

pub struct Options {
    /// Start a shell in this node instead of waiting for Ctrl-C.
    pub node: Option<String>,
    /// Play the steps up to this one (its number, or its name).
    pub step: Option<String>,
    /// The matrix row to build (its label, as `netrig list` shows it in brackets).
    pub row: Option<String>,
}

pub fn shell(path: &Path, options: &Options) -> ExitCode {
    let found = match runner::collect(&[path.to_path_buf()], &Layout::for_current_directory()) {
        Ok(found) => found,
        Err(e) => return usage_error(&e),
    };
    let test = match pick(&found, options.row.as_deref()) {
        Ok(test) => test,
        Err(e) => return usage_error(&e),
    };
    let scenario = match test.load() {
        Ok(scenario) => scenario,
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(node) = options.node.as_deref().filter(|n| !scenario.nodes.contains_key(*n)) {
        let known: Vec<&str> = scenario.nodes.keys().map(String::as_str).collect();
        return usage_error(&format!("no node named `{node}` (nodes: {})", known.join(", ")));
    }
    let labels = run::step_labels(&scenario);
    let steps_to_play = match options.step.as_deref().map(|step| step_number(step, &labels)).transpose() {
        Ok(last) => last.map_or(0, |last| last + 1),
        Err(e) => return usage_error(&e),
    };
    if let Some(reason) = runner::missing_privilege() {
        return usage_error(&reason);
    }

    let run_options = RunOptions { artifacts: test.artifacts.clone(), keep_pcaps: false };
    let (outcome, kept) = run::run_and_keep(&scenario, &test.path, &run_options, Some(steps_to_play));
    say_what_was_played(&scenario, &labels[..steps_to_play], &outcome);
    let Some(kept) = kept else {
        return ExitCode::FAILURE;
    };

    let how = options.node.as_deref().map_or(Hold::UntilSignal, Hold::Shell);
    let held = keep::hold(kept.topology(), how, &mut std::io::stdout());
    drop(kept);
    match held {
        Ok(Some(status)) => ExitCode::from(keep::exit_code(status)),
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => usage_error(&format!("cannot keep the topology: {e}")),
    }
}

/// The one test of `found` to build: the only one, or the matrix row labelled `row`.
fn pick<'a>(found: &'a [Discovered], row: Option<&str>) -> Result<&'a Discovered, String> {
    let label = |d: &Discovered| d.variant.as_ref().ok().and_then(|v| v.label.clone());
    let labels = || found.iter().filter_map(label).collect::<Vec<_>>().join(" | ");
    match (found, row) {
        ([only], None) => Ok(only),
        (_, None) => {
            Err(format!("the file has {}; choose one with --row: {}", plural(found.len(), "matrix row"), labels()))
        }
        (_, Some(row)) => found
            .iter()
            .find(|d| label(d).as_deref() == Some(row))
            .ok_or_else(|| format!("no matrix row `{row}` (rows: {})", labels())),
    }
}

/// `--step K`: a step's number or its name, as failure messages and reports show them.
fn step_number(step: &str, labels: &[String]) -> Result<usize, String> {
    let by_number = step.parse::<usize>().ok().filter(|&k| k < labels.len());
    let by_name = || labels.iter().position(|l| l.split_once(": ").is_some_and(|(_, name)| name == step));
    by_number.or_else(by_name).ok_or_else(|| {
        let listed: Vec<String> = labels.iter().enumerate().map(|(k, l)| format!("{k} ({l})")).collect();
        format!("no step `{step}`; the steps are: {}", listed.join(", "))
    })
}

/// Before handing over: which steps ran, and whether their checks held.
fn say_what_was_played(scenario: &Scenario, played: &[String], outcome: &Outcome) {
    let name = scenario.name.as_deref().unwrap_or("the scenario");
    match outcome {
        Outcome::Skipped(reason) => eprintln!("netrig: {name} cannot be built here: {reason}"),
        Outcome::Failed { message, .. } => eprintln!("netrig: {name}:\n{}", message.trim_end()),
        Outcome::Passed(_) if played.is_empty() => println!("Built {name} (no steps played)."),
        Outcome::Passed(_) => println!("Built {name} and played, with every check holding:\n  {}", played.join("\n  ")),
    }
}
