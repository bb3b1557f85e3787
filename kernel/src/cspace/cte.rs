//! Capability slots and the derivation tree (seL4's MDB).
//!
//! A slot (`Cte`) is a cap plus an MDB node. The MDB is one doubly linked
//! list in which every cap's descendants follow it directly; whether the
//! next node is a child is decided by `is_mdb_parent_of` from the caps
//! themselves, the node's `revocable` bit and the child's `first_badged`
//! bit, exactly as in seL4.
//!
//! Slots are addressed by raw pointers because they live inside kernel
//! objects (CNodes and TCBs) anywhere in memory. Every function that
//! follows a pointer is `unsafe` with the same contract: the pointers are
//! to live slots and the MDB links between slots are consistent.

use crate::cap::rules::{is_cap_revocable, same_object_as, same_region_as};
use crate::cap::{Cap, CapView};
use sel4_compat::caps::CapType;

/// An MDB node: word 0 holds the next pointer (low two bits clear) with
/// the revocable (bit 1) and first-badged (bit 0) flags; word 1 holds the
/// previous pointer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct MdbNode {
    words: [u64; 2],
}

impl MdbNode {
    pub const NULL: MdbNode = MdbNode { words: [0, 0] };

    pub fn new(next: *mut Cte, revocable: bool, first_badged: bool, prev: *mut Cte) -> MdbNode {
        MdbNode { words: [(next as u64 & !3) | (revocable as u64) << 1 | first_badged as u64, prev as u64] }
    }
    pub const fn next(&self) -> *mut Cte {
        (self.words[0] & !3) as *mut Cte
    }
    pub const fn prev(&self) -> *mut Cte {
        self.words[1] as *mut Cte
    }
    pub const fn revocable(&self) -> bool {
        self.words[0] & 2 != 0
    }
    pub const fn first_badged(&self) -> bool {
        self.words[0] & 1 != 0
    }
    /// `set_next` on a node whose next is null (one bitwise or).
    #[inline(always)]
    pub fn set_next_from_null(&mut self, next: *mut Cte) {
        // Slots are 32-byte aligned, so the pointer leaves the flag bits
        // alone.
        debug_assert!(self.next().is_null() && next as u64 & 3 == 0);
        self.words[0] |= next as u64;
    }
    pub fn set_next(&mut self, next: *mut Cte) {
        self.words[0] = (self.words[0] & 3) | (next as u64 & !3);
    }
    pub fn set_prev(&mut self, prev: *mut Cte) {
        self.words[1] = prev as u64;
    }
    pub fn set_revocable(&mut self, v: bool) {
        self.words[0] = (self.words[0] & !2) | (v as u64) << 1;
    }
    pub fn set_first_badged(&mut self, v: bool) {
        self.words[0] = (self.words[0] & !1) | v as u64;
    }
}

/// One capability slot: 32 bytes, as in seL4.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Cte {
    pub cap: Cap,
    pub mdb: MdbNode,
}

const _: () = assert!(core::mem::size_of::<Cte>() == 1 << sel4_compat::objects::SLOT_BITS);

/// # Safety
/// `slot` is a live slot.
unsafe fn cte<'a>(slot: *mut Cte) -> &'a mut Cte {
    // Safety: per the caller's contract.
    unsafe { &mut *slot }
}

/// seL4's `isMDBParentOf`: whether `b` (the node after `a`) is a child of `a`.
///
/// # Safety
/// Both are live slots.
pub unsafe fn is_mdb_parent_of(a: *const Cte, b: *const Cte) -> bool {
    // Safety: per the caller's contract.
    let (a, b) = unsafe { (&*a, &*b) };
    if !a.mdb.revocable() || !same_region_as(&a.cap, &b.cap) {
        return false;
    }
    let badge_of = |c: &Cap| match c.view() {
        CapView::Endpoint(ep) => Some(ep.badge()),
        CapView::Notification(ntfn) => Some(ntfn.badge()),
        // A minted vector is a receiver cap's badge (vector 0 included).
        CapView::UintrReceiver(r) => Some(r.vector().map_or(0, |v| v as u64 + 1)),
        _ => None,
    };
    match badge_of(&a.cap) {
        // A badged cap's children are the copies with the same badge that
        // were made from it, not a new badged subtree started after it.
        Some(badge) if badge != 0 => badge_of(&b.cap) == Some(badge) && !b.mdb.first_badged(),
        _ => true,
    }
}

/// Whether `slot` has any children (seL4's `ensureNoChildren` test).
///
/// # Safety
/// `slot` is a live slot in a consistent MDB.
pub unsafe fn has_children(slot: *mut Cte) -> bool {
    // Safety: per the caller's contract.
    let next = unsafe { cte(slot) }.mdb.next();
    // Safety: links of a consistent MDB point to live slots.
    !next.is_null() && unsafe { is_mdb_parent_of(slot, next) }
}

/// seL4's `isFinalCapability`: no other cap to the same object exists.
/// Caps to one object are always adjacent in the MDB.
///
/// # Safety
/// `slot` is a live slot in a consistent MDB.
pub unsafe fn is_final_capability(slot: *mut Cte) -> bool {
    // Safety: per the caller's contract.
    let c = unsafe { cte(slot) };
    let prev = c.mdb.prev();
    // Safety: MDB links point to live slots.
    if !prev.is_null() && same_object_as(&unsafe { cte(prev) }.cap, &c.cap) {
        return false;
    }
    let next = c.mdb.next();
    // Safety: as above.
    next.is_null() || !same_object_as(&c.cap, &unsafe { cte(next) }.cap)
}

/// seL4's `cteInsert`: puts `new_cap`, derived from the cap in `src`, into
/// the empty `dest` as `src`'s next node.
///
/// # Safety
/// `src` and `dest` are distinct live slots; `dest` is empty with null links.
pub unsafe fn cte_insert(new_cap: Cap, src: *mut Cte, dest: *mut Cte) {
    // Safety: per the caller's contract.
    let (s, d) = unsafe { (cte(src), cte(dest)) };
    debug_assert!(d.cap.is_null() && d.mdb == MdbNode::NULL);
    let revocable = is_cap_revocable(&new_cap, &s.cap);
    let mut mdb = s.mdb;
    mdb.set_prev(src);
    mdb.set_revocable(revocable);
    mdb.set_first_badged(revocable);
    // An untyped that hands out a copy of itself can no longer retype into
    // the memory the copy covers (seL4's `setUntypedCapAsFull`).
    if let (Some(src_ut), Some(new_ut)) = (s.cap.as_untyped(), new_cap.as_untyped()) {
        if src_ut.ptr() == new_ut.ptr() && src_ut.size_bits() == new_ut.size_bits() {
            s.cap = src_ut.with_free_index(1 << (src_ut.size_bits() - sel4_compat::objects::MIN_UNTYPED_BITS)).cap();
        }
    }
    d.cap = new_cap;
    d.mdb = mdb;
    s.mdb.set_next(dest);
    let next = mdb.next();
    if !next.is_null() {
        // Safety: MDB links point to live slots.
        unsafe { cte(next) }.mdb.set_prev(dest);
    }
}

/// [`cte_insert`] for a cap that is neither revocable from its source
/// (`is_cap_revocable` says no) nor an untyped: the links and flags it
/// would set, without its general tests. The one-shot reply cap every
/// slowpath Call inserts is such a cap.
///
/// # Safety
/// As for [`cte_insert`].
#[inline(always)]
pub unsafe fn cte_insert_unrevocable(new_cap: Cap, src: *mut Cte, dest: *mut Cte) {
    // Safety: per the caller's contract.
    let (s, d) = unsafe { (cte(src), cte(dest)) };
    debug_assert!(d.cap.is_null() && d.mdb == MdbNode::NULL);
    debug_assert!(!is_cap_revocable(&new_cap, &s.cap) && !new_cap.is(CapType::Untyped));
    let next = s.mdb.next();
    d.cap = new_cap;
    d.mdb = MdbNode::new(next, false, false, src);
    s.mdb.set_next(dest);
    if !next.is_null() {
        // Safety: MDB links point to live slots.
        unsafe { cte(next) }.mdb.set_prev(dest);
    }
}

/// seL4's `insertNewCap`: a freshly created object's cap goes right after
/// its parent untyped, revocable and first-badged.
///
/// # Safety
/// `parent` and `slot` are distinct live slots; `slot` is empty.
pub unsafe fn insert_new_cap(parent: *mut Cte, slot: *mut Cte, cap: Cap) {
    // Safety: per the caller's contract.
    let (p, s) = unsafe { (cte(parent), cte(slot)) };
    let next = p.mdb.next();
    s.cap = cap;
    s.mdb = MdbNode::new(next, true, true, parent);
    if !next.is_null() {
        // Safety: MDB links point to live slots.
        unsafe { cte(next) }.mdb.set_prev(slot);
    }
    p.mdb.set_next(slot);
}

/// seL4's `cteMove`: `new_cap` replaces the cap in `src`, which moves to
/// the empty `dest` keeping its place in the MDB.
///
/// # Safety
/// Distinct live slots; `dest` is empty with null links.
pub unsafe fn cte_move(new_cap: Cap, src: *mut Cte, dest: *mut Cte) {
    // Safety: per the caller's contract.
    let (s, d) = unsafe { (cte(src), cte(dest)) };
    debug_assert!(d.cap.is_null() && d.mdb == MdbNode::NULL);
    let mdb = s.mdb;
    d.cap = new_cap;
    d.mdb = mdb;
    s.cap = Cap::NULL;
    s.mdb = MdbNode::NULL;
    // Safety: MDB links point to live slots.
    unsafe { relink(mdb, dest) };
}

/// Points the neighbours named by `mdb` at `slot`.
///
/// # Safety
/// `mdb`'s links point to live slots.
unsafe fn relink(mdb: MdbNode, slot: *mut Cte) {
    if !mdb.prev().is_null() {
        // Safety: per the caller's contract.
        unsafe { cte(mdb.prev()) }.mdb.set_next(slot);
    }
    if !mdb.next().is_null() {
        // Safety: per the caller's contract.
        unsafe { cte(mdb.next()) }.mdb.set_prev(slot);
    }
}

/// seL4's `cteSwap`: exchanges two caps together with their MDB places.
///
/// # Safety
/// Distinct live slots.
pub unsafe fn cte_swap(cap1: Cap, slot1: *mut Cte, cap2: Cap, slot2: *mut Cte) {
    // Safety: per the caller's contract.
    let (a, b) = unsafe { (cte(slot1), cte(slot2)) };
    a.cap = cap2;
    b.cap = cap1;
    let mdb1 = a.mdb;
    // Safety: links of live slots.
    unsafe { relink(mdb1, slot2) };
    let mdb2 = b.mdb;
    a.mdb = mdb2;
    b.mdb = mdb1;
    // Safety: as above.
    unsafe { relink(mdb2, slot1) };
}

/// Unlinks a slot from the MDB and clears it (the MDB half of seL4's
/// `emptySlot`). A following cap inherits `first_badged`, so a badged
/// subtree keeps its boundary when its head goes.
///
/// # Safety
/// `slot` is a live slot in a consistent MDB.
#[inline(always)]
pub unsafe fn unlink_and_clear(slot: *mut Cte) {
    // Safety: per the caller's contract.
    let s = unsafe { cte(slot) };
    let mdb = s.mdb;
    let (prev, next) = (mdb.prev(), mdb.next());
    if !prev.is_null() {
        // Safety: MDB links point to live slots.
        unsafe { cte(prev) }.mdb.set_next(next);
    }
    if !next.is_null() {
        // Safety: as above.
        let n = unsafe { cte(next) };
        n.mdb.set_prev(prev);
        n.mdb.set_first_badged(n.mdb.first_badged() || mdb.first_badged());
    }
    s.cap = Cap::NULL;
    s.mdb = MdbNode::NULL;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(n: usize) -> Vec<Cte> {
        vec![Cte::default(); n]
    }

    const UT: u64 = 0xffff_ff80_0010_0000;

    #[test]
    fn insert_move_swap_keep_links_consistent() {
        let mut s = slots(4);
        let mut p: Vec<*mut Cte> = s.iter_mut().map(|c| c as *mut Cte).collect();
        // Safety: all pointers are into `s`, which outlives the block.
        unsafe {
            (*p[0]).cap = Cap::untyped(UT, 20, false, 0);
            (*p[0]).mdb = MdbNode::new(core::ptr::null_mut(), true, true, core::ptr::null_mut());
            insert_new_cap(p[0], p[1], Cap::endpoint(UT, 0, true, true, true, true));
            assert!(has_children(p[0]));
            cte_insert(Cap::endpoint(UT, 5, true, true, true, true), p[1], p[2]);
            assert_eq!((*p[1]).mdb.next(), p[2]);
            assert!((*p[2]).mdb.revocable(), "a newly badged copy starts a revocable subtree");
            assert!(is_mdb_parent_of(p[1], p[2]), "the original endpoint cap is the parent of every copy");
            cte_move((*p[2]).cap, p[2], p[3]);
            assert_eq!((*p[1]).mdb.next(), p[3]);
            assert!((*p[2]).cap.is_null());
            cte_swap((*p[1]).cap, p[1], (*p[3]).cap, p[3]);
            assert_eq!((*p[3]).cap.as_endpoint().unwrap().badge(), 0);
            assert_eq!((*p[0]).mdb.next(), p[3]);
            assert_eq!((*p[3]).mdb.next(), p[1]);
            assert_eq!((*p[1]).mdb.prev(), p[3]);
            unlink_and_clear(p[3]);
            assert_eq!((*p[0]).mdb.next(), p[1]);
            assert_eq!((*p[1]).mdb.prev(), p[0]);
        }
    }

    #[test]
    fn unrevocable_insert_matches_the_general_one() {
        let master = Cap::reply(UT, true, true);
        let reply = Cap::reply(UT, false, false);
        for with_next in [false, true] {
            let (mut a, mut b) = (slots(3), slots(3));
            let pa: Vec<*mut Cte> = a.iter_mut().map(|c| c as *mut Cte).collect();
            let pb: Vec<*mut Cte> = b.iter_mut().map(|c| c as *mut Cte).collect();
            // Safety: pointers into `a` and `b`, which outlive the block.
            unsafe {
                for p in [&pa, &pb] {
                    let (first, last) = (p[0], p[2]);
                    (*first).cap = master;
                    (*first).mdb = MdbNode::new(core::ptr::null_mut(), true, true, core::ptr::null_mut());
                    if with_next {
                        cte_insert(reply, first, last);
                    }
                }
                cte_insert(reply, pa[0], pa[1]);
                cte_insert_unrevocable(reply, pb[0], pb[1]);
                for i in 0..3 {
                    let (x, y) = (&*pa[i], &*pb[i]);
                    assert_eq!(x.cap, y.cap);
                    let rebase = |p: *mut Cte, from: &[*mut Cte]| from.iter().position(|&q| q == p);
                    assert_eq!(rebase(x.mdb.next(), &pa), rebase(y.mdb.next(), &pb));
                    assert_eq!(rebase(x.mdb.prev(), &pa), rebase(y.mdb.prev(), &pb));
                    assert_eq!((x.mdb.revocable(), x.mdb.first_badged()), (y.mdb.revocable(), y.mdb.first_badged()));
                }
            }
        }
    }

    #[test]
    fn final_capability() {
        let mut s = slots(3);
        let mut p: Vec<*mut Cte> = s.iter_mut().map(|c| c as *mut Cte).collect();
        // Safety: pointers into `s`.
        unsafe {
            (*p[0]).cap = Cap::endpoint(UT, 0, true, true, true, true);
            assert!(is_final_capability(p[0]));
            cte_insert((*p[0]).cap, p[0], p[1]);
            assert!(!is_final_capability(p[0]) && !is_final_capability(p[1]));
            unlink_and_clear(p[0]);
            assert!(is_final_capability(p[1]));
        }
    }
}
