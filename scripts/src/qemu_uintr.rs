//! Finding the QEMU with the UINTR patches: `QEMU_UINTR=/path/to/qemu-
//! system-x86_64` if set, otherwise whatever `scripts/qemu-uintr/build.sh`
//! builds (or finds in its cache) and prints as the last line of its
//! standard output.

use crate::artifacts::workspace_root;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Overrides the build script (for development, or a QEMU built elsewhere).
pub const QEMU_UINTR_VAR: &str = "QEMU_UINTR";

/// The build script, relative to the workspace root.
pub const BUILD_SCRIPT: &str = "scripts/qemu-uintr/build.sh";

/// The patched QEMU's binary, or why there is none (a message that says
/// how to get one).
pub fn patched_qemu() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(QEMU_UINTR_VAR) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            eprintln!("xtask: patched QEMU from {QEMU_UINTR_VAR}: {}", path.display());
            Ok(path)
        } else {
            Err(format!("{QEMU_UINTR_VAR}={} is not a file", path.display()))
        };
    }
    let script = workspace_root().join(BUILD_SCRIPT);
    if !script.is_file() {
        return Err(format!(
            "{BUILD_SCRIPT} is missing, so the QEMU with UINTR cannot be built: restore scripts/qemu-uintr/ \
             (its build script builds and caches it), or set {QEMU_UINTR_VAR}=/path/to/qemu-system-x86_64 \
             built with the UINTR patches"
        ));
    }
    eprintln!("xtask: getting the patched QEMU from {BUILD_SCRIPT} (the first build takes several minutes)");
    let output = Command::new("bash")
        .arg(&script)
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {BUILD_SCRIPT}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    // Everything but the last line is the script's progress output.
    for l in lines.iter().take(lines.len().saturating_sub(1)) {
        eprintln!("{BUILD_SCRIPT}: {l}");
    }
    if !output.status.success() {
        return Err(format!("{BUILD_SCRIPT} failed ({}); see its output above", output.status));
    }
    let Some(last) = lines.last() else {
        return Err(format!("{BUILD_SCRIPT} printed nothing (its last line should be the QEMU binary's path)"));
    };
    let path = PathBuf::from(last);
    if !path.is_absolute() || !path.is_file() {
        return Err(format!("{BUILD_SCRIPT}'s last line {last:?} is not the absolute path of a file"));
    }
    Ok(path)
}
