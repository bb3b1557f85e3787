//! x86_64 page-table entries and building the initial thread's address
//! space.

use crate::boot::plan::BootPaging;
use crate::config::paddr_to_pptr;
use crate::pte::{ADDR_MASK as PTE_ADDR_MASK, PRESENT as PTE_PRESENT, PS as PTE_PS, USER as PTE_USER, WRITE as PTE_WRITE};

pub const PAGE_SIZE: u64 = 4096;

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

/// Maps the 4 KiB frame at `frame_paddr` at `vaddr` in the address space
/// rooted at `pml4_paddr`, user-accessible and writable, linking in the
/// paging structures `tables` assigns to `vaddr`.
///
/// # Safety
/// `pml4_paddr` and every frame of `tables` must be zeroed or valid page
/// tables owned by the boot code; `vaddr` must be a user address inside
/// `tables`' range.
pub unsafe fn map_user_page(pml4_paddr: u64, vaddr: u64, frame_paddr: u64, tables: &BootPaging) {
    let mut table_paddr = pml4_paddr;
    // An entry at level `shift` points to the table covering 2^(shift+9).
    for shift in [39u32, 30, 21] {
        // Safety: `table_paddr` is the root or one of `tables`' frames.
        let entries = unsafe { table(table_paddr) };
        let slot = &mut entries[index(vaddr, shift)];
        if *slot & PTE_PRESENT == 0 {
            *slot = tables.table_for(shift, vaddr) | PTE_PRESENT | PTE_WRITE | PTE_USER;
        }
        table_paddr = *slot & PTE_ADDR_MASK;
    }
    // Safety: the page table reached above.
    let pt = unsafe { table(table_paddr) };
    pt[index(vaddr, 12)] = frame_paddr | PTE_PRESENT | PTE_WRITE | PTE_USER;
}

/// Paging structures of the skim window: the kernel's part of every user
/// address space (PML4 slot 511), mapping only the `.skim` section.
#[repr(C, align(4096))]
struct SkimTables {
    pdpt: [u64; 512],
    pd: [u64; 512],
    pt: [u64; 512],
}

static SKIM: crate::kernel_state::KernelCell<SkimTables> =
    crate::kernel_state::KernelCell::new(SkimTables { pdpt: [0; 512], pd: [0; 512], pt: [0; 512] });

extern "C" {
    static __skim_start: u8;
    static __skim_end: u8;
}

fn image_paddr<T>(p: *const T) -> u64 {
    crate::config::kernel_vaddr_to_paddr(p as u64)
}

/// Pages in the skim window.
pub fn skim_window_pages() -> u64 {
    (core::ptr::addr_of!(__skim_end) as u64 - core::ptr::addr_of!(__skim_start) as u64) / PAGE_SIZE
}

/// Builds the skim window's tables (boot) and returns how many pages it
/// maps.
pub fn init_skim_window() -> u64 {
    let start = core::ptr::addr_of!(__skim_start) as u64;
    let end = core::ptr::addr_of!(__skim_end) as u64;
    assert!(start >> 21 == (end - 1) >> 21, "the skim window must lie in one 2 MiB region");
    // Safety: boot, single-threaded; nothing else uses these tables yet.
    let t = unsafe { SKIM.get() };
    let kernel_only = PTE_PRESENT | PTE_WRITE;
    t.pdpt[index(start, 30)] = image_paddr(t.pd.as_ptr()) | kernel_only;
    t.pd[index(start, 21)] = image_paddr(t.pt.as_ptr()) | kernel_only;
    for va in (start..end).step_by(PAGE_SIZE as usize) {
        t.pt[index(va, 12)] = crate::config::kernel_vaddr_to_paddr(va) | kernel_only;
    }
    (end - start) / PAGE_SIZE
}

/// Where the UINTR window starts: PML4 slot 511, PDPT slot 511 (the
/// kernel device gigabyte of seL4's layout, unused by this kernel, which
/// reaches devices through the physical window).
pub const UINTR_WINDOW_BASE: u64 = crate::config::KDEV_BASE;

/// The UINTR window's paging structures (see `crate::uintr::window`): one
/// page directory and one page table, linked into the kernel's own tables
/// and into the skim PDPT that every user address space shares, so a
/// mapping made here appears in all of them at once.
#[repr(C, align(4096))]
struct UintrWindowTables {
    pd: [u64; 512],
    pt: [u64; 512],
}

static UINTR_WINDOW: crate::kernel_state::KernelCell<UintrWindowTables> =
    crate::kernel_state::KernelCell::new(UintrWindowTables { pd: [0; 512], pt: [0; 512] });

const _: () = assert!(crate::uintr::window::SLOTS == 512, "the window is one page table");

/// Links the UINTR window into the kernel's tables (whose high PDPT is
/// `kernel_pdpt_paddr`) and into the skim window. Boot, after
/// [`init_skim_window`].
pub fn init_uintr_window(kernel_pdpt_paddr: u64) {
    // Safety: boot, single-threaded; nothing uses these tables yet.
    let (w, skim) = unsafe { (UINTR_WINDOW.get(), SKIM.get()) };
    let kernel_only = PTE_PRESENT | PTE_WRITE;
    w.pd[index(UINTR_WINDOW_BASE, 21)] = image_paddr(w.pt.as_ptr()) | kernel_only;
    let pd = image_paddr(w.pd.as_ptr()) | kernel_only;
    skim.pdpt[index(UINTR_WINDOW_BASE, 30)] = pd;
    // Safety: the kernel's PDPT is a boot page table the kernel owns.
    unsafe { table(kernel_pdpt_paddr)[index(UINTR_WINDOW_BASE, 30)] = pd };
}

/// Pages mapped in the UINTR window.
pub fn uintr_window_pages() -> u64 {
    // Safety: kernel context; reading the window's page table.
    unsafe { UINTR_WINDOW.get() }.pt.iter().filter(|&&e| e & PTE_PRESENT != 0).count() as u64
}

/// The address of slot `slot` of the UINTR window.
pub const fn uintr_window_slot_vaddr(slot: usize) -> u64 {
    UINTR_WINDOW_BASE + slot as u64 * PAGE_SIZE
}

/// Maps the 4 KiB frame at `frame_paddr` into slot `slot` of the UINTR
/// window: supervisor-only and writable (the CPU updates UPIDs). It
/// cannot be marked execute-disable: EFER.NXE is off, as on seL4, which
/// makes that bit reserved (see `cpu::init_syscall`).
pub fn map_uintr_window_slot(slot: usize, frame_paddr: u64) {
    // Safety: kernel context; the window's page table is the kernel's.
    unsafe { UINTR_WINDOW.get() }.pt[slot] = frame_paddr | PTE_PRESENT | PTE_WRITE;
}

/// Removes slot `slot`'s mapping. No page is global and every return to
/// user mode loads CR3, so only the kernel's own tables can still hold a
/// translation of it; they are flushed here.
pub fn unmap_uintr_window_slot(slot: usize) {
    // Safety: kernel context; the window's page table is the kernel's.
    unsafe { UINTR_WINDOW.get() }.pt[slot] = 0;
    super::vspace::flush_tlb();
}

/// Installs the kernel's part of every address space, the skim window,
/// in a new address-space root.
///
/// # Safety
/// `pml4_paddr` must be a zeroed page owned by the caller.
pub unsafe fn copy_kernel_mappings(pml4_paddr: u64) {
    // Safety: the skim tables are built at boot and only read afterwards.
    let pdpt = image_paddr(unsafe { SKIM.get() }.pdpt.as_ptr());
    // Safety: `pml4_paddr` is a page table the caller owns.
    unsafe { table(pml4_paddr)[511] = pdpt | PTE_PRESENT | PTE_WRITE };
}

/// Counts the 4 KiB pages an address space maps in the kernel half of the
/// address space (PML4 slots 256..=511). With the skim window this must
/// equal `skim_window_pages()`: anything more is kernel memory that a
/// speculative user load could reach.
///
/// # Safety
/// `pml4_paddr` must be a live PML4.
pub unsafe fn kernel_pages_visible(pml4_paddr: u64) -> u64 {
    let mut count = 0;
    // Safety: walking present entries of live paging structures.
    let pml4 = unsafe { table(pml4_paddr) };
    for &pml4e in pml4[256..].iter() {
        if pml4e & PTE_PRESENT == 0 {
            continue;
        }
        // Safety: as above.
        for &pdpte in unsafe { table(pml4e & PTE_ADDR_MASK) }.iter() {
            if pdpte & PTE_PRESENT == 0 {
                continue;
            }
            if pdpte & PTE_PS != 0 {
                count += 1 << 18;
                continue;
            }
            // Safety: as above.
            for &pde in unsafe { table(pdpte & PTE_ADDR_MASK) }.iter() {
                if pde & PTE_PRESENT == 0 {
                    continue;
                }
                if pde & PTE_PS != 0 {
                    count += 512;
                    continue;
                }
                // Safety: as above.
                count += unsafe { table(pde & PTE_ADDR_MASK) }.iter().filter(|&&e| e & PTE_PRESENT != 0).count() as u64;
            }
        }
    }
    count
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
