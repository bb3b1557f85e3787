//! Address spaces: paging structures and frames at every size, seL4's
//! mapping errors, rights, a pager resolving VM faults, ASID pools, and a
//! child in its own VSpace exchanging messages of every length.

use super::threads::{log_entry, spawn_with, WorkerSpec};
use super::{ensure, find_untyped, slot, Runner, ROOT_NODE};
use sel4::cap::{init, AsidPool, Cap, CapRights, Endpoint, Granule, HugePage, LargePage, PageDirectory, PageTable, Pdpt, Pml4, Tcb, Untyped};
use sel4::invocation::get_mr;
use sel4::object::{FrameKind, VmAttributes};
use sel4::ObjectType;
use sel4::{BootInfo, CapType, Error, MessageInfo};

/// Far from the rootserver image, in a PML4 slot of its own (1 TiB).
const TEST_VA: u64 = 0x100_0000_0000;

/// Slot allocator over a window of the empty region.
pub(super) struct Slots {
    pub(super) next: u64,
}

impl Slots {
    pub(super) fn take(&mut self) -> u64 {
        self.next += 1;
        self.next - 1
    }
}

/// Maps `frame` at `vaddr` in `vspace`, creating (from `ut`) whatever
/// PDPT, page directory and page table is missing on the way, as seL4
/// programs do: a failed lookup names the missing level by its bits left.
pub(super) fn map_with_tables<K: FrameKind>(
    ut: Untyped,
    slots: &mut Slots,
    frame: Cap<K>,
    vspace: Pml4,
    vaddr: u64,
    rights: CapRights,
) -> Result<(), &'static str> {
    for _ in 0..4 {
        match frame.map(vspace, vaddr, rights, VmAttributes::DEFAULT) {
            Ok(()) => return Ok(()),
            Err(Error::FailedLookup) => {
                let bits_left = get_mr(2);
                let table = slots.take();
                let mapped = match bits_left {
                    39 => ut
                        .retype(ObjectType::Pdpt, 0, ROOT_NODE, table, 1)
                        .and_then(|()| Pdpt::from_cptr(table).map(vspace, vaddr, VmAttributes::DEFAULT)),
                    30 => ut
                        .retype(ObjectType::PageDirectory, 0, ROOT_NODE, table, 1)
                        .and_then(|()| PageDirectory::from_cptr(table).map(vspace, vaddr, VmAttributes::DEFAULT)),
                    21 => ut
                        .retype(ObjectType::PageTable, 0, ROOT_NODE, table, 1)
                        .and_then(|()| PageTable::from_cptr(table).map(vspace, vaddr, VmAttributes::DEFAULT)),
                    _ => return Err("failed lookup names an unexpected level"),
                };
                mapped.map_err(|_| "making or mapping a paging structure failed")?;
            }
            Err(_) => return Err("page map failed"),
        }
    }
    Err("page map kept failing")
}

/// Writes a marker to `addr` (unmapped at first: the pager maps it), then
/// reports through its endpoint.
extern "C" fn pager_client(arg: u64) -> ! {
    let (addr, ep) = (arg >> 16, arg & 0xffff);
    // Safety: the page is mapped by the pager on the first touch.
    unsafe { core::ptr::write_volatile(addr as *mut u64, 0x5eed_cafe) };
    Endpoint::from_cptr(ep).send(MessageInfo::new(0, 0, 0, 0), &[]);
    loop {
        Endpoint::from_cptr(ep).recv();
    }
}

/// Jumps to `target`: an instruction fetch the kernel reports as a fault.
extern "C" fn jumper(target: u64) -> ! {
    // Safety: the jump faults or traps; the fault handler never resumes
    // this thread.
    unsafe { core::arch::asm!("jmp {}", in(reg) target, options(noreturn)) }
}

/// Unmasks SSE's divide-by-zero exception and divides by zero. On seL4
/// x86_64 CR4.OSXMMEXCPT is clear, so the CPU raises #UD for it, not #XM.
extern "C" fn simd_divider(_: u64) -> ! {
    // Safety: only this thread's MXCSR and xmm0/xmm1 change, and the
    // division traps; the fault handler never resumes this thread.
    unsafe {
        core::arch::asm!(
            "sub rsp, 8",
            "mov dword ptr [rsp], 0x1d80",
            "ldmxcsr [rsp]",
            "xorps xmm1, xmm1",
            "mov eax, 1",
            "cvtsi2ss xmm0, eax",
            "divss xmm0, xmm1",
            "ud2",
            options(noreturn)
        )
    }
}

pub fn run(t: &mut Runner, bi: &'static BootInfo) {
    let Some((ut, _)) = find_untyped(bi, 22) else {
        t.run("vspace_untyped_available", || Err("no RAM untyped of 4 MiB or more"));
        return;
    };
    let window = bi.empty.start + 64 * 20;
    let reset = || slot(ut).revoke().map_err(|_| "cleanup revoke failed");

    t.run("map_4k_through_missing_levels_and_errors", || {
        let mut s = Slots { next: window };
        let frame = s.take();
        ut.retype(ObjectType::Granule, 0, ROOT_NODE, frame, 1).map_err(|_| "frame retype failed")?;
        // The first missing level at 1 TiB is the PDPT: 39 bits left.
        let mapped = Granule::from_cptr(frame).map(init::VSPACE, TEST_VA, CapRights::ALL, VmAttributes::DEFAULT);
        let words = [get_mr(0), get_mr(1), get_mr(2)];
        ensure(mapped == Err(Error::FailedLookup) && words == [0, 2, 39], "expected a failed lookup with 39 bits left")?;
        map_with_tables(ut, &mut s, Granule::from_cptr(frame), init::VSPACE, TEST_VA, CapRights::ALL)?;
        // Safety: just mapped read-write at TEST_VA.
        unsafe {
            core::ptr::write_volatile(TEST_VA as *mut u64, 0x1234_5678);
            ensure(core::ptr::read_volatile(TEST_VA as *const u64) == 0x1234_5678, "mapped memory does not hold a value")?;
        }
        let paddr = Granule::from_cptr(frame).get_address().map_err(|_| "GetAddress failed")?;
        ensure(paddr % 4096 == 0 && paddr != 0, "GetAddress gave a bad physical address")?;
        // Errors: misaligned, beyond the user range, a non-VSpace root, a
        // second frame where a table maps the region.
        let f2 = s.take();
        ut.retype(ObjectType::Granule, 0, ROOT_NODE, f2, 1).map_err(|_| "frame retype failed")?;
        ensure(
            Granule::from_cptr(f2).map(init::VSPACE, TEST_VA + 0x800, CapRights::ALL, VmAttributes::DEFAULT) == Err(Error::AlignmentError),
            "misaligned map",
        )?;
        ensure(
            Granule::from_cptr(f2).map(init::VSPACE, 0x8000_0000_0000, CapRights::ALL, VmAttributes::DEFAULT) == Err(Error::InvalidArgument),
            "map above the user range",
        )?;
        ensure(
            Granule::from_cptr(f2).map(init::CNODE.cast(), TEST_VA + 0x1000, CapRights::ALL, VmAttributes::DEFAULT) == Err(Error::InvalidCapability),
            "a CNode is no VSpace",
        )?;
        // A second page table in a slot in use; an unassigned PML4 (both
        // retyped before the large page, whose 2 MiB alignment may use up
        // the rest of the untyped).
        let pt2 = s.take();
        ut.retype(ObjectType::PageTable, 0, ROOT_NODE, pt2, 1).map_err(|_| "PT retype failed")?;
        ensure(
            PageTable::from_cptr(pt2).map(init::VSPACE, TEST_VA, VmAttributes::DEFAULT) == Err(Error::DeleteFirst),
            "a second page table in a used slot",
        )?;
        let pml4 = s.take();
        ut.retype(ObjectType::Pml4, 0, ROOT_NODE, pml4, 1).map_err(|_| "PML4 retype failed")?;
        let large = s.take();
        ut.retype(ObjectType::LargePage, 0, ROOT_NODE, large, 1).map_err(|_| "large page retype failed")?;
        ensure(
            Granule::from_cptr(large).map(init::VSPACE, TEST_VA, CapRights::ALL, VmAttributes::DEFAULT) == Err(Error::DeleteFirst),
            "a large page over a page table",
        )?;
        ensure(
            Granule::from_cptr(f2).map(Pml4::from_cptr(pml4), TEST_VA, CapRights::ALL, VmAttributes::DEFAULT) == Err(Error::InvalidCapability),
            "unassigned PML4",
        )?;
        // Unmap, then the same frame maps again elsewhere (the table is
        // already there).
        Granule::from_cptr(frame).unmap().map_err(|_| "unmap failed")?;
        Granule::from_cptr(frame).map(init::VSPACE, TEST_VA + 0x1000, CapRights::ALL, VmAttributes::DEFAULT).map_err(|_| "remap failed")?;
        // Safety: mapped read-write just now; the value survived the remap.
        ensure(unsafe { core::ptr::read_volatile((TEST_VA + 0x1000) as *const u64) } == 0x1234_5678, "frame contents lost")?;
        reset()
    });

    t.run("large_and_huge_pages", || {
        let mut s = Slots { next: window };
        let large = s.take();
        ut.retype(ObjectType::LargePage, 0, ROOT_NODE, large, 1).map_err(|_| "large page retype failed")?;
        let va = TEST_VA + (2 << 20);
        map_with_tables(ut, &mut s, LargePage::from_cptr(large), init::VSPACE, va, CapRights::ALL)?;
        // Safety: a 2 MiB read-write mapping at `va`.
        unsafe {
            core::ptr::write_volatile((va + (1 << 20)) as *mut u64, 77);
            ensure(core::ptr::read_volatile((va + (1 << 20)) as *const u64) == 77, "large page does not hold a value")?;
        }
        reset()?;
        let Some((huge_ut, _)) = find_untyped(bi, 30) else {
            return Err("no 1 GiB untyped to make a huge page from");
        };
        let huge = s.take();
        huge_ut.retype(ObjectType::HugePage, 0, ROOT_NODE, huge, 1).map_err(|_| "huge page retype failed")?;
        let va = TEST_VA + (1 << 30);
        map_with_tables(ut, &mut s, HugePage::from_cptr(huge), init::VSPACE, va, CapRights::ALL)?;
        // Safety: a 1 GiB read-write mapping at `va`.
        unsafe {
            core::ptr::write_volatile((va + (512 << 20)) as *mut u64, 99);
            ensure(core::ptr::read_volatile((va + (512 << 20)) as *const u64) == 99, "huge page does not hold a value")?;
        }
        Granule::from_cptr(huge).unmap().map_err(|_| "huge unmap failed")?;
        slot(huge_ut).revoke().map_err(|_| "huge cleanup failed")?;
        reset()
    });

    t.run("pager_maps_on_vm_fault_and_resumes", || {
        let mut s = Slots { next: window };
        let ep = s.take();
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, ep, 1).map_err(|_| "endpoint retype failed")?;
        let fault_ep = s.take();
        slot(fault_ep).mint(slot(ep), CapRights::ALL, 0xf00).map_err(|_| "mint failed")?;
        let worker = s.take();
        let addr = TEST_VA + 0x5000;
        spawn_with(bi, ut, WorkerSpec { tcb_slot: worker, k: 1, prio: 254, fault_ep }, pager_client, addr << 16 | ep)?;
        // The worker's write faults: a VM fault for `addr`, a write.
        let r = Endpoint::from_cptr(ep).recv();
        ensure(r.badge == 0xf00 && r.info.label() == 5, "expected a VM fault on the fault endpoint")?;
        ensure(get_mr(1) == addr && get_mr(3) & 0x2 != 0, "VM fault address or write bit wrong")?;
        // Map a frame there and in the pager's view, then let it retry.
        let frame = s.take();
        ut.retype(ObjectType::Granule, 0, ROOT_NODE, frame, 1).map_err(|_| "frame retype failed")?;
        map_with_tables(ut, &mut s, Granule::from_cptr(frame), init::VSPACE, addr, CapRights::ALL)?;
        sel4::ipc::reply(MessageInfo::new(0, 0, 0, 0), &[]);
        let r = Endpoint::from_cptr(ep).recv();
        ensure(r.badge == 0 && r.info.label() == 0, "the resumed worker did not report back")?;
        // Safety: mapped at `addr` above.
        ensure(unsafe { core::ptr::read_volatile(addr as *const u64) } == 0x5eed_cafe, "the worker's write is not in the frame")?;
        let _ = log_entry(0);
        reset()
    });

    t.run("read_only_mapping_faults_on_write", || {
        let mut s = Slots { next: window };
        let ep = s.take();
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, ep, 1).map_err(|_| "endpoint retype failed")?;
        let frame = s.take();
        ut.retype(ObjectType::Granule, 0, ROOT_NODE, frame, 1).map_err(|_| "frame retype failed")?;
        let addr = TEST_VA + 0x9000;
        // Mapped read-write first, then remapped read-only in place: the
        // new rights must take effect (the old translation flushed).
        map_with_tables(ut, &mut s, Granule::from_cptr(frame), init::VSPACE, addr, CapRights::ALL)?;
        // Safety: mapped read-write just now.
        unsafe { core::ptr::write_volatile(addr as *mut u64, 7) };
        Granule::from_cptr(frame).map(init::VSPACE, addr, CapRights::READ, VmAttributes::DEFAULT).map_err(|_| "remap with fewer rights failed")?;
        ensure(
            Granule::from_cptr(frame).map(init::VSPACE, addr + 0x1000, CapRights::READ, VmAttributes::DEFAULT) == Err(Error::InvalidArgument),
            "a mapped frame remapped at another address",
        )?;
        // Safety: still mapped, now read-only.
        ensure(unsafe { core::ptr::read_volatile(addr as *const u64) } == 7, "remapped frame lost its contents")?;
        let worker = s.take();
        spawn_with(bi, ut, WorkerSpec { tcb_slot: worker, k: 1, prio: 254, fault_ep: ep }, pager_client, addr << 16 | ep)?;
        let r = Endpoint::from_cptr(ep).recv();
        // Present (bit 0), write (bit 1), user (bit 2).
        ensure(r.info.label() == 5 && get_mr(1) == addr && get_mr(3) == 0x7, "write to a read-only page must fault")?;
        reset()
    });

    t.run("fault_words_match_stock_sel4", || {
        // seL4 x86_64 runs with EFER.NXE clear and without SMEP on this
        // CPU (head.S, init_cpu), so the CPU never flags an instruction
        // fetch in the error code: a fetch fault is a data fault
        // (PrefetchFault 0) whose FSR is the bare error code. Its caps
        // have no execute right and its PTEs never set XD, so a mapping
        // with read rights executes and "not executable" only exists as
        // a mapping without read rights, which is kernel-only.
        let mut s = Slots { next: window };
        let ep = s.take();
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, ep, 1).map_err(|_| "endpoint retype failed")?;
        let vm_fault_words = |expected: [u64; 4], what: &'static str| -> Result<(), &'static str> {
            let r = Endpoint::from_cptr(ep).recv();
            ensure(r.info.label() == 5 && r.info.length() == 4, what)?;
            ensure([get_mr(0), get_mr(1), get_mr(2), get_mr(3)] == expected, what)
        };
        // 1: a jump to address 0 (unmapped): IP 0, address 0, data fault,
        // FSR 0x4 (user, not present).
        let worker = s.take();
        spawn_with(bi, ut, WorkerSpec { tcb_slot: worker, k: 1, prio: 254, fault_ep: ep }, jumper, 0)?;
        vm_fault_words([0, 0, 0, 0x4], "a jump to 0 must report IP 0, addr 0, PrefetchFault 0, FSR 0x4")?;
        slot(worker).delete().map_err(|_| "delete failed")?;
        // 2: a jump into an unmapped page of an existing page table.
        let frame = s.take();
        ut.retype(ObjectType::Granule, 0, ROOT_NODE, frame, 1).map_err(|_| "frame retype failed")?;
        let code = TEST_VA + 0x2_0000;
        map_with_tables(ut, &mut s, Granule::from_cptr(frame), init::VSPACE, code, CapRights::ALL)?;
        let unmapped = code + 0x1000 + 0x123;
        let worker = s.take();
        spawn_with(bi, ut, WorkerSpec { tcb_slot: worker, k: 1, prio: 254, fault_ep: ep }, jumper, unmapped)?;
        vm_fault_words([unmapped, unmapped, 0, 0x4], "a fetch from an unmapped page must report FSR 0x4, PrefetchFault 0")?;
        slot(worker).delete().map_err(|_| "delete failed")?;
        // 3: a jump into a frame mapped without rights (kernel-only, the
        // only non-executable user mapping seL4 x86_64 makes): FSR 0x5
        // (present, user), still PrefetchFault 0.
        let kernel_only = s.take();
        ut.retype(ObjectType::Granule, 0, ROOT_NODE, kernel_only, 1).map_err(|_| "frame retype failed")?;
        let ko = code + 0x2000;
        Granule::from_cptr(kernel_only).map(init::VSPACE, ko, CapRights::NONE, VmAttributes::DEFAULT).map_err(|_| "mapping without rights failed")?;
        let worker = s.take();
        spawn_with(bi, ut, WorkerSpec { tcb_slot: worker, k: 1, prio: 254, fault_ep: ep }, jumper, ko + 8)?;
        vm_fault_words([ko + 8, ko + 8, 0, 0x5], "a fetch from a kernel-only page must report FSR 0x5, PrefetchFault 0")?;
        slot(worker).delete().map_err(|_| "delete failed")?;
        // 4: a read-only mapping executes: a ud2 there is a user
        // exception (vector 6, code 0) at its address.
        // Safety: `code` is mapped read-write above.
        unsafe { core::ptr::write_volatile(code as *mut [u8; 2], [0x0f, 0x0b]) };
        Granule::from_cptr(frame).map(init::VSPACE, code, CapRights::READ, VmAttributes::DEFAULT).map_err(|_| "remap read-only failed")?;
        let worker = s.take();
        spawn_with(bi, ut, WorkerSpec { tcb_slot: worker, k: 1, prio: 254, fault_ep: ep }, jumper, code)?;
        let r = Endpoint::from_cptr(ep).recv();
        ensure(r.info.label() == 3 && r.info.length() == 5, "code in a read-only mapping must run (a ud2 there: a user exception)")?;
        ensure(get_mr(0) == code && get_mr(3) == 6 && get_mr(4) == 0, "ud2 in a read-only page: IP, vector 6, code 0")?;
        slot(worker).delete().map_err(|_| "delete failed")?;
        // 5: an unmasked SSE exception is #UD (vector 6), not #XM (19):
        // CR4.OSXMMEXCPT is clear on seL4. IP is the divss. QEMU's TCG
        // raises no SIMD exceptions at all; there the divss completes and
        // the ud2 after it is what traps, which proves nothing either way.
        let worker = s.take();
        spawn_with(bi, ut, WorkerSpec { tcb_slot: worker, k: 1, prio: 254, fault_ep: ep }, simd_divider, 0)?;
        let r = Endpoint::from_cptr(ep).recv();
        ensure(r.info.label() == 3 && get_mr(3) == 6 && get_mr(4) == 0, "an unmasked SSE exception must be vector 6, code 0")?;
        const DIVSS: [u8; 4] = [0xf3, 0x0f, 0x5e, 0xc1];
        // Safety: the IP is in the rootserver's own code, past the divss
        // at least.
        let (before, at) =
            unsafe { (core::ptr::read_volatile((get_mr(0) - 4) as *const [u8; 4]), core::ptr::read_volatile(get_mr(0) as *const [u8; 4])) };
        let emulator_without_simd_exceptions = before == DIVSS && at[..2] == [0x0f, 0x0b];
        ensure(at == DIVSS || emulator_without_simd_exceptions, "the SSE exception's IP must be the divss")?;
        slot(worker).delete().map_err(|_| "delete failed")?;
        reset()
    });

    t.run("cache_attributes_map_and_work", || {
        let mut s = Slots { next: window };
        // A first mapping creates the levels; the others share its table.
        let base_va = TEST_VA + 0x10_0000;
        let first = s.take();
        ut.retype(ObjectType::Granule, 0, ROOT_NODE, first, 1).map_err(|_| "frame retype failed")?;
        map_with_tables(ut, &mut s, Granule::from_cptr(first), init::VSPACE, base_va, CapRights::ALL)?;
        for (i, attr) in [VmAttributes::WRITE_COMBINING, VmAttributes::CACHE_DISABLED, VmAttributes::WRITE_THROUGH].into_iter().enumerate() {
            let frame = s.take();
            ut.retype(ObjectType::Granule, 0, ROOT_NODE, frame, 1).map_err(|_| "frame retype failed")?;
            let va = base_va + 0x1000 * (i as u64 + 1);
            Granule::from_cptr(frame).map(init::VSPACE, va, CapRights::ALL, attr).map_err(|_| "map with attributes failed")?;
            // Safety: mapped read-write at `va`.
            unsafe {
                core::ptr::write_volatile(va as *mut u64, attr.0 + 1);
                ensure(core::ptr::read_volatile(va as *const u64) == attr.0 + 1, "memory with cache attributes does not work")?;
            }
        }
        reset()
    });

    t.run("deleting_a_page_table_in_use_unmaps_its_frames", || {
        let mut s = Slots { next: window };
        let ep = s.take();
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, ep, 1).map_err(|_| "endpoint retype failed")?;
        // Levels above come from mapping a first frame in the same GiB.
        let first = s.take();
        ut.retype(ObjectType::Granule, 0, ROOT_NODE, first, 1).map_err(|_| "frame retype failed")?;
        map_with_tables(ut, &mut s, Granule::from_cptr(first), init::VSPACE, TEST_VA, CapRights::ALL)?;
        let va = TEST_VA + (4 << 20);
        let pt = s.take();
        ut.retype(ObjectType::PageTable, 0, ROOT_NODE, pt, 1).map_err(|_| "PT retype failed")?;
        PageTable::from_cptr(pt).map(init::VSPACE, va, VmAttributes::DEFAULT).map_err(|_| "PT map failed")?;
        let frame = s.take();
        ut.retype(ObjectType::Granule, 0, ROOT_NODE, frame, 1).map_err(|_| "frame retype failed")?;
        Granule::from_cptr(frame).map(init::VSPACE, va, CapRights::ALL, VmAttributes::DEFAULT).map_err(|_| "frame map failed")?;
        // Safety: mapped just now.
        unsafe { core::ptr::write_volatile(va as *mut u64, 5) };
        // Delete the page table while the frame is mapped through it: the
        // frame is no longer reachable at `va` (a worker faults there).
        slot(pt).delete().map_err(|_| "PT delete failed")?;
        let worker = s.take();
        spawn_with(bi, ut, WorkerSpec { tcb_slot: worker, k: 1, prio: 254, fault_ep: ep }, pager_client, va << 16 | ep)?;
        let r = Endpoint::from_cptr(ep).recv();
        ensure(r.info.label() == 5 && get_mr(1) == va, "access through the deleted page table must fault")?;
        // The frame itself is intact and maps again.
        Granule::from_cptr(frame).unmap().map_err(|_| "frame unmap failed")?;
        map_with_tables(ut, &mut s, Granule::from_cptr(frame), init::VSPACE, va, CapRights::ALL)?;
        // Safety: mapped again just now.
        ensure(unsafe { core::ptr::read_volatile(va as *const u64) } == 5, "the frame lost its contents")?;
        reset()
    });

    t.run("asid_pool_and_assign", || {
        let mut s = Slots { next: window };
        let small = s.take();
        ut.retype(ObjectType::Untyped, 12, ROOT_NODE, small, 1).map_err(|_| "untyped retype failed")?;
        let pool = s.take();
        init::ASID_CONTROL.make_pool(Untyped::from_cptr(small), slot(pool)).map_err(|_| "MakePool failed")?;
        ensure(sel4::debug::cap_identify(pool) == Some(CapType::AsidPool), "MakePool gave no ASID pool cap")?;
        let pml4 = s.take();
        ut.retype(ObjectType::Pml4, 0, ROOT_NODE, pml4, 1).map_err(|_| "PML4 retype failed")?;
        AsidPool::from_cptr(pool).assign(Pml4::from_cptr(pml4)).map_err(|_| "Assign failed")?;
        ensure(AsidPool::from_cptr(pool).assign(Pml4::from_cptr(pml4)) == Err(Error::InvalidCapability), "a PML4 is assigned once")?;
        // The assigned PML4 is now a valid root.
        let frame = s.take();
        ut.retype(ObjectType::Granule, 0, ROOT_NODE, frame, 1).map_err(|_| "frame retype failed")?;
        map_with_tables(ut, &mut s, Granule::from_cptr(frame), Pml4::from_cptr(pml4), 0x10_0000, CapRights::ALL)?;
        // MakePool needs an exactly 4 KiB untyped.
        let big = s.take();
        ut.retype(ObjectType::Untyped, 13, ROOT_NODE, big, 1).map_err(|_| "untyped retype failed")?;
        let p2 = s.take();
        ensure(init::ASID_CONTROL.make_pool(Untyped::from_cptr(big), slot(p2)) == Err(Error::InvalidCapability), "MakePool from an 8 KiB untyped")?;
        reset()
    });

    t.run("child_in_its_own_vspace_ping_pong_every_length", || {
        let mut s = Slots { next: window };
        let ep = s.take();
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, ep, 1).map_err(|_| "endpoint retype failed")?;
        spawn_in_child_vspace(bi, ut, s.take(), 254, super::threads::echo_entry(), ep)?;
        let mut msg = [0u64; 120];
        for len in 0..=120usize {
            for (i, m) in msg.iter_mut().enumerate().take(len) {
                *m = !((len as u64) << 32 | i as u64);
            }
            let r = Endpoint::from_cptr(ep).call(MessageInfo::new(5, 0, 0, len as u64), &msg[..len]);
            ensure(r.info.label() == 6 && r.info.length() == len as u64, "reply label or length wrong")?;
            ensure((0..len).all(|i| get_mr(i) == msg[i].wrapping_add(1)), "a message word was not transferred")?;
        }
        drop_image_frame_copies(bi)?;
        reset()
    });
}

/// Starts a thread at priority `prio` running `entry(arg)` in an address
/// space of its own, made from `ut` with the slots from `first_slot` on.
/// That space maps copies of the rootserver's image frames at the same
/// addresses, so the thread runs the rootserver's code and shares its
/// statics (the same physical frames); its stack, TLS block and IPC buffer
/// are its own. `drop_image_frame_copies` undoes the copies; revoking `ut`
/// deletes the rest.
pub fn spawn_in_child_vspace(
    bi: &BootInfo,
    ut: Untyped,
    first_slot: u64,
    prio: u64,
    entry: sel4::thread::Entry,
    arg: u64,
) -> Result<(), &'static str> {
    let mut s = Slots { next: first_slot };
    let pml4 = s.take();
    ut.retype(ObjectType::Pml4, 0, ROOT_NODE, pml4, 1).map_err(|_| "PML4 retype failed")?;
    init::ASID_POOL.assign(Pml4::from_cptr(pml4)).map_err(|_| "Assign failed")?;
    let image_start = super::image_start(bi);
    for (i, frame) in (bi.user_image_frames.start..bi.user_image_frames.end).enumerate() {
        let copy = s.take();
        slot(copy).copy(slot(frame), CapRights::ALL).map_err(|_| "image frame copy failed")?;
        map_with_tables(ut, &mut s, Granule::from_cptr(copy), Pml4::from_cptr(pml4), image_start + 4096 * i as u64, CapRights::ALL)?;
    }
    let (stack_va, buffer_va) = (0x7000_0000u64, 0x7100_0000u64);
    let mut buffer_frame = 0;
    for va in (stack_va..stack_va + 4 * 4096).step_by(4096).chain([buffer_va]) {
        let f = s.take();
        ut.retype(ObjectType::Granule, 0, ROOT_NODE, f, 1).map_err(|_| "frame retype failed")?;
        map_with_tables(ut, &mut s, Granule::from_cptr(f), Pml4::from_cptr(pml4), va, CapRights::ALL)?;
        buffer_frame = f;
    }
    let child_slot = s.take();
    ut.retype(ObjectType::Tcb, 0, ROOT_NODE, child_slot, 1).map_err(|_| "TCB retype failed")?;
    let child = Tcb::from_cptr(child_slot);
    child.configure(0, init::CNODE, 0, Pml4::from_cptr(pml4), 0, buffer_va, Granule::from_cptr(buffer_frame)).map_err(|_| "configure failed")?;
    child.set_priority(init::TCB, prio).map_err(|_| "set priority failed")?;
    // Safety: the stack, TLS block (in the buffer frame's upper half) and
    // IPC buffer are frames only the child uses.
    unsafe {
        sel4::thread::start(child, entry, arg, stack_va + 4 * 4096, (buffer_va + 2048) as *mut _, buffer_va).map_err(|_| "starting the child failed")
    }
}

/// Deletes the copies of the image frames `spawn_in_child_vspace` made
/// (revoking the originals, which stay mapped in the rootserver).
pub fn drop_image_frame_copies(bi: &BootInfo) -> Result<(), &'static str> {
    for frame in bi.user_image_frames.start..bi.user_image_frames.end {
        slot(frame).revoke().map_err(|_| "revoking image frame copies failed")?;
    }
    Ok(())
}
