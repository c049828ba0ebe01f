//! `netrig clean`: remove the names a killed `netrig shell` or `run --keep` left in
//! `/run/netns` (their bind mounts keep the namespaces alive until then).

use std::path::Path;
use std::process::ExitCode;

use super::{plural, usage_error};
use crate::build::pin::{self, Selection};

pub fn clean(selection: Selection) -> ExitCode {
    if !nix::unistd::geteuid().is_root() {
        return usage_error("needs root to unmount names in /run/netns");
    }
    let removed = match pin::clean(Path::new(pin::RUN_DIR), selection, pin::is_netrig) {
        Ok(removed) => removed,
        Err(e) => return usage_error(&e.to_string()),
    };
    let mut failed = 0;
    for (name, result) in &removed {
        match result {
            Ok(()) => println!("removed {name}"),
            Err(e) => {
                failed += 1;
                eprintln!("netrig: could not remove {name}: {e}");
            }
        }
    }
    println!("{} removed", plural(removed.len() - failed, "pinned namespace"));
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        usage_error(&format!("{} could not be removed", plural(failed, "name")))
    }
}
