//! The pictures under `docs/` of every scenario shipped under `scenarios/`:
//! `scenarios/seeds/veth-pair.yaml` is drawn as `docs/seeds/veth-pair.svg`.
//! They are checked in so the documentation shows them; these tests keep them current
//! (`NETRIG_UPDATE_DOCS=1 cargo test -p netrig --lib graph` rewrites them), complete
//! and renderable.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::model::Scenario;
use crate::report::graph::{self, Format};
use crate::run::runner::workspace_root;

/// A shipped scenario file, the scenario its picture shows, and the picture.
struct Shipped {
    path: PathBuf,
    /// `docs/` mirrors `scenarios/`.
    picture: PathBuf,
    scenario: Scenario,
    svg: String,
}

fn shipped() -> Vec<Shipped> {
    let root = workspace_root();
    let scenarios = root.join("scenarios");
    let mut files: Vec<PathBuf> =
        crate::run::runner::discover(&scenarios, &crate::run::layout::Layout::for_project(&root))
            .expect("scenarios/ is readable")
            .into_iter()
            .map(|d| d.path)
            .collect();
    // One picture per file, not per matrix row.
    files.sort();
    files.dedup();
    files
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(&scenarios).expect("discovered under scenarios/");
            let picture = root.join("docs").join(relative).with_extension("svg");
            let (scenario, title) =
                graph::drawable(&path).unwrap_or_else(|e| panic!("shipped scenario is invalid:\n{e}"));
            let svg = graph::render(&scenario, &title, Format::Svg);
            Shipped { path, picture, scenario, svg }
        })
        .collect()
}

/// Every `*.svg` under `dir`, recursively.
fn svgs_under(dir: &Path, out: &mut BTreeSet<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            svgs_under(&path, out);
        } else if path.extension().is_some_and(|e| e == "svg") {
            out.insert(path);
        }
    }
}

#[test]
fn committed_pictures_are_current() {
    let update = std::env::var_os("NETRIG_UPDATE_DOCS").is_some();
    let mut stale = Vec::new();
    let mut expected = BTreeSet::new();
    for Shipped { picture, svg, .. } in shipped() {
        if update {
            std::fs::create_dir_all(picture.parent().unwrap()).unwrap();
            std::fs::write(&picture, &svg).unwrap();
        } else if std::fs::read_to_string(&picture).ok().as_deref() != Some(svg.as_str()) {
            stale.push(picture.display().to_string());
        }
        expected.insert(picture);
    }
    // A picture whose scenario is gone is stale too.
    let mut present = BTreeSet::new();
    svgs_under(&workspace_root().join("docs"), &mut present);
    for orphan in present.difference(&expected) {
        if update {
            std::fs::remove_file(orphan).unwrap();
        } else {
            stale.push(format!("{} (no scenario)", orphan.display()));
        }
    }
    assert!(
        stale.is_empty(),
        "topology pictures out of date:\n  {}\nrun `NETRIG_UPDATE_DOCS=1 cargo test -p netrig --lib graph` and commit docs/",
        stale.join("\n  ")
    );
}

/// What a reader must find in a scenario's picture: every node, interface and address.
fn labels(s: &Scenario) -> BTreeSet<String> {
    let mut labels = BTreeSet::new();
    for (name, node) in &s.nodes {
        labels.insert(name.clone());
        let devices = node.bridges.keys().chain(node.vxlans.keys()).chain(node.macvlans.keys()).chain(node.taps.keys());
        let devices = devices.chain(node.dummies.keys()).chain(node.vlans.keys()).chain(node.vrfs.keys());
        labels.extend(devices.chain(node.interfaces.keys()).cloned());
        let addresses = (node.bridges.values().flat_map(|b| &b.addresses))
            .chain(node.vxlans.values().flat_map(|v| &v.addresses))
            .chain(node.macvlans.values().flat_map(|m| &m.addresses))
            .chain(node.taps.values().flat_map(|t| &t.addresses))
            .chain(node.dummies.values().flat_map(|d| &d.addresses))
            .chain(node.vlans.values().flat_map(|v| &v.addresses))
            .chain(node.interfaces.values().flat_map(|i| &i.addresses));
        labels.extend(addresses.map(|a| a.to_string()));
    }
    for end in s.links.iter().flat_map(|l| &l.veth) {
        labels.insert(end.at.iface.clone());
        labels.extend(end.addresses.iter().map(ToString::to_string));
    }
    labels
}

#[test]
fn every_picture_names_every_node_interface_and_address() {
    for Shipped { path, scenario, svg, .. } in shipped() {
        let texts: BTreeSet<&str> = svg
            .lines()
            .filter_map(|l| l.strip_suffix("</text>").and_then(|l| l.rsplit_once('>')).map(|(_, text)| text))
            .collect();
        let missing: Vec<String> = labels(&scenario).into_iter().filter(|l| !texts.contains(l.as_str())).collect();
        assert!(missing.is_empty(), "{}: the picture lacks {missing:?}", path.display());
    }
}

#[test]
fn pictures_render_with_rsvg_convert() {
    let probe = Command::new("rsvg-convert").arg("--version").output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: rsvg-convert is not installed (Debian: apt-get install librsvg2-bin)");
        return;
    }
    let out_dir = std::env::temp_dir().join(format!("netrig-pictures-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    for Shipped { path, svg, .. } in shipped() {
        let svg_path = out_dir.join(path.file_name().unwrap()).with_extension("svg");
        let png_path = svg_path.with_extension("png");
        std::fs::write(&svg_path, &svg).unwrap();
        let run = Command::new("rsvg-convert").arg(&svg_path).arg("-o").arg(&png_path).output().unwrap();
        assert!(run.status.success(), "rsvg-convert {}: {}", svg_path.display(), String::from_utf8_lossy(&run.stderr));
        // The PNG has the SVG's size: the IHDR chunk holds width and height at 16..24.
        let png = std::fs::read(&png_path).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 24, "{} is not a PNG", png_path.display());
        let size = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
        let declared = format!(r#"width="{}" height="{}""#, size(16), size(20));
        assert!(svg.lines().next().unwrap().contains(&declared), "{}: PNG is not {declared}", png_path.display());
    }
    std::fs::remove_dir_all(&out_dir).unwrap();
}
