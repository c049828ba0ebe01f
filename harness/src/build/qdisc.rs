//! Queueing disciplines set over netlink (RTM_NEWQDISC, RTM_NEWTCLASS, RTM_DELQDISC).
//!
//! netlink-packet-route 0.34 knows the options of fq_codel and ingress only, so the
//! TCA_OPTIONS of every kind are built here, as bytes, from the structures of
//! `linux/pkt_sched.h` (one emitter per kind, next to the layout it follows). Rates go in
//! bytes per second with the link layer set to Ethernet, so that the kernel computes its
//! own rate tables (no TCA_*_RTAB); sizes and bursts go in bytes where the kernel takes
//! them (TCA_TBF_BURST), times in nanoseconds (TCA_NETEM_LATENCY64), and only where it
//! still wants "ticks" (htb's buffers) in its psched unit of 64 ns.
//!
//! A root qdisc always gets handle `1:` (htb's classes hang from it). Setting one first
//! removes whatever a scenario put there before: the kernel changes a qdisc in place
//! only when the kind is the same, and refuses another kind under the same handle.

use nix::errno::Errno;
use rtnetlink::Handle;
use rtnetlink::packet_core::{DefaultNla, NLM_F_CREATE, NLM_F_EXCL};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::tc::{TcAttribute, TcHandle, TcHeader, TcMessage};

use crate::build::netlink::{self, Error};
use crate::model::{FqCodel, Htb, HtbClass, Netem, Qdisc, Rate, Tbf};

/// TCA_OPTIONS (linux/rtnetlink.h).
const TCA_OPTIONS: u16 = 2;
/// The handle of the root qdiscs netrig creates, `1:`.
const ROOT_HANDLE: TcHandle = TcHandle { major: 1, minor: 0 };
/// clsact's own handle, `ffff:`.
const CLSACT_HANDLE: TcHandle = TcHandle { major: 0xffff, minor: 0 };
/// TC_LINKLAYER_ETHERNET: the kernel sizes packets itself, no rate table needed.
const LINKLAYER_ETHERNET: u8 = 1;
/// The kernel's psched tick is 2^6 ns (PSCHED_SHIFT).
const PSCHED_SHIFT: u32 = 6;
/// tc's default burst of an htb class: one full frame and some (`burst 1600b`).
const HTB_DEFAULT_BURST: u64 = 1600;

/// Put `qdisc` on `dev`: a fresh root qdisc (replacing one set before), or clsact.
pub async fn set(handle: &Handle, dev: &str, qdisc: &Qdisc) -> Result<(), Error> {
    let index = netlink::link_index(handle, dev).await?;
    let what = format!("set qdisc {qdisc} on {dev}");
    let feature = format!("the {} qdisc", qdisc.kind());
    if *qdisc != Qdisc::Clsact {
        remove_root(handle, index, dev).await?;
    }
    let create = NLM_F_CREATE | NLM_F_EXCL;
    netlink::tc_change(handle, qdisc_message(index, qdisc), create, what.clone(), &feature).await?;
    if let Qdisc::Htb(htb) = qdisc {
        for class in &htb.classes {
            let message = RouteNetlinkMessage::NewTrafficClass(htb_class_message(index, class));
            netlink::tc_change(handle, message, create, format!("{what}: class {}", class.id), &feature).await?;
        }
    }
    Ok(())
}

/// Remove `dev`'s root qdisc (`clsact: false`) or its clsact; an error if there is none.
pub async fn delete(handle: &Handle, dev: &str, clsact: bool) -> Result<(), Error> {
    let index = netlink::link_index(handle, dev).await?;
    let (parent, what) = if clsact {
        (TcHandle::CLSACT, format!("delete the clsact qdisc of {dev}"))
    } else {
        (TcHandle::ROOT, format!("delete the root qdisc of {dev}"))
    };
    netlink::tc_change(handle, delete_message(index, parent), 0, what, "qdiscs").await
}

/// Remove a root qdisc set before, if any. The kernel's default one has handle 0 and
/// cannot be deleted: ENOENT then means there is nothing to remove.
async fn remove_root(handle: &Handle, index: u32, dev: &str) -> Result<(), Error> {
    let what = format!("replace the root qdisc of {dev}");
    match netlink::tc_change(handle, delete_message(index, TcHandle::ROOT), 0, what, "qdiscs").await {
        Err(e) if e.errno() == Some(Errno::ENOENT) => Ok(()),
        other => other,
    }
}

fn header(index: u32, handle: TcHandle, parent: TcHandle) -> TcHeader {
    // Interface indexes fit in i32 (the kernel's ifindex is an int).
    TcHeader { index: index as i32, handle, parent, ..TcHeader::default() }
}

fn delete_message(index: u32, parent: TcHandle) -> RouteNetlinkMessage {
    let mut message = TcMessage::default();
    message.header = header(index, TcHandle::UNSPEC, parent);
    RouteNetlinkMessage::DelQueueDiscipline(message)
}

/// The RTM_NEWQDISC message for `qdisc` on interface `index`.
fn qdisc_message(index: u32, qdisc: &Qdisc) -> RouteNetlinkMessage {
    let mut message = TcMessage::default();
    message.header = match qdisc {
        Qdisc::Clsact => header(index, CLSACT_HANDLE, TcHandle::CLSACT),
        _ => header(index, ROOT_HANDLE, TcHandle::ROOT),
    };
    message.attributes.push(TcAttribute::Kind(qdisc.kind().into()));
    if let Some(options) = options(qdisc) {
        message.attributes.push(TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, options)));
    }
    RouteNetlinkMessage::NewQueueDiscipline(message)
}

/// The RTM_NEWTCLASS message for a class of the htb at `1:`.
fn htb_class_message(index: u32, class: &HtbClass) -> TcMessage {
    let mut message = TcMessage::default();
    let parent = class.parent.map_or(ROOT_HANDLE, |parent| TcHandle { major: 1, minor: parent.0 });
    message.header = header(index, TcHandle { major: 1, minor: class.id.0 }, parent);
    message.attributes.push(TcAttribute::Kind("htb".into()));
    message.attributes.push(TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, htb_class_options(class))));
    message
}

/// The payload of TCA_OPTIONS for `qdisc` (none for clsact).
fn options(qdisc: &Qdisc) -> Option<Vec<u8>> {
    Some(match qdisc {
        // struct tc_fifo_qopt { __u32 limit; }
        Qdisc::Pfifo(p) => p.limit.to_ne_bytes().to_vec(),
        Qdisc::Bfifo(b) => saturating_u32(b.limit.0).to_ne_bytes().to_vec(),
        Qdisc::Tbf(t) => tbf_options(t),
        Qdisc::Htb(h) => htb_options(h),
        Qdisc::FqCodel(q) => fq_codel_options(q),
        Qdisc::Netem(n) => netem_options(n),
        Qdisc::Clsact => return None,
    })
}

// TCA_TBF_* (linux/pkt_sched.h)
const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RATE64: u16 = 4;
const TCA_TBF_BURST: u16 = 6;

/// struct tc_tbf_qopt { tc_ratespec rate, peakrate; __u32 limit, buffer, mtu; } with
/// the burst in bytes (TCA_TBF_BURST, which the kernel prefers to `buffer`).
fn tbf_options(t: &Tbf) -> Vec<u8> {
    let mut parms = ratespec(t.rate);
    parms.extend([0; RATESPEC_LEN]); // no peak rate
    parms.extend(saturating_u32(t.limit_bytes()).to_ne_bytes());
    parms.extend(ticks(t.burst.0, t.rate).to_ne_bytes());
    parms.extend(0u32.to_ne_bytes()); // mtu: only with a peak rate
    let mut out = nla(TCA_TBF_PARMS, &parms);
    if let Some(rate64) = rate64(t.rate) {
        out.extend(nla(TCA_TBF_RATE64, &rate64.to_ne_bytes()));
    }
    out.extend(nla(TCA_TBF_BURST, &saturating_u32(t.burst.0).to_ne_bytes()));
    out
}

// TCA_HTB_* (linux/pkt_sched.h)
const TCA_HTB_PARMS: u16 = 1;
const TCA_HTB_INIT: u16 = 2;
const TCA_HTB_RATE64: u16 = 6;
const TCA_HTB_CEIL64: u16 = 7;

/// struct tc_htb_glob { __u32 version (3), rate2quantum (10, tc's), defcls, debug,
/// direct_pkts; }
fn htb_options(h: &Htb) -> Vec<u8> {
    let default = h.default.map_or(0, |class| u32::from(class.0));
    let glob: Vec<u8> = [3u32, 10, default, 0, 0].iter().flat_map(|v| v.to_ne_bytes()).collect();
    nla(TCA_HTB_INIT, &glob)
}

/// struct tc_htb_opt { tc_ratespec rate, ceil; __u32 buffer, cbuffer, quantum, level,
/// prio; } with buffers (in ticks) for its burst, tc's default 1600 bytes.
fn htb_class_options(class: &HtbClass) -> Vec<u8> {
    let ceil = class.ceil.unwrap_or(class.rate);
    let mut opt = ratespec(class.rate);
    opt.extend(ratespec(ceil));
    let burst = class.burst.map_or(HTB_DEFAULT_BURST, |b| b.0);
    opt.extend(ticks(burst, class.rate).to_ne_bytes());
    opt.extend(ticks(burst, ceil).to_ne_bytes());
    opt.extend([0u8; 12]); // quantum (the kernel's, from rate2quantum), level, prio
    let mut out = nla(TCA_HTB_PARMS, &opt);
    if let Some(rate64) = rate64(class.rate) {
        out.extend(nla(TCA_HTB_RATE64, &rate64.to_ne_bytes()));
    }
    if let Some(ceil64) = rate64(ceil) {
        out.extend(nla(TCA_HTB_CEIL64, &ceil64.to_ne_bytes()));
    }
    out
}

// TCA_FQ_CODEL_* (linux/pkt_sched.h)
const TCA_FQ_CODEL_TARGET: u16 = 1;
const TCA_FQ_CODEL_LIMIT: u16 = 2;
const TCA_FQ_CODEL_INTERVAL: u16 = 3;
const TCA_FQ_CODEL_ECN: u16 = 4;

/// Only the settings given; times in microseconds.
fn fq_codel_options(q: &FqCodel) -> Vec<u8> {
    let micros = |d: &crate::model::Dur| saturating_u32(d.0.as_micros().try_into().unwrap_or(u64::MAX));
    let mut out = Vec::new();
    if let Some(target) = &q.target {
        out.extend(nla(TCA_FQ_CODEL_TARGET, &micros(target).to_ne_bytes()));
    }
    if let Some(limit) = q.limit {
        out.extend(nla(TCA_FQ_CODEL_LIMIT, &limit.to_ne_bytes()));
    }
    if let Some(interval) = &q.interval {
        out.extend(nla(TCA_FQ_CODEL_INTERVAL, &micros(interval).to_ne_bytes()));
    }
    if let Some(ecn) = q.ecn {
        out.extend(nla(TCA_FQ_CODEL_ECN, &u32::from(ecn).to_ne_bytes()));
    }
    out
}

// TCA_NETEM_* (linux/pkt_sched.h)
const TCA_NETEM_REORDER: u16 = 3;
const TCA_NETEM_RATE: u16 = 6;
const TCA_NETEM_RATE64: u16 = 8;
const TCA_NETEM_LATENCY64: u16 = 10;
const TCA_NETEM_JITTER64: u16 = 11;
/// tc's default queue of netem.
const NETEM_DEFAULT_LIMIT: u32 = 1000;

/// struct tc_netem_qopt { __u32 latency, limit, loss, gap, duplicate, jitter; }
/// followed (not nested) by netem's attributes; delay and jitter also as nanoseconds.
fn netem_options(n: &Netem) -> Vec<u8> {
    let nanos = |d: Option<crate::model::Dur>| d.map_or(0, |d| u64::try_from(d.0.as_nanos()).unwrap_or(u64::MAX));
    let (delay, jitter) = (nanos(n.delay), nanos(n.jitter));
    let probability = |p: Option<crate::model::Percent>| p.map_or(0, |p| p.as_probability());
    // Reordering sends a packet out of turn with probability `reorder`, every one
    // after the first (`gap` 1), as tc sets it.
    let gap = u32::from(n.reorder.is_some());
    let qopt = [
        saturating_u32(delay >> PSCHED_SHIFT),
        n.limit.unwrap_or(NETEM_DEFAULT_LIMIT),
        probability(n.loss),
        gap,
        probability(n.duplicate),
        saturating_u32(jitter >> PSCHED_SHIFT),
    ];
    let mut out: Vec<u8> = qopt.iter().flat_map(|v| v.to_ne_bytes()).collect();
    if let Some(reorder) = n.reorder {
        // struct tc_netem_reorder { __u32 probability, correlation; }
        let body: Vec<u8> = [reorder.as_probability(), 0].iter().flat_map(|v| v.to_ne_bytes()).collect();
        out.extend(nla(TCA_NETEM_REORDER, &body));
    }
    if let Some(rate) = n.rate {
        // struct tc_netem_rate { __u32 rate; __s32 packet_overhead; __u32 cell_size;
        // __s32 cell_overhead; }
        let body: Vec<u8> =
            [saturating_u32(rate.bytes_per_second()), 0, 0, 0].iter().flat_map(|v| v.to_ne_bytes()).collect();
        out.extend(nla(TCA_NETEM_RATE, &body));
        if let Some(rate64) = rate64(rate) {
            out.extend(nla(TCA_NETEM_RATE64, &rate64.to_ne_bytes()));
        }
    }
    if n.delay.is_some() {
        out.extend(nla(TCA_NETEM_LATENCY64, &delay.to_ne_bytes()));
    }
    if n.jitter.is_some() {
        out.extend(nla(TCA_NETEM_JITTER64, &jitter.to_ne_bytes()));
    }
    out
}

/// sizeof(struct tc_ratespec)
const RATESPEC_LEN: usize = 12;

/// struct tc_ratespec { __u8 cell_log, linklayer; __u16 overhead; __s16 cell_align;
/// __u16 mpu; __u32 rate; }, the rate in bytes per second (all ones when it needs the
/// 64-bit attribute beside it).
fn ratespec(rate: Rate) -> Vec<u8> {
    let mut spec = vec![0, LINKLAYER_ETHERNET, 0, 0, 0, 0, 0, 0];
    spec.extend(saturating_u32(rate.bytes_per_second()).to_ne_bytes());
    spec
}

/// The rate for a TCA_*_RATE64 attribute, when it does not fit a ratespec.
fn rate64(rate: Rate) -> Option<u64> {
    (rate.bytes_per_second() >= u64::from(u32::MAX)).then_some(rate.bytes_per_second())
}

/// The time `bytes` take at `rate`, in psched ticks.
fn ticks(bytes: u64, rate: Rate) -> u32 {
    let nanos = u128::from(bytes) * 1_000_000_000 / u128::from(rate.bytes_per_second().max(1));
    u32::try_from(nanos >> PSCHED_SHIFT).unwrap_or(u32::MAX)
}

fn saturating_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// One netlink attribute: length, type, value, padded to 4 bytes.
fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
    let len = u16::try_from(4 + value.len()).expect("tc attributes are small");
    let mut out = Vec::with_capacity(value.len() + 8);
    out.extend(len.to_ne_bytes());
    out.extend(kind.to_ne_bytes());
    out.extend(value);
    out.resize(out.len().next_multiple_of(4), 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ByteSize, ClassId, Dur, Percent};
    use std::time::Duration;

    fn u32_at(bytes: &[u8], at: usize) -> u32 {
        u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn a_tbf_takes_its_rate_in_bytes_its_burst_in_bytes_and_its_limit_from_latency() {
        let tbf = Tbf {
            rate: Rate(8_000_000),
            burst: ByteSize(10_000),
            latency: Some(Dur(Duration::from_millis(50))),
            limit: None,
        };
        let out = tbf_options(&tbf);
        // PARMS: header, rate spec (linklayer Ethernet, 1 MB/s), no peak rate, limit.
        assert_eq!((u16::from_ne_bytes([out[0], out[1]]), u16::from_ne_bytes([out[2], out[3]])), (40, TCA_TBF_PARMS));
        assert_eq!(out[5], LINKLAYER_ETHERNET);
        assert_eq!(u32_at(&out, 4 + 8), 1_000_000);
        assert_eq!(u32_at(&out, 4 + 24), 60_000, "50ms at 1 MB/s plus the burst");
        // Then BURST, in bytes.
        assert_eq!(u16::from_ne_bytes([out[42], out[43]]), TCA_TBF_BURST);
        assert_eq!(u32_at(&out, 44), 10_000);
        assert_eq!(out.len(), 48);
    }

    #[test]
    fn a_rate_beyond_32_bits_of_bytes_goes_in_the_64_bit_attribute() {
        let tbf = Tbf { rate: Rate(40_000_000_000), burst: ByteSize(1 << 20), latency: None, limit: Some(ByteSize(1)) };
        let out = tbf_options(&tbf);
        assert_eq!(u32_at(&out, 4 + 8), u32::MAX);
        assert_eq!(u16::from_ne_bytes([out[42], out[43]]), TCA_TBF_RATE64);
    }

    #[test]
    fn htb_names_its_default_class_and_a_class_both_rates() {
        let htb = Htb { default: Some(ClassId(0x10)), classes: vec![] };
        let out = htb_options(&htb);
        assert_eq!((u32_at(&out, 4), u32_at(&out, 12)), (3, 0x10), "version 3, defcls 1:10");
        let class = HtbClass {
            id: ClassId(0x10),
            parent: None,
            rate: Rate(8_000_000),
            ceil: Some(Rate(16_000_000)),
            burst: None,
        };
        let out = htb_class_options(&class);
        assert_eq!((u32_at(&out, 4 + 8), u32_at(&out, 4 + 20)), (1_000_000, 2_000_000));
        assert_eq!(u32_at(&out, 4 + 24), (1_600_000u32) >> PSCHED_SHIFT, "1600 bytes at 1 MB/s, in ticks");
    }

    #[test]
    fn netem_puts_its_struct_first_and_its_attributes_after_it() {
        let netem = Netem {
            delay: Some(Dur(Duration::from_millis(100))),
            loss: Some(Percent(100.0)),
            reorder: Some(Percent(50.0)),
            ..Netem::default()
        };
        let out = netem_options(&netem);
        assert_eq!(u32_at(&out, 4), NETEM_DEFAULT_LIMIT);
        assert_eq!((u32_at(&out, 8), u32_at(&out, 12)), (u32::MAX, 1), "loss 100%, gap 1 for reordering");
        assert_eq!(u16::from_ne_bytes([out[26], out[27]]), TCA_NETEM_REORDER);
        let latency_at = 24 + 12;
        assert_eq!(u16::from_ne_bytes([out[latency_at + 2], out[latency_at + 3]]), TCA_NETEM_LATENCY64);
        let nanos = u64::from_ne_bytes(out[latency_at + 4..latency_at + 12].try_into().unwrap());
        assert_eq!(nanos, 100_000_000);
    }

    #[test]
    fn qdiscs_are_set_replaced_and_removed_over_netlink() {
        needs_root!();
        let scenario: crate::model::Scenario = serde_saphyr::from_str(
            r#"
nodes:
  a: {interfaces: {eth0: {qdisc: {tbf: {rate: 1mbit, burst: 8KiB, latency: 50ms}}}}}
  b: {}
links: [{veth: [a:eth0, b:eth0]}]
"#,
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let topology = rt.block_on(crate::build::build(&scenario)).unwrap();
        let handle = &topology.nodes["a"].netlink;
        let root = || rt.block_on(netlink::link_attributes(handle, "eth0")).unwrap().qdisc.unwrap();
        assert_eq!(root(), "tbf", "set at build time");
        // Each in the place of the one before: the kernel refuses another kind under
        // the same handle, so the old one must go first.
        let kinds: [Qdisc; 4] = [
            serde_saphyr::from_str(r#"{htb: {default: "1:10", classes: [{id: "1:10", rate: 1mbit}]}}"#).unwrap(),
            serde_saphyr::from_str("{pfifo: {limit: 10}}").unwrap(),
            serde_saphyr::from_str("{bfifo: {limit: 64KiB}}").unwrap(),
            serde_saphyr::from_str("{bfifo: {limit: 32KiB}}").unwrap(),
        ];
        for qdisc in &kinds {
            rt.block_on(set(handle, "eth0", qdisc)).unwrap_or_else(|e| panic!("{qdisc}: {e}"));
            assert_eq!(root(), qdisc.kind());
        }
        rt.block_on(set(handle, "eth0", &Qdisc::Clsact)).unwrap();
        assert_eq!(root(), "bfifo", "clsact sits beside the root qdisc");
        rt.block_on(delete(handle, "eth0", true)).unwrap();
        assert!(rt.block_on(delete(handle, "eth0", true)).is_err(), "clsact was removed");
        rt.block_on(delete(handle, "eth0", false)).unwrap();
        assert_eq!(root(), "noqueue", "the kernel's default is back");
        // A kind the kernel may lack is "unsupported" (a skip), not a failure.
        let netem: Qdisc = serde_saphyr::from_str("{netem: {delay: 10ms, loss: 1%}}").unwrap();
        match rt.block_on(set(handle, "eth0", &netem)) {
            Ok(()) => assert_eq!(root(), "netem"),
            Err(Error::Unsupported { feature, .. }) => assert_eq!(feature, "the netem qdisc"),
            Err(e) => panic!("netem: {e}"),
        }
        rt.block_on(topology.teardown());
    }

    #[test]
    fn clsact_hangs_from_its_own_parent() {
        let RouteNetlinkMessage::NewQueueDiscipline(m) = qdisc_message(3, &Qdisc::Clsact) else { panic!() };
        assert_eq!((m.header.parent, m.header.handle), (TcHandle::CLSACT, CLSACT_HANDLE));
        assert_eq!(m.attributes, vec![TcAttribute::Kind("clsact".into())]);
    }
}
