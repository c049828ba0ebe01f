//! Judging one assertion against the live topology: run the probe, compare with what
//! the scenario expects, and keep what was observed for the report and the failure
//! message.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::build::Topology;
use crate::build::netlink;
use crate::model::*;
use crate::observe::capture::Captured;
use crate::observe::patience::{Observed, Settled};
use crate::observe::{cause, decode, exec, probe, service};

mod counter;
mod dropped;
mod fdb;
mod link;
mod route;
mod route_entry;
pub mod stream;

/// How long a ping or connect waits when the scenario expects an answer. Answers on
/// these links take well under a millisecond; success returns as soon as it arrives,
/// so this only bounds how long a *broken* setup takes to be reported.
pub const WAIT_FOR_SUCCESS: Duration = Duration::from_secs(2);
/// How long silence must last before a ping or connect expected to fail is judged
/// failed, once no neighbour is being resolved anywhere in the topology: while one is,
/// a request may still be queued and its answer merely late, so the check waits for
/// the resolution first ([`Settled`]).
pub const WAIT_FOR_FAILURE: Duration = Duration::from_millis(200);
/// Upper bound for a `command` check.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The result of one assertion.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// One line saying what was asserted, e.g. `ping netns_A -> 203.0.113.2`.
    pub check: String,
    /// Whether the assertion held.
    pub holds: bool,
    /// What the kernel showed, e.g. `sent 1, received 0: no reply within 200ms`.
    pub observed: String,
    /// The line of the assertion in the scenario file.
    #[serde(skip)]
    pub line: u64,
}

/// A check's outcome once `xfail` is taken into account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pass,
    Fail,
    /// Expected to fail (xfail) and did.
    ExpectedFailure,
    /// Expected to fail (xfail) but held: the bug may be fixed.
    UnexpectedPass,
}

impl Status {
    pub fn of(holds: bool, xfail: Option<&str>) -> Status {
        match (holds, xfail.is_some()) {
            (true, false) => Status::Pass,
            (false, false) => Status::Fail,
            (false, true) => Status::ExpectedFailure,
            (true, true) => Status::UnexpectedPass,
        }
    }

    pub fn is_ok(self) -> bool {
        matches!(self, Status::Pass | Status::ExpectedFailure)
    }
}

/// Judge a check that produces its own traffic or reads state (everything but
/// `packets`, which [`judge_packets`] handles once the step's captures are closed).
pub fn judge(topology: &Topology, rt: &tokio::runtime::Runtime, check: &Check) -> Verdict {
    judge_in_step(topology, rt, check, None)
}

/// What a check needs to know from the start of its step, before the step's actions:
/// the value of a counter whose change it expects.
pub fn step_start(topology: &Topology, rt: &tokio::runtime::Runtime, check: &Check) -> Option<Result<u64, String>> {
    match check {
        Check::Counter(c) => counter::baseline(topology, rt, c),
        _ => None,
    }
}

/// [`judge`] with what [`step_start`] read for the check.
pub fn judge_in_step(
    topology: &Topology,
    rt: &tokio::runtime::Runtime,
    check: &Check,
    at_start: Option<&Result<u64, String>>,
) -> Verdict {
    // A traffic check's verdict, with the drops of its own packets that explain it.
    let explained = |(mut verdict, observed): (Verdict, Observed)| {
        dropped::explain(check, &mut verdict, &observed);
        verdict
    };
    match check {
        Check::Counter(c) => counter::judge(topology, rt, c, at_start),
        Check::Bind(c) => bind(topology, c),
        Check::Ping(c) => explained(ping(topology, rt, c)),
        Check::Connect(c) => explained(connect(topology, rt, c)),
        Check::Command(c) => command(topology, c),
        Check::Route(c) => route::judge(topology, rt, c),
        Check::Sysctl(c) => sysctl(topology, c),
        Check::Udp(c) => explained(udp(topology, rt, c)),
        Check::Tcp(c) => explained(tcp(topology, rt, c)),
        Check::Neighbour(c) => neighbour(topology, rt, c),
        Check::Log(c) => log(topology, c),
        Check::Fdb(c) => fdb::judge(topology, rt, c),
        Check::Link(c) => link::judge(topology, rt, c),
        Check::Stream(c) => stream::judge(topology, rt, c),
        Check::Dropped(c) => dropped::judge(topology, rt, c),
        Check::Packets(c) => Verdict {
            check: describe_packets(c),
            holds: false,
            observed: "packet checks are judged after the step's captures close".into(),
            line: c.on.line,
        },
    }
}

fn node<'t>(topology: &'t Topology, name: &str) -> &'t crate::build::netns::Netns {
    &handle(topology, name).ns
}

fn handle<'t>(topology: &'t Topology, name: &str) -> &'t crate::build::NodeHandle {
    // Validation guarantees every referenced node exists.
    topology.nodes.get(name).unwrap_or_else(|| panic!("node {name} was validated but not built"))
}

/// How long one request of a check waits: its `timeout`, else the default for the
/// outcome it expects (validation bounds checks by it too).
pub(crate) fn wait(timeout: &Option<Loc<Dur>>, expect_success: bool) -> Duration {
    match timeout {
        Some(t) => t.0,
        None if expect_success => WAIT_FOR_SUCCESS,
        None => WAIT_FOR_FAILURE,
    }
}

fn ping(topology: &Topology, rt: &tokio::runtime::Runtime, c: &PingCheck) -> (Verdict, Observed) {
    let succeeds = match &c.answered {
        Some(k) => format!("is answered at least {} of {} times", k.at_least, *c.count),
        None => "is answered".to_string(),
    };
    let check = format!(
        "ping {} -> {}{} {}",
        c.from.as_str(),
        *c.to,
        ping_options(c),
        expectation(&c.fails, &succeeds, "gets no reply")
    );
    let timeout = wait(&c.timeout, !c.fails.expected());
    let mut patience = Settled::new(topology, rt, timeout);
    let options = probe::EchoOptions {
        source: c.source,
        dev: c.dev.as_deref(),
        size: c.size.as_ref().map(|s| usize::from(**s)),
        ttl: c.ttl,
        tos: c.tos,
        pmtu: c.pmtu,
        broadcast: c.broadcast,
        interval: c.interval.as_ref().map(|i| i.0),
        id: c.id,
    };
    let pinged = probe::ping_with(node(topology, &c.from), *c.to, &options, *c.count, timeout, &mut patience);
    let (holds, mut observed) = match pinged {
        Ok(o) => {
            let answered = o.received >= c.answered.as_ref().map_or(*c.count, |k| k.at_least);
            let mut observed = format!("sent {}, received {}", o.sent, o.received);
            if let Some(e) = &o.error {
                observed.push_str(&format!(": {e}"));
            }
            (as_expected(&c.fails, answered, o.received == 0, o.error.as_ref()), observed)
        }
        Err(e) => (false, format!("could not ping: {e}")),
    };
    let holds = patience.judged(holds, &mut observed);
    (Verdict { check, holds, observed, line: c.from.line }, patience.observed())
}

/// The options of a ping that change its packets, as `ping(8)` would be given them:
/// ` size 1400 pmtu do ttl 3`.
fn ping_options(c: &PingCheck) -> String {
    let mut words = String::new();
    if let Some(size) = &c.size {
        words.push_str(&format!(" size {}", **size));
    }
    if let Some(pmtu) = c.pmtu {
        words.push_str(&format!(" pmtu {}", format!("{pmtu:?}").to_lowercase()));
    }
    if let Some(ttl) = c.ttl {
        words.push_str(&format!(" ttl {ttl}"));
    }
    if let Some(tos) = c.tos {
        words.push_str(&format!(" tos {tos:#04x}"));
    }
    if c.broadcast {
        words.push_str(" broadcast");
    }
    if let Some(interval) = &c.interval {
        words.push_str(&format!(" interval {}", humantime::format_duration(interval.0)));
    }
    if let Some(id) = c.id {
        words.push_str(&format!(" id {id}"));
    }
    words
}

/// What a traffic check expects, in its description: `succeeds` or `fails` as worded
/// for the check, or the failure cause it demands.
fn expectation(fails: &Fails, succeeds: &str, fail: &str) -> String {
    match fails {
        Fails::Flag(false) => succeeds.to_string(),
        Fails::Flag(true) => fail.to_string(),
        Fails::Because(cause) => format!("fails with {}", cause::describe(cause)),
    }
}

/// Whether the outcome is what `fails` expects: every request answered, none, or none
/// and for the expected cause.
fn as_expected(fails: &Fails, all_answered: bool, none_answered: bool, cause: Option<&cause::Cause>) -> bool {
    match fails {
        Fails::Flag(false) => all_answered,
        Fails::Flag(true) => none_answered,
        Fails::Because(want) => none_answered && cause.is_some_and(|c| c.matches(want)),
    }
}

fn connect(topology: &Topology, rt: &tokio::runtime::Runtime, c: &ConnectCheck) -> (Verdict, Observed) {
    if let Some(banner) = &c.banner {
        return connect_banner(topology, rt, c, banner);
    }
    let expected = c.result;
    let check = format!("tcp connect {} -> {} is {}", c.from.as_str(), *c.to, name_of(&expected));
    let timeout = wait(&c.timeout, expected == ConnectResult::Connected);
    let mut patience = Settled::new(topology, rt, timeout);
    let (holds, mut observed) = match probe::connect(node(topology, &c.from), *c.to, timeout, &mut patience) {
        Ok(got) => (got == expected, name_of(&got)),
        Err(e) => (false, format!("could not connect: {e}")),
    };
    let holds = patience.judged(holds, &mut observed);
    (Verdict { check, holds, observed, line: c.from.line }, patience.observed())
}

/// A `connect` that reads the server's first line (validation: only with `result:
/// connected`), which must start with `banner`.
fn connect_banner(
    topology: &Topology,
    rt: &tokio::runtime::Runtime,
    c: &ConnectCheck,
    banner: &str,
) -> (Verdict, Observed) {
    let check = format!("tcp connect {} -> {} is greeted with {banner:?}", c.from.as_str(), *c.to);
    let timeout = wait(&c.timeout, true);
    let mut patience = Settled::new(topology, rt, timeout);
    let (holds, mut observed) = match probe::first_line(node(topology, &c.from), *c.to, timeout, &mut patience) {
        Ok(Ok(probe::FirstLine::Line(line))) => (line.starts_with(banner), format!("connected, first line {line:?}")),
        Ok(Ok(probe::FirstLine::Partial { received, closed })) => {
            let end = if closed { "closed" } else { "no whole line" };
            (
                false,
                format!(
                    "connected, {end} within {}: received {}",
                    humantime::format_duration(timeout),
                    excerpt(&received)
                ),
            )
        }
        Ok(Err(got)) => (false, name_of(&got)),
        Err(e) => (false, format!("could not connect: {e}")),
    };
    let holds = patience.judged(holds, &mut observed);
    (Verdict { check, holds, observed, line: c.from.line }, patience.observed())
}

fn udp(topology: &Topology, rt: &tokio::runtime::Runtime, c: &UdpCheck) -> (Verdict, Observed) {
    let expectation = expectation(&c.fails, "is echoed", "gets no echo");
    let (payload, shown) = match &c.payload_hex {
        Some(hex) => (hex.0.as_slice(), format!("hex {hex}")),
        None => (c.payload.as_bytes(), excerpt(c.payload.as_bytes())),
    };
    let bind = udp_source(c);
    let from = bind.map(|b| format!(" from {b}")).unwrap_or_default();
    let check = format!("udp {} -> {}{from} {shown} {expectation}", c.from.as_str(), *c.to);
    let timeout = wait(&c.timeout, !c.fails.expected());
    let sent = format!("sent {} bytes", payload.len());
    let mut patience = Settled::new(topology, rt, timeout);
    let exchanged = probe::udp_exchange_from(node(topology, &c.from), bind, *c.to, payload, timeout, &mut patience);
    // `echoed` is None when the probe itself broke: no verdict either way.
    let (echoed, mut observed, cause) = match exchanged {
        Ok(Ok(reply)) if reply == payload => (Some(true), format!("{sent}, received {} bytes back", reply.len()), None),
        Ok(Ok(reply)) => {
            let text = excerpt(&reply);
            (Some(false), format!("{sent}, received {} different bytes back: {text}", reply.len()), None)
        }
        Ok(Err(cause)) => (Some(false), format!("{sent}, {cause}"), Some(cause)),
        Err(e) => (None, format!("could not send: {e}"), None),
    };
    let holds = echoed.is_some_and(|echoed| as_expected(&c.fails, echoed, !echoed, cause.as_ref()));
    let holds = patience.judged(holds, &mut observed);
    (Verdict { check, holds, observed, line: c.from.line }, patience.observed())
}

/// The local address a `udp` check binds, when it gives a source address or port.
fn udp_source(c: &UdpCheck) -> Option<std::net::SocketAddr> {
    if c.source.is_none() && c.source_port.is_none() {
        return None;
    }
    let any: std::net::IpAddr =
        if c.to.is_ipv4() { std::net::Ipv4Addr::UNSPECIFIED.into() } else { std::net::Ipv6Addr::UNSPECIFIED.into() };
    Some(std::net::SocketAddr::new(c.source.as_ref().map_or(any, |s| **s), c.source_port.unwrap_or(0)))
}

/// A payload as messages quote it: whole when short, else its first bytes and its size.
fn excerpt(payload: &[u8]) -> String {
    const SHOWN: usize = 32;
    let text = String::from_utf8_lossy(&payload[..payload.len().min(SHOWN)]).into_owned();
    match payload.len() {
        n if n <= SHOWN => format!("{text:?}"),
        n => format!("{text:?}… ({n} bytes)"),
    }
}

/// Default deadline of a transfer expected to complete: [`WAIT_FOR_SUCCESS`] plus one
/// second per 64 MiB (veth moves gigabytes per second; this only bounds broken setups).
fn transfer_timeout(bytes: u64) -> Duration {
    WAIT_FOR_SUCCESS + Duration::from_secs(bytes / (64 << 20))
}

fn tcp(topology: &Topology, rt: &tokio::runtime::Runtime, c: &TcpCheck) -> (Verdict, Observed) {
    let bytes = c.bytes.0;
    let expectation = if c.fails { "does not complete" } else { "is counted by the peer" };
    let check = format!("tcp {} -> {} {} {expectation}", c.from.as_str(), *c.to, *c.bytes);
    let timeout = match &c.timeout {
        Some(t) => t.0,
        None if c.fails => WAIT_FOR_FAILURE,
        None => transfer_timeout(bytes),
    };
    let mut patience = Settled::new(topology, rt, timeout);
    let (complete, mut observed) = match probe::transfer(node(topology, &c.from), *c.to, bytes, timeout, &mut patience)
    {
        Ok(o) => {
            let mut observed = format!("sent {} bytes", o.sent);
            if let Some(counted) = o.counted {
                observed.push_str(&format!(", peer counted {counted}"));
            }
            if let Some(e) = &o.error {
                observed.push_str(&format!(": {e}"));
            }
            (o.counted == Some(bytes), observed)
        }
        Err(e) => (false, format!("could not transfer: {e}")),
    };
    let holds = patience.judged(complete != c.fails, &mut observed);
    (Verdict { check, holds, observed, line: c.from.line }, patience.observed())
}

fn neighbour(topology: &Topology, rt: &tokio::runtime::Runtime, c: &NeighbourCheck) -> Verdict {
    let node = &topology.nodes[c.on.as_str()];
    let deadline = Instant::now() + wait(&c.timeout, true);
    let read = || {
        let all = rt.block_on(netlink::neighbours(&node.netlink)).map_err(|e| e.to_string())?;
        Ok(all.into_iter().filter(|n| n.ip == *c.ip && c.dev.as_ref().is_none_or(|d| n.dev == **d)).collect())
    };
    let as_expected = |entries: &Vec<netlink::NeighbourEntry>| {
        if c.absent { entries.is_empty() } else { entries.iter().any(|n| neighbour_matches(c, n)) }
    };
    let (holds, observed) = match watch_tables(node, deadline, read, as_expected) {
        Ok((holds, entries)) if entries.is_empty() => (holds, format!("no entry for {}", *c.ip)),
        Ok((holds, entries)) => (holds, entries.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")),
        Err(e) => (false, e),
    };
    Verdict { check: describe_neighbour(c), holds, observed, line: c.on.line }
}

/// Read a node's tables with `read` until `as_expected` holds for the reading or
/// `deadline` passes, waking on the namespace's neighbour change notifications, which
/// announce the ARP and NDP tables' changes and the forwarding databases' alike: an
/// entry on its way, or one the kernel is still removing, is waited for, never judged
/// early. Returns the last reading and whether it was as expected.
fn watch_tables<T>(
    node: &crate::build::NodeHandle,
    deadline: Instant,
    read: impl FnMut() -> Result<T, String>,
    as_expected: impl Fn(&T) -> bool,
) -> Result<(bool, T), String> {
    watch(netlink::TableEvents::subscribe_neighbours, node, deadline, read, as_expected)
}

/// [`watch_tables`] woken by the notifications `subscribe` subscribes to.
fn watch<T>(
    subscribe: fn(&crate::build::netns::Netns) -> std::io::Result<netlink::TableEvents>,
    node: &crate::build::NodeHandle,
    deadline: Instant,
    mut read: impl FnMut() -> Result<T, String>,
    as_expected: impl Fn(&T) -> bool,
) -> Result<(bool, T), String> {
    // Subscribed before the first reading, so that no change slips in between.
    let events = subscribe(&node.ns).map_err(|e| format!("cannot watch for changes: {e}"))?;
    loop {
        let reading = read()?;
        let holds = as_expected(&reading);
        if holds || !events.wait(deadline).unwrap_or(false) {
            return Ok((holds, reading));
        }
    }
}

fn neighbour_matches(c: &NeighbourCheck, entry: &netlink::NeighbourEntry) -> bool {
    c.lladdr.is_none_or(|mac| entry.lladdr == Some(mac)) && c.state.is_none_or(|state| entry.state == state)
}

/// `neighbour on b: 10.0.0.9 dev eth0 lladdr 02:00:00:00:00:09 STALE`, `... is absent`.
fn describe_neighbour(c: &NeighbourCheck) -> String {
    let mut what = format!("neighbour on {}: {}", c.on.as_str(), *c.ip);
    if let Some(dev) = &c.dev {
        what.push_str(&format!(" dev {}", dev.as_str()));
    }
    if c.absent {
        what.push_str(" is absent");
    } else if c.lladdr.is_none() && c.state.is_none() {
        what.push_str(" exists");
    }
    if let Some(mac) = c.lladdr {
        what.push_str(&format!(" lladdr {mac}"));
    }
    if let Some(state) = c.state {
        what.push_str(&format!(" {state}"));
    }
    what
}

fn bind(topology: &Topology, c: &BindCheck) -> Verdict {
    let proto = match c.proto {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
    };
    let addr = std::net::SocketAddr::new(*c.address, c.port);
    let expectation = match &c.error {
        Some(errno) => format!("fails with {}", errno.as_str()),
        None => "succeeds".into(),
    };
    let check = format!("bind on {}: {proto} {addr} {expectation}", c.on.as_str());
    // Binding changes nothing the kernel is still working on: decided at once.
    let (holds, observed) = match probe::try_bind(node(topology, &c.on), addr, c.proto) {
        Ok(Ok(())) => (c.error.is_none(), "bound".to_string()),
        Ok(Err(errno)) => {
            let name = cause::errno_name(errno);
            (c.error.as_ref().is_some_and(|want| **want == name), format!("{name} ({})", errno.desc()))
        }
        Err(e) => (false, format!("could not open a socket: {e}")),
    };
    Verdict { check, holds, observed, line: c.on.line }
}

fn command(topology: &Topology, c: &CommandCheck) -> Verdict {
    let exit = match c.exit {
        ExitExpect::Code(code) => format!("exits {code}"),
        ExitExpect::Nonzero => "fails".to_string(),
    };
    let check = format!("on {}: `{}` {exit}", c.on.as_str(), c.run.as_str());
    let handle = handle(topology, &c.on);
    let ran = handle.finish_baseline().and_then(|()| exec::run(&handle.ns, &c.run, COMMAND_TIMEOUT));
    let out = match ran {
        Ok(out) => out,
        Err(e) => {
            return Verdict { check, holds: false, observed: e.to_string(), line: c.on.line };
        }
    };
    let code = out.status.code();
    let exit_ok = match c.exit {
        ExitExpect::Code(want) => code == Some(want),
        ExitExpect::Nonzero => code != Some(0),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stdout_ok = c.stdout.as_ref().is_none_or(|re| stdout_matches(re, &stdout));
    let mut observed = match code {
        Some(code) => format!("exit {code}"),
        None => format!("killed ({})", out.status),
    };
    if !exit_ok || !stdout_ok {
        observed.push_str(&format!(
            "\nstdout:\n{}\nstderr:\n{}",
            stdout.trim_end(),
            String::from_utf8_lossy(&out.stderr).trim_end()
        ));
    }
    let check = match &c.stdout {
        Some(re) => format!("{check}, stdout matches /{}/", re.as_str()),
        None => check,
    };
    Verdict { check, holds: exit_ok && stdout_ok, observed, line: c.on.line }
}

/// Whether `stdout` matches the check's pattern, line by line ([`CommandCheck::stdout_regex`]).
fn stdout_matches(pattern: &str, stdout: &str) -> bool {
    // Validated when the scenario was loaded; an invalid one can only fail the check.
    CommandCheck::stdout_regex(pattern).is_ok_and(|re| re.is_match(stdout))
}

fn log(topology: &Topology, c: &LogCheck) -> Verdict {
    let verb = if c.absent { "has no line matching" } else { "shows a line matching" };
    let check = format!("log of service {} on {} {verb} /{}/", c.service.as_str(), c.on.as_str(), c.matches.as_str());
    let (holds, observed) = service::judge_log(topology, c);
    Verdict { check, holds, observed, line: c.on.line }
}

fn sysctl(topology: &Topology, c: &SysctlCheck) -> Verdict {
    let want = c.value.to_string();
    let check = format!("sysctl on {}: {} = {want}", c.on.as_str(), c.key.as_str());
    let (holds, observed) = match crate::build::baseline::read(node(topology, &c.on), &c.key) {
        Ok(got) => (normalize_sysctl(&got) == normalize_sysctl(&want), got),
        Err(e) => (false, e.to_string()),
    };
    Verdict { check, holds, observed, line: c.on.line }
}

/// Multi-value sysctls print tab-separated; compare word by word.
fn normalize_sysctl(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Judge a packet check against what was captured on its interface.
/// Multicast membership reports and router solicitations are counted only by a check
/// whose `match` names them (see [`decode::asks_for_self_timed`]), as the report leaves
/// them out.
pub fn judge_packets(c: &PacketCheck, captured: &[Captured]) -> Verdict {
    let counts_reports = c.matches.as_ref().is_some_and(decode::asks_for_self_timed);
    let matching = captured
        .iter()
        .filter(|p| c.direction.is_none_or(|d| p.direction == Some(d)))
        .map(|p| decode::decode(&p.data))
        .filter(|p| counts_reports || !p.is_self_timed())
        .filter(|p| c.matches.as_ref().is_none_or(|m| decode::matches(m, p)))
        .count() as u32;
    let holds = match (c.count, c.min, c.max, c.seen) {
        (Some(n), _, _, _) => matching == n,
        (None, None, None, seen) => (matching > 0) == seen.unwrap_or(true),
        (None, min, max, _) => min.is_none_or(|m| matching >= m) && max.is_none_or(|m| matching <= m),
    };
    Verdict { check: describe_packets(c), holds, observed: format!("{matching} matching"), line: c.on.line }
}

fn describe_packets(c: &PacketCheck) -> String {
    let mut what = format!("packets on {}", *c.on);
    if let Some(d) = c.direction {
        what.push_str(&format!(" ({})", name_of(&d)));
    }
    if let Some(f) = &c.filter {
        what.push_str(&format!(" filter `{}`", f.as_str()));
    }
    if let Some(m) = &c.matches {
        what.push_str(&format!(" matching {}", describe_match(m)));
    }
    let expectation = match (c.count, c.min, c.max, c.seen) {
        (Some(n), ..) => format!("exactly {n}"),
        (None, None, None, Some(false)) => "none".into(),
        (None, None, None, _) => "at least one".into(),
        (None, min, max, _) => match (min, max) {
            (Some(a), Some(b)) => format!("between {a} and {b}"),
            (Some(a), None) => format!("at least {a}"),
            (None, Some(b)) => format!("at most {b}"),
            (None, None) => unreachable!(),
        },
    };
    format!("{what}: {expectation}")
}

/// A packet matcher as compact flow YAML, only the fields given:
/// `{arp: {op: reply, sender_ip: 1.2.3.102}}`.
pub fn describe_match(m: &PacketMatch) -> String {
    fn flow(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::Object(map) => {
                let fields: Vec<String> =
                    map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| format!("{k}: {}", flow(v))).collect();
                format!("{{{}}}", fields.join(", "))
            }
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
    serde_json::to_value(m).map(|v| flow(&v)).unwrap_or_default()
}

/// The YAML spelling of a unit enum value (`refused`, `in`, ...).
fn name_of<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xfail_turns_failure_into_success_and_success_into_failure() {
        assert_eq!(Status::of(true, None), Status::Pass);
        assert_eq!(Status::of(false, None), Status::Fail);
        assert_eq!(Status::of(false, Some("bug")), Status::ExpectedFailure);
        assert_eq!(Status::of(true, Some("bug")), Status::UnexpectedPass);
        assert!(Status::ExpectedFailure.is_ok());
        assert!(!Status::UnexpectedPass.is_ok());
    }

    #[test]
    fn stdout_patterns_anchor_at_every_line() {
        // `echo hi` prints `hi\n`: a plain `$` would not match before that newline.
        assert!(stdout_matches("^hi$", "hi\n"), "one line with its newline");
        assert!(stdout_matches("^mtu 1450$", "state UP\nmtu 1450\nqlen 1000\n"), "a middle line");
        assert!(stdout_matches("mtu 1450 ", "3: vxlan100: mtu 1450 qdisc\n"), "unanchored, as before");
        assert!(!stdout_matches("^hi$", "hi there\n"), "`$` still ends the line");
        assert!(!stdout_matches("^hi$", "oh hi\n"), "`^` still starts the line");
        assert!(!stdout_matches("^hi$", ""), "no output");
        assert!(!stdout_matches("(", "("), "an invalid pattern never holds");
    }

    #[test]
    fn sysctl_values_compare_word_by_word() {
        assert_eq!(normalize_sysctl("0\t2147483647\n"), normalize_sysctl("0 2147483647"));
    }

    /// One MLDv2 report (the kernel's own, at a random moment) and one echo request.
    fn report_and_echo() -> Vec<Captured> {
        use etherparse::{Icmpv6Type, PacketBuilder};
        let (a, b) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let mut mld = Vec::new();
        PacketBuilder::ethernet2(a, [0x33, 0x33, 0, 0, 0, 0x16])
            .ipv6(
                [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16],
                1,
            )
            .icmpv6(Icmpv6Type::Unknown { type_u8: 143, code_u8: 0, bytes5to8: [0, 0, 0, 0] })
            .write(&mut mld, &[])
            .unwrap();
        let mut solicitation = Vec::new();
        PacketBuilder::ethernet2(a, [0x33, 0x33, 0, 0, 0, 2])
            .ipv6(
                [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe, 0, 0, 1],
                [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
                255,
            )
            .icmpv6(Icmpv6Type::Unknown { type_u8: 133, code_u8: 0, bytes5to8: [0, 0, 0, 0] })
            .write(&mut solicitation, &[])
            .unwrap();
        let mut echo = Vec::new();
        PacketBuilder::ethernet2(a, b)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .icmpv4_echo_request(1, 1)
            .write(&mut echo, &[])
            .unwrap();
        [mld, solicitation, echo]
            .into_iter()
            .map(|data| Captured { ts: std::time::SystemTime::UNIX_EPOCH, direction: Some(Direction::Out), data })
            .collect()
    }

    fn packet_check(yaml: &str) -> PacketCheck {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn self_timed_packets_are_counted_only_when_the_match_names_them() {
        let captured = report_and_echo();
        let counted = |yaml: &str| judge_packets(&packet_check(yaml), &captured).observed;
        assert_eq!(counted("on: a:eth0"), "1 matching");
        assert_eq!(counted("on: a:eth0\nmatch: {ip: {proto: icmpv6}}"), "0 matching");
        assert_eq!(counted("on: a:eth0\nmatch: {icmp: {type: mldv2-report}}"), "1 matching");
        assert_eq!(counted("on: a:eth0\nmatch: {icmp: {type: 143}}"), "1 matching");
        assert_eq!(counted("on: a:eth0\nmatch: {ip: {proto: igmp}}"), "0 matching");
        assert_eq!(counted("on: a:eth0\nmatch: {icmp: {type: router-solicitation}}"), "1 matching");
    }

    #[test]
    fn payloads_are_quoted_whole_when_short_and_cut_when_long() {
        assert_eq!(excerpt(b"hello"), r#""hello""#);
        let long = excerpt(&[b'x'; 4500]);
        assert_eq!(long, format!("{:?}… (4500 bytes)", "x".repeat(32)));
    }

    #[test]
    fn an_entry_expected_absent_is_waited_for_until_the_kernel_removes_it() {
        needs_root!();
        let scenario: Scenario = serde_saphyr::from_str(
            "nodes: {a: {neighbours: [10.0.0.9 lladdr 02:00:00:00:00:09 dev eth0 stale]}, b: {}}\n\
             links: [{veth: [a:eth0 10.0.0.1/24, b:eth0 10.0.0.2/24]}]\n",
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let topology = rt.block_on(crate::build::build(&scenario)).unwrap();
        let check: Check = serde_saphyr::from_str("neighbour: {on: a, ip: 10.0.0.9, absent: true}").unwrap();
        let spec = scenario.nodes["a"].neighbours[0].clone();
        let ns = &topology.nodes["a"].ns;
        let verdict = std::thread::scope(|scope| {
            // The entry goes while the check is running, as after a flush or a carrier loss
            // the kernel is still applying: the check must see it go, not decide at once.
            scope.spawn(|| {
                let deleter = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                deleter.block_on(async {
                    let (handle, _connection) = netlink::connect(ns).unwrap();
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    netlink::del_neighbour(&handle, &spec).await.unwrap();
                });
            });
            judge(&topology, &rt, &check)
        });
        rt.block_on(topology.teardown());
        assert!(verdict.holds, "{}: {}", verdict.check, verdict.observed);
        assert_eq!(verdict.observed, "no entry for 10.0.0.9");
    }

    #[test]
    fn big_transfers_get_more_time() {
        assert_eq!(transfer_timeout(1 << 20), WAIT_FOR_SUCCESS);
        assert_eq!(transfer_timeout(1 << 30), WAIT_FOR_SUCCESS + Duration::from_secs(16));
    }
}
