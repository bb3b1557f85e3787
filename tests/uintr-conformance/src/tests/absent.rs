//! On a CPU without UINTR (`-append absent`): CPUID says so; with
//! `strict` also CR4.UINTR cannot be set and the UINTR MSRs #GP (stock
//! QEMU 7.2 hangs on a reserved CR4 bit and reads unknown MSRs as 0, so
//! only the patched QEMU is held to those).

use super::R;
use crate::arch::cpu;
use crate::harness::{expect_fault, GP};
use crate::uintr::{CR4_UINTR, MSR_TT, MSR_UIRR};

pub fn cpuid_bit_clear() -> R {
    let edx = if cpu::cpuid(0, 0)[0] >= 7 { cpu::cpuid(7, 0)[3] } else { 0 };
    check!(edx & (1 << 5) == 0, "CPUID.(7,0):EDX = {:#x}: bit 5 (UINTR) is set", edx);
    Ok(())
}

pub fn cr4_uintr_gp() -> R {
    let cr4 = cpu::read_cr4();
    let p = cpu::write_cr4(cr4 | CR4_UINTR);
    expect_fault(&p, GP, format_args!("setting CR4.UINTR without UINTR"))?;
    check_eq!(cpu::read_cr4(), cr4, "CR4 after the refused write");
    Ok(())
}

pub fn uintr_msrs_gp() -> R {
    for msr in MSR_UIRR..=MSR_TT {
        let (_, p) = cpu::rdmsr_probe(msr);
        expect_fault(&p, GP, format_args!("RDMSR {:#x} without UINTR", msr))?;
        let p = cpu::wrmsr_probe(msr, 0);
        expect_fault(&p, GP, format_args!("WRMSR {:#x} without UINTR", msr))?;
    }
    Ok(())
}
