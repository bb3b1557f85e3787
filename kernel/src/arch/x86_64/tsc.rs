//! Measuring the TSC frequency against the PIT (channel 2, gated through
//! port 0x61), for the bootinfo's TSC-frequency header and the timer.

use super::io::{inb, outb, rdtsc};

const PIT_HZ: u64 = 1_193_182;
/// Calibration interval: 10 ms.
const CALIBRATION_US: u64 = 10_000;

/// The TSC frequency in MHz (0 if the PIT never finished).
pub fn measure_mhz() -> u32 {
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
        let mut spins = 0u64;
        while inb(0x61) & 0x20 == 0 {
            spins += 1;
            if spins > 100_000_000 {
                return 0;
            }
        }
        let elapsed = rdtsc() - start;
        outb(0x61, gate);
        (elapsed / CALIBRATION_US) as u32
    }
}
