//! Capabilities in seL4's two-word encoding for x86_64.
//!
//! The 5-bit type tag sits in bits 63..59 of word 0 for every type; the
//! remaining fields follow seL4's bitfield specification so that a slot
//! is the same 32 bytes it is in seL4 (two cap words, two MDB words).

use sel4_compat::caps::CapType;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Cap {
    pub words: [u64; 2],
}

const fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1 << bits) - 1
    }
}

/// Sign-extends a 48-bit canonical address.
const fn canonical(v: u64) -> u64 {
    if v & (1 << 47) != 0 {
        v | 0xffff_0000_0000_0000
    } else {
        v
    }
}

/// Frame sizes (`capFSize`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum FrameSize {
    Small = 0,
    Large = 1,
    Huge = 2,
}

/// `capFVMRights` values (seL4's `vm_rights_t`).
pub mod vm_rights {
    pub const KERNEL_ONLY: u64 = 1;
    pub const READ_ONLY: u64 = 2;
    pub const READ_WRITE: u64 = 3;
}

impl Cap {
    pub const NULL: Cap = Cap { words: [0, 0] };

    const fn with_type(tag: CapType, word0_low: u64, word1: u64) -> Cap {
        Cap { words: [(tag as u64) << 59 | (word0_low & mask(59)), word1] }
    }

    pub const fn tag(&self) -> u64 {
        self.words[0] >> 59
    }

    pub fn cap_type(&self) -> Option<CapType> {
        CapType::from_tag(self.tag())
    }

    pub fn is_null(&self) -> bool {
        self.tag() == CapType::Null as u64
    }

    // --- CNode: guard in word 1; guard size, radix and pointer in word 0.

    pub const fn cnode(ptr: u64, radix: u32, guard_size: u32, guard: u64) -> Cap {
        let w0 = (guard_size as u64 & 0x3f) << 53 | (radix as u64 & 0x3f) << 47 | (ptr >> 1) & mask(47);
        Cap::with_type(CapType::CNode, w0, guard)
    }
    pub const fn cnode_ptr(&self) -> u64 {
        canonical((self.words[0] & mask(47)) << 1)
    }
    pub const fn cnode_radix(&self) -> u32 {
        ((self.words[0] >> 47) & 0x3f) as u32
    }
    pub const fn cnode_guard_size(&self) -> u32 {
        ((self.words[0] >> 53) & 0x3f) as u32
    }
    pub const fn cnode_guard(&self) -> u64 {
        self.words[1]
    }

    // --- Objects named by a pointer in the low bits of word 0.

    pub const fn thread(tcb: u64) -> Cap {
        Cap::with_type(CapType::Thread, tcb, 0)
    }
    pub const fn ptr_low59(&self) -> u64 {
        canonical(self.words[0] & mask(48))
    }

    pub const fn irq_control() -> Cap {
        Cap::with_type(CapType::IrqControl, 0, 0)
    }
    pub const fn asid_control() -> Cap {
        Cap::with_type(CapType::AsidControl, 0, 0)
    }
    pub const fn io_port_control() -> Cap {
        Cap::with_type(CapType::IoPortControl, 0, 0)
    }
    pub const fn domain() -> Cap {
        Cap::with_type(CapType::Domain, 0, 0)
    }

    /// ASID pool: base ASID in bits 58..47, pool pointer >> 11 in 36..0.
    pub const fn asid_pool(pool: u64, asid_base: u64) -> Cap {
        Cap::with_type(CapType::AsidPool, (asid_base & 0xfff) << 47 | (pool >> 11) & mask(37), 0)
    }

    /// PML4 (VSpace root): pointer in word 1; mapped flag and ASID in word 0.
    pub const fn pml4(ptr: u64, asid: u64, mapped: bool) -> Cap {
        Cap::with_type(CapType::Pml4, (mapped as u64) << 58 | (asid & 0xfff), ptr)
    }
    pub const fn pml4_ptr(&self) -> u64 {
        self.words[1]
    }

    /// Paging structure below the PML4 (PDPT, PD or PT): base pointer in
    /// word 1 bits 47..0 and ASID in 59..48; mapping in word 0.
    pub const fn paging(tag: CapType, ptr: u64, asid: u64, mapped_vaddr: Option<u64>) -> Cap {
        let (mapped, shift, width) = match tag {
            CapType::Pdpt => (58, 39, 10),
            CapType::PageDirectory => (49, 30, 19),
            _ => (49, 21, 28), // page table
        };
        let w0 = match mapped_vaddr {
            Some(v) => {
                let field_shift = match tag {
                    CapType::Pdpt => 48,
                    CapType::PageDirectory => 30,
                    _ => 21,
                };
                1 << mapped | ((v >> shift) & mask(width)) << field_shift
            }
            None => 0,
        };
        Cap::with_type(tag, w0, (asid & 0xfff) << 48 | ptr & mask(48))
    }

    /// Frame: base pointer and ASID in word 1; size, map type, mapped
    /// address, rights and device flag in word 0.
    pub const fn frame(base: u64, size: FrameSize, rights: u64, is_device: bool, mapping: Option<(u64, u64)>) -> Cap {
        let (asid, vaddr) = match mapping {
            Some((asid, vaddr)) => (asid, vaddr),
            None => (0, 0),
        };
        let w0 = (size as u64) << 57 | (vaddr & mask(48)) << 7 | (rights & 3) << 5 | (is_device as u64) << 4;
        Cap::with_type(CapType::Frame, w0, (asid & 0xffff) << 48 | base & mask(48))
    }
    pub const fn frame_base(&self) -> u64 {
        canonical(self.words[1] & mask(48))
    }
    pub const fn frame_mapped_vaddr(&self) -> u64 {
        canonical((self.words[0] >> 7) & mask(48))
    }

    /// Untyped: pointer in word 0; free index (in 16-byte units), device
    /// flag and block size in word 1.
    pub const fn untyped(ptr: u64, size_bits: u32, is_device: bool, free_index: u64) -> Cap {
        let w1 = (free_index & mask(48)) << 16 | (is_device as u64) << 6 | (size_bits as u64 & 0x3f);
        Cap::with_type(CapType::Untyped, ptr & mask(59), w1)
    }
    pub const fn untyped_ptr(&self) -> u64 {
        canonical(self.words[0] & mask(48))
    }
    pub const fn untyped_size_bits(&self) -> u32 {
        (self.words[1] & 0x3f) as u32
    }
    pub const fn untyped_is_device(&self) -> bool {
        self.words[1] & (1 << 6) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_match_sel4() {
        assert_eq!(Cap::NULL.tag(), 0);
        assert_eq!(Cap::thread(0xffff_ff80_0012_3400).tag(), 12);
        assert_eq!(Cap::cnode(0xffff_ff80_0100_0000, 13, 51, 0).tag(), 10);
        assert_eq!(Cap::io_port_control().tag(), 31);
        assert_eq!(Cap::domain().tag(), 20);
        assert_eq!(Cap::pml4(0xffff_ff80_0000_1000, 1, true).tag(), 9);
        assert_eq!(Cap::frame(0x1000, FrameSize::Small, 3, false, None).tag(), 1);
    }

    #[test]
    fn cnode_fields_round_trip() {
        let ptr = 0xffff_ff80_0ab4_0000;
        let c = Cap::cnode(ptr, 13, 51, 0x5);
        assert_eq!(c.cnode_ptr(), ptr);
        assert_eq!(c.cnode_radix(), 13);
        assert_eq!(c.cnode_guard_size(), 51);
        assert_eq!(c.cnode_guard(), 5);
        // seL4's layout: guard size at bit 53, radix at bit 47.
        assert_eq!(c.words[0] >> 53 & 0x3f, 51);
        assert_eq!(c.words[0] >> 47 & 0x3f, 13);
    }

    #[test]
    fn untyped_and_frame_fields() {
        let u = Cap::untyped(0xffff_ff80_4000_0000, 30, true, 0);
        assert_eq!(u.untyped_ptr(), 0xffff_ff80_4000_0000);
        assert_eq!(u.untyped_size_bits(), 30);
        assert!(u.untyped_is_device());
        let f = Cap::frame(0x1234_5000, FrameSize::Small, vm_rights::READ_WRITE, false, Some((1, 0x40_0000)));
        assert_eq!(f.frame_base(), 0x1234_5000);
        assert_eq!(f.frame_mapped_vaddr(), 0x40_0000);
        assert_eq!(f.words[1] >> 48, 1);
    }
}
