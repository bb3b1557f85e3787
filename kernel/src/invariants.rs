//! Debug-build (`KernelDebugBuild`) consistency checks of the kernel's linked structures: the
//! ready queues, the endpoint and notification queues, and the MDB links
//! of every slot in every TCB. Run every `CHECK_INTERVAL` syscalls; a
//! violation stops the kernel with a description.

use crate::kernel_state::KernelCell;
use crate::thread::{self, Tcb, ThreadState};

/// Syscalls between two checks.
pub const CHECK_INTERVAL: u64 = 10_000;

static SYSCALLS: KernelCell<u64> = KernelCell::new(0);

/// Counts a syscall and runs the checks every `CHECK_INTERVAL` (debug
/// configurations only: seL4's release builds check no invariants).
#[inline(always)]
pub fn count_syscall() {
    if crate::config::DEBUG_BUILD {
        count_and_check();
    }
}

fn count_and_check() {
    // Safety: kernel context.
    let n = unsafe { SYSCALLS.get() };
    *n += 1;
    if *n % CHECK_INTERVAL == 0 {
        check_all();
    }
}

/// Says at DebugHalt how far the checks got. (Nothing is printed between
/// checks: a kernel line in the middle of a user program's output splits
/// it, and a failed check stops the kernel with its own message anyway.)
pub fn report() {
    // Safety: kernel context.
    let n = unsafe { *SYSCALLS.get() };
    kprintln!("invariants: held at all {} checks ({} syscalls)", n / CHECK_INTERVAL, n);
}

fn fail(what: core::fmt::Arguments<'_>) -> ! {
    panic!("kernel invariant violated: {what}");
}

/// Runs every check.
pub fn check_all() {
    crate::sched::check_queues().unwrap_or_else(|e| fail(format_args!("ready queues: {e}")));
    for t in thread::all_threads() {
        check_blocked(t);
        for i in 0..crate::cap::TCB_CNODE_ENTRIES {
            check_slot(t.slot(i));
        }
    }
    check_root_cnode();
}

/// A blocked thread must be on the queue of the object it waits on.
fn check_blocked(t: &Tcb) {
    let (object, on_queue) = match t.state {
        ThreadState::BlockedOnSend { ep, .. } | ThreadState::BlockedOnReceive { ep, .. } => {
            (ep, crate::object::endpoint::endpoint_queue_contains(ep, t))
        }
        ThreadState::BlockedOnNotification { ntfn } => (ntfn, crate::object::notification::notification_queue_contains(ntfn, t)),
        _ => return,
    };
    if !on_queue {
        fail(format_args!("thread \"{}\" is {} on {object:#x} but not in its queue", t.name(), t.state.name()));
    }
}

/// A slot's MDB neighbours must point back at it.
fn check_slot(slot: *mut crate::cspace::cte::Cte) {
    // Safety: slots of live TCBs and CNodes.
    let c = unsafe { &*slot };
    if c.cap.is_null() {
        return;
    }
    let (next, prev) = (c.mdb.next(), c.mdb.prev());
    // Safety: MDB links point at live slots.
    if !next.is_null() && unsafe { (*next).mdb.prev() } != slot {
        fail(format_args!("MDB: slot {slot:p}'s next does not point back"));
    }
    // Safety: as above.
    if !prev.is_null() && unsafe { (*prev).mdb.next() } != slot {
        fail(format_args!("MDB: slot {slot:p}'s prev does not point back"));
    }
}

/// Every slot of the initial thread's root CNode.
fn check_root_cnode() {
    let Some(root) = thread::all_threads().last().map(|t| t.cspace_root()) else { return };
    let Some(root) = root.as_cnode() else {
        return;
    };
    for i in 0..(1u64 << root.radix()) {
        check_slot((root.ptr() + i * 32) as *mut crate::cspace::cte::Cte);
    }
}
