//! Deleting and revoking capabilities, with seL4's finalisation through
//! zombies so that deleting a CNode or TCB that (transitively) holds
//! caps to itself terminates, and so that long deletions stop at
//! preemption points and resume on restart.

use super::cte::{self, Cte};
use crate::cap::env::{ObjectEnv, Preempted};
use crate::cap::rules::tcb_object_base;
use crate::cap::{Cap, CapView, TCB_CNODE_ENTRIES, ZOMBIE_TYPE_TCB};

/// What finalising a cap leaves behind: the cap to keep in the slot
/// (null or a zombie) and a cap whose resources are released once the
/// slot is empty.
struct Finalised {
    remainder: Cap,
    cleanup: Cap,
}

fn done() -> Finalised {
    Finalised { remainder: Cap::NULL, cleanup: Cap::NULL }
}

/// seL4's `finaliseCap`. With `exposed` the cap must finalise at once
/// (no zombie), which holds for every cap `cte_delete_one` sees.
fn finalise_cap(cap: Cap, is_final: bool, exposed: bool, env: &mut dyn ObjectEnv) -> Finalised {
    match cap.view() {
        CapView::Endpoint(_) | CapView::Notification(_) => {
            if is_final {
                env.finalise(&cap, true);
            }
            done()
        }
        CapView::Null(_) | CapView::Domain(_) | CapView::Reply(_) => done(),
        CapView::CNode(cn) if is_final => {
            assert!(!exposed, "finalise_cap: a CNode cannot be finalised immediately");
            let radix = cn.radix() as u64;
            Finalised { remainder: Cap::zombie(1 << radix, radix, cn.ptr()), cleanup: Cap::NULL }
        }
        CapView::Thread(thread) if is_final => {
            assert!(!exposed, "finalise_cap: a TCB cannot be finalised immediately");
            env.finalise(&cap, true);
            let slots = tcb_object_base(thread.tcb());
            Finalised { remainder: Cap::zombie(TCB_CNODE_ENTRIES, ZOMBIE_TYPE_TCB, slots), cleanup: Cap::NULL }
        }
        CapView::Zombie(_) => Finalised { remainder: cap, cleanup: Cap::NULL },
        CapView::IrqHandler(_) | CapView::IoPort(_) if is_final => {
            env.finalise(&cap, true);
            Finalised { remainder: Cap::NULL, cleanup: cap }
        }
        CapView::Frame(frame) => {
            // A mapped frame cap is unmapped when deleted, final or not.
            if frame.mapped_asid() != 0 {
                env.finalise(&cap, is_final);
            }
            done()
        }
        CapView::PageTable(_) | CapView::PageDirectory(_) | CapView::Pdpt(_) => {
            if is_final && cap.as_paging().is_some_and(|table| table.mapped()) {
                env.finalise(&cap, true);
            }
            done()
        }
        CapView::Pml4(pml4) => {
            if is_final && pml4.mapped() {
                env.finalise(&cap, true);
            }
            done()
        }
        CapView::AsidPool(_) => {
            if is_final {
                env.finalise(&cap, true);
            }
            done()
        }
        // A copy held by a UITT entry or a TCB undoes its binding whether
        // or not it is final.
        CapView::UintrReceiver(_) => {
            env.finalise(&cap, is_final);
            done()
        }
        // Final or not: a copy may be the one a thread's UITT slot holds,
        // whose table the CPU may have loaded.
        CapView::Uitt(_) => {
            env.finalise(&cap, is_final);
            done()
        }
        _ => done(),
    }
}

/// Whether a finalised remainder may be removed from `slot` now.
fn cap_removable(cap: &Cap, slot: *mut Cte) -> bool {
    match cap.view() {
        CapView::Null(_) => true,
        CapView::Zombie(z) => {
            let n = z.number();
            n == 0 || (n == 1 && z.ptr() == slot as u64)
        }
        _ => unreachable!("finalise_cap returns only null or zombie caps"),
    }
}

fn cap_cyclic_zombie(cap: &Cap, slot: *mut Cte) -> bool {
    cap.as_zombie().is_some_and(|z| z.ptr() == slot as u64)
}

/// # Safety
/// `slot` is a live slot.
unsafe fn cap_of(slot: *mut Cte) -> Cap {
    // Safety: per the caller's contract.
    unsafe { (*slot).cap }
}

/// # Safety
/// `slot` is a live slot.
unsafe fn set_cap(slot: *mut Cte, cap: Cap) {
    // Safety: per the caller's contract.
    unsafe { (*slot).cap = cap };
}

/// seL4's `emptySlot`.
///
/// # Safety
/// `slot` is a live slot in a consistent MDB.
unsafe fn empty_slot(slot: *mut Cte, cleanup: Cap, env: &mut dyn ObjectEnv) {
    // Safety: per the caller's contract.
    if !unsafe { cap_of(slot) }.is_null() {
        // Safety: as above.
        unsafe { cte::unlink_and_clear(slot) };
        if !cleanup.is_null() {
            env.post_cap_deletion(&cleanup);
        }
    }
}

/// seL4's `cteDelete`: deletes the cap in `slot`. `exposed` is false only
/// for the internal deletions of a zombie's slots.
///
/// # Safety
/// `slot` is a live slot in a consistent MDB; every cap's object is live.
pub unsafe fn cte_delete(slot: *mut Cte, exposed: bool, env: &mut dyn ObjectEnv) -> Result<(), Preempted> {
    // Safety: per the caller's contract.
    let (success, cleanup) = unsafe { finalise_slot(slot, exposed, env) }?;
    if exposed || success {
        // Safety: as above.
        unsafe { empty_slot(slot, cleanup, env) };
    }
    Ok(())
}

/// seL4's `finaliseSlot`: finalises until the slot can be emptied, or (not
/// `immediate`) until it holds a zombie of itself.
///
/// # Safety
/// As for [`cte_delete`].
unsafe fn finalise_slot(slot: *mut Cte, immediate: bool, env: &mut dyn ObjectEnv) -> Result<(bool, Cap), Preempted> {
    // Safety (whole loop): per the caller's contract.
    while !unsafe { cap_of(slot) }.is_null() {
        let is_final = unsafe { cte::is_final_capability(slot) };
        let f = finalise_cap(unsafe { cap_of(slot) }, is_final, false, env);
        if cap_removable(&f.remainder, slot) {
            return Ok((true, f.cleanup));
        }
        unsafe { set_cap(slot, f.remainder) };
        if !immediate && cap_cyclic_zombie(&f.remainder, slot) {
            return Ok((false, f.cleanup));
        }
        unsafe { reduce_zombie(slot, immediate, env) }?;
        env.preemption_point()?;
    }
    Ok((true, Cap::NULL))
}

/// seL4's `reduceZombie`: deletes the zombie's last remaining slot
/// (`immediate`), or moves the zombie into its own first slot so the
/// caller's deletion of that slot finishes it.
///
/// # Safety
/// As for [`cte_delete`]; `slot` holds a zombie.
unsafe fn reduce_zombie(slot: *mut Cte, immediate: bool, env: &mut dyn ObjectEnv) -> Result<(), Preempted> {
    // Safety (whole function): per the caller's contract; a zombie's
    // pointer and number describe live slots of the dying object.
    let z = unsafe { cap_of(slot) }.as_zombie().expect("reduce_zombie is given a zombie's slot");
    let ptr = z.ptr() as *mut Cte;
    let n = z.number();
    let zombie_type = z.zombie_type();
    debug_assert!(n > 0);
    if immediate {
        let end_slot = unsafe { ptr.add(n as usize - 1) };
        unsafe { cte_delete(end_slot, false, env) }?;
        let now = unsafe { cap_of(slot) };
        match now.view() {
            CapView::Null(_) => {}
            CapView::Zombie(now) => {
                if now.ptr() == ptr as u64 && now.number() == n && now.zombie_type() == zombie_type {
                    debug_assert!(unsafe { cap_of(end_slot) }.is_null());
                    unsafe { set_cap(slot, now.with_number(n - 1).cap()) };
                } else {
                    debug_assert!(now.ptr() == slot as u64 && ptr != slot);
                }
            }
            _ => unreachable!("a zombie's recursion leaves a zombie or nothing"),
        }
    } else {
        debug_assert!(ptr != slot);
        if ptr != slot {
            let (a, b) = (unsafe { cap_of(ptr) }, unsafe { cap_of(slot) });
            unsafe { cte::cte_swap(a, ptr, b, slot) };
        }
    }
    Ok(())
}

/// seL4's `cteRevoke`: deletes every descendant of `slot`.
///
/// # Safety
/// As for [`cte_delete`].
pub unsafe fn cte_revoke(slot: *mut Cte, env: &mut dyn ObjectEnv) -> Result<(), Preempted> {
    loop {
        // Safety: per the caller's contract.
        let next = unsafe { (*slot).mdb.next() };
        // Safety: MDB links point to live slots.
        if next.is_null() || !unsafe { cte::is_mdb_parent_of(slot, next) } {
            return Ok(());
        }
        // Safety: as above.
        unsafe { cte_delete(next, true, env) }?;
        env.preemption_point()?;
    }
}

/// seL4's `cteDeleteOne`: deletes a cap that always finalises at once
/// (reply caps, endpoint and notification caps being replaced).
///
/// # Safety
/// As for [`cte_delete`].
pub unsafe fn cte_delete_one(slot: *mut Cte, env: &mut dyn ObjectEnv) {
    // Safety: per the caller's contract.
    let cap = unsafe { cap_of(slot) };
    if !cap.is_null() {
        // Safety: as above.
        let is_final = unsafe { cte::is_final_capability(slot) };
        let f = finalise_cap(cap, is_final, true, env);
        debug_assert!(cap_removable(&f.remainder, slot) && f.cleanup.is_null());
        // Safety: as above.
        unsafe { empty_slot(slot, Cap::NULL, env) };
    }
}
