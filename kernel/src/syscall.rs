//! The syscall entry: decode the number in `rdx` and dispatch, as seL4's
//! `handleSyscall` does. Object invocations (Call, Send, NBSend) go through
//! `handle_invocation`; Recv, Reply and friends through the IPC code.

use crate::cap::{Cap, CapView};
use crate::cspace::cte::Cte;
use crate::cspace::lookup::{lookup_slot_fast, resolve_address_bits, LookupFault, SlotMemory};
use crate::debug;
use crate::fastpath;
use crate::kernel_env::KernelEnv;
use crate::kernel_state::{kernel_entry, Kernel};
use crate::object::invocation::{Invocation, InvocationError, SyscallError, FAST_MESSAGE_REGISTERS};
use crate::object::{cnode, domain, io_port, irq, tcb as tcb_invocation, untyped, vspace};
use crate::sched;
use crate::thread::{tcb_slot, Fault, Tcb, ThreadState};
use arrayvec::ArrayVec;
use sel4_compat::caps::CapType;
use sel4_compat::ipc::{MessageInfo, MSG_MAX_LENGTH};
use sel4_compat::syscalls::Syscall;

/// Length of the SYSCALL instruction.
const SYSCALL_INSTRUCTION_LENGTH: u64 = 2;

/// Called by the SYSCALL stub with the caller's registers saved in its
/// TCB, for every syscall but Call and ReplyRecv. Never returns: it ends
/// by resuming a thread or idling.
#[no_mangle]
extern "C" fn handle_syscall() -> ! {
    // Safety: the one call of this kernel entry, with interrupts off.
    let k = unsafe { kernel_entry() };
    // Safety: a syscall comes from the current thread, whose TCB nothing
    // else refers to during the entry.
    let tcb = unsafe { sched::current() };
    enter_syscall(tcb);
    dispatch_syscall(k, tcb);
    sched::schedule_and_return()
}

/// The SYSCALL stub's entry for Call (it compares the number itself, as
/// seL4's entry does, so the fastpath starts without the dispatch).
#[no_mangle]
extern "C" fn handle_call_syscall() -> ! {
    // Safety: as in `handle_syscall`.
    let k = unsafe { kernel_entry() };
    // Safety: as in `handle_syscall`.
    let tcb = unsafe { sched::current() };
    enter_syscall(tcb);
    fastpath::try_call(tcb);
    dispatch_syscall(k, tcb);
    sched::schedule_and_return()
}

/// The SYSCALL stub's entry for ReplyRecv.
#[no_mangle]
extern "C" fn handle_reply_recv_syscall() -> ! {
    // Safety: as in `handle_syscall`.
    let k = unsafe { kernel_entry() };
    // Safety: as in `handle_syscall`.
    let tcb = unsafe { sched::current() };
    enter_syscall(tcb);
    fastpath::try_reply_recv(tcb);
    dispatch_syscall(k, tcb);
    sched::schedule_and_return()
}

/// What every syscall entry records first.
#[inline(always)]
fn enter_syscall(tcb: &mut Tcb) {
    // seL4's FaultIP: where a restarted syscall re-executes.
    tcb.restart_pc = tcb.ctx.regs.rip - SYSCALL_INSTRUCTION_LENGTH;
    crate::invariants::count_syscall();
}

/// seL4's `handleSyscall` after the fastpath: the syscall in `rdx`.
#[inline(never)]
fn dispatch_syscall(k: &mut Kernel, tcb: &mut Tcb) {
    let number = tcb.ctx.regs.rdx;
    match Syscall::from_word(number) {
        Some(Syscall::Call) => handle_invocation(k, tcb, true, true),
        Some(Syscall::Send) => handle_invocation(k, tcb, false, true),
        Some(Syscall::NBSend) => handle_invocation(k, tcb, false, false),
        Some(Syscall::Recv) => handle_recv(tcb, true),
        Some(Syscall::NBRecv) => handle_recv(tcb, false),
        Some(Syscall::Reply) => handle_reply(tcb),
        Some(Syscall::ReplyRecv) => {
            handle_reply(tcb);
            handle_recv(tcb, true);
        }
        Some(Syscall::Yield) => {
            sched::dequeue(tcb);
            sched::append(tcb);
            sched::reschedule_required();
        }
        Some(Syscall::DebugPutChar) => debug::put_char(tcb.ctx.regs.rdi as u8),
        Some(Syscall::DebugHalt) => debug::halt(tcb),
        Some(Syscall::DebugSnapshot) => debug::snapshot(tcb),
        Some(Syscall::DebugCapIdentify) => tcb.ctx.regs.rdi = debug::cap_identify(tcb, tcb.ctx.regs.rdi),
        Some(Syscall::DebugNameThread) => debug::name_thread(tcb, tcb.ctx.regs.rdi),
        Some(Syscall::DebugDumpScheduler) => debug::dump_scheduler(),
        Some(Syscall::SetTLSBase) => set_tls_base(tcb),
        None => crate::fault::handle_fault(tcb, Fault::UnknownSyscall { number }),
    }
}

/// The SetTLSBase syscall (seL4's `Arch_setTLSRegister`): every return to
/// user mode writes the base to IA32_FS_BASE, where a non-canonical value
/// is a #GP in the kernel, so such a value is refused as seL4 refuses it:
/// nothing changes and the thread simply continues.
fn set_tls_base(tcb: &mut Tcb) {
    let base = tcb.ctx.regs.rdi;
    if crate::cap::is_canonical(base) {
        tcb.fs_base = base;
    }
}

/// seL4's `lookupCapAndSlot` at full depth from the thread's CSpace root:
/// the fast walk, and the full one only for a failure's details. Inlined:
/// every syscall but the fastpath's makes one, and as a call it would
/// save and restore the registers its walk uses and return the result
/// through memory.
#[inline(always)]
pub(crate) fn lookup(tcb: &Tcb, cptr: u64) -> Result<*mut Cte, LookupFault> {
    let root = tcb.cspace_root();
    match lookup_slot_fast(&SlotMemory, root, cptr) {
        Some(slot) => Ok(slot as *mut Cte),
        None => lookup_failure(root, cptr),
    }
}

/// Why a lookup that the fast walk refused fails.
#[cold]
fn lookup_failure(root: crate::cap::Cap, cptr: u64) -> Result<*mut Cte, LookupFault> {
    let result = resolve_address_bits(&SlotMemory, root, cptr, 64).map(|r| r.slot as *mut Cte);
    debug_assert!(result.is_err(), "the fast lookup fails exactly where the full one does");
    result
}

/// seL4's `replyFromKernel_error`.
fn reply_error(tcb: &mut Tcb, error: &SyscallError) {
    let words = error.message();
    let has_buffer = tcb.ipc_buffer().is_some();
    let len = if has_buffer { words.len() } else { words.len().min(FAST_MESSAGE_REGISTERS) };
    for (i, &w) in words.iter().take(len).enumerate() {
        crate::registers::set_mr(tcb, i, w);
    }
    tcb.ctx.regs.rdi = 0;
    tcb.ctx.regs.rsi = MessageInfo::new(error.code() as u64, 0, 0, len as u64).0;
}

/// seL4's `handleInvocation`: look up the invoked cap and the extra caps,
/// decode and perform, and answer a Call.
fn handle_invocation(k: &mut Kernel, tcb: &mut Tcb, is_call: bool, is_blocking: bool) {
    let info = MessageInfo(tcb.ctx.regs.rsi);
    let cptr = tcb.ctx.regs.rdi;
    let slot = match lookup(tcb, cptr) {
        Ok(s) => s,
        Err(fault) => {
            user_error!("Invocation of invalid cap #{cptr}.");
            if is_blocking {
                crate::fault::handle_fault(tcb, crate::fault::cap_fault(cptr, false, fault));
            }
            return;
        }
    };
    // Safety: a slot found by lookup is live.
    let cap = unsafe { (*slot).cap };

    let buffer = tcb.ipc_buffer_ptr();
    let mut extra_caps = ArrayVec::new();
    if let (Some(buffer), true) = (buffer, info.extra_caps() != 0) {
        // Safety: the thread's live IPC buffer; only read.
        let cptrs = unsafe { (*buffer).caps_or_badges };
        for &extra in cptrs.iter().take(info.extra_caps() as usize) {
            match lookup(tcb, extra) {
                Ok(s) => extra_caps.push(s),
                Err(fault) => {
                    user_error!("Lookup of extra caps failed.");
                    if is_blocking {
                        crate::fault::handle_fault(tcb, crate::fault::cap_fault(extra, false, fault));
                    }
                    return;
                }
            }
        }
    }
    let mut length = (info.length() as usize).min(MSG_MAX_LENGTH);
    if buffer.is_none() && length > FAST_MESSAGE_REGISTERS {
        user_error!("Warning: No IPC buffer for thread. Truncating message length to: {FAST_MESSAGE_REGISTERS}.");
        length = FAST_MESSAGE_REGISTERS;
    }

    // As in seL4 the caller is in Restart while its invocation runs: a
    // preempted operation re-executes, one that blocked or replied itself
    // has changed the state, and one that finished gets the empty reply.
    sched::set_thread_state(tcb, ThreadState::Restart);
    let result = match cap.cap_type() {
        // IPC objects take their message from the registers and buffer
        // themselves (the transfer copies it), so they need no snapshot
        // of the arguments.
        Some(CapType::Endpoint | CapType::Notification | CapType::Reply) => invoke_ipc_object(tcb, slot, cap, is_call, is_blocking),
        _ => {
            // Safety: the thread's live IPC buffer, copied before the
            // invocation can write replies into it.
            let buffer_words: Option<[u64; MSG_MAX_LENGTH]> = buffer.map(|b| unsafe { (*b).msg });
            let regs = [tcb.ctx.regs.r10, tcb.ctx.regs.r8, tcb.ctx.regs.r9, tcb.ctx.regs.r15];
            let inv = Invocation { label: info.label(), length, regs, buffer: buffer_words.as_ref(), extra_caps };
            invoke(k, tcb, slot, cap, &inv, is_call)
        }
    };
    match result {
        Ok(()) => {
            if tcb.state == ThreadState::Restart {
                if is_call {
                    tcb.ctx.regs.rdi = 0;
                    tcb.ctx.regs.rsi = MessageInfo::new(0, 0, 0, 0).0;
                }
                sched::set_thread_state(tcb, ThreadState::Running);
            }
        }
        Err(InvocationError::Syscall(error)) => {
            // Decode refused before changing anything.
            sched::set_thread_state(tcb, ThreadState::Running);
            if is_call {
                reply_error(tcb, &error);
            }
        }
        Err(InvocationError::Preempted) => {}
    }
}

/// `decodeInvocation` for the IPC objects: an endpoint (send or call), a
/// notification (signal) or a reply cap (reply).
fn invoke_ipc_object(tcb: &mut Tcb, slot: *mut Cte, cap: Cap, is_call: bool, is_blocking: bool) -> Result<(), InvocationError> {
    if let Some(ep) = cap.as_endpoint() {
        if !ep.can_send() {
            user_error!("Attempted to invoke a read-only endpoint cap #{}.", tcb.ctx.regs.rdi);
            return Err(SyscallError::InvalidCapability { number: 0 }.into());
        }
        let (grant, grant_reply) = (ep.can_grant(), ep.can_grant_reply());
        crate::object::endpoint::send_ipc(is_blocking, is_call, ep.badge(), grant, grant_reply, tcb, ep.ptr());
        Ok(())
    } else if let Some(ntfn) = cap.as_notification() {
        if !ntfn.can_send() {
            user_error!("Attempted to invoke a read-only notification cap #{}.", tcb.ctx.regs.rdi);
            return Err(SyscallError::InvalidCapability { number: 0 }.into());
        }
        crate::object::notification::send_signal(ntfn.ptr(), ntfn.badge());
        Ok(())
    } else if let Some(reply) = cap.as_reply() {
        if reply.master() {
            user_error!("Attempted to invoke an invalid reply cap #{}.", tcb.ctx.regs.rdi);
            return Err(SyscallError::InvalidCapability { number: 0 }.into());
        }
        // Safety: a reply cap names a live TCB blocked on it.
        let receiver = unsafe { &mut *(reply.tcb() as *mut Tcb) };
        // Safety: `slot` holds the reply cap naming `receiver`.
        unsafe { crate::object::reply::do_reply_transfer(tcb, receiver, slot, reply.can_grant()) };
        Ok(())
    } else {
        unreachable!("invoke_ipc_object is given an endpoint, notification or reply cap")
    }
}

/// seL4's `decodeInvocation` for every other cap: dispatch on its type.
fn invoke(k: &mut Kernel, tcb: &mut Tcb, slot: *mut Cte, cap: Cap, inv: &Invocation<'_>, is_call: bool) -> Result<(), InvocationError> {
    let mut env = KernelEnv { global: &mut k.global };
    match cap.view() {
        CapView::Invalid | CapView::Null(_) => {
            user_error!("Attempted to invoke a null cap #{}.", tcb.ctx.regs.rdi);
            Err(SyscallError::InvalidCapability { number: 0 }.into())
        }
        CapView::Zombie(_) => {
            user_error!("Attempted to invoke a zombie cap #{}.", tcb.ctx.regs.rdi);
            Err(SyscallError::InvalidCapability { number: 0 }.into())
        }
        // Safety: `slot` holds `cap`; the extra caps were found by lookup.
        CapView::Thread(thread) => unsafe { tcb_invocation::invoke(&mut env, tcb, thread, slot, inv, is_call) },
        // Safety: the extra caps and the caller slot are live slots found
        // by lookup or belonging to the current TCB.
        CapView::CNode(cnode) => unsafe { cnode::invoke(cnode, inv, tcb.slot(tcb_slot::CALLER), &mut env) },
        // Safety: `slot` holds `cap`; as above for the extra caps.
        CapView::Untyped(ut) => unsafe { untyped::invoke(slot, ut, inv, &mut env) },
        CapView::Domain(_) => domain::invoke(inv),
        // Safety: `slot` holds `cap`; as above for the extra caps.
        CapView::IoPortControl(_) => unsafe { io_port::invoke_control(&mut env.global.io_ports, tcb, slot, inv) },
        CapView::IoPort(ports) => io_port::invoke_port(tcb, ports, inv, is_call),
        // Safety: as above.
        CapView::Frame(frame) => unsafe { vspace::invoke_frame(&env.global.asids, tcb, slot, frame, inv, is_call) },
        // Safety: as above.
        CapView::PageTable(table) => unsafe { vspace::invoke_table(&env.global.asids, slot, table.into(), inv) },
        // Safety: as above.
        CapView::PageDirectory(table) => unsafe { vspace::invoke_table(&env.global.asids, slot, table.into(), inv) },
        // Safety: as above.
        CapView::Pdpt(table) => unsafe { vspace::invoke_table(&env.global.asids, slot, table.into(), inv) },
        CapView::AsidControl(_) => vspace::invoke_asid_control(&mut env.global.asids, inv),
        CapView::AsidPool(pool) => vspace::invoke_asid_pool(&env.global.asids, pool, inv),
        // Safety: as above.
        CapView::IrqControl(_) => unsafe { irq::invoke_control(&mut env.global.irqs, slot, inv) },
        CapView::IrqHandler(handler) => irq::invoke_handler(&mut env, handler, inv),
        // Safety: as above.
        CapView::UintrReceiver(receiver) => unsafe { crate::uintr::invocation::invoke_receiver(&mut env, receiver, slot, inv) },
        CapView::Uitt(uitt) => crate::uintr::invocation::invoke_uitt(&mut env, uitt, inv),
        _ => {
            if let Some(other) = cap.cap_type() {
                user_error!("{other:?} cap: Illegal operation {}.", inv.label);
            }
            Err(SyscallError::IllegalOperation.into())
        }
    }
}

/// seL4's `handleRecv`.
fn handle_recv(tcb: &mut Tcb, is_blocking: bool) {
    let cptr = tcb.ctx.regs.rdi;
    let cap = match lookup(tcb, cptr) {
        // Safety: a slot found by lookup is live.
        Ok(slot) => unsafe { (*slot).cap },
        Err(fault) => {
            crate::fault::handle_fault(tcb, crate::fault::cap_fault(cptr, true, fault));
            return;
        }
    };
    let missing = || crate::fault::cap_fault(cptr, true, LookupFault::MissingCapability { bits_left: 0 });
    match cap.view() {
        CapView::Endpoint(ep) if ep.can_receive() => {
            crate::object::reply::delete_caller_cap(tcb);
            crate::object::endpoint::receive_ipc(tcb, ep, is_blocking);
        }
        CapView::Notification(ntfn) if ntfn.can_receive() => {
            // A notification bound to another thread cannot be waited on.
            let bound = crate::object::notification::notification_bound_tcb(ntfn.ptr());
            if bound != 0 && bound != tcb as *mut Tcb as u64 {
                crate::fault::handle_fault(tcb, missing());
            } else {
                crate::object::notification::receive_signal(tcb, ntfn, is_blocking);
            }
        }
        _ => crate::fault::handle_fault(tcb, missing()),
    }
}

/// seL4's `handleReply`: answer the caller whose reply cap is in the
/// current thread's caller slot (nothing happens without one).
fn handle_reply(tcb: &mut Tcb) {
    let slot = tcb.slot(tcb_slot::CALLER);
    // Safety: the caller slot of a live TCB.
    if let Some(reply) = unsafe { (*slot).cap }.as_one_shot_reply() {
        // Safety: a reply cap names a live TCB blocked on it.
        let receiver = unsafe { &mut *(reply.tcb() as *mut Tcb) };
        // Safety: the caller slot holds the reply cap naming `receiver`.
        unsafe { crate::object::reply::do_reply_transfer(tcb, receiver, slot, reply.can_grant()) };
    }
}
