//! Object sizes (`seL4_*Bits`) for x86_64 with FXSAVE (XSaveSize 512).

pub const WORD_BITS: u32 = 64;
pub const PAGE_BITS: u32 = 12;
pub const LARGE_PAGE_BITS: u32 = 21;
pub const HUGE_PAGE_BITS: u32 = 30;
pub const SLOT_BITS: u32 = 5;
/// 11 because `KernelXSaveSize` is 512 (12 from 832 upwards).
pub const TCB_BITS: u32 = 11;
pub const ENDPOINT_BITS: u32 = 4;
pub const NOTIFICATION_BITS: u32 = 5;
pub const PAGE_TABLE_BITS: u32 = 12;
pub const PAGE_DIR_BITS: u32 = 12;
pub const PDPT_BITS: u32 = 12;
pub const PML4_BITS: u32 = 12;
pub const VSPACE_BITS: u32 = PML4_BITS;
pub const ASID_POOL_BITS: u32 = 12;
pub const MIN_UNTYPED_BITS: u32 = 4;
pub const MAX_UNTYPED_BITS: u32 = 47;
pub const BOOT_INFO_FRAME_BITS: u32 = PAGE_BITS;
pub const IPC_BUFFER_SIZE_BITS: u32 = 10;
/// `seL4_BootInfo` lives in one frame of this size, which bounds
/// `KernelMaxNumBootinfoUntypedCaps`.
const _: () = assert!(core::mem::size_of::<crate::bootinfo::BootInfo>() <= 1 << BOOT_INFO_FRAME_BITS);

/// seL4's `seL4_TCBFlag`: the feature flags TCB SetFlags sets and clears.
pub mod tcb_flag {
    pub const NO_FLAG: u64 = 0;
    /// The thread may not use the FPU: its first FPU or SSE instruction
    /// raises #NM, reported to its fault handler as a user exception.
    pub const FPU_DISABLED: u64 = 1;
    /// The flags this configuration has (x86 always has an FPU); others
    /// are ignored.
    pub const MASK: u64 = if crate::config::HAVE_FPU { FPU_DISABLED } else { NO_FLAG };
}

// seL4's x86_64 values, checked where they are defined so that a typo
// cannot silently change an object's size.
const _: () = assert!(PAGE_BITS == 12 && LARGE_PAGE_BITS == 21 && HUGE_PAGE_BITS == 30);
const _: () = assert!(SLOT_BITS == 5 && TCB_BITS == 11 && ENDPOINT_BITS == 4 && NOTIFICATION_BITS == 5);
const _: () = assert!(PAGE_TABLE_BITS == 12 && PAGE_DIR_BITS == 12 && PDPT_BITS == 12 && PML4_BITS == 12);
const _: () = assert!(ASID_POOL_BITS == 12 && MIN_UNTYPED_BITS == 4 && MAX_UNTYPED_BITS == 47);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cnode_slot_is_four_words() {
        assert_eq!(1u64 << SLOT_BITS, 4 * 8);
        // A radix-r CNode therefore takes 2^(r+5) bytes of untyped.
        assert_eq!((1u64 << 13) << SLOT_BITS, 1 << 18);
    }
}
