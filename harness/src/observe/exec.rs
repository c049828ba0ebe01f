//! Commands run inside a node's namespace (iptables, nft, tc, user commands).
//!
//! The child enters the node between `fork` and `exec`, the way `ip netns exec` does:
//! network namespace, a private mount namespace with the node's own `/sys` (so
//! `/sys/class/net` lists the node's interfaces), and `PR_SET_PDEATHSIG` so that it
//! dies with the thread that started it. The shell runs as process 1 of its own PID
//! namespace (`unshare --pid --fork --kill-child`): the death signal is not inherited
//! across `fork`, but when process 1 of a PID namespace dies the kernel kills every
//! other process in it, so nothing the command started — even a double-forked daemon —
//! can keep the node's namespace alive after the test process is gone, SIGKILL
//! included. A command line is finished when its shell exits: whatever it left
//! running is killed then.
//!
//! The node also gets its own `/proc`, mounted from inside the new PID namespace
//! (`--mount-proc`): `ps`, `pkill` or `ls /proc` see only the command's processes,
//! never the machine's, netrig's fds (which hold every node's namespace) or other
//! runs'. Mount propagation is private, so none of these mounts reaches the machine.
//!
//! Commands and background commands (services) start from the node's private
//! directories ([`crate::build::private_dirs`]): `/run`, `/var/lib/misc`, ... are the
//! node's own, shared by all its commands and gone with it. The interactive shell of
//! `netrig shell --node` ([`command_in`]) keeps the machine's `/run`, on purpose: the
//! `/run/netns` pins are visible there (`ip netns exec` works from a node shell).

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::ptr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::libc;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::build::netns::Netns;

/// Run a shell command line (`sh -c`) inside `ns` and wait for it, at most `timeout`
/// (then it is killed and an error of kind `TimedOut` returned). The child enters the
/// namespace in `pre_exec`, gets its own mount namespace with `/sys` and `/proc` of the
/// node, its own PID namespace and `PR_SET_PDEATHSIG(SIGKILL)`, so it sees only the
/// node and nothing outlives the test process.
///
/// A non-zero exit is not an error: the status, stdout and stderr are returned, each
/// bounded to its first and last [`KEPT_EACH_END`] bytes with a line saying how much was
/// cut between them (see [`Bounded`]).
/// Processes the command line leaves behind in the background (`cmd &`) are killed
/// when the shell exits.
pub fn run(ns: &Netns, command_line: &str, timeout: Duration) -> io::Result<Output> {
    let deadline = Instant::now() + timeout;
    let child = spawn_in(ns, command_line)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot start `{command_line}` in the namespace: {e}")))?;
    let mut running = Running::new(child)?;
    match running.finish_by(deadline)? {
        Some(output) => Ok(output),
        None => {
            running.kill()?;
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "command `{command_line}` did not finish within {} and was killed",
                    humantime::format_duration(timeout)
                ),
            ))
        }
    }
}

/// A command line left running in a node (a daemon, the user's own program), its
/// stdout and stderr kept together as it writes them. Dropping it kills every process
/// it started (its PID namespace goes with it); so does the end of the thread that
/// started it, or of the whole test process, SIGKILL included.
pub struct Background {
    running: Running,
    output: Arc<Kept>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// What a background command wrote so far, filled by its reader thread, which
/// signals `grown` after each chunk and when the output ends.
#[derive(Default)]
struct Kept {
    bytes: Mutex<(Vec<u8>, bool)>,
    grown: Condvar,
}

/// How much of a background command's output is kept: its last bytes, enough for any
/// failure message or assertion on recent lines, bounded for a chatty daemon.
const KEPT_OUTPUT: usize = 1 << 20;

/// Start `sh -c command_line` inside `ns` and leave it running.
pub fn spawn(ns: &Netns, command_line: &str) -> io::Result<Background> {
    let (read, write) = std::io::pipe()?;
    let mut command = command_in_private_dirs(ns, "sh")?;
    command.arg("-c").arg(command_line).stdin(Stdio::null()).stdout(write.try_clone()?).stderr(write).process_group(0);
    let child = command
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot start `{command_line}` in the namespace: {e}")))?;
    // The command's end of the pipe was moved into `command`: drop it so the reader
    // sees end of file once every process of the command is gone.
    drop(command);
    let running = Running::new(child)?;
    let output = Arc::new(Kept::default());
    let kept = output.clone();
    let reader = std::thread::spawn(move || {
        let mut read = read;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let n = read.read(&mut chunk).unwrap_or(0);
            let mut bytes = kept.bytes.lock().unwrap_or_else(|p| p.into_inner());
            bytes.0.extend_from_slice(&chunk[..n]);
            let excess = bytes.0.len().saturating_sub(KEPT_OUTPUT);
            bytes.0.drain(..excess);
            bytes.1 = n == 0;
            kept.grown.notify_all();
            if n == 0 {
                break;
            }
        }
    });
    Ok(Background { running, output, reader: Some(reader) })
}

impl Background {
    /// Its process id (as the machine sees it).
    pub fn id(&self) -> u32 {
        self.running.child.id()
    }

    /// stdout and stderr so far, interleaved as written (the last MiB of it).
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.bytes.lock().unwrap_or_else(|p| p.into_inner()).0).into_owned()
    }

    /// Wait until the output so far satisfies `ready` (a line was printed), waking on
    /// every write; false when the output ended (every process closed it) or `timeout`
    /// passed first.
    pub fn wait_for_output(&self, ready: impl Fn(&str) -> bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut bytes = self.output.bytes.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if ready(&String::from_utf8_lossy(&bytes.0)) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if bytes.1 || left.is_zero() {
                return false;
            }
            bytes = self.output.grown.wait_timeout(bytes, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Whether its output has ended: every process that could write it is gone.
    pub fn output_ended(&self) -> bool {
        self.output.bytes.lock().unwrap_or_else(|p| p.into_inner()).1
    }

    /// Send `signal` to every process of the command's PID namespace. Its first process
    /// is that namespace's init, which (as the kernel treats any init) gets only the
    /// signals it has a handler for: start a daemon with `exec` so that it is that one.
    pub fn signal(&self, signal: Signal) -> io::Result<()> {
        // `unshare` is our child; the command runs as its child, in the new namespace.
        let unshare = self.running.child.id();
        let children = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"))?;
        let first = children.split_whitespace().next().ok_or_else(|| io::Error::other("the command has exited"))?;
        let namespace = std::fs::read_link(format!("/proc/{first}/ns/pid"))?;
        for entry in std::fs::read_dir("/proc")?.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
            if std::fs::read_link(entry.path().join("ns/pid")).is_ok_and(|ns| ns == namespace) {
                // ESRCH: it exited meanwhile.
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), signal);
            }
        }
        Ok(())
    }

    /// Wait up to `timeout` for it to exit (woken by its pidfd); `None` if it still runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        if let (None, Some(pidfd)) = (self.running.child.try_wait()?, &self.running.pidfd) {
            poll_until(&mut [pollfd(pidfd.as_fd(), libc::POLLIN)], Some(Instant::now() + timeout))?;
        }
        self.running.child.try_wait()
    }

    /// Whether it has exited, and how, without waiting.
    pub fn try_status(&mut self) -> io::Result<Option<ExitStatus>> {
        self.running.child.try_wait()
    }

    /// Kill it and everything it started, and return its output.
    pub fn stop(mut self) -> io::Result<String> {
        self.running.kill()?;
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        Ok(self.output())
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // Killing the PID namespace closes the pipe's last writer, which ends the reader.
        let _ = self.running.kill();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// Start `sh -c command_line` in its own process group and PID namespace, inside the
/// network namespace `ns_fd`.
fn spawn_in(ns: &Netns, command_line: &str) -> io::Result<Child> {
    let mut command = command_in_private_dirs(ns, "sh")?;
    command
        .arg("-c")
        .arg(command_line)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so a timeout kills the whole pipeline, not just `sh`.
        .process_group(0);
    command.spawn()
}

/// A command that runs `program` inside the node `ns_fd` as described in the module
/// comment (also the interactive shell of `netrig shell --node`); add its arguments.
pub(crate) fn command_in(ns_fd: RawFd, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new("unshare");
    // util-linux: fork the program as PID 1 of a new PID namespace, with a death
    // signal tied to `unshare`, which itself gets ours in `enter_node`. procfs shows
    // the PID namespace of whoever mounts it, so only the forked child can mount the
    // node's `/proc`; it does so in one more private mount namespace, nested in ours.
    command.args(["--pid", "--fork", "--kill-child", "--mount-proc", "--"]).arg(program);
    // SAFETY: `enter_node` only makes async-signal-safe system calls and does not
    // allocate, as required between fork and exec in a multi-threaded process.
    unsafe { command.pre_exec(move || enter_node(ns_fd)) };
    command
}

/// [`command_in`], started from the node's private directories (see the module doc),
/// in the caller's working directory.
fn command_in_private_dirs(ns: &Netns, program: &str) -> io::Result<Command> {
    let dirs = ns.private_dirs()?.as_raw_fd();
    let cwd = crate::build::private_dirs::current_dir();
    let mut command = command_in(ns.raw_fd(), program);
    // SAFETY: plain system calls on a borrowed fd and a C string allocated before the
    // fork. Runs after `enter_node` (in order of registration) and swaps its mount
    // namespace for the node's; `unshare --mount-proc` then copies that one for `/proc`.
    unsafe {
        command.pre_exec(move || {
            check(libc::setns(dirs, libc::CLONE_NEWNS))?;
            // `setns` moved us to the namespace's root; the path is the same there
            // unless it lies under one of the private directories (then: the root).
            if let Some(cwd) = &cwd {
                libc::chdir(cwd.as_ptr());
            }
            Ok(())
        })
    };
    Ok(command)
}

/// Runs in the forked child before `exec`: only raw system calls on values captured
/// by copy (no allocation, no locks). Mirrors `ip netns exec`.
fn enter_node(ns_fd: RawFd) -> io::Result<()> {
    // SAFETY: plain system calls with constant, NUL-terminated C strings.
    unsafe {
        check(libc::setns(ns_fd, libc::CLONE_NEWNET))?;
        // A private mount namespace, so remounting /sys below stays in this child...
        check(libc::unshare(libc::CLONE_NEWNS))?;
        // ...and mounts made here do not propagate back to the machine, nor the
        // machine's into the node while it runs.
        check(libc::mount(ptr::null(), c"/".as_ptr(), ptr::null(), libc::MS_REC | libc::MS_PRIVATE, ptr::null()))?;
        // sysfs shows the network devices of the namespace that mounts it. Best effort:
        // without it /sys shows the machine's interfaces, but the command still runs.
        libc::umount2(c"/sys".as_ptr(), libc::MNT_DETACH);
        libc::mount(c"sysfs".as_ptr(), c"/sys".as_ptr(), c"sysfs".as_ptr(), 0, ptr::null());
        check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL))?;
    }
    Ok(())
}

/// `-1` → the current errno, without allocating.
fn check(ret: libc::c_int) -> io::Result<()> {
    if ret == -1 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// A started command: its process, a pidfd that becomes readable when it exits, and
/// its output pipes, all waited on together with one `poll`.
struct Running {
    child: Child,
    /// `None` once the shell has exited.
    pidfd: Option<OwnedFd>,
    /// stdout and stderr; `None` once at end of file.
    pipes: [Option<File>; 2],
    output: [Bounded; 2],
    status: Option<ExitStatus>,
}

/// What one `poll` entry of [`Running::finish_by`] stands for.
#[derive(Clone, Copy)]
enum Source {
    Exit,
    Pipe(usize),
}

impl Running {
    fn new(mut child: Child) -> io::Result<Running> {
        let stdout = child.stdout.take().map(|p| File::from(OwnedFd::from(p)));
        let stderr = child.stderr.take().map(|p| File::from(OwnedFd::from(p)));
        let mut running =
            Running { child, pidfd: None, pipes: [stdout, stderr], output: Default::default(), status: None };
        // Should this fail, dropping `running` kills the command.
        running.pidfd = Some(pidfd_open(running.child.id())?);
        Ok(running)
    }

    /// Collect output until the shell has exited and both pipes are closed, or the
    /// deadline passes (`None`).
    fn finish_by(&mut self, deadline: Instant) -> io::Result<Option<Output>> {
        loop {
            let sources = self.open_sources();
            if sources.is_empty() {
                let status = self.status.expect("no pidfd left means the shell was reaped");
                let [stdout, stderr] = std::mem::take(&mut self.output).map(Bounded::into_bytes);
                return Ok(Some(Output { status, stdout, stderr }));
            }
            let ready = {
                let mut fds: Vec<_> = sources.iter().map(|&s| pollfd(self.fd_of(s), libc::POLLIN)).collect();
                if !poll_until(&mut fds, Some(deadline))? {
                    return Ok(None);
                }
                fds.iter().map(|fd| fd.revents != 0).collect::<Vec<_>>()
            };
            for (source, _) in sources.into_iter().zip(ready).filter(|(_, ready)| *ready) {
                match source {
                    Source::Exit => self.reap()?,
                    Source::Pipe(i) => self.read_pipe(i)?,
                }
            }
        }
    }

    fn open_sources(&self) -> Vec<Source> {
        let exit = self.pidfd.as_ref().map(|_| Source::Exit);
        let pipes = (0..2).filter(|&i| self.pipes[i].is_some()).map(Source::Pipe);
        exit.into_iter().chain(pipes).collect()
    }

    fn fd_of(&self, source: Source) -> BorrowedFd<'_> {
        match source {
            Source::Exit => self.pidfd.as_ref().expect("watched only while open").as_fd(),
            Source::Pipe(i) => self.pipes[i].as_ref().expect("watched only while open").as_fd(),
        }
    }

    /// The shell has exited: kill what it left in its group (while the zombie still
    /// holds the group id, so the id cannot have been reused), then reap it.
    fn reap(&mut self) -> io::Result<()> {
        self.kill_group();
        self.status = Some(self.child.wait()?);
        self.pidfd = None;
        Ok(())
    }

    fn read_pipe(&mut self, i: usize) -> io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let pipe = self.pipes[i].as_mut().expect("read only while open");
        // poll said readable, so this read does not block.
        match pipe.read(&mut chunk) {
            Ok(0) => self.pipes[i] = None,
            Ok(n) => self.output[i].push(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Kill the whole group and reap the shell, unless it was reaped already.
    fn kill(&mut self) -> io::Result<()> {
        if self.status.is_none() {
            self.kill_group();
            self.status = Some(self.child.wait()?);
        }
        Ok(())
    }

    fn kill_group(&self) {
        let pgid = Pid::from_raw(self.child.id() as i32);
        // ESRCH (group already empty) is the only expected failure, and harmless.
        let _ = killpg(pgid, Signal::SIGKILL);
    }
}

impl Drop for Running {
    /// Whatever went wrong while waiting, leave no process (or zombie) behind.
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// How much of each end of a one-shot command's stream is kept (see [`Bounded`]).
pub const KEPT_EACH_END: usize = 512 * 1024;

/// One output stream of a one-shot command, bounded: its first and its last
/// [`KEPT_EACH_END`] bytes and how many were cut between them. A command writing
/// gigabytes (`head -c 3G /dev/zero`) must not grow netrig with it; the head shows how
/// it started, the tail how it ended, and failure messages stay readable.
#[derive(Default)]
struct Bounded {
    head: Vec<u8>,
    /// The last bytes after the head, oldest first once [`Bounded::into_bytes`] rotates it.
    tail: std::collections::VecDeque<u8>,
    cut: u64,
}

impl Bounded {
    fn push(&mut self, mut bytes: &[u8]) {
        let room = KEPT_EACH_END - self.head.len();
        let to_head = room.min(bytes.len());
        self.head.extend_from_slice(&bytes[..to_head]);
        bytes = &bytes[to_head..];
        self.tail.extend(bytes);
        let excess = self.tail.len().saturating_sub(KEPT_EACH_END);
        self.tail.drain(..excess);
        self.cut += excess as u64;
    }

    /// The kept bytes, with a line naming what was cut where it was cut.
    fn into_bytes(self) -> Vec<u8> {
        let mut bytes = self.head;
        if self.cut > 0 {
            bytes.extend_from_slice(format!("\n[netrig: {} bytes of output cut here]\n", self.cut).as_bytes());
        }
        bytes.extend(self.tail);
        bytes
    }
}

/// A pidfd for `pid`: readable once the process has exited (Linux 5.3+).
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd (O_CLOEXEC) or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A `poll(2)` entry waiting for `events` (`libc::POLLIN`, ...) on `fd`. The
/// `BorrowedFd` makes sure a real, open descriptor goes in; the entry itself is the
/// plain C struct (nix's `poll` wrapper is behind a crate feature netrig does not use).
pub(crate) fn pollfd(fd: BorrowedFd<'_>, events: libc::c_short) -> libc::pollfd {
    libc::pollfd { fd: fd.as_raw_fd(), events, revents: 0 }
}

/// `poll(2)` until one of `fds` is ready (`true`; see each `revents`) or `deadline`
/// passes (`false`; `None` waits forever). Interrupted waits resume with the time left.
/// Shared with [`crate::observe::probe`], which waits on sockets the same way.
pub(crate) fn poll_until(fds: &mut [libc::pollfd], deadline: Option<Instant>) -> io::Result<bool> {
    loop {
        let timeout_ms = match deadline {
            None => -1,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                // Round up: truncating would spin on a sub-millisecond remainder.
                i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
            }
        };
        // SAFETY: `fds` is a valid, exclusively borrowed array of pollfd entries.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        match ready {
            -1 => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
            0 if deadline.is_some_and(|d| Instant::now() >= d) => return Ok(false),
            0 => {}
            _ => return Ok(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::running_with_cmdline;
    use super::*;

    fn sh(ns: &Netns, line: &str) -> Output {
        run(ns, line, Duration::from_secs(10)).unwrap()
    }

    fn stdout(output: &Output) -> String {
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    #[test]
    fn sees_only_the_namespace_interfaces() {
        needs_root!();
        let ns = Netns::new().unwrap();
        let links = sh(&ns, "ip -o link");
        assert!(links.status.success(), "{links:?}");
        let names: Vec<String> =
            stdout(&links).lines().map(|l| l.split(':').nth(1).unwrap().trim().to_string()).collect();
        assert_eq!(names, ["lo"]);
    }

    #[test]
    fn sys_class_net_is_the_namespace_sysfs() {
        needs_root!();
        let ns = Netns::new().unwrap();
        let out = sh(&ns, "cat /sys/class/net/lo/ifindex && ls /sys/class/net");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(stdout(&out), "1\nlo\n");
    }

    #[test]
    fn proc_shows_only_the_command_s_own_processes() {
        needs_root!();
        let ns = Netns::new().unwrap();
        // The shell is process 1 of its PID namespace and expands the glob itself: no
        // other process exists there, in particular none of the machine's.
        let out = sh(&ns, "echo /proc/[0-9]*");
        assert_eq!(stdout(&out), "/proc/1\n", "{out:?}");
        let out = sh(&ns, "ps -e -o pid=,comm=");
        let listed: Vec<String> =
            stdout(&out).lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
        assert!(listed.iter().all(|p| p == "1 sh" || p.ends_with(" ps")) && listed.len() <= 2, "{out:?}");
        // Nor netrig's fds, which hold every node's namespace.
        let ours = format!("/proc/{}/fd", std::process::id());
        let out = sh(&ns, &format!("ls {ours}"));
        assert_ne!(out.status.code(), Some(0), "{ours} is visible in the node: {out:?}");
    }

    #[test]
    fn pgrep_and_pkill_do_not_see_the_machine_s_processes() {
        needs_root!();
        let marker = format!("31.{}", std::process::id());
        let mut host_sleep = Command::new("sleep").arg(&marker).spawn().unwrap();
        let ns = Netns::new().unwrap();
        // `[p]`: the pattern must not match the node's own `sh -c` line.
        let pattern = format!("'slee[p] {marker}'");
        let out = sh(&ns, &format!("pgrep -f {pattern}; pkill -f {pattern}"));
        let still_running = host_sleep.try_wait().unwrap().is_none();
        host_sleep.kill().unwrap();
        host_sleep.wait().unwrap();
        // pgrep prints what it finds; pkill's exit 1 means no process matched.
        assert_eq!((stdout(&out).as_str(), out.status.code()), ("", Some(1)), "the machine's sleep seen: {out:?}");
        assert!(still_running, "pkill in a node killed the machine's `sleep {marker}`");
    }

    /// The machine's proc and sysfs mounts (mount id, mount point, type), from its mountinfo.
    fn host_proc_and_sys_mounts() -> Vec<String> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        mountinfo
            .lines()
            .filter(|l| l.split_once(" - ").is_some_and(|(_, fs)| fs.starts_with("proc ") || fs.starts_with("sysfs ")))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn the_node_s_proc_and_sys_mounts_stay_in_the_node() {
        needs_root!();
        let before = host_proc_and_sys_mounts();
        let ns = Netns::new().unwrap();
        let out = sh(&ns, "grep -c ' - proc ' /proc/self/mountinfo; ls /sys/class/net");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(host_proc_and_sys_mounts(), before, "a node's mounts reached the machine");
    }

    #[test]
    fn a_daemon_the_command_starts_dies_with_it() {
        needs_root!();
        let ns = Netns::new().unwrap();
        // Its own session and process group (`setsid -f` forks first), so only the
        // PID namespace can take it down when the shell exits.
        let marker = format!("32.{}", std::process::id());
        // `setsid -f` returns before its child has become `sleep`: wait until it has.
        let line = format!("setsid -f sleep {marker} >/dev/null 2>&1; until pgrep -fx 'sleep {marker}'; do :; done");
        let out = sh(&ns, &format!("{line} >/dev/null; echo started"));
        assert_eq!(stdout(&out), "started\n", "{out:?}");
        // Process 1 of a PID namespace exits only after the kernel killed and reaped the
        // rest, so this holds as soon as `run` has returned: no waiting.
        assert!(!running_with_cmdline(&["sleep", &marker]), "the daemon `sleep {marker}` outlived its command");
    }

    #[test]
    fn network_tools_work_in_a_node() {
        needs_root!();
        let ns = Netns::new().unwrap();
        let tools = "iptables -L -n >/dev/null && nft list ruleset && tc qdisc show dev lo >/dev/null \
                     && ip -o link >/dev/null && bridge link && sysctl -n net.ipv4.ip_forward \
                     && python3 -c 'import socket; print(socket.if_nameindex())'";
        let out = sh(&ns, tools);
        assert!(out.status.success(), "{out:?}");
        assert!(stdout(&out).ends_with("[(1, 'lo')]\n"), "{out:?}");
    }

    #[test]
    fn iptables_rules_stay_in_the_namespace() {
        needs_root!();
        // The generation timestamp comment changes on every call.
        let host_rules = || {
            let out = Command::new("iptables-save").output().unwrap();
            stdout(&out).lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n")
        };
        let before = host_rules();
        let ns = Netns::new().unwrap();
        let added = sh(&ns, "iptables -A INPUT -j ACCEPT && iptables-save");
        assert!(added.status.success(), "{added:?}");
        assert!(stdout(&added).contains("-A INPUT -j ACCEPT"), "{added:?}");
        assert_eq!(host_rules(), before, "the machine's own rules changed");
    }

    #[test]
    fn exit_status_and_stderr_are_returned() {
        needs_root!();
        let ns = Netns::new().unwrap();
        let out = sh(&ns, "echo out; echo oops >&2; exit 3");
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(stdout(&out), "out\n");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");
    }

    #[test]
    fn timeout_kills_the_whole_command() {
        needs_root!();
        let ns = Netns::new().unwrap();
        // A duration no other process uses, to find the background sleep by its
        // command line (`$!` would be its pid inside the command's PID namespace).
        let marker = format!("30.{}", std::process::id());
        let line = format!("sleep {marker} & wait");
        let start = Instant::now();
        let err = run(&ns, &line, Duration::from_millis(200)).unwrap_err();
        let took = start.elapsed();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains(&line), "{err}");
        assert!(took >= Duration::from_millis(200) && took < Duration::from_secs(2), "{took:?}");

        // The background `sleep` died too, not just `sh`.
        let alive = || running_with_cmdline(&["sleep", &marker]);
        let deadline = Instant::now() + Duration::from_secs(1);
        while alive() && Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert!(!alive(), "background `sleep {marker}` survived the timeout");
    }

    #[test]
    fn a_background_command_keeps_running_with_its_output_until_stopped() {
        needs_root!();
        let ns = Netns::new().unwrap();
        let marker = format!("33.{}", std::process::id());
        let mut daemon = spawn(&ns, &format!("echo started; ip -o link show lo >&2; exec sleep {marker}")).unwrap();
        // Wait for its output, as a readiness check would.
        assert!(daemon.wait_for_output(|out| out.contains("lo:"), Duration::from_secs(5)), "{}", daemon.output());
        assert!(daemon.output().starts_with("started\n"), "{}", daemon.output());
        assert!(daemon.output().contains("1: lo:"), "stderr is kept too: {}", daemon.output());
        assert!(daemon.try_status().unwrap().is_none(), "still running");
        // The shell replaces itself with `sleep` just after its output: poll /proc for it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !running_with_cmdline(&["sleep", &marker]) {
            assert!(Instant::now() < deadline, "`sleep {marker}` never started: {}", daemon.output());
        }
        let output = daemon.stop().unwrap();
        assert!(output.contains("started"));
        assert!(!running_with_cmdline(&["sleep", &marker]), "stopped means gone");
        // A command that exits ends the output: waiting for a line it never prints
        // returns at once, not at the deadline.
        let quick = spawn(&ns, "echo done").unwrap();
        let started = Instant::now();
        assert!(!quick.wait_for_output(|out| out.contains("never"), Duration::from_secs(30)));
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[test]
    fn background_leftovers_are_killed_when_the_shell_exits() {
        needs_root!();
        let ns = Netns::new().unwrap();
        let start = Instant::now();
        // The background sleep holds stdout open: without killing it we would wait 30 s.
        let out = run(&ns, "sleep 30 & echo started", Duration::from_secs(10)).unwrap();
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(stdout(&out), "started\n");
    }

    #[test]
    fn large_output_is_drained_while_waiting() {
        needs_root!();
        let ns = Netns::new().unwrap();
        // More than a pipe buffer (64 KiB) on both streams at once.
        let out = sh(&ns, "head -c 300000 /dev/zero; head -c 200000 /dev/zero >&2");
        assert!(out.status.success());
        assert_eq!((out.stdout.len(), out.stderr.len()), (300000, 200000));
    }

    #[test]
    fn huge_output_keeps_its_head_and_tail_and_says_what_was_cut() {
        needs_root!();
        let ns = Netns::new().unwrap();
        // 64 MiB in, about 1 MiB kept, whatever the command writes.
        let out = sh(&ns, "echo first; head -c 67108864 /dev/zero; echo; echo last");
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.stdout.len() < 2 * KEPT_EACH_END + 100, "kept {} bytes", out.stdout.len());
        assert!(text.starts_with("first\n") && text.ends_with("\nlast\n"), "head and tail kept");
        let cut = 6 + 67108864 + 6 - 2 * KEPT_EACH_END;
        assert!(text.contains(&format!("[netrig: {cut} bytes of output cut here]")), "no cut line");
    }

    #[test]
    fn bounded_streams_keep_everything_up_to_both_ends() {
        let mut b = Bounded::default();
        b.push(&vec![b'a'; KEPT_EACH_END]);
        b.push(&vec![b'b'; KEPT_EACH_END]);
        assert_eq!(b.into_bytes().len(), 2 * KEPT_EACH_END, "nothing cut, no cut line");
    }
}

/// For kernel tests that check what processes a command left on the machine.
#[cfg(test)]
pub(crate) mod fixture {
    /// Whether a process of the machine runs with exactly these arguments.
    pub fn running_with_cmdline(args: &[&str]) -> bool {
        let wanted: Vec<u8> = args.iter().flat_map(|a| a.bytes().chain([0])).collect();
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .any(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == wanted))
    }
}
