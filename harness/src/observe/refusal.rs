//! Why an action did not happen, and whether that was the refusal its step expected
//! (`expect_error:` beside the action).
//!
//! An expected refusal passes only when the kernel refused with exactly the error
//! given: its errno name (`ENETUNREACH`), its errno text (`Network is unreachable`) or
//! its extended-ack explanation (`Cannot change UDP_CSUM flag`). An action that
//! succeeds, is refused otherwise, or fails for a reason that is no kernel refusal (no
//! errno) fails the step, saying what happened instead.

use std::fmt;
use std::io;

use nix::errno::Errno;

use crate::build::netlink::{self, errno_text};
use crate::build::{BuildError, Topology};
use crate::model::StepAction;
use crate::observe::act;
use crate::observe::cause::{errno_name, is_errno_name};

/// An action that did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionError {
    /// The whole story: what was refused, and why.
    pub message: String,
    /// The kernel's answer, when the kernel refused.
    pub refusal: Option<Refusal>,
    /// The feature this kernel lacks and the kernel's words, when that is why: the
    /// scenario is skipped, as when its build meets it.
    pub unsupported: Option<(String, String)>,
}

/// Why a step's action did not happen as the scenario says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotPlayed {
    /// It failed, or was not refused as expected: the step fails with this message.
    Failed(String),
    /// This kernel lacks `what` it needs (`dummy devices`), for `reason`: the scenario
    /// is skipped.
    Unsupported { what: String, reason: String },
}

/// The kernel's refusal: its errno and its own words (errno text, then the
/// extended-ack explanation when it gave one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub errno: Errno,
    pub words: String,
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<netlink::Error> for ActionError {
    fn from(error: netlink::Error) -> Self {
        let words = match &error {
            netlink::Error::Unsupported { message, .. } | netlink::Error::Failed { message, .. } => message.clone(),
        };
        let refusal = error.errno().map(|errno| Refusal { errno, words });
        let unsupported = match &error {
            netlink::Error::Unsupported { feature, what, message } => {
                Some((feature.clone(), format!("{what}: {message}")))
            }
            netlink::Error::Failed { .. } => None,
        };
        ActionError { message: error.to_string(), refusal, unsupported }
    }
}

impl From<io::Error> for ActionError {
    fn from(error: io::Error) -> Self {
        let refusal =
            error.raw_os_error().map(Errno::from_raw).map(|errno| Refusal { errno, words: errno_text(errno) });
        ActionError { message: error.to_string(), refusal, unsupported: None }
    }
}

/// A failure that is not the kernel's refusal (a command, a service, a settle).
impl From<String> for ActionError {
    fn from(message: String) -> Self {
        ActionError { message, refusal: None, unsupported: None }
    }
}

impl From<BuildError> for ActionError {
    fn from(error: BuildError) -> Self {
        let lacking = match &error {
            BuildError::Unsupported { what, reason } => Some((what.clone(), reason.clone())),
            _ => None,
        };
        ActionError { unsupported: lacking, ..error.to_string().into() }
    }
}

impl Refusal {
    /// Whether this is the refusal `expected` names (see the module doc).
    pub fn is(&self, expected: &str) -> bool {
        if is_errno_name(expected) {
            return errno_name(self.errno) == expected;
        }
        let text = errno_text(self.errno);
        let explanation = self.words.strip_prefix(&text).and_then(|rest| rest.strip_prefix(": "));
        expected == text || expected == self.words || explanation == Some(expected)
    }
}

/// `Network is unreachable (ENETUNREACH)`.
impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.words, errno_name(self.errno))
    }
}

/// Apply one action of a step and judge its outcome against its `expect_error`: the
/// line the report shows for it (with the kernel's refusal when one was expected), or
/// why the step fails.
pub fn play(topology: &Topology, rt: &tokio::runtime::Runtime, action: &StepAction) -> Result<String, NotPlayed> {
    let described = act::describe(action);
    let expected = action.expect_error.as_ref().map(|e| e.as_str());
    let outcome = act::apply(topology, rt, action);
    // A feature this kernel lacks skips the scenario, unless the refusal is what the
    // step expects (a test that the kernel refuses it).
    if let (None, Err(ActionError { unsupported: Some((what, reason)), .. })) = (expected, &outcome) {
        return Err(NotPlayed::Unsupported { what: what.clone(), reason: reason.clone() });
    }
    judge(&described, expected, outcome).map_err(NotPlayed::Failed)
}

fn judge(described: &str, expected: Option<&str>, outcome: Result<(), ActionError>) -> Result<String, String> {
    let Some(expected) = expected else {
        return outcome.map(|()| described.to_string()).map_err(|e| format!("action `{described}` failed: {e}"));
    };
    let instead = match outcome {
        Err(ActionError { refusal: Some(refusal), .. }) if refusal.is(expected) => {
            return Ok(format!("{described}, refused: {refusal}"));
        }
        Ok(()) => "the kernel accepted it".to_string(),
        Err(ActionError { refusal: Some(refusal), message, .. }) => format!("it was refused with {refusal}: {message}"),
        Err(ActionError { refusal: None, message, .. }) => {
            format!("it failed without a refusal of the kernel: {message}")
        }
    };
    Err(format!("action `{described}` was expected to be refused with `{expected}`, but {instead}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(errno: Errno, explanation: Option<&str>) -> Result<(), ActionError> {
        let words = match explanation {
            Some(why) => format!("{}: {why}", errno_text(errno)),
            None => errno_text(errno),
        };
        let message = format!("what was done: {words}");
        Err(ActionError { message, refusal: Some(Refusal { errno, words }), unsupported: None })
    }

    #[test]
    fn an_expected_refusal_matches_by_errno_name_text_or_explanation() {
        let unreachable = || refused(Errno::ENETUNREACH, None);
        for expected in ["ENETUNREACH", "Network is unreachable"] {
            assert_eq!(
                judge("add route", Some(expected), unreachable()),
                Ok("add route, refused: Network is unreachable (ENETUNREACH)".into())
            );
        }
        let csum = || refused(Errno::EOPNOTSUPP, Some("Cannot change UDP_CSUM flag"));
        for expected in ["EOPNOTSUPP", "Operation not supported", "Cannot change UDP_CSUM flag"] {
            assert!(judge("set vx0", Some(expected), csum()).is_ok(), "{expected}");
        }
        let seen = judge("set vx0", Some("Operation not supported: Cannot change UDP_CSUM flag"), csum());
        assert_eq!(
            seen,
            Ok("set vx0, refused: Operation not supported: Cannot change UDP_CSUM flag (EOPNOTSUPP)".into())
        );
    }

    #[test]
    fn anything_but_the_expected_refusal_fails_saying_what_happened() {
        assert_eq!(
            judge("add route", Some("ENETUNREACH"), Ok(())),
            Err("action `add route` was expected to be refused with `ENETUNREACH`, but the kernel accepted it".into())
        );
        let other = judge("add route", Some("ENETUNREACH"), refused(Errno::EEXIST, None)).unwrap_err();
        assert!(other.ends_with("but it was refused with File exists (EEXIST): what was done: File exists"), "{other}");
        // Part of the words is not the words: "unreachable" is no refusal's text.
        assert!(judge("add route", Some("unreachable"), refused(Errno::ENETUNREACH, None)).is_err());
        assert!(
            judge("add route", Some("Cannot change"), refused(Errno::EOPNOTSUPP, Some("Cannot change x"))).is_err()
        );
        let no_errno = judge("run", Some("EPERM"), Err(ActionError::from("exited with 1".to_string()))).unwrap_err();
        assert!(no_errno.ends_with("but it failed without a refusal of the kernel: exited with 1"), "{no_errno}");
    }

    #[test]
    fn a_missing_kernel_feature_is_told_apart_from_a_failure() {
        let reason = "create dummy d0 in node a: Operation not supported: Unknown device type";
        let lacking =
            ActionError::from(BuildError::Unsupported { what: "dummy devices".into(), reason: reason.into() });
        assert_eq!(lacking.unsupported, Some(("dummy devices".into(), reason.into())));
        let broken = ActionError::from(BuildError::Kernel { what: "create d0".into(), error: "File exists".into() });
        assert_eq!(broken.unsupported, None);
    }

    #[test]
    fn without_an_expectation_an_action_must_succeed() {
        assert_eq!(judge("add route", None, Ok(())), Ok("add route".into()));
        assert_eq!(
            judge("add route", None, refused(Errno::EEXIST, None)),
            Err("action `add route` failed: what was done: File exists".into())
        );
    }

    #[test]
    fn netlink_and_io_errors_keep_the_kernels_errno_and_words() {
        let failed = netlink::Error::Failed {
            what: "set link vx0".into(),
            message: "Operation not supported: Cannot change UDP_CSUM flag".into(),
            errno: Some(Errno::EOPNOTSUPP as i32),
        };
        let error = ActionError::from(failed);
        assert_eq!(error.message, "set link vx0: Operation not supported: Cannot change UDP_CSUM flag");
        assert!(error.refusal.unwrap().is("Cannot change UDP_CSUM flag"));
        let io = ActionError::from(io::Error::from_raw_os_error(nix::libc::EINVAL));
        assert!(io.refusal.unwrap().is("EINVAL"));
    }
}
