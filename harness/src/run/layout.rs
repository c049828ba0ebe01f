//! Where a suite's files live: the project its scenarios belong to, the snapshots that
//! mirror them and the artifacts (pcaps) of its runs. One set of rules for `cargo test`
//! in any crate and for `netrig run` in any directory, so both agree on where a
//! scenario's snapshot is.
//!
//! A scenario's place in the project decides the rest: `<project>/scenarios/seeds/x.yaml`
//! (or `<project>/seeds/x.yaml`: a leading `scenarios/` is left out, so `snapshots/`
//! mirrors `scenarios/`) has its snapshot in `<snapshots>/seeds/x.snap` and its
//! artifacts in `<artifacts>/seeds/x/` (`x[row]/` for a matrix row).

use std::path::{Component, Path, PathBuf};

use crate::run::artifacts::ArtifactDir;

/// The directories of one suite. Build it with [`Layout::for_project`] and adjust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The project: the crate under `cargo test`, the current directory under `netrig run`.
    pub project: PathBuf,
    /// The tree of snapshots, mirroring the scenarios; `None`: reports are not compared.
    pub snapshots: Option<PathBuf>,
    /// The tree of artifacts, one directory per scenario (and matrix row).
    pub artifacts: PathBuf,
}

impl Layout {
    /// `<project>/snapshots`, and artifacts in `$CARGO_TARGET_DIR/netrig` when that is
    /// set, else `<project>/target/netrig`.
    pub fn for_project(project: impl AsRef<Path>) -> Self {
        let project = absolute(project.as_ref());
        let target = std::env::var_os("CARGO_TARGET_DIR").map(|t| absolute(Path::new(&t)));
        Layout {
            snapshots: Some(project.join("snapshots")),
            artifacts: target.unwrap_or_else(|| project.join("target")).join("netrig"),
            project,
        }
    }

    /// `netrig run`: the current directory is the project. Reports are compared only
    /// where the snapshot tree exists: a project without one has not asked for them.
    pub fn for_current_directory() -> Self {
        let mut layout = Layout::for_project(".");
        layout.snapshots = layout.snapshots.filter(|dir| dir.is_dir());
        layout
    }

    /// The scenario's path within the project, without its extension (`seeds/x`). A
    /// file outside the project keeps its whole path (`tmp/t/x`), so no two files share
    /// a place.
    pub fn place(&self, scenario: &Path) -> PathBuf {
        let scenario = absolute(scenario);
        let within = scenario.strip_prefix(&self.project).unwrap_or(&scenario);
        let within = within.strip_prefix("scenarios").unwrap_or(within);
        within.components().filter(|c| matches!(c, Component::Normal(_))).collect::<PathBuf>().with_extension("")
    }

    /// The directory holding the scenario's snapshots, if reports are compared.
    pub fn snapshot_dir(&self, scenario: &Path) -> Option<PathBuf> {
        let place = self.place(scenario);
        Some(self.snapshots.as_ref()?.join(place.parent().unwrap_or(Path::new(""))))
    }

    /// The directory for a scenario's artifacts: `<artifacts>/seeds/x/`, or
    /// `<artifacts>/seeds/x[row]/` for a matrix row (each run then writes into its own
    /// subdirectory of it, see [`ArtifactDir`]).
    pub fn artifacts_dir(&self, scenario: &Path, row: Option<&str>) -> ArtifactDir {
        let mut place = self.place(scenario).into_os_string();
        if let Some(row) = row {
            // A row's values may hold a `/` (a prefix): it must not open a directory.
            place.push(format!("[{}]", row.replace('/', "_")));
        }
        ArtifactDir { root: self.artifacts.clone(), within: place.into() }
    }
}

/// `path` made absolute against the current directory, with `.` and `..` resolved
/// lexically (the files need not exist yet).
fn absolute(path: &Path) -> PathBuf {
    let joined = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut clean = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            other => clean.push(other),
        }
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            project: PathBuf::from("/p"),
            snapshots: Some(PathBuf::from("/p/snapshots")),
            artifacts: PathBuf::from("/p/target/netrig"),
        }
    }

    #[test]
    fn snapshots_mirror_scenarios_within_the_project() {
        let l = layout();
        assert_eq!(l.snapshot_dir(Path::new("/p/scenarios/seeds/x.yaml")), Some("/p/snapshots/seeds".into()));
        assert_eq!(l.snapshot_dir(Path::new("/p/tests/net/x.yaml")), Some("/p/snapshots/tests/net".into()));
        assert_eq!(l.snapshot_dir(Path::new("/p/x.yaml")), Some("/p/snapshots".into()));
        assert_eq!(l.snapshot_dir(Path::new("/p/sub/../scenarios/x.yaml")), Some("/p/snapshots".into()));
        let without = Layout { snapshots: None, ..layout() };
        assert_eq!(without.snapshot_dir(Path::new("/p/scenarios/x.yaml")), None);
    }

    #[test]
    fn artifacts_are_unique_per_file_and_row() {
        let l = layout();
        let dir = |path: &str, row| l.artifacts_dir(Path::new(path), row).path();
        assert_eq!(dir("/p/d1/same.yaml", None), PathBuf::from("/p/target/netrig/d1/same"));
        assert_eq!(dir("/p/d2/same.yaml", None), PathBuf::from("/p/target/netrig/d2/same"));
        assert_eq!(dir("/tmp/t/same.yaml", None), PathBuf::from("/p/target/netrig/tmp/t/same"));
        assert_eq!(
            dir("/p/scenarios/m.yaml", Some("net=10.0.0.0/8,on=1")),
            PathBuf::from("/p/target/netrig/m[net=10.0.0.0_8,on=1]")
        );
    }
}
