//! SENDUIPI: operand decoding, its #GP/#UD/#PF rules, posting into the
//! UPID (PIR, ON, SN) and the notification IPI it sends.

use super::{await_requested, cr4_uintr, in_user_probe, run_snippet, set_msr, uirr, wait_irq, IPI_SPINS, R};
use crate::arch::apic;
use crate::arch::boot::UNMAPPED_ADDR;
use crate::arch::cpu::{self, Probe};
use crate::arch::entry::{self, Entry, SENDUIPI_SNIPPETS};
use crate::harness::{expect_fault, expect_no_fault, irq_count, log_len, FaultText, GP, IRQ_LAST_CS, PF, UD};
use crate::uintr::*;
use core::sync::atomic::Ordering::SeqCst;

/// SENDUIPI REG for each GPR (ring 3): index 20 + n selects vector 20 + n
/// (UPID A with SN = 1, so only PIR changes).
pub fn senduipi_operand(n: usize) -> R {
    let (reg, snippet) = SENDUIPI_SNIPPETS[n];
    set_sn(Which::A, true);
    let index = 20 + n as u64;
    run_snippet(snippet(), index, 0, Entry::Iretq);
    check_eq!(pir(Which::A), 1u64 << index, "PIR after SENDUIPI {} with {} = {}", reg, reg, index);
    check!(!on(Which::A), "ON set although SN = 1");
    Ok(())
}

fn send_probe(i: u64) -> Probe {
    cpu::senduipi_probe(i)
}

/// The operand is always 64 bits: high bits count.
pub fn senduipi_operand_is_64_bit() -> R {
    set_sn(Which::A, true);
    for index in [1u64 << 32 | 1, 1 << 63 | 2, u64::MAX] {
        let p = cpu::senduipi_probe(index);
        expect_fault(&p, GP, format_args!("SENDUIPI with index {:#x} (low bits name a valid entry)", index))?;
    }
    check_eq!(pir(Which::A), 0, "PIR after refused sends");
    Ok(())
}

/// A 66 prefix does not shorten the operand.
pub fn senduipi_operand_size_prefix_ignored() -> R {
    set_sn(Which::A, true);
    let p = cpu::senduipi_opsize_probe(1 << 16 | 3);
    expect_fault(&p, GP, format_args!("66-prefixed SENDUIPI with index 0x10003"))?;
    check_eq!(pir(Which::A), 0, "PIR after refused sends");
    let p = cpu::senduipi_opsize_probe(3);
    expect_no_fault(&p, format_args!("66-prefixed SENDUIPI with index 3"))?;
    check_eq!(pir(Which::A), 1 << 3, "PIR after the 66-prefixed SENDUIPI");
    Ok(())
}

/// From ring 3: `index` must #GP and change nothing.
fn gp_from_ring3(index: u64, what: &str) -> R {
    let p = in_user_probe(send_probe, index);
    expect_fault(&p, GP, format_args!("SENDUIPI {} (index {})", what, index))?;
    check!(p.fault.unwrap().rip == p.at, "SENDUIPI {}: {} but SENDUIPI is at {:#x}", what, FaultText(p.fault), p.at);
    for w in [Which::A, Which::B, Which::Bad] {
        check_eq!(pir(w), 0, "a PIR after the refused SENDUIPI {}", what);
        check!(!on(w), "ON set by the refused SENDUIPI {}", what);
    }
    check!(!apic::requested(UINV), "the refused SENDUIPI {} sent a notification", what);
    Ok(())
}

pub fn senduipi_gp_index_above_uittsz() -> R {
    gp_from_ring3(IDX_BEYOND_SIZE, "index UITTSZ + 1")?;
    gp_from_ring3(0x1_0000, "index 0x10000")?;
    // UITTSZ = 0: only index 0 is usable.
    set_msr(MSR_MISC, misc(UINV, 0));
    gp_from_ring3(1, "index 1 with UITTSZ = 0")?;
    set_sn(Which::A, true);
    let p = in_user_probe(send_probe, 0);
    expect_no_fault(&p, format_args!("SENDUIPI index 0 with UITTSZ = 0"))?;
    check_eq!(pir(Which::A), 1, "PIR after SENDUIPI index 0");
    Ok(())
}

pub fn senduipi_gp_invalid_entry() -> R {
    gp_from_ring3(IDX_INVALID, "to an entry with V = 0")
}

pub fn senduipi_gp_uitte_reserved_bits() -> R {
    gp_from_ring3(IDX_RESERVED_LOW, "to an entry with reserved bit 1 set")?;
    gp_from_ring3(IDX_RESERVED_HIGH, "to an entry with reserved bit 16 set")?;
    gp_from_ring3(IDX_UV_64, "to an entry with UV = 64")?;
    gp_from_ring3(IDX_UPID_MISALIGNED, "to an entry whose UPID address is not 64-byte aligned")
}

pub fn senduipi_gp_upid_reserved_bits() -> R {
    gp_from_ring3(IDX_UPID_RESERVED, "to a UPID with reserved bit 5 set")
}

/// IA32_UINTR_TT[0] = 0: SENDUIPI is disabled and #UDs (SDM: "#UD ... If
/// IA32_UINTR_TT[0] = 0").
pub fn senduipi_ud_tt_enable_clear() -> R {
    set_msr(MSR_TT, uitt_addr());
    let p = in_user_probe(send_probe, 1);
    expect_fault(&p, UD, format_args!("SENDUIPI with IA32_UINTR_TT[0] = 0"))?;
    check_eq!(pir(Which::A), 0, "PIR after the refused SENDUIPI");
    Ok(())
}

/// A UPID address that is not mapped: #PF for a supervisor access.
pub fn senduipi_pf_unmapped_upid() -> R {
    let p = in_user_probe(send_probe, IDX_UPID_UNMAPPED);
    expect_fault(&p, PF, format_args!("SENDUIPI to an unmapped UPID"))?;
    let f = p.fault.unwrap();
    check_eq!(f.cr2, UNMAPPED_ADDR, "CR2 of the #PF");
    check!(f.error & 1 == 0, "#PF error code {:#x}: P set for a not-present page", f.error);
    check!(f.error & 4 == 0, "#PF error code {:#x}: U/S set, but SENDUIPI's accesses are supervisor accesses", f.error);
    check!(f.rip == p.at, "{} but SENDUIPI is at {:#x}", FaultText(p.fault), p.at);
    Ok(())
}

fn read_probe(a: u64) -> Probe {
    cpu::read_probe(a)
}

/// The UITT and UPIDs sit in a supervisor-only page that ring 3 cannot
/// read, yet SENDUIPI from ring 3 uses them.
pub fn senduipi_accesses_are_supervisor() -> R {
    let p = in_user_probe(read_probe, upid_ptr(Which::A) as u64);
    expect_fault(&p, PF, format_args!("ring-3 read of the UPID page (test set-up)"))?;
    set_sn(Which::A, true);
    let p = in_user_probe(send_probe, 3);
    expect_no_fault(&p, format_args!("ring-3 SENDUIPI with UITT and UPID in supervisor pages"))?;
    check_eq!(pir(Which::A), 1 << 3, "PIR after the ring-3 SENDUIPI");
    Ok(())
}

/// Ring 0, IF = 0: PIR[UV] set, ON set, NV/NDST untouched, the
/// notification IPI (vector NV = UINV) pending in the IRR.
pub fn senduipi_posts_pir_sets_on_sends_ipi() -> R {
    let before = upid_lo(Which::A);
    check!(!apic::requested(UINV), "UINV already requested before the send");
    cpu::senduipi(5);
    check_eq!(pir(Which::A), 1 << 5, "PIR after SENDUIPI index 5");
    check_eq!(upid_lo(Which::A), before | 1, "UPID bits 63:0 (ON should be set, NV and NDST kept)");
    check!(await_requested(UINV), "no IPI with vector NV ({:#x}) pending in the local APIC after SENDUIPI", UINV);
    Ok(())
}

/// SN = 1: PIR is posted, but ON stays 0 and no IPI is sent.
pub fn senduipi_sn_suppresses_notification() -> R {
    set_sn(Which::A, true);
    cpu::senduipi(5);
    check_eq!(pir(Which::A), 1 << 5, "PIR after SENDUIPI with SN = 1");
    check!(!on(Which::A), "ON set although SN = 1");
    check!(!apic::requested(UINV), "an IPI was sent although SN = 1");
    cpu::interrupt_window(2000);
    check_eq!(uirr(), 0, "UIRR after SENDUIPI with SN = 1");
    check_eq!(irq_count(UINV), 0, "interrupts with vector UINV through the IDT");
    cpu::stui();
    run_snippet(entry::label(core::ptr::addr_of!(entry::u_entry_probe)), 0, 0, Entry::Iretq);
    check_eq!(log_len(), 0, "user interrupts delivered");
    check_eq!(pir(Which::A), 1 << 5, "PIR after returning from ring 3");
    Ok(())
}

/// ON = 1: a second SENDUIPI posts but sends no IPI. UPID B's NV is an
/// ordinary vector, so each IPI shows up in the IDT (which does not clear
/// ON).
pub fn senduipi_on_set_sends_no_second_ipi() -> R {
    cpu::senduipi(IDX_ORDINARY_7);
    check!(await_requested(ORDINARY_NV), "no IPI with vector NV after the first SENDUIPI");
    cpu::interrupt_window(2000);
    check_eq!(irq_count(ORDINARY_NV), 1, "IDT interrupts with vector NV after the first SENDUIPI");
    check!(on(Which::B), "ON clear after the first SENDUIPI (only notification processing clears it)");
    cpu::senduipi(IDX_ORDINARY_9);
    check!(!apic::requested(ORDINARY_NV), "the second SENDUIPI sent an IPI although ON = 1");
    cpu::interrupt_window(2000);
    check_eq!(irq_count(ORDINARY_NV), 1, "IDT interrupts with vector NV after the second SENDUIPI");
    check_eq!(pir(Which::B), 1 << 7 | 1 << 9, "PIR after both sends");
    check_eq!(uirr(), 0, "UIRR (NV is not UINV)");
    Ok(())
}

extern "C" fn user_send_ordinary(_: u64, _: u64) -> u64 {
    cpu::stui();
    cpu::senduipi(IDX_ORDINARY_7);
    wait_irq(ORDINARY_NV, IPI_SPINS);
    0
}

/// NV != UINV: the IPI is an ordinary interrupt through the IDT, taken in
/// ring 3; nothing moves to UIRR and nothing is delivered.
pub fn nv_not_uinv_goes_through_idt() -> R {
    entry::run_user(user_send_ordinary, 0, 0);
    check_eq!(irq_count(ORDINARY_NV), 1, "IDT interrupts with vector {:#x} (NV, not UINV)", ORDINARY_NV);
    check_eq!(IRQ_LAST_CS[ORDINARY_NV as usize].load(SeqCst) & 3, 3, "ring the NV interrupt was taken in");
    check_eq!(uirr(), 0, "UIRR");
    check_eq!(log_len(), 0, "user interrupts delivered");
    check_eq!(pir(Which::B), 1 << 7, "PIR of UPID B");
    check!(on(Which::B), "ON of UPID B cleared by an ordinary interrupt");
    check!(apic::highest_in_service().is_none(), "a vector left in service: {:?}", apic::highest_in_service());
    Ok(())
}

/// With CR4.UINTR = 0, vector UINV is an ordinary interrupt: through the
/// IDT, the UPID untouched.
pub fn uinv_through_idt_when_cr4_uintr_clear() -> R {
    set_upid_lo(Which::A, upid_lo(Which::A) | 1);
    set_pir(Which::A, 1 << 3);
    cr4_uintr(false);
    apic::self_ipi(UINV);
    check!(await_requested(UINV), "the self-IPI with vector {:#x} never landed", UINV);
    cpu::interrupt_window(2000);
    check_eq!(irq_count(UINV), 1, "IDT interrupts with vector UINV while CR4.UINTR = 0");
    check_eq!(pir(Which::A), 1 << 3, "PIR (no notification processing)");
    check!(on(Which::A), "ON cleared although CR4.UINTR = 0");
    check_eq!(uirr(), 0, "UIRR");
    Ok(())
}

/// xAPIC: the destination is NDST[15:8] (UPID bits 47:40). NDST naming
/// another APIC ID does not interrupt this CPU.
pub fn senduipi_ndst_other_apic_not_local() -> R {
    let id = crate::harness::apic_id();
    // Neither this CPU nor the second one (APIC ID + 1), nor broadcast.
    let other = id.wrapping_add(0x10);
    set_upid_lo(Which::A, upid_value(UINV, other));
    cpu::senduipi(5);
    check!(on(Which::A), "ON not set");
    check_eq!(pir(Which::A), 1 << 5, "PIR");
    cpu::interrupt_window(2000);
    check!(on(Which::A), "ON cleared: the notification reached this CPU (APIC ID {}) instead of APIC ID {}", id, id.wrapping_add(1));
    check_eq!(uirr(), 0, "UIRR");
    check_eq!(irq_count(UINV), 0, "IDT interrupts with vector UINV");
    Ok(())
}

/// xAPIC: NDST bits 7:0 (UPID bits 39:32) do not select the destination.
pub fn senduipi_ndst_uses_xapic_bits() -> R {
    let id = crate::harness::apic_id();
    set_upid_lo(Which::A, upid_value(UINV, id) | (id.wrapping_add(5) as u64) << 32);
    cpu::senduipi(5);
    check!(await_requested(UINV), "no notification reached this CPU (NDST[15:8] names it)");
    cpu::interrupt_window(2000);
    check_eq!(uirr(), 1 << 5, "UIRR (NDST[15:8] = this APIC, NDST[7:0] = another)");
    check!(!on(Which::A), "ON still set: no notification reached this CPU");
    Ok(())
}
