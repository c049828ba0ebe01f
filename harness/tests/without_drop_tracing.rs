//! Runs where the kernel's drops cannot be traced (no BPF, no BTF, netrig built
//! without clang, or tracing turned off as here): every other check works and is
//! judged as before, the report says once why drops are not explained, and a scenario
//! with `dropped` checks is skipped with that reason. Its own test binary: turning
//! tracing off is process-wide.

use std::path::{Path, PathBuf};

use netrig::observe::drops;
use netrig::parse::load::{Source, parse_and_validate};
use netrig::run::artifacts::ArtifactDir;
use netrig::run::{Outcome, RunOptions, run};

fn play(path: &Path, text: &str) -> Outcome {
    let scenario =
        parse_and_validate(&Source { path: path.to_path_buf(), text: text.into() }).unwrap_or_else(|d| panic!("{d}"));
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("no-tracing-{}", std::process::id()));
    let outcome = run(&scenario, path, &RunOptions { artifacts: ArtifactDir::at(&artifacts), keep_pcaps: false });
    let _ = std::fs::remove_dir_all(artifacts);
    outcome
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

#[test]
fn without_a_tracer_checks_are_judged_and_dropped_checks_skipped() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    drops::set_tracing(false);
    let path = workspace().join("scenarios/bugs/bridge-forward-drop.yaml");
    let text = std::fs::read_to_string(&path).unwrap();

    match play(&path, &text) {
        Outcome::Skipped(why) => {
            assert_eq!(why, "its `dropped` checks cannot be judged: drop tracing is turned off")
        }
        other => panic!("a scenario with `dropped` checks must be skipped without a tracer, got {other:?}"),
    }

    // Without its `dropped` check, the scenario runs: the ping still fails (after
    // its 2 s deadline instead of at the drop), and the xfail holds.
    let without: String = text.lines().filter(|line| !line.contains("- dropped:")).map(|l| format!("{l}\n")).collect();
    assert_ne!(without, text);
    match play(&path, &without) {
        Outcome::Passed(report) => {
            assert_eq!(report.drops_unexplained.as_deref(), Some("drop tracing is turned off"));
            let observed: Vec<&str> =
                report.steps.iter().flat_map(|s| &s.checks).map(|c| c.observed.as_str()).collect();
            assert_eq!(observed, ["sent 1, received 0: no reply within 2s"], "no drop can be named");
        }
        other => panic!("the scenario's other checks must still be judged, got {other:?}"),
    }
}
