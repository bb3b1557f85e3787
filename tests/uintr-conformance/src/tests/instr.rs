//! The UINTR instructions themselves: #UD while CR4.UINTR = 0 (in ring 0
//! and ring 3), #UD with a LOCK prefix, and TESTUI/CLUI/STUI and UIF.

use super::{cr4_uintr, in_user_probe, set_user_out, user_out, R};
use crate::arch::cpu::{self, Probe};
use crate::arch::entry;
use crate::harness::{expect_fault, has_uintr, FaultText, UD};

/// `probe` must #UD at the probed instruction in ring 0 and in ring 3
/// with CR4.UINTR = 0. `exact` says whether the fault must be at the
/// probe's first instruction (UIRET's probe first builds a frame).
fn ud_cr4_clear(what: &str, probe: fn(u64) -> Probe, exact: bool) -> R {
    if has_uintr() {
        cr4_uintr(false);
    }
    check!(cpu::read_cr4() & crate::uintr::CR4_UINTR == 0, "CR4.UINTR could not be cleared");
    for ring in [0u64, 3] {
        let p = if ring == 0 { probe(0) } else { in_user_probe(probe, 0) };
        expect_fault(&p, UD, format_args!("{} in ring {} with CR4.UINTR = 0", what, ring))?;
        let f = p.fault.unwrap();
        check!(f.cs & 3 == ring, "{}: the #UD was taken in ring {} instead of ring {}", what, f.cs & 3, ring);
        if exact {
            check!(f.rip == p.at, "{} in ring {}: {} but the instruction is at {:#x}", what, ring, FaultText(p.fault), p.at);
        } else {
            check!(f.rip >= p.at && f.rip < p.at + 32, "{} in ring {}: {} (probe at {:#x})", what, ring, FaultText(p.fault), p.at);
        }
    }
    Ok(())
}

pub fn ud_senduipi() -> R {
    ud_cr4_clear("SENDUIPI", cpu::senduipi_probe, true)
}

pub fn ud_uiret() -> R {
    ud_cr4_clear("UIRET", |_| cpu::uiret_probe(), false)
}

pub fn ud_testui() -> R {
    ud_cr4_clear("TESTUI", |_| cpu::testui_probe(), true)
}

pub fn ud_clui() -> R {
    ud_cr4_clear("CLUI", |_| cpu::clui_probe(), true)
}

pub fn ud_stui() -> R {
    ud_cr4_clear("STUI", |_| cpu::stui_probe(), true)
}

/// CLUI, STUI and TESTUI with a LOCK prefix #UD (CR4.UINTR = 1).
pub fn ud_lock_prefix() -> R {
    for (what, probe) in
        [("LOCK CLUI", cpu::lock_clui_probe as fn() -> Probe), ("LOCK STUI", cpu::lock_stui_probe), ("LOCK TESTUI", cpu::lock_testui_probe)]
    {
        let p = probe();
        expect_fault(&p, UD, format_args!("{}", what))?;
    }
    Ok(())
}

/// Arithmetic flags TESTUI must clear (OF, SF, ZF, AF, PF) or set from
/// UIF (CF).
const ARITH: u64 = 0x8d5;

fn testui_sequence() -> [u64; 4] {
    cpu::clui();
    let a = cpu::testui_flags(ARITH);
    cpu::stui();
    let b = cpu::testui_flags(ARITH);
    let c = cpu::testui_flags(0);
    cpu::clui();
    let d = cpu::testui_flags(ARITH);
    [a, b, c, d]
}

fn check_testui(r: [u64; 4], ring: u32) -> R {
    check_eq!(r[0] & ARITH, 0, "ring {}: RFLAGS arithmetic bits after CLUI; TESTUI (CF should be 0, OSZAP cleared)", ring);
    check_eq!(r[1] & ARITH, 1, "ring {}: RFLAGS arithmetic bits after STUI; TESTUI (CF should be 1, OSZAP cleared)", ring);
    check_eq!(r[2] & ARITH, 1, "ring {}: RFLAGS arithmetic bits after STUI; TESTUI from clear flags", ring);
    check_eq!(r[3] & ARITH, 0, "ring {}: RFLAGS arithmetic bits after CLUI again; TESTUI", ring);
    Ok(())
}

extern "C" fn user_testui(_: u64, _: u64) -> u64 {
    let r = testui_sequence();
    for (i, v) in r.iter().enumerate() {
        set_user_out(i, *v);
    }
    0
}

pub fn testui_reflects_uif_ring3() -> R {
    entry::run_user(user_testui, 0, 0);
    check_testui([user_out(0), user_out(1), user_out(2), user_out(3)], 3)
}

pub fn clui_stui_testui_ring0() -> R {
    check_testui(testui_sequence(), 0)
}

/// UIRET works at any CPL: in ring 0 it pops RIP, RFLAGS, RSP (a frame
/// returning to the next instruction) and sets UIF.
pub fn uiret_in_ring0() -> R {
    cpu::clui();
    let p = cpu::uiret_probe();
    crate::harness::expect_no_fault(&p, format_args!("UIRET in ring 0"))?;
    check!(cpu::testui(), "UIF = 0 after UIRET in ring 0");
    Ok(())
}
