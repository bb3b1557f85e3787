//! Address-space bookkeeping the capability code relies on: the ASID
//! table, finding a VSpace by ASID, and removing mappings when the caps
//! that made them are deleted.

use crate::cap::{map_type, FrameCap, PagingCap};
use crate::config::{paddr_to_pptr, pptr_to_paddr};
use crate::pte::{ADDR_MASK, PRESENT, PS};
use sel4_compat::caps::CapType;

/// ASIDs per pool (2^seL4_ASIDPoolIndexBits).
pub const ASID_POOL_ENTRIES: u64 = 512;
/// Pools in the ASID table (2^seL4_NumASIDPoolsBits).
pub const ASID_POOLS: usize = 8;

/// The ASID table: kernel pointers of the ASID pools (seL4's
/// `x86KSASIDTable`); part of the kernel's [`Global`] state.
///
/// [`Global`]: crate::kernel_state::Global
pub struct AsidTable([u64; ASID_POOLS]);

impl Default for AsidTable {
    fn default() -> AsidTable {
        AsidTable::new()
    }
}

impl AsidTable {
    pub const fn new() -> AsidTable {
        AsidTable([0; ASID_POOLS])
    }

    /// The pool installed at ASID-table index `index` (0 when none).
    pub fn pool(&self, index: usize) -> u64 {
        self.0.get(index).copied().unwrap_or(0)
    }

    /// Installs the pool at `pool` (kernel pointer) for ASIDs from `base`.
    pub fn set_pool(&mut self, base: u64, pool: u64) {
        self.0[(base / ASID_POOL_ENTRIES) as usize % ASID_POOLS] = pool;
    }

    fn pool_entry(&self, asid: u64) -> Option<*mut u64> {
        let pool = *self.0.get((asid / ASID_POOL_ENTRIES) as usize)?;
        (pool != 0).then(|| (pool + (asid % ASID_POOL_ENTRIES) * 8) as *mut u64)
    }

    /// Kernel pointer of the PML4 assigned to `asid`.
    pub fn find_vspace(&self, asid: u64) -> Option<u64> {
        // Safety: pool entries are words of a live ASID pool object.
        self.pool_entry(asid).map(|e| unsafe { e.read() }).filter(|&p| p != 0)
    }
}

/// Flushes the current address space's (non-global) TLB entries.
pub fn flush_tlb() {
    use x86_64::registers::control::Cr3;
    let (frame, flags) = Cr3::read();
    // Safety: reloading the current CR3 only flushes non-global entries.
    unsafe { Cr3::write(frame, flags) };
}

/// The entry for `vaddr` in the table at `table_pptr` at the level whose
/// entries map `1 << shift` bytes.
pub fn entry(table_pptr: u64, vaddr: u64, shift: u32) -> *mut u64 {
    (table_pptr + ((vaddr >> shift) & 0x1ff) * 8) as *mut u64
}

/// Walks from the PML4 down to the entry at level `shift` (39: PML4,
/// 30: PDPT, 21: PD, 12: PT) for `vaddr`, following present, non-huge
/// entries. A missing level is reported by its `shift`: the bits left
/// in seL4's failed-lookup fault.
pub fn lookup_entry(pml4: u64, vaddr: u64, shift: u32) -> Result<*mut u64, u32> {
    let mut table = pml4;
    for level in [39u32, 30, 21, 12] {
        let e = entry(table, vaddr, level);
        if level == shift {
            return Ok(e);
        }
        // Safety: `e` is inside a live paging structure.
        let value = unsafe { e.read_volatile() };
        if value & PRESENT == 0 || (level != 39 && value & PS != 0) {
            return Err(level);
        }
        table = paddr_to_pptr(value & ADDR_MASK);
    }
    unreachable!("paging levels end at 12, and `shift` is one of them")
}

/// Clears the entry at level `shift` for `vaddr` in `asid`'s VSpace if it
/// points at `target_pptr`.
fn clear_if_points_at(asids: &AsidTable, asid: u64, vaddr: u64, shift: u32, target_pptr: u64) {
    let Some(pml4) = asids.find_vspace(asid) else { return };
    let Ok(e) = lookup_entry(pml4, vaddr, shift) else { return };
    // Safety: `e` is inside a live paging structure.
    let value = unsafe { e.read() };
    if value & PRESENT != 0 && value & ADDR_MASK == pptr_to_paddr(target_pptr) {
        // Safety: as above.
        unsafe { e.write(0) };
        flush_tlb();
    }
}

/// Removes the mapping a frame cap made (seL4's `unmapPage`).
pub fn unmap_frame(asids: &AsidTable, frame: FrameCap) {
    if frame.map_type() != map_type::VSPACE || frame.mapped_asid() == 0 {
        return;
    }
    let shift = frame.size().bits();
    clear_if_points_at(asids, frame.mapped_asid(), frame.mapped_vaddr(), shift, frame.base());
}

/// Removes a PDPT, page directory or page table from the VSpace it is
/// mapped in (everything mapped through it becomes unreachable).
pub fn unmap_table(asids: &AsidTable, table: PagingCap) {
    if !table.mapped() {
        return;
    }
    let shift = match table.cap_type() {
        CapType::Pdpt => 39,
        CapType::PageDirectory => 30,
        _ => 21,
    };
    clear_if_points_at(asids, table.mapped_asid(), table.mapped_vaddr(), shift, table.ptr());
}

/// Drops `asid`'s assignment if it still names `pml4` (seL4's
/// `deleteASID`).
pub fn delete_asid(asids: &AsidTable, asid: u64, pml4: u64) {
    if let Some(e) = asids.pool_entry(asid) {
        // Safety: a word of a live ASID pool.
        if unsafe { e.read() } == pml4 {
            // Safety: as above.
            unsafe { e.write(0) };
            flush_tlb();
        }
    }
}

/// Removes an ASID pool from the ASID table (seL4's `deleteASIDPool`).
pub fn delete_asid_pool(asids: &mut AsidTable, base: u64, pool: u64) {
    let index = (base / ASID_POOL_ENTRIES) as usize % ASID_POOLS;
    if asids.0[index] == pool {
        asids.0[index] = 0;
        flush_tlb();
    }
}
