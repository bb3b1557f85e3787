//! Notification processing (UINV at any CPL: PIR -> UIRR, ON cleared,
//! EOI) and user-interrupt delivery (CPL 3, UIF = 1: the frame, the
//! vector order, UIRET, and when delivery is re-checked).

use super::{await_requested, await_uirr, cr4_uintr, run_snippet, set_msr, set_user_out, spin, uirr, user_out, wait_log, R};
use crate::arch::apic;
use crate::arch::boot::UNMAPPED_ADDR;
use crate::arch::cpu;
use crate::arch::desc::USER_CS;
use crate::arch::entry::{self, label, Entry, TrapFrame};
use crate::harness::{
    clear_log, irq_count, last_exit, log_entry, log_len, Delivery, FaultText, Msg, ESCAPE_RING3_FAULT, FAULT_EXIT, GP, HANDLER_SET_RFLAGS,
    HANDLER_SET_RIP, IRQ_LAST_RIP, IRQ_SEQ, PF, RUNAWAY_EXIT,
};
use crate::uintr::*;
use crate::Global;
use core::sync::atomic::Ordering::SeqCst;

fn entry_probe() -> u64 {
    label(core::ptr::addr_of!(entry::u_entry_probe))
}

fn check_no_isr() -> R {
    check!(apic::highest_in_service().is_none(), "vector {:#x} left in service in the local APIC (no EOI?)", apic::highest_in_service().unwrap_or(0));
    Ok(())
}

/// The vectors delivered, in order; fails on a runaway handler.
fn delivered(exit: u64) -> Result<([u64; 64], usize), Msg> {
    check!(exit != RUNAWAY_EXIT, "user-interrupt handler ran more than 1000 times (UIRR never cleared?)");
    let n = log_len().min(64);
    let mut v = [0; 64];
    for (i, slot) in v.iter_mut().enumerate().take(n) {
        *slot = log_entry(i).vector;
    }
    Ok((v, log_len()))
}

fn check_delivered_in_ring3(d: &Delivery) -> R {
    check_eq!(d.cs, USER_CS, "CS in the user-interrupt handler");
    Ok(())
}

/// Sends vector `v` from ring 0 with IF = 0 and lets the notification be
/// processed in ring 0 (UIF = 1 by then); checks the processing.
fn notify_in_ring0(v: u64) -> R {
    cpu::stui();
    cpu::senduipi(v);
    check!(await_requested(UINV), "no notification IPI pending after SENDUIPI (ON {}, PIR {:#x})", on(Which::A), pir(Which::A));
    cpu::interrupt_window(2000);
    check_eq!(uirr(), 1u64 << v, "UIRR after the notification");
    check_eq!(pir(Which::A), 0, "PIR after the notification");
    check!(!on(Which::A), "ON still set after the notification");
    check!(!apic::requested(UINV), "UINV still requested in the IRR");
    check!(!apic::in_service(UINV), "UINV left in service: the notification did not EOI");
    check_eq!(irq_count(UINV), 0, "interrupts with vector UINV through the IDT");
    Ok(())
}

pub fn notification_processed_in_ring0() -> R {
    notify_in_ring0(5)?;
    check_eq!(log_len(), 0, "user interrupts delivered in ring 0");
    Ok(())
}

/// The notification's EOI leaves nothing in service, so a lower-priority
/// interrupt still gets through.
pub fn notification_eoi_unblocks_lower_vectors() -> R {
    notify_in_ring0(5)?;
    check_no_isr()?;
    apic::self_ipi(LOW_VECTOR);
    check!(await_requested(LOW_VECTOR), "the self-IPI with vector {:#x} never landed", LOW_VECTOR);
    cpu::interrupt_window(2000);
    check_eq!(irq_count(LOW_VECTOR), 1, "IDT interrupts with low-priority vector {:#x} after the notification", LOW_VECTOR);
    Ok(())
}

/// The notification vector is IA32_UINTR_MISC[39:32], not a fixed one.
pub fn notification_uses_misc_uinv() -> R {
    const OTHER: u8 = 0x51;
    set_msr(MSR_MISC, misc(OTHER, UITTSZ));
    set_nv(Which::A, OTHER);
    cpu::senduipi(12);
    check!(await_requested(OTHER), "no notification IPI with vector {:#x} after SENDUIPI", OTHER);
    cpu::interrupt_window(2000);
    check_eq!(uirr(), 1 << 12, "UIRR after a notification with UINV = {:#x}", OTHER);
    check_eq!(irq_count(OTHER), 0, "IDT interrupts with the new UINV");
    check!(!on(Which::A), "ON still set");
    apic::self_ipi(UINV);
    check!(await_requested(UINV), "the self-IPI with vector {:#x} never landed", UINV);
    cpu::interrupt_window(2000);
    check_eq!(irq_count(UINV), 1, "IDT interrupts with the old UINV {:#x} (now an ordinary vector)", UINV);
    check_eq!(uirr(), 1 << 12, "UIRR after the ordinary interrupt");
    Ok(())
}

fn delivered_on_entry(how: Entry) -> R {
    notify_in_ring0(5)?;
    check_eq!(log_len(), 0, "user interrupts delivered in ring 0");
    let rip = match how {
        Entry::Iretq => entry_probe(),
        Entry::Sysret => label(core::ptr::addr_of!(entry::u_entry_probe_syscall)),
    };
    let exit = run_snippet(rip, 0, 0, how);
    let (v, n) = delivered(exit)?;
    check_eq!(n, 1, "user interrupts delivered after the return to ring 3");
    check_eq!(v[0], 5, "vector");
    let d = log_entry(0);
    check_delivered_in_ring3(&d)?;
    check_eq!(d.rip, rip, "interrupted RIP (must be the first ring-3 instruction)");
    check_eq!(uirr(), 0, "UIRR after delivery");
    Ok(())
}

pub fn ring0_notification_delivered_on_iretq() -> R {
    delivered_on_entry(Entry::Iretq)
}

pub fn ring0_notification_delivered_on_sysret() -> R {
    delivered_on_entry(Entry::Sysret)
}

/// The notification IPI is still pending (IF = 0 in ring 0) when IRETQ
/// returns to ring 3 with IF = 1: it is taken there and delivered within
/// the first instructions.
pub fn pending_notification_taken_in_ring3() -> R {
    cpu::stui();
    cpu::senduipi(6);
    check!(await_requested(UINV), "no notification IPI pending after SENDUIPI");
    let exit = run_snippet(entry_probe(), 0, 0, Entry::Iretq);
    let (v, n) = delivered(exit)?;
    check_eq!(n, 1, "user interrupts delivered");
    check_eq!(v[0], 6, "vector");
    let d = log_entry(0);
    check_delivered_in_ring3(&d)?;
    let end = label(core::ptr::addr_of!(entry::u_entry_probe_end));
    check!(d.rip >= entry_probe() && d.rip <= end, "interrupted RIP {:#x} is outside the NOP sled {:#x}..{:#x}", d.rip, entry_probe(), end);
    check_eq!(irq_count(UINV), 0, "interrupts with vector UINV through the IDT");
    check_no_isr()?;
    check_eq!(uirr(), 0, "UIRR after delivery");
    Ok(())
}

extern "C" fn user_send_and_wait(index: u64, count: u64) -> u64 {
    cpu::stui();
    cpu::senduipi(index);
    wait_log(count as usize, 1_000_000);
    set_user_out(0, cpu::testui() as u64);
    0
}

/// Ring 3, UIF = 1, IF = 1: SENDUIPI to itself is delivered to the handler.
pub fn senduipi_ring3_self_delivery() -> R {
    let exit = entry::run_user(user_send_and_wait, 33, 1);
    let (v, n) = delivered(exit)?;
    check_eq!(n, 1, "user interrupts delivered");
    check_eq!(v[0], 33, "vector");
    let d = log_entry(0);
    check_delivered_in_ring3(&d)?;
    check_eq!(user_out(0), 1, "UIF after the handler's UIRET");
    check_eq!(uirr(), 0, "UIRR");
    check_eq!(pir(Which::A), 0, "PIR");
    check!(!on(Which::A), "ON still set");
    check_eq!(irq_count(UINV), 0, "interrupts with vector UINV through the IDT");
    check_no_isr()
}

pub fn vector_63_delivered() -> R {
    let exit = entry::run_user(user_send_and_wait, 63, 1);
    let (v, n) = delivered(exit)?;
    check_eq!(n, 1, "user interrupts delivered");
    check_eq!(v[0], 63, "vector");
    check_eq!(uirr(), 0, "UIRR");
    Ok(())
}

/// Two sends while ON stays set (ring 0, IF = 0): one notification moves
/// both vectors to UIRR; both are delivered, highest first.
pub fn coalesced_notification_delivers_both() -> R {
    cpu::stui();
    cpu::senduipi(10);
    check!(on(Which::A), "ON not set by the first SENDUIPI");
    cpu::senduipi(20);
    check_eq!(pir(Which::A), 1 << 10 | 1 << 20, "PIR after two sends");
    check!(await_requested(UINV), "no notification IPI pending after the sends");
    cpu::interrupt_window(2000);
    check_eq!(uirr(), 1 << 10 | 1 << 20, "UIRR after the one notification");
    check!(!on(Which::A), "ON still set");
    let exit = run_snippet(entry_probe(), 0, 0, Entry::Iretq);
    let (v, n) = delivered(exit)?;
    check_eq!(n, 2, "user interrupts delivered");
    check_eq!(v[0], 20, "first vector delivered");
    check_eq!(v[1], 10, "second vector delivered");
    Ok(())
}

extern "C" fn user_send_all(_: u64, _: u64) -> u64 {
    cpu::clui();
    for k in 0..64u64 {
        cpu::senduipi((k * 37) % 64);
    }
    0
}

extern "C" fn user_stui_and_wait(count: u64, _: u64) -> u64 {
    cpu::stui();
    wait_log(count as usize, 2_000_000);
    0
}

/// All 64 vectors, sent in scrambled order with UIF = 0, are delivered
/// after STUI, highest first, each once. Highest first is promised among
/// the vectors pending together: the sends' notifications may land at any
/// later boundary, so STUI comes only once all 64 are in UIRR.
pub fn all_64_vectors_delivered_highest_first() -> R {
    let exit = entry::run_user(user_send_all, 0, 0);
    delivered(exit)?;
    check_eq!(log_len(), 0, "user interrupts delivered with UIF = 0");
    check!(await_uirr(u64::MAX), "UIRR {:#x} after 64 sends and their notifications", uirr());
    let exit = entry::run_user(user_stui_and_wait, 64, 0);
    let (v, n) = delivered(exit)?;
    check_eq!(n, 64, "user interrupts delivered");
    for (i, &got) in v.iter().enumerate() {
        check_eq!(got, 63 - i as u64, "vector of delivery #{}", i);
    }
    check_eq!(uirr(), 0, "UIRR after all deliveries");
    Ok(())
}

/// UIRR written by WRMSR in ring 0 is delivered on return to ring 3,
/// highest vector first, back to back at the first instruction.
pub fn uirr_wrmsr_delivered_on_return() -> R {
    let bits: u64 = 1 << 63 | 1 << 32 | 1 << 31 | 1 << 1 | 1;
    set_msr(MSR_UIRR, bits);
    cpu::stui();
    let exit = run_snippet(entry_probe(), 0, 0, Entry::Iretq);
    let (v, n) = delivered(exit)?;
    check_eq!(n, 5, "user interrupts delivered");
    for (i, want) in [63u64, 32, 31, 1, 0].into_iter().enumerate() {
        check_eq!(v[i], want, "vector of delivery #{}", i);
        check_eq!(log_entry(i).rip, entry_probe(), "interrupted RIP of delivery #{}", i);
    }
    check_eq!(uirr(), 0, "UIRR");
    Ok(())
}

pub fn no_delivery_at_cpl0() -> R {
    set_msr(MSR_UIRR, 1 << 4);
    cpu::stui();
    cpu::interrupt_window(20000);
    spin(20000);
    check_eq!(log_len(), 0, "user interrupts delivered in ring 0");
    check_eq!(uirr(), 1 << 4, "UIRR");
    Ok(())
}

extern "C" fn user_spin_testui(_: u64, _: u64) -> u64 {
    spin(100_000);
    set_user_out(0, cpu::testui() as u64);
    0
}

pub fn no_delivery_with_uif_clear() -> R {
    set_msr(MSR_UIRR, 1 << 4);
    cpu::clui();
    entry::run_user(user_spin_testui, 0, 0);
    check_eq!(log_len(), 0, "user interrupts delivered with UIF = 0");
    check_eq!(user_out(0), 0, "UIF in ring 3");
    check_eq!(uirr(), 1 << 4, "UIRR");
    Ok(())
}

pub fn no_delivery_with_cr4_uintr_clear() -> R {
    cpu::stui();
    set_msr(MSR_UIRR, 1 << 4);
    cr4_uintr(false);
    run_snippet(entry_probe(), 0, 0, Entry::Iretq);
    check_eq!(log_len(), 0, "user interrupts delivered with CR4.UINTR = 0");
    check_eq!(uirr(), 1 << 4, "UIRR");
    Ok(())
}

pub fn stui_delivers_pending_immediately() -> R {
    set_msr(MSR_UIRR, 1 << 9);
    cpu::clui();
    let exit = run_snippet(label(core::ptr::addr_of!(entry::u_stui_probe)), 0, 0, Entry::Iretq);
    let (v, n) = delivered(exit)?;
    check_eq!(n, 1, "user interrupts delivered");
    check_eq!(v[0], 9, "vector");
    check_eq!(log_entry(0).rip, label(core::ptr::addr_of!(entry::u_stui_after)), "interrupted RIP (the instruction after STUI)");
    Ok(())
}

pub fn uiret_delivers_next_pending_back_to_back() -> R {
    set_msr(MSR_UIRR, 1 << 9 | 1 << 3);
    cpu::clui();
    let exit = run_snippet(label(core::ptr::addr_of!(entry::u_stui_probe)), 0, 0, Entry::Iretq);
    let (v, n) = delivered(exit)?;
    let after = label(core::ptr::addr_of!(entry::u_stui_after));
    check_eq!(n, 2, "user interrupts delivered");
    check_eq!(v[0], 9, "first vector");
    check_eq!(v[1], 3, "second vector");
    check_eq!(log_entry(0).rip, after, "interrupted RIP of the first delivery");
    check_eq!(log_entry(1).rip, after, "interrupted RIP of the second delivery (must follow UIRET at once)");
    check_eq!(log_entry(1).old_rsp, log_entry(0).old_rsp, "interrupted RSP of the second delivery");
    Ok(())
}

// ---- the delivery frame ----

#[repr(C, align(16))]
struct Stacks([u8; 32768]);
static STACKS: Global<Stacks> = Global::new(Stacks([0; 32768]));

/// The interrupted RSP: 8 mod 16, so that alignment matters.
fn interrupted_rsp() -> u64 {
    STACKS.ptr() as u64 + 0x3000 + 8
}

/// An alternate stack for STACKADJUST bit 0 = 1 (also 8 mod 16).
fn alternate_rsp() -> u64 {
    STACKS.ptr() as u64 + 0x6000 + 8
}

/// RFLAGS the interrupted code runs with: CF PF AF ZF SF DF OF AC, IF.
const FLAGS: u64 = 0x4_0ed7;

/// Vector 17 pending, UIF = 0; u_frame_probe sets RSP and RFLAGS and runs
/// STUI. Returns the delivery and the registers after UIRET.
fn frame_run(stackadjust: u64) -> Result<(Delivery, TrapFrame), Msg> {
    clear_log();
    set_msr(MSR_STACKADJUST, stackadjust);
    set_msr(MSR_UIRR, 1 << 17);
    cpu::clui();
    let exit = run_snippet(label(core::ptr::addr_of!(entry::u_frame_probe)), interrupted_rsp(), FLAGS, Entry::Iretq);
    let (_, n) = delivered(exit)?;
    check_eq!(n, 1, "user interrupts delivered");
    Ok((log_entry(0), last_exit()))
}

pub fn delivery_frame_contents() -> R {
    let (d, _) = frame_run(STACKADJUST)?;
    check_eq!(d.vector, 17, "vector word on the handler's stack");
    check_eq!(d.rip, label(core::ptr::addr_of!(entry::u_frame_after)), "pushed RIP");
    check_eq!(d.rflags, FLAGS, "pushed RFLAGS");
    check_eq!(d.old_rsp, interrupted_rsp(), "pushed RSP");
    check_delivered_in_ring3(&d)
}

pub fn delivery_stackadjust_subtract_and_align() -> R {
    // 0xffff_ffff_ffff_ff00: RSP - STACKADJUST wraps to RSP + 256.
    for adjust in [STACKADJUST, 200, 0, 0u64.wrapping_sub(256)] {
        let (d, _) = frame_run(adjust)?;
        let want = (interrupted_rsp().wrapping_sub(adjust) & !15) - 32;
        check_eq!(d.frame, want, "handler RSP with STACKADJUST = {} (RSP {:#x})", adjust, interrupted_rsp());
        check_eq!(d.old_rsp, interrupted_rsp(), "pushed RSP with STACKADJUST = {}", adjust);
    }
    Ok(())
}

pub fn delivery_stackadjust_load_and_align() -> R {
    let adjust = alternate_rsp() | 1;
    let (d, regs) = frame_run(adjust)?;
    let want = (alternate_rsp() & !15) - 32;
    check_eq!(d.frame, want, "handler RSP with STACKADJUST = {:#x}", adjust);
    check_eq!(d.old_rsp, interrupted_rsp(), "pushed RSP");
    check_eq!(regs.r14, interrupted_rsp(), "RSP after UIRET");
    Ok(())
}

pub fn delivery_clears_uif() -> R {
    let (d, _) = frame_run(STACKADJUST)?;
    check_eq!(d.uif, 0, "UIF in the handler (TESTUI)");
    Ok(())
}

pub fn uiret_restores_rsp_rflags_sets_uif() -> R {
    let (_, regs) = frame_run(STACKADJUST)?;
    check_eq!(regs.r13, FLAGS, "RFLAGS after UIRET");
    check_eq!(regs.r14, interrupted_rsp(), "RSP after UIRET");
    check_eq!(regs.r15, 1, "UIF after UIRET");
    Ok(())
}

/// UIRET loads only CF PF AF ZF SF TF DF OF NT RF AC ID (mask 0x254dd5)
/// from the stack; IF and IOPL stay as they are.
pub fn uiret_rflags_mask() -> R {
    const MASK: u64 = 0x25_4dd5;
    let saved = (FLAGS & !(0x1 | 0x40 | 0x200)) | 0x20_0000 | 0x3000;
    HANDLER_SET_RFLAGS.store(saved, SeqCst);
    let (_, regs) = frame_run(STACKADJUST)?;
    // The handler runs with IF = 1 and IOPL = 0 (delivery changes neither).
    check_eq!(regs.r13, 0x202 | (saved & MASK), "RFLAGS after UIRET of a frame holding {:#x}", saved);
    Ok(())
}

/// After a UIRET that loaded DF = 1 and CF = 1, CLD and CLC clear them:
/// a model that kept the loaded flags anywhere but in the flags
/// themselves (our QEMU patch once did, in QEMU's own copy of RFLAGS) shows
/// them still set, and they then leak into every RFLAGS image after.
pub fn uiret_loaded_flags_stay_the_programs() -> R {
    const MASK: u64 = 0x25_4dd5;
    const DF_CF: u64 = 0x400 | 0x1;
    clear_log();
    HANDLER_SET_RFLAGS.store(FLAGS, SeqCst);
    set_msr(MSR_STACKADJUST, STACKADJUST);
    set_msr(MSR_UIRR, 1 << 17);
    cpu::clui();
    let exit = run_snippet(label(core::ptr::addr_of!(entry::u_flags_probe)), interrupted_rsp(), FLAGS & !DF_CF, Entry::Iretq);
    let (_, n) = delivered(exit)?;
    check_eq!(n, 1, "user interrupts delivered");
    let want = (0x202 | (FLAGS & MASK)) & !DF_CF;
    check_eq!(last_exit().r13, want, "RFLAGS after UIRET of {:#x} then CLD and CLC", FLAGS);
    Ok(())
}

/// UIRET to a non-canonical RIP: #GP at the UIRET, UIF stays 0.
pub fn uiret_noncanonical_rip_gp() -> R {
    HANDLER_SET_RIP.store(0x8000_0000_0000_0000, SeqCst);
    ESCAPE_RING3_FAULT.store(true, SeqCst);
    set_msr(MSR_UIRR, 1 << 17);
    cpu::clui();
    let exit = run_snippet(label(core::ptr::addr_of!(entry::u_stui_probe)), 0, 0, Entry::Iretq);
    check_eq!(exit, FAULT_EXIT, "ring-3 exit value (expected the #GP to end the run)");
    let f = cpu::take_probe();
    let at = label(core::ptr::addr_of!(entry::uintr_entry_uiret));
    check!(matches!(f, Some(x) if x.vector == GP && x.rip == at), "{}, expected #GP at UIRET ({:#x})", FaultText(f), at);
    check!(!cpu::testui(), "UIF = 1 after the faulting UIRET");
    Ok(())
}

/// A fault while pushing the delivery frame (STACKADJUST points at an
/// unmapped page): #PF with the interrupted RIP; the user interrupt stays
/// pending and UIF stays 1.
pub fn delivery_fault_keeps_interrupt_pending() -> R {
    set_msr(MSR_STACKADJUST, (UNMAPPED_ADDR + 0x1000) | 1);
    set_msr(MSR_UIRR, 1 << 4);
    ESCAPE_RING3_FAULT.store(true, SeqCst);
    cpu::clui();
    let exit = run_snippet(label(core::ptr::addr_of!(entry::u_stui_probe)), 0, 0, Entry::Iretq);
    check_eq!(exit, FAULT_EXIT, "ring-3 exit value (expected a #PF to end the run)");
    let f = cpu::take_probe();
    let after = label(core::ptr::addr_of!(entry::u_stui_after));
    let Some(x) = f else { fail!("no fault during delivery") };
    check!(x.vector == PF, "{}, expected #PF", FaultText(f));
    check!(x.cr2 >= UNMAPPED_ADDR && x.cr2 < UNMAPPED_ADDR + 0x1000, "{}: CR2 outside the stack page", FaultText(f));
    check!(x.error & 1 == 0 && x.error & 4 != 0, "{}: expected a not-present user-mode access", FaultText(f));
    check_eq!(x.rip, after, "RIP of the #PF (the interrupted instruction)");
    check_eq!(log_len(), 0, "deliveries");
    check_eq!(uirr(), 1 << 4, "UIRR after the failed delivery");
    check!(cpu::testui(), "UIF = 0 after the failed delivery");
    Ok(())
}

/// Notification processing uses the UPID in IA32_UINTR_PD, not the one
/// the sender posted to.
pub fn notification_reads_upid_from_pd() -> R {
    set_nv(Which::B, UINV);
    set_pir(Which::A, 1 << 11);
    set_upid_lo(Which::A, upid_lo(Which::A) | 1);
    cpu::senduipi(IDX_ORDINARY_7);
    check!(on(Which::B), "ON of the sender's UPID not set");
    check!(await_requested(UINV), "no notification IPI pending after SENDUIPI");
    cpu::interrupt_window(2000);
    check_eq!(uirr(), 1 << 11, "UIRR (from PIR of the UPID in IA32_UINTR_PD)");
    check_eq!(pir(Which::A), 0, "PIR of the PD UPID");
    check!(!on(Which::A), "ON of the PD UPID still set");
    check_eq!(pir(Which::B), 1 << 7, "PIR of the sender's UPID (not the receiver's)");
    check!(on(Which::B), "ON of the sender's UPID cleared");
    Ok(())
}

/// An ordinary interrupt and a user interrupt pending at the same
/// boundary in ring 3: the ordinary one (higher priority) goes first, and
/// the user interrupt follows at once after its IRET.
pub fn ordinary_interrupt_before_user_interrupt() -> R {
    apic::self_ipi(LOW_VECTOR);
    check!(await_requested(LOW_VECTOR), "the self-IPI with vector {:#x} never landed", LOW_VECTOR);
    set_msr(MSR_UIRR, 1 << 8);
    cpu::stui();
    let exit = run_snippet(entry_probe(), 0, 0, Entry::Iretq);
    let (v, n) = delivered(exit)?;
    check_eq!(irq_count(LOW_VECTOR), 1, "IDT interrupts with vector {:#x}", LOW_VECTOR);
    check_eq!(n, 1, "user interrupts delivered");
    check_eq!(v[0], 8, "vector");
    let d = log_entry(0);
    check_eq!(IRQ_LAST_RIP[LOW_VECTOR as usize].load(SeqCst), entry_probe(), "RIP the ordinary interrupt interrupted");
    check!(IRQ_SEQ[LOW_VECTOR as usize].load(SeqCst) < d.seq, "the user interrupt was delivered before the ordinary interrupt");
    check_eq!(d.rip, entry_probe(), "interrupted RIP of the user interrupt (right after the IRET)");
    Ok(())
}

/// A notification with nothing posted (PIR = 0): EOI, nothing in UIRR,
/// nothing delivered, nothing through the IDT.
pub fn notification_with_empty_pir() -> R {
    apic::self_ipi(UINV);
    check!(await_requested(UINV), "the self-IPI with vector {:#x} never landed", UINV);
    cpu::interrupt_window(2000);
    check_eq!(irq_count(UINV), 0, "IDT interrupts with vector UINV");
    check_eq!(uirr(), 0, "UIRR");
    check_no_isr()?;
    cpu::stui();
    run_snippet(entry_probe(), 0, 0, Entry::Iretq);
    check_eq!(log_len(), 0, "user interrupts delivered");
    Ok(())
}

/// The OS's resend path: interrupts posted while SN = 1 are picked up by
/// a later UINV self-IPI (ON clear, PIR non-zero).
pub fn posted_with_sn_picked_up_by_self_ipi() -> R {
    set_sn(Which::A, true);
    cpu::senduipi(13);
    cpu::senduipi(14);
    check!(!apic::requested(UINV), "an IPI was sent although SN = 1");
    set_sn(Which::A, false);
    apic::self_ipi(UINV);
    check!(await_requested(UINV), "the self-IPI with vector {:#x} never landed", UINV);
    cpu::interrupt_window(2000);
    check_eq!(uirr(), 1 << 13 | 1 << 14, "UIRR after the UINV self-IPI");
    check_eq!(pir(Which::A), 0, "PIR");
    cpu::stui();
    let exit = run_snippet(entry_probe(), 0, 0, Entry::Iretq);
    let (v, n) = delivered(exit)?;
    check_eq!(n, 2, "user interrupts delivered");
    check_eq!(v[0], 14, "first vector");
    check_eq!(v[1], 13, "second vector");
    Ok(())
}

// ---- a second CPU as the receiver (needs -smp 2) ----

fn need_ap() -> R {
    check!(crate::harness::ap_ready(), "no second CPU waiting in ring 3 (boot with -smp 2)");
    set_msr(MSR_MISC, misc(UINV, IDX_AP_50));
    Ok(())
}

fn check_on_ap(d: &Delivery) -> R {
    check_delivered_in_ring3(d)?;
    let stack = crate::harness::ap_user_stack();
    check!((stack.start..=stack.end).contains(&d.old_rsp), "interrupted RSP {:#x} is not on the second CPU's stack {:#x?}", d.old_rsp, stack);
    Ok(())
}

/// SENDUIPI on this CPU to a UPID whose NDST is the second CPU: the
/// notification is processed there (its PD) and delivered to its ring-3
/// code; nothing happens here.
pub fn cross_cpu_delivered_on_target() -> R {
    need_ap()?;
    let exit = entry::run_user(user_send_and_wait, IDX_AP_42, 1);
    let (v, n) = delivered(exit)?;
    check_eq!(n, 1, "user interrupts delivered");
    check_eq!(v[0], 42, "vector");
    check_on_ap(&log_entry(0))?;
    check!(!on(Which::C), "ON of the second CPU's UPID still set");
    check_eq!(pir(Which::C), 0, "PIR of the second CPU's UPID");
    check_eq!(uirr(), 0, "UIRR of the sending CPU");
    check_eq!(irq_count(UINV), 0, "IDT interrupts with vector UINV");
    Ok(())
}

extern "C" fn user_send_and_spin(index: u64, _: u64) -> u64 {
    cpu::senduipi(index);
    spin(200_000);
    0
}

/// SN = 1 on the second CPU's UPID: posted, not notified; after SN is
/// cleared the next SENDUIPI notifies and both vectors are delivered there,
/// highest first.
pub fn cross_cpu_sn_then_resend() -> R {
    need_ap()?;
    set_sn(Which::C, true);
    entry::run_user(user_send_and_spin, IDX_AP_42, 0);
    check_eq!(log_len(), 0, "user interrupts delivered while SN = 1");
    check_eq!(pir(Which::C), 1 << 42, "PIR after SENDUIPI with SN = 1");
    check!(!on(Which::C), "ON set although SN = 1");
    set_sn(Which::C, false);
    let exit = entry::run_user(user_send_and_wait, IDX_AP_50, 2);
    let (v, n) = delivered(exit)?;
    check_eq!(n, 2, "user interrupts delivered");
    check_eq!(v[0], 50, "first vector");
    check_eq!(v[1], 42, "second vector");
    check_on_ap(&log_entry(0))?;
    check_on_ap(&log_entry(1))?;
    Ok(())
}
