//! Actions of a step: changes to the running topology (addresses, routes, links,
//! sysctls, commands), applied in order over netlink inside the node's namespace.

use crate::build::Topology;
use crate::model::Action;

/// One line saying what the action does, in the scenario's own words.
pub fn describe(action: &Action) -> String {
    match action {
        Action::AddAddress(a) => format!("add address {} to {}", *a.address, *a.dev),
        Action::DelAddress(a) => format!("delete address {} from {}", *a.address, *a.dev),
        Action::MoveAddress(m) => format!("move address {} from {} to {}", *m.address, *m.from, m.to.iface),
        Action::AddRoute(r) => format!("on {}: add route {}", r.on.as_str(), *r.route),
        Action::DelRoute(r) => format!("on {}: delete route {}", r.on.as_str(), *r.route),
        Action::AddNeighbour(n) => format!("on {}: add neighbour {}", n.on.as_str(), *n.neighbour),
        Action::DelNeighbour(n) => format!("on {}: delete neighbour {}", n.on.as_str(), *n.neighbour),
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
    }
}

/// Apply one action to the running topology.
pub fn apply(topology: &Topology, rt: &tokio::runtime::Runtime, action: &Action) -> Result<(), String> {
    let _ = (topology, rt, action);
    Err("steps with actions are not supported yet".into())
}
