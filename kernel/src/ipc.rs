//! What IPC moves between two threads (seL4's `doIPCTransfer`): the
//! message words and capabilities of a normal message, or a fault message
//! (`crate::fault`), from sender to receiver; the queue type that
//! endpoints and notifications keep their blocked threads in; and
//! suspending and restarting a thread, which cancels its IPC.
//!
//! The objects themselves are in `object::endpoint`, `object::notification`
//! and `object::reply`; register and message-register access is in
//! `crate::registers`. Objects are reached through the kernel pointers in
//! caps; every such pointer names a live object (the kernel's object
//! invariant), which is the `Safety` argument for the dereferences here.

use crate::cap::rules::derive_cap_ignoring_children;
use crate::cspace::cte::{self, Cte};
use crate::fault::do_fault_transfer;
use crate::list::{List, PackedEnds, PACKED_STATE_MASK};
use crate::object::cnode::lookup_slot_for_cnode_op;
use crate::object::endpoint::cancel_ipc;
use crate::object::invocation::FAST_MESSAGE_REGISTERS;
use crate::object::reply::setup_reply_master;
use crate::registers::copy_register_words;
use crate::sched;
use crate::thread::{Fault, Tcb, ThreadState};
use sel4_compat::caps::CapType;
use sel4_compat::ipc::{MessageInfo, MSG_MAX_EXTRA_CAPS, MSG_MAX_LENGTH};

/// The kind of list an endpoint's or notification's queue is.
pub(crate) struct IpcQueue;

crate::list::linked_through!(Tcb, IpcQueue, ep_links);

/// An endpoint's or notification's queue of TCBs, kept in the object's
/// own words (seL4's layout).
pub(crate) type TcbQueue<'a> = List<Tcb, IpcQueue, PackedEnds<'a, Tcb>>;

/// An endpoint or a notification: an object that keeps its queue of
/// blocked threads in two of its own words (seL4's layout), the head, and
/// the tail with the object's state in its low bits.
pub(crate) trait QueueObject {
    /// The object's (head, tail and state) words.
    fn queue_words(&mut self) -> (&mut u64, &mut u64);
    fn tail_and_state(&self) -> u64;

    fn state(&self) -> u64 {
        self.tail_and_state() & PACKED_STATE_MASK
    }

    /// The queue, the object keeping its state while threads remain.
    #[inline(always)]
    fn queue(&mut self) -> TcbQueue<'_> {
        let state = self.state();
        self.queue_as(state)
    }

    /// The queue, the object in `state` while threads are on it.
    #[inline(always)]
    fn queue_as(&mut self, state: u64) -> TcbQueue<'_> {
        let (head, tail_and_state) = self.queue_words();
        List::from_ends(PackedEnds::new(head, tail_and_state, state))
    }
}

#[inline(never)]
pub(crate) fn lookup_slot(t: &Tcb, cptr: u64) -> Option<*mut Cte> {
    crate::syscall::lookup(t, cptr).ok()
}

/// seL4's `getReceiveSlots`: the empty slot named by the receiver's IPC
/// buffer for an incoming cap.
fn receive_slot(receiver: &mut Tcb) -> Option<*mut Cte> {
    let b = receiver.ipc_buffer()?;
    let (root_cptr, index, depth) = (b.receive_cnode, b.receive_index, b.receive_depth);
    let root_slot = lookup_slot(receiver, root_cptr)?;
    // Safety: a slot found by lookup is live.
    let root = unsafe { (*root_slot).cap };
    let slot = lookup_slot_for_cnode_op(false, root, index, depth).ok()?;
    // Safety: as above.
    unsafe { (*slot).cap }.is_null().then_some(slot)
}

/// seL4's `doNormalTransfer`: message registers, then extra caps (only
/// with grant), with endpoint caps to the sending endpoint unwrapped into
/// their badges.
fn do_normal_transfer(sender: &mut Tcb, ep: u64, badge: u64, grant: bool, receiver: &mut Tcb) {
    let info = MessageInfo(sender.ctx.regs.rsi);
    let length = (info.length() as usize).min(MSG_MAX_LENGTH);
    // Each thread's buffer is looked up once for the whole transfer, as
    // seL4's `doIPCTransfer` does.
    let send_buffer = sender.ipc_buffer_ptr();
    let mut extra: [Option<*mut Cte>; MSG_MAX_EXTRA_CAPS] = [None; MSG_MAX_EXTRA_CAPS];
    if grant && info.extra_caps() != 0 {
        if let Some(b) = send_buffer {
            // Safety: the sender's live IPC buffer; only read.
            let cptrs = unsafe { (*b).caps_or_badges };
            for i in 0..(info.extra_caps() as usize).min(MSG_MAX_EXTRA_CAPS) {
                match lookup_slot(sender, cptrs[i]) {
                    Some(s) => extra[i] = Some(s),
                    // A failed lookup drops all caps from the message.
                    None => {
                        extra = [None; MSG_MAX_EXTRA_CAPS];
                        break;
                    }
                }
            }
        }
    }
    // Message registers: the first four always, the rest only when both
    // threads have IPC buffers.
    copy_register_words(sender, receiver, length);
    let mut copied = length.min(FAST_MESSAGE_REGISTERS);
    if length > FAST_MESSAGE_REGISTERS {
        if let (Some(sb), Some(rb)) = (send_buffer, receiver.ipc_buffer_ptr()) {
            // Safety: both are live IPC buffers, each wholly inside its
            // frame, so the words 4..length of both exist; two threads
            // sharing one buffer make it a copy onto itself, which a
            // forward copy leaves as it is.
            unsafe {
                let from = core::ptr::addr_of!((*sb).msg).cast::<u64>().add(FAST_MESSAGE_REGISTERS);
                let to = core::ptr::addr_of_mut!((*rb).msg).cast::<u64>().add(FAST_MESSAGE_REGISTERS);
                crate::arch::x86_64::cpu::copy_words_forward(to, from, length - FAST_MESSAGE_REGISTERS);
            }
            copied = length;
        }
    }
    let (extra_caps, unwrapped) = if extra[0].is_some() { transfer_caps(&extra, ep, receiver) } else { (0, 0) };
    receiver.ctx.regs.rsi = MessageInfo::new(info.label(), unwrapped, extra_caps, copied as u64).0;
    receiver.ctx.regs.rdi = badge;
}

/// seL4's `transferCaps`: returns (extra caps transferred, unwrapped mask).
fn transfer_caps(extra: &[Option<*mut Cte>; MSG_MAX_EXTRA_CAPS], ep: u64, receiver: &mut Tcb) -> (u64, u64) {
    if extra[0].is_none() || receiver.ipc_buffer().is_none() {
        return (0, 0);
    }
    let mut dest = receive_slot(receiver);
    let (mut count, mut unwrapped) = (0u64, 0u64);
    for (i, slot) in extra.iter().enumerate() {
        let Some(slot) = *slot else { break };
        // Safety: looked up in the sender's CSpace just now.
        let cap = unsafe { (*slot).cap };
        let same_endpoint = cap.as_endpoint().filter(|cap| cap.ptr() == ep && ep != 0);
        if let Some(cap) = same_endpoint {
            if let Some(b) = receiver.ipc_buffer() {
                b.caps_or_badges[i] = cap.badge();
            }
            unwrapped |= 1 << i;
        } else {
            let Some(d) = dest else { break };
            // Safety: `slot` is live.
            if cap.is(CapType::Untyped) && unsafe { cte::has_children(slot) } {
                break;
            }
            let Ok(derived) = derive_cap_ignoring_children(cap) else { break };
            if derived.is_null() {
                break;
            }
            // Safety: `d` is an empty live slot distinct from `slot`.
            unsafe { cte::cte_insert(derived, slot, d) };
            dest = None;
        }
        count = i as u64 + 1;
    }
    (count, unwrapped)
}

/// seL4's `doIPCTransfer`.
pub(crate) fn do_ipc_transfer(sender: &mut Tcb, ep: u64, badge: u64, grant: bool, receiver: &mut Tcb) {
    if sender.fault == Fault::None {
        do_normal_transfer(sender, ep, badge, grant, receiver);
    } else {
        do_fault_transfer(badge, sender, receiver);
    }
}

/// seL4's `suspend`.
pub fn suspend(t: &mut Tcb) {
    cancel_ipc(t);
    sched::set_thread_state(t, ThreadState::Inactive);
    sched::dequeue(t);
}

/// seL4's `restart`: a stopped thread becomes runnable again.
pub fn restart(t: &mut Tcb) {
    let stopped = matches!(t.state, ThreadState::Inactive | ThreadState::BlockedOnReply)
        || matches!(t.state, ThreadState::BlockedOnSend { .. } | ThreadState::BlockedOnReceive { .. } | ThreadState::BlockedOnNotification { .. });
    if stopped {
        cancel_ipc(t);
        setup_reply_master(t);
        sched::set_thread_state(t, ThreadState::Restart);
        sched::enqueue(t);
        sched::possible_switch_to(t);
    }
}
