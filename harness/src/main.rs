//! The `netrig` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use netrig::run::{self, Outcome, RunOptions};
use netrig::runner::{self, Discovered};

#[derive(Parser)]
#[command(name = "netrig", version, about = "Linux network scenarios as tests")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build and check scenarios (needs root).
    Run {
        /// Scenario files or directories (default: scenarios/).
        paths: Vec<PathBuf>,
        /// Keep pcap files of passing scenarios too.
        #[arg(long)]
        keep_pcaps: bool,
    },
    /// Validate scenarios without building anything (no root needed).
    Check {
        /// Scenario files or directories (default: scenarios/).
        paths: Vec<PathBuf>,
    },
    /// List the scenarios and the test names they get.
    List {
        paths: Vec<PathBuf>,
    },
    /// Print the JSON Schema of the scenario format.
    Schema,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run { paths, keep_pcaps } => run_all(&collect(&paths), keep_pcaps),
        Command::Check { paths } => check_all(&collect(&paths)),
        Command::List { paths } => {
            for d in collect(&paths) {
                println!("{}\t{}", d.name, d.path.display());
            }
            ExitCode::SUCCESS
        }
        Command::Schema => {
            println!("{}", netrig::schema::json());
            ExitCode::SUCCESS
        }
    }
}

/// Files named directly, and every scenario under directories named.
fn collect(paths: &[PathBuf]) -> Vec<Discovered> {
    let default = [PathBuf::from("scenarios")];
    let paths = if paths.is_empty() { &default[..] } else { paths };
    let mut found = Vec::new();
    for path in paths {
        if path.is_dir() {
            match runner::discover(path) {
                Ok(mut d) => found.append(&mut d),
                Err(e) => eprintln!("netrig: cannot read {}: {e}", path.display()),
            }
        } else {
            let name = runner::test_name(Path::new(path.file_name().unwrap_or_default()));
            found.extend(runner::expand(name, path.clone()));
        }
    }
    found
}

fn check_all(found: &[Discovered]) -> ExitCode {
    let mut bad = 0;
    for d in found {
        if let Err(diagnostics) = d.load() {
            eprintln!("{diagnostics}");
            bad += 1;
        }
    }
    println!("checked {} scenario(s): {} valid, {bad} invalid", found.len(), found.len() - bad);
    if bad == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn run_all(found: &[Discovered], keep_pcaps: bool) -> ExitCode {
    if let Some(reason) = runner::missing_privilege() {
        eprintln!("netrig: {reason}");
        return ExitCode::from(2);
    }
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for d in found {
        let scenario = match d.load() {
            Ok(s) => s,
            Err(diagnostics) => {
                eprintln!("{diagnostics}");
                failed += 1;
                continue;
            }
        };
        let options = RunOptions { artifacts: runner::artifacts_dir(&d.name), keep_pcaps };
        match run::run(&scenario, &d.path, &options) {
            Outcome::Passed(_) => {
                passed += 1;
                println!("PASS {}", d.name);
            }
            Outcome::Skipped(reason) => {
                skipped += 1;
                println!("SKIP {} ({reason})", d.name);
            }
            Outcome::Failed { message, .. } => {
                failed += 1;
                println!("FAIL {}\n{message}", d.name);
            }
        }
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
