//! The `netrig` binary, driven as a user would. `check`, `list`, `schema`, `graph` and
//! `run`'s usage errors need nothing special; playing scenarios (`run`, `shell`,
//! `clean`) needs root and is skipped without it. Each test touches only what it made:
//! its own temp files and the `/run/netns/netrig-<pid>-*` names of the netrig process
//! it started (pids are unique, so these tests run in parallel).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin_cmd;
use netrig::cli::{ScenarioResult, Summary, Verdict, junit_xml};
use predicates::prelude::*;
use predicates::str::contains;

fn netrig() -> Command {
    cargo_bin_cmd!("netrig")
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn seed(name: &str) -> PathBuf {
    workspace().join("scenarios/seeds").join(name)
}

/// A directory with scenario files written by the test.
fn scenarios(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// An unknown key: rejected by the YAML layer at 4:5.
const UNKNOWN_KEY: &str = "nodes:\n  a: {}\n  b:\n    rootes: []\n";
/// A link to a node that does not exist: rejected by validation at 4:32.
const DANGLING: &str = "nodes:\n  a: {}\nlinks:\n  - veth: [a:eth0 10.0.0.1/24, c:eth0 10.0.0.2/24]\n";

// ---- check ----

#[test]
fn check_accepts_a_good_scenario() {
    netrig()
        .args(["check"])
        .arg(seed("veth-pair.yaml"))
        .assert()
        .success()
        .stdout(contains("checked 1 scenario: 1 valid, 0 invalid (0 problems)"))
        .stderr("");
}

#[test]
fn check_locates_an_unknown_key_with_key_path_and_caret() {
    let dir = scenarios(&[("bad.yaml", UNKNOWN_KEY)]);
    netrig()
        .arg("check")
        .arg(dir.path().join("bad.yaml"))
        .assert()
        .code(1)
        .stderr(contains("bad.yaml:4:5: nodes.b.rootes: unknown field `rootes`"))
        .stderr(contains("4 |     rootes: []"))
        .stderr(contains("  |     ^"))
        .stdout(contains("0 valid, 1 invalid (1 problem)"));
}

#[test]
fn check_reports_every_invalid_file_of_a_directory() {
    let dir = scenarios(&[
        ("a-bad.yaml", UNKNOWN_KEY),
        ("b-dangling.yaml", DANGLING),
        ("c-good.yaml", "about: the build is the test\nnodes: {x: {}}\nexpect: []\n"),
        // A truncated file checks nothing: not a green test.
        ("d-empty.yaml", ""),
    ]);
    netrig()
        .arg("check")
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(contains("a-bad.yaml:4:5: nodes.b.rootes"))
        .stderr(contains("b-dangling.yaml:4:32: links[0].veth[1]: no node named `c`"))
        .stderr(contains("  |                                ^"))
        .stderr(contains("d-empty.yaml:1:1: expect: the scenario checks nothing"))
        .stdout(contains("checked 4 scenarios: 1 valid, 3 invalid (3 problems)"));
}

#[test]
fn check_of_all_shipped_scenarios_passes() {
    netrig().arg("check").arg(workspace().join("scenarios")).assert().success().stdout(contains(" 0 invalid"));
}

#[test]
fn a_missing_path_or_an_empty_directory_is_a_usage_error() {
    let empty = tempfile::tempdir().unwrap();
    for command in ["check", "list", "run"] {
        netrig()
            .args([command, "no/such/file.yaml"])
            .assert()
            .code(2)
            .stderr(contains("no/such/file.yaml: no such file or directory"));
        netrig().arg(command).arg(empty.path()).assert().code(2).stderr(contains("no scenario files"));
    }
}

// ---- list, schema ----

#[test]
fn list_names_each_scenario_with_its_path() {
    netrig()
        .arg("list")
        .arg(workspace().join("scenarios"))
        .assert()
        .success()
        .stdout(contains("seeds::veth_pair\t").and(contains("scenarios/seeds/veth-pair.yaml")))
        // A matrix file is one test per row.
        .stdout(contains("sysctl::ip_forward[ip_forward=1,unreachable=false]\t"));
}

#[test]
fn schema_is_json_describing_nodes() {
    let out = netrig().arg("schema").assert().success().get_output().stdout.clone();
    let schema: serde_json::Value = serde_json::from_slice(&out).expect("schema is JSON");
    assert!(schema["properties"]["nodes"].is_object(), "{schema}");
}

// ---- graph ----

#[test]
fn graph_draws_svg_by_default() {
    netrig()
        .arg("graph")
        .arg(seed("cross-host-routing.yaml"))
        .assert()
        .success()
        .stdout(predicate::str::starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        .stdout(contains(">netns01</text>").and(contains(">mybr1</text>")).and(contains(">172.32.0.11/24</text>")));
}

#[test]
fn graph_draws_mermaid_subgraphs_per_node() {
    netrig().args(["graph", "--format", "mermaid"]).arg(seed("docker-bridge.yaml")).assert().success().stdout(
        contains("flowchart LR")
            .and(contains("subgraph n0[\"host"))
            .and(contains("172.18.0.2/16"))
            .and(contains(" end\n")),
    );
}

#[test]
fn graph_draws_dot_clusters() {
    netrig().args(["graph", "-f", "dot"]).arg(seed("vxlan-overlay.yaml")).assert().success().stdout(
        contains("graph \"vxlan-overlay\" {")
            .and(contains("subgraph \"cluster_host149\""))
            .and(contains("VNI 100, dstport 4789")),
    );
}

#[test]
fn graph_output_format_follows_the_file_extension() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pair.mmd");
    netrig().args(["graph", "-o"]).arg(&out).arg(seed("veth-pair.yaml")).assert().success().stdout("");
    assert!(std::fs::read_to_string(&out).unwrap().contains("flowchart LR"));
}

#[test]
fn graph_output_is_deterministic() {
    let draw = || netrig().arg("graph").arg(seed("vxlan-overlay.yaml")).assert().success().get_output().stdout.clone();
    assert_eq!(draw(), draw());
}

#[test]
fn graph_of_a_matrix_file_draws_its_first_row() {
    netrig().arg("graph").arg(workspace().join("scenarios/sysctl/ip-forward.yaml")).assert().success().stdout(
        contains(">ip-forward [ip_forward=0,unreachable=true]</text>").and(contains(">net.ipv4.ip_forward=0</text>")),
    );
}

#[test]
fn graph_of_an_invalid_scenario_prints_the_diagnostic() {
    let dir = scenarios(&[("bad.yaml", DANGLING)]);
    netrig()
        .arg("graph")
        .arg(dir.path().join("bad.yaml"))
        .assert()
        .code(1)
        .stderr(contains("bad.yaml:4:32"))
        .stdout("");
}

#[test]
fn graph_rejects_an_unknown_format() {
    netrig()
        .args(["graph", "--format", "png"])
        .arg(seed("veth-pair.yaml"))
        .assert()
        .code(2)
        .stderr(contains("possible values: svg, mermaid, dot"));
}

// ---- run (usage errors and invalid files only: see the module comment) ----

#[test]
fn run_of_an_invalid_file_fails_with_the_diagnostic_and_summary() {
    let dir = scenarios(&[("bad.yaml", UNKNOWN_KEY)]);
    netrig()
        .arg("run")
        .arg(dir.path().join("bad.yaml"))
        .env("NO_COLOR", "1")
        .assert()
        .code(1)
        .stdout(contains("INVALID bad\n"))
        .stdout(contains("bad.yaml:4:5: nodes.b.rootes"))
        .stdout(contains("  |     ^"))
        .stdout(contains("\n0 passed, 1 failed, 0 skipped\n"));
}

#[test]
fn run_json_prints_one_object_per_scenario() {
    let dir = scenarios(&[("a.yaml", UNKNOWN_KEY), ("b.yaml", DANGLING)]);
    let out = netrig().arg("run").arg("--json").arg(dir.path()).assert().code(1).get_output().clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> =
        stdout.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0]["name"], "a");
    assert_eq!(lines[0]["outcome"], "invalid");
    assert!(lines[0]["path"].as_str().unwrap().ends_with("a.yaml"));
    assert!(lines[1]["message"].as_str().unwrap().contains("b.yaml:4:32"));
    assert!(lines[1]["duration_ms"].is_u64());
    // The human display moved to stderr.
    assert!(String::from_utf8(out.stderr).unwrap().contains("0 passed, 2 failed, 0 skipped"));
}

#[test]
fn run_junit_writes_the_report_file() {
    let dir = scenarios(&[("bad.yaml", DANGLING)]);
    let report = dir.path().join("out/junit.xml");
    // An unwritable report is a usage error.
    netrig()
        .arg("run")
        .arg("--junit")
        .arg(&report)
        .arg(dir.path().join("bad.yaml"))
        .assert()
        .code(2)
        .stderr(contains("cannot write the JUnit report"));
    std::fs::create_dir(dir.path().join("out")).unwrap();
    netrig().arg("run").arg("--junit").arg(&report).arg(dir.path().join("bad.yaml")).assert().code(1);
    let xml = std::fs::read_to_string(&report).unwrap();
    assert!(xml.contains(r#"<testcase name="bad""#), "{xml}");
    assert!(xml.contains(r#"<error message="error: "#) && xml.contains("no node named `c`"), "{xml}");
}

#[test]
fn run_on_a_kernel_without_the_vm_tooling_says_what_to_install() {
    let dir = tempfile::tempdir().unwrap();
    // A file with a bzImage setup header announcing its release.
    let image = dir.path().join("vmlinuz-6.1.0-1-amd64");
    let mut bytes = vec![0u8; 0x400];
    bytes[0x202..0x206].copy_from_slice(b"HdrS");
    bytes[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
    bytes[0x300..0x30f].copy_from_slice(b"6.1.0-1-amd64 #");
    std::fs::write(&image, bytes).unwrap();
    let empty = tempfile::tempdir().unwrap();
    netrig()
        .env("PATH", empty.path())
        .args(["run", "--kernel"])
        .arg(&image)
        .arg(seed("veth-pair.yaml"))
        .assert()
        .code(2)
        .stderr(contains("pip install virtme-ng").and(contains("apt install qemu-system-x86")));
    netrig()
        .args(["run", "--kernel", "/nonexistent/vmlinuz-0.0"])
        .arg(seed("veth-pair.yaml"))
        .assert()
        .code(2)
        .stderr(contains("no kernel image `/nonexistent/vmlinuz-0.0`").and(contains("apt install linux-image-amd64")));
}

#[test]
fn run_rejects_unknown_options() {
    netrig().args(["run", "--frobnicate"]).assert().code(2);
}

// ---- the report writers, on synthetic results ----

fn result(name: &str, verdict: Verdict, message: Option<&str>) -> ScenarioResult {
    ScenarioResult {
        name: name.into(),
        path: format!("scenarios/{}.yaml", name.replace("::", "/")).into(),
        verdict,
        duration: Duration::from_millis(1234),
        message: message.map(Into::into),
        kernel: "6.1.0-57-amd64".into(),
    }
}

fn synthetic() -> Vec<ScenarioResult> {
    vec![
        result("seeds::veth_pair", Verdict::Passed, None),
        result(
            "seeds::bridge_arp",
            Verdict::Failed,
            Some("scenarios/seeds/bridge-arp.yaml:14: failed: ping lab → 1.2.3.102\n    observed: reply <&>"),
        ),
        result("seeds::vxlan", Verdict::Skipped, Some("this kernel does not support vxlan")),
        result("broken", Verdict::Invalid, Some("error: broken.yaml:1:1: bad")),
    ]
}

#[test]
fn summary_counts_invalid_as_failed() {
    let summary = Summary::of(&synthetic());
    assert_eq!(summary.to_string(), "1 passed, 2 failed, 1 skipped");
    assert!(!summary.all_passed());
}

#[test]
fn json_lines_carry_name_path_outcome_duration_message_and_kernel() {
    let lines: Vec<serde_json::Value> =
        synthetic().iter().map(|r| serde_json::from_str(&r.json_line()).unwrap()).collect();
    assert_eq!(
        lines[0],
        serde_json::json!({"name": "seeds::veth_pair", "path": "scenarios/seeds/veth_pair.yaml", "outcome": "passed", "duration_ms": 1234, "message": null, "kernel": "6.1.0-57-amd64"})
    );
    // Read back as written (results from a kernel's VM come this way).
    let back = ScenarioResult::from_json_line(&synthetic()[1].json_line()).unwrap();
    assert_eq!((back.verdict, back.kernel.as_str()), (Verdict::Failed, "6.1.0-57-amd64"));
    let outcomes: Vec<&str> = lines.iter().map(|l| l["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["passed", "failed", "skipped", "invalid"]);
    assert!(lines[1]["message"].as_str().unwrap().contains("observed: reply <&>"));
}

#[test]
fn junit_has_a_testcase_per_scenario_with_failures_errors_and_skips() {
    let xml = junit_xml(&synthetic(), Duration::from_secs(5));
    assert!(
        xml.contains(r#"<testsuite name="netrig" tests="4" skipped="1" errors="1" failures="1" time="5.000">"#),
        "{xml}"
    );
    assert!(xml.contains(r#"<testcase name="seeds::veth_pair" classname="seeds" time="1.234">"#), "{xml}");
    assert!(xml.contains(r#"<property name="kernel" value="6.1.0-57-amd64"/>"#), "{xml}");
    // The failure's first line is the message attribute, the whole text the body; escaped.
    assert!(xml.contains(r#"<failure message="scenarios/seeds/bridge-arp.yaml:14: failed: ping lab → 1.2.3.102" type="scenario failed">"#), "{xml}");
    assert!(xml.contains("observed: reply &lt;&amp;&gt;"), "{xml}");
    assert!(xml.contains(r#"<skipped message="this kernel does not support vxlan"/>"#), "{xml}");
    assert!(
        xml.contains(r#"<testcase name="broken" classname="netrig""#)
            && xml.contains(r#"<error message="error: broken.yaml:1:1: bad""#),
        "{xml}"
    );
}

// ---- playing real scenarios (root) ----

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

macro_rules! needs_root {
    () => {
        if !is_root() {
            eprintln!("skipped: needs root to build topologies");
            return;
        }
    };
}

/// How long a netrig process may take to get where a test waits for it.
const PATIENCE: Duration = Duration::from_secs(30);

/// A scenario that fails at lines 12 and 13: the ping asks for an address nobody has,
/// and the packet check then shows what the capture saw instead (ARP requests).
const FAILING: &str = "\
name: failing
nodes:
  a: {}
  b: {}
links:
  - veth: [a:eth0 10.77.0.1/24, b:eth0 10.77.0.2/24]
steps:
  - name: ping a stranger
    capture: [b:eth0]
    expect:
      - ping: {from: a, to: 10.77.0.2}
      - ping: {from: a, to: 10.77.0.3, timeout: 300ms}
      - packets: {on: \"b:eth0\", match: {ip: {dst: 10.77.0.3}}, count: 1}
  - name: never played
    expect:
      - ping: {from: b, to: 10.77.0.1}
";

#[test]
fn run_of_a_passing_scenario_exits_0_with_the_summary() {
    needs_root!();
    netrig()
        .arg("run")
        .arg(seed("veth-pair.yaml"))
        .env("NO_COLOR", "1")
        .assert()
        .success()
        .stdout(contains("PASS veth_pair ("))
        .stdout(contains("\n1 passed, 0 failed, 0 skipped\n"));
}

#[test]
fn run_json_keeps_stdout_for_the_json_lines_even_when_a_snapshot_differs() {
    needs_root!();
    let pair = "nodes:\n  a: {}\n  b: {}\nlinks:\n  - veth: [a:eth0 10.0.0.1/24, b:eth0 10.0.0.2/24]\n\
                expect:\n  - ping: {from: a, to: 10.0.0.2}\n";
    let dir = scenarios(&[("x.yaml", pair)]);
    std::fs::create_dir(dir.path().join("snapshots")).unwrap();
    // No snapshot yet: insta prints its summary of the new one, which must not land
    // among the JSON lines.
    let out = netrig()
        .args(["run", "--json", "--snapshots", "snapshots", "x.yaml"])
        .current_dir(dir.path())
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CI")
        .env("NO_COLOR", "1")
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> =
        stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"))).collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert_eq!(lines[0]["outcome"], "failed");
    // It is in the failed scenario's message instead, and on stderr with the display.
    let message = lines[0]["message"].as_str().unwrap();
    assert!(message.contains("Snapshot Summary") && message.contains("the report differs"), "{message}");
    assert!(String::from_utf8(out.stderr).unwrap().contains("Snapshot Summary"), "insta's summary went to stderr");
}

#[test]
fn run_of_a_failing_scenario_locates_the_assertion_and_keeps_readable_pcaps() {
    needs_root!();
    let dir = scenarios(&[("failing.yaml", FAILING)]);
    // Run as in any project: artifacts go under ./target/netrig/, here the test's directory.
    let out = netrig()
        .arg("run")
        .arg("failing.yaml")
        .current_dir(dir.path())
        .env_remove("CARGO_TARGET_DIR")
        .env("NO_COLOR", "1")
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let expected_lines = [
        "FAIL failing (".to_string(),
        "failing.yaml:12: step 0: ping a stranger: failed: ping a -> 10.77.0.3 is answered".to_string(),
        "observed: sent 1, received 0".to_string(),
        "failing.yaml:13: step 0: ping a stranger: failed: packets on b:eth0".to_string(),
        "captured on b:eth0".to_string(),
        "ARP request who-has 10.77.0.3 tell 10.77.0.1".to_string(),
        "not played after this failure: step 1: never played".to_string(),
        "0 passed, 1 failed, 0 skipped".to_string(),
    ];
    for line in expected_lines {
        assert!(stdout.contains(&line), "missing {line:?} in:\n{stdout}");
    }
    // The capture is saved where the message says, in this run's own directory, and
    // tcpdump reads it.
    let runs = dir.path().join("target/netrig/failing");
    let named = format!(r"\n      ({}/run-\d+-0/step0-b-eth0\.pcap)\n", regex::escape(&runs.display().to_string()));
    let pcap =
        regex::Regex::new(&named).unwrap().captures(&stdout).unwrap_or_else(|| panic!("{stdout}"))[1].to_string();
    let read = std::process::Command::new("tcpdump").arg("-nr").arg(&pcap).output().unwrap();
    assert!(read.status.success(), "{read:?}");
    assert!(String::from_utf8_lossy(&read.stdout).contains("Request who-has 10.77.0.3 tell 10.77.0.1"), "{read:?}");
}

#[test]
fn concurrent_failing_runs_of_one_test_each_name_their_own_complete_pcaps() {
    needs_root!();
    let dir = scenarios(&[("failing.yaml", FAILING)]);
    let start = || {
        let mut run = std::process::Command::new(env!("CARGO_BIN_EXE_netrig"));
        run.args(["run", "failing.yaml"]).current_dir(dir.path()).env_remove("CARGO_TARGET_DIR");
        run.env("NO_COLOR", "1").stdout(Stdio::piped()).spawn().unwrap()
    };
    let runs: Vec<_> = (0..4).map(|_| start()).collect();
    let named = regex::Regex::new(r"\n\s+(\S+/run-\d+-0/step0-b-eth0\.pcap)\n").unwrap();
    let mut pcaps = Vec::new();
    for run in runs {
        let out = run.wait_with_output().unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let pcap = named.captures(&stdout).unwrap_or_else(|| panic!("no pcap named in:\n{stdout}"))[1].to_string();
        pcaps.push(pcap);
    }
    let distinct: std::collections::BTreeSet<_> = pcaps.iter().collect();
    assert_eq!(distinct.len(), pcaps.len(), "runs shared a file: {pcaps:?}");
    for pcap in &pcaps {
        let read = std::process::Command::new("tcpdump").arg("-nr").arg(dir.path().join(pcap)).output().unwrap();
        assert!(read.status.success(), "{pcap}: {read:?}");
        assert!(String::from_utf8_lossy(&read.stdout).contains("who-has 10.77.0.3"), "{pcap}: {read:?}");
    }
}

#[test]
fn run_keeps_the_pcaps_of_a_passing_scenario_when_netrig_keep_pcaps_is_set() {
    needs_root!();
    let passing = "nodes: {a: {}, b: {}}\nlinks: [{veth: [a:eth0 10.78.0.1/24, b:eth0 10.78.0.2/24]}]\n\
                   steps: [{capture: [b:eth0], expect: [{ping: {from: a, to: 10.78.0.2}}]}]\n";
    let dir = scenarios(&[("passing.yaml", passing)]);
    let pcap_dir = dir.path().join("target/netrig/passing");
    let run = |keep: &str| {
        let mut netrig = netrig();
        netrig.args(["run", "."]).current_dir(dir.path()).env_remove("CARGO_TARGET_DIR");
        netrig.env("NETRIG_KEEP_PCAPS", keep).assert().success();
    };
    run("0");
    assert!(!pcap_dir.exists(), "NETRIG_KEEP_PCAPS=0 keeps nothing of a passing run");
    run("1");
    let kept: Vec<_> = std::fs::read_dir(&pcap_dir).expect("NETRIG_KEEP_PCAPS=1 keeps the pcaps").collect();
    assert!(!kept.is_empty(), "no pcap kept in {}", pcap_dir.display());
}

#[test]
fn run_compares_with_the_projects_snapshots_and_accept_takes_the_new_ones() {
    needs_root!();
    let passing = "nodes: {a: {}, b: {}}\nlinks: [{veth: [a:eth0 10.79.0.1/24, b:eth0 10.79.0.2/24]}]\n\
                   expect: [{ping: {from: a, to: 10.79.0.2}}]\n";
    let dir = scenarios(&[]);
    std::fs::create_dir_all(dir.path().join("net/sub")).unwrap();
    std::fs::create_dir(dir.path().join("snapshots")).unwrap();
    std::fs::write(dir.path().join("net/sub/pair.yaml"), passing).unwrap();
    let (snap, pending) =
        (dir.path().join("snapshots/net/sub/pair.snap"), dir.path().join("snapshots/net/sub/pair.snap.new"));
    let run = |ci: bool| {
        let mut netrig = netrig();
        netrig.args(["run", "net"]).current_dir(dir.path()).env_remove("CARGO_TARGET_DIR").env_remove("INSTA_UPDATE");
        if ci {
            netrig.env("CI", "true")
        } else {
            netrig.env_remove("CI")
        };
        netrig.assert()
    };
    // Under CI nothing is written, and a missing snapshot fails.
    run(true).code(1);
    assert!(!pending.exists() && !snap.exists());
    // Elsewhere the new report is left pending beside where the snapshot belongs ...
    run(false).code(1).stdout(contains("the report differs from"));
    assert!(pending.exists() && !snap.exists());
    // ... and `netrig accept` makes it the snapshot, which the next run matches.
    netrig().arg("accept").current_dir(dir.path()).assert().success().stdout(contains("1 snapshot accepted"));
    assert!(snap.exists() && !pending.exists());
    run(true).success();
    // A changed topology is a difference again.
    std::fs::write(dir.path().join("net/sub/pair.yaml"), passing.replace("10.79.0.2", "10.79.0.3")).unwrap();
    run(true).code(1).stdout(contains("pair.snap"));
    assert!(std::fs::read_to_string(&snap).unwrap().contains("input_file: net/sub/pair.yaml"));
}

#[test]
fn run_json_and_junit_report_real_runs() {
    needs_root!();
    let passing = std::fs::read_to_string(seed("veth-pair.yaml")).unwrap();
    let dir = scenarios(&[("a-passing.yaml", &passing), ("b-failing.yaml", FAILING)]);
    let junit = dir.path().join("junit.xml");
    let out = netrig()
        .args(["run", "--json", "--junit"])
        .arg(&junit)
        .arg(dir.path())
        .env("CARGO_TARGET_DIR", dir.path())
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> =
        stdout.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0]["name"], "a_passing");
    assert_eq!(lines[0]["outcome"], "passed");
    assert!(lines[0]["message"].is_null());
    assert_eq!(lines[1]["name"], "b_failing");
    assert_eq!(lines[1]["outcome"], "failed");
    let message = lines[1]["message"].as_str().unwrap();
    assert!(message.contains("b-failing.yaml:12: step 0: ping a stranger: failed"), "{message}");
    assert!(String::from_utf8(out.stderr).unwrap().contains("1 passed, 1 failed, 0 skipped"));

    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"<testsuite name="netrig" tests="2" skipped="0" errors="0" failures="1""#), "{xml}");
    assert!(xml.contains(r#"<testcase name="a_passing" classname="netrig""#), "{xml}");
    let failure = "b-failing.yaml:12: step 0: ping a stranger: failed: ping a -&gt; 10.77.0.3 is answered";
    assert!(xml.contains(failure), "{xml}");
}

// ---- shell, run --keep, clean (root) ----

/// A netrig process running in the background: its stdout line by line, its exit.
struct Background {
    pid: u32,
    lines: Receiver<String>,
    exited: Receiver<ExitStatus>,
    status: Option<ExitStatus>,
    /// Everything printed so far.
    output: String,
}

impl Background {
    /// Start `netrig args...` with `stdin` as its input (closed once written).
    fn start(args: &[&str], stdin: &str) -> Background {
        Background::start_command(std::process::Command::new(env!("CARGO_BIN_EXE_netrig")).args(args), stdin)
    }

    fn start_command(command: &mut std::process::Command, stdin: &str) -> Background {
        let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let stdout = child.stdout.take().unwrap();
        let (line_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let pid = child.id();
        let (exit_tx, exited) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = exit_tx.send(child.wait().unwrap());
        });
        Background { pid, lines, exited, status: None, output: String::new() }
    }

    /// Read output until a line containing `marker`; everything printed so far.
    fn wait_for(&mut self, marker: &str) -> &str {
        let deadline = Instant::now() + PATIENCE;
        while !self.output.lines().any(|l| l.contains(marker)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.output.push_str(&line);
                    self.output.push('\n');
                }
                Err(e) => panic!("no line with {marker:?} ({e}); output so far:\n{}", self.output),
            }
        }
        &self.output
    }

    /// Wait for netrig to exit; its status and everything it printed.
    fn finish(&mut self) -> (ExitStatus, &str) {
        let status = self.exited.recv_timeout(PATIENCE).expect("netrig did not exit in time");
        self.status = Some(status);
        // The reader stops at end of file, which follows the exit.
        while let Ok(line) = self.lines.recv_timeout(PATIENCE) {
            self.output.push_str(&line);
            self.output.push('\n');
        }
        (status, &self.output)
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid as i32), signal).unwrap();
    }

    /// `netrig-<pid>-<node>`.
    fn pin(&self, node: &str) -> String {
        format!("netrig-{}-{node}", self.pid)
    }

    /// Names of this process's pins in /run/netns, and mounts of them in our mount table.
    fn leftovers(&self) -> Vec<String> {
        let prefix = format!("netrig-{}-", self.pid);
        let names = std::fs::read_dir("/run/netns").into_iter().flatten().flatten();
        let mut found: Vec<String> =
            names.map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with(&prefix)).collect();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let mount_point = format!("/run/netns/{prefix}");
        found.extend(mounts.lines().filter(|l| l.contains(&mount_point)).map(|l| format!("mount: {l}")));
        found
    }
}

impl Drop for Background {
    /// A test that failed half-way leaves no process and no pins behind.
    fn drop(&mut self) {
        // Still running (not reaped, so the pid is still its own): kill it.
        if self.status.is_none() && self.exited.try_recv().is_err() {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid as i32), nix::sys::signal::Signal::SIGKILL);
            let _ = self.exited.recv_timeout(PATIENCE);
        }
        let pid = self.pid.to_string();
        let _ = std::process::Command::new(env!("CARGO_BIN_EXE_netrig")).args(["clean", "--pid", &pid]).output();
    }
}

/// `ip netns list`, one name per line (without ` (id: N)`).
fn ip_netns_list() -> Vec<String> {
    let out = std::process::Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.split_whitespace().next()).map(String::from).collect()
}

fn ip_netns_exec(name: &str, command: &[&str]) -> String {
    let out = std::process::Command::new("ip").args(["netns", "exec", name]).args(command).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn shell_pins_the_namespaces_until_ctrl_c() {
    needs_root!();
    let veth_pair = seed("veth-pair.yaml");
    let mut shell = Background::start(&["shell", veth_pair.to_str().unwrap()], "");
    let hints = shell.wait_for("Press Ctrl-C").to_string();
    let (ns1, ns2) = (shell.pin("ns1"), shell.pin("ns2"));
    for hint in [
        format!("ip netns exec {ns1} bash"),
        format!("nsenter --net=/run/netns/{ns2} bash"),
        format!("ip netns exec {ns1} tcpdump -ni veth1"),
        "netrig clean".to_string(),
    ] {
        assert!(hints.contains(&hint), "missing {hint:?} in:\n{hints}");
    }
    let listed = ip_netns_list();
    assert!(listed.contains(&ns1) && listed.contains(&ns2), "{listed:?}");
    assert!(ip_netns_exec(&ns1, &["ip", "-o", "addr"]).contains("inet 10.120.0.11/24"));
    assert!(ip_netns_exec(&ns2, &["ip", "-o", "addr"]).contains("inet 10.120.0.12/24"));

    // A live session's names are not `clean`'s to take.
    netrig()
        .args(["clean", "--pid", &shell.pid.to_string()])
        .assert()
        .success()
        .stdout(contains("0 pinned namespaces removed"));
    assert!(ip_netns_list().contains(&ns1));

    shell.signal(nix::sys::signal::Signal::SIGINT);
    let (status, output) = shell.finish();
    assert!(status.success(), "{status:?}\n{output}");
    assert_eq!(shell.leftovers(), Vec::<String>::new());
    assert!(!ip_netns_list().contains(&ns1));
}

#[test]
fn a_killed_shell_leaves_its_names_until_clean() {
    needs_root!();
    let veth_pair = seed("veth-pair.yaml");
    let mut shell = Background::start(&["shell", veth_pair.to_str().unwrap()], "");
    shell.wait_for("Press Ctrl-C");
    shell.signal(nix::sys::signal::Signal::SIGKILL);
    shell.finish();

    // The bind mounts hold the namespaces, interfaces and all.
    let (ns1, ns2) = (shell.pin("ns1"), shell.pin("ns2"));
    assert!(ip_netns_list().contains(&ns1));
    assert!(ip_netns_exec(&ns1, &["ip", "-o", "addr"]).contains("inet 10.120.0.11/24"));

    netrig()
        .args(["clean", "--pid", &shell.pid.to_string()])
        .assert()
        .success()
        .stdout(contains(format!("removed {ns1}\nremoved {ns2}\n2 pinned namespaces removed\n")));
    assert_eq!(shell.leftovers(), Vec::<String>::new());
    assert!(!ip_netns_list().contains(&ns1));
}

#[test]
fn shell_in_a_node_after_some_steps_runs_there_and_passes_its_exit_code_on() {
    needs_root!();
    let story = seed("cross-host-story.yaml");
    // Not a terminal, so the shell reads these commands and exits.
    let commands = "echo \"in $NETRIG_NODE as $NETRIG_NETNS\"; ip route show 20.1.1.0/24; ls /sys/class/net; \
                    echo procs: /proc/[0-9]*; ip netns exec \"$NETRIG_NETNS\" true && echo pins visible; exit 3\n";
    let mut shell = Background::start(&["shell", story.to_str().unwrap(), "--step", "1", "--node", "host1"], commands);
    let pin = shell.pin("host1");
    let (status, output) = shell.finish();
    assert_eq!(status.code(), Some(3), "{output}");
    assert!(output.contains("step 1: host1 routes 20.1.1.0/24 via host2"), "{output}");
    assert!(output.contains(&format!("in host1 as {pin}")), "{output}");
    // Step 1 added this route; /sys is the node's own.
    assert!(output.contains("20.1.1.0/24 via 172.32.0.12 dev eth0"), "{output}");
    assert!(output.contains("\neth0\nlo\nmybr1\nveth01\n"), "{output}");
    // /proc is the node's own too: the shell is its only process. /run is the machine's.
    assert!(output.contains("\nprocs: /proc/1\npins visible\n"), "{output}");
    assert_eq!(shell.leftovers(), Vec::<String>::new());
}

#[test]
fn run_keep_shows_the_result_then_keeps_the_topology_until_sigterm() {
    needs_root!();
    let dir = scenarios(&[("failing.yaml", FAILING)]);
    let file = dir.path().join("failing.yaml");
    let mut run = std::process::Command::new(env!("CARGO_BIN_EXE_netrig"));
    run.args(["run", "--keep"]).arg(&file).env("CARGO_TARGET_DIR", dir.path()).env("NO_COLOR", "1");
    let mut kept = Background::start_command(&mut run, "");
    let output = kept.wait_for("Press Ctrl-C").to_string();
    // The failure comes first, then the way in: the state the failure left is there.
    let failure = output.find("failed: ping a -> 10.77.0.3").expect("the failure is shown");
    assert!(failure < output.find(&format!("ip netns exec {} bash", kept.pin("a"))).unwrap(), "{output}");
    assert!(ip_netns_exec(&kept.pin("b"), &["ip", "-o", "addr"]).contains("inet 10.77.0.2/24"));
    kept.signal(nix::sys::signal::Signal::SIGTERM);
    let (status, output) = kept.finish();
    assert_eq!(status.code(), Some(1), "the run failed:\n{output}");
    assert!(
        output.contains("SIGTERM: removing the names") && output.ends_with("0 passed, 1 failed, 0 skipped\n"),
        "{output}"
    );
    assert_eq!(kept.leftovers(), Vec::<String>::new());
}

#[test]
fn run_interrupted_by_sigint_reports_what_completed_and_marks_the_rest_interrupted() {
    needs_root!();
    let dir = tempfile::tempdir().unwrap();
    let started = dir.path().join("started");
    // A sleep no other process runs, to see that it died with netrig.
    let marker = format!("60.{}", std::process::id());
    write_interruptible(dir.path(), &started, &marker);
    let junit = dir.path().join("junit.xml");
    let mut run = std::process::Command::new(env!("CARGO_BIN_EXE_netrig"));
    run.args(["run", "--json", "--junit"]).arg(&junit).arg(".").current_dir(dir.path());
    run.env("CARGO_TARGET_DIR", dir.path()).env("NO_COLOR", "1");
    let mut netrig = Background::start_command(&mut run, "");
    netrig.wait_for(r#""name":"1_quick""#);
    // Interrupt while the slow scenario's command runs: bounded polling of a file the
    // command creates (the test's own synchronisation, not netrig's).
    let deadline = Instant::now() + PATIENCE;
    while !started.exists() {
        assert!(Instant::now() < deadline, "the slow scenario never started");
        std::thread::yield_now();
    }
    netrig.signal(nix::sys::signal::Signal::SIGINT);
    let (status, output) = netrig.finish();
    let output = output.to_string();
    assert_eq!(status.code(), Some(130), "{output}");
    let lines: Vec<serde_json::Value> = output.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let outcomes: Vec<(&str, &str)> =
        lines.iter().map(|l| (l["name"].as_str().unwrap(), l["outcome"].as_str().unwrap())).collect();
    assert_eq!(outcomes, [("1_quick", "passed"), ("2_slow", "interrupted"), ("3_never", "interrupted")]);
    assert_eq!(lines[1]["message"], "interrupted by SIGINT while it ran");
    assert_eq!(lines[2]["message"], "interrupted by SIGINT before it started");
    let xml = std::fs::read_to_string(&junit).expect("the JUnit report is written");
    assert!(
        xml.contains(r#"tests="3""#) && xml.contains(r#"<error message="interrupted by SIGINT while it ran""#),
        "{xml}"
    );
    // The slow scenario's command died with netrig.
    let deadline = Instant::now() + PATIENCE;
    while running_sleep(&marker) {
        assert!(Instant::now() < deadline, "`sleep {marker}` outlived the interrupted run");
        std::thread::yield_now();
    }
}

#[test]
fn run_on_a_kernel_interrupted_reports_what_its_vm_completed() {
    needs_root!();
    let image = std::fs::read_dir("/boot").ok().and_then(|dir| {
        let images = dir.filter_map(|e| e.ok()).map(|e| e.path());
        images.filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-6.1."))).max()
    });
    let tooling = std::env::var("PATH").unwrap_or_default().split(':').any(|d| Path::new(d).join("vng").exists());
    let Some(image) = image.filter(|_| tooling) else {
        eprintln!("skipped: needs virtme-ng (vng) and a Debian 6.1 kernel image under /boot (ci/install-deps.sh)");
        return;
    };
    // Not under /tmp, which a node's commands see as their own (and the guest as its).
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    // The guest sees the machine's files read-only: the slow scenario marks its start
    // in the directory of the kernel's run, the one it may write.
    let release = image.file_name().unwrap().to_string_lossy().trim_start_matches("vmlinuz-").to_string();
    let label = release.trim_end_matches("-amd64");
    let started = dir.path().join(format!("netrig/kernel-{label}/started"));
    let marker = format!("60.{}", std::process::id());
    write_interruptible(dir.path(), &started, &marker);
    let mut run = std::process::Command::new(env!("CARGO_BIN_EXE_netrig"));
    run.args(["run", "--json", "--kernel"]).arg(&image).arg(".").current_dir(dir.path());
    run.env("CARGO_TARGET_DIR", dir.path()).env("NO_COLOR", "1");
    let mut netrig = Background::start_command(&mut run, "");
    // Booting under TCG takes tens of seconds: bounded polling of the file the slow
    // scenario creates (the test's own synchronisation, not netrig's).
    let deadline = Instant::now() + PATIENCE * 4;
    while !started.exists() {
        assert!(Instant::now() < deadline, "the slow scenario never started in the VM");
        std::thread::sleep(Duration::from_millis(50));
    }
    netrig.signal(nix::sys::signal::Signal::SIGINT);
    let (status, output) = netrig.finish();
    let output = output.to_string();
    assert_eq!(status.code(), Some(130), "{output}");
    let lines: Vec<serde_json::Value> = output.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let outcomes: Vec<(String, &str)> =
        lines.iter().map(|l| (l["name"].as_str().unwrap().to_string(), l["outcome"].as_str().unwrap())).collect();
    let named = |name: &str| format!("{name}[kernel={label}]");
    assert_eq!(
        outcomes,
        [(named("1_quick"), "passed"), (named("2_slow"), "interrupted"), (named("3_never"), "interrupted")]
    );
    assert_eq!(lines[1]["message"], "interrupted by SIGINT while it ran");
    assert_eq!(lines[2]["message"], "interrupted by SIGINT before it started");
    assert_eq!(lines[2]["kernel"], release.as_str());
    // The VM died with netrig.
    let deadline = Instant::now() + PATIENCE;
    while qemu_with(&dir.path().display().to_string()) {
        assert!(Instant::now() < deadline, "the VM outlived the interrupted run");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether a QEMU process whose command line mentions `text` runs on the machine.
fn qemu_with(text: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()).any(|e| {
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        cmdline.starts_with("qemu-system") && cmdline.contains(text)
    })
}

/// Three scenarios in `dir`, played in this order: `1_quick` (a ping), `2_slow` (a
/// command that creates `started`, then runs `sleep <marker>`), `3_never` (a ping).
fn write_interruptible(dir: &Path, started: &Path, marker: &str) {
    let slow = format!(
        "nodes: {{a: {{}}}}\nexpect:\n  - command: {{on: a, run: \"touch {}; sleep {marker}\", exit: 0}}\n",
        started.display()
    );
    let quick = "nodes: {a: {}, b: {}}\nlinks: [{veth: [a:eth0 10.76.0.1/24, b:eth0 10.76.0.2/24]}]\n\
                 expect: [{ping: {from: a, to: 10.76.0.2}}]\n";
    for (name, text) in [("1-quick.yaml", quick), ("2-slow.yaml", slow.as_str()), ("3-never.yaml", quick)] {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// Whether a `sleep <duration>` process runs on the machine.
fn running_sleep(duration: &str) -> bool {
    let wanted = format!("sleep\0{duration}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .any(|p| std::fs::read(p.path().join("cmdline")).is_ok_and(|c| c == wanted.as_bytes()))
}

// ---- shell, run --keep: usage errors (no root needed) ----

#[test]
fn shell_rejects_an_unknown_node_or_step() {
    netrig()
        .args(["shell", "--node", "ns9"])
        .arg(seed("veth-pair.yaml"))
        .assert()
        .code(2)
        .stderr(contains("no node named `ns9` (nodes: ns1, ns2)"));
    netrig()
        .args(["shell", "--step", "7"])
        .arg(seed("cross-host-story.yaml"))
        .assert()
        .code(2)
        .stderr(contains("no step `7`; the steps are: 0 (step 0: no routes between the bridge subnets), 1 ("));
}

#[test]
fn shell_of_a_matrix_file_needs_a_row() {
    let matrix = workspace().join("scenarios/sysctl/ip-forward.yaml");
    netrig()
        .arg("shell")
        .arg(&matrix)
        .assert()
        .code(2)
        .stderr(contains("choose one with --row: ip_forward=0,unreachable=true | "));
    netrig().args(["shell", "--row", "nope"]).arg(&matrix).assert().code(2).stderr(contains("no matrix row `nope`"));
}

#[test]
fn run_keep_takes_a_single_scenario() {
    netrig()
        .args(["run", "--keep"])
        .arg(workspace().join("scenarios/seeds"))
        .assert()
        .code(2)
        .stderr(contains("--keep keeps one topology"));
}
