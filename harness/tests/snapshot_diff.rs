//! A change in what the kernel shows is a snapshot diff: changing an address in a
//! shipped scenario makes its test fail against the committed report.

use std::path::Path;

use netrig::parse::load::parse_and_validate;
use netrig::parse::matrix::Variant;
use netrig::run::layout::Layout;
use netrig::run::runner::{check_snapshot, discover};
use netrig::run::{Outcome, RunOptions, run};

#[test]
fn changing_an_address_fails_against_the_committed_snapshot() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    // Compare only, never write `.snap.new` files. This binary holds this one test,
    // so no other thread reads the environment meanwhile.
    unsafe { std::env::set_var("INSTA_UPDATE", "no") };

    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let layout = Layout::for_project(workspace);
    let mut test = discover(&workspace.join("scenarios"), &layout)
        .unwrap()
        .into_iter()
        .find(|d| d.name == "seeds::veth_pair")
        .unwrap();
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("snapshot-diff");
    let options = RunOptions { artifacts: netrig::run::artifacts::ArtifactDir::at(artifacts), keep_pcaps: false };
    let played = |test: &netrig::run::runner::Discovered| {
        let scenario = test.load().unwrap_or_else(|d| panic!("{d}"));
        match run(&scenario, &test.path, &options) {
            Outcome::Passed(report) => report,
            other => panic!("{other:?}"),
        }
    };

    // As shipped, the report matches its snapshot ...
    check_snapshot(&test, &played(&test)).expect("the shipped scenario matches its snapshot");

    // ... and with one address changed it does not.
    let mut source = test.variant.as_ref().unwrap().source().unwrap();
    source.text = source.text.replace("10.120.0.12", "10.120.0.13");
    parse_and_validate(&source).expect("still a valid scenario");
    test.variant = Ok(Variant::whole(source));
    let error = check_snapshot(&test, &played(&test)).expect_err("a changed address must show in the report");
    let message = error.message().unwrap_or_default().to_string();
    assert!(message.contains("veth-pair.snap") && message.contains("cargo insta review"), "{message}");
}
