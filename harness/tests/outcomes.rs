//! How runs end, seen from the library: expected failures, and failure messages that
//! show what was captured and where the pcap files are.

use std::path::{Path, PathBuf};
use std::process::Command;

use netrig::parse::load::{Source, parse_and_validate};
use netrig::run::artifacts::ArtifactDir;
use netrig::run::{Outcome, RunOptions, run};

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn play(path: &Path, text: &str, artifacts: &Path) -> Outcome {
    let scenario =
        parse_and_validate(&Source { path: path.to_path_buf(), text: text.into() }).unwrap_or_else(|d| panic!("{d}"));
    run(&scenario, path, &RunOptions { artifacts: ArtifactDir::at(artifacts), keep_pcaps: false })
}

fn artifacts(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("outcomes-{name}-{}", std::process::id()))
}

#[test]
fn the_xfail_example_passes_while_the_bug_is_there_and_fails_once_fixed() {
    if !is_root() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    let path = workspace().join("scenarios/bugs/bridge-forward-drop.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let dir = artifacts("xfail");
    assert!(
        matches!(play(&path, &text, &dir), Outcome::Passed(_)),
        "the bug is still there: the xfail scenario passes"
    );

    let fixed = text.replace(
        "run: [iptables -P FORWARD DROP]",
        "run: [iptables -P FORWARD DROP, iptables -A FORWARD -i mybr0 -j ACCEPT]",
    );
    assert_ne!(fixed, text, "the fix must apply to the scenario text");
    match play(&path, &fixed, &dir) {
        Outcome::Failed { message, .. } => {
            assert!(message.contains("unexpectedly passed — the bug may be fixed"), "{message}");
            assert!(message.contains("bridge-forward-drop.yaml"), "{message}");
        }
        other => panic!("a fixed bug must fail its xfail scenario, got {other:?}"),
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_wrong_packet_assertion_shows_the_capture_and_its_pcap() {
    if !is_root() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    let dir = artifacts("packets");
    let path = dir.join("wrong-source.yaml");
    let text = "nodes:\n  a: {}\n  b: {}\nlinks:\n  - veth: [a:eth0 10.7.0.1/24, b:eth0 10.7.0.2/24]\n\
                expect:\n  - ping: {from: a, to: 10.7.0.2}\n  \
                - packets: {on: \"b:eth0\", match: {ip: {src: 10.7.0.99}, icmp: {type: echo-request}}}\n";
    let Outcome::Failed { message, .. } = play(&path, text, &dir) else { panic!("the packet assertion must fail") };
    // Where, what was expected, and what was there instead.
    assert!(message.contains("wrong-source.yaml:8:"), "{message}");
    assert!(message.contains("packets on b:eth0 matching {ip: {src: 10.7.0.99}"), "{message}");
    assert!(message.contains("captured on b:eth0"), "{message}");
    // The whole frame: MACs (derived from node and interface names) and length.
    let line = regex::Regex::new(
        r"in  02(:[0-9a-f]{2}){5} > 02(:[0-9a-f]{2}){5} length 70: IPv4 10\.7\.0\.1 > 10\.7\.0\.2 ICMP echo-request",
    )
    .unwrap();
    assert!(line.is_match(&message), "{message}");
    // The pcap named in the message is there, in this run's own directory, and tcpdump
    // reads it.
    let named = regex::Regex::new(r"\n\s+(/\S+/run-\d+-\d+/b-eth0\.pcap)\n").unwrap();
    let pcap = PathBuf::from(&named.captures(&message).unwrap_or_else(|| panic!("no pcap named: {message}"))[1]);
    assert!(pcap.starts_with(&dir), "{message}");
    let out = Command::new("tcpdump").arg("-nn").arg("-r").arg(&pcap).output().expect("tcpdump is installed");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && printed.contains("10.7.0.1 > 10.7.0.2: ICMP echo request"), "{printed}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_failed_action_names_its_file_and_line() {
    if !is_root() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    let dir = artifacts("action");
    let path = dir.join("failing-action.yaml");
    let text = "nodes:\n  a: {}\n  b: {}\nlinks:\n  - veth: [a:eth0 10.8.0.1/24, b:eth0 10.8.0.2/24]\n\
                steps:\n  - name: remove what is not there\n    do:\n      \
                - del_route: {on: a, route: \"10.99.0.0/24 via 10.8.0.2\"}\n";
    let Outcome::Failed { message, .. } = play(&path, text, &dir) else { panic!("deleting a missing route must fail") };
    let expected = format!(
        "{}:9: step 0: remove what is not there: action `on a: delete route 10.99.0.0/24 via 10.8.0.2` failed",
        path.display()
    );
    assert!(message.starts_with(&expected), "{message}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A proxy_arp router answers ARP after a random delay below `proxy_delay` (0.8 s by
/// default): a reply that late is still a reply. Four addresses, four independent
/// delays: judged on 200 ms of silence, some `fails: true` would have held (each with
/// probability 3/4).
#[test]
fn a_reply_delayed_by_proxy_arp_is_not_a_failure() {
    if !is_root() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    let dir = artifacts("late-reply");
    let path = dir.join("late-reply.yaml");
    let targets = ["10.0.2.2", "10.0.2.3", "10.0.2.4", "10.0.2.5"];
    let pings: String = targets.iter().map(|t| format!("  - ping: {{from: a, to: {t}, fails: true}}\n")).collect();
    let text = format!(
        "nodes:\n  a: {{}}\n  router: {{sysctl: {{net.ipv4.ip_forward: 1, net.ipv4.conf.all.proxy_arp: 1}}}}\n  \
         b: {{routes: [\"default via 10.0.2.1\"]}}\n\
         links:\n  - veth: [a:eth0 10.0.1.2/16, router:eth0 10.0.1.1/24]\n  \
         - veth: [b:eth0 10.0.2.2/24 10.0.2.3/24 10.0.2.4/24 10.0.2.5/24, router:eth1 10.0.2.1/24]\n\
         expect:\n{pings}"
    );
    let Outcome::Failed { report, .. } = play(&path, &text, &dir) else {
        panic!("every `fails: true` must fail: the proxy answers within its proxy_delay")
    };
    let checks = &report.steps[0].checks;
    assert_eq!(checks.len(), targets.len());
    for check in checks {
        assert_eq!(check.status, netrig::judge::Status::Fail, "{check:?}");
        assert_eq!(check.observed, "sent 1, received 1", "{check:?}");
    }
    // And the plain pings pass.
    assert!(matches!(play(&path, &text.replace(", fails: true", ""), &dir), Outcome::Passed(_)));
    let _ = std::fs::remove_dir_all(dir);
}

/// A failure with another cause than the one expected is a failure, and the message
/// says both: what was expected and what the kernel did.
#[test]
fn a_failure_for_another_cause_says_which() {
    if !is_root() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    let dir = artifacts("cause");
    let path = dir.join("cause.yaml");
    let text = "nodes:\n  a: {}\n  b: {}\nlinks:\n  - veth: [a:eth0 10.7.0.1/24, b:eth0 10.7.0.2/24]\n\
                expect:\n  - ping: {from: a, to: 10.99.0.1, fails: {icmp: host-unreachable}}\n";
    let Outcome::Failed { message, .. } = play(&path, text, &dir) else { panic!("the cause differs: it must fail") };
    assert!(message.contains("cause.yaml:7:"), "{message}");
    assert!(message.contains("ping a -> 10.99.0.1 fails with ICMP host-unreachable"), "{message}");
    assert!(
        message.contains("observed: sent 0, received 0: local error ENETUNREACH (Network is unreachable)"),
        "{message}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_run_past_its_deadline_fails_naming_the_deadline_and_what_was_not_played() {
    if !is_root() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    let dir = artifacts("deadline");
    let path = dir.join("deadline.yaml");
    let text = "deadline: 1s\nnodes:\n  a: {}\n  b: {}\nlinks:\n  - veth: [a:eth0 10.9.0.1/24, b:eth0 10.9.0.2/24]\n\
                expect:\n  - command: {on: a, run: \"sleep 1.2\", exit: 0}\n  - ping: {from: a, to: 10.9.0.2, timeout: 500ms}\n";
    let Outcome::Failed { message, .. } = play(&path, text, &dir) else { panic!("a run past its deadline must fail") };
    let expected = regex::Regex::new(
        r"deadline\.yaml: after build: the scenario's deadline of 1s passed \(it has run 1s \d+ms\): not played from here on: 1 of this step's checks",
    )
    .unwrap();
    assert!(expected.is_match(&message), "{message}");
    let _ = std::fs::remove_dir_all(dir);
}
