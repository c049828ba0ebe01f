//! Ctrl-C and friends during `netrig run` and while a topology is kept: caught rather
//! than fatal, so that the results so far are reported and the pinned names always
//! removed before netrig exits.
//!
//! The handler only writes the signal's number into a pipe (the self-pipe trick: the
//! one async-signal-safe way to hand it over); the main thread polls the pipe, together
//! with a child's pidfd when a node shell is running.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

use crate::observe::exec::{poll_until, pollfd};

/// The signals that end a kept session: Ctrl-C, Ctrl-\, `kill`, and a closed terminal.
const CAUGHT: [Signal; 4] = [Signal::SIGINT, Signal::SIGQUIT, Signal::SIGTERM, Signal::SIGHUP];

/// The pipe's write end, for the handler (-1: not installed).
static WRITE_END: AtomicI32 = AtomicI32::new(-1);

extern "C" fn note(signal: libc::c_int) {
    // SAFETY: write(2) is async-signal-safe; errno is saved and restored so that the
    // interrupted code does not see ours. A full pipe (non-blocking) drops the byte:
    // one pending signal is enough.
    unsafe {
        let errno = *libc::__errno_location();
        let byte = signal as u8;
        libc::write(WRITE_END.load(Ordering::Relaxed), (&byte as *const u8).cast(), 1);
        *libc::__errno_location() = errno;
    }
}

/// What ended a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Signal(Signal),
    /// The extra fd given to [`Caught::wait`] became readable (a child exited).
    Ready,
}

/// The signals of [`CAUGHT`], caught for as long as this lives.
pub struct Caught {
    read: OwnedFd,
    /// Kept open for the handler; closed after the handlers are gone.
    _write: OwnedFd,
}

impl Caught {
    pub fn install() -> io::Result<Caught> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        WRITE_END.store(write.as_raw_fd(), Ordering::Relaxed);
        // SA_RESTART: other blocking calls (a child's wait) simply go on.
        let action = SigAction::new(SigHandler::Handler(note), SaFlags::SA_RESTART, SigSet::empty());
        for signal in CAUGHT {
            // SAFETY: `note` is async-signal-safe (see there).
            unsafe { sigaction(signal, &action) }?;
        }
        Ok(Caught { read, _write: write })
    }

    /// Block until one of the signals arrives, or `also` (a pidfd) becomes readable.
    pub fn wait(&self, also: Option<BorrowedFd<'_>>) -> io::Result<Event> {
        let mut fds = vec![pollfd(self.read.as_fd(), libc::POLLIN)];
        fds.extend(also.map(|fd| pollfd(fd, libc::POLLIN)));
        loop {
            poll_until(&mut fds, None)?;
            if fds[0].revents != 0 {
                if let Some(signal) = self.take()? {
                    return Ok(Event::Signal(signal));
                }
            }
            if fds.get(1).is_some_and(|fd| fd.revents != 0) {
                return Ok(Event::Ready);
            }
        }
    }

    /// One signal from the pipe, if any is pending.
    fn take(&self) -> io::Result<Option<Signal>> {
        let mut byte = 0u8;
        match nix::unistd::read(&self.read, std::slice::from_mut(&mut byte)) {
            Ok(1) => Ok(Signal::try_from(i32::from(byte)).ok()),
            Ok(_) | Err(nix::errno::Errno::EAGAIN) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for Caught {
    /// Back to the default actions, so a later Ctrl-C ends netrig as usual.
    fn drop(&mut self) {
        let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
        for signal in CAUGHT {
            // SAFETY: restoring the default disposition.
            let _ = unsafe { sigaction(signal, &default) };
        }
        WRITE_END.store(-1, Ordering::Relaxed);
    }
}
