//! The report of one scenario run: what was built, what each step did and observed.
//! Deterministic by construction (no timestamps, ifindexes or timings), so it can be
//! snapshotted and diffed.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::judge::Status;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub scenario: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    pub steps: Vec<StepReport>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StepReport {
    pub name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    pub checks: Vec<CheckReport>,
    /// Decoded packet summaries per captured `node:iface`, in capture order.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub packets: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub check: String,
    pub status: Status,
    pub observed: String,
}
