//! Building the bootable images: the kernel for a configuration (plus its
//! elf32 copy that QEMU's multiboot loader accepts) and the rootserver.

use crate::setup::TARGET;
use kernel_config::Config;
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
    /// Built with `KernelFastpath=OFF`: every IPC takes the slowpath.
    SlowpathOnly,
}

impl KernelVariant {
    /// The default configuration with this variant's `KernelFastpath`.
    pub fn config(self) -> Config {
        let mut config = Config::default();
        if self == KernelVariant::SlowpathOnly {
            config.set("KernelFastpath", "OFF").expect("KernelFastpath is an option");
        }
        config
    }
}

/// Builds a kernel variant (and, for the fastpath kernel, the rootserver)
/// in release mode for the bare-metal target.
pub fn build(variant: KernelVariant) -> Result<Images, String> {
    build_config(&variant.config(), variant == KernelVariant::Fastpath, None)
}

/// The `-C target-cpu` in `.cargo/config.toml` for the bare-metal target:
/// the default configuration's `KernelX86MicroArch`.
const DEFAULT_TARGET_CPU: &str = "nehalem";

/// Where a configuration is built: the default configuration in the
/// workspace's own target directory (so plain `cargo build` and the xtask
/// share it), every other one in a directory of its own under
/// `target/kernel-configs/`, named after its preset or fingerprint.
pub fn config_target_dir(config: &Config) -> Option<PathBuf> {
    if *config == Config::default() {
        return None;
    }
    let name = config.preset_name().unwrap_or("custom");
    Some(target_dir().join("kernel-configs").join(format!("{name}-{}", config.fingerprint())))
}

/// Builds the kernel for `config` (with the rootserver too if asked) in
/// release mode for the bare-metal target, and its elf32 copy. The build
/// goes to `target_dir`, or by default to [`config_target_dir`]'s choice.
/// A configuration is handed to the build as a file (`SEL4_RS_CONFIG`)
/// holding its canonical text; its `KernelX86MicroArch` becomes rustc's
/// target CPU.
pub fn build_config(config: &Config, with_rootserver: bool, target_dir_override: Option<&Path>) -> Result<Images, String> {
    let rootserver: &[&str] = if with_rootserver { &["-p", "rootserver"] } else { &[] };
    build_config_and(config, rootserver, target_dir_override)
}

/// Builds the kernel for `config` and the rootserver's quick suite
/// (`--features quick`) for the same configuration, in the configuration's
/// own target directory: for boots of a kernel whose configuration the
/// rootserver must know (its `sel4::config`), such as another root CNode
/// size.
pub fn build_config_with_quick_rootserver(config: &Config) -> Result<Images, String> {
    build_config_and(config, &["-p", "rootserver", "--features", "rootserver/quick"], None)
}

fn build_config_and(config: &Config, rootserver_args: &[&str], target_dir_override: Option<&Path>) -> Result<Images, String> {
    crate::setup::ensure_rust_target()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root()).args(["build", "--release", "--target", TARGET, "-p", "kernel"]);
    cmd.args(rootserver_args);
    let dir = target_dir_override.map(Path::to_path_buf).or_else(|| config_target_dir(config));
    match &dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let file = dir.join("kernel.config");
            let text = config.canonical_text();
            // Rewritten only when it changes, so that cargo's change check
            // sees the same file as before.
            if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
                std::fs::write(&file, &text).map_err(|e| format!("{}: {e}", file.display()))?;
            }
            cmd.arg("--target-dir").arg(dir).env(kernel_config::CONFIG_ENV, &file);
        }
        None => {
            cmd.env_remove(kernel_config::CONFIG_ENV);
        }
    }
    let cpu = config.rustc_target_cpu();
    if cpu != DEFAULT_TARGET_CPU {
        // Appended to the configured flags; rustc takes the last target CPU.
        cmd.arg("--config").arg(format!("target.{TARGET}.rustflags=[\"-C\", \"target-cpu={cpu}\"]"));
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building the kernel failed".into());
    }
    let out = dir.unwrap_or_else(target_dir).join(TARGET).join("release");
    let kernel = out.join("kernel");
    let kernel32 = out.join("kernel-x86_64-pc99");
    let status =
        Command::new("objcopy").args(["-O", "elf32-i386"]).arg(&kernel).arg(&kernel32).status().map_err(|e| format!("cannot run objcopy: {e}"))?;
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

/// Builds the differential fuzzer's rootserver (`--features difffuzz`)
/// for a seed, a number of calls and optionally a window of steps to
/// print in full (its build-time parameters), and keeps it as
/// `rootserver-difffuzz-...` beside the default one. Build it before the
/// default rootserver, which the same output file otherwise replaces.
pub fn build_difffuzz_rootserver(seed: u64, calls: u64, window: Option<(u64, u64)>) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args(["build", "--release", "--target", TARGET, "-p", "rootserver", "--features", "difffuzz"])
        .env_remove(kernel_config::CONFIG_ENV)
        .env("DIFFFUZZ_SEED", seed.to_string())
        .env("DIFFFUZZ_CALLS", calls.to_string());
    let mut name = format!("rootserver-difffuzz-s{seed}-c{calls}");
    match window {
        Some((a, b)) => {
            cmd.env("DIFFFUZZ_WINDOW", format!("{a}-{b}"));
            name.push_str(&format!("-w{a}-{b}"));
        }
        None => {
            cmd.env_remove("DIFFFUZZ_WINDOW");
        }
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building the difffuzz rootserver failed".into());
    }
    let out = target_dir().join(TARGET).join("release");
    let variant = out.join(name);
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
    let status =
        Command::new("objcopy").args(["-O", "elf32-i386"]).arg(&image).arg(&image32).status().map_err(|e| format!("cannot run objcopy: {e}"))?;
    if !status.success() {
        return Err("objcopy -O elf32-i386 of the UINTR conformance image failed".into());
    }
    Ok(image32)
}
