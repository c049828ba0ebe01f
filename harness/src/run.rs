//! Playing one scenario: build → steps (captures, actions, checks) → report →
//! teardown. The runner (`cargo test`) and the command line both come through here.

pub mod artifacts;
pub mod kernel_suite;
pub mod layout;
pub mod runner;
pub mod vm;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::build::{self, BuildError, Topology};
use crate::judge::{self, Status, Verdict};
use crate::model::kernel::Xfail;
use crate::model::{Check, IfaceRef, Scenario, Step};
use crate::observe::capture::{self, Capture, Captured};
use crate::observe::refusal::NotPlayed;
use crate::observe::{act, refusal, service};
use crate::report::{self, CheckReport, Report, StepReport};
use crate::run::artifacts::{ArtifactDir, RunDir};

/// Where and when to keep artifacts.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Directory for this scenario's pcap files (`target/netrig/<test>/`); each run
    /// that writes any gets its own subdirectory there.
    pub artifacts: ArtifactDir,
    /// Keep pcap files of passing runs too (they are always kept on failure).
    pub keep_pcaps: bool,
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    Passed(Report),
    /// The message says which assertion failed, where, and what was observed.
    Failed {
        report: Report,
        message: String,
    },
    /// The kernel lacks something the scenario needs.
    Skipped(String),
}

/// Build and play `scenario` (already validated), read from `file`.
pub fn run(scenario: &Scenario, file: &Path, options: &RunOptions) -> Outcome {
    // The kept topology is dropped, and so torn down, before this returns.
    run_and_keep(scenario, file, options, None).0
}

/// A topology left standing after its steps, for a person to look at (`netrig shell`,
/// `netrig run --keep`), with the runtime its netlink connections live on. Dropping it
/// tears the topology down.
pub struct Kept {
    /// Both `None` only inside `drop`.
    topology: Option<Topology>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Kept {
    pub(crate) fn new(topology: Topology, rt: tokio::runtime::Runtime) -> Kept {
        Kept { topology: Some(topology), rt: Some(rt) }
    }

    pub fn topology(&self) -> &Topology {
        self.topology.as_ref().expect("present until dropped")
    }

    pub(crate) fn runtime(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("present until dropped")
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        // Teardown: namespaces are held by fds in the topology; waiting for the netlink
        // tasks to close releases them before we go on.
        // A runtime can neither block nor be dropped inside another one (a
        // `#[tokio::test]` holding a lab): both happen outside it.
        if let (Some(topology), Some(rt)) = (self.topology.take(), self.rt.take()) {
            outside_async(move || rt.block_on(topology.teardown()));
        }
    }
}

/// Run `f` where blocking on netrig's own runtime is allowed: on this thread, or, when
/// called from inside an async runtime (a `#[tokio::test]` using [`crate::lab`]), on a
/// scoped helper thread.
pub(crate) fn outside_async<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| s.spawn(f).join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
}

/// Like [`run`], but play only the first `steps_to_play` steps (`None`: all; numbered
/// as in [`step_labels`]) and hand back the topology, when it was built, still standing.
pub fn run_and_keep(
    scenario: &Scenario,
    file: &Path,
    options: &RunOptions,
    steps_to_play: Option<usize>,
) -> (Outcome, Option<Kept>) {
    // The whole run, build included, must end by then (see `Scenario::deadline`).
    let deadline = Deadline { started: Instant::now(), of: scenario.deadline() };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            return (failed(Report::default(), format!("cannot start the tokio runtime: {e}")), None);
        }
    };
    let mut report = Report {
        scenario: scenario.name.clone().unwrap_or_else(|| file.display().to_string()),
        about: scenario.about.clone(),
        kernel: report::kernel_release(),
        ..Report::default()
    };
    // Shared kernel limits the topology will likely hit: said before building (on
    // stderr, where a human sees it at once) and again with a failure.
    let warnings = build::limits::neighbour_warnings(scenario);
    for warning in &warnings {
        eprintln!("{}: warning: {warning}", file.display());
    }
    let kept = match rt.block_on(build::build(scenario)) {
        Ok(topology) => Kept::new(topology, rt),
        Err(BuildError::Unsupported { what, reason }) => {
            return (Outcome::Skipped(format!("this kernel does not support {what}: {reason}")), None);
        }
        Err(e) => {
            return (failed(report, format!("{}: building the topology failed: {e}", file.display())), None);
        }
    };
    let (topology, rt) = (kept.topology(), kept.runtime());
    if scenario.report.topology {
        match rt.block_on(report::topology(scenario, topology)) {
            Ok(nodes) => report.topology = nodes,
            Err(e) => {
                let message = format!("{}: reading the topology back failed: {e}", file.display());
                return (failed(report, message), Some(kept));
            }
        }
    }

    let steps = all_steps(scenario);
    report.drops_unexplained = topology.drops.unavailable().map(str::to_string);
    if let Some(why) = topology.drops.unavailable()
        && steps.iter().any(|step| step.expect.iter().any(|check| matches!(check, Check::Dropped(_))))
    {
        return (Outcome::Skipped(format!("its `dropped` checks cannot be judged: {why}")), Some(kept));
    }
    let labels = labels_of(&steps);
    let steps_to_play = steps_to_play.unwrap_or(steps.len());
    let mut failures = String::new();
    let mut artifacts_written = Vec::new();
    // Created by the first step that writes a file, shared by the later ones.
    let mut run_dir: Option<RunDir> = None;
    // Services start once the topology is built, before the first step.
    let steps_to_play = match service::start_all(topology) {
        Ok(()) => steps_to_play,
        Err(e) => {
            let _ = writeln!(failures, "{}: starting services failed: {e}", file.display());
            0
        }
    };
    for (index, step) in steps.iter().enumerate().take(steps_to_play) {
        let label = &labels[index];
        let mut played = play_step(topology, rt, step, label, &deadline);
        if let Some(why) = played.unsupported {
            return (Outcome::Skipped(why), Some(kept));
        }
        // A service that died during the step fails it: what the step saw may be why.
        played.errors.extend(service::exited(topology).into_iter().map(|e| (None, e)));
        let step_failed = played.failures(file, label, &mut failures);
        if step_failed || options.keep_pcaps {
            let prefix = if steps.len() > 1 { format!("step{index}-") } else { String::new() };
            match created(&mut run_dir, &options.artifacts).and_then(|dir| played.write_pcaps(dir, &prefix)) {
                Ok(paths) => artifacts_written.extend(paths),
                Err(e) => {
                    let _ = writeln!(failures, "(could not write pcap artifacts: {e})");
                }
            }
        }
        let mut step_report = played.report;
        if !scenario.report.packets {
            step_report.packets.clear();
        }
        report.steps.push(step_report);
        if step_failed {
            // Later steps build on this one's state: stop here, and say what was left out.
            let unplayed = &labels[index + 1..];
            if !unplayed.is_empty() {
                let _ = writeln!(failures, "not played after this failure: {}", unplayed.join("; "));
            }
            break;
        }
    }

    if (!failures.is_empty() || options.keep_pcaps) && service::any(topology) {
        // Services' output is evidence too: kept beside the captures.
        match created(&mut run_dir, &options.artifacts).and_then(|dir| service::write_logs(topology, dir)) {
            Ok(paths) => artifacts_written.extend(paths),
            Err(e) => {
                let _ = writeln!(failures, "(could not write service logs: {e})");
            }
        }
    }
    if !artifacts_written.is_empty() && !failures.is_empty() {
        let _ = writeln!(failures, "captures (read with tcpdump -r) and service logs:");
        for p in &artifacts_written {
            let _ = writeln!(failures, "  {}", p.display());
        }
    }
    if !failures.is_empty() {
        for warning in &warnings {
            let _ = writeln!(failures, "warning (before the build): {warning}");
        }
    }
    // Whether an xfail scenario "unexpectedly passed" is known only once every step ran.
    let played_all = steps_to_play >= steps.len();
    let xfail = scenario.xfail.as_ref().and_then(|x| x.on(&report.kernel));
    let outcome = match (&xfail, failures.is_empty()) {
        (None, true) => Outcome::Passed(report),
        (None, false) => failed(report, failures),
        (Some(_), false) => Outcome::Passed(report),
        (Some(_), true) if !played_all => Outcome::Passed(report),
        (Some(reason), true) => {
            failed(report, format!("{}: unexpectedly passed — the bug may be fixed (xfail: {reason})", file.display()))
        }
    };
    (outcome, Some(kept))
}

/// The run's own artifact directory, created on first use.
fn created<'d>(run_dir: &'d mut Option<RunDir>, artifacts: &ArtifactDir) -> std::io::Result<&'d RunDir> {
    if run_dir.is_none() {
        *run_dir = Some(artifacts.create_run_dir()?);
    }
    Ok(run_dir.as_ref().expect("created above"))
}

fn failed(report: Report, message: String) -> Outcome {
    Outcome::Failed { report, message }
}

/// `expect:` at the top level is an implicit first step, right after the build.
fn all_steps(scenario: &Scenario) -> Vec<Step> {
    let mut steps = Vec::new();
    if !scenario.expect.is_empty() || scenario.steps.is_empty() {
        steps.push(Step { expect: scenario.expect.clone(), ..Step::default() });
    }
    steps.extend(scenario.steps.iter().cloned());
    steps
}

/// The name of each step as reports and failure messages show it (`after build`,
/// `step 2: host2 routes back`), in the order they are played.
pub fn step_labels(scenario: &Scenario) -> Vec<String> {
    labels_of(&all_steps(scenario))
}

fn labels_of(steps: &[Step]) -> Vec<String> {
    steps.iter().enumerate().map(|(index, step)| step_label(index, step, steps.len())).collect()
}

fn step_label(index: usize, step: &Step, total: usize) -> String {
    match (&step.name, total) {
        (Some(name), _) => format!("step {index}: {name}"),
        (None, 1) => "after build".to_string(),
        (None, _) => format!("step {index}"),
    }
}

/// What one step did and saw.
struct PlayedStep {
    report: StepReport,
    /// (verdict, its status, its xfail reason)
    verdicts: Vec<(Verdict, Status)>,
    /// Everything captured, per interface (unfiltered, for the report and pcaps).
    captured: BTreeMap<IfaceRef, Vec<Captured>>,
    /// Errors that are not assertion failures (an action failed, a capture broke), with
    /// the line of the scenario they belong to when there is one.
    errors: Vec<(Option<u64>, String)>,
    /// An action needed what this kernel lacks: why the scenario is skipped.
    unsupported: Option<String>,
}

/// When a run must have ended, and the `deadline:` it comes from.
struct Deadline {
    started: Instant,
    of: Duration,
}

impl Deadline {
    /// Once passed: why `what` (at `line`) is not played, naming the deadline and how
    /// long the run has taken. Checked before every action and check: each of them is
    /// bounded on its own (timeouts, counts and sizes are validated against the
    /// deadline), so a run ends at most one of them past it.
    fn passed(&self, line: Option<u64>, what: &str) -> Option<(Option<u64>, String)> {
        let ran = self.started.elapsed();
        (ran >= self.of).then(|| {
            let ran = humantime::format_duration(Duration::from_millis(ran.as_millis() as u64));
            let of = humantime::format_duration(self.of);
            (
                line,
                format!("the scenario's deadline of {of} passed (it has run {ran}): not played from here on: {what}"),
            )
        })
    }
}

fn play_step(
    topology: &Topology,
    rt: &tokio::runtime::Runtime,
    step: &Step,
    label: &str,
    deadline: &Deadline,
) -> PlayedStep {
    let mut played = PlayedStep {
        report: StepReport { name: label.to_string(), ..StepReport::default() },
        verdicts: Vec::new(),
        captured: BTreeMap::new(),
        errors: Vec::new(),
        unsupported: None,
    };
    // Drops seen so far were of earlier steps.
    topology.drops.begin_step();
    // Captures go live before any traffic of the step.
    let mut captures = CaptureSet::default();
    for iface in step.capture.iter().chain(packet_checks(step).map(|c| &c.on)) {
        if let Err(e) = captures.open(topology, iface, None) {
            played.errors.push((Some(iface.line), e));
        }
    }
    for check in packet_checks(step) {
        if let Some(filter) = &check.filter {
            if let Err(e) = captures.open(topology, &check.on, Some(filter)) {
                played.errors.push((Some(check.on.line), e));
            }
        }
    }

    // Read before the actions: a counter's change is counted from here.
    let at_start: Vec<_> = step.expect.iter().map(|check| judge::step_start(topology, rt, check)).collect();
    for action in &step.actions {
        if let Some(late) = deadline.passed(Some(action.line()), &format!("`{}`", act::describe(action))) {
            played.errors.push(late);
            break;
        }
        match refusal::play(topology, rt, action) {
            Ok(line) => played.report.actions.push(line),
            Err(NotPlayed::Failed(e)) => {
                played.report.actions.push(act::describe(action));
                played.errors.push((Some(action.line()), e));
            }
            Err(NotPlayed::Unsupported { what, reason }) => {
                played.unsupported = Some(format!("this kernel does not support {what}: {reason}"));
                return played;
            }
        }
    }
    if played.errors.is_empty() {
        let checks: Vec<_> =
            step.expect.iter().zip(&at_start).filter(|(c, _)| !matches!(c, Check::Packets(_))).collect();
        for (judged, (check, at_start)) in checks.iter().enumerate() {
            let left = format!("{} of this step's checks", checks.len() - judged);
            if let Some(late) = deadline.passed(None, &left) {
                played.errors.push(late);
                break;
            }
            let verdict = judge::judge_in_step(topology, rt, check, at_start.as_ref());
            played.push(verdict, check.xfail());
        }
    }

    let mut filtered = BTreeMap::new();
    for ((iface, filter), capture) in captures.0 {
        match capture.finish() {
            Ok(packets) if filter.is_none() => {
                played.captured.insert(iface, packets);
            }
            Ok(packets) => {
                filtered.insert((iface, filter), packets);
            }
            Err(e) => played.errors.push((None, format!("capture on {iface}: {e}"))),
        }
    }
    if played.errors.is_empty() {
        for check in packet_checks(step) {
            let key = (check.on.value.clone(), check.filter.as_ref().map(|f| f.value.clone()));
            let packets = match &key.1 {
                Some(_) => filtered.get(&key),
                None => played.captured.get(&key.0),
            };
            let mut verdict = judge::judge_packets(check, packets.map(Vec::as_slice).unwrap_or_default());
            if !verdict.holds {
                verdict.observed.push_str(&played.summaries_of(&key.0));
            }
            played.push(verdict, check.xfail.as_ref());
        }
    }
    played.report.packets =
        played.captured.iter().map(|(iface, packets)| (iface.to_string(), report::packet_lines(packets))).collect();
    played
}

fn packet_checks(step: &Step) -> impl Iterator<Item = &crate::model::PacketCheck> {
    step.expect.iter().filter_map(|c| match c {
        Check::Packets(p) => Some(p),
        _ => None,
    })
}

impl PlayedStep {
    fn push(&mut self, verdict: Verdict, xfail: Option<&Xfail>) {
        // An xfail for a range of kernels counts only on those (this one's release).
        let xfail = xfail.and_then(|x| x.on(&report::kernel_release()));
        let status = Status::of(verdict.holds, xfail.as_deref());
        self.report.checks.push(CheckReport {
            check: verdict.check.clone(),
            status,
            observed: verdict.observed.clone(),
        });
        self.verdicts.push((verdict, status));
    }

    /// What was captured on `iface`, for a failed packet check's message.
    fn summaries_of(&self, iface: &IfaceRef) -> String {
        let Some(packets) = self.captured.get(iface) else {
            return String::new();
        };
        let mut text = format!("\n    captured on {iface} ({} packets):", packets.len());
        for p in packets {
            let _ = write!(text, "\n      {}", report::packet_line(p));
        }
        text
    }

    /// Append this step's failures to `out`; true when there were any.
    fn failures(&self, file: &Path, label: &str, out: &mut String) -> bool {
        let before = out.len();
        for (line, e) in &self.errors {
            let at = line.map(|l| format!(":{l}")).unwrap_or_default();
            let _ = writeln!(out, "{}{at}: {label}: {e}", file.display());
        }
        for (v, status) in &self.verdicts {
            match status {
                Status::Fail => {
                    let _ = writeln!(
                        out,
                        "{}:{}: {label}: failed: {}\n    observed: {}",
                        file.display(),
                        v.line,
                        v.check,
                        v.observed
                    );
                }
                Status::UnexpectedPass => {
                    let _ = writeln!(
                        out,
                        "{}:{}: {label}: unexpectedly passed — the bug may be fixed: {}\n    observed: {}",
                        file.display(),
                        v.line,
                        v.check,
                        v.observed
                    );
                }
                Status::Pass | Status::ExpectedFailure => {}
            }
        }
        out.len() > before
    }

    fn write_pcaps(&self, dir: &RunDir, prefix: &str) -> std::io::Result<Vec<PathBuf>> {
        let mut paths = Vec::new();
        for (iface, packets) in &self.captured {
            let name = format!("{prefix}{}-{}.pcap", iface.node, iface.iface);
            paths.push(dir.write(&name, |out| capture::write_pcap_to(out, packets))?);
        }
        Ok(paths)
    }
}

/// The captures of one step, keyed by interface and BPF filter (`None`: everything).
#[derive(Default)]
struct CaptureSet(BTreeMap<(IfaceRef, Option<String>), Capture>);

impl CaptureSet {
    fn open(&mut self, topology: &Topology, iface: &IfaceRef, filter: Option<&str>) -> Result<(), String> {
        let key = (iface.clone(), filter.map(str::to_string));
        if self.0.contains_key(&key) {
            return Ok(());
        }
        let node = &topology.nodes[&iface.node];
        let capture = Capture::start(&node.ns, &iface.iface, filter).map_err(|e| format!("capture on {iface}: {e}"))?;
        self.0.insert(key, capture);
        Ok(())
    }
}
