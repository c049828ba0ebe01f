//! The `stream` check as a scenario writes it: UDP datagrams, or a TCP connection's
//! bytes, at a given rate for a given time, and bounds on what the receiver measured
//! (`10mbit ± 10%`, `< 5%`).

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::Deserialize;

use super::qdisc::{Percent, Rate};
use super::{Dur, Loc};

/// UDP datagrams (or, with `proto: tcp`, one TCP connection's bytes) sent from `from`
/// to `to` at `rate` for `for`; the harness receives them in the node that holds
/// `to`'s address and measures what arrived.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamCheck {
    pub from: Loc<String>,
    /// `addr:port` (`[v6]:port` for IPv6); no listener may hold that port.
    pub to: Loc<std::net::SocketAddr>,
    /// `udp` (default) or `tcp`.
    #[serde(default)]
    pub proto: StreamProto,
    /// The rate offered: UDP counts whole IP packets (payload and headers), TCP the
    /// bytes written to the connection (its payload: segmenting is the kernel's).
    pub rate: Rate,
    /// How long the sender sends (at most 60 s).
    #[serde(rename = "for")]
    #[schemars(with = "String")]
    pub duration: Loc<Dur>,
    /// UDP payload bytes of each datagram (default 1000; at least 24, at most 65000).
    #[serde(default)]
    pub size: Option<u32>,
    /// What the receiver must have measured (at least one bound).
    pub expect: Loc<StreamExpect>,
    #[serde(default)]
    pub xfail: Option<super::kernel::Xfail>,
}

/// What a stream is made of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StreamProto {
    /// Datagrams: loss and jitter are the network's.
    #[default]
    Udp,
    /// A connection: what TCP delivers (its goodput) despite losses it repairs.
    Tcp,
}

/// UDP payload bytes of a datagram when the check gives none.
const DEFAULT_SIZE: u32 = 1000;

/// The longest a stream may send.
pub const STREAM_MAX: std::time::Duration = std::time::Duration::from_secs(60);

impl StreamCheck {
    /// UDP payload bytes of each datagram.
    pub fn size(&self) -> u32 {
        self.size.unwrap_or(DEFAULT_SIZE)
    }

    /// The wire size of one datagram as rates count it: payload, UDP and IP headers.
    pub fn packet_bytes(&self) -> u64 {
        let ip_header = if self.to.is_ipv6() { 40 } else { 20 };
        u64::from(self.size()) + 8 + ip_header
    }
}

impl StreamCheck {
    /// What would make the check meaningless or endless, as (field, message), for
    /// validation.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.rate.0 == 0 {
            problems.push(("rate", "a stream at 0 bit/s sends nothing".to_string()));
        }
        if self.duration.0.is_zero() || self.duration.0 > STREAM_MAX {
            problems.push(("for", format!("a stream sends for more than 0s and at most {}", Dur(STREAM_MAX))));
        }
        if !(STREAM_MIN_SIZE..=STREAM_MAX_SIZE).contains(&self.size()) {
            let message = format!(
                "a datagram carries {STREAM_MIN_SIZE} to {STREAM_MAX_SIZE} bytes (its sequence \
                                   number and send time, then padding)"
            );
            problems.push(("size", message));
        }
        let expect = &*self.expect;
        if self.proto == StreamProto::Tcp {
            if self.size.is_some() {
                problems.push(("size", "a TCP stream is bytes: the kernel cuts them into segments".to_string()));
            }
            if expect.loss.is_some() || expect.jitter.is_some() {
                let message = "a TCP stream repairs its losses: it measures the rate it delivers (`rate`) only";
                problems.push(("expect", message.to_string()));
            }
        }
        if expect.rate.is_none() && expect.loss.is_none() && expect.jitter.is_none() {
            problems.push(("expect", "say what must hold: `rate`, `loss` or `jitter`".to_string()));
        }
        if expect.rate.as_ref().is_some_and(Bound::is_exact) {
            problems.push((
                "expect.rate",
                "a measured rate is never exact: give a tolerance (`10mbit ± 10%`) or \
                                           a side (`> 9mbit`)"
                    .to_string(),
            ));
        }
        if expect.jitter.as_ref().is_some_and(Bound::is_exact) {
            problems.push(("expect.jitter", "a measured jitter is never exact: write `< 2ms`".to_string()));
        }
        problems
    }
}

/// The smallest datagram: a magic number, its sequence number and its send time.
pub const STREAM_MIN_SIZE: u32 = 24;
/// The largest: fits in one IPv4 or IPv6 datagram.
pub const STREAM_MAX_SIZE: u32 = 65000;

/// Bounds on what a stream's receiver measured; those left out are not checked.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamExpect {
    /// The delivered rate: `10mbit ± 10%`, `> 9mbit`, `< 1mbit`.
    #[serde(default)]
    pub rate: Option<Bound<Rate>>,
    /// Datagrams lost, of those sent: `< 5%`, `> 40%`, `0%`.
    #[serde(default)]
    pub loss: Option<Bound<Percent>>,
    /// Mean variation of the transit time (RFC 3550's interarrival jitter): `< 2ms`.
    #[serde(default)]
    pub jitter: Option<Bound<Dur>>,
}

/// A quantity a bound is written in, as a number in its smallest unit.
pub trait Quantity: FromStr<Err = String> + fmt::Display {
    fn value(&self) -> f64;
    /// Whether `X ± 10%` means 10% of X; for a percentage it means 10 points.
    const RELATIVE_PERCENT: bool = true;
}

impl Quantity for Rate {
    fn value(&self) -> f64 {
        self.0 as f64
    }
}

impl Quantity for Percent {
    fn value(&self) -> f64 {
        self.0
    }
    const RELATIVE_PERCENT: bool = false;
}

impl Quantity for Dur {
    fn value(&self) -> f64 {
        self.0.as_secs_f64()
    }
}

/// `< X`, `<= X`, `> X`, `>= X`, `X ± T` (`+-` too; `T` a percentage of `X` or a
/// quantity; for a percentage `X`, `T` is in points: `20% ± 5%` is 15% to 25%), or `X`
/// alone (exactly).
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[schemars(with = "String")]
pub struct Bound<T> {
    pub op: BoundOp,
    pub value: T,
    /// `X ± tolerance`, as a number in the quantity's smallest unit.
    pub tolerance: f64,
    /// The tolerance as written (`10%`).
    tolerance_text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundOp {
    Less,
    AtMost,
    More,
    AtLeast,
    Within,
}

impl<T: Quantity> Bound<T> {
    /// `X` alone, no tolerance.
    pub fn is_exact(&self) -> bool {
        self.op == BoundOp::Within && self.tolerance == 0.0
    }

    /// Whether `measured` (in the quantity's smallest unit) is within the bound.
    pub fn holds(&self, measured: f64) -> bool {
        let x = self.value.value();
        match self.op {
            BoundOp::Less => measured < x,
            BoundOp::AtMost => measured <= x,
            BoundOp::More => measured > x,
            BoundOp::AtLeast => measured >= x,
            BoundOp::Within => (measured - x).abs() <= self.tolerance,
        }
    }
}

impl<T: Quantity> FromStr for Bound<T> {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let text = s.trim();
        for (prefix, op) in
            [("<=", BoundOp::AtMost), (">=", BoundOp::AtLeast), ("<", BoundOp::Less), (">", BoundOp::More)]
        {
            if let Some(rest) = text.strip_prefix(prefix) {
                return Ok(Bound { op, value: rest.trim().parse()?, tolerance: 0.0, tolerance_text: String::new() });
            }
        }
        let Some((value, tolerance)) = text.split_once('±').or_else(|| text.split_once("+-")) else {
            return Ok(Bound {
                op: BoundOp::Within,
                value: text.parse()?,
                tolerance: 0.0,
                tolerance_text: String::new(),
            });
        };
        let value: T = value.trim().parse()?;
        let tolerance_text = tolerance.trim().to_string();
        let tolerance = if tolerance_text.ends_with('%') && T::RELATIVE_PERCENT {
            let percent: Percent = tolerance_text.parse().map_err(|e| format!("the tolerance in `{s}`: {e}"))?;
            value.value() * percent.0 / 100.0
        } else {
            tolerance_text.parse::<T>().map_err(|e| format!("the tolerance in `{s}`: {e}"))?.value()
        };
        Ok(Bound { op: BoundOp::Within, value, tolerance, tolerance_text })
    }
}

impl<'de, T: Quantity> Deserialize<'de> for Bound<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <String as Deserialize>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl<T: Quantity> fmt::Display for Bound<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            BoundOp::Less => "< ",
            BoundOp::AtMost => "<= ",
            BoundOp::More => "> ",
            BoundOp::AtLeast => ">= ",
            BoundOp::Within => "",
        };
        write!(f, "{op}{}", self.value)?;
        if !self.tolerance_text.is_empty() {
            write!(f, " ± {}", self.tolerance_text)?;
        }
        Ok(())
    }
}

/// A duration bound shows as the duration was written.
impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// A rate measured in bits per second, shown like a written one (`9.87mbit`).
pub fn show_rate(bits_per_second: f64) -> String {
    let (unit, size) = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3)]
        .into_iter()
        .find(|(_, size)| bits_per_second >= *size)
        .unwrap_or(("bit", 1.0));
    format!("{:.2}{unit}", bits_per_second / size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_read_as_written() {
        let rate: Bound<Rate> = "10mbit ± 10%".parse().unwrap();
        assert!(rate.holds(9_100_000.0) && rate.holds(10_900_000.0));
        assert!(!rate.holds(8_900_000.0) && !rate.holds(11_100_000.0));
        assert_eq!(rate.to_string(), "10mbit ± 10%");
        let absolute: Bound<Rate> = "10mbit +- 1mbit".parse().unwrap();
        assert!(absolute.holds(9_000_000.0) && !absolute.holds(8_999_999.0));
        let loss: Bound<Percent> = "< 5%".parse().unwrap();
        assert!(loss.holds(4.9) && !loss.holds(5.0));
        let points: Bound<Percent> = "20% ± 7%".parse().unwrap();
        assert!(points.holds(13.0) && points.holds(18.09) && points.holds(27.0), "7 points, not 7% of 20%");
        assert!(!points.holds(12.9) && !points.holds(27.1));
        let none: Bound<Percent> = "0%".parse().unwrap();
        assert!(none.holds(0.0) && !none.holds(0.01));
        let jitter: Bound<Dur> = "<= 2ms".parse().unwrap();
        assert!(jitter.holds(0.002) && !jitter.holds(0.0021));
        assert!("about 10mbit".parse::<Bound<Rate>>().is_err());
    }
}
