//! Judging an `fdb` check: a node's forwarding databases, watched until the entry for
//! a MAC is as expected (learned, added, gone) or the check's time is up.

use std::time::Instant;

use super::{Verdict, wait, watch_tables};
use crate::build::Topology;
use crate::build::netlink::{self, FdbEntry};
use crate::model::{FdbCheck, FdbTable};

pub fn judge(topology: &Topology, rt: &tokio::runtime::Runtime, c: &FdbCheck) -> Verdict {
    let node = &topology.nodes[c.on.as_str()];
    let deadline = Instant::now() + wait(&c.timeout, true);
    let read = || {
        let all = rt.block_on(netlink::fdb_entries(&node.netlink)).map_err(|e| e.to_string())?;
        Ok(all.into_iter().filter(|e| e.mac == c.mac && c.dev.as_ref().is_none_or(|d| e.dev == **d)).collect())
    };
    let as_expected =
        |entries: &Vec<FdbEntry>| if c.absent { entries.is_empty() } else { entries.iter().any(|e| matches(c, e)) };
    let (holds, observed) = match watch_tables(node, deadline, read, as_expected) {
        Ok((holds, entries)) if entries.is_empty() => (holds, format!("no entry for {}", c.mac)),
        Ok((holds, entries)) => (holds, entries.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")),
        Err(e) => (false, e),
    };
    Verdict { check: describe(c), holds, observed, line: c.on.line }
}

fn matches(c: &FdbCheck, entry: &FdbEntry) -> bool {
    let in_table = |table: FdbTable| match table {
        FdbTable::Master => entry.master.is_some(),
        FdbTable::OwnTable => entry.own,
    };
    c.table.is_none_or(in_table)
        && c.state.is_none_or(|state| entry.state == state)
        && c.flags.iter().all(|flag| entry.flags.contains(flag))
        && c.dst.is_none_or(|dst| entry.dst == Some(dst))
        && c.vni.is_none_or(|vni| entry.vni == Some(vni))
        && c.vlan.is_none_or(|vlan| entry.vlan == Some(vlan))
}

/// `fdb on sw: 02:00:00:00:00:0b dev pb master dynamic`, `... is absent`.
fn describe(c: &FdbCheck) -> String {
    let mut words = vec![format!("fdb on {}: {}", c.on.as_str(), c.mac)];
    words.extend(c.dev.as_ref().map(|dev| format!("dev {}", dev.as_str())));
    if c.absent {
        words.push("is absent".into());
        return words.join(" ");
    }
    words.extend(c.vlan.map(|vlan| format!("vlan {vlan}")));
    words.extend(c.dst.map(|dst| format!("dst {dst}")));
    words.extend(c.vni.map(|vni| format!("vni {vni}")));
    words.extend(c.table.map(|table| table.to_string()));
    words.extend(c.flags.iter().map(ToString::to_string));
    words.extend(c.state.map(|state| state.to_string()));
    if words.len() == 1 + usize::from(c.dev.is_some()) {
        words.push("exists".into());
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Check, FdbEntryFlag, FdbEntryState, MacAddr};

    fn fdb_check(yaml: &str) -> FdbCheck {
        match serde_saphyr::from_str(&format!("fdb: {{on: sw, mac: 02:00:00:00:00:0b, {yaml}}}")).unwrap() {
            Check::Fdb(c) => c,
            other => panic!("not an fdb check: {other:?}"),
        }
    }

    fn learned() -> FdbEntry {
        FdbEntry {
            mac: MacAddr([2, 0, 0, 0, 0, 0xb]),
            dev: "pb".into(),
            master: Some("br0".into()),
            own: false,
            state: FdbEntryState::Dynamic,
            flags: vec![],
            dst: None,
            vni: None,
            vlan: None,
        }
    }

    #[test]
    fn an_entry_matches_on_every_field_given() {
        assert!(matches(&fdb_check("dev: pb"), &learned()));
        assert!(matches(&fdb_check("table: master, state: dynamic"), &learned()));
        assert!(!matches(&fdb_check("table: self"), &learned()));
        assert!(!matches(&fdb_check("state: static"), &learned()));
        assert!(!matches(&fdb_check("flags: [sticky]"), &learned()));
        let sticky = FdbEntry { flags: vec![FdbEntryFlag::Sticky], state: FdbEntryState::Static, ..learned() };
        assert!(matches(&fdb_check("flags: [sticky], state: static"), &sticky));
        let remote = FdbEntry {
            dev: "vx0".into(),
            master: None,
            own: true,
            dst: Some("10.0.0.2".parse().unwrap()),
            vni: Some(100),
            state: FdbEntryState::Permanent,
            ..learned()
        };
        assert!(matches(&fdb_check("table: self, dst: 10.0.0.2, vni: 100"), &remote));
        assert!(!matches(&fdb_check("dst: 10.0.0.3"), &remote));
        assert_eq!(remote.to_string(), "02:00:00:00:00:0b dev vx0 dst 10.0.0.2 vni 100 self permanent");
        assert_eq!(sticky.to_string(), "02:00:00:00:00:0b dev pb master br0 sticky static");
    }

    #[test]
    fn the_check_says_what_it_expects() {
        assert_eq!(describe(&fdb_check("dev: pb")), "fdb on sw: 02:00:00:00:00:0b dev pb exists");
        assert_eq!(
            describe(&fdb_check("dev: pb, table: master, state: dynamic")),
            "fdb on sw: 02:00:00:00:00:0b dev pb master dynamic"
        );
        assert_eq!(describe(&fdb_check("absent: true")), "fdb on sw: 02:00:00:00:00:0b is absent");
    }
}
