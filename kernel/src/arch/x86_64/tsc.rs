//! The TSC frequency, for the bootinfo's TSC-frequency header and the
//! timer: from CPUID leaf 0x15 (TSC/crystal ratio and crystal frequency)
//! or 0x16 (base frequency) where the CPU enumerates them, otherwise
//! measured against the HPET or, failing that, the PIT (channel 2, gated
//! through port 0x61). Each measurement gives up, rather than waiting
//! for ever, when its timer is missing or does not count: a legacy-free
//! server may have neither.

use super::io::{inb, outb, rdtsc};
use crate::config::paddr_to_pptr;
use core::fmt;

const PIT_HZ: u64 = 1_193_182;
/// Calibration interval: 10 ms.
const CALIBRATION_US: u64 = 10_000;
/// A calibration gives up after this many TSC cycles (several seconds at
/// any TSC rate a CPU with these timers has).
const GIVE_UP_CYCLES: u64 = 1 << 34;

/// Where the frequency came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TscSource {
    /// CPUID 0x15: crystal frequency times the TSC/crystal ratio.
    CpuidCrystal,
    /// CPUID 0x15's ratio without a crystal frequency, and 0x16's base
    /// frequency (the TSC runs at the base frequency).
    CpuidBaseFrequency,
    Hpet,
    Pit,
    /// Nothing could measure it.
    Unknown,
}

impl fmt::Display for TscSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TscSource::CpuidCrystal => "from CPUID leaf 0x15 (crystal clock and TSC ratio)",
            TscSource::CpuidBaseFrequency => "from CPUID leaf 0x16 (base frequency)",
            TscSource::Hpet => "measured against the HPET",
            TscSource::Pit => "measured against the PIT",
            TscSource::Unknown => "not measured: no CPUID frequency leaf, HPET or PIT answered",
        })
    }
}

/// The frequency the CPUID leaves give, if any: `leaf15` is (EAX, EBX,
/// ECX) = (ratio denominator, ratio numerator, crystal Hz), `base_mhz`
/// is leaf 0x16's EAX. A numerator of 0 means the ratio is not
/// enumerated; a crystal of 0 means its frequency is not.
pub fn from_cpuid(leaf15: Option<(u32, u32, u32)>, base_mhz: Option<u32>) -> Option<(u32, TscSource)> {
    if let Some((den, num, crystal_hz)) = leaf15 {
        if den != 0 && num != 0 && crystal_hz != 0 {
            let hz = crystal_hz as u64 * num as u64 / den as u64;
            let mhz = u32::try_from(hz / 1_000_000).ok().filter(|&m| m > 0)?;
            return Some((mhz, TscSource::CpuidCrystal));
        }
    }
    base_mhz.filter(|&m| m != 0).map(|m| (m, TscSource::CpuidBaseFrequency))
}

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
        let counting = inb(0x61) & 0x20 == 0;
        let mut result = None;
        while counting {
            let elapsed = rdtsc() - start;
            if inb(0x61) & 0x20 != 0 {
                result = u32::try_from(elapsed / CALIBRATION_US).ok().filter(|&m| m > 0);
                break;
            }
            if elapsed > GIVE_UP_CYCLES {
                break;
            }
        }
        outb(0x61, gate);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuid_leaf_15_with_a_crystal() {
        // A 25 MHz crystal and ratio 168/2: 2100 MHz.
        assert_eq!(from_cpuid(Some((2, 168, 25_000_000)), Some(2100)), Some((2100, TscSource::CpuidCrystal)));
        // QEMU's encoding: the crystal is the 1 GHz APIC bus, the ratio
        // tsc_hz / 1 GHz.
        assert_eq!(from_cpuid(Some((1_000_000_000, 2_500_000_000, 1_000_000_000)), None), Some((2500, TscSource::CpuidCrystal)));
    }

    #[test]
    fn cpuid_without_a_crystal_falls_back_to_the_base_frequency() {
        assert_eq!(from_cpuid(Some((2, 200, 0)), Some(2000)), Some((2000, TscSource::CpuidBaseFrequency)));
        assert_eq!(from_cpuid(None, Some(1900)), Some((1900, TscSource::CpuidBaseFrequency)));
    }

    #[test]
    fn nothing_enumerated_means_measure() {
        assert_eq!(from_cpuid(None, None), None);
        assert_eq!(from_cpuid(Some((0, 0, 0)), Some(0)), None);
        assert_eq!(from_cpuid(Some((1, 0, 24_000_000)), None), None);
    }
}
