//! `cargo xtask bench`: boots the IPC benchmark rootserver on the
//! slowpath-only and the fastpath kernel, summarises each case's samples
//! (min, median, mean, stddev after subtracting the timing overhead) and
//! prints them side by side; raw console logs, the summary and an SVG
//! plot of the medians go to `results/<unix time>/`. `--log FILE` summarises console logs
//! captured elsewhere (for example a real machine's serial console)
//! instead of booting.

use crate::artifacts::{self, KernelVariant};
use crate::setup;
use kernel_tests::qemu::{self, Boot};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BOOT_LIMIT: Duration = Duration::from_secs(900);

/// One case's samples as the rootserver printed them.
struct Case {
    case: String,
    address_spaces: String,
    direction: String,
    length: u64,
    overhead: u64,
    samples: Vec<u64>,
}

/// A field's raw text in one of the rootserver's flat JSON lines.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!("\"{name}\":"))? + name.len() + 3;
    let rest = &line[start..];
    if let Some(quoted) = rest.strip_prefix('"') {
        return quoted.split('"').next();
    }
    if let Some(list) = rest.strip_prefix('[') {
        return list.split(']').next();
    }
    rest.split([',', '}']).next()
}

fn parse_case(line: &str) -> Option<Case> {
    let samples = field(line, "samples")?.split(',').map(|s| s.trim().parse().ok()).collect::<Option<Vec<u64>>>()?;
    Some(Case {
        case: field(line, "case")?.to_string(),
        address_spaces: field(line, "address_spaces")?.to_string(),
        direction: field(line, "direction")?.to_string(),
        length: field(line, "length")?.parse().ok()?,
        overhead: field(line, "overhead")?.parse().ok()?,
        samples,
    })
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

/// The rootserver's JSON lines, put back together: it prints through the
/// DebugPutChar syscall, so a kernel message (the periodic invariant
/// check's, say) can land in the middle of its sample list. Sample text is
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
const CASE_ORDER: [&str; 3] = ["call_replyrecv_roundtrip", "call_one_way", "replyrecv_one_way"];

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

fn cells(s: Option<&bench::Summary>) -> String {
    match s {
        Some(s) => format!("{:>6} {:>8.1} {:>8.1} {:>7.1}", s.min, s.median, s.mean, s.stddev),
        None => format!("{:>6} {:>8} {:>8} {:>7}", "-", "-", "-", "-"),
    }
}

/// The side-by-side table of both variants.
fn table(slow: &Summaries, fast: &Summaries) -> String {
    table_of(("slowpath", slow), ("fastpath", fast))
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
    let mut keys: Vec<_> = keys.into_iter().collect();
    let case_rank = |c: &str| CASE_ORDER.iter().position(|&o| o == c).unwrap_or(CASE_ORDER.len());
    keys.sort_by(|a, b| case_rank(&a.0).cmp(&case_rank(&b.0)).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)).then(a.3.cmp(&b.3)));
    for key in keys {
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
    summaries
        .iter()
        .map(|((case, spaces, direction, length), s)| {
            format!(
                "{{\"kernel\":\"{variant}\",\"case\":\"{case}\",\"address_spaces\":\"{spaces}\",\"direction\":\"{direction}\",\"length\":{length},\"samples\":{},\"min\":{},\"median\":{},\"mean\":{:.1},\"stddev\":{:.1}}}",
                s.samples, s.min, s.median, s.mean, s.stddev
            )
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
        W * CASE_ORDER.len() as f64,
        H + 20.0
    );
    for (panel, case) in CASE_ORDER.iter().enumerate() {
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
            out.push_str(&format!("<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"><title>{name}</title></polyline>\n", coords.join(" ")));
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
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(artifacts::workspace_root())
        .args(["build", "--release", "--target", setup::TARGET, "-p", "rootserver", "--features", "bench"])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building the benchmark rootserver failed".into());
    }
    let out = artifacts::target_dir().join(setup::TARGET).join("release");
    let bench = out.join("rootserver-bench");
    std::fs::copy(out.join("rootserver"), &bench).map_err(|e| format!("cannot copy the rootserver: {e}"))?;
    Ok(bench)
}

/// Boots one kernel variant with the benchmark and returns its console.
fn boot_variant(kernel32: &Path, rootserver: &Path, name: &str, dir: &Path) -> Result<String, String> {
    let accel = crate::choose_accel(None)?;
    let mut boot = Boot::new(kernel32, Some(rootserver));
    boot.accel = accel;
    if accel == qemu::Accel::Tcg {
        // The TSC then counts guest instructions: identical run to run.
        boot.extra_args = vec!["-icount".into(), "shift=0".into()];
    }
    println!("bench: booting the {name} kernel ({accel:?}{}) ...", if accel == qemu::Accel::Tcg { ", -icount shift=0" } else { "" });
    let log = dir.join(format!("{name}.log"));
    let outcome = qemu::run_captured(&boot, &log, BOOT_LIMIT)?;
    if !outcome.console.contains("cases done") {
        return Err(format!("the {name} benchmark did not finish; see {}", log.display()));
    }
    Ok(outcome.console)
}

/// Boots the benchmark rootserver, an ordinary seL4 program, on a stock
/// seL4 kernel. Stock seL4 cannot end QEMU, so the boot stops once the
/// closing line appears.
fn boot_stock(kernel32: &Path, rootserver: &Path, dir: &Path) -> Result<String, String> {
    let accel = crate::choose_accel(None)?;
    let mut boot = Boot::new(kernel32, Some(rootserver));
    boot.accel = accel;
    if accel == qemu::Accel::Tcg {
        boot.extra_args = vec!["-icount".into(), "shift=0".into()];
    }
    println!("bench: booting stock seL4 ({}) ...", kernel32.display());
    let log = dir.join("stock-sel4.log");
    if !qemu::run_until(&boot, &log, "cases done", BOOT_LIMIT)? {
        return Err(format!("the benchmark did not finish on stock seL4; see {}", log.display()));
    }
    std::fs::read_to_string(&log).map_err(|e| format!("{}: {e}", log.display()))
}

pub fn bench(args: &[String]) -> Result<(), String> {
    let mut logs = Vec::new();
    let mut stock = std::env::var_os("SEL4_KERNEL_IMAGE").map(PathBuf::from);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--log" => logs.push(PathBuf::from(it.next().ok_or("--log needs a file")?)),
            "--stock" => stock = Some(PathBuf::from(it.next().ok_or("--stock needs a stock seL4 kernel-x86_64-pc99")?)),
            other => return Err(format!("unknown option {other}")),
        }
    }
    let dir = artifacts::workspace_root()
        .join("results")
        .join(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0).to_string());
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;

    let (mut slow, mut fast) = (None, None);
    let mut stock_summaries: Option<Summaries> = None;
    let mut machine = Vec::new();
    let consoles: Vec<String> = if logs.is_empty() {
        setup::ensure_rust_target()?;
        setup::ensure_host_tools()?;
        let slowpath = artifacts::build(KernelVariant::SlowpathOnly)?;
        let fastpath = artifacts::build(KernelVariant::Fastpath)?;
        let rootserver = build_bench_rootserver()?;
        let a = boot_variant(&slowpath.kernel32, &rootserver, "slowpath", &dir)?;
        let b = boot_variant(&fastpath.kernel32, &rootserver, "fastpath", &dir)?;
        machine.push(format!("host: {}; QEMU guest CPU: {}", host_cpu(), guest_cpu(&b)));
        if let Some(kernel) = &stock {
            let console = boot_stock(kernel, &rootserver, &dir)?;
            stock_summaries = Some(summarise(&parse_log(&console).1));
        }
        vec![a, b]
    } else {
        logs.iter().map(|p| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))).collect::<Result<_, _>>()?
    };
    for console in &consoles {
        let (variant, cases) = parse_log(console);
        if !logs.is_empty() {
            machine.push(format!("log from CPU: {}", guest_cpu(console)));
        }
        match variant {
            Some(KernelVariant::SlowpathOnly) => slow = Some(summarise(&cases)),
            Some(KernelVariant::Fastpath) => fast = Some(summarise(&cases)),
            None => return Err("a console log has no `fastpath:` report (did it reach DebugHalt?)".into()),
        }
    }
    let (slow, fast) = (slow.unwrap_or_default(), fast.unwrap_or_default());
    let mut report = machine.join("\n");
    report.push('\n');
    report.push_str(&table(&slow, &fast));
    if let Some(stock) = &stock_summaries {
        report.push_str("\nThe same benchmark rootserver on stock seL4 (same host, same QEMU line):\n");
        report.push_str(&table_of(("fastpath", &fast), ("stock seL4", stock)));
    }
    print!("{report}");
    let mut json = summaries_json("slowpath", &slow);
    json.extend(summaries_json("fastpath", &fast));
    if let Some(stock) = &stock_summaries {
        json.extend(summaries_json("stock-sel4", stock));
    }
    std::fs::write(dir.join("summary.txt"), &report).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("summary.jsonl"), json.join("\n") + "\n").map_err(|e| e.to_string())?;
    std::fs::write(dir.join("medians.svg"), plot(&slow, &fast)).map_err(|e| e.to_string())?;
    println!("bench: raw logs and summaries in {}", dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for case in CASE_ORDER {
            for len in [0, 4, 120] {
                slow.insert((case.into(), "same".into(), "low_to_high".into(), len), summary);
                fast.insert((case.into(), "same".into(), "low_to_high".into(), len), summary);
            }
        }
        let svg = plot(&slow, &fast);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2 * CASE_ORDER.len());
        assert_eq!(svg.matches("<polyline").count(), svg.matches("</polyline>").count());
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn a_truncated_case_is_not_reported() {
        let console = "{\"bench\":\"ipc\",\"direction\":\"high_to_low\",\"length\":0,\"overhead\":4,\"samples\":[10,1";
        assert!(parse_log(console).1.is_empty());
    }
}
