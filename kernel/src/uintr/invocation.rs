//! Invocations of the user-interrupt objects (this kernel's extension;
//! `docs/uintr.md`): a receiver's BindTCB, UnbindTCB and SetNotification,
//! a UITT's RegisterSender and UnregisterSender, and a TCB's BindUITT and
//! UnbindUITT, each decoded (checks only) before it is performed.

use crate::cap::{is_canonical, Cap, ReceiverHolder, UintrReceiverCap, UittCap};
use crate::cspace::cte::{self, Cte};
use crate::kernel_env::KernelEnv;
use crate::object::invocation::{Invocation, InvocationError, SyscallError};
use crate::object::tcb::{extra_cap, tcb_of};
use crate::thread::{tcb_slot, Tcb};
use crate::uintr::format::UittEntry;
use crate::uintr::model::UintrState;
use crate::uintr::objects::{delete_held, receiver_of, uitt_of, Receiver, Uitt, UITT_SIZE};
use crate::uintr::switch;
use sel4_compat::uintr::label;

/// A checked receiver operation, ready to perform.
enum ReceiverOp {
    BindTcb {
        tcb: &'static mut Tcb,
        handler: u64,
        stack_adjust: u64,
    },
    UnbindTcb,
    /// Make the notification cap found in `src` the receiver's wake-up.
    SetNotification {
        ntfn: Cap,
        src: *mut Cte,
    },
}

/// Invocations of a receiver cap.
///
/// # Safety
/// `slot` is the live slot holding `cap` and the invocation's extra caps
/// are live slots found by lookup.
pub unsafe fn invoke_receiver(env: &mut KernelEnv<'_>, cap: UintrReceiverCap, slot: *mut Cte, inv: &Invocation<'_>) -> Result<(), InvocationError> {
    // Safety: the invoked receiver cap names a live receiver; the TCB and
    // slots reached below are other objects.
    let r = unsafe { receiver_of(cap.ptr()) };
    let op = decode_receiver(r, inv)?;
    // Safety: per the caller's contract; `op` was just decoded.
    unsafe { perform_receiver(env, cap, slot, r, op) };
    Ok(())
}

fn decode_receiver(r: &Receiver, inv: &Invocation<'_>) -> Result<ReceiverOp, SyscallError> {
    match inv.label {
        label::UINTR_RECEIVER_BIND_TCB => {
            let Some((_, tcb_cap)) = extra_cap(inv, 0).filter(|_| inv.length >= 2) else {
                user_error!("UintrReceiver BindTCB: Truncated message.");
                return Err(SyscallError::TruncatedMessage);
            };
            let Some(tcb_cap) = tcb_cap.as_thread() else {
                user_error!("UintrReceiver BindTCB: thread cap required.");
                return Err(SyscallError::InvalidCapability { number: 1 });
            };
            let (handler, stack_adjust) = (inv.arg(0), inv.arg(1));
            if !is_canonical(handler) {
                user_error!("UintrReceiver BindTCB: handler address 0x{handler:x} is not canonical.");
                return Err(SyscallError::InvalidArgument { number: 0 });
            }
            if !is_canonical(stack_adjust) {
                user_error!("UintrReceiver BindTCB: stack adjustment 0x{stack_adjust:x} is not canonical.");
                return Err(SyscallError::InvalidArgument { number: 1 });
            }
            let t = tcb_of(tcb_cap);
            if !r.tcb.is_null() || !t.slot_cap(tcb_slot::RECEIVER).is_null() {
                user_error!("UintrReceiver BindTCB: receiver or thread already bound.");
                return Err(SyscallError::IllegalOperation);
            }
            Ok(ReceiverOp::BindTcb { tcb: t, handler, stack_adjust })
        }
        label::UINTR_RECEIVER_UNBIND_TCB => {
            if r.tcb.is_null() {
                user_error!("UintrReceiver UnbindTCB: receiver is not bound.");
                return Err(SyscallError::IllegalOperation);
            }
            Ok(ReceiverOp::UnbindTcb)
        }
        label::UINTR_RECEIVER_SET_NOTIFICATION => {
            let Some((ntfn_slot, ntfn)) = extra_cap(inv, 0) else {
                user_error!("UintrReceiver SetNotification: Truncated message.");
                return Err(SyscallError::TruncatedMessage);
            };
            if !ntfn.as_notification().is_some_and(|ntfn| ntfn.can_send()) {
                user_error!("UintrReceiver SetNotification: notification cap with send rights required.");
                return Err(SyscallError::InvalidCapability { number: 1 });
            }
            Ok(ReceiverOp::SetNotification { ntfn, src: ntfn_slot })
        }
        _ => {
            user_error!("UintrReceiver: Illegal operation.");
            Err(SyscallError::IllegalOperation)
        }
    }
}

/// # Safety
/// `slot` is the live slot holding `cap`, the receiver `r` names, and
/// `op` was just decoded for it.
unsafe fn perform_receiver(env: &mut KernelEnv<'_>, cap: UintrReceiverCap, slot: *mut Cte, r: &mut Receiver, op: ReceiverOp) {
    match op {
        ReceiverOp::BindTcb { tcb: t, handler, stack_adjust } => {
            let held = UintrReceiverCap::zeroed().with_ptr(cap.ptr()).held_by(ReceiverHolder::Tcb(t as *mut Tcb as u64)).cap();
            // Safety: `t` is a reference to a live TCB.
            unsafe { switch::unload(t) };
            // Safety: `slot` holds the invoked cap; decode found the TCB's
            // receiver slot empty.
            unsafe { cte::cte_insert(held, slot, t.slot(tcb_slot::RECEIVER)) };
            r.tcb = t;
            t.uintr = UintrState { handler, stack_adjust, uirr: 0, uif: false };
            switch::attach(t, r);
        }
        // Safety: a bound receiver's thread is live; its receiver slot is a
        // live slot.
        ReceiverOp::UnbindTcb => unsafe { delete_held(env, (*r.tcb).slot(tcb_slot::RECEIVER)) },
        ReceiverOp::SetNotification { ntfn, src } => {
            let wake = &mut r.wake as *mut Cte;
            // Safety: the receiver's own wake slot.
            unsafe { delete_held(env, wake) };
            // Safety: `src` was looked up; `wake` is now empty.
            unsafe { cte::cte_insert(ntfn, src, wake) };
        }
    }
}

/// A checked UITT operation, ready to perform.
enum UittOp {
    /// Fill entry `index` from the receiver cap found in `src`.
    RegisterSender {
        index: usize,
        receiver: UintrReceiverCap,
        vector: u8,
        src: *mut Cte,
    },
    UnregisterSender {
        index: usize,
    },
}

/// Invocations of a UITT cap.
pub fn invoke_uitt(env: &mut KernelEnv<'_>, cap: UittCap, inv: &Invocation<'_>) -> Result<(), InvocationError> {
    // Safety: the invoked UITT cap; the receivers reached below are other
    // objects.
    let table = unsafe { uitt_of(cap) };
    let op = decode_uitt(table, inv)?;
    // Safety: just decoded.
    unsafe { perform_uitt(env, table, op) };
    Ok(())
}

fn decode_uitt(table: &Uitt, inv: &Invocation<'_>) -> Result<UittOp, SyscallError> {
    let index = inv.arg(0);
    match inv.label {
        label::UITT_REGISTER_SENDER => {
            let Some((src, receiver)) = extra_cap(inv, 0).filter(|_| inv.length >= 1) else {
                user_error!("UITT RegisterSender: Truncated message.");
                return Err(SyscallError::TruncatedMessage);
            };
            if index > UITT_SIZE {
                user_error!("UITT RegisterSender: index {index} above {UITT_SIZE}.");
                return Err(SyscallError::RangeError { min: 0, max: UITT_SIZE });
            }
            let Some((receiver, vector)) = receiver.as_uintr_receiver().and_then(|r| Some((r, r.vector()?))) else {
                user_error!("UITT RegisterSender: receiver cap required.");
                return Err(SyscallError::InvalidCapability { number: 1 });
            };
            if !table.slots[index as usize].cap.is_null() {
                user_error!("UITT RegisterSender: entry {index} is in use.");
                return Err(SyscallError::DeleteFirst);
            }
            Ok(UittOp::RegisterSender { index: index as usize, receiver, vector, src })
        }
        label::UITT_UNREGISTER_SENDER => {
            if inv.length < 1 {
                user_error!("UITT UnregisterSender: Truncated message.");
                return Err(SyscallError::TruncatedMessage);
            }
            if index > UITT_SIZE {
                user_error!("UITT UnregisterSender: index {index} above {UITT_SIZE}.");
                return Err(SyscallError::RangeError { min: 0, max: UITT_SIZE });
            }
            Ok(UittOp::UnregisterSender { index: index as usize })
        }
        _ => {
            user_error!("UITT: Illegal operation.");
            Err(SyscallError::IllegalOperation)
        }
    }
}

/// # Safety
/// `op` was just decoded (its slots are live, nothing ran since).
unsafe fn perform_uitt(env: &mut KernelEnv<'_>, table: &mut Uitt, op: UittOp) {
    match op {
        UittOp::RegisterSender { index: i, receiver, vector, src } => {
            let entry = &mut table.entries[i] as *mut UittEntry as u64;
            let held = receiver.held_by(ReceiverHolder::UittEntry(entry)).cap();
            // Safety: `src` was looked up; decode found the UITT slot empty.
            unsafe { cte::cte_insert(held, src, &mut table.slots[i]) };
            // Safety: a receiver cap looked up in the caller's CSpace.
            table.entries[i] = UittEntry::new(vector, unsafe { receiver_of(receiver.ptr()) }.window);
        }
        // Safety: a slot of the live table.
        UittOp::UnregisterSender { index } => unsafe { delete_held(env, &mut table.slots[index]) },
    }
}

/// A checked TCB invocation of the extension, ready to perform.
pub(crate) enum TcbUittOp {
    /// Bind the UITT cap found in `src`.
    Bind {
        uitt: Cap,
        src: *mut Cte,
    },
    Unbind,
}

/// TCB invocations of the extension, checked: give the thread a UITT or
/// take it away.
pub(crate) fn decode_tcb(target: &Tcb, inv: &Invocation<'_>) -> Result<TcbUittOp, SyscallError> {
    let bound = target.slot_cap(tcb_slot::UITT);
    match inv.label {
        label::TCB_BIND_UITT => {
            let Some((src, uitt)) = extra_cap(inv, 0) else {
                user_error!("TCB BindUITT: Truncated message.");
                return Err(SyscallError::TruncatedMessage);
            };
            if uitt.as_uitt().is_none() {
                user_error!("TCB BindUITT: UITT cap required.");
                return Err(SyscallError::InvalidCapability { number: 1 });
            }
            if !bound.is_null() {
                user_error!("TCB BindUITT: TCB already has a UITT.");
                return Err(SyscallError::IllegalOperation);
            }
            Ok(TcbUittOp::Bind { uitt, src })
        }
        label::TCB_UNBIND_UITT => {
            if bound.is_null() {
                user_error!("TCB UnbindUITT: TCB has no UITT.");
                return Err(SyscallError::IllegalOperation);
            }
            Ok(TcbUittOp::Unbind)
        }
        _ => {
            user_error!("TCB: Illegal operation.");
            Err(SyscallError::IllegalOperation)
        }
    }
}

/// Performs a decoded TCB invocation of the extension.
///
/// # Safety
/// `op` was just decoded for `target` (its slot is live, nothing ran
/// since).
pub(crate) unsafe fn perform_tcb(env: &mut KernelEnv<'_>, target: &mut Tcb, op: TcbUittOp) {
    let slot = target.slot(tcb_slot::UITT);
    // Safety: `target` is a reference to a live TCB.
    unsafe { switch::unload(target) };
    match op {
        // Safety: `src` was looked up; decode found the TCB's UITT slot empty.
        TcbUittOp::Bind { uitt, src } => unsafe { cte::cte_insert(uitt, src, slot) },
        // Safety: the TCB's UITT slot.
        TcbUittOp::Unbind => unsafe { delete_held(env, slot) },
    }
}
