//! Every scenario under `scenarios/` as a test (`cargo test`, `cargo nextest run`).
//! netrig's own project is the workspace, one level above this crate: a user's crate
//! writes `netrig::main!("tests/net");` instead.
fn main() -> std::process::ExitCode {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace holds the crate");
    netrig::Suite::new(workspace, "scenarios").main()
}
