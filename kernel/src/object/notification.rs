//! Notifications: seL4's asynchronous signalling (signal, wait, poll),
//! the notification word, its waiters and its binding to a TCB.
//!
//! Objects are reached through the kernel pointers in caps; every such
//! pointer names a live object (the kernel's object invariant), which is
//! the `Safety` argument for the dereferences in this module.

use crate::cap::NotificationCap;
use crate::ipc::QueueObject;
use crate::list::PACKED_STATE_MASK;
use crate::object::endpoint::{cancel_ipc, EP_IDLE};
use crate::sched;
use crate::thread::{Tcb, ThreadState};

/// Notification states.
const NTFN_IDLE: u64 = 0;
pub(crate) const NTFN_WAITING: u64 = 1;
pub(crate) const NTFN_ACTIVE: u64 = 2;

// A queue's packed ends write a zero state when the queue empties: both
// objects are idle then, and idle is 0 for both.
const _: () = assert!(EP_IDLE == 0 && NTFN_IDLE == 0);

/// A notification: 32 bytes, bound TCB, badge word, queue head, queue
/// tail with the state in its low bits.
#[repr(C)]
pub struct Notification {
    bound_tcb: u64,
    msg_identifier: u64,
    head: u64,
    tail_and_state: u64,
}

const _: () = assert!(core::mem::size_of::<Notification>() == 1 << sel4_compat::objects::NOTIFICATION_BITS);

impl QueueObject for Notification {
    #[inline(always)]
    fn queue_words(&mut self) -> (&mut u64, &mut u64) {
        (&mut self.head, &mut self.tail_and_state)
    }

    #[inline(always)]
    fn tail_and_state(&self) -> u64 {
        self.tail_and_state
    }
}

impl Notification {
    /// Sets the state, leaving the queue as it is.
    fn set_state(&mut self, state: u64) {
        self.tail_and_state = (self.tail_and_state & !PACKED_STATE_MASK) | state;
    }
}

/// # Safety
/// `ptr` is the kernel pointer of a live notification.
pub(crate) unsafe fn notification<'a>(ptr: u64) -> &'a mut Notification {
    // Safety: per the caller's contract.
    unsafe { &mut *(ptr as *mut Notification) }
}

/// Whether `t` is on the notification's queue.
pub fn notification_queue_contains(ntfn: u64, t: &Tcb) -> bool {
    // Safety: as above for notifications.
    unsafe { notification(ntfn).queue().contains(t) }
}

/// Whether `t`'s bound notification has a pending signal (which a receive
/// would take instead of a message).
#[inline(always)]
pub(crate) fn bound_notification_active(t: &Tcb) -> bool {
    // Safety: a bound notification is live while bound.
    t.bound_notification != 0 && unsafe { notification(t.bound_notification) }.state() == NTFN_ACTIVE
}

/// seL4's `sendSignal`.
pub fn send_signal(ntfn_ptr: u64, badge: u64) {
    // Safety: from a notification cap.
    let n = unsafe { notification(ntfn_ptr) };
    match n.state() {
        NTFN_IDLE => {
            // Safety: a bound TCB is live while bound.
            if let Some(tcb) = unsafe { (n.bound_tcb as *mut Tcb).as_mut() } {
                if matches!(tcb.state, ThreadState::BlockedOnReceive { .. }) {
                    cancel_ipc(tcb);
                    sched::set_thread_state(tcb, ThreadState::Running);
                    tcb.ctx.regs.rdi = badge;
                    sched::possible_switch_to(tcb);
                    return;
                }
            }
            n.msg_identifier = badge;
            n.set_state(NTFN_ACTIVE);
        }
        NTFN_WAITING => {
            // Safety: a waiting queue holds live TCBs; `dest` is the first,
            // and the notification is idle once none are left.
            let dest = unsafe { &mut *n.queue().front() };
            // Safety: as above.
            unsafe { n.queue().remove_first(dest) };
            sched::set_thread_state(dest, ThreadState::Running);
            dest.ctx.regs.rdi = badge;
            sched::possible_switch_to(dest);
        }
        _ => n.msg_identifier |= badge,
    }
}

/// seL4's `receiveSignal` (Wait, or Poll when not blocking).
pub fn receive_signal(thread: &mut Tcb, cap: NotificationCap, blocking: bool) {
    let ntfn_ptr = cap.ptr();
    // Safety: from a notification cap.
    let n = unsafe { notification(ntfn_ptr) };
    match n.state() {
        NTFN_ACTIVE => complete_signal(ntfn_ptr, thread),
        _ => {
            if blocking {
                sched::set_thread_state(thread, ThreadState::BlockedOnNotification { ntfn: ntfn_ptr });
                // Safety: as in `send_ipc`.
                unsafe { n.queue_as(NTFN_WAITING).push_back(thread) };
            } else {
                thread.ctx.regs.rdi = 0;
            }
        }
    }
}

/// seL4's `completeSignal`: hands the pending badge to `thread`.
pub(crate) fn complete_signal(ntfn_ptr: u64, thread: &mut Tcb) {
    // Safety: a live notification.
    let n = unsafe { notification(ntfn_ptr) };
    thread.ctx.regs.rdi = n.msg_identifier;
    n.msg_identifier = 0;
    n.set_state(NTFN_IDLE);
}

/// seL4's `cancelAllSignals`.
pub fn cancel_all_signals(ntfn_ptr: u64) {
    // Safety: called while the notification is live.
    let n = unsafe { notification(ntfn_ptr) };
    if n.state() != NTFN_WAITING {
        return;
    }
    // Safety: as in `cancel_all_ipc`.
    for tcb in unsafe { n.queue().drain() } {
        // Safety: as above.
        let tcb = unsafe { &mut *tcb };
        sched::set_thread_state(tcb, ThreadState::Restart);
        sched::enqueue(tcb);
    }
    sched::reschedule_required();
}

/// Whether the notification is bound to a thread.
pub fn notification_bound_tcb(ntfn_ptr: u64) -> u64 {
    // Safety: a live notification.
    unsafe { notification(ntfn_ptr) }.bound_tcb
}

/// Whether the notification has waiters (it cannot be bound then).
pub fn notification_has_waiters(ntfn_ptr: u64) -> bool {
    // Safety: a live notification.
    unsafe { notification(ntfn_ptr) }.state() == NTFN_WAITING
}

/// seL4's `bindNotification`.
pub fn bind_notification(t: &mut Tcb, ntfn_ptr: u64) {
    // Safety: a live notification.
    unsafe { notification(ntfn_ptr) }.bound_tcb = t as *mut Tcb as u64;
    t.bound_notification = ntfn_ptr;
}

/// seL4's `unbindNotification` (for a thread) / `unbindMaybeNotification`.
pub fn unbind_notification(t: &mut Tcb) {
    if t.bound_notification != 0 {
        // Safety: a bound notification is live.
        unsafe { notification(t.bound_notification) }.bound_tcb = 0;
        t.bound_notification = 0;
    }
}

/// The notification is going away: unbind its thread.
pub fn unbind_maybe_notification(ntfn_ptr: u64) {
    // Safety: a live notification.
    let n = unsafe { notification(ntfn_ptr) };
    // Safety: a bound TCB is live.
    if let Some(t) = unsafe { (n.bound_tcb as *mut Tcb).as_mut() } {
        t.bound_notification = 0;
    }
    n.bound_tcb = 0;
}
