//! `seL4_BootInfo`, the page the kernel hands the initial thread, and the
//! extra bootinfo headers that may follow it.

use crate::{Word, MAX_NUM_BOOTINFO_UNTYPED_CAPS};
use core::mem::{offset_of, size_of};

/// `seL4_SlotRegion`: slots `start..end` of the root CNode.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotRegion {
    pub start: Word,
    pub end: Word,
}

impl SlotRegion {
    pub const fn len(&self) -> u64 {
        self.end - self.start
    }
    pub const fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// `seL4_UntypedDesc`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UntypedDesc {
    pub paddr: Word,
    pub size_bits: u8,
    pub is_device: u8,
    pub padding: [u8; 6],
}

/// `seL4_BootInfo` for a non-MCS kernel.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct BootInfo {
    pub extra_len: Word,
    pub node_id: Word,
    pub num_nodes: Word,
    pub num_iopt_levels: Word,
    pub ipc_buffer: Word,
    pub empty: SlotRegion,
    pub shared_frames: SlotRegion,
    pub user_image_frames: SlotRegion,
    pub user_image_paging: SlotRegion,
    pub io_space_caps: SlotRegion,
    pub extra_bi_pages: SlotRegion,
    pub init_thread_cnode_size_bits: Word,
    pub init_thread_domain: Word,
    pub untyped: SlotRegion,
    pub untyped_list: [UntypedDesc; MAX_NUM_BOOTINFO_UNTYPED_CAPS],
}

impl BootInfo {
    /// The descriptors of the untyped caps actually present.
    pub fn untypeds(&self) -> &[UntypedDesc] {
        let n = (self.untyped.len() as usize).min(MAX_NUM_BOOTINFO_UNTYPED_CAPS);
        &self.untyped_list[..n]
    }
}

/// `seL4_BootInfoHeader`: precedes each chunk of extra bootinfo.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BootInfoHeader {
    pub id: Word,
    /// Length of the chunk including this header.
    pub len: Word,
}

/// Identifiers of extra bootinfo chunks.
pub mod header_id {
    pub const PADDING: u64 = 0;
    pub const X86_VBE: u64 = 1;
    pub const X86_MBMMAP: u64 = 2;
    pub const X86_ACPI_RSDP: u64 = 3;
    pub const X86_FRAMEBUFFER: u64 = 4;
    /// TSC frequency in MHz, as a 32-bit value.
    pub const X86_TSC_FREQ: u64 = 5;
    pub const FDT: u64 = 6;
}

// seL4's layout, field by field (all words on x86_64).
const _: () = assert!(size_of::<SlotRegion>() == 16);
const _: () = assert!(size_of::<UntypedDesc>() == 16);
const _: () = assert!(offset_of!(UntypedDesc, size_bits) == 8);
const _: () = assert!(offset_of!(UntypedDesc, is_device) == 9);
const _: () = assert!(offset_of!(BootInfo, extra_len) == 0);
const _: () = assert!(offset_of!(BootInfo, node_id) == 8);
const _: () = assert!(offset_of!(BootInfo, num_nodes) == 16);
const _: () = assert!(offset_of!(BootInfo, num_iopt_levels) == 24);
const _: () = assert!(offset_of!(BootInfo, ipc_buffer) == 32);
const _: () = assert!(offset_of!(BootInfo, empty) == 40);
const _: () = assert!(offset_of!(BootInfo, shared_frames) == 56);
const _: () = assert!(offset_of!(BootInfo, user_image_frames) == 72);
const _: () = assert!(offset_of!(BootInfo, user_image_paging) == 88);
const _: () = assert!(offset_of!(BootInfo, io_space_caps) == 104);
const _: () = assert!(offset_of!(BootInfo, extra_bi_pages) == 120);
const _: () = assert!(offset_of!(BootInfo, init_thread_cnode_size_bits) == 136);
const _: () = assert!(offset_of!(BootInfo, init_thread_domain) == 144);
const _: () = assert!(offset_of!(BootInfo, untyped) == 152);
const _: () = assert!(offset_of!(BootInfo, untyped_list) == 168);
const _: () = assert!(size_of::<BootInfo>() == 168 + 16 * MAX_NUM_BOOTINFO_UNTYPED_CAPS);
const _: () = assert!(size_of::<BootInfo>() <= 1 << crate::objects::BOOT_INFO_FRAME_BITS);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootinfo_fits_one_frame_with_230_untypeds() {
        assert_eq!(size_of::<BootInfo>(), 3848);
    }

    #[test]
    fn untypeds_is_bounded_by_the_list() {
        // Safety: BootInfo is plain old data; all-zero is a valid value.
        let mut bi: BootInfo = unsafe { core::mem::zeroed() };
        bi.untyped = SlotRegion { start: 20, end: 25 };
        assert_eq!(bi.untypeds().len(), 5);
        bi.untyped = SlotRegion { start: 0, end: 10_000 };
        assert_eq!(bi.untypeds().len(), MAX_NUM_BOOTINFO_UNTYPED_CAPS);
    }
}
