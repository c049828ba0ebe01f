//! `netrig check`: parse and validate only, printing every problem.

use std::process::ExitCode;

use super::plural;
use crate::run::runner::Discovered;

pub fn check(found: &[Discovered]) -> ExitCode {
    let (mut invalid, mut problems) = (0, 0);
    let mut previous = String::new();
    for d in found {
        if let Err(diagnostics) = d.load() {
            invalid += 1;
            problems += diagnostics.0.len();
            // The rows of a matrix file often share one problem: say it once.
            let text = diagnostics.to_string();
            if text != previous {
                // A blank line between diagnostics: each ends with its caret snippet.
                eprintln!("{text}\n");
                previous = text;
            }
        }
    }
    println!(
        "checked {}: {} valid, {} invalid ({})",
        plural(found.len(), "scenario"),
        found.len() - invalid,
        invalid,
        plural(problems, "problem")
    );
    if invalid == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
