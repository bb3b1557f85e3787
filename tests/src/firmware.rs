//! The kernel on what real firmware hands over, as far as QEMU can show
//! it: where the TSC frequency comes from when the HPET or the PIT is
//! missing (and that nothing hangs without either), MADTs with many and
//! sparse APIC IDs, two I/O APICs, and a local APIC left in x2APIC mode by the firmware
//! (QEMU 7.2's TCG has no x2APIC; QEMU 10 from Debian's backports has,
//! see `NewerQemu`). CPUID leaves 0x15/0x16 are not emulated by TCG, so
//! that path is host-tested only (`boot::machine`).

use crate::qemu::{run_captured, run_until, Boot, Outcome, EXIT_HALTED, SEL4_CPU};
use crate::suites::{closing_line, result, TestResult};
use crate::Images;
use std::path::PathBuf;
use std::time::Duration;

/// Up to the rootserver's start: a few seconds.
const EARLY_LIMIT: Duration = Duration::from_secs(120);
/// The quick rootserver suite, under TCG on a loaded machine.
const SUITE_LIMIT: Duration = Duration::from_secs(900);
const STARTED: &str = "starting the rootserver in user mode";

/// A QEMU newer than the system's, and the firmware directories (`-L`,
/// searched before the built-in ones) of its own release.
#[derive(Clone, Debug)]
pub struct NewerQemu {
    pub binary: PathBuf,
    pub firmware_dirs: Vec<PathBuf>,
}

fn check(text: &str, needle: &str, problems: &mut Vec<String>) {
    if !text.contains(needle) {
        problems.push(format!("console lacks {needle:?}"));
    }
}

/// Boots until the rootserver starts; returns the console.
fn early_boot(images: &Images, name: &str, extra: &[&str]) -> Result<(bool, String), String> {
    let mut b = Boot::new(&images.kernel32, Some(&images.rootserver));
    b.extra_args = extra.iter().map(|s| s.to_string()).collect();
    early_boot_of(&b, images, name)
}

/// Runs `b` until the rootserver starts (or the early-boot limit); the
/// console is logged as `<name>.log`.
fn early_boot_of(b: &Boot, images: &Images, name: &str) -> Result<(bool, String), String> {
    let log = images.scratch.join(format!("{name}.log"));
    let found = run_until(b, &log, STARTED, EARLY_LIMIT)?;
    Ok((found, std::fs::read_to_string(&log).unwrap_or_default().replace('\r', "")))
}

/// The MHz of the `TSC: N MHz (...)` line, if the source matches.
fn tsc_mhz(console: &str, source: &str) -> Option<u64> {
    console.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("TSC: ")?;
        let (mhz, how) = rest.split_once(" MHz (")?;
        how.starts_with(source).then(|| mhz.parse().ok())?
    })
}

fn tsc_cases(images: &Images, results: &mut Vec<TestResult>) -> Result<(), String> {
    // QEMU's pc machine has an HPET, which is preferred to the PIT.
    for (name, extra, source) in [
        ("firmware::tsc_measured_against_the_hpet", &[][..], "measured against the HPET"),
        ("firmware::tsc_measured_against_the_pit_without_an_hpet", &["-machine", "hpet=off"][..], "measured against the PIT"),
    ] {
        let (started, console) = early_boot(images, name.trim_start_matches("firmware::"), extra)?;
        let mut problems = Vec::new();
        if !started {
            problems.push("the rootserver never started".into());
        }
        match tsc_mhz(&console, source) {
            Some(mhz) if mhz > 0 => {}
            other => problems.push(format!("expected a nonzero `TSC: N MHz ({source})` line, got {other:?}")),
        }
        check(&console, "timer: 2 ms ticks", &mut problems);
        results.push(result(name, problems));
    }
    // A legacy-free machine: neither timer. The kernel must say so and
    // go on (without preemption), not wait for a timer that never ticks.
    let name = "firmware::no_hpet_and_no_pit_reported_without_a_hang";
    let (started, console) = early_boot(images, "tsc_no_timers", &["-machine", "hpet=off,pit=off"])?;
    let mut problems = Vec::new();
    if !started {
        problems.push("the rootserver never started".into());
    }
    check(&console, "TSC: 0 MHz (not measured: no CPUID frequency leaf, HPET or PIT answered)", &mut problems);
    check(&console, "timer: not started", &mut problems);
    results.push(result(name, problems));
    Ok(())
}

/// Many possible CPUs with sparse APIC IDs on QEMU 7.2: two sockets of
/// 100 cores (so socket 1 starts at APIC ID 128), one CPU started per
/// socket; the MADT lists all 200 and the report counts the two enabled.
fn sparse_apic_ids(images: &Images, results: &mut Vec<TestResult>) -> Result<(), String> {
    let cpu_device = "Nehalem-x86_64-cpu,socket-id=1,core-id=0,thread-id=0";
    let extra = ["-smp", "1,sockets=2,cores=100,threads=1,maxcpus=200", "-device", cpu_device];
    let (started, console) = early_boot(images, "madt_sparse_apic_ids", &extra)?;
    let mut problems = Vec::new();
    if !started {
        problems.push("the rootserver never started".into());
    }
    check(&console, "ACPI: RSDP revision 0, 2 CPU(s)", &mut problems);
    check(&console, "machine: 2 thread(s) in 2 core(s) enabled in the MADT (200 listed, 0 by x2APIC entries, highest APIC ID 128)", &mut problems);
    check(&console, "local APIC: id 0, version 0x14, xAPIC mode", &mut problems);
    results.push(result("firmware::madt_with_200_cpus_and_sparse_apic_ids", problems));
    Ok(())
}

/// Two I/O APICs (QEMU's microvm with `ioapic2=on`, the one QEMU machine
/// that has more than one). A kernel built for two finds both in the MADT
/// with their GSI bases, probes and masks them; the default kernel
/// (`KernelMaxNumIOAPIC=1`, as seL4's) drives the first and says it
/// ignores the other. microvm also has no HPET; with its PIT the TSC is
/// measured against that, and without it (a legacy-free machine) not at
/// all, without a hang.
fn two_ioapics(images: &Images, results: &mut Vec<TestResult>) -> Result<(), String> {
    // microvm asks for spec-ctrl, which TCG lacks: no `enforce` here.
    let cpu = SEL4_CPU.replace(",enforce", "");
    const BOTH: &[&str] = &["2 IOAPIC(s)", "  IOAPIC 0 at 0xfec00000, GSI base 0, 24 pins", "  IOAPIC 1 at 0xfec10000, GSI base 24, 24 pins"];
    const FIRST: &[&str] =
        &["1 IOAPIC(s)", "  1 more IOAPIC(s) listed beyond the 1 this kernel drives", "  IOAPIC 0 at 0xfec00000, GSI base 0, 24 pins"];
    for (name, kernel, pit, ioapics, tsc) in [
        ("firmware::two_ioapics_on_microvm_with_a_pit", &images.two_ioapics_kernel32, "on", BOTH, "TSC: "),
        ("firmware::two_ioapics_on_microvm_without_any_timer", &images.two_ioapics_kernel32, "off", BOTH, "TSC: 0 MHz (not measured"),
        ("firmware::second_ioapic_ignored_by_the_default_kernel", &images.kernel32, "on", FIRST, "TSC: "),
    ] {
        let machine = format!("microvm,ioapic2=on,acpi=on,rtc=on,pit={pit}");
        let log_name = name.trim_start_matches("firmware::");
        let mut b = Boot::new(kernel, Some(&images.rootserver));
        b.extra_args = ["-cpu", &cpu, "-machine", &machine].iter().map(|s| s.to_string()).collect();
        let (started, console) = early_boot_of(&b, images, log_name)?;
        let mut problems = Vec::new();
        if !started {
            problems.push("the rootserver never started".into());
        }
        for needle in ioapics.iter().chain([&tsc]) {
            check(&console, needle, &mut problems);
        }
        if pit == "on" && tsc_mhz(&console, "measured against the PIT").is_none_or(|m| m == 0) {
            problems.push("the TSC was not measured against microvm's PIT".into());
        }
        results.push(result(name, problems));
    }
    Ok(())
}

/// The firmware (QEMU 10's SeaBIOS) switches the local APIC to x2APIC
/// mode because a started CPU has APIC ID 256, beyond xAPIC's reach; the
/// kernel must keep x2APIC, drive it through MSRs, count the x2APIC MADT
/// entries, and run the quick rootserver suite (timer, IOAPIC interrupts,
/// user-interrupt emulation) in that mode.
fn x2apic_from_firmware(images: &Images, results: &mut Vec<TestResult>) -> Result<(), String> {
    const NAME: &str = "firmware::x2apic_left_on_by_the_firmware_runs_the_suite";
    let qemu = match &images.newer_qemu {
        Ok(q) => q.clone(),
        Err(why) => {
            results.push(result(NAME, vec![format!("no QEMU with x2APIC under TCG: {why}")]));
            return Ok(());
        }
    };
    let mut b = Boot::new(&images.kernel32, Some(&images.quick_rootserver));
    b.qemu = qemu.binary.clone();
    b.cpu = Some(format!("{SEL4_CPU},+x2apic"));
    // 4 GiB: q35 keeps 2 GiB below 4 GiB, and the suite wants a free
    // 1 GiB-aligned block for a huge page.
    b.memory = "4G".into();
    let mut extra = vec![
        "-machine".to_string(),
        "q35".into(),
        "-smp".into(),
        "1,sockets=2,cores=200,threads=1,maxcpus=400".into(),
        "-device".into(),
        "Nehalem-x86_64-cpu,socket-id=1,core-id=0,thread-id=0".into(),
    ];
    for dir in &qemu.firmware_dirs {
        extra.extend(["-L".to_string(), dir.display().to_string()]);
    }
    b.extra_args = extra;
    let out: Outcome = run_captured(&b, &images.scratch.join("x2apic_from_firmware.log"), SUITE_LIMIT)?;
    let mut problems = Vec::new();
    if out.status != Some(EXIT_HALTED) {
        problems.push(format!("expected DebugHalt (33), got {:?}", out.status));
    }
    for needle in [
        "local APIC: id 0, version 0x14, x2APIC mode",
        "machine: APIC x2APIC (as the firmware left it), boot CPU APIC ID 0",
        "machine: 2 thread(s) in 2 core(s) enabled in the MADT (400 listed, 200 by x2APIC entries, highest APIC ID 256)",
        "timer: 2 ms ticks",
    ] {
        check(&out.console, needle, &mut problems);
    }
    match out.console.lines().find_map(|l| closing_line(l.trim())) {
        Some((p, 0)) if p > 0 => {}
        other => problems.push(format!("expected the suite's closing line with 0 failed, got {other:?}")),
    }
    results.push(result(NAME, problems));
    Ok(())
}

pub fn run(images: &Images, results: &mut Vec<TestResult>) -> Result<(), String> {
    tsc_cases(images, results)?;
    sparse_apic_ids(images, results)?;
    two_ioapics(images, results)?;
    x2apic_from_firmware(images, results)
}
