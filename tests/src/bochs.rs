//! Optional runs on Bochs, a model of the hardware written independently
//! of the QEMU this project patches, so that a misreading of Intel's rules
//! shared by our QEMU patches and the kernel shows up. Bochs is not
//! installed by the project (CI cannot get it): these run only when
//! `BOCHS` names a Bochs binary built with `--enable-uintr` (and x86-64,
//! SMP), installed with its BIOS images (`make install`; or `BXSHARE`
//! naming the directory holding `BIOS-bochs-latest` and
//! `VGABIOS-lgpl-latest.bin`), and are reported as skipped otherwise.
//!
//! Bochs has no `-kernel` loader and no isa-debug-exit device: both
//! images boot from a GRUB ISO (as in the multiboot 2 test), and a run
//! ends when the console shows its last line or a time limit passes.
//!
//! - `bochs::NAME`: the rootserver suite on `cpu: model=sapphire_rapids`,
//!   where the kernel takes the UINTR hardware path;
//! - `bochs-uintr::NAME`: the conformance image in its `architectural`
//!   mode on two Sapphire Rapids CPUs (what another model is held to),
//!   with the rules Bochs is known to break left out and named;
//! - `bochs-uintr-absent::NAME`: the image's `absent strict` mode on a
//!   model without UINTR (`tigerlake`).

use crate::suites::{closing_line, grub_iso, result, rootserver_results, skipped, TestResult};
use crate::Images;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable naming the Bochs binary.
pub const BOCHS_ENV: &str = "BOCHS";

/// The suite takes 2-4 minutes of Bochs on a loaded 2-core machine; the
/// conformance image seconds.
const SUITE_LIMIT: Duration = Duration::from_secs(1800);
const IMAGE_LIMIT: Duration = Duration::from_secs(300);

/// Rules of the conformance image that this Bochs breaks, with why. They
/// are left out on Bochs (`skip=`) and reported as skipped.
pub const KNOWN_BOCHS_DEVIATIONS: &[(&str, &str)] = &[(
    "no_delivery_with_cr4_uintr_clear",
    "Bochs bug: clearing CR4.UINTR does not withdraw a user interrupt already recognised as pending (its CR4 write does not re-evaluate UIRR), so it is delivered with CR4.UINTR = 0",
)];

const SUITE: &str = "bochs::rootserver_suite_hardware_path";
const CONFORMANCE: &str = "bochs::uintr_conformance_architectural";
const ABSENT: &str = "bochs::uintr_absent_strict";

/// The Bochs runs, or three skipped results without `BOCHS`.
pub fn on_bochs(images: &Images, results: &mut Vec<TestResult>) -> Result<(), String> {
    let Some(bochs) = std::env::var_os(BOCHS_ENV).map(PathBuf::from) else {
        let why = "BOCHS is not set (the path of a Bochs built with --enable-uintr; see the README)";
        results.extend([SUITE, CONFORMANCE, ABSENT].map(|name| skipped(name, why)));
        return Ok(());
    };
    let dir = images.scratch.join("bochs");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // A run that cannot start is that run's failure, not the whole test's.
    if let Err(why) = suite(&bochs, &dir, images, results) {
        results.push(result(SUITE, vec![why]));
    }
    if let Err(why) = conformance(&bochs, &dir, &images.uintr.image32, results) {
        results.push(result(CONFORMANCE, vec![why]));
    }
    if let Err(why) = absent(&bochs, &dir, &images.uintr.image32, results) {
        results.push(result(ABSENT, vec![why]));
    }
    Ok(())
}

fn suite(bochs: &Path, dir: &Path, images: &Images, results: &mut Vec<TestResult>) -> Result<(), String> {
    let cfg = "set timeout=0\nserial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\n\
               menuentry \"seL4-rs\" {\n  multiboot2 /boot/kernel console_port=0x3f8\n  \
               module2 /boot/rootserver rootserver\n  boot\n}\n";
    let iso = dir.join("suite.iso");
    grub_iso(&dir.join("suite-iso"), &iso, cfg, &[(&images.kernel, "kernel"), (&images.rootserver, "rootserver")])?;
    let run = Run { name: "suite", model: "sapphire_rapids", cpus: 1, megs: 3072, limit: SUITE_LIMIT };
    let (console, ended) = run.boot(bochs, dir, &iso, &|c| c.contains("halting"))?;
    let mut problems = Vec::new();
    if !ended {
        problems.push(format!("no `halting` line within {} s (console in {})", SUITE_LIMIT.as_secs(), dir.display()));
    }
    for needle in [
        "seL4-rs: booting (x86_64, pc99; multiboot 2)",
        "the CPU has UINTR, enabled (hardware path)",
        "halting: DebugHalt called by \"rootserver-under-test\"",
    ] {
        if !console.contains(needle) {
            problems.push(format!("console lacks {needle:?}"));
        }
    }
    let (tests, closing) = rootserver_results(&console);
    let failed = tests.iter().filter(|t| !t.passed).count() as u32;
    if closing != Some((tests.len() as u32 - failed, failed)) {
        problems.push(format!("closing line {closing:?} does not match the {} test lines", tests.len()));
    }
    if tests.iter().filter(|t| t.name.starts_with("rootserver::uintr_")).count() < 9 {
        problems.push("fewer than the rootserver's 9 user-interrupt tests ran".into());
    }
    results.extend(tests.into_iter().map(|t| TestResult { name: format!("bochs::{}", t.name), ..t }));
    results.push(result(SUITE, problems));
    Ok(())
}

fn image_iso(dir: &Path, image32: &Path, name: &str, append: &str) -> Result<PathBuf, String> {
    let cfg = format!(
        "set timeout=0\nserial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\n\
         menuentry \"uintr-conformance\" {{\n  multiboot /boot/conformance {append}\n  boot\n}}\n"
    );
    let iso = dir.join(format!("{name}.iso"));
    grub_iso(&dir.join(format!("{name}-iso")), &iso, &cfg, &[(image32, "conformance")])?;
    Ok(iso)
}

/// A boot of the conformance image: its results under `prefix`, plus the
/// boot's problems and its console; `left_out` are reported as skipped
/// with their reason.
fn image_boot(
    bochs: &Path,
    dir: &Path,
    run: Run,
    iso: &Path,
    prefix: &str,
    left_out: &[(&str, &str)],
    results: &mut Vec<TestResult>,
) -> Result<(Vec<String>, String), String> {
    let (console, ended) = run.boot(bochs, dir, iso, &|c| c.lines().any(|l| closing_line(l.trim()).is_some()))?;
    let mut problems = Vec::new();
    if !ended {
        problems.push(format!("no closing line within {} s (console in {})", run.limit.as_secs(), dir.display()));
    }
    let (lines, closing) = crate::uintr::parse(&console);
    let failed = lines.iter().filter(|l| !l.passed).count() as u32;
    if closing != Some((lines.len() as u32 - failed, failed)) {
        problems.push(format!("closing line {closing:?} does not match the {} test lines", lines.len()));
    }
    if lines.is_empty() {
        problems.push("the image ran no tests".into());
    }
    results.extend(lines.into_iter().map(|l| TestResult { name: format!("{prefix}{}", l.name), passed: l.passed, skipped: false, detail: l.detail }));
    for (name, why) in left_out {
        results.push(skipped(&format!("{prefix}{name}"), why));
    }
    // The rules `architectural` mode left out, with the image's reason.
    for line in console.lines() {
        if let Some((name, why)) = line.trim().strip_prefix("skipped ").and_then(|l| l.split_once(": not architectural (")) {
            let why = why.strip_suffix(')').unwrap_or(why);
            results.push(skipped(&format!("{prefix}{name}"), &format!("not an architectural rule: {why}")));
        }
    }
    Ok((problems, console))
}

fn conformance(bochs: &Path, dir: &Path, image32: &Path, results: &mut Vec<TestResult>) -> Result<(), String> {
    let skip: Vec<&str> = KNOWN_BOCHS_DEVIATIONS.iter().map(|(name, _)| *name).collect();
    let iso = image_iso(dir, image32, "conformance", &format!("architectural skip={}", skip.join(",")))?;
    let run = Run { name: "conformance", model: "sapphire_rapids", cpus: 2, megs: 256, limit: IMAGE_LIMIT };
    let (mut problems, console) = image_boot(bochs, dir, run, &iso, "bochs-uintr::", KNOWN_BOCHS_DEVIATIONS, results)?;
    if !console.contains("UINTR present") || !console.contains("second CPU: APIC ID") {
        problems.push("the image did not find UINTR and a second CPU (Bochs built without --enable-uintr or --enable-smp?)".into());
    }
    results.push(result(CONFORMANCE, problems));
    Ok(())
}

fn absent(bochs: &Path, dir: &Path, image32: &Path, results: &mut Vec<TestResult>) -> Result<(), String> {
    let iso = image_iso(dir, image32, "absent", "absent strict")?;
    let run = Run { name: "absent", model: "tigerlake", cpus: 1, megs: 256, limit: IMAGE_LIMIT };
    let (problems, _) = image_boot(bochs, dir, run, &iso, "bochs-uintr-absent::", &[], results)?;
    results.push(result(ABSENT, problems));
    Ok(())
}

/// One Bochs boot from a CD image.
#[derive(Clone, Copy)]
struct Run {
    /// Names the files in the scratch directory (`NAME.bochsrc`,
    /// `NAME.serial` for the console, `NAME.log` for Bochs's own log).
    name: &'static str,
    model: &'static str,
    cpus: u32,
    megs: u32,
    limit: Duration,
}

impl Run {
    fn bochsrc(&self, iso: &Path, serial: &Path, log: &Path) -> String {
        // `clock: sync=none` runs as fast as Bochs can and keeps guest
        // time tied to instructions, not to how busy the host is.
        format!(
            "megs: {megs}\n\
             cpu: model={model}, count={cpus}, reset_on_triple_fault=0\n\
             romimage: file=$BXSHARE/BIOS-bochs-latest\n\
             vgaromimage: file=$BXSHARE/VGABIOS-lgpl-latest.bin\n\
             ata0-master: type=cdrom, path={iso}, status=inserted\n\
             boot: cdrom\n\
             com1: enabled=1, mode=file, dev={serial}\n\
             display_library: nogui\n\
             clock: sync=none\n\
             log: {log}\n\
             panic: action=fatal\n\
             error: action=report\n",
            megs = self.megs,
            model = self.model,
            cpus = self.cpus,
            iso = iso.display(),
            serial = serial.display(),
            log = log.display(),
        )
    }

    /// Boots and returns the console, and whether `done` held before the
    /// time limit (Bochs is stopped either way).
    fn boot(&self, bochs: &Path, dir: &Path, iso: &Path, done: &dyn Fn(&str) -> bool) -> Result<(String, bool), String> {
        let (rc, serial, log) =
            (dir.join(format!("{}.bochsrc", self.name)), dir.join(format!("{}.serial", self.name)), dir.join(format!("{}.log", self.name)));
        std::fs::write(&rc, self.bochsrc(iso, &serial, &log)).map_err(|e| format!("{}: {e}", rc.display()))?;
        let _ = std::fs::remove_file(&serial);
        let out = std::fs::File::create(dir.join(format!("{}.stdout", self.name))).map_err(|e| e.to_string())?;
        let mut child = Command::new(bochs)
            .arg("-q")
            .arg("-f")
            .arg(&rc)
            .stdin(Stdio::null())
            .stdout(out.try_clone().map_err(|e| e.to_string())?)
            .stderr(out)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", bochs.display()))?;
        let started = Instant::now();
        let ended = loop {
            let console = std::fs::read_to_string(&serial).unwrap_or_default();
            if done(&console) {
                // Let the lines after the closing one reach the file.
                std::thread::sleep(Duration::from_millis(500));
                break true;
            }
            if child.try_wait().map_err(|e| e.to_string())?.is_some() || started.elapsed() > self.limit {
                break false;
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        let _ = child.kill();
        let _ = child.wait();
        let console = std::fs::read_to_string(&serial).unwrap_or_default();
        if console.is_empty() {
            return Err(format!("{} wrote no console (see {})", bochs.display(), log.display()));
        }
        Ok((console, ended))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bochsrc_names_the_model_the_iso_and_the_console() {
        let run = Run { name: "x", model: "sapphire_rapids", cpus: 2, megs: 256, limit: IMAGE_LIMIT };
        let rc = run.bochsrc(Path::new("/t/a.iso"), Path::new("/t/x.serial"), Path::new("/t/x.log"));
        for needle in ["cpu: model=sapphire_rapids, count=2", "path=/t/a.iso", "dev=/t/x.serial", "boot: cdrom", "megs: 256"] {
            assert!(rc.contains(needle), "{needle} missing from\n{rc}");
        }
    }
}
