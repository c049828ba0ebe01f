//! What the kernel costs by itself: the floor (bare namespaces created and released)
//! and the background cleanup of released namespaces, waited for between runs.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use netrig::build::netlink::{self, LinkBasics};
use netrig::build::netns::Netns;
use nix::sched::{CloneFlags, unshare};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::LinkAttribute;

/// Time to create `n` bare namespaces and to release them again.
///
/// The least any tool can do: one thread `unshare`s `n` times and keeps an fd to each
/// namespace; no thread per namespace, no interface, no sysctl. Releasing is closing
/// the fds; the kernel destroys the namespaces afterwards, in the background (see
/// [`Quiet`]), for this floor as for netrig and `ip netns del`.
pub fn floor(n: usize) -> io::Result<(Duration, Duration)> {
    let start = Instant::now();
    // The thread ends up inside the last namespace: it must be a thread of its own.
    let namespaces = std::thread::scope(|scope| {
        scope.spawn(|| (0..n).map(|_| bare_namespace()).collect::<io::Result<Vec<OwnedFd>>>()).join()
    })
    .expect("the floor thread does not panic")?;
    let created = start.elapsed();
    drop(namespaces);
    Ok((created, start.elapsed() - created))
}

fn bare_namespace() -> io::Result<OwnedFd> {
    unshare(CloneFlags::CLONE_NEWNET)?;
    Ok(File::open("/proc/thread-self/ns/net")?.into())
}

/// Waits until the kernel has destroyed the namespaces released so far.
///
/// The kernel destroys released namespaces on one ordered work queue, in batches,
/// after the benchmark has stopped its clock. That work competes with the next run
/// for the two CPUs, so each run starts only once it is done, and how long it took
/// is reported on its own. The signal: a sentinel namespace with a veth whose other
/// end is in a long-lived watcher namespace is released last; the kernel deletes
/// that other end (RTM_DELLINK in the watcher) only when it gets to the sentinel,
/// after every namespace released before it.
pub struct Quiet {
    watcher: Netns,
    /// Subscribed to link events in the watcher.
    events: netlink_sys::Socket,
}

/// The name of the sentinel's veth end in the watcher.
const SENTINEL: &str = "sentinel";
/// A cleanup that takes longer than this is reported as an error.
const CLEANUP_LIMIT: Duration = Duration::from_secs(60);

impl Quiet {
    pub fn new() -> io::Result<Quiet> {
        let watcher = Netns::new()?;
        let events = watcher.run(|| {
            let mut socket = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE)?;
            socket.bind(&netlink_sys::SocketAddr::new(0, rtnetlink::constants::RTMGRP_LINK))?;
            let timeout = nix::sys::time::TimeVal::new(CLEANUP_LIMIT.as_secs() as _, 0);
            nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::ReceiveTimeout, &timeout)?;
            Ok(socket)
        })?;
        Ok(Quiet { watcher, events })
    }

    /// Wait for the kernel's backlog of namespace cleanup; how long it took.
    pub fn wait(&self, rt: &tokio::runtime::Runtime) -> io::Result<Duration> {
        let start = Instant::now();
        // The first sentinel's deletion means the batch holding everything released
        // before it has got through its devices; that batch then still waits for RCU
        // callbacks and frees memory (measured: the next build ran 15-25% slower).
        // The work queue runs one batch at a time, so the second sentinel's deletion
        // means that first batch has finished entirely.
        for _ in 0..2 {
            self.release_sentinel(rt)?;
        }
        Ok(start.elapsed())
    }

    /// Release a sentinel namespace and wait until the kernel has deleted its veth.
    fn release_sentinel(&self, rt: &tokio::runtime::Runtime) -> io::Result<()> {
        let sentinel = Netns::new()?;
        rt.block_on(self.link_to_watcher(&sentinel))?;
        drop(sentinel);
        self.wait_for_deletion()
    }

    /// A veth from `sentinel` to the watcher; the sentinel holds nothing afterwards.
    async fn link_to_watcher(&self, sentinel: &Netns) -> io::Result<()> {
        let (handle, connection) = netlink::connect(sentinel)?;
        let end = LinkBasics { name: SENTINEL, ..Default::default() };
        let added = netlink::add_veth(&handle, &end, &end, Some(&self.watcher), 1).await;
        connection.close().await;
        added.map_err(io::Error::other)
    }

    fn wait_for_deletion(&self) -> io::Result<()> {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let mut slice = &mut buffer[..];
            let len = self.events.recv(&mut slice, 0).map_err(|e| {
                let timed_out = e.kind() == io::ErrorKind::WouldBlock;
                if timed_out { io::Error::other(format!("namespace cleanup took over {CLEANUP_LIMIT:?}")) } else { e }
            })?;
            if messages(&buffer[..len]).any(|m| is_deletion_of(&m, SENTINEL)) {
                return Ok(());
            }
        }
    }
}

/// The netlink messages in one datagram.
fn messages(mut datagram: &[u8]) -> impl Iterator<Item = NetlinkMessage<RouteNetlinkMessage>> + '_ {
    std::iter::from_fn(move || {
        let message = NetlinkMessage::<RouteNetlinkMessage>::deserialize(datagram).ok()?;
        let len = (message.header.length as usize).next_multiple_of(4);
        datagram = datagram.get(len.max(1)..).unwrap_or_default();
        Some(message)
    })
}

fn is_deletion_of(message: &NetlinkMessage<RouteNetlinkMessage>, name: &str) -> bool {
    match &message.payload {
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(link)) => {
            link.attributes.iter().any(|a| matches!(a, LinkAttribute::IfName(n) if n == name))
        }
        _ => false,
    }
}
