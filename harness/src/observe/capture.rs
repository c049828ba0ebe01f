//! Packet capture on one interface of a node, with the direction of every packet.
//!
//! # Design
//!
//! A capture is a raw `AF_PACKET` socket opened inside the node's namespace, not a
//! libpcap live handle:
//!
//! * **Direction.** The kernel tells an `AF_PACKET` socket, per packet, whether the
//!   interface sent it (`PACKET_OUTGOING`) or received it (`PACKET_HOST`, `BROADCAST`,
//!   `MULTICAST`, `OTHERHOST`). Packet assertions need that ("the ARP reply is seen on
//!   br0 but not sent by veth0"), and a libpcap handle with Ethernet framing drops it.
//! * **Live on return, without sleeping.** The socket is created with protocol 0, so it
//!   receives nothing; the BPF filter is attached; only then is it bound to the
//!   interface with `ETH_P_ALL`. From the moment `bind` returns, every packet through
//!   the interface is queued on the socket, already filtered.
//! * **Cheap.** About 0.1 ms to open, against 7-12 ms for a libpcap handle (FIELD-NOTES),
//!   which matters when a step captures on many interfaces.
//!
//! libpcap is still used for what it does best: the filter is compiled by
//! `pcap_compile` on a dead handle, so filters use exact tcpdump syntax and errors carry
//! libpcap's own message. Because the program is compiled for plain Ethernet framing,
//! the few qualifiers that need a live Linux handle (`inbound`/`outbound`, `vlan` on
//! offloaded tags) are not available: use the assertion's `direction:` instead.
//!
//! Savefiles are written by [`write_pcap_to`] directly (into a run's artifact
//! directory, see [`crate::run::artifacts`]): the format is 24 bytes of header
//! and 16 per packet, and writing it ourselves keeps nanosecond timestamps and avoids a
//! dead libpcap handle whose snap length (65535) is smaller than the largest GSO frame
//! a veth can carry.
//!
//! # Edges
//!
//! * Packets reach the socket in the kernel's receive path. For traffic over veth,
//!   bridges and vxlan inside one machine that path normally runs to completion before
//!   the sending system call returns, and always before the receiving socket sees the
//!   packet. So: generate traffic, wait for its observable effect (the reply, the
//!   datagram received), then [`Capture::finish`]. A packet the kernel is still
//!   processing when `finish` drains (possible when softirq work is deferred to
//!   `ksoftirqd` under load, and the traffic had no observable end) may be missed.
//! * The socket buffer is raised to 32 MiB (tens of thousands of small packets). If it
//!   still overflows, `finish` reports how many packets were lost rather than returning
//!   a silently incomplete list.
//! * An interface that is down (or goes down) is fine: the kernel attaches the socket
//!   when it comes up, and the one-shot `ENETDOWN` it reports is skipped while draining.
//! * Timestamps are the kernel's, taken as the packet passes the interface. The kernel
//!   takes them only while some socket in the system wants them, and switches that on
//!   from a work queue, a moment after the first such socket asks; a packet arriving in
//!   between is stamped when it is read. A socket held for the life of the process
//!   ([`keep_timestamping_on`]) makes this happen once, around the first capture,
//!   instead of whenever no capture happened to be open.
//! * Layer-3 devices (tun) carry bare IP packets: they get a synthetic Ethernet header
//!   (zero MACs, ethertype from the IP version) so every [`Captured`] is an Ethernet
//!   frame for [`crate::observe::decode`] and for pcap files, and their filters are compiled for
//!   raw IP.

use std::io::{self, Write};
use std::mem;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::libc;
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, sockopt};

use crate::build::netns::Netns;
use crate::model::Direction;

/// One captured frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// When the kernel saw the packet (its receive or transmit timestamp).
    pub ts: SystemTime,
    /// As the kernel reports it on the captured interface; `None` for the rare packet
    /// types that are neither (e.g. looped-back multicast).
    pub direction: Option<Direction>,
    /// The Ethernet frame, without FCS.
    pub data: Vec<u8>,
}

/// Why a capture could not be started or completed. Every message names the interface;
/// the caller adds the node.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("capture on `{iface}`: no such interface")]
    NoSuchInterface { iface: String },
    #[error("capture on `{iface}`: bad filter: {message}")]
    BadFilter { iface: String, message: String },
    #[error("capture on `{iface}`: {dropped} packet(s) lost because the receive buffer was full")]
    Dropped { iface: String, dropped: u32 },
    #[error("capture on `{iface}`: {what}: {source}")]
    Io {
        iface: String,
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

/// A running capture: an `AF_PACKET` socket bound to one interface of one namespace.
#[derive(Debug)]
pub struct Capture {
    fd: OwnedFd,
    iface: String,
    /// The device carries bare IP packets (tun), see the module doc.
    layer3: bool,
}

/// Socket buffer to ask for: room for tens of thousands of small packets per step.
const RCVBUF: usize = 32 << 20;
/// Larger than any frame a veth can carry, GSO included (64 KiB IP + headers).
const MAX_FRAME: usize = 256 << 10;
/// `ARPHRD_NONE` (tun) and `ARPHRD_RAWIP`: devices without a link-layer header.
const LAYER3_HATYPES: [u16; 2] = [0xfffe, 519];
/// `DLT_RAW` on Linux: bare IPv4 or IPv6, which is what a tun device carries.
const DLT_RAW: i32 = 12;

impl Capture {
    /// Start capturing on `iface` inside `ns`, keeping only packets that match the
    /// tcpdump-syntax `filter`. When this returns, the capture is live.
    pub fn start(ns: &Netns, iface: &str, filter: Option<&str>) -> Result<Capture, CaptureError> {
        keep_timestamping_on();
        ns.run(|| Ok(open(iface, filter))).map_err(|source| CaptureError::Io {
            iface: iface.to_string(),
            what: "entering the namespace",
            source,
        })?
    }

    /// The captured interface's name.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// Stop capturing and return every packet captured, oldest first. Call it once
    /// the traffic's effect has been observed (see the module doc).
    pub fn finish(self) -> Result<Vec<Captured>, CaptureError> {
        let mut buf = vec![0u8; MAX_FRAME];
        let mut packets = Vec::new();
        while let Some(packet) = self.receive(&mut buf)? {
            packets.push(packet);
        }
        match self.dropped()? {
            0 => Ok(packets),
            dropped => Err(CaptureError::Dropped { iface: self.iface.clone(), dropped }),
        }
    }

    fn io_error(&self, what: &'static str, source: Errno) -> CaptureError {
        CaptureError::Io { iface: self.iface.clone(), what, source: source.into() }
    }

    /// The next queued packet, or `None` once the queue is empty.
    fn receive(&self, buf: &mut [u8]) -> Result<Option<Captured>, CaptureError> {
        loop {
            match recv_packet(self.fd.as_raw_fd(), buf) {
                Ok(r) => {
                    let data = &buf[..r.len.min(buf.len())];
                    return Ok(Some(Captured {
                        ts: r.ts.unwrap_or_else(SystemTime::now),
                        direction: direction(r.pkttype),
                        data: if self.layer3 { with_ethernet_header(data) } else { data.to_vec() },
                    }));
                }
                Err(Errno::EAGAIN) => return Ok(None),
                // One-shot notices that the interface went down or away at some point;
                // the packets queued before and after are still there.
                Err(Errno::EINTR | Errno::ENETDOWN | Errno::ENODEV) => continue,
                Err(e) => return Err(self.io_error("reading packets", e)),
            }
        }
    }

    /// Packets the kernel dropped because the socket buffer was full.
    fn dropped(&self) -> Result<u32, CaptureError> {
        // SAFETY: `tpacket_stats` is plain integers; the kernel fills at most `len` bytes.
        let mut stats: libc::tpacket_stats = unsafe { mem::zeroed() };
        let mut len = mem::size_of_val(&stats) as libc::socklen_t;
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&raw mut stats).cast(),
                &mut len,
            )
        };
        Errno::result(rc).map_err(|e| self.io_error("reading drop statistics", e))?;
        Ok(stats.tp_drops)
    }
}

/// Keep the kernel's packet timestamping switched on from the first capture to the end
/// of the process (see the module doc). The socket is an unbound UDP socket in the
/// caller's namespace: it binds no port, sends nothing and pins no node's namespace.
fn keep_timestamping_on() {
    static KEEPER: OnceLock<Option<OwnedFd>> = OnceLock::new();
    KEEPER.get_or_init(|| {
        let fd = socket::socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None).ok()?;
        socket::setsockopt(&fd, sockopt::ReceiveTimestampns, &true).ok()?;
        Some(fd)
    });
}

/// Open the socket; runs on a thread inside the namespace.
fn open(iface: &str, filter: Option<&str>) -> Result<Capture, CaptureError> {
    let io_err =
        |what: &'static str| move |e: Errno| CaptureError::Io { iface: iface.to_string(), what, source: e.into() };
    let ifindex = nix::net::if_::if_nametoindex(iface).map_err(|e| match e {
        Errno::ENODEV => CaptureError::NoSuchInterface { iface: iface.to_string() },
        e => io_err("looking up the interface")(e),
    })?;
    // Protocol 0: the socket receives nothing until it is bound with ETH_P_ALL below.
    let fd =
        socket::socket(AddressFamily::Packet, SockType::Raw, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC, None)
            .map_err(io_err("creating an AF_PACKET socket"))?;
    // Bound with protocol 0 it is attached to the device without receiving yet, which
    // is enough to ask the device's link type.
    bind_packet(&fd, ifindex, 0).map_err(io_err("binding to the interface"))?;
    let layer3 = LAYER3_HATYPES.contains(&bound_link(&fd).map_err(io_err("reading the link type"))?.sll_hatype);
    if let Some(filter) = filter {
        let program = compile_filter(filter, layer3)
            .map_err(|message| CaptureError::BadFilter { iface: iface.to_string(), message })?;
        attach_filter(&fd, &program).map_err(io_err("attaching the filter"))?;
    }
    socket::setsockopt(&fd, sockopt::ReceiveTimestampns, &true).map_err(io_err("enabling timestamps"))?;
    // Forcing the size needs CAP_NET_ADMIN; without it the kernel's rmem_max applies.
    if socket::setsockopt(&fd, sockopt::RcvBufForce, &RCVBUF).is_err() {
        socket::setsockopt(&fd, sockopt::RcvBuf, &RCVBUF).map_err(io_err("sizing the receive buffer"))?;
    }
    bind_packet(&fd, ifindex, libc::ETH_P_ALL as u16).map_err(io_err("binding to the interface"))?;
    Ok(Capture { fd, iface: iface.to_string(), layer3 })
}

/// Bind an `AF_PACKET` socket to interface `ifindex`, receiving frames of `protocol`
/// (an ethertype, `ETH_P_ALL`, or 0 for none: enough to send).
pub(crate) fn bind_packet(fd: &OwnedFd, ifindex: u32, protocol: u16) -> Result<(), Errno> {
    // SAFETY: an all-zero sockaddr_ll is valid; the fields that matter are set below.
    let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = protocol.to_be();
    addr.sll_ifindex = ifindex as i32;
    // SAFETY: `addr` is a properly initialised sockaddr_ll and its size is passed along.
    let rc =
        unsafe { libc::bind(fd.as_raw_fd(), (&raw const addr).cast(), mem::size_of_val(&addr) as libc::socklen_t) };
    Errno::result(rc).map(drop)
}

/// The device an `AF_PACKET` socket is bound to: its `ARPHRD_*` type (`sll_hatype`)
/// and hardware address (`sll_addr`, `sll_halen` bytes of it).
pub(crate) fn bound_link(fd: &OwnedFd) -> Result<libc::sockaddr_ll, Errno> {
    // The kernel returns fewer bytes than sizeof(sockaddr_ll) (the address is 6 bytes,
    // the field 8), which is why this is not nix's `getsockname::<LinkAddr>`.
    // SAFETY: zeroed sockaddr_ll is valid; the kernel writes at most `len` bytes.
    let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
    let mut len = mem::size_of_val(&addr) as libc::socklen_t;
    let rc = unsafe { libc::getsockname(fd.as_raw_fd(), (&raw mut addr).cast(), &mut len) };
    Errno::result(rc)?;
    Ok(addr)
}

/// Compile a tcpdump-syntax filter into a classic BPF program for the socket. The error
/// is libpcap's message.
fn compile_filter(filter: &str, layer3: bool) -> Result<Vec<libc::sock_filter>, String> {
    let linktype = if layer3 { pcap::Linktype(DLT_RAW) } else { pcap::Linktype::ETHERNET };
    let libpcap_message = |e: pcap::Error| match e {
        pcap::Error::PcapError(message) => message,
        other => other.to_string(),
    };
    let dead = pcap::Capture::dead(linktype).map_err(libpcap_message)?;
    let program = dead.compile(filter, true).map_err(libpcap_message)?;
    let instructions = program.get_instructions();
    const _: () = assert!(mem::size_of::<pcap::BpfInstruction>() == mem::size_of::<libc::sock_filter>());
    // SAFETY: `BpfInstruction` is `repr(transparent)` over libpcap's `struct bpf_insn`
    // {u16 code; u8 jt; u8 jf; u32 k}, which is the kernel's `struct sock_filter`.
    let instructions: &[libc::sock_filter] =
        unsafe { std::slice::from_raw_parts(instructions.as_ptr().cast(), instructions.len()) };
    Ok(instructions.iter().map(accept_whole_frames).collect())
}

/// libpcap bakes the dead handle's snap length (65535) into every "accept" return,
/// and the kernel would cut frames to it; accept them whole instead.
fn accept_whole_frames(insn: &libc::sock_filter) -> libc::sock_filter {
    const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K
    let mut insn = *insn;
    if insn.code == BPF_RET_K && insn.k != 0 {
        insn.k = u32::MAX;
    }
    insn
}

fn attach_filter(fd: &OwnedFd, program: &[libc::sock_filter]) -> Result<(), Errno> {
    let fprog = libc::sock_fprog {
        len: u16::try_from(program.len()).map_err(|_| Errno::E2BIG)?,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` points at `program`, alive for the call; the kernel copies it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&raw const fprog).cast(),
            mem::size_of_val(&fprog) as libc::socklen_t,
        )
    };
    Errno::result(rc).map(drop)
}

struct Received {
    /// Length of the packet, which may exceed the buffer.
    len: usize,
    pkttype: u8,
    ts: Option<SystemTime>,
}

/// One non-blocking `recvmsg`: the packet into `buf`, its `sll_pkttype` and its
/// kernel timestamp. Written against libc because nix rejects the short `sockaddr_ll`
/// the kernel returns (see [`bound_link`]).
fn recv_packet(fd: RawFd, buf: &mut [u8]) -> Result<Received, Errno> {
    // SAFETY (whole function): every pointer handed to the kernel points at a local
    // that outlives the call, with its true size; cmsgs are walked with the libc macros
    // inside the control length the kernel reported.
    let mut from: libc::sockaddr_ll = unsafe { mem::zeroed() };
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // u64 elements give the alignment cmsghdr needs.
    let mut control = [0u64; 8];
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_name = (&raw mut from).cast();
    msg.msg_namelen = mem::size_of_val(&from) as libc::socklen_t;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = mem::size_of_val(&control);
    // MSG_TRUNC makes the result the packet's real length even if it did not fit.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT | libc::MSG_TRUNC) };
    let len = usize::try_from(Errno::result(n)?).unwrap_or(0);
    let mut ts = None;
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while let Some(c) = unsafe { cmsg.as_ref() } {
        if c.cmsg_level == libc::SOL_SOCKET && c.cmsg_type == libc::SCM_TIMESTAMPNS {
            let spec: libc::timespec = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(c).cast()) };
            ts = Some(UNIX_EPOCH + Duration::new(spec.tv_sec as u64, spec.tv_nsec as u32));
        }
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Ok(Received { len, pkttype: from.sll_pkttype, ts })
}

/// The kernel's packet type as a direction on the captured interface.
fn direction(pkttype: u8) -> Option<Direction> {
    match pkttype {
        libc::PACKET_OUTGOING => Some(Direction::Out),
        libc::PACKET_HOST | libc::PACKET_BROADCAST | libc::PACKET_MULTICAST | libc::PACKET_OTHERHOST => {
            Some(Direction::In)
        }
        _ => None,
    }
}

/// A bare IP packet from a layer-3 device, framed as Ethernet (see the module doc).
fn with_ethernet_header(packet: &[u8]) -> Vec<u8> {
    let ethertype: u16 = match packet.first().map(|b| b >> 4) {
        Some(4) => 0x0800,
        Some(6) => 0x86dd,
        _ => 0,
    };
    let mut frame = Vec::with_capacity(14 + packet.len());
    frame.extend_from_slice(&[0; 12]);
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(packet);
    frame
}

/// pcap savefile header values: nanosecond-resolution magic, format 2.4, libpcap's
/// maximum snap length, LINKTYPE_ETHERNET.
const PCAP_MAGIC_NANOS: u32 = 0xa1b2_3c4d;
const PCAP_SNAPLEN: u32 = 262_144;
const LINKTYPE_ETHERNET: u32 = 1;

/// Write `packets` as a pcap savefile (Ethernet, nanosecond timestamps) readable by
/// `tcpdump -r` and Wireshark, to any writer (a run's artifact file; a fixture generator
/// compares the bytes in memory).
pub fn write_pcap_to(out: &mut (impl Write + ?Sized), packets: &[Captured]) -> io::Result<()> {
    let header: [u32; 6] = [PCAP_MAGIC_NANOS, 0x0004_0002, 0, 0, PCAP_SNAPLEN, LINKTYPE_ETHERNET];
    // Version is two u16 (major 2, minor 4): written as one little-endian u32 above.
    for word in header {
        out.write_all(&word.to_le_bytes())?;
    }
    for packet in packets {
        write_record(out, packet)?;
    }
    Ok(())
}

fn write_record(out: &mut (impl Write + ?Sized), packet: &Captured) -> io::Result<()> {
    let since_epoch = packet.ts.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = u32::try_from(since_epoch.as_secs()).unwrap_or(u32::MAX);
    let len = u32::try_from(packet.data.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame larger than 4 GiB"))?;
    for word in [secs, since_epoch.subsec_nanos(), len, len] {
        out.write_all(&word.to_le_bytes())?;
    }
    out.write_all(&packet.data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::netns::fixture::{ip, ns_path};
    use crate::model::ArpOp;
    use crate::observe::decode::{Packet, decode};
    use std::fs;
    use std::net::UdpSocket;
    use std::process::Command;

    fn save(path: &std::path::Path, packets: &[Captured]) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        write_pcap_to(&mut fs::File::create(path).unwrap(), packets).unwrap();
    }

    // ----- no root needed -----

    #[test]
    fn packet_types_map_to_directions() {
        assert_eq!(direction(libc::PACKET_OUTGOING), Some(Direction::Out));
        for incoming in [libc::PACKET_HOST, libc::PACKET_BROADCAST, libc::PACKET_MULTICAST, libc::PACKET_OTHERHOST] {
            assert_eq!(direction(incoming), Some(Direction::In));
        }
        assert_eq!(direction(5), None); // PACKET_LOOPBACK
    }

    #[test]
    fn filters_compile_with_libpcap_messages() {
        let program = compile_filter("udp port 53", false).unwrap();
        assert!(program.iter().any(|i| i.code == 0x06 && i.k == u32::MAX), "accepts whole frames");
        assert!(program.iter().all(|i| i.code != 0x06 || i.k == 0 || i.k == u32::MAX));
        assert!(compile_filter("ip6 and tcp", true).is_ok(), "raw-IP filters compile too");
        let err = compile_filter("udp port", false).unwrap_err();
        assert!(err.contains("syntax error"), "{err}");
        let err = compile_filter("host 10.0.0.300", false).unwrap_err();
        assert!(!err.is_empty() && !err.starts_with("libpcap error"), "{err}");
    }

    #[test]
    fn layer3_packets_get_an_ethernet_header() {
        let frame = with_ethernet_header(&[0x45, 0, 0, 20]);
        assert_eq!(&frame[12..14], &[0x08, 0x00]);
        assert_eq!(&frame[14..], &[0x45, 0, 0, 20]);
        assert_eq!(&with_ethernet_header(&[0x60])[12..14], &[0x86, 0xdd]);
    }

    fn scratch_dir(test: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("netrig-capture-{test}-{}", std::process::id()))
    }

    #[test]
    fn pcap_files_round_trip_through_libpcap() {
        let dir = scratch_dir("roundtrip");
        let path = dir.join("nested/dir/out.pcap");
        let ts = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let packets = [
            Captured { ts, direction: Some(Direction::Out), data: vec![0xff; 60] },
            Captured { ts: ts + Duration::from_micros(5), direction: None, data: vec![1, 2, 3] },
        ];
        save(&path, &packets);
        let mut file = pcap::Capture::from_file_with_precision(&path, pcap::Precision::Nano).unwrap();
        assert_eq!(file.get_datalink(), pcap::Linktype::ETHERNET);
        for expected in &packets {
            let read = file.next_packet().unwrap();
            let since = expected.ts.duration_since(UNIX_EPOCH).unwrap();
            assert_eq!(read.header.ts.tv_sec as u64, since.as_secs());
            assert_eq!(read.header.ts.tv_usec as u32, since.subsec_nanos());
            assert_eq!(read.data, &expected.data[..]);
        }
        assert!(file.next_packet().is_err());
        fs::remove_dir_all(dir).unwrap();
    }

    // ----- root: real namespaces -----

    /// Two namespaces joined by a0 (10.0.0.1/24, in `a`) <-> b0 (10.0.0.2/24, in `b`).
    /// IPv6 is off in both so that no DAD/MLD/RS noise lands in the captures.
    struct Pair {
        a: Netns,
        b: Netns,
    }

    impl Pair {
        fn new(a0_up: bool) -> Pair {
            let pair = Pair { a: Netns::new().unwrap(), b: Netns::new().unwrap() };
            for ns in [&pair.a, &pair.b] {
                ns.run(|| fs::write("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1")).unwrap();
            }
            ip(&pair.a, &format!("link add a0 type veth peer name b0 netns {}", ns_path(&pair.b)));
            ip(&pair.a, "addr add 10.0.0.1/24 dev a0");
            ip(&pair.b, "addr add 10.0.0.2/24 dev b0");
            ip(&pair.b, "link set b0 up");
            if a0_up {
                ip(&pair.a, "link set a0 up");
            }
            pair
        }

        /// Send one datagram from `a` to 10.0.0.2 on each port and wait until `b` has
        /// received them all: by then every packet of the exchange (ARP included) has
        /// passed both captures.
        fn udp_to_b(&self, ports: &[u16]) {
            let receivers: Vec<UdpSocket> = ports
                .iter()
                .map(|&port| {
                    let sock = self.b.run(move || UdpSocket::bind(("10.0.0.2", port))).unwrap();
                    // A deadline for failure, not a synchronisation delay.
                    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    sock
                })
                .collect();
            let sender = self.a.run(|| UdpSocket::bind("10.0.0.1:40000")).unwrap();
            for &port in ports {
                sender.send_to(b"netrig", ("10.0.0.2", port)).unwrap();
            }
            for (rx, port) in receivers.iter().zip(ports) {
                let mut buf = [0u8; 16];
                let (n, _) = rx.recv_from(&mut buf).unwrap_or_else(|e| panic!("datagram to port {port}: {e}"));
                assert_eq!(&buf[..n], b"netrig");
            }
        }
    }

    fn decoded(packets: &[Captured]) -> Vec<(Option<Direction>, Packet)> {
        packets.iter().map(|c| (c.direction, decode(&c.data))).collect()
    }

    fn has_arp(packets: &[(Option<Direction>, Packet)], op: ArpOp, dir: Direction) -> bool {
        packets.iter().any(|(d, p)| *d == Some(dir) && p.arp.as_ref().is_some_and(|a| a.op == op))
    }

    fn udp_to(packets: &[(Option<Direction>, Packet)], port: u16) -> Vec<Option<Direction>> {
        packets.iter().filter(|(_, p)| p.udp.as_ref().is_some_and(|u| u.dst_port == port)).map(|(d, _)| *d).collect()
    }

    fn render(packets: &[(Option<Direction>, Packet)]) -> String {
        packets.iter().map(|(d, p)| format!("{d:?} {p}\n")).collect()
    }

    #[test]
    fn both_ends_see_the_exchange_with_directions() {
        needs_root!();
        let pair = Pair::new(true);
        let before = SystemTime::now();
        let on_a = Capture::start(&pair.a, "a0", None).unwrap();
        let on_b = Capture::start(&pair.b, "b0", None).unwrap();
        pair.udp_to_b(&[45000]);
        let (raw_a, raw_b) = (on_a.finish().unwrap(), on_b.finish().unwrap());
        let (a, b) = (decoded(&raw_a), decoded(&raw_b));

        assert!(has_arp(&a, ArpOp::Request, Direction::Out), "a0:\n{}", render(&a));
        assert!(has_arp(&a, ArpOp::Reply, Direction::In), "a0:\n{}", render(&a));
        assert!(has_arp(&b, ArpOp::Request, Direction::In), "b0:\n{}", render(&b));
        assert!(has_arp(&b, ArpOp::Reply, Direction::Out), "b0:\n{}", render(&b));
        assert_eq!(udp_to(&a, 45000), [Some(Direction::Out)], "a0:\n{}", render(&a));
        assert_eq!(udp_to(&b, 45000), [Some(Direction::In)], "b0:\n{}", render(&b));
        // Kernel timestamps, or read times for packets in the moment after the process
        // first switched timestamping on (module doc): either way inside the test.
        let finished = SystemTime::now();
        for c in raw_a.iter().chain(&raw_b) {
            assert!(before <= c.ts && c.ts <= finished, "timestamp {:?} outside {before:?}..{finished:?}", c.ts);
        }
    }

    #[test]
    fn the_filter_keeps_only_matching_packets() {
        needs_root!();
        let pair = Pair::new(true);
        let cap = Capture::start(&pair.a, "a0", Some("udp dst port 45001")).unwrap();
        pair.udp_to_b(&[45002, 45001]);
        let a = decoded(&cap.finish().unwrap());
        assert_eq!(a.len(), 1, "a0:\n{}", render(&a));
        assert_eq!(udp_to(&a, 45001), [Some(Direction::Out)]);
    }

    #[test]
    fn a_bridge_and_its_port_are_captured_together() {
        needs_root!();
        let pair = Pair::new(true);
        ip(&pair.b, "addr del 10.0.0.2/24 dev b0");
        ip(&pair.b, "link add br0 type bridge");
        ip(&pair.b, "link set b0 master br0");
        ip(&pair.b, "addr add 10.0.0.2/24 dev br0");
        ip(&pair.b, "link set br0 up");
        let port = Capture::start(&pair.b, "b0", None).unwrap();
        let bridge = Capture::start(&pair.b, "br0", Some("udp or arp")).unwrap();
        pair.udp_to_b(&[45003]);
        let (port, bridge) = (decoded(&port.finish().unwrap()), decoded(&bridge.finish().unwrap()));
        assert_eq!(udp_to(&port, 45003), [Some(Direction::In)], "b0:\n{}", render(&port));
        assert_eq!(udp_to(&bridge, 45003), [Some(Direction::In)], "br0:\n{}", render(&bridge));
        // br0 owns the address, so its stack answers ARP and the reply leaves by the port.
        assert!(has_arp(&bridge, ArpOp::Reply, Direction::Out), "br0:\n{}", render(&bridge));
        assert!(has_arp(&port, ArpOp::Reply, Direction::Out), "b0:\n{}", render(&port));
    }

    #[test]
    fn a_capture_started_while_the_interface_is_down_sees_traffic_after_up() {
        needs_root!();
        let pair = Pair::new(false);
        let cap = Capture::start(&pair.a, "a0", None).unwrap();
        ip(&pair.a, "link set a0 up");
        pair.udp_to_b(&[45004]);
        let a = decoded(&cap.finish().unwrap());
        assert_eq!(udp_to(&a, 45004), [Some(Direction::Out)], "a0:\n{}", render(&a));
        assert!(has_arp(&a, ArpOp::Reply, Direction::In), "a0:\n{}", render(&a));
    }

    #[test]
    fn tcpdump_reads_the_pcap_file() {
        needs_root!();
        let pair = Pair::new(true);
        let cap = Capture::start(&pair.a, "a0", None).unwrap();
        pair.udp_to_b(&[45005]);
        let packets = cap.finish().unwrap();
        let dir = scratch_dir("tcpdump");
        let path = dir.join("a/a0.pcap");
        save(&path, &packets);
        let out = Command::new("tcpdump").args(["-n", "-r"]).arg(&path).output().expect("run tcpdump");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "tcpdump: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(text.lines().count(), packets.len(), "{text}");
        assert!(text.contains("ARP, Request who-has 10.0.0.2 tell 10.0.0.1"), "{text}");
        assert!(text.contains("ARP, Reply 10.0.0.2 is-at"), "{text}");
        assert!(text.contains("10.0.0.1.40000 > 10.0.0.2.45005: UDP, length 6"), "{text}");
        fs::remove_dir_all(dir).unwrap();
    }

    /// Create tun device `name` inside `ns`; it exists as long as the returned fd.
    fn open_tun(ns: &Netns, name: &str) -> fs::File {
        ns.run(|| {
            let tun = fs::OpenOptions::new().read(true).write(true).open("/dev/net/tun")?;
            // SAFETY: an all-zero ifreq is valid; name and flags are set before the ioctl,
            // which reads exactly one ifreq.
            let mut req: libc::ifreq = unsafe { mem::zeroed() };
            for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
                *dst = src as libc::c_char;
            }
            req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
            let rc = unsafe { libc::ioctl(tun.as_raw_fd(), libc::TUNSETIFF, &raw mut req) };
            Errno::result(rc)?;
            Ok(tun)
        })
        .unwrap()
    }

    #[test]
    fn a_tun_device_is_captured_as_ethernet_frames() {
        needs_root!();
        let ns = Netns::new().unwrap();
        let mut tun = open_tun(&ns, "tun0");
        ip(&ns, "addr add 10.9.0.1/24 dev tun0");
        ip(&ns, "link set tun0 up");
        let rx = ns.run(|| UdpSocket::bind("10.9.0.1:45006")).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let cap = Capture::start(&ns, "tun0", Some("udp port 45006")).unwrap();
        assert!(cap.layer3);

        // Writing an IP packet to the tun fd makes tun0 receive it.
        let mut packet = Vec::new();
        etherparse::PacketBuilder::ipv4([10, 9, 0, 2], [10, 9, 0, 1], 64)
            .udp(40000, 45006)
            .write(&mut packet, b"via tun")
            .unwrap();
        tun.write_all(&packet).unwrap();
        rx.recv_from(&mut [0u8; 16]).expect("datagram through tun0");

        let got = decoded(&cap.finish().unwrap());
        assert_eq!(udp_to(&got, 45006), [Some(Direction::In)], "tun0:\n{}", render(&got));
        let (_, p) = &got[0];
        assert_eq!(p.eth.as_ref().map(|e| e.ethertype.to_string()).as_deref(), Some("ipv4"));
        assert_eq!(p.to_string(), "IPv4 10.9.0.2:40000 > 10.9.0.1:45006 UDP len 7 ttl 64");
    }

    #[test]
    fn an_unknown_interface_is_named_in_the_error() {
        needs_root!();
        let ns = Netns::new().unwrap();
        let err = Capture::start(&ns, "nope0", None).unwrap_err();
        assert!(matches!(err, CaptureError::NoSuchInterface { .. }), "{err:?}");
        assert_eq!(err.to_string(), "capture on `nope0`: no such interface");
    }

    #[test]
    fn a_bad_filter_carries_the_libpcap_message() {
        needs_root!();
        let ns = Netns::new().unwrap();
        let err = Capture::start(&ns, "lo", Some("udp port")).unwrap_err();
        assert!(matches!(err, CaptureError::BadFilter { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.starts_with("capture on `lo`: bad filter: ") && text.contains("syntax error"), "{text}");
    }
}
