//! `cargo xtask`: build, boot and test the kernel.
//!
//! - `cargo xtask run [--tcg|--kvm] [--gdb] [--cmdline "..."] [--qemu-uintr]`:
//!   build the kernel and rootserver and boot them in QEMU (KVM when this
//!   host's KVM can run the kernel, TCG otherwise; `--qemu-uintr`: the
//!   QEMU with the UINTR patches, TCG, seL4's CPU plus `+uintr`).
//! - `cargo xtask test [--host-only|--qemu-only|--uintr-only]`: host unit
//!   tests plus every in-QEMU suite (including the UINTR conformance
//!   image on the patched and the stock QEMU), closing with
//!   `N passed, N failed`. `--uintr-only`: just the UINTR suites.
//!
//! The patched QEMU comes from `scripts/qemu-uintr/build.sh` (its last
//! line of output is the binary), or from `QEMU_UINTR=/path/to/binary`.
//!
//! - `cargo xtask bench [--log FILE ...]`: the IPC benchmark on the
//!   slowpath-only and the fastpath kernel, side by side.
//! - `cargo xtask pxe ...`: a netboot tree (UEFI and BIOS chains) and the
//!   dnsmasq configuration for a lab; `--serve IFACE` serves it,
//!   `--console` captures a target's serial console (see docs/deploy.md).
//!
//! All three install what a fresh Debian machine lacks (the Rust target, and
//! QEMU and binutils when run as root).

mod artifacts;
mod bench;
mod pxe;
mod qemu_backports;
mod qemu_uintr;
mod setup;

use kernel_tests::qemu::{self, Accel, Boot};
use artifacts::KernelVariant;
use kernel_tests::suites;
use std::process::{Command, ExitCode};

const USAGE: &str = concat!(
    "usage:
  cargo xtask run  [--tcg | --kvm] [--gdb] [--cmdline \"KERNEL ARGS\"] [--qemu-uintr]
  cargo xtask test [--host-only | --qemu-only | --uintr-only | --bochs-only | --netboot-only | --firmware-only]
                   (--bochs-only: BOCHS=/path/to/bochs, a Bochs built with --enable-uintr)
  cargo xtask bench [--stock SEL4_KERNEL] [--compare RESULTS] [--log CONSOLE_LOG ...]
",
    pxe_usage!()
);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("test") => test(&args[1..]),
        Some("bench") => bench::bench(&args[1..]).map(|()| ExitCode::SUCCESS),
        Some("pxe") => pxe::pxe(&args[1..]).map(|()| ExitCode::SUCCESS),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        _ => Err(USAGE.to_string()),
    };
    match outcome {
        Ok(code) => code,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn prepare() -> Result<artifacts::Images, String> {
    setup::ensure_rust_target()?;
    setup::ensure_host_tools()?;
    artifacts::build(KernelVariant::Fastpath)
}

/// Both kernel variants and the benchmark rootserver; the default kernel
/// and the test-suite rootserver are built last so that they are the ones
/// left at `target/<target>/release/`.
fn prepare_both() -> Result<(artifacts::Images, artifacts::Images, [std::path::PathBuf; 2]), String> {
    setup::ensure_rust_target()?;
    setup::ensure_host_tools()?;
    let slowpath = artifacts::build(KernelVariant::SlowpathOnly)?;
    let bench_rootserver = bench::build_bench_rootserver()?;
    let quick_rootserver = artifacts::build_rootserver_variant("quick")?;
    Ok((artifacts::build(KernelVariant::Fastpath)?, slowpath, [bench_rootserver, quick_rootserver]))
}

/// The UINTR conformance image and the patched QEMU (or why there is
/// none: the suite then reports that as a failure).
fn prepare_uintr() -> Result<kernel_tests::uintr::UintrImages, String> {
    setup::ensure_rust_target()?;
    setup::ensure_host_tools()?;
    Ok(kernel_tests::uintr::UintrImages {
        image32: artifacts::build_uintr_conformance()?,
        patched_qemu: qemu_uintr::patched_qemu(),
        scratch: artifacts::scratch_dir(),
    })
}

/// Every image the in-QEMU suites boot, built.
fn images_under_test() -> Result<kernel_tests::Images, String> {
    let (images, slowpath, [bench_rootserver, quick_rootserver]) = prepare_both()?;
    Ok(kernel_tests::Images {
        kernel: images.kernel,
        kernel32: images.kernel32,
        slowpath_kernel32: slowpath.kernel32,
        rootserver: images.rootserver,
        quick_rootserver,
        bench_rootserver,
        scratch: artifacts::scratch_dir(),
        uintr: prepare_uintr()?,
        newer_qemu: qemu_backports::newer_qemu(),
    })
}

fn choose_accel(forced: Option<Accel>) -> Result<Accel, String> {
    match (forced, qemu::kvm_usable()) {
        (Some(Accel::Tcg), _) => Ok(Accel::Tcg),
        (Some(Accel::Kvm), Ok(())) | (None, Ok(())) => Ok(Accel::Kvm),
        (Some(Accel::Kvm), Err(why)) => {
            Err(format!("--kvm: this host's KVM cannot run the kernel: {why}. Use --tcg (the default here)."))
        }
        (None, Err(why)) => {
            eprintln!("xtask: using TCG because {why}");
            Ok(Accel::Tcg)
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let mut forced = None;
    let mut gdb = false;
    let mut cmdline = None;
    let mut uintr = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--qemu-uintr" => uintr = true,
            "--tcg" => forced = Some(Accel::Tcg),
            "--kvm" => forced = Some(Accel::Kvm),
            "--gdb" => gdb = true,
            "--cmdline" => cmdline = Some(it.next().ok_or("--cmdline needs a value")?.clone()),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    if uintr && forced == Some(Accel::Kvm) {
        return Err("--qemu-uintr: the UINTR emulation is TCG only; drop --kvm".into());
    }
    let accel = if uintr { Accel::Tcg } else { choose_accel(forced)? };
    let images = prepare()?;
    let mut boot = Boot::new(&images.kernel32, Some(&images.rootserver));
    if uintr {
        boot.qemu = qemu_uintr::patched_qemu()?;
        boot.cpu = Some(kernel_tests::uintr::uintr_cpu());
        eprintln!("xtask: QEMU with UINTR: {} -cpu {}", boot.qemu.display(), kernel_tests::uintr::uintr_cpu());
    }
    boot.accel = accel;
    boot.gdb = gdb;
    boot.cmdline = cmdline;
    eprintln!("xtask: booting with {accel}; quit QEMU with Ctrl-A X");
    if gdb {
        eprintln!(
            "xtask: QEMU waits for a debugger on localhost:1234; in another terminal run\n    gdb {} -ex 'target remote :1234'",
            images.kernel.display()
        );
    }
    let status = boot.command().status().map_err(|e| format!("cannot start QEMU: {e}"))?;
    match status.code() {
        Some(qemu::EXIT_HALTED) => Ok(ExitCode::SUCCESS),
        Some(qemu::EXIT_FAILED) => Err("the kernel stopped with a failure (see the console above)".into()),
        Some(0) => Ok(ExitCode::SUCCESS),
        other => Err(format!("QEMU exited with {other:?}")),
    }
}

/// Runs the host unit tests, echoing cargo's output; returns (passed, failed).
fn host_tests() -> Result<(u64, u64), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(artifacts::workspace_root())
        .args(["test", "--workspace", "--exclude", "rootserver", "--exclude", "uintr-conformance"])
        .output()
        .map_err(|e| format!("cannot run cargo test: {e}"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&output.stderr), String::from_utf8_lossy(&output.stdout));
    let (mut passed, mut failed) = (0, 0);
    for line in text.lines() {
        if let Some(rest) = line.trim().strip_prefix("test result: ") {
            let count = |word: &str| {
                rest.split(';')
                    .find_map(|part| part.trim().trim_start_matches("ok. ").trim_start_matches("FAILED. ").strip_suffix(word))
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .unwrap_or(0)
            };
            passed += count(" passed");
            failed += count(" failed");
        }
    }
    print!("{text}");
    if !output.status.success() && failed == 0 {
        return Err("host tests did not build or run".into());
    }
    Ok((passed, failed))
}

/// Every QEMU boot of the run with its time and its limit, slowest first,
/// so that a machine close to the limits shows before a limit is hit.
fn print_boot_times() {
    let mut times = qemu::boot_times();
    if times.is_empty() {
        return;
    }
    times.sort_by(|a, b| b.elapsed.cmp(&a.elapsed));
    let total: f64 = times.iter().map(|t| t.elapsed.as_secs_f64()).sum();
    println!("== QEMU boots: {} in {:.0} s (elapsed of its time limit each)", times.len(), total);
    for t in &times {
        let mark = if t.timed_out { "  TIME LIMIT REACHED" } else { "" };
        println!("  {:<48} {:>7.1} s of {:>5} s{mark}", t.name, t.elapsed.as_secs_f64(), t.limit.as_secs());
    }
}

fn test(args: &[String]) -> Result<ExitCode, String> {
    let (mut host, mut qemu) = (true, true);
    // One part of the in-QEMU tests only (`--uintr-only`, ...).
    let mut only: Option<&str> = None;
    for a in args {
        match a.as_str() {
            "--host-only" => qemu = false,
            "--qemu-only" => host = false,
            "--uintr-only" | "--bochs-only" | "--netboot-only" | "--firmware-only" => {
                host = false;
                only = Some(a.as_str());
            }
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    let (mut passed, mut failed, mut skipped) = (0u64, 0u64, 0u64);
    if host {
        println!("== host unit tests");
        let (p, f) = host_tests()?;
        passed += p;
        failed += f;
    }
    let report = |r: &suites::TestResult| {
        if r.skipped {
            println!("{} ... skipped: {}", r.name, r.detail);
        } else if r.passed {
            println!("{} ... ok", r.name);
        } else {
            println!("{} ... FAILED: {}", r.name, r.detail);
        }
    };
    let mut count = |results: &[suites::TestResult]| {
        passed += results.iter().filter(|r| r.passed).count() as u64;
        failed += results.iter().filter(|r| !r.passed && !r.skipped).count() as u64;
        skipped += results.iter().filter(|r| r.skipped).count() as u64;
    };
    if only == Some("--uintr-only") {
        let uintr = prepare_uintr()?;
        println!("== UINTR conformance (TCG; logs in {})", artifacts::scratch_dir().display());
        let mut results = Vec::new();
        kernel_tests::uintr::absent_on_stock_qemu(&uintr, &mut results)?;
        kernel_tests::uintr::harness_selftest(&uintr, &mut results)?;
        kernel_tests::uintr::on_patched_qemu(&uintr, &mut results)?;
        results.iter().for_each(report);
        count(&results);
    } else if let Some(which) = only {
        let under_test = images_under_test()?;
        setup::ensure_test_tools()?;
        setup::ensure_netboot_tools()?;
        println!("== {} (logs in {})", which.trim_start_matches("--"), artifacts::scratch_dir().display());
        let mut results = Vec::new();
        match which {
            "--bochs-only" => kernel_tests::bochs::on_bochs(&under_test, &mut results)?,
            "--netboot-only" => kernel_tests::netboot::run(&under_test, &mut results)?,
            _ => kernel_tests::firmware::run(&under_test, &mut results)?,
        }
        results.iter().for_each(report);
        count(&results);
    } else if qemu {
        let under_test = images_under_test()?;
        println!("== in-QEMU tests (TCG; logs in {})", artifacts::scratch_dir().display());
        setup::ensure_test_tools()?;
        setup::ensure_netboot_tools()?;
        let results = suites::run_all(&under_test, report)?;
        count(&results);
    }
    print_boot_times();
    if skipped > 0 {
        println!("{passed} passed, {failed} failed, {skipped} skipped");
    } else {
        println!("{passed} passed, {failed} failed");
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
