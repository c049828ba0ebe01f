//! `netrig run --kernel K`: the scenarios played on other kernels, one microVM per kernel
//! ([`crate::run::vm`]), their results reported as if local, named
//! `seeds::veth_pair[kernel=6.1.0-57]`. `cargo test` with `NETRIG_KERNELS` comes
//! through [`results_in_vm`] too.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::junit::junit_xml;
use super::progress::Progress;
use super::results::{ScenarioResult, Summary, Verdict, claim_stdout};
use super::signals::{Caught, Event};
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
    // Caught before the first VM boots: Ctrl-C or `kill` ends the run with its summary
    // and reports, as for a local run (the VM dies with the thread that started it).
    let caught = match Caught::install() {
        Ok(caught) => caught,
        Err(e) => return usage_error(&format!("cannot catch signals: {e}")),
    };
    let vms = match Vms::start(found, kernels, artifacts, guest_args, exe) {
        Ok(vms) => vms,
        Err(e) => return usage_error(&format!("cannot start the run: {e}")),
    };
    let mut results = Vec::new();
    let mut show = |progress: &mut Progress, result: ScenarioResult| {
        progress.finish(&result);
        if let Some(lines) = &mut lines {
            lines.write(&result);
        }
        results.push(result);
    };
    let (mut done, mut kernel_started) = (0, Instant::now());
    let booting =
        |kernel: &Kernel| format!("kernel {}: booting and running {}", kernel.release, plural(found.len(), "scenario"));
    progress.start(&booting(&kernels[0]));
    let interrupted = loop {
        if done == kernels.len() {
            break None;
        }
        match caught.wait(Some(vms.wake.as_fd())) {
            Ok(Event::Signal(signal)) => break Some(signal),
            Ok(Event::Ready) => {}
            Err(e) => return usage_error(&format!("cannot wait for the VMs: {e}")),
        }
        for (index, ran) in vms.take() {
            for d in found {
                show(&mut progress, of_scenario(&kernels[index], d, &ran));
            }
            done += 1;
            kernel_started = Instant::now();
            if let Some(next) = kernels.get(done) {
                progress.start(&booting(next));
            }
        }
    };
    if let Some(signal) = interrupted {
        // What the VM that was running had reported so far stands; the rest is marked.
        // The guest plays the scenarios in this order: the first without a result was
        // running, the others had not started.
        for (index, kernel) in kernels.iter().enumerate().skip(done) {
            let reported =
                if index == done { read_results(&reported_so_far(artifacts, kernel)) } else { HashMap::new() };
            let mut running = (index == done).then(|| kernel_started.elapsed());
            for d in found {
                let result = match reported.get(&d.name) {
                    Some(result) => ScenarioResult { name: labelled(d, kernel), ..result.clone() },
                    None => ScenarioResult {
                        kernel: kernel.release.clone(),
                        ..ScenarioResult::interrupted(
                            &labelled(d, kernel),
                            d.path.clone(),
                            signal,
                            running.take().unwrap_or_default(),
                        )
                    },
                };
                show(&mut progress, result);
            }
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
    match interrupted {
        // The shell's convention for a process ended by a signal.
        Some(signal) => ExitCode::from(128 + signal as u8),
        None if summary.all_passed() => ExitCode::SUCCESS,
        None => ExitCode::FAILURE,
    }
}

/// What a kernel's VM reported, by test name, or why it reported nothing.
pub type Ran = Result<HashMap<String, ScenarioResult>, String>;

/// The VMs booted one after the other on a thread of their own, so that the main
/// thread stays free to notice a signal; each kernel's results are followed by a byte
/// on `wake`, which [`Caught::wait`] watches beside the signals.
struct Vms {
    results: mpsc::Receiver<(usize, Ran)>,
    wake: std::io::PipeReader,
}

impl Vms {
    fn start(
        found: &[Discovered],
        kernels: &[Kernel],
        artifacts: &Path,
        guest_args: &[String],
        exe: std::path::PathBuf,
    ) -> std::io::Result<Vms> {
        let (wake, mut woken) = std::io::pipe()?;
        let (send, results) = mpsc::channel();
        let (found, kernels, artifacts, guest_args) =
            (found.to_vec(), kernels.to_vec(), artifacts.to_path_buf(), guest_args.to_vec());
        std::thread::spawn(move || {
            for (index, kernel) in kernels.iter().enumerate() {
                // The paths as given, from the same directory: the same test names in the guest.
                let guest = |rwdir: &Path| {
                    let mut words =
                        vec![exe.display().to_string(), "run".into(), "--json".into(), "--artifacts".into()];
                    words.push(rwdir.join("artifacts").display().to_string());
                    words.extend(guest_args.iter().cloned());
                    shell_words(&words)
                };
                let ran = results_in_vm(kernel, &found, guest, &artifacts);
                if send.send((index, ran)).is_err() || woken.write_all(&[1]).is_err() {
                    return;
                }
            }
        });
        Ok(Vms { results, wake })
    }

    /// The kernels done so far (after a wake-up: at least the one that woke us).
    fn take(&self) -> Vec<(usize, Ran)> {
        let mut bytes = [0u8; 64];
        // `poll` said readable: this does not block.
        let _ = (&self.wake).read(&mut bytes);
        self.results.try_iter().collect()
    }
}

/// `seeds::veth_pair[kernel=6.1.0-57]`
fn labelled(d: &Discovered, kernel: &Kernel) -> String {
    format!("{}[kernel={}]", d.name, kernel.label())
}

/// Where the VM of `kernel` writes (see [`results_in_vm`]).
fn rwdir_of(artifacts: &Path, kernel: &Kernel) -> std::path::PathBuf {
    artifacts.join(format!("kernel-{}", kernel.label()))
}

/// The results the guest of `kernel` has written so far (its JSON lines).
fn reported_so_far(artifacts: &Path, kernel: &Kernel) -> String {
    std::fs::read_to_string(rwdir_of(artifacts, kernel).join("results.jsonl")).unwrap_or_default()
}

/// `d`'s result on `kernel`, named for it; a scenario the VM gave no result for fails
/// with why (the VM's own error, or its console's last lines).
pub fn of_scenario(kernel: &Kernel, d: &Discovered, ran: &Ran) -> ScenarioResult {
    let name = labelled(d, kernel);
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
) -> Ran {
    let rwdir = rwdir_of(artifacts, kernel);
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
