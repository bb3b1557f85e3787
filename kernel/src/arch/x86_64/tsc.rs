//! The TSC frequency, for the bootinfo's TSC-frequency header and the
//! timer: from CPUID leaf 0x15 (TSC/crystal ratio and crystal frequency)
//! or 0x16 (base frequency) where the CPU enumerates them, otherwise
//! measured against the HPET or, failing that, the PIT (channel 0, read
//! back by latch commands). Each measurement gives up, rather than waiting
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
/// A PIT whose count has not moved after this many TSC cycles (a tenth
/// of a second or so) is not there.
const STILL_CYCLES: u64 = 1 << 28;

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

/// Counts TSC cycles while PIT channel 0 counts down 10 ms, reading its
/// count through latch commands (ports 0x40 and 0x43 only: machines such
/// as QEMU's microvm have a PIT without the port-0x61 speaker gate that
/// channel 2 would need). `None` when no PIT answers: an absent PIT reads
/// back as all ones and its count never moves, which the loop gives up on
/// early (a working PIT counts every 838 ns).
fn measure_against_pit() -> Option<u32> {
    let ticks = PIT_HZ * CALIBRATION_US / 1_000_000;
    // Safety: ports 0x40/0x43 are the PC's PIT channel 0 and its command
    // register; one-shot mode 0 from 0xffff changes only the channel's
    // output, whose interrupt line is masked (PICs and IOAPIC pins are
    // masked at this point of the boot).
    unsafe {
        let read_count = || {
            outb(0x43, 0b0000_0000);
            let low = inb(0x40) as u64;
            low | (inb(0x40) as u64) << 8
        };
        outb(0x43, 0b0011_0000);
        outb(0x40, 0xff);
        outb(0x40, 0xff);
        let start_count = read_count();
        let start = rdtsc();
        loop {
            let elapsed = rdtsc() - start;
            let count = read_count();
            // Counting down from `start_count`; a count above it means
            // the channel wrapped or is not a PIT.
            if count <= start_count && start_count - count >= ticks {
                let us = (start_count - count) * 1_000_000 / PIT_HZ;
                return u32::try_from(elapsed / us.max(1)).ok().filter(|&m| m > 0);
            }
            if elapsed > GIVE_UP_CYCLES || (count == start_count && elapsed > STILL_CYCLES) {
                return None;
            }
        }
    }
}
