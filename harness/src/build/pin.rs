//! Pinning a live topology's namespaces under names, so a person can enter them.
//!
//! netrig holds its namespaces by file descriptor only ([`crate::build::netns`]); that is what
//! makes a crashed run leave nothing behind. For debugging (`netrig shell`, `netrig run
//! --keep`) each namespace is additionally bind-mounted onto `/run/netns/netrig-<pid>-<node>`,
//! exactly where `ip netns add` puts its names, so `ip netns list`, `ip netns exec` and
//! `nsenter --net=/run/netns/...` all work. The pid makes the names unique per run and
//! tells [`clean`] whether the run that made them is still alive.
//!
//! A bind mount holds the namespace by itself: pins survive a SIGKILL of netrig (with
//! every interface in the namespace). [`Pins`] removes its names when dropped; after a
//! crash, `netrig clean` ([`clean`]) does.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use nix::mount::{MntFlags, MsFlags, mount, umount2};

use crate::build::netns::Netns;

/// Where `ip netns` keeps its names.
pub const RUN_DIR: &str = "/run/netns";
/// Every pin netrig makes starts with this; nothing else is ever touched.
pub const PREFIX: &str = "netrig-";

/// The longest node name whose pin name fits in a file name (255 bytes) with the
/// longest pid Linux gives (7 digits).
pub const MAX_NODE_NAME: usize = 255 - PREFIX.len() - 7 - 1;

/// `netrig-<pid>-<node>`.
pub fn name(pid: u32, node: &str) -> String {
    format!("{PREFIX}{pid}-{node}")
}

/// The pid in a pin's name (`netrig-1234-host` → 1234); `None` for names that are not
/// netrig pins, or not of that shape.
pub fn pid_of(name: &str) -> Option<u32> {
    let (pid, node) = name.strip_prefix(PREFIX)?.split_once('-')?;
    if node.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// The namespaces of one run, pinned under names; dropping it removes the names (the
/// namespaces themselves live on while the topology holds them).
#[derive(Debug)]
pub struct Pins {
    dir: PathBuf,
    /// (node, pin name), in the order pinned.
    pinned: Vec<(String, String)>,
}

impl Pins {
    /// Pin each `(node, namespace)` in [`RUN_DIR`] as `netrig-<our pid>-<node>`, first
    /// making the directory a shared mount point as `ip netns add` does.
    pub fn pin_all<'a>(nodes: impl IntoIterator<Item = (&'a str, &'a Netns)>) -> io::Result<Pins> {
        let dir = Path::new(RUN_DIR);
        prepare_dir(dir)?;
        Pins::pin_in(dir, std::process::id(), nodes)
    }

    /// Pin into `dir`, which must exist (tests use a scratch directory). On error the
    /// names made so far are removed again.
    pub fn pin_in<'a>(dir: &Path, pid: u32, nodes: impl IntoIterator<Item = (&'a str, &'a Netns)>) -> io::Result<Pins> {
        let mut pins = Pins { dir: dir.to_path_buf(), pinned: Vec::new() };
        for (node, ns) in nodes {
            let name = name(pid, node);
            bind(ns, &dir.join(&name)).map_err(context(format_args!("pin node {node} as {name}")))?;
            pins.pinned.push((node.to_string(), name));
        }
        Ok(pins)
    }

    /// The pin name of `node`, if it was pinned.
    pub fn name_of(&self, node: &str) -> Option<&str> {
        self.pinned.iter().find(|(n, _)| n == node).map(|(_, name)| name.as_str())
    }

    /// The path of a pin name (`/run/netns/netrig-1234-host`).
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `(node, pin name)` in the order pinned.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pinned.iter().map(|(node, name)| (node.as_str(), name.as_str()))
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        for (_, name) in self.pinned.drain(..) {
            if let Err(e) = unpin(&self.dir.join(&name)) {
                eprintln!("netrig: could not remove the pin {name}: {e} (`netrig clean` will)");
            }
        }
    }
}

/// Make `dir` exist and be a shared mount point, the way iproute2's `ip netns add`
/// does, so that our pins propagate to (and are unmounted from) every mount namespace
/// that sees the directory, and `ip netns` finds the directory as it expects it.
///
/// Like iproute2, hold an exclusive `flock` on the directory meanwhile: two processes
/// doing the bind-to-itself dance at once can stack mounts on each other endlessly.
fn prepare_dir(dir: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o755).create(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
            return Err(context(format_args!("create {}", dir.display()))(e));
        }
        _ => {}
    }
    let handle = File::open(dir)?;
    // Like iproute2, go on without the lock if it cannot be had.
    let _lock = Flock::lock(handle, FlockArg::LockExclusive).ok();
    let mut bound_to_itself = false;
    loop {
        match mount(None::<&str>, dir, None::<&str>, MsFlags::MS_SHARED | MsFlags::MS_REC, None::<&str>) {
            Ok(()) => return Ok(()),
            // EINVAL: not a mount point yet. Make it one by binding it onto itself, once.
            Err(nix::errno::Errno::EINVAL) if !bound_to_itself => {
                mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
                    .map_err(context(format_args!("mount --bind {0} {0}", dir.display())))?;
                bound_to_itself = true;
            }
            Err(e) => {
                return Err(context(format_args!("mount --make-shared {}", dir.display()))(e));
            }
        }
    }
}

/// Bind-mount `ns` onto a new file at `path`. A file of that name can only be left over
/// from a dead process that had our pid (names carry the pid): it is replaced.
fn bind(ns: &Netns, path: &Path) -> io::Result<()> {
    // Mode 0, like iproute2: the file is only a mount point.
    let create = || OpenOptions::new().write(true).create_new(true).mode(0o000).open(path);
    let file = match create() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            unpin(path)?;
            create()?
        }
        other => other?,
    };
    drop(file);
    // /proc/self/fd/N names the namespace itself (a "magic link"), as ip netns attach uses.
    let source = format!("/proc/self/fd/{}", ns.raw_fd());
    if let Err(e) = mount(Some(source.as_str()), path, None::<&str>, MsFlags::MS_BIND, None::<&str>) {
        let _ = fs::remove_file(path);
        return Err(e.into());
    }
    Ok(())
}

/// Unmount and remove one pin, as `ip netns delete` does. The namespace goes away
/// when nothing else holds it. A name that is no longer (or never was) mounted, or is
/// already gone, is fine.
fn unpin(path: &Path) -> io::Result<()> {
    // MNT_DETACH: a process still inside keeps the namespace, not the mount point.
    // EINVAL (not a mount point) and ENOENT leave nothing to unmount.
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(e.into()),
    }
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// An error saying what was being done: `what: error`, of the error's kind.
fn context<E: Into<io::Error>>(what: std::fmt::Arguments<'_>) -> impl FnOnce(E) -> io::Error {
    let what = what.to_string();
    move |error| {
        let error = error.into();
        io::Error::new(error.kind(), format!("{what}: {error}"))
    }
}

/// Which pins [`clean`] removes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selection {
    /// Every `netrig-*` name, even those of a live run (otherwise only those whose
    /// run is gone).
    pub all: bool,
    /// Only the pins of this pid.
    pub pid: Option<u32>,
}

impl Selection {
    /// Whether the pin `name` is to go; `is_running` tells whether a pid is a live netrig.
    fn takes(&self, name: &str, is_running: &impl Fn(u32) -> bool) -> bool {
        if !name.starts_with(PREFIX) {
            return false;
        }
        let pid = pid_of(name);
        if self.pid.is_some() && pid != self.pid {
            return false;
        }
        // A `netrig-*` name of another shape has no owner to ask about: only --all takes it.
        self.all || pid.is_some_and(|pid| !is_running(pid))
    }
}

/// Remove the pins in `dir` that `selection` takes; `is_running` tells whether a pid is
/// a live netrig process ([`is_netrig`]). Returns each pin's name with what became of
/// it, sorted by name. A missing `dir` has nothing to clean.
pub fn clean(
    dir: &Path,
    selection: Selection,
    is_running: impl Fn(u32) -> bool,
) -> io::Result<Vec<(String, io::Result<()>)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(context(format_args!("read {}", dir.display()))(e)),
    };
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| selection.takes(name, &is_running))
        .collect();
    names.sort();
    let removed = names.into_iter().map(|name| {
        let result = unpin(&dir.join(&name));
        (name, result)
    });
    Ok(removed.collect())
}

/// Whether `pid` is a running netrig process: its command name (or, when started
/// through a link of another name, the file name of its `argv[0]`) is `netrig`. A pid
/// reused by another program counts as gone, and so does a zombie (its fds are closed).
pub fn is_netrig(pid: u32) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let Ok(stat) = fs::read_to_string(proc_dir.join("stat")) else {
        return false;
    };
    // `pid (comm) state ...`; comm may itself hold spaces and parentheses.
    let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
    if state == Some('Z') {
        return false;
    }
    let comm = fs::read_to_string(proc_dir.join("comm")).unwrap_or_default();
    let cmdline = fs::read(proc_dir.join("cmdline")).unwrap_or_default();
    let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    comm.trim_end() == "netrig"
        || Path::new(std::ffi::OsStr::from_bytes(argv0)).file_name().is_some_and(|n| n == "netrig")
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn names_carry_pid_and_node() {
        assert_eq!(name(1234, "netns_A"), "netrig-1234-netns_A");
        assert_eq!(pid_of("netrig-1234-netns_A"), Some(1234));
        // Node names may hold dashes; the pid is what comes before the first.
        assert_eq!(pid_of("netrig-7-host-1"), Some(7));
        for other in ["netrig-", "netrig-12", "netrig-12-", "netrig-x1-a", "netrig--a", "blue", "xnetrig-1-a"] {
            assert_eq!(pid_of(other), None, "{other}");
        }
    }

    /// A directory of plain files standing in for pins (unmounting them is a no-op).
    fn fake_pins(names: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for name in names {
            fs::write(dir.path().join(name), "").unwrap();
        }
        dir
    }

    fn left(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    const NAMES: [&str; 6] = ["blue", "netrig-10-a", "netrig-10-b", "netrig-20-a", "netrig-odd", "xnetrig-10-a"];

    /// Pid 20 is a running netrig, pid 10 is gone.
    fn running(pid: u32) -> bool {
        pid == 20
    }

    #[test]
    fn clean_removes_the_pins_of_gone_runs_only() {
        // Removing a pin unmounts it first, which takes CAP_SYS_ADMIN even for a plain file.
        needs_root!();
        let dir = fake_pins(&NAMES);
        let removed = clean(dir.path(), Selection::default(), running).unwrap();
        assert!(removed.iter().all(|(_, result)| result.is_ok()), "{removed:?}");
        let names: Vec<&str> = removed.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["netrig-10-a", "netrig-10-b"]);
        assert_eq!(left(dir.path()), ["blue", "netrig-20-a", "netrig-odd", "xnetrig-10-a"]);
    }

    #[test]
    fn clean_all_takes_every_netrig_name_and_nothing_else() {
        // Removing a pin unmounts it first, which takes CAP_SYS_ADMIN even for a plain file.
        needs_root!();
        let dir = fake_pins(&NAMES);
        let removed = clean(dir.path(), Selection { all: true, pid: None }, running).unwrap();
        assert_eq!(removed.len(), 4);
        assert_eq!(left(dir.path()), ["blue", "xnetrig-10-a"]);
    }

    #[test]
    fn clean_of_one_pid_leaves_the_others() {
        // Removing a pin unmounts it first, which takes CAP_SYS_ADMIN even for a plain file.
        needs_root!();
        let dir = fake_pins(&NAMES);
        // A running netrig keeps its pins unless --all says otherwise.
        assert!(clean(dir.path(), Selection { all: false, pid: Some(20) }, running).unwrap().is_empty());
        let removed = clean(dir.path(), Selection { all: false, pid: Some(10) }, running).unwrap();
        assert_eq!(removed.len(), 2);
        assert_eq!(left(dir.path()), ["blue", "netrig-20-a", "netrig-odd", "xnetrig-10-a"]);
        clean(dir.path(), Selection { all: true, pid: Some(20) }, running).unwrap();
        assert_eq!(left(dir.path()), ["blue", "netrig-odd", "xnetrig-10-a"]);
    }

    #[test]
    fn clean_of_a_missing_directory_finds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(clean(&dir.path().join("netns"), Selection::default(), running).unwrap().is_empty());
    }

    #[test]
    fn only_live_netrig_processes_count_as_running() {
        // This test binary is not netrig; pid 0 is never a process.
        assert!(!is_netrig(std::process::id()));
        assert!(!is_netrig(0));
    }

    fn mounted(path: &Path) -> bool {
        let path = path.to_str().unwrap();
        fs::read_to_string("/proc/self/mountinfo").unwrap().lines().any(|l| l.split(' ').nth(4) == Some(path))
    }

    #[test]
    fn a_pin_names_the_namespace_until_dropped() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root to create namespaces and mount");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let ns = Netns::new().unwrap();
        // A leftover of a dead process that had the same pid is replaced.
        fs::write(dir.path().join("netrig-1-a"), "stale").unwrap();
        let pins = Pins::pin_in(dir.path(), 1, [("a", &ns)]).unwrap();
        let path = pins.path_of(pins.name_of("a").unwrap());
        assert_eq!(path, dir.path().join("netrig-1-a"));
        assert_eq!(fs::metadata(&path).unwrap().ino(), ns.inode().unwrap(), "the pin is the namespace itself");
        assert!(mounted(&path));
        drop(pins);
        assert!(!path.exists());
        assert!(!mounted(&path));
    }
}
