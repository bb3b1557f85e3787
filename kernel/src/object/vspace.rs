//! x86_64 VSpace invocations: PDPT, page directory and page table Map and
//! Unmap, frame Map, Unmap and GetAddress at all three page sizes,
//! ASIDControl_MakePool and ASIDPool_Assign, with seL4's checks and errors
//! (a missing paging level is a failed lookup naming the bits left).

use super::cap::{map_type, Cap, CapRights, FrameSize};
use super::cap_rules::mask_cap_rights;
use super::cnode::lookup_slot_for_cnode_op;
use super::invocation::{Invocation, InvocationError, SyscallError};
use super::untyped::max_free_index;
use super::pte::{self, PRESENT as PTE_PRESENT, PS as PTE_PS};
use crate::arch::x86_64::vspace::{self, flush_tlb as flush, ASID_POOLS, ASID_POOL_ENTRIES};
use crate::config::pptr_to_paddr;
use crate::cspace::cte::{self, Cte};
use crate::cspace::lookup::LookupFault;
use crate::sched;
use crate::thread::{Tcb, ThreadState};
use sel4_compat::caps::CapType;
use sel4_compat::invocation as label;
use sel4_compat::ipc::MessageInfo;
use sel4_compat::objects::ASID_POOL_BITS;

/// Last user address plus one for mappings (seL4's `USER_TOP`).
const USER_TOP: u64 = 0x7fff_ffff_ffff;

fn failed_lookup(fault: LookupFault) -> SyscallError {
    SyscallError::FailedLookup { source: false, fault }
}

fn read(e: *mut u64) -> u64 {
    // Safety: `e` points into a live paging structure.
    unsafe { e.read_volatile() }
}

fn write(e: *mut u64, v: u64) {
    // Safety: as above.
    unsafe { e.write_volatile(v) }
}

/// The entry at level `shift` for `vaddr`; a missing level is seL4's
/// missing-capability lookup fault with the bits left at that level.
fn lookup_slot(pml4: u64, vaddr: u64, shift: u32) -> Result<*mut u64, SyscallError> {
    vspace::lookup_entry(pml4, vaddr, shift).map_err(|bits_left| failed_lookup(LookupFault::MissingCapability { bits_left }))
}

/// seL4's `findVSpaceForASID`.
fn find_vspace(asid: u64) -> Result<u64, SyscallError> {
    if asid == 0 {
        return Err(failed_lookup(LookupFault::InvalidRoot));
    }
    vspace::find_vspace(asid).ok_or(failed_lookup(LookupFault::InvalidRoot))
}

/// The VSpace root named by extra cap 0 must be an assigned PML4
/// (seL4's `isValidNativeRoot`); returns its pointer and ASID.
fn valid_root(inv: &Invocation<'_>) -> Result<(u64, u64), SyscallError> {
    let Some(slot) = inv.extra_cap(0) else { return Err(SyscallError::TruncatedMessage) };
    // Safety: looked up in the caller's CSpace.
    let cap = unsafe { (*slot).cap };
    if !(cap.is(CapType::Pml4) && cap.pml4_mapped()) {
        return Err(SyscallError::InvalidCapability { number: 1 });
    }
    Ok((cap.pml4_ptr(), cap.pml4_asid()))
}

/// The ASID must still name that PML4.
fn check_asid(pml4: u64, asid: u64) -> Result<(), SyscallError> {
    if find_vspace(asid)? != pml4 {
        return Err(SyscallError::InvalidCapability { number: 1 });
    }
    Ok(())
}

fn set_cap(slot: *mut Cte, cap: Cap) {
    // Safety: the invoked cap's slot is live.
    unsafe { (*slot).cap = cap };
}

/// Frame invocations.
pub fn invoke_frame(caller: &mut Tcb, slot: *mut Cte, cap: Cap, inv: &Invocation<'_>, is_call: bool) -> Result<(), InvocationError> {
    match inv.label {
        label::X86_PAGE_MAP => {
            if inv.length < 3 || inv.extra_cap(0).is_none() {
                return Err(SyscallError::TruncatedMessage.into());
            }
            let size = cap.frame_size();
            let (vaddr, rights_mask, attr) = (inv.arg(0), inv.arg(1), inv.arg(2));
            let (pml4, asid) = valid_root(inv)?;
            if cap.frame_mapped_asid() != 0 {
                if cap.frame_mapped_asid() != asid {
                    return Err(SyscallError::InvalidCapability { number: 1 }.into());
                }
                if cap.frame_map_type() != map_type::VSPACE {
                    return Err(SyscallError::IllegalOperation.into());
                }
                if cap.frame_mapped_vaddr() != vaddr {
                    return Err(SyscallError::InvalidArgument { number: 0 }.into());
                }
            } else {
                let top = vaddr.saturating_add(1 << size.bits());
                if vaddr > USER_TOP || top > USER_TOP {
                    return Err(SyscallError::InvalidArgument { number: 0 }.into());
                }
            }
            check_asid(pml4, asid)?;
            let rights = mask_cap_rights(CapRights(rights_mask), cap).frame_rights();
            if vaddr % (1 << size.bits()) != 0 {
                return Err(SyscallError::AlignmentError.into());
            }
            let paddr = pptr_to_paddr(cap.frame_base());
            let (shift, large) = match size {
                FrameSize::Small => (12, false),
                FrameSize::Large => (21, true),
                FrameSize::Huge => (30, true),
            };
            let e = lookup_slot(pml4, vaddr, shift)?;
            let current = read(e);
            // A large or huge page cannot replace a table below it.
            if large && current & PTE_PRESENT != 0 && current & PTE_PS == 0 {
                return Err(SyscallError::DeleteFirst.into());
            }
            write(e, pte::frame_entry(paddr, rights, attr, shift));
            flush();
            set_cap(slot, Cap::frame(cap.frame_base(), size, cap.frame_rights(), cap.frame_is_device(), Some((asid, vaddr))));
            Ok(())
        }
        label::X86_PAGE_UNMAP => {
            vspace::unmap_frame(&cap);
            set_cap(slot, cap.frame_unmapped());
            Ok(())
        }
        label::X86_PAGE_GET_ADDRESS => {
            if is_call {
                caller.ctx.regs.r10 = pptr_to_paddr(cap.frame_base());
                caller.ctx.regs.rdi = 0;
                caller.ctx.regs.rsi = MessageInfo::new(0, 0, 0, 1).0;
            }
            sched::set_thread_state(caller, ThreadState::Running);
            Ok(())
        }
        _ => Err(SyscallError::IllegalOperation.into()),
    }
}

/// PDPT, page directory and page table invocations.
///
/// # Safety
/// `slot` is the live slot holding `cap` and the invocation's extra caps
/// are live slots found by lookup.
pub unsafe fn invoke_table(slot: *mut Cte, cap: Cap, inv: &Invocation<'_>) -> Result<(), InvocationError> {
    let (map, unmap, shift) = match cap.cap_type() {
        Some(CapType::Pdpt) => (label::X86_PDPT_MAP, label::X86_PDPT_UNMAP, 39),
        Some(CapType::PageDirectory) => (label::X86_PAGE_DIRECTORY_MAP, label::X86_PAGE_DIRECTORY_UNMAP, 30),
        _ => (label::X86_PAGE_TABLE_MAP, label::X86_PAGE_TABLE_UNMAP, 21),
    };
    if inv.label == unmap {
        // Safety: the invoked cap's slot is live.
        if !unsafe { cte::is_final_capability(slot) } {
            return Err(SyscallError::RevokeFirst.into());
        }
        if cap.paging_mapped() {
            vspace::unmap_table(&cap);
            // Safety: the table is owned by this (final) cap.
            unsafe { core::ptr::write_bytes(cap.paging_ptr() as *mut u8, 0, 4096) };
        }
        set_cap(slot, Cap::paging(cap.cap_type().unwrap(), cap.paging_ptr(), 0, None));
        return Ok(());
    }
    if inv.label != map {
        return Err(SyscallError::IllegalOperation.into());
    }
    if inv.length < 2 || inv.extra_cap(0).is_none() {
        return Err(SyscallError::TruncatedMessage.into());
    }
    if cap.paging_mapped() {
        return Err(SyscallError::InvalidCapability { number: 0 }.into());
    }
    let vaddr = inv.arg(0) & !((1u64 << shift) - 1);
    let attr = inv.arg(1);
    let (pml4, asid) = valid_root(inv)?;
    if vaddr > USER_TOP {
        return Err(SyscallError::InvalidArgument { number: 0 }.into());
    }
    check_asid(pml4, asid)?;
    let e = lookup_slot(pml4, vaddr, shift)?;
    if read(e) & PTE_PRESENT != 0 {
        return Err(SyscallError::DeleteFirst.into());
    }
    let paddr = pptr_to_paddr(cap.paging_ptr());
    write(e, pte::table_entry(paddr, attr));
    set_cap(slot, Cap::paging(cap.cap_type().unwrap(), cap.paging_ptr(), asid, Some(vaddr)));
    Ok(())
}

/// ASIDControl_MakePool.
pub fn invoke_asid_control(inv: &Invocation<'_>) -> Result<(), InvocationError> {
    if inv.label != label::X86_ASID_CONTROL_MAKE_POOL {
        return Err(SyscallError::IllegalOperation.into());
    }
    let (Some(ut_slot), Some(root_slot)) = (inv.extra_cap(0), inv.extra_cap(1)) else {
        return Err(SyscallError::TruncatedMessage.into());
    };
    if inv.length < 2 {
        return Err(SyscallError::TruncatedMessage.into());
    }
    let (index, depth) = (inv.arg(0), inv.arg(1));
    let Some(pool_index) = (0..ASID_POOLS).find(|&i| vspace::asid_pool(i) == 0) else {
        return Err(SyscallError::DeleteFirst.into());
    };
    // Safety: extra caps were looked up in the caller's CSpace.
    let (ut, root) = unsafe { ((*ut_slot).cap, (*root_slot).cap) };
    if !ut.is(CapType::Untyped) || ut.untyped_size_bits() != ASID_POOL_BITS || ut.untyped_is_device() {
        return Err(SyscallError::InvalidCapability { number: 1 }.into());
    }
    // Safety: a live slot.
    if unsafe { cte::has_children(ut_slot) } {
        return Err(SyscallError::RevokeFirst.into());
    }
    let dest = lookup_slot_for_cnode_op(false, root, index, depth)?;
    // Safety: a slot from a lookup.
    if !unsafe { (*dest).cap }.is_null() {
        return Err(SyscallError::DeleteFirst.into());
    }
    let pool = ut.untyped_ptr();
    // Safety: the untyped has no children, so its memory is free.
    unsafe { core::ptr::write_bytes(pool as *mut u8, 0, 1 << ASID_POOL_BITS) };
    // Safety: as above; the slots are live and `dest` is empty.
    unsafe {
        (*ut_slot).cap = ut.with_untyped_free_index(max_free_index(ASID_POOL_BITS));
        cte::insert_new_cap(ut_slot, dest, Cap::asid_pool(pool, pool_index as u64 * ASID_POOL_ENTRIES));
    }
    vspace::set_asid_pool(pool_index as u64 * ASID_POOL_ENTRIES, pool);
    Ok(())
}

/// ASIDPool_Assign.
pub fn invoke_asid_pool(cap: Cap, inv: &Invocation<'_>) -> Result<(), InvocationError> {
    if inv.label != label::X86_ASID_POOL_ASSIGN {
        return Err(SyscallError::IllegalOperation.into());
    }
    let Some(vs_slot) = inv.extra_cap(0) else {
        return Err(SyscallError::TruncatedMessage.into());
    };
    // Safety: looked up in the caller's CSpace.
    let vs = unsafe { (*vs_slot).cap };
    if !vs.is(CapType::Pml4) || vs.pml4_mapped() {
        return Err(SyscallError::InvalidCapability { number: 1 }.into());
    }
    let base = cap.asid_base();
    let pool = vspace::asid_pool((base / ASID_POOL_ENTRIES) as usize);
    if pool == 0 {
        return Err(failed_lookup(LookupFault::InvalidRoot).into());
    }
    if pool != cap.asid_pool_ptr() {
        return Err(SyscallError::InvalidCapability { number: 0 }.into());
    }
    let table = pool as *mut u64;
    // Safety: a live ASID pool of 512 entries.
    let free = (0..ASID_POOL_ENTRIES).find(|&i| base + i != 0 && unsafe { table.add(i as usize).read() } == 0);
    let Some(i) = free else {
        return Err(SyscallError::DeleteFirst.into());
    };
    let asid = base + i;
    // Safety: as above; the PML4 cap's slot is live.
    unsafe {
        table.add(i as usize).write(vs.pml4_ptr());
        (*vs_slot).cap = Cap::pml4(vs.pml4_ptr(), asid, true);
    }
    Ok(())
}
