//! The `netrig` command line: arguments and dispatch; each command in its own module.
//!
//! Exit codes, for scripts and CI: 0 everything passed (or was valid), 1 a scenario
//! failed or is invalid, 2 the command itself could not do its job (bad arguments, a
//! path that does not exist, no scenarios found, missing privileges, unwritable output).

mod accept;
mod check;
mod clean;
mod draw;
mod junit;
mod keep;
mod kernels;
mod progress;
mod results;
mod run;
mod shell;
mod signals;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};

use crate::build::pin::Selection;
use crate::report::graph::Format;
use crate::run::layout::Layout;
use crate::run::runner::{self, Discovered};

pub use junit::junit_xml;
pub use kernels::{of_scenario as kernel_result, resolve_all as resolve_kernels, results_in_vm, shell_words};
pub use results::{ScenarioResult, Summary, Verdict};

/// The command could not do its job (as clap exits on bad arguments).
const USAGE_ERROR: u8 = 2;

#[derive(Parser)]
#[command(
    name = "netrig",
    version,
    about = "Linux network scenarios as tests",
    after_help = "Exit status: 0 all passed (or valid), 1 a scenario failed or is invalid, 2 usage or privilege error.\n\n\
                  `shell` and `run --keep` pin namespaces as /run/netns/netrig-<pid>-<node>; the names \
                  outlive a SIGKILL of netrig (and keep the namespaces alive): `netrig clean` removes them."
)]
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
        /// Keep pcap files of passing scenarios too (also: NETRIG_KEEP_PCAPS=1).
        #[arg(long)]
        keep_pcaps: bool,
        /// Compare reports with the snapshots in DIR (default: ./snapshots, when it exists).
        #[arg(long, value_name = "DIR")]
        snapshots: Option<PathBuf>,
        /// Write pcap files under DIR (default: $CARGO_TARGET_DIR/netrig, else ./target/netrig).
        #[arg(long, value_name = "DIR")]
        artifacts: Option<PathBuf>,
        /// Also write a JUnit XML report to this file.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Print one JSON object per scenario on stdout (the human display moves to stderr).
        #[arg(long)]
        json: bool,
        /// Keep the topology after the run (one scenario only): pin its namespaces as
        /// `ip netns` names, print how to enter them, tear down on Ctrl-C.
        #[arg(long)]
        keep: bool,
        /// Run the scenarios on this kernel instead, in a microVM (repeatable): a path to a
        /// bzImage/vmlinuz or a name under /boot. Needs virtme-ng, QEMU and a static busybox.
        #[arg(long, value_name = "KERNEL")]
        kernel: Vec<String>,
    },
    /// Build a scenario and keep it to explore under `ip netns` names (needs root).
    ///
    /// Each node's namespace is pinned as `/run/netns/netrig-<pid>-<node>` until Ctrl-C
    /// (or until the --node shell exits); netrig prints how to enter each one.
    #[command(after_help = "The names are bind mounts: they survive a SIGKILL of netrig and keep the \
                            namespaces alive. `netrig clean` removes such leftovers.")]
    Shell {
        /// The scenario file.
        scenario: PathBuf,
        /// Start a shell ($SHELL, else bash) inside this node; tear down when it exits.
        #[arg(long, value_name = "NODE")]
        node: Option<String>,
        /// Play the steps up to and including this one (number or name; default: none).
        #[arg(long, value_name = "K")]
        step: Option<String>,
        /// The matrix row to build, as `netrig list` shows it in brackets.
        #[arg(long, value_name = "LABEL")]
        row: Option<String>,
    },
    /// Remove `ip netns` names left by a killed `shell` or `run --keep` (needs root).
    ///
    /// Unmounts and removes every `/run/netns/netrig-<pid>-*` whose netrig process is gone,
    /// and prints each name removed. Names not starting with netrig- are never touched.
    Clean {
        /// Remove every netrig-* name, even those of a running netrig.
        #[arg(long)]
        all: bool,
        /// Only the names of this netrig process.
        #[arg(long, value_name = "PID")]
        pid: Option<u32>,
    },
    /// Validate scenarios without building anything (no root needed).
    Check {
        /// Scenario files or directories (default: scenarios/).
        paths: Vec<PathBuf>,
    },
    /// List the scenarios and the test names they get.
    List {
        /// Scenario files or directories (default: scenarios/).
        paths: Vec<PathBuf>,
    },
    /// Accept pending snapshots: every `*.snap.new` under DIR replaces its `.snap`.
    ///
    /// `netrig run` (outside CI) writes a `.snap.new` beside each snapshot that differs
    /// from the new report; `cargo insta review` shows and accepts them one by one.
    Accept {
        /// The snapshot tree (default: ./snapshots).
        #[arg(long, value_name = "DIR", default_value = "snapshots")]
        snapshots: PathBuf,
    },
    /// Print the JSON Schema of the scenario format.
    Schema,
    /// Draw a scenario's topology.
    Graph {
        /// The scenario file.
        scenario: PathBuf,
        /// Output format (default: from the -o file's extension, else svg).
        #[arg(long, short, value_parser = format_parser())]
        format: Option<Format>,
        /// Write to this file instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

fn format_parser() -> impl TypedValueParser<Value = Format> {
    PossibleValuesParser::new(Format::ALL.map(Format::name)).map(|s| s.parse().expect("one of the possible values"))
}

/// `main` of the `netrig` binary.
pub fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run { paths, keep_pcaps, snapshots, artifacts, junit, json, keep, kernel } => {
            let keep_pcaps = keep_pcaps || runner::keep_pcaps_requested();
            let mut layout = Layout::for_current_directory();
            if let Some(dir) = &snapshots {
                layout.snapshots = Some(layout.project.join(dir));
            }
            if let Some(dir) = artifacts {
                layout.artifacts = layout.project.join(dir);
            }
            if !kernel.is_empty() {
                return on_kernels(&kernel, &paths, &layout, snapshots.is_some(), keep_pcaps, junit, json, keep);
            }
            runner::prepare_snapshots(&layout.project);
            with_scenarios(&paths, &layout, |found| run::run(found, &run::Options { keep_pcaps, junit, json, keep }))
        }
        Command::Shell { scenario, node, step, row } => shell::shell(&scenario, &shell::Options { node, step, row }),
        Command::Clean { all, pid } => clean::clean(Selection { all, pid }),
        Command::Check { paths } => with_scenarios(&paths, &Layout::for_current_directory(), check::check),
        Command::List { paths } => with_scenarios(&paths, &Layout::for_current_directory(), |found| {
            for d in found {
                println!("{}\t{}", d.name, d.path.display());
            }
            ExitCode::SUCCESS
        }),
        Command::Accept { snapshots } => accept::accept(&snapshots),
        Command::Schema => {
            println!("{}", crate::parse::schema::json());
            ExitCode::SUCCESS
        }
        Command::Graph { scenario, format, output } => draw::draw(&scenario, format, output.as_deref()),
    }
}

/// `netrig run --json` on `found` (the test binary inside a kernel's VM).
pub fn run_json(found: &[Discovered]) -> ExitCode {
    let options = run::Options { keep_pcaps: runner::keep_pcaps_requested(), junit: None, json: true, keep: false };
    run::run(found, &options)
}

/// `netrig run --kernel …`: the same command line, played in a microVM per kernel.
#[allow(clippy::too_many_arguments)]
fn on_kernels(
    names: &[String],
    paths: &[PathBuf],
    layout: &Layout,
    snapshots: bool,
    keep_pcaps: bool,
    junit: Option<PathBuf>,
    json: bool,
    keep: bool,
) -> ExitCode {
    if keep {
        return usage_error("--keep holds a topology on this machine; it cannot be combined with --kernel");
    }
    let kernels = match kernels::resolve_all(names) {
        Ok(kernels) => kernels,
        Err(e) => return usage_error(&e),
    };
    // What the guest's `netrig run` gets besides --json and --artifacts.
    let mut guest_args = Vec::new();
    if let (true, Some(dir)) = (snapshots, &layout.snapshots) {
        guest_args.extend(["--snapshots".to_string(), dir.display().to_string()]);
    }
    if keep_pcaps {
        guest_args.push("--keep-pcaps".into());
    }
    guest_args.extend(paths.iter().map(|p| p.display().to_string()));
    with_scenarios(paths, layout, |found| {
        kernels::run(found, &kernels, &layout.artifacts, &guest_args, junit.as_deref(), json)
    })
}

/// Resolve the command line's paths (default `scenarios/`) and hand the scenarios
/// found to `command`; no scenario at all is a usage error.
fn with_scenarios(paths: &[PathBuf], layout: &Layout, command: impl FnOnce(&[Discovered]) -> ExitCode) -> ExitCode {
    let default = [PathBuf::from("scenarios")];
    let paths = if paths.is_empty() { &default[..] } else { paths };
    match runner::collect(paths, layout) {
        Ok(found) if found.is_empty() => {
            let named: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            usage_error(&format!("no scenario files (*.yaml, *.yml) in {}", named.join(", ")))
        }
        Ok(found) => command(&found),
        Err(e) => usage_error(&e),
    }
}

/// `1 scenario`, `2 scenarios`.
fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("netrig: {message}");
    ExitCode::from(USAGE_ERROR)
}
