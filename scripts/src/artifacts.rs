//! Building the bootable images: the kernel (plus its elf32 copy that
//! QEMU's multiboot loader accepts) and the rootserver.

use crate::setup::TARGET;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Images {
    /// The ELF64 kernel, for gdb.
    pub kernel: PathBuf,
    /// `objcopy -O elf32-i386` of it, for `-kernel` (as seL4's flow does).
    pub kernel32: PathBuf,
    pub rootserver: PathBuf,
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("scripts/ has a parent").to_path_buf()
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"))
}

/// Builds the kernel and rootserver in release mode for the bare-metal
/// target. `features` are kernel features.
pub fn build(features: &[&str]) -> Result<Images, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args(["build", "--release", "--target", TARGET, "-p", "kernel", "-p", "rootserver"]);
    if !features.is_empty() {
        cmd.arg("--features").arg(features.iter().map(|f| format!("kernel/{f}")).collect::<Vec<_>>().join(","));
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building the kernel and rootserver failed".into());
    }
    let out = target_dir().join(TARGET).join("release");
    let kernel = out.join("kernel");
    let kernel32 = out.join("kernel-x86_64-pc99");
    let status = Command::new("objcopy")
        .args(["-O", "elf32-i386"])
        .arg(&kernel)
        .arg(&kernel32)
        .status()
        .map_err(|e| format!("cannot run objcopy: {e}"))?;
    if !status.success() {
        return Err("objcopy -O elf32-i386 failed".into());
    }
    Ok(Images { kernel, kernel32, rootserver: out.join("rootserver") })
}

/// Where test logs and generated test inputs go.
pub fn scratch_dir() -> PathBuf {
    let dir = target_dir().join("xtask");
    let _ = std::fs::create_dir_all(&dir);
    dir
}
