//! ACPI discovery: the RSDP, the root table, and the MADT's list of local
//! APICs and I/O APICs. Only what the kernel needs at boot is decoded.

use super::phys::PhysRead;
use super::BootError;
use arrayvec::ArrayVec;

/// I/O APICs the kernel uses (`KernelMaxNumIOAPIC`); more are ignored, as
/// in seL4.
pub const MAX_IOAPICS: usize = crate::config::MAX_NUM_IOAPIC;
/// Interrupt source overrides kept (a PC has one per legacy IRQ at most).
pub const MAX_OVERRIDES: usize = 16;

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

/// A MADT interrupt source override (type 2): ISA IRQ `source` arrives
/// on global system interrupt `gsi`, with the MPS polarity and trigger
/// `flags` (bits 1:0 polarity, 3:2 trigger mode; 0 = the bus default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqOverride {
    pub bus: u8,
    pub source: u8,
    pub gsi: u32,
    pub flags: u16,
}

impl IrqOverride {
    /// Active low (polarity 3); ISA's default is active high.
    pub fn active_low(&self) -> bool {
        self.flags & 0b11 == 0b11
    }
    /// Level triggered (trigger mode 3); ISA's default is edge.
    pub fn level_triggered(&self) -> bool {
        (self.flags >> 2) & 0b11 == 0b11
    }
}

/// MADT processor flag: usable now.
pub const CPU_ENABLED: u32 = 1 << 0;
/// MADT processor flag (ACPI 6.3+): may be brought online later.
pub const CPU_ONLINE_CAPABLE: u32 = 1 << 1;

/// One processor of the MADT, from a local APIC (type 0) or local x2APIC
/// (type 9) entry: what SMP needs to start it later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuEntry {
    /// The full APIC ID (8 bits from type 0, 32 bits from type 9).
    pub apic_id: u32,
    /// The ACPI processor UID that names it in the namespace.
    pub uid: u32,
    pub flags: u32,
    /// Listed by a local x2APIC entry.
    pub x2apic_entry: bool,
}

impl CpuEntry {
    pub fn enabled(&self) -> bool {
        self.flags & CPU_ENABLED != 0
    }
}

/// What the kernel keeps of the MADT (the processors go to a sink, since
/// a server lists hundreds).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Madt {
    pub lapic_paddr: u64,
    /// MADT flag PCAT_COMPAT: the machine also has dual 8259 PICs.
    pub pcat_compat: bool,
    pub ioapics: ArrayVec<IoApic, MAX_IOAPICS>,
    /// I/O APICs listed beyond `MAX_IOAPICS` (not used).
    pub ioapics_ignored: u32,
    pub overrides: ArrayVec<IrqOverride, MAX_OVERRIDES>,
    /// Processors listed, and how many of them are enabled.
    pub cpus_listed: u32,
    pub cpus_enabled: u32,
    /// Processors listed by local x2APIC entries.
    pub x2apic_entries: u32,
    /// The highest APIC ID of an enabled processor.
    pub max_apic_id: u32,
}

impl Madt {
    /// The GSI that ISA IRQ `irq` arrives on (itself without an override).
    pub fn isa_irq_gsi(&self, irq: u8) -> u32 {
        self.overrides.iter().find(|o| o.bus == 0 && o.source == irq).map_or(irq as u32, |o| o.gsi)
    }
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
    ranges.into_iter().flatten().flat_map(|(start, end)| (start..end).step_by(16)).find_map(|addr| rsdp_at(mem, addr))
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
        (mem.read(table, &mut sig) && &sig == signature && (36..=1 << 20).contains(&tlen) && checksum_ok(mem, table, tlen)).then_some(table)
    })
}

/// Parses the MADT ("APIC" table). Every processor entry (types 0 and
/// 9, in table order, enabled or not) goes to `cpu`; a processor listed by
/// both kinds of entry (some firmware does) goes once, as its first entry.
pub fn parse_madt(mem: &dyn PhysRead, rsdp: &Rsdp, cpu: &mut dyn FnMut(CpuEntry)) -> Result<Madt, BootError> {
    let table = find_table(mem, rsdp, b"APIC").ok_or(BootError::NoMadt)?;
    parse_madt_at(mem, table, cpu)
}

/// Parses the MADT at `table` (checksum already checked).
pub fn parse_madt_at(mem: &dyn PhysRead, table: u64, cpu: &mut dyn FnMut(CpuEntry)) -> Result<Madt, BootError> {
    let bad = BootError::NoMadt;
    let len = mem.read_u32(table + 4).ok_or(bad)? as u64;
    let mut madt = Madt {
        lapic_paddr: mem.read_u32(table + 36).ok_or(bad)? as u64,
        pcat_compat: mem.read_u32(table + 40).ok_or(bad)? & 1 != 0,
        ..Default::default()
    };
    // APIC IDs seen so far, to drop a processor listed twice: a bitmap
    // for the 8-bit IDs type 0 can name, a short list above that.
    let mut seen_low = [0u64; 4];
    let mut seen_high: ArrayVec<u32, 64> = ArrayVec::new();
    let mut off = 44;
    while off + 2 <= len {
        let kind = mem.read_u8(table + off).ok_or(bad)?;
        let elen = mem.read_u8(table + off + 1).ok_or(bad)? as u64;
        if elen < 2 || off + elen > len {
            return Err(bad);
        }
        let e = table + off;
        let processor = match (kind, elen) {
            (0, 8..) => Some(CpuEntry {
                uid: mem.read_u8(e + 2).ok_or(bad)? as u32,
                apic_id: mem.read_u8(e + 3).ok_or(bad)? as u32,
                flags: mem.read_u32(e + 4).ok_or(bad)?,
                x2apic_entry: false,
            }),
            (9, 16..) => Some(CpuEntry {
                apic_id: mem.read_u32(e + 4).ok_or(bad)?,
                flags: mem.read_u32(e + 8).ok_or(bad)?,
                uid: mem.read_u32(e + 12).ok_or(bad)?,
                x2apic_entry: true,
            }),
            (1, 12..) => {
                let io =
                    IoApic { id: mem.read_u8(e + 2).ok_or(bad)?, paddr: mem.read_u32(e + 4).ok_or(bad)?, gsi_base: mem.read_u32(e + 8).ok_or(bad)? };
                if madt.ioapics.try_push(io).is_err() {
                    madt.ioapics_ignored += 1;
                }
                None
            }
            (2, 10..) => {
                let _ = madt.overrides.try_push(IrqOverride {
                    bus: mem.read_u8(e + 2).ok_or(bad)?,
                    source: mem.read_u8(e + 3).ok_or(bad)?,
                    gsi: mem.read_u32(e + 4).ok_or(bad)?,
                    flags: mem.read_u16(e + 8).ok_or(bad)?,
                });
                None
            }
            (5, 12..) => {
                madt.lapic_paddr = mem.read_u64(e + 4).ok_or(bad)?;
                None
            }
            _ => None,
        };
        if let Some(c) = processor {
            let duplicate = if c.apic_id < 256 {
                let (word, bit) = ((c.apic_id / 64) as usize, c.apic_id % 64);
                let was = seen_low[word] & (1 << bit) != 0;
                seen_low[word] |= 1 << bit;
                was
            } else {
                let was = seen_high.contains(&c.apic_id);
                if !was {
                    let _ = seen_high.try_push(c.apic_id);
                }
                was
            };
            // An x2APIC entry with ID 0xffffffff is a placeholder.
            if !duplicate && c.apic_id != u32::MAX {
                madt.cpus_listed += 1;
                madt.x2apic_entries += c.x2apic_entry as u32;
                if c.enabled() {
                    madt.cpus_enabled += 1;
                    madt.max_apic_id = madt.max_apic_id.max(c.apic_id);
                }
                cpu(c);
            }
        }
        off += elen;
    }
    Ok(madt)
}

/// The HPET's register block, from the ACPI "HPET" table (its base
/// address is a generic address structure in system memory).
pub fn find_hpet(mem: &dyn PhysRead, rsdp: &Rsdp) -> Option<u64> {
    let table = find_table(mem, rsdp, b"HPET")?;
    let space = mem.read_u8(table + 40)?;
    let base = mem.read_u64(table + 44)?;
    (space == 0 && base != 0).then_some(base)
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

    fn collect(mem: &dyn PhysRead, rsdp: &Rsdp) -> (Madt, Vec<CpuEntry>) {
        let mut cpus = Vec::new();
        let madt = parse_madt(mem, rsdp, &mut |c| cpus.push(c)).unwrap();
        (madt, cpus)
    }

    #[test]
    fn finds_rsdp_and_madt() {
        let m = machine();
        let mem = SliceMem { base: 0, bytes: &m };
        let rsdp = find_rsdp(&mem).unwrap();
        assert_eq!(rsdp.paddr, 0xf_5a40);
        let (madt, cpus) = collect(&mem, &rsdp);
        assert_eq!(madt.lapic_paddr, 0xfee0_0000);
        assert_eq!((madt.cpus_listed, madt.cpus_enabled), (2, 1));
        assert_eq!(cpus.iter().filter(|c| c.enabled()).map(|c| c.apic_id).collect::<Vec<_>>(), vec![0]);
        assert_eq!(madt.ioapics.as_slice(), &[IoApic { id: 2, paddr: 0xfec0_0000, gsi_base: 0 }]);
    }

    /// A MADT at `at` in `m` with the given entries (kind, body).
    fn madt_table(m: &mut [u8], at: usize, flags: u32, entries: &[(u8, Vec<u8>)]) {
        m[at + 36..at + 40].copy_from_slice(&0xfee0_0000u32.to_le_bytes());
        m[at + 40..at + 44].copy_from_slice(&flags.to_le_bytes());
        let mut off = at + 44;
        for (kind, body) in entries {
            m[off] = *kind;
            m[off + 1] = (body.len() + 2) as u8;
            m[off + 2..off + 2 + body.len()].copy_from_slice(body);
            off += body.len() + 2;
        }
        header(m, at, b"APIC", off - at);
    }

    fn le(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// What a large server's MADT holds: x2APIC entries with 32-bit IDs
    /// above 255 (one also listed by an xAPIC entry, one a placeholder),
    /// three I/O APICs, overrides, and a 64-bit local APIC address.
    #[test]
    fn x2apic_entries_several_ioapics_and_overrides() {
        let mut m = vec![0u8; 0x2000];
        let x2 = |id: u32, flags: u32, uid: u32| (9u8, le(&[&[0, 0], &id.to_le_bytes(), &flags.to_le_bytes(), &uid.to_le_bytes()]));
        let io = |id: u8, addr: u32, base: u32| (1u8, le(&[&[id, 0], &addr.to_le_bytes(), &base.to_le_bytes()]));
        let iso = |src: u8, gsi: u32, flags: u16| (2u8, le(&[&[0, src], &gsi.to_le_bytes(), &flags.to_le_bytes()]));
        let entries = vec![
            (0u8, le(&[&[0, 4], &1u32.to_le_bytes()])),
            x2(4, 1, 0),
            x2(0x100, 1, 1),
            x2(0x1_0203, CPU_ONLINE_CAPABLE, 2),
            x2(0x2c5, 0, 3),
            x2(u32::MAX, 1, 4),
            io(8, 0xfec0_0000, 0),
            io(9, 0xfec0_1000, 24),
            io(10, 0xfec4_0000, 48),
            iso(0, 2, 0),
            iso(9, 9, 0b1111),
            (5u8, le(&[&[0, 0], &0x1_fee0_0000u64.to_le_bytes()])),
        ];
        madt_table(&mut m, 0x100, 1, &entries);
        let mem = SliceMem { base: 0, bytes: &m };
        let mut cpus = Vec::new();
        let madt = parse_madt_at(&mem, 0x100, &mut |c| cpus.push(c)).unwrap();
        assert_eq!(
            cpus.iter().map(|c| (c.apic_id, c.uid, c.x2apic_entry)).collect::<Vec<_>>(),
            vec![(4, 0, false), (0x100, 1, true), (0x1_0203, 2, true), (0x2c5, 3, true)]
        );
        assert_eq!((madt.cpus_listed, madt.cpus_enabled, madt.x2apic_entries, madt.max_apic_id), (4, 2, 3, 0x100));
        assert!(madt.pcat_compat);
        assert_eq!(madt.lapic_paddr, 0x1_fee0_0000);
        // The first `KernelMaxNumIOAPIC` are kept, as seL4 keeps them; the
        // rest are counted.
        let listed = [(8, 0), (9, 24), (10, 48)];
        let kept = listed.len().min(MAX_IOAPICS);
        assert_eq!(madt.ioapics.iter().map(|i| (i.id, i.gsi_base)).collect::<Vec<_>>(), listed[..kept].to_vec());
        assert_eq!(madt.ioapics_ignored as usize, listed.len() - kept);
        assert_eq!(madt.isa_irq_gsi(0), 2);
        assert_eq!(madt.isa_irq_gsi(4), 4);
        let sci = madt.overrides[1];
        assert!(sci.active_low() && sci.level_triggered());
        assert!(!madt.overrides[0].active_low() && !madt.overrides[0].level_triggered());
    }

    #[test]
    fn a_truncated_entry_is_refused() {
        let mut m = vec![0u8; 0x400];
        madt_table(&mut m, 0x100, 0, &[(0, le(&[&[0, 1], &1u32.to_le_bytes()]))]);
        m[0x100 + 44 + 1] = 40; // entry claims to run past the table
        let at = 0x100 + 9;
        m[at] = 0;
        let sum = m[0x100..0x100 + 52].iter().fold(0u8, |a, &b| a.wrapping_add(b));
        m[at] = 0u8.wrapping_sub(sum);
        let mem = SliceMem { base: 0, bytes: &m };
        assert_eq!(parse_madt_at(&mem, 0x100, &mut |_| {}), Err(BootError::NoMadt));
    }

    fn recorded(bytes: &[u8]) -> (Madt, Vec<CpuEntry>) {
        assert_eq!(bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0, "recorded table checksum");
        let mem = SliceMem { base: 0x1000, bytes };
        let mut cpus = Vec::new();
        let madt = parse_madt_at(&mem, 0x1000, &mut |c| cpus.push(c)).unwrap();
        (madt, cpus)
    }

    /// QEMU 7.2's pc machine with `-smp 4,sockets=2,cores=2` (SeaBIOS).
    #[test]
    fn recorded_qemu_7_2_pc_madt() {
        let (madt, cpus) = recorded(include_bytes!("testdata/madt-qemu7.2-pc-smp4.bin"));
        assert_eq!(cpus.iter().map(|c| c.apic_id).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
        assert!(cpus.iter().all(|c| c.enabled() && !c.x2apic_entry));
        assert_eq!(madt.ioapics.as_slice(), &[IoApic { id: 0, paddr: 0xfec0_0000, gsi_base: 0 }]);
        // The PIT's IRQ 0 arrives on GSI 2; the PCI IRQs are level, high.
        assert_eq!(madt.isa_irq_gsi(0), 2);
        assert_eq!(
            madt.overrides.iter().map(|o| (o.source, o.gsi, o.flags)).collect::<Vec<_>>(),
            vec![(0, 2, 0), (5, 5, 0xd), (9, 9, 0xd), (10, 10, 0xd), (11, 11, 0xd)]
        );
        assert!(madt.overrides[1].level_triggered() && !madt.overrides[1].active_low());
    }

    /// QEMU 10.0's q35 with `-smp 2,sockets=2,cores=200,maxcpus=400`: 200
    /// xAPIC entries for socket 0 and 200 x2APIC entries (APIC IDs 256
    /// and up, hot-pluggable, so not enabled) for socket 1.
    #[test]
    fn recorded_qemu_10_q35_madt_with_x2apic_entries() {
        let (madt, cpus) = recorded(include_bytes!("testdata/madt-qemu10.0-q35-maxcpus400.bin"));
        assert_eq!((madt.cpus_listed, madt.cpus_enabled, madt.x2apic_entries), (400, 2, 200));
        assert_eq!(cpus.iter().filter(|c| c.enabled()).map(|c| c.apic_id).collect::<Vec<_>>(), vec![0, 1]);
        let x2: Vec<u32> = cpus.iter().filter(|c| c.x2apic_entry).map(|c| c.apic_id).collect();
        assert_eq!((x2[0], *x2.last().unwrap()), (256, 455));
        assert!(cpus.iter().filter(|c| !c.x2apic_entry).all(|c| c.apic_id < 200));
        assert_eq!(madt.ioapics.len(), 1);
        assert_eq!(madt.isa_irq_gsi(0), 2);
    }

    #[test]
    fn recorded_hpet_table() {
        let bytes = include_bytes!("testdata/hpet-qemu7.2-pc.bin");
        let mut m = vec![0u8; 0x1000];
        m[0x800..0x800 + bytes.len()].copy_from_slice(bytes);
        // An RSDT naming it, and an RSDP for the RSDT.
        m[0x100 + 36..0x100 + 40].copy_from_slice(&0x800u32.to_le_bytes());
        header(&mut m, 0x100, b"RSDT", 40);
        let rsdp = Rsdp { paddr: 0, revision: 0, rsdt: 0x100, xsdt: None };
        assert_eq!(find_hpet(&SliceMem { base: 0, bytes: &m }, &rsdp), Some(0xfed0_0000));
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
        assert_eq!(parse_madt(&mem, &rsdp, &mut |_| {}), Err(BootError::NoMadt));
    }
}
