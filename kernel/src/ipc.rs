//! Endpoints, notifications, reply caps and faults: seL4's synchronous IPC
//! (send, receive, call, reply), message and capability transfer,
//! notification signalling, and fault delivery to fault handlers.
//!
//! Objects are reached through the kernel pointers in caps; every such
//! pointer names a live object (the kernel's object invariant), which is
//! the `Safety` argument for the dereferences in this module.

use crate::cspace::cte::{self, Cte};
use crate::cspace::lookup::LookupFault;
use crate::list::{List, PackedEnds, PACKED_STATE_MASK};
use crate::object::cap::{Cap, EndpointCap, NotificationCap};
use crate::object::cap_rules::derive_cap_ignoring_children;
use crate::object::cnode::lookup_slot_for_cnode_op;
use crate::object::invocation::FAST_MESSAGE_REGISTERS;
use crate::sched;
use crate::thread::{tcb_slot, Fault, Tcb, ThreadState};
use sel4_compat::caps::CapType;
use sel4_compat::ipc::{MessageInfo, MSG_MAX_EXTRA_CAPS, MSG_MAX_LENGTH};

/// The kind of list an endpoint's or notification's queue is.
struct IpcQueue;
crate::list::linked_through!(Tcb, IpcQueue, ep_links);

/// An endpoint's or notification's queue of TCBs, kept in the object's
/// own words (seL4's layout).
type TcbQueue<'a> = List<Tcb, IpcQueue, PackedEnds<'a, Tcb>>;

/// The queue in an object's `head` and `tail_and_state` words; the object
/// is in `busy_state` while threads are queued.
#[inline(always)]
fn packed_queue<'a>(head: &'a mut u64, tail_and_state: &'a mut u64, busy_state: u64) -> TcbQueue<'a> {
    List::from_ends(PackedEnds::new(head, tail_and_state, busy_state))
}

// ---------------------------------------------------------------- objects

/// Endpoint queue states.
const EP_IDLE: u64 = 0;
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

impl Endpoint {
    fn state(&self) -> u64 {
        self.tail_and_state & PACKED_STATE_MASK
    }

    /// The queue, the endpoint keeping its state while threads remain.
    #[inline(always)]
    fn queue(&mut self) -> TcbQueue<'_> {
        let state = self.state();
        self.queue_as(state)
    }

    /// The queue, the endpoint in `state` while threads are on it.
    #[inline(always)]
    fn queue_as(&mut self, state: u64) -> TcbQueue<'_> {
        packed_queue(&mut self.head, &mut self.tail_and_state, state)
    }
}

/// # Safety
/// `ptr` is the kernel pointer of a live endpoint.
unsafe fn endpoint<'a>(ptr: u64) -> &'a mut Endpoint {
    // Safety: per the caller's contract.
    unsafe { &mut *(ptr as *mut Endpoint) }
}

/// Notification states.
const NTFN_IDLE: u64 = 0;
const NTFN_WAITING: u64 = 1;
const NTFN_ACTIVE: u64 = 2;

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

impl Notification {
    fn state(&self) -> u64 {
        self.tail_and_state & PACKED_STATE_MASK
    }

    /// Sets the state, leaving the queue as it is.
    fn set_state(&mut self, state: u64) {
        self.tail_and_state = (self.tail_and_state & !PACKED_STATE_MASK) | state;
    }

    /// The queue, the notification keeping its state while threads remain.
    #[inline(always)]
    fn queue(&mut self) -> TcbQueue<'_> {
        let state = self.state();
        self.queue_as(state)
    }

    /// The queue, the notification in `state` while threads are on it.
    #[inline(always)]
    fn queue_as(&mut self, state: u64) -> TcbQueue<'_> {
        packed_queue(&mut self.head, &mut self.tail_and_state, state)
    }
}

/// # Safety
/// `ptr` is the kernel pointer of a live notification.
unsafe fn notification<'a>(ptr: u64) -> &'a mut Notification {
    // Safety: per the caller's contract.
    unsafe { &mut *(ptr as *mut Notification) }
}

/// Whether `t` is on the endpoint's queue (for the invariant checks).
pub fn endpoint_queue_contains(ep: u64, t: &Tcb) -> bool {
    // Safety: a thread blocked on an endpoint names a live one, whose
    // queue holds live TCBs.
    unsafe { endpoint(ep).queue().contains(t) }
}

/// Whether `t` is on the notification's queue.
pub fn notification_queue_contains(ntfn: u64, t: &Tcb) -> bool {
    // Safety: as above for notifications.
    unsafe { notification(ntfn).queue().contains(t) }
}

// ---------------------------------------------------------- registers

/// Message registers passed in CPU registers (seL4's `msgRegisters`).
fn get_mr_reg(t: &Tcb, i: usize) -> u64 {
    match i {
        0 => t.ctx.regs.r10,
        1 => t.ctx.regs.r8,
        2 => t.ctx.regs.r9,
        _ => t.ctx.regs.r15,
    }
}

fn set_mr_reg(t: &mut Tcb, i: usize, v: u64) {
    match i {
        0 => t.ctx.regs.r10 = v,
        1 => t.ctx.regs.r8 = v,
        2 => t.ctx.regs.r9 = v,
        _ => t.ctx.regs.r15 = v,
    }
}

/// Copies a message that fits in the message registers (the fastpath's
/// only kind) and gives the receiver its badge and message info, exactly
/// as the slowpath's transfer does for such a message.
#[inline(always)]
pub(crate) fn transfer_register_message(sender: &Tcb, badge: u64, receiver: &mut Tcb) {
    let info = MessageInfo(sender.ctx.regs.rsi);
    let length = info.length() as usize;
    debug_assert!(length <= 4 && info.extra_caps() == 0);
    copy_register_words(sender, receiver, length);
    receiver.ctx.regs.rsi = MessageInfo::new(info.label(), 0, 0, length as u64).0;
    receiver.ctx.regs.rdi = badge;
}

/// Copies the first `length` message registers (at most four are in CPU
/// registers) from `sender` to `receiver`: the registers in order, each
/// copied if the message reaches it, straight-line code rather than a loop
/// over `set_mr_reg`'s match.
#[inline(always)]
fn copy_register_words(sender: &Tcb, receiver: &mut Tcb, length: usize) {
    let (from, to) = (&sender.ctx.regs, &mut receiver.ctx.regs);
    if length > 0 {
        to.r10 = from.r10;
        if length > 1 {
            to.r8 = from.r8;
            if length > 2 {
                to.r9 = from.r9;
                if length > 3 {
                    to.r15 = from.r15;
                }
            }
        }
    }
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

/// Whether `t`'s bound notification has a pending signal (which a receive
/// would take instead of a message).
#[inline(always)]
pub(crate) fn bound_notification_active(t: &Tcb) -> bool {
    // Safety: a bound notification is live while bound.
    t.bound_notification != 0 && unsafe { notification(t.bound_notification) }.state() == NTFN_ACTIVE
}

/// seL4's `setMR`: register or IPC buffer; returns the next index.
pub fn set_mr(t: &mut Tcb, i: usize, v: u64) -> usize {
    if i < 4 {
        set_mr_reg(t, i, v);
    } else if let Some(b) = t.ipc_buffer() {
        b.msg[i] = v;
    }
    i + 1
}

fn get_mr(t: &mut Tcb, i: usize) -> u64 {
    if i < 4 {
        get_mr_reg(t, i)
    } else {
        t.ipc_buffer().map(|b| b.msg[i]).unwrap_or(0)
    }
}

/// `seL4_UserContext` order: rip, rsp, rflags, rax, rbx, rcx, rdx, rsi,
/// rdi, rbp, r8..r15, fs_base, gs_base.
pub const USER_CONTEXT_WORDS: usize = 20;

/// Reads register `i` of `seL4_UserContext`. As in seL4, rip reads as the
/// thread's FaultIP: the instruction it was last stopped at (a syscall
/// it is blocked in, a faulting instruction, or the next instruction after
/// an interrupt).
pub fn read_user_register(t: &Tcb, i: usize) -> u64 {
    let r = &t.ctx.regs;
    match i {
        0 => t.restart_pc,
        1 => r.rsp,
        2 => r.rflags,
        3 => r.rax,
        4 => r.rbx,
        5 => r.rcx,
        6 => r.rdx,
        7 => r.rsi,
        8 => r.rdi,
        9 => r.rbp,
        10 => r.r8,
        11 => r.r9,
        12 => r.r10,
        13 => r.r11,
        14 => r.r12,
        15 => r.r13,
        16 => r.r14,
        17 => r.r15,
        18 => t.fs_base,
        _ => t.gs_base,
    }
}

fn canonical_or_zero(v: u64) -> u64 {
    if crate::object::cap::is_canonical(v) {
        v
    } else {
        0
    }
}

/// Writes register `i` of `seL4_UserContext`, sanitised as seL4 does:
/// instruction pointers and segment bases must be canonical, RFLAGS keeps
/// interrupts on, no trap flag, only the low 12 bits.
pub fn write_user_register(t: &mut Tcb, i: usize, v: u64) {
    let r = &mut t.ctx.regs;
    // The thread must come back with exactly these registers: IRETQ.
    r.error = 0;
    match i {
        0 => {
            let v = canonical_or_zero(v);
            r.rip = v;
            t.restart_pc = v;
        }
        1 => r.rsp = v,
        2 => r.rflags = ((v | 0x2 | 0x200) & !(0x8 | 0x20 | 0x100)) & 0xfff,
        3 => r.rax = v,
        4 => r.rbx = v,
        5 => r.rcx = v,
        6 => r.rdx = v,
        7 => r.rsi = v,
        8 => r.rdi = v,
        9 => r.rbp = v,
        10 => r.r8 = v,
        11 => r.r9 = v,
        12 => r.r10 = v,
        13 => r.r11 = v,
        14 => r.r12 = v,
        15 => r.r13 = v,
        16 => r.r14 = v,
        17 => r.r15 = v,
        18 => t.fs_base = canonical_or_zero(v),
        _ => t.gs_base = canonical_or_zero(v),
    }
}

/// Registers of the unknown-syscall fault message, in libsel4's order
/// (rax..r15 by `seL4_UserContext` index, then FaultIP, SP, FLAGS).
const SYSCALL_MESSAGE: [usize; 18] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 0, 1, 2];
/// Registers of the user-exception fault message: FaultIP, SP, FLAGS.
const EXCEPTION_MESSAGE: [usize; 3] = [0, 1, 2];

// ------------------------------------------------------------ transfer

#[inline(never)]
fn lookup_slot(t: &Tcb, cptr: u64) -> Option<*mut Cte> {
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

/// seL4's `doFaultTransfer`: the fault message, labelled with the fault type.
fn do_fault_transfer(badge: u64, sender: &mut Tcb, receiver: &mut Tcb) {
    let (label, len) = match sender.fault {
        Fault::None => (0, 0),
        Fault::Cap { address, in_receive_phase, lookup } => {
            let pc = sender.restart_pc;
            set_mr(receiver, 0, pc);
            set_mr(receiver, 1, address);
            set_mr(receiver, 2, in_receive_phase as u64);
            let mut i = 3;
            for w in crate::object::invocation::lookup_fault_words(lookup) {
                i = set_mr(receiver, i, w);
            }
            (1, i)
        }
        Fault::UnknownSyscall { number } => {
            for (i, &reg) in SYSCALL_MESSAGE.iter().enumerate() {
                let v = read_user_register(sender, reg);
                set_mr(receiver, i, v);
            }
            set_mr(receiver, SYSCALL_MESSAGE.len(), number);
            (2, SYSCALL_MESSAGE.len() + 1)
        }
        Fault::UserException { number, code } => {
            for (i, &reg) in EXCEPTION_MESSAGE.iter().enumerate() {
                let v = read_user_register(sender, reg);
                set_mr(receiver, i, v);
            }
            set_mr(receiver, 3, number);
            set_mr(receiver, 4, code);
            (3, 5)
        }
        Fault::VmFault { address, fsr, instruction } => {
            let pc = sender.restart_pc;
            set_mr(receiver, 0, pc);
            set_mr(receiver, 1, address);
            set_mr(receiver, 2, instruction as u64);
            set_mr(receiver, 3, fsr);
            (5, 4)
        }
    };
    receiver.ctx.regs.rsi = MessageInfo::new(label, 0, 0, len as u64).0;
    receiver.ctx.regs.rdi = badge;
}

/// seL4's `doIPCTransfer`.
fn do_ipc_transfer(sender: &mut Tcb, ep: u64, badge: u64, grant: bool, receiver: &mut Tcb) {
    if sender.fault == Fault::None {
        do_normal_transfer(sender, ep, badge, grant, receiver);
    } else {
        do_fault_transfer(badge, sender, receiver);
    }
}

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
unsafe fn delete_one_shot_reply_cap(slot: *mut Cte) {
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

// ------------------------------------------------------------ endpoints

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

/// seL4's `handleFaultReply`: a fault handler's reply may rewrite the
/// faulting thread's registers; returns whether the thread restarts.
fn handle_fault_reply(receiver: &mut Tcb, sender: &mut Tcb) -> bool {
    let info = MessageInfo(sender.ctx.regs.rsi);
    let length = (info.length() as usize).min(MSG_MAX_LENGTH);
    let restart = info.label() == 0;
    match receiver.fault {
        Fault::UnknownSyscall { .. } => {
            for (i, &reg) in SYSCALL_MESSAGE.iter().enumerate().take(length) {
                let v = get_mr(sender, i);
                write_user_register(receiver, reg, v);
            }
            restart
        }
        Fault::UserException { .. } => {
            for (i, &reg) in EXCEPTION_MESSAGE.iter().enumerate().take(length) {
                let v = get_mr(sender, i);
                write_user_register(receiver, reg, v);
            }
            restart
        }
        _ => true,
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

// -------------------------------------------------------- notifications

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
fn complete_signal(ntfn_ptr: u64, thread: &mut Tcb) {
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

// --------------------------------------------------------------- faults

/// seL4's `handleFault`: send the fault to the thread's fault endpoint, or,
/// with none usable, report it and stop the thread.
pub fn handle_fault(t: &mut Tcb, fault: Fault) {
    let handler = t.fault_handler;
    let found = lookup_slot(t, handler).map(|s| {
        // Safety: a slot found by lookup is live.
        unsafe { (*s).cap }
    });
    // An endpoint with the send right and grant or grant-reply.
    match found.and_then(|cap| cap.as_endpoint_for_call()) {
        Some(ep) => {
            t.fault = fault;
            send_ipc(true, true, ep.badge(), ep.can_grant(), true, t, ep.ptr());
        }
        _ => {
            kprintln!(
                "caught {} from thread \"{}\" at {:#x}, but its fault handler (cap {:#x}) is not a usable endpoint; the thread is now inactive",
                describe(&fault),
                t.name(),
                t.restart_pc,
                handler
            );
            sched::set_thread_state(t, ThreadState::Inactive);
        }
    }
}

struct Describe<'a>(&'a Fault);

impl core::fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self.0 {
            Fault::None => write!(f, "no fault"),
            Fault::Cap { address, in_receive_phase, .. } => {
                write!(f, "cap fault in {} phase at address {:#x}", if in_receive_phase { "receive" } else { "send" }, address)
            }
            Fault::UnknownSyscall { number } => write!(f, "unknown syscall {}", number as i64),
            Fault::UserException { number, code } => write!(f, "user exception {number} code {code:#x}"),
            Fault::VmFault { address, fsr, instruction } => {
                write!(f, "vm fault on {} at address {address:#x} with status {fsr:#x}", if instruction { "code" } else { "data" })
            }
        }
    }
}

fn describe(fault: &Fault) -> Describe<'_> {
    Describe(fault)
}

/// A cap fault for `cptr` with the lookup failure `lookup`.
pub fn cap_fault(cptr: u64, in_receive_phase: bool, lookup: LookupFault) -> Fault {
    Fault::Cap { address: cptr, in_receive_phase, lookup }
}
