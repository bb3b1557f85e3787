//! Faults: delivering a thread's fault to its fault handler as an IPC
//! message, and applying the handler's reply.

use crate::cspace::lookup::LookupFault;
use crate::ipc::lookup_slot;
use crate::object::endpoint::send_ipc;
use crate::registers::{get_mr, read_user_register, set_mr, write_user_register};
use crate::sched;
use crate::thread::{Fault, Tcb, ThreadState};
use sel4_compat::ipc::{MessageInfo, MSG_MAX_LENGTH};

/// Registers of the unknown-syscall fault message, in libsel4's order
/// (rax..r15 by `seL4_UserContext` index, then FaultIP, SP, FLAGS).
const SYSCALL_MESSAGE: [usize; 18] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 0, 1, 2];

/// Registers of the user-exception fault message: FaultIP, SP, FLAGS.
const EXCEPTION_MESSAGE: [usize; 3] = [0, 1, 2];

/// seL4's `doFaultTransfer`: the fault message, labelled with the fault type.
pub(crate) fn do_fault_transfer(badge: u64, sender: &mut Tcb, receiver: &mut Tcb) {
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

/// seL4's `handleFaultReply`: a fault handler's reply may rewrite the
/// faulting thread's registers; returns whether the thread restarts.
pub(crate) fn handle_fault_reply(receiver: &mut Tcb, sender: &mut Tcb) -> bool {
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
