//! A node's private directories: the mount namespace every command and service of the
//! node runs in.
//!
//! Daemons write pid files, control sockets and leases at fixed paths (`/run/bird/bird.ctl`,
//! `/var/lib/misc/dnsmasq.leases`, `/run/dhclient.pid`). Inside a node those paths must
//! be the node's own: two routers of one scenario, or two runs side by side, would
//! otherwise share one file, and the machine would keep them after the run. So each node
//! gets one mount namespace, made once (lazily, by the first command or service) on a
//! fresh thread inside the node's network namespace: propagation private, an empty
//! tmpfs over each of [`PRIVATE`] that exists on the machine, and the node's own `/sys`.
//! It is held by fd like the network namespace: nothing is written to the machine's
//! disk, and it vanishes with the last fd and process, SIGKILL of netrig included.
//!
//! Commands and services enter it (`setns`), then take a private copy of it for their
//! own `/proc`: the tmpfs mounts of the copy are the same file systems, so `birdc` run
//! as a command reaches the socket of the `bird` a service started.
//!
//! `/tmp` stays the machine's: scenario files and their fixtures often live there.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};

use super::netns::Netns;

/// Directories a node gets empty and for itself. `/var/run` is a link to `/run` on
/// current distributions and is covered by it; where it is a directory it gets its own.
pub const PRIVATE: &[&str] =
    &["/run", "/var/run", "/var/lib/misc", "/var/lib/dhcp", "/var/lib/bird", "/var/lib/frr", "/var/tmp"];

/// Make the mount namespace described in the module doc for `ns` and return its fd.
pub(crate) fn create(ns: &Netns) -> io::Result<OwnedFd> {
    let net = ns.raw_fd();
    std::thread::scope(|scope| {
        // A fresh thread, which ends here: its namespaces never reach a reused thread.
        let made = scope.spawn(move || -> io::Result<OwnedFd> {
            // SAFETY: setns on this thread only, with a valid fd borrowed from `ns`.
            if unsafe { nix::libc::setns(net, nix::libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            // Implies CLONE_FS: this thread gets its own root and cwd, the process keeps its.
            unshare(CloneFlags::CLONE_NEWNS).map_err(io::Error::from)?;
            let none: Option<&str> = None;
            mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none).map_err(io::Error::from)?;
            for dir in PRIVATE {
                // A symbolic link (`/var/run` → `/run`) shares its target's tmpfs.
                let is_dir = Path::new(dir).symlink_metadata().is_ok_and(|m| m.is_dir());
                if is_dir {
                    mount(
                        Some("tmpfs"),
                        *dir,
                        Some("tmpfs"),
                        MsFlags::MS_NODEV | MsFlags::MS_NOSUID,
                        Some("mode=0755"),
                    )
                    .map_err(|e| io::Error::other(format!("tmpfs on {dir}: {e}")))?;
                }
            }
            // sysfs shows the network devices of the namespace that mounts it.
            let _ = nix::mount::umount2("/sys", nix::mount::MntFlags::MNT_DETACH);
            mount(Some("sysfs"), "/sys", Some("sysfs"), MsFlags::empty(), none)
                .map_err(|e| io::Error::other(format!("sysfs on /sys: {e}")))?;
            Ok(OwnedFd::from(File::open("/proc/thread-self/ns/mnt")?))
        });
        made.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
    .map_err(|e| io::Error::new(e.kind(), format!("cannot make the node's private directories: {e}")))
}

/// The calling process's working directory as a C string, for a child to return to
/// after `setns` into a mount namespace (which moves it to that namespace's root).
pub(crate) fn current_dir() -> Option<CString> {
    let dir = std::env::current_dir().ok()?;
    CString::new(dir.into_os_string().into_encoded_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::observe::exec;

    fn sh(ns: &Netns, line: &str) -> String {
        let out = exec::run(ns, line, Duration::from_secs(10)).unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn commands_of_a_node_share_its_run_and_nothing_reaches_the_machine() {
        needs_root!();
        let (a, b) = (Netns::new().unwrap(), Netns::new().unwrap());
        let marker = format!("netrig-private-{}", std::process::id());
        sh(&a, &format!("echo a > /run/{marker}; mkdir -p /var/lib/misc && echo lease > /var/lib/misc/{marker}"));
        // The next command of the same node sees it; another node and the machine do not.
        assert_eq!(sh(&a, &format!("cat /run/{marker} /var/run/{marker} /var/lib/misc/{marker}")), "a\na\nlease\n");
        assert_eq!(sh(&b, &format!("ls /run/{marker} 2>/dev/null; echo end")), "end\n");
        assert!(!Path::new(&format!("/run/{marker}")).exists(), "a node's /run file reached the machine");
        assert!(!Path::new(&format!("/var/lib/misc/{marker}")).exists());
        // The working directory is the caller's, not the mount namespace's root.
        let here = std::env::current_dir().unwrap();
        assert_eq!(sh(&a, "pwd"), format!("{}\n", here.display()));
    }
}
