//! x86_64 page-table entries and building the initial thread's address
//! space.

use crate::config::paddr_to_pptr;

pub const PAGE_SIZE: u64 = 4096;

pub const PTE_PRESENT: u64 = 1 << 0;
pub const PTE_WRITE: u64 = 1 << 1;
pub const PTE_USER: u64 = 1 << 2;
pub const PTE_ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// Index of `vaddr` in the paging level whose entries each map
/// `1 << shift` bytes.
const fn index(vaddr: u64, shift: u32) -> usize {
    ((vaddr >> shift) & 0x1ff) as usize
}

/// # Safety
/// `table_paddr` must be a page-table page the caller owns.
unsafe fn table(table_paddr: u64) -> &'static mut [u64; 512] {
    // Safety: the page is mapped through the physical window and owned
    // by the caller for the duration of the borrow.
    unsafe { &mut *(paddr_to_pptr(table_paddr) as *mut [u64; 512]) }
}

/// Hands out zeroed page-table frames from a pre-reserved run.
pub struct TableFrames {
    pub next: u64,
    pub end: u64,
    /// Frames handed out, in order, each with the size its entries map
    /// (30: a PDPT, 21: a page directory, 12: a page table) and the first
    /// virtual address it covers.
    pub used: arrayvec::ArrayVec<(u64, u32, u64), 64>,
}

impl TableFrames {
    fn take(&mut self, level_shift: u32, vaddr: u64) -> u64 {
        assert!(self.next < self.end, "boot plan reserved too few paging frames");
        let frame = self.next;
        self.next += PAGE_SIZE;
        self.used.push((frame, level_shift, vaddr & !((1u64 << (level_shift + 9)) - 1)));
        frame
    }
}

/// Maps the 4 KiB frame at `frame_paddr` at `vaddr` in the address space
/// rooted at `pml4_paddr`, user-accessible and writable, creating missing
/// paging structures from `frames`.
///
/// # Safety
/// `pml4_paddr` and every frame in `frames` must be zeroed or valid page
/// tables owned by the boot code; `vaddr` must be a user address.
pub unsafe fn map_user_page(pml4_paddr: u64, vaddr: u64, frame_paddr: u64, frames: &mut TableFrames) {
    let mut table_paddr = pml4_paddr;
    for shift in [39u32, 30, 21] {
        // Safety: `table_paddr` is the root or a table created below.
        let entries = unsafe { table(table_paddr) };
        let slot = &mut entries[index(vaddr, shift)];
        if *slot & PTE_PRESENT == 0 {
            let next = frames.take(shift - 9, vaddr);
            *slot = next | PTE_PRESENT | PTE_WRITE | PTE_USER;
        }
        table_paddr = *slot & PTE_ADDR_MASK;
    }
    // Safety: the page table reached above.
    let pt = unsafe { table(table_paddr) };
    pt[index(vaddr, 12)] = frame_paddr | PTE_PRESENT | PTE_WRITE | PTE_USER;
}

/// Copies the kernel's half (PML4 slot 511) of the boot PML4 into a new
/// address-space root.
///
/// # Safety
/// `pml4_paddr` must be a zeroed page owned by the caller.
pub unsafe fn copy_kernel_mappings(pml4_paddr: u64) {
    let boot = super::boot::boot_pml4_paddr();
    // Safety: both are page tables; the boot one is only read.
    unsafe { table(pml4_paddr)[511] = table(boot)[511] };
}

/// Switches to the address space rooted at `pml4_paddr`.
///
/// # Safety
/// The tables must map the kernel (see [`copy_kernel_mappings`]).
pub unsafe fn load_vspace(pml4_paddr: u64) {
    use x86_64::registers::control::{Cr3, Cr3Flags};
    use x86_64::structures::paging::PhysFrame;
    use x86_64::PhysAddr;
    let frame = PhysFrame::containing_address(PhysAddr::new(pml4_paddr));
    // Safety: per the caller's contract the kernel stays mapped.
    unsafe { Cr3::write(frame, Cr3Flags::empty()) };
}
