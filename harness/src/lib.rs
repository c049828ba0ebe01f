//! netrig: Linux network scenarios as tests.
//!
//! Three ways in, one engine:
//!
//! - **Scenario files as tests**: a `harness = false` test target holding
//!   `netrig::main!("tests/net");` makes every `*.yaml` under that directory of your
//!   crate a test, with snapshots and artifacts in your tree ([`main!`], [`Suite`]).
//! - **Topologies from Rust**: [`Lab`] builds a topology from scenario YAML, runs your
//!   code in its nodes and checks netrig's assertions ([`lab`]).
//! - **The `netrig` command**: `netrig run DIR` in any project (see the README).
//!
//! Inside, data flows one way, one folder per stage: `parse` (YAML → validated
//! `model`, with file:line diagnostics) → `build` (namespaces, links, addresses,
//! routes over netlink) → `observe` (a step's actions, its probes, commands, services,
//! captures and counters) → `judge` (assertions against what the kernel showed) →
//! `report` (normalized, snapshotted) → teardown. `run` plays one scenario through all of it
//! and turns scenario files into tests; `cli` is the command line.

/// In a unit test: return early, saying why, unless the process may create network
/// namespaces. Kernel tests skip themselves this way when run as a plain user.
#[cfg(test)]
macro_rules! needs_root {
    () => {
        if let Some(reason) = crate::run::runner::missing_privilege() {
            eprintln!("skipped: {reason}");
            return;
        }
    };
}

pub mod lab;

pub use lab::Lab;
pub use run::runner::{Suite, missing_privilege};

// The stages. Public only so that netrig's own binary, tests and benchmarks reach
// them; hidden from the documentation because they are not an API and change
// whenever the engine does.
#[doc(hidden)]
pub mod build;
#[doc(hidden)]
pub mod cli;
#[doc(hidden)]
pub mod judge;
#[doc(hidden)]
pub mod model;
#[doc(hidden)]
pub mod observe;
#[doc(hidden)]
pub mod parse;
#[doc(hidden)]
pub mod report;
#[doc(hidden)]
pub mod run;
