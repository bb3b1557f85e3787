//! `cargo xtask bench`: boots the IPC benchmark rootserver (an ordinary
//! seL4 program that prints through COM1 itself, so it runs on release
//! kernels too) on our kernel in seL4's release configuration without and
//! with the fastpath, on stock seL4's release kernel (`--stock IMAGE`, or
//! `--build-stock` to build one from sel4test's sources with seL4's flow),
//! and on our debug configuration; summarises each case's samples (min,
//! median, mean, stddev after subtracting the timing overhead) and prints
//! them side by side, each column naming its configuration; raw console
//! logs, the summary and an SVG plot of the medians go to
//! `results/<unix time>/`. `--log FILE` summarises console logs of debug
//! kernels captured elsewhere (for example a real machine's serial
//! console) instead of booting. On the project's UINTR-capable QEMU it
//! also boots the debug fastpath kernel on the UINTR hardware path and
//! with `uintr=emulate` and sets their notification and user-interrupt
//! rows side by side (the same from two `--log` files of a machine with
//! UINTR). `--compare FILE` puts a second result set beside the fastpath
//! kernel's: stock sel4bench's JSON output, a `summary.jsonl` of an
//! earlier run, or a console log of this benchmark rootserver run
//! elsewhere.

use crate::artifacts::{self, KernelVariant};
use crate::setup;
use kernel_tests::qemu::{self, Boot};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BOOT_LIMIT: Duration = Duration::from_secs(900);

/// One case's samples as the rootserver printed them (one JSON object a
/// line; its `bench` field is not needed here).
#[derive(Deserialize)]
struct Case {
    case: String,
    address_spaces: String,
    direction: String,
    length: u64,
    overhead: u64,
    samples: Vec<u64>,
}

fn parse_case(line: &str) -> Option<Case> {
    serde_json::from_str(line).ok()
}

/// One row of our `summary.jsonl`: a case's statistics on one kernel.
#[derive(Serialize, Deserialize)]
struct SummaryRow {
    kernel: String,
    case: String,
    address_spaces: String,
    direction: String,
    length: u64,
    samples: usize,
    min: u64,
    median: f64,
    mean: f64,
    stddev: f64,
}

/// The kernel variant a console log came from (its DebugHalt report) and
/// its benchmark cases.
fn parse_log(console: &str) -> (Option<KernelVariant>, Vec<Case>) {
    let variant = console.lines().find_map(|l| {
        let l = l.trim();
        if l.starts_with("fastpath: off") {
            Some(KernelVariant::SlowpathOnly)
        } else if l.starts_with("fastpath: ") {
            Some(KernelVariant::Fastpath)
        } else {
            None
        }
    });
    let cases = bench_lines(console).iter().filter_map(|l| parse_case(l)).collect();
    (variant, cases)
}

/// The rootserver's JSON lines, put back together: it shares COM1 with a
/// debug kernel, so a kernel message (the periodic invariant check's,
/// say) can land in the middle of its sample list. Sample text is
/// only digits and commas; anything else after the list starts is not
/// the rootserver's.
fn bench_lines(console: &str) -> Vec<String> {
    let sample_text = |s: &str| -> usize { s.find(|c: char| !(c.is_ascii_digit() || c == ',' || c == ']' || c == '}')).unwrap_or(s.len()) };
    let mut lines = Vec::new();
    let mut current: Option<String> = None;
    for line in console.lines().map(str::trim_end) {
        if let Some(acc) = current.as_mut() {
            acc.push_str(&line[..sample_text(line)]);
        } else if let Some(start) = line.find("{\"bench\":\"ipc\"") {
            let line = &line[start..];
            let Some(list) = line.find('[') else { continue };
            let rest = &line[list + 1..];
            current = Some(format!("{}{}", &line[..=list], &rest[..sample_text(rest)]));
        }
        if current.as_ref().is_some_and(|acc| acc.ends_with("]}")) {
            lines.extend(current.take());
        }
    }
    lines
}

fn host_cpu() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())))
        .unwrap_or_else(|| "unknown CPU".into())
}

fn guest_cpu(console: &str) -> &str {
    console.lines().find_map(|l| l.trim().strip_prefix("CPU: ")).unwrap_or("unknown")
}

/// Summaries by (case, address spaces, direction, message length).
type Summaries = BTreeMap<(String, String, String, u64), bench::Summary>;

/// The cases in the order the table shows them.
const CASE_ORDER: [&str; 6] =
    ["call_replyrecv_roundtrip", "call_one_way", "replyrecv_one_way", "send_recv_one_way", "signal_wait_roundtrip", "uintr_roundtrip"];

/// The cases the plot draws: those measured at every message length.
const PLOT_CASES: [&str; 4] = ["call_replyrecv_roundtrip", "call_one_way", "replyrecv_one_way", "send_recv_one_way"];

/// What the kernel's boot line says about the user-interrupt path, for
/// the note under the table: only the hardware path's figures are
/// user-interrupt latencies; the fallback's are the cost of emulation.
fn uintr_note(console: &str) -> Option<&'static str> {
    if console.contains("emulated on #UD (fallback path)") {
        Some("uintr_roundtrip rows: the kernel's #UD fallback carried out SENDUIPI/UIRET (no UINTR hardware path), so they are costs of emulation, not user-interrupt latencies")
    } else {
        None
    }
}

/// Which user-interrupt path produced a console log.
fn uintr_path(console: &str) -> Option<&'static str> {
    if console.contains("(hardware path)") {
        Some("hardware")
    } else if console.contains("(fallback path)") {
        Some("emulated")
    } else {
        None
    }
}

/// The rows that compare the ways of signalling another thread: the
/// notification round trip and the user-interrupt request/response.
fn signalling_rows(s: &Summaries) -> Summaries {
    s.iter().filter(|(k, _)| k.0 == "signal_wait_roundtrip" || k.0 == "uintr_roundtrip").map(|(k, v)| (k.clone(), *v)).collect()
}

/// The note under the hardware-versus-emulation table: what the
/// hardware path's figures are on the machine that produced them (`tcg`:
/// booted here on the patched QEMU; otherwise `--log` files from elsewhere).
fn hardware_note(tcg: bool) -> &'static str {
    if tcg {
        "hardware rows: the kernel's hardware path on QEMU's emulation of UINTR (TCG, -icount shift=0): TSC cycles count guest \
         instructions, each UINTR instruction, notification and delivery counting one, so they compare instruction paths, not a real \
         CPU's latency; emulated rows: the same QEMU and CPU with the kernel's #UD fallback (uintr=emulate)\n"
    } else {
        "hardware rows: the UINTR hardware path on the machine the logs came from (user-interrupt latencies on a real CPU; \
         instruction counts if the logs came from QEMU under -icount); emulated rows: the kernel's #UD fallback (uintr=emulate) \
         on the same machine\n"
    }
}

fn summarise(cases: &[Case]) -> Summaries {
    cases
        .iter()
        .filter_map(|c| {
            let mut samples = c.samples.clone();
            bench::subtract_overhead(&mut samples, c.overhead);
            Some(((c.case.clone(), c.address_spaces.clone(), c.direction.clone(), c.length), bench::summarise(&samples)?))
        })
        .collect()
}

/// Reads a result set to compare against (see the module comment for
/// the formats), keyed like ours.
fn load_comparison(text: &str) -> Result<Summaries, String> {
    if text.contains("\"Benchmark\"") {
        return sel4bench_results(text);
    }
    if text.contains("\"median\":") {
        // Our own summary.jsonl: take the fastpath kernel's rows (or a
        // stock kernel's, when that is all the file has).
        let rows = text
            .lines()
            .filter(|l| l.contains("\"median\":"))
            .map(|l| serde_json::from_str::<SummaryRow>(l).map_err(|e| format!("cannot read summary row {l}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let preferred = ["fastpath-release", "fastpath", "fastpath-debug", "stock-sel4-release", "stock-sel4", "slowpath-release", "slowpath"]
            .into_iter()
            .find(|k| rows.iter().any(|r| r.kernel == *k))
            .ok_or("the summary has no row of a known kernel")?;
        return Ok(rows.into_iter().filter(|r| r.kernel == preferred).map(summary_of_row).collect());
    }
    let (_, cases) = parse_log(text);
    if cases.is_empty() {
        return Err("no sel4bench JSON, summary rows or benchmark lines found".into());
    }
    Ok(summarise(&cases))
}

fn summary_of_row(r: SummaryRow) -> ((String, String, String, u64), bench::Summary) {
    let summary = bench::Summary { samples: r.samples, min: r.min, max: r.min, median: r.median, mean: r.mean, stddev: r.stddev };
    ((r.case, r.address_spaces, r.direction, r.length), summary)
}

/// sel4bench's IPC results ("One way IPC microbenchmarks": one row per
/// function, direction, priorities, address spaces and length; overhead
/// already subtracted) mapped onto our case names.
fn sel4bench_results(text: &str) -> Result<Summaries, String> {
    let start = text.find('[').ok_or("no JSON array in the sel4bench output")?;
    let end = text.rfind(']').ok_or("no JSON array in the sel4bench output")?;
    let sets: serde_json::Value = serde_json::from_str(&text[start..=end]).map_err(|e| format!("sel4bench JSON: {e}"))?;
    let mut out = Summaries::new();
    for set in sets.as_array().into_iter().flatten() {
        if set["Benchmark"].as_str() != Some("One way IPC microbenchmarks") {
            continue;
        }
        for row in set["Results"].as_array().into_iter().flatten() {
            let case = match (row["Function"].as_str(), row["Direction"].as_str()) {
                (Some("seL4_Call"), Some("client->server")) => "call_one_way",
                (Some("seL4_ReplyRecv"), Some("server->client")) => "replyrecv_one_way",
                (Some("seL4_Send"), Some("client->server")) => "send_recv_one_way",
                _ => continue,
            };
            let (client, server) = (row["Client Prio"].as_i64().unwrap_or(0), row["Server Prio"].as_i64().unwrap_or(0));
            let direction = match client.cmp(&server) {
                std::cmp::Ordering::Less => "low_to_high",
                std::cmp::Ordering::Greater => "high_to_low",
                std::cmp::Ordering::Equal => "same_prio",
            };
            let spaces = if row["Same vspace?"].as_bool() == Some(true) { "same" } else { "different" };
            let number = |name: &str| row[name].as_f64().ok_or_else(|| format!("sel4bench row without {name}"));
            let summary = bench::Summary {
                samples: number("Samples")? as usize,
                min: number("Min")? as u64,
                max: number("Max")? as u64,
                median: number("Median")?,
                mean: number("Mean")?,
                stddev: number("Stddev")?,
            };
            let length = row["IPC length"].as_u64().unwrap_or(0);
            out.insert((case.into(), spaces.into(), direction.into(), length), summary);
        }
    }
    if out.is_empty() {
        return Err("the sel4bench JSON has no one-way IPC results".into());
    }
    Ok(out)
}

fn cells(s: Option<&bench::Summary>) -> String {
    match s {
        Some(s) => format!("{:>6} {:>8.1} {:>8.1} {:>7.1}", s.min, s.median, s.mean, s.stddev),
        None => format!("{:>6} {:>8} {:>8} {:>7}", "-", "-", "-", "-"),
    }
}

/// A result set's name in the ratio column's header.
fn short(name: &str) -> &str {
    name.strip_suffix("path").or_else(|| name.strip_suffix(" seL4")).unwrap_or(name)
}

/// Two result sets side by side, with the ratio of their medians.
fn table_of((a_name, slow): (&str, &Summaries), (b_name, fast): (&str, &Summaries)) -> String {
    let mut out = String::new();
    out.push_str("IPC latency in TSC cycles, timing overhead subtracted\n");
    out.push_str(&format!(
        "{:<24} {:<9} {:<12} {:>4} | {:^32} | {:^32} | {:>9}\n",
        "case",
        "spaces",
        "direction",
        "len",
        format!("{a_name}: min median mean stddev"),
        format!("{b_name}: min median mean stddev"),
        format!("{}/{}", short(a_name), short(b_name))
    ));
    let keys: std::collections::BTreeSet<_> = slow.keys().chain(fast.keys()).cloned().collect();
    for key in sorted_keys(keys) {
        let (s, f) = (slow.get(&key), fast.get(&key));
        let ratio = match (s, f) {
            (Some(s), Some(f)) if f.median > 0.0 => format!("{:.2}x", s.median / f.median),
            _ => "-".into(),
        };
        out.push_str(&format!("{:<24} {:<9} {:<12} {:>4} | {} | {} | {:>9}\n", key.0, key.1, key.2, key.3, cells(s), cells(f), ratio));
    }
    out
}

fn summaries_json(variant: &str, summaries: &Summaries) -> Vec<String> {
    // One decimal is all the mean and deviation of cycle counts carry.
    let tenths = |x: f64| (x * 10.0).round() / 10.0;
    summaries
        .iter()
        .map(|((case, spaces, direction, length), s)| {
            let row = SummaryRow {
                kernel: variant.into(),
                case: case.clone(),
                address_spaces: spaces.clone(),
                direction: direction.clone(),
                length: *length,
                samples: s.samples,
                min: s.min,
                median: s.median,
                mean: tenths(s.mean),
                stddev: tenths(s.stddev),
            };
            serde_json::to_string(&row).expect("a summary row serialises")
        })
        .collect()
}

/// A line chart per case (server in the same address space, client below
/// the server in priority): median cycles against message length, one
/// line per kernel.
fn plot(slow: &Summaries, fast: &Summaries) -> String {
    const W: f64 = 360.0;
    const H: f64 = 240.0;
    const PAD: f64 = 40.0;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"11\">\n",
        W * PLOT_CASES.len() as f64,
        H + 20.0
    );
    for (panel, case) in PLOT_CASES.iter().enumerate() {
        let series = |m: &Summaries| -> Vec<(u64, f64)> {
            m.iter().filter(|(k, _)| k.0 == *case && k.1 == "same" && k.2 == "low_to_high").map(|(k, s)| (k.3, s.median)).collect()
        };
        let (s_pts, f_pts) = (series(slow), series(fast));
        let lengths: Vec<u64> = {
            let mut l: Vec<u64> = s_pts.iter().chain(&f_pts).map(|p| p.0).collect();
            l.sort_unstable();
            l.dedup();
            l
        };
        let top = s_pts.iter().chain(&f_pts).map(|p| p.1).fold(1.0, f64::max) * 1.1;
        let x0 = panel as f64 * W;
        let x_of = |len: u64| {
            let i = lengths.iter().position(|&l| l == len).unwrap_or(0) as f64;
            x0 + PAD + i * (W - 2.0 * PAD) / (lengths.len().max(2) - 1) as f64
        };
        let y_of = |v: f64| H - PAD + 10.0 - v / top * (H - 2.0 * PAD);
        out.push_str(&format!("<text x=\"{}\" y=\"14\">{case}: median cycles (same space, low to high)</text>\n", x0 + 10.0));
        out.push_str(&format!(
            "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"black\"/><line x1=\"{0}\" y1=\"{3}\" x2=\"{0}\" y2=\"{1}\" stroke=\"black\"/>\n",
            x0 + PAD,
            y_of(0.0),
            x0 + W - PAD,
            y_of(top)
        ));
        out.push_str(&format!("<text x=\"{}\" y=\"{}\">{:.0}</text>\n", x0 + 2.0, y_of(top) + 4.0, top));
        for &len in &lengths {
            out.push_str(&format!("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{len}</text>\n", x_of(len), y_of(0.0) + 14.0));
        }
        for (points, colour, name) in [(&s_pts, "#c0392b", "slowpath"), (&f_pts, "#2471a3", "fastpath")] {
            let coords: Vec<String> = points.iter().map(|&(l, v)| format!("{:.1},{:.1}", x_of(l), y_of(v))).collect();
            out.push_str(&format!(
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"><title>{name}</title></polyline>\n",
                coords.join(" ")
            ));
        }
        out.push_str(&format!("<text x=\"{}\" y=\"{}\" fill=\"#c0392b\">slowpath</text>\n", x0 + W - PAD - 50.0, 30.0));
        out.push_str(&format!("<text x=\"{}\" y=\"{}\" fill=\"#2471a3\">fastpath</text>\n", x0 + W - PAD - 50.0, 44.0));
    }
    out.push_str("</svg>\n");
    out
}

/// Builds the rootserver with its `bench` feature and keeps it as
/// `rootserver-bench` (the next plain build puts the test suite back).
pub fn build_bench_rootserver() -> Result<PathBuf, String> {
    artifacts::build_rootserver_variant("bench")
}

/// One kernel's results: its name in `summary.jsonl`, its column header,
/// what configuration it is, and its summaries.
struct Column {
    key: &'static str,
    header: &'static str,
    configuration: String,
    summaries: Summaries,
}

/// The kernels a run boots: ours in seL4's release configuration without
/// and with the fastpath, stock seL4 release when there is one, and ours
/// in the debug configuration (the one the test suites run).
fn our_kernels() -> Result<Vec<(&'static str, &'static str, String, kernel_config::Config)>, String> {
    let release = kernel_config::Config::load("sel4test-release")?;
    let mut release_slow = release.clone();
    release_slow.set("KernelFastpath", "OFF")?;
    Ok(vec![
        ("slowpath-release", "ours slow rel", "seL4-rs, sel4test-release preset with KernelFastpath=OFF".into(), release_slow),
        ("fastpath-release", "ours fast rel", "seL4-rs, sel4test-release preset (fastpath on)".into(), release),
        ("fastpath-debug", "ours fast dbg", "seL4-rs, default (sel4test-debug) configuration, fastpath on".into(), kernel_config::Config::default()),
    ])
}

/// seL4's options for a stock release kernel configured as our
/// `sel4test-release` preset (x86_64 pc99, nehalem, FXSAVE, no PCID,
/// FS/GS bases through MSRs, fastpath on, the skim window by default).
const STOCK_RELEASE_OPTIONS: [&str; 8] = [
    "-DPLATFORM=x86_64",
    "-DSIMULATION=TRUE",
    "-DRELEASE=TRUE",
    "-DKernelFPU=FXSAVE",
    "-DKernelSupportPCID=OFF",
    "-DKernelFSGSBase=msr",
    "-DKernelFastpath=ON",
    "-DKernelX86MicroArch=nehalem",
];

/// Builds stock seL4's release kernel from sel4test's sources with seL4's
/// own flow (only the kernel target) and returns its elf32 image.
fn build_stock_release() -> Result<PathBuf, String> {
    use kernel_tests::sel4test as s4;
    setup::ensure_sel4_build_tools()?;
    let sources = s4::find_sources(&artifacts::workspace_root())?;
    let options: Vec<String> = STOCK_RELEASE_OPTIONS.iter().map(|s| s.to_string()).collect();
    s4::build_stock_kernel_only(&sources, &artifacts::target_dir().join("sel4test"), "stock-bench-release", &options)
}

/// Boots a kernel with the benchmark and returns its console. Release
/// kernels (stock seL4's too) cannot end QEMU, so every boot stops once the
/// closing line appears.
fn boot_kernel(kernel32: &Path, rootserver: &Path, name: &str, dir: &Path) -> Result<String, String> {
    let accel = crate::choose_accel(None)?;
    let mut boot = Boot::new(kernel32, Some(rootserver));
    boot.accel = accel;
    if accel == qemu::Accel::Tcg {
        // The TSC then counts guest instructions: identical run to run.
        boot.extra_args = vec!["-icount".into(), "shift=0".into()];
    }
    println!("bench: booting {name} ({accel:?}{}) ...", if accel == qemu::Accel::Tcg { ", -icount shift=0" } else { "" });
    let log = dir.join(format!("{name}.log"));
    if !qemu::run_until(&boot, &log, "cases done", BOOT_LIMIT)? {
        return Err(format!("the benchmark did not finish on {name}; see {}", log.display()));
    }
    std::fs::read_to_string(&log).map(|s| s.replace('\r', "")).map_err(|e| format!("{}: {e}", log.display()))
}

const USAGE: &str = "cargo xtask bench [--stock KERNEL | --build-stock] [--debug-only] [--compare RESULTS] [--log CONSOLE_LOG ...]";

pub fn bench(args: &[String]) -> Result<(), String> {
    let mut logs = Vec::new();
    let mut stock = std::env::var_os("SEL4_KERNEL_IMAGE").map(PathBuf::from);
    let mut build_stock = false;
    let mut compare = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--log" => logs.push(PathBuf::from(it.next().ok_or("--log needs a file")?)),
            "--stock" => stock = Some(PathBuf::from(it.next().ok_or("--stock needs a stock seL4 release kernel-x86_64-pc99")?)),
            "--build-stock" => build_stock = true,
            "--compare" => compare = Some(PathBuf::from(it.next().ok_or("--compare needs a results file")?)),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    let dir =
        artifacts::workspace_root().join("results").join(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0).to_string());
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;

    // Read first, so a bad file fails before the long boots.
    let comparison = match &compare {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Some(load_comparison(&text).map_err(|e| format!("--compare {}: {e}", path.display()))?)
        }
        None => None,
    };
    let mut machine = Vec::new();
    let mut columns: Vec<Column> = Vec::new();
    let mut consoles: Vec<String> = Vec::new();
    // Hardware path against emulation, on a CPU with UINTR: (hardware,
    // emulated, whether under TCG) or why there is no such comparison.
    let mut uintr_paths: Result<(Summaries, Summaries, bool), String> = Err("not measured".into());
    if logs.is_empty() {
        setup::ensure_rust_target()?;
        setup::ensure_host_tools()?;
        let mut stock_built_here = false;
        if build_stock && stock.is_none() {
            stock = Some(build_stock_release()?);
            stock_built_here = true;
        }
        let rootserver = build_bench_rootserver()?;
        let mut debug_fastpath = None;
        for (key, header, configuration, config) in our_kernels()? {
            let images = artifacts::build_config(&config, false, None)?;
            let console = boot_kernel(&images.kernel32, &rootserver, key, &dir)?;
            if machine.is_empty() {
                machine.push(format!("host: {}; QEMU guest CPU: {}", host_cpu(), guest_cpu(&console)));
            }
            if key == "fastpath-debug" {
                debug_fastpath = Some(images.kernel32);
            }
            columns.push(Column { key, header, configuration, summaries: summarise(&parse_log(&console).1) });
            consoles.push(console);
        }
        if let Some(kernel) = &stock {
            let console = boot_kernel(kernel, &rootserver, "stock-sel4-release", &dir)?;
            columns.push(Column {
                key: "stock-sel4-release",
                header: "stock seL4 rel",
                configuration: if stock_built_here {
                    format!("stock seL4 release kernel built here by seL4's flow ({})", STOCK_RELEASE_OPTIONS.join(" "))
                } else {
                    format!("stock seL4 release kernel {} (it must be built with seL4's options as our release preset)", kernel.display())
                },
                summaries: summarise(&parse_log(&console).1),
            });
        }
        if let Some(kernel32) = &debug_fastpath {
            uintr_paths = crate::qemu_uintr::patched_qemu()
                .and_then(|q| boot_uintr_paths(kernel32, &rootserver, &q, &dir))
                .map(|(hardware, emulated)| (summarise(&parse_log(&hardware).1), summarise(&parse_log(&emulated).1), true));
        }
    } else {
        let texts = logs.iter().map(|p| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))).collect::<Result<Vec<_>, _>>()?;
        // Logs of both paths from one machine (the kernel booted with and
        // without uintr=emulate on a CPU with UINTR) compare like the boots.
        let of_path = |p| texts.iter().find(|c| uintr_path(c) == Some(p) && c.contains("the CPU has UINTR"));
        if let (Some(h), Some(e)) = (of_path("hardware"), of_path("emulated")) {
            uintr_paths = Ok((summarise(&parse_log(h).1), summarise(&parse_log(e).1), false));
        }
        for console in texts.iter().filter(|c| uintr_path(c) != Some("hardware")) {
            let (variant, cases) = parse_log(console);
            machine.push(format!("log from CPU: {}", guest_cpu(console)));
            let (key, header) = match variant {
                Some(KernelVariant::SlowpathOnly) => ("slowpath-debug", "ours slow dbg"),
                Some(KernelVariant::Fastpath) => ("fastpath-debug", "ours fast dbg"),
                None => return Err("a console log has no `fastpath:` report (did a debug kernel reach DebugHalt?)".into()),
            };
            columns.push(Column { key, header, configuration: "seL4-rs debug kernel, from a console log".into(), summaries: summarise(&cases) });
        }
        consoles = texts;
    }
    let mut report = machine.join("\n");
    report.push('\n');
    report.push_str(&columns_table(&columns));
    if let Some(note) = consoles.iter().find_map(|c| uintr_note(c)) {
        report.push_str(note);
        report.push('\n');
    }
    match &uintr_paths {
        Ok((hardware, emulated, tcg)) => {
            report.push_str("\nSignalling another thread on a CPU with UINTR: the kernel's hardware path beside its #UD fallback:\n");
            report.push_str(&table_of(("emulated", &signalling_rows(emulated)), ("hardware", &signalling_rows(hardware))));
            report.push_str(hardware_note(*tcg));
        }
        Err(why) => report.push_str(&format!("\nUINTR hardware path: not measured ({why})\n")),
    }
    let fast = columns.iter().find(|c| c.key.starts_with("fastpath")).map(|c| c.summaries.clone()).unwrap_or_default();
    let slow = columns.iter().find(|c| c.key.starts_with("slowpath")).map(|c| c.summaries.clone()).unwrap_or_default();
    if let (Some(other), Some(path)) = (&comparison, &compare) {
        report.push_str(&format!("\nBeside the result set in {}:\n", path.display()));
        report.push_str(&table_of(("fastpath", &fast), ("compared", other)));
    }
    print!("{report}");
    let mut json: Vec<String> = columns.iter().flat_map(|c| summaries_json(c.key, &c.summaries)).collect();
    if let Ok((hardware, emulated, _)) = &uintr_paths {
        json.extend(summaries_json("fastpath-uintr-hardware", &signalling_rows(hardware)));
        json.extend(summaries_json("fastpath-uintr-emulated", &signalling_rows(emulated)));
    }
    std::fs::write(dir.join("summary.txt"), &report).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("summary.jsonl"), json.join("\n") + "\n").map_err(|e| e.to_string())?;
    std::fs::write(dir.join("medians.svg"), plot(&slow, &fast)).map_err(|e| e.to_string())?;
    println!("bench: raw logs and summaries in {}", dir.display());
    Ok(())
}

/// Every kernel's figures side by side, each column's configuration
/// spelt out above it, with the ratios that matter: our release fastpath
/// against stock seL4 release, and our release slowpath against stock.
fn columns_table(columns: &[Column]) -> String {
    let mut out = String::from("IPC latency in TSC cycles (guest instructions under TCG -icount shift=0), timing overhead subtracted\n");
    for c in columns {
        out.push_str(&format!("  [{}] {}\n", c.header, c.configuration));
    }
    let find = |key: &str| columns.iter().position(|c| c.key == key);
    let mut ratios = Vec::new();
    if let Some(stock) = find("stock-sel4-release") {
        for ours in ["fastpath-release", "slowpath-release"] {
            if let Some(o) = find(ours) {
                ratios.push((o, stock));
            }
        }
    } else if let (Some(s), Some(f)) = (find("slowpath-release").or(find("slowpath-debug")), find("fastpath-release").or(find("fastpath-debug"))) {
        ratios.push((s, f));
    }
    out.push_str(&format!("{:<24} {:<9} {:<12} {:>4}", "case", "spaces", "direction", "len"));
    for c in columns {
        out.push_str(&format!(" | {:^32}", format!("{}: min med mean sd", c.header)));
    }
    for (a, b) in &ratios {
        out.push_str(&format!(" | {:>13}", format!("{}/{}", ratio_name(columns[*a].key), ratio_name(columns[*b].key))));
    }
    out.push('\n');
    let keys: std::collections::BTreeSet<_> = columns.iter().flat_map(|c| c.summaries.keys().cloned()).collect();
    for key in sorted_keys(keys) {
        out.push_str(&format!("{:<24} {:<9} {:<12} {:>4}", key.0, key.1, key.2, key.3));
        for c in columns {
            out.push_str(&format!(" | {}", cells(c.summaries.get(&key))));
        }
        for (a, b) in &ratios {
            let ratio = match (columns[*a].summaries.get(&key), columns[*b].summaries.get(&key)) {
                (Some(x), Some(y)) if y.median > 0.0 => format!("{:.2}x", x.median / y.median),
                _ => "-".into(),
            };
            out.push_str(&format!(" | {ratio:>13}"));
        }
        out.push('\n');
    }
    out
}

/// A column's short name in a ratio header.
fn ratio_name(key: &str) -> &str {
    match key {
        "slowpath-release" => "slow",
        "fastpath-release" => "fast",
        "stock-sel4-release" => "stock",
        "slowpath-debug" => "slowdbg",
        "fastpath-debug" => "fastdbg",
        other => other,
    }
}

fn sorted_keys(keys: std::collections::BTreeSet<(String, String, String, u64)>) -> Vec<(String, String, String, u64)> {
    let mut keys: Vec<_> = keys.into_iter().collect();
    let case_rank = |c: &str| CASE_ORDER.iter().position(|&o| o == c).unwrap_or(CASE_ORDER.len());
    keys.sort_by(|a, b| case_rank(&a.0).cmp(&case_rank(&b.0)).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)).then(a.3.cmp(&b.3)));
    keys
}

/// Boots the fastpath kernel with the benchmark on the UINTR-capable QEMU
/// (`+uintr`, TCG, -icount shift=0), once on the hardware path and once
/// with the kernel told to emulate, and returns both consoles.
fn boot_uintr_paths(kernel32: &Path, rootserver: &Path, qemu: &Path, dir: &Path) -> Result<(String, String), String> {
    let mut consoles = Vec::new();
    for (name, cmdline) in [("uintr-hardware", None), ("uintr-emulated", Some("uintr=emulate"))] {
        let mut boot = Boot::new(kernel32, Some(rootserver));
        boot.qemu = qemu.to_path_buf();
        boot.cpu = Some(kernel_tests::uintr::uintr_cpu());
        boot.cmdline = cmdline.map(String::from);
        boot.extra_args = vec!["-icount".into(), "shift=0".into()];
        println!("bench: booting the fastpath kernel on the UINTR-capable QEMU, {name} (TCG, -icount shift=0) ...");
        let log = dir.join(format!("{name}.log"));
        let outcome = qemu::run_captured(&boot, &log, BOOT_LIMIT)?;
        if !outcome.console.contains("cases done") {
            return Err(format!("the {name} benchmark did not finish; see {}", log.display()));
        }
        consoles.push(outcome.console);
    }
    let emulated = consoles.pop().unwrap_or_default();
    Ok((consoles.pop().unwrap_or_default(), emulated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consoles_name_their_uintr_path_and_only_signalling_rows_compare() {
        let hardware = "user interrupts: the CPU has UINTR, enabled (hardware path); notifications on vector 0xec";
        let emulated = "user interrupts: not in this CPU; SENDUIPI, UIRET, TESTUI, CLUI and STUI are emulated on #UD (fallback path)";
        assert_eq!((uintr_path(hardware), uintr_path(emulated), uintr_path("seL4 Starting")), (Some("hardware"), Some("emulated"), None));
        assert!(uintr_note(hardware).is_none() && uintr_note(emulated).is_some(), "only emulated rows carry the emulation note");
        let key = |case: &str| (case.to_string(), "same".to_string(), "blocked".to_string(), 0);
        let summary = bench::summarise(&[10, 12, 14]).unwrap();
        let all: Summaries = ["call_replyrecv_roundtrip", "signal_wait_roundtrip", "uintr_roundtrip"].iter().map(|c| (key(c), summary)).collect();
        let rows: Vec<_> = signalling_rows(&all).into_keys().map(|k| k.0).collect();
        assert_eq!(rows, ["signal_wait_roundtrip", "uintr_roundtrip"]);
    }

    #[test]
    fn a_kernel_message_inside_a_sample_list_is_dropped() {
        let console = "boot\n{\"bench\":\"ipc\",\"case\":\"call_one_way\",\"address_spaces\":\"same\",\"direction\":\"low_to_high\",\"length\":8,\"overhead\":4,\"samples\":[10,12invariants hold after 100000 syscalls\r\n,14]}\r\nfastpath: off\n";
        let (variant, cases) = parse_log(console);
        assert_eq!(variant, Some(KernelVariant::SlowpathOnly));
        assert_eq!(cases.len(), 1);
        assert_eq!((cases[0].case.as_str(), cases[0].direction.as_str(), cases[0].length, cases[0].overhead), ("call_one_way", "low_to_high", 8, 4));
        assert_eq!(cases[0].samples, [10, 12, 14]);
    }

    #[test]
    fn the_plot_has_a_line_per_kernel_and_case() {
        let summary = bench::summarise(&[100, 110]).unwrap();
        let mut slow = Summaries::new();
        let mut fast = Summaries::new();
        for case in PLOT_CASES {
            for len in [0, 4, 120] {
                slow.insert((case.into(), "same".into(), "low_to_high".into(), len), summary);
                fast.insert((case.into(), "same".into(), "low_to_high".into(), len), summary);
            }
        }
        let svg = plot(&slow, &fast);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2 * PLOT_CASES.len());
        assert_eq!(svg.matches("<polyline").count(), svg.matches("</polyline>").count());
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn sel4bench_json_maps_onto_our_cases() {
        let text = r#"some console text
[{"Benchmark": "One way IPC microbenchmarks", "Results": [
 {"Function": "seL4_Call", "Direction": "client->server", "Client Prio": 253, "Server Prio": 254, "Same vspace?": false, "IPC length": 0,
  "Min": 380, "Max": 400, "Mean": 385.5, "Stddev": 2.5, "Median": 384.0, "Samples": 16},
 {"Function": "seL4_ReplyRecv", "Direction": "server->client", "Client Prio": 254, "Server Prio": 254, "Same vspace?": true, "IPC length": 10,
  "Min": 390, "Max": 410, "Mean": 395.0, "Stddev": 1.0, "Median": 394.0, "Samples": 16},
 {"Function": "seL4_Call", "Direction": "server->client", "Client Prio": 1, "Server Prio": 2, "Same vspace?": true, "IPC length": 0,
  "Min": 1, "Max": 1, "Mean": 1.0, "Stddev": 0.0, "Median": 1.0, "Samples": 1}]},
 {"Benchmark": "Signal", "Results": []}]
more text"#;
        let results = load_comparison(text).unwrap();
        assert_eq!(results.len(), 2);
        let call = &results[&("call_one_way".into(), "different".into(), "low_to_high".into(), 0)];
        assert_eq!((call.min, call.median, call.samples), (380, 384.0, 16));
        assert!(results.contains_key(&("replyrecv_one_way".into(), "same".into(), "same_prio".into(), 10)));
    }

    #[test]
    fn a_summary_file_compares_with_its_fastpath_rows() {
        let text = "{\"kernel\":\"slowpath\",\"case\":\"call_one_way\",\"address_spaces\":\"same\",\"direction\":\"low_to_high\",\"length\":0,\"samples\":1000,\"min\":900,\"median\":908,\"mean\":908.5,\"stddev\":1.0}\n\
                    {\"kernel\":\"fastpath\",\"case\":\"call_one_way\",\"address_spaces\":\"same\",\"direction\":\"low_to_high\",\"length\":0,\"samples\":1000,\"min\":500,\"median\":511,\"mean\":511.2,\"stddev\":0.5}\n";
        let results = load_comparison(text).unwrap();
        assert_eq!(results.len(), 1);
        assert_eq!(results.values().next().unwrap().median, 511.0);
        assert!(load_comparison("nothing here").is_err());
    }

    #[test]
    fn a_truncated_case_is_not_reported() {
        let console = "{\"bench\":\"ipc\",\"direction\":\"high_to_low\",\"length\":0,\"overhead\":4,\"samples\":[10,1";
        assert!(parse_log(console).1.is_empty());
    }
}
