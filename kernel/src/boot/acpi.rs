//! ACPI discovery: the RSDP, the root table, and the MADT's list of local
//! APICs and I/O APICs. Only what the kernel needs at boot is decoded.

use super::phys::PhysRead;
use super::BootError;
use arrayvec::ArrayVec;

pub const MAX_CPUS: usize = 16;
/// I/O APICs the kernel uses (`KernelMaxNumIOAPIC`); more are ignored, as
/// in seL4.
pub const MAX_IOAPICS: usize = crate::config::MAX_NUM_IOAPIC;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rsdp {
    pub paddr: u64,
    pub revision: u8,
    pub rsdt: u32,
    pub xsdt: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoApic {
    pub id: u8,
    pub paddr: u32,
    pub gsi_base: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Madt {
    pub lapic_paddr: u64,
    /// APIC IDs of the enabled processors.
    pub cpus: ArrayVec<u8, MAX_CPUS>,
    pub ioapics: ArrayVec<IoApic, MAX_IOAPICS>,
}

fn checksum_ok(mem: &dyn PhysRead, paddr: u64, len: u64) -> bool {
    let mut sum = 0u8;
    for i in 0..len {
        match mem.read_u8(paddr + i) {
            Some(b) => sum = sum.wrapping_add(b),
            None => return false,
        }
    }
    sum == 0
}

/// Decodes and checks an RSDP at `paddr` (ACPI 1.0 or 2.0+).
pub fn rsdp_at(mem: &dyn PhysRead, paddr: u64) -> Option<Rsdp> {
    let mut sig = [0u8; 8];
    if !mem.read(paddr, &mut sig) || &sig != b"RSD PTR " || !checksum_ok(mem, paddr, 20) {
        return None;
    }
    let revision = mem.read_u8(paddr + 15)?;
    let rsdt = mem.read_u32(paddr + 16)?;
    let xsdt = if revision >= 2 {
        let len = mem.read_u32(paddr + 20)? as u64;
        if !(36..=4096).contains(&len) || !checksum_ok(mem, paddr, len) {
            return None;
        }
        Some(mem.read_u64(paddr + 24)?).filter(|&x| x != 0)
    } else {
        None
    };
    Some(Rsdp { paddr, revision, rsdt, xsdt })
}

/// Searches the places a PC BIOS leaves the RSDP: the first KiB of the
/// EBDA and the read-only BIOS area 0xe0000..0x100000, on 16-byte bounds.
pub fn find_rsdp(mem: &dyn PhysRead) -> Option<Rsdp> {
    let ebda = mem.read_u16(0x40e).map(|seg| (seg as u64) << 4).filter(|&a| a >= 0x400);
    let ranges = [ebda.map(|a| (a, a + 1024)), Some((0xe_0000, 0x10_0000))];
    ranges
        .into_iter()
        .flatten()
        .flat_map(|(start, end)| (start..end).step_by(16))
        .find_map(|addr| rsdp_at(mem, addr))
}

/// Finds the table with `signature` through the XSDT (or the RSDT).
pub fn find_table(mem: &dyn PhysRead, rsdp: &Rsdp, signature: &[u8; 4]) -> Option<u64> {
    let (root, entry_size) = match rsdp.xsdt {
        Some(x) => (x, 8),
        None => (rsdp.rsdt as u64, 4),
    };
    let len = mem.read_u32(root + 4)? as u64;
    if !(36..=1 << 16).contains(&len) || !checksum_ok(mem, root, len) {
        return None;
    }
    (0..(len - 36) / entry_size).find_map(|i| {
        let at = root + 36 + i * entry_size;
        let table = if entry_size == 8 { mem.read_u64(at)? } else { mem.read_u32(at)? as u64 };
        let mut sig = [0u8; 4];
        let tlen = mem.read_u32(table + 4)? as u64;
        (mem.read(table, &mut sig)
            && &sig == signature
            && (36..=1 << 20).contains(&tlen)
            && checksum_ok(mem, table, tlen))
        .then_some(table)
    })
}

/// Parses the MADT ("APIC" table).
pub fn parse_madt(mem: &dyn PhysRead, rsdp: &Rsdp) -> Result<Madt, BootError> {
    let table = find_table(mem, rsdp, b"APIC").ok_or(BootError::NoMadt)?;
    let bad = BootError::NoMadt;
    let len = mem.read_u32(table + 4).ok_or(bad)? as u64;
    let mut madt = Madt { lapic_paddr: mem.read_u32(table + 36).ok_or(bad)? as u64, ..Default::default() };
    let mut off = 44;
    while off + 2 <= len {
        let kind = mem.read_u8(table + off).ok_or(bad)?;
        let elen = mem.read_u8(table + off + 1).ok_or(bad)? as u64;
        if elen < 2 || off + elen > len {
            return Err(bad);
        }
        let e = table + off;
        match (kind, elen) {
            (0, 8..) => {
                let apic_id = mem.read_u8(e + 3).ok_or(bad)?;
                let flags = mem.read_u32(e + 4).ok_or(bad)?;
                if flags & 1 != 0 {
                    let _ = madt.cpus.try_push(apic_id);
                }
            }
            (1, 12..) => {
                let _ = madt.ioapics.try_push(IoApic {
                    id: mem.read_u8(e + 2).ok_or(bad)?,
                    paddr: mem.read_u32(e + 4).ok_or(bad)?,
                    gsi_base: mem.read_u32(e + 8).ok_or(bad)?,
                });
            }
            (5, 12..) => madt.lapic_paddr = mem.read_u64(e + 4).ok_or(bad)?,
            _ => {}
        }
        off += elen;
    }
    Ok(madt)
}

#[cfg(test)]
mod tests {
    use super::super::phys::SliceMem;
    use super::*;

    fn fix_checksum(buf: &mut [u8], at: usize, range: core::ops::Range<usize>) {
        buf[at] = 0;
        let sum = buf[range].iter().fold(0u8, |a, &b| a.wrapping_add(b));
        buf[at] = 0u8.wrapping_sub(sum);
    }

    fn header(buf: &mut [u8], at: usize, sig: &[u8; 4], len: usize) {
        buf[at..at + 4].copy_from_slice(sig);
        buf[at + 4..at + 8].copy_from_slice(&(len as u32).to_le_bytes());
        fix_checksum(buf, at + 9, at..at + len);
    }

    /// Low memory with an ACPI 1.0 RSDP in the BIOS area, an RSDT with a
    /// FACP and an APIC table: two CPUs (one disabled) and one IOAPIC.
    fn machine() -> Vec<u8> {
        let mut m = vec![0u8; 0x10_0000];
        let (rsdt, facp, madt) = (0x8_0000usize, 0x8_1000usize, 0x8_2000usize);
        header(&mut m, facp, b"FACP", 36);
        // MADT body
        m[madt + 36..madt + 40].copy_from_slice(&0xfee0_0000u32.to_le_bytes());
        let mut off = madt + 44;
        for (apic, flags) in [(0u8, 1u32), (1, 0)] {
            m[off] = 0;
            m[off + 1] = 8;
            m[off + 3] = apic;
            m[off + 4..off + 8].copy_from_slice(&flags.to_le_bytes());
            off += 8;
        }
        m[off] = 1;
        m[off + 1] = 12;
        m[off + 2] = 2;
        m[off + 4..off + 8].copy_from_slice(&0xfec0_0000u32.to_le_bytes());
        off += 12;
        header(&mut m, madt, b"APIC", off - madt);
        m[rsdt + 36..rsdt + 40].copy_from_slice(&(facp as u32).to_le_bytes());
        m[rsdt + 40..rsdt + 44].copy_from_slice(&(madt as u32).to_le_bytes());
        header(&mut m, rsdt, b"RSDT", 44);
        let r = 0xf_5a40;
        m[r..r + 8].copy_from_slice(b"RSD PTR ");
        m[r + 16..r + 20].copy_from_slice(&(rsdt as u32).to_le_bytes());
        fix_checksum(&mut m, r + 8, r..r + 20);
        m
    }

    #[test]
    fn finds_rsdp_and_madt() {
        let m = machine();
        let mem = SliceMem { base: 0, bytes: &m };
        let rsdp = find_rsdp(&mem).unwrap();
        assert_eq!(rsdp.paddr, 0xf_5a40);
        let madt = parse_madt(&mem, &rsdp).unwrap();
        assert_eq!(madt.lapic_paddr, 0xfee0_0000);
        assert_eq!(madt.cpus.as_slice(), &[0]);
        assert_eq!(madt.ioapics.as_slice(), &[IoApic { id: 2, paddr: 0xfec0_0000, gsi_base: 0 }]);
    }

    #[test]
    fn bad_checksums_are_ignored() {
        let mut m = machine();
        m[0xf_5a40 + 8] ^= 1;
        assert_eq!(find_rsdp(&SliceMem { base: 0, bytes: &m }), None);
        let mut m = machine();
        m[0x8_2000 + 40] ^= 1; // corrupt the MADT
        let mem = SliceMem { base: 0, bytes: &m };
        let rsdp = find_rsdp(&mem).unwrap();
        assert_eq!(parse_madt(&mem, &rsdp), Err(BootError::NoMadt));
    }
}
