//! Builds the drop tracer's BPF program (`bpf/drops.bpf.c`) with clang, when there is
//! one. netrig must build and run without it (a `cargo install` on a machine with no
//! clang): then the object is left empty and `drops.why` says why, which the report
//! shows once instead of drop reasons (see `observe/drops.rs`).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let object = out.join("drops.bpf.o");
    println!("cargo:rerun-if-changed=bpf");
    println!("cargo:rerun-if-env-changed=NETRIG_CLANG");
    let clang = std::env::var("NETRIG_CLANG").unwrap_or_else(|_| "clang".into());
    let built = Command::new(&clang)
        .args(["-target", "bpf", "-g", "-O2", "-Wall", "-c", "bpf/drops.bpf.c", "-o"])
        .arg(&object)
        .output();
    let why = match built {
        Ok(o) if o.status.success() => String::new(),
        Ok(o) => format!(
            "netrig was built without its drop tracer ({clang} could not compile it: {})",
            String::from_utf8_lossy(&o.stderr).lines().next().unwrap_or("no message")
        ),
        Err(e) => format!("netrig was built without its drop tracer ({clang}: {e}; install clang and rebuild)"),
    };
    if !why.is_empty() {
        println!("cargo:warning={why}");
        std::fs::write(&object, b"").expect("OUT_DIR is writable");
    }
    std::fs::write(out.join("drops.why"), why).expect("OUT_DIR is writable");
}
