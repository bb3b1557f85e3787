//! The CPU side of user interrupts (hardware path): CR4.UINTR, the
//! IA32_UINTR_* MSRs and the user-interrupt flag. What to load when is
//! decided in `crate::uintr::switch`.

use x86_64::registers::model_specific::Msr;

/// The vector SENDUIPI notifications arrive on while a receiver runs
/// (IA32_UINTR_MISC.UINV of every thread): the CPU consumes it without the
/// IDT. Linux uses the same number.
pub const NOTIFICATION_VECTOR: u8 = 0xec;
/// The vector a receiver's UPID names while its thread is blocked in the
/// kernel: an ordinary interrupt, so a SENDUIPI wakes the thread.
pub const WAKE_VECTOR: u8 = 0xed;

const IA32_UINTR_RR: u32 = 0x985;
const IA32_UINTR_HANDLER: u32 = 0x986;
const IA32_UINTR_STACKADJUST: u32 = 0x987;
const IA32_UINTR_MISC: u32 = 0x988;
const IA32_UINTR_PD: u32 = 0x989;
const IA32_UINTR_TT: u32 = 0x98a;
const CR4_UINTR: u64 = 1 << 25;

/// The MSR values of one thread, apart from UIRR (saved and restored on
/// its own, as the only one the CPU changes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UintrMsrs {
    pub handler: u64,
    pub stack_adjust: u64,
    /// UITTSZ in bits 31:0, UINV in bits 39:32.
    pub misc: u64,
    /// The UPID's address, where the CPU finds it (UINTR window).
    pub pd: u64,
    /// The UITT's address with bit 0 (SENDUIPI enabled), or 0.
    pub tt: u64,
}

/// Sets CR4.UINTR: the UINTR instructions execute instead of raising #UD
/// and UINV interrupts become notifications.
///
/// # Safety
/// The CPU must have UINTR, and the MSRs must hold values that are safe
/// to act on (a mapped UPID in IA32_UINTR_PD) before interrupts are next
/// enabled: see [`load_msrs`].
pub unsafe fn enable() {
    // Safety: the caller checked CPUID; CR4.UINTR only changes what the
    // UINTR instructions and the UINV vector do.
    unsafe {
        let cr4: u64;
        core::arch::asm!("mov {}, cr4", out(reg) cr4, options(nomem, nostack, preserves_flags));
        core::arch::asm!("mov cr4, {}", in(reg) cr4 | CR4_UINTR, options(nostack, preserves_flags));
    }
}

/// Loads a thread's MSRs and UIRR.
///
/// # Safety
/// UINTR is enabled; `msrs.pd` names a mapped UPID in every address space
/// (the window), `msrs.tt` a mapped UITT or 0, and the handler is
/// canonical.
pub unsafe fn load_msrs(msrs: &UintrMsrs, uirr: u64) {
    // Safety: per the caller's contract the values are valid for the MSRs.
    unsafe {
        Msr::new(IA32_UINTR_HANDLER).write(msrs.handler);
        Msr::new(IA32_UINTR_STACKADJUST).write(msrs.stack_adjust);
        Msr::new(IA32_UINTR_MISC).write(msrs.misc);
        Msr::new(IA32_UINTR_PD).write(msrs.pd);
        Msr::new(IA32_UINTR_TT).write(msrs.tt);
        Msr::new(IA32_UINTR_RR).write(uirr);
    }
}

/// IA32_UINTR_RR.
///
/// # Safety
/// UINTR is enabled ([`enable`]); without it the MSR raises #GP.
pub unsafe fn read_uirr() -> u64 {
    // Safety: the MSR exists (the caller's contract); reading it has no
    // side effect.
    unsafe { Msr::new(IA32_UINTR_RR).read() }
}

/// UIF (TESTUI).
///
/// # Safety
/// UINTR is enabled; without it TESTUI raises #UD.
pub unsafe fn uif() -> bool {
    let carry: u8;
    // Safety: TESTUI (F3 0F 01 ED) only reads UIF into CF; valid at any
    // CPL once UINTR is enabled (the caller's contract).
    unsafe { core::arch::asm!(".byte 0xf3, 0x0f, 0x01, 0xed", "setc {}", out(reg_byte) carry, options(nomem, nostack)) };
    carry != 0
}

/// Sets UIF (STUI) or clears it (CLUI). In the kernel this only records
/// the flag: delivery happens in user mode alone.
///
/// # Safety
/// UINTR is enabled; without it STUI and CLUI raise #UD.
pub unsafe fn set_uif(enabled: bool) {
    // Safety: STUI (F3 0F 01 EF) and CLUI (F3 0F 01 EE) write UIF only;
    // UINTR is enabled (the caller's contract).
    unsafe {
        if enabled {
            core::arch::asm!(".byte 0xf3, 0x0f, 0x01, 0xef", options(nomem, nostack, preserves_flags));
        } else {
            core::arch::asm!(".byte 0xf3, 0x0f, 0x01, 0xee", options(nomem, nostack, preserves_flags));
        }
    }
}
