//! Actions of a step: changes to the running topology (addresses, routes, links,
//! sysctls, commands), applied in order over netlink inside the node's namespace, and
//! frames put on the wire (crafted or replayed from a pcap file, see [`crate::observe::inject`]).

use crate::build::netlink::{self, KindChange, LinkChange, LinkRef, Master};
use crate::build::{self, NodeHandle, Topology, link_local};
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::model::{Action, LinkState, MacAddr, ReplayAction, SendAction};
use crate::observe::frame;
use crate::observe::inject::{self, Injector, StackSender};
use crate::observe::refusal::ActionError;
use crate::observe::service;
use crate::{build::baseline, observe::exec};

/// How long a `run` action's command may take.
pub const RUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// One line saying what the action does, in the scenario's own words.
pub fn describe(action: &Action) -> String {
    match action {
        Action::AddAddress(a) => format!("add address {} to {}", *a.address, *a.dev),
        Action::DelAddress(a) => format!("delete address {} from {}", *a.address, *a.dev),
        Action::MoveAddress(m) => format!("move address {} from {} to {}", *m.address, *m.from, m.to.iface),
        Action::AddRoute(r) => format!("on {}: add route {}", r.on.as_str(), *r.route),
        Action::AppendRoute(r) => format!("on {}: append route {}", r.on.as_str(), *r.route),
        Action::DelRoute(r) => format!("on {}: delete route {}", r.on.as_str(), *r.route),
        Action::AddRule(r) => format!("on {}: add rule {}", r.on.as_str(), *r.rule),
        Action::DelRule(r) => format!("on {}: delete rule {}", r.on.as_str(), *r.rule),
        Action::AddNeighbour(n) => format!("on {}: add neighbour {}", n.on.as_str(), *n.neighbour),
        Action::DelNeighbour(n) => {
            format!("on {}: delete neighbour {}", n.on.as_str(), *n.neighbour)
        }
        Action::FlushNeighbours(f) => match &f.dev {
            Some(dev) => format!("on {}: flush neighbours dev {}", f.on.as_str(), dev.as_str()),
            None => format!("on {}: flush neighbours", f.on.as_str()),
        },
        Action::AddFdb(f) => format!("on {}: add fdb {}", f.on.as_str(), *f.fdb),
        Action::DelFdb(f) => format!("on {}: delete fdb {}", f.on.as_str(), *f.fdb),
        Action::SetLink(l) => {
            let mut what = format!("set {}", *l.dev);
            if let Some(state) = l.state {
                what.push_str(if state == crate::model::LinkState::Up { " up" } else { " down" });
            }
            if let Some(mtu) = l.mtu {
                what.push_str(&format!(" mtu {mtu}"));
            }
            let change =
                LinkChange { mac: l.mac, txqueuelen: l.txqueuelen, name: new_name(l), ..LinkChange::default() };
            let words = std::iter::once(change.to_string()).chain(kind_changes(l).into_iter().map(|k| k.to_string()));
            for words in words.filter(|w| !w.is_empty()) {
                what.push_str(&format!(" {words}"));
            }
            what
        }
        Action::SetMaster(m) => match &m.master {
            Some(br) => format!("enslave {} to {}", *m.dev, br.as_str()),
            None => format!("detach {} from its bridge", *m.dev),
        },
        Action::MoveLink(m) => format!("move {} to node {}", *m.dev, m.to.as_str()),
        Action::SetPort(p) => format!("set bridge port {} {}", *p.dev, p.port),
        Action::AddLink(a) => a.to_string(),
        Action::DelLink(d) => format!("delete link {}", *d.dev),
        Action::Wait(w) => format!("wait {} for {}", humantime::format_duration(w.duration.0), w.why.as_str()),
        Action::Sysctl(s) => {
            let sets: Vec<String> = s.set.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("on {}: sysctl {}", s.on.as_str(), sets.join(" "))
        }
        Action::Run(r) => format!("on {}: run `{}`", r.on.as_str(), r.cmd.as_str()),
        Action::Send(send) => {
            let times = if *send.count > 1 { format!(" ×{}", *send.count) } else { String::new() };
            let every = send
                .interval
                .as_ref()
                .map(|i| format!(" every {}", humantime::format_duration(i.0)))
                .unwrap_or_default();
            match (&send.dev, &send.on) {
                (Some(dev), _) => format!("send out of {}: {}{times}{every}", **dev, frame::describe(send)),
                (None, on) => format!(
                    "on {}: send {}{times}{every}",
                    on.as_ref().map_or("", |o| o.as_str()),
                    frame::describe(send)
                ),
            }
        }
        Action::Replay(r) => format!("replay {} out of {}", r.pcap.as_str(), *r.into),
        Action::StartService(a) => format!("on {}: start service {}", a.on.as_str(), a.service.as_str()),
        Action::StopService(a) => format!("on {}: stop service {}", a.on.as_str(), a.service.as_str()),
        Action::RestartService(a) => format!("on {}: restart service {}", a.on.as_str(), a.service.as_str()),
        Action::SignalService(a) => {
            format!("on {}: signal {} to service {}", a.on.as_str(), a.signal.as_str(), a.service.as_str())
        }
        Action::ResetCounters(r) => format!("on {}: `{}`", r.on.as_str(), r.command().unwrap_or_default()),
        Action::SetQdisc(q) => format!("set qdisc {} on {}", q.qdisc, *q.dev),
        Action::DelQdisc(q) => format!("delete the {} qdisc of {}", if q.clsact { "clsact" } else { "root" }, *q.dev),
    }
}

/// Apply one action to the running topology. A refusal of the kernel keeps its errno
/// (see [`crate::observe::refusal`]).
pub fn apply(topology: &Topology, rt: &tokio::runtime::Runtime, action: &Action) -> Result<(), ActionError> {
    // Validation guarantees every node named by an action exists.
    let node = |name: &str| -> &NodeHandle { &topology.nodes[name] };
    let failed = ActionError::from;
    let not_refused = |e: std::io::Error| ActionError::from(e.to_string());
    match action {
        Action::AddAddress(a) => {
            let h = &node(&a.dev.node).netlink;
            rt.block_on(link_local::add_address(h, &a.dev.iface, *a.address)).map_err(failed)
        }
        Action::DelAddress(a) => {
            let h = &node(&a.dev.node).netlink;
            rt.block_on(netlink::del_address(h, LinkRef::Name(&a.dev.iface), *a.address)).map_err(failed)
        }
        Action::MoveAddress(m) => {
            let h = &node(&m.from.node).netlink;
            rt.block_on(async {
                netlink::del_address(h, LinkRef::Name(&m.from.iface), *m.address).await?;
                link_local::add_address(h, &m.to.iface, *m.address).await
            })
            .map_err(failed)
        }
        Action::AddRoute(r) => rt.block_on(netlink::add_route(&node(&r.on).netlink, &r.route)).map_err(failed),
        Action::AppendRoute(r) => rt.block_on(netlink::append_route(&node(&r.on).netlink, &r.route)).map_err(failed),
        Action::DelRoute(r) => rt.block_on(netlink::del_route(&node(&r.on).netlink, &r.route)).map_err(failed),
        Action::AddRule(r) => rt.block_on(netlink::add_rule(&node(&r.on).netlink, &r.rule)).map_err(failed),
        Action::DelRule(r) => rt.block_on(netlink::del_rule(&node(&r.on).netlink, &r.rule)).map_err(failed),
        Action::AddNeighbour(n) => {
            rt.block_on(netlink::add_neighbour(&node(&n.on).netlink, &n.neighbour)).map_err(failed)
        }
        Action::DelNeighbour(n) => {
            rt.block_on(netlink::del_neighbour(&node(&n.on).netlink, &n.neighbour)).map_err(failed)
        }
        Action::FlushNeighbours(f) => {
            let dev = f.dev.as_ref().map(|d| d.as_str());
            rt.block_on(netlink::flush_neighbours(&node(&f.on).netlink, dev)).map_err(failed)
        }
        Action::AddFdb(f) => rt.block_on(netlink::add_fdb(&node(&f.on).netlink, &f.fdb)).map_err(failed),
        Action::DelFdb(f) => rt.block_on(netlink::del_fdb(&node(&f.on).netlink, &f.fdb)).map_err(failed),
        Action::SetLink(l) => {
            let change = LinkChange {
                mtu: l.mtu,
                up: l.state.map(|s| s == LinkState::Up),
                mac: l.mac,
                txqueuelen: l.txqueuelen,
                name: new_name(l),
                ..LinkChange::default()
            };
            let handle = node(&l.dev.node);
            rt.block_on(async {
                // The kind's attributes first: after a rename the old name is gone.
                for kind in kind_changes(l) {
                    netlink::change_kind(&handle.netlink, &l.dev.iface, &kind).await?;
                }
                change_and_settle(topology, handle, &l.dev.iface, &change).await
            })
        }
        Action::SetMaster(m) => {
            let master = match &m.master {
                Some(bridge) => Master::Set(bridge.as_str().into()),
                None => Master::Unset,
            };
            let change = LinkChange { master: Some(master), ..LinkChange::default() };
            rt.block_on(change_and_settle(topology, node(&m.dev.node), &m.dev.iface, &change))
        }
        Action::MoveLink(m) => rt.block_on(async {
            let moved = netlink::move_link(&node(&m.dev.node).netlink, &m.dev.iface, &node(&m.to).ns).await;
            moved.map_err(failed)?;
            // Its carrier, and its peer's, change with the move.
            Ok(build::settle_everywhere(topology).await?)
        }),
        // The documented exception to never sleeping: a kernel timer announces nothing.
        Action::Wait(w) => {
            std::thread::sleep(w.duration.0);
            Ok(())
        }
        // Created by the build's own code, settled as the build settles.
        Action::AddLink(a) => Ok(rt.block_on(build::add_links(topology, &a.as_scenario()))?),
        Action::DelLink(d) => rt.block_on(async {
            netlink::del_link(&node(&d.dev.node).netlink, LinkRef::Name(&d.dev.iface)).await?;
            // A veth's peer goes with it, and with the peer a bridge's carrier.
            Ok(build::settle_everywhere(topology).await?)
        }),
        Action::SetPort(p) => {
            rt.block_on(netlink::set_bridge_port(&node(&p.dev.node).netlink, &p.dev.iface, &p.port)).map_err(failed)
        }
        Action::Sysctl(s) => {
            let settings: Vec<(String, String)> = s.set.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
            node(&s.on).finish_baseline().map_err(not_refused)?;
            // A write the kernel refuses (EINVAL) is a refusal with its errno.
            Ok(baseline::write_many(&node(&s.on).ns, &settings)?)
        }
        Action::Send(send) => Ok(send_frame(topology, send)?),
        Action::Replay(replay) => Ok(replay_pcap(&node(&replay.into.node).ns, replay)?),
        Action::StartService(a) => Ok(service::start(topology, &a.on, &a.service)?),
        Action::StopService(a) => Ok(service::stop(topology, &a.on, &a.service)?),
        Action::RestartService(a) => Ok(service::restart(topology, &a.on, &a.service)?),
        Action::SignalService(a) => Ok(service::signal(topology, &a.on, &a.service, &a.signal)?),
        Action::Run(r) => {
            node(&r.on).finish_baseline().map_err(not_refused)?;
            run_command(node(&r.on), &r.cmd)?;
            // The command may have changed links (`ip link set ... down`).
            Ok(rt.block_on(build::settle_everywhere(topology))?)
        }
        Action::SetQdisc(q) => {
            Ok(rt.block_on(build::qdisc::set(&node(&q.dev.node).netlink, &q.dev.iface, &q.qdisc))?)
        }
        Action::DelQdisc(q) => {
            Ok(rt.block_on(build::qdisc::delete(&node(&q.dev.node).netlink, &q.dev.iface, q.clsact))?)
        }
        // Validation guarantees there is a command: nft or iptables.
        Action::ResetCounters(r) => Ok(run_command(node(&r.on), &r.command().unwrap_or_default())?),
    }
}

/// Run `command` in the node; its output is the failure message if it fails.
fn run_command(node: &NodeHandle, command: &str) -> Result<(), String> {
    let out = exec::run(&node.ns, command, RUN_TIMEOUT).map_err(|e| e.to_string())?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "exited with {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// Change a link, then wait until every link the change reaches has settled
/// ([`build::settle_everywhere`]): the next check must not be decided on a state the
/// kernel is still changing.
async fn change_and_settle(
    topology: &Topology,
    handle: &NodeHandle,
    iface: &str,
    change: &LinkChange<'_>,
) -> Result<(), ActionError> {
    if *change != LinkChange::default() {
        netlink::set_link(&handle.netlink, LinkRef::Name(iface), change).await?;
    }
    Ok(build::settle_everywhere(topology).await?)
}

/// The new name a `set_link` gives, if any.
fn new_name(l: &crate::model::SetLink) -> Option<&str> {
    l.name.as_ref().map(|n| n.as_str())
}

/// The kind attributes a `set_link` changes, one request per kind.
fn kind_changes(l: &crate::model::SetLink) -> Vec<KindChange> {
    let vxlan = l.vxlan.clone().filter(|v| !v.is_empty()).map(KindChange::Vxlan);
    vxlan.into_iter().chain(l.macvlan.as_ref().map(|m| KindChange::Macvlan(m.mode))).collect()
}

/// Build the crafted frame or packet (its defaults need the interface's MAC and the
/// source address the kernel would choose) and send it `count` times.
fn send_frame(topology: &Topology, send: &SendAction) -> Result<(), String> {
    let failed = |e: std::io::Error| e.to_string();
    let dst = frame::ip_destination(send);
    let src_given = send.ipv4.as_ref().map(|ip| ip.src.is_some()).or(send.ipv6.as_ref().map(|ip| ip.src.is_some()));
    // Validation guarantees exactly one of `dev` and `on`, and `on` with an IP layer.
    let (node, dev) = match (&send.dev, &send.on) {
        (Some(dev), _) => (&dev.node, Some(dev.iface.as_str())),
        (None, on) => (on.as_ref().map(|o| &o.value).ok_or("`send` needs `dev` or `on`")?, None),
    };
    let ns = &topology.nodes[node.as_str()].ns;
    let src = match (dst, src_given) {
        (Some(dst), Some(false)) => Some(inject::source_for(ns, dev, dst).map_err(failed)?),
        _ => None,
    };
    let mut send_once: Box<dyn FnMut() -> std::io::Result<()>> = match dev {
        Some(dev) => {
            let injector = Injector::open(ns, dev).map_err(failed)?;
            let bytes = frame::ethernet_frame(send, injector.mac(), src)?;
            Box::new(move || injector.send(&bytes))
        }
        None => {
            let dst = dst.ok_or("`send` through a node's IP stack needs `ipv4` or `ipv6`")?;
            let src =
                src.unwrap_or(if dst.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() });
            let bytes = frame::ip_packet(send, src, MacAddr([0; 6]))?;
            let sender = StackSender::open(ns, dst.is_ipv6()).map_err(failed)?;
            Box::new(move || sender.send(&bytes, dst))
        }
    };
    for i in 0..*send.count {
        // Pacing asked for by the scenario, not a wait for the kernel.
        if let (Some(interval), true) = (&send.interval, i > 0) {
            std::thread::sleep(interval.0);
        }
        send_once().map_err(|e| {
            if *send.count > 1 { format!("frame {} of {}: {e}", i + 1, *send.count) } else { e.to_string() }
        })?;
    }
    Ok(())
}

/// Send every frame of the pcap file, in order and back to back.
fn replay_pcap(ns: &crate::build::netns::Netns, replay: &ReplayAction) -> Result<(), String> {
    // Validation refuses a scenario whose pcap file was not found.
    let path = replay.path.as_deref().ok_or_else(|| format!("pcap file `{}` not found", replay.pcap.as_str()))?;
    let frames = inject::read_pcap(path)?;
    let injector = Injector::open(ns, &replay.into.iface).map_err(|e| e.to_string())?;
    for (i, frame) in frames.iter().enumerate() {
        injector.send(frame).map_err(|e| format!("frame {} of {}: {e}", i + 1, replay.pcap.as_str()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Scenario;

    #[test]
    fn a_link_brought_up_by_a_step_is_operational_when_the_action_returns() {
        needs_root!();
        // The carrier changes are applied by linkwatch in the background, usually
        // within microseconds here but not under load (CI once caught a bridge DOWN
        // after the build, before the build settled links the same way); p0's bridge
        // gets its carrier back only after p0's.
        let scenario: Scenario = serde_saphyr::from_str(
            r#"
nodes: {a: {}, b: {}, c: {bridges: {br0: {}}}, d: {}}
links:
  - veth: [a:eth0, b:eth0]
  - veth: [d:eth0, c:p0@br0]
steps:
  - do:
      - set_link: {dev: "a:eth0", state: down}
      - set_link: {dev: "a:eth0", state: up}
      - set_master: {dev: "c:p0", master: null}
      - set_link: {dev: "c:p0", state: down}
      - set_link: {dev: "c:p0", state: up}
      - set_master: {dev: "c:p0", master: br0}
"#,
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let topology = rt.block_on(build::build(&scenario)).unwrap();
        let oper_state = |node: &str, name: &str| {
            let links = rt.block_on(netlink::links(&topology.nodes[node].netlink)).unwrap();
            links.into_iter().find(|l| l.name == name).unwrap().oper_state
        };
        for step in &scenario.steps {
            for action in &step.actions {
                apply(&topology, &rt, action).unwrap();
            }
            // A dump, as the report takes: it does not apply pending changes.
            assert_eq!(oper_state("a", "eth0"), "UP");
            assert_eq!(oper_state("c", "p0"), "UP");
            assert_eq!(oper_state("c", "br0"), "UP", "the bridge follows its port");
        }
        rt.block_on(topology.teardown());
    }

    #[test]
    fn a_link_taken_down_settles_its_peer_and_the_peers_bridge_in_another_node() {
        needs_root!();
        // d's end and c's port have index 2 in their fresh namespaces, so linkwatch
        // treats the port's carrier loss as not urgent and applies it up to a second
        // later: without waiting for it, c's port and bridge still read UP.
        let scenario: Scenario = serde_saphyr::from_str(
            r#"
nodes: {c: {bridges: {br0: {}}, macvlans: {mv0: {parent: br0}}}, d: {}}
links:
  - veth: [d:eth0, c:p0@br0]
steps:
  - do:
      - set_link: {dev: "d:eth0", state: down}
"#,
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let topology = rt.block_on(build::build(&scenario)).unwrap();
        let status = |name: &str| {
            let links = rt.block_on(netlink::links(&topology.nodes["c"].netlink)).unwrap();
            let link = links.into_iter().find(|l| l.name == name).unwrap();
            (link.carrier, link.oper_state)
        };
        assert_eq!(status("mv0"), (true, "UP".to_string()), "built up");
        apply(&topology, &rt, &scenario.steps[0].actions[0]).unwrap();
        // A dump, as the report takes: it does not apply pending changes.
        for link in ["p0", "br0", "mv0"] {
            let (carrier, oper_state) = status(link);
            assert!(!carrier && oper_state != "UP", "c:{link} lost its carrier but reads {oper_state}");
        }
        rt.block_on(topology.teardown());
    }
}
