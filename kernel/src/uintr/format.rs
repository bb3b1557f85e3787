//! The two in-memory structures of UINTR, bit for bit as the CPU reads
//! them (Intel SDM volume 3, chapter "User Interrupts").
//!
//! - UPID, the receiver's posted-interrupt descriptor: 16 bytes, 64-byte
//!   aligned. Word 0: bit 0 ON (outstanding notification), bit 1 SN
//!   (suppress notification), bits 23:16 NV (notification vector), bits
//!   63:32 NDST (destination APIC ID; xAPIC IDs in bits 47:40). Word 1:
//!   PIR, one posted bit per user vector.
//! - UITT entry, one per sender slot: 16 bytes. Word 0: bit 0 valid, bits
//!   15:8 UV (user vector). Word 1: the UPID's address.

/// A UPID, as two little-endian words (its 64-byte alignment is the
/// containing object's to provide).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Upid {
    pub control: u64,
    pub pir: u64,
}

const ON: u64 = 1 << 0;
const SN: u64 = 1 << 1;
const NV_SHIFT: u32 = 16;
const NDST_SHIFT: u32 = 32;
/// Bits of word 0 that the CPU defines; the rest are reserved (zero).
const CONTROL_DEFINED: u64 = ON | SN | 0xff << NV_SHIFT | 0xffff_ffff << NDST_SHIFT;

impl Upid {
    pub const fn on(&self) -> bool {
        self.control & ON != 0
    }
    pub const fn sn(&self) -> bool {
        self.control & SN != 0
    }
    pub const fn nv(&self) -> u8 {
        (self.control >> NV_SHIFT) as u8
    }
    /// The destination as the CPU sends the IPI: the full 32-bit field
    /// (x2APIC) or, for an xAPIC, its bits 15:8.
    pub const fn ndst(&self) -> u32 {
        (self.control >> NDST_SHIFT) as u32
    }
    /// Whether reserved bits of word 0 are clear.
    pub const fn is_well_formed(&self) -> bool {
        self.control & !CONTROL_DEFINED == 0
    }
    pub fn set_on(&mut self, v: bool) {
        self.control = (self.control & !ON) | v as u64;
    }
    pub fn set_sn(&mut self, v: bool) {
        self.control = (self.control & !SN) | (v as u64) << 1;
    }
    pub fn set_nv(&mut self, vector: u8) {
        self.control = (self.control & !(0xff << NV_SHIFT)) | (vector as u64) << NV_SHIFT;
    }
    /// The NDST value that names xAPIC ID `apic_id`.
    pub const fn xapic_ndst(apic_id: u8) -> u32 {
        (apic_id as u32) << 8
    }
    /// The NDST value that names x2APIC ID `apic_id`: all 32 bits.
    pub const fn x2apic_ndst(apic_id: u32) -> u32 {
        apic_id
    }
    pub fn set_ndst(&mut self, ndst: u32) {
        self.control = (self.control & !(0xffff_ffff << NDST_SHIFT)) | (ndst as u64) << NDST_SHIFT;
    }
}

const _: () = assert!(core::mem::size_of::<Upid>() == 16);

/// One UITT entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct UittEntry {
    pub control: u64,
    pub upid_address: u64,
}

const _: () = assert!(core::mem::size_of::<UittEntry>() == 16);

/// The UITT entry size's log2, for index arithmetic.
pub const UITT_ENTRY_BITS: u32 = 4;

impl UittEntry {
    pub const INVALID: UittEntry = UittEntry { control: 0, upid_address: 0 };

    /// A valid entry sending `vector` to the UPID at `upid_address`.
    pub const fn new(vector: u8, upid_address: u64) -> UittEntry {
        UittEntry { control: 1 | (vector as u64) << 8, upid_address }
    }
    pub const fn valid(&self) -> bool {
        self.control & 1 != 0
    }
    pub const fn vector(&self) -> u8 {
        (self.control >> 8) as u8
    }
    /// What SENDUIPI checks before using an entry: valid, reserved bits
    /// clear, a vector below 64 and a 64-byte aligned UPID address.
    pub const fn usable(&self) -> bool {
        self.valid() && self.control & !0xff01 == 0 && self.vector() < 64 && self.upid_address & 0x3f == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upid_fields_sit_where_the_cpu_reads_them() {
        let mut u = Upid::default();
        u.set_on(true);
        u.set_sn(true);
        u.set_nv(0xec);
        u.set_ndst(Upid::xapic_ndst(3));
        assert_eq!(u.control, 1 | 2 | 0xec << 16 | 0x300 << 32);
        assert!(u.on() && u.sn() && u.nv() == 0xec && u.ndst() == 0x300 && u.is_well_formed());
        u.set_on(false);
        assert!(!u.on() && u.sn());
        u.control |= 1 << 4;
        assert!(!u.is_well_formed());
    }

    #[test]
    fn x2apic_ndst_is_the_whole_id() {
        let mut u = Upid::default();
        u.set_ndst(Upid::x2apic_ndst(0x1_0203));
        assert_eq!(u.control >> 32, 0x1_0203);
        assert_eq!(u.ndst(), 0x1_0203);
        u.set_ndst(Upid::x2apic_ndst(u32::MAX));
        assert_eq!(u.control, 0xffff_ffff << 32);
        assert!(u.is_well_formed());
    }

    #[test]
    fn uitt_entries_and_their_checks() {
        let e = UittEntry::new(63, 0x1000);
        assert_eq!(e.control, 1 | 63 << 8);
        assert!(e.usable() && e.vector() == 63);
        assert!(!UittEntry::INVALID.usable());
        assert!(!UittEntry::new(64, 0x1000).usable(), "vectors stop at 63");
        assert!(!UittEntry::new(1, 0x1010).usable(), "UPIDs are 64-byte aligned");
        assert!(!UittEntry { control: 1 | 1 << 20, upid_address: 0 }.usable(), "reserved bits");
    }
}
