//! Judging a `link` check: a link's attributes as the kernel shows them over netlink,
//! watched on the link and qdisc change notifications until every given field holds or
//! the check's time is up.

use std::time::Instant;

use nix::errno::Errno;

use super::{Verdict, wait, watch};
use crate::build::Topology;
use crate::build::netlink::{self, LinkAttributes, TableEvents};
use crate::model::{BridgeMulticast, BridgeOptions, BridgePortFlags, Dur, LinkCheck, PortState};

/// Reads one attribute off the kernel's answer, in the words the check is written in;
/// `None` when the kernel reported nothing for it (a port flag of a link that is no
/// bridge port).
type Reading = fn(&LinkAttributes) -> Option<String>;

/// One field the check gives: its name, its expected value, and how to read it.
struct Field {
    name: &'static str,
    expected: String,
    read: Reading,
}

pub fn judge(topology: &Topology, rt: &tokio::runtime::Runtime, c: &LinkCheck) -> Verdict {
    let node = &topology.nodes[c.on.as_str()];
    let deadline = Instant::now() + wait(&c.timeout, true);
    let fields = fields(c);
    let read = || match rt.block_on(netlink::link_attributes(&node.netlink, &c.dev)) {
        Ok(attributes) => Ok(Some(attributes)),
        // Not there (yet): a link something is still creating is waited for.
        Err(e) if e.errno() == Some(Errno::ENODEV) => Ok(None),
        Err(e) => Err(e.to_string()),
    };
    let as_expected = |seen: &Option<LinkAttributes>| seen.as_ref().is_some_and(|seen| holds(&fields, seen));
    let (holds, observed) = match watch(TableEvents::subscribe_links, node, deadline, read, as_expected) {
        Ok((holds, Some(seen))) => (holds, observe(&fields, &seen)),
        Ok((holds, None)) => (holds, format!("no link {} on {}", c.dev.as_str(), c.on.as_str())),
        Err(e) => (false, e),
    };
    Verdict { check: describe(c, &fields), holds, observed, line: c.on.line }
}

fn holds(fields: &[Field], seen: &LinkAttributes) -> bool {
    fields.iter().all(|f| (f.read)(seen).as_deref() == Some(f.expected.as_str()))
}

fn on_off(on: bool) -> String {
    if on { "on" } else { "off" }.into()
}

/// The fields `c` gives, in the order `ip -d link show` prints them.
fn fields(c: &LinkCheck) -> Vec<Field> {
    let mut fields = Vec::new();
    let mut add = |name, expected: Option<String>, read: Reading| {
        fields.extend(expected.map(|expected| Field { name, expected, read }));
    };
    add("state", c.state.map(|s| s.to_string()), |a| Some(a.link.oper_state.to_lowercase()));
    add("up", c.up.map(on_off), |a| Some(on_off(a.link.admin_up)));
    add("carrier", c.carrier.map(on_off), |a| Some(on_off(a.link.carrier)));
    add("mtu", c.mtu.map(|m| m.to_string()), |a| Some(a.link.mtu.to_string()));
    add("qdisc", c.qdisc.clone(), |a| a.qdisc.clone());
    add("master", c.master.clone(), |a| Some(a.link.master.clone().unwrap_or_else(|| "none".into())));
    add("mac", c.mac.map(|m| m.to_string()), |a| a.link.mac.map(|m| m.to_string()));
    add("kind", c.kind.clone(), |a| a.link.kind.clone());
    // Named one by one, so a flag added to the model cannot be left out of the check
    // (it would be accepted in a scenario and silently not compared).
    let BridgePortFlags {
        learning,
        flood,
        mcast_flood,
        bcast_flood,
        neigh_suppress,
        isolated,
        hairpin,
        bpdu_guard,
        root_block,
        proxy_arp,
        locked,
        cost,
        priority,
        state,
    } = c.port.clone().unwrap_or_default();
    add("learning", learning.map(on_off), |a| a.port.as_ref()?.learning.map(on_off));
    add("flood", flood.map(on_off), |a| a.port.as_ref()?.flood.map(on_off));
    add("mcast_flood", mcast_flood.map(on_off), |a| a.port.as_ref()?.mcast_flood.map(on_off));
    add("bcast_flood", bcast_flood.map(on_off), |a| a.port.as_ref()?.bcast_flood.map(on_off));
    add("neigh_suppress", neigh_suppress.map(on_off), |a| a.port.as_ref()?.neigh_suppress.map(on_off));
    add("isolated", isolated.map(on_off), |a| a.port.as_ref()?.isolated.map(on_off));
    add("hairpin", hairpin.map(on_off), |a| a.port.as_ref()?.hairpin.map(on_off));
    add("bpdu_guard", bpdu_guard.map(on_off), |a| a.port.as_ref()?.bpdu_guard.map(on_off));
    add("root_block", root_block.map(on_off), |a| a.port.as_ref()?.root_block.map(on_off));
    add("proxy_arp", proxy_arp.map(on_off), |a| a.port.as_ref()?.proxy_arp.map(on_off));
    add("locked", locked.map(on_off), |a| a.port.as_ref()?.locked.map(on_off));
    add("cost", cost.map(|c| c.to_string()), |a| a.port.as_ref()?.cost.map(|c| c.to_string()));
    add("priority", priority.map(|p| p.to_string()), |a| a.port.as_ref()?.priority.map(|p| p.to_string()));
    add("port_state", state.map(PortState::name), |a| a.port.as_ref()?.state.map(PortState::name));
    let vxlan = c.vxlan.clone().unwrap_or_default();
    add("vxlan id", vxlan.id.map(|v| v.to_string()), |a| a.vxlan.as_ref()?.id.map(|v| v.to_string()));
    add("vxlan remote", vxlan.remote.map(|v| v.to_string()), |a| a.vxlan.as_ref()?.remote.map(|v| v.to_string()));
    add("vxlan group", vxlan.group.map(|v| v.to_string()), |a| a.vxlan.as_ref()?.group.map(|v| v.to_string()));
    add("vxlan local", vxlan.local.map(|v| v.to_string()), |a| a.vxlan.as_ref()?.local.map(|v| v.to_string()));
    add("vxlan dstport", vxlan.dstport.map(|v| v.to_string()), |a| a.vxlan.as_ref()?.dstport.map(|v| v.to_string()));
    add("vxlan learning", vxlan.learning.map(on_off), |a| a.vxlan.as_ref()?.learning.map(on_off));
    add("vxlan ttl", vxlan.ttl.map(|v| v.to_string()), |a| a.vxlan.as_ref()?.ttl.map(|v| v.to_string()));
    bridge_fields(c, &mut add);
    fields
}

/// The bridge's own options the check gives, each named so none can be left out.
fn bridge_fields(c: &LinkCheck, add: &mut impl FnMut(&'static str, Option<String>, Reading)) {
    let BridgeOptions {
        stp,
        ageing_time,
        group_fwd_mask,
        nf_call_iptables,
        nf_call_ip6tables,
        nf_call_arptables,
        multicast_snooping,
        multicast,
    } = c.bridge.clone().unwrap_or_default();
    let age = |d: Dur| humantime::format_duration(d.0).to_string();
    add("bridge stp", stp.map(on_off), |a| a.bridge.as_ref()?.stp.map(on_off));
    add("bridge ageing_time", ageing_time.map(age), |a| {
        a.bridge.as_ref()?.ageing_time.map(|d| humantime::format_duration(d.0).to_string())
    });
    add("bridge group_fwd_mask", group_fwd_mask.map(|m| format!("{m:#x}")), |a| {
        a.bridge.as_ref()?.group_fwd_mask.map(|m| format!("{m:#x}"))
    });
    add("bridge nf_call_iptables", nf_call_iptables.map(on_off), |a| a.bridge.as_ref()?.nf_call_iptables.map(on_off));
    add("bridge nf_call_ip6tables", nf_call_ip6tables.map(on_off), |a| {
        a.bridge.as_ref()?.nf_call_ip6tables.map(on_off)
    });
    add("bridge nf_call_arptables", nf_call_arptables.map(on_off), |a| {
        a.bridge.as_ref()?.nf_call_arptables.map(on_off)
    });
    add("bridge multicast_snooping", multicast_snooping.map(on_off), |a| {
        a.bridge.as_ref()?.multicast_snooping.map(on_off)
    });
    let BridgeMulticast { querier, router, query_use_ifaddr, igmp_version, mld_version, stats } =
        multicast.unwrap_or_default();
    fn mcast(a: &LinkAttributes) -> Option<&BridgeMulticast> {
        a.bridge.as_ref()?.multicast.as_ref()
    }
    add("bridge mcast_querier", querier.map(on_off), |a| mcast(a)?.querier.map(on_off));
    add("bridge mcast_router", router.map(|r| r.name().into()), |a| mcast(a)?.router.map(|r| r.name().into()));
    add("bridge mcast_query_use_ifaddr", query_use_ifaddr.map(on_off), |a| mcast(a)?.query_use_ifaddr.map(on_off));
    add("bridge mcast_igmp_version", igmp_version.map(|v| v.to_string()), |a| {
        mcast(a)?.igmp_version.map(|v| v.to_string())
    });
    add("bridge mcast_mld_version", mld_version.map(|v| v.to_string()), |a| {
        mcast(a)?.mld_version.map(|v| v.to_string())
    });
    add("bridge mcast_stats", stats.map(on_off), |a| mcast(a)?.stats.map(on_off));
}

/// `link on sw: pb mtu 1400 master br0 learning off`, `link on h: vx0 exists`.
fn describe(c: &LinkCheck, fields: &[Field]) -> String {
    let mut words = vec![format!("link on {}: {}", c.on.as_str(), c.dev.as_str())];
    words.extend(fields.iter().map(|f| format!("{} {}", f.name, f.expected)));
    if fields.is_empty() {
        words.push("exists".into());
    }
    words.join(" ")
}

/// What the kernel showed for the fields the check gives (only those: the others may
/// vary from run to run, a MAC or an index), `none` for what it did not report.
fn observe(fields: &[Field], seen: &LinkAttributes) -> String {
    if fields.is_empty() {
        return format!("{} exists", seen.link.name);
    }
    let values = fields.iter().map(|f| format!("{} {}", f.name, (f.read)(seen).unwrap_or_else(|| "none".into())));
    values.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::netlink::LinkDump;
    use crate::model::{BridgePortFlags, Check, MacAddr, VxlanOptions};

    fn link_check(yaml: &str) -> LinkCheck {
        match serde_saphyr::from_str(&format!("link: {{on: sw, dev: pb, {yaml}}}")).unwrap() {
            Check::Link(c) => c,
            other => panic!("not a link check: {other:?}"),
        }
    }

    fn port() -> LinkAttributes {
        LinkAttributes {
            link: LinkDump {
                name: "pb".into(),
                index: 7,
                kind: Some("veth".into()),
                master: Some("br0".into()),
                admin_up: true,
                carrier: true,
                oper_state: "UP".into(),
                mtu: 1500,
                mac: Some(MacAddr([2, 0, 0, 0, 0, 0xb])),
                addresses: vec![],
            },
            qdisc: Some("noqueue".into()),
            port: Some(BridgePortFlags { learning: Some(false), flood: Some(true), ..Default::default() }),
            vxlan: None,
            bridge: None,
        }
    }

    fn judged(yaml: &str, seen: &LinkAttributes) -> (bool, String) {
        let fields = fields(&link_check(yaml));
        (holds(&fields, seen), observe(&fields, seen))
    }

    #[test]
    fn only_the_fields_given_are_compared() {
        assert_eq!(judged("", &port()), (true, "pb exists".into()));
        assert!(judged("state: up, carrier: true, master: br0", &port()).0);
        assert!(judged("kind: veth, qdisc: noqueue, mac: 02:00:00:00:00:0b", &port()).0);
        assert!(judged("port: {learning: false, flood: true}", &port()).0);
        assert_eq!(judged("master: none", &port()), (false, "master br0".into()));
        assert_eq!(judged("state: down, up: false", &port()), (false, "state up, up on".into()));
    }

    #[test]
    fn a_failure_shows_the_observed_values() {
        assert_eq!(judged("mtu: 1400, port: {learning: true}", &port()), (false, "mtu 1500, learning off".into()));
        // A flag the kernel did not report (no bridge port, no vxlan) never matches.
        assert_eq!(judged("port: {isolated: false}", &port()), (false, "isolated none".into()));
        assert_eq!(judged("port: {locked: true}", &port()), (false, "locked none".into()));
        assert_eq!(judged("port: {cost: 100, priority: 32}", &port()), (false, "cost none, priority none".into()));
        assert_eq!(judged("vxlan: {id: 100}", &port()), (false, "vxlan id none".into()));
    }

    #[test]
    fn vxlan_options_compare_as_written() {
        let vx = LinkAttributes {
            port: None,
            vxlan: Some(VxlanOptions {
                id: Some(100),
                remote: Some("10.0.0.2".parse().unwrap()),
                local: Some("10.0.0.1".parse().unwrap()),
                dstport: Some(4789),
                learning: Some(false),
                ttl: Some(0),
                group: None,
            }),
            ..port()
        };
        let all = "vxlan: {id: 100, remote: 10.0.0.2, local: 10.0.0.1, dstport: 4789, learning: false, ttl: 0}";
        assert!(judged(all, &vx).0);
        assert_eq!(
            judged("vxlan: {remote: 10.0.0.3, group: 239.1.1.1}", &vx).1,
            "vxlan remote 10.0.0.2, vxlan group none"
        );
    }

    #[test]
    fn the_check_says_what_it_expects() {
        let c = link_check("mtu: 1400, master: br0, port: {learning: false}, vxlan: {dstport: 4789}");
        assert_eq!(describe(&c, &fields(&c)), "link on sw: pb mtu 1400 master br0 learning off vxlan dstport 4789");
        let c = link_check("");
        assert_eq!(describe(&c, &fields(&c)), "link on sw: pb exists");
    }
}
