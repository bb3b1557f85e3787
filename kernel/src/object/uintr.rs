//! User-interrupt objects (this kernel's extension; `docs/uintr.md`):
//! receivers and UITTs, their invocations, what deleting their caps
//! undoes, and the fallback that carries out UINTR instructions for CPUs
//! without them (they raise #UD; the kernel applies `crate::uintr`'s
//! rules to the same memory and delivers due user interrupts whenever a
//! thread returns to user mode).

use super::cap::{is_canonical, Cap, CapView, ReceiverHolder, UintrReceiverCap, UittCap};
use super::invocation::{Invocation, InvocationError, SyscallError};
use super::tcb::{extra_cap, tcb_of};
use super::uintr_switch;
use crate::arch::x86_64::paging;
use crate::config::{paddr_to_pptr, pptr_to_paddr};
use crate::cspace::cte::{self, Cte};
use crate::cspace::delete;
use crate::kernel_env::KernelEnv;
use crate::sched;
use crate::thread::{tcb_slot, Fault, Tcb};
use crate::uintr::decode::{decode, Insn, MAX_INSTRUCTION};
use crate::uintr::format::{UittEntry, Upid};
use crate::uintr::model::{self, UintrState};
use crate::uintr::window;
use sel4_compat::uintr::{label, UINTR_RECEIVER_SIZE_BITS, UITT_ENTRIES, UITT_SIZE_BITS};

/// A receiver object: the UPID senders post to, the thread that takes
/// its user interrupts, and a slot for the notification that wakes that
/// thread when one arrives while it is blocked.
#[repr(C, align(64))]
pub struct Receiver {
    pub upid: Upid,
    pub tcb: *mut Tcb,
    /// Where the CPU finds the UPID: its address in the UINTR window.
    pub window: u64,
    pub wake: Cte,
}

const _: () = assert!(core::mem::size_of::<Receiver>() == 1 << UINTR_RECEIVER_SIZE_BITS);

/// A UITT object: the page of entries SENDUIPI reads, then the receiver
/// caps that back them.
#[repr(C)]
pub struct Uitt {
    pub entries: [UittEntry; UITT_ENTRIES],
    pub slots: [Cte; UITT_ENTRIES],
    /// Where the CPU finds the entries: their address in the UINTR window.
    pub window: u64,
}

const _: () = assert!(core::mem::size_of::<Uitt>() <= 1 << UITT_SIZE_BITS);

const _: () = assert!(core::mem::size_of::<[UittEntry; UITT_ENTRIES]>() == 4096, "the entries fill the first page");

/// The highest valid UITT index (the CPU's UITTSZ).
pub const UITT_SIZE: u64 = UITT_ENTRIES as u64 - 1;

/// The receiver object at `ptr`.
///
/// # Safety
/// `ptr` comes from a receiver cap or a UITT entry's backing cap (these
/// only ever name live receivers: deleting the last cap clears every entry
/// first), and the caller makes no other reference to the receiver while
/// the returned one is live.
unsafe fn receiver_of<'a>(ptr: u64) -> &'a mut Receiver {
    // Safety: per the caller's contract.
    unsafe { &mut *(ptr as *mut Receiver) }
}

/// The UITT object `cap` names.
///
/// # Safety
/// The caller makes no other reference to the table while the returned
/// one is live (a UITT cap names a live UITT object).
unsafe fn uitt_of<'a>(cap: UittCap) -> &'a mut Uitt {
    // Safety: per the caller's contract.
    unsafe { &mut *(cap.ptr() as *mut Uitt) }
}

/// The receiver bound to `t`, if any.
///
/// # Safety
/// `t`'s receiver slot is consistent (it holds a receiver cap or none),
/// and the caller makes no other reference to the receiver while the
/// returned one is live.
pub unsafe fn receiver_of_thread<'a>(t: &Tcb) -> Option<&'a mut Receiver> {
    // Safety: a receiver cap; exclusivity is the caller's contract.
    t.slot_cap(tcb_slot::RECEIVER).as_uintr_receiver().map(|cap| unsafe { receiver_of(cap.ptr()) })
}

/// The UITT bound to `t`, if any.
///
/// # Safety
/// As for [`receiver_of_thread`], for the UITT slot and the table.
pub unsafe fn uitt_of_thread<'a>(t: &Tcb) -> Option<&'a mut Uitt> {
    // Safety: a UITT cap; exclusivity is the caller's contract.
    t.slot_cap(tcb_slot::UITT).as_uitt().map(|cap| unsafe { uitt_of(cap) })
}

/// Free slots of the UINTR window: how many receivers and UITTs retype
/// can still create.
pub fn window_slots_free(slots: &window::Slots) -> u64 {
    slots.free() as u64
}

/// Gives the page at `frame_paddr` a free slot of the UINTR window and
/// returns the slot's address. Only the hardware path maps it: on the
/// fallback the CPU never reads the window and the addresses only name
/// UPIDs in UITT entries, so user address spaces keep mapping nothing but
/// the skim window (older CPUs, which take the fallback, are the ones
/// whose speculative loads could read a supervisor-only page).
pub fn map_into_window(slots: &mut window::Slots, frame_paddr: u64) -> Option<u64> {
    let slot = slots.take()?;
    if uintr_switch::hardware() {
        paging::map_uintr_window_slot(slot, frame_paddr);
    }
    Some(paging::uintr_window_slot_vaddr(slot))
}

/// Releases the window slot holding `vaddr`.
fn release_window(slots: &mut window::Slots, vaddr: u64) {
    let slot = ((vaddr - paging::UINTR_WINDOW_BASE) / paging::PAGE_SIZE) as usize;
    paging::unmap_uintr_window_slot(slot);
    slots.release(slot);
}

/// Retype created a receiver or a UITT (zeroed): map it where the CPU
/// will look for it. Retype checked that a window slot is free.
pub fn object_created(slots: &mut window::Slots, cap: &Cap) {
    let mut window_of = |ptr: u64| {
        let page = pptr_to_paddr(ptr) & !(paging::PAGE_SIZE - 1);
        map_into_window(slots, page).expect("retype checks the UINTR window has room") + (ptr & (paging::PAGE_SIZE - 1))
    };
    match cap.view() {
        CapView::UintrReceiver(receiver) => {
            // Safety: retype just made the receiver; nothing else refers to it.
            let r = unsafe { receiver_of(receiver.ptr()) };
            r.window = window_of(receiver.ptr());
            // Nothing posted to an unbound receiver interrupts anyone.
            r.upid.set_sn(true);
        }
        // Safety: retype just made the table; nothing else refers to it.
        CapView::Uitt(uitt) => unsafe { uitt_of(uitt) }.window = window_of(uitt.ptr()),
        _ => unreachable!("object_created is given a receiver or UITT cap"),
    }
}

/// Wakes `t`, which a user interrupt for its receiver `r` arrived for,
/// through the receiver's notification, unless it is running or about to
/// (then it takes the interrupt when it next returns to user mode).
pub fn wake_receiver_thread(r: &Receiver, t: &Tcb) {
    // The wake interrupt may arrive while the kernel idles (no current thread).
    let running = sched::is_current(t) || t.state.is_runnable();
    if running {
        return;
    }
    if let Some(ntfn) = r.wake.cap.as_notification() {
        crate::object::notification::send_signal(ntfn.ptr(), ntfn.badge());
    }
}

/// Deletes the cap in one of the kernel-held slots (a TCB's, a receiver's
/// or a UITT's); these hold caps with nothing to finalise at length.
///
/// # Safety
/// `slot` is a live slot in a consistent MDB.
unsafe fn delete_held(env: &mut KernelEnv<'_>, slot: *mut Cte) {
    // Safety: per the caller's contract.
    unsafe { delete::cte_delete_one(slot, env) };
}

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
            unsafe { uintr_switch::unload(t) };
            // Safety: `slot` holds the invoked cap; decode found the TCB's
            // receiver slot empty.
            unsafe { cte::cte_insert(held, slot, t.slot(tcb_slot::RECEIVER)) };
            r.tcb = t;
            t.uintr = UintrState { handler, stack_adjust, uirr: 0, uif: false };
            uintr_switch::attach(t, r);
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
pub(super) enum TcbUittOp {
    /// Bind the UITT cap found in `src`.
    Bind {
        uitt: Cap,
        src: *mut Cte,
    },
    Unbind,
}

/// TCB invocations of the extension, checked: give the thread a UITT or
/// take it away.
pub(super) fn decode_tcb(target: &Tcb, inv: &Invocation<'_>) -> Result<TcbUittOp, SyscallError> {
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
pub(super) unsafe fn perform_tcb(env: &mut KernelEnv<'_>, target: &mut Tcb, op: TcbUittOp) {
    let slot = target.slot(tcb_slot::UITT);
    // Safety: `target` is a reference to a live TCB.
    unsafe { uintr_switch::unload(target) };
    match op {
        // Safety: `src` was looked up; decode found the TCB's UITT slot empty.
        TcbUittOp::Bind { uitt, src } => unsafe { cte::cte_insert(uitt, src, slot) },
        // Safety: the TCB's UITT slot.
        TcbUittOp::Unbind => unsafe { delete_held(env, slot) },
    }
}

/// A receiver cap left its slot: undo what that copy stood for, and when
/// it was the last cap to the receiver, release the wake notification.
pub fn receiver_cap_deleted(env: &mut KernelEnv<'_>, cap: UintrReceiverCap, is_final: bool) {
    match cap.holder() {
        ReceiverHolder::UittEntry(entry) => {
            // Safety: the copy records the entry of the live UITT that holds it.
            unsafe { (entry as *mut UittEntry).write(UittEntry::INVALID) };
        }
        ReceiverHolder::Tcb(tcb) => {
            // Safety: the deleted cap names a live receiver.
            let r = unsafe { receiver_of(cap.ptr()) };
            // Safety: the copy records the live TCB that holds it.
            let t = unsafe { &mut *(tcb as *mut Tcb) };
            uintr_switch::detach(t, r);
            if core::ptr::eq(r.tcb, t) {
                r.tcb = core::ptr::null_mut();
            }
            t.uintr = UintrState::default();
        }
        ReceiverHolder::User => {}
    }
    if is_final {
        // Safety: as above.
        let r = unsafe { receiver_of(cap.ptr()) };
        // Safety: the receiver's own wake slot.
        unsafe { delete_held(env, &mut r.wake) };
        release_window(&mut env.global.uintr_window, r.window);
    }
}

/// A UITT cap left its slot. Whichever copy it was (revocation removes
/// the one a TCB holds without asking the TCB), a thread that has the
/// table loaded loads again; when it was the last cap, the entries' caps
/// go with the table.
pub fn uitt_cap_deleted(env: &mut KernelEnv<'_>, cap: UittCap, is_final: bool) {
    // Safety: the deleted cap names a live UITT; the entries' receivers
    // are other objects.
    let table = unsafe { uitt_of(cap) };
    uintr_switch::uitt_going(table.window);
    if !is_final {
        return;
    }
    for slot in table.slots.iter_mut() {
        // Safety: a slot of the live table.
        unsafe { delete_held(env, slot) };
    }
    release_window(&mut env.global.uintr_window, table.window);
}

/// What the #UD handler should do after [`emulate`].
pub enum Emulated {
    /// Carried out; the thread continues after the instruction.
    Done,
    /// Not a UINTR instruction (or SENDUIPI without a UITT, which the CPU
    /// refuses with #UD too): the thread's own #UD.
    NotUintr,
    /// The instruction faults as the CPU would make it fault.
    Fault(Fault),
}

const GP: u64 = 13;

/// Page-fault error code: user mode, and write.
const PF_USER: u64 = 1 << 2;

const PF_WRITE: u64 = 1 << 1;

/// Where user code of `t` reaches at `vaddr` with its own rights.
fn user_word(t: &Tcb, vaddr: u64, write: bool) -> Option<*mut u64> {
    let pml4 = t.vspace_root_paddr()?;
    // Safety: page-table entries lie in RAM, inside the kernel window.
    let read = |paddr: u64| unsafe { (paddr_to_pptr(paddr) as *const u64).read_volatile() };
    let paddr = super::pte::translate_user(read, pml4, vaddr, write)?;
    // Only RAM is in the kernel window; a user mapping of device memory
    // beyond it is treated as unreachable.
    (paddr < crate::config::PADDR_TOP).then(|| paddr_to_pptr(paddr) as *mut u64)
}

fn page_fault(address: u64, write: bool) -> Emulated {
    Emulated::Fault(Fault::VmFault { address, fsr: PF_USER | if write { PF_WRITE } else { 0 }, instruction: false })
}

/// The general register `reg` in the hardware numbering.
fn register(t: &Tcb, reg: u8) -> u64 {
    let r = &t.ctx.regs;
    [r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15][reg as usize & 15]
}

/// Carries out the instruction at `t`'s RIP if it is a UINTR one (the
/// fallback for CPUs that raised #UD on it).
pub fn emulate(t: &mut Tcb) -> Emulated {
    let rip = t.ctx.regs.rip;
    // The instruction's bytes a word at a time (one page walk per word),
    // up to 15 of them or the first unreadable one.
    let mut bytes = [0u8; MAX_INSTRUCTION + 16];
    let (first_word, skip) = (rip & !7, (rip & 7) as usize);
    let mut fetched = 0;
    for w in 0..3u64 {
        let Some(word) = user_word(t, first_word.wrapping_add(8 * w), false) else { break };
        // Safety: a mapped, user-readable word of RAM.
        bytes[8 * w as usize..8 * w as usize + 8].copy_from_slice(&unsafe { word.read_volatile() }.to_le_bytes());
        fetched = 8 * (w as usize + 1);
    }
    let fetched = fetched.saturating_sub(skip).min(MAX_INSTRUCTION);
    let Some(decoded) = decode(&bytes[skip..skip + fetched]) else {
        return Emulated::NotUintr;
    };
    let outcome = match decoded.insn {
        Insn::SendUipi { reg } => senduipi(t, register(t, reg)),
        Insn::Uiret => uiret(t),
        Insn::Testui => {
            // CF := UIF; OF, SF, ZF, AF and PF cleared.
            let flags = t.ctx.regs.rflags & !(0x800 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1);
            t.ctx.regs.rflags = flags | t.uintr.uif as u64;
            return advance(t, decoded.len);
        }
        Insn::Clui => {
            t.uintr.uif = false;
            return advance(t, decoded.len);
        }
        Insn::Stui => {
            t.uintr.uif = true;
            return advance(t, decoded.len);
        }
    };
    match outcome {
        Emulated::Done if decoded.insn != Insn::Uiret => advance(t, decoded.len),
        other => other,
    }
}

fn advance(t: &mut Tcb, len: usize) -> Emulated {
    t.ctx.regs.rip = t.ctx.regs.rip.wrapping_add(len as u64);
    Emulated::Done
}

fn senduipi(t: &mut Tcb, index: u64) -> Emulated {
    let Some(uitt) = t.slot_cap(tcb_slot::UITT).as_uitt() else {
        return Emulated::NotUintr;
    };
    if index > UITT_SIZE {
        return Emulated::Fault(Fault::UserException { number: GP, code: 0 });
    }
    // Safety: the thread's UITT cap; the receiver reached below is another
    // object.
    let table = unsafe { uitt_of(uitt) };
    if !table.entries[index as usize].usable() {
        return Emulated::Fault(Fault::UserException { number: GP, code: 0 });
    }
    // The entry names the UPID by its window address; the cap backing
    // the entry names the same receiver for the kernel.
    let receiver = table.slots[index as usize].cap.as_uintr_receiver().expect("a usable UITT entry is backed by a receiver cap");
    // Safety: a receiver cap, whose receiver is live.
    let r = unsafe { receiver_of(receiver.ptr()) };
    let entry = table.entries[index as usize];
    if model::post(&mut r.upid, entry.vector()) {
        notify(r);
    }
    Emulated::Done
}

/// The notification a post asked for: with no interrupt to carry it, the
/// kernel processes it at once for the receiving thread and wakes that
/// thread through its notification if it is blocked.
fn notify(r: &mut Receiver) {
    // Safety: a bound receiver's thread is live.
    let Some(t) = (unsafe { r.tcb.as_mut() }) else { return };
    model::process_notification(&mut r.upid, &mut t.uintr);
    wake_receiver_thread(r, t);
}

fn uiret(t: &mut Tcb) -> Emulated {
    let rsp = t.ctx.regs.rsp;
    let mut popped = [0u64; 3];
    for (i, word) in popped.iter_mut().enumerate() {
        let at = rsp.wrapping_add(8 * i as u64);
        let Some(p) = user_word(t, at, false) else {
            return page_fault(at, false);
        };
        // Safety: a mapped, user-readable word.
        *word = unsafe { p.read_volatile() };
    }
    match model::uiret(&mut t.uintr, t.ctx.regs.rflags, popped) {
        Ok((rip, rflags, rsp)) => {
            // Kernel-sanitised as any register write: IF stays on.
            let r = &mut t.ctx.regs;
            (r.rip, r.rflags, r.rsp) = (rip, rflags | 0x202, rsp);
            Emulated::Done
        }
        Err(model::UiretFault::NonCanonicalRip) => Emulated::Fault(Fault::UserException { number: GP, code: 0 }),
    }
}

/// Delivers the user interrupt due for `t`, if any, as the CPU would on
/// its way back to user mode: the frame goes on its stack and it resumes
/// in its handler. `Err` is the fault the frame's stores raise instead
/// (nothing has changed then). Kept out of line: the caller checks UIRR
/// and UIF first, so the common exit pays two loads.
#[inline(never)]
pub fn deliver_due(t: &mut Tcb) -> Result<(), Fault> {
    let regs = &t.ctx.regs;
    let Some(d) = model::due(&t.uintr, regs.rip, regs.rflags, regs.rsp) else {
        return Ok(());
    };
    let mut words = [core::ptr::null_mut(); 4];
    for (i, w) in words.iter_mut().enumerate() {
        let at = d.rsp.wrapping_add(8 * i as u64);
        *w = user_word(t, at, true).ok_or(Fault::VmFault { address: at, fsr: PF_USER | PF_WRITE, instruction: false })?;
    }
    for (w, value) in words.iter().zip(d.frame) {
        // Safety: mapped, user-writable words of RAM.
        unsafe { w.write_volatile(value) };
    }
    model::commit(&mut t.uintr, &d);
    let r = &mut t.ctx.regs;
    (r.rip, r.rsp, r.rflags) = (d.rip, d.rsp, d.rflags);
    Ok(())
}
