//! Boot: turning what the bootloader handed over into the initial system.
//!
//! The parsers and the planning arithmetic are pure and host-tested; the
//! sequence that runs them on the machine is in `init` (target only).

pub mod acpi;
pub mod cmdline;
pub mod elf;
pub mod extra_bootinfo;
pub mod machine;
pub mod multiboot;
pub mod phys;
pub mod plan;
pub mod regions;

#[cfg(target_os = "none")]
pub mod init;

use core::fmt;

/// Everything that makes the kernel refuse to boot. Each prints as the one
/// console line the kernel leaves before halting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootError {
    BadMultibootMagic(u32),
    MultibootInfoUnreadable,
    EmptyMemoryMap,
    NoModule,
    ModuleOutsideRam { start: u64, end: u64 },
    TooManyInitialCaps { caps: plan::InitialCaps, slots: u64 },
    ImageAboveUserTop { image_end: u64, mapped_end: u64 },
    MemoryMapTooFragmented { limit: usize },
    Elf(elf::ElfError),
    ImageOutsideRam { paddr: u64, size: u64 },
    OutOfBootMemory { needed: u64 },
    MissingCpuFeature(&'static str),
    NoAcpi,
    NoMadt,
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootError::BadMultibootMagic(m) => write!(f, "not started by a multiboot loader (magic {m:#x}, expected 0x2badb002 or 0x36d76289)"),
            BootError::MultibootInfoUnreadable => {
                write!(f, "the multiboot information structure is malformed")
            }
            BootError::EmptyMemoryMap => {
                write!(f, "the bootloader's memory map has no usable RAM above 1 MiB")
            }
            BootError::NoModule => write!(f, "no boot module: the rootserver ELF must be the first module (-initrd)"),
            BootError::ModuleOutsideRam { start, end } => {
                write!(f, "boot module {start:#x}..{end:#x} is not inside RAM")
            }
            BootError::TooManyInitialCaps { caps, slots } => write!(
                f,
                "the rootserver needs {} initial caps ({} image frames, {} paging structures, {} extra bootinfo frames, \
                 {} untypeds and the {} fixed ones), more than the root CNode's {slots} slots \
                 (2^{} slots: KernelRootCNodeSizeBits)",
                caps.total(),
                caps.image_frames,
                caps.paging,
                caps.extra_frames,
                caps.untypeds,
                caps.fixed,
                slots.trailing_zeros()
            ),
            BootError::ImageAboveUserTop { image_end, mapped_end } => write!(
                f,
                "rootserver image ends at {image_end:#x}; with its IPC buffer and bootinfo frames it would need \
                 user addresses up to {mapped_end:#x}, above seL4's USER_TOP {:#x}",
                sel4_compat::USER_TOP
            ),
            BootError::MemoryMapTooFragmented { limit } => {
                write!(f, "the memory map and boot modules split free RAM into more than the {limit} regions this kernel tracks")
            }
            BootError::Elf(e) => write!(f, "rootserver module rejected: {e}"),
            BootError::ImageOutsideRam { paddr, size } => {
                write!(f, "rootserver image needs {size:#x} bytes at physical {paddr:#x}, which is not free RAM")
            }
            BootError::OutOfBootMemory { needed } => write!(f, "not enough free RAM for the initial objects ({needed:#x} bytes needed)"),
            BootError::MissingCpuFeature(name) => {
                write!(f, "this CPU lacks a required feature: {name}")
            }
            BootError::NoAcpi => write!(f, "no valid ACPI RSDP found"),
            BootError::NoMadt => write!(f, "ACPI tables have no valid MADT (APIC table)"),
        }
    }
}

impl From<elf::ElfError> for BootError {
    fn from(e: elf::ElfError) -> Self {
        BootError::Elf(e)
    }
}
