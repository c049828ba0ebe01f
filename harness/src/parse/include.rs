//! `include:`: reusable fragments from `fixtures/`, with parameters.
//!
//! ```yaml
//! include:
//!   - fixture: docker-host            # fixtures/docker-host.yaml
//!     with: {host: host, bridge: mybr0}
//! ```
//!
//! A fixture file declares its `params` (with defaults, or `null` when required) and
//! uses them as `${name}`; its nodes, links, checks and steps are merged into the
//! scenario before validation: maps are united (a name defined twice is an error) and
//! lists are joined, the fixture's entries first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;

use crate::model::{Action, Check, Link, Node, Scenario, Step};
use crate::parse::load::{self, Diagnostic, Diagnostics, Source};
use crate::parse::location::Loc;
use crate::parse::matrix::{self, Value};

/// One `include:` entry.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Include {
    /// File name under `fixtures/`, without `.yaml`.
    pub fixture: Loc<String>,
    /// Values for the fixture's `params`.
    #[serde(default)]
    pub with: BTreeMap<String, Value>,
}

/// A fixture file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fragment {
    #[serde(default)]
    pub about: Option<String>,
    /// Parameters and their defaults (`null`: the including scenario must give one).
    #[serde(default)]
    pub params: BTreeMap<String, Option<Value>>,
    #[serde(default)]
    pub nodes: BTreeMap<String, Loc<Node>>,
    #[serde(default)]
    pub links: Vec<Link>,
    #[serde(default)]
    pub expect: Vec<Check>,
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// Merge every fixture `scenario` includes into it. `sources` receives each fixture's
/// text, numbered as the [`Loc::source`] of what was read from it.
pub fn resolve(scenario: &mut Scenario, sources: &mut Vec<Source>) -> Result<(), Diagnostics> {
    let includes = std::mem::take(&mut scenario.include);
    let own = Fragment {
        about: None,
        params: BTreeMap::new(),
        nodes: std::mem::take(&mut scenario.nodes),
        links: std::mem::take(&mut scenario.links),
        expect: std::mem::take(&mut scenario.expect),
        steps: std::mem::take(&mut scenario.steps),
    };
    for include in &includes {
        let fragment = read_fragment(include, sources)?;
        merge(scenario, fragment, &include.fixture.value).map_err(|m| located(&sources[0], &include.fixture, m))?;
    }
    merge(scenario, own, "this scenario").map_err(|m| {
        let first = includes.first().map(|i| &i.fixture);
        match first {
            Some(at) => located(&sources[0], at, m),
            None => Diagnostics(vec![Diagnostic::new(&sources[0], 0, 0, "include", m)]),
        }
    })
}

fn located(source: &Source, at: &Loc<String>, message: String) -> Diagnostics {
    Diagnostics(vec![Diagnostic::new(source, at.line, at.column, "include", message)])
}

fn read_fragment(include: &Include, sources: &mut Vec<Source>) -> Result<Fragment, Diagnostics> {
    let scenario_file = sources[0].path.clone();
    let name = include.fixture.as_str();
    if !is_plain_file_name(name) {
        let message = format!(
            "`{}`: give a fixture's name only (a file of `fixtures/`, without `.yaml`); a fixture cannot be outside `fixtures/`",
            name.escape_debug()
        );
        return Err(located(&sources[0], &include.fixture, message));
    }
    let path = find_fixture(&scenario_file, name).ok_or_else(|| {
        let message = format!(
            "no fixture `{name}` (looked for fixtures/{name}.yaml next to and above {})",
            scenario_file.display()
        );
        located(&sources[0], &include.fixture, message)
    })?;
    let raw = Source::read(&path)?;
    let declared = load::parse_as::<ParamsOnly>(&neutral(&raw), 0).map_err(|d| Diagnostics(vec![d]))?.params;
    for name in include.with.keys() {
        if !declared.contains_key(name) {
            let known: Vec<&str> = declared.keys().map(String::as_str).collect();
            return Err(located(
                &sources[0],
                &include.fixture,
                format!("fixture `{}` has no parameter `{name}` (it has: {})", *include.fixture, known.join(", ")),
            ));
        }
    }
    let mut values: BTreeMap<String, Value> = declared.into_iter().filter_map(|(k, v)| Some((k, v?))).collect();
    values.extend(include.with.clone());
    let uses = matrix::placeholders(&raw.text);
    let text = matrix::substitute(&raw, &uses, &values, "params", |name| {
        format!(
            "parameter `{name}` has no value: give it in the scenario's `with:` or declare a default under `params:`"
        )
    })?;
    let source = Source { path, text };
    let id = sources.len();
    sources.push(source);
    load::parse_as::<Fragment>(&sources[id], id).map_err(|d| Diagnostics(vec![d]))
}

/// Only `params:`, read before substitution.
#[derive(Deserialize)]
struct ParamsOnly {
    #[serde(default)]
    params: BTreeMap<String, Option<Value>>,
}

/// The fixture text with every `${x}` as a plain word, so its `params` can be read.
fn neutral(raw: &Source) -> Source {
    let uses = matrix::placeholders(&raw.text);
    let words: BTreeMap<String, Value> = uses.iter().map(|u| (u.name.clone(), Value::Text(u.name.clone()))).collect();
    let text = matrix::substitute(raw, &uses, &words, "params", |_| String::new()).unwrap_or_else(|_| raw.text.clone());
    Source { path: raw.path.clone(), text }
}

/// `fixtures/<name>.yaml` in the scenario's directory or any directory above it.
fn find_fixture(scenario: &Path, name: &str) -> Option<PathBuf> {
    find_fixture_file(scenario, &format!("{name}.yaml"))
}

/// `fixtures/<file>` in the directory of `from` (a scenario or fixture file) or any
/// directory above it. Only plain file names: a fixture cannot reach outside `fixtures/`.
pub fn find_fixture_file(from: &Path, file: &str) -> Option<PathBuf> {
    if !is_plain_file_name(file) {
        return None;
    }
    from.ancestors().skip(1).map(|dir| dir.join("fixtures").join(file)).find(|p| p.is_file())
}

/// A name that stays inside the directory it is looked up in: no separator, no leading
/// dot (`..`, hidden files), no NUL.
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '\\', '\0']) && !name.starts_with('.')
}

/// A `replay` action's pcap: a path relative to the directory of `from`, the file the
/// action is written in (`bug-1234.pcap` beside it, `captures/x.pcap`,
/// `../pcaps/x.pcap`), or else a file name in `fixtures/` next to or above it. Never
/// an absolute path: it would tie the scenario to one machine.
pub fn find_pcap(from: &Path, pcap: &str) -> Option<PathBuf> {
    if pcap.is_empty() || Path::new(pcap).is_absolute() {
        return None;
    }
    let beside = from.parent().unwrap_or(Path::new("")).join(pcap);
    if beside.is_file() {
        return Some(beside);
    }
    find_fixture_file(from, pcap)
}

/// Find the pcap file of every `replay` action ([`find_pcap`]) from the file the
/// action was written in (the scenario or an included fixture). One not found keeps
/// `path: None`, which validation reports.
pub fn locate_pcaps(scenario: &mut Scenario, sources: &[Source]) {
    let actions = scenario.steps.iter_mut().flat_map(|step| &mut step.actions);
    let replays = actions.filter_map(|action| match &mut action.action {
        Action::Replay(replay) => Some(replay),
        _ => None,
    });
    for replay in replays {
        let written_in = &sources[replay.pcap.source.min(sources.len() - 1)].path;
        replay.path = find_pcap(written_in, &replay.pcap);
    }
}

fn merge(into: &mut Scenario, fragment: Fragment, from: &str) -> Result<(), String> {
    for (name, node) in fragment.nodes {
        match into.nodes.get_mut(&name) {
            None => {
                into.nodes.insert(name, node);
            }
            Some(existing) => merge_node(&mut existing.value, node.value)
                .map_err(|what| format!("node `{name}`: {what} is defined both by {from} and before it"))?,
        }
    }
    into.links.extend(fragment.links);
    into.expect.extend(fragment.expect);
    into.steps.extend(fragment.steps);
    Ok(())
}

/// Unite two definitions of one node: maps must not overlap, lists are joined.
fn merge_node(base: &mut Node, add: Node) -> Result<(), String> {
    fn unite<V>(base: &mut BTreeMap<String, V>, add: BTreeMap<String, V>, what: &str) -> Result<(), String> {
        for (k, v) in add {
            if base.contains_key(&k) {
                return Err(format!("{what} `{k}`"));
            }
            base.insert(k, v);
        }
        Ok(())
    }
    unite(&mut base.sysctl, add.sysctl, "sysctl")?;
    unite(&mut base.bridges, add.bridges, "bridge")?;
    unite(&mut base.vxlans, add.vxlans, "vxlan")?;
    unite(&mut base.macvlans, add.macvlans, "macvlan")?;
    unite(&mut base.taps, add.taps, "tap")?;
    unite(&mut base.dummies, add.dummies, "dummy")?;
    unite(&mut base.vlans, add.vlans, "vlan")?;
    unite(&mut base.vrfs, add.vrfs, "vrf")?;
    unite(&mut base.interfaces, add.interfaces, "interface")?;
    if add.lo != Default::default() {
        base.lo = add.lo;
    }
    base.routes.extend(add.routes);
    base.rules.extend(add.rules);
    base.neighbours.extend(add.neighbours);
    base.fdb.extend(add.fdb);
    base.listen.extend(add.listen);
    base.run.extend(add.run);
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::parse::load::{Source, parse_and_validate};

    fn lab() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "netrig-include-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(dir.join("fixtures")).unwrap();
        std::fs::create_dir_all(dir.join("scenarios")).unwrap();
        std::fs::write(
            dir.join("fixtures/host.yaml"),
            "params:\n  node: host\n  bridge: null\nnodes:\n  ${node}:\n    bridges: {${bridge}: {addresses: [172.18.0.1/16]}}\n    routes: [\"blackhole 10.0.0.0/8\"]\n",
        )
        .unwrap();
        dir
    }

    fn load(dir: &std::path::Path, text: &str) -> Result<crate::model::Scenario, String> {
        let path = dir.join("scenarios/s.yaml");
        parse_and_validate(&Source { path, text: text.into() }).map_err(|d| d.to_string())
    }

    #[test]
    fn a_fixture_adds_nodes_with_its_parameters() {
        let dir = lab();
        let s = load(&dir, "include:\n  - fixture: host\n    with: {bridge: mybr0}\nnodes:\n  host: {routes: [\"blackhole 10.9.0.0/16\"]}\n  a: {}\nlinks:\n  - veth: [a:eth0 172.18.0.2/16, host:vethA@mybr0]\n").unwrap();
        let host = &s.nodes["host"];
        assert!(host.bridges.contains_key("mybr0"));
        let routes: Vec<String> = host.routes.iter().map(|r| r.to_string()).collect();
        assert_eq!(routes, ["blackhole 10.0.0.0/8", "blackhole 10.9.0.0/16"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn missing_parameter_and_unknown_fixture_are_errors() {
        let dir = lab();
        let e = load(&dir, "include:\n  - fixture: host\n").unwrap_err();
        assert!(e.contains("fixtures/host.yaml:6:") && e.contains("parameter `bridge` has no value"), "{e}");
        let e = load(&dir, "include:\n  - fixture: nope\n").unwrap_err();
        assert!(e.contains("s.yaml:2:14") && e.contains("no fixture `nope`"), "{e}");
        let e = load(&dir, "include:\n  - fixture: host\n    with: {bridge: b, colour: red}\n").unwrap_err();
        assert!(e.contains("has no parameter `colour`"), "{e}");
        // A missing parameter is keyed by itself, not by `matrix`.
        let path = dir.join("scenarios/s.yaml");
        let source = Source { path, text: "include:\n  - fixture: host\n".into() };
        let d = parse_and_validate(&source).unwrap_err();
        assert_eq!(d.0[0].key, "params.bridge");
        // A path is not looked for, and the message does not pretend it was.
        let e = load(&dir, "include:\n  - fixture: ../../etc/passwd\n").unwrap_err();
        assert!(e.contains("give a fixture's name only") && !e.contains("looked for"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn errors_inside_a_fixture_name_the_fixture_file() {
        let dir = lab();
        // The fixture's bridge is fine, but the scenario points a link at a missing bridge.
        let e = load(&dir, "include:\n  - fixture: host\n    with: {bridge: br0}\nnodes:\n  a: {}\nlinks:\n  - veth: [a:eth0, host:v@nobr]\n").unwrap_err();
        assert!(e.contains("s.yaml:7:") && e.contains("no bridge `nobr`"), "{e}");
        // Two definitions of one bridge: reported at the include.
        let e =
            load(&dir, "include:\n  - fixture: host\n    with: {bridge: br0}\nnodes:\n  host: {bridges: {br0: {}}}\n")
                .unwrap_err();
        assert!(e.contains("bridge `br0` is defined both"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn replayed_pcaps_are_found_under_fixtures_from_where_they_are_named() {
        let dir = lab();
        // An Ethernet capture with no frames: validation reads it.
        let header: Vec<u8> =
            [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1].iter().flat_map(|w| w.to_le_bytes()).collect();
        std::fs::write(dir.join("fixtures/one.pcap"), header).unwrap();
        let step = |file: &str| format!("steps:\n  - do:\n      - replay: {{into: \"a:e\", pcap: {file}}}\n");
        // Named in a fixture, which lives in fixtures/ itself.
        std::fs::write(
            dir.join("fixtures/replayer.yaml"),
            format!("nodes:\n  a: {{}}\n  b: {{}}\nlinks:\n  - veth: [a:e, b:e]\n{}", step("one.pcap")),
        )
        .unwrap();
        let s = load(&dir, &format!("include:\n  - fixture: replayer\n{}", step("one.pcap"))).unwrap();
        let paths: Vec<_> = s
            .steps
            .iter()
            .flat_map(|step| &step.actions)
            .map(|action| match &action.action {
                crate::model::Action::Replay(r) => r.path.clone(),
                _ => None,
            })
            .collect();
        let found = Some(dir.join("fixtures/one.pcap"));
        assert_eq!(paths, [found.clone(), found]);

        // Or by a path relative to the scenario, which comes first: a capture kept
        // beside a bug's scenario, or in a folder of its own.
        std::fs::create_dir_all(dir.join("captures")).unwrap();
        std::fs::copy(dir.join("fixtures/one.pcap"), dir.join("captures/bug.pcap")).unwrap();
        std::fs::copy(dir.join("fixtures/one.pcap"), dir.join("scenarios/one.pcap")).unwrap();
        let scenario = dir.join("scenarios/s.yaml");
        assert_eq!(
            super::find_pcap(&scenario, "../captures/bug.pcap"),
            Some(dir.join("scenarios/../captures/bug.pcap"))
        );
        assert_eq!(super::find_pcap(&scenario, "one.pcap"), Some(dir.join("scenarios/one.pcap")));
        assert_eq!(super::find_pcap(&scenario, "bug.pcap"), None);
        let absolute = dir.join("captures/bug.pcap");
        assert_eq!(super::find_pcap(&scenario, absolute.to_str().unwrap()), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
