//! Why a request got no answer, in words a scenario can expect: silence, an ICMP error
//! (by name, and from whom), or an error the kernel returned (by errno name).
//!
//! The report shows the cause of every unanswered request, so a `fails: true` that was
//! satisfied by a local error (nothing left the node) is visible, and `fails:` can
//! demand one cause ([`FailCause`]).

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use nix::errno::Errno;

use crate::model::FailCause;

/// What ended a request without an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// Nothing came back (no answer, no error) within the wait.
    NoReply(Duration),
    /// Nothing came back, and no answer can: the request or its answer was dropped for
    /// good ([`crate::observe::drops::Dropped::is_final`]), so the wait ended early.
    Dropped,
    /// An ICMP error about the request; the kernel turned it into `errno`.
    Icmp { v6: bool, icmp_type: u8, code: u8, from: Option<IpAddr>, errno: Errno },
    /// An error of the node itself: the kernel refused to send (no route, a
    /// broadcast address without SO_BROADCAST, a firewall REJECT with an errno...).
    Local(Errno),
}

impl Cause {
    /// The errno a socket reports for this cause (`None` for silence).
    fn errno(&self) -> Option<Errno> {
        match self {
            Cause::NoReply(_) | Cause::Dropped => None,
            Cause::Icmp { errno, .. } | Cause::Local(errno) => Some(*errno),
        }
    }

    /// Whether this is the cause `want` describes.
    pub fn matches(&self, want: &FailCause) -> bool {
        let error = want.error.as_ref().is_none_or(|name| self.errno().is_some_and(|e| errno_name(e) == *name));
        let icmp = want.icmp.as_ref().is_none_or(|name| match self {
            Cause::Icmp { v6, icmp_type, code, .. } => icmp_names(*v6, *icmp_type, *code).contains(&name.as_str()),
            _ => false,
        });
        let from = want.from.is_none_or(|addr| matches!(self, Cause::Icmp { from: Some(f), .. } if *f == addr));
        // A drop is silence to the sender: what it saw is what it would have seen at the deadline.
        let silence = !want.timeout || matches!(self, Cause::NoReply(_) | Cause::Dropped);
        error && icmp && from && silence
    }
}

/// `no reply within 200ms`, `ICMP host-unreachable from 10.0.0.2 (type 3 code 1)`,
/// `local error ENETUNREACH (Network is unreachable)`.
impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::NoReply(wait) => write!(f, "no reply within {}", humantime::format_duration(*wait)),
            Cause::Dropped => f.write_str("no reply: dropped on the way"),
            Cause::Icmp { v6, icmp_type, code, from, .. } => {
                let family = if *v6 { "ICMPv6" } else { "ICMP" };
                write!(f, "{family} {}", icmp_names(*v6, *icmp_type, *code)[0])?;
                if let Some(from) = from {
                    write!(f, " from {from}")?;
                }
                write!(f, " (type {icmp_type} code {code})")
            }
            Cause::Local(Errno::ENOBUFS) => {
                let why = crate::build::limits::explain_enobufs();
                write!(f, "local error ENOBUFS ({}: {why})", Errno::ENOBUFS.desc())
            }
            Cause::Local(errno) => write!(f, "local error {} ({})", errno_name(*errno), errno.desc()),
        }
    }
}

/// What a scenario's `fails:` asks for, in the words of [`Cause`]'s display:
/// `ICMP host-unreachable from 10.0.0.1`, `local error ENETUNREACH`, `no reply`.
pub fn describe(want: &FailCause) -> String {
    let mut words = Vec::new();
    if let Some(icmp) = &want.icmp {
        words.push(format!("ICMP {icmp}"));
        if let Some(from) = want.from {
            words.push(format!("from {from}"));
        }
    }
    if let Some(error) = &want.error {
        words.push(format!("error {error}"));
    }
    if want.timeout {
        words.push("no reply and no error (silence)".to_string());
    }
    words.join(" ")
}

/// `ENETUNREACH`.
pub fn errno_name(errno: Errno) -> String {
    format!("{errno:?}")
}

/// Whether `name` is an errno name of this system (`ENETUNREACH`, `EACCES`, ...).
pub fn is_errno_name(name: &str) -> bool {
    (1..4096).map(Errno::from_raw).any(|e| e != Errno::UnknownErrno && errno_name(e) == name)
}

/// ICMP errors by (type, code) and name; a code of `None` is the whole type.
const ICMPV4_ERRORS: &[(u8, Option<u8>, &str)] = &[
    (3, Some(0), "net-unreachable"),
    (3, Some(1), "host-unreachable"),
    (3, Some(2), "protocol-unreachable"),
    (3, Some(3), "port-unreachable"),
    (3, Some(4), "frag-needed"),
    (3, Some(5), "source-route-failed"),
    (3, Some(6), "net-unknown"),
    (3, Some(7), "host-unknown"),
    (3, Some(9), "net-prohibited"),
    (3, Some(10), "host-prohibited"),
    (3, Some(13), "admin-prohibited"),
    (3, None, "dest-unreachable"),
    (11, Some(0), "ttl-exceeded"),
    (11, Some(1), "reassembly-timeout"),
    (11, None, "time-exceeded"),
    (12, None, "parameter-problem"),
];

/// RFC 4443 names; the same as ICMPv4 where the meaning is the same.
const ICMPV6_ERRORS: &[(u8, Option<u8>, &str)] = &[
    (1, Some(0), "no-route"),
    (1, Some(1), "admin-prohibited"),
    (1, Some(2), "beyond-scope"),
    (1, Some(3), "address-unreachable"),
    (1, Some(4), "port-unreachable"),
    (1, Some(5), "source-policy-failed"),
    (1, Some(6), "reject-route"),
    (1, None, "dest-unreachable"),
    (2, None, "packet-too-big"),
    (3, Some(0), "ttl-exceeded"),
    (3, Some(1), "reassembly-timeout"),
    (3, None, "time-exceeded"),
    (4, None, "parameter-problem"),
];

/// The names an ICMP error answers to, the most specific first: `host-unreachable`,
/// `dest-unreachable`. Unnamed ones are `type T code C`.
fn icmp_names(v6: bool, icmp_type: u8, code: u8) -> Vec<&'static str> {
    let table = if v6 { ICMPV6_ERRORS } else { ICMPV4_ERRORS };
    let mut names: Vec<&'static str> = table
        .iter()
        .filter(|(t, c, _)| *t == icmp_type && c.is_none_or(|c| c == code))
        .map(|(_, _, name)| *name)
        .collect();
    if names.is_empty() {
        names.push("error");
    }
    names
}

/// Every ICMP error name a scenario may expect, for validation messages.
pub fn icmp_error_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = ICMPV4_ERRORS.iter().chain(ICMPV6_ERRORS).map(|(_, _, n)| *n).collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn icmp(v6: bool, icmp_type: u8, code: u8, from: &str) -> Cause {
        Cause::Icmp { v6, icmp_type, code, from: Some(from.parse().unwrap()), errno: Errno::EHOSTUNREACH }
    }

    fn want(error: Option<&str>, icmp: Option<&str>, from: Option<&str>, timeout: bool) -> FailCause {
        FailCause {
            error: error.map(str::to_string),
            icmp: icmp.map(str::to_string),
            from: from.map(|f| f.parse().unwrap()),
            timeout,
        }
    }

    #[test]
    fn causes_read_as_what_happened() {
        assert_eq!(Cause::NoReply(Duration::from_millis(200)).to_string(), "no reply within 200ms");
        assert_eq!(icmp(false, 3, 1, "10.0.0.2").to_string(), "ICMP host-unreachable from 10.0.0.2 (type 3 code 1)");
        assert_eq!(icmp(true, 1, 4, "fd00::1").to_string(), "ICMPv6 port-unreachable from fd00::1 (type 1 code 4)");
        assert_eq!(icmp(false, 3, 14, "10.0.0.2").to_string(), "ICMP dest-unreachable from 10.0.0.2 (type 3 code 14)");
        assert_eq!(Cause::Local(Errno::ENETUNREACH).to_string(), "local error ENETUNREACH (Network is unreachable)");
        let full = Cause::Local(Errno::ENOBUFS).to_string();
        assert!(full.starts_with("local error ENOBUFS (No buffer space available: the neighbour table is likely full: its limit (net.ipv4.neigh.default.gc_thresh3 = "), "{full}");
        assert!(full.contains("counts the entries of every namespace on this machine together"), "{full}");
    }

    #[test]
    fn expected_causes_match_by_name_sender_and_errno() {
        let unreachable = icmp(false, 3, 1, "10.0.0.2");
        assert!(unreachable.matches(&want(None, Some("host-unreachable"), None, false)));
        assert!(unreachable.matches(&want(None, Some("dest-unreachable"), Some("10.0.0.2"), false)));
        assert!(unreachable.matches(&want(Some("EHOSTUNREACH"), None, None, false)));
        assert!(!unreachable.matches(&want(None, Some("port-unreachable"), None, false)));
        assert!(!unreachable.matches(&want(None, Some("host-unreachable"), Some("10.0.0.1"), false)));
        assert!(!unreachable.matches(&want(None, None, None, true)));
        let local = Cause::Local(Errno::EACCES);
        assert!(local.matches(&want(Some("EACCES"), None, None, false)));
        assert!(!local.matches(&want(None, None, None, true)));
        assert!(!local.matches(&want(None, Some("host-unreachable"), None, false)));
        let silence = Cause::NoReply(Duration::from_millis(200));
        assert!(silence.matches(&want(None, None, None, true)));
        assert!(!silence.matches(&want(Some("ETIMEDOUT"), None, None, false)));
    }

    #[test]
    fn names_are_known() {
        assert!(is_errno_name("ENETUNREACH") && is_errno_name("EACCES"));
        assert!(!is_errno_name("ENOPE") && !is_errno_name("UnknownErrno"));
        assert!(icmp_error_names().contains(&"port-unreachable"));
    }
}
