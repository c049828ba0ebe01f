//! Writing a run's artifacts (pcap files) where nothing else can interfere.
//!
//! netrig runs as root, often on shared CI machines, and several runs of one test may
//! fail at the same moment (two CI jobs, `cargo test` beside `netrig run`). So:
//!
//! - **One directory per run.** Each run that writes anything gets a fresh
//!   `<scenario dir>/run-<pid>-<n>/`, created with `mkdir` (which fails rather than
//!   reuse what exists): no two runs ever write the same file, and the message names
//!   the run's own files.
//! - **No links followed beneath the artifact root.** Every directory below the root is
//!   opened with `O_NOFOLLOW | O_DIRECTORY` relative to its parent, and files are
//!   created relative to the run's directory fd with `O_NOFOLLOW | O_EXCL`: a symlink
//!   planted in the tree is refused, never written through (a root process following it
//!   would truncate whatever file it points to).
//! - **Atomic files.** A file is written under a temporary name and renamed into place
//!   once complete, so a reader never sees half a pcap.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat, renameat};
use nix::libc;
use nix::sys::stat::{Mode, mkdirat};

/// Where one scenario's (or matrix row's) artifacts go: `within` is created beneath
/// `root` without following links (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactDir {
    /// The suite's artifact tree (`target/netrig`), taken as configured.
    pub root: PathBuf,
    /// The scenario's place in it (`seeds/x`, `m[row]`): plain names only.
    pub within: PathBuf,
}

impl ArtifactDir {
    /// Artifacts directly in `dir` (each run still in its own subdirectory).
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        ArtifactDir { root: dir.into(), within: PathBuf::new() }
    }

    /// `root/within`, for display.
    pub fn path(&self) -> PathBuf {
        self.root.join(&self.within)
    }

    /// A fresh directory for one run, `root/within/run-<pid>-<n>/`.
    pub fn create_run_dir(&self) -> io::Result<RunDir> {
        std::fs::create_dir_all(&self.root)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", self.root.display())))?;
        let mut fd = open_dir(nix::fcntl::AT_FDCWD, &self.root, OFlag::empty())?;
        let mut path = self.root.clone();
        for component in self.within.components() {
            let Component::Normal(name) = component else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{}: not a plain name", path.display()),
                ));
            };
            path.push(name);
            fd = make_dir(&fd, Path::new(name), &path, true)?;
        }
        // A counter per process, so two runs of this process never race for a name;
        // the pid keeps processes apart; a leftover of an earlier process with the same
        // pid is skipped over (mkdir refuses an existing name).
        static NEXT: AtomicU32 = AtomicU32::new(0);
        loop {
            let name = format!("run-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
            match make_dir(&fd, Path::new(&name), &path.join(&name), false) {
                Ok(run) => return Ok(RunDir { fd: run, path: path.join(&name) }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// One run's own artifact directory, held open so that its files are created in it
/// whatever happens to the path meanwhile.
#[derive(Debug)]
pub struct RunDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl RunDir {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write the file `name` (a plain name) through `fill`, atomically: under a
    /// temporary name first, renamed into place once complete. Returns its path.
    pub fn write(&self, name: &str, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<PathBuf> {
        let path = self.path.join(name);
        let context = |e: Errno| io::Error::from(e).with_path(&path);
        let partial = format!(".{name}.partial");
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let file =
            File::from(openat(&self.fd, partial.as_str(), flags, Mode::from_bits_truncate(0o644)).map_err(context)?);
        let mut out = BufWriter::new(file);
        let written = fill(&mut out).and_then(|()| out.flush());
        let renamed = written.and_then(|()| renameat(&self.fd, partial.as_str(), &self.fd, name).map_err(context));
        if renamed.is_err() {
            let _ = nix::unistd::unlinkat(&self.fd, partial.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
        }
        renamed.map(|()| path)
    }
}

trait WithPath {
    fn with_path(self, path: &Path) -> io::Error;
}

impl WithPath for io::Error {
    fn with_path(self, path: &Path) -> io::Error {
        io::Error::new(self.kind(), format!("{}: {self}", path.display()))
    }
}

/// Open the directory `name` relative to `parent`; a symlink there is refused.
fn open_dir(parent: impl std::os::fd::AsFd, name: &Path, extra: OFlag) -> io::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | extra;
    openat(parent, name, flags, Mode::empty()).map_err(io::Error::from)
}

/// Create (or, when `reuse`, also accept an existing) directory `name` in `parent`
/// and open it without following a link; `path` is for messages.
fn make_dir(parent: &OwnedFd, name: &Path, path: &Path, reuse: bool) -> io::Result<OwnedFd> {
    match mkdirat(parent, name, Mode::from_bits_truncate(0o755)) {
        Ok(()) => {}
        Err(Errno::EEXIST) if reuse => {}
        Err(e) => return Err(io::Error::from(e).with_path(path)),
    }
    open_dir(parent, name, OFlag::O_NOFOLLOW).map_err(|e| match e.raw_os_error() {
        // O_NOFOLLOW on a symlink gives ELOOP; O_DIRECTORY on a plain file ENOTDIR.
        Some(libc::ELOOP) | Some(libc::ENOTDIR) => io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{}: not a plain directory (a symlink or a file is in the way): refusing to write through it",
                path.display()
            ),
        ),
        _ => e.with_path(path),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(root: &Path, within: &str) -> ArtifactDir {
        ArtifactDir { root: root.to_path_buf(), within: PathBuf::from(within) }
    }

    fn write(run: &RunDir, name: &str, text: &str) -> io::Result<PathBuf> {
        run.write(name, |out| out.write_all(text.as_bytes()))
    }

    #[test]
    fn each_run_gets_its_own_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let artifacts = dir(tmp.path(), "seeds/x");
        let (a, b) = (artifacts.create_run_dir().unwrap(), artifacts.create_run_dir().unwrap());
        assert_ne!(a.path(), b.path());
        assert!(a.path().starts_with(tmp.path().join("seeds/x")));
        let (pa, pb) = (write(&a, "n-eth0.pcap", "a").unwrap(), write(&b, "n-eth0.pcap", "b").unwrap());
        assert_eq!(
            (std::fs::read_to_string(pa).unwrap(), std::fs::read_to_string(pb).unwrap()),
            ("a".into(), "b".into())
        );
        // Only the finished file is there, no temporary.
        let names: Vec<_> = std::fs::read_dir(a.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["n-eth0.pcap"]);
    }

    #[test]
    fn a_planted_directory_symlink_is_refused_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::create_dir_all(tmp.path().join("root/seeds")).unwrap();
        std::os::unix::fs::symlink(&outside, tmp.path().join("root/seeds/x")).unwrap();
        let err = dir(&tmp.path().join("root"), "seeds/x").create_run_dir().unwrap_err();
        assert!(err.to_string().contains("seeds/x: not a plain directory"), "{err}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "wrote through the link");
    }

    #[test]
    fn a_planted_file_symlink_is_refused_and_its_target_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let run = dir(tmp.path(), "x").create_run_dir().unwrap();
        // A link planted under the temporary name the next write uses.
        std::os::unix::fs::symlink(&victim, run.path().join(".n-eth0.pcap.partial")).unwrap();
        assert!(write(&run, "n-eth0.pcap", "pcap").is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }
}
