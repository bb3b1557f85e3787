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

/// Which IPC paths a kernel is built with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KernelVariant {
    /// The default: seL4's fastpath for Call and ReplyRecv.
    Fastpath,
    /// Built without the `fastpath` feature: every IPC takes the slowpath.
    SlowpathOnly,
}

impl KernelVariant {
    /// The ELF64 file name under `target/<target>/release`.
    fn file_name(self) -> &'static str {
        match self {
            KernelVariant::Fastpath => "kernel",
            KernelVariant::SlowpathOnly => "kernel-slowpath",
        }
    }
}

/// Builds a kernel variant and the rootserver in release mode for the
/// bare-metal target. The slowpath-only kernel is kept under its own name,
/// so both variants can be booted in one run.
pub fn build(variant: KernelVariant) -> Result<Images, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root()).args(["build", "--release", "--target", TARGET, "-p", "kernel"]);
    match variant {
        KernelVariant::Fastpath => cmd.args(["-p", "rootserver"]),
        KernelVariant::SlowpathOnly => cmd.arg("--no-default-features"),
    };
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the kernel ({variant:?}) failed"));
    }
    let out = target_dir().join(TARGET).join("release");
    let kernel = out.join(variant.file_name());
    if variant == KernelVariant::SlowpathOnly {
        std::fs::copy(out.join("kernel"), &kernel).map_err(|e| format!("cannot copy the kernel: {e}"))?;
    }
    let kernel32 = out.join(format!("{}-x86_64-pc99", variant.file_name()));
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

/// Builds the rootserver with `feature` and keeps it as
/// `rootserver-<feature>` beside the default one (which the next default
/// build overwrites).
pub fn build_rootserver_variant(feature: &str) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace_root())
        .args(["build", "--release", "--target", TARGET, "-p", "rootserver", "--features", feature])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the rootserver with `{feature}` failed"));
    }
    let out = target_dir().join(TARGET).join("release");
    let variant = out.join(format!("rootserver-{feature}"));
    std::fs::copy(out.join("rootserver"), &variant).map_err(|e| format!("cannot copy the rootserver: {e}"))?;
    Ok(variant)
}

/// Where test logs and generated test inputs go.
pub fn scratch_dir() -> PathBuf {
    let dir = target_dir().join("xtask");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Builds the UINTR conformance image (`tests/uintr-conformance`) in
/// release mode for the bare-metal target; returns its elf32 copy (for
/// `-kernel`; the ELF64 next to it is for gdb).
pub fn build_uintr_conformance() -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace_root())
        .args(["build", "--release", "--target", TARGET, "-p", "uintr-conformance"])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building the UINTR conformance image failed".into());
    }
    let out = target_dir().join(TARGET).join("release");
    let image = out.join("uintr-conformance");
    let image32 = out.join("uintr-conformance-x86_64-pc99");
    let status = Command::new("objcopy")
        .args(["-O", "elf32-i386"])
        .arg(&image)
        .arg(&image32)
        .status()
        .map_err(|e| format!("cannot run objcopy: {e}"))?;
    if !status.success() {
        return Err("objcopy -O elf32-i386 of the UINTR conformance image failed".into());
    }
    Ok(image32)
}
