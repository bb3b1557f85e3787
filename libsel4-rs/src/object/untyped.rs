//! Untyped invocations: Retype.
//!
//! ```no_run
//! use sel4::cap::{init, Notification, Untyped};
//! use sel4::ObjectType;
//! # fn demo(ut: Untyped, free: u64) -> Result<(), sel4::Error> {
//! // Four notifications in slots free..free+4 of the root CNode.
//! ut.retype(ObjectType::Notification, 0, init::CNODE.itself(), free, 4)?;
//! let first = Notification::from_cptr(free);
//! # let _ = first;
//! # Ok(())
//! # }
//! ```

use crate::cap::{Slot, Untyped};
use crate::invocation::{call, result};
use crate::Error;
use sel4_compat::invocation as label;
use sel4_compat::object_type as ty;

/// `seL4_ObjectType` for x86_64 (non-MCS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum ObjectType {
    Untyped = ty::UNTYPED,
    Tcb = ty::TCB,
    Endpoint = ty::ENDPOINT,
    Notification = ty::NOTIFICATION,
    CNode = ty::CAP_TABLE,
    Pdpt = ty::X86_PDPT,
    Pml4 = ty::X64_PML4,
    HugePage = ty::X64_HUGE_PAGE,
    Granule = ty::X86_4K,
    LargePage = ty::X86_LARGE_PAGE,
    PageTable = ty::X86_PAGE_TABLE,
    PageDirectory = ty::X86_PAGE_DIRECTORY,
    /// This kernel's user-interrupt receiver (see [`crate::uintr`]).
    UintrReceiver = sel4_compat::uintr::object_type::UINTR_RECEIVER,
    /// This kernel's user-interrupt target table (see [`crate::uintr`]).
    Uitt = sel4_compat::uintr::object_type::UITT,
}

impl Untyped {
    /// `seL4_Untyped_Retype`: `num` new objects of `object_type` (sized by
    /// `size_bits` where the type has a variable size: untypeds and
    /// CNodes, whose size is in slots) with their caps in slots
    /// `offset..offset + num` of the CNode `dest` names.
    pub fn retype(self, object_type: ObjectType, size_bits: u64, dest: Slot, offset: u64, num: u64) -> Result<(), Error> {
        let args = [object_type as u64, size_bits, dest.index, dest.depth as u64, offset, num];
        result(call(self.cptr(), label::UNTYPED_RETYPE, &args, &[dest.root.cptr()]))
    }
}
