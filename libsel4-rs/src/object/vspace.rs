//! x86_64 address spaces: frames of the three sizes, the paging
//! structures below the PML4, and ASIDs.
//!
//! ```no_run
//! use sel4::cap::{init, CapRights, Granule, PageTable};
//! use sel4::object::VmAttributes;
//! # fn demo(table: PageTable, frame: Granule) -> Result<(), sel4::Error> {
//! let vaddr = 0x4000_0000;
//! table.map(init::VSPACE, vaddr, VmAttributes::DEFAULT)?;
//! frame.map(init::VSPACE, vaddr, CapRights::READ_WRITE, VmAttributes::DEFAULT)?;
//! let paddr = frame.get_address()?;
//! # let _ = paddr;
//! # Ok(())
//! # }
//! ```

use crate::cap::{kind, AsidControl, AsidPool, Cap, CapKind, CapRights, Pml4, Slot, Untyped};
use crate::invocation::{call, get_mr, result};
use crate::Error;
use sel4_compat::invocation as label;

/// `seL4_X86_VMAttributes`: caching of a mapping (PAT index bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmAttributes(pub u64);

impl VmAttributes {
    /// Write-back.
    pub const DEFAULT: VmAttributes = VmAttributes(0);
    pub const CACHE_DISABLED: VmAttributes = VmAttributes(1);
    pub const WRITE_THROUGH: VmAttributes = VmAttributes(2);
    pub const WRITE_COMBINING: VmAttributes = VmAttributes(4);
}

/// Frame caps: 4 KiB, 2 MiB and 1 GiB pages share their invocations.
pub trait FrameKind: CapKind {
    /// log2 of the frame size.
    const SIZE_BITS: u32;
}

impl FrameKind for kind::Granule {
    const SIZE_BITS: u32 = 12;
}
impl FrameKind for kind::LargePage {
    const SIZE_BITS: u32 = 21;
}
impl FrameKind for kind::HugePage {
    const SIZE_BITS: u32 = 30;
}

impl<K: FrameKind> Cap<K> {
    /// `seL4_X86_Page_Map` at `vaddr` in `vspace` (which must hold the
    /// paging structures above; a missing one gives FailedLookup with the
    /// bits left to translate in message register 2). Mapping a frame
    /// again at its current address changes its rights and attributes.
    pub fn map(self, vspace: Pml4, vaddr: u64, rights: CapRights, attributes: VmAttributes) -> Result<(), Error> {
        result(call(self.cptr(), label::X86_PAGE_MAP, &[vaddr, rights.0, attributes.0], &[vspace.cptr()]))
    }

    pub fn unmap(self) -> Result<(), Error> {
        result(call(self.cptr(), label::X86_PAGE_UNMAP, &[], &[]))
    }

    /// `seL4_X86_Page_GetAddress`: the frame's physical address.
    pub fn get_address(self) -> Result<u64, Error> {
        result(call(self.cptr(), label::X86_PAGE_GET_ADDRESS, &[], &[])).map(|()| get_mr(0))
    }
}

/// Paging-structure caps below the PML4.
pub trait TableKind: CapKind {
    /// The bits of address left to translate where this structure goes
    /// (what a FailedLookup reports when it is missing).
    const BITS_LEFT: u64;
    const MAP: u64;
    const UNMAP: u64;
}

impl TableKind for kind::Pdpt {
    const BITS_LEFT: u64 = 39;
    const MAP: u64 = label::X86_PDPT_MAP;
    const UNMAP: u64 = label::X86_PDPT_UNMAP;
}
impl TableKind for kind::PageDirectory {
    const BITS_LEFT: u64 = 30;
    const MAP: u64 = label::X86_PAGE_DIRECTORY_MAP;
    const UNMAP: u64 = label::X86_PAGE_DIRECTORY_UNMAP;
}
impl TableKind for kind::PageTable {
    const BITS_LEFT: u64 = 21;
    const MAP: u64 = label::X86_PAGE_TABLE_MAP;
    const UNMAP: u64 = label::X86_PAGE_TABLE_UNMAP;
}

/// The paging-structure invocations, one impl per kind (a second blanket
/// impl, over TableKind, would overlap the frames' in the compiler's eyes).
macro_rules! table_methods {
    ($($kind:ty),*) => {$(
impl Cap<$kind> {
    /// Maps the structure so that it translates `vaddr` in `vspace`.
    pub fn map(self, vspace: Pml4, vaddr: u64, attributes: VmAttributes) -> Result<(), Error> {
        result(call(self.cptr(), <$kind as TableKind>::MAP, &[vaddr, attributes.0], &[vspace.cptr()]))
    }

    /// Unmaps the structure (and with it everything mapped through it).
    pub fn unmap(self) -> Result<(), Error> {
        result(call(self.cptr(), <$kind as TableKind>::UNMAP, &[], &[]))
    }
}
    )*};
}

table_methods!(kind::Pdpt, kind::PageDirectory, kind::PageTable);

impl AsidControl {
    /// `seL4_X86_ASIDControl_MakePool`: turns a 4 KiB `untyped` into an
    /// ASID pool whose cap goes to `dest`.
    pub fn make_pool(self, untyped: Untyped, dest: Slot) -> Result<(), Error> {
        let args = [dest.index, dest.depth as u64];
        result(call(self.cptr(), label::X86_ASID_CONTROL_MAKE_POOL, &args, &[untyped.cptr(), dest.root.cptr()]))
    }
}

impl AsidPool {
    /// `seL4_X86_ASIDPool_Assign`: gives `vspace` an ASID from this pool,
    /// which it needs before anything maps into it.
    pub fn assign(self, vspace: Pml4) -> Result<(), Error> {
        result(call(self.cptr(), label::X86_ASID_POOL_ASSIGN, &[], &[vspace.cptr()]))
    }
}
