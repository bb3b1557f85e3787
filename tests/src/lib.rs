//! The in-QEMU tests: how a boot is started and observed ([`qemu`]), the
//! malformed boot modules derived from a good rootserver ([`elfedit`]),
//! the suites themselves ([`suites`]), the UINTR conformance suites
//! ([`uintr`]), the optional runs on Bochs ([`bochs`]), the netboot tree
//! with its suite ([`pxe`], [`netboot`]), the boots of what real firmware
//! hands over ([`firmware`]), and seL4's CMake flow and sel4test with
//! seL4-rs as the kernel ([`sel4test`]), and the differential fuzzer's
//! comparison with stock seL4 ([`difffuzz`]). `cargo xtask test` builds the images and runs
//! [`suites::run_all`].

pub mod bochs;
pub mod difffuzz;
pub mod elfedit;
pub mod firmware;
pub mod netboot;
pub mod pxe;
pub mod qemu;
pub mod sel4test;
pub mod suites;
pub mod uintr;

use std::path::PathBuf;

/// The images under test and a directory for logs and generated inputs.
#[derive(Clone, Debug)]
pub struct Images {
    /// The ELF64 kernel (what GRUB loads).
    pub kernel: PathBuf,
    /// The elf32 copy of the kernel that QEMU's `-kernel` accepts.
    pub kernel32: PathBuf,
    /// The elf32 copy of the kernel built without the IPC fastpath.
    pub slowpath_kernel32: PathBuf,
    /// The elf32 copy of the kernel built to drive two I/O APICs
    /// (`KernelMaxNumIOAPIC=2`; seL4's default drives one).
    pub two_ioapics_kernel32: PathBuf,
    /// The elf32 copy of the kernel built with `KernelRootCNodeSizeBits=16`
    /// (what capDL's tutorials configure) and the rootserver's quick suite
    /// built for that configuration.
    pub root_cnode_16_kernel32: PathBuf,
    pub root_cnode_16_rootserver: PathBuf,
    pub rootserver: PathBuf,
    /// The rootserver built with its `quick` feature: the suite without
    /// the stress tests, for the boots that check how the system boots.
    pub quick_rootserver: PathBuf,
    /// The rootserver built with its `bench` feature (the IPC benchmark).
    pub bench_rootserver: PathBuf,
    pub scratch: PathBuf,
    /// The UINTR conformance image and the patched QEMU.
    pub uintr: uintr::UintrImages,
    /// A QEMU whose TCG has x2APIC (QEMU 7.2's has not), or why none.
    pub newer_qemu: Result<firmware::NewerQemu, String>,
    /// What the CMake-flow and sel4test suites need.
    pub cmake: sel4test::CmakeInputs,
    /// The stock kernel and the differential fuzzer's images.
    pub difffuzz: difffuzz::DiffImages,
}
