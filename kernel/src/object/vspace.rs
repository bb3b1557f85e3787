//! x86_64 VSpace invocations: PDPT, page directory and page table Map and
//! Unmap, frame Map, Unmap and GetAddress at all three page sizes,
//! ASIDControl_MakePool and ASIDPool_Assign, with seL4's checks and errors
//! (a missing paging level is a failed lookup naming the bits left).

use super::cap::{map_type, AsidPoolCap, Cap, CapRights, FrameCap, FrameSize, PagingCap, Pml4Cap, UntypedCap};
use super::cap_rules::mask_vm_rights;
use super::cnode::lookup_slot_for_cnode_op;
use super::invocation::{Invocation, InvocationError, SyscallError};
use super::untyped::max_free_index;
use crate::arch::x86_64::vspace::{self, flush_tlb as flush, AsidTable, ASID_POOLS, ASID_POOL_ENTRIES};
use crate::config::pptr_to_paddr;
use crate::cspace::cte::{self, Cte};
use crate::cspace::lookup::LookupFault;
use crate::pte::{self, PRESENT as PTE_PRESENT, PS as PTE_PS};
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
fn find_vspace(asids: &AsidTable, asid: u64) -> Result<u64, SyscallError> {
    if asid == 0 {
        return Err(failed_lookup(LookupFault::InvalidRoot));
    }
    asids.find_vspace(asid).ok_or(failed_lookup(LookupFault::InvalidRoot))
}

/// The VSpace root named by extra cap 0 must be an assigned PML4
/// (seL4's `isValidNativeRoot`); returns its pointer and ASID.
fn valid_root(inv: &Invocation<'_>) -> Result<(u64, u64), SyscallError> {
    let Some(slot) = inv.extra_cap(0) else { return Err(SyscallError::TruncatedMessage) };
    // Safety: looked up in the caller's CSpace.
    let Some(cap) = unsafe { (*slot).cap }.as_mapped_pml4() else {
        return Err(SyscallError::InvalidCapability { number: 1 });
    };
    Ok((cap.ptr(), cap.asid()))
}

/// The ASID must still name that PML4.
fn check_asid(asids: &AsidTable, pml4: u64, asid: u64) -> Result<(), SyscallError> {
    if find_vspace(asids, asid)? != pml4 {
        return Err(SyscallError::InvalidCapability { number: 1 });
    }
    Ok(())
}

fn set_cap(slot: *mut Cte, cap: Cap) {
    // Safety: the invoked cap's slot is live.
    unsafe { (*slot).cap = cap };
}

/// A checked frame operation, ready to perform.
enum FrameOp {
    /// Write `pte` to the paging entry `entry` and record the mapping in
    /// the invoked cap (`mapped_cap`).
    Map {
        entry: *mut u64,
        pte: u64,
        mapped_cap: Cap,
    },
    Unmap,
    GetAddress,
}

/// Frame invocations.
///
/// # Safety
/// `slot` is the live slot holding `cap` and the invocation's extra caps
/// are live slots found by lookup.
pub unsafe fn invoke_frame(
    asids: &AsidTable,
    caller: &mut Tcb,
    slot: *mut Cte,
    cap: FrameCap,
    inv: &Invocation<'_>,
    is_call: bool,
) -> Result<(), InvocationError> {
    let op = decode_frame(asids, cap, inv)?;
    // Safety: per the caller's contract; `op` was just decoded.
    unsafe { perform_frame(asids, caller, slot, cap, op, is_call) };
    Ok(())
}

fn decode_frame(asids: &AsidTable, cap: FrameCap, inv: &Invocation<'_>) -> Result<FrameOp, SyscallError> {
    match inv.label {
        label::X86_PAGE_MAP => {
            if inv.length < 3 || inv.extra_cap(0).is_none() {
                user_error!("X86Frame Map: Truncated message.");
                return Err(SyscallError::TruncatedMessage);
            }
            let size = cap.size();
            let (vaddr, rights_mask, attr) = (inv.arg(0), inv.arg(1), inv.arg(2));
            let (pml4, asid) =
                valid_root(inv).inspect_err(|_| user_error!("X86FrameMap: Attempting to map frame into invalid page directory cap."))?;
            if cap.mapped_asid() != 0 {
                if cap.mapped_asid() != asid {
                    user_error!("X86Frame: Attempting to remap frame into a different address space.");
                    return Err(SyscallError::InvalidCapability { number: 1 });
                }
                if cap.map_type() != map_type::VSPACE {
                    user_error!("X86Frame: Attempting to remap frame with different mapping type");
                    return Err(SyscallError::IllegalOperation);
                }
                if cap.mapped_vaddr() != vaddr {
                    user_error!("X86Frame: Attempting to map frame into multiple addresses");
                    return Err(SyscallError::InvalidArgument { number: 0 });
                }
            } else {
                let top = vaddr.saturating_add(1 << size.bits());
                if vaddr > USER_TOP || top > USER_TOP {
                    user_error!("X86Frame: Mapping address too high.");
                    return Err(SyscallError::InvalidArgument { number: 0 });
                }
            }
            check_asid(asids, pml4, asid).inspect_err(|_| user_error!("X86Frame Map: The VSpace root's ASID does not name it."))?;
            let rights = mask_vm_rights(cap.rights(), CapRights(rights_mask));
            if vaddr % (1 << size.bits()) != 0 {
                user_error!("X86Frame Map: Address 0x{vaddr:x} is not aligned to the frame's size.");
                return Err(SyscallError::AlignmentError);
            }
            let paddr = pptr_to_paddr(cap.base());
            let (shift, large) = match size {
                FrameSize::Small => (12, false),
                FrameSize::Large => (21, true),
                FrameSize::Huge => (30, true),
            };
            let e = lookup_slot(pml4, vaddr, shift).inspect_err(|_| user_error!("X86Frame Map: No paging structure to map 0x{vaddr:x} in."))?;
            let current = read(e);
            // A large or huge page cannot replace a table below it.
            if large && current & PTE_PRESENT != 0 && current & PTE_PS == 0 {
                user_error!("X86Frame Map: A paging structure is mapped at 0x{vaddr:x}.");
                return Err(SyscallError::DeleteFirst);
            }
            Ok(FrameOp::Map {
                entry: e,
                pte: pte::frame_entry(paddr, rights, attr, shift),
                mapped_cap: Cap::frame(cap.base(), size, cap.rights(), cap.is_device(), Some((asid, vaddr))),
            })
        }
        label::X86_PAGE_UNMAP => Ok(FrameOp::Unmap),
        label::X86_PAGE_GET_ADDRESS => Ok(FrameOp::GetAddress),
        _ => {
            user_error!("X86Frame: Illegal operation.");
            Err(SyscallError::IllegalOperation)
        }
    }
}

/// # Safety
/// `slot` is the live slot holding `cap`, and `op` is what
/// [`decode_frame`] just returned for it (its paging entry is the live one
/// it looked up).
unsafe fn perform_frame(asids: &AsidTable, caller: &mut Tcb, slot: *mut Cte, cap: FrameCap, op: FrameOp, is_call: bool) {
    match op {
        FrameOp::Map { entry, pte, mapped_cap } => {
            write(entry, pte);
            flush();
            set_cap(slot, mapped_cap);
        }
        FrameOp::Unmap => {
            vspace::unmap_frame(asids, cap);
            set_cap(slot, cap.unmapped().cap());
        }
        FrameOp::GetAddress => {
            if is_call {
                caller.ctx.regs.r10 = pptr_to_paddr(cap.base());
                caller.ctx.regs.rdi = 0;
                caller.ctx.regs.rsi = MessageInfo::new(0, 0, 0, 1).0;
            }
            sched::set_thread_state(caller, ThreadState::Running);
        }
    }
}

/// A checked PDPT, page directory or page table operation, ready to
/// perform.
enum TableOp {
    /// Write `pte` to the paging entry `entry` and record the mapping in
    /// the invoked cap (`mapped_cap`).
    Map {
        entry: *mut u64,
        pte: u64,
        mapped_cap: Cap,
    },
    Unmap,
}

/// PDPT, page directory and page table invocations.
///
/// # Safety
/// `slot` is the live slot holding `cap` and the invocation's extra caps
/// are live slots found by lookup.
pub unsafe fn invoke_table(asids: &AsidTable, slot: *mut Cte, cap: PagingCap, inv: &Invocation<'_>) -> Result<(), InvocationError> {
    let op = decode_table(asids, slot, cap, inv)?;
    // Safety: per the caller's contract; `op` was just decoded.
    unsafe { perform_table(asids, slot, cap, op) };
    Ok(())
}

fn decode_table(asids: &AsidTable, slot: *mut Cte, cap: PagingCap, inv: &Invocation<'_>) -> Result<TableOp, SyscallError> {
    let (map, unmap, shift) = match cap.cap_type() {
        CapType::Pdpt => (label::X86_PDPT_MAP, label::X86_PDPT_UNMAP, 39),
        CapType::PageDirectory => (label::X86_PAGE_DIRECTORY_MAP, label::X86_PAGE_DIRECTORY_UNMAP, 30),
        _ => (label::X86_PAGE_TABLE_MAP, label::X86_PAGE_TABLE_UNMAP, 21),
    };
    // seL4 names the three kinds inconsistently; its words are kept.
    let [name, illegal, mapped] = match shift {
        39 => ["X64PDPT", "X86PDPT", "PDPT is already mapped to a PML4."],
        30 => ["X64PageDirectory", "X64Directory", "PD is already mapped to a PML4."],
        _ => ["X86PageTable", "X86PageTable", "Page table is already mapped to a page directory."],
    };
    if inv.label == unmap {
        // Safety: the invoked cap's slot is live.
        if !unsafe { cte::is_final_capability(slot) } {
            match shift {
                39 => user_error!("X86PDPT: Cannot unmap if more than one cap exist."),
                30 => user_error!("X86PageDirectory: Cannot unmap if more than one cap exist."),
                _ => user_error!("X86PageTable: Cannot unmap if more than one cap exists."),
            }
            return Err(SyscallError::RevokeFirst);
        }
        return Ok(TableOp::Unmap);
    }
    if inv.label != map {
        user_error!("{illegal}: Illegal operation.");
        return Err(SyscallError::IllegalOperation);
    }
    if inv.length < 2 || inv.extra_cap(0).is_none() {
        user_error!("{name}: Truncated message.");
        return Err(SyscallError::TruncatedMessage);
    }
    if cap.mapped() {
        user_error!("{name}: {mapped}");
        return Err(SyscallError::InvalidCapability { number: 0 });
    }
    let vaddr = inv.arg(0) & !((1u64 << shift) - 1);
    let attr = inv.arg(1);
    let (pml4, asid) = valid_root(inv).inspect_err(|_| user_error!("{name}: Invalid VSpace root."))?;
    if vaddr > USER_TOP {
        user_error!("{name}: Mapping address too high.");
        return Err(SyscallError::InvalidArgument { number: 0 });
    }
    check_asid(asids, pml4, asid).inspect_err(|_| user_error!("{name}: The VSpace root's ASID does not name it."))?;
    let e = lookup_slot(pml4, vaddr, shift).inspect_err(|_| user_error!("{name}: No paging structure to map 0x{vaddr:x} in."))?;
    if read(e) & PTE_PRESENT != 0 {
        user_error!("{name}: Something is already mapped at 0x{vaddr:x}.");
        return Err(SyscallError::DeleteFirst);
    }
    let paddr = pptr_to_paddr(cap.ptr());
    Ok(TableOp::Map { entry: e, pte: pte::table_entry(paddr, attr), mapped_cap: Cap::paging(cap.cap_type(), cap.ptr(), asid, Some(vaddr)) })
}

/// # Safety
/// `slot` is the live slot holding `cap` and `op` was just decoded for
/// it (an unmap found the cap final).
unsafe fn perform_table(asids: &AsidTable, slot: *mut Cte, cap: PagingCap, op: TableOp) {
    match op {
        TableOp::Map { entry, pte, mapped_cap } => {
            write(entry, pte);
            set_cap(slot, mapped_cap);
        }
        TableOp::Unmap => {
            if cap.mapped() {
                vspace::unmap_table(asids, cap);
                // Safety: the table is owned by this (final) cap.
                unsafe { core::ptr::write_bytes(cap.ptr() as *mut u8, 0, 4096) };
            }
            set_cap(slot, Cap::paging(cap.cap_type(), cap.ptr(), 0, None));
        }
    }
}

/// A checked ASIDControl_MakePool: the 4 KiB untyped `ut` in `ut_slot`
/// becomes pool `pool_index`, its cap going to the empty slot `dest`.
struct MakePool {
    ut_slot: *mut Cte,
    ut: UntypedCap,
    dest: *mut Cte,
    pool_index: usize,
}

/// ASIDControl_MakePool.
pub fn invoke_asid_control(asids: &mut AsidTable, inv: &Invocation<'_>) -> Result<(), InvocationError> {
    let op = decode_asid_control(asids, inv)?;
    // Safety: just decoded.
    unsafe { perform_make_pool(asids, op) };
    Ok(())
}

fn decode_asid_control(asids: &AsidTable, inv: &Invocation<'_>) -> Result<MakePool, SyscallError> {
    if inv.label != label::X86_ASID_CONTROL_MAKE_POOL {
        user_error!("ASIDControl: Illegal operation.");
        return Err(SyscallError::IllegalOperation);
    }
    let (Some(ut_slot), Some(root_slot)) = (inv.extra_cap(0), inv.extra_cap(1)) else {
        user_error!("ASIDControlMakePool: Truncated message.");
        return Err(SyscallError::TruncatedMessage);
    };
    if inv.length < 2 {
        user_error!("ASIDControlMakePool: Truncated message.");
        return Err(SyscallError::TruncatedMessage);
    }
    let (index, depth) = (inv.arg(0), inv.arg(1));
    let Some(pool_index) = (0..ASID_POOLS).find(|&i| asids.pool(i) == 0) else {
        user_error!("ASIDControlMakePool: No unallocated pools found.");
        return Err(SyscallError::DeleteFirst);
    };
    // Safety: extra caps were looked up in the caller's CSpace.
    let (ut, root) = unsafe { ((*ut_slot).cap, (*root_slot).cap) };
    let Some(ut) = ut.as_untyped().filter(|ut| ut.size_bits() == ASID_POOL_BITS && !ut.is_device()) else {
        user_error!("ASIDControlMakePool: The untyped is not a 4 KiB RAM untyped.");
        return Err(SyscallError::InvalidCapability { number: 1 });
    };
    // Safety: a live slot.
    if unsafe { cte::has_children(ut_slot) } {
        user_error!("ASIDControlMakePool: The untyped has children.");
        return Err(SyscallError::RevokeFirst);
    }
    let dest = lookup_slot_for_cnode_op(false, root, index, depth).inspect_err(|_| user_error!("ASIDControlMakePool: Destination slot invalid."))?;
    // Safety: a slot from a lookup.
    if !unsafe { (*dest).cap }.is_null() {
        user_error!("ASIDControlMakePool: Destination slot not empty.");
        return Err(SyscallError::DeleteFirst);
    }
    Ok(MakePool { ut_slot, ut, dest, pool_index })
}

/// # Safety
/// `op` was just decoded (its slots are live, nothing ran since).
unsafe fn perform_make_pool(asids: &mut AsidTable, op: MakePool) {
    let MakePool { ut_slot, ut, dest, pool_index } = op;
    let pool = ut.ptr();
    // Safety: decode found the untyped without children, so its memory is
    // free (caller's contract).
    unsafe { core::ptr::write_bytes(pool as *mut u8, 0, 1 << ASID_POOL_BITS) };
    // Safety: as above; the slots are live and decode found `dest` empty.
    unsafe {
        (*ut_slot).cap = ut.with_free_index(max_free_index(ASID_POOL_BITS)).cap();
        cte::insert_new_cap(ut_slot, dest, Cap::asid_pool(pool, pool_index as u64 * ASID_POOL_ENTRIES));
    }
    asids.set_pool(pool_index as u64 * ASID_POOL_ENTRIES, pool);
}

/// A checked ASIDPool_Assign: the PML4 cap `vs` in `vs_slot` gets `asid`,
/// whose free pool entry is `entry`.
struct Assign {
    vs_slot: *mut Cte,
    vs: Pml4Cap,
    entry: *mut u64,
    asid: u64,
}

/// ASIDPool_Assign.
pub fn invoke_asid_pool(asids: &AsidTable, cap: AsidPoolCap, inv: &Invocation<'_>) -> Result<(), InvocationError> {
    let op = decode_asid_pool(asids, cap, inv)?;
    // Safety: just decoded.
    unsafe { perform_assign(op) };
    Ok(())
}

fn decode_asid_pool(asids: &AsidTable, cap: AsidPoolCap, inv: &Invocation<'_>) -> Result<Assign, SyscallError> {
    if inv.label != label::X86_ASID_POOL_ASSIGN {
        user_error!("X86ASIDPool: Illegal operation.");
        return Err(SyscallError::IllegalOperation);
    }
    let Some(vs_slot) = inv.extra_cap(0) else {
        user_error!("X86ASIDPool: Truncated message.");
        return Err(SyscallError::TruncatedMessage);
    };
    // Safety: looked up in the caller's CSpace.
    let Some(vs) = unsafe { (*vs_slot).cap }.as_pml4().filter(|pml4| !pml4.mapped()) else {
        user_error!("X86ASIDPool: Invalid vspace root.");
        return Err(SyscallError::InvalidCapability { number: 1 });
    };
    let base = cap.asid_base();
    let pool = asids.pool((base / ASID_POOL_ENTRIES) as usize);
    if pool == 0 {
        user_error!("X86ASIDPool: The pool no longer exists.");
        return Err(failed_lookup(LookupFault::InvalidRoot));
    }
    if pool != cap.ptr() {
        user_error!("X86ASIDPool: The cap names a pool that was replaced.");
        return Err(SyscallError::InvalidCapability { number: 0 });
    }
    let table = pool as *mut u64;
    // Safety: a live ASID pool of 512 entries.
    let free = (0..ASID_POOL_ENTRIES).find(|&i| base + i != 0 && unsafe { table.add(i as usize).read() } == 0);
    let Some(i) = free else {
        user_error!("X86ASIDPool: No free ASID in the pool.");
        return Err(SyscallError::DeleteFirst);
    };
    Ok(Assign { vs_slot, vs, entry: table.wrapping_add(i as usize), asid: base + i })
}

/// # Safety
/// `op` was just decoded (its entry and slot are live, nothing ran since).
unsafe fn perform_assign(op: Assign) {
    // Safety: per the caller's contract.
    unsafe {
        op.entry.write(op.vs.ptr());
        (*op.vs_slot).cap = Cap::pml4(op.vs.ptr(), op.asid, true);
    }
}
