//! Creating the device kinds of [`crate::model::device`] (dummy, vlan, vrf) and
//! setting the VLANs of a VLAN-aware bridge and its ports. A kernel lacking one
//! answers "not supported", which skips the scenario with its reason.

use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{BridgeVlanInfoFlags, VlanProtocol};
use rtnetlink::{Handle, LinkBridgeVlan, LinkDummy, LinkVlan, LinkVrf};

use super::{Error, LinkBasics, add_link, change, link_index};
use crate::model::{BridgeVlan, Vlan, VlanProtocol as Protocol, Vrf};

/// Create a dummy device.
pub async fn add_dummy(handle: &Handle, basics: &LinkBasics<'_>) -> Result<(), Error> {
    add_link(handle, basics.apply(LinkDummy::new(basics.name)).build(), "dummy", basics.name, "dummy devices").await
}

/// Create a VLAN sub-interface of `spec.parent` (which exists already).
pub async fn add_vlan(handle: &Handle, basics: &LinkBasics<'_>, spec: &Vlan) -> Result<(), Error> {
    let parent = link_index(handle, &spec.parent)
        .await
        .map_err(|e| e.context(format_args!("(parent of vlan {})", basics.name)))?;
    let protocol = match spec.protocol {
        Protocol::Dot1Q => VlanProtocol::Ieee8021Q,
        Protocol::Dot1Ad => VlanProtocol::Ieee8021Ad,
    };
    let builder = basics.apply(LinkVlan::new(basics.name, parent, spec.id)).protocol(protocol);
    let feature = format!("{} vlan devices", spec.protocol);
    add_link(handle, builder.build(), "vlan", basics.name, &feature).await
}

/// Create a VRF device bound to routing table `spec.table`.
pub async fn add_vrf(handle: &Handle, basics: &LinkBasics<'_>, spec: &Vrf) -> Result<(), Error> {
    let message = basics.apply(LinkVrf::new(basics.name, spec.table)).build();
    add_link(handle, message, "vrf", basics.name, "vrf devices").await
}

/// Whose VLANs [`set_bridge_vlans`] sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VlanOwner {
    /// A port of a bridge (`bridge vlan add dev PORT ...`).
    Port,
    /// The bridge itself (`bridge vlan add dev BR ... self`).
    Bridge,
}

/// The VLAN a port or bridge belongs to, untagged, when it joins (the bridge's
/// `default_pvid`, 1 unless changed).
const DEFAULT_PVID: u16 = 1;

/// Make `vlans` the VLANs of `link`, a port of a VLAN-aware bridge or the bridge
/// itself (`owner`): the default VLAN the kernel gave it is removed unless listed (a
/// listed VLAN that exists already takes the flags given).
pub async fn set_bridge_vlans(
    handle: &Handle,
    link: &str,
    owner: VlanOwner,
    vlans: &[BridgeVlan],
) -> Result<(), Error> {
    let index = link_index(handle, link).await?;
    let message = |vid: u16, flags: BridgeVlanInfoFlags| {
        let builder = LinkBridgeVlan::new(index);
        let builder = if owner == VlanOwner::Bridge { builder.bridge_self() } else { builder };
        builder.vlan(vid, flags).build()
    };
    let self_word = if owner == VlanOwner::Bridge { " self" } else { "" };
    if !vlans.iter().any(|v| v.vid() == DEFAULT_PVID) {
        let what = format!("bridge vlan del dev {link} vid {DEFAULT_PVID}{self_word}");
        let request = RouteNetlinkMessage::DelLink(message(DEFAULT_PVID, BridgeVlanInfoFlags::empty()));
        change(handle, request, 0).await.map_err(|r| r.blame_feature(what, "bridge vlan_filtering"))?;
    }
    for vlan in vlans {
        let mut flags = BridgeVlanInfoFlags::empty();
        flags.set(BridgeVlanInfoFlags::Pvid, vlan.pvid());
        flags.set(BridgeVlanInfoFlags::Untagged, vlan.untagged());
        let what = format!("bridge vlan add dev {link} {vlan}{self_word}");
        let request = RouteNetlinkMessage::SetLink(message(vlan.vid(), flags));
        change(handle, request, 0).await.map_err(|r| r.blame_feature(what, "bridge vlan_filtering"))?;
    }
    Ok(())
}
