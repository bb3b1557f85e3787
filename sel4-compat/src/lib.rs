//! The user-visible ABI of seL4 for the configuration in `shared/DESIGN.md`
//! section 1 (x86_64, pc99, non-MCS, debug build, one node).
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

/// Number of priorities (`KernelNumPriorities`).
pub const NUM_PRIORITIES: usize = 256;
/// Radix of the root CNode (`KernelRootCNodeSizeBits`).
pub const ROOT_CNODE_SIZE_BITS: usize = 13;
/// Maximum untyped descriptors in bootinfo (`KernelMaxNumBootinfoUntypedCaps`).
pub const MAX_NUM_BOOTINFO_UNTYPED_CAPS: usize = 230;

pub mod invocation;
pub mod object_type;
