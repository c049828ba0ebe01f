//! Every scenario under `tests/net/` is a test: `cargo test --test net`.
netrig::main!("tests/net");
