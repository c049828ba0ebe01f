//! Drops in verdicts: the `dropped` check, and the drops that explain what a traffic
//! check observed ("the echo request was dropped in host on vethA (NETFILTER_DROP at
//! nf_hook_slow)"). The drops come from the run's tracer ([`crate::observe::drops`]).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::build::Topology;
use crate::judge::{Verdict, describe_match};
use crate::model::{Check, ConnectResult, DroppedCheck};
use crate::observe::decode::{self, Packet};
use crate::observe::drops::{Dropped, Mark};
use crate::observe::patience::Observed;
use crate::observe::patience::Settled;
use crate::observe::probe::Patience;

/// Drops a failure message lists at most; the count says how many more there were.
const LISTED: usize = 5;

/// Judge `c` against the drops of the step so far.
pub fn judge(topology: &Topology, rt: &tokio::runtime::Runtime, c: &DroppedCheck) -> Verdict {
    let check = describe(c);
    let line = c.on.line;
    if let Some(why) = topology.drops.unavailable() {
        return Verdict { check, holds: false, observed: format!("drops cannot be observed: {why}"), line };
    }
    let expect_seen = c.seen.unwrap_or(true);
    let matching = |topology: &Topology| -> Vec<Dropped> {
        topology.drops.since(Mark::default()).into_iter().filter(|d| picks(c, d)).collect()
    };
    let mut found = matching(topology);
    // A packet may still wait in a neighbour queue, to be dropped when the resolution
    // fails: judge once no neighbour is being resolved anywhere.
    let mut patience = Settled::new(topology, rt, Duration::ZERO);
    if found.is_empty() {
        patience.more();
        found = matching(topology);
    }
    let missed = topology.drops.missed();
    let seen = !found.is_empty();
    let holds = seen == expect_seen && (expect_seen || missed == 0);
    let mut observed = match found.len() {
        0 => "none".to_string(),
        n => format!("{n} matching: {}", listed(&found)),
    };
    if missed > 0 {
        observed.push_str(&format!(" ({missed} drops could not be recorded: a full ring or too many in a step)"));
    }
    if found.is_empty() && !holds {
        let others: Vec<Dropped> =
            topology.drops.since(Mark::default()).into_iter().filter(|d| d.node == *c.on).collect();
        if !others.is_empty() {
            observed.push_str(&format!("; other drops in {}: {}", *c.on, listed(&others)));
        }
    }
    let holds = patience.judged(holds, &mut observed);
    Verdict { check, holds, observed, line }
}

/// Whether drop `d` is one `c` asks about.
fn picks(c: &DroppedCheck, d: &Dropped) -> bool {
    d.node == *c.on
        && c.dev.as_ref().is_none_or(|dev| d.interface.as_deref() == Some(dev.as_str()))
        && c.reason.as_ref().is_none_or(|reason| d.reason == **reason)
        && c.matches.as_ref().is_none_or(|m| decode::matches(m, &d.packet))
}

/// `dropped in t on eth0 for IP_RPFILTER matching {icmp: {type: echo-request}}: at least one`
fn describe(c: &DroppedCheck) -> String {
    let mut what = format!("dropped in {}", *c.on);
    if let Some(dev) = &c.dev {
        what.push_str(&format!(" on {}", dev.as_str()));
    }
    if let Some(reason) = &c.reason {
        what.push_str(&format!(" for {}", reason.as_str()));
    }
    if let Some(m) = &c.matches {
        what.push_str(&format!(" matching {}", describe_match(m)));
    }
    let expectation = if c.seen.unwrap_or(true) { "at least one" } else { "none" };
    format!("{what}: {expectation}")
}

fn listed(drops: &[Dropped]) -> String {
    let mut words: Vec<String> = drops.iter().take(LISTED).map(ToString::to_string).collect();
    if drops.len() > LISTED {
        words.push(format!("and {} more", drops.len() - LISTED));
    }
    words.join("; ")
}

/// Add to a traffic check's observation the drops of its own packets (requests and
/// answers) during the check: where and why they died. Only where they say why
/// something did not arrive: the check failed, or expected no answer. A check that got
/// its answers is not cluttered with the flood copies other hosts dropped.
pub fn explain(check: &Check, verdict: &mut Verdict, observed: &Observed) {
    if verdict.holds && !expects_no_answer(check) {
        return;
    }
    // A failed neighbour resolution is reported to the sender (host unreachable, from
    // itself) just before the kernel frees the queued packet: the check may end before
    // that drop is recorded, so listing it would make reports flap. The cause already
    // says it; a `dropped` check asserts it (judged after the check, and after any
    // resolution still under way). IPv6 frees those packets without a reason, in
    // `neigh_invalidate` (seen on 6.18 for an address nobody answers).
    let said =
        |d: &Dropped| d.reason == "NEIGH_FAILED" || (d.reason == "NOT_SPECIFIED" && d.function == "neigh_invalidate");
    let local_port = observed.local.map(|local| local.port());
    let ours: Vec<Dropped> =
        observed.drops.iter().filter(|d| of_check(check, &d.packet, local_port) && !said(d)).cloned().collect();
    if !ours.is_empty() {
        // Ports the kernel picked change from run to run: shown as `*`, as in packet lists.
        verdict.observed.push_str(&crate::report::hide_ephemeral_ports(&format!("; dropped: {}", listed(&ours))));
    }
}

fn expects_no_answer(check: &Check) -> bool {
    match check {
        Check::Ping(c) => c.fails.expected(),
        Check::Udp(c) => c.fails.expected(),
        Check::Connect(c) => c.result != ConnectResult::Connected,
        _ => false,
    }
}

/// Whether `p` is a packet of `check`'s traffic, to or from the address it probes
/// (and from or to `local_port`, the probe socket's port, when known: an earlier
/// connection to the same port is not this check's).
fn of_check(check: &Check, p: &Packet, local_port: Option<u16>) -> bool {
    match check {
        // Echo requests and replies only: neighbour discovery to or from the address
        // is not the ping's (6.1 frees every NA it has processed as NOT_SPECIFIED).
        Check::Ping(c) => p.icmp.as_ref().is_some_and(|i| i.id.is_some()) && touches(p, *c.to),
        Check::Connect(c) => p.tcp.is_some() && flows(p, *c.to, local_port),
        Check::Tcp(c) => p.tcp.is_some() && flows(p, *c.to, local_port),
        Check::Udp(c) => p.udp.is_some() && flows(p, *c.to, local_port),
        _ => false,
    }
}

fn touches(p: &Packet, addr: IpAddr) -> bool {
    p.ip.as_ref().is_some_and(|ip| ip.src == addr || ip.dst == addr)
}

/// To or from `to`, port included, and from or to `local_port` when given. The local
/// address is not compared: a NAT on the way may change it (and keeps the port when
/// it can).
fn flows(p: &Packet, to: SocketAddr, local_port: Option<u16>) -> bool {
    let ports = p.tcp.as_ref().map(|t| (t.src_port, t.dst_port)).or(p.udp.as_ref().map(|u| (u.src_port, u.dst_port)));
    let ours = |port: u16| local_port.is_none_or(|local| port == local);
    match (&p.ip, ports) {
        (Some(ip), Some((src_port, dst_port))) => {
            (ip.dst == to.ip() && dst_port == to.port() && ours(src_port))
                || (ip.src == to.ip() && src_port == to.port() && ours(dst_port))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_request() -> Packet {
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        let ip = etherparse::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).icmpv4_echo_request(7, 0);
        let mut bytes = Vec::new();
        ip.write(&mut bytes, b"x").unwrap();
        frame.extend(bytes);
        decode::decode(&frame)
    }

    fn check(yaml: &str) -> Check {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn drop_of(packet: Packet, node: &str, reason: &str) -> Dropped {
        Dropped {
            node: node.into(),
            interface: Some("eth0".into()),
            reason: reason.into(),
            function: "nf_hook_slow".into(),
            packet,
            cloned: false,
            shared: false,
        }
    }

    fn observed(drops: Vec<Dropped>, local: Option<SocketAddr>) -> Observed {
        Observed { drops, local }
    }

    fn tcp_segment(src: ([u8; 4], u16), dst: ([u8; 4], u16)) -> Packet {
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        let ip = etherparse::PacketBuilder::ipv4(src.0, dst.0, 64).tcp(src.1, dst.1, 1, 64000);
        let mut bytes = Vec::new();
        ip.write(&mut bytes, b"0\n").unwrap();
        frame.extend(bytes);
        decode::decode(&frame)
    }

    #[test]
    fn a_connection_is_explained_by_the_drops_of_its_own_flow_only() {
        let connect = check("connect: {from: a, to: 10.0.0.2:80, result: refused}");
        let local = Some("10.0.0.1:40000".parse().unwrap());
        let verdict = || Verdict { check: String::new(), holds: false, observed: "connected".into(), line: 1 };
        // An answer to an earlier connection to the same port, dropped at its closed socket.
        let earlier = drop_of(tcp_segment(([10, 0, 0, 2], 80), ([10, 0, 0, 1], 39999)), "a", "NOT_SPECIFIED");
        let mut v = verdict();
        explain(&connect, &mut v, &observed(vec![earlier.clone()], local));
        assert_eq!(v.observed, "connected");
        // Without the probe's port, any flow to the port is the check's.
        explain(&connect, &mut v, &observed(vec![earlier], None));
        assert!(v.observed.contains("dropped: IPv4 10.0.0.2:80 > 10.0.0.1:*"), "{}", v.observed);
        // This connection's own packets, either way.
        let request = drop_of(tcp_segment(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80)), "b", "NETFILTER_DROP");
        let answer = drop_of(tcp_segment(([10, 0, 0, 2], 80), ([10, 0, 0, 1], 40000)), "a", "NETFILTER_DROP");
        for own in [request, answer] {
            let mut v = verdict();
            explain(&connect, &mut v, &observed(vec![own], local));
            assert!(v.observed.contains("(NETFILTER_DROP at nf_hook_slow)"), "{}", v.observed);
        }
    }

    #[test]
    fn a_dropped_check_picks_by_node_interface_reason_and_match() {
        let Check::Dropped(c) =
            check("dropped: {on: t, dev: eth0, reason: NETFILTER_DROP, match: {icmp: {type: echo-request}}}")
        else {
            panic!("a dropped check")
        };
        assert!(picks(&c, &drop_of(echo_request(), "t", "NETFILTER_DROP")));
        assert!(!picks(&c, &drop_of(echo_request(), "u", "NETFILTER_DROP")));
        assert!(!picks(&c, &drop_of(echo_request(), "t", "IP_RPFILTER")));
        assert!(!picks(&c, &drop_of(Packet::default(), "t", "NETFILTER_DROP")));
        assert_eq!(
            describe(&c),
            "dropped in t on eth0 for NETFILTER_DROP matching {icmp: {type: echo-request}}: at least one"
        );
    }

    #[test]
    fn a_ping_is_explained_by_the_drops_of_its_own_packets_only() {
        let ping = check("ping: {from: a, to: 10.0.0.2}");
        let mut verdict =
            Verdict { check: String::new(), holds: false, observed: "sent 1, received 0".into(), line: 1 };
        explain(&ping, &mut verdict, &observed(vec![drop_of(Packet::default(), "b", "NO_SOCKET")], None));
        explain(&ping, &mut verdict, &observed(vec![drop_of(echo_request(), "a", "NEIGH_FAILED")], None));
        let mut not_an_echo = echo_request();
        not_an_echo.icmp.as_mut().unwrap().id = None; // as decoded for a neighbour advertisement
        explain(&ping, &mut verdict, &observed(vec![drop_of(not_an_echo, "a", "NOT_SPECIFIED")], None));
        let ipv6_neighbour_failed =
            Dropped { function: "neigh_invalidate".into(), ..drop_of(echo_request(), "a", "NOT_SPECIFIED") };
        explain(&ping, &mut verdict, &observed(vec![ipv6_neighbour_failed], None));
        assert_eq!(verdict.observed, "sent 1, received 0");
        explain(&ping, &mut verdict, &observed(vec![drop_of(echo_request(), "b", "NETFILTER_DROP")], None));
        assert_eq!(
            verdict.observed,
            "sent 1, received 0; dropped: IPv4 10.0.0.1 > 10.0.0.2 ICMP echo-request id 7 seq 0 ttl 64 \
             in b on eth0 (NETFILTER_DROP at nf_hook_slow)"
        );
        let elsewhere = check("ping: {from: a, to: 10.0.0.9}");
        let mut other = Verdict { check: String::new(), holds: false, observed: String::new(), line: 1 };
        explain(&elsewhere, &mut other, &observed(vec![drop_of(echo_request(), "b", "NETFILTER_DROP")], None));
        assert_eq!(other.observed, "");
    }
}
