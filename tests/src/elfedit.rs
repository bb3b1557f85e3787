//! Corrupting a good rootserver ELF into the bad boot modules the kernel
//! must refuse cleanly.

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// File offsets of the PT_LOAD program headers.
fn load_headers(elf: &[u8]) -> Vec<usize> {
    let phoff = u64_at(elf, 32) as usize;
    let phnum = u16_at(elf, 56) as usize;
    (0..phnum).map(|i| phoff + i * 56).filter(|&at| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == 1).collect()
}

/// The virtual address ranges of the executable PT_LOAD segments.
pub fn executable_ranges(elf: &[u8]) -> Vec<std::ops::Range<u64>> {
    const PF_X: u32 = 1;
    load_headers(elf)
        .into_iter()
        .filter(|&at| u32::from_le_bytes(elf[at + 4..at + 8].try_into().unwrap()) & PF_X != 0)
        .map(|at| u64_at(elf, at + 16)..u64_at(elf, at + 16) + u64_at(elf, at + 40))
        .collect()
}

pub fn truncated(elf: &[u8]) -> Vec<u8> {
    elf[..100].to_vec()
}

pub fn not_elf() -> Vec<u8> {
    b"This is a text file, not an ELF executable.\n".repeat(20)
}

pub fn elf32_class(elf: &[u8]) -> Vec<u8> {
    let mut e = elf.to_vec();
    e[4] = 1;
    e
}

pub fn wrong_machine(elf: &[u8]) -> Vec<u8> {
    let mut e = elf.to_vec();
    e[18..20].copy_from_slice(&3u16.to_le_bytes()); // EM_386
    e
}

/// Moves the first loadable segment into the kernel's image window.
pub fn segment_in_kernel(elf: &[u8]) -> Vec<u8> {
    let mut e = elf.to_vec();
    let at = load_headers(&e)[0];
    e[at + 16..at + 24].copy_from_slice(&0xffff_ffff_8010_0000u64.to_le_bytes());
    e
}

/// Grows the last loadable segment by `bytes` of zero-fill (bss).
pub fn grown_by(elf: &[u8], bytes: u64) -> Vec<u8> {
    let mut e = elf.to_vec();
    let at = *load_headers(&e).last().unwrap();
    let memsz = u64_at(&e, at + 40) + bytes;
    e[at + 40..at + 48].copy_from_slice(&memsz.to_le_bytes());
    e
}

/// Makes the whole image one loadable segment of `memsz` bytes: the
/// first segment's memory size grows to `memsz` and the others go (their
/// program headers become PT_NULL).
pub fn one_segment_of(elf: &[u8], memsz: u64) -> Vec<u8> {
    let mut e = elf.to_vec();
    let loads = load_headers(&e);
    e[loads[0] + 40..loads[0] + 48].copy_from_slice(&memsz.to_le_bytes());
    for &at in &loads[1..] {
        e[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
    }
    e
}
