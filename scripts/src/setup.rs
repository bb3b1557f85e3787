//! Installing what a fresh Debian machine lacks: the bare-metal Rust
//! target, QEMU, binutils' objcopy, and what seL4's CMake flow needs to
//! build sel4test (compilers, CMake, Ninja, seL4's Python modules).

use std::process::{Command, Stdio};

pub const TARGET: &str = "x86_64-unknown-none";

fn command_works(program: &str, args: &[&str]) -> bool {
    Command::new(program).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().map(|s| s.success()).unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// `rustup target add` when the target's standard library is missing
/// (rust-toolchain.toml alone installs nothing under RUSTUP_AUTO_INSTALL=0).
pub fn ensure_rust_target() -> Result<(), String> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output().map_err(|e| format!("cannot run rustup: {e}"))?;
    if String::from_utf8_lossy(&installed.stdout).lines().any(|l| l.trim() == TARGET) {
        return Ok(());
    }
    eprintln!("xtask: installing the Rust target {TARGET}");
    let ok = Command::new("rustup").args(["target", "add", TARGET]).status().map(|s| s.success()).unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(format!("`rustup target add {TARGET}` failed"))
    }
}

/// A Debian package and a command that works once it is installed.
type Package = (&'static str, &'static str, &'static [&'static str]);

/// What `run` and `test` need: QEMU and objcopy.
const HOST_TOOLS: [Package; 2] = [("qemu-system-x86", "qemu-system-x86_64", &["--version"]), ("binutils", "objcopy", &["--version"])];

/// What the multiboot 2 test needs on top: GRUB's BIOS image builder.
const TEST_TOOLS: [Package; 4] = [
    ("grub-common", "grub-mkrescue", &["--version"]),
    ("grub-pc-bin", "test", &["-d", "/usr/lib/grub/i386-pc"]),
    ("xorriso", "xorriso", &["-version"]),
    ("mtools", "mformat", &["--version"]),
];

/// What `cargo xtask pxe` and the netboot suite need: GRUB for UEFI,
/// iPXE for BIOS, dnsmasq for DHCP and TFTP, OVMF and the NIC ROMs for
/// QEMU, and `ip` for namespaces, bridges and taps.
const NETBOOT_TOOLS: [Package; 7] = [
    ("grub-common", "grub-mkimage", &["--version"]),
    ("grub-efi-amd64-bin", "test", &["-f", "/usr/lib/grub/x86_64-efi/multiboot2.mod"]),
    ("ipxe", "test", &["-f", "/usr/lib/ipxe/undionly.kpxe"]),
    ("ipxe-qemu", "test", &["-f", "/usr/lib/ipxe/qemu/efi-e1000.rom"]),
    ("ovmf", "test", &["-f", "/usr/share/OVMF/OVMF_CODE_4M.fd"]),
    ("dnsmasq-base", "dnsmasq", &["--version"]),
    ("iproute2", "ip", &["-V"]),
];

/// Installs the netboot parts (Debian's packages).
pub fn ensure_netboot_tools() -> Result<(), String> {
    ensure_packages(&NETBOOT_TOOLS)
}

/// What seL4's CMake flow needs to build sel4test: the toolchain and
/// generators of seL4's build (the Debian packages its build recipe names).
const SEL4_BUILD_TOOLS: [Package; 11] = [
    ("python3", "python3", &["--version"]),
    ("xz-utils", "xz", &["--version"]),
    ("cmake", "cmake", &["--version"]),
    ("ninja-build", "ninja", &["--version"]),
    ("gcc", "gcc", &["--version"]),
    ("g++", "g++", &["--version"]),
    ("libxml2-utils", "xmllint", &["--version"]),
    ("cpio", "cpio", &["--version"]),
    ("device-tree-compiler", "dtc", &["--version"]),
    ("protobuf-compiler", "protoc", &["--version"]),
    ("python3-protobuf", "dpkg", &["-s", "python3-protobuf"]),
];

/// seL4's Python modules: (what to import, what pip installs). nanopb's
/// generator needs `pkg_resources`, which setuptools 70 dropped.
const SEL4_PYTHON_MODULES: [(&str, &str); 13] = [
    ("jinja2", "jinja2"),
    ("ply", "ply"),
    ("yaml", "pyyaml"),
    ("pyfdt", "pyfdt"),
    ("lxml", "lxml"),
    ("jsonschema", "jsonschema"),
    ("elftools", "pyelftools"),
    ("six", "six"),
    ("future", "future"),
    ("libarchive", "libarchive-c"),
    ("google.protobuf", "protobuf"),
    ("sortedcontainers", "sortedcontainers"),
    ("pkg_resources", "setuptools<70"),
];

/// Installs seL4's build tools (apt-get) and Python modules (pip, for the
/// `python3` on PATH, which seL4's build runs) when they are missing.
pub fn ensure_sel4_build_tools() -> Result<(), String> {
    ensure_packages(&SEL4_BUILD_TOOLS)?;
    let missing: Vec<&str> = SEL4_PYTHON_MODULES
        .iter()
        .filter(|(module, _)| !command_works("python3", &["-c", &format!("import {module}")]))
        .map(|(_, pip)| *pip)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !command_works("python3", &["-m", "pip", "--version"]) {
        ensure_packages(&[("python3-pip", "python3", &["-m", "pip", "--version"])])?;
    }
    eprintln!("xtask: installing seL4's Python modules with pip: {}", missing.join(" "));
    let pip = |extra: &[&str]| {
        Command::new("python3")
            .args(["-m", "pip", "install", "-q"])
            .args(extra)
            .args(&missing)
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    // Debian's own Python refuses pip installs unless told otherwise.
    if pip(&[]) || pip(&["--break-system-packages"]) {
        Ok(())
    } else {
        Err(format!("pip could not install seL4's Python modules; install them with:\n    python3 -m pip install {}", missing.join(" ")))
    }
}

/// Installs QEMU and binutils with apt-get when running as root; otherwise
/// names the exact command to run.
pub fn ensure_host_tools() -> Result<(), String> {
    ensure_packages(&HOST_TOOLS)
}

/// Installs binutils (objcopy), all that building a kernel needs besides
/// the Rust target.
pub fn ensure_objcopy() -> Result<(), String> {
    ensure_packages(&HOST_TOOLS[1..])
}

/// Installs the extra tools the test suites use.
pub fn ensure_test_tools() -> Result<(), String> {
    ensure_packages(&TEST_TOOLS)
}

fn ensure_packages(packages: &[Package]) -> Result<(), String> {
    let missing: Vec<&str> = packages.iter().filter(|(_, prog, args)| !command_works(prog, args)).map(|(pkg, _, _)| *pkg).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !is_root() {
        return Err(format!("missing host tools; install them with:\n    sudo apt-get update && sudo apt-get install -y {list}"));
    }
    eprintln!("xtask: installing {list} with apt-get");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
    install.extend(missing.iter().copied());
    if apt(&["update", "-q"]) && apt(&install) {
        Ok(())
    } else {
        Err(format!("apt-get could not install {list}"))
    }
}
