//! `netrig check`: parse and validate only, printing every problem.

use std::process::ExitCode;

use super::plural;
use crate::load;
use crate::runner::Discovered;

pub fn check(found: &[Discovered]) -> ExitCode {
    let (mut invalid, mut problems) = (0, 0);
    for d in found {
        if let Err(diagnostics) = load::load(&d.path) {
            // A blank line between diagnostics: each ends with its caret snippet.
            eprintln!("{diagnostics}\n");
            invalid += 1;
            problems += diagnostics.0.len();
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
