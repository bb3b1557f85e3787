//! The netboot suite: both boot chains of a `cargo xtask pxe` tree, served
//! by the generated dnsmasq configuration, into QEMU on a tap device.
//!
//! Everything happens in two network namespaces the suite creates and
//! removes (also when a step fails): the boot server's, with a bridge,
//! the taps QEMU boots on, and dnsmasq; and a "lab" namespace joined to
//! the bridge by a veth pair, where a plain DHCP server stands in for the
//! lab's own (so proxy mode is tested against a real one). Addresses are
//! from 10.213.0.0/24, which exists only inside them.
//!
//! - UEFI, proxy DHCP: OVMF's PXE (through the e1000 ROM's network
//!   driver) gets its address from the lab server and GRUB from ours;
//!   the MAC has its own machine entry, whose command line must reach
//!   the kernel.
//! - BIOS, full DHCP: SeaBIOS and the NIC's iPXE ROM get both from ours,
//!   and boot the default entry by multiboot 1.

use crate::pxe::{self, DhcpMode, Ipv4Net, Mac, Program, ServeSpec, TreeSpec};
use crate::qemu::{run_captured, Boot, Outcome, EXIT_HALTED};
use crate::suites::{result, TestResult};
use crate::Images;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Firmware, a TFTP transfer and the quick rootserver suite under TCG on
/// a loaded machine: generous, since no test may depend on timing.
const NETBOOT_LIMIT: Duration = Duration::from_secs(900);

pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

const SERVER: &str = "10.213.0.1";
const LAB_DHCP: &str = "10.213.0.2";
const UEFI_MAC: &str = "52:54:00:5e:14:01";
const BIOS_MAC: &str = "52:54:00:5e:14:02";
/// Marks the UEFI machine's own entry on its kernel command line.
const MACHINE_ENTRY_ARG: &str = "netboot_entry=uefi-box";

/// The namespaces, links and processes of one run; dropping it stops the
/// processes it started and deletes both namespaces (and with them every
/// link inside).
struct TestNet {
    server_ns: String,
    lab_ns: String,
    children: Vec<(String, Child)>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Removes what an earlier run left when it was killed before its
/// `TestNet` could be dropped: namespaces of this suite whose creating
/// process is gone, and the processes still inside them (that run's
/// dnsmasq and QEMU, found by `ip netns pids`).
fn remove_stale_namespaces() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else { return };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(ns) = line.split_whitespace().next() else { continue };
        let Some(pid) = ns.strip_prefix("sel4rs-pxe-").or_else(|| ns.strip_prefix("sel4rs-lab-")) else { continue };
        if Path::new("/proc").join(pid).exists() {
            continue;
        }
        if let Ok(pids) = Command::new("ip").args(["netns", "pids", ns]).output() {
            for p in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
                let _ = Command::new("kill").arg(p).status();
            }
        }
        let _ = ip(&["netns", "del", ns]);
    }
}

impl TestNet {
    fn create() -> Result<TestNet, String> {
        remove_stale_namespaces();
        let id = std::process::id();
        let net = TestNet { server_ns: format!("sel4rs-pxe-{id}"), lab_ns: format!("sel4rs-lab-{id}"), children: Vec::new() };
        let (s, l) = (net.server_ns.as_str(), net.lab_ns.as_str());
        ip(&["netns", "add", s])?;
        ip(&["netns", "add", l])?;
        for (ns, args) in [
            (s, vec!["link", "set", "lo", "up"]),
            (s, vec!["link", "add", "br0", "type", "bridge"]),
            (s, vec!["addr", "add", &format!("{SERVER}/24"), "dev", "br0"]),
            (s, vec!["link", "set", "br0", "up"]),
            (s, vec!["tuntap", "add", "dev", "tap0", "mode", "tap"]),
            (s, vec!["link", "set", "tap0", "master", "br0"]),
            (s, vec!["link", "set", "tap0", "up"]),
            (s, vec!["link", "add", "lab0", "type", "veth", "peer", "name", "lab1", "netns", l]),
            (s, vec!["link", "set", "lab0", "master", "br0"]),
            (s, vec!["link", "set", "lab0", "up"]),
            (l, vec!["link", "set", "lo", "up"]),
            (l, vec!["addr", "add", &format!("{LAB_DHCP}/24"), "dev", "lab1"]),
            (l, vec!["link", "set", "lab1", "up"]),
        ] {
            let mut full = vec!["-n", ns];
            full.extend(args.iter().copied());
            ip(&full)?;
        }
        Ok(net)
    }

    /// Starts dnsmasq with `conf` inside `ns`, logging to `log`.
    fn start_dnsmasq(&mut self, name: &str, ns: &str, conf: &Path, log: &Path) -> Result<(), String> {
        let file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let inner = pxe::dnsmasq_command(conf);
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).arg(inner.get_program()).args(inner.get_args());
        let child = c
            .stdin(Stdio::null())
            .stdout(file.try_clone().map_err(|e| e.to_string())?)
            .stderr(file)
            .spawn()
            .map_err(|e| format!("cannot start dnsmasq: {e}"))?;
        self.children.push((name.to_string(), child));
        // dnsmasq says it has started, or exits with the reason.
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if text.contains("TFTP root is") || text.contains("DHCP, IP range") {
                return Ok(());
            }
            if let Some((_, child)) = self.children.last_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("dnsmasq ({name}) exited with {status}: {}", text.trim()));
                }
            }
            if start.elapsed() > Duration::from_secs(30) {
                return Err(format!("dnsmasq ({name}) did not start: {}", text.trim()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop_all(&mut self) {
        for (_, mut child) in self.children.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        self.stop_all();
        let _ = ip(&["netns", "del", &self.server_ns]);
        let _ = ip(&["netns", "del", &self.lab_ns]);
    }
}

/// The bad configurations `cargo xtask pxe` must refuse with a clear error.
fn refusals(images: &Images, spec: &TreeSpec, results: &mut Vec<TestResult>) {
    let mut problems = Vec::new();
    match "52:54:00:5e:14".parse::<Mac>() {
        Ok(m) => problems.push(format!("a five-byte MAC was accepted as {m}")),
        Err(e) if e.contains("is not a MAC address") => {}
        Err(e) => problems.push(format!("unclear error for a bad MAC: {e}")),
    }
    results.push(result("netboot::refuses_an_unknown_mac_format", problems));

    let mut problems = Vec::new();
    match pxe::interface_ipv4("sel4rs-absent0", None) {
        Ok(net) => problems.push(format!("an absent interface had an address: {net:?}")),
        Err(e) if e.contains("no such network interface: sel4rs-absent0") => {}
        Err(e) => problems.push(format!("unclear error for an absent interface: {e}")),
    }
    results.push(result("netboot::refuses_an_absent_interface", problems));

    let mut problems = Vec::new();
    let tree = images.scratch.join("netboot-tree-without-kernel");
    let outcome = pxe::build_tree(&tree, spec).and_then(|()| {
        std::fs::remove_file(tree.join("programs/default/kernel")).map_err(|e| e.to_string())?;
        let serve = ServeSpec {
            interface: "lo".into(),
            net: Ipv4Net { addr: "127.0.0.1".parse().unwrap(), prefix: 8 },
            mode: DhcpMode::Proxy,
            tree: tree.clone(),
            leases: images.scratch.join("netboot-unused.leases"),
        };
        Ok(pxe::write_serve_files(&serve))
    });
    match outcome {
        Err(e) => problems.push(format!("could not build the tree to break: {e}")),
        Ok(Ok(_)) => problems.push("a tree without its kernel was served".into()),
        Ok(Err(e)) if e.contains("not a complete netboot tree") && e.contains("programs/default/kernel") => {}
        Ok(Err(e)) => problems.push(format!("unclear error for a tree without the kernel: {e}")),
    }
    results.push(result("netboot::refuses_a_tree_without_the_kernel", problems));
}

fn check_contains(text: &str, what: &str, needle: &str, problems: &mut Vec<String>) {
    if !text.contains(needle) {
        problems.push(format!("{what} lacks {needle:?}"));
    }
}

/// What every netboot of the suite must show: the kernel booted by the
/// expected protocol, the rootserver's closing line with no failures,
/// DebugHalt, and dnsmasq's log of the files it sent.
fn check_boot(out: &Outcome, dnsmasq_log: &Path, protocol: u8, sent: &[&str], problems: &mut Vec<String>) {
    if out.status != Some(EXIT_HALTED) {
        problems.push(format!("expected DebugHalt (33), got {:?}", out.status));
    }
    check_contains(&out.console, "console", &format!("seL4-rs: booting (x86_64, pc99; multiboot {protocol})"), problems);
    match out.console.lines().find_map(|l| crate::suites::closing_line(l.trim())) {
        Some((p, 0)) if p > 0 => {}
        Some((p, f)) => problems.push(format!("rootserver closing line: {p} passed, {f} failed")),
        None => problems.push("no closing line from the rootserver".into()),
    }
    let log = std::fs::read_to_string(dnsmasq_log).unwrap_or_default();
    for file in sent {
        check_contains(&log, "dnsmasq's log", &format!("/{file} to "), problems);
    }
}

/// The kernel's machine report, as it must appear on a UEFI boot.
fn check_machine_report(console: &str, problems: &mut Vec<String>) {
    for needle in ["machine: CPU ", "machine: APIC ", "machine: TSC ", "machine: user interrupts ", "machine: console on "] {
        check_contains(console, "console", needle, problems);
    }
    // GRUB under UEFI hands over the firmware's framebuffer (the kernel's
    // header asks for one); there is no VGA text mode to fall back to.
    check_contains(console, "console", "machine: framebuffer ", problems);
    check_contains(console, "console", "machine: loaded by multiboot 2", problems);
    check_contains(console, "console", "ACPI RSDP from the loader", problems);
}

pub fn run(images: &Images, results: &mut Vec<TestResult>) -> Result<(), String> {
    let program = |cmdline: &str| Program {
        kernel: images.kernel.clone(),
        // The quick suite: these boots test the chain, not the kernel.
        rootserver: images.quick_rootserver.clone(),
        cmdline: cmdline.into(),
        label: "suite".into(),
    };
    let uefi_mac: Mac = UEFI_MAC.parse()?;
    let spec =
        TreeSpec { default: program("console_port=0x3f8"), machines: vec![(uefi_mac, program(&format!("console_port=0x3f8 {MACHINE_ENTRY_ARG}")))] };
    refusals(images, &spec, results);

    let names = ["netboot::uefi_pxe_grub_multiboot2_proxy_dhcp", "netboot::bios_pxe_ipxe_multiboot1_full_dhcp"];
    let fail_all = |results: &mut Vec<TestResult>, why: String| {
        for n in names {
            results.push(result(n, vec![why.clone()]));
        }
    };
    let is_root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false);
    if !is_root {
        fail_all(results, "the netboot suite makes network namespaces and taps: run as root".into());
        return Ok(());
    }
    let tree = images.scratch.join("netboot-tree");
    if let Err(e) = pxe::build_tree(&tree, &spec) {
        fail_all(results, format!("building the tree: {e}"));
        return Ok(());
    }
    let mut net = match TestNet::create() {
        Ok(n) => n,
        Err(e) => {
            fail_all(results, format!("making the test network: {e}"));
            return Ok(());
        }
    };
    let server_net = Ipv4Net { addr: SERVER.parse().unwrap(), prefix: 24 };
    let serve = |mode| ServeSpec {
        interface: "br0".into(),
        net: server_net,
        mode,
        tree: tree.clone(),
        leases: images.scratch.join("netboot-dnsmasq.leases"),
    };

    // UEFI through the lab's DHCP and our proxy.
    let mut problems = Vec::new();
    let outcome = (|| -> Result<(Outcome, PathBuf), String> {
        let lab_conf = images.scratch.join("netboot-lab-dhcp.conf");
        let lab_text = format!(
            "port=0\ninterface=lab1\nbind-interfaces\ndhcp-leasefile={}\ndhcp-range=10.213.0.100,10.213.0.150,255.255.255.0,1h\ndhcp-option=option:router\n",
            images.scratch.join("netboot-lab.leases").display()
        );
        std::fs::write(&lab_conf, lab_text).map_err(|e| e.to_string())?;
        let lab_ns = net.lab_ns.clone();
        net.start_dnsmasq("lab DHCP", &lab_ns, &lab_conf, &images.scratch.join("netboot-lab-dhcp.log"))?;
        let conf = pxe::write_serve_files(&serve(DhcpMode::Proxy))?;
        let log = images.scratch.join("netboot-dnsmasq-proxy.log");
        let server_ns = net.server_ns.clone();
        net.start_dnsmasq("proxy", &server_ns, &conf, &log)?;
        let vars = images.scratch.join("netboot-ovmf-vars.fd");
        std::fs::copy(OVMF_VARS, &vars).map_err(|e| format!("{OVMF_VARS}: {e}"))?;
        let mut b = Boot::new(&images.kernel32, None);
        b.network_boot = true;
        b.netns = Some(net.server_ns.clone());
        // 4 GiB: with 3 GiB, q35 has only one 1 GiB-aligned block of RAM
        // and the boot objects sit in it; the suite wants a 1 GiB page.
        b.memory = "4G".into();
        b.extra_args = [
            "-machine",
            "q35",
            "-drive",
            &format!("if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"),
            "-drive",
            &format!("if=pflash,format=raw,unit=1,file={}", vars.display()),
            "-netdev",
            "tap,id=n0,ifname=tap0,script=no,downscript=no",
            "-device",
            &format!("e1000,netdev=n0,bootindex=1,mac={UEFI_MAC}"),
        ]
        .map(String::from)
        .to_vec();
        let out = run_captured(&b, &images.scratch.join("netboot_uefi.log"), NETBOOT_LIMIT)?;
        Ok((out, log))
    })();
    match outcome {
        Ok((out, log)) => {
            let own_cfg = format!("grub/grub.cfg-01-{}", uefi_mac.hyphenated());
            check_boot(&out, &log, 2, &["bootx64.efi", &own_cfg, "kernel", "rootserver"], &mut problems);
            check_contains(&out.console, "console", MACHINE_ENTRY_ARG, &mut problems);
            check_machine_report(&out.console, &mut problems);
        }
        Err(e) => problems.push(e),
    }
    results.push(result(names[0], problems));
    net.stop_all();

    // BIOS with our full DHCP, on the default entry.
    let mut problems = Vec::new();
    let outcome = (|| -> Result<(Outcome, PathBuf), String> {
        let full = DhcpMode::Full { first: "10.213.0.100".parse().unwrap(), last: "10.213.0.150".parse().unwrap() };
        let conf = pxe::write_serve_files(&serve(full))?;
        let log = images.scratch.join("netboot-dnsmasq-full.log");
        let server_ns = net.server_ns.clone();
        net.start_dnsmasq("full", &server_ns, &conf, &log)?;
        let mut b = Boot::new(&images.kernel32, None);
        b.network_boot = true;
        b.netns = Some(net.server_ns.clone());
        b.extra_args =
            ["-boot", "n", "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no", "-device", &format!("e1000,netdev=n0,mac={BIOS_MAC}")]
                .map(String::from)
                .to_vec();
        let out = run_captured(&b, &images.scratch.join("netboot_bios.log"), NETBOOT_LIMIT)?;
        Ok((out, log))
    })();
    match outcome {
        Ok((out, log)) => {
            check_boot(&out, &log, 1, &["boot.ipxe", "ipxe/default.ipxe", "kernel32", "rootserver"], &mut problems);
            if out.console.contains(MACHINE_ENTRY_ARG) {
                problems.push("the BIOS box booted the UEFI box's machine entry".into());
            }
        }
        Err(e) => problems.push(e),
    }
    results.push(result(names[1], problems));
    drop(net);
    Ok(())
}
