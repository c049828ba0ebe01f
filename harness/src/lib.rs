//! netrig: Linux network scenarios as tests.
//!
//! Data flows one way, one module per stage:
//! parse ([`load`] into the [`model`], with [`syntax`] for the `ip`-like strings,
//! [`location`]s for diagnostics, [`matrix`] rows and [`include`]d fixtures) → check
//! ([`validate`]) → build ([`build`] over [`netlink`], in [`netns`] namespaces from a
//! [`baseline`]) → act and observe ([`act`], [`probe`] with [`patience`] and [`cause`]s, [`exec`], [`capture`], [`decode`],
//! frames built by [`frame`] and sent by [`inject`]) → judge ([`judge`]) → report
//! ([`report`]) → teardown ([`build::Topology::teardown`]). [`run`] plays one scenario
//! through all of it; [`runner`] turns scenario files into tests; [`schema`] publishes
//! the format;
//! [`cli`] is the `netrig` command line and [`graph`] draws topology pictures; [`pin`]
//! gives a kept topology's namespaces names a person can enter (`netrig shell`).

/// In a unit test: return early, saying why, unless the process may create network
/// namespaces. Kernel tests skip themselves this way when run as a plain user.
#[cfg(test)]
macro_rules! needs_root {
    () => {
        if let Some(reason) = crate::runner::missing_privilege() {
            eprintln!("skipped: {reason}");
            return;
        }
    };
}

pub mod act;
pub mod baseline;
pub mod build;
pub mod capture;
pub mod cause;
pub mod cli;
pub mod decode;
pub mod exec;
pub mod frame;
pub mod graph;
pub mod include;
pub mod inject;
pub mod judge;
pub mod load;
pub mod location;
pub mod matrix;
pub mod model;
pub mod netlink;
pub mod netns;
pub mod patience;
pub mod pin;
pub mod probe;
pub mod report;
pub mod run;
pub mod runner;
pub mod schema;
pub mod syntax;
pub mod validate;
