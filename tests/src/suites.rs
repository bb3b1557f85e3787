//! The in-QEMU test suites: the rootserver's own tests, the kernel command
//! line, and every malformed-input case the kernel must refuse with one
//! clear line and a failure status instead of a hang or a triple fault.

use crate::elfedit;
use crate::qemu::{run_captured, run_until, Boot, Outcome, EXIT_FAILED, EXIT_HALTED, SEL4_CPU};
use crate::Images;
use std::path::PathBuf;
use std::time::Duration;

/// Time limits, generous for TCG on a 2-core machine running other jobs
/// too (at least five times what the boot takes on an idle one): a boot
/// that is refused or runs no suite takes about 2 s, the quick suite
/// (`rootserver-quick`) about 40 s, the full one, with its stress tests,
/// about 5 minutes on the debug kernel: its fuzzers' refused calls print
/// some 575,000 userError lines (100 MB), as on stock seL4, which triple
/// the 1.5 minutes it takes without them.
const BOOT_LIMIT: Duration = Duration::from_secs(240);
const QUICK_SUITE_LIMIT: Duration = Duration::from_secs(600);
const FULL_SUITE_LIMIT: Duration = Duration::from_secs(1800);

/// Which rootserver suite a boot runs: the full one (with the stress
/// tests: the two fuzzers and the million-interrupt exchange) once per
/// kernel path, the quick one wherever the boot itself is what is tested.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Suite {
    Full,
    Quick,
}

impl Suite {
    fn rootserver(self, images: &Images) -> &std::path::Path {
        match self {
            Suite::Full => &images.rootserver,
            Suite::Quick => &images.quick_rootserver,
        }
    }

    fn limit(self) -> Duration {
        match self {
            Suite::Full => FULL_SUITE_LIMIT,
            Suite::Quick => QUICK_SUITE_LIMIT,
        }
    }
}
/// For the rootserver suite on stock seL4 (see `suite_on_stock_sel4`).
const STOCK_SUITE_LIMIT: Duration = Duration::from_secs(1200);

pub struct TestResult {
    pub name: String,
    pub passed: bool,
    /// Not run (the reason is in `detail`); counts neither way.
    pub skipped: bool,
    pub detail: String,
}

pub(crate) fn result(name: &str, problems: Vec<String>) -> TestResult {
    TestResult { name: name.to_string(), passed: problems.is_empty(), skipped: false, detail: problems.join("; ") }
}

pub(crate) fn skipped(name: &str, why: &str) -> TestResult {
    TestResult { name: name.to_string(), passed: false, skipped: true, detail: why.to_string() }
}

fn describe_status(status: Option<i32>) -> String {
    match status {
        None => "timed out (killed)".into(),
        Some(EXIT_HALTED) => "DebugHalt (33)".into(),
        Some(EXIT_FAILED) => "kernel failure (35)".into(),
        Some(s) => format!("status {s}"),
    }
}

fn check_status(out: &Outcome, want: i32, problems: &mut Vec<String>) {
    if out.status != Some(want) {
        problems.push(format!("expected {}, got {}", describe_status(Some(want)), describe_status(out.status)));
    }
}

fn check_contains(text: &str, what: &str, needle: &str, problems: &mut Vec<String>) {
    if !text.contains(needle) {
        problems.push(format!("{what} lacks {needle:?}"));
    }
}

fn write_module(images: &Images, name: &str, bytes: &[u8]) -> Result<PathBuf, String> {
    let path = images.scratch.join(format!("{name}.elf"));
    std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

fn boot(images: &Images, name: &str, b: &Boot) -> Result<Outcome, String> {
    boot_within(images, name, b, BOOT_LIMIT)
}

/// A boot whose QEMU state goes into its log if `limit` stops it.
fn boot_within(images: &Images, name: &str, b: &Boot, limit: Duration) -> Result<Outcome, String> {
    let log = images.scratch.join(format!("{name}.log"));
    // Short, in the temporary directory: a Unix socket path has ~100 bytes.
    let socket = std::env::temp_dir().join(format!("sel4-rs-{}-{name}.monitor", std::process::id()));
    let b = Boot { monitor: Some(socket.clone()), ..b.clone() };
    let outcome = run_captured(&b, &log, limit);
    let _ = std::fs::remove_file(&socket);
    outcome
}

/// A boot stopped by its time limit leaves the CPU's registers and local
/// APIC in its log (how a hang in CI would be diagnosed); here the limit
/// is set to stop the suite early on purpose.
fn time_limit_leaves_cpu_state(images: &Images, results: &mut Vec<TestResult>) -> Result<(), String> {
    // The full suite: the quick one can end inside the limit on an idle
    // machine.
    let b = Boot::new(&images.kernel32, Some(Suite::Full.rootserver(images)));
    let out = boot_within(images, "time_limit_report", &b, Duration::from_secs(4))?;
    let mut problems = Vec::new();
    if out.status.is_some() {
        problems.push(format!("the boot was meant to be stopped by its time limit but ended with {}", describe_status(out.status)));
    }
    for needle in ["== QEMU state when the time limit ran out ==", "RIP=", "CR3=", "ISR"] {
        check_contains(&out.console, "log", needle, &mut problems);
    }
    results.push(result("qemu::time_limit_leaves_cpu_state_in_the_log", problems));
    Ok(())
}

/// Parses `test NAME ... ok|FAILED: why` lines and the closing line.
pub(crate) fn rootserver_results(console: &str) -> (Vec<TestResult>, Option<(u32, u32)>) {
    let mut results = Vec::new();
    let mut closing = None;
    for line in console.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("test ") {
            if let Some((name, outcome)) = rest.split_once(" ... ") {
                let passed = outcome == "ok";
                let detail = outcome.strip_prefix("FAILED: ").unwrap_or("").to_string();
                results.push(TestResult { name: format!("rootserver::{name}"), passed, skipped: false, detail });
            }
        } else if let Some(counts) = closing_line(line) {
            closing = Some(counts);
        }
    }
    (results, closing)
}

/// The counts of a closing `N passed, N failed` line.
pub(crate) fn closing_line(line: &str) -> Option<(u32, u32)> {
    let (passed, failed) = line.split_once(" passed, ")?;
    Some((passed.parse().ok()?, failed.strip_suffix(" failed")?.parse().ok()?))
}

/// The normal boot: kernel banner, bootinfo printed from ring 3, every
/// rootserver test, and a clean DebugHalt.
fn main_boot(images: &Images, results: &mut Vec<TestResult>) -> Result<(), String> {
    let b = Boot::new(&images.kernel32, Some(Suite::Full.rootserver(images)));
    let out = boot_within(images, "boot_rootserver", &b, Suite::Full.limit())?;
    let boot_problems = rootserver_boot_problems(&out, results, "", Suite::Full);
    results.push(result("qemu::boot_rootserver", boot_problems));
    let fastpath_problems = match fastpath_counts(&out.console) {
        Some((calls, reply_recvs)) if calls > 0 && reply_recvs > 0 => Vec::new(),
        Some((calls, reply_recvs)) => {
            vec![format!("the suite's IPC never took a fastpath ({calls} Call, {reply_recvs} ReplyRecv)")]
        }
        None => vec!["no fastpath report at DebugHalt".into()],
    };
    results.push(result("qemu::fastpath_taken_by_the_suite", fastpath_problems));
    results.push(result("qemu::user_address_spaces_map_only_the_skim_window", skim_window_problems(&out.console)));
    let elf = std::fs::read(&images.rootserver).map_err(|e| format!("{}: {e}", images.rootserver.display()))?;
    results.push(result("qemu::failed_invocation_prints_sel4_debug_line", user_error_line_problems(&out.console, &elf)));
    let mut fallback = Vec::new();
    check_contains(&out.console, "console", "are emulated on #UD (fallback path)", &mut fallback);
    check_contains(&out.console, "console", "user interrupts: fallback path (emulated on #UD)", &mut fallback);
    results.push(result("qemu::uintr_fallback_path_without_cpu_support", fallback));
    results.push(result("qemu::dump_scheduler_prints_as_sel4", dump_scheduler_problems(&out.console)));
    Ok(())
}

/// A kernel built with `KernelRootCNodeSizeBits=16` gives the rootserver
/// a root CNode of 2^16 slots (bootinfo, the kernel's report) whose high
/// slots work: the quick suite, built for that configuration, passes,
/// among it `the_root_cnodes_last_slots_hold_working_caps` (slots 65534
/// and 65535).
fn root_cnode_16_bits_boot(images: &Images, results: &mut Vec<TestResult>) -> Result<(), String> {
    let b = Boot::new(&images.root_cnode_16_kernel32, Some(&images.root_cnode_16_rootserver));
    let out = boot_within(images, "root_cnode_16_bits", &b, Suite::Quick.limit())?;
    let mut problems = rootserver_boot_problems(&out, results, "root_cnode_16::", Suite::Quick);
    problems.extend(root_cnode_16_problems(&out.console));
    results.push(result("qemu::root_cnode_of_16_bits", problems));
    Ok(())
}

/// What a boot with a 16-bit root CNode must show besides a passing suite:
/// bootinfo's size (printed by the rootserver), the empty region running
/// to slot 65536, the kernel's snapshot of 65536 slots, and the test of
/// the last slots passed.
fn root_cnode_16_problems(console: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for needle in ["root CNode: 2^16 slots", "..65536 (", ", 65536 slots"] {
        check_contains(console, "console", needle, &mut problems);
    }
    let (tests, _) = rootserver_results(console);
    if !tests.iter().any(|t| t.name == "rootserver::the_root_cnodes_last_slots_hold_working_caps" && t.passed) {
        problems.push("the test of the root CNode's last slots did not pass".into());
    }
    problems
}

/// One line of seL4's `debug_dumpScheduler` (x86_64, no SMP, MCS or
/// domains): `%-40s   %-16s   %-18p   %4lu`.
fn sel4_tcb_line(name: &str, state: &str, ip: &str, prio: u64) -> String {
    format!("{name:<40}   {state:<16}   {ip:<18}   {prio:>4}")
}

/// The rootserver's `name_thread_and_dump_scheduler` prints where its
/// probe thread is blocked (from ReadRegisters), then has the kernel dump
/// the scheduler: seL4's header and rule, the probe with that IP (the
/// SYSCALL instruction), then the idle thread, then the rootserver, in
/// the order of seL4's debug list (newest first, idle just before the
/// boot thread).
pub(crate) fn dump_scheduler_problems(console: &str) -> Vec<String> {
    let lines: Vec<&str> = console.lines().map(str::trim_end).collect();
    let probe_ip = lines.iter().find_map(|l| {
        let hex = l.strip_prefix("dump probe: \"dump-probe\" blocked in Recv at 0x")?;
        u64::from_str_radix(hex, 16).ok()
    });
    let Some(probe_ip) = probe_ip else {
        return vec!["the rootserver printed no `dump probe:` line".into()];
    };
    let Some(start) = lines.iter().position(|l| *l == "Dumping all tcbs!") else {
        return vec!["no `Dumping all tcbs!` line".into()];
    };
    let mut problems = Vec::new();
    let header = format!("{:<40}   {:<16}   {:<18}   {:<4}", "Name", "State", "IP", "Prio");
    if lines.get(start + 1).copied() != Some(header.trim_end()) {
        problems.push(format!("header {:?}, seL4's is {header:?}", lines.get(start + 1)));
    }
    if lines.get(start + 2).copied() != Some("-".repeat(88).as_str()) {
        problems.push(format!("rule {:?}, seL4's is 88 dashes", lines.get(start + 2)));
    }
    let rows: Vec<&str> = lines[(start + 3).min(lines.len())..].iter().copied().take_while(|l| l.len() == 40 + 3 + 16 + 3 + 18 + 3 + 4).collect();
    // seL4's `%p`: 0x and no leading zeros.
    let probe = sel4_tcb_line("dump-probe", "blocked on recv", &format!("{probe_ip:#x}"), 255);
    let idle_start = format!("{:<40}   {:<16}   ", "idle_thread", "idle");
    let root_start = format!("{:<40}   {:<16}   0x", "rootserver-under-test", "running");
    let at = |what: &str, f: &dyn Fn(&str) -> bool| rows.iter().position(|r| f(r)).ok_or(what.to_string());
    let found = (
        at("no line for the blocked probe thread with its SYSCALL address", &|r| r == probe),
        at("no `idle_thread` line (state idle, priority 0)", &|r| r.starts_with(&idle_start) && r.ends_with("   0")),
        at("no line for the running rootserver", &|r| r.starts_with(&root_start) && r.ends_with(" 255")),
    );
    match found {
        (Ok(p), Ok(i), Ok(r)) if p < i && i < r => {}
        (Ok(_), Ok(_), Ok(_)) => problems.push(format!("the dump is not in seL4's order (newest first, idle before the boot thread): {rows:#?}")),
        (p, i, r) => problems.extend([p.err(), i.err(), r.err()].into_iter().flatten().map(|e| format!("{e}: {rows:#?}"))),
    }
    problems
}

/// Boots the rootserver suite on the patched QEMU with `+uintr` (and the
/// kernel command line `cmdline`), adds its tests under `prefix`, and
/// returns the boot and its problems so far; without the patched QEMU it
/// records `result_name` as failed and returns `None`.
fn suite_on_uintr_cpu(
    images: &Images,
    results: &mut Vec<TestResult>,
    (result_name, log_name, prefix): (&str, &str, &str),
    cmdline: Option<&str>,
    suite: Suite,
) -> Result<Option<(Outcome, Vec<String>)>, String> {
    let qemu = match &images.uintr.patched_qemu {
        Ok(q) => q.clone(),
        Err(why) => {
            results.push(result(result_name, vec![format!("no patched QEMU: {why}")]));
            return Ok(None);
        }
    };
    let mut b = Boot::new(&images.kernel32, Some(suite.rootserver(images)));
    b.qemu = qemu;
    b.cpu = Some(crate::uintr::uintr_cpu());
    b.cmdline = cmdline.map(String::from);
    let out = boot_within(images, log_name, &b, suite.limit())?;
    let problems = rootserver_boot_problems(&out, results, prefix, suite);
    Ok(Some((out, problems)))
}

/// The rootserver suite once more on the patched QEMU with `+uintr`: the
/// kernel takes the hardware path (CR4.UINTR, MSRs switched with threads,
/// UPIDs in the UINTR window), and every test, the user-interrupt ones
/// above all, must pass there too. The DebugHalt report must show that
/// blocked receivers were woken by the wake vector and that posts to
/// switched-out receivers were re-sent on switch-in: both mechanisms ran.
fn hardware_path_boot(images: &Images, results: &mut Vec<TestResult>) -> Result<(), String> {
    const NAME: &str = "qemu::uintr_hardware_path_runs_the_suite";
    let names = (NAME, "boot_rootserver_uintr_hardware", "hardware_path::");
    let Some((out, mut problems)) = suite_on_uintr_cpu(images, results, names, None, Suite::Full)? else {
        return Ok(());
    };
    check_contains(&out.console, "console", "the CPU has UINTR, enabled (hardware path)", &mut problems);
    match hardware_path_counts(&out.console) {
        Some((wakes, resent)) if wakes > 0 && resent > 0 => {}
        Some((wakes, resent)) => {
            problems.push(format!("the suite never exercised the switch-out of a receiver: {wakes} wake interrupts, {resent} notifications re-sent"))
        }
        None => problems.push("no hardware-path report at DebugHalt".into()),
    }
    problems.extend(skim_window_problems(&out.console));
    results.push(result(NAME, problems));
    Ok(())
}

/// The suite on the patched QEMU with `+uintr` once more, with the kernel
/// told `uintr=emulate`: on a CPU that has UINTR the kernel leaves
/// CR4.UINTR clear, the instructions raise #UD as on any other CPU, and the
/// fallback must pass the same tests. (The quick suite: the fallback path
/// took the stress tests in the main boot.)
fn emulate_option_boot(images: &Images, results: &mut Vec<TestResult>) -> Result<(), String> {
    const NAME: &str = "qemu::uintr_emulate_option_runs_the_suite";
    let names = (NAME, "boot_rootserver_uintr_emulated", "emulated_on_uintr_cpu::");
    let Some((out, mut problems)) = suite_on_uintr_cpu(images, results, names, Some("uintr=emulate"), Suite::Quick)? else {
        return Ok(());
    };
    check_contains(&out.console, "console", "the CPU has UINTR, left disabled (uintr=emulate)", &mut problems);
    check_contains(&out.console, "console", "user interrupts: fallback path (emulated on #UD)", &mut problems);
    results.push(result(NAME, problems));
    Ok(())
}

/// The kernel's `user interrupts: hardware path; N wake interrupts, M
/// notifications re-sent on switch-in` report.
fn hardware_path_counts(console: &str) -> Option<(u64, u64)> {
    console.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("user interrupts: hardware path; ")?;
        let (wakes, rest) = rest.split_once(" wake interrupts, ")?;
        let resent = rest.strip_suffix(" notifications re-sent on switch-in")?;
        Some((wakes.parse().ok()?, resent.parse().ok()?))
    })
}

/// The same rootserver suite on the kernel built without the fastpath:
/// every test must give the same result through the slowpath alone.
fn slowpath_boot(images: &Images, results: &mut Vec<TestResult>) -> Result<(), String> {
    let b = Boot::new(&images.slowpath_kernel32, Some(Suite::Full.rootserver(images)));
    let out = boot_within(images, "boot_rootserver_slowpath", &b, Suite::Full.limit())?;
    let mut problems = rootserver_boot_problems(&out, results, "slowpath::", Suite::Full);
    check_contains(&out.console, "console", "fastpath: off", &mut problems);
    results.push(result("qemu::slowpath_only_kernel_runs_the_suite", problems));
    Ok(())
}

/// The IPC benchmark rootserver runs every case to the end on the fastpath
/// kernel, printing one JSON line per case, and its IPC takes the fastpath.
/// (Only that it works is checked here; its figures belong to `cargo xtask
/// bench`.)
fn benchmark_boot(images: &Images, results: &mut Vec<TestResult>) -> Result<(), String> {
    const CASES: usize = 131;
    let mut b = Boot::new(&images.kernel32, Some(&images.bench_rootserver));
    b.extra_args = vec!["-icount".into(), "shift=0".into()];
    let out = boot(images, "ipc_benchmark", &b)?;
    let mut problems = Vec::new();
    check_status(&out, EXIT_HALTED, &mut problems);
    check_contains(&out.console, "console", &format!("ipcbench: {CASES} cases done"), &mut problems);
    // Whole lines: nothing else (a kernel message, say) may land inside one.
    let json_lines = out.console.lines().filter(|l| l.starts_with("{\"bench\":\"ipc\"") && l.trim_end().ends_with("]}")).count();
    if json_lines != CASES {
        problems.push(format!("{json_lines} whole JSON result lines instead of {CASES}"));
    }
    if !fastpath_counts(&out.console).is_some_and(|(calls, reply_recvs)| calls > 0 && reply_recvs > 0) {
        problems.push("the benchmark's IPC did not take the fastpath".into());
    }
    results.push(result("qemu::ipc_benchmark_runs_every_case", problems));
    Ok(())
}

/// The fastpath's `fastpath: N Call, M ReplyRecv taken` report.
fn fastpath_counts(console: &str) -> Option<(u64, u64)> {
    console.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("fastpath: ")?.strip_suffix(" ReplyRecv taken")?;
        let (calls, reply_recvs) = rest.split_once(" Call, ")?;
        Some((calls.parse().ok()?, reply_recvs.parse().ok()?))
    })
}

/// How many invariant checks the kernel's DebugHalt report counts.
fn invariant_checks(console: &str) -> Option<u64> {
    console.lines().find_map(|l| l.trim().strip_prefix("invariants: held at all ")?.split(' ').next()?.parse().ok())
}

/// Checks a boot of the rootserver suite and adds its tests (names
/// prefixed with `prefix`) to `results`; returns the boot's own problems.
fn rootserver_boot_problems(out: &Outcome, results: &mut Vec<TestResult>, prefix: &str, suite: Suite) -> Vec<String> {
    let mut problems = Vec::new();
    check_status(out, EXIT_HALTED, &mut problems);
    for needle in [
        "seL4-rs: booting (x86_64, pc99; multiboot 1)",
        "local APIC: id 0",
        "starting the rootserver in user mode",
        "rootserver: bootinfo at 0x",
        "untyped: ",
        "IPC buffer at 0x",
        "rootserver-under-test",
        "halting: DebugHalt called by \"rootserver-under-test\"",
    ] {
        check_contains(&out.console, "console", needle, &mut problems);
    }
    // The fuzzer alone makes a million syscalls: at least 100 checks; the
    // quick suite makes tens of thousands.
    let least = if suite == Suite::Full { 100 } else { 1 };
    match invariant_checks(&out.console) {
        Some(n) if n >= least => {}
        other => problems.push(format!("expected the kernel's invariant report with {least} or more checks, got {other:?}")),
    }
    let (tests, closing) = rootserver_results(&out.console);
    let passed = tests.iter().filter(|t| t.passed).count() as u32;
    match closing {
        None => problems.push("no closing `N passed, N failed` line from the rootserver".into()),
        Some((p, f)) if p != passed || f as usize != tests.len() - passed as usize => {
            problems.push(format!("closing line says {p} passed, {f} failed but {} test lines were printed", tests.len()))
        }
        _ => {}
    }
    if tests.is_empty() {
        problems.push("the rootserver ran no tests".into());
    }
    // The user-interrupt tests skip themselves on a kernel without the
    // extension; this kernel must run them all.
    let uintr_tests = tests.iter().filter(|t| t.name.starts_with("rootserver::uintr_") || t.name.starts_with("uintr_")).count();
    let expected_uintr = if suite == Suite::Full { 9 } else { 8 };
    if uintr_tests < expected_uintr {
        problems.push(format!("only {uintr_tests} of the rootserver's {expected_uintr} user-interrupt tests ran"));
    }
    results.extend(tests.into_iter().map(|t| TestResult { name: format!("{prefix}{}", t.name), ..t }));
    problems
}

/// seL4's userError line, as a debug kernel (`KernelPrinting`, with
/// `KernelColourPrinting`'s ANSI codes) prints it for the rootserver's
/// deliberately refused CNode Copy (the line after its marker): our decode
/// function, the current TCB (a kernel address, `TCB_OFFSET` into its
/// 2 KiB object), the thread's debug name, the address of the syscall
/// instruction (in the rootserver's code) and seL4's message.
fn user_error_line_problems(console: &str, rootserver_elf: &[u8]) -> Vec<String> {
    const MARKER: &str = "user_error_line: CNode Copy from the empty slot";
    let mut lines = console.lines().map(|l| l.trim_end_matches('\r'));
    if !lines.any(|l| l.contains(MARKER)) {
        return vec!["the rootserver did not print its user_error_line marker".into()];
    }
    let Some(line) = lines.next() else { return vec!["nothing after the user_error_line marker".into()] };
    let (bold, green, reset) = ("\x1b[0m\x1b[1m", "\x1b[0m\x1b[32m", "\x1b[0m");
    let parsed = line
        .strip_prefix(&format!("{bold}<<{green}seL4(CPU 0){bold} [cnode::decode/"))
        .and_then(|l| l.strip_suffix(&format!("]: CNode Copy/Mint/Move/Mutate: Source slot invalid or empty.>>{reset}")))
        .and_then(|l| {
            let (line_no, rest) = l.split_once(" T0x")?;
            let (tcb, rest) = rest.split_once(" \"rootserver-under-test\" @")?;
            Some((line_no.parse::<u32>().ok()?, u64::from_str_radix(tcb, 16).ok()?, u64::from_str_radix(rest, 16).ok()?))
        });
    let Some((_, tcb, ip)) = parsed else {
        return vec![format!("expected seL4's userError line for the Copy after the marker, got {line:?}")];
    };
    let mut problems = Vec::new();
    if tcb < 0xffff_ff80_0000_0000 || tcb % 0x800 != 0x400 {
        problems.push(format!("T0x{tcb:x} is not a TCB in the kernel's window"));
    }
    if !crate::elfedit::executable_ranges(rootserver_elf).iter().any(|r| r.contains(&ip)) {
        problems.push(format!("@{ip:x} is not in the rootserver's code"));
    }
    problems
}

/// The kernel reports the size of its skim window and, once the
/// rootserver's address space exists, how many kernel-half pages that
/// space maps, of which how many are the UINTR window's (at boot at most
/// the hardware path's neutral UPID); the skim window plus those must be
/// all, and the window must stay small (the entry stubs, their stack and
/// the descriptor tables).
fn skim_window_problems(console: &str) -> Vec<String> {
    const MAX_SKIM_PAGES: u64 = 16;
    let after_prefix = || console.lines().filter_map(|l| l.trim().strip_prefix("skim window: "));
    let built = after_prefix().find_map(|l| l.strip_suffix(" pages of kernel entry code and data")?.parse::<u64>().ok());
    let visible = after_prefix().find_map(|l| {
        let (pages, rest) = l.split_once(" kernel pages visible in user mode (")?;
        let uintr = rest.strip_suffix(" of them UPIDs and UITTs)")?;
        Some((pages.parse::<u64>().ok()?, uintr.parse::<u64>().ok()?))
    });
    match (built, visible) {
        (Some(built), Some((visible, uintr))) if built + uintr == visible && uintr <= 1 && (1..=MAX_SKIM_PAGES).contains(&built) => Vec::new(),
        (Some(built), Some((visible, uintr))) => vec![format!(
            "skim window has {built} pages and the UINTR window {uintr}, but user mode sees {visible} kernel pages \
             (limits: {MAX_SKIM_PAGES} skim pages, 1 UINTR page at boot)"
        )],
        _ => vec!["the kernel did not report its skim window".into()],
    }
}

/// seL4's own simulate line, unchanged (no debug-exit device, so QEMU
/// cannot end by itself): the boot must reach the rootserver's closing
/// line; QEMU is stopped as soon as it appears.
fn sel4_simulate_line(images: &Images, results: &mut Vec<TestResult>) -> Result<(), String> {
    let mut b = Boot::new(&images.kernel32, Some(Suite::Quick.rootserver(images)));
    b.debug_exit = false;
    let log = images.scratch.join("sel4_simulate_line.log");
    // Without isa-debug-exit QEMU keeps running after DebugHalt: the
    // kernel's halt report ends the boot, passed or not.
    let halted = run_until(&b, &log, "halting: DebugHalt called", Suite::Quick.limit())?;
    let console = String::from_utf8_lossy(&std::fs::read(&log).map_err(|e| format!("{}: {e}", log.display()))?).into_owned();
    let mut problems = Vec::new();
    if !halted {
        problems.push(format!("the suite never reached DebugHalt (see {})", log.display()));
    } else if !console.contains(" passed, 0 failed") {
        problems.push(format!("the suite's closing line has failures or is missing (see {})", log.display()));
    }
    results.push(result("qemu::sel4_simulate_line", problems));
    Ok(())
}

/// Makes a BIOS-bootable GRUB ISO with grub-mkrescue: `files` go into
/// `/boot` of a tree at `root` under the given names, `cfg` is its
/// `grub.cfg`.
pub(crate) fn grub_iso(root: &std::path::Path, iso: &std::path::Path, cfg: &str, files: &[(&std::path::Path, &str)]) -> Result<(), String> {
    let boot_dir = root.join("boot");
    std::fs::create_dir_all(boot_dir.join("grub")).map_err(|e| e.to_string())?;
    for (file, name) in files {
        std::fs::copy(file, boot_dir.join(name)).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    std::fs::write(boot_dir.join("grub").join("grub.cfg"), cfg).map_err(|e| e.to_string())?;
    let made =
        std::process::Command::new("grub-mkrescue").arg("-o").arg(iso).arg(root).output().map_err(|e| format!("cannot run grub-mkrescue: {e}"))?;
    if made.status.success() {
        Ok(())
    } else {
        Err(format!("grub-mkrescue failed: {}", String::from_utf8_lossy(&made.stderr).trim()))
    }
}

/// The multiboot 2 path, as on real machines: GRUB (from a BIOS ISO made
/// with grub-mkrescue) loads the ELF64 kernel and the rootserver module.
fn multiboot2_grub(images: &Images, results: &mut Vec<TestResult>) -> Result<(), String> {
    let cfg = "set timeout=0\nserial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\n\
               menuentry \"seL4-rs\" {\n  multiboot2 /boot/kernel console_port=0x3f8\n  \
               module2 /boot/rootserver rootserver\n  boot\n}\n";
    let iso = images.scratch.join("multiboot2.iso");
    let files = [(images.kernel.as_path(), "kernel"), (Suite::Quick.rootserver(images), "rootserver")];
    let mut problems = Vec::new();
    if let Err(why) = grub_iso(&images.scratch.join("grub-iso"), &iso, cfg, &files) {
        problems.push(why);
    } else {
        let mut b = Boot::new(&images.kernel32, None);
        b.boot_from_cdrom = Some(iso);
        let out = boot_within(images, "multiboot2_grub", &b, Suite::Quick.limit())?;
        check_status(&out, EXIT_HALTED, &mut problems);
        check_contains(&out.console, "console", "seL4-rs: booting (x86_64, pc99; multiboot 2)", &mut problems);
        check_contains(&out.console, "console", " passed, 0 failed", &mut problems);
    }
    results.push(result("qemu::multiboot2_grub", problems));
    Ok(())
}

/// Where a stock seL4 kernel image for this configuration can be found
/// (built with seL4's own flow, outside this repository).
pub const STOCK_KERNEL_VAR: &str = "SEL4_KERNEL_IMAGE";

/// Where the rootserver suite's outcome on stock seL4 differs from ours
/// on purpose: each test, what stock does, and why we do not copy it.
pub const STOCK_DIFFERENCES: &[StockDifference] = &[
    StockDifference {
        test: "set_tls_base_refuses_non_canonical_bases",
        on_stock: StockOutcome::Fails,
        why: "stock seL4's TCB SetTLSBase stores a non-canonical base, which the WRMSR of its next switch to the thread cannot load; ours stores 0 (as seL4's own register writes sanitise)",
    },
    StockDifference {
        test: "nt_flag_set_by_a_thread_reaches_no_kernel_exit",
        on_stock: StockOutcome::LeftOut,
        why: "stock seL4 masks only TF and IF on SYSCALL, so RFLAGS.NT reaches its kernel and the next IRETQ faults with user page tables loaded: the machine resets",
    },
];

pub struct StockDifference {
    pub test: &'static str,
    pub on_stock: StockOutcome,
    pub why: &'static str,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StockOutcome {
    /// Runs and fails on stock seL4.
    Fails,
    /// The rootserver does not run it on stock seL4 (and says so).
    LeftOut,
}

/// What must be true of one test's outcomes on our kernel and on stock
/// seL4; `None` when they agree as they should.
fn stock_comparison(name: &str, ours: &TestResult, stock: Option<&TestResult>) -> Option<String> {
    let known = STOCK_DIFFERENCES.iter().find(|d| d.test == name);
    match (known.map(|d| d.on_stock), stock) {
        (_, _) if !ours.passed => Some(format!("{name} fails on our kernel: {}", ours.detail)),
        (None, None) => Some(format!("{name} did not run on stock seL4")),
        (None, Some(t)) if !t.passed => Some(format!("{name} fails on stock seL4: {}", t.detail)),
        (None, Some(_)) => None,
        (Some(StockOutcome::LeftOut), None) => None,
        (Some(StockOutcome::Fails), Some(t)) if !t.passed => None,
        (Some(expected), _) => Some(format!("{name}: expected to be {expected:?} on stock seL4, but it was not (update STOCK_DIFFERENCES)")),
    }
}

/// Our rootserver is an ordinary seL4 program: the same image (the quick
/// suite) booted on stock seL4 and on ours must give the same outcome for
/// every test, but for this kernel's user-interrupt tests (stock seL4 has
/// no such objects; the rootserver notices and leaves them out) and the
/// listed [`STOCK_DIFFERENCES`]. The stress tests stay out: the register
/// fuzzer sets RFLAGS.NT, which resets stock seL4, and the differential
/// fuzzer compares syscall results call by call. The stock kernel is the
/// one given by `SEL4_KERNEL_IMAGE` or built from seL4's sources.
fn suite_on_stock_sel4(images: &Images, results: &mut Vec<TestResult>) -> Result<(), String> {
    const NAME: &str = "qemu::rootserver_suite_on_stock_sel4";
    let kernel = match images.difffuzz.stock_kernel32.image_or_result(NAME) {
        Ok(kernel) => kernel,
        Err(instead) => {
            results.push(instead);
            return Ok(());
        }
    };
    let rootserver = Suite::Quick.rootserver(images);
    let mut b = Boot::new(kernel, Some(rootserver));
    b.debug_exit = false;
    let log = images.scratch.join("stock_sel4_suite.log");
    run_until(&b, &log, " failed\n", STOCK_SUITE_LIMIT)?;
    let console = String::from_utf8_lossy(&std::fs::read(&log).map_err(|e| format!("{}: {e}", log.display()))?).replace('\r', "");
    let (stock, closing) = rootserver_results(&console);
    let out = boot(images, "stock_comparison_ours", &Boot::new(&images.kernel32, Some(rootserver)))?;
    let (ours, _) = rootserver_results(&out.console);
    let mut problems = Vec::new();
    if closing.is_none() {
        problems.push(format!("no closing line from the rootserver on stock seL4 (see {})", log.display()));
    }
    if !console.contains("uintr: this kernel has no user-interrupt objects") {
        problems.push("the rootserver did not notice that stock seL4 has no user-interrupt objects".into());
    }
    let find = |list: &[TestResult], name: &str| list.iter().position(|t| t.name == name);
    for t in ours.iter().filter(|t| !t.name.starts_with("rootserver::uintr_")) {
        let short = t.name.trim_start_matches("rootserver::");
        problems.extend(stock_comparison(short, t, find(&stock, &t.name).map(|i| &stock[i])));
    }
    for t in stock.iter().filter(|t| find(&ours, &t.name).is_none()) {
        problems.push(format!("{} ran on stock seL4 only", t.name));
    }
    results.push(result(NAME, problems));
    Ok(())
}

/// The environment variable naming the capdemo image (tests/sel4-c).
pub const CAPDEMO_IMAGE_VAR: &str = "SEL4_CAPDEMO_IMAGE";

/// The lines of a capdemo transcript that must agree between kernels.
fn capdemo_transcript(console: &str) -> Vec<String> {
    console.lines().map(str::trim_end).filter(|l| l.starts_with("capdemo ") || l.starts_with("step ")).map(str::to_string).collect()
}

/// A C rootserver built with seL4's own tools (libsel4 and sel4runtime;
/// source in tests/sel4-c/capdemo) that only retypes, copies, mints,
/// moves, rotates, deletes and revokes, printing every result code and
/// message word: its transcript on our kernel must equal stock seL4's.
fn capdemo_matches_stock(images: &Images, results: &mut Vec<TestResult>) -> Result<(), String> {
    const NAME: &str = "qemu::capdemo_matches_stock_sel4";
    let Some(capdemo) = std::env::var_os(CAPDEMO_IMAGE_VAR).map(PathBuf::from).filter(|p| p.exists()) else {
        results.push(skipped(NAME, &format!("set {CAPDEMO_IMAGE_VAR} (tests/sel4-c/build-capdemo.sh) to run it")));
        return Ok(());
    };
    let stock_kernel = match images.difffuzz.stock_kernel32.image_or_result(NAME) {
        Ok(kernel) => kernel,
        Err(instead) => {
            results.push(instead);
            return Ok(());
        }
    };
    let mut stock = Boot::new(stock_kernel, Some(&capdemo));
    stock.debug_exit = false;
    let stock_log = images.scratch.join("capdemo_stock.log");
    run_until(&stock, &stock_log, "capdemo done", BOOT_LIMIT)?;
    let expected = capdemo_transcript(&std::fs::read_to_string(&stock_log).unwrap_or_default().replace('\r', ""));
    let out = boot(images, "capdemo_ours", &Boot::new(&images.kernel32, Some(&capdemo)))?;
    let got = capdemo_transcript(&out.console);
    let mut problems = Vec::new();
    check_status(&out, EXIT_HALTED, &mut problems);
    if expected.last().map(String::as_str) != Some("capdemo done") {
        problems.push(format!("stock seL4 did not finish capdemo (see {})", stock_log.display()));
    }
    for (i, (e, g)) in expected.iter().zip(got.iter()).enumerate() {
        if e != g {
            problems.push(format!("line {}: seL4 says {e:?}, we say {g:?}", i + 1));
        }
    }
    if expected.len() != got.len() {
        problems.push(format!("seL4 printed {} lines, we printed {}", expected.len(), got.len()));
    }
    results.push(result(NAME, problems));
    Ok(())
}

/// `console_port=` moves the console to COM2.
fn console_port(images: &Images, results: &mut Vec<TestResult>) -> Result<(), String> {
    let com2 = images.scratch.join("console_port_com2.log");
    let _ = std::fs::remove_file(&com2);
    let mut b = Boot::new(&images.kernel32, Some(Suite::Quick.rootserver(images)));
    b.cmdline = Some("console_port=0x2f8".into());
    b.extra_serial.push(com2.clone());
    let out = boot_within(images, "console_port", &b, Suite::Quick.limit())?;
    let mut problems = Vec::new();
    check_status(&out, EXIT_HALTED, &mut problems);
    let com2_text = std::fs::read_to_string(&com2).unwrap_or_default();
    check_contains(&com2_text, "COM2", "console on port 0x2f8", &mut problems);
    check_contains(&com2_text, "COM2", "machine: console on COM2 (I/O port 0x2f8", &mut problems);
    check_contains(&com2_text, "COM2", "rootserver: bootinfo at", &mut problems);
    if out.console.contains("rootserver: bootinfo at") {
        problems.push("output still went to COM1".into());
    }
    results.push(result("qemu::console_port_cmdline", problems));
    Ok(())
}

/// A boot that must fail: its console must hold every line of
/// `expected` (`boot failed: ...`, or a kernel fault report) and QEMU must
/// end with the failure status.
#[derive(Clone, Default)]
struct Refusal<'a> {
    name: &'a str,
    module: Option<Vec<u8>>,
    cpu: Option<&'a str>,
    cmdline: Option<&'a str>,
    memory: Option<&'a str>,
    expected: &'a [&'a str],
}

fn refused(images: &Images, case: &Refusal<'_>, results: &mut Vec<TestResult>) -> Result<(), String> {
    let module_path = match &case.module {
        Some(bytes) => Some(write_module(images, case.name, bytes)?),
        None => None,
    };
    let mut b = Boot::new(&images.kernel32, module_path.as_deref());
    if let Some(cpu) = case.cpu {
        b.extra_args = vec!["-cpu".into(), cpu.into()];
    }
    if let Some(memory) = case.memory {
        b.memory = memory.into();
    }
    b.cmdline = case.cmdline.map(str::to_string);
    let out = boot(images, case.name, &b)?;
    let mut problems = Vec::new();
    check_status(&out, EXIT_FAILED, &mut problems);
    for expected in case.expected {
        check_contains(&out.console, "console", expected, &mut problems);
    }
    if out.console.contains("starting the rootserver") && !case.expected.iter().any(|e| e.starts_with("KERNEL")) {
        problems.push("the kernel started the rootserver anyway".into());
    }
    results.push(result(&format!("qemu::{}", case.name), problems));
    Ok(())
}

pub fn run_all(images: &Images, mut report: impl FnMut(&TestResult)) -> Result<Vec<TestResult>, String> {
    let mut results = Vec::new();
    let elf = std::fs::read(&images.rootserver).map_err(|e| format!("{}: {e}", images.rootserver.display()))?;
    let mut step = |results: &mut Vec<TestResult>, f: &dyn Fn(&mut Vec<TestResult>) -> Result<(), String>| {
        let before = results.len();
        f(results)?;
        for r in &results[before..] {
            report(r);
        }
        Ok::<(), String>(())
    };
    step(&mut results, &|r| main_boot(images, r))?;
    step(&mut results, &|r| hardware_path_boot(images, r))?;
    step(&mut results, &|r| emulate_option_boot(images, r))?;
    step(&mut results, &|r| suite_on_stock_sel4(images, r))?;
    step(&mut results, &|r| capdemo_matches_stock(images, r))?;
    step(&mut results, &|r| crate::difffuzz::run(&images.kernel32, &images.difffuzz, &images.scratch, r))?;
    step(&mut results, &|r| console_port(images, r))?;
    step(&mut results, &|r| slowpath_boot(images, r))?;
    step(&mut results, &|r| root_cnode_16_bits_boot(images, r))?;
    step(&mut results, &|r| benchmark_boot(images, r))?;
    step(&mut results, &|r| sel4_simulate_line(images, r))?;
    step(&mut results, &|r| multiboot2_grub(images, r))?;
    step(&mut results, &|r| time_limit_leaves_cpu_state(images, r))?;
    step(&mut results, &|r| crate::netboot::run(images, r))?;
    step(&mut results, &|r| crate::firmware::run(images, r))?;
    step(&mut results, &|r| crate::uintr::absent_on_stock_qemu(&images.uintr, r))?;
    step(&mut results, &|r| crate::uintr::harness_selftest(&images.uintr, r))?;
    step(&mut results, &|r| crate::uintr::on_patched_qemu(&images.uintr, r))?;
    step(&mut results, &|r| crate::bochs::on_bochs(images, r))?;
    step(&mut results, &|r| crate::sel4test::run(&images.cmake, &images.scratch, r))?;
    let module = |bytes: Vec<u8>| Some(bytes);
    let no_1g = SEL4_CPU.replace("+pdpe1gb", "-pdpe1gb");
    let no_syscall = SEL4_CPU.replace("+syscall", "-syscall");
    let cases = [
        Refusal { name: "no_module", expected: &["boot failed: no boot module"], ..Default::default() },
        Refusal {
            name: "not_elf",
            module: module(elfedit::not_elf()),
            expected: &["boot failed: rootserver module rejected: not an ELF file"],
            ..Default::default()
        },
        Refusal {
            name: "truncated_elf",
            module: module(elfedit::truncated(&elf)),
            expected: &["boot failed: rootserver module rejected: truncated ELF"],
            ..Default::default()
        },
        Refusal {
            name: "elf32_class",
            module: module(elfedit::elf32_class(&elf)),
            expected: &["boot failed: rootserver module rejected: ELF class 1 is not ELF64"],
            ..Default::default()
        },
        Refusal {
            name: "wrong_machine",
            module: module(elfedit::wrong_machine(&elf)),
            expected: &["boot failed: rootserver module rejected: ELF machine 3 is not x86_64"],
            ..Default::default()
        },
        Refusal {
            name: "segment_in_kernel",
            module: module(elfedit::segment_in_kernel(&elf)),
            expected: &["overlaps the kernel"],
            ..Default::default()
        },
        // 16 GiB of bss: 4 Mi frames, far more than the root CNode holds.
        Refusal {
            name: "image_of_16_gib_too_many_caps",
            module: module(elfedit::grown_by(&elf, 16 << 30)),
            expected: &["boot failed: the rootserver needs ", "more than the root CNode's 8192 slots (2^13 slots: KernelRootCNodeSizeBits)"],
            ..Default::default()
        },
        // One 2 GiB segment used to overflow the boot page-table list.
        Refusal {
            name: "image_of_one_2_gib_segment",
            module: module(elfedit::one_segment_of(&elf, 2 << 30)),
            expected: &["boot failed: the rootserver needs 525334 initial caps (524288 image frames, 1029 paging structures"],
            ..Default::default()
        },
        Refusal {
            name: "image_of_64_mib_too_many_caps",
            module: module(elfedit::one_segment_of(&elf, 64 << 20)),
            expected: &["boot failed: the rootserver needs 16436 initial caps (16384 image frames, 35 paging structures"],
            ..Default::default()
        },
        // 28 MiB of image fits the root CNode but not a 24 MiB machine.
        Refusal {
            name: "image_larger_than_ram",
            module: module(elfedit::one_segment_of(&elf, 28 << 20)),
            memory: Some("24M"),
            expected: &["which is not free RAM"],
            ..Default::default()
        },
        Refusal {
            name: "cpu_without_1g_pages",
            module: module(elf.clone()),
            cpu: Some(&no_1g),
            expected: &["boot failed: this CPU lacks a required feature: 1 GiB pages"],
            ..Default::default()
        },
        Refusal {
            name: "cpu_without_syscall",
            module: module(elf.clone()),
            cpu: Some(&no_syscall),
            expected: &["boot failed: this CPU lacks a required feature: SYSCALL/SYSRET"],
            ..Default::default()
        },
        Refusal {
            name: "kernel_fault_report",
            module: module(elf.clone()),
            cmdline: Some("selftest=kernel_fault"),
            expected: &["KERNEL FAULT: vector 14 (page fault), error code 0x0, RIP 0xffffffff8", "CR2 0x100000000008"],
            ..Default::default()
        },
        // A fault inside the exit stub, with the rootserver's address
        // space loaded, where only the skim window is mapped.
        Refusal {
            name: "kernel_fault_in_the_exit_stub_is_reported",
            module: module(elf.clone()),
            cmdline: Some("selftest=exit_stub_fault"),
            expected: &[
                "KERNEL FAULT: vector 13 (general protection fault), error code 0x0",
                "(a user address space: the trap came in an entry or exit stub)",
                "halting",
            ],
            ..Default::default()
        },
        Refusal {
            name: "kernel_panic_report",
            module: module(elf.clone()),
            cmdline: Some("selftest=panic"),
            expected: &["KERNEL PANIC: panicked at kernel/src/boot/init.rs", "selftest: panic requested on the kernel command line"],
            ..Default::default()
        },
    ];
    for case in &cases {
        step(&mut results, &|r| refused(images, case, r))?;
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(passed: bool) -> TestResult {
        TestResult { name: String::new(), passed, skipped: false, detail: String::new() }
    }

    #[test]
    fn stock_outcomes_agree_or_differ_as_listed() {
        let (ok, failed) = (outcome(true), outcome(false));
        assert_eq!(stock_comparison("ipc", &ok, Some(&ok)), None);
        assert!(stock_comparison("ipc", &ok, Some(&failed)).is_some());
        assert!(stock_comparison("ipc", &ok, None).is_some());
        assert!(stock_comparison("ipc", &failed, Some(&failed)).is_some());
        let fails = "set_tls_base_refuses_non_canonical_bases";
        assert_eq!(stock_comparison(fails, &ok, Some(&failed)), None);
        assert!(stock_comparison(fails, &ok, Some(&ok)).is_some(), "a listed difference that went away is reported");
        let left_out = "nt_flag_set_by_a_thread_reaches_no_kernel_exit";
        assert_eq!(stock_comparison(left_out, &ok, None), None);
        assert!(stock_comparison(left_out, &ok, Some(&ok)).is_some());
    }

    /// An ELF64 header and one PT_LOAD program header for `vaddr..+size`.
    fn elf_with_code(vaddr: u64, size: u64) -> Vec<u8> {
        let mut elf = vec![0u8; 64 + 56];
        elf[32..40].copy_from_slice(&64u64.to_le_bytes());
        elf[56..58].copy_from_slice(&1u16.to_le_bytes());
        elf[64..68].copy_from_slice(&1u32.to_le_bytes());
        elf[68..72].copy_from_slice(&5u32.to_le_bytes());
        elf[80..88].copy_from_slice(&vaddr.to_le_bytes());
        elf[104..112].copy_from_slice(&size.to_le_bytes());
        elf
    }

    const LINE: &str = "\x1b[0m\x1b[1m<<\x1b[0m\x1b[32mseL4(CPU 0)\x1b[0m\x1b[1m [cnode::decode/92 T0xffffff80bffdec00 \
                        \"rootserver-under-test\" @41b405]: CNode Copy/Mint/Move/Mutate: Source slot invalid or empty.>>\x1b[0m";

    #[test]
    fn the_user_error_line_after_the_marker_is_checked() {
        let console = |line: &str| format!("test a ... ok\r\nuser_error_line: CNode Copy from the empty slot 883 into slot 884\r\n{line}\r\n");
        let code = elf_with_code(0x4053c0, 0x1856f);
        assert_eq!(user_error_line_problems(&console(LINE), &code), Vec::<String>::new());
        let elsewhere = elf_with_code(0x500000, 0x1000);
        assert_eq!(user_error_line_problems(&console(LINE), &elsewhere), vec!["@41b405 is not in the rootserver's code".to_string()]);
        let not_a_tcb = LINE.replace("T0xffffff80bffdec00", "T0xffffff80bffde800");
        assert_eq!(user_error_line_problems(&console(&not_a_tcb), &code).len(), 1);
        let other_thread = LINE.replace("rootserver-under-test", "worker");
        assert!(user_error_line_problems(&console(&other_thread), &code)[0].starts_with("expected seL4's userError line"));
        assert_eq!(user_error_line_problems(&console(""), &code).len(), 1);
        assert_eq!(user_error_line_problems("", &code), vec!["the rootserver did not print its user_error_line marker".to_string()]);
    }

    #[test]
    fn root_cnode_16_check_needs_every_sign_of_the_size() {
        let console = "  empty slots 182..65536 (65354 free), user image frames 20..81, paging 16..19\n\
                       root CNode: 2^16 slots, domain 0\n\
                       snapshot of \"rootserver-under-test\": root CNode at 0xffffff80bfc00000, 65536 slots\n\
                       test the_root_cnodes_last_slots_hold_working_caps ... ok\n";
        assert_eq!(root_cnode_16_problems(console), Vec::<String>::new());
        assert_eq!(root_cnode_16_problems(&console.replace("2^16", "2^13")).len(), 1);
        assert_eq!(root_cnode_16_problems(&console.replace("... ok", "... FAILED: x")).len(), 1);
    }

    #[test]
    fn dump_scheduler_check_reads_sel4s_layout() {
        let rule = "-".repeat(88);
        // What stock seL4 (sel4test's debug configuration) printed for the
        // rootserver's probe.
        let console = format!(
            "dump probe: \"dump-probe\" blocked in Recv at 0x000000000041a73d\r\n\
             Dumping all tcbs!\r\n\
             Name                                       State              IP                   Prio\r\n\
             {rule}\r\n\
             dump-probe                                 blocked on recv    0x41a73d              255\r\n\
             idle_thread                                idle               0                       0\r\n\
             rootserver-under-test                      running            0x41adaf              255\r\n\
             test name_thread_and_dump_scheduler ... ok\r\n"
        );
        assert_eq!(dump_scheduler_problems(&console), Vec::<String>::new());
        // The IP two bytes past the SYSCALL, as this kernel printed it before.
        let late = console.replace("blocked on recv    0x41a73d", "blocked on recv    0x41a73f");
        assert_eq!(dump_scheduler_problems(&late).len(), 1);
        let no_idle = console.replace("idle_thread", "idle_threax");
        let p = dump_scheduler_problems(&no_idle);
        assert!(p.len() == 1, "{p:?}");
        let old_header = console.replace("State              IP                   Prio", "State      IP  Prio  Core");
        let p = dump_scheduler_problems(&old_header);
        assert!(p.len() == 1 && p[0].starts_with("header"), "{p:?}");
    }
}
