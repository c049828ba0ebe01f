//! Crafted frames for the `send` action: an ARP packet built from the fields a scenario
//! gives, the others filled in as a host announcing or answering would (see
//! [`ArpFrame`] for the defaults). Pure: [`crate::observe::inject`] puts the bytes on the wire.

use std::fmt;
use std::net::Ipv4Addr;

use etherparse::{ArpEthIpv4Packet, ArpOperation, ArpPacket, EtherType, Ethernet2Header};

use crate::model::{ArpFrame, ArpOp, MacAddr};

/// ff:ff:ff:ff:ff:ff
pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
/// The target hardware address of a request: not known yet.
const UNKNOWN: MacAddr = MacAddr([0; 6]);

/// Every field of an ARP-over-Ethernet frame, defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpFields {
    pub eth_src: MacAddr,
    pub eth_dst: MacAddr,
    pub op: ArpOp,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl ArpFields {
    /// `spec` with its defaults, for a frame leaving an interface whose MAC is `own_mac`.
    pub fn of(spec: &ArpFrame, own_mac: MacAddr) -> ArpFields {
        let eth_src = spec.eth_src.unwrap_or(own_mac);
        let sender_mac = spec.sender_mac.unwrap_or(eth_src);
        let gratuitous = spec.is_gratuitous();
        // A reply that is not an announcement answers one host: it goes to that host.
        let answering = spec.op == ArpOp::Reply && !gratuitous;
        let eth_dst = spec.eth_dst.or(spec.target_mac.filter(|_| answering)).unwrap_or(BROADCAST);
        let target_mac = spec.target_mac.unwrap_or(match (spec.op, gratuitous) {
            (ArpOp::Request, _) => UNKNOWN,
            // Linux takes a reply as gratuitous only if its target MAC is the sender's
            // (arp_is_garp in net/ipv4/arp.c).
            (ArpOp::Reply, true) => sender_mac,
            (ArpOp::Reply, false) => eth_dst,
        });
        ArpFields {
            eth_src,
            eth_dst,
            op: spec.op,
            sender_mac,
            sender_ip: spec.sender_ip,
            target_mac,
            target_ip: spec.target_ip.unwrap_or(spec.sender_ip),
        }
    }

    /// The Ethernet frame: 14 bytes of header and 28 of ARP, unpadded, as Linux itself
    /// sends ARP over veth (a NIC pads to 60 bytes on the wire; receivers ignore it).
    pub fn to_frame(&self) -> Vec<u8> {
        let eth = Ethernet2Header { source: self.eth_src.0, destination: self.eth_dst.0, ether_type: EtherType::ARP };
        let arp = ArpEthIpv4Packet {
            operation: match self.op {
                ArpOp::Request => ArpOperation::REQUEST,
                ArpOp::Reply => ArpOperation::REPLY,
            },
            sender_mac: self.sender_mac.0,
            sender_ipv4: self.sender_ip.octets(),
            target_mac: self.target_mac.0,
            target_ipv4: self.target_ip.octets(),
        };
        [eth.to_bytes().as_slice(), ArpPacket::from(arp).to_bytes().as_slice()].concat()
    }
}

/// What a `send: {arp: ...}` action sends, in the scenario's own terms (the defaults
/// that depend on the interface are left unsaid): `gratuitous ARP reply 10.0.0.9
/// is-at 02:00:00:00:00:09`, `ARP request who-has 10.0.0.2 tell 10.0.0.9`.
impl fmt::Display for ArpFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            ArpOp::Request => "request",
            ArpOp::Reply => "reply",
        };
        let target = self.target_ip.unwrap_or(self.sender_ip);
        match (self.is_gratuitous(), self.op) {
            (true, _) => write!(f, "gratuitous ARP {op} for {}", self.sender_ip)?,
            (false, ArpOp::Request) => write!(f, "ARP request who-has {target} tell {}", self.sender_ip)?,
            (false, ArpOp::Reply) => write!(f, "ARP reply {} to {target}", self.sender_ip)?,
        }
        if let Some(mac) = self.sender_mac {
            write!(f, " is-at {mac}")?;
        }
        if let Some(src) = self.eth_src {
            write!(f, " from {src}")?;
        }
        if let Some(dst) = self.eth_dst {
            write!(f, " to {dst}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::decode::decode;

    const OWN: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
    const NINE: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x09]);
    const ASKER: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);

    fn spec(yaml: &str) -> ArpFrame {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn by_default_a_gratuitous_request_from_the_interface() {
        let fields = ArpFields::of(&spec("{sender_ip: 10.0.0.9}"), OWN);
        let want = ArpFields {
            eth_src: OWN,
            eth_dst: BROADCAST,
            op: ArpOp::Request,
            sender_mac: OWN,
            sender_ip: Ipv4Addr::new(10, 0, 0, 9),
            target_mac: UNKNOWN,
            target_ip: Ipv4Addr::new(10, 0, 0, 9),
        };
        assert_eq!(fields, want);
    }

    #[test]
    fn a_gratuitous_reply_names_its_sender_as_target() {
        let fields = ArpFields::of(&spec("{op: reply, sender_ip: 10.0.0.9, sender_mac: 02:00:00:00:00:09}"), OWN);
        assert_eq!((fields.eth_src, fields.eth_dst, fields.target_mac), (OWN, BROADCAST, NINE));
    }

    #[test]
    fn a_reply_to_someone_goes_to_that_host() {
        let fields = ArpFields::of(
            &spec("{op: reply, sender_ip: 10.0.0.9, target_ip: 10.0.0.2, target_mac: 02:00:00:00:00:02}"),
            OWN,
        );
        assert_eq!((fields.eth_dst, fields.target_mac), (ASKER, ASKER));
        // Without target_mac it is broadcast, and so is its target MAC.
        let fields = ArpFields::of(&spec("{op: reply, sender_ip: 10.0.0.9, target_ip: 10.0.0.2}"), OWN);
        assert_eq!((fields.eth_dst, fields.target_mac), (BROADCAST, BROADCAST));
    }

    #[test]
    fn given_fields_win() {
        let yaml = "{op: request, sender_ip: 10.0.0.9, target_ip: 10.0.0.2, target_mac: 02:00:00:00:00:02, eth_src: 02:00:00:00:00:09, eth_dst: 02:00:00:00:00:02}";
        let fields = ArpFields::of(&spec(yaml), OWN);
        assert_eq!((fields.eth_src, fields.sender_mac, fields.eth_dst, fields.target_mac), (NINE, NINE, ASKER, ASKER));
    }

    #[test]
    fn the_frame_is_42_bytes_that_decode_back_to_the_fields() {
        let fields = ArpFields::of(&spec("{op: reply, sender_ip: 10.0.0.9, sender_mac: 02:00:00:00:00:09}"), OWN);
        let frame = fields.to_frame();
        assert_eq!(frame.len(), 42);
        assert_eq!(&frame[..14], [[0xff; 6].as_slice(), &OWN.0, &[0x08, 0x06]].concat());
        // htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4, op 2
        assert_eq!(&frame[14..22], [0, 1, 8, 0, 6, 4, 0, 2]);
        let packet = decode(&frame);
        assert_eq!(
            packet.to_string(),
            "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff ARP reply 10.0.0.9 is-at 02:00:00:00:00:09"
        );
    }

    #[test]
    fn descriptions_say_what_was_given() {
        let shown = |yaml: &str| spec(yaml).to_string();
        assert_eq!(shown("{sender_ip: 10.0.0.9}"), "gratuitous ARP request for 10.0.0.9");
        assert_eq!(
            shown("{op: reply, sender_ip: 10.0.0.9, sender_mac: 02:00:00:00:00:09, eth_dst: ff:ff:ff:ff:ff:ff}"),
            "gratuitous ARP reply for 10.0.0.9 is-at 02:00:00:00:00:09 to ff:ff:ff:ff:ff:ff"
        );
        assert_eq!(shown("{sender_ip: 10.0.0.9, target_ip: 10.0.0.2}"), "ARP request who-has 10.0.0.2 tell 10.0.0.9");
        assert_eq!(shown("{op: reply, sender_ip: 10.0.0.9, target_ip: 10.0.0.2}"), "ARP reply 10.0.0.9 to 10.0.0.2");
    }
}
