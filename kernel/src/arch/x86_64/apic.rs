//! Interrupt controllers at boot: the legacy 8259 PICs are remapped away
//! from the exception vectors and masked (seL4 uses the IOAPIC), and the
//! local APIC is software-enabled with its timer masked.

use super::io::outb;
use crate::config::paddr_to_pptr;
use x86_64::registers::model_specific::Msr;

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;

const LAPIC_ID: u64 = 0x20;
const LAPIC_VERSION: u64 = 0x30;
const LAPIC_EOI: u64 = 0xb0;
const LAPIC_SVR: u64 = 0xf0;
const LAPIC_IRR: u64 = 0x200;
const LAPIC_LVT_TIMER: u64 = 0x320;
const LAPIC_LVT_MASKED: u32 = 1 << 16;

/// Vector for spurious local APIC interrupts.
pub const SPURIOUS_VECTOR: u8 = 0xff;
/// First vector the PICs are moved to before being masked.
const PIC_VECTOR_BASE: u8 = 0x20;

static LAPIC_BASE: crate::kernel_state::KernelCell<u64> = crate::kernel_state::KernelCell::new(0);

/// Remaps both 8259s to vectors 0x20..0x30 and masks every line.
pub fn disable_legacy_pic() {
    // Safety: ports 0x20/0x21/0xa0/0xa1 are the PC's PICs; this is the
    // standard initialisation sequence followed by a full mask.
    unsafe {
        outb(0x20, 0x11);
        outb(0xa0, 0x11);
        outb(0x21, PIC_VECTOR_BASE);
        outb(0xa1, PIC_VECTOR_BASE + 8);
        outb(0x21, 0x04);
        outb(0xa1, 0x02);
        outb(0x21, 0x01);
        outb(0xa1, 0x01);
        outb(0x21, 0xff);
        outb(0xa1, 0xff);
    }
}

fn reg(offset: u64) -> *mut u32 {
    // Safety: reading the cell; boot sets it before any register access.
    (paddr_to_pptr(unsafe { *LAPIC_BASE.get() }) + offset) as *mut u32
}

fn read(offset: u64) -> u32 {
    // Safety: the LAPIC page is mapped through the physical window; the
    // register offsets are architectural.
    unsafe { reg(offset).read_volatile() }
}

fn write(offset: u64, value: u32) {
    // Safety: as for `read`.
    unsafe { reg(offset).write_volatile(value) }
}

/// Enables the local APIC at `paddr` (from the MADT) in xAPIC mode and
/// returns (APIC ID, version).
pub fn init_local_apic(paddr: u64) -> (u8, u8) {
    // Safety: IA32_APIC_BASE exists (CPUID.APIC checked); setting the
    // global enable bit with the MADT's base is the xAPIC set-up.
    unsafe {
        let mut msr = Msr::new(IA32_APIC_BASE);
        let value = msr.read();
        msr.write((value & 0xfff & !(1 << 10)) | (paddr & !0xfff) | APIC_BASE_ENABLE);
        *LAPIC_BASE.get() = paddr;
    }
    write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
    write(LAPIC_SVR, (1 << 8) | SPURIOUS_VECTOR as u32);
    ((read(LAPIC_ID) >> 24) as u8, read(LAPIC_VERSION) as u8)
}

const LAPIC_TIMER_INITIAL: u64 = 0x380;
const LAPIC_TIMER_CURRENT: u64 = 0x390;
const LAPIC_TIMER_DIVIDE: u64 = 0x3e0;
const LVT_TIMER_PERIODIC: u32 = 1 << 17;
const LVT_TIMER_TSC_DEADLINE: u32 = 2 << 17;
const IA32_TSC_DEADLINE: u32 = 0x6e0;

/// Vector of the kernel's own timer interrupt (seL4's `int_timer`), never
/// available to user level.
pub const TIMER_VECTOR: u8 = 157;

/// How the kernel timer is driven.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerMode {
    /// TSC-deadline: re-armed every tick with this many TSC cycles.
    TscDeadline { period: u64 },
    /// Periodic local APIC timer with this initial count (divide by 16).
    Periodic { count: u32 },
}

static TIMER: crate::kernel_state::KernelCell<Option<TimerMode>> = crate::kernel_state::KernelCell::new(None);

/// Starts the kernel tick every `period_us` microseconds, with the TSC
/// running at `tsc_mhz`: TSC-deadline mode when the CPU has it, else the
/// periodic APIC timer calibrated against the TSC.
pub fn start_timer(period_us: u64, tsc_mhz: u64, tsc_deadline: bool) -> TimerMode {
    let mode = if tsc_deadline {
        write(LAPIC_LVT_TIMER, LVT_TIMER_TSC_DEADLINE | TIMER_VECTOR as u32);
        TimerMode::TscDeadline { period: period_us * tsc_mhz }
    } else {
        // Count APIC timer ticks (divide by 16) over 1 ms of TSC time.
        write(LAPIC_TIMER_DIVIDE, 0b11);
        write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
        write(LAPIC_TIMER_INITIAL, u32::MAX);
        let start = super::io::rdtsc();
        while super::io::rdtsc() - start < tsc_mhz * 1000 {
            core::hint::spin_loop();
        }
        let per_ms = u32::MAX - read(LAPIC_TIMER_CURRENT);
        let count = ((per_ms as u64 * period_us) / 1000).clamp(1, u32::MAX as u64) as u32;
        write(LAPIC_LVT_TIMER, LVT_TIMER_PERIODIC | TIMER_VECTOR as u32);
        write(LAPIC_TIMER_INITIAL, count);
        TimerMode::Periodic { count }
    };
    // Safety: kernel context.
    unsafe { *TIMER.get() = Some(mode) };
    rearm_timer();
    mode
}

/// Arms the next tick (TSC-deadline mode only; periodic re-arms itself).
pub fn rearm_timer() {
    // Safety: kernel context.
    if let Some(TimerMode::TscDeadline { period }) = unsafe { *TIMER.get() } {
        // Safety: the MSR exists in TSC-deadline mode (CPUID checked).
        unsafe { Msr::new(IA32_TSC_DEADLINE).write(super::io::rdtsc() + period) };
    }
}

/// Whether any interrupt is waiting in the local APIC (an IRR bit set),
/// which is what makes a long operation stop at a preemption point.
pub fn interrupt_pending() -> bool {
    (0..8).any(|i| read(LAPIC_IRR + i * 0x10) != 0)
}

/// This CPU's xAPIC ID.
pub fn local_apic_id() -> u8 {
    (read(LAPIC_ID) >> 24) as u8
}

const LAPIC_ICR_LOW: u64 = 0x300;
/// ICR destination shorthand: this CPU.
const ICR_TO_SELF: u32 = 1 << 18;

/// Sends this CPU a fixed interrupt on `vector`; it is taken once
/// interrupts are next enabled.
pub fn send_self_ipi(vector: u8) {
    write(LAPIC_ICR_LOW, ICR_TO_SELF | vector as u32);
}

pub fn end_of_interrupt() {
    write(LAPIC_EOI, 0);
}
