//! One timed run of a topology: by netrig's engine, or by `classic.sh`.

use std::io;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use netrig::build::{self, Topology};
use netrig::judge;
use netrig::model::Scenario;
use netrig::parse::load::{self, Source};

use crate::generate::Shape;

/// The phases of one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Phases {
    pub build: Duration,
    pub ping: Duration,
    pub teardown: Duration,
}

impl Phases {
    pub fn total(&self) -> Duration {
        self.build + self.ping + self.teardown
    }
}

/// Parse and validate a generated scenario, as `netrig run` would a file.
pub fn scenario(shape: Shape, n: usize) -> io::Result<Scenario> {
    let source = Source { path: format!("bench/{}-{n}.yaml", shape.name()).into(), text: shape.yaml(n) };
    load::parse_and_validate(&source).map_err(|d| io::Error::other(d.to_string()))
}

/// Build `scenario`, judge each of its checks in order (all must hold), tear down.
pub fn netrig(scenario: &Scenario, rt: &tokio::runtime::Runtime) -> io::Result<Phases> {
    let start = Instant::now();
    let topology = rt.block_on(build::build(scenario)).map_err(io::Error::other)?;
    let built = Instant::now();
    let checked = judge_all(scenario, &topology, rt);
    let pinged = Instant::now();
    rt.block_on(topology.teardown());
    let done = Instant::now();
    checked?;
    Ok(Phases { build: built - start, ping: pinged - built, teardown: done - pinged })
}

fn judge_all(scenario: &Scenario, topology: &Topology, rt: &tokio::runtime::Runtime) -> io::Result<()> {
    for check in &scenario.expect {
        let verdict = judge::judge(topology, rt, check);
        if !verdict.holds {
            return Err(io::Error::other(format!("{}: {}", verdict.check, verdict.observed)));
        }
    }
    Ok(())
}

/// Time one failing ping with the default deadline: a node pings a peer whose
/// firewall drops echo requests, so only the deadline can decide, or, with drop
/// tracing, the drop of the request. (An address nobody
/// has is not decided by the deadline: the check waits while ARP resolves it, ~3 s,
/// since a late answer is not a failure; see `patience`.)
pub fn failing_ping(rt: &tokio::runtime::Runtime) -> io::Result<Duration> {
    const YAML: &str = "
name: bench-failing-ping
nodes:
  a: {}
  b: {run: [\"iptables -A INPUT -p icmp --icmp-type echo-request -j DROP\"]}
links:
  - veth: [a:eth0 10.9.0.1/24, b:eth0 10.9.0.2/24]
expect:
  - ping: {from: a, to: 10.9.0.2, fails: true}
";
    let source = Source { path: "bench/failing-ping.yaml".into(), text: YAML.into() };
    let scenario = load::parse_and_validate(&source).map_err(|d| io::Error::other(d.to_string()))?;
    let topology = rt.block_on(build::build(&scenario)).map_err(io::Error::other)?;
    let start = Instant::now();
    let checked = judge_all(&scenario, &topology, rt);
    let elapsed = start.elapsed();
    rt.block_on(topology.teardown());
    checked.map(|()| elapsed)
}

/// Run `classic.sh` on the same topology; it reports its own phases (so bash's
/// start-up is not counted).
pub fn classic(script: &Path, shape: Shape, n: usize) -> io::Result<Phases> {
    let output = Command::new("bash").arg(script).arg(shape.name()).arg(n.to_string()).output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(io::Error::other(format!("classic.sh {} {n} failed ({}):\n{stderr}", shape.name(), output.status)));
    }
    let micros: Vec<u64> = stdout.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    match micros[..] {
        [build, ping, teardown] => Ok(Phases {
            build: Duration::from_micros(build),
            ping: Duration::from_micros(ping),
            teardown: Duration::from_micros(teardown),
        }),
        _ => Err(io::Error::other(format!("classic.sh printed {stdout:?}, not three numbers"))),
    }
}
