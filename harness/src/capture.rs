//! TODO(helper C): placeholder signatures so the orchestrator compiles before the merge.
use std::path::Path;
use crate::model::Direction;
use crate::netns::Netns;
pub struct Captured { pub direction: Option<Direction>, pub data: Vec<u8> }
pub struct Capture;
impl Capture {
    pub fn start(_: &Netns, _: &str, _: Option<&str>) -> Result<Capture, String> { todo!() }
    pub fn finish(self) -> Result<Vec<Captured>, String> { todo!() }
}
pub fn write_pcap(_: &Path, _: &[Captured]) -> std::io::Result<()> { todo!() }
