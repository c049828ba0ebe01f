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

/// The scenarios a command line names: files as given (named by their file name),
/// directories searched with [`discover`]. Each file once, in the order named.
/// A path that does not exist is an error (a typo, not an empty suite).
pub fn collect(paths: &[PathBuf]) -> Result<Vec<Discovered>, String> {
    let mut found: Vec<Discovered> = Vec::new();
    for path in paths {
        let mut more = if path.is_dir() {
            discover(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
        } else if path.exists() {
            let name = test_name(Path::new(path.file_name().unwrap_or_default()));
            vec![Discovered { name, path: path.clone() }]
        } else {
            return Err(format!("{}: no such file or directory", path.display()));
        };
        more.retain(|d| !found.iter().any(|f| f.path == d.path));
        found.append(&mut more);
    }
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
        Outcome::Passed(_) => Ok(Completion::Completed),
        Outcome::Skipped(reason) => Ok(Completion::ignored_with(reason)),
        Outcome::Failed { message, .. } => Err(message.into()),
    }
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

    #[test]
    fn collect_takes_files_and_directories_once_and_rejects_missing_paths() {
        let dir = std::env::temp_dir().join(format!("netrig-collect-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("d")).unwrap();
        for f in ["d/x-y.yaml", "top.yaml"] {
            std::fs::write(dir.join(f), "nodes: {}\n").unwrap();
        }
        let paths = [dir.join("top.yaml"), dir.join("d"), dir.join("d/x-y.yaml")];
        let found = collect(&paths).unwrap();
        let missing = collect(&[dir.join("nope.yaml")]).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        let names: Vec<&str> = found.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["top", "x_y"]);
        assert!(missing.ends_with("nope.yaml: no such file or directory"), "{missing}");
    }
}
