//! The fallback for CPUs without UINTR: SENDUIPI, UIRET, TESTUI, CLUI and
//! STUI raise #UD, and the kernel carries them out on the same UPID and
//! UITT memory by `crate::uintr`'s rules (reading the faulting thread's
//! memory through its own page tables), and delivers due user interrupts
//! whenever a thread returns to user mode.

use crate::config::paddr_to_pptr;
use crate::thread::{tcb_slot, Fault, Tcb};
use crate::uintr::decode::{decode, Insn, MAX_INSTRUCTION};
use crate::uintr::model;
use crate::uintr::objects::{receiver_of, uitt_of, wake_receiver_thread, Receiver, UITT_SIZE};

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
    let paddr = crate::pte::translate_user(read, pml4, vaddr, write)?;
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
