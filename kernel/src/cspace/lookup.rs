//! Guarded-page-table lookup of a capability pointer.
//!
//! Each CNode level consumes `guard_size` bits that must equal the guard
//! and then `radix` bits of index. Lookup stops when the requested depth
//! is used up or when the slot reached holds something other than a
//! CNode. Failures carry exactly what seL4 reports to user level.

use crate::cap::{CNodeCap, Cap};

/// seL4's `lookup_fault`, written to the IPC buffer on a failed lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupFault {
    InvalidRoot,
    MissingCapability { bits_left: u32 },
    DepthMismatch { bits_left: u32, bits_found: u32 },
    GuardMismatch { bits_left: u32, guard_found: u64, guard_size: u32 },
}

/// Access to CNode slots, by CNode pointer and index.
pub trait CNodeStore {
    /// Address of slot `index` of the CNode at `cnode`.
    fn slot(&self, cnode: u64, index: u64) -> u64;
    /// The capability in the slot at `slot`.
    fn cap_at(&self, slot: u64) -> Cap;
    /// The address of the CNode a CNode cap names, as `slot` takes it.
    fn cnode_base(&self, node: &CNodeCap) -> u64 {
        node.ptr()
    }
}

/// The result of a successful resolution: the slot reached and the bits
/// of the pointer not consumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub slot: u64,
    pub bits_remaining: u32,
}

fn low_bits(value: u64, bits: u32) -> u64 {
    if bits >= 64 {
        value
    } else {
        value & ((1u64 << bits) - 1)
    }
}

/// Resolves the top `n_bits` of `cptr` starting at the CNode `root`.
///
/// Generic over the store so that the kernel's (plain memory) inlines:
/// this walk is on the path of every syscall, the fastpath's included.
pub fn resolve_address_bits<S: CNodeStore + ?Sized>(store: &S, root: Cap, cptr: u64, mut n_bits: u32) -> Result<Resolved, LookupFault> {
    let Some(mut node) = root.as_cnode() else {
        return Err(LookupFault::InvalidRoot);
    };
    loop {
        let radix = node.radix();
        let guard_size = node.guard_size();
        let level_bits = radix + guard_size;
        // A CNode that consumes no bits would loop forever; seL4 rules it
        // out at creation, and this guard keeps a corrupt one harmless.
        if level_bits == 0 {
            return Err(LookupFault::InvalidRoot);
        }
        let guard = node.guard();
        let guard_found = if guard_size == 0 || guard_size > n_bits { 0 } else { low_bits(cptr >> (n_bits - guard_size), guard_size) };
        if guard_size > n_bits || guard_found != guard {
            return Err(LookupFault::GuardMismatch { bits_left: n_bits, guard_found: guard, guard_size });
        }
        if level_bits > n_bits {
            return Err(LookupFault::DepthMismatch { bits_left: n_bits, bits_found: level_bits });
        }
        let index = low_bits(cptr >> (n_bits - level_bits), radix);
        let slot = store.slot(node.ptr(), index);
        if level_bits == n_bits {
            return Ok(Resolved { slot, bits_remaining: 0 });
        }
        n_bits -= level_bits;
        let Some(next) = store.cap_at(slot).as_cnode() else {
            return Ok(Resolved { slot, bits_remaining: n_bits });
        };
        node = next;
    }
}

/// The fastpath's lookup (what seL4 calls `lookup_fp`): the cap that
/// `cptr` names with a full-word depth from `root`, or `None` wherever
/// [`resolve_address_bits`] fails. The same walk without the failure's
/// details, which the fastpath does not need: on `None` it leaves the
/// syscall to the slowpath, whose lookup reports them. A host property
/// test holds the two to the same answers.
#[inline(always)]
pub fn lookup_cap_fast<S: CNodeStore + ?Sized>(store: &S, root: Cap, cptr: u64) -> Option<Cap> {
    lookup_fast(store, root, cptr).map(|(_, cap)| cap)
}

/// [`lookup_cap_fast`]'s walk for the slowpath's full-depth lookups
/// (seL4's `lookupCapAndSlot` from a thread's root): the slot as
/// [`resolve_address_bits`] finds it, or `None` wherever that fails, so
/// that only a failed lookup pays for the full walk's failure details.
#[inline(always)]
pub fn lookup_slot_fast<S: CNodeStore + ?Sized>(store: &S, root: Cap, cptr: u64) -> Option<u64> {
    lookup_fast(store, root, cptr).map(|(slot, _)| slot)
}

/// The walk of [`lookup_cap_fast`] and [`lookup_slot_fast`]: the slot
/// reached and the cap in it.
#[inline(always)]
fn lookup_fast<S: CNodeStore + ?Sized>(store: &S, root: Cap, cptr: u64) -> Option<(u64, Cap)> {
    let root = root.as_cnode()?;
    // The first level on its own: most CSpaces resolve a whole word in
    // one CNode, and this way its code is not behind the loop's setup.
    let (mut slot, mut cap, mut bits_left) = fast_level(store, root, cptr, 64)?;
    let mut rest = cptr;
    let mut consumed = 64 - bits_left;
    while bits_left != 0 {
        let Some(node) = cap.as_cnode() else { break };
        rest <<= consumed;
        let before = bits_left;
        (slot, cap, bits_left) = fast_level(store, node, rest, bits_left)?;
        consumed = before - bits_left;
    }
    Some((slot, cap))
}

/// One level of [`lookup_fast`]: the slot `rest`'s top bits name in
/// the CNode `node` with `bits_left` bits to go, the cap in it and the
/// bits left after it, or `None` on a guard or depth mismatch.
#[inline(always)]
fn fast_level<S: CNodeStore + ?Sized>(store: &S, node: CNodeCap, rest: u64, bits_left: u32) -> Option<(u64, Cap, u32)> {
    let radix = node.radix();
    let guard_size = node.guard_size();
    let level_bits = radix + guard_size;
    if level_bits == 0 || level_bits > bits_left {
        return None;
    }
    // This level's guard and index, as one number (1..=64 bits): the
    // guard is what lies above the index. With no guard that is 0, which
    // must then equal the cap's guard, as in the full walk.
    let level = rest >> (64 - level_bits);
    let guard = node.guard();
    if level >> radix != guard {
        return None;
    }
    // The guard matched, so it is below 2^guard_size and what it leaves
    // of `level` is the index.
    let index = level - (guard << radix);
    let slot = store.slot(store.cnode_base(&node), index);
    Some((slot, store.cap_at(slot), bits_left - level_bits))
}

/// CNodes as they are in kernel memory: a CNode cap's pointer is the
/// address of its first 32-byte slot.
pub struct SlotMemory;

impl CNodeStore for SlotMemory {
    fn slot(&self, cnode: u64, index: u64) -> u64 {
        cnode + (index << sel4_compat::objects::SLOT_BITS)
    }
    fn cap_at(&self, slot: u64) -> Cap {
        // Safety: slot addresses come from `slot()` on the pointer of a CNode
        // cap with an index below its radix; caps only ever point at live
        // objects, so the slot is inside a live CNode.
        unsafe { (slot as *const Cap).read() }
    }
    #[inline(always)]
    fn cnode_base(&self, node: &CNodeCap) -> u64 {
        debug_assert_eq!(node.kernel_ptr(), node.ptr());
        node.kernel_ptr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;
    use std::collections::HashMap;

    /// CNodes as maps from slot address to cap; slot = cnode + index * 32.
    #[derive(Default)]
    struct Store {
        caps: HashMap<u64, Cap>,
    }
    impl CNodeStore for Store {
        fn slot(&self, cnode: u64, index: u64) -> u64 {
            cnode + index * 32
        }
        fn cap_at(&self, slot: u64) -> Cap {
            self.caps.get(&slot).copied().unwrap_or(Cap::NULL)
        }
    }

    const ROOT: u64 = 0xffff_ff80_0100_0000;
    const CHILD: u64 = 0xffff_ff80_0200_0000;

    fn root_cap() -> Cap {
        Cap::cnode(ROOT, 13, 64 - 13, 0)
    }

    #[test]
    fn single_level_like_the_root_cnode() {
        let s = Store::default();
        let r = resolve_address_bits(&s, root_cap(), 5, 64).unwrap();
        assert_eq!(r, Resolved { slot: ROOT + 5 * 32, bits_remaining: 0 });
        // A non-zero guard bit is a guard mismatch reporting the guard.
        let e = resolve_address_bits(&s, root_cap(), 1 << 40 | 5, 64).unwrap_err();
        assert_eq!(e, LookupFault::GuardMismatch { bits_left: 64, guard_found: 0, guard_size: 51 });
    }

    #[test]
    fn depth_mismatch_when_depth_is_too_small() {
        let s = Store::default();
        let e = resolve_address_bits(&s, Cap::cnode(ROOT, 13, 0, 0), 5, 8).unwrap_err();
        assert_eq!(e, LookupFault::DepthMismatch { bits_left: 8, bits_found: 13 });
    }

    #[test]
    fn two_levels_and_stopping_at_a_non_cnode() {
        let mut s = Store::default();
        let root = Cap::cnode(ROOT, 4, 0, 0);
        s.caps.insert(ROOT + 3 * 32, Cap::cnode(CHILD, 4, 2, 0b10));
        s.caps.insert(CHILD + 9 * 32, Cap::thread(0xffff_ff80_0300_0000));
        // 4 bits index 3, then guard 0b10, then index 9: 10 bits in all.
        let cptr = 3 << 6 | 0b10 << 4 | 9;
        let r = resolve_address_bits(&s, root, cptr, 10).unwrap();
        assert_eq!(r, Resolved { slot: CHILD + 9 * 32, bits_remaining: 0 });
        // Asking for more bits stops at the thread cap with bits left over.
        let r = resolve_address_bits(&s, root, cptr << 3, 13).unwrap();
        assert_eq!(r, Resolved { slot: CHILD + 9 * 32, bits_remaining: 3 });
        // Wrong guard at the second level.
        let e = resolve_address_bits(&s, root, 3 << 6 | 0b01 << 4 | 9, 10).unwrap_err();
        assert_eq!(e, LookupFault::GuardMismatch { bits_left: 6, guard_found: 0b10, guard_size: 2 });
    }

    proptest::proptest! {
        /// The fast lookups find exactly the cap and slot the full one
        /// does, and fail exactly where it fails: two-level CSpaces of random
        /// shape, pointers that follow them, stray or not.
        #[test]
        fn fast_lookup_agrees_with_resolve_address_bits(
            (r1, g1) in (1u32..=13).prop_flat_map(|r| (proptest::strategy::Just(r), 0u32..=(64 - r))),
            guard1: u64,
            (r2, g2) in (0u32..=8).prop_flat_map(|r| (proptest::strategy::Just(r), 0u32..=8)),
            guard2: u64,
            child_at: u64,
            use_right_guards: bool,
            index1: u64,
            rest: u64,
            thread_at: u64,
        ) {
            let mask = |v: u64, bits: u32| if bits == 0 { 0 } else { v & (u64::MAX >> (64 - bits)) };
            let (guard1, guard2) = (mask(guard1, g1), mask(guard2, g2));
            let mut s = Store::default();
            let root = Cap::cnode(ROOT, r1, g1, guard1);
            let child_at = mask(child_at, r1);
            if r2 + g2 > 0 {
                s.caps.insert(ROOT + child_at * 32, Cap::cnode(CHILD, r2, g2, guard2));
            }
            s.caps.insert(CHILD + mask(thread_at, r2) * 32, Cap::thread(0xffff_ff80_0300_0000));
            // A pointer through root slot `index1` (the child's, half the time).
            let index1 = if index1 % 2 == 0 { child_at } else { mask(index1, r1) };
            let first = (if use_right_guards { guard1 } else { mask(rest >> 7, g1) } << r1) | index1;
            let first_bits = g1 + r1;
            let cptr = if first_bits == 64 { first } else { first << (64 - first_bits) | mask(rest, 64 - first_bits) };
            let full = resolve_address_bits(&s, root, cptr, 64).ok();
            proptest::prop_assert_eq!(lookup_cap_fast(&s, root, cptr), full.map(|r| s.cap_at(r.slot)));
            proptest::prop_assert_eq!(lookup_slot_fast(&s, root, cptr), full.map(|r| r.slot));
        }
    }

    #[test]
    fn invalid_root() {
        let s = Store::default();
        assert_eq!(resolve_address_bits(&s, Cap::NULL, 0, 64), Err(LookupFault::InvalidRoot));
        assert_eq!(resolve_address_bits(&s, Cap::cnode(ROOT, 0, 0, 0), 0, 64), Err(LookupFault::InvalidRoot));
    }
}
