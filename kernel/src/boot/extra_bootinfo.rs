//! The extra bootinfo region that follows the bootinfo frame: a sequence
//! of chunks, each a `seL4_BootInfoHeader` (id, length including the
//! header) and a body, in seL4's x86 order: VBE, ACPI RSDP, framebuffer,
//! multiboot memory map, TSC frequency.

use super::multiboot::MemoryEntry;
use sel4_compat::bootinfo::header_id;

/// `SEL4_MULTIBOOT_MAX_MMAP_ENTRIES`.
pub const MMAP_ENTRIES: usize = 50;
const HEADER: usize = 16;
/// One packed `seL4_X86_mb_mmap_t`: size, base, length, type.
const MMAP_ENTRY: usize = 24;
/// `seL4_X86_BootInfo_mmap_t`: header, a 32-bit length, 50 entries.
pub const MMAP_CHUNK: usize = HEADER + 4 + MMAP_ENTRIES * MMAP_ENTRY;
/// `acpi_rsdp_t` (the ACPI 2.0 layout, 36 bytes, whatever the revision).
pub const RSDP_BYTES: usize = 36;
/// `multiboot2_fb_t`.
pub const FRAMEBUFFER_BYTES: usize = 22;
/// VBE control info (512), mode info (256) and four 32-bit words.
pub const VBE_BODY_BYTES: usize = 512 + 256 + 16;

/// What the loader and the machine told the kernel.
pub struct ExtraInputs<'a> {
    pub vbe: Option<&'a [u8; VBE_BODY_BYTES]>,
    pub rsdp: Option<[u8; RSDP_BYTES]>,
    pub framebuffer: Option<[u8; FRAMEBUFFER_BYTES]>,
    pub memory: &'a [MemoryEntry],
    pub tsc_mhz: u32,
}

impl ExtraInputs<'_> {
    /// Bytes of extra bootinfo (seL4's `extra_bi_size`, the `extraLen`).
    pub fn size(&self) -> usize {
        self.vbe.map_or(0, |_| HEADER + VBE_BODY_BYTES)
            + self.rsdp.map_or(0, |_| HEADER + RSDP_BYTES)
            + self.framebuffer.map_or(0, |_| HEADER + FRAMEBUFFER_BYTES)
            + MMAP_CHUNK
            + HEADER
            + 4
    }

    /// Writes the chunks to `out` (at least `size()` bytes, zeroed);
    /// returns the bytes written.
    pub fn write(&self, out: &mut [u8]) -> usize {
        let mut at = 0;
        let mut chunk = |id: u64, body_len: usize, fill: &mut dyn FnMut(&mut [u8])| {
            let len = HEADER + body_len;
            out[at..at + 8].copy_from_slice(&id.to_le_bytes());
            out[at + 8..at + 16].copy_from_slice(&(len as u64).to_le_bytes());
            fill(&mut out[at + HEADER..at + len]);
            at += len;
        };
        if let Some(vbe) = self.vbe {
            chunk(header_id::X86_VBE, VBE_BODY_BYTES, &mut |b| b.copy_from_slice(vbe));
        }
        if let Some(rsdp) = self.rsdp {
            chunk(header_id::X86_ACPI_RSDP, RSDP_BYTES, &mut |b| b.copy_from_slice(&rsdp));
        }
        if let Some(fb) = self.framebuffer {
            chunk(header_id::X86_FRAMEBUFFER, FRAMEBUFFER_BYTES, &mut |b| b.copy_from_slice(&fb));
        }
        let entries = &self.memory[..self.memory.len().min(MMAP_ENTRIES)];
        chunk(header_id::X86_MBMMAP, MMAP_CHUNK - HEADER, &mut |b| {
            b[..4].copy_from_slice(&((entries.len() * MMAP_ENTRY) as u32).to_le_bytes());
            for (i, e) in entries.iter().enumerate() {
                let p = 4 + i * MMAP_ENTRY;
                b[p..p + 4].copy_from_slice(&20u32.to_le_bytes());
                b[p + 4..p + 12].copy_from_slice(&e.base.to_le_bytes());
                b[p + 12..p + 20].copy_from_slice(&e.len.to_le_bytes());
                b[p + 20..p + 24].copy_from_slice(&e.kind.to_le_bytes());
            }
        });
        chunk(header_id::X86_TSC_FREQ, 4, &mut |b| b.copy_from_slice(&self.tsc_mhz.to_le_bytes()));
        at
    }
}

/// Size, as a power of two, of the frames backing `size` bytes of extra
/// bootinfo (seL4's `calculate_extra_bi_size_bits`): at least a page, and
/// rounded up to a power of two.
pub fn size_bits(size: usize) -> u32 {
    if size == 0 {
        return 0;
    }
    let rounded = size.next_multiple_of(4096) as u64;
    let msb = 63 - rounded.leading_zeros();
    if size as u64 > 1 << msb {
        msb + 1
    } else {
        msb
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(b: &[u8], at: usize) -> (u64, u64) {
        (u64::from_le_bytes(b[at..at + 8].try_into().unwrap()), u64::from_le_bytes(b[at + 8..at + 16].try_into().unwrap()))
    }

    #[test]
    fn chunks_in_sel4_order_with_lengths() {
        let mem = [MemoryEntry { base: 0x100000, len: 0x7ff00000, kind: 1 }, MemoryEntry { base: 0xfee00000, len: 0x1000, kind: 2 }];
        let mut rsdp = [0u8; RSDP_BYTES];
        rsdp[..8].copy_from_slice(b"RSD PTR ");
        let inputs = ExtraInputs { vbe: None, rsdp: Some(rsdp), framebuffer: None, memory: &mem, tsc_mhz: 2400 };
        let mut out = vec![0u8; 4096];
        let n = inputs.write(&mut out);
        assert_eq!(n, inputs.size());
        assert_eq!(n, 52 + 1220 + 20);
        assert_eq!(header(&out, 0), (header_id::X86_ACPI_RSDP, 52));
        assert_eq!(&out[16..24], b"RSD PTR ");
        assert_eq!(header(&out, 52), (header_id::X86_MBMMAP, 1220));
        assert_eq!(u32::from_le_bytes(out[68..72].try_into().unwrap()), 48);
        assert_eq!(u64::from_le_bytes(out[72 + 4..72 + 12].try_into().unwrap()), 0x100000);
        assert_eq!(header(&out, 1272), (header_id::X86_TSC_FREQ, 20));
        assert_eq!(u32::from_le_bytes(out[1288..1292].try_into().unwrap()), 2400);
    }

    #[test]
    fn optional_chunks_come_first() {
        let vbe = [7u8; VBE_BODY_BYTES];
        let inputs = ExtraInputs { vbe: Some(&vbe), rsdp: None, framebuffer: Some([1; FRAMEBUFFER_BYTES]), memory: &[], tsc_mhz: 1 };
        let mut out = vec![0u8; 8192];
        inputs.write(&mut out);
        assert_eq!(header(&out, 0), (header_id::X86_VBE, 800));
        assert_eq!(header(&out, 800), (header_id::X86_FRAMEBUFFER, 38));
        assert_eq!(header(&out, 838).0, header_id::X86_MBMMAP);
    }

    #[test]
    fn size_bits_rounds_to_pages_and_powers_of_two() {
        assert_eq!(size_bits(0), 0);
        assert_eq!(size_bits(1292), 12);
        assert_eq!(size_bits(4096), 12);
        assert_eq!(size_bits(4097), 13);
        assert_eq!(size_bits(9000), 14);
    }
}
