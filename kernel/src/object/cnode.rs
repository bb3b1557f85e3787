//! CNode invocations: Revoke, Delete, CancelBadgedSends, Copy, Mint, Move,
//! Mutate, Rotate and SaveCaller, decoded with seL4's checks in seL4's
//! order (so the same bad call gets the same error) and then performed.

use super::cap::{CNodeCap, Cap, CapRights, EndpointCap};
use super::cap_rules::{derive_cap_ignoring_children, endpoint_with_cancel_send_rights, mask_cap_rights, update_cap_data, NotDerivable};
use super::env::ObjectEnv;
use super::invocation::{Invocation, InvocationError, SyscallError};
use crate::cspace::cte::{self, Cte};
use crate::cspace::delete;
use crate::cspace::lookup::{resolve_address_bits, LookupFault, SlotMemory};
use sel4_compat::caps::CapType;
use sel4_compat::invocation as label;

/// seL4's `lookupSlotForCNodeOp`: resolves exactly `depth` bits.
pub fn lookup_slot_for_cnode_op(is_source: bool, root: Cap, cptr: u64, depth: u64) -> Result<*mut Cte, SyscallError> {
    let failed = |fault| SyscallError::FailedLookup { source: is_source, fault };
    if !root.is(CapType::CNode) {
        return Err(failed(LookupFault::InvalidRoot));
    }
    if !(1..=64).contains(&depth) {
        return Err(SyscallError::RangeError { min: 1, max: 64 });
    }
    let r = resolve_address_bits(&SlotMemory, root, cptr, depth as u32).map_err(failed)?;
    if r.bits_remaining != 0 {
        return Err(failed(LookupFault::DepthMismatch { bits_left: r.bits_remaining, bits_found: 0 }));
    }
    Ok(r.slot as *mut Cte)
}

/// # Safety
/// `slot` points at a live slot.
unsafe fn cap_in(slot: *mut Cte) -> Cap {
    // Safety: per the caller's contract.
    unsafe { (*slot).cap }
}

fn ensure_empty(slot: *mut Cte) -> Result<(), SyscallError> {
    // Safety: slots come from lookups of live CNodes.
    if unsafe { cap_in(slot) }.is_null() {
        Ok(())
    } else {
        Err(SyscallError::DeleteFirst)
    }
}

fn missing_source(depth: u64, source: bool) -> SyscallError {
    SyscallError::FailedLookup { source, fault: LookupFault::MissingCapability { bits_left: depth as u32 } }
}

/// A checked CNode operation, ready to perform.
enum CNodeOp {
    Revoke(*mut Cte),
    Delete(*mut Cte),
    CancelBadgedSends(EndpointCap),
    Insert { cap: Cap, src: *mut Cte, dest: *mut Cte },
    Move { cap: Cap, src: *mut Cte, dest: *mut Cte },
    Rotate { src_cap: Cap, pivot_cap: Cap, src: *mut Cte, pivot: *mut Cte, dest: *mut Cte },
    SaveCaller { caller: *mut Cte, dest: *mut Cte },
}

/// Decodes an invocation of the CNode `cap`. `caller_slot` is the
/// invoking thread's caller (reply) slot, for SaveCaller.
fn decode(cap: CNodeCap, inv: &Invocation<'_>, caller_slot: *mut Cte) -> Result<CNodeOp, SyscallError> {
    if !(label::CNODE_REVOKE..=label::CNODE_SAVE_CALLER).contains(&inv.label) {
        user_error!("CNodeCap: Illegal Operation attempted.");
        return Err(SyscallError::IllegalOperation);
    }
    if inv.length < 2 {
        user_error!("CNode operation: Truncated message.");
        return Err(SyscallError::TruncatedMessage);
    }
    let dest =
        lookup_slot_for_cnode_op(false, cap.cap(), inv.arg(0), inv.arg(1)).inspect_err(|_| user_error!("CNode operation: Target slot invalid."))?;

    if (label::CNODE_COPY..=label::CNODE_MUTATE).contains(&inv.label) {
        let src_root_slot = match inv.extra_cap(0) {
            Some(s) if inv.length >= 4 => s,
            _ => {
                user_error!("CNode Copy/Mint/Move/Mutate: Truncated message.");
                return Err(SyscallError::TruncatedMessage);
            }
        };
        let (src_index, src_depth) = (inv.arg(2), inv.arg(3));
        // Safety: extra cap slots were looked up in the caller's CSpace.
        let src_root = unsafe { cap_in(src_root_slot) };
        ensure_empty(dest).inspect_err(|_| user_error!("CNode Copy/Mint/Move/Mutate: Destination not empty."))?;
        let src = lookup_slot_for_cnode_op(true, src_root, src_index, src_depth)
            .inspect_err(|_| user_error!("CNode Copy/Mint/Move/Mutate: Invalid source slot."))?;
        // Safety: `src` came from a lookup.
        let src_cap = unsafe { cap_in(src) };
        if src_cap.is_null() {
            user_error!("CNode Copy/Mint/Move/Mutate: Source slot invalid or empty.");
            return Err(missing_source(src_depth, true));
        }
        let derive = |c: Cap| -> Result<Cap, SyscallError> {
            // An untyped cap with children cannot be copied.
            // Safety: `src` is a live slot.
            if c.is(CapType::Untyped) && unsafe { cte::has_children(src) } {
                return Err(SyscallError::RevokeFirst);
            }
            derive_cap_ignoring_children(c).map_err(|NotDerivable| SyscallError::IllegalOperation)
        };
        let (new_cap, is_move) = match inv.label {
            label::CNODE_COPY => {
                if inv.length < 5 {
                    user_error!("Truncated message for CNode Copy operation.");
                    return Err(SyscallError::TruncatedMessage);
                }
                let derived = derive(mask_cap_rights(CapRights(inv.arg(4)), src_cap));
                (derived.inspect_err(|_| user_error!("Error deriving cap for CNode Copy operation."))?, false)
            }
            label::CNODE_MINT => {
                if inv.length < 6 {
                    user_error!("CNode Mint: Truncated message.");
                    return Err(SyscallError::TruncatedMessage);
                }
                let masked = mask_cap_rights(CapRights(inv.arg(4)), src_cap);
                let derived = derive(update_cap_data(false, inv.arg(5), masked));
                (derived.inspect_err(|_| user_error!("Error deriving cap for CNode Mint operation."))?, false)
            }
            label::CNODE_MOVE => (src_cap, true),
            _ => {
                if inv.length < 5 {
                    user_error!("CNode Mutate: Truncated message.");
                    return Err(SyscallError::TruncatedMessage);
                }
                (update_cap_data(true, inv.arg(4), src_cap), true)
            }
        };
        if new_cap.is_null() {
            user_error!("CNode Copy/Mint/Move/Mutate: Mutated cap would be invalid.");
            return Err(SyscallError::IllegalOperation);
        }
        return Ok(if is_move { CNodeOp::Move { cap: new_cap, src, dest } } else { CNodeOp::Insert { cap: new_cap, src, dest } });
    }

    match inv.label {
        label::CNODE_REVOKE => Ok(CNodeOp::Revoke(dest)),
        label::CNODE_DELETE => Ok(CNodeOp::Delete(dest)),
        label::CNODE_SAVE_CALLER => {
            ensure_empty(dest).inspect_err(|_| user_error!("CNode SaveCaller: Destination slot not empty."))?;
            Ok(CNodeOp::SaveCaller { caller: caller_slot, dest })
        }
        label::CNODE_CANCEL_BADGED_SENDS => {
            // Safety: `dest` came from a lookup.
            let dest_cap = unsafe { cap_in(dest) };
            let Some(ep) = endpoint_with_cancel_send_rights(&dest_cap) else {
                user_error!("CNode CancelBadgedSends: Target cap invalid.");
                return Err(SyscallError::IllegalOperation);
            };
            Ok(CNodeOp::CancelBadgedSends(ep))
        }
        _ => {
            // Rotate
            let (pivot_root_slot, src_root_slot) = match (inv.extra_cap(0), inv.extra_cap(1)) {
                (Some(p), Some(s)) if inv.length >= 8 => (p, s),
                _ => {
                    user_error!("CNode Rotate: Truncated message.");
                    return Err(SyscallError::TruncatedMessage);
                }
            };
            let (pivot_data, pivot_index, pivot_depth) = (inv.arg(2), inv.arg(3), inv.arg(4));
            let (src_data, src_index, src_depth) = (inv.arg(5), inv.arg(6), inv.arg(7));
            // Safety: extra cap slots were looked up in the caller's CSpace.
            let (pivot_root, src_root) = unsafe { (cap_in(pivot_root_slot), cap_in(src_root_slot)) };
            let src =
                lookup_slot_for_cnode_op(true, src_root, src_index, src_depth).inspect_err(|_| user_error!("CNode Rotate: Invalid source slot."))?;
            let pivot = lookup_slot_for_cnode_op(true, pivot_root, pivot_index, pivot_depth)
                .inspect_err(|_| user_error!("CNode Rotate: Invalid pivot slot."))?;
            if pivot == src || pivot == dest {
                user_error!("CNode Rotate: Pivot slot the same as source or dest slot.");
                return Err(SyscallError::IllegalOperation);
            }
            if src != dest {
                ensure_empty(dest).inspect_err(|_| user_error!("CNode Rotate: Destination not empty."))?;
            }
            // Safety: both came from lookups.
            let (src_cap, pivot_cap) = unsafe { (cap_in(src), cap_in(pivot)) };
            if src_cap.is_null() {
                user_error!("CNode Rotate: Source slot empty.");
                return Err(missing_source(src_depth, true));
            }
            if pivot_cap.is_null() {
                user_error!("CNode Rotate: Pivot slot empty.");
                return Err(missing_source(pivot_depth, false));
            }
            let new_src = update_cap_data(true, src_data, src_cap);
            let new_pivot = update_cap_data(true, pivot_data, pivot_cap);
            if new_src.is_null() {
                user_error!("CNode Rotate: Source cap invalid.");
                return Err(SyscallError::IllegalOperation);
            }
            if new_pivot.is_null() {
                user_error!("CNode Rotate: Pivot cap invalid.");
                return Err(SyscallError::IllegalOperation);
            }
            Ok(CNodeOp::Rotate { src_cap: new_src, pivot_cap: new_pivot, src, pivot, dest })
        }
    }
}

/// Performs a decoded operation. Only revoke and delete can stop early
/// (preempted); everything else completes.
///
/// # Safety
/// The slots in `op` are live (they were just looked up, and nothing ran
/// since).
unsafe fn perform(op: CNodeOp, env: &mut dyn ObjectEnv) -> Result<(), InvocationError> {
    // Safety (whole function): per the caller's contract.
    unsafe {
        match op {
            CNodeOp::Revoke(slot) => delete::cte_revoke(slot, env)?,
            CNodeOp::Delete(slot) => delete::cte_delete(slot, true, env)?,
            CNodeOp::CancelBadgedSends(cap) => {
                if cap.badge() != 0 {
                    env.cancel_badged_sends(cap.ptr(), cap.badge());
                }
            }
            CNodeOp::Insert { cap, src, dest } => cte::cte_insert(cap, src, dest),
            CNodeOp::Move { cap, src, dest } => cte::cte_move(cap, src, dest),
            CNodeOp::Rotate { src_cap, pivot_cap, src, pivot, dest } => {
                if src == dest {
                    cte::cte_swap(src_cap, src, pivot_cap, pivot);
                } else {
                    cte::cte_move(pivot_cap, pivot, dest);
                    cte::cte_move(src_cap, src, pivot);
                }
            }
            CNodeOp::SaveCaller { caller, dest } => {
                if !caller.is_null() {
                    let cap = (*caller).cap;
                    // Only a one-shot reply cap moves; an empty caller slot
                    // (nobody to reply to) leaves everything as it is.
                    if cap.is_null() {
                        user_error!("CNode SaveCaller: Reply cap not present.");
                    } else if cap.as_one_shot_reply().is_some() {
                        cte::cte_move(cap, caller, dest);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Decodes and performs an invocation of the CNode `cap`.
///
/// # Safety
/// `inv.extra_caps` and `caller_slot` (if non-null) are live slots, and
/// the kernel's object invariants hold (caps point to live objects).
pub unsafe fn invoke(cap: CNodeCap, inv: &Invocation<'_>, caller_slot: *mut Cte, env: &mut dyn ObjectEnv) -> Result<(), InvocationError> {
    let op = decode(cap, inv, caller_slot)?;
    // Safety: decode returned slots it just looked up.
    unsafe { perform(op, env) }
}
