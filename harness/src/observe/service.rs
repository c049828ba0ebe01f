//! Services at run time: starting a node's daemons, waiting until each is ready,
//! stopping, restarting and signalling them, and their output as evidence.
//!
//! A service is a background command ([`exec::spawn`]): its own PID namespace, so
//! stopping it (or the end of the scenario, or of netrig, SIGKILL included) ends every
//! process it started, double-forked daemons too. All services of a topology are
//! started from one thread of their own, which lives as long as the topology: the
//! death signal of a service follows the thread that started it, and the threads that
//! play a scenario (libtest workers, a `#[tokio::test]`'s helper threads) may end
//! sooner or be reused.
//!
//! Readiness is never waited for by sleeping: an `output` condition wakes on every
//! write of the service; `listen`, `command` and `file` conditions re-read the kernel
//! (sockets in `/proc/net`, a command's exit, the file) with a growing pause between
//! reads, a pause that ends at once when the service writes or exits.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::build::Topology;
use crate::build::netns::Netns;
use crate::model::{ListenSpec, LogCheck, Proto, Ready, Scenario, Service, SignalAction};
use crate::observe::exec::{self, Background};
use crate::run::artifacts::RunDir;

/// Lines of a service's output quoted in a failure message.
pub const TAIL_LINES: usize = 20;

/// (node, service name)
type Key = (String, String);

/// The services of a topology: what the scenario declares, what runs now, and the
/// output of earlier runs of each.
pub struct Services {
    // Dropped in this order: the processes first, then the thread that started them.
    running: Mutex<BTreeMap<Key, Background>>,
    /// Output of runs that ended (stopped, restarted, exited), per service.
    ended: Mutex<BTreeMap<Key, String>>,
    declared: BTreeMap<Key, Service>,
    /// The order they start in: as written in the scenario, whatever the node.
    order: Vec<Key>,
    starter: Starter,
}

impl Services {
    pub fn of(scenario: &Scenario) -> Services {
        let mut written: Vec<((usize, u64, u64), Key, Service)> = scenario
            .nodes
            .iter()
            .flat_map(|(node, n)| {
                n.services
                    .iter()
                    .map(|(name, s)| ((s.source, s.line, s.column), (node.clone(), name.clone()), s.value.clone()))
            })
            .collect();
        written.sort_by_key(|(place, ..)| *place);
        let order = written.iter().map(|(_, key, _)| key.clone()).collect();
        let declared = written.into_iter().map(|(_, key, spec)| (key, spec)).collect();
        Services { running: Mutex::default(), ended: Mutex::default(), declared, order, starter: Starter::default() }
    }
}

/// Start every declared service in the order the scenario lists them, each ready
/// before the next starts (a DHCP server before its client).
pub fn start_all(topology: &Topology) -> Result<(), String> {
    for (node, name) in &topology.services.order {
        start(topology, node, name)?;
    }
    Ok(())
}

/// Start one service and wait until it is ready.
pub fn start(topology: &Topology, node: &str, name: &str) -> Result<(), String> {
    let services = &topology.services;
    let key = (node.to_string(), name.to_string());
    let spec = services.declared.get(&key).ok_or_else(|| format!("node {node} declares no service {name}"))?;
    if lock(&services.running).contains_key(&key) {
        return Err(format!("service {name} on {node} is running already"));
    }
    let ns = topology.nodes[node].ns.try_clone().map_err(|e| e.to_string())?;
    topology.nodes[node].finish_baseline().map_err(|e| e.to_string())?;
    let command_line = spec.run.value.clone();
    let started = services.starter.run(move || exec::spawn(&ns, &command_line));
    let background = started.map_err(|e| format!("service {name} on {node}: {e}"))?;
    let became_ready = match &spec.ready {
        None => Ok(()),
        Some(ready) => wait_ready(&topology.nodes[node].ns, &background, ready, spec.ready_timeout()),
    };
    let mut background = background;
    // Output that ended means its processes are gone or going: wait (briefly) to say how.
    let exited = match became_ready.is_err() && background.output_ended() {
        true => background.wait_exit(Duration::from_secs(1)),
        false => background.try_status(),
    };
    let exited = exited.ok().flatten();
    match (became_ready, exited) {
        (Ok(()), None) => {
            lock(&services.running).insert(key, background);
            Ok(())
        }
        (ready, exited) => {
            let why = match (exited, ready) {
                (Some(status), _) => format!("exited ({status}) before it was ready"),
                (None, Err(e)) => e,
                (None, Ok(())) => unreachable!("matched above"),
            };
            let output = background.stop().unwrap_or_default();
            let message = format!("service {name} on {node} {why}{}", tail(&output));
            lock(&services.ended).entry(key).or_default().push_str(&output);
            Err(message)
        }
    }
}

/// Stop a running service: kill it and everything it started, keep its output.
pub fn stop(topology: &Topology, node: &str, name: &str) -> Result<(), String> {
    let key = (node.to_string(), name.to_string());
    let background = lock(&topology.services.running)
        .remove(&key)
        .ok_or_else(|| format!("service {name} on {node} is not running"))?;
    let output = background.stop().map_err(|e| e.to_string())?;
    lock(&topology.services.ended).entry(key).or_default().push_str(&output);
    Ok(())
}

/// Stop a service if it runs, then start it again.
pub fn restart(topology: &Topology, node: &str, name: &str) -> Result<(), String> {
    let running = lock(&topology.services.running).contains_key(&(node.to_string(), name.to_string()));
    if running {
        stop(topology, node, name)?;
    }
    start(topology, node, name)
}

/// Send `signal` to every process of a running service (of its PID namespace).
pub fn signal(topology: &Topology, node: &str, name: &str, signal: &str) -> Result<(), String> {
    let signal = SignalAction::signal(signal)?;
    let running = lock(&topology.services.running);
    let background = running
        .get(&(node.to_string(), name.to_string()))
        .ok_or_else(|| format!("service {name} on {node} is not running"))?;
    background.signal(signal).map_err(|e| format!("cannot signal service {name} on {node}: {e}"))
}

/// Services that were started and have exited by themselves since: each with why and
/// the tail of its output. They are moved to the ended ones, so each is reported once.
pub fn exited(topology: &Topology) -> Vec<String> {
    let mut running = lock(&topology.services.running);
    let gone: Vec<(Key, String)> = running
        .iter_mut()
        .filter_map(|(key, bg)| bg.try_status().ok().flatten().map(|status| (key.clone(), status.to_string())))
        .collect();
    gone.into_iter()
        .map(|(key, status)| {
            let output = running.remove(&key).map(|bg| bg.stop().unwrap_or_default()).unwrap_or_default();
            let message = format!("service {} on {} exited ({status}){}", key.1, key.0, tail(&output));
            lock(&topology.services.ended).entry(key).or_default().push_str(&output);
            message
        })
        .collect()
}

/// Judge a `log` check: (holds, what was observed).
pub fn judge_log(topology: &Topology, c: &LogCheck) -> (bool, String) {
    let Ok(re) = LogCheck::regex(&c.matches) else {
        return (false, "not a regular expression (validation should have said so)".into());
    };
    let key = (c.on.value.clone(), c.service.value.clone());
    let earlier = lock(&topology.services.ended).get(&key).cloned().unwrap_or_default();
    let timeout = c.timeout.as_ref().map_or(crate::model::SERVICE_READY_TIMEOUT, |t| t.0);
    let running = lock(&topology.services.running);
    let current = running.get(&key);
    // Earlier runs' output first: a pattern may span a restart.
    let found = match current {
        // Absence is judged on what was written so far: never waited for.
        Some(bg) if c.absent => re.is_match(&format!("{earlier}{}", bg.output())),
        Some(bg) => bg.wait_for_output(|out| re.is_match(&format!("{earlier}{out}")), timeout),
        None => re.is_match(&earlier),
    };
    let holds = found != c.absent;
    let output = format!("{earlier}{}", current.map(Background::output).unwrap_or_default());
    let observed = match (found, current.is_some()) {
        (true, _) => format!("matched: {}", re.find(&output).map_or("", |m| m.as_str()).trim_end()),
        (false, true) if c.absent => "no line matches".to_string(),
        (false, true) => format!("no line matched within {}", humantime::format_duration(timeout)),
        (false, false) => "no line matched, and the service is not running".to_string(),
    };
    let observed = if holds { observed } else { format!("{observed}{}", tail(&output)) };
    (holds, observed)
}

/// Write each service's output (all its runs) to `<node>-<service>.log` in `dir`.
pub fn write_logs(topology: &Topology, dir: &RunDir) -> std::io::Result<Vec<PathBuf>> {
    let services = &topology.services;
    let ended = lock(&services.ended);
    let running = lock(&services.running);
    let mut paths = Vec::new();
    for key in &services.order {
        let (earlier, now) = (ended.get(key), running.get(key).map(Background::output));
        if earlier.is_none() && now.is_none() {
            continue;
        }
        let text = format!("{}{}", earlier.map_or("", String::as_str), now.unwrap_or_default());
        paths.push(dir.write(&format!("{}-{}.log", key.0, key.1), |out| out.write_all(text.as_bytes()))?);
    }
    Ok(paths)
}

/// Whether the topology declares any service (and so may have logs to keep).
pub fn any(topology: &Topology) -> bool {
    !topology.services.order.is_empty()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The last [`TAIL_LINES`] lines of `output`, indented, for a failure message.
pub fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    if lines.is_empty() {
        return "; it wrote nothing".to_string();
    }
    let from = lines.len().saturating_sub(TAIL_LINES);
    let mut text = format!("; its last {} lines:", lines.len() - from);
    for line in &lines[from..] {
        let _ = write!(text, "\n      | {line}");
    }
    text
}

/// Wait until `ready` holds, the service exits, or `timeout` passes.
fn wait_ready(ns: &Netns, bg: &Background, ready: &Ready, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let never = || format!("was not ready within {} ({})", humantime::format_duration(timeout), describe_ready(ready));
    if let Ready::Output(pattern) = ready {
        let re = LogCheck::regex(pattern).map_err(|e| e.to_string())?;
        return match bg.wait_for_output(|out| re.is_match(out), timeout) {
            true => Ok(()),
            false if bg.output_ended() => {
                Err(format!("closed its output before it was ready ({})", describe_ready(ready)))
            }
            false => Err(never()),
        };
    }
    let mut pause = Duration::from_millis(5);
    loop {
        let holds = match ready {
            Ready::Listen(spec) => listening(ns, spec).map_err(|e| format!("cannot read the node's sockets: {e}"))?,
            Ready::Command(line) => {
                let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
                exec::run(ns, line, left).is_ok_and(|out| out.status.success())
            }
            Ready::File(path) => exec::run(ns, &format!("test -e {}", quoted(path)), Duration::from_secs(5))
                .is_ok_and(|out| out.status.success()),
            Ready::Output(_) => unreachable!("waited for above"),
        };
        if holds {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(never());
        }
        // The pause ends early when the service writes or exits (its output ends).
        if bg.wait_for_output(|_| false, pause.min(left)) {
            unreachable!("nothing satisfies `false`");
        }
        if bg.output_ended() {
            // Exited, most likely: the caller says how.
            return Err(format!("closed its output before it was ready ({})", describe_ready(ready)));
        }
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

pub fn describe_ready(ready: &Ready) -> String {
    match ready {
        Ready::Listen(spec) => format!("listening on {}", describe_listen(spec)),
        Ready::Output(re) => format!("output matching /{re}/"),
        Ready::Command(line) => format!("`{line}` exits 0"),
        Ready::File(path) => format!("{path} exists"),
    }
}

fn describe_listen(spec: &ListenSpec) -> String {
    let proto = if spec.proto == Proto::Tcp { "tcp" } else { "udp" };
    match spec.addr {
        Some(IpAddr::V6(a)) => format!("{proto}/[{a}]:{}", spec.port),
        Some(a) => format!("{proto}/{a}:{}", spec.port),
        None => format!("{proto}/{}", spec.port),
    }
}

/// `'…'` for `sh`, quotes inside escaped.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Whether a socket of the node listens (TCP) or is bound (UDP) as `spec` says, from
/// the node's `/proc/net` tables (IPv4 and IPv6).
fn listening(ns: &Netns, spec: &ListenSpec) -> std::io::Result<bool> {
    let proto = if spec.proto == Proto::Tcp { "tcp" } else { "udp" };
    ns.run(|| {
        let mut found = false;
        for table in [proto.to_string(), format!("{proto}6")] {
            // A kernel without IPv6 has no `tcp6` table.
            let Ok(text) = std::fs::read_to_string(format!("/proc/thread-self/net/{table}")) else { continue };
            found |= text.lines().skip(1).filter_map(parse_socket_line).any(|s| s.serves(spec));
        }
        Ok(found)
    })
}

/// One socket of a `/proc/net/{tcp,udp}[6]` table.
#[derive(Debug, PartialEq)]
struct Socket {
    addr: IpAddr,
    port: u16,
    /// `st`: 0A is LISTEN for TCP; a bound UDP socket is 07 (CLOSE) or 01 (connected).
    state: u8,
}

impl Socket {
    fn serves(&self, spec: &ListenSpec) -> bool {
        let state_ok = match spec.proto {
            Proto::Tcp => self.state == 0x0A,
            Proto::Udp => true,
        };
        // A wildcard socket serves every address of the node.
        let addr_ok = spec.addr.is_none_or(|want| want == self.addr || self.addr.is_unspecified());
        state_ok && addr_ok && self.port == spec.port
    }
}

/// `  0: 0100007F:0035 00000000:0000 0A ...`: addresses are the kernel's words in hex,
/// each 32-bit word in host (little-endian) byte order.
fn parse_socket_line(line: &str) -> Option<Socket> {
    let mut fields = line.split_whitespace();
    let local = fields.nth(1)?;
    let state = u8::from_str_radix(fields.nth(1)?, 16).ok()?;
    let (addr, port) = local.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Vec<u32> = (0..addr.len() / 8)
        .map(|i| u32::from_str_radix(&addr[i * 8..i * 8 + 8], 16).map(u32::swap_bytes))
        .collect::<Result<_, _>>()
        .ok()?;
    let addr = match words.as_slice() {
        [a] => IpAddr::from(a.to_be_bytes()),
        [a, b, c, d] => {
            let bytes: Vec<u8> = [a, b, c, d].iter().flat_map(|w| w.to_be_bytes()).collect();
            IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)
        }
        _ => return None,
    };
    Some(Socket { addr, port, state })
}

/// Work for the [`Starter`]'s thread.
type Job = Box<dyn FnOnce() + Send>;

/// A thread that starts processes for one topology and lives as long as it.
#[derive(Default)]
struct Starter {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Starter {
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let mut jobs = lock(&self.jobs);
        let sender = jobs.get_or_insert_with(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            *lock(&self.thread) = Some(std::thread::spawn(move || rx.into_iter().for_each(|job| job())));
            tx
        });
        let (tx, rx) = mpsc::sync_channel(1);
        sender.send(Box::new(move || drop(tx.send(f())))).expect("the starter thread lives as long as the topology");
        drop(jobs);
        rx.recv().expect("the starter thread answers every job")
    }
}

impl Drop for Starter {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop.
        lock(&self.jobs).take();
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> ListenSpec {
        s.parse().unwrap()
    }

    #[test]
    fn sockets_are_read_from_proc_net_lines() {
        // dnsmasq's DHCP socket (0.0.0.0:67), a TCP listener on 127.0.0.1:179, one on [::]:179.
        let udp = "   5: 00000000:0043 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2";
        let tcp = "   0: 0100007F:00B3 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1";
        let tcp6 = "   0: 00000000000000000000000000000000:00B3 00000000000000000000000000000000:0000 0A 0 0 0";
        let established =
            "   1: 0100007F:00B3 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 4";
        let udp = parse_socket_line(udp).unwrap();
        assert_eq!(udp, Socket { addr: "0.0.0.0".parse().unwrap(), port: 67, state: 7 });
        assert!(udp.serves(&spec("udp/67")) && udp.serves(&spec("udp/10.0.0.1:67")) && !udp.serves(&spec("udp/68")));
        let tcp = parse_socket_line(tcp).unwrap();
        assert_eq!(tcp.addr, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert!(tcp.serves(&spec("tcp/179")) && tcp.serves(&spec("tcp/127.0.0.1:179")));
        assert!(!tcp.serves(&spec("tcp/10.0.0.1:179")), "bound to another address");
        assert!(parse_socket_line(tcp6).unwrap().serves(&spec("tcp/[2001:db8::1]:179")));
        assert!(!parse_socket_line(established).unwrap().serves(&spec("tcp/179")), "a connection does not listen");
        assert_eq!(parse_socket_line("  sl  local_address rem_address   st tx_queue"), None);
    }

    use crate::lab::Lab;

    /// A node `a` with one service `svc`: its `run` line and more YAML for it.
    fn lab_with(run: &str, more: &str) -> Result<Lab, crate::lab::Error> {
        Lab::from_yaml(&format!("nodes:\n  a:\n    services:\n      svc:\n        run: {run:?}\n{more}"))
    }

    use crate::observe::exec::fixture::running_with_cmdline as running;

    #[test]
    fn a_service_that_exits_or_is_never_ready_fails_with_the_tail_of_its_output() {
        needs_root!();
        let exits = lab_with("echo starting; echo bad config >&2; exit 3", "        ready: {output: never}\n");
        let message = exits.unwrap_err().to_string();
        assert!(message.starts_with("service svc on a exited (exit status: 3) before it was ready;"), "{message}");
        assert!(message.ends_with("| starting\n      | bad config"), "{message}");

        let started = Instant::now();
        let slow = lab_with("echo waiting; exec sleep 30", "        ready: {output: never}\n        timeout: 300ms\n");
        let message = slow.unwrap_err().to_string();
        assert!(
            message
                .contains("was not ready within 300ms (output matching /never/); its last 1 lines:\n      | waiting"),
            "{message}"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[test]
    fn readiness_by_socket_command_and_file_then_log_checks_and_signals() {
        needs_root!();
        // Ready only once the UDP socket is bound, a second after start.
        let udp = "sleep 1; exec python3 -c 'import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((\"0.0.0.0\", 5353)); print(\"bound\", flush=True); time.sleep(60)'";
        let lab = lab_with(udp, "        ready: {listen: udp/5353}\n").unwrap();
        lab.expect("log: {on: a, service: svc, matches: '^bound$', timeout: 1ms}").expect("bound before ready");
        drop(lab);

        let trap = "trap 'echo got HUP' HUP; touch /run/svc.ready; echo up; while :; do sleep 0.1; done";
        let lab = lab_with(trap, "        ready: {file: /run/svc.ready}\n").unwrap();
        assert!(!std::path::Path::new("/run/svc.ready").exists(), "the node's /run is its own");
        lab.expect("log: {on: a, service: svc, matches: 'got HUP', absent: true}").unwrap();
        lab.act("signal_service: {on: a, service: svc, signal: HUP}").unwrap();
        lab.expect("log: {on: a, service: svc, matches: '^got HUP$'}").unwrap();
        lab.act("restart_service: {on: a, service: svc}").unwrap();
        lab.expect("log: {on: a, service: svc, matches: 'up\\n(.*\\n)*up'}").expect("both runs' output is kept");
        lab.act("stop_service: {on: a, service: svc}").unwrap();
        let again = lab.act("stop_service: {on: a, service: svc}").unwrap_err().to_string();
        assert!(again.contains("service svc on a is not running"), "{again}");
        let failed = lab.expect("log: {on: a, service: svc, matches: 'never printed', timeout: 50ms}").unwrap_err();
        assert!(failed.to_string().contains("the service is not running; its last"), "{failed}");
        lab.act("start_service: {on: a, service: svc}").unwrap();
        let twice = lab.act("start_service: {on: a, service: svc}").unwrap_err().to_string();
        assert!(twice.contains("is running already"), "{twice}");

        let command = lab_with("exec sleep 60", "        ready: {command: 'test -d /proc/1'}\n");
        command.expect("ready once the command exits 0");
    }

    #[test]
    fn everything_a_service_started_ends_with_the_lab() {
        needs_root!();
        let marker = format!("35.{}", std::process::id());
        // A double-forked daemon in its own session, then the service itself.
        let daemon = format!(
            "setsid -f sleep {marker}; until pgrep -fx 'sleep {marker}' >/dev/null; do :; done; echo up; exec sleep 1{marker}"
        );
        let lab = lab_with(&daemon, "        ready: {output: up}\n").unwrap();
        assert!(running(&["sleep", &marker]), "the daemon runs");
        drop(lab);
        assert!(!running(&["sleep", &marker]), "the double-forked daemon outlived its lab");
        assert!(!running(&["sleep", &format!("1{marker}")]), "the service outlived its lab");
    }

    #[test]
    fn a_tail_quotes_the_last_lines() {
        let output: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        let tail = tail(&output);
        assert!(tail.starts_with("; its last 20 lines:\n      | line 11\n"), "{tail}");
        assert!(tail.ends_with("| line 30"), "{tail}");
        assert_eq!(super::tail(""), "; it wrote nothing");
    }
}
