//! Kernel releases and ranges of them: the words a scenario uses for behaviour that
//! legitimately differs between kernels (`xfail: {kernel: "<6.4", why: …}`), and the
//! key that picks a per-kernel snapshot (`name@6.1.snap`).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::Deserialize;

/// A kernel version, `major.minor.patch`, as the start of a release (`6.1.0-57-amd64`,
/// `6.18.1+deb14-amd64`) or written in a range (`6.2`: patch 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// The version a release string starts with; `None` for what is not one (`unknown`).
    pub fn of_release(release: &str) -> Option<Version> {
        let digits_end = release.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(release.len());
        let mut parts = release[..digits_end].split('.').filter(|p| !p.is_empty());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = parts.next().map_or(Some(0), |p| p.parse().ok())?;
        Some(Version(major, minor, patch))
    }

    /// `6.1`: the series a per-kernel snapshot is named after.
    pub fn series(&self) -> String {
        format!("{}.{}", self.0, self.1)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// Kernels between bounds: `<6.4`, `>=5.15, <6.4`, `=6.1` (every bound must hold).
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(with = "String")]
pub struct KernelRange {
    bounds: Vec<(Bound, Version)>,
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    Less,
    AtMost,
    Equal,
    AtLeast,
    Greater,
}

impl KernelRange {
    /// Whether the kernel of `release` is in the range; a release that is not a version
    /// is in no range (so an expectation about kernels never excuses a failure on it).
    pub fn contains(&self, release: &str) -> bool {
        let Some(version) = Version::of_release(release) else {
            return false;
        };
        self.bounds.iter().all(|(bound, limit)| {
            // `=6.1` means the whole 6.1 series; the other bounds compare whole versions.
            let order = if *bound == Bound::Equal && limit.2 == 0 {
                (version.0, version.1).cmp(&(limit.0, limit.1))
            } else {
                version.cmp(limit)
            };
            match bound {
                Bound::Less => order == Ordering::Less,
                Bound::AtMost => order != Ordering::Greater,
                Bound::Equal => order == Ordering::Equal,
                Bound::AtLeast => order != Ordering::Less,
                Bound::Greater => order == Ordering::Greater,
            }
        })
    }
}

impl FromStr for KernelRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let wrong = |why: &str| format!("kernel range `{s}`: {why} (write e.g. `<6.4` or `>=5.15, <6.4`)");
        let mut bounds = Vec::new();
        for part in s.split(',').map(str::trim) {
            let (bound, rest) = [
                ("<=", Bound::AtMost),
                (">=", Bound::AtLeast),
                ("<", Bound::Less),
                (">", Bound::Greater),
                ("=", Bound::Equal),
            ]
            .into_iter()
            .find_map(|(op, bound)| part.strip_prefix(op).map(|rest| (bound, rest.trim())))
            .ok_or_else(|| wrong(&format!("`{part}` does not start with <, <=, =, >= or >")))?;
            let is_version = !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '.');
            let version = Version::of_release(rest)
                .filter(|_| is_version && rest.split('.').count() <= 3)
                .ok_or_else(|| wrong(&format!("`{rest}` is not a version like 6.4 or 6.1.10")))?;
            bounds.push((bound, version));
        }
        Ok(KernelRange { bounds, text: s.trim().to_string() })
    }
}
crate::parse::syntax::deserialize_from_str!(KernelRange);

impl fmt::Display for KernelRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// An `xfail:` (of a scenario or an assertion): expected to fail everywhere (the reason,
/// or a link), or only on the kernels of a range, where the behaviour legitimately
/// differs; on every other kernel it must pass.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[serde(untagged)]
pub enum Xfail {
    Always(String),
    OnKernels(KernelXfail),
}

/// `xfail: {kernel: "<6.4", why: "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KernelXfail {
    /// The kernels that behave differently, e.g. `<6.4`.
    pub kernel: KernelRange,
    /// What those kernels do differently, and why (a commit, a changelog entry).
    pub why: String,
}

// By hand rather than `untagged`: a wrong key or range inside the map is reported as
// itself, at its line, instead of as "matches no variant".
impl<'de> Deserialize<'de> for Xfail {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Xfail;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a reason, or {kernel: RANGE, why: REASON}")
            }
            fn visit_str<E: serde::de::Error>(self, reason: &str) -> Result<Xfail, E> {
                Ok(Xfail::Always(reason.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Xfail, A::Error> {
                KernelXfail::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Xfail::OnKernels)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl Xfail {
    /// The reason this scenario is expected to fail on the kernel of `release`, if it is.
    pub fn on(&self, release: &str) -> Option<String> {
        match self {
            Xfail::Always(reason) => Some(reason.clone()),
            Xfail::OnKernels(k) if k.kernel.contains(release) => Some(format!("on kernel {}: {}", k.kernel, k.why)),
            Xfail::OnKernels(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_give_their_version() {
        assert_eq!(Version::of_release("6.1.0-57-amd64"), Some(Version(6, 1, 0)));
        assert_eq!(Version::of_release("6.18.1+deb14-amd64"), Some(Version(6, 18, 1)));
        assert_eq!(Version::of_release("5.15"), Some(Version(5, 15, 0)));
        assert_eq!(Version::of_release("unknown"), None);
        assert_eq!(Version(6, 1, 0).series(), "6.1");
    }

    #[test]
    fn ranges_hold_where_every_bound_does() {
        let range: KernelRange = ">=5.15, <6.4".parse().unwrap();
        assert!(range.contains("6.1.0-57-amd64"));
        assert!(range.contains("5.15.0"));
        assert!(!range.contains("6.4.0-1-amd64"));
        assert!(!range.contains("5.10.200"));
        assert!(!range.contains("unknown"), "a release that is no version is in no range");
        let series: KernelRange = "=6.1".parse().unwrap();
        assert!(series.contains("6.1.158") && !series.contains("6.10.0"));
        assert!("<=6.1.10".parse::<KernelRange>().unwrap().contains("6.1.10-cloud"));
    }

    #[test]
    fn bad_ranges_are_refused_saying_how_to_write_one() {
        for bad in ["6.4", "<six", "<6.4.1.2", ">=", "<6.4,"] {
            let e = bad.parse::<KernelRange>().unwrap_err();
            assert!(e.contains("write e.g. `<6.4`"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_kernel_xfail_applies_only_in_its_range() {
        let xfail = Xfail::OnKernels(KernelXfail { kernel: "<6.4".parse().unwrap(), why: "old".into() });
        assert_eq!(xfail.on("6.1.0-57-amd64").as_deref(), Some("on kernel <6.4: old"));
        assert_eq!(xfail.on("6.18.1"), None);
        assert_eq!(Xfail::Always("bug".into()).on("6.18.1").as_deref(), Some("bug"));
    }
}
