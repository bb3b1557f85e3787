//! Multiboot 1 and 2 boot information, copied out of the loader's
//! structures into fixed-size kernel-owned values.

use super::phys::PhysRead;
use super::BootError;
use arrayvec::ArrayVec;

pub const MULTIBOOT1_BOOT_MAGIC: u32 = 0x2bad_b002;
pub const MULTIBOOT2_BOOT_MAGIC: u32 = 0x36d7_6289;

/// Memory-map entry type for usable RAM (both protocols).
pub const MMAP_TYPE_RAM: u32 = 1;

pub const MAX_MMAP_ENTRIES: usize = 50;
pub const MAX_MODULES: usize = 16;
pub const MAX_CMDLINE: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryEntry {
    pub base: u64,
    pub len: u64,
    pub kind: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Module {
    pub start: u64,
    pub end: u64,
}

/// Where a multiboot 1 loader left VBE information (flag bit 11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VbeRefs {
    pub control_info: u32,
    pub mode_info: u32,
    pub mode: u16,
    pub interface_seg: u16,
    pub interface_off: u16,
    pub interface_len: u16,
}

/// What the kernel keeps of the loader's information.
#[derive(Clone, Debug, Default)]
pub struct BootParams {
    pub protocol: u8,
    pub cmdline: ArrayVec<u8, MAX_CMDLINE>,
    pub memory: ArrayVec<MemoryEntry, MAX_MMAP_ENTRIES>,
    pub modules: ArrayVec<Module, MAX_MODULES>,
    /// A copy of the RSDP when the loader supplied one (multiboot 2).
    pub rsdp: Option<ArrayVec<u8, 36>>,
    pub vbe: Option<VbeRefs>,
    /// The multiboot 2 framebuffer tag's fixed part (`multiboot2_fb_t`).
    pub framebuffer: Option<[u8; 22]>,
}

impl BootParams {
    pub fn cmdline_str(&self) -> &str {
        core::str::from_utf8(&self.cmdline).unwrap_or("")
    }
}

/// Parses the information structure a multiboot loader left at `info`.
pub fn parse(magic: u32, info: u64, mem: &dyn PhysRead) -> Result<BootParams, BootError> {
    match magic {
        MULTIBOOT1_BOOT_MAGIC => parse_mb1(info, mem),
        MULTIBOOT2_BOOT_MAGIC => parse_mb2(info, mem),
        other => Err(BootError::BadMultibootMagic(other)),
    }
}

const MB1_FLAG_CMDLINE: u32 = 1 << 2;
const MB1_FLAG_MODS: u32 = 1 << 3;
const MB1_FLAG_MMAP: u32 = 1 << 6;
const MB1_FLAG_VBE: u32 = 1 << 11;

fn copy_cstr(mem: &dyn PhysRead, mut paddr: u64, out: &mut ArrayVec<u8, MAX_CMDLINE>) {
    while !out.is_full() {
        match mem.read_u8(paddr) {
            Some(0) | None => break,
            Some(c) => out.push(c),
        }
        paddr += 1;
    }
}

fn push_mem(params: &mut BootParams, base: u64, len: u64, kind: u32) {
    // Entries beyond seL4's limit of 50 are dropped, as seL4 truncates.
    let _ = params.memory.try_push(MemoryEntry { base, len, kind });
}

fn push_module(params: &mut BootParams, start: u64, end: u64) -> Result<(), BootError> {
    if end < start {
        return Err(BootError::MultibootInfoUnreadable);
    }
    let _ = params.modules.try_push(Module { start, end });
    Ok(())
}

fn parse_mb1(info: u64, mem: &dyn PhysRead) -> Result<BootParams, BootError> {
    let bad = BootError::MultibootInfoUnreadable;
    let field = |off: u64| mem.read_u32(info + off).ok_or(bad);
    let mut params = BootParams { protocol: 1, ..Default::default() };
    let flags = field(0)?;
    if flags & MB1_FLAG_CMDLINE != 0 {
        copy_cstr(mem, field(16)? as u64, &mut params.cmdline);
    }
    if flags & MB1_FLAG_MODS != 0 {
        let count = field(20)?;
        let addr = field(24)? as u64;
        for i in 0..u64::from(count).min(MAX_MODULES as u64) {
            let start = mem.read_u32(addr + i * 16).ok_or(bad)?;
            let end = mem.read_u32(addr + i * 16 + 4).ok_or(bad)?;
            push_module(&mut params, start.into(), end.into())?;
        }
    }
    if flags & MB1_FLAG_MMAP != 0 {
        let length = field(44)? as u64;
        let addr = field(48)? as u64;
        let mut off = 0;
        // Each entry starts with its own size, which does not count itself.
        while off + 24 <= length {
            let size = mem.read_u32(addr + off).ok_or(bad)? as u64;
            let base = mem.read_u64(addr + off + 4).ok_or(bad)?;
            let len = mem.read_u64(addr + off + 12).ok_or(bad)?;
            let kind = mem.read_u32(addr + off + 20).ok_or(bad)?;
            push_mem(&mut params, base, len, kind);
            if size < 20 {
                return Err(bad);
            }
            off += size + 4;
        }
    }
    if flags & MB1_FLAG_VBE != 0 {
        let half = |off: u64| mem.read_u16(info + off).ok_or(bad);
        params.vbe = Some(VbeRefs {
            control_info: field(72)?,
            mode_info: field(76)?,
            mode: half(80)?,
            interface_seg: half(82)?,
            interface_off: half(84)?,
            interface_len: half(86)?,
        });
    }
    Ok(params)
}

const MB2_TAG_END: u32 = 0;
const MB2_TAG_CMDLINE: u32 = 1;
const MB2_TAG_MODULE: u32 = 3;
const MB2_TAG_MMAP: u32 = 6;
const MB2_TAG_FRAMEBUFFER: u32 = 8;
const MB2_TAG_ACPI_OLD: u32 = 14;
const MB2_TAG_ACPI_NEW: u32 = 15;
/// Upper bound on the information structure; guards against a bogus size.
const MB2_MAX_INFO: u64 = 1 << 20;

fn parse_mb2(info: u64, mem: &dyn PhysRead) -> Result<BootParams, BootError> {
    let bad = BootError::MultibootInfoUnreadable;
    let mut params = BootParams { protocol: 2, ..Default::default() };
    let total = mem.read_u32(info).ok_or(bad)? as u64;
    if !(16..=MB2_MAX_INFO).contains(&total) {
        return Err(bad);
    }
    let mut off = 8;
    loop {
        if off + 8 > total {
            return Err(bad);
        }
        let tag = info + off;
        let kind = mem.read_u32(tag).ok_or(bad)?;
        let size = mem.read_u32(tag + 4).ok_or(bad)? as u64;
        if size < 8 || off + size > total {
            return Err(bad);
        }
        match kind {
            MB2_TAG_END => break,
            MB2_TAG_CMDLINE => copy_cstr(mem, tag + 8, &mut params.cmdline),
            MB2_TAG_MODULE => {
                let start = mem.read_u32(tag + 8).ok_or(bad)?;
                let end = mem.read_u32(tag + 12).ok_or(bad)?;
                push_module(&mut params, start.into(), end.into())?;
            }
            MB2_TAG_MMAP => {
                let entry_size = mem.read_u32(tag + 8).ok_or(bad)? as u64;
                if entry_size < 24 {
                    return Err(bad);
                }
                let mut e = 16;
                while e + entry_size <= size {
                    let base = mem.read_u64(tag + e).ok_or(bad)?;
                    let len = mem.read_u64(tag + e + 8).ok_or(bad)?;
                    let kind = mem.read_u32(tag + e + 16).ok_or(bad)?;
                    push_mem(&mut params, base, len, kind);
                    e += entry_size;
                }
            }
            MB2_TAG_FRAMEBUFFER if size >= 8 + 22 => {
                let mut fb = [0u8; 22];
                if !mem.read(tag + 8, &mut fb) {
                    return Err(bad);
                }
                params.framebuffer = Some(fb);
            }
            MB2_TAG_ACPI_OLD | MB2_TAG_ACPI_NEW => {
                let n = (size - 8).min(36) as usize;
                let mut copy = ArrayVec::<u8, 36>::new();
                for i in 0..n {
                    copy.push(mem.read_u8(tag + 8 + i as u64).ok_or(bad)?);
                }
                // Prefer the ACPI 2.0 RSDP when both are present.
                if kind == MB2_TAG_ACPI_NEW || params.rsdp.is_none() {
                    params.rsdp = Some(copy);
                }
            }
            _ => {}
        }
        off += (size + 7) & !7;
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::super::phys::SliceMem;
    use super::*;

    fn put32(buf: &mut [u8], at: usize, v: u32) {
        buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn put64(buf: &mut [u8], at: usize, v: u64) {
        buf[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    const BASE: u64 = 0x9000;

    /// A multiboot 1 structure laid out the way QEMU writes one.
    fn mb1_image(mmap_entries: &[(u64, u64, u32)], modules: &[(u32, u32)]) -> Vec<u8> {
        let mut m = vec![0u8; 0x1000];
        put32(&mut m, 0, MB1_FLAG_CMDLINE | MB1_FLAG_MODS | MB1_FLAG_MMAP);
        put32(&mut m, 16, (BASE + 0x800) as u32);
        m[0x800..0x800 + 20].copy_from_slice(b"console_port=0x2f8 \0");
        put32(&mut m, 20, modules.len() as u32);
        put32(&mut m, 24, (BASE + 0x200) as u32);
        for (i, &(s, e)) in modules.iter().enumerate() {
            put32(&mut m, 0x200 + i * 16, s);
            put32(&mut m, 0x204 + i * 16, e);
        }
        put32(&mut m, 44, (mmap_entries.len() * 24) as u32);
        put32(&mut m, 48, (BASE + 0x400) as u32);
        for (i, &(b, l, t)) in mmap_entries.iter().enumerate() {
            let at = 0x400 + i * 24;
            put32(&mut m, at, 20);
            put64(&mut m, at + 4, b);
            put64(&mut m, at + 12, l);
            put32(&mut m, at + 20, t);
        }
        m
    }

    #[test]
    fn mb1_reads_cmdline_modules_and_mmap() {
        let img = mb1_image(&[(0, 0x9fc00, 1), (0x100000, 0xbfee0000, 1), (0xfffc0000, 0x40000, 2)], &[(0x200000, 0x212345)]);
        let p = parse(MULTIBOOT1_BOOT_MAGIC, BASE, &SliceMem { base: BASE, bytes: &img }).unwrap();
        assert_eq!(p.cmdline_str(), "console_port=0x2f8 ");
        assert_eq!(p.modules.as_slice(), &[Module { start: 0x200000, end: 0x212345 }]);
        assert_eq!(p.memory.len(), 3);
        assert_eq!(p.memory[1], MemoryEntry { base: 0x100000, len: 0xbfee0000, kind: 1 });
    }

    #[test]
    fn mb1_empty_map_and_no_modules_parse_to_empty_lists() {
        let img = mb1_image(&[], &[]);
        let p = parse(MULTIBOOT1_BOOT_MAGIC, BASE, &SliceMem { base: BASE, bytes: &img }).unwrap();
        assert!(p.memory.is_empty());
        assert!(p.modules.is_empty());
    }

    #[test]
    fn mb1_pointers_outside_memory_are_errors_not_faults() {
        let mut img = mb1_image(&[(0, 0x1000, 1)], &[]);
        put32(&mut img, 48, 0xdead_0000);
        let r = parse(MULTIBOOT1_BOOT_MAGIC, BASE, &SliceMem { base: BASE, bytes: &img });
        assert_eq!(r.unwrap_err(), BootError::MultibootInfoUnreadable);
        let r = parse(MULTIBOOT1_BOOT_MAGIC, 0x1_0000_0000, &SliceMem { base: BASE, bytes: &img });
        assert_eq!(r.unwrap_err(), BootError::MultibootInfoUnreadable);
    }

    #[test]
    fn mb1_module_ending_before_it_starts_is_rejected() {
        let img = mb1_image(&[], &[(0x300000, 0x200000)]);
        let r = parse(MULTIBOOT1_BOOT_MAGIC, BASE, &SliceMem { base: BASE, bytes: &img });
        assert_eq!(r.unwrap_err(), BootError::MultibootInfoUnreadable);
    }

    #[test]
    fn wrong_magic_is_reported() {
        let r = parse(0x1234, BASE, &SliceMem { base: BASE, bytes: &[] });
        assert_eq!(r.unwrap_err(), BootError::BadMultibootMagic(0x1234));
    }

    fn mb2_image() -> Vec<u8> {
        let mut m = vec![0u8; 0x200];
        let mut off = 8;
        let mut tag = |m: &mut Vec<u8>, kind: u32, body: &[u8]| {
            put32(m, off, kind);
            put32(m, off + 4, 8 + body.len() as u32);
            m[off + 8..off + 8 + body.len()].copy_from_slice(body);
            off += (8 + body.len() + 7) & !7;
        };
        tag(&mut m, MB2_TAG_CMDLINE, b"debug_port=0x3f8\0");
        let mut module = vec![0u8; 12];
        put32(&mut module, 0, 0x40_0000);
        put32(&mut module, 4, 0x41_0000);
        tag(&mut m, MB2_TAG_MODULE, &module);
        let mut mmap = vec![0u8; 8 + 2 * 24];
        put32(&mut mmap, 0, 24);
        put64(&mut mmap, 8, 0x100000);
        put64(&mut mmap, 16, 0x7ff00000);
        put32(&mut mmap, 24, 1);
        put64(&mut mmap, 32, 0xfee00000);
        put64(&mut mmap, 40, 0x1000);
        put32(&mut mmap, 48, 2);
        tag(&mut m, MB2_TAG_MMAP, &mmap);
        let mut rsdp = vec![0u8; 20];
        rsdp[..8].copy_from_slice(b"RSD PTR ");
        tag(&mut m, MB2_TAG_ACPI_OLD, &rsdp);
        tag(&mut m, MB2_TAG_END, &[]);
        put32(&mut m, 0, off as u32);
        m
    }

    #[test]
    fn mb2_reads_tags() {
        let img = mb2_image();
        let p = parse(MULTIBOOT2_BOOT_MAGIC, BASE, &SliceMem { base: BASE, bytes: &img }).unwrap();
        assert_eq!(p.protocol, 2);
        assert_eq!(p.cmdline_str(), "debug_port=0x3f8");
        assert_eq!(p.modules.as_slice(), &[Module { start: 0x40_0000, end: 0x41_0000 }]);
        assert_eq!(p.memory.len(), 2);
        assert_eq!(p.memory[1].kind, 2);
        assert_eq!(&p.rsdp.unwrap()[..8], b"RSD PTR ");
    }

    #[test]
    fn mb2_truncated_or_bogus_sizes_are_rejected() {
        let mut img = mb2_image();
        put32(&mut img, 0, 12);
        assert!(parse(MULTIBOOT2_BOOT_MAGIC, BASE, &SliceMem { base: BASE, bytes: &img }).is_err());
        let mut img = mb2_image();
        put32(&mut img, 12, 4); // first tag claims a size below its header
        assert!(parse(MULTIBOOT2_BOOT_MAGIC, BASE, &SliceMem { base: BASE, bytes: &img }).is_err());
        let mut img = mb2_image();
        put32(&mut img, 0, 0x7fff_ffff);
        assert!(parse(MULTIBOOT2_BOOT_MAGIC, BASE, &SliceMem { base: BASE, bytes: &img }).is_err());
    }
}
