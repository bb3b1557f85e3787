//! Where everything goes at boot: the rootserver image, its initial
//! objects, and the untyped memory handed over for the rest.
//!
//! This is arithmetic on the memory map only, so every placement rule and
//! every refusal is host-tested; `init` then carries the plan out.

use super::multiboot::{MemoryEntry, Module, MMAP_TYPE_RAM};
use super::regions::{split_into_untypeds, Region, RegionSet, UntypedBlock};
use super::BootError;
use crate::config::{HIGHMEM_PADDR, PADDR_TOP, PADDR_USER_DEVICE_TOP, PPTR_BASE};
use arrayvec::ArrayVec;
use sel4_compat::caps::root_slots;
use sel4_compat::objects::*;
use sel4_compat::{MAX_NUM_BOOTINFO_UNTYPED_CAPS, ROOT_CNODE_SIZE_BITS, USER_TOP};

const PAGE: u64 = 1 << PAGE_BITS;

/// Paging structures needed to map `start..end` (both page-aligned):
/// (PDPTs, page directories, page tables).
pub fn paging_structures_for(start: u64, end: u64) -> (u64, u64, u64) {
    let count = |bits: u32| ((end - 1) >> bits) - (start >> bits) + 1;
    (count(39), count(30), count(21))
}

/// The paging structures of the initial thread's address space: every
/// table needed for `start..end`, in consecutive frames from `base`, PDPTs
/// first, then page directories, then page tables (seL4's cap order),
/// each level in address order. Which frame serves which table is
/// arithmetic, so the boot code needs no list of them, whatever the size
/// of the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootPaging {
    pub start: u64,
    pub end: u64,
    pub base: u64,
}

impl BootPaging {
    /// What one table of each level covers, as a shift: a PDPT 2^39
    /// bytes, a page directory 2^30, a page table 2^21.
    pub const LEVELS: [u32; 3] = [39, 30, 21];

    fn count(&self, covers: u32) -> u64 {
        ((self.end - 1) >> covers) - (self.start >> covers) + 1
    }

    /// Frames needed in all.
    pub fn frames(&self) -> u64 {
        Self::LEVELS.iter().map(|&l| self.count(l)).sum()
    }

    /// The frame of the table of level `covers` that covers `vaddr`
    /// (which must lie in `start..end`).
    pub fn table_for(&self, covers: u32, vaddr: u64) -> u64 {
        debug_assert!((self.start..self.end).contains(&vaddr));
        let before: u64 = Self::LEVELS.iter().take_while(|&&l| l != covers).map(|&l| self.count(l)).sum();
        self.base + PAGE * (before + (vaddr >> covers) - (self.start >> covers))
    }

    /// Every table in frame order: (level it covers, frame, first
    /// virtual address it covers).
    pub fn tables(&self) -> impl Iterator<Item = (u32, u64, u64)> + '_ {
        Self::LEVELS.into_iter().flat_map(move |covers| {
            let first = self.start >> covers;
            (0..self.count(covers)).map(move |i| {
                let vaddr = (first + i) << covers;
                (covers, self.table_for(covers, vaddr.max(self.start)), vaddr)
            })
        })
    }
}

/// The caps the root CNode must hold after boot, counted before anything
/// is built so that an image too large for the CNode is refused with the
/// whole count instead of failing half-way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitialCaps {
    /// The fixed slots, seL4's `seL4_NumInitialCaps`.
    pub fixed: u64,
    pub paging: u64,
    pub extra_frames: u64,
    pub image_frames: u64,
    pub untypeds: u64,
}

impl InitialCaps {
    pub fn total(&self) -> u64 {
        self.fixed + self.paging + self.extra_frames + self.image_frames + self.untypeds
    }

    /// Refuses a boot whose caps do not fit in a root CNode of 2^`radix`
    /// slots.
    pub fn check(&self, radix: u32) -> Result<(), BootError> {
        let slots = 1u64 << radix;
        if self.total() > slots {
            return Err(BootError::TooManyInitialCaps { caps: *self, slots });
        }
        Ok(())
    }
}

/// Physical placement of the initial thread's objects.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Physical address the user image (ELF span) is copied to.
    pub image_paddr: u64,
    pub image_vstart: u64,
    pub image_vend: u64,
    pub ipc_buffer_vaddr: u64,
    pub bootinfo_vaddr: u64,
    /// Extra bootinfo: 2^`extra_bits` bytes (none when 0) mapped right
    /// after the bootinfo frame.
    pub extra_vaddr: u64,
    pub extra_bits: u32,
    pub extra: u64,
    /// End of everything mapped for the initial thread.
    pub it_vend: u64,
    pub cnode: u64,
    pub tcb: u64,
    pub vspace: u64,
    pub asid_pool: u64,
    pub ipc_buffer: u64,
    pub bootinfo: u64,
    /// The initial address space's paging structures.
    pub paging: BootPaging,
    /// The caps of everything above (the untypeds are counted later).
    pub caps: InitialCaps,
    /// Free RAM left for untyped after the placements above.
    pub free: RegionSet,
}

/// Usable RAM from the memory map: type-1 entries, above 1 MiB as in seL4,
/// clipped to what the kernel window maps.
pub fn usable_ram(memory: &[MemoryEntry]) -> RegionSet {
    let mut ram = RegionSet::new();
    // Like seL4, an entry that starts below 1 MiB is ignored whole, and one
    // shorter than a page too.
    for e in memory.iter().filter(|e| e.kind == MMAP_TYPE_RAM && e.base >= HIGHMEM_PADDR && e.len >= PAGE) {
        let start = e.base.next_multiple_of(PAGE);
        let end = e.base.saturating_add(e.len) & !(PAGE - 1);
        ram.add(Region::new(start, end));
    }
    ram.clip(Region::new(HIGHMEM_PADDR, PADDR_TOP));
    ram
}

/// Plans the boot. `kernel_end` is the physical end of the kernel image.
pub fn plan(
    memory: &[MemoryEntry],
    modules: &[Module],
    kernel_end: u64,
    image_vstart: u64,
    image_vend: u64,
    extra_bits: u32,
) -> Result<Plan, BootError> {
    // First what the image needs whatever the machine: its virtual layout
    // and its caps.
    let image_size = image_vend - image_vstart;
    let ipc_buffer_vaddr = image_vend;
    let bootinfo_vaddr = ipc_buffer_vaddr + PAGE;
    let extra_vaddr = bootinfo_vaddr + PAGE;
    let extra_bytes = if extra_bits > 0 { 1u64 << extra_bits } else { 0 };
    let it_vend = extra_vaddr + extra_bytes;
    // seL4's rule: the image, then the IPC buffer and bootinfo frames (and
    // here the extra bootinfo too) end at or below USER_TOP, the same rule
    // as for any mapping, which keeps the last page of the lower half
    // unmapped (so no thread can run into the non-canonical hole).
    if it_vend > USER_TOP {
        return Err(BootError::ImageAboveUserTop { image_end: image_vend, mapped_end: it_vend });
    }
    let caps = InitialCaps {
        fixed: root_slots::NUM_INITIAL_CAPS,
        paging: BootPaging { start: image_vstart, end: it_vend, base: 0 }.frames(),
        extra_frames: extra_bytes / PAGE,
        image_frames: image_size / PAGE,
        untypeds: 0,
    };
    caps.check(ROOT_CNODE_SIZE_BITS as u32)?;
    let paging_count = caps.paging;

    let ram = usable_ram(memory);
    if ram.as_slice().is_empty() {
        return Err(BootError::EmptyMemoryMap);
    }
    let rootserver = modules.first().ok_or(BootError::NoModule)?;
    let mut free = ram.clone();
    let reserve = |free: &mut RegionSet, r: Region| {
        if free.remove(r) {
            Ok(())
        } else {
            Err(BootError::MemoryMapTooFragmented { limit: super::regions::MAX_REGIONS })
        }
    };
    reserve(&mut free, Region::new(0, kernel_end.next_multiple_of(PAGE)))?;
    for m in modules {
        reserve(&mut free, Region::new(m.start & !(PAGE - 1), m.end.next_multiple_of(PAGE)))?;
    }

    // The image goes right after the last module (seL4's choice), so the
    // copy never overlaps the module it is read from.
    let last_module_end = modules.iter().map(|m| m.end).max().unwrap_or(rootserver.end);
    let image_paddr = last_module_end.max(kernel_end).next_multiple_of(PAGE);
    let image = Region::new(image_paddr, image_paddr.saturating_add(image_size));
    if image.end == u64::MAX || !free.as_slice().iter().any(|r| r.contains(&image)) {
        return Err(BootError::ImageOutsideRam { paddr: image_paddr, size: image_size });
    }
    reserve(&mut free, image)?;

    let mut needed = 0u64;
    let mut take = |free: &mut RegionSet, bits: u32| {
        needed += 1 << bits;
        free.alloc_top(1 << bits, 1 << bits).ok_or(BootError::OutOfBootMemory { needed })
    };
    let cnode = take(&mut free, ROOT_CNODE_BITS)?;
    let vspace = take(&mut free, VSPACE_BITS)?;
    let tcb = take(&mut free, TCB_BITS)?;
    let asid_pool = take(&mut free, ASID_POOL_BITS)?;
    let ipc_buffer = take(&mut free, PAGE_BITS)?;
    let bootinfo = take(&mut free, BOOT_INFO_FRAME_BITS)?;
    let extra = if extra_bits > 0 { take(&mut free, extra_bits)? } else { 0 };
    let paging_base = free.alloc_top(paging_count * PAGE, PAGE).ok_or(BootError::OutOfBootMemory { needed: needed + paging_count * PAGE })?;
    let paging = BootPaging { start: image_vstart, end: it_vend, base: paging_base };

    // Once the image is copied out, the modules' memory is free again (seL4
    // hands it out as untyped too), but only what is usable RAM: a loader
    // may put a module below 1 MiB (GRUB under UEFI does), and that memory
    // is never untyped RAM, or it would also be handed out as device memory.
    for m in modules {
        let module = Region::new(m.start & !(PAGE - 1), m.end.next_multiple_of(PAGE));
        for r in ram.as_slice().iter().filter(|r| r.overlaps(&module)) {
            free.add(Region::new(r.start.max(module.start), r.end.min(module.end)));
        }
    }

    Ok(Plan {
        image_paddr,
        image_vstart,
        image_vend,
        ipc_buffer_vaddr,
        bootinfo_vaddr,
        extra_vaddr,
        extra_bits,
        extra,
        it_vend,
        cnode,
        tcb,
        vspace,
        asid_pool,
        ipc_buffer,
        bootinfo,
        paging,
        caps,
        free,
    })
}

/// Bytes of the root CNode: 2^13 slots of 32 bytes.
pub const ROOT_CNODE_BITS: u32 = sel4_compat::ROOT_CNODE_SIZE_BITS as u32 + SLOT_BITS;

/// The untyped blocks for bootinfo, in seL4's order: device memory (every
/// physical range below 2^47 that is neither RAM nor `kernel_devices`)
/// first, then free RAM, each in address order, at most 230 in all.
/// Blocks are cut by their kernel-window address (`PPTR_BASE + paddr`,
/// wrapping), which is what seL4's caps hold.
pub fn untyped_blocks(
    memory: &[MemoryEntry],
    free_ram: &RegionSet,
    kernel_devices: &[Region],
) -> ArrayVec<UntypedBlock, MAX_NUM_BOOTINFO_UNTYPED_CAPS> {
    let mut devices = RegionSet::new();
    devices.add(Region::new(0, PADDR_USER_DEVICE_TOP));
    for r in usable_ram(memory).as_slice() {
        devices.remove(*r);
    }
    for r in kernel_devices {
        devices.remove(*r);
    }
    let mut out = ArrayVec::new();
    let mut emit = |pptr: u64, size_bits, is_device| {
        let paddr = pptr.wrapping_sub(PPTR_BASE);
        let _ = out.try_push(UntypedBlock { paddr, size_bits, is_device });
    };
    let window = |r: &Region| (r.start.wrapping_add(PPTR_BASE), r.end.wrapping_add(PPTR_BASE));
    for r in devices.as_slice() {
        let (s, e) = window(r);
        split_into_untypeds(s, e, MIN_UNTYPED_BITS, MAX_UNTYPED_BITS, |p, b| emit(p, b, true));
    }
    for r in free_ram.as_slice() {
        let (s, e) = window(r);
        split_into_untypeds(s, e, MIN_UNTYPED_BITS, MAX_UNTYPED_BITS, |p, b| emit(p, b, false));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU's map for `-m 3G`: low RAM, RAM to 3 GiB minus the BIOS hole,
    /// and reserved BIOS ROM.
    fn qemu_map() -> Vec<MemoryEntry> {
        vec![
            MemoryEntry { base: 0, len: 0x9fc00, kind: 1 },
            MemoryEntry { base: 0x9fc00, len: 0x400, kind: 2 },
            MemoryEntry { base: 0xf0000, len: 0x10000, kind: 2 },
            MemoryEntry { base: 0x100000, len: 0xbfee0000, kind: 1 },
            MemoryEntry { base: 0xbffe0000, len: 0x20000, kind: 2 },
            MemoryEntry { base: 0xfffc0000, len: 0x40000, kind: 2 },
        ]
    }

    const MODULE: Module = Module { start: 0x40_0000, end: 0x45_1234 };

    #[test]
    fn places_image_after_modules_and_objects_in_free_ram() {
        let p = plan(&qemu_map(), &[MODULE], 0x30_0000, 0x40_0000, 0x48_0000, 12).unwrap();
        assert_eq!(p.image_paddr, 0x45_2000);
        assert_eq!(p.ipc_buffer_vaddr, 0x48_0000);
        assert_eq!(p.bootinfo_vaddr, 0x48_1000);
        assert_eq!(p.cnode % (1 << ROOT_CNODE_BITS), 0);
        assert!(p.free.as_slice().iter().any(|f| f.contains(&Region::new(MODULE.start, MODULE.end))), "module memory is freed");
        let used = [
            Region::new(0, 0x30_0000),
            Region::new(p.image_paddr, p.image_paddr + 0x8_0000),
            Region::new(p.cnode, p.cnode + (1 << ROOT_CNODE_BITS)),
            Region::new(p.paging.base, p.paging.base + p.paging.frames() * 4096),
        ];
        for f in p.free.as_slice() {
            for u in &used {
                assert!(!f.overlaps(u), "free {f:?} overlaps used {u:?}");
            }
        }
        assert_eq!(p.extra_vaddr, 0x48_2000);
        assert_eq!(p.extra % 4096, 0);
        assert!(p.free.as_slice().iter().all(|f| !f.overlaps(&Region::new(p.extra, p.extra + 4096))));
        // One PDPT, one PD, one PT cover 0x400000..0x483000.
        assert_eq!(p.paging.frames(), 3);
        assert_eq!(p.caps, InitialCaps { fixed: 16, paging: 3, extra_frames: 1, image_frames: 0x80, untypeds: 0 });
    }

    /// The map GRUB hands over under OVMF (q35, 3 GiB), with the module
    /// GRUB placed at 0x8000, below 1 MiB.
    fn ovmf_map() -> Vec<MemoryEntry> {
        let e = |base: u64, end: u64, kind| MemoryEntry { base, len: end - base, kind };
        vec![
            e(0, 0xa0000, 1),
            e(0x100000, 0x806000, 1),
            e(0x806000, 0x808000, 4),
            e(0x808000, 0x810000, 1),
            e(0x810000, 0x900000, 4),
            e(0x900000, 0x7eea0000, 1),
            e(0x7eea0000, 0x7efa2000, 2),
            e(0x7efa2000, 0x7f8ec000, 1),
            e(0x7f8ec000, 0x7f9ec000, 2),
            e(0x7f9ec000, 0x7faec000, 20),
            e(0x7faec000, 0x7fb6c000, 2),
            e(0x7fb6c000, 0x7fb7e000, 3),
            e(0x7fb7e000, 0x7fbfe000, 4),
            e(0x7fbfe000, 0x7fef4000, 1),
            e(0x7fef4000, 0x7ff78000, 2),
            e(0x7ff78000, 0x80000000, 4),
            e(0xb0000000, 0xc0000000, 2),
            e(0xffc00000, 0x100000000, 2),
            e(0x100000000, 0x140000000, 1),
        ]
    }

    #[test]
    fn a_module_below_1mib_is_not_returned_as_ram() {
        let map = ovmf_map();
        let module = Module { start: 0x8000, end: 0x23f48 };
        let p = plan(&map, &[module], 0x14f000, 0x40_0000, 0x43_7000, 12).unwrap();
        assert!(p.free.as_slice().iter().all(|r| r.start >= HIGHMEM_PADDR), "{:?}", p.free);
        let uts = untyped_blocks(&map, &p.free, &[]);
        let mut all: Vec<_> = uts.iter().map(|u| (u.paddr, u.paddr + (1u64 << u.size_bits))).collect();
        all.sort();
        for w in all.windows(2) {
            assert!(w[0].1 <= w[1].0, "untypeds overlap: {w:?}");
        }
        // A module in RAM above 1 MiB still comes back once copied out.
        let high = Module { start: 0x20_0000, end: 0x21_0000 };
        let p = plan(&map, &[high], 0x14f000, 0x40_0000, 0x43_7000, 12).unwrap();
        assert!(p.free.as_slice().iter().any(|f| f.contains(&Region::new(high.start, high.end))));
    }

    #[test]
    fn refusals() {
        assert_eq!(plan(&[], &[MODULE], 0x30_0000, 0x40_0000, 0x48_0000, 12).unwrap_err(), BootError::EmptyMemoryMap);
        let low_only = [MemoryEntry { base: 0, len: 0x9fc00, kind: 1 }];
        assert_eq!(plan(&low_only, &[MODULE], 0x30_0000, 0x40_0000, 0x48_0000, 12).unwrap_err(), BootError::EmptyMemoryMap);
        assert_eq!(plan(&qemu_map(), &[], 0x30_0000, 0x40_0000, 0x48_0000, 12).unwrap_err(), BootError::NoModule);
        let small_ram = [MemoryEntry { base: 0x100000, len: 0x80_0000, kind: 1 }];
        let huge = plan(&small_ram, &[MODULE], 0x30_0000, 0x40_0000, 0x40_0000 + (16 << 20), 12);
        assert!(matches!(huge, Err(BootError::ImageOutsideRam { .. })), "{huge:?}");
        let tiny = [MemoryEntry { base: 0x100000, len: 0x13_0000, kind: 1 }];
        let r = plan(&tiny, &[Module { start: 0x20_0000, end: 0x20_1000 }], 0x20_0000, 0x40_0000, 0x40_1000, 12);
        assert!(matches!(r, Err(BootError::OutOfBootMemory { .. })), "{r:?}");
    }

    #[test]
    fn an_image_too_big_for_the_root_cnode_is_refused_with_the_whole_count() {
        // 64 MiB of image: 16384 frames, whatever RAM there is.
        let r = plan(&qemu_map(), &[MODULE], 0x30_0000, 0x40_0000, 0x40_0000 + (64 << 20), 12);
        let Err(BootError::TooManyInitialCaps { caps, slots }) = r else { panic!("{r:?}") };
        assert_eq!((caps.image_frames, caps.paging, caps.extra_frames, caps.fixed), (16384, 1 + 1 + 33, 1, 16));
        assert_eq!((caps.total(), slots), (16384 + 35 + 1 + 16, 8192));
        // 2 GiB of bss: refused the same way, before any RAM is looked at.
        let r = plan(&[], &[], 0x30_0000, 0x40_0000, 0x40_0000 + (2 << 30), 12);
        assert!(matches!(r, Err(BootError::TooManyInitialCaps { caps, .. }) if caps.image_frames == 1 << 19), "{r:?}");
        // The largest image that fits leaves exactly the untypeds' room.
        let fits = |frames: u64| plan(&qemu_map(), &[MODULE], 0x30_0000, 0x40_0000, 0x40_0000 + frames * 4096, 12);
        let largest = (8000..8192).rev().find(|&n| fits(n).is_ok()).unwrap();
        let p = fits(largest).unwrap();
        assert_eq!(p.caps.total(), 8192, "{:?}", p.caps);
        assert!(matches!(fits(largest + 1), Err(BootError::TooManyInitialCaps { .. })));
        let with_untypeds = InitialCaps { untypeds: 1, ..p.caps };
        assert!(matches!(with_untypeds.check(13), Err(BootError::TooManyInitialCaps { .. })));
    }

    #[test]
    fn the_image_and_its_frames_stay_below_user_top() {
        let top = USER_TOP + 1;
        // IPC buffer, bootinfo and one page of extra bootinfo after the
        // image; the last page stays unmapped.
        assert!(plan(&qemu_map(), &[MODULE], 0x30_0000, top - 0x10_0000 - 0x4000, top - 0x4000, 12).is_ok());
        let r = plan(&qemu_map(), &[MODULE], 0x30_0000, top - 0x10_0000 - 0x3000, top - 0x3000, 12);
        assert_eq!(r.unwrap_err(), BootError::ImageAboveUserTop { image_end: top - 0x3000, mapped_end: top });
        // Without extra bootinfo, seL4's own margin: the image may end
        // three pages below the top, not two.
        assert!(plan(&qemu_map(), &[MODULE], 0x30_0000, top - 0x10_0000 - 0x3000, top - 0x3000, 0).is_ok());
        assert!(plan(&qemu_map(), &[MODULE], 0x30_0000, top - 0x10_0000 - 0x2000, top - 0x2000, 0).is_err());
    }

    #[test]
    fn boot_paging_assigns_every_table_a_frame_of_its_own() {
        // 2 GiB - 4 MiB .. 2 GiB + 2 MiB + 4 KiB: 1 PDPT, 2 PDs, 4 PTs.
        let bp = BootPaging { start: 0x7fc0_0000, end: 0x8020_1000, base: 0x100_0000 };
        assert_eq!(bp.frames(), 1 + 2 + 4);
        let tables: Vec<_> = bp.tables().collect();
        let expected_vaddrs =
            [(39, 0), (30, 0x4000_0000), (30, 0x8000_0000), (21, 0x7fc0_0000), (21, 0x7fe0_0000), (21, 0x8000_0000), (21, 0x8020_0000)];
        assert_eq!(tables.iter().map(|&(l, _, v)| (l, v)).collect::<Vec<_>>(), expected_vaddrs);
        // Frames are consecutive in cap order and each table's own.
        for (i, &(_, frame, _)) in tables.iter().enumerate() {
            assert_eq!(frame, 0x100_0000 + 4096 * i as u64);
        }
        for &(l, frame, v) in &tables {
            assert_eq!(bp.table_for(l, v.max(bp.start)), frame);
            assert_eq!(bp.table_for(l, (v | ((1 << l) - 1)).min(bp.end - 1)), frame, "the last address it covers");
        }
        // Any size: an image of 1000 page tables needs no list.
        let big = BootPaging { start: 0x40_0000, end: 0x40_0000 + 1000 * (2 << 20), base: 0 };
        assert_eq!(big.frames(), 1 + 2 + 1000);
        assert_eq!(big.tables().count(), 1003);
    }

    #[test]
    fn paging_counts() {
        assert_eq!(paging_structures_for(0x40_0000, 0x40_1000), (1, 1, 1));
        assert_eq!(paging_structures_for(0x1f_f000, 0x20_1000), (1, 1, 2));
        assert_eq!(paging_structures_for(0x3fff_f000, 0x4000_1000), (1, 2, 2));
    }

    #[test]
    fn untypeds_cover_devices_then_ram_without_overlap() {
        let map = qemu_map();
        let p = plan(&map, &[MODULE], 0x30_0000, 0x40_0000, 0x48_0000, 12).unwrap();
        let lapic = Region::new(0xfee0_0000, 0xfee0_1000);
        let uts = untyped_blocks(&map, &p.free, &[lapic]);
        assert!(uts.len() <= MAX_NUM_BOOTINFO_UNTYPED_CAPS);
        let first_ram = uts.iter().position(|u| !u.is_device).unwrap();
        assert!(uts[first_ram..].iter().all(|u| !u.is_device));
        let ram: u64 = uts.iter().filter(|u| !u.is_device).map(|u| 1u64 << u.size_bits).sum();
        // Everything free of at least 16 bytes is handed out.
        assert!(p.free.total() - ram < 16 * p.free.as_slice().len() as u64);
        let mut all: Vec<_> = uts.iter().map(|u| (u.paddr, u.paddr + (1u64 << u.size_bits))).collect();
        all.sort();
        for w in all.windows(2) {
            assert!(w[0].1 <= w[1].0, "untypeds overlap: {w:?}");
        }
        for u in uts.iter() {
            let r = Region::new(u.paddr, u.paddr + (1 << u.size_bits));
            assert!(!r.overlaps(&lapic));
            // Aligned as kernel-window addresses, as seL4 cuts them.
            let pptr = u.paddr.wrapping_add(PPTR_BASE);
            assert!(pptr == 0 || pptr % (1 << u.size_bits) == 0);
        }
    }
}
