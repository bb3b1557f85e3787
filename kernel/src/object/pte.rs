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

#[cfg(test)]
mod tests {
    use super::*;

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
