//! Differential fuzzing against stock seL4: the rootserver built with its
//! `difffuzz` feature (rootserver/src/suite/difffuzz.rs) boots on this
//! kernel and on a stock seL4 kernel of the same configuration, and the
//! two consoles are compared.
//!
//! The rootserver prints a running hash of everything it observed at each
//! checkpoint (`difffuzz: seed S step N hash H`) and, for a window of
//! steps chosen when it is built, every observation (`df N ...`). A
//! comparison first compares the checkpoints; on a difference the caller
//! can rebuild the image with the window between the last equal and the
//! first different checkpoint, and [`first_difference`] then names the
//! call and both results.
//!
//! The stock kernel is built from seL4's sources with seL4's own CMake
//! flow: sel4test's project configured for `-DPLATFORM=x86_64
//! -DSIMULATION=TRUE` (the `sel4test-debug` configuration, which is also
//! this kernel's default) and only its `kernel.elf` target built.

use crate::qemu::{run_until, Boot};
use crate::sel4test::{self, CmakeInputs, Variant};
use crate::suites::{result, skipped, TestResult};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The seeds `cargo xtask test` runs, and the calls per seed: a seed's
/// two boots of 100,000 calls, side by side under TCG, take 20-30 s on a
/// 2-core machine (mostly the kernels' debug lines for failed
/// invocations); a million calls, about 5 minutes.
pub const TEST_SEEDS: [u64; 3] = [1, 2, 3];
pub const TEST_CALLS: u64 = 100_000;
/// The rootserver's checkpoint interval (its default).
pub const EVERY: u64 = 1000;

/// A boot of 100,000 calls takes about 10 s; generous for a loaded machine.
fn boot_limit(calls: u64) -> Duration {
    Duration::from_secs(120 + calls / 1000 * 3)
}

const DONE: &str = "difffuzz: done ";
/// The line after the closing one, where a boot is stopped (stopping at
/// the closing line itself could cut it short).
const END: &str = "difffuzz: end";

/// What `cargo xtask test` hands the suite: the stock kernel, and one
/// difffuzz rootserver per test seed.
#[derive(Clone, Debug)]
pub struct DiffImages {
    pub stock_kernel32: StockKernel,
    pub rootservers: Vec<(u64, PathBuf)>,
}

/// Stock seL4's kernel for the suites that compare with it.
#[derive(Clone, Debug)]
pub enum StockKernel {
    /// The elf32 image, given or built.
    Image(PathBuf),
    /// Neither given nor buildable here (no seL4 sources): the comparisons
    /// are skipped, with this reason.
    Unavailable(String),
    /// seL4's sources are here but the build failed: the comparisons fail.
    BuildFailed(String),
}

impl StockKernel {
    /// The image, or the skip or failure the comparison named `name`
    /// reports instead.
    pub fn image_or_result(&self, name: &str) -> Result<&Path, TestResult> {
        match self {
            StockKernel::Image(p) => Ok(p),
            StockKernel::Unavailable(why) => Err(skipped(name, why)),
            StockKernel::BuildFailed(why) => {
                Err(TestResult { name: name.into(), passed: false, skipped: false, detail: format!("stock seL4 did not build: {why}") })
            }
        }
    }
}

/// Builds stock seL4's kernel for `variant` with seL4's CMake flow (the
/// sel4test project configured as a seL4 user does, `ninja kernel.elf`);
/// returns its elf32 copy.
pub fn build_stock_kernel_only(inputs: &CmakeInputs, variant: Variant) -> Result<PathBuf, String> {
    let sources = inputs.sources.clone()?;
    sel4test::build_stock_kernel_only(&sources, &inputs.cache, &format!("stock-kernel-{}", variant.name()), &variant.options())
}

/// One console, read: the checkpoints, the final hash, the window lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Run {
    /// (step, hash) at each checkpoint.
    pub checkpoints: Vec<(u64, String)>,
    /// (steps, hash) of the closing line.
    pub done: Option<(u64, String)>,
    /// The window's `df ...` lines.
    pub window: Vec<String>,
    /// The rootserver's complaint, if its setup failed.
    pub setup_failed: Option<String>,
}

/// Reads a console. Lines are matched from their marker on, so that a
/// kernel message that does not end in a newline (stock seL4's debug
/// output of a failed invocation ends in an escape sequence) cannot hide
/// one.
pub fn parse(console: &str) -> Run {
    let mut run = Run::default();
    for line in console.lines() {
        if let Some(at) = line.find("difffuzz: seed ") {
            let words: Vec<&str> = line[at..].split_whitespace().collect();
            // difffuzz: seed S step N hash H
            if words.len() >= 7 && words[3] == "step" && words[5] == "hash" {
                if let Ok(step) = words[4].parse() {
                    run.checkpoints.push((step, words[6].to_string()));
                }
            }
        } else if let Some(at) = line.find(DONE) {
            let words: Vec<&str> = line[at..].split_whitespace().collect();
            // difffuzz: done N steps hash H
            if words.len() >= 6 {
                if let Ok(n) = words[2].parse() {
                    run.done = Some((n, words[5].to_string()));
                }
            }
        } else if let Some(at) = line.find("difffuzz: setup failed: ") {
            run.setup_failed = Some(line[at..].to_string());
        } else if let Some(at) = line.find("df ") {
            if at == 0 || !line.as_bytes()[at - 1].is_ascii_alphanumeric() {
                run.window.push(line[at..].trim_end().to_string());
            }
        }
    }
    run
}

/// How two runs compare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Same hashes all the way, through the closing line.
    Identical { calls: u64 },
    /// The first checkpoint whose hash differs, and the one before it
    /// (where the window to print starts).
    Differs { last_equal: u64, first_different: u64 },
    /// A run did not finish (the reason).
    Incomplete(String),
}

pub fn compare(stock: &Run, ours: &Run, calls: u64) -> Verdict {
    for (who, run) in [("stock seL4", stock), ("seL4-rs", ours)] {
        if let Some(why) = &run.setup_failed {
            return Verdict::Incomplete(format!("{who}: {why}"));
        }
    }
    let mut last_equal = 0;
    for (s, o) in stock.checkpoints.iter().zip(ours.checkpoints.iter()) {
        if s != o {
            return Verdict::Differs { last_equal, first_different: s.0.max(o.0) };
        }
        last_equal = s.0;
    }
    match (&stock.done, &ours.done) {
        (Some(s), Some(o)) if s == o => Verdict::Identical { calls: s.0 },
        (Some(_), Some(_)) => Verdict::Differs { last_equal, first_different: calls },
        (None, _) => Verdict::Incomplete(format!("stock seL4 stopped after checkpoint {}", stock.checkpoints.last().map_or(0, |c| c.0))),
        (_, None) => Verdict::Incomplete(format!("seL4-rs stopped after checkpoint {}", ours.checkpoints.last().map_or(0, |c| c.0))),
    }
}

/// The first observation the two windows disagree on: the step, the call
/// made there (its `>` line), and both kernels' lines.
pub fn first_difference(stock: &Run, ours: &Run) -> Option<String> {
    let n = stock.window.len().max(ours.window.len());
    for i in 0..n {
        let (s, o) = (stock.window.get(i), ours.window.get(i));
        if s != o {
            let line = s.or(o)?;
            let step = line.split_whitespace().nth(1).unwrap_or("?");
            let call = stock
                .window
                .iter()
                .rfind(|l| l.split_whitespace().nth(1) == Some(step) && l.split_whitespace().nth(2) == Some(">"))
                .cloned()
                .unwrap_or_else(|| format!("df {step} (an IPC syscall or fault: see the window)"));
            return Some(format!(
                "step {step}: call {call:?}; stock seL4: {:?}; seL4-rs: {:?}",
                s.map_or("(nothing)", String::as_str),
                o.map_or("(nothing)", String::as_str)
            ));
        }
    }
    None
}

/// Boots `rootserver` on both kernels at once (two QEMUs) and reads the
/// consoles.
pub fn boot_both(ours32: &Path, stock32: &Path, rootserver: &Path, calls: u64, logs: [PathBuf; 2]) -> Result<(Run, Run), String> {
    let limit = boot_limit(calls);
    let [stock_log, ours_log] = logs;
    let mut stock = Boot::new(stock32, Some(rootserver));
    // Stock seL4 halts without exiting QEMU: the closing line ends it.
    stock.debug_exit = false;
    let ours = Boot::new(ours32, Some(rootserver));
    let (a, b) = std::thread::scope(|scope| {
        let s = scope.spawn(|| run_until(&stock, &stock_log, END, limit));
        let o = scope.spawn(|| run_until(&ours, &ours_log, END, limit));
        (s.join(), o.join())
    });
    a.map_err(|_| "the stock boot's thread panicked".to_string())??;
    b.map_err(|_| "our boot's thread panicked".to_string())??;
    let read = |p: &Path| std::fs::read(p).map(|b| String::from_utf8_lossy(&b).replace('\r', "")).map_err(|e| format!("{}: {e}", p.display()));
    Ok((parse(&read(&stock_log)?), parse(&read(&ours_log)?)))
}

/// The suite: each test seed's image on both kernels, identical hashes
/// required. A difference is reported with the command that locates it.
pub fn run(ours32: &Path, images: &DiffImages, scratch: &Path, results: &mut Vec<TestResult>) -> Result<(), String> {
    let stock32 = match &images.stock_kernel32 {
        StockKernel::Image(k) => k,
        _ => {
            for (seed, _) in &images.rootservers {
                results.extend(images.stock_kernel32.image_or_result(&format!("difffuzz::seed_{seed}_{TEST_CALLS}_calls")).err());
            }
            return Ok(());
        }
    };
    for (seed, rootserver) in &images.rootservers {
        let name = format!("difffuzz::seed_{seed}_{TEST_CALLS}_calls");
        let logs = [scratch.join(format!("difffuzz_seed{seed}_stock.log")), scratch.join(format!("difffuzz_seed{seed}_ours.log"))];
        let (stock, ours) = boot_both(ours32, stock32, rootserver, TEST_CALLS, logs)?;
        let problems = match compare(&stock, &ours, TEST_CALLS) {
            Verdict::Identical { calls } if calls == TEST_CALLS => Vec::new(),
            Verdict::Identical { calls } => vec![format!("ran {calls} calls, not {TEST_CALLS}")],
            Verdict::Differs { last_equal, first_different } => vec![format!(
                "the kernels diverge between steps {last_equal} and {first_different}: \
                 `cargo xtask difffuzz --seed {seed} --calls {first_different}` names the call"
            )],
            Verdict::Incomplete(why) => vec![why],
        };
        results.push(result(&name, problems));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STOCK: &str = "\
difffuzz: seed 1 calls 3000 every 1000 window (1000, 2000)
difffuzz: seed 1 step 0 hash 00000000000000aa
\x1b[0m<<seL4(CPU 0) [decodeInvocation/643 T0xffffff8001203400]: Attempted to invoke a null cap #6.>>\x1b[0mdifffuzz: seed 1 step 1000 hash 00000000000000bb
df 1000 > cap 8 label 23 args 21 40 caps 88
df 1000 F 6004 0 0 3 3c 0
difffuzz: seed 1 step 2000 hash 00000000000000cc
difffuzz: done 3000 steps hash 00000000000000dd
";

    #[test]
    fn consoles_are_read_through_kernel_messages() {
        let run = parse(STOCK);
        assert_eq!(run.checkpoints, vec![(0, "00000000000000aa".into()), (1000, "00000000000000bb".into()), (2000, "00000000000000cc".into())]);
        assert_eq!(run.done, Some((3000, "00000000000000dd".into())));
        assert_eq!(run.window, vec!["df 1000 > cap 8 label 23 args 21 40 caps 88", "df 1000 F 6004 0 0 3 3c 0"]);
    }

    #[test]
    fn the_first_difference_is_located() {
        let stock = parse(STOCK);
        assert_eq!(compare(&stock, &stock, 3000), Verdict::Identical { calls: 3000 });
        let ours = parse(&STOCK.replace("bb\n", "b0\n").replace("3c 0\n", "0 3c\n"));
        assert_eq!(compare(&stock, &ours, 3000), Verdict::Differs { last_equal: 0, first_different: 1000 });
        let d = first_difference(&stock, &ours).unwrap();
        assert!(d.contains("step 1000") && d.contains("label 23") && d.contains("3c 0") && d.contains("0 3c"), "{d}");
        let unfinished = parse(&STOCK.replace("difffuzz: done 3000 steps hash 00000000000000dd\n", ""));
        assert!(matches!(compare(&stock, &unfinished, 3000), Verdict::Incomplete(_)));
    }
}
