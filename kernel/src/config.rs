//! The kernel's fixed virtual layout, matching seL4's pc99 x86_64 layout,
//! and its build configuration: seL4's options as constants generated at
//! build time (`sel4_compat::config`, named as seL4's gen_config names
//! them: `ROOT_CNODE_SIZE_BITS`, `FASTPATH`, `DEBUG_BUILD`, ...).

pub use sel4_compat::config::*;

/// Start of the window that maps all physical memory (PML4 slot 511,
/// PDPT slots 0..510): physical address `p` is at `PPTR_BASE + p`.
pub const PPTR_BASE: u64 = 0xffff_ff80_0000_0000;
/// End of the physical window and start of the kernel image mapping.
pub const PPTR_TOP: u64 = 0xffff_ffff_8000_0000;
/// Physical address the kernel ELF is linked at.
pub const KERNEL_ELF_PADDR_BASE: u64 = 0x0010_0000;
/// Virtual address of the kernel image (`PPTR_TOP + KERNEL_ELF_PADDR_BASE`).
pub const KERNEL_ELF_BASE: u64 = PPTR_TOP + KERNEL_ELF_PADDR_BASE;
/// Start of the kernel device window (top 1 GiB).
pub const KDEV_BASE: u64 = 0xffff_ffff_c000_0000;
/// Highest physical address the physical window reaches (510 GiB).
pub const PADDR_TOP: u64 = PPTR_TOP - PPTR_BASE;
/// seL4 ignores RAM below 1 MiB on pc99.
pub const HIGHMEM_PADDR: u64 = 0x10_0000;
/// Device untypeds cover physical addresses below this (`1 << 47`).
pub const PADDR_USER_DEVICE_TOP: u64 = 1 << 47;

/// Timer ticks a thread runs before the next of its priority
/// (`KernelTimeSlice`); a tick is `TIMER_TICK_MS` (`KernelTimerTickMS`).
pub const TIME_SLICE_TICKS: u64 = TIME_SLICE as u64;

/// Default serial ports: COM1 for both the console and the debugger.
pub const DEFAULT_CONSOLE_PORT: u16 = 0x3f8;
pub const DEFAULT_DEBUG_PORT: u16 = 0x3f8;

pub const fn paddr_to_pptr(paddr: u64) -> u64 {
    paddr + PPTR_BASE
}

pub const fn pptr_to_paddr(pptr: u64) -> u64 {
    pptr - PPTR_BASE
}

/// Converts a kernel-image virtual address to its physical address.
pub const fn kernel_vaddr_to_paddr(vaddr: u64) -> u64 {
    vaddr - PPTR_TOP
}
