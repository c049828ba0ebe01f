//! Scenario files as tests: discovery, naming and the libtest-mimic trials behind
//! `cargo test` (and `cargo nextest run`, which lists and runs them one per process).

use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Completion, Failed, Trial};

use crate::load;
use crate::run::{self, Outcome, RunOptions};

/// A scenario file and the test name it gets.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Discovered {
    /// e.g. `seeds::docker_bridge_nat` for `scenarios/seeds/docker-bridge-nat.yaml`.
    pub name: String,
    pub path: PathBuf,
}

/// Every `*.yaml` / `*.yml` under `root`, sorted by test name.
pub fn discover(root: &Path) -> std::io::Result<Vec<Discovered>> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                let name = test_name(path.strip_prefix(root).unwrap_or(&path));
                found.push(Discovered { name, path });
            }
        }
    }
    found.sort();
    Ok(found)
}

/// `seeds/docker-bridge-nat.yaml` → `seeds::docker_bridge_nat`.
pub fn test_name(relative: &Path) -> String {
    let without_ext = relative.with_extension("");
    without_ext
        .components()
        .map(|c| c.as_os_str().to_string_lossy().replace(['-', '.', ' '], "_"))
        .collect::<Vec<_>>()
        .join("::")
}

/// Why kernel scenarios cannot run here, if they cannot.
pub fn missing_privilege() -> Option<String> {
    if nix::unistd::geteuid().is_root() {
        None
    } else {
        Some("needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to create network namespaces; run `sudo -E cargo test`".into())
    }
}

/// The workspace root: two levels up from this crate's manifest.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Where pcap artifacts of a test go: `target/netrig/<test>/`.
pub fn artifacts_dir(test: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"));
    target.join("netrig").join(test.replace("::", "/"))
}

/// Make one trial per scenario file.
pub fn trials(found: &[Discovered]) -> Vec<Trial> {
    found
        .iter()
        .map(|d| {
            let (name, path) = (d.name.clone(), d.path.clone());
            Trial::ignorable_test(d.name.clone(), move || run_trial(&name, &path)).with_kind("scenario")
        })
        .collect()
}

fn run_trial(name: &str, path: &Path) -> Result<Completion, Failed> {
    let scenario = load::load(path).map_err(|d| Failed::from(d.to_string()))?;
    if let Some(reason) = missing_privilege() {
        return Ok(Completion::ignored_with(reason));
    }
    let options = RunOptions {
        artifacts: artifacts_dir(name),
        keep_pcaps: std::env::var_os("NETRIG_KEEP_PCAPS").is_some(),
    };
    match run::run(&scenario, path, &options) {
        Outcome::Passed(report) => {
            if scenario.report.snapshot {
                snapshot(path, &report)?;
            }
            Ok(Completion::Completed)
        }
        Outcome::Skipped(reason) => Ok(Completion::ignored_with(reason)),
        Outcome::Failed { message, .. } => Err(message.into()),
    }
}

/// Where the snapshot of a scenario lives: `snapshots/` mirrors `scenarios/`.
pub fn snapshot_dir(scenario: &Path) -> PathBuf {
    let root = workspace_root();
    let relative = scenario
        .strip_prefix(root.join("scenarios"))
        .ok()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    root.join("snapshots").join(relative)
}

/// Compare the report with its committed snapshot (insta: `cargo insta review`,
/// `INSTA_UPDATE=always`, and under `CI=true` nothing is written).
fn snapshot(path: &Path, report: &crate::report::Report) -> Result<(), Failed> {
    let name = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(snapshot_dir(path));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_input_file(path);
    settings.set_omit_expression(true);
    let compared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        settings.bind(|| insta::assert_yaml_snapshot!(name.as_str(), report));
    }));
    compared.map_err(|_| {
        Failed::from(format!(
            "{}: the report differs from snapshots/…/{name}.snap (diff above); \
             if the change is intended: `cargo insta review` or INSTA_UPDATE=always",
            path.display()
        ))
    })
}

/// `main` of the `scenarios` test target.
pub fn cargo_test_main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let root = std::env::var_os("NETRIG_SCENARIOS").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("scenarios"));
    let found = match discover(&root) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("netrig: cannot read scenarios in {}: {e}", root.display());
            return std::process::ExitCode::FAILURE;
        }
    };
    libtest_mimic::run(&args, trials(&found)).exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names_follow_the_path() {
        assert_eq!(test_name(Path::new("seeds/docker-bridge-nat.yaml")), "seeds::docker_bridge_nat");
        assert_eq!(test_name(Path::new("sysctl/rp_filter.yml")), "sysctl::rp_filter");
    }

    #[test]
    fn discovery_finds_nested_yaml_files_sorted() {
        let dir = std::env::temp_dir().join(format!("netrig-discover-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("b")).unwrap();
        for f in ["b/z.yaml", "a.yml", "notes.txt"] {
            std::fs::write(dir.join(f), "nodes: {}\n").unwrap();
        }
        let names: Vec<String> = discover(&dir).unwrap().into_iter().map(|d| d.name).collect();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(names, ["a", "b::z"]);
    }
}
