//! The harness's own checks (`-append selftest`): every test here but the
//! last must FAIL, with the reason the xtask expects.

use super::{in_user_probe, wait_log, R};
use crate::arch::cpu;
use crate::arch::entry;
use crate::harness::{expect_fault, GP};

pub fn check_fails() -> R {
    check_eq!(1u64, 2u64, "deliberate mismatch");
    Ok(())
}

/// A #GP outside any probe (non-canonical address) aborts the test.
pub fn unexpected_gp_ring0() -> R {
    // Safety: deliberately faults; the harness aborts the test.
    unsafe { core::ptr::read_volatile(0x8000_0000_0000_0000usize as *const u8) };
    Ok(())
}

extern "C" fn user_read_supervisor(addr: u64, _: u64) -> u64 {
    // Safety: deliberately faults (a supervisor-only page read in ring 3).
    unsafe { core::ptr::read_volatile(addr as *const u8) as u64 }
}

pub fn unexpected_pf_ring3() -> R {
    entry::run_user(user_read_supervisor, crate::uintr::upid_ptr(crate::uintr::Which::A) as u64, 0);
    Ok(())
}

extern "C" fn user_forever(_: u64, _: u64) -> u64 {
    loop {
        core::hint::spin_loop();
    }
}

/// Ring 3 never comes back: the watchdog aborts the test.
pub fn watchdog_ring3() -> R {
    entry::run_user(user_forever, 0, 0);
    Ok(())
}

fn read_probe(a: u64) -> cpu::Probe {
    cpu::read_probe(a)
}

/// A probe that does not fault where a #GP is expected.
pub fn expected_fault_missing() -> R {
    let p = in_user_probe(read_probe, 0x1000);
    expect_fault(&p, GP, format_args!("reading a mapped user page"))
}

pub fn passes() -> R {
    Ok(())
}

/// Nothing is sent: the bounded wait for a delivery must end and report
/// it missing, not hang (the watchdog would name it differently).
pub fn delivery_wait_times_out() -> R {
    check!(wait_log(1, 100_000), "no user interrupt arrived within 100000 spins");
    Ok(())
}
