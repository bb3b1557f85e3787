//! `cargo xtask pxe`: a netboot tree for real machines (both chains: UEFI
//! PXE to GRUB to multiboot 2, BIOS PXE to iPXE to multiboot 1), the
//! dnsmasq configuration that serves it, serving it, and capturing a
//! target's serial console. The tree and the configuration are made by
//! `kernel_tests::pxe`, the same code the netboot suite boots QEMU with.

use crate::artifacts::{self, KernelVariant};
use crate::{bench, setup};
use kernel_tests::pxe::{self, DhcpMode, Mac, Program, ServeSpec, TreeSpec};
use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// The `pxe` lines of the xtask usage text.
#[macro_export]
macro_rules! pxe_usage {
    () => {
        "  cargo xtask pxe [--tree DIR] [ENTRY] [--machine MAC [ENTRY]]...
                  [--interface IFACE | --serve IFACE] [--full-dhcp FIRST-LAST]
                  [--console DEVICE|COMMAND [--log FILE] [--until TEXT]]
      ENTRY: [--program suite|bench|ROOTSERVER_IMAGE] [--kernel KERNEL_IMAGE] [--cmdline \"KERNEL ARGS\"]
      (options after --machine MAC apply to that machine; before any, to the default entry)"
    };
}

const USAGE: &str = pxe_usage!();

/// What a `--program` names.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ProgramChoice {
    Suite,
    Bench,
    Image(PathBuf),
}

#[derive(Clone, Debug)]
struct EntryArgs {
    program: ProgramChoice,
    kernel: Option<PathBuf>,
    cmdline: String,
}

impl Default for EntryArgs {
    fn default() -> Self {
        EntryArgs { program: ProgramChoice::Suite, kernel: None, cmdline: String::new() }
    }
}

#[derive(Debug, Default)]
struct PxeArgs {
    tree: Option<PathBuf>,
    default: EntryArgs,
    machines: Vec<(Mac, EntryArgs)>,
    interface: Option<String>,
    serve: bool,
    full_dhcp: Option<(Ipv4Addr, Ipv4Addr)>,
    console: Option<String>,
    log: Option<PathBuf>,
    until: Option<String>,
}

fn parse(args: &[String]) -> Result<PxeArgs, String> {
    let mut a = PxeArgs::default();
    let mut it = args.iter();
    let value = |it: &mut std::slice::Iter<'_, String>, opt: &str| -> Result<String, String> {
        it.next().cloned().ok_or_else(|| format!("{opt} needs a value"))
    };
    while let Some(opt) = it.next() {
        let entry = match a.machines.last_mut() {
            Some((_, e)) => e,
            None => &mut a.default,
        };
        match opt.as_str() {
            "--tree" => a.tree = Some(value(&mut it, opt)?.into()),
            "--program" => {
                entry.program = match value(&mut it, opt)?.as_str() {
                    "suite" => ProgramChoice::Suite,
                    "bench" => ProgramChoice::Bench,
                    path => ProgramChoice::Image(PathBuf::from(path)),
                }
            }
            "--kernel" => entry.kernel = Some(value(&mut it, opt)?.into()),
            "--cmdline" => entry.cmdline = value(&mut it, opt)?,
            "--machine" => {
                let mac: Mac = value(&mut it, opt)?.parse()?;
                if a.machines.iter().any(|(m, _)| *m == mac) {
                    return Err(format!("machine {mac} is given twice"));
                }
                // A machine starts from the default entry as given so far.
                a.machines.push((mac, a.default.clone()));
            }
            "--interface" => a.interface = Some(value(&mut it, opt)?),
            "--serve" => {
                a.interface = Some(value(&mut it, opt)?);
                a.serve = true;
            }
            "--full-dhcp" => {
                let v = value(&mut it, opt)?;
                let range = v.split_once('-').and_then(|(f, l)| Some((f.parse().ok()?, l.parse().ok()?)));
                a.full_dhcp = Some(range.ok_or_else(|| format!("--full-dhcp {v:?}: give FIRST-LAST, e.g. 10.0.0.100-10.0.0.150"))?);
            }
            "--console" => a.console = Some(value(&mut it, opt)?),
            "--log" => a.log = Some(value(&mut it, opt)?.into()),
            "--until" => a.until = Some(value(&mut it, opt)?),
            other => return Err(format!("unknown option {other}\nusage:\n{USAGE}")),
        }
    }
    if a.full_dhcp.is_some() && a.interface.is_none() {
        return Err("--full-dhcp needs --interface or --serve".into());
    }
    Ok(a)
}

/// The images the entries need, built once each.
struct Built {
    kernel: Option<PathBuf>,
    suite: Option<PathBuf>,
    bench: Option<PathBuf>,
}

fn build_images(a: &PxeArgs) -> Result<Built, String> {
    let entries: Vec<&EntryArgs> = std::iter::once(&a.default).chain(a.machines.iter().map(|(_, e)| e)).collect();
    let needs_bench = entries.iter().any(|e| e.program == ProgramChoice::Bench);
    let needs_suite = entries.iter().any(|e| e.program == ProgramChoice::Suite);
    let needs_kernel = entries.iter().any(|e| e.kernel.is_none());
    let mut built = Built { kernel: None, suite: None, bench: None };
    if needs_bench {
        built.bench = Some(bench::build_bench_rootserver()?);
    }
    // Built after the benchmark, so the test-suite rootserver is the one
    // left at target/<target>/release/rootserver.
    if needs_suite || needs_kernel {
        let images = artifacts::build(KernelVariant::Fastpath)?;
        built.kernel = Some(images.kernel);
        built.suite = Some(images.rootserver);
    }
    Ok(built)
}

fn program(e: &EntryArgs, built: &Built) -> Result<Program, String> {
    let (rootserver, label) = match &e.program {
        ProgramChoice::Suite => (built.suite.clone().ok_or("the test suite was not built")?, "suite".to_string()),
        ProgramChoice::Bench => (built.bench.clone().ok_or("the benchmark was not built")?, "bench".to_string()),
        ProgramChoice::Image(p) => (p.clone(), p.display().to_string()),
    };
    let kernel = match &e.kernel {
        Some(k) => k.clone(),
        None => built.kernel.clone().ok_or("the kernel was not built")?,
    };
    Ok(Program { kernel, rootserver, cmdline: e.cmdline.clone(), label })
}

pub fn pxe(args: &[String]) -> Result<(), String> {
    let a = parse(args)?;
    setup::ensure_rust_target()?;
    setup::ensure_host_tools()?;
    setup::ensure_netboot_tools()?;
    // A bad interface is refused before anything is built.
    let net = match &a.interface {
        Some(iface) => Some(pxe::interface_ipv4(iface, None)?),
        None => None,
    };
    let built = build_images(&a)?;
    let spec = TreeSpec {
        default: program(&a.default, &built)?,
        machines: a.machines.iter().map(|(m, e)| Ok((*m, program(e, &built)?))).collect::<Result<_, String>>()?,
    };
    let tree = a.tree.clone().unwrap_or_else(|| artifacts::target_dir().join("netboot"));
    std::fs::create_dir_all(&tree).map_err(|e| format!("{}: {e}", tree.display()))?;
    pxe::build_tree(&tree, &spec)?;
    println!("pxe: netboot tree in {}", tree.display());
    describe_entries(&spec);
    let mut dnsmasq = None;
    if let (Some(iface), Some(net)) = (&a.interface, net) {
        let mode = match a.full_dhcp {
            Some((first, last)) => DhcpMode::Full { first, last },
            None => DhcpMode::Proxy,
        };
        let serve = ServeSpec { interface: iface.clone(), net, mode, tree: tree.clone(), leases: tree.join("dnsmasq.leases") };
        let conf = pxe::write_serve_files(&serve)?;
        println!(
            "pxe: {} ({}) on {iface}, TFTP server {}: {}",
            conf.display(),
            match mode {
                DhcpMode::Proxy => format!("proxy DHCP beside the lab's DHCP server on {}/{}", net.network(), net.prefix),
                DhcpMode::Full { first, last } => format!("full DHCP, addresses {first} to {last}"),
            },
            net.addr,
            if a.serve { "serving now" } else { "run it with `cargo xtask pxe --serve IFACE` or `dnsmasq -C` that file" }
        );
        if a.serve {
            dnsmasq = Some(start_dnsmasq(&conf, &tree.join("dnsmasq.log"))?);
        }
    } else {
        println!("pxe: no dnsmasq.conf written: give --interface IFACE (or --serve IFACE) to serve the tree");
    }
    let stop = Arc::new(AtomicBool::new(false));
    if dnsmasq.is_some() || a.console.is_some() {
        let flag = stop.clone();
        ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)).map_err(|e| format!("cannot catch Ctrl-C: {e}"))?;
    }
    let console_result = match &a.console {
        Some(source) => {
            let log = a.log.clone().unwrap_or_else(|| tree.join("console.log"));
            capture_console(source, &log, a.until.as_deref(), &stop)
        }
        None => {
            if dnsmasq.is_some() {
                println!("pxe: serving; dnsmasq's log is {}; Ctrl-C stops", tree.join("dnsmasq.log").display());
                while !stop.load(Ordering::SeqCst) && dnsmasq.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None))) {
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            Ok(())
        }
    };
    if let Some(mut child) = dnsmasq {
        let early = child.try_wait().ok().flatten();
        let _ = child.kill();
        let _ = child.wait();
        match early {
            Some(status) if !stop.load(Ordering::SeqCst) && console_result.is_ok() && a.console.is_none() => {
                return Err(format!("dnsmasq stopped by itself ({status}); see {}", tree.join("dnsmasq.log").display()))
            }
            _ => println!("pxe: dnsmasq stopped"),
        }
    }
    console_result
}

fn describe_entries(spec: &TreeSpec) {
    let show = |who: String, p: &Program| {
        println!("  {who:<26} {} with kernel {}, command line {:?}", p.label, p.kernel.display(), p.cmdline);
    };
    show("default entry:".into(), &spec.default);
    for (mac, p) in &spec.machines {
        show(format!("machine {mac}:"), p);
    }
}

fn start_dnsmasq(conf: &Path, log: &Path) -> Result<Child, String> {
    let file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = pxe::dnsmasq_command(conf)
        .stdin(Stdio::null())
        .stdout(file.try_clone().map_err(|e| e.to_string())?)
        .stderr(file)
        .spawn()
        .map_err(|e| format!("cannot start dnsmasq: {e}"))?;
    std::thread::sleep(Duration::from_millis(500));
    if let Ok(Some(status)) = child.try_wait() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        return Err(format!("dnsmasq exited at once ({status}): {}", text.trim()));
    }
    Ok(child)
}

/// Copies a target's serial console to `log` (and to the terminal) until
/// the program's closing line, Ctrl-C, or the end of the stream. `source`
/// is a serial device (set to 115200 baud, raw) or a shell command whose
/// output is the console, such as `ipmitool -I lanplus -H BMC -U USER -E
/// sol activate`.
fn capture_console(source: &str, log: &Path, until: Option<&str>, stop: &AtomicBool) -> Result<(), String> {
    let mut file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let (tx, rx) = mpsc::channel::<Option<String>>();
    let mut child = None;
    let reader: Box<dyn std::io::Read + Send> = if Path::new(source).exists() && source.starts_with("/dev/") {
        let stty = Command::new("stty").args(["-F", source, "115200", "raw", "-echo"]).status();
        if !stty.map(|s| s.success()).unwrap_or(false) {
            return Err(format!("cannot set {source} to 115200 baud (stty)"));
        }
        Box::new(std::fs::File::open(source).map_err(|e| format!("{source}: {e}"))?)
    } else {
        let mut c = Command::new("sh")
            .args(["-c", source])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run the console command {source:?}: {e}"))?;
        let out = c.stdout.take().ok_or("no console output pipe")?;
        child = Some(c);
        Box::new(out)
    };
    std::thread::spawn(move || {
        let mut lines = BufReader::new(reader);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match lines.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf).replace('\r', "");
                    if tx.send(Some(line)).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = tx.send(None);
    });
    println!("pxe: console from {source} into {}; waiting for the closing line (Ctrl-C stops)", log.display());
    let outcome = loop {
        if stop.load(Ordering::SeqCst) {
            break Err("stopped by Ctrl-C before the closing line".to_string());
        }
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(line)) => {
                print!("{line}");
                file.write_all(line.as_bytes()).map_err(|e| format!("{}: {e}", log.display()))?;
                if pxe::is_closing_line(&line, until) {
                    break Ok(());
                }
            }
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => break Err("the console ended before the closing line".to_string()),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    };
    let _ = file.flush();
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
    match outcome {
        Ok(()) => {
            println!(
                "pxe: closing line seen; the console is in {} (summarise a benchmark with `cargo xtask bench --log {}`)",
                log.display(),
                log.display()
            );
            Ok(())
        }
        Err(e) => Err(format!("{e}; what arrived is in {}", log.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn options_after_a_machine_are_that_machines() {
        let a = parse(&args(&[
            "--cmdline",
            "console_port=0x2f8",
            "--machine",
            "52:54:00:00:00:01",
            "--program",
            "bench",
            "--machine",
            "52-54-00-00-00-02",
            "--program",
            "/x/sel4test-driver-image-x86_64-pc99",
            "--kernel",
            "/x/kernel-x86_64-pc99",
            "--cmdline",
            "",
        ]))
        .unwrap();
        assert_eq!(a.default.program, ProgramChoice::Suite);
        assert_eq!(a.default.cmdline, "console_port=0x2f8");
        assert_eq!(a.machines.len(), 2);
        assert_eq!(a.machines[0].1.program, ProgramChoice::Bench);
        assert_eq!(a.machines[0].1.cmdline, "console_port=0x2f8", "a machine starts from the default entry");
        assert_eq!(a.machines[1].1.program, ProgramChoice::Image("/x/sel4test-driver-image-x86_64-pc99".into()));
        assert_eq!(a.machines[1].1.kernel, Some("/x/kernel-x86_64-pc99".into()));
        assert_eq!(a.machines[1].1.cmdline, "");
    }

    #[test]
    fn a_console_command_is_captured_up_to_the_closing_line() {
        let log = std::env::temp_dir().join(format!("sel4-rs-console-{}.log", std::process::id()));
        let stop = AtomicBool::new(false);
        let source = "printf 'seL4-rs: booting\\r\\ntest a ... ok\\n1 passed, 0 failed\\nafter the end\\n'; sleep 30";
        let start = std::time::Instant::now();
        capture_console(source, &log, None, &stop).unwrap();
        assert!(start.elapsed() < Duration::from_secs(20), "the command was not stopped at the closing line");
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(text, "seL4-rs: booting\ntest a ... ok\n1 passed, 0 failed\n");
        let e = capture_console("printf 'no closing line\\n'", &log, None, &stop).unwrap_err();
        assert!(e.contains("ended before the closing line"), "{e}");
        let _ = std::fs::remove_file(&log);
    }

    #[test]
    fn bad_options_are_refused_clearly() {
        assert!(parse(&args(&["--machine", "52:54:00:00:01"])).unwrap_err().contains("is not a MAC address"));
        let twice = parse(&args(&["--machine", "52:54:00:00:00:01", "--machine", "52-54-00-00-00-01"]));
        assert!(twice.unwrap_err().contains("given twice"));
        assert!(parse(&args(&["--full-dhcp", "10.0.0.1-10.0.0.9"])).unwrap_err().contains("needs --interface"));
        assert!(parse(&args(&["--interface", "br0", "--full-dhcp", "10.0.0.1"])).unwrap_err().contains("FIRST-LAST"));
        let ok = parse(&args(&["--serve", "br0", "--full-dhcp", "10.0.0.100-10.0.0.150"])).unwrap();
        assert!(ok.serve && ok.interface.as_deref() == Some("br0"));
        assert!(parse(&args(&["--frobnicate"])).unwrap_err().contains("unknown option"));
    }
}
