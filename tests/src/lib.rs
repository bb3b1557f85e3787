//! The in-QEMU tests: how a boot is started and observed ([`qemu`]), the
//! malformed boot modules derived from a good rootserver ([`elfedit`]),
//! the suites themselves ([`suites`]), the UINTR conformance suites
//! ([`uintr`]), and seL4's CMake flow and sel4test with seL4-rs as the
//! kernel ([`sel4test`]). `cargo xtask test` builds the images and runs
//! [`suites::run_all`].

pub mod elfedit;
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
    pub rootserver: PathBuf,
    /// The rootserver built with its `bench` feature (the IPC benchmark).
    pub bench_rootserver: PathBuf,
    pub scratch: PathBuf,
    /// The UINTR conformance image and the patched QEMU.
    pub uintr: uintr::UintrImages,
    /// What the CMake-flow and sel4test suites need.
    pub cmake: sel4test::CmakeInputs,
}
