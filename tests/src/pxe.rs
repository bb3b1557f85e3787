//! The netboot tree and its dnsmasq configuration, shared by `cargo xtask
//! pxe` (which serves real machines) and the netboot suite (which boots
//! QEMU through the same files).
//!
//! A tree is a TFTP root holding both boot chains:
//!
//! - UEFI: the firmware's PXE loads `bootx64.efi`, a GRUB core image for
//!   x86_64-efi with its network, serial and multiboot 2 modules built in
//!   (from Debian's grub-efi-amd64-bin), whose prefix is `(tftp)/grub`.
//!   GRUB reads `grub/grub.cfg-01-<mac>` when it exists, else
//!   `grub/grub.cfg`, and loads the ELF64 kernel by multiboot 2 with the
//!   rootserver as its module.
//! - BIOS: the firmware's PXE loads `undionly.kpxe` (Debian's ipxe), which
//!   asks DHCP again, is told `boot.ipxe`, and runs it: the script chains
//!   `ipxe/<mac>.ipxe` when it exists, else `ipxe/default.ipxe`, which
//!   loads the elf32 kernel by multiboot 1 (iPXE loads no multiboot 2
//!   kernels) and the rootserver module.
//!
//! Each program lives under `programs/<entry>/` (kernel, kernel32,
//! rootserver), `default` or a machine's MAC address with hyphens.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

/// Where Debian's packages put the parts.
pub const GRUB_EFI_MODULES: &str = "/usr/lib/grub/x86_64-efi";
pub const UNDIONLY_KPXE: &str = "/usr/lib/ipxe/undionly.kpxe";

/// GRUB modules built into `bootx64.efi`, so that GRUB fetches nothing but
/// its configuration and the program over TFTP.
const GRUB_MODULES: &[&str] = &[
    "efinet",
    "tftp",
    "net",
    "normal",
    "configfile",
    "echo",
    "serial",
    "terminal",
    "multiboot2",
    "boot",
    "test",
    "all_video",
    "efi_gop",
    "efi_uga",
    "video_fb",
    "sleep",
];

/// A network card's hardware address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mac(pub [u8; 6]);

impl FromStr for Mac {
    type Err = String;

    /// Six two-digit hex bytes separated by `:` or `-` (one kind only).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a MAC address: write six two-digit hex bytes separated by ':' or '-', e.g. 52:54:00:12:34:56");
        let sep = if s.contains(':') { ':' } else { '-' };
        let parts: Vec<&str> = s.split(sep).collect();
        if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
            return Err(bad());
        }
        let mut mac = [0u8; 6];
        for (byte, part) in mac.iter_mut().zip(&parts) {
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        Ok(Mac(mac))
    }
}

impl Mac {
    /// `52-54-00-12-34-56`: the spelling of GRUB's per-machine
    /// `grub.cfg-01-…` files and iPXE's `${mac:hexhyp}`.
    pub fn hyphenated(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join("-")
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s: Vec<String> = self.0.iter().map(|b| format!("{b:02x}")).collect();
        f.write_str(&s.join(":"))
    }
}

/// One program to boot: a kernel (ELF64, or seL4's elf32 image), a
/// rootserver image, and the kernel command line.
#[derive(Clone, Debug)]
pub struct Program {
    pub kernel: PathBuf,
    pub rootserver: PathBuf,
    pub cmdline: String,
    /// What it is, for the summary (`suite`, `bench`, a path).
    pub label: String,
}

/// What a tree boots: a default program, and per-machine ones.
#[derive(Clone, Debug)]
pub struct TreeSpec {
    pub default: Program,
    pub machines: Vec<(Mac, Program)>,
}

/// Directory of a program inside the tree.
fn entry_dir(mac: Option<&Mac>) -> String {
    match mac {
        Some(m) => format!("programs/{}", m.hyphenated()),
        None => "programs/default".into(),
    }
}

fn io<T>(what: &Path, r: std::io::Result<T>) -> Result<T, String> {
    r.map_err(|e| format!("{}: {e}", what.display()))
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// ELF class byte: 1 for ELF32, 2 for ELF64; an error for anything else.
fn elf_class(path: &Path) -> Result<u8, String> {
    let bytes = io(path, std::fs::read(path))?;
    if bytes.len() < 5 || &bytes[..4] != b"\x7fELF" {
        return Err(format!("{} is not an ELF file", path.display()));
    }
    Ok(bytes[4])
}

/// Copies one program into `dir`: the kernel as GRUB loads it, its elf32
/// copy for iPXE, and the rootserver, each without debug sections (TFTP
/// is slow and firmware TFTP clients slower).
fn install_program(root: &Path, mac: Option<&Mac>, p: &Program) -> Result<(), String> {
    let dir = root.join(entry_dir(mac));
    io(&dir, std::fs::create_dir_all(&dir))?;
    for (what, path) in [("kernel", &p.kernel), ("rootserver", &p.rootserver)] {
        if !path.is_file() {
            return Err(format!("no {what} at {}", path.display()));
        }
    }
    let class = elf_class(&p.kernel)?;
    let strip = |from: &Path, to: &Path, elf32: bool| {
        let mut c = Command::new("objcopy");
        c.arg("--strip-debug");
        if elf32 {
            c.args(["-O", "elf32-i386"]);
        }
        run(c.arg(from).arg(to), "objcopy")
    };
    strip(&p.kernel, &dir.join("kernel"), false)?;
    strip(&p.kernel, &dir.join("kernel32"), class == 2)?;
    elf_class(&p.rootserver)?;
    strip(&p.rootserver, &dir.join("rootserver"), false)
}

/// GRUB's menu for one program. GRUB's console is both the serial port
/// and the firmware's screen; the kernel takes the serial port the
/// command line names.
pub fn grub_cfg(mac: Option<&Mac>, p: &Program) -> String {
    let dir = entry_dir(mac);
    format!(
        "# seL4-rs netboot ({which}): {label}\n\
         set timeout=0\n\
         serial --unit=0 --speed=115200\n\
         terminal_input serial console\n\
         terminal_output serial console\n\
         echo \"seL4-rs netboot: {which}, loading /{dir} over TFTP\"\n\
         multiboot2 /{dir}/kernel {cmdline}\n\
         module2 /{dir}/rootserver rootserver\n\
         boot\n",
        which = mac.map_or("default entry".to_string(), |m| format!("machine {m}")),
        label = p.label,
        cmdline = p.cmdline,
    )
}

/// iPXE's script for one program (relative paths resolve against the
/// script's own TFTP URI).
pub fn ipxe_script(mac: Option<&Mac>, p: &Program) -> String {
    let dir = entry_dir(mac);
    format!(
        "#!ipxe\n\
         # seL4-rs netboot ({which}): {label}\n\
         echo seL4-rs netboot: {which}, loading /{dir} over TFTP\n\
         kernel /{dir}/kernel32 {cmdline}\n\
         module /{dir}/rootserver rootserver\n\
         boot\n",
        which = mac.map_or("default entry".to_string(), |m| format!("machine {m}")),
        label = p.label,
        cmdline = p.cmdline,
    )
}

/// The script dnsmasq names to iPXE: a machine's own script when there
/// is one, else the default.
const BOOT_IPXE: &str = "#!ipxe\n\
    chain --autofree /ipxe/${mac:hexhyp}.ipxe || chain --autofree /ipxe/default.ipxe\n";

/// Writes `bootx64.efi`, GRUB's core image, whose prefix names the TFTP
/// server at `server` (or, without one, the server DHCP named). GRUB 2.06
/// reads only the DHCP acknowledgement the firmware kept, which in proxy
/// mode comes from the lab's DHCP server and names no TFTP server; so the
/// image made for serving names this server's address itself.
pub fn write_grub_image(root: &Path, server: Option<Ipv4Addr>) -> Result<(), String> {
    let prefix = match server {
        Some(a) => format!("(tftp,{a})/grub"),
        None => "(tftp)/grub".into(),
    };
    let mut mkimage = Command::new("grub-mkimage");
    mkimage.args(["-O", "x86_64-efi", "-d", GRUB_EFI_MODULES, "-p", &prefix, "-o"]).arg(root.join("bootx64.efi")).args(GRUB_MODULES);
    run(&mut mkimage, "grub-mkimage")
}

/// Builds (or rebuilds) the tree at `root`.
pub fn build_tree(root: &Path, spec: &TreeSpec) -> Result<(), String> {
    for sub in ["grub", "ipxe", "programs"] {
        let _ = std::fs::remove_dir_all(root.join(sub));
        io(root, std::fs::create_dir_all(root.join(sub)))?;
    }
    if !Path::new(GRUB_EFI_MODULES).join("multiboot2.mod").exists() {
        return Err(format!("no GRUB for x86_64-efi in {GRUB_EFI_MODULES}: install grub-efi-amd64-bin"));
    }
    if !Path::new(UNDIONLY_KPXE).exists() {
        return Err(format!("no {UNDIONLY_KPXE}: install ipxe"));
    }
    write_grub_image(root, None)?;
    io(root, std::fs::copy(UNDIONLY_KPXE, root.join("undionly.kpxe")))?;
    io(root, std::fs::write(root.join("boot.ipxe"), BOOT_IPXE))?;
    let entries = std::iter::once((None, &spec.default)).chain(spec.machines.iter().map(|(m, p)| (Some(m), p)));
    for (mac, program) in entries {
        install_program(root, mac, program)?;
        let (grub_name, ipxe_name) = match mac {
            Some(m) => (format!("grub.cfg-01-{}", m.hyphenated()), format!("{}.ipxe", m.hyphenated())),
            None => ("grub.cfg".into(), "default.ipxe".into()),
        };
        io(root, std::fs::write(root.join("grub").join(grub_name), grub_cfg(mac, program)))?;
        io(root, std::fs::write(root.join("ipxe").join(ipxe_name), ipxe_script(mac, program)))?;
    }
    Ok(())
}

/// Checks that `root` is a complete tree before serving it.
pub fn check_tree(root: &Path) -> Result<(), String> {
    let needed = [
        "bootx64.efi",
        "undionly.kpxe",
        "boot.ipxe",
        "grub/grub.cfg",
        "ipxe/default.ipxe",
        "programs/default/kernel",
        "programs/default/kernel32",
        "programs/default/rootserver",
    ];
    let missing: Vec<&str> = needed.iter().copied().filter(|f| !root.join(f).is_file()).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} is not a complete netboot tree (missing {}); build it with `cargo xtask pxe --tree {}`",
            root.display(),
            missing.join(", "),
            root.display()
        ))
    }
}

/// How dnsmasq answers DHCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DhcpMode {
    /// Proxy DHCP: the lab's DHCP server hands out addresses; dnsmasq only
    /// adds the boot answers.
    Proxy,
    /// Full DHCP on a dedicated interface: addresses from this range too.
    Full { first: Ipv4Addr, last: Ipv4Addr },
}

/// An interface's IPv4 address and prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Net {
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix as u32) })
    }
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & u32::from(self.netmask()))
    }
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & u32::from(self.netmask()) == u32::from(self.network())
    }
}

/// What dnsmasq serves, and where.
#[derive(Clone, Debug)]
pub struct ServeSpec {
    pub interface: String,
    pub net: Ipv4Net,
    pub mode: DhcpMode,
    pub tree: PathBuf,
    /// dnsmasq's lease file (kept out of /var/lib).
    pub leases: PathBuf,
}

/// The IPv4 address of `interface` (in network namespace `netns`, if
/// given), from `ip -4 -o addr show dev`.
pub fn interface_ipv4(interface: &str, netns: Option<&str>) -> Result<Ipv4Net, String> {
    let mut cmd = Command::new("ip");
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    let out = cmd.args(["-4", "-o", "addr", "show", "dev", interface]).output().map_err(|e| format!("cannot run ip: {e}"))?;
    if !out.status.success() {
        return Err(format!("no such network interface: {interface} ({})", String::from_utf8_lossy(&out.stderr).trim()));
    }
    parse_ip_addr_line(&String::from_utf8_lossy(&out.stdout))
        .ok_or_else(|| format!("network interface {interface} has no IPv4 address; give it one (ip addr add ...) first"))
}

/// The first `inet A.B.C.D/N` of `ip -4 -o addr` output.
pub fn parse_ip_addr_line(text: &str) -> Option<Ipv4Net> {
    let mut words = text.split_whitespace();
    while let Some(w) = words.next() {
        if w == "inet" {
            let (addr, prefix) = words.next()?.split_once('/')?;
            let prefix: u8 = prefix.parse().ok().filter(|&p| p <= 32)?;
            return Some(Ipv4Net { addr: addr.parse().ok()?, prefix });
        }
    }
    None
}

/// dnsmasq's configuration: no DNS, DHCP (proxy or full) and TFTP on one
/// interface only, and the boot answers for both chains.
///
/// Clients are told apart by DHCP option 93 (client architecture: 7 and 9
/// are x86-64 UEFI) and by iPXE's user class. A BIOS PXE ROM gets
/// `undionly.kpxe`; iPXE (then running) gets `boot.ipxe`; UEFI PXE gets
/// GRUB. iPXE built as a UEFI driver (QEMU's NIC ROMs carry one) is told
/// nothing, so the firmware's own PXE client is the one that boots, as on
/// a real server.
pub fn dnsmasq_config(spec: &ServeSpec) -> Result<String, String> {
    let tree = spec.tree.canonicalize().map_err(|e| format!("{}: {e}", spec.tree.display()))?;
    let mut c = String::new();
    let mut line = |s: String| {
        c.push_str(&s);
        c.push('\n');
    };
    line("# Generated by `cargo xtask pxe`: seL4-rs netboot.".into());
    line("port=0".into());
    line(format!("interface={}", spec.interface));
    line("bind-interfaces".into());
    line("log-dhcp".into());
    line("enable-tftp".into());
    line(format!("tftp-root={}", tree.display()));
    line(format!("dhcp-leasefile={}", spec.leases.display()));
    line("dhcp-userclass=set:ipxe,iPXE".into());
    line("dhcp-match=set:efi64,option:client-arch,7".into());
    line("dhcp-match=set:efi64,option:client-arch,9".into());
    match spec.mode {
        DhcpMode::Proxy => {
            line(format!("dhcp-range={},proxy,{}", spec.net.network(), spec.net.netmask()));
            line("pxe-service=tag:!ipxe,x86PC,\"seL4-rs: iPXE\",undionly.kpxe".into());
            line("pxe-service=tag:ipxe,x86PC,\"seL4-rs: boot script\",boot.ipxe".into());
            line("pxe-service=tag:!ipxe,X86-64_EFI,\"seL4-rs: GRUB\",bootx64.efi".into());
            line("pxe-service=tag:!ipxe,BC_EFI,\"seL4-rs: GRUB\",bootx64.efi".into());
        }
        DhcpMode::Full { first, last } => {
            for a in [first, last] {
                if !spec.net.contains(a) {
                    return Err(format!("DHCP range address {a} is outside {}'s network {}/{}", spec.interface, spec.net.network(), spec.net.prefix));
                }
            }
            line(format!("dhcp-range={first},{last},{},1h", spec.net.netmask()));
            // A boot network: no default route, no DNS.
            line("dhcp-option=option:router".into());
            line("dhcp-authoritative".into());
            line("dhcp-boot=tag:efi64,tag:!ipxe,bootx64.efi".into());
            line("dhcp-boot=tag:!efi64,tag:!ipxe,undionly.kpxe".into());
            line("dhcp-boot=tag:!efi64,tag:ipxe,boot.ipxe".into());
        }
    }
    Ok(c)
}

/// Makes a complete tree ready to serve on `spec.interface`: GRUB's image
/// for this server's address and `dnsmasq.conf` in the tree; returns the
/// configuration's path.
pub fn write_serve_files(spec: &ServeSpec) -> Result<PathBuf, String> {
    check_tree(&spec.tree)?;
    let conf_text = dnsmasq_config(spec)?;
    write_grub_image(&spec.tree, Some(spec.net.addr))?;
    let conf = spec.tree.join("dnsmasq.conf");
    io(&conf, std::fs::write(&conf, conf_text))?;
    Ok(conf)
}

/// The dnsmasq command that serves `conf` in the foreground, logging to
/// stderr.
pub fn dnsmasq_command(conf: &Path) -> Command {
    let mut c = Command::new("dnsmasq");
    c.arg("--keep-in-foreground").arg("--log-facility=-").arg(format!("--conf-file={}", conf.display()));
    c
}

/// The closing line a program prints last, by which a console capture
/// (and the netboot suite) knows the run is over.
pub fn is_closing_line(line: &str, until: Option<&str>) -> bool {
    let line = line.trim();
    match until {
        Some(text) => line.contains(text),
        None => {
            crate::suites::closing_line(line).is_some()
                || (line.starts_with("ipcbench: ") && line.ends_with(" cases done"))
                || line.contains("All is well in the universe")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_formats() {
        let m: Mac = "52:54:00:AB:cd:01".parse().unwrap();
        assert_eq!(m.0, [0x52, 0x54, 0, 0xab, 0xcd, 1]);
        assert_eq!(m.hyphenated(), "52-54-00-ab-cd-01");
        assert_eq!(m.to_string(), "52:54:00:ab:cd:01");
        assert_eq!("52-54-00-ab-cd-01".parse::<Mac>().unwrap(), m);
        for bad in ["52:54:00:ab:cd", "52:54:00:ab:cd:01:02", "5254.00ab.cd01", "52:54-00:ab:cd:01", "52:54:00:ab:cd:0g", "525400abcd01", ""] {
            let e = bad.parse::<Mac>().unwrap_err();
            assert!(e.contains("is not a MAC address"), "{bad}: {e}");
        }
    }

    #[test]
    fn ip_addr_output() {
        let line = "2: br0    inet 10.213.0.1/24 brd 10.213.0.255 scope global br0\\       valid_lft forever";
        let net = parse_ip_addr_line(line).unwrap();
        assert_eq!(net, Ipv4Net { addr: "10.213.0.1".parse().unwrap(), prefix: 24 });
        assert_eq!(net.network().to_string(), "10.213.0.0");
        assert_eq!(net.netmask().to_string(), "255.255.255.0");
        assert!(net.contains("10.213.0.200".parse().unwrap()));
        assert!(!net.contains("10.213.1.2".parse().unwrap()));
        assert_eq!(parse_ip_addr_line(""), None);
    }

    fn spec(mode: DhcpMode) -> ServeSpec {
        ServeSpec {
            interface: "br0".into(),
            net: Ipv4Net { addr: "10.213.0.1".parse().unwrap(), prefix: 24 },
            mode,
            tree: std::env::temp_dir(),
            leases: "/tmp/leases".into(),
        }
    }

    #[test]
    fn proxy_config_adds_boot_answers_only() {
        let c = dnsmasq_config(&spec(DhcpMode::Proxy)).unwrap();
        assert!(c.contains("\ndhcp-range=10.213.0.0,proxy,255.255.255.0\n"), "{c}");
        assert!(c.contains("port=0\n") && c.contains("interface=br0\n") && c.contains("bind-interfaces\n"));
        assert!(c.contains("pxe-service=tag:!ipxe,X86-64_EFI,\"seL4-rs: GRUB\",bootx64.efi"));
        assert!(c.contains("pxe-service=tag:ipxe,x86PC,\"seL4-rs: boot script\",boot.ipxe"));
        assert!(!c.contains("dhcp-boot") && !c.contains("dhcp-authoritative"));
    }

    #[test]
    fn full_config_hands_out_addresses_in_the_interface_network() {
        let full = DhcpMode::Full { first: "10.213.0.100".parse().unwrap(), last: "10.213.0.150".parse().unwrap() };
        let c = dnsmasq_config(&spec(full)).unwrap();
        assert!(c.contains("\ndhcp-range=10.213.0.100,10.213.0.150,255.255.255.0,1h\n"), "{c}");
        assert!(c.contains("dhcp-boot=tag:efi64,tag:!ipxe,bootx64.efi"));
        assert!(!c.contains("proxy"));
        let outside = DhcpMode::Full { first: "10.213.0.100".parse().unwrap(), last: "10.9.0.150".parse().unwrap() };
        assert!(dnsmasq_config(&spec(outside)).unwrap_err().contains("outside br0's network 10.213.0.0/24"));
    }

    #[test]
    fn menus_name_the_entry_and_its_files() {
        let p = Program { kernel: "k".into(), rootserver: "r".into(), cmdline: "console_port=0x2f8".into(), label: "suite".into() };
        let m: Mac = "52:54:00:00:00:07".parse().unwrap();
        let g = grub_cfg(Some(&m), &p);
        assert!(g.contains("multiboot2 /programs/52-54-00-00-00-07/kernel console_port=0x2f8\n"), "{g}");
        assert!(g.contains("module2 /programs/52-54-00-00-00-07/rootserver rootserver\n"));
        let i = ipxe_script(None, &p);
        assert!(i.starts_with("#!ipxe\n") && i.contains("kernel /programs/default/kernel32 console_port=0x2f8\n"), "{i}");
    }

    #[test]
    fn closing_lines() {
        assert!(is_closing_line("53 passed, 0 failed\r", None));
        assert!(is_closing_line("ipcbench: 131 cases done", None));
        assert!(!is_closing_line("test foo ... ok", None));
        assert!(is_closing_line("halting now", Some("halting")));
    }

    #[test]
    fn an_incomplete_tree_is_refused() {
        let dir = std::env::temp_dir().join(format!("sel4-rs-pxe-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(dir.join("programs/default"));
        let e = check_tree(&dir).unwrap_err();
        assert!(e.contains("not a complete netboot tree") && e.contains("programs/default/kernel,"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
