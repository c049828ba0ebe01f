//! Topologies from Rust: build one from scenario YAML, act in its nodes with your own
//! code, check what holds with netrig's assertions, and let it go.
//!
//! A [`Lab`] is a built topology. Everything a scenario file says, it says too, in the
//! same words: [`Lab::expect`] takes any assertion (`ping`, `connect`, `udp`, `tcp`,
//! `route`, `neighbour`, `sysctl`, `command`, `log`), [`Lab::act`] any step action, and
//! [`Lab::capture`] records an interface for a `packets` assertion. [`Lab::node`] runs
//! your code in a node: a command ([`Node::run`]), a process left running whose output
//! is kept ([`Node::spawn`]), or a closure on the calling thread moved into the node's
//! network namespace ([`Node::enter`]: sockets it opens live there).
//!
//! Daemons the YAML declares under a node's `services:` are started, and waited for
//! until ready, before the lab is handed over; `lab.act("restart_service: {on: r1,
//! service: bird}")` and `lab.expect("log: {on: r1, service: bird, matches: ...}")`
//! control and check them as a scenario's steps do.
//!
//! Dropping the lab tears everything down; a panic drops it too, and the namespaces
//! are held only by this process's file descriptors, so even SIGKILL leaves nothing.
//!
//! ```
//! # fn main() -> Result<(), netrig::lab::Error> {
//! # if netrig::missing_privilege().is_some() { return Ok(()); }
//! use netrig::lab::Lab;
//!
//! let lab = Lab::from_yaml(
//!     "nodes: {a: {}, b: {}}\n\
//!      links: [{veth: [a:eth0 10.0.0.1/24, b:eth0 10.0.0.2/24]}]",
//! )?;
//! lab.expect("ping: {from: a, to: 10.0.0.2}")?;
//! lab.act("set_link: {dev: 'b:eth0', state: down}")?;
//! lab.expect("ping: {from: a, to: 10.0.0.2, fails: true}")?;
//!
//! // Your own code, inside node b: a UDP server on its address.
//! let server = lab.node("b")?.enter(|| std::net::UdpSocket::bind("10.0.0.2:0"))?;
//! assert_eq!(server.local_addr()?.ip().to_string(), "10.0.0.2");
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::path::Path;

use crate::build::{self, BuildError, NodeHandle};
use crate::judge::{self, Verdict};
use crate::model::{Check, IfaceRef, Scenario, Step, StepAction};
use crate::observe::capture::{self, Captured};
use crate::observe::refusal::NotPlayed;
use crate::observe::{exec, refusal, service};
use crate::parse::load::{self, Diagnostics, Source};
use crate::parse::validate;
use crate::run::{Kept, outside_async};

pub use crate::observe::exec::Background;
pub use std::process::Output;

/// Why a lab could not be built, or what did not hold. Its `Debug` is its message, so
/// `.unwrap()` and `?` in a test print what the kernel showed, not a struct.
#[derive(thiserror::Error)]
pub enum Error {
    /// The YAML is not a valid scenario, assertion or action (file:line and key said).
    #[error("{0}")]
    Invalid(Diagnostics),
    /// The kernel lacks something the topology needs: a test would skip.
    #[error("this kernel does not support {what}: {reason}")]
    Unsupported { what: String, reason: String },
    /// Building failed, or an action or a command could not be carried out.
    #[error("{0}")]
    Failed(String),
    /// An assertion did not hold: what was asserted and what the kernel showed.
    #[error("{check}\n    observed: {observed}")]
    NotHeld { check: String, observed: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A built topology. See the [module documentation](self).
pub struct Lab {
    kept: Kept,
    scenario: Scenario,
    sources: Vec<Source>,
}

impl Lab {
    /// Build the topology of scenario YAML (its `expect:` and `steps:`, if any, are not
    /// played: say them with [`Lab::expect`] and [`Lab::act`]).
    pub fn from_yaml(yaml: &str) -> Result<Lab, Error> {
        Lab::from_source(Source { path: "<yaml>".into(), text: yaml.to_string() })
    }

    /// Build the topology of a scenario file (`include:` and fixtures are found from it).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Lab, Error> {
        Lab::from_source(Source::read(path.as_ref()).map_err(Error::Invalid)?)
    }

    fn from_source(source: Source) -> Result<Lab, Error> {
        let mut scenario = load::parse_and_validate(&source).map_err(Error::Invalid)?;
        let sources = vec![source];
        scenario.expect.clear();
        scenario.steps.clear();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Failed(format!("cannot start the tokio runtime: {e}")))?;
        let topology = outside_async(|| rt.block_on(build::build(&scenario))).map_err(|e| match e {
            BuildError::Unsupported { what, reason } => Error::Unsupported { what, reason },
            other => Error::Failed(format!("building the topology failed: {other}")),
        })?;
        let kept = Kept::new(topology, rt);
        // The nodes' services, as a scenario starts them; a failure tears the lab down.
        outside_async(|| service::start_all(kept.topology())).map_err(Error::Failed)?;
        Ok(Lab { kept, scenario, sources })
    }

    /// Check one assertion, written as in a scenario's `expect:` list, e.g.
    /// `ping: {from: a, to: 10.0.0.2}` or `neighbour: {on: a, ip: 10.0.0.2, state: reachable}`.
    /// On success, what the kernel showed (`sent 1, received 1`).
    pub fn expect(&self, assertion: &str) -> Result<String, Error> {
        let check: Check = self.parse(assertion, checking)?;
        if matches!(check, Check::Packets(_)) {
            let hint = "a `packets` assertion needs a capture running during the traffic: Lab::capture(..).expect(..)";
            return Err(Error::Failed(hint.into()));
        }
        let (topology, rt) = (self.kept.topology(), self.kept.runtime());
        held(outside_async(|| judge::judge(topology, rt, &check)))
    }

    /// Apply one step action, written as in a scenario's `do:` list, e.g.
    /// `set_link: {dev: "a:eth0", state: down}`; it has settled when this returns.
    pub fn act(&self, action: &str) -> Result<(), Error> {
        let action: StepAction = self.parse(action, |action| Step { actions: vec![action], ..Step::default() })?;
        let (topology, rt) = (self.kept.topology(), self.kept.runtime());
        outside_async(|| refusal::play(topology, rt, &action)).map(drop).map_err(|e| match e {
            NotPlayed::Failed(message) => Error::Failed(message),
            NotPlayed::Unsupported { what, reason } => Error::Unsupported { what, reason },
        })
    }

    /// Start recording everything that crosses `node:iface`, for a `packets` assertion.
    pub fn capture(&self, iface: &str) -> Result<Capture<'_>, Error> {
        let on: IfaceRef = iface.parse().map_err(|e| Error::Failed(format!("`{iface}`: {e}")))?;
        let node = self.handle(&on.node)?;
        let capture = capture::Capture::start(&node.ns, &on.iface, None)
            .map_err(|e| Error::Failed(format!("capture on {iface}: {e}")))?;
        Ok(Capture { lab: self, capture })
    }

    /// A node of the topology, to run your own code in.
    pub fn node(&self, name: &str) -> Result<Node<'_>, Error> {
        self.handle(name).map(|handle| Node { handle })
    }

    fn handle(&self, name: &str) -> Result<&NodeHandle, Error> {
        self.kept.topology().node(name).ok_or_else(|| {
            let known: Vec<&str> = self.kept.topology().nodes.keys().map(String::as_str).collect();
            Error::Failed(format!("no node named `{name}` (nodes: {})", known.join(", ")))
        })
    }

    /// Parse `yaml` as a `T` and validate it against the topology, as part of the step
    /// `as_step` makes of it: the same checks (and messages) as in a scenario file.
    fn parse<T: serde::de::DeserializeOwned + Clone>(
        &self,
        yaml: &str,
        as_step: impl Fn(T) -> Step,
    ) -> Result<T, Error> {
        let mut sources = self.sources.clone();
        sources.push(Source { path: "<lab>".into(), text: yaml.to_string() });
        let parsed: T = load::parse_as(&sources[1], 1).map_err(|d| Error::Invalid(Diagnostics(vec![d])))?;
        let scenario = Scenario { steps: vec![as_step(parsed.clone())], ..self.scenario.clone() };
        let problems = validate::validate(&scenario, &sources);
        if problems.is_empty() { Ok(parsed) } else { Err(Error::Invalid(Diagnostics(problems))) }
    }
}

/// A node of a [`Lab`].
pub struct Node<'lab> {
    handle: &'lab NodeHandle,
}

impl Node<'_> {
    /// Run a shell command line in the node and wait for it (at most
    /// [`build::RUN_TIMEOUT`]). It sees only the node: its interfaces, its own
    /// processes. A non-zero exit is not an error: look at the status.
    pub fn run(&self, command_line: &str) -> Result<Output, Error> {
        self.handle.finish_baseline()?;
        Ok(exec::run(&self.handle.ns, command_line, build::RUN_TIMEOUT)?)
    }

    /// Start a shell command line in the node and leave it running (a daemon, your
    /// own program); its output is kept. It is killed, with everything it started, when
    /// the returned value is dropped or when the thread that called this ends.
    pub fn spawn(&self, command_line: &str) -> Result<Background, Error> {
        self.handle.finish_baseline()?;
        Ok(exec::spawn(&self.handle.ns, command_line)?)
    }

    /// Run `f` on this thread moved into the node's network namespace (and back after,
    /// even on panic). Sockets opened in `f` belong to the node and stay there; spawn no
    /// threads in `f` expecting them to be inside too (namespaces are per thread).
    pub fn enter<T>(&self, f: impl FnOnce() -> std::io::Result<T>) -> Result<T, Error> {
        self.handle.finish_baseline()?;
        Ok(self.handle.ns.run(f)?)
    }
}

/// A running capture of a [`Lab`]'s interface.
pub struct Capture<'lab> {
    lab: &'lab Lab,
    capture: capture::Capture,
}

impl Capture<'_> {
    /// Stop and check a `packets` assertion on what was captured, e.g.
    /// `packets: {on: "b:eth0", match: {icmp: {type: echo-request}}, count: 1}`.
    pub fn expect(self, assertion: &str) -> Result<String, Error> {
        let check: Check = self.lab.parse(assertion, checking)?;
        let Check::Packets(packets) = &check else {
            return Err(Error::Failed(format!("`{assertion}` is not a `packets` assertion")));
        };
        let captured = self.stop()?;
        held(judge::judge_packets(packets, &captured))
    }

    /// Stop and hand over the captured frames.
    pub fn stop(self) -> Result<Vec<Captured>, Error> {
        self.capture.finish().map_err(|e| Error::Failed(e.to_string()))
    }
}

/// A step that checks one assertion, for validating it.
fn checking(check: Check) -> Step {
    Step { expect: vec![check], ..Step::default() }
}

fn held(verdict: Verdict) -> Result<String, Error> {
    if verdict.holds {
        Ok(verdict.observed)
    } else {
        Err(Error::NotHeld { check: verdict.check, observed: verdict.observed })
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Debug for Lab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lab").field("nodes", &self.kept.topology().nodes.keys().collect::<Vec<_>>()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistakes_are_located_in_the_lab_s_words() {
        needs_root!();
        let lab = Lab::from_yaml("nodes: {a: {}}").unwrap();
        let error = lab.expect("ping: {from: a, to: 10.0.0.9, count: 0}").unwrap_err().to_string();
        assert!(error.contains("<lab>:1:"), "{error}");
        let error = lab.act("set_link: {dev: 'a:eth9', state: down}").unwrap_err().to_string();
        assert!(error.contains("eth9"), "{error}");
        assert!(matches!(lab.node("z"), Err(Error::Failed(m)) if m.contains("no node named `z` (nodes: a)")));
    }
}
