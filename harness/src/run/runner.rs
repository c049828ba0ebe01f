//! Scenario files as tests: discovery, naming and the libtest-mimic trials behind
//! `cargo test` (and `cargo nextest run`, which lists and runs them one per process).

use std::path::{Component, Path, PathBuf};

use libtest_mimic::{Arguments, Completion, Failed, Trial};

use crate::model::Scenario;
use crate::parse::load::{self, Diagnostics};
use crate::parse::matrix::{self, Variant};
use crate::parse::validate;
use crate::run::artifacts::ArtifactDir;
use crate::run::layout::Layout;
use crate::run::{self, Outcome, RunOptions, kernel_suite};

/// One test: a scenario file, or one row of its matrix.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// e.g. `seeds::docker_bridge_nat` for `scenarios/seeds/docker-bridge-nat.yaml`,
    /// `sysctl::ip_forward[ip_forward=0]` for a matrix row.
    pub name: String,
    pub path: PathBuf,
    /// The row's text, or why the file could not be split into rows.
    pub variant: Result<Variant, Diagnostics>,
    /// Where its snapshot lives (see [`Layout`]); `None`: the report is not compared.
    pub snapshots: Option<PathBuf>,
    /// Where its artifacts (pcap files) go.
    pub artifacts: ArtifactDir,
}

impl Discovered {
    /// Parse and validate this test's scenario; a file that checks nothing is refused
    /// ([`validate::require_checks`]).
    pub fn load(&self) -> Result<Scenario, Diagnostics> {
        let source = self.variant.as_ref().map_err(Clone::clone)?.source()?;
        let scenario = load::parse_and_validate(&source)?;
        match validate::require_checks(&scenario, &source) {
            Some(problem) => Err(Diagnostics(vec![problem])),
            None => Ok(scenario),
        }
    }

    /// The snapshot name: the file stem, plus the row's values for a matrix row.
    pub fn snapshot_name(&self) -> String {
        let stem = self.path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        match self.variant.as_ref().ok().and_then(|v| v.label.as_ref()) {
            Some(label) => format!("{stem}@{label}"),
            None => stem,
        }
    }
}

/// Every `*.yaml` / `*.yml` under `root`, one entry per matrix row, sorted by name.
/// Links to directories are not followed.
pub fn discover(root: &Path, layout: &Layout) -> std::io::Result<Vec<Discovered>> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            // The entry's own type: a link to a directory is not followed (two `x -> .`
            // links once made the scan endless); a `*.yaml` that is not a regular file
            // is still listed, and fails with what it is when read.
            if entry.file_type()?.is_dir() {
                dirs.push(path);
            } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                files.push(path);
            }
        }
    }
    let mut found: Vec<Discovered> = files
        .into_iter()
        .flat_map(|path| expand(test_name(path.strip_prefix(root).unwrap_or(&path)), path, layout))
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// The tests a command line names: files as given (named by their file name, one
/// test per matrix row), directories searched with [`discover`]. Each file once, in
/// the order named. A path that does not exist is an error (a typo, not an empty suite).
pub fn collect(paths: &[PathBuf], layout: &Layout) -> Result<Vec<Discovered>, String> {
    let mut found: Vec<Discovered> = Vec::new();
    for path in paths {
        let mut more = if path.is_dir() {
            discover(path, layout).map_err(|e| format!("cannot read {}: {e}", path.display()))?
        } else if path.exists() {
            expand(test_name(Path::new(path.file_name().unwrap_or_default())), path.clone(), layout)
        } else {
            return Err(format!("{}: no such file or directory", path.display()));
        };
        more.retain(|d| !found.iter().any(|f| f.path == d.path));
        found.append(&mut more);
    }
    name_apart(&mut found);
    Ok(found)
}

/// Tests that would share a name (`d1/same.yaml` and `d2/same.yaml`, both `same`) are
/// named by their whole path as given instead (`d1::same`, `d2::same`): JUnit, `--json`
/// and the display must tell them apart.
fn name_apart(found: &mut [Discovered]) {
    let shared: Vec<bool> = found.iter().map(|d| found.iter().filter(|o| o.name == d.name).count() > 1).collect();
    for (d, shared) in found.iter_mut().zip(shared) {
        if shared {
            let given: PathBuf = d.path.components().filter(|c| matches!(c, Component::Normal(_))).collect();
            let row = d.variant.as_ref().ok().and_then(|v| v.label.as_ref());
            d.name = test_name(&given) + &row.map(|label| format!("[{label}]")).unwrap_or_default();
        }
    }
}

/// The tests of one file: one per matrix row (a file that cannot be read or split
/// is still one test, which fails with the diagnostics).
pub fn expand(name: String, path: PathBuf, layout: &Layout) -> Vec<Discovered> {
    let variants = load::Source::read(&path).and_then(|source| matrix::variants(&source));
    let snapshots = layout.snapshot_dir(&path);
    match variants {
        Ok(variants) => variants
            .into_iter()
            .map(|v| Discovered {
                name: match &v.label {
                    Some(label) => format!("{name}[{label}]"),
                    None => name.clone(),
                },
                artifacts: layout.artifacts_dir(&path, v.label.as_deref()),
                snapshots: snapshots.clone(),
                path: path.clone(),
                variant: Ok(v),
            })
            .collect(),
        Err(d) => {
            vec![Discovered { name, artifacts: layout.artifacts_dir(&path, None), snapshots, path, variant: Err(d) }]
        }
    }
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
        Some(
            "needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to create network namespaces; run `sudo -E cargo test`"
                .into(),
        )
    }
}

/// The workspace root: two levels up from this crate's manifest.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Whether `NETRIG_KEEP_PCAPS` asks to keep the captures of passing runs too (set to
/// anything but empty, `0`, `false`, `no` or `off`). `cargo test` and `netrig run` both
/// honour it.
pub fn keep_pcaps_requested() -> bool {
    keep_pcaps_from(std::env::var("NETRIG_KEEP_PCAPS").ok().as_deref())
}

fn keep_pcaps_from(value: Option<&str>) -> bool {
    value.is_some_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false" | "no" | "off"))
}

/// Make one trial per scenario file.
pub fn trials(found: &[Discovered]) -> Vec<Trial> {
    found
        .iter()
        .map(|d| {
            let d = d.clone();
            Trial::ignorable_test(d.name.clone(), move || run_trial(&d)).with_kind("scenario")
        })
        .collect()
}

fn run_trial(test: &Discovered) -> Result<Completion, Failed> {
    let scenario = test.load().map_err(|d| Failed::from(d.to_string()))?;
    if let Some(reason) = missing_privilege() {
        return Ok(Completion::ignored_with(reason));
    }
    let options = RunOptions { artifacts: test.artifacts.clone(), keep_pcaps: keep_pcaps_requested() };
    match compare_snapshot(test, &scenario, run::run(&scenario, &test.path, &options)) {
        Outcome::Passed(_) => Ok(Completion::Completed),
        Outcome::Skipped(reason) => Ok(Completion::ignored_with(reason)),
        Outcome::Failed { message, .. } => Err(message.into()),
    }
}

/// A passed run whose report differs from its snapshot fails (when the test has a
/// snapshot place and the scenario did not opt out with `report: {snapshot: false}`).
pub fn compare_snapshot(test: &Discovered, scenario: &Scenario, outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::Passed(report) if scenario.report.snapshot => match check_snapshot(test, &report) {
            Ok(()) => Outcome::Passed(report),
            Err(failed) => Outcome::Failed { message: failed.message().unwrap_or_default().to_string(), report },
        },
        other => other,
    }
}

/// Compare a test's report with its committed snapshot (insta: `cargo insta review`,
/// `INSTA_UPDATE=always`, and under `CI=true` nothing is written). The diff is printed
/// by insta; the error names the snapshot. A test without a snapshot place passes.
pub fn check_snapshot(test: &Discovered, report: &crate::report::Report) -> Result<(), Failed> {
    let Some(dir) = &test.snapshots else {
        return Ok(());
    };
    let (path, name) = (&test.path, per_kernel_snapshot(dir, test.snapshot_name(), &report.kernel));
    let name = name.as_str();
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(dir);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_input_file(path);
    settings.set_omit_expression(true);
    let compared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // The kernel release is recorded, but differs between machines: redacted.
        // So are the numbers a `stream` check measured (its verdict stays).
        let measured = insta::dynamic_redaction(|value, _| match value.as_str() {
            Some(text) => match text.split_once(crate::judge::stream::MEASURED) {
                Some((verdict, _)) => format!("{verdict}{}[measured]", crate::judge::stream::MEASURED).into(),
                None => value,
            },
            None => value,
        });
        settings.bind(|| {
            insta::assert_yaml_snapshot!(name, report, {
                ".kernel" => "[kernel release]",
                ".steps[].checks[].observed" => measured,
            })
        });
    }));
    compared.map_err(|_| {
        Failed::from(format!(
            "{}: the report differs from {} (diff above); if the change is intended: \
             `cargo insta review`, `netrig accept` or INSTA_UPDATE=always",
            path.display(),
            dir.join(format!("{name}.snap")).display()
        ))
    })
}

/// `name@6.1` when a snapshot of that name exists beside `name`'s: the report this
/// scenario gives on that kernel series legitimately differs. Otherwise `name`.
fn per_kernel_snapshot(dir: &Path, name: String, release: &str) -> String {
    let series = crate::model::kernel::Version::of_release(release).map(|v| v.series());
    match series.map(|series| format!("{name}@{series}")) {
        Some(own) if dir.join(format!("{own}.snap")).is_file() => own,
        _ => name,
    }
}

/// The scenarios of a project as a `cargo test` target (`harness = false`): every file
/// under the scenario directory is a test, with its snapshot and artifacts placed by the
/// project's [`Layout`]. [`crate::main!`] writes the whole target in one line.
#[derive(Debug, Clone)]
pub struct Suite {
    scenarios: PathBuf,
    layout: Layout,
}

impl Suite {
    /// The scenarios under `<project>/<scenarios>`; snapshots in `<project>/snapshots`,
    /// artifacts in `$CARGO_TARGET_DIR/netrig` or `<project>/target/netrig`.
    pub fn new(project: impl AsRef<Path>, scenarios: impl AsRef<Path>) -> Self {
        let layout = Layout::for_project(project);
        Suite { scenarios: layout.project.join(scenarios), layout }
    }

    /// Keep the snapshots in `dir` instead (relative paths are taken from the project).
    pub fn snapshots(mut self, dir: impl AsRef<Path>) -> Self {
        self.layout.snapshots = Some(self.layout.project.join(dir));
        self
    }

    /// Write the artifacts under `dir` instead.
    pub fn artifacts(mut self, dir: impl AsRef<Path>) -> Self {
        self.layout.artifacts = self.layout.project.join(dir);
        self
    }

    /// Run the suite as libtest would (`--list`, filters, `--ignored`, `--exact`; what
    /// `cargo test` and `cargo nextest run` pass). `NETRIG_SCENARIOS=DIR` points it at
    /// other scenarios; `NETRIG_KERNELS=K1,K2` adds each scenario once per kernel, run
    /// in a microVM ([`kernel_suite`]).
    pub fn main(self) -> std::process::ExitCode {
        let mut layout = self.layout;
        let args = Arguments::from_args();
        let root = std::env::var_os("NETRIG_SCENARIOS").map(PathBuf::from).unwrap_or(self.scenarios);
        prepare_snapshots(&layout.project);
        let guest = kernel_suite::guest_artifacts();
        if let Some(dir) = &guest {
            layout.artifacts = dir.clone();
        }
        let found = match discover(&root, &layout) {
            Ok(found) => found,
            Err(e) => {
                eprintln!("netrig: cannot read scenarios in {}: {e}", root.display());
                return std::process::ExitCode::FAILURE;
            }
        };
        if guest.is_some() {
            return kernel_suite::guest_main(&found);
        }
        let kernels = match kernel_suite::from_env() {
            Ok(kernels) => kernels,
            Err(e) => {
                eprintln!("netrig: {e}");
                return std::process::ExitCode::from(2);
            }
        };
        let mut all = trials(&found);
        all.extend(kernel_suite::trials(&found, &kernels, &args, &layout.artifacts));
        libtest_mimic::run(&args, all).exit_code()
    }
}

/// Prepare insta for comparing reports of `project`; call before any thread is started.
///
/// insta names files relative to a workspace it otherwise asks `cargo metadata` for,
/// from where netrig was compiled: point it at the project (unless the user already
/// did). And insta reports a difference by panicking after printing the diff, which
/// [`check_snapshot`] catches: the panic's own message and backtrace would only bury
/// the diff, so they are not printed (every other panic still is).
pub fn prepare_snapshots(project: &Path) {
    if std::env::var_os("INSTA_WORKSPACE_ROOT").is_none() {
        // SAFETY: called from `main` before other threads exist; nothing else reads
        // or writes the environment concurrently.
        unsafe { std::env::set_var("INSTA_WORKSPACE_ROOT", project) };
    }
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload().downcast_ref::<String>().map(String::as_str).unwrap_or_default();
        if !message.starts_with("snapshot assertion for ") {
            default(info);
        }
    }));
}

/// A `harness = false` test target that makes every scenario under a directory of the
/// crate a test: `netrig::main!("tests/net");` is the whole file. Snapshots go to the
/// crate's `snapshots/` (mirroring the scenarios' paths), artifacts to
/// `<target dir>/netrig/`.
#[macro_export]
macro_rules! main {
    ($scenarios:expr) => {
        fn main() -> ::std::process::ExitCode {
            // The target directory this test was built into (workspaces share one).
            let target = ::std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target/tmp has a parent");
            $crate::Suite::new(env!("CARGO_MANIFEST_DIR"), $scenarios).artifacts(target.join("netrig")).main()
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_pcaps_is_asked_by_any_value_but_the_falsy_ones() {
        for yes in ["1", "yes", "true", "on"] {
            assert!(keep_pcaps_from(Some(yes)), "{yes}");
        }
        for no in ["", "0", "false", "No", "off"] {
            assert!(!keep_pcaps_from(Some(no)), "{no}");
        }
        assert!(!keep_pcaps_from(None));
    }

    #[test]
    fn a_snapshot_of_the_kernel_series_is_chosen_only_when_present() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("veth@6.1.snap"), "").unwrap();
        assert_eq!(per_kernel_snapshot(dir.path(), "veth".into(), "6.1.0-57-amd64"), "veth@6.1");
        assert_eq!(per_kernel_snapshot(dir.path(), "veth".into(), "6.18.1+deb14-amd64"), "veth");
        assert_eq!(per_kernel_snapshot(dir.path(), "other".into(), "6.1.0-57-amd64"), "other");
    }

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
        std::fs::write(dir.join("m.yaml"), "matrix:\n  x: [1, 2]\nname: ${x}\n").unwrap();
        let names: Vec<String> =
            discover(&dir, &Layout::for_project(&dir)).unwrap().into_iter().map(|d| d.name).collect();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(names, ["a", "b::z", "m[x=1]", "m[x=2]"]);
    }

    #[test]
    fn collect_takes_files_and_directories_once_and_rejects_missing_paths() {
        let dir = std::env::temp_dir().join(format!("netrig-collect-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("d")).unwrap();
        for f in ["d/x-y.yaml", "top.yaml"] {
            std::fs::write(dir.join(f), "nodes: {}\n").unwrap();
        }
        let paths = [dir.join("top.yaml"), dir.join("d"), dir.join("d/x-y.yaml")];
        let found = collect(&paths, &Layout::for_project(&dir)).unwrap();
        let missing = collect(&[dir.join("nope.yaml")], &Layout::for_project(&dir)).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        let names: Vec<&str> = found.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["top", "x_y"]);
        assert!(missing.ends_with("nope.yaml: no such file or directory"), "{missing}");
    }

    #[test]
    fn files_of_the_same_name_in_different_directories_get_different_test_names() {
        let dir = std::env::temp_dir().join(format!("netrig-same-{}", std::process::id()));
        for d in ["d1", "d2"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
            std::fs::write(dir.join(d).join("same.yaml"), "matrix:\n  x: [1]\nname: ${x}\n").unwrap();
        }
        std::fs::write(dir.join("other.yaml"), "nodes: {}\n").unwrap();
        let paths = [dir.join("d1/same.yaml"), dir.join("d2/same.yaml"), dir.join("other.yaml")];
        let found = collect(&paths, &Layout::for_project(&dir)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let names: Vec<&str> = found.iter().map(|d| d.name.as_str()).collect();
        assert!(names[0].ends_with("::d1::same[x=1]") && names[1].ends_with("::d2::same[x=1]"), "{names:?}");
        assert_eq!(names[2], "other", "a name nothing shares stays short");
        assert_ne!(found[0].artifacts, found[1].artifacts);
    }

    #[test]
    fn a_directory_scan_ends_on_link_cycles_and_names_what_is_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/one.yaml"), "nodes: {}\n").unwrap();
        // Two links back up: once an endless scan.
        std::os::unix::fs::symlink(".", root.join("x")).unwrap();
        std::os::unix::fs::symlink("..", root.join("sub/y")).unwrap();
        nix::unistd::mkfifo(&root.join("fifo.yaml"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let found = discover(root, &Layout::for_project(root)).unwrap();
        let names: Vec<&str> = found.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["fifo", "sub::one"]);
        let fifo = found[0].variant.as_ref().unwrap_err().to_string();
        assert!(fifo.contains("it is a FIFO"), "{fifo}");
    }
}
