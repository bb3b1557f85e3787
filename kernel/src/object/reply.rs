//! Reply caps: the reply master in each TCB's reply slot, the one-shot
//! reply cap a Call leaves in the receiver's caller slot, and replying
//! through it.

use crate::cap::Cap;
use crate::cspace::cte::{self, Cte};
use crate::fault::handle_fault_reply;
use crate::ipc::do_ipc_transfer;
use crate::sched;
use crate::thread::{tcb_slot, Fault, Tcb, ThreadState};

/// seL4's `setupCallerCap`: the caller waits for a reply through a
/// one-shot reply cap in the receiver's caller slot.
pub(crate) fn setup_caller_cap(sender: &mut Tcb, receiver: &mut Tcb, can_grant: bool) {
    sched::set_thread_state(sender, ThreadState::BlockedOnReply);
    delete_caller_cap(receiver);
    let reply_slot = sender.slot(tcb_slot::REPLY);
    let caller_slot = receiver.slot(tcb_slot::CALLER);
    // Safety: both are slots of live TCBs, the caller slot now empty; the
    // reply master is set up at creation (setup_reply_master). A reply cap
    // is never revocable from its master.
    unsafe { cte::cte_insert_unrevocable(Cap::reply(sender as *mut Tcb as u64, false, can_grant), reply_slot, caller_slot) };
}

/// seL4's `deleteCallerCap`. The caller slot holds nothing or a one-shot
/// reply cap (this runs twice per Call/ReplyRecv).
pub fn delete_caller_cap(receiver: &mut Tcb) {
    let slot = receiver.slot(tcb_slot::CALLER);
    // Safety: the caller slot of a live TCB, in a consistent MDB.
    unsafe {
        let cap = (*slot).cap;
        // Empty is the common case (receiving deletes it), so it is asked
        // first. Only `setup_caller_cap` and the fastpath write this slot,
        // and they write one-shot reply caps.
        if !cap.is_null() {
            if cap.as_one_shot_reply().is_some() {
                delete_one_shot_reply_cap(slot);
            } else {
                debug_assert!(false, "the caller slot holds nothing or a one-shot reply cap");
            }
        }
    }
}

/// `cteDeleteOne` of a one-shot reply cap: such a cap has no object to
/// finalise (`finaliseCap` of a reply cap does nothing) and no children,
/// so deleting it is unlinking it, which is what `cteDeleteOne` ends up
/// doing after its general checks (every reply deletes one).
///
/// # Safety
/// `slot` is a live slot holding a one-shot reply cap, in a consistent MDB.
#[inline(always)]
pub(crate) unsafe fn delete_one_shot_reply_cap(slot: *mut Cte) {
    // Safety: per the caller's contract.
    unsafe {
        debug_assert!((*slot).cap.as_one_shot_reply().is_some());
        cte::unlink_and_clear(slot);
    }
}

/// seL4's `setupReplyMaster`: the TCB's reply slot holds the master reply
/// cap every one-shot reply cap derives from.
pub fn setup_reply_master(t: &mut Tcb) {
    let slot = t.slot(tcb_slot::REPLY);
    // Safety: a slot of a live TCB.
    unsafe {
        if (*slot).cap.is_null() {
            let null = core::ptr::null_mut();
            *slot = Cte { cap: Cap::reply(t as *mut Tcb as u64, true, true), mdb: cte::MdbNode::new(null, true, true, null) };
        }
    }
}

/// seL4's `doReplyTransfer`: answers the thread waiting on the reply cap
/// in `slot`.
///
/// # Safety
/// `slot` is a live slot holding the (one-shot, not master) reply cap
/// that names `receiver`.
pub unsafe fn do_reply_transfer(sender: &mut Tcb, receiver: &mut Tcb, slot: *mut Cte, grant: bool) {
    debug_assert_eq!(receiver.state, ThreadState::BlockedOnReply);
    if receiver.fault == Fault::None {
        do_ipc_transfer(sender, 0, 0, grant, receiver);
        // Safety: the reply cap's slot is live.
        unsafe { delete_one_shot_reply_cap(slot) };
        sched::set_thread_state(receiver, ThreadState::Running);
        sched::possible_switch_to(receiver);
    } else {
        // Safety: as above.
        unsafe { delete_one_shot_reply_cap(slot) };
        let restart = handle_fault_reply(receiver, sender);
        receiver.fault = Fault::None;
        if restart {
            sched::set_thread_state(receiver, ThreadState::Restart);
            sched::possible_switch_to(receiver);
        } else {
            sched::set_thread_state(receiver, ThreadState::Inactive);
        }
    }
}
