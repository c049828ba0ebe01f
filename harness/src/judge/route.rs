//! Judging a `route` check: the kernel's route decision for one packet, read until it
//! is as expected or the check's time is up.

use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::{Verdict, WAIT_FOR_SUCCESS, route_entry};
use crate::build::Topology;
use crate::build::netlink::{self, LookupKind, RouteDecision, RouteEntry, RouteQuery};
use crate::model::{LookupProtocol, RouteCheck, RouteDecisionKind, table_name};

/// The longest pause between two readings of a decision that is not yet as expected.
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// Ask the kernel, again while the answer is not as expected: at once when the node's
/// routing tables announce a change (a route a routing daemon adds or withdraws), else
/// after a growing pause, because no notification announces a cached exception (an
/// ICMP error being processed makes one).
pub fn judge(topology: &Topology, rt: &tokio::runtime::Runtime, c: &RouteCheck) -> Verdict {
    let node = &topology.nodes[c.on.as_str()];
    let handle = &node.netlink;
    // Subscribed before the first reading, so that no change slips in between.
    let changes = netlink::TableEvents::subscribe_routes(&node.ns);
    let query = RouteQuery {
        to: *c.to,
        from: c.from,
        iif: c.iif.as_deref().map(String::as_str),
        oif: c.oif.as_deref().map(String::as_str),
        mark: c.mark,
        tos: c.tos,
        ipproto: c.ipproto.map(LookupProtocol::number),
        sport: c.sport,
        dport: c.dport,
    };
    let deadline = Instant::now() + c.timeout.as_ref().map_or(WAIT_FOR_SUCCESS, |t| t.0);
    let mut pause = Duration::from_millis(1);
    loop {
        let answer = rt.block_on(netlink::route_decision(handle, &query));
        // The matched entry is read after the decision: both see the same tables unless
        // a change came between, which the next reading catches.
        let entry = c.entry.as_ref().map(|_| rt.block_on(netlink::route_entry(handle, &query)));
        let (holds, observed) = assess(c, answer, entry);
        let now = Instant::now();
        if holds || now >= deadline {
            return Verdict { check: describe(c), holds, observed, line: c.on.line };
        }
        let next = now + pause.min(deadline - now);
        match &changes {
            Ok(changes) if changes.wait(next).is_ok() => {}
            // Without announcements, the pause alone paces the rereading.
            _ => std::thread::sleep(next.saturating_duration_since(Instant::now())),
        }
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// Whether the kernel's answer, and the entry it matched when the check asks for it,
/// are what the check expects, and both in words. A check that asks only for the
/// entry shows only the entry: which path of a multipath route a lookup takes
/// depends on a hash seeded at random, so its words would change from boot to boot.
fn assess(
    c: &RouteCheck,
    answer: Result<RouteDecision, netlink::Error>,
    entry: Option<Result<RouteEntry, netlink::Error>>,
) -> (bool, String) {
    let (holds, observed) = assess_decision(c, answer);
    let (Some(entry), Some(want)) = (entry, c.entry.as_deref()) else {
        return (holds, observed);
    };
    let (entry_holds, entry_observed) = match entry {
        Ok(found) => (route_entry::matches(want, &found), format!("entry {found}")),
        Err(e) => (false, format!("no entry: {e}")),
    };
    let observed = if asks_decision(c) { format!("{observed}; {entry_observed}") } else { entry_observed };
    (holds && entry_holds, observed)
}

/// The check expects something of the decision itself, not only of the entry.
fn asks_decision(c: &RouteCheck) -> bool {
    c.unreachable
        || c.kind.is_some()
        || c.dev.is_some()
        || c.via.is_some()
        || c.table.is_some()
        || c.exception.is_some()
        || c.mtu.is_some()
        || c.redirected.is_some()
        || c.expires.is_some()
}

fn assess_decision(c: &RouteCheck, answer: Result<RouteDecision, netlink::Error>) -> (bool, String) {
    match answer {
        Ok(found) => (!c.unreachable && matches_decision(c, &found), found.to_string()),
        Err(e) => {
            let refused_by = e.errno().and_then(refusal_kind);
            let holds = match c.kind {
                Some(kind) => refused_by == Some(kind),
                None => c.unreachable,
            };
            (holds, format!("no route: {e}"))
        }
    }
}

/// The route type whose refusal the kernel reported with `errno` ([`netlink::refusing_route`]).
fn refusal_kind(errno: Errno) -> Option<RouteDecisionKind> {
    match netlink::refusing_route(errno)? {
        "blackhole" => Some(RouteDecisionKind::Blackhole),
        "unreachable" => Some(RouteDecisionKind::Unreachable),
        _ => Some(RouteDecisionKind::Prohibit),
    }
}

fn kind_of(found: &RouteDecision) -> RouteDecisionKind {
    match found.lookup.kind {
        LookupKind::Unicast => RouteDecisionKind::Unicast,
        LookupKind::Local => RouteDecisionKind::Local,
        LookupKind::Broadcast => RouteDecisionKind::Broadcast,
        LookupKind::Multicast => RouteDecisionKind::Multicast,
        LookupKind::Anycast => RouteDecisionKind::Anycast,
    }
}

fn matches_decision(c: &RouteCheck, found: &RouteDecision) -> bool {
    let e = &found.exception;
    c.kind.is_none_or(|kind| kind == kind_of(found))
        && c.dev.as_ref().is_none_or(|d| found.lookup.dev.as_deref() == Some(d.as_str()))
        && c.via.is_none_or(|v| found.lookup.via == Some(v))
        && c.table.is_none_or(|t| t.id() == found.table)
        && c.exception.is_none_or(|want| want == e.exists())
        && c.mtu.is_none_or(|mtu| e.mtu == Some(mtu))
        && c.redirected.is_none_or(|want| want == e.redirected)
        && c.expires.is_none_or(|want| want == e.expires)
}

/// `route on h to 10.9.0.2 from 10.0.0.10: dev eth0 via 10.0.0.2 table main cache redirected`.
fn describe(c: &RouteCheck) -> String {
    let mut asked = vec![format!("route on {} to {}", c.on.as_str(), *c.to)];
    asked.extend(c.from.map(|from| format!("from {from}")));
    asked.extend(c.iif.as_ref().map(|dev| format!("iif {}", dev.as_str())));
    asked.extend(c.oif.as_ref().map(|dev| format!("oif {}", dev.as_str())));
    asked.extend(c.mark.map(|mark| format!("mark {mark}")));
    asked.extend(c.tos.map(|tos| format!("tos {tos:#04x}")));
    asked.extend(c.ipproto.map(|protocol| format!("ipproto {}", protocol.word())));
    asked.extend(c.sport.map(|port| format!("sport {port}")));
    asked.extend(c.dport.map(|port| format!("dport {port}")));
    let mut wanted = Vec::new();
    if c.unreachable {
        wanted.push("unreachable".to_string());
    }
    wanted.extend(c.kind.filter(|_| !c.unreachable).map(|kind| kind.to_string()));
    wanted.extend(c.dev.as_ref().map(|dev| format!("dev {dev}")));
    wanted.extend(c.via.map(|via| format!("via {via}")));
    wanted.extend(c.table.map(|t| format!("table {}", table_name(t.id()))));
    let mut cache = Vec::new();
    cache.extend(c.redirected.map(|r| if r { "redirected" } else { "not redirected" }.to_string()));
    cache.extend(c.expires.map(|x| if x { "expires" } else { "does not expire" }.to_string()));
    cache.extend(c.mtu.map(|mtu| format!("mtu {mtu}")));
    match c.exception {
        Some(false) => wanted.push("no cached exception".to_string()),
        Some(true) if cache.is_empty() => wanted.push("a cached exception".to_string()),
        _ => {}
    }
    if !cache.is_empty() {
        wanted.push(format!("cache {}", cache.join(" ")));
    }
    wanted.extend(c.entry.as_ref().map(|entry| format!("entry {}", **entry)));
    format!("{}: {}", asked.join(" "), wanted.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::netlink::{RouteException, RouteLookup};
    use crate::model::{Check, Scenario};

    fn route_check(yaml: &str) -> RouteCheck {
        match serde_saphyr::from_str(&format!("route: {{on: a, to: 10.9.0.2, {yaml}}}")).unwrap() {
            Check::Route(c) => c,
            other => panic!("not a route check: {other:?}"),
        }
    }

    fn decision(mtu: Option<u32>, redirected: bool, expires: bool) -> RouteDecision {
        RouteDecision {
            lookup: RouteLookup {
                kind: LookupKind::Unicast,
                dev: Some("eth0".into()),
                via: Some("10.0.0.1".parse().unwrap()),
                src: None,
            },
            table: 254,
            exception: RouteException { mtu, redirected, expires, cloned: false },
        }
    }

    #[test]
    fn an_exception_that_differs_fails_with_what_the_kernel_cached() {
        let c = route_check("mtu: 1280, expires: true");
        let (holds, observed) = assess(&c, Ok(decision(Some(1400), false, true)), None);
        assert!(!holds);
        assert_eq!(observed, "via 10.0.0.1 dev eth0, cache expires mtu 1400");
        assert!(assess(&c, Ok(decision(Some(1280), false, true)), None).0);
        let (holds, observed) = assess(&route_check("exception: false"), Ok(decision(None, true, true)), None);
        assert!(!holds);
        assert_eq!(observed, "via 10.0.0.1 dev eth0, cache redirected expires");
        assert!(assess(&route_check("exception: false, table: main"), Ok(decision(None, false, false)), None).0);
        assert!(!assess(&route_check("table: local"), Ok(decision(None, false, false)), None).0);
    }

    #[test]
    fn a_refusal_is_judged_by_the_kind_of_route_that_refused() {
        let refusal = |errno: Errno| {
            Err(netlink::Error::Failed { what: "look up".into(), message: "refused".into(), errno: Some(errno as i32) })
        };
        assert!(assess(&route_check("type: blackhole"), refusal(Errno::EINVAL), None).0);
        assert!(!assess(&route_check("type: blackhole"), refusal(Errno::EACCES), None).0);
        assert!(assess(&route_check("type: prohibit"), refusal(Errno::EACCES), None).0);
        assert!(assess(&route_check("type: unreachable"), refusal(Errno::EHOSTUNREACH), None).0);
        assert!(!assess(&route_check("type: unreachable"), refusal(Errno::ENETUNREACH), None).0, "no route at all");
        assert!(assess(&route_check("unreachable: true"), refusal(Errno::ENETUNREACH), None).0);
        assert!(!assess(&route_check("type: unicast"), refusal(Errno::ENETUNREACH), None).0);
    }

    #[test]
    fn a_decision_that_changes_while_the_check_runs_is_waited_for() {
        needs_root!();
        let scenario: Scenario = serde_saphyr::from_str(
            "nodes: {a: {}, b: {}}\nlinks: [{veth: [a:eth0 10.0.0.1/24, b:eth0 10.0.0.2/24]}]\n",
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let topology = rt.block_on(crate::build::build(&scenario)).unwrap();
        let c = route_check("via: 10.0.0.2");
        let route = "10.9.0.0/24 via 10.0.0.2".parse().unwrap();
        let ns = &topology.nodes["a"].ns;
        let verdict = std::thread::scope(|scope| {
            // The route arrives while the check runs, as a cached exception does when the
            // ICMP error that makes it is still being processed.
            scope.spawn(|| {
                let adder = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                adder.block_on(async {
                    let (handle, _connection) = netlink::connect(ns).unwrap();
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    netlink::add_route(&handle, &route).await.unwrap();
                });
            });
            judge(&topology, &rt, &c)
        });
        rt.block_on(topology.teardown());
        assert!(verdict.holds, "{}: {}", verdict.check, verdict.observed);
        assert_eq!(verdict.observed, "via 10.0.0.2 dev eth0 src 10.0.0.1");
    }
}
