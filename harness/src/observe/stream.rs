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

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::build::NodeHandle;
use crate::build::netns::Netns;
use crate::observe::counters;
use crate::observe::probe::Patience;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::{self, netlink};

    #[test]
    fn datagrams_a_queue_still_holds_are_waited_for_not_counted_lost() {
        needs_root!();
        // 50kbit sends a 1028-byte packet every 164 ms, longer than the receiver's
        // quiet period; the queue holds the whole stream, so every datagram arrives,
        // the last ones seconds after the sender is done.
        let scenario: crate::model::Scenario = serde_saphyr::from_str(
            r#"
nodes:
  a: {interfaces: {eth0: {qdisc: {tbf: {rate: 50kbit, burst: 2KiB, limit: 64KiB}}}}}
  b: {}
links: [{veth: [a:eth0 10.0.0.1/24, b:eth0 10.0.0.2/24]}]
"#,
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let topology = rt.block_on(build::build(&scenario)).unwrap();
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
}
