//! QEMU command lines (seL4's simulate line plus the debug-exit device)
//! and running a boot with a time limit.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The CPU of seL4's simulate line for x86_64.
pub const SEL4_CPU: &str = "Nehalem,-vme,+pdpe1gb,-xsave,-xsaveopt,-xsavec,-fsgsbase,-invpcid,+syscall,+lm,enforce";

/// Status QEMU exits with when the kernel writes to isa-debug-exit:
/// DebugHalt (0x10) and failure (0x11), shifted left and or-ed with 1.
pub const EXIT_HALTED: i32 = 0x10 << 1 | 1;
pub const EXIT_FAILED: i32 = 0x11 << 1 | 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    Tcg,
    Kvm,
}

impl std::fmt::Display for Accel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Accel::Tcg => "TCG",
            Accel::Kvm => "KVM",
        })
    }
}

/// Whether this host's KVM can run the kernel: /dev/kvm must open, the
/// CPU must have VT-x or AMD-V, and KVM must not be PVM (a software
/// nested hypervisor that delivers a guest's SYSCALL in user mode).
pub fn kvm_usable() -> Result<(), String> {
    if std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_err() {
        return Err("/dev/kvm is missing or not accessible".into());
    }
    if Path::new("/sys/module/kvm_pvm").exists() {
        return Err("/dev/kvm is PVM (kvm_pvm), which cannot run a kernel's SYSCALL path or 1 GiB pages".into());
    }
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = cpuinfo.lines().find(|l| l.starts_with("flags")).unwrap_or("");
    if !flags.split_whitespace().any(|f| f == "vmx" || f == "svm") {
        return Err("the CPU reports neither VT-x (vmx) nor AMD-V (svm)".into());
    }
    Ok(())
}

/// The QEMU binary a boot uses unless told otherwise.
pub const DEFAULT_QEMU: &str = "qemu-system-x86_64";

/// One QEMU boot.
#[derive(Clone, Debug)]
pub struct Boot {
    /// The QEMU binary (default `qemu-system-x86_64` from PATH; the UINTR
    /// suites use a patched one).
    pub qemu: PathBuf,
    /// The `-cpu` model under TCG (default: seL4's, `SEL4_CPU`).
    pub cpu: Option<String>,
    pub kernel32: PathBuf,
    pub initrd: Option<PathBuf>,
    pub cmdline: Option<String>,
    pub accel: Accel,
    pub gdb: bool,
    /// Extra serial ports after COM1 (files), e.g. COM2.
    pub extra_serial: Vec<PathBuf>,
    pub extra_args: Vec<String>,
    /// Adds QEMU's isa-debug-exit device so the kernel can end the run.
    pub debug_exit: bool,
    /// Boot a bootloader ISO instead of QEMU's own multiboot loader.
    pub boot_from_cdrom: Option<PathBuf>,
    /// A socket for a second QEMU monitor: when the time limit stops the
    /// boot, the CPU's registers and local APIC go into the log first, so
    /// that a hang can be told from slowness and placed.
    pub monitor: Option<PathBuf>,
    /// Guest RAM (`-m size=`); seL4's line has 3G.
    pub memory: String,
    /// Boot from the network card instead of QEMU's multiboot loader
    /// (the NIC and firmware then come from `extra_args`).
    pub network_boot: bool,
    /// Run QEMU inside this network namespace (`ip netns exec`), where
    /// its tap device is.
    pub netns: Option<String>,
}

impl Boot {
    pub fn new(kernel32: &Path, initrd: Option<&Path>) -> Self {
        Boot {
            qemu: PathBuf::from(DEFAULT_QEMU),
            cpu: None,
            kernel32: kernel32.to_path_buf(),
            initrd: initrd.map(Path::to_path_buf),
            cmdline: None,
            accel: Accel::Tcg,
            gdb: false,
            extra_serial: Vec::new(),
            extra_args: Vec::new(),
            debug_exit: true,
            boot_from_cdrom: None,
            monitor: None,
            memory: "3G".into(),
            network_boot: false,
            netns: None,
        }
    }

    pub fn command(&self) -> Command {
        let mut c = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&self.qemu);
                c
            }
            None => Command::new(&self.qemu),
        };
        match self.accel {
            Accel::Tcg => c.args(["-cpu", self.cpu.as_deref().unwrap_or(SEL4_CPU)]),
            Accel::Kvm => c.args(["-accel", "kvm", "-cpu", "host,-arch-capabilities"]),
        };
        c.args(["-nographic", "-serial", "mon:stdio"]);
        for s in &self.extra_serial {
            c.arg("-serial").arg(format!("file:{}", s.display()));
        }
        c.arg("-m").arg(format!("size={}", self.memory));
        if self.debug_exit {
            c.args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
        }
        if let Some(iso) = &self.boot_from_cdrom {
            c.arg("-cdrom").arg(iso);
        } else if !self.network_boot {
            c.arg("-kernel").arg(&self.kernel32);
            if let Some(initrd) = &self.initrd {
                c.arg("-initrd").arg(initrd);
            }
            if let Some(cmdline) = &self.cmdline {
                c.arg("-append").arg(cmdline);
            }
        }
        if self.gdb {
            c.args(["-s", "-S"]);
        }
        if let Some(socket) = &self.monitor {
            c.arg("-monitor").arg(format!("unix:{},server,nowait", socket.display()));
        }
        c.args(&self.extra_args);
        c
    }
}

/// What a boot printed and how it ended.
pub struct Outcome {
    pub console: String,
    /// None when the time limit ran out and QEMU was killed.
    pub status: Option<i32>,
}

/// How long one boot took, against its limit (the test summary lists
/// every boot, so a slow machine shows before a limit is reached).
#[derive(Clone, Debug)]
pub struct BootTime {
    pub name: String,
    pub elapsed: Duration,
    pub limit: Duration,
    /// Stopped by its time limit.
    pub timed_out: bool,
}

static BOOT_TIMES: std::sync::Mutex<Vec<BootTime>> = std::sync::Mutex::new(Vec::new());

/// Every boot run so far in this process, in order.
pub fn boot_times() -> Vec<BootTime> {
    BOOT_TIMES.lock().map(|t| t.clone()).unwrap_or_default()
}

/// Runs `boot` headless with output to `log`, killing it after `limit`.
pub fn run_captured(boot: &Boot, log: &Path, limit: Duration) -> Result<Outcome, String> {
    run_watching(boot, log, limit, None).map(|(outcome, _)| outcome)
}

/// Runs `boot` until `needle` appears in its output (then stops QEMU and
/// returns true), QEMU exits, or `limit` passes.
pub fn run_until(boot: &Boot, log: &Path, needle: &str, limit: Duration) -> Result<bool, String> {
    run_watching(boot, log, limit, Some(needle)).map(|(_, found)| found)
}

fn read_log(log: &Path) -> Result<String, String> {
    let mut bytes = Vec::new();
    File::open(log).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| format!("{}: {e}", log.display()))?;
    Ok(String::from_utf8_lossy(&bytes).replace('\r', ""))
}

/// Whether what was appended to `log` since `seen` (its length at the last
/// look), with the end of what came before in `tail`, contains `needle`
/// (`\r` dropped, as `read_log` drops it). Reads only the new bytes: a
/// debug kernel's console grows to 100 MB (a userError line per refused
/// call), which re-reading every 50 ms would make quadratic.
fn appended_contains(log: &Path, seen: &mut u64, tail: &mut Vec<u8>, needle: &str) -> Result<bool, String> {
    let mut f = File::open(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut new = Vec::new();
    f.seek(SeekFrom::Start(*seen)).and_then(|_| f.read_to_end(&mut new)).map_err(|e| format!("{}: {e}", log.display()))?;
    *seen += new.len() as u64;
    tail.extend(new.into_iter().filter(|&b| b != b'\r'));
    let found = tail.windows(needle.len()).any(|w| w == needle.as_bytes());
    let keep = needle.len().saturating_sub(1);
    if tail.len() > keep {
        tail.drain(..tail.len() - keep);
    }
    Ok(found)
}

/// Asks the monitor at `socket` for the CPU's registers and local APIC and
/// appends its answers to `log` (best effort: a boot that is being given
/// up on gets no second chance to fail).
fn append_state(socket: &Path, log: &Path) {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    let Ok(mut monitor) = UnixStream::connect(socket) else { return };
    let _ = monitor.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = monitor.write_all(b"info registers\ninfo lapic\n");
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = monitor.read(&mut chunk) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..n]);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(log) {
        let _ = writeln!(f, "\n== QEMU state when the time limit ran out ==\n{}", String::from_utf8_lossy(&answer));
    }
}

fn run_watching(boot: &Boot, log: &Path, limit: Duration, needle: Option<&str>) -> Result<(Outcome, bool), String> {
    let file = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut child =
        boot.command().stdin(Stdio::null()).stdout(file).stderr(err).spawn().map_err(|e| format!("cannot start {}: {e}", boot.qemu.display()))?;
    let mut found = false;
    let (mut seen, mut tail) = (0, Vec::new());
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s.code();
        }
        if let Some(needle) = needle {
            found |= appended_contains(log, &mut seen, &mut tail, needle)?;
        }
        if found || start.elapsed() > limit {
            if let (false, Some(socket)) = (found, &boot.monitor) {
                append_state(socket, log);
            }
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let console = read_log(log)?;
    if let Some(needle) = needle {
        found |= console.contains(needle);
    }
    let name = log.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if let Ok(mut times) = BOOT_TIMES.lock() {
        times.push(BootTime { name, elapsed: start.elapsed(), limit, timed_out: status.is_none() && !found });
    }
    Ok((Outcome { console, status }, found))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_needle_split_across_two_looks_is_found() {
        let log = std::env::temp_dir().join(format!("appended-contains-{}.log", std::process::id()));
        let (mut seen, mut tail) = (0, Vec::new());
        std::fs::write(&log, "test a ... ok\r\n3 passed, 0 fa").unwrap();
        assert!(!appended_contains(&log, &mut seen, &mut tail, " failed\n").unwrap());
        File::options().append(true).open(&log).unwrap().write_all(b"iled\r\n").unwrap();
        assert!(appended_contains(&log, &mut seen, &mut tail, " failed\n").unwrap());
        assert!(!appended_contains(&log, &mut seen, &mut tail, "ok\n").unwrap(), "only what is new is searched");
        let _ = std::fs::remove_file(&log);
    }
}
