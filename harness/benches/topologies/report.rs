//! Medians of the runs, as Markdown tables, and the targets they meet or miss.

use std::fmt::{self, Write as _};
use std::time::Duration;

use crate::measure::Phases;

/// Every run of one topology and size.
pub struct Case {
    pub shape: &'static str,
    pub n: usize,
    pub namespaces: usize,
    pub netrig: Vec<Phases>,
    /// The kernel's background work after each netrig run, waited for outside the clock.
    pub netrig_cleanup: Vec<Duration>,
    pub classic: Vec<Phases>,
    pub classic_cleanup: Vec<Duration>,
    /// `build` is creating the bare namespaces, `teardown` releasing them.
    pub floor: Vec<Phases>,
}

impl Case {
    pub fn new(shape: &'static str, n: usize, namespaces: usize) -> Case {
        Case {
            shape,
            n,
            namespaces,
            netrig: Vec::new(),
            netrig_cleanup: Vec::new(),
            classic: Vec::new(),
            classic_cleanup: Vec::new(),
            floor: Vec::new(),
        }
    }

    fn total(runs: &[Phases]) -> Option<Duration> {
        median(runs.iter().map(Phases::total))
    }

    /// One line for the progress output.
    pub fn summary_line(&self) -> String {
        let mut line = format!("{} n={}: netrig {}", self.shape, self.n, ms(Case::total(&self.netrig)));
        if let Some(bash) = Case::total(&self.classic) {
            write!(line, ", bash {}", ms(Some(bash))).unwrap();
        }
        write!(line, ", floor {}", ms(Case::total(&self.floor))).unwrap();
        line
    }

    fn total_ratio(&self, over: &[Phases]) -> Option<f64> {
        Some(Case::total(&self.netrig)?.as_secs_f64() / Case::total(over)?.as_secs_f64())
    }
}

/// Everything measured, with the machine it was measured on.
pub struct Report {
    pub cases: Vec<Case>,
    /// Time to decide each failing ping.
    pub failing_ping: Option<Vec<Duration>>,
    machine: String,
    load_before: String,
    load_after: String,
}

impl Report {
    pub fn start() -> Report {
        Report {
            cases: Vec::new(),
            failing_ping: None,
            machine: machine(),
            load_before: loadavg(),
            load_after: String::new(),
        }
    }

    pub fn finish(&mut self) {
        self.load_after = loadavg();
    }

    fn case(&self, shape: &str, n: usize) -> Option<&Case> {
        self.cases.iter().find(|c| c.shape == shape && c.n == n)
    }

    fn runs(&self) -> usize {
        self.cases.first().map_or_else(|| self.failing_ping.as_ref().map_or(0, Vec::len), |c| c.netrig.len())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "\nMachine: {}", self.machine)?;
        writeln!(f, "Load average before: {}; after: {}", self.load_before, self.load_after)?;
        writeln!(f, "Medians of {} runs.\n", self.runs())?;
        if !self.cases.is_empty() {
            self.phases_table(f, "netrig (build::build, judge::judge per ping check, Topology::teardown)", |c| {
                (&c.netrig, &c.netrig_cleanup)
            })?;
            if self.cases.iter().any(|c| !c.classic.is_empty()) {
                self.phases_table(f, "bash + ip (benches/classic.sh)", |c| (&c.classic, &c.classic_cleanup))?;
            }
            self.summary_table(f)?;
        }
        if let Some(times) = &self.failing_ping {
            writeln!(
                f,
                "Failing ping (in-subnet address nobody has, default deadline): median {}, max {}\n",
                ms(median(times.iter().copied())),
                ms(times.iter().max().copied())
            )?;
        }
        self.targets(f)
    }
}

impl Report {
    fn phases_table(
        &self,
        f: &mut fmt::Formatter<'_>,
        title: &str,
        runs: impl Fn(&Case) -> (&Vec<Phases>, &Vec<Duration>),
    ) -> fmt::Result {
        writeln!(f, "{title}:\n")?;
        writeln!(
            f,
            "| topology | N | namespaces | build | ping | teardown | total | kernel cleanup after (not in total) |"
        )?;
        writeln!(f, "|---|--:|--:|--:|--:|--:|--:|--:|")?;
        for case in &self.cases {
            let (phases, cleanup) = runs(case);
            if phases.is_empty() {
                continue;
            }
            let phase = |pick: fn(&Phases) -> Duration| ms(median(phases.iter().map(pick)));
            writeln!(
                f,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                case.shape,
                case.n,
                case.namespaces,
                phase(|p| p.build),
                phase(|p| p.ping),
                phase(|p| p.teardown),
                ms(Case::total(phases)),
                ms(median(cleanup.iter().copied())),
            )?;
        }
        writeln!(f)
    }

    fn summary_table(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Totals (build + ping + teardown):\n")?;
        writeln!(f, "| topology | N | netrig | bash | netrig/bash | speed-up | floor | netrig/floor |")?;
        writeln!(f, "|---|--:|--:|--:|--:|--:|--:|--:|")?;
        for case in &self.cases {
            let vs_bash = case.total_ratio(&case.classic);
            writeln!(
                f,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                case.shape,
                case.n,
                ms(Case::total(&case.netrig)),
                ms(Case::total(&case.classic)),
                ratio(vs_bash),
                vs_bash.map_or("–".into(), |r| format!("{:.1}x", 1.0 / r)),
                ms(Case::total(&case.floor)),
                ratio(case.total_ratio(&case.floor)),
            )?;
        }
        writeln!(f)
    }

    fn targets(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut targets = Vec::new();
        if let Some(case) = self.case("bridge", 50) {
            let speedup = case.total_ratio(&case.classic).map(|r| 1.0 / r);
            targets.push((
                "bridge N=50: netrig >= 20x faster than bash",
                speedup.map(|s| (format!("{s:.1}x"), s >= 20.0)),
            ));
        }
        if let Some(case) = self.case("bridge", 100) {
            let total = Case::total(&case.netrig);
            targets.push(("bridge N=100: total < 1 s", total.map(|t| (ms(Some(t)), t < Duration::from_secs(1)))));
            let floor = case.total_ratio(&case.floor);
            targets.push(("bridge N=100: total <= 3x the floor", floor.map(|r| (format!("{r:.2}x"), r <= 3.0))));
        }
        if let Some(times) = &self.failing_ping {
            let decided = median(times.iter().copied());
            targets.push((
                "failing ping decided < 250 ms",
                decided.map(|t| (ms(Some(t)), t < Duration::from_millis(250))),
            ));
        }
        if targets.is_empty() {
            return Ok(());
        }
        writeln!(f, "Targets:\n")?;
        for (target, outcome) in targets {
            match outcome {
                Some((value, true)) => writeln!(f, "- {target}: met ({value})")?,
                Some((value, false)) => writeln!(f, "- {target}: NOT met ({value})")?,
                None => writeln!(f, "- {target}: not measured")?,
            }
        }
        Ok(())
    }
}

/// The median (the mean of the middle two for an even count).
fn median(values: impl Iterator<Item = Duration>) -> Option<Duration> {
    let mut values: Vec<Duration> = values.collect();
    values.sort();
    let mid = values.len() / 2;
    match values.len() {
        0 => None,
        len if len % 2 == 1 => Some(values[mid]),
        _ => Some((values[mid - 1] + values[mid]) / 2),
    }
}

fn ms(duration: Option<Duration>) -> String {
    let Some(duration) = duration else {
        return "–".into();
    };
    let ms = duration.as_secs_f64() * 1000.0;
    match ms {
        ms if ms >= 1000.0 => format!("{:.2} s", ms / 1000.0),
        ms if ms >= 100.0 => format!("{ms:.0} ms"),
        ms if ms >= 10.0 => format!("{ms:.1} ms"),
        ms => format!("{ms:.2} ms"),
    }
}

fn ratio(value: Option<f64>) -> String {
    value.map_or("–".into(), |r| format!("{r:.3}"))
}

/// CPU model, CPU count and kernel.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model =
        cpuinfo.lines().find_map(|l| l.strip_prefix("model name")).map(|m| m.trim_start_matches([' ', '\t', ':']));
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{} ({cpus} CPUs), Linux {}", model.unwrap_or("unknown CPU"), kernel.trim())
}

fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}
