//! seL4's IPC fastpath: Call and ReplyRecv between two threads when the
//! message fits in registers and nothing unusual is going on. Each entry
//! point checks every condition first and changes nothing unless all hold;
//! if one fails it returns, and the caller runs the slowpath, which gives
//! the same result the long way. When all hold it transfers the message,
//! blocks the current thread and switches straight to the other one.
//!
//! The conditions are seL4's (non-MCS, single core): no extra caps and at
//! most four message words; an endpoint cap with the right rights; the
//! partner already waiting; a partner with a valid address space that
//! the scheduler would pick anyway (priority and domain); for ReplyRecv,
//! no pending signal on the bound notification, no queued senders and a
//! partner that is not waiting for a fault reply. A few more let it fall
//! back where seL4 relies on an invariant: an empty caller slot and a
//! childless reply master for Call, a reply cap that is the last entry of
//! its two-entry derivation list for ReplyRecv.
//!
//! Built in only with `KernelFastpath` (on by default); without it
//! `try_call` and `try_reply_recv` always decline, so one benchmark run can
//! compare both kernels. The counts of fastpaths taken are kept only in
//! debug configurations (`KernelDebugBuild`), as seL4 keeps no counters on
//! its hot paths in release builds.

use crate::cap::{Cap, EndpointCap};
use crate::cspace::cte::{Cte, MdbNode};
use crate::cspace::lookup::{lookup_cap_fast, SlotMemory};
use crate::object::invocation::FAST_MESSAGE_REGISTERS;
use crate::sched;
use crate::thread::{tcb_slot, Fault, Tcb, ThreadState};
use core::sync::atomic::{AtomicU64, Ordering};
use sel4_compat::ipc::MessageInfo;

/// Whether this kernel was built with the fastpath.
pub const ENABLED: bool = crate::config::FASTPATH;

/// How often each fastpath was taken (debug configurations): reported at
/// DebugHalt so tests and benchmarks can tell which path their IPC went
/// through.
static CALLS_TAKEN: AtomicU64 = AtomicU64::new(0);
static REPLY_RECVS_TAKEN: AtomicU64 = AtomicU64::new(0);

/// The one-line report printed when the system halts.
pub fn report() {
    if ENABLED {
        kprintln!("fastpath: {} Call, {} ReplyRecv taken", CALLS_TAKEN.load(Ordering::Relaxed), REPLY_RECVS_TAKEN.load(Ordering::Relaxed));
    } else {
        kprintln!("fastpath: off (kernel built with KernelFastpath=OFF)");
    }
}

/// Why the fastpath need not check the scheduler's action (seL4's does
/// not either): every return to user mode runs `sched::schedule`, which
/// leaves it at "resume the current thread", or is the fastpath's own
/// switch, which starts from that state and leaves it so; a syscall is a
/// fresh entry from user mode.
const NOTHING_PENDING_AT_ENTRY: &str = "a syscall entry finds the scheduler with nothing but the current thread to resume";

/// A message the fastpath can carry: registers only, no caps.
#[inline(always)]
fn fits_in_registers(current: &Tcb) -> bool {
    // Length (bits 0-6) and extra caps (bits 7-8) as one number: it is at
    // most the register count exactly when there are no extra caps and
    // the length fits, one compare on every Call and ReplyRecv.
    let length_and_caps = current.ctx.regs.rsi & 0x1ff;
    debug_assert_eq!(length_and_caps as usize <= FAST_MESSAGE_REGISTERS, {
        let info = MessageInfo(current.ctx.regs.rsi);
        info.extra_caps() == 0 && info.length() as usize <= FAST_MESSAGE_REGISTERS
    });
    length_and_caps as usize <= FAST_MESSAGE_REGISTERS
}

/// The cap named in `rdi`, if it is an endpoint cap.
#[inline(always)]
fn invoked_endpoint(current: &Tcb) -> Option<EndpointCap> {
    lookup_cap_fast(&SlotMemory, current.cspace_root(), current.ctx.regs.rdi)?.as_endpoint()
}

/// The endpoint an endpoint cap names (a kernel object, so its pointer
/// decodes the short way).
#[inline(always)]
fn endpoint_address(ep_cap: EndpointCap) -> u64 {
    debug_assert_eq!(ep_cap.kernel_ptr(), ep_cap.ptr());
    ep_cap.kernel_ptr()
}

/// Whether the scheduler, asked now, would run `partner` instead of
/// blocking the current thread (domains matter only with more than one).
#[inline(always)]
fn scheduler_would_pick(partner: &Tcb, current: &Tcb, partner_may_be_lower: bool) -> bool {
    let priority_ok = if partner_may_be_lower {
        partner.priority >= current.priority || sched::is_highest_priority(partner.priority)
    } else {
        sched::is_highest_priority(partner.priority)
    };
    priority_ok && (crate::config::NUM_DOMAINS == 1 || partner.domain == current.domain)
}

/// seL4's `fastpath_call`. Returns only if the slowpath must handle it.
/// The message check is inlined into the syscall handler so that long
/// messages reach the slowpath at the cost of a compare.
#[inline(always)]
pub fn try_call(current: &mut Tcb) {
    if ENABLED && fits_in_registers(current) {
        call(current);
    }
}

/// seL4's `fastpath_reply_recv`. Returns only if the slowpath must handle
/// it.
#[inline(always)]
pub fn try_reply_recv(current: &mut Tcb) {
    if ENABLED && fits_in_registers(current) {
        reply_recv(current);
    }
}

#[inline(always)]
fn call(current: &mut Tcb) {
    debug_assert!(sched::resuming_current(), "{}", NOTHING_PENDING_AT_ENTRY);
    let Some(cap) = lookup_cap_fast(&SlotMemory, current.cspace_root(), current.ctx.regs.rdi) else { return };
    // An endpoint cap with the send right and grant or grant-reply.
    let Some(ep_cap) = cap.as_endpoint_for_call() else { return };
    let ep_ptr = endpoint_address(ep_cap);
    let Some(dest_ptr) = crate::object::endpoint::endpoint_first_receiver(ep_ptr) else { return };
    // Safety: threads queued on an endpoint are live, and a receiver is
    // never the thread running now.
    let dest = unsafe { &mut *dest_ptr };
    let Some(vspace) = dest.vspace_root_paddr() else { return };
    if !scheduler_would_pick(dest, current, true) {
        return;
    }
    let ThreadState::BlockedOnReceive { can_grant: reply_can_grant, .. } = dest.state else {
        unreachable!("threads on a receive queue are blocked on receive")
    };
    // The reply cap goes into the receiver's caller slot, a child of our
    // reply master. A receiver's caller slot is empty (receiving deletes
    // it) and the master has no child (replies and cancels delete them),
    // so the insertion is two links; were either not so, the slowpath's
    // general insertion handles it.
    let reply_slot = current.slot(tcb_slot::REPLY);
    let caller_slot = dest.slot(tcb_slot::CALLER);
    // Safety: slots of live TCBs.
    if unsafe { !(*caller_slot).cap.is_null() || !(*reply_slot).mdb.next().is_null() } {
        return;
    }

    // Every check passed: from here on nothing can fail.
    crate::object::endpoint::endpoint_remove_first_receiver(ep_ptr, dest);
    crate::registers::transfer_register_message(current, ep_cap.badge(), dest);
    // seL4's setupCallerCap as `cte_insert` does it for these two slots: a
    // reply cap is not revocable from its master (`is_cap_revocable`), and
    // the caller's state change needs no reschedule, as we switch anyway.
    current.state = ThreadState::BlockedOnReply;
    // Safety: the two slots checked above; the master's `next` was null.
    unsafe {
        *caller_slot = Cte {
            cap: Cap::reply(current as *mut Tcb as u64, false, reply_can_grant),
            mdb: MdbNode::new(core::ptr::null_mut(), false, false, reply_slot),
        };
        (*reply_slot).mdb.set_next_from_null(caller_slot);
    }
    dest.state = ThreadState::Running;
    if crate::config::DEBUG_BUILD {
        CALLS_TAKEN.fetch_add(1, Ordering::Relaxed);
    }
    sched::switch_directly_and_return(dest, vspace)
}

#[inline(always)]
fn reply_recv(current: &mut Tcb) {
    debug_assert!(sched::resuming_current(), "{}", NOTHING_PENDING_AT_ENTRY);
    let Some(ep_cap) = invoked_endpoint(current) else { return };
    let ep_ptr = endpoint_address(ep_cap);
    if !ep_cap.can_receive()
        || crate::object::notification::bound_notification_active(current)
        || crate::object::endpoint::endpoint_has_senders(ep_ptr)
    {
        return;
    }
    let caller_slot = current.slot(tcb_slot::CALLER);
    // Safety: the caller slot of a live TCB.
    let (reply_cap, reply_mdb) = unsafe { ((*caller_slot).cap, (*caller_slot).mdb) };
    let Some(reply_cap) = reply_cap.as_one_shot_reply() else { return };
    // A one-shot reply cap is the only child of its master (Call checks
    // that the master has none), so it is the last of a two-entry list
    // and deleting it is clearing the master's link; anything else is the
    // slowpath's to unlink.
    if reply_mdb.prev().is_null() || !reply_mdb.next().is_null() {
        return;
    }
    // Safety: a reply cap names a live TCB blocked on it, never the
    // current thread.
    let caller = unsafe { &mut *(reply_cap.tcb() as *mut Tcb) };
    if caller.fault != Fault::None {
        return;
    }
    let Some(vspace) = caller.vspace_root_paddr() else { return };
    if !scheduler_would_pick(caller, current, false) {
        return;
    }
    debug_assert_eq!(caller.state, ThreadState::BlockedOnReply);

    // Every check passed: from here on nothing can fail.
    crate::object::endpoint::endpoint_append_receiver(ep_ptr, ep_cap.can_grant(), current);
    crate::registers::transfer_register_message(current, 0, caller);
    // Safety: the caller slot holds a one-shot reply cap with a previous
    // and no next entry (checked above); deleting it only unlinks it, as
    // `delete_caller_cap` would, and with no next entry `unlink_and_clear`
    // comes down to these two writes.
    unsafe {
        (*reply_mdb.prev()).mdb.set_next(core::ptr::null_mut());
        *caller_slot = Cte { cap: Cap::NULL, mdb: MdbNode::NULL };
    }
    caller.state = ThreadState::Running;
    if crate::config::DEBUG_BUILD {
        REPLY_RECVS_TAKEN.fetch_add(1, Ordering::Relaxed);
    }
    sched::switch_directly_and_return(caller, vspace)
}
