//! TODO(helper B): placeholder
use std::net::IpAddr;
pub struct RouteLookup { pub dev: Option<String>, pub via: Option<IpAddr> }
impl std::fmt::Display for RouteLookup { fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { Ok(()) } }
pub async fn route_get(_: &rtnetlink::Handle, _: IpAddr) -> Result<RouteLookup, String> { todo!() }
