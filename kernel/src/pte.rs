//! x86_64 paging-entry encodings for user mappings, as seL4 writes them:
//! present, writable and user bits from the frame's rights, cache bits
//! from `seL4_X86_VMAttributes` (bit 0 write-through, bit 1 cache-disabled,
//! bit 2 PAT, which the kernel points at write-combining).

use super::cap::vm_rights;

pub const PRESENT: u64 = 1 << 0;
pub const WRITE: u64 = 1 << 1;
pub const USER: u64 = 1 << 2;
pub const PWT: u64 = 1 << 3;
pub const PCD: u64 = 1 << 4;
/// Page size bit in PDPT and PD entries; the PAT bit of a 4 KiB entry.
pub const PS: u64 = 1 << 7;
/// PAT bit of a 2 MiB or 1 GiB entry.
pub const PAT_LARGE: u64 = 1 << 12;
pub const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// The cache bits for `attr` in a 4 KiB (`large` false) or larger entry.
pub fn attr_bits(attr: u64, large: bool) -> u64 {
    let mut bits = 0;
    if attr & 1 != 0 {
        bits |= PWT;
    }
    if attr & 2 != 0 {
        bits |= PCD;
    }
    if attr & 4 != 0 {
        bits |= if large { PAT_LARGE } else { PS };
    }
    bits
}

/// Access bits for a frame's rights (seL4's `WritableFromVMRights` and
/// `SuperUserFromVMRights`).
pub fn rights_bits(rights: u64) -> u64 {
    match rights {
        vm_rights::READ_WRITE => WRITE | USER,
        vm_rights::READ_ONLY => USER,
        _ => WRITE,
    }
}

/// A frame mapping: a 4 KiB PTE, or a 2 MiB / 1 GiB entry with PS set.
/// 1 GiB entries never carry the PAT bit (as seL4 writes them).
pub fn frame_entry(paddr: u64, rights: u64, attr: u64, size_bits: u32) -> u64 {
    let large = size_bits > 12;
    let attr = if size_bits == 30 { attr & 3 } else { attr };
    paddr | PRESENT | rights_bits(rights) | attr_bits(attr, large) | if large { PS } else { 0 }
}

/// An entry pointing at a lower paging structure: present, writable and
/// user (rights are decided at the last level), with PWT/PCD from `attr`.
pub fn table_entry(paddr: u64, attr: u64) -> u64 {
    paddr | PRESENT | WRITE | USER | (attr_bits(attr, false) & (PWT | PCD))
}

/// Where user code at `vaddr` reaches, walking the page tables from the
/// PML4 at physical `pml4` the way the CPU does for a user-mode access:
/// every level present and user-accessible, and writable too when
/// `write`. `read` returns the entry at a physical address. `None` is
/// what would fault (#PF); the kernel uses this to read an instruction
/// or write a frame on a thread's behalf with exactly its rights.
pub fn translate_user(read: impl Fn(u64) -> u64, pml4: u64, vaddr: u64, write: bool) -> Option<u64> {
    const USER_HALF_END: u64 = 1 << 47;
    if vaddr >= USER_HALF_END {
        return None;
    }
    let needed = PRESENT | USER | if write { WRITE } else { 0 };
    let mut table = pml4;
    for shift in [39u32, 30, 21, 12] {
        let entry = read(table + ((vaddr >> shift) & 0x1ff) * 8);
        if entry & needed != needed {
            return None;
        }
        let leaf = shift == 12 || (shift != 39 && entry & PS != 0);
        if leaf {
            let page_offset = vaddr & ((1u64 << shift) - 1);
            return Some((entry & ADDR_MASK & !((1u64 << shift) - 1)) + page_offset);
        }
        table = entry & ADDR_MASK;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Page tables in a map from physical address to entry.
    fn walk(entries: &HashMap<u64, u64>, vaddr: u64, write: bool) -> Option<u64> {
        translate_user(|a| entries.get(&a).copied().unwrap_or(0), 0x1000, vaddr, write)
    }

    #[test]
    fn user_translation_follows_every_page_size_and_right() {
        let mut e = HashMap::new();
        let va: u64 = 0x40_2345; // PML4 0, PDPT 0, PD 2, PT 2
        e.insert(0x1000, table_entry(0x2000, 0));
        e.insert(0x2000, table_entry(0x3000, 0));
        e.insert(0x3000 + 2 * 8, table_entry(0x4000, 0));
        e.insert(0x4000 + 2 * 8, frame_entry(0x9000, super::super::cap::vm_rights::READ_ONLY, 0, 12));
        assert_eq!(walk(&e, va, false), Some(0x9345));
        assert_eq!(walk(&e, va, true), None, "read-only page");
        assert_eq!(walk(&e, va + 0x1000, false), None, "unmapped page");
        // A 2 MiB page at PD index 3, and a 1 GiB page at PDPT index 1.
        e.insert(0x3000 + 3 * 8, frame_entry(0x4000_0000, super::super::cap::vm_rights::READ_WRITE, 0, 21));
        assert_eq!(walk(&e, 0x60_0000 + 0x1_2345, true), Some(0x4001_2345));
        e.insert(0x2000 + 8, frame_entry(0x8000_0000, super::super::cap::vm_rights::READ_WRITE, 0, 30));
        assert_eq!(walk(&e, 0x4000_0000 + 0x123_4567, true), Some(0x8123_4567));
        // Kernel-only mappings and the kernel half are out of reach.
        e.insert(0x4000 + 3 * 8, frame_entry(0xa000, super::super::cap::vm_rights::KERNEL_ONLY, 0, 12));
        assert_eq!(walk(&e, 0x40_3000, false), None, "supervisor page");
        assert_eq!(walk(&e, 0xffff_8000_0000_0000, false), None);
    }

    #[test]
    fn small_pages() {
        assert_eq!(frame_entry(0x1234_5000, vm_rights::READ_WRITE, 0, 12), 0x1234_5000 | 0b111);
        assert_eq!(frame_entry(0x1234_5000, vm_rights::READ_ONLY, 0, 12), 0x1234_5000 | 0b101);
        assert_eq!(frame_entry(0x1234_5000, vm_rights::KERNEL_ONLY, 0, 12), 0x1234_5000 | 0b011);
        // Cache disabled, write-through, and PAT in bit 7 for 4 KiB.
        assert_eq!(frame_entry(0x1000, vm_rights::READ_WRITE, 1, 12) & 0xff8, PWT);
        assert_eq!(frame_entry(0x1000, vm_rights::READ_WRITE, 2, 12) & 0xff8, PCD);
        assert_eq!(frame_entry(0x1000, vm_rights::READ_WRITE, 4, 12) & 0xff8, PS);
    }

    #[test]
    fn large_and_huge_pages() {
        let e = frame_entry(0x20_0000, vm_rights::READ_WRITE, 4, 21);
        assert_eq!(e, 0x20_0000 | 0b111 | PS | PAT_LARGE);
        // seL4 leaves PAT out of 1 GiB entries.
        let e = frame_entry(0x4000_0000, vm_rights::READ_ONLY, 4 | 2, 30);
        assert_eq!(e, 0x4000_0000 | PRESENT | USER | PCD | PS);
        assert_eq!(e & ADDR_MASK, 0x4000_0000);
    }

    #[test]
    fn table_entries() {
        assert_eq!(table_entry(0x5000, 0), 0x5000 | 0b111);
        assert_eq!(table_entry(0x5000, 7), 0x5000 | 0b111 | PWT | PCD);
    }
}
