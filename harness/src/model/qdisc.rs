//! Queueing disciplines as a scenario writes them (`qdisc:` under `interfaces:`, the
//! `set_qdisc`/`del_qdisc` actions), and the quantities they are written in: rates
//! (`10mbit`) and percentages (`5%`).

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{ByteSize, Dur, IfaceRef, Loc};

/// A queueing discipline: one at the root of an interface's egress, or `clsact`, the
/// hook for ingress and egress filters beside it.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Qdisc {
    /// A FIFO of at most `limit` packets.
    Pfifo(PfifoLimit),
    /// A FIFO of at most `limit` bytes.
    Bfifo(BfifoLimit),
    /// Token bucket filter: `{rate: 10mbit, burst: 32KiB, latency: 50ms}` (or a
    /// `limit` in bytes instead of `latency`).
    Tbf(Tbf),
    /// Hierarchical token bucket with classes: `{default: "1:10", classes: [{id:
    /// "1:10", rate: 5mbit, ceil: 10mbit}]}`. Unclassified traffic goes to `default`.
    Htb(Htb),
    /// Fair queueing with CoDel: `{}` for the kernel's defaults.
    FqCodel(FqCodel),
    /// Network emulator: `{delay: 50ms, jitter: 5ms, loss: 10%, duplicate: 1%,
    /// reorder: 25%, rate: 1mbit}`.
    Netem(Netem),
    /// The clsact hook (`tc qdisc add dev DEV clsact`), beside the root qdisc.
    Clsact,
}

impl Qdisc {
    /// The kernel's name of the kind (TCA_KIND).
    pub fn kind(&self) -> &'static str {
        match self {
            Qdisc::Pfifo(_) => "pfifo",
            Qdisc::Bfifo(_) => "bfifo",
            Qdisc::Tbf(_) => "tbf",
            Qdisc::Htb(_) => "htb",
            Qdisc::FqCodel(_) => "fq_codel",
            Qdisc::Netem(_) => "netem",
            Qdisc::Clsact => "clsact",
        }
    }

    /// What is wrong with it, if anything (for validation: the kernel would refuse it,
    /// or it would not do what it says).
    pub fn problem(&self) -> Option<String> {
        match self {
            Qdisc::Pfifo(PfifoLimit { limit: 0 }) => Some("a pfifo `limit` of 0 packets drops everything".into()),
            Qdisc::Bfifo(BfifoLimit { limit: ByteSize(0) }) => {
                Some("a bfifo `limit` of 0 bytes drops everything".into())
            }
            Qdisc::Tbf(t) if t.latency.is_some() == t.limit.is_some() => {
                Some("a tbf needs `latency` or `limit` (how much may wait), one of the two".into())
            }
            Qdisc::Tbf(t) if t.rate.0 == 0 || t.burst.0 == 0 => {
                Some("a tbf needs a non-zero `rate` and `burst`".into())
            }
            Qdisc::Tbf(t) if t.burst.0 > u64::from(u32::MAX) => Some("a tbf `burst` fits in 4 GiB".into()),
            Qdisc::Htb(h) => h.problem(),
            Qdisc::Netem(n) if n.reorder.is_some() && n.delay.is_none_or(|d| d.0.is_zero()) => {
                Some("netem reorders by sending some packets without the `delay` the others get: give a delay".into())
            }
            Qdisc::Netem(n) if n.jitter.is_some() && n.delay.is_none() => {
                Some("netem `jitter` varies the `delay`: give a delay".into())
            }
            _ => None,
        }
    }
}

impl fmt::Display for Qdisc {
    /// In `tc` words: `tbf rate 10mbit burst 32768b latency 50ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = |d: &Dur| humantime::format_duration(d.0).to_string();
        match self {
            Qdisc::Pfifo(p) => write!(f, "pfifo limit {}", p.limit),
            Qdisc::Bfifo(b) => write!(f, "bfifo limit {}b", b.limit.0),
            Qdisc::Tbf(t) => {
                write!(f, "tbf rate {} burst {}b", t.rate, t.burst.0)?;
                match (&t.latency, &t.limit) {
                    (Some(latency), _) => write!(f, " latency {}", time(latency)),
                    (None, Some(limit)) => write!(f, " limit {}b", limit.0),
                    (None, None) => Ok(()),
                }
            }
            Qdisc::Htb(h) => {
                f.write_str("htb")?;
                if let Some(default) = &h.default {
                    write!(f, " default {default}")?;
                }
                for class in &h.classes {
                    write!(f, ", class {}", class.id)?;
                    if let Some(parent) = class.parent {
                        write!(f, " parent {parent}")?;
                    }
                    write!(f, " rate {} ceil {}", class.rate, class.ceil.unwrap_or(class.rate))?;
                    if let Some(burst) = class.burst {
                        write!(f, " burst {}b", burst.0)?;
                    }
                }
                Ok(())
            }
            Qdisc::FqCodel(q) => {
                f.write_str("fq_codel")?;
                if let Some(limit) = q.limit {
                    write!(f, " limit {limit}")?;
                }
                if let Some(target) = &q.target {
                    write!(f, " target {}", time(target))?;
                }
                if let Some(interval) = &q.interval {
                    write!(f, " interval {}", time(interval))?;
                }
                match q.ecn {
                    Some(true) => f.write_str(" ecn"),
                    Some(false) => f.write_str(" noecn"),
                    None => Ok(()),
                }
            }
            Qdisc::Netem(n) => {
                f.write_str("netem")?;
                if let Some(limit) = n.limit {
                    write!(f, " limit {limit}")?;
                }
                if let Some(delay) = &n.delay {
                    write!(f, " delay {}", time(delay))?;
                    if let Some(jitter) = &n.jitter {
                        write!(f, " {}", time(jitter))?;
                    }
                }
                for (word, value) in [("loss", n.loss), ("duplicate", n.duplicate), ("reorder", n.reorder)] {
                    if let Some(p) = value {
                        write!(f, " {word} {p}")?;
                    }
                }
                if let Some(rate) = n.rate {
                    write!(f, " rate {rate}")?;
                }
                Ok(())
            }
            Qdisc::Clsact => f.write_str("clsact"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PfifoLimit {
    /// Packets the queue holds (at least 1).
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BfifoLimit {
    /// Bytes the queue holds: `1514`, `64KiB`.
    pub limit: ByteSize,
}

/// A token bucket filter: traffic leaves at `rate`, with bursts of up to `burst` bytes.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tbf {
    pub rate: Rate,
    /// The bucket's size in bytes; at least a full frame (1514 bytes on an MTU of 1500),
    /// or full-size packets are dropped.
    pub burst: ByteSize,
    /// How long a packet may wait (the queue then holds `rate` × `latency` + `burst`
    /// bytes, as tc computes it).
    #[serde(default)]
    pub latency: Option<Dur>,
    /// Or the queue's size in bytes.
    #[serde(default)]
    pub limit: Option<ByteSize>,
}

impl Tbf {
    /// The queue's size in bytes (TBF's `limit`), as tc derives it from `latency`.
    pub fn limit_bytes(&self) -> u64 {
        match (&self.limit, &self.latency) {
            (Some(limit), _) => limit.0,
            (None, Some(latency)) => {
                let waiting = u128::from(self.rate.bytes_per_second()) * latency.0.as_nanos() / 1_000_000_000;
                u64::try_from(waiting).unwrap_or(u64::MAX).saturating_add(self.burst.0)
            }
            (None, None) => self.burst.0,
        }
    }
}

/// An htb root qdisc (handle `1:`) and its classes, all children of the root.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Htb {
    /// The class unclassified traffic goes to (`1:10`); without it, such traffic
    /// leaves unshaped (htb's direct queue).
    #[serde(default)]
    pub default: Option<ClassId>,
    /// The classes, each `{id: "1:10", rate: 5mbit, ceil: 10mbit}`.
    #[serde(default)]
    pub classes: Vec<HtbClass>,
}

impl Htb {
    fn problem(&self) -> Option<String> {
        let mut seen = std::collections::BTreeSet::new();
        for class in &self.classes {
            if let Some(parent) = class.parent.filter(|p| !seen.contains(&p.0)) {
                return Some(format!("class {}: its parent {parent} is not a class listed before it", class.id));
            }
            if !seen.insert(class.id.0) {
                return Some(format!("class {} is given twice", class.id));
            }
            if class.rate.0 == 0 {
                return Some(format!("class {} needs a non-zero `rate`", class.id));
            }
            if class.burst.is_some_and(|burst| burst.0 == 0 || burst.0 > u64::from(u32::MAX)) {
                return Some(format!("class {}: a `burst` has 1 byte to 4 GiB", class.id));
            }
            if class.ceil.is_some_and(|ceil| ceil.0 < class.rate.0) {
                return Some(format!("class {}: `ceil` is the most it may take, at least its `rate`", class.id));
            }
        }
        match &self.default {
            Some(default) if !seen.contains(&default.0) => {
                Some(format!("the default class {default} is not one of the `classes`"))
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HtbClass {
    /// `1:MINOR`, the minor in hexadecimal as tc writes it (`1:10` is minor 16).
    pub id: ClassId,
    /// The class it borrows from, listed before it (default: none, a child of the
    /// qdisc itself, which can never take more than its `rate`).
    #[serde(default)]
    pub parent: Option<ClassId>,
    /// What the class is guaranteed.
    pub rate: Rate,
    /// The most it may take by borrowing (default: its `rate`).
    #[serde(default)]
    pub ceil: Option<Rate>,
    /// Bytes it may send at once beyond its rate and its ceil (default 1600, as tc): a
    /// larger one keeps the rate when the machine's timers fire late.
    #[serde(default)]
    pub burst: Option<ByteSize>,
}

/// A class of the htb at handle `1:`, written `1:10` (minor in hexadecimal, as tc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[schemars(with = "String")]
pub struct ClassId(pub u16);

impl FromStr for ClassId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a class of the htb at `1:` (write e.g. `1:10`)");
        let (major, minor) = s.split_once(':').ok_or_else(bad)?;
        if major != "1" {
            return Err(bad());
        }
        match u16::from_str_radix(minor, 16) {
            Ok(0) => Err(format!("`{s}` is the htb itself, not a class")),
            Ok(minor) => Ok(ClassId(minor)),
            Err(_) => Err(bad()),
        }
    }
}
crate::parse::syntax::deserialize_from_str!(ClassId);

impl fmt::Display for ClassId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1:{:x}", self.0)
    }
}

/// fq_codel's settings; those left out keep the kernel's defaults.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FqCodel {
    /// Packets queued at most (kernel default 10240).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Acceptable queueing delay (default 5ms).
    #[serde(default)]
    pub target: Option<Dur>,
    /// Window over which the delay is measured (default 100ms).
    #[serde(default)]
    pub interval: Option<Dur>,
    /// Mark ECN-capable packets instead of dropping them (default on).
    #[serde(default)]
    pub ecn: Option<bool>,
}

/// netem's impairments; all optional.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Netem {
    /// Added to every packet's departure.
    #[serde(default)]
    pub delay: Option<Dur>,
    /// Random variation of `delay`, up to this much either way.
    #[serde(default)]
    pub jitter: Option<Dur>,
    /// Packets dropped at random: `10%`.
    #[serde(default)]
    pub loss: Option<Percent>,
    /// Packets sent twice at random.
    #[serde(default)]
    pub duplicate: Option<Percent>,
    /// Packets sent at once, ahead of the delayed ones, at random (needs `delay`).
    #[serde(default)]
    pub reorder: Option<Percent>,
    /// The rate packets leave at.
    #[serde(default)]
    pub rate: Option<Rate>,
    /// Packets queued at most (default 1000, as tc).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// `{dev: "a:eth0", qdisc: {tbf: {...}}}`: a fresh root qdisc, in place of whatever was
/// there; or `qdisc: clsact`, the clsact hook added beside it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetQdisc {
    pub dev: Loc<IfaceRef>,
    pub qdisc: Qdisc,
}

/// `{dev: "a:eth0"}`: the root qdisc removed (the kernel's default comes back), or with
/// `clsact: true` the clsact hook.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DelQdisc {
    pub dev: Loc<IfaceRef>,
    #[serde(default)]
    pub clsact: bool,
}

/// A rate in bits per second: `800bit`, `64kbit`, `10mbit`, `1.5gbit` (powers of 1000,
/// as tc; `bps`-style byte rates are not accepted, to avoid tc's byte/bit confusion).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[schemars(with = "String")]
pub struct Rate(pub u64);

const RATE_UNITS: [(&str, u64); 5] =
    [("tbit", 1_000_000_000_000), ("gbit", 1_000_000_000), ("mbit", 1_000_000), ("kbit", 1_000), ("bit", 1)];

impl Rate {
    /// The kernel's unit for rates.
    pub fn bytes_per_second(self) -> u64 {
        self.0 / 8
    }
}

impl FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bits = parse_with_unit(s, &RATE_UNITS, "a rate", "10mbit")?;
        Ok(Rate(bits.round() as u64))
    }
}
crate::parse::syntax::deserialize_from_str!(Rate);

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (unit, size) =
            RATE_UNITS.iter().find(|(_, size)| self.0.is_multiple_of(*size) && self.0 >= *size).unwrap_or(&("bit", 1));
        write!(f, "{}{unit}", self.0 / size)
    }
}

/// A number with one of `units` after it (spaces allowed between), in the smallest unit.
pub(crate) fn parse_with_unit(s: &str, units: &[(&str, u64)], what: &str, example: &str) -> Result<f64, String> {
    let text = s.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = (&text[..split], text[split..].trim());
    let names = units.iter().map(|(u, _)| *u).collect::<Vec<_>>().join(", ");
    let number: f64 = number.parse().map_err(|_| format!("`{s}` is not {what} (write e.g. `{example}`)"))?;
    let (_, size) = units
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(unit))
        .ok_or_else(|| format!("`{s}`: {what} needs a unit, one of: {names} (e.g. `{example}`)"))?;
    let value = number * *size as f64;
    if !value.is_finite() || value > u64::MAX as f64 {
        return Err(format!("`{s}` is too large"));
    }
    Ok(value)
}

/// A percentage, `10%` or `0.5%`, from 0 to 100.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, JsonSchema)]
#[schemars(with = "String")]
pub struct Percent(pub f64);

impl Percent {
    /// As the kernel keeps probabilities: a fraction of `u32::MAX`.
    pub fn as_probability(self) -> u32 {
        (self.0 / 100.0 * f64::from(u32::MAX)).round() as u32
    }
}

impl FromStr for Percent {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let number = s.trim().strip_suffix('%').ok_or_else(|| format!("`{s}`: write a percentage, e.g. `5%`"))?;
        match number.trim().parse::<f64>() {
            Ok(p) if (0.0..=100.0).contains(&p) => Ok(Percent(p)),
            _ => Err(format!("`{s}` is not a percentage from 0% to 100%")),
        }
    }
}
crate::parse::syntax::deserialize_from_str!(Percent);

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_bits_per_second_in_powers_of_1000() {
        assert_eq!("10mbit".parse::<Rate>(), Ok(Rate(10_000_000)));
        assert_eq!("1.5gbit".parse::<Rate>(), Ok(Rate(1_500_000_000)));
        assert_eq!("64 kbit".parse::<Rate>(), Ok(Rate(64_000)));
        assert_eq!(Rate(10_000_000).to_string(), "10mbit");
        assert_eq!(Rate(1_500_000).to_string(), "1500kbit");
        assert!("10".parse::<Rate>().unwrap_err().contains("needs a unit"));
        assert!("10mbps".parse::<Rate>().is_err(), "tc's bytes per second are not taken");
    }

    #[test]
    fn percentages_stay_within_0_and_100() {
        assert_eq!("0.5%".parse::<Percent>(), Ok(Percent(0.5)));
        assert!("150%".parse::<Percent>().is_err());
        assert!("5".parse::<Percent>().is_err());
        assert_eq!(Percent(100.0).as_probability(), u32::MAX);
    }

    #[test]
    fn class_ids_are_written_as_tc_writes_them() {
        assert_eq!("1:10".parse::<ClassId>(), Ok(ClassId(0x10)));
        assert_eq!(ClassId(0x10).to_string(), "1:10");
        assert!("2:10".parse::<ClassId>().is_err(), "classes belong to the root htb 1:");
        assert!("1:0".parse::<ClassId>().is_err());
    }

    #[test]
    fn a_tbf_limit_from_latency_is_what_the_rate_sends_in_it_plus_the_burst() {
        let tbf = Tbf {
            rate: Rate(8_000_000),
            burst: ByteSize(10_000),
            latency: Some(Dur(std::time::Duration::from_millis(50))),
            limit: None,
        };
        assert_eq!(tbf.limit_bytes(), 1_000_000 / 20 + 10_000);
    }

    #[test]
    fn contradictions_are_named() {
        let htb = |default: &str| {
            Qdisc::Htb(Htb {
                default: Some(default.parse().unwrap()),
                classes: vec![HtbClass { id: ClassId(0x10), parent: None, rate: Rate(1000), ceil: None, burst: None }],
            })
        };
        assert_eq!(htb("1:10").problem(), None);
        assert!(htb("1:20").problem().unwrap().contains("not one of the `classes`"));
        let orphan = Qdisc::Htb(Htb {
            default: None,
            classes: vec![HtbClass {
                id: ClassId(0x10),
                parent: Some(ClassId(1)),
                rate: Rate(1000),
                ceil: None,
                burst: None,
            }],
        });
        assert!(orphan.problem().unwrap().contains("not a class listed before it"));
        let reorder = Qdisc::Netem(Netem { reorder: Some(Percent(25.0)), ..Netem::default() });
        assert!(reorder.problem().unwrap().contains("give a delay"));
    }
}
