//! Enumeration, CR4.UINTR and the UINTR MSRs (ring 0).
//!
//! MSR rules: HANDLER, STACKADJUST, PD and TT must be canonical; PD bits
//! 5:0 reserved (64-byte aligned); TT bits 3:1 reserved; MISC bits 63:40
//! reserved. Writes of bad values #GP and leave the MSR unchanged.
//! CR4.UINTR does not affect RDMSR/WRMSR of these MSRs.

use super::{cr4_uintr, R};
use crate::arch::cpu::{self, rdmsr_probe, wrmsr_probe};
use crate::harness::{expect_fault, expect_no_fault, GP};
use crate::uintr::*;

pub fn cpuid_uintr_enumerated() -> R {
    let max = cpu::cpuid(0, 0)[0];
    check!(max >= 7, "CPUID maximum basic leaf is {:#x} (< 7)", max);
    let edx = cpu::cpuid(7, 0)[3];
    check!(edx & (1 << 5) != 0, "CPUID.(7,0):EDX = {:#x}: bit 5 (UINTR) is clear", edx);
    Ok(())
}

pub fn cr4_uintr_settable() -> R {
    let cr4 = cpu::read_cr4() & !CR4_UINTR;
    let p = cpu::write_cr4(cr4 | CR4_UINTR);
    expect_no_fault(&p, format_args!("setting CR4.UINTR"))?;
    check!(cpu::read_cr4() & CR4_UINTR != 0, "CR4.UINTR reads back 0 after being set");
    let p = cpu::write_cr4(cr4);
    expect_no_fault(&p, format_args!("clearing CR4.UINTR"))?;
    check!(cpu::read_cr4() & CR4_UINTR == 0, "CR4.UINTR reads back 1 after being cleared");
    let p = cpu::write_cr4(cr4 | CR4_UINTR);
    expect_no_fault(&p, format_args!("setting CR4.UINTR again"))?;
    Ok(())
}

fn name(msr: u32) -> &'static str {
    match msr {
        MSR_UIRR => "IA32_UINTR_RR",
        MSR_HANDLER => "IA32_UINTR_HANDLER",
        MSR_STACKADJUST => "IA32_UINTR_STACKADJUST",
        MSR_MISC => "IA32_UINTR_MISC",
        MSR_PD => "IA32_UINTR_PD",
        MSR_TT => "IA32_UINTR_TT",
        _ => "MSR",
    }
}

fn round_trip(msr: u32, values: &[u64]) -> R {
    for &v in values {
        let p = wrmsr_probe(msr, v);
        expect_no_fault(&p, format_args!("WRMSR {} {:#x}", name(msr), v))?;
        let (got, p) = rdmsr_probe(msr);
        expect_no_fault(&p, format_args!("RDMSR {}", name(msr)))?;
        check_eq!(got, v, "{} read back after writing {:#x}", name(msr), v);
    }
    Ok(())
}

/// Non-canonical addresses for this CPU (48- or 57-bit linear addresses).
fn noncanonical() -> [u64; 3] {
    let la57 = cpu::cpuid(7, 0)[2] & (1 << 16) != 0;
    [0x8000_0000_0000_0000, 0x0100_0000_0000_0000, if la57 { 0x7f00_0000_0000_0000 } else { 0x0000_8000_0000_0000 }]
}

fn rejects(msr: u32, good: u64, bad: &[u64]) -> R {
    let p = wrmsr_probe(msr, good);
    expect_no_fault(&p, format_args!("WRMSR {} {:#x}", name(msr), good))?;
    for &b in bad {
        let p = wrmsr_probe(msr, b);
        expect_fault(&p, GP, format_args!("WRMSR {} {:#x}", name(msr), b))?;
        let (got, _) = rdmsr_probe(msr);
        check_eq!(got, good, "{} after the refused write of {:#x}", name(msr), b);
    }
    Ok(())
}

pub fn msr_uirr_round_trip() -> R {
    round_trip(MSR_UIRR, &[1, 1 << 63, 0xdead_beef_0123_4567, u64::MAX, 0])
}

pub fn msr_handler_round_trip() -> R {
    round_trip(MSR_HANDLER, &[0x7fff_ffff_f000, 0xffff_8000_0000_1235, 0x1000, 0])
}

pub fn msr_stackadjust_round_trip() -> R {
    round_trip(MSR_STACKADJUST, &[128, 0x1001, 0xffff_ffff_ffff_ff81, 0x7fff_ffff_fff0, 0])
}

pub fn msr_misc_round_trip() -> R {
    round_trip(MSR_MISC, &[0xff_ffff_ffff, 0x12_0000_0005, 0xec_0000_0000, 0])
}

pub fn msr_pd_round_trip() -> R {
    round_trip(MSR_PD, &[0x40, 0xffff_ffff_ffff_ffc0, 0x7fff_ffff_ffc0, upid_ptr(Which::A) as u64, 0])
}

pub fn msr_tt_round_trip() -> R {
    round_trip(MSR_TT, &[uitt_addr() | 1, uitt_addr(), 0xffff_ffff_ffff_fff1, 0x7fff_ffff_fff0, 0])
}

/// CR4.UINTR = 0 does not affect access to the UINTR MSRs.
pub fn msrs_accessible_with_cr4_uintr_clear() -> R {
    cr4_uintr(false);
    round_trip(MSR_UIRR, &[0x8000_0000_0000_0001, 0])?;
    round_trip(MSR_HANDLER, &[0x2000])?;
    round_trip(MSR_STACKADJUST, &[256])?;
    round_trip(MSR_MISC, &[0x33_0000_0010])?;
    round_trip(MSR_PD, &[0x80])?;
    round_trip(MSR_TT, &[0x1001])?;
    Ok(())
}

pub fn msr_handler_noncanonical_gp() -> R {
    rejects(MSR_HANDLER, 0x1000, &noncanonical())
}

pub fn msr_stackadjust_noncanonical_gp() -> R {
    let n = noncanonical();
    rejects(MSR_STACKADJUST, 128, &[n[0], n[1] | 1, n[2], n[2] | 1])
}

pub fn msr_pd_noncanonical_gp() -> R {
    rejects(MSR_PD, upid_ptr(Which::A) as u64, &noncanonical())
}

pub fn msr_pd_unaligned_gp() -> R {
    let a = upid_ptr(Which::A) as u64;
    rejects(MSR_PD, a, &[a + 1, a + 2, a + 4, a + 8, a + 0x10, a + 0x20, a + 0x3f])
}

pub fn msr_tt_noncanonical_gp() -> R {
    let n = noncanonical();
    rejects(MSR_TT, uitt_addr() | 1, &[n[0], n[1] | 1, n[2] | 1])
}

pub fn msr_tt_reserved_bits_gp() -> R {
    let t = uitt_addr();
    rejects(MSR_TT, t | 1, &[t | 2, t | 4, t | 8, t | 0xf, t | 0xe])
}

pub fn msr_misc_reserved_bits_gp() -> R {
    let good = misc(UINV, UITTSZ);
    rejects(MSR_MISC, good, &[good | 1 << 40, good | 1 << 47, good | 1 << 63, good | 0xffff_ff00_0000_0000])
}

/// After reset the UINTR MSRs and UIF are 0.
pub fn power_on_state_zero() -> R {
    // Safety: written once before the first test.
    let state = unsafe { crate::harness::POWER_ON.ptr().read() };
    for (i, msr) in (MSR_UIRR..=MSR_TT).enumerate() {
        check_eq!(state[i], 0, "{} at power-on", name(msr));
    }
    check_eq!(state[6], 0, "UIF at power-on");
    Ok(())
}
