//! A UDP stream at a given rate for a given time, and what its receiver measured.
//!
//! The sender is paced by a monotonic clock (traffic generation, not synchronisation):
//! datagram `i` is due at `start + i × interval`, and every datagram due is sent when
//! the thread wakes, so the offered rate holds on average even when a sleep overshoots.
//! Each datagram carries a magic number, its sequence number and its send time on the
//! monotonic clock; the receiver (a socket the harness opens in the node holding the
//! destination address, read by a thread of the same process) knows each one's transit
//! time.
//!
//! The receiver stops only once nothing can still arrive: the sender is done, nothing
//! arrived for [`QUIET`], no qdisc of any node holds a packet (a tbf or netem queue,
//! read over netlink), and no neighbour is being resolved (datagrams wait in its queue;
//! the caller's [`Patience`] says, as for a ping) — a delayed datagram is not a lost one. Datagrams the
//! receiving socket itself dropped (its buffer full) are counted by the kernel in
//! Udp(6) RcvbufErrors; the measurement then says so, rather than blame the network.
//!
//! A TCP stream ([`run_tcp`]) is one connection whose writes are paced the same way.
//! What it delivered is the receiving kernel's own count (`tcpi_bytes_received` of
//! TCP_INFO) when the sender's time is up, over the time since its first byte
//! arrived. What the sender's buffer still holds then is not waited for (the
//! connection is reset): on a path slower than the offered rate that buffer is what
//! keeps the path busy to the end, so the rate measured is the path's.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::libc;
use socket2::{Domain, Protocol, Socket, Type};

use crate::build::NodeHandle;
use crate::build::netns::Netns;
use crate::observe::counters;
use crate::observe::exec::{poll_until, pollfd};
use crate::observe::probe::{Impatient, Patience, connect_by};

/// Marks a datagram as one of netrig's streams.
const MAGIC: u32 = 0x6e72_7374; // "nrst"
/// Silence after the last arrival before the stream may be over (with no queue
/// holding anything): longer than any gap between arrivals of a stream.
pub const QUIET: Duration = Duration::from_millis(100);
/// How long queues may keep datagrams after the sender is done.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);
/// The receiving socket's buffer (SO_RCVBUFFORCE), so that a fast stream is not
/// dropped by the receiver while the harness reads it.
const RECEIVE_BUFFER: usize = 32 << 20;

/// What was sent and what the receiver measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measured {
    pub sent: u64,
    /// Distinct datagrams received.
    pub received: u64,
    pub duplicates: u64,
    /// Delivered rate in bits per second, whole IP packets, between the first and the
    /// last arrival.
    pub rate: f64,
    /// Percentage of the datagrams sent that never arrived.
    pub loss: f64,
    /// RFC 3550 interarrival jitter, in seconds.
    pub jitter: f64,
}

/// The stream to send.
pub struct Stream {
    pub to: SocketAddr,
    pub bits_per_second: u64,
    pub duration: Duration,
    /// UDP payload bytes per datagram.
    pub size: usize,
    /// Bytes of each datagram as rates count them (IP packet).
    pub packet_bytes: u64,
}

/// Send `stream` from `sender` to a socket opened in `receiver`; `backlog` reads how
/// many packets the topology's qdiscs hold, `patience` waits out neighbour resolutions.
pub fn run(
    sender: &Netns,
    receiver: &NodeHandle,
    stream: &Stream,
    mut backlog: impl FnMut() -> Result<u64, String>,
    patience: &mut impl Patience,
) -> Result<Measured, String> {
    let overflows = if stream.to.is_ipv6() { "Udp6RcvbufErrors" } else { "Udp.RcvbufErrors" };
    let overflowed_before = counters::read_mib(receiver, overflows)?;
    let inbound =
        receiver.ns.run(|| open_receiver(stream.to)).map_err(|e| format!("cannot receive on {}: {e}", stream.to))?;
    let outbound = sender.run(|| open_sender(stream.to)).map_err(|e| format!("cannot send to {}: {e}", stream.to))?;
    let done = Arc::new(AtomicBool::new(false));
    let last_arrival = Arc::new(AtomicU64::new(0));
    let receiving = {
        let (done, last_arrival) = (Arc::clone(&done), Arc::clone(&last_arrival));
        let packet_bytes = stream.packet_bytes;
        std::thread::spawn(move || receive(&inbound, &done, &last_arrival, packet_bytes))
    };
    let sent = send(&outbound, stream);
    let settled = sent
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|_| wait_until_over(&receiving, &last_arrival, &mut backlog, patience));
    done.store(true, Ordering::Relaxed);
    let mut measured = receiving.join().map_err(|_| "the receiver panicked".to_string())??;
    let sent = sent?;
    settled?;
    let overflowed = counters::read_mib(receiver, overflows)?.saturating_sub(overflowed_before);
    if overflowed > 0 {
        return Err(format!(
            "could not be judged: the receiving socket dropped {overflowed} datagrams itself ({overflows}), \
             the harness read too slowly"
        ));
    }
    measured.sent = sent;
    measured.loss = if sent == 0 { 0.0 } else { 100.0 * sent.saturating_sub(measured.received) as f64 / sent as f64 };
    Ok(measured)
}

fn open_receiver(to: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(to), Type::DGRAM, Some(Protocol::UDP))?;
    nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::RcvBufForce, &RECEIVE_BUFFER)?;
    socket.bind(&to.into())?;
    socket.set_read_timeout(Some(Duration::from_millis(10)))?;
    Ok(socket.into())
}

fn open_sender(to: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(to), Type::DGRAM, Some(Protocol::UDP))?;
    socket.connect(&to.into())?;
    Ok(socket.into())
}

/// Nanoseconds since the process started measuring streams, on the monotonic clock
/// (sender and receiver are threads of this process). Never 0, which means "nothing".
fn monotonic_nanos() -> u64 {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(|| Instant::now() - Duration::from_nanos(1));
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Send the stream, paced; the number of datagrams the kernel took.
fn send(socket: &UdpSocket, stream: &Stream) -> Result<u64, String> {
    let interval = Duration::from_secs_f64(stream.packet_bytes as f64 * 8.0 / stream.bits_per_second as f64);
    let count = (stream.duration.as_secs_f64() / interval.as_secs_f64()).ceil().max(1.0) as u64;
    let mut datagram = vec![0u8; stream.size];
    let start = Instant::now();
    let mut sequence = 0;
    while sequence < count {
        let due = start + interval.mul_f64(sequence as f64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
            continue;
        }
        datagram[..4].copy_from_slice(&MAGIC.to_be_bytes());
        datagram[4..12].copy_from_slice(&sequence.to_be_bytes());
        datagram[12..20].copy_from_slice(&monotonic_nanos().to_be_bytes());
        match socket.send(&datagram) {
            // A full queue below the socket (ENOBUFS) drops the datagram like a
            // queue further on would: it was sent, and is lost.
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ENOBUFS as i32) => {}
            Err(e) => return Err(format!("sending datagram {sequence}: {e}")),
        }
        sequence += 1;
    }
    Ok(count)
}

/// Wait until nothing more can arrive: the receiver heard nothing for [`QUIET`], no
/// qdisc holds a packet and no neighbour is being resolved. Reads of the qdiscs are
/// retried, bounded by [`DRAIN_LIMIT`]; `patience` bounds its own wait.
fn wait_until_over(
    receiving: &std::thread::JoinHandle<Result<Measured, String>>,
    last_arrival: &AtomicU64,
    backlog: &mut impl FnMut() -> Result<u64, String>,
    patience: &mut impl Patience,
) -> Result<(), String> {
    let sent_at = Instant::now();
    let mut not_before = sent_at;
    loop {
        if receiving.is_finished() {
            return Ok(()); // it failed; its error is reported
        }
        let silent = match last_arrival.load(Ordering::Relaxed) {
            0 => sent_at.elapsed(),
            last => Duration::from_nanos(monotonic_nanos().saturating_sub(last)),
        };
        if silent >= QUIET && Instant::now() >= not_before {
            let held = backlog()?;
            if held == 0 {
                // Resolutions waited out: the datagrams they held get their quiet period.
                match patience.more() {
                    Some(until) => {
                        not_before = until;
                        continue;
                    }
                    None => return Ok(()),
                }
            }
            if sent_at.elapsed() > DRAIN_LIMIT {
                return Err(format!(
                    "could not be judged: {} after the stream, qdiscs still held {held} packets",
                    humantime::format_duration(DRAIN_LIMIT)
                ));
            }
        }
        // A bounded retry of the reads above, not a wait for an outcome.
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Read datagrams until told to stop and nothing is left; measure them.
fn receive(
    socket: &UdpSocket,
    done: &AtomicBool,
    last_arrival: &AtomicU64,
    packet_bytes: u64,
) -> Result<Measured, String> {
    let mut seen = std::collections::HashSet::new();
    let mut measured = Measured::default();
    let (mut first, mut last) = (None, 0u64);
    let mut previous_transit: Option<i128> = None;
    let mut buffer = vec![0u8; 65536];
    loop {
        let length = match socket.recv(&mut buffer) {
            Ok(length) => length,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                continue;
            }
            Err(e) => return Err(format!("receiving: {e}")),
        };
        let arrival = monotonic_nanos();
        if length < 20 || buffer[..4] != MAGIC.to_be_bytes() {
            continue;
        }
        let sequence = u64::from_be_bytes(buffer[4..12].try_into().expect("8 bytes"));
        let sent = u64::from_be_bytes(buffer[12..20].try_into().expect("8 bytes"));
        last_arrival.store(arrival, Ordering::Relaxed);
        if !seen.insert(sequence) {
            measured.duplicates += 1;
            continue;
        }
        first.get_or_insert(arrival);
        last = arrival;
        // RFC 3550, 6.4.1: J += (|D| - J) / 16, D the change of transit time.
        let transit = i128::from(arrival) - i128::from(sent);
        if let Some(previous) = previous_transit {
            let change = (transit - previous).abs() as f64 / 1e9;
            measured.jitter += (change - measured.jitter) / 16.0;
        }
        previous_transit = Some(transit);
    }
    measured.received = seen.len() as u64;
    if let (Some(first), true) = (first, measured.received > 1) {
        let window = (last - first) as f64 / 1e9;
        if window > 0.0 {
            measured.rate = (measured.received - 1) as f64 * packet_bytes as f64 * 8.0 / window;
        }
    }
    Ok(measured)
}

/// How long a TCP stream's connection may take to be made.
const CONNECT_LIMIT: Duration = Duration::from_secs(3);
/// The most a TCP stream writes at once.
const TCP_CHUNK: usize = 64 << 10;

/// Send `bits_per_second` of bytes over one TCP connection from `sender` to a
/// listener opened in `receiver` for `duration`; measure what the receiving kernel
/// got by then (see the module doc). `sent` and `received` count bytes; loss and
/// jitter stay 0 (TCP repairs losses). A connection that cannot be made is an error
/// saying why. Returns once `backlog` (what the topology's qdiscs hold) is empty: the
/// reset connection's segments still queued would slow down what comes next.
pub fn run_tcp(
    sender: &Netns,
    receiver: &NodeHandle,
    to: SocketAddr,
    bits_per_second: u64,
    duration: Duration,
    mut backlog: impl FnMut() -> Result<u64, String>,
) -> Result<Measured, String> {
    let listener = receiver.ns.run(|| open_tcp_receiver(to)).map_err(|e| format!("cannot receive on {to}: {e}"))?;
    let outbound: TcpStream = match connect_by(sender, to, Instant::now() + CONNECT_LIMIT, &mut Impatient) {
        Ok(Ok(socket)) => socket.into(),
        Ok(Err(result)) => return Err(format!("cannot connect to {to}: {result}")),
        Err(e) => return Err(format!("cannot connect to {to}: {e}")),
    };
    let inbound = accept_within(&listener, CONNECT_LIMIT).map_err(|e| format!("accepting on {to}: {e}"))?;
    let inbound = Arc::new(inbound);
    let done = Arc::new(AtomicBool::new(false));
    let first_arrival = Arc::new(AtomicU64::new(0));
    let draining = {
        let (inbound, done, first_arrival) = (Arc::clone(&inbound), Arc::clone(&done), Arc::clone(&first_arrival));
        std::thread::spawn(move || drain(&inbound, &done, &first_arrival))
    };
    let sent = send_paced(&outbound, bits_per_second, duration);
    let ended = monotonic_nanos();
    let received = bytes_received(&inbound).map_err(|e| format!("reading TCP_INFO of the receiver: {e}"));
    // What the sender's buffer still holds is not the stream's: reset, do not drain.
    let _ = socket2::SockRef::from(&outbound).set_linger(Some(Duration::ZERO));
    drop(outbound);
    done.store(true, Ordering::Relaxed);
    let _ = draining.join();
    let drain_until = Instant::now() + DRAIN_LIMIT;
    while backlog()? > 0 && Instant::now() < drain_until {
        // A bounded retry of the read, not a wait for an outcome.
        std::thread::sleep(Duration::from_millis(10));
    }
    let (sent, received) = (sent?, received?);
    let window = match first_arrival.load(Ordering::Relaxed) {
        0 => 0.0,
        first => ended.saturating_sub(first) as f64 / 1e9,
    };
    let rate = if window > 0.0 { received as f64 * 8.0 / window } else { 0.0 };
    Ok(Measured { sent, received, rate, ..Measured::default() })
}

fn open_tcp_receiver(to: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(to), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&to.into())?;
    socket.listen(1)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

fn accept_within(listener: &TcpListener, limit: Duration) -> io::Result<TcpStream> {
    if !ready(listener.as_fd(), libc::POLLIN, Instant::now() + limit)? {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "the connection made was not accepted"));
    }
    let (stream, _) = listener.accept()?;
    stream.set_read_timeout(Some(Duration::from_millis(10)))?;
    Ok(stream)
}

/// Whether `fd` became ready for `events` by `deadline`.
fn ready(fd: std::os::fd::BorrowedFd<'_>, events: libc::c_short, deadline: Instant) -> io::Result<bool> {
    poll_until(&mut [pollfd(fd, events)], Some(deadline))
}

/// Write `bits_per_second` worth of bytes for `duration`, paced as datagrams are: the
/// bytes due by now go out whenever the socket takes them. The number written.
fn send_paced(stream: &TcpStream, bits_per_second: u64, duration: Duration) -> Result<u64, String> {
    let chunk = [b'n'; TCP_CHUNK];
    let socket = socket2::SockRef::from(stream);
    let start = Instant::now();
    let end = start + duration;
    let mut sent = 0u64;
    loop {
        let now = Instant::now();
        if now >= end {
            return Ok(sent);
        }
        let due = (bits_per_second as f64 / 8.0 * (now - start).as_secs_f64()) as u64;
        if due <= sent {
            // The next byte is due within a millisecond at any rate worth measuring.
            std::thread::sleep(Duration::from_millis(1).min(end - now));
            continue;
        }
        let length = (due - sent).min(TCP_CHUNK as u64) as usize;
        match socket.send_with_flags(&chunk[..length], libc::MSG_NOSIGNAL) {
            Ok(n) => sent += n as u64,
            // A full buffer: the path is slower than the rate offered.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                ready(stream.as_fd(), libc::POLLOUT, end.min(now + Duration::from_millis(10)))
                    .map_err(|e| format!("waiting to send: {e}"))?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("sending after {sent} bytes: {e}")),
        }
    }
}

/// Read and discard what arrives until told to stop or the connection ends, noting
/// when the first byte came.
fn drain(stream: &TcpStream, done: &AtomicBool, first_arrival: &AtomicU64) {
    let mut buffer = vec![0u8; 256 << 10];
    while !done.load(Ordering::Relaxed) {
        match (&*stream).read(&mut buffer) {
            Ok(0) => return,
            Ok(_) => {
                let _ = first_arrival.compare_exchange(0, monotonic_nanos(), Ordering::Relaxed, Ordering::Relaxed);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return,
        }
    }
}

/// The bytes the kernel received on `stream` so far (TCP_INFO's `tcpi_bytes_received`,
/// Linux 4.1 and later), whether or not they were read.
fn bytes_received(stream: &TcpStream) -> io::Result<u64> {
    // SAFETY: a zeroed tcp_info is a valid value of the plain C struct.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut length = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is writable for `length` bytes, and the kernel writes at most that.
    let status = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut length,
        )
    };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    if (length as usize) < std::mem::offset_of!(libc::tcp_info, tcpi_bytes_received) + 8 {
        return Err(io::Error::new(io::ErrorKind::Unsupported, "this kernel's TCP_INFO has no tcpi_bytes_received"));
    }
    Ok(info.tcpi_bytes_received)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::{self, Topology, netlink};

    /// Nodes a (10.0.0.1) and b (10.0.0.2) on a veth, `qdisc` at the root of a's end.
    fn shaped_pair(qdisc: &str) -> (tokio::runtime::Runtime, Topology) {
        let scenario: crate::model::Scenario = serde_saphyr::from_str(&format!(
            "nodes:\n  a: {{interfaces: {{eth0: {{qdisc: {qdisc}}}}}}}\n  b: {{}}\n\
             links: [{{veth: [a:eth0 10.0.0.1/24, b:eth0 10.0.0.2/24]}}]\n"
        ))
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let topology = rt.block_on(build::build(&scenario)).unwrap();
        (rt, topology)
    }

    #[test]
    fn datagrams_a_queue_still_holds_are_waited_for_not_counted_lost() {
        needs_root!();
        // 50kbit sends a 1028-byte packet every 164 ms, longer than the receiver's
        // quiet period; the queue holds the whole stream, so every datagram arrives,
        // the last ones seconds after the sender is done.
        let (rt, topology) = shaped_pair("{tbf: {rate: 50kbit, burst: 2KiB, limit: 64KiB}}");
        let stream = Stream {
            to: "10.0.0.2:5001".parse().unwrap(),
            bits_per_second: 200_000,
            duration: Duration::from_millis(500),
            size: 1000,
            packet_bytes: 1028,
        };
        let backlog = || {
            let held = rt.block_on(netlink::qdisc_backlog(&topology.nodes["a"].netlink));
            held.map_err(|e| e.to_string())
        };
        let mut patience = crate::observe::probe::Impatient;
        let measured = run(&topology.nodes["a"].ns, &topology.nodes["b"], &stream, backlog, &mut patience).unwrap();
        assert_eq!(measured.sent, 13);
        assert_eq!((measured.received, measured.loss), (13, 0.0), "{measured:?}");
        rt.block_on(topology.teardown());
    }

    #[test]
    fn a_tcp_stream_delivers_what_the_path_lets_through() {
        needs_root!();
        // A deep queue: through a shallow one TCP loses whole bursts of segments and
        // may stall for a retransmission timeout, a rate that varies from run to run.
        let (rt, topology) = shaped_pair("{tbf: {rate: 2mbit, burst: 16KiB, limit: 256KiB}}");
        let backlog = || {
            let held = rt.block_on(netlink::qdisc_backlog(&topology.nodes["a"].netlink));
            held.map_err(|e| e.to_string())
        };
        let (a, b) = (&topology.nodes["a"], &topology.nodes["b"]);
        let to = "10.0.0.2:5002".parse().unwrap();
        // Offered 10mbit through 2mbit: the kernel received what the tbf let through,
        // a fraction of what was written (the rest was in the sender's buffer).
        let shaped = run_tcp(&a.ns, b, to, 10_000_000, Duration::from_secs(1), backlog).unwrap();
        assert!((1.7e6..2.1e6).contains(&shaped.rate), "{shaped:?}");
        assert!(shaped.received < shaped.sent / 2, "{shaped:?}");
        assert_eq!(backlog().unwrap(), 0, "the reset connection's queued segments are gone");
        // Unshaped, the other way: what was written arrived, at the rate offered.
        let back = "10.0.0.1:5002".parse().unwrap();
        let free = run_tcp(&b.ns, a, back, 8_000_000, Duration::from_millis(500), || Ok(0)).unwrap();
        assert!((7.2e6..8.8e6).contains(&free.rate), "{free:?}");
        assert!(free.received * 100 >= free.sent * 99, "{free:?}");
        // Nobody may listen on the address but the stream: a connection to where no
        // node has the address cannot be made, and the error says so.
        let nowhere =
            run_tcp(&a.ns, b, "10.0.0.9:5002".parse().unwrap(), 1_000_000, Duration::from_millis(100), || Ok(0));
        assert!(nowhere.unwrap_err().starts_with("cannot receive on 10.0.0.9:5002"));
        rt.block_on(topology.teardown());
    }
}
