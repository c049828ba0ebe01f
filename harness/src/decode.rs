//! TODO(helper C): placeholder
use crate::model::PacketMatch;
pub struct Packet;
impl std::fmt::Display for Packet { fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { Ok(()) } }
pub fn decode(_: &[u8]) -> Packet { Packet }
pub fn matches(_: &PacketMatch, _: &Packet) -> bool { false }
