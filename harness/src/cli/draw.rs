//! `netrig graph`: a picture of one scenario's topology.

use std::path::Path;
use std::process::ExitCode;

use super::usage_error;
use crate::report::graph::{self, Format};

pub fn draw(scenario: &Path, format: Option<Format>, output: Option<&Path>) -> ExitCode {
    if !scenario.is_file() {
        return usage_error(&format!("{}: no such file", scenario.display()));
    }
    let format = format.or_else(|| output.and_then(Format::from_path)).unwrap_or(Format::Svg);
    let picture = match graph::render_file(scenario, format) {
        Ok(picture) => picture,
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            return ExitCode::FAILURE;
        }
    };
    match output {
        None => print!("{picture}"),
        Some(path) => {
            if let Err(e) = std::fs::write(path, picture) {
                return usage_error(&format!("cannot write {}: {e}", path.display()));
            }
        }
    }
    ExitCode::SUCCESS
}
