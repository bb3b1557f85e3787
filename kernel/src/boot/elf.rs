//! Validation of the rootserver ELF before anything is copied.
//!
//! The module is untrusted input: every header field used to index the
//! file or to place memory is checked here, so the loader that follows
//! cannot read outside the module or map over the kernel.

use core::fmt;
use sel4_compat::USER_TOP;

const PAGE_SIZE: u64 = 4096;
const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const ET_EXEC: u16 = 2;
const EM_X86_64: u16 = 62;
const PT_LOAD: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Shorter than the structure being read (`needed` bytes).
    Truncated {
        needed: u64,
        len: u64,
    },
    NotElf,
    WrongClass(u8),
    WrongEndianness(u8),
    WrongMachine(u16),
    NotExecutable(u16),
    BadProgramHeaderSize(u16),
    NoLoadableSegment,
    SegmentFileLargerThanMemory {
        vaddr: u64,
    },
    /// A segment reaches past the user address space into the kernel's.
    SegmentOutsideUserRange {
        vaddr: u64,
        memsz: u64,
    },
    EntryOutsideSegments(u64),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ElfError::Truncated { needed, len } => {
                write!(f, "truncated ELF ({len} bytes, headers need {needed})")
            }
            ElfError::NotElf => write!(f, "not an ELF file (bad magic)"),
            ElfError::WrongClass(c) => write!(f, "ELF class {c} is not ELF64"),
            ElfError::WrongEndianness(d) => write!(f, "ELF data encoding {d} is not little-endian"),
            ElfError::WrongMachine(m) => write!(f, "ELF machine {m} is not x86_64 (62)"),
            ElfError::NotExecutable(t) => write!(f, "ELF type {t} is not a static executable"),
            ElfError::BadProgramHeaderSize(s) => write!(f, "ELF program header size {s} is not 56"),
            ElfError::NoLoadableSegment => write!(f, "ELF has no loadable segment"),
            ElfError::SegmentFileLargerThanMemory { vaddr } => {
                write!(f, "segment at {vaddr:#x} has more file bytes than memory bytes")
            }
            ElfError::SegmentOutsideUserRange { vaddr, memsz } => {
                write!(f, "segment at {vaddr:#x} (+{memsz:#x}) overlaps the kernel: user addresses end at {USER_TOP:#x}")
            }
            ElfError::EntryOutsideSegments(e) => {
                write!(f, "entry point {e:#x} is outside every loadable segment")
            }
        }
    }
}

/// One loadable segment, already checked against the file and user range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub memsz: u64,
    pub offset: u64,
    pub filesz: u64,
    pub flags: u32,
}

/// A validated executable.
#[derive(Clone, Copy, Debug)]
pub struct ElfImage<'a> {
    file: &'a [u8],
    phoff: usize,
    phnum: usize,
    pub entry: u64,
    /// Page-aligned start of the lowest segment.
    pub v_start: u64,
    /// Page-aligned end of the highest segment.
    pub v_end: u64,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn read_phdr(file: &[u8], at: usize) -> (u32, Segment) {
    let kind = u32_at(file, at);
    let seg = Segment {
        flags: u32_at(file, at + 4),
        offset: u64_at(file, at + 8),
        vaddr: u64_at(file, at + 16),
        filesz: u64_at(file, at + 32),
        memsz: u64_at(file, at + 40),
    };
    (kind, seg)
}

impl<'a> ElfImage<'a> {
    /// Checks `file` and returns the image it describes.
    pub fn parse(file: &'a [u8]) -> Result<Self, ElfError> {
        let len = file.len() as u64;
        if file.len() < 4 || &file[..4] != b"\x7fELF" {
            return Err(if file.len() < 4 && b"\x7fELF".starts_with(file) && !file.is_empty() {
                ElfError::Truncated { needed: EHDR_SIZE as u64, len }
            } else {
                ElfError::NotElf
            });
        }
        if file.len() < EHDR_SIZE {
            return Err(ElfError::Truncated { needed: EHDR_SIZE as u64, len });
        }
        if file[4] != ELFCLASS64 {
            return Err(ElfError::WrongClass(file[4]));
        }
        if file[5] != ELFDATA2LSB {
            return Err(ElfError::WrongEndianness(file[5]));
        }
        let machine = u16_at(file, 18);
        if machine != EM_X86_64 {
            return Err(ElfError::WrongMachine(machine));
        }
        let kind = u16_at(file, 16);
        if kind != ET_EXEC {
            return Err(ElfError::NotExecutable(kind));
        }
        let entry = u64_at(file, 24);
        let phoff = u64_at(file, 32);
        let phentsize = u16_at(file, 54);
        let phnum = u16_at(file, 56) as u64;
        if phentsize as usize != PHDR_SIZE {
            return Err(ElfError::BadProgramHeaderSize(phentsize));
        }
        let ph_end = phoff.saturating_add(phnum * PHDR_SIZE as u64);
        if ph_end > len {
            return Err(ElfError::Truncated { needed: ph_end, len });
        }

        let mut image = ElfImage { file, phoff: phoff as usize, phnum: phnum as usize, entry, v_start: u64::MAX, v_end: 0 };
        let mut entry_found = false;
        for i in 0..image.phnum {
            let (kind, seg) = read_phdr(file, image.phoff + i * PHDR_SIZE);
            if kind != PT_LOAD || seg.memsz == 0 {
                continue;
            }
            let file_end = seg.offset.saturating_add(seg.filesz);
            if file_end > len {
                return Err(ElfError::Truncated { needed: file_end, len });
            }
            if seg.filesz > seg.memsz {
                return Err(ElfError::SegmentFileLargerThanMemory { vaddr: seg.vaddr });
            }
            let outside = ElfError::SegmentOutsideUserRange { vaddr: seg.vaddr, memsz: seg.memsz };
            let v_end = seg.vaddr.checked_add(seg.memsz).ok_or(outside)?;
            // The first page is kept unmapped so null dereferences fault.
            if v_end - 1 > USER_TOP || seg.vaddr < PAGE_SIZE {
                return Err(outside);
            }
            image.v_start = image.v_start.min(seg.vaddr & !(PAGE_SIZE - 1));
            image.v_end = image.v_end.max(v_end.next_multiple_of(PAGE_SIZE));
            entry_found |= (seg.vaddr..v_end).contains(&entry);
        }
        if image.v_end == 0 {
            return Err(ElfError::NoLoadableSegment);
        }
        if !entry_found {
            return Err(ElfError::EntryOutsideSegments(entry));
        }
        Ok(image)
    }

    /// The loadable segments, in file order.
    pub fn segments(&self) -> impl Iterator<Item = Segment> + 'a {
        let (file, phoff) = (self.file, self.phoff);
        (0..self.phnum)
            .map(move |i| read_phdr(file, phoff + i * PHDR_SIZE))
            .filter(|(kind, seg)| *kind == PT_LOAD && seg.memsz != 0)
            .map(|(_, seg)| seg)
    }

    /// The file bytes of a segment returned by [`Self::segments`].
    pub fn file_bytes(&self, seg: &Segment) -> &'a [u8] {
        &self.file[seg.offset as usize..(seg.offset + seg.filesz) as usize]
    }

    /// Bytes of memory the image spans, page-rounded.
    pub fn span(&self) -> u64 {
        self.v_end - self.v_start
    }
}

/// Builds small ELF files for the tests below.
#[cfg(test)]
mod testing {
    /// An ELF64 x86_64 executable with one PT_LOAD per `(vaddr, filesz,
    /// memsz)`, file contents filled with 0xcc.
    pub fn build(entry: u64, segments: &[(u64, u64, u64)]) -> [u8; 4096] {
        let mut f = [0u8; 4096];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[6] = 1;
        f[16..18].copy_from_slice(&2u16.to_le_bytes());
        f[18..20].copy_from_slice(&62u16.to_le_bytes());
        f[20..24].copy_from_slice(&1u32.to_le_bytes());
        f[24..32].copy_from_slice(&entry.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[52..54].copy_from_slice(&64u16.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        let data_off = 1024u64;
        for (i, &(vaddr, filesz, memsz)) in segments.iter().enumerate() {
            let p = 64 + i * 56;
            f[p..p + 4].copy_from_slice(&1u32.to_le_bytes());
            f[p + 4..p + 8].copy_from_slice(&7u32.to_le_bytes());
            f[p + 8..p + 16].copy_from_slice(&data_off.to_le_bytes());
            f[p + 16..p + 24].copy_from_slice(&vaddr.to_le_bytes());
            f[p + 24..p + 32].copy_from_slice(&vaddr.to_le_bytes());
            f[p + 32..p + 40].copy_from_slice(&filesz.to_le_bytes());
            f[p + 40..p + 48].copy_from_slice(&memsz.to_le_bytes());
        }
        for b in &mut f[data_off as usize..] {
            *b = 0xcc;
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::testing::build;
    use super::*;

    #[test]
    fn accepts_a_normal_image() {
        let f = build(0x40_1000, &[(0x40_0000, 0x800, 0x3000), (0x60_0100, 0x10, 0x20)]);
        let img = ElfImage::parse(&f).unwrap();
        assert_eq!(img.entry, 0x40_1000);
        assert_eq!((img.v_start, img.v_end), (0x40_0000, 0x60_1000));
        let segs: Vec<_> = img.segments().collect();
        assert_eq!(segs.len(), 2);
        assert_eq!(img.file_bytes(&segs[0]).len(), 0x800);
    }

    #[test]
    fn rejects_non_elf_and_truncation() {
        assert_eq!(ElfImage::parse(b"hello world").unwrap_err(), ElfError::NotElf);
        assert_eq!(ElfImage::parse(b"").unwrap_err(), ElfError::NotElf);
        let f = build(0x40_0000, &[(0x40_0000, 0x10, 0x10)]);
        assert!(matches!(ElfImage::parse(&f[..40]), Err(ElfError::Truncated { .. })));
        assert!(matches!(ElfImage::parse(&f[..100]), Err(ElfError::Truncated { .. })));
        let big = build(0x40_0000, &[(0x40_0000, 0x10_0000, 0x10_0000)]);
        assert!(matches!(ElfImage::parse(&big), Err(ElfError::Truncated { .. })));
    }

    #[test]
    fn rejects_wrong_class_machine_type() {
        let mut f = build(0x40_0000, &[(0x40_0000, 0x10, 0x10)]);
        f[4] = 1;
        assert_eq!(ElfImage::parse(&f).unwrap_err(), ElfError::WrongClass(1));
        let mut f = build(0x40_0000, &[(0x40_0000, 0x10, 0x10)]);
        f[18] = 183; // aarch64
        assert_eq!(ElfImage::parse(&f).unwrap_err(), ElfError::WrongMachine(183));
        let mut f = build(0x40_0000, &[(0x40_0000, 0x10, 0x10)]);
        f[16] = 3;
        assert_eq!(ElfImage::parse(&f).unwrap_err(), ElfError::NotExecutable(3));
        let mut f = build(0x40_0000, &[(0x40_0000, 0x10, 0x10)]);
        f[5] = 2;
        assert_eq!(ElfImage::parse(&f).unwrap_err(), ElfError::WrongEndianness(2));
    }

    #[test]
    fn rejects_segments_in_kernel_space_or_wrapping() {
        let f = build(0xffff_ffff_8010_0000, &[(0xffff_ffff_8010_0000, 0x10, 0x10)]);
        assert!(matches!(ElfImage::parse(&f), Err(ElfError::SegmentOutsideUserRange { .. })));
        let f = build(0x40_0000, &[(0x40_0000, 0x10, u64::MAX - 0x100)]);
        assert!(matches!(ElfImage::parse(&f), Err(ElfError::SegmentOutsideUserRange { .. })));
        let f = build(0x7fff_ffff_f000, &[(0x7fff_ffff_f000, 0x10, 0x2000)]);
        assert!(matches!(ElfImage::parse(&f), Err(ElfError::SegmentOutsideUserRange { .. })));
        let f = build(0x10, &[(0x0, 0x10, 0x20)]);
        assert!(matches!(ElfImage::parse(&f), Err(ElfError::SegmentOutsideUserRange { .. })));
    }

    #[test]
    fn rejects_bad_segments_and_entry() {
        let f = build(0x40_0000, &[(0x40_0000, 0x20, 0x10)]);
        assert!(matches!(ElfImage::parse(&f), Err(ElfError::SegmentFileLargerThanMemory { .. })));
        let f = build(0x40_0000, &[]);
        assert_eq!(ElfImage::parse(&f).unwrap_err(), ElfError::NoLoadableSegment);
        let f = build(0x90_0000, &[(0x40_0000, 0x10, 0x10)]);
        assert_eq!(ElfImage::parse(&f).unwrap_err(), ElfError::EntryOutsideSegments(0x90_0000));
    }

    #[test]
    fn never_panics_on_garbage() {
        // Every prefix and a spread of single-byte corruptions of a valid
        // image must give Ok or Err, never a panic.
        let f = build(0x40_1000, &[(0x40_0000, 0x800, 0x3000), (0x60_0100, 0x10, 0x20)]);
        for n in 0..200 {
            let _ = ElfImage::parse(&f[..n]);
        }
        for at in 0..180 {
            for v in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut g = f;
                g[at] = v;
                if let Ok(img) = ElfImage::parse(&g) {
                    for s in img.segments() {
                        let _ = img.file_bytes(&s);
                    }
                }
            }
        }
    }
}
