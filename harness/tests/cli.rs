//! The `netrig` binary, driven as a user would. None of this needs root or builds a
//! topology: `run` is exercised on usage errors and invalid files only (playing a
//! scenario needs the kernel engine, covered by the `scenarios` test target), and its
//! JUnit/JSON writers are checked on synthetic results.

use std::path::{Path, PathBuf};
use std::time::Duration;

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
    let dir = scenarios(&[("a-bad.yaml", UNKNOWN_KEY), ("b-dangling.yaml", DANGLING), ("c-good.yaml", "nodes: {x: {}}\n")]);
    netrig()
        .arg("check")
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(contains("a-bad.yaml:4:5: nodes.b.rootes"))
        .stderr(contains("b-dangling.yaml:4:32: links[0].veth[1]: no node named `c`"))
        .stderr(contains("  |                                ^"))
        .stdout(contains("checked 3 scenarios: 1 valid, 2 invalid (2 problems)"));
}

#[test]
fn check_of_all_shipped_scenarios_passes() {
    netrig().arg("check").arg(workspace().join("scenarios")).assert().success().stdout(contains(" 0 invalid"));
}

#[test]
fn a_missing_path_or_an_empty_directory_is_a_usage_error() {
    let empty = tempfile::tempdir().unwrap();
    for command in ["check", "list", "run"] {
        netrig().args([command, "no/such/file.yaml"]).assert().code(2).stderr(contains("no/such/file.yaml: no such file or directory"));
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
    netrig()
        .args(["graph", "--format", "mermaid"])
        .arg(seed("docker-bridge.yaml"))
        .assert()
        .success()
        .stdout(contains("flowchart LR").and(contains("subgraph n0[\"host")).and(contains("172.18.0.2/16")).and(contains(" end\n")));
}

#[test]
fn graph_draws_dot_clusters() {
    netrig()
        .args(["graph", "-f", "dot"])
        .arg(seed("vxlan-overlay.yaml"))
        .assert()
        .success()
        .stdout(contains("graph \"vxlan-overlay\" {").and(contains("subgraph \"cluster_host149\"")).and(contains("VNI 100, dstport 4789")));
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
    netrig()
        .arg("graph")
        .arg(workspace().join("scenarios/sysctl/ip-forward.yaml"))
        .assert()
        .success()
        .stdout(contains(">ip-forward [ip_forward=0,unreachable=true]</text>").and(contains(">net.ipv4.ip_forward=0</text>")));
}

#[test]
fn graph_of_an_invalid_scenario_prints_the_diagnostic() {
    let dir = scenarios(&[("bad.yaml", DANGLING)]);
    netrig().arg("graph").arg(dir.path().join("bad.yaml")).assert().code(1).stderr(contains("bad.yaml:4:32")).stdout("");
}

#[test]
fn graph_rejects_an_unknown_format() {
    netrig().args(["graph", "--format", "png"]).arg(seed("veth-pair.yaml")).assert().code(2).stderr(contains("possible values: svg, mermaid, dot"));
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
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
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
    netrig().arg("run").arg("--junit").arg(&report).arg(dir.path().join("bad.yaml")).assert().code(2).stderr(contains("cannot write the JUnit report"));
    std::fs::create_dir(dir.path().join("out")).unwrap();
    netrig().arg("run").arg("--junit").arg(&report).arg(dir.path().join("bad.yaml")).assert().code(1);
    let xml = std::fs::read_to_string(&report).unwrap();
    assert!(xml.contains(r#"<testcase name="bad""#), "{xml}");
    assert!(xml.contains(r#"<error message="error: "#) && xml.contains("no node named `c`"), "{xml}");
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
    }
}

fn synthetic() -> Vec<ScenarioResult> {
    vec![
        result("seeds::veth_pair", Verdict::Passed, None),
        result("seeds::bridge_arp", Verdict::Failed, Some("scenarios/seeds/bridge-arp.yaml:14: failed: ping lab → 1.2.3.102\n    observed: reply <&>")),
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
fn json_lines_carry_name_path_outcome_duration_and_message() {
    let lines: Vec<serde_json::Value> = synthetic().iter().map(|r| serde_json::from_str(&r.json_line()).unwrap()).collect();
    assert_eq!(
        lines[0],
        serde_json::json!({"name": "seeds::veth_pair", "path": "scenarios/seeds/veth_pair.yaml", "outcome": "passed", "duration_ms": 1234, "message": null})
    );
    let outcomes: Vec<&str> = lines.iter().map(|l| l["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["passed", "failed", "skipped", "invalid"]);
    assert!(lines[1]["message"].as_str().unwrap().contains("observed: reply <&>"));
}

#[test]
fn junit_has_a_testcase_per_scenario_with_failures_errors_and_skips() {
    let xml = junit_xml(&synthetic(), Duration::from_secs(5));
    assert!(xml.contains(r#"<testsuite name="netrig" tests="4" skipped="1" errors="1" failures="1" time="5.000">"#), "{xml}");
    assert!(xml.contains(r#"<testcase name="seeds::veth_pair" classname="seeds" time="1.234"/>"#), "{xml}");
    // The failure's first line is the message attribute, the whole text the body; escaped.
    assert!(xml.contains(r#"<failure message="scenarios/seeds/bridge-arp.yaml:14: failed: ping lab → 1.2.3.102" type="scenario failed">"#), "{xml}");
    assert!(xml.contains("observed: reply &lt;&amp;&gt;"), "{xml}");
    assert!(xml.contains(r#"<skipped message="this kernel does not support vxlan"/>"#), "{xml}");
    assert!(xml.contains(r#"<testcase name="broken" classname="netrig""#) && xml.contains(r#"<error message="error: broken.yaml:1:1: bad""#), "{xml}");
}
