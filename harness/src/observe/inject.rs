//! Frames put on the wire out of one interface of a node: the `send` action's crafted
//! frames ([`crate::observe::frame`]) and the `replay` action's frames from a pcap file;
//! and crafted IP packets sent through a node's IP stack ([`StackSender`]).
//!
//! The frame is written to an `AF_PACKET` socket opened inside the node's namespace
//! and bound to the interface with protocol 0, so the socket receives nothing and
//! only sends. The frame leaves through the interface exactly as written (the kernel
//! adds no header, checksum or padding), as if the node had sent it: the veth peer or
//! the bridge behind the interface receives it, while the node's own IP stack never
//! sees it. Over veth the receiving side normally processes the frame before `send`
//! returns (see the `capture` module doc for the same argument).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::libc;
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType};

use crate::build::netns::Netns;
use crate::model::MacAddr;
use crate::observe::capture::{bind_packet, bound_link};

/// An `AF_PACKET` socket that sends frames out of one interface.
#[derive(Debug)]
pub struct Injector {
    fd: OwnedFd,
    iface: String,
    mac: MacAddr,
}

impl Injector {
    /// Open the socket for `iface` inside `ns`. Only Ethernet interfaces (veth, bridge,
    /// tap, macvlan, vxlan) take frames this way.
    pub fn open(ns: &Netns, iface: &str) -> io::Result<Injector> {
        ns.run(|| open(iface)).map_err(|e| io::Error::new(e.kind(), format!("send out of `{iface}`: {e}")))
    }

    /// The interface's own MAC address (the default Ethernet source of crafted frames).
    pub fn mac(&self) -> MacAddr {
        self.mac
    }

    /// Put one frame on the wire. A frame the interface cannot take (the interface is
    /// down, the frame exceeds its MTU) is an error naming the interface.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        let sent = loop {
            match socket::send(self.fd.as_raw_fd(), frame, MsgFlags::empty()) {
                Err(Errno::EINTR) => continue,
                other => break other,
            }
        };
        match sent {
            Ok(n) if n == frame.len() => Ok(()),
            Ok(n) => Err(io::Error::other(format!("`{}` took {n} of {} bytes", self.iface, frame.len()))),
            Err(e) => {
                let message = format!("send out of `{}`: {}", self.iface, e.desc());
                Err(io::Error::new(io::Error::from(e).kind(), message))
            }
        }
    }
}

/// A raw IP socket (`IPPROTO_RAW`, which implies that the packet carries its own IP
/// header) in a node: a packet written to it is routed by the node as one it sends
/// itself, through its routes, netfilter's OUTPUT and POSTROUTING hooks and neighbour
/// resolution (a packet waiting for a neighbour is queued, as any other).
#[derive(Debug)]
pub struct StackSender {
    socket: socket2::Socket,
}

impl StackSender {
    pub fn open(ns: &Netns, v6: bool) -> io::Result<StackSender> {
        let domain = if v6 { socket2::Domain::IPV6 } else { socket2::Domain::IPV4 };
        let protocol = socket2::Protocol::from(libc::IPPROTO_RAW);
        let socket = ns.run(|| socket2::Socket::new(domain, socket2::Type::RAW, Some(protocol)))?;
        Ok(StackSender { socket })
    }

    /// Send one IP packet (header included) to `dst`, its destination. The kernel's
    /// refusal (no route: ENETUNREACH, a packet above the MTU: EMSGSIZE) is the error.
    pub fn send(&self, packet: &[u8], dst: IpAddr) -> io::Result<()> {
        let to = socket2::SockAddr::from(SocketAddr::new(dst, 0));
        self.socket.send_to(packet, &to).map(|_| ()).map_err(|e| {
            let message = format!("send to {dst}: {}", describe_errno(&e));
            io::Error::new(e.kind(), message)
        })
    }
}

fn describe_errno(e: &io::Error) -> String {
    e.raw_os_error().map_or_else(|| e.to_string(), |n| Errno::from_raw(n).desc().to_string())
}

/// The source address the node's kernel chooses for a packet to `dst` (out of `dev`
/// when given), as for any socket of its own: a UDP socket connected to `dst` is given
/// it, and sends nothing.
pub fn source_for(ns: &Netns, dev: Option<&str>, dst: IpAddr) -> io::Result<IpAddr> {
    let chosen = ns.run(|| {
        let socket =
            socket2::Socket::new(socket2::Domain::for_address(SocketAddr::new(dst, 0)), socket2::Type::DGRAM, None)?;
        if let Some(dev) = dev {
            socket.bind_device(Some(dev.as_bytes()))?;
        }
        socket.connect(&SocketAddr::new(dst, 9).into())?;
        socket.local_addr()?.as_socket().map(|a| a.ip()).ok_or_else(|| io::Error::other("not an IP socket"))
    });
    chosen.map_err(|e| {
        let out = dev.map(|d| format!(" out of `{d}`")).unwrap_or_default();
        io::Error::new(e.kind(), format!("no source address for {dst}{out} ({}): give `src`", describe_errno(&e)))
    })
}

/// Runs on a thread inside the namespace.
fn open(iface: &str) -> io::Result<Injector> {
    let ifindex = nix::net::if_::if_nametoindex(iface).map_err(|e| match e {
        Errno::ENODEV => io::Error::new(io::ErrorKind::NotFound, "no such interface"),
        e => e.into(),
    })?;
    let fd = socket::socket(AddressFamily::Packet, SockType::Raw, SockFlag::SOCK_CLOEXEC, None)?;
    bind_packet(&fd, ifindex, 0)?;
    let link = bound_link(&fd)?;
    if link.sll_hatype != libc::ARPHRD_ETHER || link.sll_halen != 6 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not an Ethernet interface (ARPHRD type {})", link.sll_hatype),
        ));
    }
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&link.sll_addr[..6]);
    Ok(Injector { fd, iface: iface.to_string(), mac: MacAddr(mac) })
}

/// The frames of a pcap savefile, in file order. The file must hold Ethernet frames
/// captured whole: a frame cut by the capture's snap length cannot be replayed.
pub fn read_pcap(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let name = path.display();
    let mut capture = pcap::Capture::from_file(path).map_err(|e| format!("{name}: {e}"))?;
    let linktype = capture.get_datalink();
    if linktype != pcap::Linktype::ETHERNET {
        let what = linktype.get_name().unwrap_or_else(|_| linktype.0.to_string());
        return Err(format!("{name}: link type {what}: only Ethernet captures can be replayed"));
    }
    let mut frames = Vec::new();
    loop {
        match capture.next_packet() {
            Ok(packet) if packet.header.caplen < packet.header.len => {
                return Err(format!(
                    "{name}: frame {} was cut to {} of its {} bytes when captured",
                    frames.len() + 1,
                    packet.header.caplen,
                    packet.header.len
                ));
            }
            Ok(packet) => frames.push(packet.data.to_vec()),
            Err(pcap::Error::NoMorePackets) => return Ok(frames),
            Err(e) => return Err(format!("{name}: frame {}: {e}", frames.len() + 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::netns::fixture::{ip, ns_path};
    use crate::model::{ArpFrame, Direction};
    use crate::observe::capture::{Capture, Captured, write_pcap_to};
    use crate::observe::decode::decode;
    use crate::observe::exec;
    use crate::observe::frame::ArpFields;
    use std::time::{Duration, UNIX_EPOCH};

    /// The gratuitous ARP of `fixtures/garp-10.0.0.9.pcap`: 10.0.0.9 announced at
    /// 02:00:00:00:00:09 by that host itself, as a request to everyone.
    fn garp_frame() -> Vec<u8> {
        let spec: ArpFrame = serde_saphyr::from_str("{sender_ip: 10.0.0.9}").unwrap();
        ArpFields::of(&spec, MacAddr([0x02, 0, 0, 0, 0, 0x09])).to_frame()
    }

    fn fixture(name: &str) -> std::path::PathBuf {
        crate::run::runner::workspace_root().join("fixtures").join(name)
    }

    /// The shipped fixture is generated here: `NETRIG_UPDATE_FIXTURES=1 cargo test
    /// fixture` rewrites it; otherwise the committed bytes must match.
    #[test]
    fn the_shipped_garp_fixture_is_what_the_frame_builder_makes() {
        // A fixed timestamp (2024-01-01T00:00:00Z): the file does not change between runs.
        let packet =
            Captured { ts: UNIX_EPOCH + Duration::from_secs(1_704_067_200), direction: None, data: garp_frame() };
        let mut expected = Vec::new();
        write_pcap_to(&mut expected, &[packet]).unwrap();
        let path = fixture("garp-10.0.0.9.pcap");
        if std::env::var_os("NETRIG_UPDATE_FIXTURES").is_some() {
            std::fs::write(&path, &expected).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == expected,
            "{} is out of date: run `NETRIG_UPDATE_FIXTURES=1 cargo test fixture` and commit it",
            path.display()
        );
    }

    #[test]
    fn pcap_files_are_read_frame_by_frame() {
        let frames = read_pcap(&fixture("garp-10.0.0.9.pcap")).unwrap();
        assert_eq!(frames, [garp_frame()]);
        assert_eq!(
            decode(&frames[0]).to_string(),
            "02:00:00:00:00:09 > ff:ff:ff:ff:ff:ff ARP request who-has 10.0.0.9 tell 10.0.0.9"
        );
    }

    #[test]
    fn unusable_pcap_files_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let missing = read_pcap(&dir.path().join("nope.pcap")).unwrap_err();
        assert!(missing.contains("nope.pcap"), "{missing}");

        // Link type 101 (raw IP), one empty record: not Ethernet.
        let raw_ip = dir.path().join("raw.pcap");
        let header: Vec<u8> =
            [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 101].iter().flat_map(|w| w.to_le_bytes()).collect();
        std::fs::write(&raw_ip, &header).unwrap();
        let error = read_pcap(&raw_ip).unwrap_err();
        assert!(error.ends_with("link type RAW: only Ethernet captures can be replayed"), "{error}");

        // Ethernet, one frame of 60 bytes of which 14 were kept.
        let cut = dir.path().join("cut.pcap");
        let mut bytes: Vec<u8> =
            [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 14, 1].iter().flat_map(|w| w.to_le_bytes()).collect();
        bytes.extend([0u32, 0, 14, 60].iter().flat_map(|w| w.to_le_bytes()));
        bytes.extend([0u8; 14]);
        std::fs::write(&cut, &bytes).unwrap();
        let error = read_pcap(&cut).unwrap_err();
        assert!(error.ends_with("frame 1 was cut to 14 of its 60 bytes when captured"), "{error}");
    }

    #[test]
    fn a_sent_frame_leaves_the_interface_and_reaches_the_peer() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let (a, b) = (Netns::new().unwrap(), Netns::new().unwrap());
        let sh = |ns: &Netns, line: &str| {
            let out = exec::run(ns, line, Duration::from_secs(5)).unwrap();
            assert!(out.status.success(), "`{line}`: {}", String::from_utf8_lossy(&out.stderr));
        };
        ip(&a, &format!("link add va address 02:00:00:00:00:0a type veth peer name vb netns {}", ns_path(&b)));
        sh(&a, "ip link set va up");
        sh(&b, "ip link set vb up");
        // The carrier change is applied later by the linkwatch worker; until then va
        // has no working qdisc and the frame is dropped unseen (seen under a parallel
        // test run). RTM_GETLINK applies a pending event at once, as in probe's tests.
        sh(&a, "ip link show dev va > /dev/null");
        sh(&b, "ip link show dev vb > /dev/null");

        let injector = Injector::open(&a, "va").unwrap();
        assert_eq!(injector.mac(), MacAddr([0x02, 0, 0, 0, 0, 0x0a]));
        let seen_by_a = Capture::start(&a, "va", None).unwrap();
        let seen_by_b = Capture::start(&b, "vb", None).unwrap();
        injector.send(&garp_frame()).unwrap();
        let (out, into) = (seen_by_a.finish().unwrap(), seen_by_b.finish().unwrap());
        let arp: Vec<(Option<Direction>, Vec<u8>)> = out
            .into_iter()
            .chain(into)
            .filter(|p| p.data[12..14] == [0x08, 0x06])
            .map(|p| (p.direction, p.data))
            .collect();
        assert_eq!(arp, [(Some(Direction::Out), garp_frame()), (Some(Direction::In), garp_frame())]);

        let tun_like = Injector::open(&a, "lo").unwrap_err();
        assert!(tun_like.to_string().contains("not an Ethernet interface (ARPHRD type 772)"), "{tun_like}");
        let missing = Injector::open(&a, "nope0").unwrap_err();
        assert_eq!(missing.to_string(), "send out of `nope0`: no such interface");
        sh(&a, "ip link set va down");
        let down = injector.send(&garp_frame()).unwrap_err();
        assert_eq!(down.to_string(), "send out of `va`: Network is down");
    }
}
