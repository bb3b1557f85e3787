//! The tests. Each starts from `harness::reset` (CR4.UINTR = 1, UIF = 0,
//! UIRR = 0, the standard MSRs and tables, interrupts off in ring 0).

mod absent;
mod config;
mod delivery;
mod instr;
mod selftest;
mod send;

use crate::arch::apic;
use crate::arch::cpu::{self, Probe};
use crate::arch::entry::{self, Entry};
use crate::harness::{Basis, Outcome, Test};
use crate::uintr;
use crate::Global;

// ---- helpers shared by the test modules ----

pub fn uirr() -> u64 {
    cpu::rdmsr(uintr::MSR_UIRR)
}

pub fn set_msr(msr: u32, v: u64) {
    // Safety: only the UINTR MSRs are written through this, with values
    // the tests choose; a #GP would abort the test.
    unsafe { cpu::wrmsr(msr, v) };
}

pub fn cr4_uintr(on: bool) {
    let cr4 = cpu::read_cr4();
    let _ = cpu::write_cr4(if on { cr4 | uintr::CR4_UINTR } else { cr4 & !uintr::CR4_UINTR });
}

/// Values ring-3 helpers hand back to ring 0.
pub static USER_OUT: Global<[u64; 8]> = Global::new([0; 8]);
static USER_PROBE: Global<Option<Probe>> = Global::new(None);

pub fn user_out(i: usize) -> u64 {
    // Safety: in bounds; written by ring-3 code that has returned.
    unsafe { core::ptr::addr_of!((*USER_OUT.ptr())[i]).read_volatile() }
}

pub fn set_user_out(i: usize, v: u64) {
    // Safety: in bounds; single CPU.
    unsafe { core::ptr::addr_of_mut!((*USER_OUT.ptr())[i]).write_volatile(v) }
}

extern "C" fn user_probe_trampoline(f: u64, arg: u64) -> u64 {
    // Safety: `f` is the `fn(u64) -> Probe` that `in_user_probe` passed.
    let f: fn(u64) -> Probe = unsafe { core::mem::transmute(f as usize) };
    let p = f(arg);
    // Safety: single CPU; read by `in_user_probe` after the return.
    unsafe { USER_PROBE.ptr().write_volatile(Some(p)) };
    0
}

/// Runs a probe in ring 3 and returns its result.
pub fn in_user_probe(f: fn(u64) -> Probe, arg: u64) -> Probe {
    // Safety: single CPU.
    unsafe { USER_PROBE.ptr().write_volatile(None) };
    entry::run_user(user_probe_trampoline, f as usize as u64, arg);
    // Safety: as above.
    unsafe { USER_PROBE.ptr().read_volatile() }.unwrap_or(Probe { fault: None, at: 0 })
}

pub fn run_snippet(rip: u64, arg0: u64, arg1: u64, how: Entry) -> u64 {
    entry::run_user_at(rip, arg0, arg1, 0x202, how)
}

/// Spins up to `n` iterations until the handler log has `len` entries
/// (usable in ring 3).
pub fn wait_log(len: usize, n: u32) -> bool {
    for _ in 0..n {
        if crate::harness::log_len() >= len {
            return true;
        }
        core::hint::spin_loop();
    }
    crate::harness::log_len() >= len
}

pub fn spin(n: u32) {
    for _ in 0..n {
        core::hint::spin_loop();
    }
}

/// How long a test waits for an interrupt it expects to land: far longer
/// than an IPI takes on any model (a few instructions on the emulators, a
/// microsecond or so on hardware), so reaching it means the interrupt was
/// lost, not late.
pub const IPI_SPINS: u32 = 1 << 20;

/// Waits with interrupts off (bounded) until `vector` is requested in the
/// local APIC: an IPI this CPU sent takes time to land, and Intel promises
/// no instruction by which it has.
pub fn await_requested(vector: u8) -> bool {
    for _ in 0..IPI_SPINS {
        if apic::requested(vector) {
            return true;
        }
        core::hint::spin_loop();
    }
    apic::requested(vector)
}

/// Opens interrupt windows (bounded) until UIRR reads `want`.
pub fn await_uirr(want: u64) -> bool {
    for _ in 0..IPI_SPINS / 1024 {
        if uirr() == want {
            return true;
        }
        cpu::interrupt_window(1024);
    }
    uirr() == want
}

/// Spins up to `n` iterations until `vector` has come through the IDT
/// (usable in ring 3).
pub fn wait_irq(vector: u8, n: u32) -> bool {
    for _ in 0..n {
        if crate::harness::irq_count(vector) > 0 {
            return true;
        }
        core::hint::spin_loop();
    }
    crate::harness::irq_count(vector) > 0
}

/// Every test is architectural (`Basis::Architectural`) unless marked
/// `model "why"`.
macro_rules! t {
    ($name:literal, $f:path) => {
        Test { name: $name, run: |_| $f(), arg: 0, needs_uintr: true, basis: Basis::Architectural }
    };
    ($name:literal, $f:path, arg $a:expr) => {
        Test { name: $name, run: $f, arg: $a, needs_uintr: true, basis: Basis::Architectural }
    };
    ($name:literal, $f:path, any) => {
        Test { name: $name, run: |_| $f(), arg: 0, needs_uintr: false, basis: Basis::Architectural }
    };
    ($name:literal, $f:path, model $why:literal) => {
        Test { name: $name, run: |_| $f(), arg: 0, needs_uintr: true, basis: Basis::Model($why) }
    };
}

/// The full suite (a CPU with UINTR).
pub static ALL: &[Test] = &[
    t!("cpuid_uintr_enumerated", config::cpuid_uintr_enumerated, any),
    t!("power_on_state_zero", config::power_on_state_zero),
    t!("cr4_uintr_settable", config::cr4_uintr_settable),
    t!("msr_uirr_round_trip", config::msr_uirr_round_trip),
    t!("msr_handler_round_trip", config::msr_handler_round_trip),
    t!("msr_stackadjust_round_trip", config::msr_stackadjust_round_trip),
    t!("msr_misc_round_trip", config::msr_misc_round_trip),
    t!("msr_pd_round_trip", config::msr_pd_round_trip),
    t!("msr_tt_round_trip", config::msr_tt_round_trip),
    t!("msrs_accessible_with_cr4_uintr_clear", config::msrs_accessible_with_cr4_uintr_clear),
    t!("msr_handler_noncanonical_gp", config::msr_handler_noncanonical_gp),
    t!("msr_stackadjust_noncanonical_gp", config::msr_stackadjust_noncanonical_gp),
    t!("msr_pd_noncanonical_gp", config::msr_pd_noncanonical_gp),
    t!("msr_pd_unaligned_gp", config::msr_pd_unaligned_gp),
    t!("msr_tt_noncanonical_gp", config::msr_tt_noncanonical_gp),
    t!("msr_tt_reserved_bits_gp", config::msr_tt_reserved_bits_gp),
    t!("msr_misc_reserved_bits_gp", config::msr_misc_reserved_bits_gp),
    t!("ud_senduipi_cr4_uintr_clear", instr::ud_senduipi, any),
    t!("ud_uiret_cr4_uintr_clear", instr::ud_uiret, any),
    t!("ud_testui_cr4_uintr_clear", instr::ud_testui, any),
    t!("ud_clui_cr4_uintr_clear", instr::ud_clui, any),
    t!("ud_stui_cr4_uintr_clear", instr::ud_stui, any),
    t!("ud_lock_prefix", instr::ud_lock_prefix),
    t!("testui_reflects_uif_ring3", instr::testui_reflects_uif_ring3),
    t!("clui_stui_testui_ring0", instr::clui_stui_testui_ring0),
    t!("uiret_in_ring0", instr::uiret_in_ring0),
    t!("senduipi_operand_rax", send::senduipi_operand, arg 0),
    t!("senduipi_operand_rcx", send::senduipi_operand, arg 1),
    t!("senduipi_operand_rdx", send::senduipi_operand, arg 2),
    t!("senduipi_operand_rbx", send::senduipi_operand, arg 3),
    t!("senduipi_operand_rsp", send::senduipi_operand, arg 4),
    t!("senduipi_operand_rbp", send::senduipi_operand, arg 5),
    t!("senduipi_operand_rsi", send::senduipi_operand, arg 6),
    t!("senduipi_operand_rdi", send::senduipi_operand, arg 7),
    t!("senduipi_operand_r8", send::senduipi_operand, arg 8),
    t!("senduipi_operand_r9", send::senduipi_operand, arg 9),
    t!("senduipi_operand_r10", send::senduipi_operand, arg 10),
    t!("senduipi_operand_r11", send::senduipi_operand, arg 11),
    t!("senduipi_operand_r12", send::senduipi_operand, arg 12),
    t!("senduipi_operand_r13", send::senduipi_operand, arg 13),
    t!("senduipi_operand_r14", send::senduipi_operand, arg 14),
    t!("senduipi_operand_r15", send::senduipi_operand, arg 15),
    t!("senduipi_operand_is_64_bit", send::senduipi_operand_is_64_bit),
    t!(
        "senduipi_operand_size_prefix_ignored",
        send::senduipi_operand_size_prefix_ignored,
        model "Intel's text does not say what a 66 prefix does to SENDUIPI; our QEMU and Bochs ignore it"
    ),
    t!("senduipi_gp_index_above_uittsz", send::senduipi_gp_index_above_uittsz),
    t!("senduipi_gp_invalid_entry", send::senduipi_gp_invalid_entry),
    t!("senduipi_gp_uitte_reserved_bits", send::senduipi_gp_uitte_reserved_bits),
    t!("senduipi_gp_upid_reserved_bits", send::senduipi_gp_upid_reserved_bits),
    t!("senduipi_ud_tt_enable_clear", send::senduipi_ud_tt_enable_clear),
    t!("senduipi_pf_unmapped_upid", send::senduipi_pf_unmapped_upid),
    t!("senduipi_accesses_are_supervisor", send::senduipi_accesses_are_supervisor),
    t!("senduipi_posts_pir_sets_on_sends_ipi", send::senduipi_posts_pir_sets_on_sends_ipi),
    t!("senduipi_sn_suppresses_notification", send::senduipi_sn_suppresses_notification),
    t!("senduipi_on_set_sends_no_second_ipi", send::senduipi_on_set_sends_no_second_ipi),
    t!("senduipi_ndst_other_apic_not_local", send::senduipi_ndst_other_apic_not_local),
    t!("senduipi_ndst_uses_xapic_bits", send::senduipi_ndst_uses_xapic_bits),
    t!("nv_not_uinv_goes_through_idt", send::nv_not_uinv_goes_through_idt),
    t!("uinv_through_idt_when_cr4_uintr_clear", send::uinv_through_idt_when_cr4_uintr_clear),
    t!("notification_processed_in_ring0", delivery::notification_processed_in_ring0),
    t!("notification_eoi_unblocks_lower_vectors", delivery::notification_eoi_unblocks_lower_vectors),
    t!("notification_uses_misc_uinv", delivery::notification_uses_misc_uinv),
    t!("notification_reads_upid_from_pd", delivery::notification_reads_upid_from_pd),
    t!("notification_with_empty_pir", delivery::notification_with_empty_pir),
    t!("posted_with_sn_picked_up_by_self_ipi", delivery::posted_with_sn_picked_up_by_self_ipi),
    t!("ring0_notification_delivered_on_iretq", delivery::ring0_notification_delivered_on_iretq),
    t!("ring0_notification_delivered_on_sysret", delivery::ring0_notification_delivered_on_sysret),
    t!("pending_notification_taken_in_ring3", delivery::pending_notification_taken_in_ring3),
    t!("senduipi_ring3_self_delivery", delivery::senduipi_ring3_self_delivery),
    t!("coalesced_notification_delivers_both", delivery::coalesced_notification_delivers_both),
    t!("all_64_vectors_delivered_highest_first", delivery::all_64_vectors_delivered_highest_first),
    t!("vector_63_delivered", delivery::vector_63_delivered),
    t!("uirr_wrmsr_delivered_on_return", delivery::uirr_wrmsr_delivered_on_return),
    t!("ordinary_interrupt_before_user_interrupt", delivery::ordinary_interrupt_before_user_interrupt),
    t!("no_delivery_at_cpl0", delivery::no_delivery_at_cpl0),
    t!("no_delivery_with_uif_clear", delivery::no_delivery_with_uif_clear),
    t!("no_delivery_with_cr4_uintr_clear", delivery::no_delivery_with_cr4_uintr_clear),
    t!("stui_delivers_pending_immediately", delivery::stui_delivers_pending_immediately),
    t!("uiret_delivers_next_pending_back_to_back", delivery::uiret_delivers_next_pending_back_to_back),
    t!("delivery_frame_contents", delivery::delivery_frame_contents),
    t!("delivery_stackadjust_subtract_and_align", delivery::delivery_stackadjust_subtract_and_align),
    t!("delivery_stackadjust_load_and_align", delivery::delivery_stackadjust_load_and_align),
    t!("delivery_clears_uif", delivery::delivery_clears_uif),
    t!("uiret_restores_rsp_rflags_sets_uif", delivery::uiret_restores_rsp_rflags_sets_uif),
    t!("uiret_rflags_mask", delivery::uiret_rflags_mask),
    t!("uiret_loaded_flags_stay_the_programs", delivery::uiret_loaded_flags_stay_the_programs),
    t!("uiret_noncanonical_rip_gp", delivery::uiret_noncanonical_rip_gp),
    t!("delivery_fault_keeps_interrupt_pending", delivery::delivery_fault_keeps_interrupt_pending),
    t!("cross_cpu_delivered_on_target", delivery::cross_cpu_delivered_on_target),
    t!("cross_cpu_sn_then_resend", delivery::cross_cpu_sn_then_resend),
];

/// The suite for a CPU without UINTR (`-append absent`).
pub static ABSENT: &[Test] = &[
    t!("absent_cpuid_bit_clear", absent::cpuid_bit_clear, any),
    t!("ud_senduipi_cr4_uintr_clear", instr::ud_senduipi, any),
    t!("ud_uiret_cr4_uintr_clear", instr::ud_uiret, any),
    t!("ud_testui_cr4_uintr_clear", instr::ud_testui, any),
    t!("ud_clui_cr4_uintr_clear", instr::ud_clui, any),
    t!("ud_stui_cr4_uintr_clear", instr::ud_stui, any),
];

/// `-append "absent strict"`: also the rules stock QEMU 7.2 does not
/// follow for any unknown feature (a reserved CR4 bit hangs it, unknown
/// MSRs read as 0), for the patched QEMU with `-uintr`.
pub static ABSENT_STRICT: &[Test] = &[
    t!("absent_cpuid_bit_clear", absent::cpuid_bit_clear, any),
    t!("absent_cr4_uintr_gp", absent::cr4_uintr_gp, any),
    t!("absent_uintr_msrs_gp", absent::uintr_msrs_gp, any),
    t!("ud_senduipi_cr4_uintr_clear", instr::ud_senduipi, any),
    t!("ud_uiret_cr4_uintr_clear", instr::ud_uiret, any),
    t!("ud_testui_cr4_uintr_clear", instr::ud_testui, any),
    t!("ud_clui_cr4_uintr_clear", instr::ud_clui, any),
    t!("ud_stui_cr4_uintr_clear", instr::ud_stui, any),
];

/// `-append selftest`: tests that must fail, each in a different way, to
/// show that the harness reports failures (the xtask checks the reasons).
pub static SELFTEST: &[Test] = &[
    t!("selftest_check_fails", selftest::check_fails, any),
    t!("selftest_unexpected_gp_ring0", selftest::unexpected_gp_ring0, any),
    t!("selftest_unexpected_pf_ring3", selftest::unexpected_pf_ring3, any),
    t!("selftest_watchdog_ring3", selftest::watchdog_ring3, any),
    t!("selftest_expected_fault_missing", selftest::expected_fault_missing, any),
    t!("selftest_delivery_wait_times_out", selftest::delivery_wait_times_out, any),
    t!("selftest_passes", selftest::passes, any),
];

pub type R = Outcome;
