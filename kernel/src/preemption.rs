//! The work counter behind seL4's preemption points: long operations
//! (revoke, delete, retype's clearing) count units of work, and every
//! `KernelMaxNumWorkUnitsPerPreemption` units they look for a pending
//! interrupt.

use crate::kernel_state::KernelCell;

/// `KernelMaxNumWorkUnitsPerPreemption`.
pub const MAX_WORK_UNITS_PER_PREEMPTION: u64 = crate::config::MAX_NUM_WORK_UNITS_PER_PREEMPTION as u64;

/// Work done since the last check for pending interrupts (seL4's
/// `ksWorkUnitsCompleted`).
static WORK_UNITS: KernelCell<u64> = KernelCell::new(0);

/// Counts one unit of work; true when enough have been done that the
/// caller should check for a pending interrupt (the count starts again).
pub fn work_unit_done() -> bool {
    // Safety: kernel context; the reference does not leave this function.
    let units = unsafe { WORK_UNITS.get() };
    *units += 1;
    if *units >= MAX_WORK_UNITS_PER_PREEMPTION {
        *units = 0;
        return true;
    }
    false
}

/// Starts the count again (seL4 does so when a new domain begins).
pub fn reset() {
    // Safety: as in `work_unit_done`.
    unsafe { *WORK_UNITS.get() = 0 };
}
