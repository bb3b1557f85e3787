//! The syscall entry: decode the number in `rdx` and dispatch; object
//! invocations (Call, Send, NBSend on kernel objects) go through
//! `handle_invocation`, which replies to a Call with seL4's message.

use crate::cspace::cte::Cte;
use crate::cspace::lookup::{resolve_address_bits, SlotMemory};
use crate::debug;
use crate::kernel_env::KernelEnv;
use crate::object::cap::Cap;
use crate::object::invocation::{Invocation, InvocationError, SyscallError, FAST_MESSAGE_REGISTERS};
use crate::object::{cnode, untyped};
use crate::thread::{self, tcb_slot, ThreadState, Tcb};
use arrayvec::ArrayVec;
use sel4_compat::caps::CapType;
use sel4_compat::ipc::{MessageInfo, MSG_MAX_LENGTH};
use sel4_compat::syscalls::Syscall;

/// Length of the SYSCALL instruction, to re-execute a preempted call.
const SYSCALL_INSTRUCTION_LENGTH: u64 = 2;

/// Called by the SYSCALL stub with the caller's registers saved in its
/// TCB. Never returns: it ends by resuming a thread or idling.
#[no_mangle]
extern "C" fn handle_syscall() -> ! {
    let tcb = thread::current();
    let number = tcb.ctx.regs.rdx;
    match Syscall::from_word(number) {
        Some(Syscall::Call) => handle_invocation(tcb, true, true),
        Some(Syscall::Send) => handle_invocation(tcb, false, true),
        Some(Syscall::NBSend) => handle_invocation(tcb, false, false),
        Some(Syscall::DebugPutChar) => debug::put_char(tcb.ctx.regs.rdi as u8),
        Some(Syscall::DebugHalt) => debug::halt(),
        Some(Syscall::DebugSnapshot) => debug::snapshot(),
        Some(Syscall::DebugCapIdentify) => tcb.ctx.regs.rdi = debug::cap_identify(tcb, tcb.ctx.regs.rdi),
        Some(Syscall::DebugNameThread) => debug::name_thread(tcb, tcb.ctx.regs.rdi),
        Some(Syscall::DebugDumpScheduler) => debug::dump_scheduler(),
        Some(Syscall::SetTLSBase) => tcb.fs_base = tcb.ctx.regs.rdi,
        // With a single runnable thread there is nobody to yield to.
        Some(Syscall::Yield) => {}
        Some(other) => {
            kprintln!(
                "syscall {:?} ({}) from \"{}\" is not implemented by this kernel yet",
                other,
                number as i64,
                tcb.name()
            );
            tcb.state = ThreadState::Inactive;
        }
        None => thread::handle_unknown_syscall(number),
    }
    thread::schedule_and_return()
}

/// seL4's `lookupSlot` at full depth from the thread's CSpace root.
fn lookup_slot(tcb: &Tcb, cptr: u64) -> Option<*mut Cte> {
    resolve_address_bits(&SlotMemory, tcb.cspace_root(), cptr, 64).ok().map(|r| r.slot as *mut Cte)
}

/// Message register `i` of a reply: the first four in registers.
fn set_mr(tcb: &mut Tcb, i: usize, value: u64) {
    match i {
        0 => tcb.ctx.regs.r10 = value,
        1 => tcb.ctx.regs.r8 = value,
        2 => tcb.ctx.regs.r9 = value,
        3 => tcb.ctx.regs.r15 = value,
        _ => {
            if let Some(buffer) = tcb.ipc_buffer() {
                buffer.msg[i] = value;
            }
        }
    }
}

/// seL4's `replyFromKernel_error`.
fn reply_error(tcb: &mut Tcb, error: &SyscallError) {
    let words = error.message();
    // Without an IPC buffer only the register part of the message arrives.
    let has_buffer = tcb.ipc_buffer().is_some();
    let len = if has_buffer { words.len() } else { words.len().min(FAST_MESSAGE_REGISTERS) };
    for (i, &w) in words.iter().take(len).enumerate() {
        set_mr(tcb, i, w);
    }
    tcb.ctx.regs.rdi = 0;
    tcb.ctx.regs.rsi = MessageInfo::new(error.code() as u64, 0, 0, len as u64).0;
}

/// seL4's `replyFromKernel_success_empty`.
fn reply_success(tcb: &mut Tcb) {
    tcb.ctx.regs.rdi = 0;
    tcb.ctx.regs.rsi = MessageInfo::new(0, 0, 0, 0).0;
}

/// seL4's `handleInvocation`: look up the invoked cap and the extra caps,
/// decode and perform, and answer a Call.
fn handle_invocation(tcb: &mut Tcb, is_call: bool, is_blocking: bool) {
    let info = MessageInfo(tcb.ctx.regs.rsi);
    let cptr = tcb.ctx.regs.rdi;
    let Some(slot) = lookup_slot(tcb, cptr) else {
        if is_blocking {
            thread::handle_cap_fault(cptr);
        }
        return;
    };
    // Safety: a slot found by lookup is live.
    let cap = unsafe { (*slot).cap };

    let buffer_words: Option<[u64; MSG_MAX_LENGTH]> = tcb.ipc_buffer().map(|b| b.msg);
    let mut extra_caps = ArrayVec::new();
    if let Some(buffer) = tcb.ipc_buffer() {
        let cptrs = buffer.caps_or_badges;
        for &extra in cptrs.iter().take(info.extra_caps() as usize) {
            match lookup_slot(tcb, extra) {
                Some(s) => extra_caps.push(s),
                None => {
                    if is_blocking {
                        thread::handle_cap_fault(extra);
                    }
                    return;
                }
            }
        }
    }
    let mut length = (info.length() as usize).min(MSG_MAX_LENGTH);
    if buffer_words.is_none() {
        length = length.min(FAST_MESSAGE_REGISTERS);
    }
    let regs = [tcb.ctx.regs.r10, tcb.ctx.regs.r8, tcb.ctx.regs.r9, tcb.ctx.regs.r15];
    let inv = Invocation { label: info.label(), length, regs, buffer: buffer_words.as_ref(), extra_caps };

    match invoke(tcb, slot, cap, &inv) {
        Ok(()) => {
            if is_call {
                reply_success(tcb);
            }
        }
        Err(InvocationError::Syscall(error)) => {
            if is_call {
                reply_error(tcb, &error);
            }
        }
        Err(InvocationError::Preempted) => {
            // Run the same syscall again once the interrupt is handled;
            // the operation's progress is kept in the objects.
            tcb.ctx.regs.rip -= SYSCALL_INSTRUCTION_LENGTH;
        }
    }
}

/// seL4's `decodeInvocation`: dispatch on the invoked cap's type.
fn invoke(tcb: &mut Tcb, slot: *mut Cte, cap: Cap, inv: &Invocation<'_>) -> Result<(), InvocationError> {
    let mut env = KernelEnv;
    match cap.cap_type() {
        None | Some(CapType::Null | CapType::Zombie) => Err(SyscallError::InvalidCapability { number: 0 }.into()),
        // Safety: the extra caps and the caller slot are live slots found
        // by lookup or belonging to the current TCB.
        Some(CapType::CNode) => unsafe { cnode::invoke(cap, inv, tcb.slot(tcb_slot::CALLER), &mut env) },
        // Safety: `slot` holds `cap`; as above for the extra caps.
        Some(CapType::Untyped) => unsafe { untyped::invoke(slot, cap, inv, &mut env) },
        Some(CapType::Endpoint) if !cap.ep_can_send() => Err(SyscallError::InvalidCapability { number: 0 }.into()),
        Some(CapType::Notification) if !cap.ntfn_can_send() => Err(SyscallError::InvalidCapability { number: 0 }.into()),
        Some(other) => {
            kprintln!(
                "invocation {} of a {:?} cap by \"{}\": not implemented by this kernel yet",
                inv.label,
                other,
                tcb.name()
            );
            Err(SyscallError::IllegalOperation.into())
        }
    }
}
