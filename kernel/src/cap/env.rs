//! What capability and object operations need from the rest of the
//! kernel. The CNode, untyped and deletion code is written against this
//! trait so that it runs unchanged in host tests (with a model
//! environment) and in the kernel (where threads, IPC queues, address
//! spaces and interrupts live).

use super::Cap;

/// A long operation stopped at a preemption point; the invoking thread
/// restarts the system call later and the operation continues where the
/// saved state (zombies, untyped free index) says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preempted;

pub trait ObjectEnv {
    /// seL4's `preemptionPoint`: counts work and, every
    /// `KernelMaxNumWorkUnitsPerPreemption` units, stops if an interrupt is
    /// pending.
    fn preemption_point(&mut self) -> Result<(), Preempted>;

    /// Side effects of the last cap to an object going away, or of a
    /// mapping cap being deleted: cancel IPC on an endpoint, unbind and
    /// cancel a notification, suspend a thread, unmap a frame or table,
    /// drop an ASID (pool), stop an IRQ. `is_final` is seL4's flag.
    fn finalise(&mut self, cap: &Cap, is_final: bool);

    /// After a slot is emptied: release what the deleted cap held
    /// (an IRQ line, a range of I/O ports).
    fn post_cap_deletion(&mut self, cleanup: &Cap);

    /// A new object was created (memory already zeroed): set up what zero
    /// memory does not already mean (a TCB's context, a VSpace root's
    /// kernel mappings).
    fn init_object(&mut self, cap: &Cap);

    /// CancelBadgedSends on the endpoint `ep` for `badge`.
    fn cancel_badged_sends(&mut self, ep: u64, badge: u64);

    /// How many more user-interrupt objects (receivers, UITTs) the kernel
    /// can map where the CPU reads them (its UINTR window).
    fn uintr_window_free(&self) -> u64 {
        u64::MAX
    }

    /// Work units consumed so far (for tests of the preemption logic).
    fn work_units(&self) -> u64 {
        0
    }
}
