//! `NETRIG_KERNELS` in `cargo test` / nextest: every scenario once more per kernel, as
//! a test of its own (`seeds::veth_pair[kernel=6.1.0-57]`), filterable like the others.
//!
//! One VM per kernel per test process: the first of a kernel's tests to run boots it
//! and runs, in one go, every scenario of that kernel the process's filter selected
//! (the test binary itself runs them inside, see [`guest_main`]); the kernel's other
//! tests wait for that batch and take their own result from it. Under `cargo test`
//! that is one boot per kernel for the whole suite. nextest runs each test in a
//! process of its own, so there each kernel test boots its own VM (15-30 s under TCG):
//! fine for a few, slow for a suite; partitioning still splits the tests as usual.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use libtest_mimic::{Arguments, Completion, Failed, Trial};

use crate::cli::{self, ScenarioResult, Verdict};
use crate::run::runner::{Discovered, missing_privilege};
use crate::run::vm::Kernel;

/// The kernels `NETRIG_KERNELS` names (paths or names under /boot, separated by commas
/// or spaces), each checked bootable; none when it is unset or empty.
pub fn from_env() -> Result<Vec<Kernel>, String> {
    let value = std::env::var("NETRIG_KERNELS").unwrap_or_default();
    let names: Vec<String> =
        value.split(|c: char| c == ',' || c.is_whitespace()).filter(|n| !n.is_empty()).map(str::to_string).collect();
    cli::resolve_kernels(&names).map_err(|e| format!("NETRIG_KERNELS: {e}"))
}

/// The results of one kernel's batch, shared by its tests; made by the first to run.
type Batch = Arc<OnceLock<Result<HashMap<String, ScenarioResult>, String>>>;

/// One trial per scenario and kernel.
pub fn trials(found: &[Discovered], kernels: &[Kernel], args: &Arguments, artifacts: &Path) -> Vec<Trial> {
    let mut trials = Vec::new();
    for kernel in kernels {
        let name_of = |d: &Discovered| format!("{}[kernel={}]", d.name, kernel.label());
        // What this process will run on the kernel: the batch boots once for all of it.
        let selected: Arc<Vec<Discovered>> =
            Arc::new(found.iter().filter(|d| is_selected(args, &name_of(d))).cloned().collect());
        let batch: Batch = Arc::default();
        for d in found {
            let (kernel, selected, batch, d) = (kernel.clone(), selected.clone(), batch.clone(), d.clone());
            let artifacts = artifacts.to_path_buf();
            let trial = Trial::ignorable_test(name_of(&d), move || {
                if let Some(reason) = missing_privilege() {
                    return Ok(Completion::ignored_with(reason));
                }
                let ran = batch.get_or_init(|| run_batch(&kernel, &selected, &artifacts));
                let result = cli::kernel_result(&kernel, &d, ran);
                match result.verdict {
                    Verdict::Passed => Ok(Completion::Completed),
                    Verdict::Skipped => Ok(Completion::ignored_with(result.message.unwrap_or_default())),
                    _ => Err(Failed::from(result.message.unwrap_or_default())),
                }
            });
            trials.push(trial.with_kind("scenario"));
        }
    }
    trials
}

/// Whether libtest's filter (as `cargo test FILTER`, `--skip`, `--exact` give it)
/// selects the test `name`.
fn is_selected(args: &Arguments, name: &str) -> bool {
    let matches = |pattern: &str| if args.exact { name == pattern } else { name.contains(pattern) };
    args.filter.as_deref().is_none_or(matches) && !args.skip.iter().any(|s| matches(s))
}

/// Boot `kernel` and run `selected` in it with this test binary ([`guest_main`]).
fn run_batch(
    kernel: &Kernel,
    selected: &[Discovered],
    artifacts: &Path,
) -> Result<HashMap<String, ScenarioResult>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the test binary to run in the VM: {e}"))?;
    let names: Vec<&str> = selected.iter().map(|d| d.name.as_str()).collect();
    let guest = |rwdir: &Path| {
        let list = rwdir.join("tests.txt");
        // Read by the guest; a failure to write shows there as an empty selection.
        let _ = std::fs::write(&list, names.join("\n"));
        let env = [(TESTS, list), (ARTIFACTS, rwdir.join("artifacts"))];
        let mut words: Vec<String> = env.iter().map(|(k, v)| format!("{k}={}", v.display())).collect();
        words.insert(0, "env".into());
        words.push(exe.display().to_string());
        cli::shell_words(&words)
    };
    cli::results_in_vm(kernel, selected, guest, artifacts)
}

/// In the guest: the file naming the tests to run.
const TESTS: &str = "NETRIG_VM_TESTS";
/// In the guest: where their artifacts go (the host's own tree is read-only there).
const ARTIFACTS: &str = "NETRIG_VM_ARTIFACTS";

/// Where this process runs inside a kernel's VM: the artifacts directory it must use.
pub fn guest_artifacts() -> Option<PathBuf> {
    std::env::var_os(TESTS).and(std::env::var_os(ARTIFACTS)).map(PathBuf::from)
}

/// The test binary inside a kernel's VM: play the tests the host named, one `--json`
/// line each on stdout (as `netrig run --json`), for [`cli::results_in_vm`] to read.
pub fn guest_main(found: &[Discovered]) -> ExitCode {
    let names = std::env::var_os(TESTS).map(|f| std::fs::read_to_string(f).unwrap_or_default()).unwrap_or_default();
    let wanted: Vec<Discovered> = found.iter().filter(|d| names.lines().any(|n| n == d.name)).cloned().collect();
    cli::run_json(&wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_batch_runs_what_the_filter_selects() {
        let args = |filter: Option<&str>, exact: bool, skip: &[&str]| Arguments {
            filter: filter.map(Into::into),
            exact,
            skip: skip.iter().map(|s| s.to_string()).collect(),
            ..Arguments::default()
        };
        let name = "seeds::veth_pair[kernel=6.1.0-57]";
        assert!(is_selected(&args(None, false, &[]), name));
        assert!(is_selected(&args(Some("kernel=6.1"), false, &[]), name));
        assert!(!is_selected(&args(Some("seeds::veth_pair"), true, &[]), name), "--exact names the whole test");
        assert!(is_selected(&args(Some(name), true, &[]), name));
        assert!(!is_selected(&args(None, false, &["kernel="]), name));
    }
}
