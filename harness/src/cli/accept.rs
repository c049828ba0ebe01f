//! `netrig accept`: pending snapshots (`*.snap.new`, written by `netrig run` or `cargo
//! test` outside CI when a report changed) replace the committed ones.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{plural, usage_error};

pub fn accept(snapshots: &Path) -> ExitCode {
    if !snapshots.is_dir() {
        return usage_error(&format!("{}: no such snapshot directory", snapshots.display()));
    }
    let mut pending = Vec::new();
    if let Err(e) = pending_under(snapshots, &mut pending) {
        return usage_error(&format!("cannot read {}: {e}", snapshots.display()));
    }
    pending.sort();
    for new in &pending {
        let accepted = new.with_extension("");
        if let Err(e) = std::fs::rename(new, &accepted) {
            return usage_error(&format!("cannot move {} to {}: {e}", new.display(), accepted.display()));
        }
        println!("accepted {}", accepted.display());
    }
    println!("{} accepted", plural(pending.len(), "snapshot"));
    ExitCode::SUCCESS
}

/// Every `*.snap.new` under `dir`; links are not followed.
fn pending_under(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let (path, kind) = (entry.path(), entry.file_type()?);
        if kind.is_dir() {
            pending_under(&path, out)?;
        } else if kind.is_file() && path.to_string_lossy().ends_with(".snap.new") {
            out.push(path);
        }
    }
    Ok(())
}
