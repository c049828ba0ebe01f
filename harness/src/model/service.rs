//! Services: daemons a node runs for the whole scenario (dnsmasq, bird, the user's own
//! program), when each counts as ready, and the step actions that control them.

use schemars::JsonSchema;
use serde::Deserialize;

use super::*;

/// A command line left running in its node from the end of the build (or from a
/// `start_service` action) until the scenario ends. It must stay in the foreground
/// (`dnsmasq --keep-in-foreground`, `bird -f`): a service whose command exits fails the
/// scenario.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Shell command line (`sh -c`), run inside the node like `run:` commands.
    pub run: Loc<String>,
    /// When the service counts as started; without it, as soon as it runs.
    #[serde(default)]
    pub ready: Option<Loc<Ready>>,
    /// How long it may take to become ready (default 10s).
    #[serde(default)]
    pub timeout: Option<Loc<Dur>>,
}

/// How long a service may take to become ready unless it says otherwise.
pub const SERVICE_READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Service {
    pub fn ready_timeout(&self) -> std::time::Duration {
        self.timeout.as_ref().map_or(SERVICE_READY_TIMEOUT, |t| t.0)
    }
}

/// A readiness condition, checked until it holds or the service's timeout passes.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Ready {
    /// A socket of the node listens (TCP) or is bound (UDP): `udp/67`, `tcp/179`,
    /// `tcp/10.0.0.1:80`.
    Listen(ListenSpec),
    /// A line of its output (stdout and stderr) matches this regular expression.
    Output(String),
    /// This command, run in the node, exits 0.
    Command(String),
    /// This file exists (as the node sees it: `/run/bird/bird.ctl`).
    File(String),
}

/// `{on: node, service: name}`
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAction {
    pub on: Loc<String>,
    pub service: Loc<String>,
}

/// `{on: node, service: name, signal: HUP}`
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalAction {
    pub on: Loc<String>,
    pub service: Loc<String>,
    /// Signal name, with or without `SIG`: `HUP`, `SIGUSR1`, `TERM`.
    pub signal: Loc<String>,
}

impl SignalAction {
    /// The signal named, or why the name is not one.
    pub fn signal(name: &str) -> Result<nix::sys::signal::Signal, String> {
        let full = if name.starts_with("SIG") { name.to_string() } else { format!("SIG{name}") };
        full.parse().map_err(|_| format!("`{name}` is not a signal name (write e.g. HUP, USR1, TERM)"))
    }
}

/// The output of a service (stdout and stderr together): a line matching `matches`
/// appears within `timeout` (default 10s), waking on every write; or, with `absent:
/// true`, no line matches in what it has written so far (judged at once: silence is
/// never waited for).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogCheck {
    pub on: Loc<String>,
    pub service: Loc<String>,
    /// Regular expression; `^` and `$` anchor at every line.
    pub matches: Loc<String>,
    #[serde(default)]
    pub absent: bool,
    #[serde(default)]
    pub timeout: Option<Loc<Dur>>,
    #[serde(default)]
    pub xfail: Option<super::kernel::Xfail>,
}

impl LogCheck {
    pub fn regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
        CommandCheck::stdout_regex(pattern)
    }
}
