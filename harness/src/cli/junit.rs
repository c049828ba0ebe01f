//! `netrig run --junit FILE`: the results as JUnit XML, which CI systems display.
//!
//! One `<testsuite name="netrig">` with a `<testcase>` per scenario: a failure carries
//! the run's message, an invalid file is an `<error>` (nothing ran), so is a scenario a
//! signal interrupted, and a skip carries its reason.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::results::{ScenarioResult, Verdict};

/// The JUnit document for `results`; `elapsed` is the whole run's wall time.
pub fn junit_xml(results: &[ScenarioResult], elapsed: Duration) -> String {
    let mut suite = TestSuite::new("netrig");
    suite.set_time(elapsed);
    for r in results {
        let status = match r.verdict {
            Verdict::Passed => TestCaseStatus::success(),
            Verdict::Failed => non_success(NonSuccessKind::Failure, "scenario failed", r),
            Verdict::Invalid => non_success(NonSuccessKind::Error, "invalid scenario", r),
            Verdict::Interrupted => non_success(NonSuccessKind::Error, "interrupted", r),
            Verdict::Skipped => {
                let mut status = TestCaseStatus::skipped();
                if let Some(reason) = &r.message {
                    status.set_message(reason.as_str());
                }
                status
            }
        };
        let mut case = TestCase::new(r.name.as_str(), status);
        // Test names are paths (`seeds::veth_pair`): the directory part groups them.
        let class = r.name.rsplit_once("::").map_or("netrig", |(dir, _)| dir);
        case.set_classname(class);
        case.set_time(r.duration);
        // Which kernel the verdict is about (with `--kernel`, not the machine's own).
        case.add_property(Property::new("kernel", r.kernel.as_str()));
        suite.add_test_case(case);
    }
    let mut report = Report::new("netrig");
    report.set_time(elapsed);
    report.add_test_suite(suite);
    report.to_string().expect("a JUnit report of plain strings serializes")
}

/// A failure or error: the short message as the attribute, the whole text as body.
fn non_success(kind: NonSuccessKind, short: &str, r: &ScenarioResult) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(kind);
    let first = r.message.as_deref().and_then(|m| m.lines().next()).unwrap_or(short);
    status.set_message(first);
    status.set_type(short);
    if let Some(message) = &r.message {
        status.set_description(message.as_str());
    }
    status
}
