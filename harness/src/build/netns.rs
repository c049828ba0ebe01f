//! Network namespaces held by file descriptor, never by a global name.
//!
//! A namespace is created by `unshare(CLONE_NEWNET)` on a short-lived OS thread; we
//! keep an fd to `/proc/thread-self/ns/net` and the thread exits. The namespace then
//! lives exactly as long as that fd (and any socket or process inside it): when the
//! test process dies, even by SIGKILL, the kernel reclaims it with every interface in
//! it. Nothing is ever mounted under `/run/netns` unless a person asks to pin it.
//!
//! `setns` is per thread, and tokio / libtest-mimic reuse their threads, so every piece
//! of namespace-bound work (opening a socket, a pcap handle, a `/proc/sys` file) goes
//! through [`Netns::run`], which hops the calling thread into the namespace for one
//! synchronous closure and back. The fd or socket it returns stays bound to the
//! namespace and may be used from any thread afterwards.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use nix::sched::{CloneFlags, setns, unshare};

/// A network namespace owned by this process.
#[derive(Debug)]
pub struct Netns {
    fd: OwnedFd,
    /// Unique within the process; combined with the pid it names the namespace
    /// uniquely on the machine (used for debugging names, never for lookup).
    serial: u64,
    /// The node's private directories ([`super::private_dirs`]), made by the first
    /// command; shared by every handle of the namespace ([`Netns::try_clone`]).
    private_dirs: Arc<OnceLock<OwnedFd>>,
}

static SERIAL: AtomicU64 = AtomicU64::new(0);

impl Netns {
    /// Create a fresh, empty network namespace (only `lo`, and it is down).
    pub fn new() -> io::Result<Netns> {
        let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
        on_fresh_thread(|| Netns::enter_new(serial))
    }

    /// Create `count` fresh namespaces, then run `setup(i, &ns)` inside each one in
    /// turn, on the calling thread ([`Netns::run`]).
    ///
    /// The namespaces are created by as many fresh OS threads as there are CPUs (they
    /// exit at the end, so their namespace switches never leak into a reused thread):
    /// creation overlaps well on two CPUs (101 namespaces: 14 ms instead of 20). The
    /// setups, whose `/proc/sys` writes contend on one kernel lock, run one at a
    /// time and after every namespace exists: interleaved on two threads they took
    /// three times as long, and at 500 namespaces made the whole slower than one
    /// thread.
    ///
    /// Entry `i` of the result is namespace `i` with what its setup returned, or why
    /// the namespace could not be created. One failure does not stop the others.
    pub fn new_many<T>(count: usize, mut setup: impl FnMut(usize, &Netns) -> T) -> Vec<io::Result<(Netns, T)>> {
        // Serials in index order, whichever thread gets there first.
        let first_serial = SERIAL.fetch_add(count as u64, Ordering::Relaxed);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(count).max(1);
        let chunk = count.div_ceil(threads).max(1);
        let created: Vec<io::Result<Netns>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..count)
                .step_by(chunk)
                .map(|start| {
                    scope.spawn(move || {
                        let indices = start..count.min(start + chunk);
                        indices.map(|i| Netns::enter_new(first_serial + i as u64)).collect::<Vec<_>>()
                    })
                })
                .collect();
            let joined = workers.into_iter().map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
            joined.flatten().collect()
        });
        created
            .into_iter()
            .enumerate()
            .map(|(i, ns)| {
                let ns = ns?;
                let value = ns.run(|| Ok(setup(i, &ns)))?;
                Ok((ns, value))
            })
            .collect()
    }

    /// `unshare` the calling thread into a new namespace and hold it. Only for fresh
    /// threads that end soon after: the thread stays in the namespace.
    fn enter_new(serial: u64) -> io::Result<Netns> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        let fd = OwnedFd::from(File::open("/proc/thread-self/ns/net")?);
        Ok(Netns { fd, serial, private_dirs: Arc::default() })
    }

    /// Run `f` inside this namespace, on the calling thread, and bring the thread back
    /// to its own namespace before returning, also when `f` panics.
    ///
    /// Two `setns` calls cost some microseconds, a fresh thread per call ~0.1-0.2 ms
    /// (a hundred pings, one socket each, took 15 ms instead of 5). The hop is safe on
    /// a reused (tokio, libtest-mimic) thread because `f` is synchronous: nothing else
    /// runs on the thread until it is back home. If going back fails the process
    /// aborts rather than run later work in the wrong namespace.
    pub fn run<T>(&self, f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        let home = File::open("/proc/thread-self/ns/net")?;
        setns(self.fd.as_fd(), CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        let _back = GoHome(home);
        f()
    }

    /// Borrow the namespace fd (for `IFLA_NET_NS_FD`, `setns` in a child, ...).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// A process-wide unique number for this namespace.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// The kernel's inode number of the namespace: the identity `ip netns identify`
    /// and `/proc/<pid>/ns/net` show.
    pub fn inode(&self) -> io::Result<u64> {
        let st = nix::sys::stat::fstat(self.fd.as_fd()).map_err(io::Error::from)?;
        Ok(st.st_ino)
    }

    /// Raw fd number, for `pre_exec` closures that must not allocate.
    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// Another handle of the same namespace (and the same private directories), for a
    /// thread that outlives the borrow of this one.
    pub fn try_clone(&self) -> io::Result<Netns> {
        Ok(Netns { fd: self.fd.try_clone()?, serial: self.serial, private_dirs: self.private_dirs.clone() })
    }

    /// The mount namespace of the node's private directories, made on first use.
    pub fn private_dirs(&self) -> io::Result<BorrowedFd<'_>> {
        if let Some(fd) = self.private_dirs.get() {
            return Ok(fd.as_fd());
        }
        let made = super::private_dirs::create(self)?;
        // Two threads may race to make it: one wins, the other's namespace is dropped.
        Ok(self.private_dirs.get_or_init(|| made).as_fd())
    }
}

/// Returns the calling thread to its namespace when dropped (see [`Netns::run`]).
struct GoHome(File);

impl Drop for GoHome {
    fn drop(&mut self) {
        if let Err(errno) = setns(self.0.as_fd(), CloneFlags::CLONE_NEWNET) {
            eprintln!("netrig: cannot return a thread to its network namespace ({errno}); aborting");
            std::process::abort();
        }
    }
}

/// Run `f` on a new scoped OS thread and hand back its result; a panic in `f` is
/// re-raised on the caller's thread so test failures keep their message.
fn on_fresh_thread<T: Send>(f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    std::thread::scope(|scope| match scope.spawn(f).join() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// For kernel tests that wire namespaces with `ip`, as the test process itself runs it.
#[cfg(test)]
pub(crate) mod fixture {
    use std::io;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    use super::Netns;

    /// `ip ARGS` inside `ns`: the child enters the namespace between fork and exec and
    /// nothing else, so unlike a node command ([`crate::observe::exec`]) it still sees this
    /// process's `/proc`, where [`ns_path`] names other namespaces.
    pub fn ip(ns: &Netns, args: &str) {
        let fd = ns.raw_fd();
        let mut cmd = Command::new("ip");
        cmd.args(args.split_whitespace());
        // SAFETY: setns is a plain system call, safe between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if nix::libc::setns(fd, nix::libc::CLONE_NEWNET) == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            });
        }
        let out = cmd.output().expect("run ip");
        assert!(out.status.success(), "ip {args}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A path `ip ... netns PATH` accepts for a namespace held only by our fd. A node
    /// command cannot use it: its `/proc` shows only its own processes.
    pub fn ns_path(ns: &Netns) -> String {
        format!("/proc/{}/fd/{}", std::process::id(), ns.raw_fd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_distinct_and_start_with_lo_only() {
        needs_root!();
        let a = Netns::new().unwrap();
        let b = Netns::new().unwrap();
        assert_ne!(a.inode().unwrap(), b.inode().unwrap());
        let own = nix::sys::stat::stat("/proc/self/ns/net").unwrap().st_ino;
        assert_ne!(a.inode().unwrap(), own, "must not be the caller's namespace");
        let links = a
            .run(|| {
                Ok(std::fs::read_dir("/proc/sys/net/ipv4/conf")?
                    .map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect::<Vec<_>>())
            })
            .unwrap();
        let mut links = links;
        links.sort();
        assert_eq!(links, ["all", "default", "lo"]);
    }

    fn thread_netns() -> u64 {
        nix::sys::stat::stat("/proc/thread-self/ns/net").unwrap().st_ino
    }

    #[test]
    fn run_hops_into_the_namespace_and_back_even_when_f_fails_or_panics() {
        needs_root!();
        let (a, b) = (Netns::new().unwrap(), Netns::new().unwrap());
        let home = thread_netns();
        let (in_a, in_b) = a.run(|| Ok((thread_netns(), b.run(|| Ok(thread_netns()))?))).unwrap();
        assert_eq!((in_a, in_b), (a.inode().unwrap(), b.inode().unwrap()), "nested hops");
        assert_eq!(thread_netns(), home, "back after success");
        let failed = a.run(|| File::open("/proc/thread-self/net/nonexistent"));
        assert_eq!(failed.unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(thread_netns(), home, "back after an error");
        let panicked = std::panic::catch_unwind(|| a.run(|| -> io::Result<()> { panic!("inside") }));
        assert!(panicked.is_err());
        assert_eq!(thread_netns(), home, "back after a panic");
    }

    #[test]
    fn many_namespaces_are_set_up_inside_themselves_in_order() {
        needs_root!();
        let own = nix::sys::stat::stat("/proc/self/ns/net").unwrap().st_ino;
        // Each setup sees its own namespace as the calling thread's.
        let created = Netns::new_many(5, |i, ns| {
            let here = nix::sys::stat::stat("/proc/thread-self/ns/net").unwrap().st_ino;
            (i, here == ns.inode().unwrap())
        });
        let created: Vec<(Netns, (usize, bool))> = created.into_iter().map(Result::unwrap).collect();
        let setups: Vec<(usize, bool)> = created.iter().map(|(_, setup)| *setup).collect();
        assert_eq!(setups, (0..5).map(|i| (i, true)).collect::<Vec<_>>());
        let inodes: std::collections::BTreeSet<u64> = created.iter().map(|(ns, _)| ns.inode().unwrap()).collect();
        assert_eq!(inodes.len(), 5, "distinct");
        assert!(!inodes.contains(&own), "none is the caller's namespace");
        let serials: Vec<u64> = created.iter().map(|(ns, _)| ns.serial()).collect();
        assert!(serials.windows(2).all(|w| w[1] == w[0] + 1), "serials in index order: {serials:?}");
        assert!(Netns::new_many(0, |_, _| ()).is_empty());
    }
}
