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

/// IA32_APIC_BASE bit 10 (EXTD): the local APIC is in x2APIC mode.
const APIC_BASE_X2APIC: u64 = 1 << 10;
/// x2APIC registers are MSRs from 0x800, one per 16-byte xAPIC slot.
const X2APIC_MSR_BASE: u32 = 0x800;

/// How the local APIC is driven (seL4's `KernelLAPICMode` choices).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApicMode {
    /// Memory-mapped registers, 8-bit APIC IDs.
    XApic,
    /// Registers as MSRs, 32-bit APIC IDs.
    X2Apic,
}

static MODE: crate::kernel_state::KernelCell<ApicMode> = crate::kernel_state::KernelCell::new(ApicMode::XApic);

fn mode() -> ApicMode {
    // Safety: written once at boot before any register access.
    unsafe { *MODE.get() }
}

fn mmio(offset: u64) -> *mut u32 {
    // Safety: reading the cell; boot sets it before any register access.
    (paddr_to_pptr(unsafe { *LAPIC_BASE.get() }) + offset) as *mut u32
}

fn read(offset: u64) -> u32 {
    match mode() {
        // Safety: the LAPIC page is mapped through the physical window; the
        // register offsets are architectural.
        ApicMode::XApic => unsafe { mmio(offset).read_volatile() },
        // Safety: in x2APIC mode every xAPIC register offset used here has
        // its MSR at 0x800 + offset / 16.
        ApicMode::X2Apic => unsafe { Msr::new(X2APIC_MSR_BASE + (offset >> 4) as u32).read() as u32 },
    }
}

fn write(offset: u64, value: u32) {
    match mode() {
        // Safety: as for `read`.
        ApicMode::XApic => unsafe { mmio(offset).write_volatile(value) },
        // Safety: as for `read`; these registers take a 32-bit value.
        ApicMode::X2Apic => unsafe { Msr::new(X2APIC_MSR_BASE + (offset >> 4) as u32).write(value as u64) },
    }
}

/// Whether the CPU can run its local APIC in x2APIC mode (CPUID.1:ECX[21]).
pub fn cpu_has_x2apic() -> bool {
    raw_cpuid::CpuId::new().get_feature_info().is_some_and(|f| f.has_x2apic())
}

/// Enables the local APIC and returns (mode, APIC ID, version), in the
/// mode the firmware left it (seL4's `KernelLAPICMode` choices, taken at
/// run time): x2APIC stays x2APIC, driven through MSRs (leaving it would
/// need the APIC disabled first, and APIC IDs above 255 cannot be named
/// in xAPIC mode); xAPIC stays xAPIC, memory-mapped at `paddr` (from the
/// MADT).
pub fn init_local_apic(paddr: u64) -> (ApicMode, u32, u8) {
    // Safety: IA32_APIC_BASE exists (CPUID.APIC checked). From xAPIC (or
    // disabled), setting the enable bit with the MADT's base is an allowed
    // move; in x2APIC mode the MSR is left as it is (clearing EXTD while
    // enabled would fault).
    unsafe {
        let mut msr = Msr::new(IA32_APIC_BASE);
        let value = msr.read();
        let mode = if value & APIC_BASE_X2APIC != 0 && value & APIC_BASE_ENABLE != 0 {
            ApicMode::X2Apic
        } else {
            msr.write((value & 0xfff & !APIC_BASE_X2APIC) | (paddr & !0xfff) | APIC_BASE_ENABLE);
            ApicMode::XApic
        };
        *LAPIC_BASE.get() = paddr;
        *MODE.get() = mode;
    }
    write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
    write(LAPIC_SVR, (1 << 8) | SPURIOUS_VECTOR as u32);
    (self::mode(), local_apic_id(), read(LAPIC_VERSION) as u8)
}

/// The mode the local APIC runs in (after `init_local_apic`).
pub fn apic_mode() -> ApicMode {
    mode()
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

/// This CPU's APIC ID: 8 bits (register bits 31:24) in xAPIC mode, the
/// whole 32-bit register in x2APIC mode.
pub fn local_apic_id() -> u32 {
    match mode() {
        ApicMode::XApic => read(LAPIC_ID) >> 24,
        ApicMode::X2Apic => read(LAPIC_ID),
    }
}

/// This CPU as a UPID's NDST names it: the xAPIC ID in bits 15:8, or the
/// full x2APIC ID.
pub fn upid_ndst() -> u32 {
    match mode() {
        ApicMode::XApic => crate::uintr::format::Upid::xapic_ndst(local_apic_id() as u8),
        ApicMode::X2Apic => crate::uintr::format::Upid::x2apic_ndst(local_apic_id()),
    }
}

const LAPIC_ICR_LOW: u64 = 0x300;
/// ICR destination shorthand: this CPU.
const ICR_TO_SELF: u32 = 1 << 18;

/// Sends this CPU a fixed interrupt on `vector`; it is taken once
/// interrupts are next enabled. (In x2APIC mode the ICR is one 64-bit
/// MSR; with the self shorthand the destination half is ignored, so the
/// 32-bit write is the whole command.)
pub fn send_self_ipi(vector: u8) {
    write(LAPIC_ICR_LOW, ICR_TO_SELF | vector as u32);
}

pub fn end_of_interrupt() {
    write(LAPIC_EOI, 0);
}
