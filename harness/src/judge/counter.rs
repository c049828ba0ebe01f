//! Judging a `counter` check: a counter the kernel keeps, its value and its change
//! since the step began, read until as expected or the check's time is up.

use std::time::{Duration, Instant};

use super::{Verdict, wait};
use crate::build::Topology;
use crate::model::CounterCheck;
use crate::observe::counters;

/// The longest pause between two readings of a counter not yet as expected.
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// The counter's value at the step's start, for a check that expects a `delta`.
pub fn baseline(topology: &Topology, rt: &tokio::runtime::Runtime, c: &CounterCheck) -> Option<Result<u64, String>> {
    c.delta.map(|_| counters::read(&topology.nodes[c.on.as_str()], rt, c))
}

/// Read the counter, again with a growing pause while it is not as expected: a packet
/// still in flight is counted late, and no notification announces it.
pub fn judge(
    topology: &Topology,
    rt: &tokio::runtime::Runtime,
    c: &CounterCheck,
    baseline: Option<&Result<u64, String>>,
) -> Verdict {
    let verdict = |holds, observed| Verdict { check: describe(c), holds, observed, line: c.on.line };
    let before = match (c.delta, baseline) {
        (None, _) => None,
        (Some(_), Some(Ok(before))) => Some(*before),
        (Some(_), Some(Err(e))) => return verdict(false, format!("at the step's start: {e}")),
        (Some(_), None) => return verdict(false, "a delta needs the counter's value at a step's start".into()),
    };
    let node = &topology.nodes[c.on.as_str()];
    let deadline = Instant::now() + wait(&c.timeout, true);
    let mut pause = Duration::from_millis(1);
    loop {
        let (holds, observed) = match counters::read(node, rt, c) {
            Ok(now) => assess(c, before, now),
            Err(e) => (false, e),
        };
        let now = Instant::now();
        if holds || now >= deadline {
            return verdict(holds, observed);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// Whether the counter is as expected, and what was observed: `3 (+2 in the step)`.
fn assess(c: &CounterCheck, before: Option<u64>, now: u64) -> (bool, String) {
    let change = before.map(|before| now as i128 - before as i128);
    let value_ok = c.value.is_none_or(|want| want.admits(now));
    let delta_ok = match (c.delta, change) {
        (Some(want), Some(change)) => u64::try_from(change).is_ok_and(|change| want.admits(change)),
        _ => true,
    };
    let observed = match change {
        Some(change) => format!("{now} ({change:+} in the step)"),
        None => now.to_string(),
    };
    (value_ok && delta_ok, observed)
}

/// `counter on r: TcpExt.IPReversePathFilter changes by = 1`, `counter on a: eth0 rx_packets >= 3`.
fn describe(c: &CounterCheck) -> String {
    let what = match (&c.mib, &c.link, &c.stat, &c.qdisc) {
        _ if c.nft.is_some() => c.nft.as_ref().map(|n| n.to_string()).unwrap_or_default(),
        (Some(mib), ..) => mib.to_string(),
        (None, Some(link), Some(stat), _) => format!("{} {}", link.as_str(), **stat),
        (None, Some(link), None, Some(stat)) => format!("{} qdisc {}", link.as_str(), **stat),
        _ => "?".into(),
    };
    let mut wanted = Vec::new();
    wanted.extend(c.value.map(|v| format!("is {v}")));
    wanted.extend(c.delta.map(|d| format!("changes by {d}")));
    format!("counter on {}: {what} {}", c.on.as_str(), wanted.join(" and "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Check;

    fn counter_check(yaml: &str) -> CounterCheck {
        match serde_saphyr::from_str(&format!("counter: {{on: r, mib: TcpExt.IPReversePathFilter, {yaml}}}")).unwrap() {
            Check::Counter(c) => c,
            other => panic!("not a counter check: {other:?}"),
        }
    }

    #[test]
    fn a_counter_is_judged_on_its_value_and_its_change_and_says_both() {
        assert_eq!(assess(&counter_check("value: 3"), None, 3), (true, "3".into()));
        assert_eq!(assess(&counter_check("value: 3"), None, 2), (false, "2".into()));
        assert_eq!(assess(&counter_check("delta: 1"), Some(2), 3), (true, "3 (+1 in the step)".into()));
        assert_eq!(assess(&counter_check("delta: 1"), Some(3), 3), (false, "3 (+0 in the step)".into()));
        assert!(assess(&counter_check("delta: {min: 1}"), Some(0), 5).0);
        assert!(!assess(&counter_check("delta: {max: 1}"), Some(0), 5).0);
        assert!(!assess(&counter_check("delta: {max: 1}"), Some(5), 0).0, "a counter that went back");
        assert!(assess(&counter_check("value: {min: 1, max: 9}, delta: 0"), Some(4), 4).0);
        let c = counter_check("value: {min: 1}, delta: 1");
        assert_eq!(describe(&c), "counter on r: TcpExt.IPReversePathFilter is >= 1 and changes by = 1");
    }
}
