//! A bridge's own options (IFLA_BR_*): its multicast settings, given at creation under
//! `bridges:`, and what a `link` check reads back of a bridge.

use schemars::JsonSchema;
use serde::Deserialize;

/// Who is a multicast router port (`mcast_router`): `disabled`, `temp_query` (learned
/// from queries, the kernel's default) or `permanent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum McastRouter {
    Disabled,
    TempQuery,
    Permanent,
}

impl McastRouter {
    pub fn name(self) -> &'static str {
        match self {
            McastRouter::Disabled => "disabled",
            McastRouter::TempQuery => "temp_query",
            McastRouter::Permanent => "permanent",
        }
    }
}

/// The multicast options of a bridge, set at its creation (IFLA_INFO_DATA); the ones
/// left out keep the kernel's defaults. They matter only with `multicast_snooping: true`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BridgeMulticast {
    /// The bridge sends IGMP/MLD queries itself when no other querier is heard.
    #[serde(default)]
    pub querier: Option<bool>,
    /// Whether the bridge itself is a multicast router port.
    #[serde(default)]
    pub router: Option<McastRouter>,
    /// Queries use the bridge's own address as source (else 0.0.0.0 / ::).
    #[serde(default)]
    pub query_use_ifaddr: Option<bool>,
    /// IGMP version of its queries: 2 or 3.
    #[serde(default)]
    pub igmp_version: Option<u8>,
    /// MLD version of its queries: 1 or 2.
    #[serde(default)]
    pub mld_version: Option<u8>,
    /// Per-port multicast statistics.
    #[serde(default)]
    pub stats: Option<bool>,
}

impl BridgeMulticast {
    /// Why the kernel would refuse these (EINVAL for an unknown protocol version).
    pub fn unsettable(&self) -> Option<String> {
        if let Some(v) = self.igmp_version.filter(|v| !(2..=3).contains(v)) {
            return Some(format!("IGMP version {v}: the kernel speaks 2 or 3"));
        }
        self.mld_version.filter(|v| !(1..=2).contains(v)).map(|v| format!("MLD version {v}: the kernel speaks 1 or 2"))
    }
}

/// A bridge's options as a `link` check compares them; only those given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BridgeOptions {
    /// Kernel spanning tree on.
    #[serde(default)]
    pub stp: Option<bool>,
    /// `ageing_time`, e.g. `300s` or `1s`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub ageing_time: Option<super::Dur>,
    #[serde(default)]
    pub group_fwd_mask: Option<u16>,
    #[serde(default)]
    pub nf_call_iptables: Option<bool>,
    #[serde(default)]
    pub nf_call_ip6tables: Option<bool>,
    #[serde(default)]
    pub nf_call_arptables: Option<bool>,
    #[serde(default)]
    pub multicast_snooping: Option<bool>,
    /// The multicast options (see `bridges:`).
    #[serde(default)]
    pub multicast: Option<BridgeMulticast>,
}

/// The spanning-tree state of a bridge port (IFLA_BRPORT_STATE), as `bridge link set
/// ... state` names them. The kernel refuses a state on a port that is not up
/// (ENETDOWN) or under kernel STP (EBUSY); with STP off it puts a port that comes up
/// into forwarding, and may put one back there at its next port-state selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    Disabled,
    Listening,
    Learning,
    Forwarding,
    Blocking,
}

impl PortState {
    pub fn name(self) -> String {
        format!("{self:?}").to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BridgePortFlags;

    #[test]
    fn a_port_state_reads_as_bridge_link_writes_it() {
        let flags: BridgePortFlags = serde_saphyr::from_str("{learning: false, state: blocking, cost: 5}").unwrap();
        assert_eq!(flags.to_string(), "learning off cost 5 state blocking");
        assert_eq!(PortState::Forwarding.name(), "forwarding");
    }

    #[test]
    fn only_the_protocol_versions_the_kernel_speaks_are_accepted() {
        let versions = |igmp, mld| BridgeMulticast { igmp_version: igmp, mld_version: mld, ..Default::default() };
        assert_eq!(versions(Some(3), Some(2)).unsettable(), None);
        assert!(versions(Some(1), None).unsettable().is_some());
        assert!(versions(None, Some(0)).unsettable().is_some());
    }
}
