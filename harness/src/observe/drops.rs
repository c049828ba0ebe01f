//! Why packets died: the kernel's own drop reasons, attributed to a scenario's nodes.
//!
//! Every packet the kernel frees as dropped passes the `skb:kfree_skb` tracepoint with
//! a reason (enum `skb_drop_reason`: `NETFILTER_DROP`, `IP_RPFILTER`, `NEIGH_FAILED`,
//! ...) and the address inside the function that dropped it. A small BPF program
//! (`harness/bpf/drops.bpf.c`) on that tracepoint turns the drops of the run's own
//! namespaces into events on a ring buffer; [`Watch`] reads them and names them:
//! node (by namespace inode), interface, reason (from the kernel's BTF, never a table
//! of ours: values differ between kernels), function (from `/proc/kallsyms`, no
//! addresses) and the packet from its network header, decoded by [`decode`].
//!
//! Choices, and why:
//! - **Raw tracepoint** (`raw_tp/kfree_skb`): needs neither tracefs (often not mounted)
//!   nor BTF-typed tracing programs (fentry/tp_btf, unavailable on some kernels).
//! - **CO-RE against a hand-written header** (`bpf/kernel.h`, the few fields read):
//!   the object runs on any kernel with BTF; no generated 3 MB vmlinux.h in the tree.
//! - **aya** loads the object: pure Rust, so netrig builds without libbpf or libelf.
//!   The object itself is compiled by `build.rs` with clang when there is one; without,
//!   netrig builds and runs all the same and the report says once why drops are not
//!   explained ([`Watch::unavailable`]), as it does without root, BTF or BPF.
//! - **In-kernel filter on the run's namespace inodes** (a hash map): parallel runs,
//!   each with its own program and ring, never see each other's drops.
//! - **No waiting**: the tracepoint fires synchronously with the free, so once a
//!   check's traffic has ended (answered, or silent while no neighbour is still being
//!   resolved: [`crate::observe::patience`]), draining the ring sees all its drops.
//!   While a probe waits, the ring's descriptor wakes it ([`Watch::news`]).

use std::collections::HashMap;
use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use aya::maps::{Array, HashMap as BpfHashMap, MapData, RingBuf};
use aya::programs::RawTracePoint;
use aya::{Btf, Ebpf, EbpfLoader};

use crate::observe::decode::{self, Packet};

/// The tracer as `build.rs` compiled it; empty when it could not.
static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/drops.bpf.o"));
/// Why `OBJECT` is empty.
static NOT_BUILT: &str = include_str!(concat!(env!("OUT_DIR"), "/drops.why"));

/// One dropped packet, named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub node: String,
    /// The device the packet was on; `None` for one dropped before it had any (a
    /// socket's packet without a route).
    pub interface: Option<String>,
    /// The reason's name without `SKB_DROP_REASON_`, e.g. `NETFILTER_DROP`.
    pub reason: String,
    /// The kernel function that dropped it, e.g. `nf_hook_slow`.
    pub function: String,
    /// The packet from its network header (behind a blank Ethernet header).
    pub packet: Packet,
    /// The packet had been copied (a bridge's flood, a capture, the neighbour code's
    /// probe): this drop alone may not say that the packet is lost.
    pub cloned: bool,
    /// Another copy of the packet was still alive when this one was dropped.
    pub shared: bool,
}

impl Dropped {
    /// Whether this drop can have ended the packet for good, given `flooded`: whether
    /// a copy of it left some node by two devices or more (a bridge's flood).
    ///
    /// Never when another copy was alive at the drop (a flood under way), nor for a
    /// copy that reached a host it was not addressed to (`OTHERHOST`: the flood's
    /// copy for the right host may be answered), nor for a free the kernel does not
    /// explain (`NOT_SPECIFIED`: some paths free delivered packets that way). A packet
    /// never copied is then lost; one copied is lost unless it was flooded: the other
    /// copies taps and the neighbour code make are consumed, never answered.
    pub fn is_final(&self, flooded: bool) -> bool {
        let named = !matches!(self.reason.as_str(), "NOT_SPECIFIED" | "OTHERHOST");
        named && !self.shared && (!self.cloned || !flooded)
    }

    /// `in host on vethA (NETFILTER_DROP at nf_hook_slow)`.
    pub fn place(&self) -> String {
        let on = self.interface.as_deref().map(|i| format!(" on {i}")).unwrap_or_default();
        format!("in {}{on} ({} at {})", self.node, self.reason, self.function)
    }
}

/// `IPv4 10.0.0.1 > 10.0.0.2 ICMP echo-request ... in host on vethA (NETFILTER_DROP at nf_hook_slow)`.
impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.packet, self.place())
    }
}

/// Whether runs trace drops (on unless [`set_tracing`] turned it off).
static TRACING: AtomicBool = AtomicBool::new(true);

/// Turn drop tracing on or off for the runs this process starts from now on: the
/// benchmark measures what it costs.
pub fn set_tracing(on: bool) {
    TRACING.store(on, Ordering::Relaxed);
}

/// A position in a step's record of drops and copies.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mark {
    drops: usize,
    copies: usize,
}

/// Whether copies of one packet, by (node, device) they left by, left some node by two
/// devices or more.
fn flooded<'a>(copies: impl Iterator<Item = (&'a String, &'a String)>) -> bool {
    let mut by_node: HashMap<&str, &str> = HashMap::new();
    for (node, dev) in copies {
        if by_node.insert(node, dev).is_some_and(|other| other != dev) {
            return true;
        }
    }
    false
}

/// The drop tracer of one scenario run, or why there is none.
pub enum Watch {
    Tracing(Box<Tracing>),
    /// Why drops are not explained: said once in the report.
    Unavailable(String),
}

/// A loaded, attached tracer and the drops of the current step read from it.
pub struct Tracing {
    ring_fd: RawFd,
    state: Mutex<State>,
}

struct State {
    ring: RingBuf<MapData>,
    /// Copies of packets sent out of a node by a device, this step: (node, device, packet).
    copies: Vec<(String, String, Packet)>,
    /// How many drops found the ring full (counted by the program).
    lost: Array<MapData, u64>,
    /// Drops not kept because the step had seen [`MAX_SEEN`] already.
    not_kept: u64,
    /// Namespace inode → node.
    nodes: HashMap<u32, String>,
    seen: Vec<Dropped>,
    /// Detaches the program when dropped (after the ring, which it does not need).
    _ebpf: Ebpf,
}

impl Watch {
    /// Start tracing the drops of `nodes` (name, namespace inode).
    pub fn start<'a>(nodes: impl IntoIterator<Item = (&'a str, u64)>) -> Watch {
        if !TRACING.load(Ordering::Relaxed) {
            return Watch::Unavailable("drop tracing is turned off".into());
        }
        let nodes = nodes.into_iter().map(|(name, inode)| (inode as u32, name.to_string())).collect();
        match Tracing::start(nodes) {
            Ok(tracing) => Watch::Tracing(Box::new(tracing)),
            Err(why) => Watch::Unavailable(why),
        }
    }

    /// Start tracing the drops of `topology`'s nodes.
    pub fn of(topology: &crate::build::Topology) -> Watch {
        let inodes: Result<Vec<(&str, u64)>, String> = topology
            .nodes
            .iter()
            .map(|(name, node)| node.ns.inode().map(|inode| (name.as_str(), inode)).map_err(|e| format!("{name}: {e}")))
            .collect();
        match inodes {
            Ok(inodes) => Watch::start(inodes),
            Err(e) => Watch::Unavailable(format!("cannot identify a node's namespace: {e}")),
        }
    }

    /// Why drops are not explained in this run, if they are not.
    pub fn unavailable(&self) -> Option<&str> {
        match self {
            Watch::Tracing(_) => None,
            Watch::Unavailable(why) => Some(why),
        }
    }

    /// Readable when drops have come that are not read yet.
    pub fn news(&self) -> Option<BorrowedFd<'_>> {
        match self {
            // SAFETY: the descriptor belongs to the ring in `state`, which lives as long as `self`.
            Watch::Tracing(t) => Some(unsafe { BorrowedFd::borrow_raw(t.ring_fd) }),
            Watch::Unavailable(_) => None,
        }
    }

    /// Forget the drops recorded so far: a step begins, and they were of earlier ones.
    pub fn begin_step(&self) {
        self.with_state(|state| {
            state.seen.clear();
            state.copies.clear();
        });
    }

    /// Where the step's record is now: the start of what [`Watch::since`] and
    /// [`Watch::lost`] look at for what comes next.
    pub fn mark(&self) -> Mark {
        self.with_state(|state| Mark { drops: state.seen.len(), copies: state.copies.len() })
    }

    /// The drops seen since `mark` ([`Mark::default`]: since the step began), read now,
    /// sorted, without repeats.
    pub fn since(&self, mark: Mark) -> Vec<Dropped> {
        self.between(mark, None)
    }

    /// The drops seen from `from` to `until` (`None`: to now), sorted, without repeats.
    pub fn between(&self, from: Mark, until: Option<Mark>) -> Vec<Dropped> {
        let mut drops = self.with_state(|state| {
            let end = until.map_or(state.seen.len(), |until| until.drops);
            state.seen.get(from.drops..end).unwrap_or_default().to_vec()
        });
        drops.sort_by_cached_key(ToString::to_string);
        drops.dedup();
        drops
    }

    /// The drops since `mark` that ended a packet `ours` picks out for good, as far as
    /// recorded now ([`Dropped::is_final`]).
    pub fn lost(&self, mark: Mark, ours: impl Fn(&Packet) -> bool) -> Vec<Dropped> {
        self.with_state(|state| {
            let copies = state.copies.get(mark.copies..).unwrap_or_default();
            let flooded = flooded(copies.iter().filter(|(_, _, p)| ours(p)).map(|(node, dev, _)| (node, dev)));
            let drops = state.seen.get(mark.drops..).unwrap_or_default();
            drops.iter().filter(|d| ours(&d.packet) && d.is_final(flooded)).cloned().collect()
        })
    }

    /// How many drops of the run are missing from the record (a full ring, a step with
    /// too many): a check that finds no drop cannot conclude there was none.
    pub fn missed(&self) -> u64 {
        self.with_state(|state| state.missed())
    }

    /// `f` on the state with every recorded drop read; nothing without a tracer.
    fn with_state<T: Default>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let Watch::Tracing(t) = self else { return T::default() };
        let mut state = t.state.lock().unwrap_or_else(|e| e.into_inner());
        state.read();
        f(&mut state)
    }
}

impl Tracing {
    fn start(nodes: HashMap<u32, String>) -> Result<Tracing, String> {
        if OBJECT.is_empty() {
            return Err(NOT_BUILT.trim().to_string());
        }
        let btf = kernel_btf()?;
        let mut ebpf = EbpfLoader::new().btf(Some(btf)).load(OBJECT).map_err(|e| loading_failed(&e))?;
        for tracepoint in ["kfree_skb", "net_dev_queue"] {
            let program: &mut RawTracePoint = ebpf
                .program_mut(tracepoint)
                .ok_or_else(|| format!("the tracer has no {tracepoint} program"))?
                .try_into()
                .map_err(|e| format!("the tracer's {tracepoint} program: {e}"))?;
            program.load().map_err(|e| loading_failed(&e))?;
            program.attach(tracepoint).map_err(|e| format!("cannot attach to the {tracepoint} tracepoint: {e}"))?;
        }
        let mut netns: BpfHashMap<_, u32, u32> = ebpf
            .map_mut("NETNS")
            .ok_or("the tracer has no NETNS map")?
            .try_into()
            .map_err(|e| format!("the tracer's NETNS map: {e}"))?;
        for inode in nodes.keys() {
            netns.insert(inode, 1, 0).map_err(|e| format!("cannot watch a namespace: {e}"))?;
        }
        let ring = RingBuf::try_from(ebpf.take_map("EVENTS").ok_or("the tracer has no EVENTS ring")?)
            .map_err(|e| format!("the tracer's EVENTS ring: {e}"))?;
        let lost = Array::try_from(ebpf.take_map("LOST").ok_or("the tracer has no LOST counter")?)
            .map_err(|e| format!("the tracer's LOST counter: {e}"))?;
        let ring_fd = ring.as_raw_fd();
        let state = State { ring, copies: Vec::new(), lost, not_kept: 0, nodes, seen: Vec::new(), _ebpf: ebpf };
        Ok(Tracing { ring_fd, state: Mutex::new(state) })
    }
}

/// Drops a step keeps at most (a flood of them is not worth the memory); more make
/// the record incomplete.
const MAX_SEEN: usize = 10_000;

impl State {
    fn read(&mut self) {
        while let Some(item) = self.ring.next() {
            let Some(event) = Event::parse(&item) else { continue };
            let Some(node) = self.nodes.get(&event.netns) else { continue };
            if event.reason == TRANSMITTED_COPY {
                if self.copies.len() < MAX_SEEN {
                    self.copies.push((node.clone(), event.ifname.clone(), event.packet()));
                }
                continue;
            }
            if let Some(dropped) = event.name(node) {
                if self.seen.len() < MAX_SEEN {
                    self.seen.push(dropped);
                } else {
                    self.not_kept += 1;
                }
            }
        }
    }

    /// Drops that happened but are not in `seen`, ever: lost to a full ring or not kept.
    fn missed(&self) -> u64 {
        self.lost.get(&0, 0).unwrap_or(u64::MAX).saturating_add(self.not_kept)
    }
}

fn loading_failed(e: &dyn std::error::Error) -> String {
    let mut why = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        why.push_str(&format!(": {s}"));
        source = s.source();
    }
    if why.contains("Operation not permitted") || why.contains("EPERM") {
        why.push_str(" (loading BPF programs needs root or CAP_BPF and CAP_PERFMON)");
    }
    format!("cannot load the drop tracer: {why}")
}

/// The kernel's BTF, parsed once per process (it takes milliseconds).
fn kernel_btf() -> Result<&'static Btf, String> {
    static BTF: OnceLock<Result<Btf, String>> = OnceLock::new();
    BTF.get_or_init(|| Btf::from_sys_fs().map_err(|e| format!("the kernel has no readable BTF ({e})")))
        .as_ref()
        .map_err(Clone::clone)
}

// ---------------------------------------------------------------------------------------
// Events

/// Bytes of an event: `struct event` of drops.bpf.c.
const EVENT_LEN: usize = HEADER_AT + HEADER_BYTES;
const HEADER_AT: usize = 48;
/// The `reason` of events about a copy sent out by a device (not a drop).
const TRANSMITTED_COPY: u32 = u32::MAX;
const HEADER_BYTES: usize = 128;

/// One event as the BPF program wrote it.
#[derive(Debug, PartialEq, Eq)]
struct Event {
    location: u64,
    netns: u32,
    reason: u32,
    /// skb->protocol as on the wire (an EtherType).
    protocol: [u8; 2],
    cloned: bool,
    ifname: String,
    /// References to the packet's data: more than 1 while another copy lives.
    dataref: u32,
    header: Vec<u8>,
}

impl Event {
    fn parse(b: &[u8]) -> Option<Event> {
        if b.len() < EVENT_LEN {
            return None;
        }
        let u32_at = |at: usize| u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"));
        let ifname = &b[28..44];
        let ifname = &ifname[..ifname.iter().position(|&c| c == 0).unwrap_or(ifname.len())];
        let header_len = usize::from(b[27]).min(HEADER_BYTES);
        Some(Event {
            location: u64::from_ne_bytes(b[0..8].try_into().expect("8 bytes")),
            netns: u32_at(8),
            reason: u32_at(16),
            protocol: [b[24], b[25]],
            cloned: b[26] != 0,
            ifname: String::from_utf8_lossy(ifname).into_owned(),
            dataref: u32_at(44),
            header: b[HEADER_AT..HEADER_AT + header_len].to_vec(),
        })
    }

    /// The drop in words, or `None` for a free that is no drop (`NOT_DROPPED_YET`,
    /// `CONSUMED`).
    fn name(&self, node: &str) -> Option<Dropped> {
        let reason = reason_name(self.reason);
        if reason == "NOT_DROPPED_YET" || reason == "CONSUMED" {
            return None;
        }
        Some(Dropped {
            node: node.to_string(),
            interface: (!self.ifname.is_empty()).then(|| self.ifname.clone()),
            reason,
            function: function_at(self.location),
            packet: self.packet(),
            cloned: self.cloned,
            shared: self.dataref > 1,
        })
    }

    /// The packet behind a blank Ethernet header carrying its EtherType, so that the
    /// decoder and packet matchers of captures apply as they are.
    fn packet(&self) -> Packet {
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&self.protocol);
        frame.extend_from_slice(&self.header);
        let mut packet = decode::decode(&frame);
        // Only the headers were kept: what is missing is not the packet's fault.
        packet.truncated = None;
        packet
    }
}

// ---------------------------------------------------------------------------------------
// Names

/// The drop reasons of the running kernel by value, as its BTF names them (empty
/// when the BTF cannot be read).
fn reasons() -> &'static HashMap<u32, String> {
    static NAMES: OnceLock<HashMap<u32, String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        std::fs::read("/sys/kernel/btf/vmlinux").ok().map(|btf| btf_enum(&btf, "skb_drop_reason")).unwrap_or_default()
    })
}

const REASON_PREFIX: &str = "SKB_DROP_REASON_";

/// The name of drop reason `value` on the running kernel, or `reason N`.
fn reason_name(value: u32) -> String {
    match reasons().get(&value) {
        Some(name) => name.strip_prefix(REASON_PREFIX).unwrap_or(name).to_string(),
        None => format!("reason {value}"),
    }
}

/// Whether a scenario's `reason` is spelled as reports show reasons, and is one the
/// running kernel knows (when its BTF can be read): a typo would otherwise make a
/// `seen: false` check pass forever.
pub fn check_reason_name(name: &str) -> Result<(), String> {
    check_reason_against(name, reasons().values().filter_map(|n| n.strip_prefix(REASON_PREFIX)))
}

fn check_reason_against<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Result<(), String> {
    if let Some(short) = name.strip_prefix(REASON_PREFIX) {
        return Err(format!("write the reason without `{REASON_PREFIX}`: `{short}`"));
    }
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
        return Err(format!("`{name}` is not a drop reason name (they are upper case, e.g. `IP_RPFILTER`)"));
    }
    let known: Vec<&str> = known.collect();
    if known.is_empty() || known.contains(&name) {
        return Ok(());
    }
    let first_word = name.split('_').next().unwrap_or(name);
    let mut alike: Vec<&str> = known.into_iter().filter(|k| k.starts_with(first_word)).collect();
    alike.sort();
    let hint = if alike.is_empty() { String::new() } else { format!(" (of its kind: {})", alike.join(", ")) };
    Err(format!("`{name}` is not a drop reason of this kernel{hint}"))
}

/// The values and names of enum `wanted` in raw BTF `data` (empty when absent).
fn btf_enum(data: &[u8], wanted: &str) -> HashMap<u32, String> {
    let mut found = HashMap::new();
    let u32_at = |at: usize| data.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
    // struct btf_header: magic u16, version u8, flags u8, hdr_len, type_off, type_len, str_off, str_len.
    let (Some(hdr_len), Some(type_off), Some(type_len), Some(str_off)) = (u32_at(4), u32_at(8), u32_at(12), u32_at(16))
    else {
        return found;
    };
    if data.get(..2) != Some(&0xeb9f_u16.to_le_bytes()[..]) {
        return found;
    }
    let types = (hdr_len + type_off) as usize;
    let strings = (hdr_len + str_off) as usize;
    let name = |offset: u32| -> Option<&str> {
        let start = strings + offset as usize;
        let rest = data.get(start..)?;
        std::str::from_utf8(&rest[..rest.iter().position(|&c| c == 0)?]).ok()
    };
    let mut at = types;
    while at + 12 <= types + type_len as usize {
        let (Some(name_off), Some(info)) = (u32_at(at), u32_at(at + 4)) else { break };
        let kind = (info >> 24) & 0x1f;
        let vlen = (info & 0xffff) as usize;
        at += 12;
        // Bytes that follow the common header, per kind (linux/btf.h).
        let extra = match kind {
            1 | 14 | 17 => 4,        // INT, VAR, DECL_TAG
            3 => 12,                 // ARRAY
            4 | 5 | 15 => 12 * vlen, // STRUCT, UNION, DATASEC
            6 | 13 => 8 * vlen,      // ENUM, FUNC_PROTO
            19 => 12 * vlen,         // ENUM64
            _ => 0,                  // PTR, FWD, TYPEDEF, qualifiers, FUNC, FLOAT, TYPE_TAG
        };
        if kind == 6 && name(name_off) == Some(wanted) {
            for member in 0..vlen {
                let m = at + 8 * member;
                if let (Some(n), Some(value)) = (u32_at(m).and_then(name), u32_at(m + 4)) {
                    found.insert(value, n.to_string());
                }
            }
            return found;
        }
        at += extra;
    }
    found
}

/// The kernel function containing `address`, from /proc/kallsyms, or `unknown
/// function`: kernel addresses never reach a report.
///
/// The listing is read once, and again when `address` is in a module's part of it
/// while the loaded modules changed since: a scenario's command or a link kind loads
/// modules (nf_tables with the first nft or iptables rule, ipvlan, 8021q), and an
/// address in one loaded later would be named after the last function before it
/// (seen on 6.1: NETFILTER_DROP "at veth_set_channels" instead of nft_do_chain).
fn function_at(address: u64) -> String {
    static SYMBOLS: Mutex<Option<Symbols>> = Mutex::new(None);
    let mut symbols = SYMBOLS.lock().unwrap_or_else(|e| e.into_inner());
    let current = symbols.get_or_insert_with(Symbols::read);
    if current.may_be_stale_at(address) && current.modules != loaded_modules() {
        *current = Symbols::read();
    }
    current.containing(address).unwrap_or("unknown function").to_string()
}

/// The functions of a kallsyms listing, and the module list it was read with.
struct Symbols {
    modules: String,
    /// Function symbols: address, name, whether a module's.
    text: Vec<(u64, String, bool)>,
}

impl Symbols {
    fn read() -> Symbols {
        // The module list first: a module loaded in between is then read again later.
        let modules = loaded_modules();
        let text = std::fs::read_to_string("/proc/kallsyms").map(|t| text_symbols(&t)).unwrap_or_default();
        Symbols { modules, text }
    }

    /// The name of the last function at or below `address`.
    fn containing(&self, address: u64) -> Option<&str> {
        self.index_of(address).map(|i| self.text[i].1.as_str())
    }

    fn index_of(&self, address: u64) -> Option<usize> {
        self.text.partition_point(|(a, _, _)| *a <= address).checked_sub(1)
    }

    /// Whether `address` falls where a module loaded since could be: in a module's
    /// functions, or after the kernel's own last one.
    fn may_be_stale_at(&self, address: u64) -> bool {
        match self.index_of(address) {
            Some(i) => self.text[i].2 || !self.text[i + 1..].iter().any(|(_, _, module)| !module),
            None => true,
        }
    }
}

fn loaded_modules() -> String {
    std::fs::read_to_string("/proc/modules").unwrap_or_default()
}

/// Function symbols (`t`/`T`) of a kallsyms listing, sorted by address, each marked
/// when it is a module's (`[name]` after it). Addresses all zero (kptr_restrict) give
/// nothing.
fn text_symbols(kallsyms: &str) -> Vec<(u64, String, bool)> {
    let mut symbols: Vec<(u64, String, bool)> = kallsyms
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let address = u64::from_str_radix(words.next()?, 16).ok().filter(|&a| a != 0)?;
            let kind = words.next()?;
            let name = source_name(words.next()?);
            let module = words.next().is_some_and(|w| w.starts_with('['));
            matches!(kind, "t" | "T").then(|| (address, name.to_string(), module))
        })
        .collect();
    symbols.sort();
    symbols
}

/// A symbol's name as in the kernel's source: the compiler's clones of a function
/// (`ip_rcv_finish_core.constprop.0`, `.isra.0`, `.part.0`, `.cold`) differ between
/// builds of one kernel.
fn source_name(symbol: &str) -> &str {
    symbol.split_once('.').map_or(symbol, |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_are_named_as_in_the_source_without_the_compilers_clone_suffixes() {
        let symbols = Symbols {
            modules: String::new(),
            text: text_symbols(
                "ffffffff81000000 T ip_rcv_finish_core.constprop.0\nffffffff81000100 t nf_hook_slow\n\
                 ffffffff81000200 t x.cold\nffffffffc0000000 t veth_set_channels\t[veth]\n",
            ),
        };
        assert_eq!(symbols.containing(0xffffffff81000010), Some("ip_rcv_finish_core"));
        assert_eq!(symbols.containing(0xffffffff81000180), Some("nf_hook_slow"));
        assert_eq!(symbols.containing(0xffffffff81000200), Some("x"));
        // A module's address, or one past the kernel's last function, may belong to a
        // module loaded since the listing was read; the kernel's own may not.
        assert!(!symbols.may_be_stale_at(0xffffffff81000180));
        assert!(symbols.may_be_stale_at(0xffffffffc0001000));
        assert!(symbols.may_be_stale_at(0xffffffff81000300), "after the kernel's last function");
        assert!(symbols.may_be_stale_at(0x10), "before the first");
    }

    /// A raw BTF blob with one INT and one ENUM `name` of `members`.
    fn btf_with_enum(name: &str, members: &[(&str, u32)]) -> Vec<u8> {
        let mut strings = vec![0u8];
        let mut add = |s: &str| {
            let at = strings.len() as u32;
            strings.extend_from_slice(s.as_bytes());
            strings.push(0);
            at
        };
        let mut types = Vec::new();
        let int_name = add("int");
        for word in [int_name, 1 << 24, 4, 32] {
            types.extend_from_slice(&u32::to_le_bytes(word));
        }
        let enum_name = add(name);
        for word in [enum_name, (6 << 24) | members.len() as u32, 4] {
            types.extend_from_slice(&u32::to_le_bytes(word));
        }
        for (member, value) in members {
            let at = add(member);
            types.extend_from_slice(&at.to_le_bytes());
            types.extend_from_slice(&value.to_le_bytes());
        }
        let mut blob = vec![0x9f, 0xeb, 1, 0];
        for word in [24, 0, types.len() as u32, types.len() as u32, strings.len() as u32] {
            blob.extend_from_slice(&u32::to_le_bytes(word));
        }
        blob.extend(types);
        blob.extend(strings);
        blob
    }

    #[test]
    fn reason_names_come_from_the_btf_enum() {
        let blob = btf_with_enum("skb_drop_reason", &[("SKB_DROP_REASON_NETFILTER_DROP", 12), ("SKB_CONSUMED", 1)]);
        let names = btf_enum(&blob, "skb_drop_reason");
        assert_eq!(names[&12], "SKB_DROP_REASON_NETFILTER_DROP");
        assert_eq!(names[&1], "SKB_CONSUMED");
        assert!(btf_enum(&blob, "other").is_empty());
        assert!(btf_enum(b"garbage", "skb_drop_reason").is_empty());
    }

    #[test]
    fn reason_names_are_checked_against_the_kernel() {
        let known = ["IP_RPFILTER", "IP_INNOROUTES", "NETFILTER_DROP"];
        assert!(check_reason_against("IP_RPFILTER", known.into_iter()).is_ok());
        let typo = check_reason_against("IP_RP_FILTER", known.into_iter()).unwrap_err();
        assert_eq!(
            typo,
            "`IP_RP_FILTER` is not a drop reason of this kernel (of its kind: IP_INNOROUTES, IP_RPFILTER)"
        );
        assert!(
            check_reason_against("SKB_DROP_REASON_IP_RPFILTER", known.into_iter()).unwrap_err().contains("without")
        );
        assert!(check_reason_against("ip_rpfilter", known.into_iter()).unwrap_err().contains("upper case"));
        // Without the kernel's names (no BTF), only the spelling is checked.
        assert!(check_reason_against("ANYTHING_ELSE", std::iter::empty()).is_ok());
    }

    #[test]
    fn the_running_kernel_names_its_reasons() {
        if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
            eprintln!("skipped: no kernel BTF");
            return;
        }
        // Whatever the values are on this kernel, these names exist since 5.17/6.0.
        let names = btf_enum(&std::fs::read("/sys/kernel/btf/vmlinux").unwrap(), "skb_drop_reason");
        for name in ["SKB_DROP_REASON_NETFILTER_DROP", "SKB_DROP_REASON_IP_RPFILTER", "SKB_DROP_REASON_NOT_SPECIFIED"] {
            assert!(names.values().any(|n| n == name), "{name} missing");
        }
    }

    #[test]
    fn functions_are_named_by_the_symbol_below_the_address() {
        let text = text_symbols(
            "ffffffff81000000 T _stext\nffffffff81100000 t nf_hook_slow\nffffffff81100400 D some_data\n\
             ffffffff81100800 T ip_rcv\n0000000000000000 T hidden\n",
        );
        let symbols = Symbols { modules: String::new(), text };
        assert_eq!(symbols.containing(0xffffffff81100123), Some("nf_hook_slow"));
        assert_eq!(symbols.containing(0xffffffff81100800), Some("ip_rcv"));
        assert_eq!(symbols.containing(0x1000), None);
    }

    fn event_bytes(cloned: bool, header: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; EVENT_LEN];
        b[0..8].copy_from_slice(&0xffffffff81100123u64.to_ne_bytes());
        b[8..12].copy_from_slice(&4026532000u32.to_ne_bytes());
        b[16..20].copy_from_slice(&12u32.to_ne_bytes());
        b[24..26].copy_from_slice(&[0x08, 0x00]);
        b[26] = cloned.into();
        b[27] = header.len() as u8;
        b[28..33].copy_from_slice(b"vethA");
        b[44..48].copy_from_slice(&2u32.to_ne_bytes());
        b[HEADER_AT..HEADER_AT + header.len()].copy_from_slice(header);
        b
    }

    #[test]
    fn events_are_read_as_the_program_writes_them() {
        let event = Event::parse(&event_bytes(true, &[0x45, 0, 0, 20])).unwrap();
        assert_eq!(event.netns, 4026532000);
        assert_eq!(event.reason, 12);
        assert_eq!(event.ifname, "vethA");
        assert_eq!(event.protocol, [0x08, 0x00]);
        assert!(event.cloned);
        assert_eq!(event.header, [0x45, 0, 0, 20]);
        assert_eq!(event.dataref, 2);
        assert!(Event::parse(&[0; 10]).is_none());
    }

    #[test]
    fn a_drop_is_seen_in_its_namespace_only() {
        needs_root!();
        use crate::build::netns::Netns;
        use crate::build::netns::fixture::ip;
        let (a, other) = (Netns::new().unwrap(), Netns::new().unwrap());
        let watch = Watch::start([("a", a.inode().unwrap())]);
        if let Some(why) = watch.unavailable() {
            eprintln!("skipped: {why}");
            return;
        }
        for ns in [&a, &other] {
            ip(ns, "link set lo up");
            // A packet to an address without a route in a namespace: dropped by the stack.
            let _ = ns.run(|| std::net::UdpSocket::bind("127.0.0.1:0")?.send_to(b"x", "127.0.0.1:9"));
        }
        let udp = |d: &Dropped| d.packet.udp.is_some();
        let seen =
            watch.since(Mark::default()).into_iter().find(udp).expect("the UDP datagram to a closed port is dropped");
        assert_eq!(seen.node, "a");
        assert_eq!(seen.interface.as_deref(), Some("lo"));
        assert!(!seen.cloned && !seen.shared, "nothing copied the datagram");
        assert_eq!(seen.reason, "NO_SOCKET");
        assert!(!seen.function.is_empty() && !seen.function.starts_with("unknown"), "{seen}");
        let seen = watch.since(Mark::default());
        assert_eq!(seen.iter().filter(|d| udp(d)).count(), 1, "{seen:?}: the other namespace's drop is not ours");
        assert!(watch.since(watch.mark()).is_empty());
        assert!(!watch.lost(Mark::default(), |p| p.udp.is_some()).is_empty(), "the only copy, dropped for a reason");
        watch.begin_step();
        assert!(watch.since(Mark::default()).is_empty());
    }

    #[test]
    fn a_drop_is_final_only_when_no_copy_of_the_packet_can_go_on() {
        let drop = |reason: &str, cloned: bool, shared: bool| Dropped {
            node: "host".into(),
            interface: Some("vethA".into()),
            reason: reason.into(),
            function: "nf_hook_slow".into(),
            packet: Packet::default(),
            cloned,
            shared,
        };
        assert!(drop("NETFILTER_DROP", false, false).is_final(false));
        // Copied once by the neighbour code while it resolved the next hop: still lost.
        assert!(drop("NETFILTER_DROP", true, false).is_final(false));
        assert!(!drop("NETFILTER_DROP", true, false).is_final(true), "a flooded copy");
        assert!(!drop("NETFILTER_DROP", true, true).is_final(false), "a copy dropped while others live");
        assert!(!drop("OTHERHOST", false, false).is_final(false));
        assert!(!drop("NOT_SPECIFIED", false, false).is_final(false));
        assert_eq!(drop("NETFILTER_DROP", false, false).place(), "in host on vethA (NETFILTER_DROP at nf_hook_slow)");
    }

    #[test]
    fn a_packet_sent_out_of_one_node_by_two_devices_was_flooded() {
        let (host, b, va, vb) = ("host".to_string(), "b".to_string(), "vethA".to_string(), "vethB".to_string());
        assert!(!flooded([(&host, &va), (&b, &va), (&host, &va)].into_iter()));
        assert!(flooded([(&host, &va), (&b, &va), (&host, &vb)].into_iter()));
    }
}
