//! A run killed with SIGKILL leaves nothing behind: its namespaces (held only by fds)
//! vanish with the process, with every interface in them, and processes it started
//! inside a node die with it.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Network namespace inodes referenced by `pid`'s open fds.
fn netns_fds_of(pid: u32) -> BTreeSet<String> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return BTreeSet::new();
    };
    fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|target| target.to_string_lossy().into_owned())
        .filter(|t| t.starts_with("net:["))
        .collect()
}

/// Every process and fd on the machine that refers to one of `namespaces`.
fn references_to(namespaces: &BTreeSet<String>) -> Vec<String> {
    let mut found = Vec::new();
    for proc_entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = proc_entry.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let pid_dir = proc_entry.path();
        if let Ok(ns) = std::fs::read_link(pid_dir.join("ns/net")) {
            if namespaces.contains(&*ns.to_string_lossy()) {
                found.push(format!("process {name} lives in {}", ns.display()));
            }
        }
        for fd in std::fs::read_dir(pid_dir.join("fd")).into_iter().flatten().flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                if namespaces.contains(&*target.to_string_lossy()) {
                    found.push(format!("process {name} holds {}", target.display()));
                }
            }
        }
    }
    found
}

/// Poll `condition` every few milliseconds until it holds or `limit` passes.
fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    condition()
}

#[test]
fn sigkill_of_a_running_scenario_leaves_nothing_behind() {
    if !is_root() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    let dir = tempdir();
    let marker = dir.join("inside-step");
    // The node command leaves a background job and a daemon in its own session behind:
    // only the death of its PID namespace's process 1 can take the daemon down. Node a's
    // service does the same, started from netrig's own service thread.
    let scenario = dir.join("held.yaml");
    std::fs::write(
        &scenario,
        format!(
            "nodes:\n  a:\n    services:\n      d: {{run: \"setsid -f sleep 120; exec sleep 120\"}}\n  b: {{}}\nlinks:\n  - veth: [a:eth0 10.9.0.1/24, b:eth0 10.9.0.2/24]\n\
             expect:\n  - ping: {{from: a, to: 10.9.0.2}}\n  - command: {{on: b, run: \"(sleep 120 &) ; setsid -f sleep 120 ; touch {} && sleep 120\"}}\n",
            marker.display()
        ),
    )
    .unwrap();
    let host_links_before = host_links();

    let mut child = Command::new(env!("CARGO_BIN_EXE_netrig"))
        .arg("run")
        .arg(&scenario)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || marker.exists()),
        "the scenario never reached its long-running command"
    );
    let namespaces = netns_fds_of(child.id());
    assert!(namespaces.len() >= 2, "expected the run to hold its two namespaces, saw {namespaces:?}");
    assert!(!references_to(&namespaces).is_empty());

    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let mut leftovers = Vec::new();
    let gone = wait_until(Duration::from_secs(5), || {
        leftovers = references_to(&namespaces);
        leftovers.is_empty()
    });
    assert!(gone, "still referenced after SIGKILL: {leftovers:#?}");
    assert_eq!(host_links(), host_links_before, "the machine's own interfaces changed");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn host_links() -> String {
    let out = Command::new("ip").args(["-o", "link"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tempdir() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sigkill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
