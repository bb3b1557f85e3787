//! Address spaces: paging structures and frames at every size, seL4's
//! mapping errors, rights, a pager resolving VM faults, ASID pools, and a
//! child in its own VSpace exchanging messages of every length.

use super::threads::{log_entry, spawn_with, WorkerSpec};
use super::{ensure, Runner};
use sel4::invocation::x86::{self, DEFAULT_VM_ATTRIBUTES};
use sel4::invocation::{cnode, get_mr, result, tcb, untyped, CapRights};
use sel4::ipc;
use sel4::object_type as ty;
use sel4::{root_slots, BootInfo, CapType, Error, MessageInfo};

const ROOT: u64 = root_slots::INIT_THREAD_CNODE;
const VSPACE: u64 = root_slots::INIT_THREAD_VSPACE;
const DEPTH: u8 = 64;
/// Far from the rootserver image, in a PML4 slot of its own (1 TiB).
const TEST_VA: u64 = 0x100_0000_0000;

/// Slot allocator over a window of the empty region.
struct Slots {
    next: u64,
}

impl Slots {
    fn take(&mut self) -> u64 {
        self.next += 1;
        self.next - 1
    }
}

/// Maps `frame` at `vaddr` in `vspace`, creating (from `ut`) whatever
/// PDPT, page directory and page table is missing on the way, as seL4
/// programs do: a failed lookup names the missing level by its bits left.
fn map_with_tables(ut: u64, slots: &mut Slots, frame: u64, vspace: u64, vaddr: u64, rights: CapRights) -> Result<(), &'static str> {
    for _ in 0..4 {
        let info = x86::page_map(frame, vspace, vaddr, rights, DEFAULT_VM_ATTRIBUTES);
        match result(info) {
            Ok(()) => return Ok(()),
            Err(Error::FailedLookup) => {
                let bits_left = get_mr(2);
                let object = match bits_left {
                    39 => ty::X86_PDPT,
                    30 => ty::X86_PAGE_DIRECTORY,
                    21 => ty::X86_PAGE_TABLE,
                    _ => return Err("failed lookup names an unexpected level"),
                };
                let table = slots.take();
                untyped::retype(ut, object, 0, ROOT, 0, 0, table, 1).map_err(|_| "paging structure retype failed")?;
                result(x86::table_map(table, bits_left as u32, vspace, vaddr, DEFAULT_VM_ATTRIBUTES))
                    .map_err(|_| "paging structure map failed")?;
            }
            Err(_) => return Err("page map failed"),
        }
    }
    Err("page map kept failing")
}

fn find_untyped(bi: &BootInfo, bits: u8) -> Option<(u64, u64)> {
    bi.untypeds()
        .iter()
        .enumerate()
        .find(|(_, u)| u.is_device == 0 && u.size_bits >= bits)
        .map(|(i, u)| (bi.untyped.start + i as u64, u.paddr))
}

fn label_and_words(info: MessageInfo) -> (u64, [u64; 3]) {
    (info.label(), [get_mr(0), get_mr(1), get_mr(2)])
}

/// Writes a marker to `addr` (unmapped at first: the pager maps it), then
/// reports through its endpoint.
extern "C" fn pager_client(arg: u64) -> ! {
    let (addr, ep) = (arg >> 16, arg & 0xffff);
    // Safety: the page is mapped by the pager on the first touch.
    unsafe { core::ptr::write_volatile(addr as *mut u64, 0x5eed_cafe) };
    ipc::send(ep, MessageInfo::new(0, 0, 0, 0), &[]);
    loop {
        ipc::recv(ep);
    }
}

pub fn run(t: &mut Runner, bi: &'static BootInfo) {
    let Some((ut, _)) = find_untyped(bi, 22) else {
        t.run("vspace_untyped_available", || Err("no RAM untyped of 4 MiB or more"));
        return;
    };
    let window = bi.empty.start + 64 * 20;
    let reset = || cnode::revoke(ROOT, ut, DEPTH).map_err(|_| "cleanup revoke failed");

    t.run("map_4k_through_missing_levels_and_errors", || {
        let mut s = Slots { next: window };
        let frame = s.take();
        untyped::retype(ut, ty::X86_4K, 0, ROOT, 0, 0, frame, 1).map_err(|_| "frame retype failed")?;
        // The first missing level at 1 TiB is the PDPT: 39 bits left.
        let (label, w) = label_and_words(x86::page_map(frame, VSPACE, TEST_VA, CapRights::ALL, 0));
        ensure(label == Error::FailedLookup as u64 && w == [0, 2, 39], "expected a failed lookup with 39 bits left")?;
        map_with_tables(ut, &mut s, frame, VSPACE, TEST_VA, CapRights::ALL)?;
        // Safety: just mapped read-write at TEST_VA.
        unsafe {
            core::ptr::write_volatile(TEST_VA as *mut u64, 0x1234_5678);
            ensure(core::ptr::read_volatile(TEST_VA as *const u64) == 0x1234_5678, "mapped memory does not hold a value")?;
        }
        let paddr = x86::page_get_address(frame).map_err(|_| "GetAddress failed")?;
        ensure(paddr % 4096 == 0 && paddr != 0, "GetAddress gave a bad physical address")?;
        // Errors: misaligned, beyond the user range, a non-VSpace root, a
        // second frame where a table maps the region.
        let f2 = s.take();
        untyped::retype(ut, ty::X86_4K, 0, ROOT, 0, 0, f2, 1).map_err(|_| "frame retype failed")?;
        ensure(result(x86::page_map(f2, VSPACE, TEST_VA + 0x800, CapRights::ALL, 0)) == Err(Error::AlignmentError), "misaligned map")?;
        ensure(result(x86::page_map(f2, VSPACE, 0x8000_0000_0000, CapRights::ALL, 0)) == Err(Error::InvalidArgument), "map above the user range")?;
        ensure(result(x86::page_map(f2, ROOT, TEST_VA + 0x1000, CapRights::ALL, 0)) == Err(Error::InvalidCapability), "a CNode is no VSpace")?;
        // A second page table in a slot in use; an unassigned PML4 (both
        // retyped before the large page, whose 2 MiB alignment may use up
        // the rest of the untyped).
        let pt2 = s.take();
        untyped::retype(ut, ty::X86_PAGE_TABLE, 0, ROOT, 0, 0, pt2, 1).map_err(|_| "PT retype failed")?;
        ensure(result(x86::table_map(pt2, 21, VSPACE, TEST_VA, 0)) == Err(Error::DeleteFirst), "a second page table in a used slot")?;
        let pml4 = s.take();
        untyped::retype(ut, ty::X64_PML4, 0, ROOT, 0, 0, pml4, 1).map_err(|_| "PML4 retype failed")?;
        let large = s.take();
        untyped::retype(ut, ty::X86_LARGE_PAGE, 0, ROOT, 0, 0, large, 1).map_err(|_| "large page retype failed")?;
        ensure(result(x86::page_map(large, VSPACE, TEST_VA, CapRights::ALL, 0)) == Err(Error::DeleteFirst), "a large page over a page table")?;
        ensure(result(x86::page_map(f2, pml4, TEST_VA, CapRights::ALL, 0)) == Err(Error::InvalidCapability), "unassigned PML4")?;
        // Unmap, then the same frame maps again elsewhere (the table is
        // already there).
        x86::page_unmap(frame).map_err(|_| "unmap failed")?;
        result(x86::page_map(frame, VSPACE, TEST_VA + 0x1000, CapRights::ALL, 0)).map_err(|_| "remap failed")?;
        // Safety: mapped read-write just now; the value survived the remap.
        ensure(unsafe { core::ptr::read_volatile((TEST_VA + 0x1000) as *const u64) } == 0x1234_5678, "frame contents lost")?;
        reset()
    });

    t.run("large_and_huge_pages", || {
        let mut s = Slots { next: window };
        let large = s.take();
        untyped::retype(ut, ty::X86_LARGE_PAGE, 0, ROOT, 0, 0, large, 1).map_err(|_| "large page retype failed")?;
        let va = TEST_VA + (2 << 20);
        map_with_tables(ut, &mut s, large, VSPACE, va, CapRights::ALL)?;
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
        untyped::retype(huge_ut, ty::X64_HUGE_PAGE, 0, ROOT, 0, 0, huge, 1).map_err(|_| "huge page retype failed")?;
        let va = TEST_VA + (1 << 30);
        map_with_tables(ut, &mut s, huge, VSPACE, va, CapRights::ALL)?;
        // Safety: a 1 GiB read-write mapping at `va`.
        unsafe {
            core::ptr::write_volatile((va + (512 << 20)) as *mut u64, 99);
            ensure(core::ptr::read_volatile((va + (512 << 20)) as *const u64) == 99, "huge page does not hold a value")?;
        }
        x86::page_unmap(huge).map_err(|_| "huge unmap failed")?;
        cnode::revoke(ROOT, huge_ut, DEPTH).map_err(|_| "huge cleanup failed")?;
        reset()
    });

    t.run("pager_maps_on_vm_fault_and_resumes", || {
        let mut s = Slots { next: window };
        let ep = s.take();
        untyped::retype(ut, ty::ENDPOINT, 0, ROOT, 0, 0, ep, 1).map_err(|_| "endpoint retype failed")?;
        let fault_ep = s.take();
        cnode::mint(ROOT, fault_ep, DEPTH, ROOT, ep, DEPTH, CapRights::ALL, 0xf00).map_err(|_| "mint failed")?;
        let worker = s.take();
        let addr = TEST_VA + 0x5000;
        spawn_with(bi, ut, WorkerSpec { tcb_slot: worker, k: 1, prio: 254, fault_ep }, pager_client, addr << 16 | ep)?;
        // The worker's write faults: a VM fault for `addr`, a write.
        let r = ipc::recv(ep);
        ensure(r.badge == 0xf00 && r.info.label() == 5, "expected a VM fault on the fault endpoint")?;
        ensure(get_mr(1) == addr && get_mr(3) & 0x2 != 0, "VM fault address or write bit wrong")?;
        // Map a frame there and in the pager's view, then let it retry.
        let frame = s.take();
        untyped::retype(ut, ty::X86_4K, 0, ROOT, 0, 0, frame, 1).map_err(|_| "frame retype failed")?;
        map_with_tables(ut, &mut s, frame, VSPACE, addr, CapRights::ALL)?;
        ipc::reply(MessageInfo::new(0, 0, 0, 0), &[]);
        let r = ipc::recv(ep);
        ensure(r.badge == 0 && r.info.label() == 0, "the resumed worker did not report back")?;
        // Safety: mapped at `addr` above.
        ensure(unsafe { core::ptr::read_volatile(addr as *const u64) } == 0x5eed_cafe, "the worker's write is not in the frame")?;
        let _ = log_entry(0);
        reset()
    });

    t.run("read_only_mapping_faults_on_write", || {
        let mut s = Slots { next: window };
        let ep = s.take();
        untyped::retype(ut, ty::ENDPOINT, 0, ROOT, 0, 0, ep, 1).map_err(|_| "endpoint retype failed")?;
        let frame = s.take();
        untyped::retype(ut, ty::X86_4K, 0, ROOT, 0, 0, frame, 1).map_err(|_| "frame retype failed")?;
        let addr = TEST_VA + 0x9000;
        // Mapped read-write first, then remapped read-only in place: the
        // new rights must take effect (the old translation flushed).
        map_with_tables(ut, &mut s, frame, VSPACE, addr, CapRights::ALL)?;
        // Safety: mapped read-write just now.
        unsafe { core::ptr::write_volatile(addr as *mut u64, 7) };
        result(x86::page_map(frame, VSPACE, addr, CapRights::READ, DEFAULT_VM_ATTRIBUTES)).map_err(|_| "remap with fewer rights failed")?;
        ensure(
            result(x86::page_map(frame, VSPACE, addr + 0x1000, CapRights::READ, DEFAULT_VM_ATTRIBUTES)) == Err(Error::InvalidArgument),
            "a mapped frame remapped at another address",
        )?;
        // Safety: still mapped, now read-only.
        ensure(unsafe { core::ptr::read_volatile(addr as *const u64) } == 7, "remapped frame lost its contents")?;
        let worker = s.take();
        spawn_with(bi, ut, WorkerSpec { tcb_slot: worker, k: 1, prio: 254, fault_ep: ep }, pager_client, addr << 16 | ep)?;
        let r = ipc::recv(ep);
        // Present (bit 0), write (bit 1), user (bit 2).
        ensure(r.info.label() == 5 && get_mr(1) == addr && get_mr(3) & 0x7 == 0x7, "write to a read-only page must fault")?;
        reset()
    });

    t.run("cache_attributes_map_and_work", || {
        let mut s = Slots { next: window };
        // A first mapping creates the levels; the others share its table.
        let base_va = TEST_VA + 0x10_0000;
        let first = s.take();
        untyped::retype(ut, ty::X86_4K, 0, ROOT, 0, 0, first, 1).map_err(|_| "frame retype failed")?;
        map_with_tables(ut, &mut s, first, VSPACE, base_va, CapRights::ALL)?;
        for (i, attr) in [x86::WRITE_COMBINING, x86::CACHE_DISABLED, x86::WRITE_THROUGH].into_iter().enumerate() {
            let frame = s.take();
            untyped::retype(ut, ty::X86_4K, 0, ROOT, 0, 0, frame, 1).map_err(|_| "frame retype failed")?;
            let va = base_va + 0x1000 * (i as u64 + 1);
            result(x86::page_map(frame, VSPACE, va, CapRights::ALL, attr)).map_err(|_| "map with attributes failed")?;
            // Safety: mapped read-write at `va`.
            unsafe {
                core::ptr::write_volatile(va as *mut u64, attr + 1);
                ensure(core::ptr::read_volatile(va as *const u64) == attr + 1, "memory with cache attributes does not work")?;
            }
        }
        reset()
    });

    t.run("deleting_a_page_table_in_use_unmaps_its_frames", || {
        let mut s = Slots { next: window };
        let ep = s.take();
        untyped::retype(ut, ty::ENDPOINT, 0, ROOT, 0, 0, ep, 1).map_err(|_| "endpoint retype failed")?;
        // Levels above come from mapping a first frame in the same GiB.
        let first = s.take();
        untyped::retype(ut, ty::X86_4K, 0, ROOT, 0, 0, first, 1).map_err(|_| "frame retype failed")?;
        map_with_tables(ut, &mut s, first, VSPACE, TEST_VA, CapRights::ALL)?;
        let va = TEST_VA + (4 << 20);
        let pt = s.take();
        untyped::retype(ut, ty::X86_PAGE_TABLE, 0, ROOT, 0, 0, pt, 1).map_err(|_| "PT retype failed")?;
        result(x86::table_map(pt, 21, VSPACE, va, 0)).map_err(|_| "PT map failed")?;
        let frame = s.take();
        untyped::retype(ut, ty::X86_4K, 0, ROOT, 0, 0, frame, 1).map_err(|_| "frame retype failed")?;
        result(x86::page_map(frame, VSPACE, va, CapRights::ALL, 0)).map_err(|_| "frame map failed")?;
        // Safety: mapped just now.
        unsafe { core::ptr::write_volatile(va as *mut u64, 5) };
        // Delete the page table while the frame is mapped through it: the
        // frame is no longer reachable at `va` (a worker faults there).
        cnode::delete(ROOT, pt, DEPTH).map_err(|_| "PT delete failed")?;
        let worker = s.take();
        spawn_with(bi, ut, WorkerSpec { tcb_slot: worker, k: 1, prio: 254, fault_ep: ep }, pager_client, va << 16 | ep)?;
        let r = ipc::recv(ep);
        ensure(r.info.label() == 5 && get_mr(1) == va, "access through the deleted page table must fault")?;
        // The frame itself is intact and maps again.
        x86::page_unmap(frame).map_err(|_| "frame unmap failed")?;
        map_with_tables(ut, &mut s, frame, VSPACE, va, CapRights::ALL)?;
        // Safety: mapped again just now.
        ensure(unsafe { core::ptr::read_volatile(va as *const u64) } == 5, "the frame lost its contents")?;
        reset()
    });

    t.run("asid_pool_and_assign", || {
        let mut s = Slots { next: window };
        let small = s.take();
        untyped::retype(ut, ty::UNTYPED, 12, ROOT, 0, 0, small, 1).map_err(|_| "untyped retype failed")?;
        let pool = s.take();
        x86::asid_make_pool(root_slots::ASID_CONTROL, small, ROOT, pool, DEPTH).map_err(|_| "MakePool failed")?;
        ensure(sel4::debug::cap_identify(pool) == Some(CapType::AsidPool), "MakePool gave no ASID pool cap")?;
        let pml4 = s.take();
        untyped::retype(ut, ty::X64_PML4, 0, ROOT, 0, 0, pml4, 1).map_err(|_| "PML4 retype failed")?;
        x86::asid_pool_assign(pool, pml4).map_err(|_| "Assign failed")?;
        ensure(x86::asid_pool_assign(pool, pml4) == Err(Error::InvalidCapability), "a PML4 is assigned once")?;
        // The assigned PML4 is now a valid root.
        let frame = s.take();
        untyped::retype(ut, ty::X86_4K, 0, ROOT, 0, 0, frame, 1).map_err(|_| "frame retype failed")?;
        map_with_tables(ut, &mut s, frame, pml4, 0x10_0000, CapRights::ALL)?;
        // MakePool needs an exactly 4 KiB untyped.
        let big = s.take();
        untyped::retype(ut, ty::UNTYPED, 13, ROOT, 0, 0, big, 1).map_err(|_| "untyped retype failed")?;
        let p2 = s.take();
        ensure(
            x86::asid_make_pool(root_slots::ASID_CONTROL, big, ROOT, p2, DEPTH) == Err(Error::InvalidCapability),
            "MakePool from an 8 KiB untyped",
        )?;
        reset()
    });

    t.run("child_in_its_own_vspace_ping_pong_every_length", || {
        let mut s = Slots { next: window };
        let ep = s.take();
        untyped::retype(ut, ty::ENDPOINT, 0, ROOT, 0, 0, ep, 1).map_err(|_| "endpoint retype failed")?;
        spawn_in_child_vspace(bi, ut, s.take(), 254, super::threads::echo_entry(), ep)?;
        let mut msg = [0u64; 120];
        for len in 0..=120usize {
            for (i, m) in msg.iter_mut().enumerate().take(len) {
                *m = !((len as u64) << 32 | i as u64);
            }
            let r = ipc::call(ep, MessageInfo::new(5, 0, 0, len as u64), &msg[..len]);
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
    ut: u64,
    first_slot: u64,
    prio: u64,
    entry: sel4::thread::Entry,
    arg: u64,
) -> Result<(), &'static str> {
    let mut s = Slots { next: first_slot };
    let pml4 = s.take();
    untyped::retype(ut, ty::X64_PML4, 0, ROOT, 0, 0, pml4, 1).map_err(|_| "PML4 retype failed")?;
    sel4::invocation::x86::asid_pool_assign(root_slots::INIT_THREAD_ASID_POOL, pml4).map_err(|_| "Assign failed")?;
    let image_start = super::image_start(bi);
    for (i, frame) in (bi.user_image_frames.start..bi.user_image_frames.end).enumerate() {
        let copy = s.take();
        cnode::copy(ROOT, copy, DEPTH, ROOT, frame, DEPTH, CapRights::ALL).map_err(|_| "image frame copy failed")?;
        map_with_tables(ut, &mut s, copy, pml4, image_start + 4096 * i as u64, CapRights::ALL)?;
    }
    let (stack_va, buffer_va) = (0x7000_0000u64, 0x7100_0000u64);
    let mut buffer_frame = 0;
    for va in (stack_va..stack_va + 4 * 4096).step_by(4096).chain([buffer_va]) {
        let f = s.take();
        untyped::retype(ut, ty::X86_4K, 0, ROOT, 0, 0, f, 1).map_err(|_| "frame retype failed")?;
        map_with_tables(ut, &mut s, f, pml4, va, CapRights::ALL)?;
        buffer_frame = f;
    }
    let child = s.take();
    untyped::retype(ut, ty::TCB, 0, ROOT, 0, 0, child, 1).map_err(|_| "TCB retype failed")?;
    tcb::configure(child, 0, ROOT, 0, pml4, 0, buffer_va, buffer_frame).map_err(|_| "configure failed")?;
    tcb::set_priority(child, root_slots::INIT_THREAD_TCB, prio).map_err(|_| "set priority failed")?;
    // Safety: the stack, TLS block (in the buffer frame's upper half) and
    // IPC buffer are frames only the child uses.
    unsafe {
        sel4::thread::start(child, entry, arg, stack_va + 4 * 4096, (buffer_va + 2048) as *mut _, buffer_va)
            .map_err(|_| "starting the child failed")
    }
}

/// Deletes the copies of the image frames `spawn_in_child_vspace` made
/// (revoking the originals, which stay mapped in the rootserver).
pub fn drop_image_frame_copies(bi: &BootInfo) -> Result<(), &'static str> {
    for frame in bi.user_image_frames.start..bi.user_image_frames.end {
        cnode::revoke(ROOT, frame, DEPTH).map_err(|_| "revoking image frame copies failed")?;
    }
    Ok(())
}
