//! The TSC frequency, for the bootinfo's TSC-frequency header and the
//! timer: from CPUID leaf 0x15 (TSC/crystal ratio and crystal frequency)
//! or 0x16 (base frequency) where the CPU enumerates them, otherwise
//! measured against the HPET or, failing that, the PIT (channel 2, gated
//! through port 0x61). Each measurement gives up, rather than waiting
//! for ever, when its timer is missing or does not count: a legacy-free
//! server may have neither.

use super::io::{inb, outb, rdtsc};
use crate::boot::machine::from_cpuid;
pub use crate::boot::machine::TscSource;
use crate::config::paddr_to_pptr;

const PIT_HZ: u64 = 1_193_182;
/// Calibration interval: 10 ms.
const CALIBRATION_US: u64 = 10_000;
/// A calibration gives up after this many TSC cycles (several seconds at
/// any TSC rate a CPU with these timers has).
const GIVE_UP_CYCLES: u64 = 1 << 34;

fn cpuid_leaves() -> (Option<(u32, u32, u32)>, Option<u32>) {
    use core::arch::x86_64::__cpuid_count;
    // Safety-free: CPUID exists on every x86_64 CPU.
    let max = __cpuid_count(0, 0).eax;
    let leaf15 = (max >= 0x15).then(|| {
        let r = __cpuid_count(0x15, 0);
        (r.eax, r.ebx, r.ecx)
    });
    let base = (max >= 0x16).then(|| __cpuid_count(0x16, 0).eax & 0xffff);
    (leaf15, base)
}

/// The TSC frequency in MHz and where it came from; `hpet` is the HPET's
/// register block from ACPI, if there is one. 0 MHz with
/// `TscSource::Unknown` when nothing answered.
pub fn frequency(hpet: Option<u64>) -> (u32, TscSource) {
    let (leaf15, base) = cpuid_leaves();
    if let Some(found) = from_cpuid(leaf15, base) {
        return found;
    }
    if let Some(mhz) = hpet.and_then(measure_against_hpet) {
        return (mhz, TscSource::Hpet);
    }
    match measure_against_pit() {
        Some(mhz) => (mhz, TscSource::Pit),
        None => (0, TscSource::Unknown),
    }
}

const HPET_CAPABILITIES: u64 = 0x00;
const HPET_CONFIG: u64 = 0x10;
const HPET_COUNTER: u64 = 0xf0;
const HPET_ENABLE: u64 = 1 << 0;
/// Capabilities bit 13: the main counter is 64 bits wide.
const HPET_COUNTER_64: u64 = 1 << 13;
/// The HPET specification's longest tick: 100 ns, in femtoseconds.
const HPET_MAX_PERIOD_FS: u64 = 100_000_000;

/// Counts TSC cycles over 10 ms of HPET time; `None` if the HPET reports
/// a bad period or its counter does not move.
fn measure_against_hpet(base: u64) -> Option<u32> {
    let reg = |off: u64| paddr_to_pptr(base + off) as *mut u64;
    // Safety: `base` is the HPET register block named by ACPI, reached
    // through the physical window; these are its architectural registers
    // and starting the main counter has no other effect (no comparator
    // is enabled).
    unsafe {
        let caps = reg(HPET_CAPABILITIES).read_volatile();
        let period_fs = caps >> 32;
        if period_fs == 0 || period_fs > HPET_MAX_PERIOD_FS {
            return None;
        }
        let config = reg(HPET_CONFIG).read_volatile();
        reg(HPET_CONFIG).write_volatile(config | HPET_ENABLE);
        let mask = if caps & HPET_COUNTER_64 != 0 { u64::MAX } else { u32::MAX as u64 };
        let ticks = CALIBRATION_US * 1_000_000_000 / period_fs;
        let counter = || reg(HPET_COUNTER).read_volatile() & mask;
        let start = counter();
        let tsc_start = rdtsc();
        let result = loop {
            let elapsed = counter().wrapping_sub(start) & mask;
            let tsc = rdtsc() - tsc_start;
            if elapsed >= ticks {
                // Scale to the ticks that really passed.
                let us = elapsed * period_fs / 1_000_000_000;
                break u32::try_from(tsc / us.max(1)).ok().filter(|&m| m > 0);
            }
            if tsc > GIVE_UP_CYCLES {
                break None;
            }
            core::hint::spin_loop();
        };
        reg(HPET_CONFIG).write_volatile(config);
        result
    }
}

/// Counts TSC cycles while PIT channel 2 counts down 10 ms in one-shot
/// mode; `None` when no PIT answers: the gate output must read low once
/// the count is loaded (an absent device reads back as all ones) and go
/// high before the TSC has run for `GIVE_UP_CYCLES`.
fn measure_against_pit() -> Option<u32> {
    let ticks = PIT_HZ * CALIBRATION_US / 1_000_000;
    // Safety: ports 0x42/0x43/0x61 are the PC's PIT channel 2 and its
    // gate; one-shot mode 0 counting down `ticks` only drives the
    // speaker-gate output bit we poll (the speaker stays disabled).
    unsafe {
        let gate = inb(0x61);
        outb(0x61, (gate & !0x02) | 0x01);
        outb(0x43, 0b1011_0000);
        outb(0x42, (ticks & 0xff) as u8);
        outb(0x42, (ticks >> 8) as u8);
        let start = rdtsc();
        let mut result = None;
        if inb(0x61) & 0x20 == 0 {
            loop {
                let elapsed = rdtsc() - start;
                if inb(0x61) & 0x20 != 0 {
                    result = u32::try_from(elapsed / CALIBRATION_US).ok().filter(|&m| m > 0);
                    break;
                }
                if elapsed > GIVE_UP_CYCLES {
                    break;
                }
            }
        }
        outb(0x61, gate);
        result
    }
}
