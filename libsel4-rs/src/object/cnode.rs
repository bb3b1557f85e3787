//! CNode invocations, made on the destination [`Slot`]: the slot names the
//! CNode invoked (its root) and the index and depth inside it, as seL4's
//! `seL4_CNode_*(service, index, depth, ...)` do.
//!
//! ```no_run
//! use sel4::cap::{init, CapRights, Endpoint};
//! # fn demo(ep: Endpoint, free: u64) -> Result<(), sel4::Error> {
//! // A badged, send-only copy of `ep` in slot `free`, then remove it again.
//! let copy = init::CNODE.slot(free, 64);
//! copy.mint(ep.slot_in(init::CNODE), CapRights::WRITE, 42)?;
//! copy.delete()?;
//! # Ok(())
//! # }
//! ```

use crate::cap::{CapRights, Slot};
use crate::invocation::{call, result};
use crate::Error;
use sel4_compat::invocation as label;

impl Slot {
    fn invoke(self, label: u64, args: &[u64], caps: &[crate::CPtr]) -> Result<(), Error> {
        result(call(self.root.cptr(), label, args, caps))
    }

    fn path(self) -> [u64; 2] {
        [self.index, self.depth as u64]
    }

    /// `seL4_CNode_Revoke`: deletes every cap derived from this one.
    pub fn revoke(self) -> Result<(), Error> {
        self.invoke(label::CNODE_REVOKE, &self.path(), &[])
    }

    /// `seL4_CNode_Delete`.
    pub fn delete(self) -> Result<(), Error> {
        self.invoke(label::CNODE_DELETE, &self.path(), &[])
    }

    /// `seL4_CNode_CancelBadgedSends`: fails the blocked sends carrying
    /// this endpoint cap's badge.
    pub fn cancel_badged_sends(self) -> Result<(), Error> {
        self.invoke(label::CNODE_CANCEL_BADGED_SENDS, &self.path(), &[])
    }

    /// `seL4_CNode_SaveCaller`: moves the caller's reply cap into this slot.
    pub fn save_caller(self) -> Result<(), Error> {
        self.invoke(label::CNODE_SAVE_CALLER, &self.path(), &[])
    }

    /// `seL4_CNode_Copy`: a copy of `src` with `rights` masked in, here.
    pub fn copy(self, src: Slot, rights: CapRights) -> Result<(), Error> {
        let [dest, dest_depth] = self.path();
        let args = [dest, dest_depth, src.index, src.depth as u64, rights.0];
        self.invoke(label::CNODE_COPY, &args, &[src.root.cptr()])
    }

    /// `seL4_CNode_Mint`: a copy of `src` with `rights` masked in and
    /// `badge` (or, for a CNode cap, the guard) set.
    pub fn mint(self, src: Slot, rights: CapRights, badge: u64) -> Result<(), Error> {
        let [dest, dest_depth] = self.path();
        let args = [dest, dest_depth, src.index, src.depth as u64, rights.0, badge];
        self.invoke(label::CNODE_MINT, &args, &[src.root.cptr()])
    }

    /// `seL4_CNode_Move`: `src` moves here.
    pub fn move_from(self, src: Slot) -> Result<(), Error> {
        let [dest, dest_depth] = self.path();
        self.invoke(label::CNODE_MOVE, &[dest, dest_depth, src.index, src.depth as u64], &[src.root.cptr()])
    }

    /// `seL4_CNode_Mutate`: `src` moves here with its badge or guard set
    /// to `data`.
    pub fn mutate_from(self, src: Slot, data: u64) -> Result<(), Error> {
        let [dest, dest_depth] = self.path();
        self.invoke(label::CNODE_MUTATE, &[dest, dest_depth, src.index, src.depth as u64, data], &[src.root.cptr()])
    }

    /// `seL4_CNode_Rotate`: `pivot` moves here (with `pivot_data`) and
    /// `src` moves to `pivot` (with `src_data`).
    pub fn rotate(self, pivot: Slot, pivot_data: u64, src: Slot, src_data: u64) -> Result<(), Error> {
        let [dest, dest_depth] = self.path();
        let args = [dest, dest_depth, pivot_data, pivot.index, pivot.depth as u64, src_data, src.index, src.depth as u64];
        self.invoke(label::CNODE_ROTATE, &args, &[pivot.root.cptr(), src.root.cptr()])
    }
}
