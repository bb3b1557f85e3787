//! `seL4_ObjectType` values for Untyped_Retype on x86_64 (non-MCS, huge
//! pages on, no IOMMU, no VT-x).

pub const UNTYPED: u64 = 0;
pub const TCB: u64 = 1;
pub const ENDPOINT: u64 = 2;
pub const NOTIFICATION: u64 = 3;
pub const CAP_TABLE: u64 = 4;
/// First architecture-specific type (`seL4_NonArchObjectTypeCount`).
pub const NON_ARCH_COUNT: u64 = 5;
pub const X86_PDPT: u64 = 5;
pub const X64_PML4: u64 = 6;
pub const X64_HUGE_PAGE: u64 = 7;
pub const X86_4K: u64 = 8;
pub const X86_LARGE_PAGE: u64 = 9;
pub const X86_PAGE_TABLE: u64 = 10;
pub const X86_PAGE_DIRECTORY: u64 = 11;
/// `seL4_ObjectTypeCount`.
pub const COUNT: u64 = 12;

/// Whether retyping device memory into `ty` is allowed (frames only).
pub const fn is_frame_type(ty: u64) -> bool {
    matches!(ty, X86_4K | X86_LARGE_PAGE | X64_HUGE_PAGE)
}
