//! seL4's CMake flow with seL4-rs as the kernel, and seL4's own test suite.
//!
//! sel4test's sources come as a tarball of the tree seL4's sel4test
//! manifest checks out (kernel/, tools/seL4/, projects/...). It is extracted
//! into a cache directory, and each build tree there is made the way a
//! seL4 user makes one, with the one extra option of the drop-in:
//!
//! ```text
//! ../init-build.sh -DPLATFORM=x86_64 -DSIMULATION=TRUE -DCMAKE_MODULE_PATH=<repo>/cmake [-DRELEASE=TRUE]
//! ninja
//! ./simulate
//! ```
//!
//! Trees are kept between runs: a second run only lets `ninja` (and cargo
//! behind `kernel.elf`) rebuild what changed. The suites:
//! - `sel4test-debug::NAME`, `sel4test-release::NAME`: every test sel4test
//!   runs, from its console; `sel4test::debug` and `sel4test::release`
//!   pass only on its closing "Test suite passed" and "All is well in the
//!   universe". QEMU is stopped once one of sel4test's final lines appears.
//! - `cmake::*`: an option value the kernel does not implement stops
//!   `init-build.sh` with one message; the kernel `ninja` builds equals the
//!   one `cargo xtask` builds for the same preset; options given on the
//!   command line reach the kernel (tests/sel4-c/cfgprobe, a root server
//!   that checks the kernel against the configuration it was compiled for).

use crate::qemu::{run_captured, run_until, Boot, EXIT_HALTED};
use crate::suites::{result, TestResult};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Names the sources: the tarball, or a tree already extracted from it.
pub const SOURCES_VAR: &str = "SEL4TEST_SOURCES";
/// Where the tarball is unless `SEL4TEST_SOURCES` says otherwise: in this
/// directory beside the repository (or beside one of its parents).
pub const DEFAULT_TARBALL: &str = "shared/sel4-src/sel4test-src.tar.xz";

/// sel4test boots take 70-115 s under TCG on an idle machine; several
/// times that on a loaded one.
const SEL4TEST_LIMIT: Duration = Duration::from_secs(1800);
/// For configure and build steps (musllibc is most of a build).
const BUILD_LIMIT: Duration = Duration::from_secs(3600);
const PROBE_LIMIT: Duration = Duration::from_secs(300);

/// sel4test's final lines, one of which ends every complete run.
const ALL_WELL: &str = "All is well in the universe";
const FINAL_LINES: [&str; 3] = [ALL_WELL, "*** FAILURES DETECTED ***", "*** ALL tests not run ***"];
/// What seL4-rs prints when it stops (without the debug-exit device, it
/// then halts and QEMU would wait for the time limit).
const KERNEL_STOPPED: [&str; 4] = ["KERNEL FAULT:", "KERNEL PANIC:", "boot failed:", "halting: "];

/// What the CMake suites need from the xtask.
#[derive(Clone, Debug)]
pub struct CmakeInputs {
    /// The repository root (its `cmake/` directory is the drop-in).
    pub repo: PathBuf,
    /// sel4test's sources, or why there are none.
    pub sources: Result<PathBuf, String>,
    /// Where sources are extracted and trees built (kept between runs).
    pub cache: PathBuf,
    /// Kernels `cargo xtask` built for presets: (preset, ELF64).
    pub preset_kernels: Vec<(String, PathBuf)>,
    /// The default configuration's kernel (elf32), which cfgprobe must
    /// find different from its own configuration.
    pub default_kernel32: PathBuf,
}

/// The sel4test builds the test suite runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Debug,
    Release,
}

impl Variant {
    pub const ALL: [Variant; 2] = [Variant::Debug, Variant::Release];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Debug => "debug",
            Variant::Release => "release",
        }
    }

    /// sel4test's own options for this build.
    pub fn options(self) -> Vec<String> {
        let mut o = vec!["-DPLATFORM=x86_64".to_string(), "-DSIMULATION=TRUE".to_string()];
        if self == Variant::Release {
            o.push("-DRELEASE=TRUE".into());
        }
        o
    }

    /// The `cargo xtask` preset with the same kernel configuration.
    pub fn preset(self) -> &'static str {
        match self {
            Variant::Debug => "sel4test-debug",
            Variant::Release => "sel4test-release",
        }
    }
}

/// The drop-in's one option.
pub fn dropin_option(repo: &Path) -> String {
    format!("-DCMAKE_MODULE_PATH={}", repo.join("cmake").display())
}

/// Finds sel4test's sources: `SEL4TEST_SOURCES`, else the tarball beside
/// the repository or beside one of the directories above it.
pub fn find_sources(repo: &Path) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(SOURCES_VAR) {
        let p = PathBuf::from(p);
        return if p.exists() { Ok(p) } else { Err(format!("{SOURCES_VAR}={} does not exist", p.display())) };
    }
    if let Some(found) = repo.ancestors().skip(1).map(|d| d.join(DEFAULT_TARBALL)).find(|p| p.is_file()) {
        return Ok(found);
    }
    Err(format!(
        "sel4test's sources are missing: put sel4test-src.tar.xz at {} or set {SOURCES_VAR} to the tarball \
         (or to a tree extracted from it)",
        repo.parent().unwrap_or(repo).join(DEFAULT_TARBALL).display()
    ))
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= b as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The extracted tree (the directory holding `init-build.sh`), extracting
/// the tarball into the cache the first time.
pub fn source_tree(sources: &Path, cache: &Path) -> Result<PathBuf, String> {
    if sources.is_dir() {
        return Ok(sources.to_path_buf());
    }
    let bytes = std::fs::read(sources).map_err(|e| format!("{}: {e}", sources.display()))?;
    let dir = cache.join(format!("src-{:016x}", fnv(&bytes)));
    let tree = dir.join("sel4test-src");
    if dir.join(".extracted").is_file() {
        return Ok(tree);
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    eprintln!("sel4test: extracting {} into {}", sources.display(), dir.display());
    let status = Command::new("tar").arg("-xJf").arg(sources).arg("-C").arg(&dir).status().map_err(|e| format!("cannot run tar: {e}"))?;
    if !status.success() || !tree.join("init-build.sh").exists() {
        return Err(format!("extracting {} into {} failed (expected sel4test-src/init-build.sh)", sources.display(), dir.display()));
    }
    std::fs::write(dir.join(".extracted"), b"").map_err(|e| e.to_string())?;
    Ok(tree)
}

/// Runs a command with its output in `log`, killing it after `limit`;
/// returns whether it succeeded.
pub(crate) fn run_logged(cmd: &mut Command, log: &Path, limit: Duration) -> Result<bool, String> {
    let file = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    let mut child = cmd.stdin(Stdio::null()).stdout(file).stderr(err).spawn().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(status.success());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn read_lossy(path: &Path) -> String {
    let mut bytes = Vec::new();
    let _ = File::open(path).and_then(|mut f| f.read_to_end(&mut bytes));
    String::from_utf8_lossy(&bytes).replace('\r', "")
}

/// The last lines of a log, for failure details.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let text = read_lossy(path);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join(" | ")
}

/// Configures (when the tree is new or was made with other options) and
/// builds the project at `project` in `build`, as a seL4 user does:
/// `init-build.sh OPTIONS` in the build directory, then `ninja`.
pub fn build_tree(project: &Path, build: &Path, options: &[String]) -> Result<(), String> {
    configure_tree(project, build, options)?;
    let log = build.join("ninja.log");
    eprintln!("sel4test: ninja in {} (a new tree takes minutes)", build.display());
    if !run_logged(Command::new("ninja").current_dir(build), &log, BUILD_LIMIT)? {
        return Err(format!("ninja failed in {} (log {}): {}", build.display(), log.display(), tail(&log, 8)));
    }
    Ok(())
}

/// The configure half of [`build_tree`].
pub fn configure_tree(project: &Path, build: &Path, options: &[String]) -> Result<(), String> {
    let stamp = build.join(".sel4-rs-init-options");
    let wanted = format!("{}\n{}\n", project.display(), options.join("\n"));
    let configured = build.join("build.ninja").is_file() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str());
    if !configured {
        let _ = std::fs::remove_dir_all(build);
        std::fs::create_dir_all(build).map_err(|e| format!("{}: {e}", build.display()))?;
        let log = build.join("init-build.log");
        eprintln!("sel4test: init-build.sh {} (in {})", options.join(" "), build.display());
        let ok = run_logged(Command::new(project.join("init-build.sh")).args(options).current_dir(build), &log, BUILD_LIMIT)?;
        if !ok {
            return Err(format!("init-build.sh failed in {} (log {}): {}", build.display(), log.display(), tail(&log, 8)));
        }
        std::fs::write(&stamp, &wanted).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Builds sel4test for `variant` with seL4-rs through the drop-in; returns
/// the build directory.
pub fn build_sel4test(inputs: &CmakeInputs, variant: Variant) -> Result<PathBuf, String> {
    let sources = inputs.sources.clone()?;
    let tree = source_tree(&sources, &inputs.cache)?;
    let build = inputs.cache.join(format!("build-{}", variant.name()));
    let mut options = variant.options();
    options.push(dropin_option(&inputs.repo));
    build_tree(&tree, &build, &options)?;
    Ok(build)
}

/// Builds sel4test for `variant` with seL4's own kernel (no drop-in), for
/// comparisons; returns its `images/kernel-x86_64-pc99`.
pub fn build_stock_kernel(inputs: &CmakeInputs, variant: Variant) -> Result<PathBuf, String> {
    let sources = inputs.sources.clone()?;
    let tree = source_tree(&sources, &inputs.cache)?;
    let build = inputs.cache.join(format!("stock-{}", variant.name()));
    build_tree(&tree, &build, &variant.options())?;
    Ok(build.join("images").join("kernel-x86_64-pc99"))
}

/// Builds stock seL4's kernel alone (`ninja kernel.elf`) in
/// `cache/build_name`, from sel4test's project (a copy of `sources` in
/// `cache`) configured with `options` as a seL4 user would; returns its
/// elf32 copy, which QEMU's `-kernel` accepts.
pub fn build_stock_kernel_only(sources: &Path, cache: &Path, build_name: &str, options: &[String]) -> Result<PathBuf, String> {
    let tree = source_tree(sources, cache)?;
    let build = cache.join(build_name);
    configure_tree(&tree, &build, options)?;
    let log = build.join("ninja-kernel.log");
    eprintln!("sel4test: ninja kernel.elf in {}", build.display());
    if !run_logged(std::process::Command::new("ninja").arg("kernel.elf").current_dir(&build), &log, std::time::Duration::from_secs(1800))? {
        return Err(format!("ninja kernel.elf failed in {} (log {}): {}", build.display(), log.display(), tail(&log, 8)));
    }
    let elf = build.join("kernel").join("kernel.elf");
    let elf32 = build.join("kernel-x86_64-pc99");
    let status = std::process::Command::new("objcopy")
        .args(["-O", "elf32-i386"])
        .arg(&elf)
        .arg(&elf32)
        .status()
        .map_err(|e| format!("cannot run objcopy: {e}"))?;
    if !status.success() {
        return Err(format!("objcopy -O elf32-i386 {} failed", elf.display()));
    }
    Ok(elf32)
}

/// One test of a sel4test run (or one check of cfgprobe).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sel4Test {
    pub name: String,
    pub passed: bool,
    /// The first error or failure line, when it failed.
    pub detail: String,
}

/// A sel4test console, read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sel4TestRun {
    pub tests: Vec<Sel4Test>,
    /// "Test suite passed. ..." or "Test suite failed. ..."
    pub summary: Option<String>,
    /// Which of sel4test's final lines appeared, if any.
    pub final_line: Option<String>,
}

impl Sel4TestRun {
    pub fn all_passed(&self) -> bool {
        self.final_line.as_deref() == Some(ALL_WELL)
            && self.summary.as_deref().is_some_and(|s| s.starts_with("Test suite passed."))
            && self.tests.iter().all(|t| t.passed)
    }
}

/// Reads sel4test's console. The driver announces each test ("Starting
/// test N: NAME"); a test failed if its part of the console has a "Test
/// NAME failed" line or one of libsel4test's "Error:"/"Failure:" lines
/// (tests that run inside the driver print no "passed" line). A test the
/// console does not finish (no later test, no summary) counts as failed.
pub fn parse_sel4test(console: &str) -> Sel4TestRun {
    let mut run = Sel4TestRun::default();
    let mut current: Option<(String, Vec<String>)> = None;
    let finish = |current: &mut Option<(String, Vec<String>)>, run: &mut Sel4TestRun, finished: bool| {
        if let Some((name, problems)) = current.take() {
            let mut problems = problems;
            if !finished {
                problems.push("the run ended during this test".into());
            }
            run.tests.push(Sel4Test { passed: problems.is_empty(), detail: problems.first().cloned().unwrap_or_default(), name });
        }
    };
    for line in console.lines() {
        let line = line.trim();
        if let Some(at) = line.find("Starting test ") {
            let rest = &line[at + "Starting test ".len()..];
            if let Some((n, name)) = rest.split_once(": ") {
                if n.parse::<u32>().is_ok() {
                    finish(&mut current, &mut run, true);
                    current = Some((name.trim().to_string(), Vec::new()));
                    continue;
                }
            }
        }
        if line.starts_with("Test suite passed.") || line.starts_with("Test suite failed.") {
            finish(&mut current, &mut run, true);
            run.summary = Some(line.to_string());
            continue;
        }
        if let Some(f) = FINAL_LINES.iter().find(|f| line.contains(**f)) {
            finish(&mut current, &mut run, true);
            run.final_line = Some(f.to_string());
            continue;
        }
        if let Some((name, problems)) = current.as_mut() {
            let failed_line = line == format!("Test {name} failed");
            let error_line = (line.starts_with("Error: ") || line.starts_with("Failure: ")) && line.contains(" at line ");
            if failed_line || error_line {
                problems.push(line.to_string());
            }
        }
    }
    finish(&mut current, &mut run, false);
    run
}

/// Runs a build's `simulate` script (seL4's QEMU line; `kernel` replaces
/// its kernel image when given) until sel4test prints one of its final
/// lines, then stops QEMU; also stops early if seL4-rs reports that it
/// stopped, and after `limit`. Returns the console.
pub fn simulate(build: &Path, kernel: Option<&Path>, log: &Path, limit: Duration) -> Result<String, String> {
    use std::os::unix::process::CommandExt;
    let file = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = Command::new("python3");
    cmd.arg("./simulate").current_dir(build);
    if let Some(k) = kernel {
        cmd.arg("-k").arg(k);
    }
    // Its own process group: simulate runs QEMU through a shell, and all
    // of them are stopped together.
    let mut child = cmd.process_group(0).stdin(Stdio::null()).stdout(file).stderr(err).spawn().map_err(|e| format!("cannot run simulate: {e}"))?;
    let group = child.id();
    eprintln!("sel4test: ./simulate in {} (console: {})", build.display(), log.display());
    let start = Instant::now();
    let mut done_at: Option<Instant> = None;
    loop {
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            break;
        }
        let console = read_lossy(log);
        if done_at.is_none() && (FINAL_LINES.iter().any(|f| console.contains(f)) || KERNEL_STOPPED.iter().any(|k| console.contains(k))) {
            done_at = Some(Instant::now());
        }
        // A moment for the lines after the final one.
        if done_at.is_some_and(|t| t.elapsed() > Duration::from_secs(2)) || start.elapsed() > limit {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{group}")]).status();
    let _ = child.wait();
    let console = read_lossy(log);
    if done_at.is_none() && start.elapsed() > limit {
        return Ok(format!("{console}\n(stopped by the time limit of {} s)\n", limit.as_secs()));
    }
    Ok(console)
}

/// A PT_LOAD segment: what a loader puts in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub paddr: u64,
    pub memsz: u64,
    pub flags: u32,
    pub bytes: Vec<u8>,
}

/// The PT_LOAD segments of an ELF64 (debug sections, which may name
/// paths, are not part of them).
pub fn loadable_segments(elf: &[u8]) -> Result<Vec<Segment>, String> {
    let u16_at = |at: usize| elf.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |at: usize| elf.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()));
    let u64_at = |at: usize| elf.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()));
    if elf.get(..5) != Some(b"\x7fELF\x02") {
        return Err("not an ELF64 file".into());
    }
    let bad = || "truncated ELF".to_string();
    let (phoff, phnum) = (u64_at(32).ok_or_else(bad)? as usize, u16_at(56).ok_or_else(bad)? as usize);
    let mut out = Vec::new();
    for i in 0..phnum {
        let at = phoff + i * 56;
        if u32_at(at).ok_or_else(bad)? != 1 {
            continue;
        }
        let flags = u32_at(at + 4).ok_or_else(bad)?;
        let offset = u64_at(at + 8).ok_or_else(bad)? as usize;
        let (vaddr, paddr) = (u64_at(at + 16).ok_or_else(bad)?, u64_at(at + 24).ok_or_else(bad)?);
        let (filesz, memsz) = (u64_at(at + 32).ok_or_else(bad)? as usize, u64_at(at + 40).ok_or_else(bad)?);
        let bytes = elf.get(offset..offset + filesz).ok_or_else(bad)?.to_vec();
        out.push(Segment { vaddr, paddr, memsz, flags, bytes });
    }
    Ok(out)
}

/// Adds one result per sel4test test and one for the run as a whole.
fn sel4test_results(variant: Variant, console: &str, log: &Path, results: &mut Vec<TestResult>) {
    let run = parse_sel4test(console);
    let prefix = format!("sel4test-{}::", variant.name());
    for t in &run.tests {
        results.push(result(&format!("{prefix}{}", t.name), if t.passed { vec![] } else { vec![t.detail.clone()] }));
    }
    let mut problems = Vec::new();
    if !run.all_passed() {
        let failed: Vec<&str> = run.tests.iter().filter(|t| !t.passed).map(|t| t.name.as_str()).collect();
        problems.push(format!(
            "sel4test did not pass: summary {:?}, final line {:?}, {} of {} tests failed {:?} (console {})",
            run.summary.as_deref().unwrap_or("(none)"),
            run.final_line.as_deref().unwrap_or("(none)"),
            failed.len(),
            run.tests.len(),
            failed,
            log.display()
        ));
    }
    if run.tests.len() < 100 {
        problems.push(format!("only {} tests ran", run.tests.len()));
    }
    results.push(result(&format!("sel4test::{}", variant.name()), problems));
}

/// sel4test, built by seL4's flow with seL4-rs as its kernel, on seL4's
/// simulate line; then the same build's kernel against `cargo xtask`'s.
fn sel4test_on_sel4rs(inputs: &CmakeInputs, variant: Variant, scratch: &Path, results: &mut Vec<TestResult>) -> Result<(), String> {
    let name = format!("sel4test::{}", variant.name());
    let build = match build_sel4test(inputs, variant) {
        Ok(b) => b,
        Err(why) => {
            results.push(result(&name, vec![why]));
            return Ok(());
        }
    };
    let log = scratch.join(format!("sel4test-{}.log", variant.name()));
    let console = simulate(&build, None, &log, SEL4TEST_LIMIT)?;
    sel4test_results(variant, &console, &log, results);
    results.push(result(&format!("cmake::generated_configuration_equals_seL4s_{}", variant.name()), same_gen_config(inputs, variant, &build)));
    results.push(result(&format!("cmake::kernel_equals_cargo_xtask_{}", variant.preset().replace('-', "_")), same_kernel(inputs, variant, &build)));
    Ok(())
}

/// seL4's generated configuration (what libsel4 and every program is
/// compiled against) is the same with seL4-rs as with seL4's own kernel
/// package: the drop-in evaluates seL4's own option declarations.
fn same_gen_config(inputs: &CmakeInputs, variant: Variant, build: &Path) -> Vec<String> {
    let stock = inputs.cache.join(format!("stock-configure-{}", variant.name()));
    let configured =
        inputs.sources.clone().and_then(|s| source_tree(&s, &inputs.cache)).and_then(|tree| configure_tree(&tree, &stock, &variant.options()));
    if let Err(why) = configured {
        return vec![format!("configuring sel4test with seL4's own kernel package failed: {why}")];
    }
    let mut problems = Vec::new();
    for file in ["kernel/gen_config/kernel/gen_config.json", "libsel4/gen_config/sel4/gen_config.json"] {
        match (std::fs::read(build.join(file)), std::fs::read(stock.join(file))) {
            (Ok(a), Ok(b)) if a == b => {}
            (Ok(_), Ok(_)) => problems.push(format!("{file} differs between {} and {}", build.display(), stock.display())),
            (Err(e), _) | (_, Err(e)) => problems.push(format!("{file}: {e}")),
        }
    }
    problems
}

/// The kernel `ninja` built for a variant is the one `cargo xtask` builds
/// for the matching preset: the same configuration file content, and the
/// same loadable segments.
fn same_kernel(inputs: &CmakeInputs, variant: Variant, build: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let config_file = build.join("kernel").join("sel4-rs-kernel.config");
    match (kernel_config::Config::load(&config_file.display().to_string()), kernel_config::Config::load(variant.preset())) {
        (Ok(ours), Ok(preset)) if ours == preset => {}
        (Ok(ours), Ok(preset)) => {
            let (a, b) = (ours.canonical_text(), preset.canonical_text());
            let differ: Vec<&str> = a.lines().zip(b.lines()).filter(|(x, y)| x != y).map(|(x, _)| x).collect();
            problems.push(format!("the CMake configuration differs from preset {}: {differ:?}", variant.preset()));
        }
        (Err(e), _) | (_, Err(e)) => problems.push(e),
    }
    let Some((_, preset_kernel)) = inputs.preset_kernels.iter().find(|(p, _)| p == variant.preset()) else {
        problems.push(format!("no kernel built by cargo xtask for preset {}", variant.preset()));
        return problems;
    };
    let segments = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display())).and_then(|b| loadable_segments(&b));
    match (segments(&build.join("kernel").join("kernel.elf")), segments(preset_kernel)) {
        (Ok(a), Ok(b)) if a == b => {}
        (Ok(a), Ok(b)) => {
            problems.push(format!("kernel.elf's loadable segments differ from {}'s ({} and {} segments)", preset_kernel.display(), a.len(), b.len()))
        }
        (Err(e), _) | (_, Err(e)) => problems.push(e),
    }
    problems
}

/// An option value seL4-rs does not implement stops `init-build.sh` with
/// one message naming the option, the value and what is supported (and
/// leaves no build files).
fn refused_at_configure(inputs: &CmakeInputs, scratch: &Path, results: &mut Vec<TestResult>) -> Result<(), String> {
    let cases = [
        // sel4test's own SMP build sets KernelMaxNumNodes to 4.
        ("smp", vec!["-DSMP=TRUE"], "seL4-rs does not support KernelMaxNumNodes=4 (supported: 1; SMP is not implemented yet)"),
        ("priorities", vec!["-DKernelNumPriorities=300"], "seL4-rs does not support KernelNumPriorities=300 (supported: 1..256)"),
    ];
    for (case, extra, expected) in cases {
        let name = format!("cmake::unsupported_option_stops_configure_{case}");
        let tree = match inputs.sources.clone().and_then(|s| source_tree(&s, &inputs.cache)) {
            Ok(t) => t,
            Err(why) => {
                results.push(result(&name, vec![why]));
                continue;
            }
        };
        let dir = inputs.cache.join(format!("refused-{case}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut options = Variant::Debug.options();
        options.extend(extra.iter().map(|s| s.to_string()));
        options.push(dropin_option(&inputs.repo));
        let log = scratch.join(format!("cmake_refused_{case}.log"));
        let ok = run_logged(Command::new(tree.join("init-build.sh")).args(&options).current_dir(&dir), &log, BUILD_LIMIT)?;
        let output = read_lossy(&log);
        let mut problems = Vec::new();
        if ok {
            problems.push("init-build.sh succeeded".into());
        }
        let unwrapped = output.split_whitespace().collect::<Vec<_>>().join(" ");
        match unwrapped.matches(expected).count() {
            1 => {}
            n => problems.push(format!("expected the message {expected:?} once, found it {n} times (log {})", log.display())),
        }
        if unwrapped.matches("seL4-rs does not").count() != 1 {
            problems.push("expected exactly one refusal from seL4-rs".into());
        }
        if dir.join("build.ninja").exists() {
            problems.push("build files were generated anyway".into());
        }
        results.push(result(&name, problems));
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// The options cfgprobe is built with: none is sel4test's value.
pub const PROBE_OPTIONS: [&str; 4] = [
    "-DKernelRootCNodeSizeBits=15",
    "-DKernelNumPriorities=128",
    // Below the 93 untypeds QEMU's 3 GiB machine gives cfgprobe, above
    // its 62 device untypeds.
    "-DKernelMaxNumBootinfoUntypedCaps=80",
    "-DKernelRetypeFanOutLimit=64",
];

/// The cfgprobe project: a copy of tests/sel4-c/cfgprobe inside a tree of
/// links to the extracted sources (init-build.sh finds a project through
/// the real path of easy-settings.cmake, so the project itself is copied).
fn probe_project(inputs: &CmakeInputs, tree: &Path) -> Result<PathBuf, String> {
    let project = inputs.cache.join("cfgprobe-project");
    let io = |e: std::io::Error| format!("{}: {e}", project.display());
    let copy_dir = project.join("projects").join("cfgprobe");
    std::fs::create_dir_all(&copy_dir).map_err(io)?;
    let link = |target: &Path, at: &Path| -> Result<(), String> {
        let _ = std::fs::remove_file(at);
        std::os::unix::fs::symlink(target, at).map_err(|e| format!("{}: {e}", at.display()))
    };
    link(&tree.join("kernel"), &project.join("kernel"))?;
    link(&tree.join("tools"), &project.join("tools"))?;
    for p in ["sel4runtime", "musllibc"] {
        link(&tree.join("projects").join(p), &project.join("projects").join(p))?;
    }
    let source = inputs.repo.join("tests").join("sel4-c").join("cfgprobe");
    for f in ["CMakeLists.txt", "settings.cmake", "easy-settings.cmake", "cfgprobe.c"] {
        let (from, to) = (source.join(f), copy_dir.join(f));
        // Copied only when changed, so ninja sees no change for no change.
        let bytes = std::fs::read(&from).map_err(|e| format!("{}: {e}", from.display()))?;
        if std::fs::read(&to).ok().as_deref() != Some(bytes.as_slice()) {
            std::fs::write(&to, &bytes).map_err(|e| format!("{}: {e}", to.display()))?;
        }
    }
    link(Path::new("tools/seL4/cmake-tool/init-build.sh"), &project.join("init-build.sh"))?;
    link(Path::new("projects/cfgprobe/easy-settings.cmake"), &project.join("easy-settings.cmake"))?;
    Ok(project)
}

/// cfgprobe's `cfgprobe NAME ok|FAILED: why` lines and its closing counts.
fn probe_lines(console: &str) -> (Vec<Sel4Test>, Option<(u32, u32)>) {
    let mut lines = Vec::new();
    let mut done = None;
    for l in console.lines().map(str::trim) {
        let Some(rest) = l.strip_prefix("cfgprobe ") else { continue };
        if let Some(counts) = rest.strip_prefix("done: ") {
            done = crate::suites::closing_line(counts);
        } else if let Some(name) = rest.strip_suffix(" ok") {
            lines.push(Sel4Test { name: name.to_string(), passed: true, detail: String::new() });
        } else if let Some((name, why)) = rest.split_once(" FAILED: ") {
            lines.push(Sel4Test { name: name.to_string(), passed: false, detail: why.to_string() });
        }
    }
    (lines, done)
}

/// Options given to `init-build.sh` reach the kernel: cfgprobe, built by
/// seL4's flow with non-default values, finds the kernel built for them
/// (bootinfo, priorities, root CNode slots, retype limit), in a debug
/// build and in a release build (where it also finds the debug syscalls
/// gone); on the default kernel the debug build must notice the
/// difference.
fn options_reach_the_kernel(inputs: &CmakeInputs, scratch: &Path, results: &mut Vec<TestResult>) -> Result<(), String> {
    let mut debug_image = None;
    for variant in Variant::ALL {
        let name = format!("cmake::options_reach_the_kernel_{}", variant.name());
        let built = inputs.sources.clone().and_then(|s| source_tree(&s, &inputs.cache)).and_then(|tree| {
            let project = probe_project(inputs, &tree)?;
            let build = project.join(format!("build-{}", variant.name()));
            let mut options = variant.options();
            options.extend(PROBE_OPTIONS.iter().map(|s| s.to_string()));
            options.push(dropin_option(&inputs.repo));
            build_tree(&project, &build, &options)?;
            Ok(build)
        });
        let build = match built {
            Ok(b) => b,
            Err(why) => {
                results.push(result(&name, vec![why]));
                continue;
            }
        };
        let image = build.join("images").join("cfgprobe-image-x86_64-pc99");
        let log = scratch.join(format!("cfgprobe-{}.log", variant.name()));
        let boot = Boot::new(&build.join("images").join("kernel-x86_64-pc99"), Some(&image));
        let mut problems = Vec::new();
        let console = match variant {
            Variant::Debug => {
                let out = run_captured(&boot, &log, PROBE_LIMIT)?;
                if out.status != Some(EXIT_HALTED) {
                    problems.push(format!("cfgprobe did not end with DebugHalt (status {:?})", out.status));
                }
                if !out.console.contains("empty slots") || !out.console.contains("..32768") {
                    problems.push("the kernel did not report a 2^15-slot root CNode at boot".into());
                }
                out.console
            }
            // No DebugHalt and no kernel output: watch for the last line.
            Variant::Release => {
                run_until(&boot, &log, "cfgprobe done: ", PROBE_LIMIT)?;
                let console = read_lossy(&log);
                // Neither the boot banner nor a userError line for the
                // probe's refused calls.
                if console.contains("seL4-rs") || console.contains("<<seL4(") {
                    problems.push("a release kernel printed".into());
                }
                console
            }
        };
        let (lines, done) = probe_lines(&console);
        for l in lines.iter().filter(|l| !l.passed) {
            problems.push(format!("{}: {}", l.name, l.detail));
        }
        let expected = if variant == Variant::Debug { 10 } else { 12 };
        let counts = (lines.iter().filter(|l| l.passed).count() as u32, lines.iter().filter(|l| !l.passed).count() as u32);
        if lines.len() != expected || done != Some(counts) {
            problems.push(format!(
                "expected {expected} checks and a matching closing line, got {} and {done:?} (log {})",
                lines.len(),
                log.display()
            ));
        }
        results.push(result(&name, problems));
        if variant == Variant::Debug {
            debug_image = Some(image);
        }
    }

    // The negative control: the debug image on the default configuration's
    // kernel (13-bit root CNode, 256 priorities, 230 untypeds, fan-out 256).
    let Some(image) = debug_image else { return Ok(()) };
    let out = run_captured(&Boot::new(&inputs.default_kernel32, Some(&image)), &scratch.join("cfgprobe-on-default-kernel.log"), PROBE_LIMIT)?;
    let (lines, _) = probe_lines(&out.console);
    let failed: Vec<&str> = lines.iter().filter(|l| !l.passed).map(|l| l.name.as_str()).collect();
    let must_fail =
        ["root_cnode_radix", "untyped_descriptors_up_to_the_limit", "priority_above_max_refused", "retype_past_the_fan_out_limit_refused"];
    let missed: Vec<&str> = must_fail.iter().copied().filter(|m| !failed.contains(m)).collect();
    let problems = if missed.is_empty() { vec![] } else { vec![format!("on the default kernel these checks passed: {missed:?}")] };
    results.push(result("cmake::cfgprobe_notices_a_kernel_built_for_other_options", problems));
    Ok(())
}

/// The CMake flow's suites and sel4test in every configuration.
pub fn run(inputs: &CmakeInputs, scratch: &Path, results: &mut Vec<TestResult>) -> Result<(), String> {
    refused_at_configure(inputs, scratch, results)?;
    options_reach_the_kernel(inputs, scratch, results)?;
    for variant in Variant::ALL {
        sel4test_on_sel4rs(inputs, variant, scratch, results)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSOLE: &str = "\
Starting test suite sel4test
Starting test 0: Test that there are tests
Starting test 1: SYSCALL0000
          Starting test 2: SYSCALL0001
Starting test 3: FPU0003
Running test FPU0003 (Test seL4_TCB_SetFlags)
\tError: res.flags == 0 at line 113 of file fpu.c
Test FPU0003 failed
Starting test 4: BIND0001
Running test BIND0001 (x)
Test BIND0001 passed
Starting test 5: Test all tests ran
Test suite failed. 5/6 tests passed.
*** FAILURES DETECTED ***
";

    #[test]
    fn sel4test_console_is_read_test_by_test() {
        let run = parse_sel4test(CONSOLE);
        let names: Vec<&str> = run.tests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["Test that there are tests", "SYSCALL0000", "SYSCALL0001", "FPU0003", "BIND0001", "Test all tests ran"]);
        let failed: Vec<&str> = run.tests.iter().filter(|t| !t.passed).map(|t| t.name.as_str()).collect();
        assert_eq!(failed, ["FPU0003"]);
        assert!(run.tests[3].detail.starts_with("Error: res.flags == 0"));
        assert_eq!(run.summary.as_deref(), Some("Test suite failed. 5/6 tests passed."));
        assert!(!run.all_passed());
    }

    #[test]
    fn only_a_complete_passing_run_passes() {
        let good = "Starting test 0: A\nStarting test 1: B\nTest suite passed. 2 tests passed. 0 tests disabled.\nAll is well in the universe\n";
        assert!(parse_sel4test(good).all_passed());
        let cut = "Starting test 0: A\nStarting test 1: B\n";
        let run = parse_sel4test(cut);
        assert!(!run.all_passed());
        assert!(!run.tests[1].passed && run.tests[0].passed, "the unfinished test fails");
        let no_final = "Starting test 0: A\nTest suite passed. 1 tests passed. 0 tests disabled.\n";
        assert!(!parse_sel4test(no_final).all_passed());
    }

    #[test]
    fn probe_console_is_read() {
        let c = "cfgprobe fact x=1\ncfgprobe a ok\ncfgprobe b FAILED: why\ncfgprobe done: 1 passed, 1 failed\n";
        let (lines, done) = probe_lines(c);
        let names: Vec<(&str, bool, &str)> = lines.iter().map(|l| (l.name.as_str(), l.passed, l.detail.as_str())).collect();
        assert_eq!(names, [("a", true, ""), ("b", false, "why")]);
        assert_eq!(done, Some((1, 1)));
    }

    #[test]
    fn segments_of_a_tiny_elf() {
        let mut elf = vec![0u8; 64 + 56 + 4];
        elf[..5].copy_from_slice(b"\x7fELF\x02");
        elf[32..40].copy_from_slice(&64u64.to_le_bytes());
        elf[56..58].copy_from_slice(&1u16.to_le_bytes());
        let ph = 64;
        elf[ph..ph + 4].copy_from_slice(&1u32.to_le_bytes());
        elf[ph + 4..ph + 8].copy_from_slice(&5u32.to_le_bytes());
        elf[ph + 8..ph + 16].copy_from_slice(&120u64.to_le_bytes());
        elf[ph + 16..ph + 24].copy_from_slice(&0x1000u64.to_le_bytes());
        elf[ph + 32..ph + 40].copy_from_slice(&4u64.to_le_bytes());
        elf[ph + 40..ph + 48].copy_from_slice(&8u64.to_le_bytes());
        elf[120..124].copy_from_slice(b"code");
        let expected = Segment { vaddr: 0x1000, paddr: 0, memsz: 8, flags: 5, bytes: b"code".to_vec() };
        assert_eq!(loadable_segments(&elf).unwrap(), vec![expected]);
        assert!(loadable_segments(&elf[..100]).is_err());
        assert!(loadable_segments(b"not an elf").is_err());
    }
}
