//! `netrig run --kernel K`: the scenarios played on other kernels, one microVM per kernel
//! ([`crate::run::vm`]), their results reported as if local, named
//! `seeds::veth_pair[kernel=6.1.0-57]`. `cargo test` with `NETRIG_KERNELS` comes
//! through [`results_in_vm`] too.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::junit::junit_xml;
use super::progress::Progress;
use super::results::{ScenarioResult, Summary, Verdict, claim_stdout};
use super::{plural, usage_error};
use crate::run::runner::{self, Discovered};
use crate::run::vm::{self, Kernel};

/// The kernels `names` name, each checked bootable here; the first problem as a
/// usage error (what to install, or which image is missing).
pub fn resolve_all(names: &[String]) -> Result<Vec<Kernel>, String> {
    let path = std::env::var("PATH").unwrap_or_default();
    let mut kernels = Vec::new();
    for name in names {
        let kernel = vm::resolve(name)?;
        if let Some(missing) = vm::missing(&kernel, &path) {
            return Err(missing);
        }
        if !kernels.contains(&kernel) {
            kernels.push(kernel);
        }
    }
    Ok(kernels)
}

/// `netrig run --kernel …`: each kernel booted once, every scenario of `found` run in
/// it by this same binary (`paths` as given, from the current directory).
pub fn run(
    found: &[Discovered],
    kernels: &[Kernel],
    artifacts: &Path,
    guest_args: &[String],
    junit: Option<&Path>,
    json: bool,
) -> ExitCode {
    if let Some(reason) = runner::missing_privilege() {
        return usage_error(&reason);
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return usage_error(&format!("cannot find netrig's own binary to run in the VM: {e}")),
    };
    let started = Instant::now();
    // Nothing here prints on stdout but the lines: what the guests printed comes in
    // their results.
    let mut lines = match json.then(claim_stdout).transpose() {
        Ok(claimed) => claimed.map(|(lines, _)| lines),
        Err(e) => return usage_error(&format!("cannot keep stdout for the JSON lines: {e}")),
    };
    let mut progress = Progress::new(found.len() * kernels.len(), json);
    let mut results = Vec::new();
    for kernel in kernels {
        // The paths as given, from the same directory: the same test names in the guest.
        let guest = |rwdir: &Path| {
            let mut words = vec![exe.display().to_string(), "run".into(), "--json".into(), "--artifacts".into()];
            words.push(rwdir.join("artifacts").display().to_string());
            words.extend(guest_args.iter().cloned());
            shell_words(&words)
        };
        progress.start(&format!("kernel {}: booting and running {}", kernel.release, plural(found.len(), "scenario")));
        let ran = results_in_vm(kernel, found, guest, artifacts);
        for d in found {
            let result = of_scenario(kernel, d, &ran);
            progress.finish(&result);
            if let Some(lines) = &mut lines {
                lines.write(&result);
            }
            results.push(result);
        }
    }
    let elapsed = started.elapsed();
    let summary = Summary::of(&results);
    progress.summary(&summary, elapsed);
    if let Some(path) = junit {
        if let Err(e) = std::fs::write(path, junit_xml(&results, elapsed)) {
            return usage_error(&format!("cannot write the JUnit report {}: {e}", path.display()));
        }
    }
    if summary.all_passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// `d`'s result on `kernel`, named for it; a scenario the VM gave no result for fails
/// with why (the VM's own error, or its console's last lines).
pub fn of_scenario(
    kernel: &Kernel,
    d: &Discovered,
    ran: &Result<HashMap<String, ScenarioResult>, String>,
) -> ScenarioResult {
    let name = format!("{}[kernel={}]", d.name, kernel.label());
    match ran.as_ref().map(|by_name| by_name.get(&d.name)) {
        Ok(Some(result)) => ScenarioResult { name, ..result.clone() },
        Ok(None) => ScenarioResult {
            name,
            path: d.path.clone(),
            verdict: Verdict::Failed,
            duration: Duration::ZERO,
            message: Some(format!("the VM of kernel {} reported no result for this scenario", kernel.release)),
            kernel: kernel.release.clone(),
        },
        Err(why) => ScenarioResult {
            name,
            path: d.path.clone(),
            verdict: Verdict::Failed,
            duration: Duration::ZERO,
            message: Some(why.clone()),
            kernel: kernel.release.clone(),
        },
    }
}

/// Boot `kernel`, run the command `guest(rwdir)` gives (shell words that print `--json`
/// lines on stdout) for the scenarios of `found` in it, and read the results back, by
/// test name. The guest writes only in `rwdir`, `<artifacts>/kernel-<label>/` (its
/// results, its stderr, and the scenarios' artifacts, which `guest` puts under
/// `rwdir/artifacts`).
pub fn results_in_vm(
    kernel: &Kernel,
    found: &[Discovered],
    guest: impl FnOnce(&Path) -> String,
    artifacts: &Path,
) -> Result<HashMap<String, ScenarioResult>, String> {
    let rwdir = artifacts.join(format!("kernel-{}", kernel.label()));
    let (results, stderr, status) = (rwdir.join("results.jsonl"), rwdir.join("stderr.txt"), rwdir.join("exit-status"));
    std::fs::create_dir_all(&rwdir).map_err(|e| format!("cannot create {}: {e}", rwdir.display()))?;
    for old in [&results, &stderr, &status] {
        let _ = std::fs::remove_file(old);
    }
    let cwd = std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    // CI=true: insta writes no `.snap.new` (the guest sees the project read-only).
    let command = format!(
        "CI=true {} > {} 2> {}; echo $? > {}",
        guest(&rwdir),
        shell_words(&[results.display().to_string()]),
        shell_words(&[stderr.display().to_string()]),
        shell_words(&[status.display().to_string()]),
    );
    // Bounded by the scenarios' own deadlines, four times over for TCG, plus the boot.
    let deadlines: Duration = found.iter().filter_map(|d| d.load().ok()).map(|s| s.deadline()).sum();
    let timeout = Duration::from_secs(300) + deadlines * 4;
    let booted = vm::boot_and_run(kernel, &rwdir, &cwd, &command, timeout)
        .map_err(|e| format!("cannot run the VM of kernel {}: {e}", kernel.release))?;
    if let Some(boot) = booted.boot {
        let how = if booted.kvm { "KVM" } else { "TCG" };
        eprintln!("netrig: kernel {} booted under {how} in {:.1}s", kernel.release, boot.as_secs_f64());
    }
    let ended = std::fs::read_to_string(&status).ok();
    let by_name = read_results(&std::fs::read_to_string(&results).unwrap_or_default());
    match ended.as_deref().map(str::trim) {
        // 0: all passed, 1: some failed; each said so in its own line.
        Some("0" | "1") => Ok(by_name),
        Some(code) => {
            let said = std::fs::read_to_string(&stderr).unwrap_or_default();
            Err(format!(
                "netrig in the VM of kernel {} ended with status {code}:\n{}",
                kernel.release,
                vm::tail(&said, 20)
            ))
        }
        None => Err(format!(
            "the VM of kernel {} ({}) ended before netrig in it did; its console ended with:\n{}",
            kernel.release,
            if booted.kvm { "KVM" } else { "TCG" },
            vm::tail(&booted.console, 20)
        )),
    }
}

/// `words` quoted for `sh`, space-separated.
pub fn shell_words(words: &[String]) -> String {
    words.iter().map(|w| format!("'{}'", w.replace('\'', r"'\''"))).collect::<Vec<_>>().join(" ")
}

/// The results in a guest's stdout (`--json` lines only: what else the guest printed,
/// a snapshot's diff, is in the messages of the results it belongs to), by name.
fn read_results(stdout: &str) -> HashMap<String, ScenarioResult> {
    let results = stdout.lines().filter_map(ScenarioResult::from_json_line);
    results.map(|result| (result.name.clone(), result)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guests_results_are_read_by_name() {
        let passed =
            r#"{"name":"a","path":"a.yaml","outcome":"passed","duration_ms":5,"message":null,"kernel":"6.1.0"}"#;
        let failed = r#"{"name":"b","path":"b.yaml","outcome":"failed","duration_ms":5,"message":"-old\n+new\ndiffers","kernel":"6.1.0"}"#;
        let results = read_results(&format!("{passed}\n{failed}\n"));
        assert_eq!(results["a"].message, None);
        assert_eq!(results["b"].message.as_deref(), Some("-old\n+new\ndiffers"));
        assert_eq!(results["b"].kernel, "6.1.0");
        assert_eq!(results["b"].verdict, Verdict::Failed);
    }
}
