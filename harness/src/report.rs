//! The report of one scenario run: the topology as the kernel shows it after the
//! build, what each step did, asserted and observed, and the packets it captured.
//!
//! Deterministic by construction, so it can be snapshotted and diffed: no timestamps,
//! ifindexes or timings; MACs are the stable ones the build assigns; IPv6 link-local
//! addresses are not generated; echo identifiers are fixed. What remains variable is
//! normalized here and says so: ephemeral ports print as `*`, multicast membership
//! reports (sent by the kernel on its own schedule) are left out of packet lists, and
//! the kernel version is redacted in snapshots.

pub mod graph;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::build::Topology;
use crate::build::netlink::{self, LinkDump};
use crate::judge::Status;
use crate::model::{Direction, Scenario};
use crate::observe::capture::Captured;
use crate::observe::decode;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub scenario: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    /// `uname -r` of the machine that ran it (redacted in snapshots).
    pub kernel: String,
    /// Per node, after the build. Empty when the scenario opts out.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub topology: BTreeMap<String, NodeReport>,
    pub steps: Vec<StepReport>,
    /// Why the kernel's drop reasons are missing from this run's observations (no
    /// root, no BTF or BPF, netrig built without clang...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drops_unexplained: Option<String>,
}

/// One node as the kernel reports it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeReport {
    /// `name: kind state [master X] mtu N mac addresses...`, sorted by name.
    pub links: Vec<String>,
    /// All routing tables but `local`, in `ip route` style.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<String>,
    /// The sysctls the scenario set on this node, read back from the kernel.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctl: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StepReport {
    pub name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    pub checks: Vec<CheckReport>,
    /// Decoded packet summaries per captured `node:iface`, in capture order.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub packets: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub check: String,
    pub status: Status,
    pub observed: String,
}

/// The running kernel's release, as `uname -r` prints it.
pub fn kernel_release() -> String {
    nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_else(|_| "unknown".into())
}

/// Read the topology back from the kernel, node by node.
pub async fn topology(scenario: &Scenario, topology: &Topology) -> Result<BTreeMap<String, NodeReport>, String> {
    let mut nodes = BTreeMap::new();
    for (name, handle) in &topology.nodes {
        let mut links = netlink::links(&handle.netlink).await.map_err(|e| e.to_string())?;
        links.sort_by(|a, b| a.name.cmp(&b.name));
        let routes = netlink::routes(&handle.netlink).await.map_err(|e| e.to_string())?;
        let mut sysctl = BTreeMap::new();
        for key in scenario.nodes[name].sysctl.keys() {
            let value = crate::build::baseline::read(&handle.ns, key).map_err(|e| e.to_string())?;
            sysctl.insert(key.clone(), value.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        nodes.insert(name.clone(), NodeReport { links: links.iter().map(link_line).collect(), routes, sysctl });
    }
    Ok(nodes)
}

/// `vethA: veth UP master mybr0 mtu 1500 02:…:2e 172.18.0.1/16`
fn link_line(link: &LinkDump) -> String {
    let mut words = vec![format!("{}:", link.name), link.kind.clone().unwrap_or_else(|| "device".into())];
    words.push(if link.admin_up { link.oper_state.clone() } else { "DOWN (admin)".into() });
    if let Some(master) = &link.master {
        words.push(format!("master {master}"));
    }
    words.push(format!("mtu {}", link.mtu));
    if let Some(mac) = link.mac {
        words.push(mac.to_string());
    }
    words.extend(link.addresses.iter().map(ToString::to_string));
    words.join(" ")
}

/// The packets of one interface for the report: direction and decoded summary, with
/// membership reports and router solicitations left out and ephemeral ports shown as `*`.
pub fn packet_lines(packets: &[Captured]) -> Vec<String> {
    packets
        .iter()
        .map(|p| (p, decode::decode(&p.data)))
        .filter(|(_, decoded)| !decoded.is_self_timed())
        .map(|(p, decoded)| hide_ephemeral_ports(&format!("{} {decoded}", arrow(p.direction))))
        .collect()
}

/// One packet as a failure message shows it: nothing hidden, MACs and frame length
/// included.
pub fn packet_line(p: &Captured) -> String {
    format!("{} {:#}", arrow(p.direction), decode::decode(&p.data))
}

fn arrow(direction: Option<Direction>) -> &'static str {
    match direction {
        Some(Direction::In) => "in ",
        Some(Direction::Out) => "out",
        None => "   ",
    }
}

/// Ports the kernel picks for outgoing connections (Linux's default
/// ip_local_port_range, 32768-60999) change from run to run.
pub(crate) fn hide_ephemeral_ports(line: &str) -> String {
    let re = regex::Regex::new(r":(\d{5})\b").expect("valid regex");
    re.replace_all(line, |c: &regex::Captures<'_>| {
        let port: u32 = c[1].parse().unwrap_or(0);
        if (32768..=60999).contains(&port) { ":*".to_string() } else { c[0].to_string() }
    })
    .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ephemeral_ports_are_hidden_and_service_ports_kept() {
        assert_eq!(
            hide_ephemeral_ports("IPv4 10.0.0.1:45123 > 10.0.0.2:8080 TCP SYN"),
            "IPv4 10.0.0.1:* > 10.0.0.2:8080 TCP SYN"
        );
        assert_eq!(hide_ephemeral_ports("IPv4 1.2.3.4:61000 > 1.2.3.5:4789"), "IPv4 1.2.3.4:61000 > 1.2.3.5:4789");
    }

    #[test]
    fn link_lines_read_like_ip_link() {
        let link = LinkDump {
            name: "vethA".into(),
            index: 7,
            kind: Some("veth".into()),
            master: Some("mybr0".into()),
            admin_up: true,
            carrier: true,
            oper_state: "UP".into(),
            mtu: 1500,
            mac: Some("02:00:00:00:00:01".parse().unwrap()),
            addresses: vec!["10.0.0.1/24".parse().unwrap()],
        };
        assert_eq!(link_line(&link), "vethA: veth UP master mybr0 mtu 1500 02:00:00:00:00:01 10.0.0.1/24");
    }
}
