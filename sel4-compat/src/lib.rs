//! The user-visible ABI of seL4 for x86_64 pc99 (non-MCS, one node), in
//! the kernel configuration it is built for ([`config`]).
//!
//! Everything here is a fact about seL4 that both sides of the syscall
//! boundary must agree on bit for bit. Layouts are `#[repr(C)]` and their
//! sizes and field offsets are checked at compile time against seL4's.
#![no_std]

pub mod bootinfo;
pub mod caps;
pub mod errors;
pub mod ipc;
pub mod objects;
pub mod syscalls;
pub mod uintr;

/// A machine word, `seL4_Word`.
pub type Word = u64;
/// A capability address in the caller's CSpace, `seL4_CPtr`.
pub type CPtr = Word;

/// The highest virtual address user mappings may reach, inclusive
/// (seL4's `USER_TOP` for pc99 x86_64).
pub const USER_TOP: u64 = 0x0000_7fff_ffff_ffff;

/// The kernel configuration this crate (and so the kernel or program that
/// uses it) was built for: one constant per seL4 option seL4-rs knows,
/// named as seL4's generated configuration names it. Chosen at build time
/// by the file `SEL4_RS_CONFIG` names (see the `kernel-config` crate);
/// without one, sel4test's x86_64 debug configuration.
pub mod config {
    include!(concat!(env!("OUT_DIR"), "/config.rs"));
}

/// Number of priorities (`KernelNumPriorities`).
pub const NUM_PRIORITIES: usize = config::NUM_PRIORITIES;
/// `seL4_MaxPrio`, the highest priority (the initial thread's).
pub const MAX_PRIO: usize = NUM_PRIORITIES - 1;
/// Radix of the root CNode (`KernelRootCNodeSizeBits`).
pub const ROOT_CNODE_SIZE_BITS: usize = config::ROOT_CNODE_SIZE_BITS;
/// Maximum untyped descriptors in bootinfo (`KernelMaxNumBootinfoUntypedCaps`).
pub const MAX_NUM_BOOTINFO_UNTYPED_CAPS: usize = config::MAX_NUM_BOOTINFO_UNTYPED_CAPS;

pub mod invocation;
pub mod object_type;
