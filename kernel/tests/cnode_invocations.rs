//! CNode invocations with seL4's results and error codes.

mod common;

use common::*;
use kernel::cspace::lookup::LookupFault;
use kernel::object::invocation::{InvocationError, SyscallError};
use sel4_compat::caps::CapType;
use sel4_compat::invocation::*;
use sel4_compat::object_type as ty;

const ALL_RIGHTS: u64 = 0xf;

fn err(e: SyscallError) -> Result<(), InvocationError> {
    Err(InvocationError::Syscall(e))
}

/// A world with an endpoint at slot 10.
fn with_endpoint() -> World {
    let mut w = World::new();
    w.retype(UNTYPED_SLOT, ty::ENDPOINT, 0, 10, 1).unwrap();
    w
}

#[test]
fn copy_mint_and_revoke() {
    let mut w = with_endpoint();
    w.cnode(CNODE_COPY, &[11, 64, 10, 64, ALL_RIGHTS], &[ROOT_CNODE_SLOT]).unwrap();
    w.cnode(CNODE_MINT, &[12, 64, 10, 64, 0b0010, 99], &[ROOT_CNODE_SLOT]).unwrap();
    assert!(w.cap(11).as_endpoint().is_some_and(|ep| ep.badge() == 0));
    let minted = w.cap(12).as_endpoint().unwrap();
    assert_eq!(minted.badge(), 99);
    assert!(!minted.can_send() && minted.can_receive() && !minted.can_grant());
    w.check_mdb();
    let mut d = w.descendants(10);
    d.sort();
    assert_eq!(d, vec![11, 12]);
    w.cnode(CNODE_REVOKE, &[10, 64], &[]).unwrap();
    assert!(w.cap(11).is_null() && w.cap(12).is_null() && w.cap(10).is(CapType::Endpoint));
    w.check_mdb();
}

#[test]
fn badged_caps_cannot_be_rebadged_and_mutate_cannot_badge() {
    let mut w = with_endpoint();
    w.cnode(CNODE_MINT, &[12, 64, 10, 64, ALL_RIGHTS, 5], &[ROOT_CNODE_SLOT]).unwrap();
    assert_eq!(w.cnode(CNODE_MINT, &[13, 64, 12, 64, ALL_RIGHTS, 6], &[ROOT_CNODE_SLOT]), err(SyscallError::IllegalOperation));
    assert_eq!(w.cnode(CNODE_MUTATE, &[13, 64, 10, 64, 7], &[ROOT_CNODE_SLOT]), err(SyscallError::IllegalOperation));
}

#[test]
fn revoking_a_badged_cap_removes_only_its_copies() {
    let mut w = with_endpoint();
    w.cnode(CNODE_MINT, &[12, 64, 10, 64, ALL_RIGHTS, 5], &[ROOT_CNODE_SLOT]).unwrap();
    w.cnode(CNODE_COPY, &[13, 64, 12, 64, ALL_RIGHTS], &[ROOT_CNODE_SLOT]).unwrap();
    w.cnode(CNODE_MINT, &[14, 64, 10, 64, ALL_RIGHTS, 6], &[ROOT_CNODE_SLOT]).unwrap();
    assert_eq!(w.descendants(12), vec![13]);
    w.cnode(CNODE_REVOKE, &[12, 64], &[]).unwrap();
    assert!(w.cap(13).is_null());
    assert_eq!(w.cap(14).as_endpoint().unwrap().badge(), 6, "the other badge's subtree is untouched");
    w.check_mdb();
}

/// A minted receiver cap (its vector is its badge) is the parent of its
/// own copies only: not of the unminted copies or of other vectors'
/// subtrees that were inserted after it (the copy a TCB binding holds is
/// one), so revoking one sender's vector leaves the rest alone.
#[test]
fn revoking_a_minted_receiver_cap_removes_only_its_copies() {
    let mut w = World::new();
    w.retype(UNTYPED_SLOT, sel4_compat::uintr::object_type::UINTR_RECEIVER, 0, 10, 1).unwrap();
    w.cnode(CNODE_COPY, &[11, 64, 10, 64, ALL_RIGHTS], &[ROOT_CNODE_SLOT]).unwrap();
    w.cnode(CNODE_MINT, &[13, 64, 10, 64, ALL_RIGHTS, 0], &[ROOT_CNODE_SLOT]).unwrap();
    w.cnode(CNODE_MINT, &[12, 64, 10, 64, ALL_RIGHTS, 5], &[ROOT_CNODE_SLOT]).unwrap();
    w.cnode(CNODE_COPY, &[14, 64, 12, 64, ALL_RIGHTS], &[ROOT_CNODE_SLOT]).unwrap();
    assert_eq!(w.descendants(12), vec![14]);
    w.cnode(CNODE_REVOKE, &[12, 64], &[]).unwrap();
    assert!(w.cap(14).is_null());
    assert!(w.cap(11).as_uintr_receiver().is_some_and(|r| r.vector().is_none()), "the unminted copy is untouched");
    assert_eq!(w.cap(13).as_uintr_receiver().unwrap().vector(), Some(0), "vector 0's subtree is untouched");
    w.cnode(CNODE_REVOKE, &[13, 64], &[]).unwrap();
    assert!(w.cap(11).is(CapType::UintrReceiver) && w.cap(12).as_uintr_receiver().unwrap().vector() == Some(5));
    w.check_mdb();
}

#[test]
fn destination_and_source_errors() {
    let mut w = with_endpoint();
    assert_eq!(w.cnode(CNODE_COPY, &[10, 64, 10, 64, ALL_RIGHTS], &[ROOT_CNODE_SLOT]), err(SyscallError::DeleteFirst));
    assert_eq!(
        w.cnode(CNODE_COPY, &[11, 64, 30, 64, ALL_RIGHTS], &[ROOT_CNODE_SLOT]),
        err(SyscallError::FailedLookup { source: true, fault: LookupFault::MissingCapability { bits_left: 64 } })
    );
    assert_eq!(w.cnode(CNODE_COPY, &[11, 0, 10, 64, ALL_RIGHTS], &[ROOT_CNODE_SLOT]), err(SyscallError::RangeError { min: 1, max: 64 }));
    assert_eq!(w.cnode(CNODE_COPY, &[11, 65, 10, 64, ALL_RIGHTS], &[ROOT_CNODE_SLOT]), err(SyscallError::RangeError { min: 1, max: 64 }));
    // A depth that stops inside the root CNode's guard.
    assert_eq!(
        w.cnode(CNODE_DELETE, &[11, 8], &[]),
        err(SyscallError::FailedLookup { source: false, fault: LookupFault::GuardMismatch { bits_left: 8, guard_found: 0, guard_size: 56 } })
    );
    // A source root that is not a CNode.
    assert_eq!(
        w.cnode(CNODE_COPY, &[11, 64, 10, 64, ALL_RIGHTS], &[10]),
        err(SyscallError::FailedLookup { source: true, fault: LookupFault::InvalidRoot })
    );
}

#[test]
fn truncated_and_illegal() {
    let mut w = with_endpoint();
    assert_eq!(w.cnode(CNODE_COPY, &[11], &[]), err(SyscallError::TruncatedMessage));
    assert_eq!(w.cnode(CNODE_COPY, &[11, 64, 10, 64], &[ROOT_CNODE_SLOT]), err(SyscallError::TruncatedMessage));
    assert_eq!(w.cnode(CNODE_COPY, &[11, 64, 10, 64, ALL_RIGHTS], &[]), err(SyscallError::TruncatedMessage));
    assert_eq!(w.cnode(CNODE_MINT, &[11, 64, 10, 64, ALL_RIGHTS], &[ROOT_CNODE_SLOT]), err(SyscallError::TruncatedMessage));
    assert_eq!(w.cnode(CNODE_ROTATE, &[11, 64, 0, 10, 64, 0, 12, 64], &[ROOT_CNODE_SLOT]), err(SyscallError::TruncatedMessage));
    assert_eq!(w.cnode(UNTYPED_RETYPE, &[11, 64], &[]), err(SyscallError::IllegalOperation));
    assert_eq!(w.cnode(X86_PAGE_MAP, &[11, 64], &[]), err(SyscallError::IllegalOperation));
}

#[test]
fn move_and_mutate() {
    let mut w = with_endpoint();
    w.cnode(CNODE_MOVE, &[20, 64, 10, 64], &[ROOT_CNODE_SLOT]).unwrap();
    assert!(w.cap(10).is_null() && w.cap(20).is(CapType::Endpoint));
    w.check_mdb();
    // Mutate a CNode cap's guard: guard 3 of size 2 (data = guard << 6 | size).
    w.retype(UNTYPED_SLOT, ty::CAP_TABLE, 4, 21, 1).unwrap();
    w.cnode(CNODE_MUTATE, &[22, 64, 21, 64, 3 << 6 | 2], &[ROOT_CNODE_SLOT]).unwrap();
    let c = w.cap(22).as_cnode().unwrap();
    assert_eq!((c.guard(), c.guard_size(), c.radix()), (3, 2, 4));
    assert!(w.cap(21).is_null());
    // A guard that would exceed 64 bits with the radix is refused.
    assert_eq!(w.cnode(CNODE_MUTATE, &[23, 64, 22, 64, 61], &[ROOT_CNODE_SLOT]), err(SyscallError::IllegalOperation));
}

#[test]
fn rotate_three_slots_and_swap() {
    // Rotate keeps data (Mutate semantics), which endpoint and notification
    // caps refuse; use a CNode and a TCB.
    let mut w = World::new();
    w.retype(UNTYPED_SLOT, ty::CAP_TABLE, 2, 10, 1).unwrap();
    w.retype(UNTYPED_SLOT, ty::TCB, 0, 11, 1).unwrap();
    let (cn, tcb) = (w.cap(10), w.cap(11));
    // dest 12 <- pivot 11 <- src 10
    w.cnode(CNODE_ROTATE, &[12, 64, 0, 11, 64, 0, 10, 64], &[ROOT_CNODE_SLOT, ROOT_CNODE_SLOT]).unwrap();
    assert_eq!((w.cap(10), w.cap(11), w.cap(12)), (kernel::object::cap::Cap::NULL, cn, tcb));
    // dest == src swaps src and pivot.
    w.cnode(CNODE_ROTATE, &[11, 64, 0, 12, 64, 0, 11, 64], &[ROOT_CNODE_SLOT, ROOT_CNODE_SLOT]).unwrap();
    assert_eq!((w.cap(11), w.cap(12)), (tcb, cn));
    w.check_mdb();
    assert_eq!(w.cnode(CNODE_ROTATE, &[13, 64, 0, 11, 64, 0, 11, 64], &[ROOT_CNODE_SLOT, ROOT_CNODE_SLOT]), err(SyscallError::IllegalOperation));
    assert_eq!(
        w.cnode(CNODE_ROTATE, &[13, 64, 0, 40, 64, 0, 11, 64], &[ROOT_CNODE_SLOT, ROOT_CNODE_SLOT]),
        err(SyscallError::FailedLookup { source: false, fault: LookupFault::MissingCapability { bits_left: 64 } })
    );
    w.retype(UNTYPED_SLOT, ty::ENDPOINT, 0, 30, 1).unwrap();
    assert_eq!(
        w.cnode(CNODE_ROTATE, &[31, 64, 0, 11, 64, 0, 30, 64], &[ROOT_CNODE_SLOT, ROOT_CNODE_SLOT]),
        err(SyscallError::IllegalOperation),
        "an endpoint cap cannot keep its data through Rotate"
    );
}

#[test]
fn cancel_badged_sends_needs_full_rights_and_a_badge() {
    let mut w = with_endpoint();
    w.cnode(CNODE_MINT, &[12, 64, 10, 64, ALL_RIGHTS, 5], &[ROOT_CNODE_SLOT]).unwrap();
    w.cnode(CNODE_MINT, &[13, 64, 10, 64, 0b0011, 6], &[ROOT_CNODE_SLOT]).unwrap();
    w.cnode(CNODE_CANCEL_BADGED_SENDS, &[12, 64], &[]).unwrap();
    assert_eq!(w.env.cancelled, vec![(w.cap(12).as_endpoint().unwrap().ptr(), 5)]);
    assert_eq!(w.cnode(CNODE_CANCEL_BADGED_SENDS, &[13, 64], &[]), err(SyscallError::IllegalOperation));
    w.cnode(CNODE_CANCEL_BADGED_SENDS, &[10, 64], &[]).unwrap();
    assert_eq!(w.env.cancelled.len(), 1, "an unbadged cap cancels nothing");
}

#[test]
fn copying_unassigned_vspace_or_irq_control_is_refused() {
    let mut w = World::new();
    w.retype(UNTYPED_SLOT, ty::X64_PML4, 0, 10, 1).unwrap();
    assert_eq!(w.cnode(CNODE_COPY, &[11, 64, 10, 64, ALL_RIGHTS], &[ROOT_CNODE_SLOT]), err(SyscallError::IllegalOperation));
    w.cnode[12].cap = kernel::object::cap::Cap::irq_control();
    w.cnode[12].mdb = kernel::cspace::cte::MdbNode::new(core::ptr::null_mut(), true, true, core::ptr::null_mut());
    assert_eq!(w.cnode(CNODE_COPY, &[13, 64, 12, 64, ALL_RIGHTS], &[ROOT_CNODE_SLOT]), err(SyscallError::IllegalOperation));
}

#[test]
fn delete_last_cap_finalises_the_object() {
    let mut w = with_endpoint();
    w.cnode(CNODE_COPY, &[11, 64, 10, 64, ALL_RIGHTS], &[ROOT_CNODE_SLOT]).unwrap();
    w.cnode(CNODE_DELETE, &[10, 64], &[]).unwrap();
    assert!(w.env.finalised.is_empty(), "a copy remains, so the endpoint is not finalised");
    w.cnode(CNODE_DELETE, &[11, 64], &[]).unwrap();
    assert_eq!(w.env.finalised.len(), 1);
    assert!(w.env.finalised[0].1);
    // Deleting an empty slot is not an error.
    w.cnode(CNODE_DELETE, &[11, 64], &[]).unwrap();
}

#[test]
fn deleting_a_cnode_that_holds_a_cap_to_itself_terminates() {
    let mut w = World::new();
    w.retype(UNTYPED_SLOT, ty::CAP_TABLE, 3, 10, 1).unwrap();
    let child = w.cap(10);
    // Put a copy of the child CNode's cap into its own slot 5, and an
    // endpoint into its slot 6.
    let child_guarded = child.as_cnode().unwrap().with_guard_and_size(0, 64 - 3).cap();
    w.cnode_with(child_guarded, CNODE_COPY, &[5, 64, 10, 64, ALL_RIGHTS], &[ROOT_CNODE_SLOT]).unwrap();
    w.retype(UNTYPED_SLOT, ty::ENDPOINT, 0, 11, 1).unwrap();
    w.cnode_with(child_guarded, CNODE_MOVE, &[6, 64, 11, 64], &[ROOT_CNODE_SLOT]).unwrap();
    w.cnode_to_completion(CNODE_DELETE, &[10, 64], &[]).unwrap();
    // The child CNode's own copy keeps it alive: no zombie yet.
    assert!(w.cap(10).is_null());
    // Revoke the untyped: everything derived goes, including the CNode
    // reachable only through itself.
    w.cnode_to_completion(CNODE_REVOKE, &[UNTYPED_SLOT, 64], &[]).unwrap();
    w.check_mdb();
    assert!(w.descendants(UNTYPED_SLOT).is_empty());
    let ends: Vec<_> = w.env.finalised.iter().filter(|(c, _)| c.is(CapType::Endpoint)).collect();
    assert_eq!(ends.len(), 1, "the endpoint inside the dead CNode was finalised");
}

#[test]
fn deleting_a_tcb_goes_through_a_zombie() {
    let mut w = World::new();
    w.retype(UNTYPED_SLOT, ty::TCB, 0, 10, 1).unwrap();
    w.cnode_to_completion(CNODE_DELETE, &[10, 64], &[]).unwrap();
    assert!(w.cap(10).is_null());
    assert!(w.env.finalised.iter().any(|(c, f)| c.is(CapType::Thread) && *f));
    w.check_mdb();
}

#[test]
fn preempted_revoke_restarts_to_the_same_result() {
    let mut w = with_endpoint();
    for i in 0..60 {
        w.cnode(CNODE_COPY, &[20 + i, 64, 10, 64, ALL_RIGHTS], &[ROOT_CNODE_SLOT]).unwrap();
    }
    w.env.preempt_every = 7;
    let mut restarts = 0;
    loop {
        match w.cnode(CNODE_REVOKE, &[10, 64], &[]) {
            Err(InvocationError::Preempted) => restarts += 1,
            r => {
                r.unwrap();
                break;
            }
        }
    }
    assert!(restarts >= 8, "only {restarts} restarts");
    assert!((20..80).all(|i| w.cap(i).is_null()));
    w.check_mdb();
}

#[test]
fn deleting_a_badged_head_keeps_its_copies_out_of_a_sibling_subtree() {
    let mut w = with_endpoint();
    w.cnode(CNODE_MINT, &[12, 64, 10, 64, ALL_RIGHTS, 5], &[ROOT_CNODE_SLOT]).unwrap();
    w.cnode(CNODE_COPY, &[13, 64, 12, 64, ALL_RIGHTS], &[ROOT_CNODE_SLOT]).unwrap();
    // A second cap with the same badge, minted from the original, lands
    // right after it in the MDB, ahead of the first badged subtree.
    w.cnode(CNODE_MINT, &[14, 64, 10, 64, ALL_RIGHTS, 5], &[ROOT_CNODE_SLOT]).unwrap();
    assert!(w.descendants(14).is_empty());
    w.cnode(CNODE_DELETE, &[12, 64], &[]).unwrap();
    assert!(w.descendants(14).is_empty(), "the deleted head's copy must not become the other mint's child");
    w.cnode(CNODE_REVOKE, &[14, 64], &[]).unwrap();
    assert!(w.cap(13).is(CapType::Endpoint));
}
