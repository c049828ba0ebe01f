//! Build a scenario's topology in fresh namespaces, over netlink.
//!
//! Order (each phase batched across nodes where the kernel allows):
//! namespaces + baseline → global sysctls → bridges → veth pairs (each end born in its
//! namespace) → vxlan / macvlan / tap → per-interface settings (MAC, MTU, master) →
//! addresses → link up → interface sysctls → routes, rules, neighbours, fdb →
//! listeners → `run` commands. Teardown is dropping the [`Topology`].

use std::collections::BTreeMap;

use crate::model::Scenario;
use crate::netns::Netns;

/// A node of a running topology: its namespace and a netlink handle bound to it.
pub struct NodeHandle {
    pub ns: Netns,
    pub netlink: rtnetlink::Handle,
}

/// Everything a run created. Dropping it tears the topology down: namespaces are
/// held only by fds, so they vanish with every interface in them.
pub struct Topology {
    pub nodes: BTreeMap<String, NodeHandle>,
}

/// Why a topology could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The kernel lacks a feature the scenario needs: the scenario is skipped.
    #[error("kernel does not support {what}: {reason}")]
    Unsupported { what: String, reason: String },
    /// A kernel operation failed.
    #[error("{what}: {error}")]
    Kernel { what: String, error: String },
    /// A `run` command failed.
    #[error("command `{command}` in node {node} exited with {status}\n{output}")]
    Command { node: String, command: String, status: String, output: String },
}

/// Build `scenario` (already validated). On error everything built so far is torn down.
pub async fn build(scenario: &Scenario) -> Result<Topology, BuildError> {
    let _ = scenario;
    todo!("helper B")
}
