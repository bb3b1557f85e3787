//! Endpoints: seL4's synchronous IPC rendezvous (send, receive, call),
//! the endpoint's queue of blocked threads, and cancelling blocked IPC.
//!
//! Objects are reached through the kernel pointers in caps; every such
//! pointer names a live object (the kernel's object invariant), which is
//! the `Safety` argument for the dereferences in this module.

use crate::cap::EndpointCap;
use crate::ipc::{do_ipc_transfer, QueueObject};
use crate::object::notification::{complete_signal, notification, NTFN_ACTIVE, NTFN_WAITING};
use crate::object::reply::{delete_one_shot_reply_cap, setup_caller_cap};
use crate::sched;
use crate::thread::{tcb_slot, Fault, Tcb, ThreadState};

/// Endpoint queue states.
pub(crate) const EP_IDLE: u64 = 0;
const EP_SEND: u64 = 1;
const EP_RECV: u64 = 2;

/// An endpoint: 16 bytes, the queue tail with the state in its low bits,
/// and the queue head (seL4's layout).
#[repr(C)]
pub struct Endpoint {
    tail_and_state: u64,
    head: u64,
}

const _: () = assert!(core::mem::size_of::<Endpoint>() == 1 << sel4_compat::objects::ENDPOINT_BITS);

impl QueueObject for Endpoint {
    #[inline(always)]
    fn queue_words(&mut self) -> (&mut u64, &mut u64) {
        (&mut self.head, &mut self.tail_and_state)
    }

    #[inline(always)]
    fn tail_and_state(&self) -> u64 {
        self.tail_and_state
    }
}

/// # Safety
/// `ptr` is the kernel pointer of a live endpoint.
unsafe fn endpoint<'a>(ptr: u64) -> &'a mut Endpoint {
    // Safety: per the caller's contract.
    unsafe { &mut *(ptr as *mut Endpoint) }
}

/// Whether `t` is on the endpoint's queue (for the invariant checks).
pub fn endpoint_queue_contains(ep: u64, t: &Tcb) -> bool {
    // Safety: a thread blocked on an endpoint names a live one, whose
    // queue holds live TCBs.
    unsafe { endpoint(ep).queue().contains(t) }
}

/// The thread at the head of an endpoint's receive queue, if threads are
/// waiting to receive.
#[inline(always)]
pub(crate) fn endpoint_first_receiver(ep_ptr: u64) -> Option<*mut Tcb> {
    // Safety: `ep_ptr` comes from an endpoint cap.
    let ep = unsafe { endpoint(ep_ptr) };
    // The states are 0, 1 and 2, so receiving is the one with bit 1 set:
    // a single bit test on every Call.
    debug_assert!(ep.state() <= EP_RECV);
    (ep.tail_and_state & EP_RECV != 0).then_some(ep.head as *mut Tcb)
}

/// Whether senders are queued on the endpoint.
#[inline(always)]
pub(crate) fn endpoint_has_senders(ep_ptr: u64) -> bool {
    // Safety: `ep_ptr` comes from an endpoint cap.
    let ep = unsafe { endpoint(ep_ptr) };
    // As above: sending is the one state with bit 0 set.
    debug_assert!(ep.state() <= EP_RECV);
    ep.tail_and_state & EP_SEND != 0
}

/// Takes `t`, the first receiver queued on the endpoint, off its queue
/// (the endpoint idle if it was the only one).
#[inline(always)]
pub(crate) fn endpoint_remove_first_receiver(ep_ptr: u64, t: &mut Tcb) {
    // Safety: `ep_ptr` comes from an endpoint cap.
    let ep = unsafe { endpoint(ep_ptr) };
    debug_assert!(ep.state() == EP_RECV && ep.head == t as *mut Tcb as u64);
    // Safety: queued TCBs are live, and `t` is the first.
    unsafe { ep.queue_as(EP_RECV).remove_first(t) };
}

/// Blocks `t` receiving on an endpoint with no queued senders.
#[inline(always)]
pub(crate) fn endpoint_append_receiver(ep_ptr: u64, can_grant: bool, t: &mut Tcb) {
    // Safety: `ep_ptr` comes from an endpoint cap.
    let ep = unsafe { endpoint(ep_ptr) };
    debug_assert!(ep.state() != EP_SEND);
    t.state = ThreadState::BlockedOnReceive { ep: ep_ptr, can_grant };
    // Safety: queued TCBs are live; a running thread is on no queue.
    unsafe { ep.queue_as(EP_RECV).push_back(t) };
}

/// seL4's `sendIPC`.
pub fn send_ipc(blocking: bool, do_call: bool, badge: u64, can_grant: bool, can_grant_reply: bool, thread: &mut Tcb, ep_ptr: u64) {
    // Safety: `ep_ptr` comes from an endpoint cap.
    let ep = unsafe { endpoint(ep_ptr) };
    match ep.state() {
        EP_RECV => {
            // Safety: a receive queue holds live TCBs.
            let dest = unsafe { &mut *ep.queue().front() };
            endpoint_remove_first_receiver(ep_ptr, dest);
            do_ipc_transfer(thread, ep_ptr, badge, can_grant, dest);
            let reply_can_grant = matches!(dest.state, ThreadState::BlockedOnReceive { can_grant: true, .. });
            sched::set_thread_state(dest, ThreadState::Running);
            sched::possible_switch_to(dest);
            if do_call {
                if can_grant || can_grant_reply {
                    setup_caller_cap(thread, dest, reply_can_grant);
                } else {
                    sched::set_thread_state(thread, ThreadState::Inactive);
                }
            }
        }
        _ => {
            if blocking {
                let state = ThreadState::BlockedOnSend { ep: ep_ptr, badge, can_grant, can_grant_reply, is_call: do_call };
                sched::set_thread_state(thread, state);
                // Safety: queued TCBs are live; a running thread is on no
                // queue.
                unsafe { ep.queue_as(EP_SEND).push_back(thread) };
            }
        }
    }
}

/// seL4's `receiveIPC` (non-MCS).
pub fn receive_ipc(thread: &mut Tcb, cap: EndpointCap, blocking: bool) {
    let ep_ptr = cap.ptr();
    // A bound notification with a pending signal wins.
    if thread.bound_notification != 0 {
        // Safety: a bound notification is live while bound.
        let n = unsafe { notification(thread.bound_notification) };
        if n.state() == NTFN_ACTIVE {
            complete_signal(thread.bound_notification, thread);
            return;
        }
    }
    // Safety: from an endpoint cap.
    let ep = unsafe { endpoint(ep_ptr) };
    match ep.state() {
        EP_SEND => {
            // Safety: a send queue holds live TCBs; `sender` is the first.
            let sender = unsafe { &mut *ep.queue().front() };
            // Safety: as above.
            unsafe { ep.queue().remove_first(sender) };
            let ThreadState::BlockedOnSend { badge, can_grant, can_grant_reply, is_call, .. } = sender.state else {
                unreachable!("threads on a send queue are blocked on send")
            };
            do_ipc_transfer(sender, ep_ptr, badge, can_grant, thread);
            if is_call {
                if can_grant || can_grant_reply {
                    setup_caller_cap(sender, thread, cap.can_grant());
                } else {
                    sched::set_thread_state(sender, ThreadState::Inactive);
                }
            } else {
                sched::set_thread_state(sender, ThreadState::Running);
                sched::possible_switch_to(sender);
            }
        }
        _ => {
            if blocking {
                sched::set_thread_state(thread, ThreadState::BlockedOnReceive { ep: ep_ptr, can_grant: cap.can_grant() });
                // Safety: as in `send_ipc`.
                unsafe { ep.queue_as(EP_RECV).push_back(thread) };
            } else {
                // seL4's `doNBRecvFailedTransfer`: badge 0.
                thread.ctx.regs.rdi = 0;
            }
        }
    }
}

/// Cancels whatever IPC `t` is blocked in (seL4's `cancelIPC`).
pub fn cancel_ipc(t: &mut Tcb) {
    match t.state {
        ThreadState::BlockedOnSend { ep, .. } | ThreadState::BlockedOnReceive { ep, .. } => {
            // Safety: a thread blocked on an endpoint names a live one.
            let e = unsafe { endpoint(ep) };
            // Safety: the queue holds live TCBs, `t` among them.
            unsafe { e.queue().remove(t) };
            sched::set_thread_state(t, ThreadState::Inactive);
        }
        ThreadState::BlockedOnNotification { ntfn } => {
            // Safety: as above for notifications.
            let n = unsafe { notification(ntfn) };
            // Safety: as above.
            unsafe { n.queue_as(NTFN_WAITING).remove(t) };
            sched::set_thread_state(t, ThreadState::Inactive);
        }
        ThreadState::BlockedOnReply => {
            t.fault = Fault::None;
            // The one-shot reply cap pointing at `t` is the reply master's
            // MDB child.
            let master = t.slot(tcb_slot::REPLY);
            // Safety: the reply slot of a live TCB, and its MDB successor.
            unsafe {
                let next = (*master).mdb.next();
                if !next.is_null() && (*next).cap.as_one_shot_reply().is_some_and(|reply| reply.tcb() == t as *mut Tcb as u64) {
                    delete_one_shot_reply_cap(next);
                }
            }
        }
        _ => {}
    }
}

/// seL4's `cancelAllIPC`: the endpoint is going away; everyone queued on
/// it restarts (and so retries, finding the cap gone).
pub fn cancel_all_ipc(ep_ptr: u64) {
    // Safety: called while the endpoint is still live.
    let ep = unsafe { endpoint(ep_ptr) };
    // Safety: queued TCBs are live; emptying the queue leaves the
    // endpoint idle.
    for tcb in unsafe { ep.queue().drain() } {
        // Safety: as above.
        let tcb = unsafe { &mut *tcb };
        sched::set_thread_state(tcb, ThreadState::Restart);
        sched::enqueue(tcb);
    }
    sched::reschedule_required();
}

/// seL4's `cancelBadgedSends`: senders with `badge` restart.
pub fn cancel_badged_sends(ep_ptr: u64, badge: u64) {
    // Safety: from a live endpoint cap.
    let ep = unsafe { endpoint(ep_ptr) };
    if ep.state() != EP_SEND {
        return;
    }
    let mut q = ep.queue();
    // Safety: queued TCBs are live; only the thread just yielded leaves
    // the queue (restarting touches no endpoint), and an emptied queue
    // leaves the endpoint idle.
    for t in unsafe { q.iter() } {
        // Safety: as above.
        let tcb = unsafe { &mut *t };
        if matches!(tcb.state, ThreadState::BlockedOnSend { badge: b, .. } if b == badge) {
            // Safety: as above.
            unsafe { q.remove(tcb) };
            sched::set_thread_state(tcb, ThreadState::Restart);
            sched::enqueue(tcb);
        }
    }
    sched::reschedule_required();
}
