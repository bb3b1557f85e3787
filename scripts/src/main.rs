//! `cargo xtask`: build, boot and test the kernel.
//!
//! - `cargo xtask run [--config C] [--tcg|--kvm] [--gdb] [--cmdline "..."] [--qemu-uintr]`:
//!   build the kernel and rootserver and boot them in QEMU (KVM when this
//!   host's KVM can run the kernel, TCG otherwise; `--qemu-uintr`: the
//!   QEMU with the UINTR patches, TCG, seL4's CPU plus `+uintr`).
//! - `cargo xtask kernel [--config C] [--target-dir DIR] [--out FILE]`:
//!   build the kernel for a configuration and print where it is (what
//!   the CMake package in `cmake/` runs for `kernel.elf`).
//!
//! - `cargo xtask sel4test [--release] [--stock KERNEL]`: sel4test built
//!   by seL4's CMake flow with seL4-rs, booted on seL4-rs and on a stock
//!   seL4 kernel (`--stock`, `SEL4_KERNEL_IMAGE`, or one built from the
//!   same sources), with the per-test results side by side.
//!
//! A configuration `C` is a preset name (`sel4test-debug`, the default;
//! `sel4test-release`; `sel4bench`) or a file of seL4 options
//! (`KernelRootCNodeSizeBits=15`, ...; see `configs/`).
//! - `cargo xtask test [--host-only|--qemu-only|--uintr-only]`: host unit
//!   tests plus every in-QEMU suite (including the UINTR conformance
//!   image on the patched and the stock QEMU), closing with
//!   `N passed, N failed`. `--uintr-only`: just the UINTR suites;
//!   `--difffuzz-only`: just the differential fuzzing against stock seL4.
//!
//! The patched QEMU comes from `scripts/qemu-uintr/build.sh` (its last
//! line of output is the binary), or from `QEMU_UINTR=/path/to/binary`.
//!
//! - `cargo xtask bench [--stock IMAGE | --build-stock] [--log FILE ...]`:
//!   the IPC benchmark on our slowpath-only and fastpath kernels in the
//!   release configuration, stock seL4 release and our debug
//!   configuration, side by side.
//! - `cargo xtask difffuzz [--seed S] [--calls N] [--stock SEL4_KERNEL]`:
//!   the differential fuzzer's image on this kernel and on stock seL4 of
//!   the same configuration (built from seL4's sources with seL4's CMake
//!   flow unless given), compared: "identical after N calls", or the
//!   first call whose results differ, with both.
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

use artifacts::KernelVariant;
use kernel_tests::qemu::{self, Accel, Boot};
use kernel_tests::suites;
use std::process::{Command, ExitCode};

const USAGE: &str = concat!(
    "usage:
  cargo xtask run  [--config PRESET|FILE] [--tcg | --kvm] [--gdb] [--cmdline \"KERNEL ARGS\"] [--qemu-uintr] [--full]
  cargo xtask kernel [--config PRESET|FILE] [--target-dir DIR] [--out FILE]
  cargo xtask sel4test [--release] [--stock SEL4_KERNEL]
  cargo xtask test [--host-only | --qemu-only | --uintr-only | --sel4test-only | --bochs-only | --netboot-only | --firmware-only | --difffuzz-only]
                   (--bochs-only: BOCHS=/path/to/bochs, a Bochs built with --enable-uintr)
  cargo xtask bench [--stock SEL4_RELEASE_KERNEL | --build-stock] [--compare RESULTS] [--log CONSOLE_LOG ...]
  cargo xtask difffuzz [--seed S] [--calls N] [--stock SEL4_KERNEL]
",
    pxe_usage!()
);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("kernel") => kernel(&args[1..]),
        Some("sel4test") => sel4test(&args[1..]),
        Some("test") => test(&args[1..]),
        Some("bench") => bench::bench(&args[1..]).map(|()| ExitCode::SUCCESS),
        Some("difffuzz") => difffuzz(&args[1..]),
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

fn prepare(config: &kernel_config::Config) -> Result<artifacts::Images, String> {
    setup::ensure_rust_target()?;
    setup::ensure_host_tools()?;
    artifacts::build_config(config, true, None)
}

/// `cargo xtask kernel`: builds the kernel for a configuration; prints the
/// ELF64's path, or copies it to `--out` (only when it changed, so that a
/// build system watching the file's time sees no change for no change).
fn kernel(args: &[String]) -> Result<ExitCode, String> {
    let mut config = kernel_config::Config::default();
    let (mut target_dir, mut out) = (None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--config" => config = kernel_config::Config::load(&value()?)?,
            "--target-dir" => target_dir = Some(std::path::PathBuf::from(value()?)),
            "--out" => out = Some(std::path::PathBuf::from(value()?)),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    setup::ensure_objcopy()?;
    let images = artifacts::build_config(&config, false, target_dir.as_deref())?;
    match out {
        Some(out) => {
            let built = std::fs::read(&images.kernel).map_err(|e| format!("{}: {e}", images.kernel.display()))?;
            if std::fs::read(&out).ok().as_deref() != Some(built.as_slice()) {
                if let Some(parent) = out.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
                }
                std::fs::copy(&images.kernel, &out).map_err(|e| format!("{}: {e}", out.display()))?;
            }
        }
        None => println!("{}", images.kernel.display()),
    }
    Ok(ExitCode::SUCCESS)
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
    // Before the default rootserver, whose output file these builds share.
    setup::ensure_rust_target()?;
    let difffuzz_rootservers = difffuzz_test_rootservers()?;
    let (images, slowpath, [bench_rootserver, quick_rootserver]) = prepare_both()?;
    let cmake = prepare_cmake(&images)?;
    let difffuzz = kernel_tests::difffuzz::DiffImages { stock_kernel32: stock_kernel_for_tests(&cmake), rootservers: difffuzz_rootservers };
    let mut two_ioapics = kernel_config::Config::default();
    two_ioapics.set("KernelMaxNumIOAPIC", "2")?;
    let two_ioapics = artifacts::build_config(&two_ioapics, false, None)?;
    // capDL's tutorials need a 16-bit root CNode.
    let mut root_cnode_16 = kernel_config::Config::default();
    root_cnode_16.set("KernelRootCNodeSizeBits", "16")?;
    let root_cnode_16 = artifacts::build_config_with_quick_rootserver(&root_cnode_16)?;
    Ok(kernel_tests::Images {
        kernel: images.kernel,
        kernel32: images.kernel32,
        slowpath_kernel32: slowpath.kernel32,
        two_ioapics_kernel32: two_ioapics.kernel32,
        root_cnode_16_kernel32: root_cnode_16.kernel32,
        root_cnode_16_rootserver: root_cnode_16.rootserver,
        rootserver: images.rootserver,
        quick_rootserver,
        bench_rootserver,
        scratch: artifacts::scratch_dir(),
        uintr: prepare_uintr()?,
        newer_qemu: qemu_backports::newer_qemu(),
        cmake,
        difffuzz,
    })
}

/// What the difffuzz suite alone needs: the default kernel, the stock
/// kernel and the test seeds' images (built before the default kernel's
/// build, which would otherwise leave its own rootserver last).
fn difffuzz_images() -> Result<(artifacts::Images, kernel_tests::difffuzz::DiffImages), String> {
    setup::ensure_rust_target()?;
    setup::ensure_host_tools()?;
    let rootservers = difffuzz_test_rootservers()?;
    let images = artifacts::build_config(&kernel_config::Config::default(), false, None)?;
    let cmake = stock_only_cmake_inputs(&images.kernel32);
    let stock_given = std::env::var_os(suites::STOCK_KERNEL_VAR).is_some();
    if !stock_given && cmake.sources.is_ok() {
        setup::ensure_sel4_build_tools()?;
    }
    Ok((images, kernel_tests::difffuzz::DiffImages { stock_kernel32: stock_kernel_for_tests(&cmake), rootservers }))
}

/// The stock seL4 kernel for the default configuration as an elf32 image
/// for `-kernel`: the one given (`--stock`, else `SEL4_KERNEL_IMAGE`;
/// an ELF64 is converted), else one built from seL4's sources with seL4's
/// CMake flow. An error says why there is none.
fn stock_kernel32(given: Option<std::path::PathBuf>, cmake: &kernel_tests::sel4test::CmakeInputs) -> Result<std::path::PathBuf, String> {
    let given = given.or_else(|| std::env::var_os(suites::STOCK_KERNEL_VAR).map(Into::into));
    let Some(kernel) = given else {
        return kernel_tests::difffuzz::build_stock_kernel_only(cmake, kernel_tests::sel4test::Variant::Debug);
    };
    let bytes = std::fs::read(&kernel).map_err(|e| format!("{}: {e}", kernel.display()))?;
    if bytes.get(4) != Some(&2) {
        return Ok(kernel);
    }
    let elf32 = artifacts::scratch_dir().join("stock-kernel-x86_64-pc99");
    let status =
        Command::new("objcopy").args(["-O", "elf32-i386"]).arg(&kernel).arg(&elf32).status().map_err(|e| format!("cannot run objcopy: {e}"))?;
    if !status.success() {
        return Err(format!("objcopy -O elf32-i386 {} failed", kernel.display()));
    }
    Ok(elf32)
}

/// The differential fuzzer's image for each test seed.
fn difffuzz_test_rootservers() -> Result<Vec<(u64, std::path::PathBuf)>, String> {
    use kernel_tests::difffuzz::{TEST_CALLS, TEST_SEEDS};
    TEST_SEEDS.iter().map(|&seed| artifacts::build_difffuzz_rootserver(seed, TEST_CALLS, None).map(|p| (seed, p))).collect()
}

/// What building stock seL4's kernel needs (and no kernels of ours for
/// sel4test trees).
fn stock_only_cmake_inputs(ours32: &std::path::Path) -> kernel_tests::sel4test::CmakeInputs {
    let repo = artifacts::workspace_root();
    kernel_tests::sel4test::CmakeInputs {
        sources: kernel_tests::sel4test::find_sources(&repo),
        repo,
        cache: artifacts::target_dir().join("sel4test"),
        preset_kernels: Vec::new(),
        default_kernel32: ours32.to_path_buf(),
    }
}

/// The stock kernel the comparing suites use: a failed build where seL4's
/// sources are at hand is a failure of theirs, no sources a skip.
fn stock_kernel_for_tests(cmake: &kernel_tests::sel4test::CmakeInputs) -> kernel_tests::difffuzz::StockKernel {
    use kernel_tests::difffuzz::StockKernel;
    let given = std::env::var_os(suites::STOCK_KERNEL_VAR).is_some();
    match stock_kernel32(None, cmake) {
        Ok(image) => StockKernel::Image(image),
        Err(why) if !given && cmake.sources.is_err() => StockKernel::Unavailable(why),
        Err(why) => StockKernel::BuildFailed(why),
    }
}

/// `cargo xtask difffuzz`: one seed's differential run; on a difference,
/// a second run of the same seed with the window between the last equal
/// and the first different checkpoint printed, to name the call.
fn difffuzz(args: &[String]) -> Result<ExitCode, String> {
    use kernel_tests::difffuzz::{self as df, Verdict};
    let (mut seed, mut calls, mut stock) = (1u64, df::TEST_CALLS, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--seed" => seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--calls" => calls = value()?.parse().map_err(|e| format!("--calls: {e}"))?,
            "--stock" => stock = Some(std::path::PathBuf::from(value()?)),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    setup::ensure_rust_target()?;
    setup::ensure_host_tools()?;
    let ours = artifacts::build_config(&kernel_config::Config::default(), false, None)?;
    let cmake = stock_only_cmake_inputs(&ours.kernel32);
    if stock.is_none() && std::env::var_os(suites::STOCK_KERNEL_VAR).is_none() {
        setup::ensure_sel4_build_tools()?;
    }
    let stock32 = stock_kernel32(stock, &cmake)?;
    let scratch = artifacts::scratch_dir();
    let logs = |tag: &str| [scratch.join(format!("difffuzz_{tag}_stock.log")), scratch.join(format!("difffuzz_{tag}_ours.log"))];
    let image = artifacts::build_difffuzz_rootserver(seed, calls, None)?;
    eprintln!("xtask: difffuzz seed {seed}, {calls} calls, on {} and {}", ours.kernel32.display(), stock32.display());
    let start = std::time::Instant::now();
    let (s, o) = df::boot_both(&ours.kernel32, &stock32, &image, calls, logs(&format!("s{seed}")))?;
    let elapsed = start.elapsed().as_secs_f64();
    match df::compare(&s, &o, calls) {
        Verdict::Identical { calls } => {
            println!("difffuzz: seed {seed}: identical after {calls} calls ({elapsed:.0} s for both boots)");
            Ok(ExitCode::SUCCESS)
        }
        Verdict::Incomplete(why) => Err(format!("seed {seed}: {why} (logs in {})", scratch.display())),
        Verdict::Differs { last_equal, first_different } => {
            println!("difffuzz: seed {seed}: the hashes differ between steps {last_equal} and {first_different}; printing that window");
            // Through step `first_different` itself: its checkpoint's
            // snapshot of F's CSpace is part of the hash printed there.
            let end = first_different + 1;
            let image = artifacts::build_difffuzz_rootserver(seed, end, Some((last_equal, end)))?;
            let (s, o) = df::boot_both(&ours.kernel32, &stock32, &image, end, logs(&format!("s{seed}-window")))?;
            match df::first_difference(&s, &o) {
                Some(d) => println!("difffuzz: seed {seed}: first divergence at {d}"),
                None => println!("difffuzz: seed {seed}: the window's observations are the same (see the logs)"),
            }
            println!("difffuzz: logs in {}", scratch.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `cargo xtask sel4test`: the same sel4test image (built by seL4's flow
/// with seL4-rs as its kernel) on stock seL4 and on seL4-rs, and a table
/// of both runs' per-test results.
fn sel4test(args: &[String]) -> Result<ExitCode, String> {
    use kernel_tests::sel4test::{self as s4, Variant};
    let mut variant = Variant::Debug;
    let mut stock = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--release" => variant = Variant::Release,
            "--stock" => stock = Some(std::path::PathBuf::from(it.next().ok_or("--stock needs a kernel image")?)),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    let images = prepare(&kernel_config::Config::default())?;
    let inputs = prepare_cmake(&images)?;
    let stock = match stock.or_else(|| std::env::var_os(suites::STOCK_KERNEL_VAR).map(Into::into)) {
        Some(k) => {
            eprintln!("xtask: stock kernel {} (it must be built for sel4test's {} configuration)", k.display(), variant.name());
            k
        }
        None => {
            eprintln!("xtask: building sel4test with seL4's own kernel for the comparison");
            s4::build_stock_kernel(&inputs, variant)?
        }
    };
    let build = s4::build_sel4test(&inputs, variant)?;
    let scratch = artifacts::scratch_dir();
    let limit = std::time::Duration::from_secs(1800);
    let ours = s4::parse_sel4test(&s4::simulate(&build, None, &scratch.join(format!("sel4test-{}.log", variant.name())), limit)?);
    let theirs = s4::parse_sel4test(&s4::simulate(&build, Some(&stock), &scratch.join(format!("sel4test-{}-stock.log", variant.name())), limit)?);
    println!("sel4test ({}), one image built by seL4's flow, on stock seL4 and on seL4-rs", variant.name());
    println!("{:<44} {:<12} seL4-rs", "test", "stock seL4");
    let mut names: Vec<&str> = theirs.tests.iter().map(|t| t.name.as_str()).collect();
    for t in &ours.tests {
        if !names.contains(&t.name.as_str()) {
            names.push(&t.name);
        }
    }
    let cell = |run: &s4::Sel4TestRun, name: &str| match run.tests.iter().find(|t| t.name == name) {
        Some(t) if t.passed => "ok".to_string(),
        Some(_) => "FAILED".to_string(),
        None => "not run".to_string(),
    };
    for name in names {
        println!("{name:<44} {:<12} {}", cell(&theirs, name), cell(&ours, name));
    }
    for (who, run) in [("stock seL4", &theirs), ("seL4-rs", &ours)] {
        println!("{who}: {} / {}", run.summary.as_deref().unwrap_or("(no summary)"), run.final_line.as_deref().unwrap_or("(no final line)"));
    }
    Ok(if ours.all_passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// What the CMake-flow and sel4test suites need: seL4's build tools, the
/// sources, and `cargo xtask`'s kernels for the presets they compare with
/// (`default` is the default configuration's, `sel4test-debug`).
fn prepare_cmake(default: &artifacts::Images) -> Result<kernel_tests::sel4test::CmakeInputs, String> {
    setup::ensure_sel4_build_tools()?;
    let release = artifacts::build_config(&kernel_config::Config::load("sel4test-release")?, false, None)?;
    let repo = artifacts::workspace_root();
    Ok(kernel_tests::sel4test::CmakeInputs {
        sources: kernel_tests::sel4test::find_sources(&repo),
        repo,
        cache: artifacts::target_dir().join("sel4test"),
        preset_kernels: vec![("sel4test-debug".into(), default.kernel.clone()), ("sel4test-release".into(), release.kernel)],
        default_kernel32: default.kernel32.clone(),
    })
}

fn choose_accel(forced: Option<Accel>) -> Result<Accel, String> {
    match (forced, qemu::kvm_usable()) {
        (Some(Accel::Tcg), _) => Ok(Accel::Tcg),
        (Some(Accel::Kvm), Ok(())) | (None, Ok(())) => Ok(Accel::Kvm),
        (Some(Accel::Kvm), Err(why)) => Err(format!("--kvm: this host's KVM cannot run the kernel: {why}. Use --tcg (the default here).")),
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
    let mut full = false;
    let mut config = kernel_config::Config::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config" => config = kernel_config::Config::load(it.next().ok_or("--config needs a value")?)?,
            "--qemu-uintr" => uintr = true,
            "--full" => full = true,
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
    // The quick suite by default: the full one adds the stress tests,
    // whose million refused syscalls each print the kernel's userError
    // line (about 100 MB of console) in a debug configuration.
    let images = if full {
        prepare(&config)?
    } else {
        setup::ensure_host_tools()?;
        artifacts::build_config_with_quick_rootserver(&config)?
    };
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
    times.sort_by_key(|t| std::cmp::Reverse(t.elapsed));
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
            "--uintr-only" | "--sel4test-only" | "--bochs-only" | "--netboot-only" | "--firmware-only" | "--difffuzz-only" => {
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
    } else if only == Some("--sel4test-only") {
        let images = prepare(&kernel_config::Config::default())?;
        let cmake = prepare_cmake(&images)?;
        println!("== seL4's CMake flow and sel4test (TCG; logs in {})", artifacts::scratch_dir().display());
        let mut results = Vec::new();
        kernel_tests::sel4test::run(&cmake, &artifacts::scratch_dir(), &mut results)?;
        results.iter().for_each(report);
        count(&results);
    } else if only == Some("--difffuzz-only") {
        let (images, difffuzz) = difffuzz_images()?;
        println!("== differential fuzzing against stock seL4 (TCG; logs in {})", artifacts::scratch_dir().display());
        let mut results = Vec::new();
        kernel_tests::difffuzz::run(&images.kernel32, &difffuzz, &artifacts::scratch_dir(), &mut results)?;
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
