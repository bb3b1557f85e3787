//! The I/O APIC: routing a pin to a vector on the boot CPU, and masking.

use crate::config::paddr_to_pptr;
use crate::kernel_state::KernelCell;
use arrayvec::ArrayVec;

const IOREGSEL: u64 = 0x00;
const IOWIN: u64 = 0x10;
const IOAPICVER: u32 = 0x01;
const REDIRECTION_BASE: u32 = 0x10;
const MASKED: u32 = 1 << 16;
const LEVEL_TRIGGERED: u32 = 1 << 15;
const ACTIVE_LOW: u32 = 1 << 13;

struct IoApics {
    /// Physical base and number of pins of each I/O APIC.
    list: ArrayVec<(u64, u32), 8>,
}

static IOAPICS: KernelCell<IoApics> = KernelCell::new(IoApics { list: ArrayVec::new_const() });

fn select(base: u64, reg: u32) -> *mut u32 {
    // Safety: the register-select window of an I/O APIC found in the MADT,
    // reached through the physical window.
    unsafe { (paddr_to_pptr(base + IOREGSEL) as *mut u32).write_volatile(reg) };
    paddr_to_pptr(base + IOWIN) as *mut u32
}

fn read(base: u64, reg: u32) -> u32 {
    // Safety: the data window after selecting `reg`.
    unsafe { select(base, reg).read_volatile() }
}

fn write(base: u64, reg: u32, v: u32) {
    // Safety: as above.
    unsafe { select(base, reg).write_volatile(v) }
}

/// Records the I/O APICs (in MADT order: seL4's I/O APIC numbers) and
/// masks every pin; returns how many pins each has. One whose version
/// register reads all ones is not there and gets 0 pins.
pub fn init(paddrs: &[u32]) -> ArrayVec<u32, 8> {
    // Safety: kernel context (boot).
    let apics = unsafe { IOAPICS.get() };
    let mut counts = ArrayVec::new();
    for &p in paddrs {
        let base = p as u64;
        let version = read(base, IOAPICVER);
        let pins = if version == u32::MAX { 0 } else { ((version >> 16) & 0xff) + 1 };
        for pin in 0..pins {
            write(base, REDIRECTION_BASE + 2 * pin, MASKED);
        }
        let _ = apics.list.try_push((base, pins));
        let _ = counts.try_push(pins);
    }
    counts
}

pub fn count() -> usize {
    // Safety: kernel context.
    unsafe { IOAPICS.get() }.list.len()
}

pub fn pins(ioapic: usize) -> u32 {
    // Safety: kernel context.
    unsafe { IOAPICS.get() }.list.get(ioapic).map_or(0, |&(_, n)| n)
}

fn base(ioapic: usize) -> Option<u64> {
    // Safety: kernel context.
    unsafe { IOAPICS.get() }.list.get(ioapic).map(|&(b, _)| b)
}

/// Routes `pin` to `vector` on the boot CPU, masked until acknowledged.
/// (Physical destination mode names 8-bit APIC IDs: a boot CPU above 255
/// needs interrupt remapping, which this kernel does not do.)
pub fn map_pin(ioapic: usize, pin: u32, level: bool, active_low: bool, vector: u8) {
    if let Some(b) = base(ioapic) {
        write(b, REDIRECTION_BASE + 2 * pin + 1, (super::apic::local_apic_id() & 0xff) << 24);
        let mut low = vector as u32 | MASKED;
        if level {
            low |= LEVEL_TRIGGERED;
        }
        if active_low {
            low |= ACTIVE_LOW;
        }
        write(b, REDIRECTION_BASE + 2 * pin, low);
    }
}

pub fn set_masked(ioapic: usize, pin: u32, masked: bool) {
    if let Some(b) = base(ioapic) {
        let reg = REDIRECTION_BASE + 2 * pin;
        let low = read(b, reg);
        write(b, reg, if masked { low | MASKED } else { low & !MASKED });
    }
}
