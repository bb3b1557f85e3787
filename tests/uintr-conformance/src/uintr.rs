//! The UINTR definitions the tests use: MSR numbers, the UPID and UITT
//! formats, and the standard configuration every test starts from.
//!
//! UPID (16 bytes, 64-byte aligned): bit 0 ON, bit 1 SN, 23:16 NV,
//! 63:32 NDST (xAPIC: APIC ID in 47:40), 127:64 PIR.
//! UITT entry (16 bytes): bit 0 V, 7:1 reserved, 15:8 UV (< 64),
//! 63:16 reserved, 127:64 UPID address (64-byte aligned).

use crate::arch::boot::UNMAPPED_ADDR;
use crate::arch::cpu::wrmsr;
use crate::Global;

pub const MSR_UIRR: u32 = 0x985;
pub const MSR_HANDLER: u32 = 0x986;
pub const MSR_STACKADJUST: u32 = 0x987;
pub const MSR_MISC: u32 = 0x988;
pub const MSR_PD: u32 = 0x989;
pub const MSR_TT: u32 = 0x98a;

pub const CR4_UINTR: u64 = 1 << 25;

/// The user-interrupt notification vector of the standard configuration
/// (deliberately not 0xec).
pub const UINV: u8 = 0xe2;
/// An ordinary vector used as a UPID's NV when NV != UINV.
pub const ORDINARY_NV: u8 = 0xec;
/// A low-priority ordinary vector (to see that an EOI was done).
pub const LOW_VECTOR: u8 = 0x41;
/// The watchdog's APIC timer vector.
pub const WATCHDOG_VECTOR: u8 = 0x30;
/// STACKADJUST of the standard configuration (a red zone, like Linux).
pub const STACKADJUST: u64 = 128;

/// UITT indices: 0..=63 are valid entries for vectors 0..=63 posting to
/// UPID A (NV = UINV). The rest are special cases.
pub const IDX_INVALID: u64 = 64;
pub const IDX_RESERVED_LOW: u64 = 65;
pub const IDX_RESERVED_HIGH: u64 = 66;
pub const IDX_UV_64: u64 = 67;
pub const IDX_UPID_MISALIGNED: u64 = 68;
pub const IDX_UPID_RESERVED: u64 = 69;
pub const IDX_UPID_UNMAPPED: u64 = 70;
/// Vector 7 to UPID B (NV = ORDINARY_NV).
pub const IDX_ORDINARY_7: u64 = 71;
/// Vector 9 to UPID B.
pub const IDX_ORDINARY_9: u64 = 72;
/// The highest valid index (UITTSZ).
pub const UITTSZ: u64 = 72;
/// A well-formed entry just past UITTSZ (vector 1 to UPID A).
pub const IDX_BEYOND_SIZE: u64 = 73;
/// Vector 42 and vector 50 to UPID C (NV = UINV, NDST = the second CPU);
/// beyond UITTSZ unless a test raises it.
pub const IDX_AP_42: u64 = 74;
pub const IDX_AP_50: u64 = 75;
const UITT_LEN: usize = 76;

#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub struct Upid {
    pub lo: u64,
    pub pir: u64,
}

#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Uitte {
    lo: u64,
    upid: u64,
}

#[repr(C, align(4096))]
struct KData {
    upid_a: Upid,
    upid_b: Upid,
    upid_bad: Upid,
    /// The second CPU's UPID (its IA32_UINTR_PD).
    upid_c: Upid,
    uitt: [Uitte; UITT_LEN],
}

/// In the supervisor-only page: SENDUIPI and notification processing
/// access these with supervisor privilege even from ring 3.
#[link_section = ".kdata"]
static KDATA: Global<KData> = Global::new(KData {
    upid_a: Upid { lo: 0, pir: 0 },
    upid_b: Upid { lo: 0, pir: 0 },
    upid_bad: Upid { lo: 0, pir: 0 },
    upid_c: Upid { lo: 0, pir: 0 },
    uitt: [Uitte { lo: 0, upid: 0 }; UITT_LEN],
});

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Which {
    A,
    B,
    Bad,
    C,
}

pub fn upid_ptr(w: Which) -> *mut Upid {
    let k = KDATA.ptr();
    // Safety: projecting fields of the static; no reference is created.
    unsafe {
        match w {
            Which::A => core::ptr::addr_of_mut!((*k).upid_a),
            Which::B => core::ptr::addr_of_mut!((*k).upid_b),
            Which::Bad => core::ptr::addr_of_mut!((*k).upid_bad),
            Which::C => core::ptr::addr_of_mut!((*k).upid_c),
        }
    }
}

pub fn uitt_addr() -> u64 {
    // Safety: as in `upid_ptr`.
    unsafe { core::ptr::addr_of_mut!((*KDATA.ptr()).uitt) as u64 }
}

/// The first 8 bytes of a UPID (ON, SN, NV, NDST). Ring 0 only.
pub fn upid_lo(w: Which) -> u64 {
    // Safety: the UPID is in mapped (supervisor) memory; volatile because
    // the CPU writes it behind the compiler's back.
    unsafe { core::ptr::addr_of!((*upid_ptr(w)).lo).read_volatile() }
}

pub fn set_upid_lo(w: Which, v: u64) {
    // Safety: as in `upid_lo`.
    unsafe { core::ptr::addr_of_mut!((*upid_ptr(w)).lo).write_volatile(v) }
}

/// PIR of a UPID. Ring 0 only.
pub fn pir(w: Which) -> u64 {
    // Safety: as in `upid_lo`.
    unsafe { core::ptr::addr_of!((*upid_ptr(w)).pir).read_volatile() }
}

pub fn set_pir(w: Which, v: u64) {
    // Safety: as in `upid_lo`.
    unsafe { core::ptr::addr_of_mut!((*upid_ptr(w)).pir).write_volatile(v) }
}

pub fn on(w: Which) -> bool {
    upid_lo(w) & 1 != 0
}

pub fn set_sn(w: Which, sn: bool) {
    let lo = upid_lo(w);
    set_upid_lo(w, if sn { lo | 2 } else { lo & !2 });
}

pub fn set_nv(w: Which, nv: u8) {
    set_upid_lo(w, (upid_lo(w) & !(0xff << 16)) | (nv as u64) << 16);
}

pub fn upid_value(nv: u8, apic_id: u8) -> u64 {
    (nv as u64) << 16 | (apic_id as u64) << 40
}

fn entry(vector: u64, upid: u64) -> Uitte {
    Uitte { lo: 1 | vector << 8, upid }
}

/// Rebuilds the UPIDs and the UITT (`ap_id`: the second CPU's APIC ID).
pub fn init_tables(apic_id: u8, ap_id: u8) {
    let c = upid_ptr(Which::C) as u64;
    let a = upid_ptr(Which::A) as u64;
    let b = upid_ptr(Which::B) as u64;
    let bad = upid_ptr(Which::Bad) as u64;
    // Safety: ring 0, interrupts off: nothing else touches the tables now.
    unsafe {
        let k = &mut *KDATA.ptr();
        k.upid_a = Upid { lo: upid_value(UINV, apic_id), pir: 0 };
        k.upid_b = Upid { lo: upid_value(ORDINARY_NV, apic_id), pir: 0 };
        k.upid_bad = Upid { lo: upid_value(UINV, apic_id) | 1 << 5, pir: 0 };
        k.upid_c = Upid { lo: upid_value(UINV, ap_id), pir: 0 };
        for (i, e) in k.uitt.iter_mut().enumerate().take(64) {
            *e = entry(i as u64, a);
        }
        k.uitt[IDX_INVALID as usize] = Uitte { lo: 1 << 8, upid: a };
        k.uitt[IDX_RESERVED_LOW as usize] = Uitte { lo: 1 | 1 << 1 | 1 << 8, upid: a };
        k.uitt[IDX_RESERVED_HIGH as usize] = Uitte { lo: 1 | 1 << 8 | 1 << 16, upid: a };
        k.uitt[IDX_UV_64 as usize] = entry(64, a);
        k.uitt[IDX_UPID_MISALIGNED as usize] = entry(1, a + 0x20);
        k.uitt[IDX_UPID_RESERVED as usize] = entry(1, bad);
        k.uitt[IDX_UPID_UNMAPPED as usize] = entry(1, UNMAPPED_ADDR);
        k.uitt[IDX_ORDINARY_7 as usize] = entry(7, b);
        k.uitt[IDX_ORDINARY_9 as usize] = entry(9, b);
        k.uitt[IDX_BEYOND_SIZE as usize] = entry(1, a);
        k.uitt[IDX_AP_42 as usize] = entry(42, c);
        k.uitt[IDX_AP_50 as usize] = entry(50, c);
    }
}

pub fn misc(uinv: u8, uittsz: u64) -> u64 {
    (uinv as u64) << 32 | uittsz
}

/// The standard MSR configuration (CR4.UINTR must be settable).
pub fn standard_msrs() {
    let handler = crate::arch::entry::label(core::ptr::addr_of!(crate::arch::entry::uintr_entry));
    // Safety: the UINTR MSRs only configure user-interrupt state; the
    // addresses are those of the handler and tables of this image.
    unsafe {
        wrmsr(MSR_UIRR, 0);
        wrmsr(MSR_HANDLER, handler);
        wrmsr(MSR_STACKADJUST, STACKADJUST);
        wrmsr(MSR_MISC, misc(UINV, UITTSZ));
        wrmsr(MSR_PD, upid_ptr(Which::A) as u64);
        wrmsr(MSR_TT, uitt_addr() | 1);
    }
}

/// The second CPU's MSRs: its UPID is C, it sends nothing (TT = 0).
pub fn ap_msrs() {
    let handler = crate::arch::entry::label(core::ptr::addr_of!(crate::arch::entry::uintr_entry));
    // Safety: as in `standard_msrs`.
    unsafe {
        wrmsr(MSR_UIRR, 0);
        wrmsr(MSR_HANDLER, handler);
        wrmsr(MSR_STACKADJUST, STACKADJUST);
        wrmsr(MSR_MISC, misc(UINV, 0));
        wrmsr(MSR_PD, upid_ptr(Which::C) as u64);
        wrmsr(MSR_TT, 0);
    }
}
