//! Property-based fuzzing of the loader and validator: whatever text a script or a
//! truncated write produces, splitting it into matrix rows, parsing and validating it
//! ends in a value or a diagnostic, in bounded time, without a panic.
//!
//! Inputs are shipped scenarios cut, spliced and sprinkled with YAML punctuation, and
//! texts assembled from scenario words. Bounded for CI: 200 cases by default
//! (`PROPTEST_CASES` changes it), each given a few seconds.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use netrig::parse::load::{Source, parse_and_validate};
use netrig::parse::matrix::variants;
use netrig::parse::validate::require_checks;
use proptest::prelude::*;

/// How long one input may take before it counts as a hang (debug build, shared CPU).
const PER_INPUT: Duration = Duration::from_secs(10);

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// Every shipped scenario's text: realistic starting points.
fn seeds() -> Vec<String> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut dirs = vec![workspace().join("scenarios")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect()
}

/// Split, parse and validate `text` as the runner does, on a thread of its own so that
/// a hang fails the test instead of stalling it.
fn load_all(text: String) -> Result<(), TestCaseError> {
    let (done, finished) = mpsc::channel();
    let shown: String = text.chars().take(300).collect();
    std::thread::spawn(move || {
        // A scenario path inside the workspace, so that includes find the real fixtures.
        let source = Source { path: workspace().join("scenarios/fuzz.yaml"), text };
        if let Ok(rows) = variants(&source) {
            for row in rows.iter().take(4) {
                let Ok(source) = row.source() else { continue };
                if let Ok(scenario) = parse_and_validate(&source) {
                    let _ = require_checks(&scenario, &source);
                }
            }
        }
        let _ = done.send(());
    });
    match finished.recv_timeout(PER_INPUT) {
        Ok(()) => Ok(()),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(TestCaseError::fail(format!("hang on {shown:?}"))),
        // The thread ended without sending: it panicked (its message is printed above).
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(TestCaseError::fail(format!("panic on {shown:?}"))),
    }
}

/// 200 per property unless `PROPTEST_CASES` asks for more (or fewer).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(200)
}

/// Words and punctuation scenarios are made of, and a few that break things.
const WORDS: &[&str] = &[
    "nodes:",
    "links:",
    "expect:",
    "steps:",
    "matrix:",
    "include:",
    "about:",
    "do:",
    "- ",
    "veth:",
    "ping:",
    "from:",
    "to:",
    "fails:",
    "count:",
    "sysctl:",
    "bridges:",
    "mtu:",
    "mac:",
    "queues:",
    "fixture:",
    "with:",
    "replay:",
    "pcap:",
    "a:eth0",
    "b:eth0@br0",
    "10.0.0.1/24",
    "fd00::1",
    "${x}",
    "${",
    "}",
    "{",
    "[",
    "]",
    ",",
    ": ",
    "\n",
    "\n  ",
    "\n    ",
    "'",
    "\"",
    "&a",
    "*a",
    "!!str",
    "|",
    ">",
    "#",
    "---",
    "\t",
    "\0",
    "é",
    "0",
    "-1",
    "4294967296",
    "true",
    "null",
    "~",
    "01:00:5e:00:00:01",
    "all",
    "net.ipv4.tcp_mem",
    "../../etc/passwd",
    "docker-host",
    "garp-10.0.0.9.pcap",
];

fn word_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(WORDS), 0..120).prop_map(|w| w.concat())
}

/// A shipped scenario, cut at some point and with some of its characters replaced by
/// scenario words.
fn mutated_seed() -> impl Strategy<Value = String> {
    let seeds = seeds();
    (
        prop::sample::select(seeds),
        any::<prop::sample::Index>(),
        prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(WORDS)), 0..8),
    )
        .prop_map(|(seed, cut, edits)| {
            let mut text: Vec<char> = seed.chars().collect();
            for (at, word) in edits {
                let i = at.index(text.len() + 1);
                text.splice(i..i, word.chars());
            }
            let keep = cut.index(text.len() + 1).max(text.len() / 2);
            text.truncate(keep);
            text.into_iter().collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn any_word_soup_ends_in_an_answer(text in word_soup()) {
        load_all(text)?;
    }

    #[test]
    fn any_damaged_scenario_ends_in_an_answer(text in mutated_seed()) {
        load_all(text)?;
    }

    #[test]
    fn any_bytes_end_in_an_answer(text in "\\PC{0,400}") {
        load_all(text)?;
    }
}
