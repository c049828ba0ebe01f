//! Every scenario under `scenarios/` as a test (`cargo test`, `cargo nextest run`).
fn main() -> std::process::ExitCode {
    netrig::runner::cargo_test_main()
}
