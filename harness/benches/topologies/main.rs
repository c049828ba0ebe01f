//! `cargo bench --bench topologies`: netrig against the same work done with `ip`
//! commands in bash (`benches/classic.sh`), and against the kernel's floor.
//!
//! For each generated topology (see [`generate`]) and size, every run builds it with
//! netrig's engine, judges one ping per node, tears it down; then `classic.sh` does
//! the same; then the floor: as many bare namespaces created and released. Between
//! runs the benchmark waits for the kernel to finish destroying what was released
//! ([`kernel::Quiet`]), outside the clock. The report gives medians in Markdown.
//!
//!     sudo cargo bench --bench topologies -- [bridge|chain|vxlan|failing-ping ...]
//!         [--runs 5] [--warmup 1] [--sizes 10,50,100,250] [--no-classic] [--no-drop-tracing]
//!
//! `--no-drop-tracing` runs netrig without its drop tracer (`observe::drops`): the
//! difference with a run without it is what tracing costs.
//!
//! Needs root (it creates namespaces); without it, it says so and does nothing.
//! Speed targets are checked here and reported, never in `cargo test`.

mod generate;
mod kernel;
mod measure;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use generate::Shape;
use measure::Phases;
use report::{Case, Report};

/// What to run, from the command line.
struct Options {
    shapes: Vec<Shape>,
    failing_ping: bool,
    sizes: Vec<usize>,
    runs: usize,
    /// Unmeasured runs before the measured ones, per case.
    warmup: usize,
    classic: bool,
    drop_tracing: bool,
}

const USAGE: &str = "usage: cargo bench --bench topologies -- [bridge|chain|vxlan|failing-ping ...] \
                     [--runs N] [--warmup N] [--sizes 10,50,100,250] [--no-classic] [--no-drop-tracing]";

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut options = Options {
            shapes: Vec::new(),
            failing_ping: false,
            sizes: vec![10, 50, 100, 250],
            runs: 5,
            warmup: 1,
            classic: true,
            drop_tracing: true,
        };
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
            match arg.as_str() {
                "--bench" => {} // cargo bench passes it to every bench target
                "--runs" => options.runs = value("--runs")?.parse().map_err(|e| format!("--runs: {e}"))?,
                "--warmup" => options.warmup = value("--warmup")?.parse().map_err(|e| format!("--warmup: {e}"))?,
                "--sizes" => options.sizes = parse_sizes(&value("--sizes")?)?,
                "--no-classic" => options.classic = false,
                "--no-drop-tracing" => options.drop_tracing = false,
                "failing-ping" => options.failing_ping = true,
                name => {
                    let shape = Shape::ALL.into_iter().find(|s| s.name() == name);
                    options.shapes.push(shape.ok_or(format!("unknown argument {name:?}\n{USAGE}"))?);
                }
            }
        }
        // Nothing chosen: everything.
        if options.shapes.is_empty() && !options.failing_ping {
            (options.shapes, options.failing_ping) = (Shape::ALL.to_vec(), true);
        }
        if options.runs == 0 {
            return Err("--runs must be at least 1".into());
        }
        Ok(options)
    }
}

fn parse_sizes(list: &str) -> Result<Vec<usize>, String> {
    list.split(',').map(|s| s.trim().parse().map_err(|e| format!("--sizes: {s:?}: {e}"))).collect()
}

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if !nix::unistd::geteuid().is_root() {
        eprintln!("topologies: skipped, needs root to create network namespaces");
        return ExitCode::SUCCESS;
    }
    match run(&options) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("topologies: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: &Options) -> std::io::Result<Report> {
    netrig::observe::drops::set_tracing(options.drop_tracing);
    eprintln!("drop tracing: {}", if options.drop_tracing { "on" } else { "off" });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let quiet = kernel::Quiet::new()?;
    let mut report = Report::start();
    for &shape in &options.shapes {
        for &n in options.sizes.iter().filter(|&&n| n >= shape.min_size()) {
            report.cases.push(measure_case(options, shape, n, &rt, &quiet)?);
        }
    }
    if options.failing_ping {
        report.failing_ping = Some(measure_failing_ping(options.runs, &rt, &quiet)?);
    }
    report.finish();
    Ok(report)
}

fn classic_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/classic.sh")
}

/// `options.runs` runs of one topology: netrig, then bash, then the floor, each
/// starting on a quiet kernel. The first `options.warmup` runs are not counted: a
/// process's first build also probes the baseline, and took a sixth longer
/// (vxlan N=100: 55 ms instead of 40 to start its 200 namespaces) while the
/// kernel's caches grew to the topology's size.
fn measure_case(
    options: &Options,
    shape: Shape,
    n: usize,
    rt: &tokio::runtime::Runtime,
    quiet: &kernel::Quiet,
) -> std::io::Result<Case> {
    let scenario = measure::scenario(shape, n)?;
    let mut case = Case::new(shape.name(), n, shape.namespaces(n));
    quiet.wait(rt)?;
    for run in 1..=options.warmup + options.runs {
        let counted = run > options.warmup;
        let label = if counted { format!("run {}/{}", run - options.warmup, options.runs) } else { "warm-up".into() };
        eprint!("\r{} n={n}: {label}    ", shape.name());
        let netrig = measure::netrig(&scenario, rt)?;
        let netrig_cleanup = quiet.wait(rt)?;
        let classic = if options.classic {
            let phases = measure::classic(&classic_script(), shape, n)?;
            Some((phases, quiet.wait(rt)?))
        } else {
            None
        };
        let (create, release) = kernel::floor(case.namespaces)?;
        quiet.wait(rt)?;
        if counted {
            case.netrig.push(netrig);
            case.netrig_cleanup.push(netrig_cleanup);
            if let Some((phases, cleanup)) = classic {
                case.classic.push(phases);
                case.classic_cleanup.push(cleanup);
            }
            case.floor.push(Phases { build: create, ping: Duration::ZERO, teardown: release });
        }
    }
    eprintln!("\r{}", case.summary_line());
    Ok(case)
}

fn measure_failing_ping(
    runs: usize,
    rt: &tokio::runtime::Runtime,
    quiet: &kernel::Quiet,
) -> std::io::Result<Vec<Duration>> {
    (0..runs)
        .map(|_| {
            let elapsed = measure::failing_ping(rt)?;
            quiet.wait(rt)?;
            Ok(elapsed)
        })
        .collect()
}
