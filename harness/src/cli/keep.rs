//! Keeping a built topology for a person to look at (`netrig shell`, `netrig run
//! --keep`): pin its namespaces under names, say how to enter them, then wait for
//! Ctrl-C or run a shell inside one node, and finally remove the names. The topology
//! itself is torn down by the caller, by dropping its [`crate::run::Kept`].

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use nix::sys::signal::Signal;

use super::signals::{Caught, Event};
use crate::build::pin::Pins;
use crate::build::{NodeHandle, Topology};
use crate::observe::exec;

/// What to do while the names are pinned.
#[derive(Debug, Clone, Copy)]
pub enum Hold<'a> {
    /// Wait for SIGINT, SIGTERM, SIGHUP or SIGQUIT.
    UntilSignal,
    /// Run an interactive shell in this node; end when it exits (or on SIGTERM/SIGHUP).
    Shell(&'a str),
}

/// Pin `topology`'s namespaces, print how to enter them on `out`, hold as told, then
/// remove the names. Returns the node shell's exit status (with [`Hold::Shell`]).
pub fn hold(topology: &Topology, how: Hold<'_>, out: &mut dyn Write) -> io::Result<Option<ExitStatus>> {
    // Caught before pinning: a Ctrl-C from now on ends the wait, never netrig itself,
    // so the names are always removed.
    let caught = Caught::install()?;
    // A person may now create interfaces or write conf/default in any node.
    topology.nodes.values().try_for_each(|node| node.finish_baseline())?;
    let pins = Pins::pin_all(topology.nodes.iter().map(|(name, node)| (name.as_str(), &node.ns)))?;
    print_hints(topology, &pins, how, out)?;
    let status = match how {
        Hold::UntilSignal => {
            let signal = wait_for_signal(&caught)?;
            writeln!(out, "netrig: {signal}: removing the names and tearing the topology down")?;
            None
        }
        Hold::Shell(node) => {
            let name = pins.name_of(node).expect("every node was pinned");
            Some(node_shell(&topology.nodes[node], node, name, &caught)?)
        }
    };
    drop(pins);
    Ok(status)
}

fn wait_for_signal(caught: &Caught) -> io::Result<Signal> {
    loop {
        if let Event::Signal(signal) = caught.wait(None)? {
            return Ok(signal);
        }
    }
}

/// Per node: its name, how to enter it, and a capture command per interface.
fn print_hints(topology: &Topology, pins: &Pins, how: Hold<'_>, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "The topology is kept; its namespaces are pinned as `ip netns` names:")?;
    for (node, name) in pins.iter() {
        writeln!(out, "  {node}: {name}")?;
        writeln!(out, "    ip netns exec {name} bash")?;
        writeln!(out, "    nsenter --net={} bash", pins.path_of(name).display())?;
        for iface in interfaces(&topology.nodes[node])? {
            writeln!(out, "    ip netns exec {name} tcpdump -ni {iface}")?;
        }
    }
    writeln!(out, "If netrig is killed, the names stay (and hold the namespaces): `netrig clean` removes them.")?;
    // Last, so that whoever waits for the hints (a script, a test) knows they are complete.
    match how {
        Hold::UntilSignal => writeln!(out, "Press Ctrl-C to tear it down.")?,
        Hold::Shell(node) => writeln!(out, "Starting a shell in {node}; the topology is torn down when it exits.")?,
    }
    out.flush()
}

/// The node's interfaces but `lo`, as the kernel lists them now (steps may have
/// added or removed some since the build).
fn interfaces(node: &NodeHandle) -> io::Result<Vec<String>> {
    node.ns.run(|| {
        let all = nix::net::if_::if_nameindex()?;
        Ok(all.iter().map(|i| i.name().to_string_lossy().into_owned()).filter(|name| name != "lo").collect())
    })
}

/// Run `$SHELL` (or bash) inside `node` as `netrig` runs commands there (its own
/// `/sys`, `/proc`, PID namespace and death signal: see [`crate::observe::exec`]), and wait for it.
///
/// Ctrl-C and Ctrl-\ reach the shell's foreground job through the terminal; netrig
/// ignores them. SIGTERM or SIGHUP to netrig ends the shell, so that teardown follows.
fn node_shell(node: &NodeHandle, name: &str, pin: &str, caught: &Caught) -> io::Result<ExitStatus> {
    let shell = std::env::var_os("SHELL").filter(|s| !s.is_empty()).unwrap_or_else(|| OsString::from("bash"));
    let mut command = exec::command_in(node.ns.raw_fd(), &shell);
    // For prompts and scripts: which node this is.
    command.env("NETRIG_NODE", name).env("NETRIG_NETNS", pin);
    let mut child = command.spawn().map_err(|e| {
        io::Error::new(e.kind(), format!("cannot start {} in node {name}: {e}", shell.to_string_lossy()))
    })?;
    let exited = exec::pidfd_open(child.id())?;
    loop {
        match caught.wait(Some(exited.as_fd()))? {
            Event::Ready => break,
            Event::Signal(Signal::SIGINT | Signal::SIGQUIT) => {}
            Event::Signal(_) => {
                // Killing `unshare` kills the shell (its death signal), and with it, as
                // PID 1 of its PID namespace, everything started from it.
                child.kill()?;
                break;
            }
        }
    }
    child.wait()
}

/// The exit code to pass on for a node shell's status: its own, or 128 + the signal
/// that ended it, as shells report it.
pub fn exit_code(status: ExitStatus) -> u8 {
    status.code().or_else(|| status.signal().map(|s| 128 + s)).map_or(1, |code| code as u8)
}
