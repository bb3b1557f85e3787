//! TCB invocations: registers, configuration, priorities, suspend and
//! resume, notification binding, the TLS base and the feature flags,
//! decoded with seL4's checks and error codes.

use super::cap::{Cap, ThreadCap};
use super::cap_rules::{derive_cap_ignoring_children, same_object_as, update_cap_data, NotDerivable};
use super::invocation::{Invocation, InvocationError, SyscallError, FAST_MESSAGE_REGISTERS};
use crate::cspace::cte::{self, Cte};
use crate::cspace::delete;
use crate::ipc;
use crate::kernel_env::KernelEnv;
use crate::registers::USER_CONTEXT_WORDS;
use crate::sched;
use crate::thread::{tcb_slot, Tcb, ThreadState};
use sel4_compat::caps::CapType;
use sel4_compat::invocation as label;
use sel4_compat::ipc::MessageInfo;
use sel4_compat::objects::tcb_flag;

/// `seL4_IPCBufferSizeBits`: the buffer address must be this aligned.
const IPC_BUFFER_ALIGN: u64 = 1 << sel4_compat::objects::IPC_BUFFER_SIZE_BITS;
/// The first frame registers copied by CopyRegisters' frame transfer
/// (rip .. r15); the rest (fs_base, gs_base) are the integer transfer.
const FRAME_REGISTERS: usize = 18;
/// The register SetTLSBase writes (seL4's `TLS_BASE`, fs_base here), in
/// the `seL4_UserContext` numbering of `crate::registers::read_user_register`.
const TLS_BASE: usize = 18;

/// ReadRegisters' flag bit: suspend the target first (seL4's
/// `ReadRegisters_suspend`).
const READ_REGISTERS_SUSPEND: u64 = 1 << 0;
/// WriteRegisters' flag bit: restart the target after (seL4's
/// `WriteRegisters_resume`).
const WRITE_REGISTERS_RESUME: u64 = 1 << 0;
/// CopyRegisters' flag bits (seL4's `CopyRegistersFlags`).
const COPY_SUSPEND_SOURCE: u64 = 1 << 0;
const COPY_RESUME_TARGET: u64 = 1 << 1;
const COPY_TRANSFER_FRAME: u64 = 1 << 2;
const COPY_TRANSFER_INTEGER: u64 = 1 << 3;

pub(crate) fn tcb_of<'a>(cap: ThreadCap) -> &'a mut Tcb {
    // Safety: a thread cap points at a live TCB.
    unsafe { &mut *(cap.tcb() as *mut Tcb) }
}

pub(crate) fn extra_cap(inv: &Invocation<'_>, i: usize) -> Option<(*mut Cte, Cap)> {
    // Safety: extra cap slots were looked up in the caller's CSpace.
    inv.extra_cap(i).map(|s| (s, unsafe { (*s).cap }))
}

/// seL4's `checkPrio`.
fn check_prio(prio: u64, auth: &Tcb) -> Result<(), SyscallError> {
    if prio > auth.mcp as u64 {
        Err(SyscallError::RangeError { min: 0, max: auth.mcp as u64 })
    } else {
        Ok(())
    }
}

fn auth_tcb<'a>(inv: &Invocation<'_>) -> Result<&'a Tcb, SyscallError> {
    match extra_cap(inv, 0) {
        Some((_, c)) => match c.as_thread() {
            Some(thread) => Ok(tcb_of(thread)),
            None => Err(SyscallError::InvalidCapability { number: 1 }),
        },
        None => Err(SyscallError::TruncatedMessage),
    }
}

/// seL4's `checkValidIPCBuffer`.
fn check_ipc_buffer(addr: u64, cap: &Cap) -> Result<(), SyscallError> {
    let Some(frame) = cap.as_frame() else {
        user_error!("IPC Buffer is an invalid cap.");
        return Err(SyscallError::IllegalOperation);
    };
    if frame.is_device() {
        user_error!("Specifying a device frame as an IPC buffer is not permitted.");
        return Err(SyscallError::IllegalOperation);
    }
    if !addr.is_multiple_of(IPC_BUFFER_ALIGN) {
        user_error!("IPC Buffer vaddr 0x{:x} is not aligned.", addr as u32);
        return Err(SyscallError::AlignmentError);
    }
    Ok(())
}

/// seL4's `deriveCap` for a slot (untyped caps with children refuse).
fn derive(slot: *mut Cte, cap: Cap) -> Result<Cap, SyscallError> {
    // Safety: `slot` is a live slot found by lookup.
    if cap.is(CapType::Untyped) && unsafe { cte::has_children(slot) } {
        return Err(SyscallError::RevokeFirst);
    }
    derive_cap_ignoring_children(cap).map_err(|NotDerivable| SyscallError::IllegalOperation)
}

/// seL4's `slotCapLongRunningDelete`.
fn long_running_delete(slot: *mut Cte) -> bool {
    // Safety: a slot of a live TCB.
    let cap = unsafe { (*slot).cap };
    // Safety: as above.
    !cap.is_null() && unsafe { cte::is_final_capability(slot) } && matches!(cap.cap_type(), Some(CapType::Thread | CapType::Zombie | CapType::CNode))
}

fn is_valid_vtable_root(cap: &Cap) -> bool {
    cap.as_mapped_pml4().is_some()
}

/// Installs `new_cap` (derived from the cap in `src`) into the TCB slot
/// `index`, replacing what was there (seL4's ThreadControl cap update):
/// only if `src` still holds the same object and the TCB still exists.
fn replace_tcb_cap(
    env: &mut KernelEnv<'_>,
    tcb_cap: &Cap,
    tcb_cap_slot: *mut Cte,
    target: &mut Tcb,
    index: u64,
    new_cap: Cap,
    src: *mut Cte,
) -> Result<(), InvocationError> {
    let slot = target.slot(index);
    // Safety: the TCB's own slot.
    unsafe { delete::cte_delete(slot, true, env) }?;
    // Safety: `src` and `tcb_cap_slot` are live slots found by lookup.
    let still_there = unsafe { same_object_as(&new_cap, &(*src).cap) && same_object_as(tcb_cap, &(*tcb_cap_slot).cap) };
    // Safety: `slot` was just emptied.
    if still_there && unsafe { (*slot).cap.is_null() } {
        // Safety: distinct live slots, `slot` empty.
        unsafe { cte::cte_insert(new_cap, src, slot) };
    }
    Ok(())
}

fn set_priority(t: &mut Tcb, prio: u8) {
    sched::dequeue(t);
    t.priority = prio;
    if t.state.is_runnable() {
        if sched::is_current(t) {
            sched::reschedule_required();
        } else {
            sched::possible_switch_to(t);
        }
    }
}

/// A checked TCB operation, ready to perform.
enum TcbOp<'a> {
    ReadRegisters { suspend: bool, count: usize },
    WriteRegisters { resume: bool, count: usize },
    CopyRegisters { source: &'a mut Tcb, flags: u64 },
    Suspend,
    Resume,
    Configure { fault_ep: u64, space: SpaceCaps, buffer: IpcBuffer },
    SetSpace { fault_ep: u64, space: SpaceCaps },
    SetIpcBuffer(IpcBuffer),
    SetPriority(u8),
    SetMcPriority(u8),
    SetSchedParams { mcp: u8, prio: u8 },
    BindNotification(u64),
    UnbindNotification,
    Uitt(crate::uintr::invocation::TcbUittOp),
    SetFlags { clear: u64, set: u64 },
    SetTlsBase(u64),
}

/// The derived CSpace and VSpace roots of Configure and SetSpace, with
/// the slots they were derived from.
struct SpaceCaps {
    croot: (Cap, *mut Cte),
    vroot: (Cap, *mut Cte),
}

/// A checked IPC buffer setting: the address, the derived frame cap
/// (none for address 0) and the slot it was derived from.
struct IpcBuffer {
    addr: u64,
    cap: Option<Cap>,
    src: *mut Cte,
}

/// Decodes and performs an invocation of the thread cap `cap` (in `slot`)
/// by `caller`.
///
/// # Safety
/// `slot` is the live slot holding `cap` and the invocation's extra caps
/// are live slots found by lookup.
pub unsafe fn invoke(
    env: &mut KernelEnv<'_>,
    caller: &mut Tcb,
    cap: ThreadCap,
    slot: *mut Cte,
    inv: &Invocation<'_>,
    is_call: bool,
) -> Result<(), InvocationError> {
    let target = tcb_of(cap);
    let op = decode(target, core::ptr::eq(target, caller), inv)?;
    perform(env, caller, InvokedCap { cap: &Cap::from(cap), slot }, target, op, inv, is_call)
}

/// seL4's `decodeTCBInvocation`: every check, in seL4's order, and
/// nothing changed.
fn decode<'a>(target: &Tcb, target_is_caller: bool, inv: &Invocation<'_>) -> Result<TcbOp<'a>, SyscallError> {
    match inv.label {
        label::TCB_READ_REGISTERS => {
            if inv.length < 2 {
                user_error!("TCB ReadRegisters: Truncated message.");
                return Err(SyscallError::TruncatedMessage);
            }
            let (flags, n) = (inv.arg(0), inv.arg(1));
            if !(1..=USER_CONTEXT_WORDS as u64).contains(&n) {
                user_error!("TCB ReadRegisters: Attempted to read an invalid number of registers ({}).", n as i32);
                return Err(SyscallError::RangeError { min: 1, max: USER_CONTEXT_WORDS as u64 });
            }
            if target_is_caller {
                user_error!("TCB ReadRegisters: Attempted to read our own registers.");
                return Err(SyscallError::IllegalOperation);
            }
            Ok(TcbOp::ReadRegisters { suspend: flags & READ_REGISTERS_SUSPEND != 0, count: n as usize })
        }
        label::TCB_WRITE_REGISTERS => {
            if inv.length < 2 {
                user_error!("TCB WriteRegisters: Truncated message.");
                return Err(SyscallError::TruncatedMessage);
            }
            let (flags, count) = (inv.arg(0), inv.arg(1));
            if (inv.length as u64 - 2) < count {
                user_error!("TCB WriteRegisters: Message too short for requested write size ({}/{}).", inv.length as i32 - 2, count as i32);
                return Err(SyscallError::TruncatedMessage);
            }
            if target_is_caller {
                user_error!("TCB WriteRegisters: Attempted to write our own registers.");
                return Err(SyscallError::IllegalOperation);
            }
            Ok(TcbOp::WriteRegisters { resume: flags & WRITE_REGISTERS_RESUME != 0, count: (count as usize).min(USER_CONTEXT_WORDS) })
        }
        label::TCB_COPY_REGISTERS => {
            if inv.length < 1 || inv.extra_cap(0).is_none() {
                user_error!("TCB CopyRegisters: Truncated message.");
                return Err(SyscallError::TruncatedMessage);
            }
            let flags = inv.arg(0);
            let Some(src_cap) = extra_cap(inv, 0).and_then(|(_, c)| c.as_thread()) else {
                user_error!("TCB CopyRegisters: Invalid source TCB.");
                return Err(SyscallError::InvalidCapability { number: 1 });
            };
            Ok(TcbOp::CopyRegisters { source: tcb_of(src_cap), flags })
        }
        label::TCB_SUSPEND => Ok(TcbOp::Suspend),
        label::TCB_RESUME => Ok(TcbOp::Resume),
        label::TCB_CONFIGURE => decode_configure(target, inv),
        label::TCB_SET_SPACE => decode_set_space(target, inv),
        label::TCB_SET_IPC_BUFFER => {
            let Some((buf_slot, buf_cap)) = extra_cap(inv, 0).filter(|_| inv.length >= 1) else {
                user_error!("TCB SetIPCBuffer: Truncated message.");
                return Err(SyscallError::TruncatedMessage);
            };
            Ok(TcbOp::SetIpcBuffer(decode_ipc_buffer(inv.arg(0), buf_slot, buf_cap)?))
        }
        label::TCB_SET_PRIORITY | label::TCB_SET_MCPRIORITY => {
            let is_prio = inv.label == label::TCB_SET_PRIORITY;
            if inv.length < 1 || inv.extra_cap(0).is_none() {
                match is_prio {
                    true => user_error!("TCB SetPriority: Truncated message."),
                    false => user_error!("TCB SetMCPriority: Truncated message."),
                }
                return Err(SyscallError::TruncatedMessage);
            }
            let value = inv.arg(0);
            let auth = auth_tcb(inv).inspect_err(|_| match is_prio {
                true => user_error!("Set priority: authority cap not a TCB."),
                false => user_error!("TCB SetMCPriority: authority cap not a TCB."),
            })?;
            check_prio(value, auth).inspect_err(|_| match is_prio {
                true => user_error!("TCB SetPriority: Requested priority {value} too high (max {}).", auth.mcp),
                false => user_error!("TCB SetMCPriority: Requested maximum controlled priority {value} too high (max {}).", auth.mcp),
            })?;
            Ok(if is_prio { TcbOp::SetPriority(value as u8) } else { TcbOp::SetMcPriority(value as u8) })
        }
        label::TCB_SET_SCHED_PARAMS => {
            if inv.length < 2 || inv.extra_cap(0).is_none() {
                user_error!("TCB SetSchedParams: Truncated message.");
                return Err(SyscallError::TruncatedMessage);
            }
            let (mcp, prio) = (inv.arg(0), inv.arg(1));
            let auth = auth_tcb(inv).inspect_err(|_| user_error!("TCB SetSchedParams: authority cap not a TCB."))?;
            let max = auth.mcp;
            check_prio(mcp, auth)
                .inspect_err(|_| user_error!("TCB SetSchedParams: Requested maximum controlled priority {mcp} too high (max {max})."))?;
            check_prio(prio, auth).inspect_err(|_| user_error!("TCB SetSchedParams: Requested priority {prio} too high (max {max})."))?;
            Ok(TcbOp::SetSchedParams { mcp: mcp as u8, prio: prio as u8 })
        }
        label::TCB_BIND_NOTIFICATION => {
            let Some((_, ntfn)) = extra_cap(inv, 0) else {
                user_error!("TCB BindNotification: Truncated message.");
                return Err(SyscallError::TruncatedMessage);
            };
            if target.bound_notification != 0 {
                user_error!("TCB BindNotification: TCB already has a bound notification.");
                return Err(SyscallError::IllegalOperation);
            }
            // seL4 answers a cap of another type with IllegalOperation
            // (not InvalidCapability), as for every other refusal here.
            let Some(ntfn) = ntfn.as_notification() else {
                user_error!("TCB BindNotification: Notification is invalid.");
                return Err(SyscallError::IllegalOperation);
            };
            if !ntfn.can_receive() {
                user_error!("TCB BindNotification: Insufficient access rights");
                return Err(SyscallError::IllegalOperation);
            }
            if crate::object::notification::notification_bound_tcb(ntfn.ptr()) != 0
                || crate::object::notification::notification_has_waiters(ntfn.ptr())
            {
                user_error!("TCB BindNotification: Notification cannot be bound.");
                return Err(SyscallError::IllegalOperation);
            }
            Ok(TcbOp::BindNotification(ntfn.ptr()))
        }
        label::TCB_UNBIND_NOTIFICATION => {
            if target.bound_notification == 0 {
                user_error!("TCB UnbindNotification: TCB already has no bound Notification.");
                return Err(SyscallError::IllegalOperation);
            }
            Ok(TcbOp::UnbindNotification)
        }
        sel4_compat::uintr::label::TCB_BIND_UITT | sel4_compat::uintr::label::TCB_UNBIND_UITT => {
            Ok(TcbOp::Uitt(crate::uintr::invocation::decode_tcb(target, inv)?))
        }
        label::TCB_SET_FLAGS => {
            if inv.length < 2 {
                user_error!("TCB SetFlags: Truncated message.");
                return Err(SyscallError::TruncatedMessage);
            }
            Ok(TcbOp::SetFlags { clear: inv.arg(0), set: inv.arg(1) })
        }
        label::TCB_SET_TLS_BASE => {
            if inv.length < 1 {
                user_error!("TCB SetTLSBase: Truncated message.");
                return Err(SyscallError::TruncatedMessage);
            }
            Ok(TcbOp::SetTlsBase(inv.arg(0)))
        }
        _ => {
            user_error!("TCB: Illegal operation.");
            Err(SyscallError::IllegalOperation)
        }
    }
}

/// The invoked thread cap and the slot holding it: Configure's, SetSpace's
/// and SetIPCBuffer's cap updates go ahead only while that slot still
/// names the thread.
struct InvokedCap<'c> {
    cap: &'c Cap,
    slot: *mut Cte,
}

/// Performs a decoded operation on `target`. Only the cap updates of
/// Configure, SetSpace and SetIPCBuffer can stop early (a deletion
/// preempted); everything else completes.
///
/// `op` is what [`decode`] just returned for `target` (its slots are the
/// live ones it looked up).
fn perform(
    env: &mut KernelEnv<'_>,
    caller: &mut Tcb,
    invoked: InvokedCap<'_>,
    target: &mut Tcb,
    op: TcbOp<'_>,
    inv: &Invocation<'_>,
    is_call: bool,
) -> Result<(), InvocationError> {
    let target_is_caller = core::ptr::eq(target, caller);
    let InvokedCap { cap, slot } = invoked;
    match op {
        TcbOp::ReadRegisters { suspend, count } => read_registers(caller, target, suspend, count, is_call),
        TcbOp::WriteRegisters { resume, count } => {
            for i in 0..count {
                crate::registers::write_user_register(target, i, inv.arg(2 + i));
            }
            if resume {
                ipc::restart(target);
            }
        }
        TcbOp::CopyRegisters { source, flags } => {
            if flags & COPY_SUSPEND_SOURCE != 0 {
                ipc::suspend(source);
            }
            if flags & COPY_RESUME_TARGET != 0 {
                ipc::restart(target);
            }
            if flags & COPY_TRANSFER_FRAME != 0 {
                for i in 0..FRAME_REGISTERS {
                    let v = crate::registers::read_user_register(source, i);
                    crate::registers::write_user_register(target, i, v);
                }
            }
            if flags & COPY_TRANSFER_INTEGER != 0 {
                for i in FRAME_REGISTERS..USER_CONTEXT_WORDS {
                    let v = crate::registers::read_user_register(source, i);
                    crate::registers::write_user_register(target, i, v);
                }
            }
            if target_is_caller {
                sched::reschedule_required();
            }
        }
        TcbOp::Suspend => ipc::suspend(target),
        TcbOp::Resume => ipc::restart(target),
        TcbOp::Configure { fault_ep, space, buffer } => {
            set_space(env, cap, slot, target, fault_ep, space)?;
            set_ipc_buffer(env, cap, slot, target, buffer)?;
        }
        TcbOp::SetSpace { fault_ep, space } => set_space(env, cap, slot, target, fault_ep, space)?,
        TcbOp::SetIpcBuffer(buffer) => set_ipc_buffer(env, cap, slot, target, buffer)?,
        TcbOp::SetPriority(prio) => set_priority(target, prio),
        TcbOp::SetMcPriority(mcp) => target.mcp = mcp,
        TcbOp::SetSchedParams { mcp, prio } => {
            target.mcp = mcp;
            set_priority(target, prio);
        }
        TcbOp::BindNotification(ntfn) => crate::object::notification::bind_notification(target, ntfn),
        TcbOp::UnbindNotification => crate::object::notification::unbind_notification(target),
        // Safety: `op` is what `decode_tcb` just returned for `target`.
        TcbOp::Uitt(op) => unsafe { crate::uintr::invocation::perform_tcb(env, target, op) },
        TcbOp::SetFlags { clear, set } => set_flags(caller, target, clear, set, is_call),
        TcbOp::SetTlsBase(base) => {
            crate::registers::write_user_register(target, TLS_BASE, base);
            if target_is_caller {
                sched::reschedule_required();
            }
        }
    }
    Ok(())
}

/// seL4's `invokeTCB_ReadRegisters`: the first `count` registers of
/// `target` are the reply (as many as fit without an IPC buffer).
fn read_registers(caller: &mut Tcb, target: &mut Tcb, suspend: bool, count: usize, is_call: bool) {
    if suspend {
        ipc::suspend(target);
    }
    if is_call {
        let mut words = [0u64; USER_CONTEXT_WORDS];
        for (i, w) in words.iter_mut().enumerate().take(count) {
            *w = crate::registers::read_user_register(target, i);
        }
        let has_buffer = caller.ipc_buffer().is_some();
        let sent = if has_buffer { count } else { count.min(FAST_MESSAGE_REGISTERS) };
        for (i, &w) in words.iter().enumerate().take(sent) {
            crate::registers::set_mr(caller, i, w);
        }
        caller.ctx.regs.rdi = 0;
        caller.ctx.regs.rsi = MessageInfo::new(0, 0, 0, sent as u64).0;
    }
    // The reply is written: no empty success reply on top.
    sched::set_thread_state(caller, ThreadState::Running);
}

/// seL4's `invokeSetFlags`: clear, then set (so a flag in both ends up
/// set; unknown flags are ignored); a thread whose FPU is now disabled has
/// its FPU registers saved. The resulting flags are the reply's MR0.
fn set_flags(caller: &mut Tcb, target: &mut Tcb, clear: u64, set: u64, is_call: bool) {
    let flags = (target.flags & !clear) | (set & tcb_flag::MASK);
    target.flags = flags;
    if flags & tcb_flag::FPU_DISABLED != 0 {
        sched::release_fpu(target);
    }
    // An enabled FPU is handed to the thread when it next returns to user
    // mode, the caller included.
    if is_call {
        let length = crate::registers::set_mr(caller, 0, flags);
        caller.ctx.regs.rdi = 0;
        caller.ctx.regs.rsi = MessageInfo::new(0, 0, 0, length as u64).0;
    }
    sched::set_thread_state(caller, ThreadState::Running);
}

/// The IPC buffer part of Configure and SetIPCBuffer, checked: address 0
/// removes the buffer, any other needs a frame cap fit for one.
fn decode_ipc_buffer(addr: u64, src: *mut Cte, cap: Cap) -> Result<IpcBuffer, SyscallError> {
    let cap = if addr == 0 {
        None
    } else {
        let derived = derive(src, cap)?;
        check_ipc_buffer(addr, &derived)?;
        Some(derived)
    };
    Ok(IpcBuffer { addr, cap, src })
}

/// The CSpace and VSpace part of Configure and SetSpace, checked.
fn decode_space(
    configure: bool,
    target: &Tcb,
    croot_data: u64,
    vroot_data: u64,
    croot: (*mut Cte, Cap),
    vroot: (*mut Cte, Cap),
) -> Result<SpaceCaps, SyscallError> {
    let op = if configure { "Configure" } else { "SetSpace" };
    if long_running_delete(target.slot(tcb_slot::CTABLE)) || long_running_delete(target.slot(tcb_slot::VTABLE)) {
        user_error!("TCB {op}: CSpace or VSpace currently being deleted.");
        return Err(SyscallError::IllegalOperation);
    }
    let mut croot_cap = croot.1;
    if croot_data != 0 {
        croot_cap = update_cap_data(false, croot_data, croot_cap);
    }
    let croot_cap = derive(croot.0, croot_cap)?;
    if !croot_cap.is(CapType::CNode) {
        match configure {
            true => user_error!("TCB Configure: CSpace cap is invalid."),
            false => user_error!("TCB SetSpace: Invalid CNode cap."),
        }
        return Err(SyscallError::IllegalOperation);
    }
    let mut vroot_cap = vroot.1;
    if vroot_data != 0 {
        vroot_cap = update_cap_data(false, vroot_data, vroot_cap);
    }
    let vroot_cap = derive(vroot.0, vroot_cap)?;
    if !is_valid_vtable_root(&vroot_cap) {
        match configure {
            true => user_error!("TCB Configure: VSpace cap is invalid."),
            false => user_error!("TCB SetSpace: Invalid VSpace cap."),
        }
        return Err(SyscallError::IllegalOperation);
    }
    Ok(SpaceCaps { croot: (croot_cap, croot.0), vroot: (vroot_cap, vroot.0) })
}

fn decode_configure<'a>(target: &Tcb, inv: &Invocation<'_>) -> Result<TcbOp<'a>, SyscallError> {
    let (Some(croot), Some(vroot), Some(buffer)) = (extra_cap(inv, 0), extra_cap(inv, 1), extra_cap(inv, 2)) else {
        user_error!("TCB Configure: Truncated message.");
        return Err(SyscallError::TruncatedMessage);
    };
    if inv.length < 4 {
        user_error!("TCB Configure: Truncated message.");
        return Err(SyscallError::TruncatedMessage);
    }
    let (fault_ep, croot_data, vroot_data, buffer_addr) = (inv.arg(0), inv.arg(1), inv.arg(2), inv.arg(3));
    let buffer = decode_ipc_buffer(buffer_addr, buffer.0, buffer.1)?;
    let space = decode_space(true, target, croot_data, vroot_data, croot, vroot)?;
    Ok(TcbOp::Configure { fault_ep, space, buffer })
}

fn decode_set_space<'a>(target: &Tcb, inv: &Invocation<'_>) -> Result<TcbOp<'a>, SyscallError> {
    let (Some(croot), Some(vroot)) = (extra_cap(inv, 0), extra_cap(inv, 1)) else {
        user_error!("TCB SetSpace: Truncated message.");
        return Err(SyscallError::TruncatedMessage);
    };
    if inv.length < 3 {
        user_error!("TCB SetSpace: Truncated message.");
        return Err(SyscallError::TruncatedMessage);
    }
    let (fault_ep, croot_data, vroot_data) = (inv.arg(0), inv.arg(1), inv.arg(2));
    let space = decode_space(false, target, croot_data, vroot_data, croot, vroot)?;
    Ok(TcbOp::SetSpace { fault_ep, space })
}

/// The fault endpoint and the new CSpace and VSpace roots of Configure
/// and SetSpace.
fn set_space(env: &mut KernelEnv<'_>, cap: &Cap, slot: *mut Cte, target: &mut Tcb, fault_ep: u64, space: SpaceCaps) -> Result<(), InvocationError> {
    target.fault_handler = fault_ep;
    replace_tcb_cap(env, cap, slot, target, tcb_slot::CTABLE, space.croot.0, space.croot.1)?;
    replace_tcb_cap(env, cap, slot, target, tcb_slot::VTABLE, space.vroot.0, space.vroot.1)
}

fn set_ipc_buffer(env: &mut KernelEnv<'_>, cap: &Cap, slot: *mut Cte, target: &mut Tcb, buffer: IpcBuffer) -> Result<(), InvocationError> {
    let buf_slot = target.slot(tcb_slot::BUFFER);
    // Safety: the TCB's own slot.
    unsafe { delete::cte_delete(buf_slot, true, env) }?;
    target.ipc_buffer_vaddr = buffer.addr;
    if let Some(c) = buffer.cap {
        replace_tcb_cap(env, cap, slot, target, tcb_slot::BUFFER, c, buffer.src)?;
    }
    if sched::is_current(target) {
        sched::reschedule_required();
    }
    Ok(())
}
