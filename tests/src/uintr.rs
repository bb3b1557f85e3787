//! The UINTR conformance suites: the bare-metal image of
//! `tests/uintr-conformance` booted
//!
//! - on the patched QEMU with `+uintr` and `-smp 2` (every UINTR rule,
//!   the second CPU as a receiver for the cross-CPU tests; one result per
//!   `ok`/`FAIL` line of the image, named `uintr::NAME`),
//! - the same with `-icount shift=0` (one result for the whole boot),
//! - on the patched QEMU without `+uintr`, in the image's `absent strict`
//!   mode (CPUID clear, CR4.UINTR and the MSRs refused, every UINTR
//!   instruction #UDs; `uintr-absent-strict::NAME`),
//! - on the patched QEMU with `+uintr` in the image's `architectural`
//!   mode (the rules that are only our models' left out, saying why; the
//!   rest must pass; one result),
//! - on the stock `qemu-system-x86_64`, in `absent` mode (CPUID clear and
//!   every UINTR instruction #UDs; `uintr-absent::NAME`). This one runs
//!   even when the patched QEMU is not available.

use crate::qemu::{run_captured, Boot, Outcome, EXIT_FAILED, EXIT_HALTED, SEL4_CPU};
use crate::suites::{result, TestResult};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A boot of the image takes well under a second; TCG on a loaded machine
/// and the image's own 10 s per-test watchdog need more.
const LIMIT: Duration = Duration::from_secs(180);

/// What the UINTR suites need.
#[derive(Clone, Debug)]
pub struct UintrImages {
    /// The elf32 copy of the conformance image (for `-kernel`).
    pub image32: PathBuf,
    /// The patched QEMU, or why there is none.
    pub patched_qemu: Result<PathBuf, String>,
    pub scratch: PathBuf,
}

/// The CPU model for the patched QEMU: seL4's, plus UINTR.
pub fn uintr_cpu() -> String {
    format!("{SEL4_CPU},+uintr")
}

/// One `ok NAME` / `FAIL NAME: why` line.
#[derive(Debug, PartialEq, Eq)]
pub struct Line {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// Parses the image's console: its test lines and the closing
/// `N passed, N failed`.
pub fn parse(console: &str) -> (Vec<Line>, Option<(u32, u32)>) {
    let mut lines = Vec::new();
    let mut closing = None;
    for line in console.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("ok ") {
            lines.push(Line { name: name.trim().to_string(), passed: true, detail: String::new() });
        } else if let Some(rest) = line.strip_prefix("FAIL ") {
            let (name, why) = rest.split_once(": ").unwrap_or((rest, "(no reason given)"));
            lines.push(Line { name: name.trim().to_string(), passed: false, detail: why.to_string() });
        } else if let Some(counts) = crate::suites::closing_line(line) {
            closing = Some(counts);
        }
    }
    (lines, closing)
}

/// Checks a boot of the image (banner, closing line, exit status) and adds
/// one result per test line, prefixed with `prefix`; returns the boot's
/// own problems.
pub fn boot_problems(out: &Outcome, banner: &str, prefix: &str, results: &mut Vec<TestResult>) -> Vec<String> {
    let mut problems = Vec::new();
    if !out.console.contains(banner) {
        problems.push(format!("console lacks {banner:?}"));
    }
    let (lines, closing) = parse(&out.console);
    let passed = lines.iter().filter(|l| l.passed).count() as u32;
    let failed = lines.len() as u32 - passed;
    match closing {
        None => problems
            .push(format!("no closing `N passed, N failed` line: hung or crashed after {}", lines.last().map_or("the banner", |l| l.name.as_str()))),
        Some((p, f)) if (p, f) != (passed, failed) => {
            problems.push(format!("closing line says {p} passed, {f} failed, but {passed} ok and {failed} FAIL lines were printed"))
        }
        _ => {}
    }
    if lines.is_empty() {
        problems.push("the image ran no tests".into());
    }
    let want = if failed == 0 && closing.is_some() { EXIT_HALTED } else { EXIT_FAILED };
    match out.status {
        Some(s) if s == want => {}
        Some(s) => problems.push(format!("QEMU exit status {s}, expected {want}")),
        None => problems.push(format!("QEMU was killed by the {} s time limit or died on a signal", LIMIT.as_secs())),
    }
    for l in lines {
        results.push(TestResult { name: format!("{prefix}{}", l.name), passed: l.passed, skipped: false, detail: l.detail });
    }
    problems
}

fn boot(images: &UintrImages, qemu: &Path, cpu: String, append: Option<&str>, extra: &[&str], log: &str) -> Result<Outcome, String> {
    let mut b = Boot::new(&images.image32, None);
    b.qemu = qemu.to_path_buf();
    b.cpu = Some(cpu);
    b.cmdline = append.map(str::to_string);
    b.extra_args = extra.iter().map(|a| a.to_string()).collect();
    run_captured(&b, &images.scratch.join(log), LIMIT)
}

/// The full suite needs a second CPU for its cross-CPU tests.
const SMP: [&str; 2] = ["-smp", "2"];

/// The image on stock QEMU (no UINTR): it must say so and every UINTR
/// instruction must #UD.
pub fn absent_on_stock_qemu(images: &UintrImages, results: &mut Vec<TestResult>) -> Result<(), String> {
    let out = boot(images, Path::new(crate::qemu::DEFAULT_QEMU), SEL4_CPU.into(), Some("absent"), &[], "uintr_absent.log")?;
    let problems = boot_problems(&out, "UINTR absent (CPUID.(7,0):EDX", "uintr-absent::", results);
    results.push(result("qemu::uintr_absent_on_stock_qemu", problems));
    Ok(())
}

/// The image's harness self-test (stock QEMU): tests built to fail must
/// fail, each with its reason, and the run must end with the failure
/// status; one that passes must pass.
pub fn harness_selftest(images: &UintrImages, results: &mut Vec<TestResult>) -> Result<(), String> {
    let out = boot(images, Path::new(crate::qemu::DEFAULT_QEMU), SEL4_CPU.into(), Some("selftest"), &[], "uintr_selftest.log")?;
    let mut problems = Vec::new();
    let (lines, closing) = parse(&out.console);
    let expected: [(&str, Option<&str>); 7] = [
        ("selftest_check_fails", Some("deliberate mismatch: got 0x1, expected 0x2")),
        ("selftest_unexpected_gp_ring0", Some("unexpected #GP(0x0) at 0x")),
        ("selftest_unexpected_pf_ring3", Some("unexpected #PF(0x5) at 0x")),
        ("selftest_watchdog_ring3", Some("watchdog: the test ran too long")),
        ("selftest_expected_fault_missing", Some("expected #GP, got no fault")),
        ("selftest_delivery_wait_times_out", Some("no user interrupt arrived within 100000 spins")),
        ("selftest_passes", None),
    ];
    for (name, reason) in expected {
        match (lines.iter().find(|l| l.name == name), reason) {
            (None, _) => problems.push(format!("no line for {name}")),
            (Some(l), None) if !l.passed => problems.push(format!("{name} failed: {}", l.detail)),
            (Some(l), Some(_)) if l.passed => problems.push(format!("{name} passed but must fail")),
            (Some(l), Some(r)) if !l.passed && !l.detail.contains(r) => problems.push(format!("{name} failed with {:?}, expected {r:?}", l.detail)),
            _ => {}
        }
    }
    if closing != Some((1, 6)) {
        problems.push(format!("closing line {closing:?}, expected 1 passed, 6 failed"));
    }
    if out.status != Some(EXIT_FAILED) {
        problems.push(format!("QEMU exit status {:?}, expected {EXIT_FAILED}", out.status));
    }
    results.push(result("qemu::uintr_harness_reports_failures", problems));
    Ok(())
}

/// The image on the patched QEMU, with and without `+uintr`.
pub fn on_patched_qemu(images: &UintrImages, results: &mut Vec<TestResult>) -> Result<(), String> {
    let qemu = match &images.patched_qemu {
        Ok(q) => q.clone(),
        Err(why) => {
            results.push(result("qemu::uintr_conformance", vec![format!("no patched QEMU: {why}")]));
            return Ok(());
        }
    };
    let out = boot(images, &qemu, uintr_cpu(), None, &SMP, "uintr_conformance.log")?;
    let problems = boot_problems(&out, "UINTR present", "uintr::", results);
    results.push(result("qemu::uintr_conformance", problems));

    // The same under -icount (the project's benchmarks use it): one result
    // for the whole boot.
    let icount = [SMP[0], SMP[1], "-icount", "shift=0"];
    let out = boot(images, &qemu, uintr_cpu(), None, &icount, "uintr_conformance_icount.log")?;
    let mut icount_results = Vec::new();
    let mut problems = boot_problems(&out, "UINTR present", "", &mut icount_results);
    if let Some(fatal) = out.console.lines().find(|l| l.contains("qemu: fatal")) {
        let last = icount_results.last().map_or("the banner".to_string(), |r| r.name.clone());
        problems.insert(0, format!("{} (after test {last})", fatal.trim()));
    }
    problems.extend(icount_results.iter().filter(|r| !r.passed).map(|r| format!("{}: {}", r.name, r.detail)));
    results.push(result("qemu::uintr_conformance_icount", problems));

    // `architectural`: what other models and hardware are held to. Every
    // rule that is only our models' must be left out, saying why, and the
    // rest must pass.
    let out = boot(images, &qemu, uintr_cpu(), Some("architectural"), &SMP, "uintr_conformance_architectural.log")?;
    let mut architectural = Vec::new();
    let mut problems = boot_problems(&out, "UINTR present", "", &mut architectural);
    problems.extend(architectural_mode_problems(&out.console, &architectural));
    results.push(result("qemu::uintr_conformance_architectural_mode", problems));

    let out = boot(images, &qemu, SEL4_CPU.into(), Some("absent strict"), &[], "uintr_absent_strict.log")?;
    let problems = boot_problems(&out, "UINTR absent (CPUID.(7,0):EDX", "uintr-absent-strict::", results);
    results.push(result("qemu::uintr_absent_on_patched_qemu", problems));
    Ok(())
}

/// The `architectural` run: at least one rule left out as our models'
/// (each with its reason), none of them run, every other one passed.
fn architectural_mode_problems(console: &str, ran: &[TestResult]) -> Vec<String> {
    let mut problems = Vec::new();
    let left_out: Vec<&str> = console
        .lines()
        .filter_map(|l| l.trim().strip_prefix("skipped "))
        .filter_map(|l| l.split_once(": not architectural ("))
        .map(|(name, _)| name)
        .collect();
    if left_out.is_empty() {
        problems.push("no rule was left out as a property of our models".into());
    }
    for name in &left_out {
        if ran.iter().any(|r| r.name == *name) {
            problems.push(format!("{name} was left out and still ran"));
        }
    }
    problems.extend(ran.iter().filter(|r| !r.passed).map(|r| format!("{}: {}", r.name, r.detail)));
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ok_fail_and_closing_lines() {
        let console =
            "SeaBIOS noise\r\nuintr-conformance: APIC ID 0, UINTR present\nok a\nFAIL b: PIR: got 0x0, expected 0x20\nFAIL c\n1 passed, 2 failed\n";
        let (lines, closing) = parse(console);
        assert_eq!(closing, Some((1, 2)));
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], Line { name: "a".into(), passed: true, detail: String::new() });
        assert_eq!(lines[1].name, "b");
        assert_eq!(lines[1].detail, "PIR: got 0x0, expected 0x20");
        assert!(!lines[2].passed);
    }

    #[test]
    fn architectural_mode_needs_rules_left_out_and_the_rest_passing() {
        let ran = |passed| vec![TestResult { name: "a".into(), passed, skipped: false, detail: "x".into() }];
        let console = "skipped m: not architectural (our QEMU only)\nok a\n";
        assert!(architectural_mode_problems(console, &ran(true)).is_empty());
        assert_eq!(architectural_mode_problems(console, &ran(false)).len(), 1);
        assert_eq!(architectural_mode_problems("ok a\n", &ran(true)).len(), 1, "nothing left out");
        let mut ran_it = ran(true);
        ran_it.push(TestResult { name: "m".into(), passed: true, skipped: false, detail: String::new() });
        assert_eq!(architectural_mode_problems(console, &ran_it).len(), 1, "left out and run");
    }

    #[test]
    fn boot_problems_catch_mismatches() {
        let out = Outcome { console: "UINTR present\nok a\nok b\n2 passed, 0 failed\n".into(), status: Some(EXIT_HALTED) };
        let mut results = Vec::new();
        assert!(boot_problems(&out, "UINTR present", "uintr::", &mut results).is_empty());
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].name, "uintr::a");

        // A hang: no closing line, killed by the time limit.
        let out = Outcome { console: "UINTR present\nok a\n".into(), status: None };
        let problems = boot_problems(&out, "UINTR present", "uintr::", &mut Vec::new());
        assert_eq!(problems.len(), 2, "{problems:?}");

        // A failure must end with the failure status.
        let out = Outcome { console: "UINTR present\nFAIL a: x\n0 passed, 1 failed\n".into(), status: Some(EXIT_HALTED) };
        assert_eq!(boot_problems(&out, "UINTR present", "", &mut Vec::new()).len(), 1);
    }
}
