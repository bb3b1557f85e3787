//! The local APIC in xAPIC mode (MMIO at 0xfee00000, identity-mapped,
//! supervisor-only) and the 8259 PICs (masked). Ring 0 only.

use super::cpu::{outb, rdmsr, wrmsr};

const BASE: u64 = 0xfee0_0000;
const ID: u64 = 0x20;
const TPR: u64 = 0x80;
const EOI: u64 = 0xb0;
const SVR: u64 = 0xf0;
const ISR: u64 = 0x100;
const IRR: u64 = 0x200;
const ICR_LO: u64 = 0x300;
const ICR_HI: u64 = 0x310;
const LVT_TIMER: u64 = 0x320;
const TIMER_INITIAL: u64 = 0x380;
const TIMER_DIVIDE: u64 = 0x3e0;
const MASKED: u32 = 1 << 16;

pub const SPURIOUS_VECTOR: u8 = 0xff;

fn read(off: u64) -> u32 {
    // Safety: the APIC page is mapped (uncached) and the offsets are
    // architectural registers.
    unsafe { ((BASE + off) as *const u32).read_volatile() }
}

fn write(off: u64, v: u32) {
    // Safety: as for `read`.
    unsafe { ((BASE + off) as *mut u32).write_volatile(v) }
}

/// Masks the PICs and software-enables the local APIC at its default base.
pub fn init() {
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
    let base = rdmsr(0x1b);
    // Safety: global enable with the default base, xAPIC mode (EXTD clear).
    unsafe { wrmsr(0x1b, (base & 0xfff & !(1 << 10)) | BASE | (1 << 11)) };
    write(LVT_TIMER, MASKED);
    write(TPR, 0);
    write(SVR, 0x100 | SPURIOUS_VECTOR as u32);
}

pub fn id() -> u8 {
    (read(ID) >> 24) as u8
}

pub fn eoi() {
    write(EOI, 0);
}

fn bit(base: u64, vector: u8) -> bool {
    read(base + 0x10 * (vector as u64 / 32)) & (1 << (vector % 32)) != 0
}

/// Whether `vector` is in service (ISR bit set).
pub fn in_service(vector: u8) -> bool {
    bit(ISR, vector)
}

/// Whether `vector` is requested (IRR bit set).
pub fn requested(vector: u8) -> bool {
    bit(IRR, vector)
}

/// The highest vector in service, if any.
pub fn highest_in_service() -> Option<u8> {
    (0..=255u8).rev().find(|&v| in_service(v))
}

/// Sends a fixed IPI with `vector` to this CPU (shorthand "self").
pub fn self_ipi(vector: u8) {
    write(ICR_HI, 0);
    write(ICR_LO, (1 << 18) | vector as u32);
    while read(ICR_LO) & (1 << 12) != 0 {
        core::hint::spin_loop();
    }
}

/// One-shot timer interrupt with `vector` after `count` ticks of the bus
/// clock divided by 128.
pub fn timer_start(vector: u8, count: u32) {
    write(TIMER_DIVIDE, 0b1010);
    write(LVT_TIMER, vector as u32);
    write(TIMER_INITIAL, count);
}

pub fn timer_stop() {
    write(LVT_TIMER, MASKED);
    write(TIMER_INITIAL, 0);
}

/// INIT, then two STARTUP IPIs with `page` (start address page >> 12),
/// to `apic_id`, with the usual waits.
pub fn send_init_sipi(apic_id: u8, page: u8) {
    let send = |lo: u32| {
        write(ICR_HI, (apic_id as u32) << 24);
        write(ICR_LO, lo);
        while read(ICR_LO) & (1 << 12) != 0 {
            core::hint::spin_loop();
        }
    };
    send(0x4500);
    spin_us(10_000);
    for _ in 0..2 {
        send(0x4600 | page as u32);
        spin_us(200);
    }
}

/// Roughly `us` microseconds (no calibrated timer here; generous).
fn spin_us(us: u32) {
    for _ in 0..us * 100 {
        core::hint::spin_loop();
    }
}

/// Software-enables this CPU's local APIC (the second CPU's set-up).
pub fn enable_local() {
    write(LVT_TIMER, MASKED);
    write(TPR, 0);
    write(SVR, 0x100 | SPURIOUS_VECTOR as u32);
}
