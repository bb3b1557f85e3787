//! What the kernel found out about the machine at boot: every processor
//! the MADT lists (kept for SMP, which will start them), the topology
//! arithmetic behind the boot report's core and thread counts, the TSC
//! frequency the CPUID leaves give, and the report's wording. Pure (and
//! host-tested) apart from the table's storage.

use super::acpi::CpuEntry;
use core::fmt;

/// Processors recorded from the MADT; a two-socket Sapphire Rapids
/// server lists up to 480 logical CPUs, and firmware lists hot-pluggable
/// slots too.
pub const MAX_CPUS: usize = 1024;

pub struct CpuTable {
    entries: [CpuEntry; MAX_CPUS],
    len: usize,
    /// Entries past `MAX_CPUS` (counted, not kept).
    pub dropped: u32,
}

impl CpuTable {
    pub const fn new() -> Self {
        const EMPTY: CpuEntry = CpuEntry { apic_id: 0, uid: 0, flags: 0, x2apic_entry: false };
        CpuTable { entries: [EMPTY; MAX_CPUS], len: 0, dropped: 0 }
    }

    pub fn push(&mut self, c: CpuEntry) {
        match self.entries.get_mut(self.len) {
            Some(slot) => {
                *slot = c;
                self.len += 1;
            }
            None => self.dropped += 1,
        }
    }

    pub fn as_slice(&self) -> &[CpuEntry] {
        &self.entries[..self.len]
    }
}

impl Default for CpuTable {
    fn default() -> Self {
        Self::new()
    }
}

/// The MADT's processors, in table order (boot fills it once).
#[cfg(target_os = "none")]
pub static BOOT_CPUS: crate::kernel_state::KernelCell<CpuTable> = crate::kernel_state::KernelCell::new(CpuTable::new());

/// Threads and cores among the enabled processors: APIC IDs that agree
/// above the SMT field (`smt_bits` wide, from CPUID leaf 0xB or 0x1F)
/// are threads of one core.
pub fn count_threads_and_cores(cpus: &[CpuEntry], smt_bits: u32) -> (u32, u32) {
    let enabled = || cpus.iter().filter(|c| c.enabled());
    let core_of = |c: &CpuEntry| c.apic_id.checked_shr(smt_bits).unwrap_or(0);
    let threads = enabled().count() as u32;
    // Quadratic, but once, at boot, over at most MAX_CPUS entries.
    let cores = enabled().enumerate().filter(|&(i, c)| !enabled().take(i).any(|earlier| core_of(earlier) == core_of(c))).count() as u32;
    (threads, cores)
}

/// The usual name of a PC serial port.
pub fn serial_port_name(port: u16) -> &'static str {
    match port {
        0x3f8 => "COM1",
        0x2f8 => "COM2",
        0x3e8 => "COM3",
        0x2e8 => "COM4",
        _ => "a serial port",
    }
}

/// A multiboot 2 framebuffer tag's fixed part (`multiboot2_fb_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framebuffer {
    pub addr: u64,
    pub pitch: u32,
    pub width: u32,
    pub height: u32,
    pub bpp: u8,
    /// 0 indexed colour, 1 direct RGB, 2 EGA text.
    pub kind: u8,
}

impl Framebuffer {
    pub fn parse(tag: &[u8; 22]) -> Framebuffer {
        let u32_at = |o: usize| u32::from_le_bytes([tag[o], tag[o + 1], tag[o + 2], tag[o + 3]]);
        Framebuffer {
            addr: u64::from_le_bytes(tag[..8].try_into().unwrap_or([0; 8])),
            pitch: u32_at(8),
            width: u32_at(12),
            height: u32_at(16),
            bpp: tag[20],
            kind: tag[21],
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            0 => "indexed colour",
            1 => "linear RGB",
            2 => "EGA text",
            _ => "unknown type",
        }
    }
}

/// Where the frequency came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TscSource {
    /// CPUID 0x15: crystal frequency times the TSC/crystal ratio.
    CpuidCrystal,
    /// CPUID 0x15's ratio without a crystal frequency, and 0x16's base
    /// frequency (the TSC runs at the base frequency).
    CpuidBaseFrequency,
    Hpet,
    Pit,
    /// Nothing could measure it.
    Unknown,
}

impl fmt::Display for TscSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TscSource::CpuidCrystal => "from CPUID leaf 0x15 (crystal clock and TSC ratio)",
            TscSource::CpuidBaseFrequency => "from CPUID leaf 0x16 (base frequency)",
            TscSource::Hpet => "measured against the HPET",
            TscSource::Pit => "measured against the PIT",
            TscSource::Unknown => "not measured: no CPUID frequency leaf, HPET or PIT answered",
        })
    }
}

/// The frequency the CPUID leaves give, if any: `leaf15` is (EAX, EBX,
/// ECX) = (ratio denominator, ratio numerator, crystal Hz), `base_mhz`
/// is leaf 0x16's EAX. A numerator of 0 means the ratio is not
/// enumerated; a crystal of 0 means its frequency is not.
pub fn from_cpuid(leaf15: Option<(u32, u32, u32)>, base_mhz: Option<u32>) -> Option<(u32, TscSource)> {
    if let Some((den, num, crystal_hz)) = leaf15 {
        if den != 0 && num != 0 && crystal_hz != 0 {
            let hz = crystal_hz as u64 * num as u64 / den as u64;
            let mhz = u32::try_from(hz / 1_000_000).ok().filter(|&m| m > 0)?;
            return Some((mhz, TscSource::CpuidCrystal));
        }
    }
    base_mhz.filter(|&m| m != 0).map(|m| (m, TscSource::CpuidBaseFrequency))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::acpi::CPU_ENABLED;

    fn cpu(apic_id: u32, flags: u32) -> CpuEntry {
        CpuEntry { apic_id, uid: apic_id, flags, x2apic_entry: apic_id > 255 }
    }

    #[test]
    fn threads_and_cores_from_apic_ids() {
        // Two sockets of two cores with two threads each, IDs as a
        // Sapphire Rapids lays them out (socket 1 from 0x80), plus a
        // disabled hot-plug slot.
        let cpus = [0, 1, 2, 3, 0x80, 0x81, 0x82, 0x83].map(|id| cpu(id, CPU_ENABLED));
        let mut all = cpus.to_vec();
        all.push(cpu(0x100, 0));
        assert_eq!(count_threads_and_cores(&all, 1), (8, 4));
        assert_eq!(count_threads_and_cores(&all, 0), (8, 8));
        assert_eq!(count_threads_and_cores(&[], 1), (0, 0));
        assert_eq!(count_threads_and_cores(&all, 40), (8, 1));
    }

    #[test]
    fn the_table_keeps_what_fits_and_counts_the_rest() {
        let mut t = CpuTable::new();
        for id in 0..MAX_CPUS as u32 + 3 {
            t.push(cpu(id, CPU_ENABLED));
        }
        assert_eq!(t.as_slice().len(), MAX_CPUS);
        assert_eq!(t.as_slice()[300].apic_id, 300);
        assert_eq!(t.dropped, 3);
    }

    #[test]
    fn framebuffer_tag() {
        let mut tag = [0u8; 22];
        tag[..8].copy_from_slice(&0x8000_0000u64.to_le_bytes());
        tag[8..12].copy_from_slice(&5120u32.to_le_bytes());
        tag[12..16].copy_from_slice(&1280u32.to_le_bytes());
        tag[16..20].copy_from_slice(&800u32.to_le_bytes());
        tag[20] = 32;
        tag[21] = 1;
        let fb = Framebuffer::parse(&tag);
        assert_eq!((fb.addr, fb.pitch, fb.width, fb.height, fb.bpp), (0x8000_0000, 5120, 1280, 800, 32));
        assert_eq!(fb.kind_name(), "linear RGB");
        assert_eq!(serial_port_name(0x2f8), "COM2");
    }

    #[test]
    fn cpuid_leaf_15_with_a_crystal() {
        // A 25 MHz crystal and ratio 168/2: 2100 MHz.
        assert_eq!(from_cpuid(Some((2, 168, 25_000_000)), Some(2100)), Some((2100, TscSource::CpuidCrystal)));
        // QEMU's encoding: the crystal is the 1 GHz APIC bus, the ratio
        // tsc_hz / 1 GHz.
        assert_eq!(from_cpuid(Some((1_000_000_000, 2_500_000_000, 1_000_000_000)), None), Some((2500, TscSource::CpuidCrystal)));
    }

    #[test]
    fn cpuid_without_a_crystal_falls_back_to_the_base_frequency() {
        assert_eq!(from_cpuid(Some((2, 200, 0)), Some(2000)), Some((2000, TscSource::CpuidBaseFrequency)));
        assert_eq!(from_cpuid(None, Some(1900)), Some((1900, TscSource::CpuidBaseFrequency)));
    }

    #[test]
    fn nothing_enumerated_means_measure() {
        assert_eq!(from_cpuid(None, None), None);
        assert_eq!(from_cpuid(Some((0, 0, 0)), Some(0)), None);
        assert_eq!(from_cpuid(Some((1, 0, 24_000_000)), None), None);
    }
}
