//! When silence may be judged: the [`Patience`] of traffic checks.
//!
//! A request can sit in a node's neighbour queue while the kernel resolves the next hop
//! (the entry is INCOMPLETE); once resolved, it goes out and its answer comes back,
//! late but surely. A proxy_arp answer is delayed by design, up to `proxy_delay` (0.8 s
//! by default); an unanswered ARP or NDP request is retried after `retrans_time_ms`
//! (1 s). A check that decided on a short silence would count such an answer as
//! missing: a false "fails".
//!
//! So when a check's silence deadline passes, [`Settled`] reads every node's neighbour
//! table over netlink. While some entry is INCOMPLETE it waits on that node's neighbour
//! notifications until none is, then grants the check one more quiet period for the
//! answer to arrive. Only INCOMPLETE holds packets back: in DELAY and PROBE the kernel
//! sends at once with the address it has. A resolution ends by itself (FAILED after
//! its probes: ~3 s with the default timers, and the kernel then reports the host
//! unreachable to the sender), and [`LIMIT`] bounds the wait whatever the timers are.
//! When nothing is being resolved, silence at the deadline is final at once: a ping
//! dropped by a firewall on a resolved path is still decided in its 200 ms.
//!
//! Silence is final even before the deadline once the drop tracer saw the request or
//! its answer dropped for good ([`crate::observe::drops::Watch::lost`]): the probe
//! polls the tracer's ring beside its socket ([`Patience::news`], [`Patience::lost`]).
//! But not for a drop of the probe's own request where the dropping node sent an
//! ICMP error since the wait began (errors go to the dropped packet's source: for a
//! dropped answer, to the node that answered, not to the probe): the kernel
//! sends one before it frees the packet (no route, too big, TTL exceeded, a REJECT
//! rule, a failed neighbour resolution), so the tracer can report the drop before the
//! error reaches the sender, and ending then would lose the error's cause (seen on
//! 6.1: "dropped on the way" instead of "host-unreachable"). There the probe waits for
//! the error as it would without a tracer.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use crate::build::Topology;
use crate::build::netlink;
use crate::model::NudState;
use crate::observe::counters;
use crate::observe::decode::Packet;
use crate::observe::drops::{Dropped, Mark};
use crate::observe::probe::{Leg, Patience};

/// The longest a check waits for neighbour resolutions after its own deadline.
pub const LIMIT: Duration = Duration::from_secs(10);

/// What a traffic check's probe leaves to explain its observation.
pub struct Observed {
    /// The step's drops from the probe's start to its conclusion: not those of its
    /// teardown (a server's answer to a socket it closed), which would make reports
    /// flap.
    pub drops: Vec<Dropped>,
    /// The local end of the probe's socket: its flow among others to the same port.
    pub local: Option<SocketAddr>,
}

/// Patience with a topology that may still be resolving neighbours.
pub struct Settled<'t> {
    topology: &'t Topology,
    rt: &'t tokio::runtime::Runtime,
    /// Silence granted once resolutions have ended.
    quiet: Duration,
    give_up: Instant,
    /// Why silence was judged anyway: `node: entry` still being resolved at [`LIMIT`],
    /// or the table that could not be read.
    pub unsettled: Option<String>,
    /// The first of the step's drops that can be this wait's ([`crate::observe::drops`]).
    drops_from: Mark,
    /// Where the probe's observation ended ([`Patience::concluded`]): later drops are
    /// its teardown's.
    drops_until: Option<Mark>,
    /// The local end of the probe's socket, as it told when it concluded.
    local: Option<SocketAddr>,
    /// The ICMP errors each node had sent when the probe began to watch for drops
    /// ([`Patience::news`]: only probes that may end early pay for the reads; see the
    /// module doc).
    icmp_errors_before: OnceCell<HashMap<String, u64>>,
}

impl<'t> Settled<'t> {
    /// After a deadline, wait while resolutions go on, then `quiet` more.
    pub fn new(topology: &'t Topology, rt: &'t tokio::runtime::Runtime, quiet: Duration) -> Settled<'t> {
        let drops_from = topology.drops.mark();
        let give_up = Instant::now() + quiet + LIMIT;
        Settled {
            topology,
            rt,
            quiet,
            give_up,
            unsettled: None,
            drops_from,
            drops_until: None,
            local: None,
            icmp_errors_before: OnceCell::new(),
        }
    }

    /// The drops that can be the probe's: from its start to its conclusion (or now).
    pub fn observed(&self) -> Observed {
        Observed { drops: self.topology.drops.between(self.drops_from, self.drops_until), local: self.local }
    }

    /// Whether `node` sent an ICMP error since [`Patience::news`] was first asked;
    /// `true` when unknown.
    fn sent_icmp_error(&self, node: &str) -> bool {
        let now = self.topology.nodes.get(node).map(counters::icmp_errors_sent);
        match (self.icmp_errors_before.get().and_then(|before| before.get(node)), now) {
            (Some(before), Some(Ok(now))) => now != *before,
            _ => true,
        }
    }

    /// The verdict of a check that used this patience: `holds`, unless its silence was
    /// judged while the network was still settling. Then it is never a pass (a reply
    /// could still have come: no green on a state the kernel is still changing), and
    /// the observation says what was still being resolved.
    pub fn judged(&self, holds: bool, observed: &mut String) -> bool {
        settled_verdict(holds, self.unsettled.as_deref(), observed)
    }

    /// The first node (by name) with an INCOMPLETE neighbour entry, and that entry.
    fn resolving(&self) -> Result<Option<(&'t str, netlink::NeighbourEntry)>, String> {
        for (name, node) in &self.topology.nodes {
            let entries = self.rt.block_on(netlink::neighbours(&node.netlink)).map_err(|e| format!("{name}: {e}"))?;
            if let Some(entry) = entries.into_iter().find(|e| e.state == NudState::Incomplete) {
                return Ok(Some((name, entry)));
            }
        }
        Ok(None)
    }

    /// Wait until `node`'s table changes (or the limit passes).
    fn wait_for_change(&self, node: &str) -> Result<(), String> {
        let handle = &self.topology.nodes[node];
        // Subscribed before reading again, so that the change cannot slip in between.
        let events = netlink::TableEvents::subscribe_neighbours(&handle.ns).map_err(|e| format!("{node}: {e}"))?;
        let entries = self.rt.block_on(netlink::neighbours(&handle.netlink)).map_err(|e| format!("{node}: {e}"))?;
        if entries.iter().any(|e| e.state == NudState::Incomplete) {
            events.wait(self.give_up).map_err(|e| format!("{node}: {e}"))?;
        }
        Ok(())
    }
}

impl Patience for Settled<'_> {
    fn news(&self) -> Option<RawFd> {
        let news = self.topology.drops.news()?;
        self.icmp_errors_before.get_or_init(|| {
            let nodes = self.topology.nodes.iter();
            nodes.filter_map(|(name, node)| Some((name.clone(), counters::icmp_errors_sent(node).ok()?))).collect()
        });
        Some(news.as_raw_fd())
    }

    fn concluded(&mut self, local: Option<SocketAddr>) {
        self.drops_until = Some(self.topology.drops.mark());
        self.local = local;
    }

    fn lost(&mut self, leg_of: &dyn Fn(&Packet) -> Option<Leg>) -> bool {
        let drops = self.topology.drops.lost(self.drops_from, |p| leg_of(p).is_some());
        drops.iter().any(|d| leg_of(&d.packet) == Some(Leg::Answer) || !self.sent_icmp_error(&d.node))
    }

    fn more(&mut self) -> Option<Instant> {
        let mut waited = false;
        loop {
            let resolving = self.resolving().and_then(|found| match found {
                Some((node, entry)) if Instant::now() >= self.give_up => {
                    Err(format!("{node} still resolving {entry} after {}", humantime::format_duration(LIMIT)))
                }
                Some((node, _)) => self.wait_for_change(node).map(|()| true),
                None => Ok(false),
            });
            match resolving {
                Ok(true) => waited = true,
                Ok(false) => return waited.then(|| Instant::now() + self.quiet),
                Err(why) => {
                    self.unsettled = Some(why);
                    return None;
                }
            }
        }
    }
}

fn settled_verdict(holds: bool, unsettled: Option<&str>, observed: &mut String) -> bool {
    match unsettled {
        None => holds,
        Some(why) => {
            observed.push_str(&format!(" (could not be judged: the network had not settled: {why})"));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_on_an_unsettled_network_is_never_a_pass() {
        let mut observed = "sent 1, received 0: no reply within 200ms".to_string();
        assert!(settled_verdict(true, None, &mut observed));
        assert!(!settled_verdict(true, Some("a still resolving 10.0.0.9 dev eth0"), &mut observed));
        assert!(
            observed
                .ends_with("(could not be judged: the network had not settled: a still resolving 10.0.0.9 dev eth0)")
        );
        assert!(!settled_verdict(false, Some("b: table unreadable"), &mut String::new()));
    }
}
