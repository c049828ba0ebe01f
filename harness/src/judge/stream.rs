//! The `stream` check: send, measure at the receiver, compare with the bounds.
//!
//! The measured numbers differ from run to run, so the observation keeps them after
//! [`MEASURED`], which snapshots redact: a snapshot holds the verdict (which bounds
//! held) and the expectation, the report and failure messages the numbers.

use super::{Verdict, handle};
use crate::build::{NodeHandle, Topology, netlink};
use crate::model::{StreamCheck, StreamProto, show_rate};
use crate::observe::patience::Settled;
use crate::observe::stream::{self, Measured, Stream};

/// What follows it in an observation is measured, and redacted in snapshots.
pub const MEASURED: &str = "; measured: ";

pub(super) fn judge(topology: &Topology, rt: &tokio::runtime::Runtime, c: &StreamCheck) -> Verdict {
    let check = format!("{}: {}", describe(c), expectation(c));
    let verdict = |holds, observed| Verdict { check: check.clone(), holds, observed, line: c.from.line };
    let receiver = match receiver_of(topology, rt, c) {
        Ok(node) => node,
        Err(e) => return verdict(false, e),
    };
    let backlog = || {
        let mut held = 0;
        for node in topology.nodes.values() {
            held += rt.block_on(netlink::qdisc_backlog(&node.netlink)).map_err(|e| e.to_string())?;
        }
        Ok(held)
    };
    if c.proto == StreamProto::Tcp {
        let from = &handle(topology, &c.from).ns;
        return match stream::run_tcp(from, receiver, *c.to, c.rate.0, c.duration.0, backlog) {
            Ok(measured) => {
                let (holds, observed) = judged(c, &measured);
                verdict(holds, observed)
            }
            Err(e) => verdict(false, e),
        };
    }
    let spec = Stream {
        to: *c.to,
        bits_per_second: c.rate.0,
        duration: c.duration.0,
        size: c.size() as usize,
        packet_bytes: c.packet_bytes(),
    };
    // Datagrams held by a neighbour resolution are waited for, as a ping's answer is.
    let mut patience = Settled::new(topology, rt, stream::QUIET);
    match stream::run(&handle(topology, &c.from).ns, receiver, &spec, backlog, &mut patience) {
        Ok(measured) => {
            let (holds, mut observed) = judged(c, &measured);
            let holds = patience.judged(holds, &mut observed);
            verdict(holds, observed)
        }
        Err(e) => verdict(false, e),
    }
}

/// Whether `measured` is within every bound of `c`, and the observation saying so.
fn judged(c: &StreamCheck, measured: &Measured) -> (bool, String) {
    let missed = missed_bounds(c, measured);
    let verdict_text =
        if missed.is_empty() { "as expected".to_string() } else { format!("not as expected: {}", missed.join(", ")) };
    let shown = match c.proto {
        StreamProto::Udp => show(measured),
        StreamProto::Tcp => show_tcp(measured),
    };
    (missed.is_empty(), format!("{verdict_text}{MEASURED}{shown}"))
}

/// `stream a -> 10.0.0.2:5001 at 20mbit for 2s`, `tcp stream a -> ...`
fn describe(c: &StreamCheck) -> String {
    let tcp = if c.proto == StreamProto::Tcp { "tcp " } else { "" };
    format!("{tcp}stream {} -> {} at {} for {}", c.from.as_str(), *c.to, c.rate, *c.duration)
}

/// `rate 10mbit ± 10%, loss < 5%`
fn expectation(c: &StreamCheck) -> String {
    let e = &*c.expect;
    let bounds = [
        e.rate.as_ref().map(|b| format!("rate {b}")),
        e.loss.as_ref().map(|b| format!("loss {b}")),
        e.jitter.as_ref().map(|b| format!("jitter {b}")),
    ];
    bounds.into_iter().flatten().collect::<Vec<_>>().join(", ")
}

/// The names of the bounds the measurement misses.
fn missed_bounds(c: &StreamCheck, m: &Measured) -> Vec<&'static str> {
    let e = &*c.expect;
    let mut missed = Vec::new();
    if e.rate.as_ref().is_some_and(|b| !b.holds(m.rate)) {
        missed.push("rate");
    }
    if e.loss.as_ref().is_some_and(|b| !b.holds(m.loss)) {
        missed.push("loss");
    }
    if e.jitter.as_ref().is_some_and(|b| !b.holds(m.jitter)) {
        missed.push("jitter");
    }
    missed
}

/// `rate 9.71mbit, loss 0.00% (2000 of 2000 arrived, 0 twice), jitter 0.052ms`
fn show(m: &Measured) -> String {
    format!(
        "rate {}, loss {:.2}% ({} of {} arrived, {} twice), jitter {:.3}ms",
        show_rate(m.rate),
        m.loss,
        m.received,
        m.sent,
        m.duplicates,
        m.jitter * 1e3
    )
}

/// `rate 3.81mbit (952000 of 2000000 bytes written arrived by the end)`
fn show_tcp(m: &Measured) -> String {
    format!("rate {} ({} of {} bytes written arrived by the end)", show_rate(m.rate), m.received, m.sent)
}

/// The node that holds the destination address (one, or the check cannot know where
/// to receive).
fn receiver_of<'t>(
    topology: &'t Topology,
    rt: &tokio::runtime::Runtime,
    c: &StreamCheck,
) -> Result<&'t NodeHandle, String> {
    let ip = c.to.ip();
    let mut holders = Vec::new();
    for (name, node) in &topology.nodes {
        let links = rt.block_on(netlink::links(&node.netlink)).map_err(|e| e.to_string())?;
        if links.iter().any(|l| l.addresses.iter().any(|a| a.addr() == ip)) {
            holders.push((name, node));
        }
    }
    match holders.as_slice() {
        [(_, node)] => Ok(node),
        [] => Err(format!("no node has the address {ip}: nowhere to receive the stream")),
        _ => {
            let names: Vec<&str> = holders.iter().map(|(n, _)| n.as_str()).collect();
            Err(format!("nodes {} all have the address {ip}: the stream's receiver is not known", names.join(", ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measurement_is_judged_bound_by_bound() {
        let c: StreamCheck = serde_saphyr::from_str(
            r#"{from: a, to: "10.0.0.2:5001", rate: 20mbit, for: 1s, expect: {rate: "10mbit ± 10%", loss: "< 60%"}}"#,
        )
        .unwrap();
        let measured = |rate, loss| Measured { rate, loss, ..Measured::default() };
        assert!(missed_bounds(&c, &measured(9_500_000.0, 50.0)).is_empty());
        assert_eq!(missed_bounds(&c, &measured(12_000_000.0, 50.0)), ["rate"]);
        assert_eq!(missed_bounds(&c, &measured(9_500_000.0, 70.0)), ["loss"]);
        assert_eq!(expectation(&c), "rate 10mbit ± 10%, loss < 60%");
    }
}
