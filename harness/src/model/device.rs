//! Device kinds a node can hold beyond bridges, vxlans, macvlans and taps: `dummy`
//! devices, 802.1Q/802.1ad sub-interfaces (`vlan`) and VRFs, and the VLAN membership
//! of a VLAN-aware bridge and its ports (`vlans:`). Several kernels (the CI's among
//! them) are built without some of these: creating one is then a skip with the
//! kernel's reason, not a failure.

use std::fmt;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{LinkState, Loc, MacAddr};

/// A dummy device (`ip link add NAME type dummy`): an interface without a wire, for
/// addresses a node owns whatever its links do (a router ID, a service address).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dummy {
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub addresses: Vec<Loc<IpNet>>,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub mac: Option<MacAddr>,
    #[serde(default)]
    pub state: LinkState,
    /// Bridge or VRF (in the same node) to enslave it to.
    #[serde(default)]
    pub master: Option<Loc<String>>,
}

/// A VLAN sub-interface (`ip link add link PARENT name NAME type vlan id ID`): frames
/// it sends leave `parent` tagged with `id`, tagged frames arriving there come out of it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vlan {
    /// The interface (of the same node) that carries the tagged frames.
    pub parent: Loc<String>,
    /// VLAN ID, 1 to 4094.
    pub id: u16,
    /// Tag protocol: `802.1Q` (default) or `802.1ad` (a service tag, for Q-in-Q).
    #[serde(default)]
    pub protocol: VlanProtocol,
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub addresses: Vec<Loc<IpNet>>,
    /// MTU; the kernel gives it the parent's when omitted.
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub mac: Option<MacAddr>,
    #[serde(default)]
    pub state: LinkState,
    /// Bridge or VRF (in the same node) to enslave it to.
    #[serde(default)]
    pub master: Option<Loc<String>>,
}

/// The tag a VLAN sub-interface adds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum VlanProtocol {
    /// A customer tag, TPID 0x8100.
    #[default]
    #[serde(rename = "802.1Q", alias = "802.1q")]
    Dot1Q,
    /// A service tag, TPID 0x88a8.
    #[serde(rename = "802.1ad")]
    Dot1Ad,
}

impl fmt::Display for VlanProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VlanProtocol::Dot1Q => "802.1Q",
            VlanProtocol::Dot1Ad => "802.1ad",
        })
    }
}

/// A VRF device (`ip link add NAME type vrf table TABLE`): interfaces enslaved to it
/// (`master: NAME`, or a veth end's `@NAME`) have their routes looked up in `table`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vrf {
    /// The routing table of the VRF (not `local`, `main` or `default`).
    pub table: u32,
    #[serde(default)]
    pub mac: Option<MacAddr>,
    #[serde(default)]
    pub state: LinkState,
}

/// One VLAN of a bridge port (under `interfaces:`) or of the bridge itself (under
/// `bridges:`), as `bridge vlan add ... vid ID [pvid] [untagged]` sets it: a plain
/// number is a tagged member, a map says more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum BridgeVlan {
    /// A tagged member of this VLAN.
    Tagged(u16),
    Member {
        /// VLAN ID, 1 to 4094.
        vid: u16,
        /// Untagged frames arriving here belong to this VLAN (at most one per port).
        #[serde(default)]
        pvid: bool,
        /// Frames of this VLAN leave here without their tag.
        #[serde(default)]
        untagged: bool,
    },
}

impl BridgeVlan {
    pub fn vid(&self) -> u16 {
        match *self {
            BridgeVlan::Tagged(vid) | BridgeVlan::Member { vid, .. } => vid,
        }
    }

    pub fn pvid(&self) -> bool {
        matches!(self, BridgeVlan::Member { pvid: true, .. })
    }

    pub fn untagged(&self) -> bool {
        matches!(self, BridgeVlan::Member { untagged: true, .. })
    }
}

impl fmt::Display for BridgeVlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vid {}", self.vid())?;
        if self.pvid() {
            f.write_str(" pvid")?;
        }
        if self.untagged() {
            f.write_str(" untagged")?;
        }
        Ok(())
    }
}

/// Why a list of VLANs cannot be set, if it cannot: IDs outside 1-4094 (0 and 4095
/// are reserved by 802.1Q), one listed twice, more than one PVID.
pub fn vlan_list_problem(vlans: &[BridgeVlan]) -> Option<String> {
    if let Some(bad) = vlans.iter().find(|v| !(1..=4094).contains(&v.vid())) {
        return Some(format!("VLAN ID {} is outside 1-4094", bad.vid()));
    }
    for (i, v) in vlans.iter().enumerate() {
        if vlans[..i].iter().any(|w| w.vid() == v.vid()) {
            return Some(format!("VLAN {} is listed twice", v.vid()));
        }
    }
    if vlans.iter().filter(|v| v.pvid()).count() > 1 {
        return Some("more than one VLAN is the pvid; a port has at most one".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlan_lists_refuse_reserved_ids_duplicates_and_two_pvids() {
        let member = |vid, pvid| BridgeVlan::Member { vid, pvid, untagged: pvid };
        assert_eq!(vlan_list_problem(&[member(10, true), BridgeVlan::Tagged(20)]), None);
        assert_eq!(vlan_list_problem(&[BridgeVlan::Tagged(0)]).unwrap(), "VLAN ID 0 is outside 1-4094");
        assert_eq!(vlan_list_problem(&[BridgeVlan::Tagged(4095)]).unwrap(), "VLAN ID 4095 is outside 1-4094");
        assert_eq!(vlan_list_problem(&[BridgeVlan::Tagged(7), member(7, false)]).unwrap(), "VLAN 7 is listed twice");
        assert!(vlan_list_problem(&[member(1, true), member(2, true)]).unwrap().contains("more than one"));
    }

    #[test]
    fn bridge_vlans_read_as_numbers_or_maps() {
        let vlans: Vec<BridgeVlan> = serde_saphyr::from_str("[20, {vid: 10, pvid: true, untagged: true}]").unwrap();
        assert_eq!(vlans, [BridgeVlan::Tagged(20), BridgeVlan::Member { vid: 10, pvid: true, untagged: true }]);
        assert_eq!(vlans[1].to_string(), "vid 10 pvid untagged");
        let protocol: VlanProtocol = serde_saphyr::from_str("802.1ad").unwrap();
        assert_eq!(protocol, VlanProtocol::Dot1Ad);
    }
}
