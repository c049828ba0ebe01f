//! The IPv6 link-local address of an interface that has IPv6 addresses.
//!
//! The baseline turns off the kernel's own link-local addresses (`addr_gen_mode` 1: no
//! duplicate address detection, router solicitations or MLD chatter in captures), but
//! IPv6 cannot do without them on a link where it is used: a neighbour solicitation
//! that is not answering a packet of the node's own is sent from a link-local source,
//! and with none the kernel sends nothing (`ndisc_send_ns`). A router then never
//! resolves the host it forwards to, and reports "address unreachable" to the sender;
//! router advertisements and redirects need one too. So an interface given an IPv6
//! address also gets `fe80::/64` with the modified EUI-64 of its MAC, the address the
//! kernel's `addr_gen_mode` 0 makes, stable because the MAC is. It is added without
//! duplicate address detection, like every address netrig adds: a tentative address
//! cannot be used for a second or two.

use std::net::Ipv6Addr;

use ipnet::{IpNet, Ipv6Net};
use nix::errno::Errno;

use rtnetlink::Handle;

use crate::build::netlink::{self, Error};
use crate::model::MacAddr;

/// `fe80::/64` with the interface identifier of RFC 4291 appendix A: the MAC with
/// `ff:fe` in the middle and the universal/local bit flipped.
pub fn of_mac(mac: MacAddr) -> Ipv6Net {
    let m = mac.0;
    let id = [m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]];
    let mut octets = [0u8; 16];
    octets[..2].copy_from_slice(&[0xfe, 0x80]);
    octets[8..].copy_from_slice(&id);
    Ipv6Net::new(Ipv6Addr::from(octets), 64).expect("64 is a valid IPv6 prefix length")
}

/// Whether an interface with these addresses needs its link-local one added: some
/// address is IPv6 and none is link-local already (the scenario's own wins).
pub fn needed(addresses: &[IpNet]) -> bool {
    addresses.iter().any(|a| matches!(a, IpNet::V6(_))) && !addresses.iter().any(is_link_local)
}

fn is_link_local(address: &IpNet) -> bool {
    matches!(address, IpNet::V6(v6) if v6.addr().is_unicast_link_local())
}

/// `ip address add ADDRESS dev NAME`, and the link-local address with an IPv6 one (a
/// step's `add_address` or `move_address`).
pub async fn add_address(handle: &Handle, name: &str, address: IpNet) -> Result<(), Error> {
    netlink::add_address(handle, name.into(), address).await?;
    if needed(&[address]) { add(handle, name).await } else { Ok(()) }
}

/// Give interface `name` its link-local address; one it has already is kept.
pub async fn add(handle: &Handle, name: &str) -> Result<(), Error> {
    let link = netlink::link_attributes(handle, name).await?.link;
    // A link without a MAC (a tun device) has no EUI-64: the kernel gives it none either.
    let Some(mac) = link.mac else { return Ok(()) };
    match netlink::add_address(handle, name.into(), IpNet::V6(of_mac(mac))).await {
        Err(e) if e.errno() == Some(Errno::EEXIST) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_is_the_kernel_s_eui64_one() {
        // What `ip link add` + addr_gen_mode 0 gives 02:00:00:00:00:01: fe80::ff:fe00:1.
        let mac: MacAddr = "02:00:00:00:00:01".parse().unwrap();
        assert_eq!(of_mac(mac).to_string(), "fe80::ff:fe00:1/64");
        let mac: MacAddr = "52:54:00:12:34:56".parse().unwrap();
        assert_eq!(of_mac(mac).to_string(), "fe80::5054:ff:fe12:3456/64");
    }

    #[test]
    fn only_an_ipv6_addressed_interface_without_one_needs_it() {
        let nets = |list: &[&str]| list.iter().map(|a| a.parse().unwrap()).collect::<Vec<IpNet>>();
        assert!(needed(&nets(&["10.0.0.1/24", "fd00::1/64"])));
        assert!(!needed(&nets(&["10.0.0.1/24"])));
        assert!(!needed(&nets(&["fd00::1/64", "fe80::1/64"])));
        assert!(!needed(&[]));
    }
}
