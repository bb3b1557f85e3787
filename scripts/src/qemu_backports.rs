//! A newer QEMU for the tests QEMU 7.2 cannot run: Debian's
//! bookworm-backports packages of QEMU 10 (whose TCG emulates x2APIC),
//! unpacked with `dpkg -x` into a cache beside the UINTR QEMU, so the
//! system's qemu-system-x86 (7.2, the reference for every other test)
//! stays as it is. apt runs with a private configuration (its own source
//! list, package lists and download cache under the cache directory): the
//! machine's apt setup is not touched. The libraries QEMU 10 links are
//! those bookworm's QEMU 7.2 already brought in.
//!
//! `QEMU_X2APIC=/path/to/qemu-system-x86_64` overrides it (its firmware
//! directories are then the ones it was built with).

use kernel_tests::firmware::NewerQemu;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const QEMU_X2APIC_VAR: &str = "QEMU_X2APIC";

/// The packages unpacked: the emulator, its firmware files and SeaBIOS
/// (QEMU 10's ACPI tables need the SeaBIOS of its own release).
const PACKAGES: [&str; 4] = ["qemu-system-x86", "qemu-system-common", "qemu-system-data", "seabios"];
const SUITE: &str = "bookworm-backports";

fn cache_dir() -> PathBuf {
    let base = std::env::var_os("QEMU_UINTR_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/sel4-rs")))
        .unwrap_or_else(|| crate::artifacts::target_dir().join("cache"));
    base.join("qemu-backports")
}

/// apt-get with the private configuration in `dir`, run in `cwd`.
fn apt(dir: &Path, cwd: &Path, args: &[&str]) -> Result<(), String> {
    let opts = [
        format!("Dir::Etc::SourceList={}", dir.join("sources.list").display()),
        "Dir::Etc::SourceParts=/dev/null".to_string(),
        format!("Dir::State::Lists={}", dir.join("lists").display()),
        format!("Dir::Cache={}", dir.join("apt-cache").display()),
    ];
    let mut c = Command::new("apt-get");
    for o in &opts {
        c.arg("-o").arg(o);
    }
    let out = c.args(["-q"]).args(args).current_dir(cwd).stdin(Stdio::null()).output().map_err(|e| format!("cannot run apt-get: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("apt-get {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// The Debian archive this machine's apt already uses for bookworm (from
/// its deb822 `.sources` files or its one-line `sources.list`).
fn debian_mirror() -> Result<String, String> {
    let mut texts = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        for e in dir.flatten() {
            if e.path().extension().is_some_and(|x| x == "sources") {
                texts.push(std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    for stanza in texts.iter().flat_map(|t| t.split("\n\n")) {
        let field = |name: &str| stanza.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
        let suites = field("Suites:").unwrap_or("");
        if suites.split_whitespace().any(|s| s == "bookworm") {
            if let Some(uri) = field("URIs:").and_then(|u| u.split_whitespace().next()) {
                return Ok(uri.to_string());
            }
        }
    }
    let list = std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    for line in list.lines() {
        let words: Vec<&str> = line.split_whitespace().filter(|w| !w.starts_with('[')).collect();
        if words.len() >= 3 && words[0] == "deb" && words[2] == "bookworm" {
            return Ok(words[1].to_string());
        }
    }
    Err("no Debian bookworm archive in this machine's apt sources, so bookworm-backports' QEMU cannot be fetched".into())
}

/// The newer QEMU and its firmware directory, or why there is none.
pub fn newer_qemu() -> Result<NewerQemu, String> {
    if let Some(path) = std::env::var_os(QEMU_X2APIC_VAR) {
        let binary = PathBuf::from(path);
        return if binary.is_file() {
            Ok(NewerQemu { binary, firmware_dirs: Vec::new() })
        } else {
            Err(format!("{QEMU_X2APIC_VAR}={} is not a file", binary.display()))
        };
    }
    let dir = cache_dir();
    let root = dir.join("root");
    let binary = root.join("usr/bin/qemu-system-x86_64");
    // Its own release's firmware first: QEMU's files and SeaBIOS.
    let firmware_dirs = vec![root.join("usr/share/qemu"), root.join("usr/share/seabios")];
    if binary.is_file() && firmware_dirs[1].join("bios-256k.bin").is_file() {
        return Ok(NewerQemu { binary, firmware_dirs });
    }
    eprintln!("xtask: unpacking QEMU from Debian {SUITE} into {} (once)", dir.display());
    for sub in ["lists/partial", "apt-cache/archives/partial", "debs"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mirror = debian_mirror()?;
    std::fs::write(dir.join("sources.list"), format!("deb {mirror} {SUITE} main\n")).map_err(|e| format!("{}: {e}", dir.display()))?;
    apt(&dir, &dir, &["update"])?;
    let debs = dir.join("debs");
    let wanted: Vec<String> = PACKAGES.iter().map(|p| format!("{p}/{SUITE}")).collect();
    let mut args = vec!["download"];
    args.extend(wanted.iter().map(String::as_str));
    apt(&dir, &debs, &args)?;
    let _ = std::fs::remove_dir_all(&root);
    for entry in std::fs::read_dir(&debs).map_err(|e| format!("{}: {e}", debs.display()))? {
        let deb = entry.map_err(|e| e.to_string())?.path();
        if deb.extension().is_some_and(|e| e == "deb") {
            let ok = Command::new("dpkg").arg("-x").arg(&deb).arg(&root).status().map(|s| s.success()).unwrap_or(false);
            if !ok {
                return Err(format!("dpkg -x {} failed", deb.display()));
            }
        }
    }
    if !binary.is_file() {
        return Err(format!("no {} after unpacking {SUITE}'s QEMU", binary.display()));
    }
    Ok(NewerQemu { binary, firmware_dirs })
}
