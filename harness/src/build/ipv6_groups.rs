//! Wait until a node listens for the neighbour solicitations of its IPv6 addresses.
//!
//! A node answers a neighbour solicitation only on a link where it has joined the
//! target's solicited-node multicast group (`ff02::1:ffXX:XXXX`, RFC 4291 2.7.1);
//! before that the solicitation is not for it and is dropped unseen. The kernel joins
//! the group from a workqueue (addrconf's DAD work, `nodad` addresses too) once the
//! link is up with a carrier, so right after a build or a link brought back up the
//! first solicitation can arrive before the join. Seen: the first IPv6 ping of a run
//! unanswered in about half the runs, a crafted NS ignored because the group was
//! joined 3 ms after it arrived. netrig therefore waits, after links settle, until
//! every group is joined. The kernels netrig runs on do not all announce joins
//! (RTM_NEWMULTICAST notifications are recent), so `/proc/net/igmp6` is read again,
//! with a growing pause, until the groups are there or [`LIMIT`] passes.

use std::collections::BTreeSet;
use std::net::Ipv6Addr;
use std::time::Duration;

use super::{BuildError, NodeHandle, in_node, io_failure, netlink};

/// How long the kernel may take to join the groups before the build fails.
const LIMIT: Duration = Duration::from_secs(3);

/// Wait until `node` has joined the solicited-node group of each of its IPv6
/// addresses on every link that does neighbour discovery and has its carrier.
pub async fn settle(node: &str, handle: &NodeHandle) -> Result<(), BuildError> {
    let deadline = tokio::time::Instant::now() + LIMIT;
    let mut pause = Duration::from_millis(1);
    loop {
        let wanted = netlink::solicitable_ipv6(&handle.netlink).await.map_err(in_node(node))?;
        if wanted.is_empty() {
            return Ok(());
        }
        let text = handle
            .ns
            .run(|| std::fs::read_to_string("/proc/thread-self/net/igmp6"))
            .map_err(io_failure("read /proc/net/igmp6", node))?;
        let missing = missing_groups(&wanted, &joined(&text));
        let Some((index, address)) = missing.first() else {
            return Ok(());
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(BuildError::Kernel {
                what: format!("wait for IPv6 neighbour discovery in node {node}"),
                error: format!(
                    "after {LIMIT:?} the kernel had not joined the solicited-node group {} of {address} \
                     (interface index {index}){}",
                    solicited_node(*address),
                    if missing.len() > 1 { format!(" nor {} more", missing.len() - 1) } else { String::new() }
                ),
            });
        }
        // No notification on every kernel: read again (see the module doc).
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// The solicited-node multicast address of `address`: `ff02::1:ff` and its low 24 bits.
fn solicited_node(address: Ipv6Addr) -> Ipv6Addr {
    let o = address.octets();
    Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00 | u16::from(o[13]), u16::from_be_bytes([o[14], o[15]]))
}

/// The (interface index, group) pairs of `/proc/net/igmp6`, whose lines read
/// `idx dev group-as-32-hex-digits users flags timer`.
fn joined(text: &str) -> BTreeSet<(u32, Ipv6Addr)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let index = fields.next()?.parse().ok()?;
            let group = u128::from_str_radix(fields.nth(1)?, 16).ok()?;
            Some((index, Ipv6Addr::from(group)))
        })
        .collect()
}

/// The addresses of `wanted` whose solicited-node group is not in `joined`.
fn missing_groups(wanted: &[(u32, Ipv6Addr)], joined: &BTreeSet<(u32, Ipv6Addr)>) -> Vec<(u32, Ipv6Addr)> {
    wanted.iter().copied().filter(|&(index, address)| !joined.contains(&(index, solicited_node(address)))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_solicited_node_group_keeps_the_low_24_bits() {
        let address: Ipv6Addr = "2001:db8::12:3456:789a".parse().unwrap();
        assert_eq!(solicited_node(address), "ff02::1:ff56:789a".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn a_group_counts_only_on_its_own_interface() {
        let text = "1    lo              ff020000000000000000000000000001     1 0000000C 0\n\
                    2    eth0            ff0200000000000000000001ff000002     1 00000004 0\n";
        let joined = joined(text);
        let here: Ipv6Addr = "fd00::2".parse().unwrap();
        assert!(missing_groups(&[(2, here)], &joined).is_empty());
        assert_eq!(missing_groups(&[(3, here)], &joined), vec![(3, here)]);
        let other: Ipv6Addr = "fd00::3".parse().unwrap();
        assert_eq!(missing_groups(&[(2, other)], &joined), vec![(2, other)]);
    }
}
