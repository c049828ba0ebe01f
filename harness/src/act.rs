//! Actions of a step: changes to the running topology (addresses, routes, links,
//! sysctls, commands), applied in order over netlink inside the node's namespace, and
//! frames put on the wire (crafted or replayed from a pcap file, see [`crate::inject`]).

use crate::build::{NodeHandle, Topology};
use crate::frame::ArpFields;
use crate::inject::{self, Injector};
use crate::model::{Action, LinkState, ReplayAction, SendAction};
use crate::netlink::{self, LinkChange, LinkRef, Master};
use crate::{baseline, exec};

/// How long a `run` action's command may take.
pub const RUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// One line saying what the action does, in the scenario's own words.
pub fn describe(action: &Action) -> String {
    match action {
        Action::AddAddress(a) => format!("add address {} to {}", *a.address, *a.dev),
        Action::DelAddress(a) => format!("delete address {} from {}", *a.address, *a.dev),
        Action::MoveAddress(m) => format!("move address {} from {} to {}", *m.address, *m.from, m.to.iface),
        Action::AddRoute(r) => format!("on {}: add route {}", r.on.as_str(), *r.route),
        Action::DelRoute(r) => format!("on {}: delete route {}", r.on.as_str(), *r.route),
        Action::AddNeighbour(n) => format!("on {}: add neighbour {}", n.on.as_str(), *n.neighbour),
        Action::DelNeighbour(n) => {
            format!("on {}: delete neighbour {}", n.on.as_str(), *n.neighbour)
        }
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
            what
        }
        Action::SetMaster(m) => match &m.master {
            Some(br) => format!("enslave {} to {}", *m.dev, br.as_str()),
            None => format!("detach {} from its bridge", *m.dev),
        },
        Action::Sysctl(s) => {
            let sets: Vec<String> = s.set.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("on {}: sysctl {}", s.on.as_str(), sets.join(" "))
        }
        Action::Run(r) => format!("on {}: run `{}`", r.on.as_str(), r.cmd.as_str()),
        Action::Send(send) => format!("send out of {}: {}", *send.dev, send.arp),
        Action::Replay(r) => format!("replay {} out of {}", r.pcap.as_str(), *r.into),
    }
}

/// Apply one action to the running topology.
pub fn apply(topology: &Topology, rt: &tokio::runtime::Runtime, action: &Action) -> Result<(), String> {
    // Validation guarantees every node named by an action exists.
    let node = |name: &str| -> &NodeHandle { &topology.nodes[name] };
    let failed = |e: netlink::Error| e.to_string();
    match action {
        Action::AddAddress(a) => {
            let h = &node(&a.dev.node).netlink;
            rt.block_on(netlink::add_address(h, LinkRef::Name(&a.dev.iface), *a.address)).map_err(failed)
        }
        Action::DelAddress(a) => {
            let h = &node(&a.dev.node).netlink;
            rt.block_on(netlink::del_address(h, LinkRef::Name(&a.dev.iface), *a.address)).map_err(failed)
        }
        Action::MoveAddress(m) => {
            let h = &node(&m.from.node).netlink;
            rt.block_on(async {
                netlink::del_address(h, LinkRef::Name(&m.from.iface), *m.address).await?;
                netlink::add_address(h, LinkRef::Name(&m.to.iface), *m.address).await
            })
            .map_err(failed)
        }
        Action::AddRoute(r) => rt.block_on(netlink::add_route(&node(&r.on).netlink, &r.route)).map_err(failed),
        Action::DelRoute(r) => rt.block_on(netlink::del_route(&node(&r.on).netlink, &r.route)).map_err(failed),
        Action::AddNeighbour(n) => {
            rt.block_on(netlink::add_neighbour(&node(&n.on).netlink, &n.neighbour)).map_err(failed)
        }
        Action::DelNeighbour(n) => {
            rt.block_on(netlink::del_neighbour(&node(&n.on).netlink, &n.neighbour)).map_err(failed)
        }
        Action::AddFdb(f) => rt.block_on(netlink::add_fdb(&node(&f.on).netlink, &f.fdb)).map_err(failed),
        Action::DelFdb(f) => rt.block_on(netlink::del_fdb(&node(&f.on).netlink, &f.fdb)).map_err(failed),
        Action::SetLink(l) => {
            let change = LinkChange { mtu: l.mtu, up: l.state.map(|s| s == LinkState::Up), ..LinkChange::default() };
            let h = &node(&l.dev.node).netlink;
            rt.block_on(netlink::set_link(h, LinkRef::Name(&l.dev.iface), &change)).map_err(failed)
        }
        Action::SetMaster(m) => {
            let master = match &m.master {
                Some(bridge) => Master::Set(bridge.as_str().into()),
                None => Master::Unset,
            };
            let change = LinkChange { master: Some(master), ..LinkChange::default() };
            let h = &node(&m.dev.node).netlink;
            rt.block_on(netlink::set_link(h, LinkRef::Name(&m.dev.iface), &change)).map_err(failed)
        }
        Action::Sysctl(s) => {
            let settings: Vec<(String, String)> = s.set.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
            baseline::write_many(&node(&s.on).ns, &settings).map_err(|e| e.to_string())
        }
        Action::Send(send) => send_frame(&node(&send.dev.node).ns, send),
        Action::Replay(replay) => replay_pcap(&node(&replay.into.node).ns, replay),
        Action::Run(r) => {
            let out = exec::run(&node(&r.on).ns, &r.cmd, RUN_TIMEOUT).map_err(|e| e.to_string())?;
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
    }
}

/// Build the crafted frame (its defaults need the interface's MAC) and send it.
fn send_frame(ns: &crate::netns::Netns, send: &SendAction) -> Result<(), String> {
    let injector = Injector::open(ns, &send.dev.iface).map_err(|e| e.to_string())?;
    let frame = ArpFields::of(&send.arp, injector.mac()).to_frame();
    injector.send(&frame).map_err(|e| e.to_string())
}

/// Send every frame of the pcap file, in order and back to back.
fn replay_pcap(ns: &crate::netns::Netns, replay: &ReplayAction) -> Result<(), String> {
    // Validation refuses a scenario whose pcap file was not found.
    let path = replay.path.as_deref().ok_or_else(|| format!("pcap file `{}` not found", replay.pcap.as_str()))?;
    let frames = inject::read_pcap(path)?;
    let injector = Injector::open(ns, &replay.into.iface).map_err(|e| e.to_string())?;
    for (i, frame) in frames.iter().enumerate() {
        injector.send(frame).map_err(|e| format!("frame {} of {}: {e}", i + 1, replay.pcap.as_str()))?;
    }
    Ok(())
}
