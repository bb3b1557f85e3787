//! Kernel state: what the cores share ([`Global`]), the one door through
//! which a kernel entry reaches it ([`kernel_entry`]), and the cell type
//! that holds state not yet behind that door.
//!
//! The model is seL4's split: state every core would see (the IRQ table,
//! the I/O port allocation, the ASID table, the UINTR window's slots) is
//! [`Global`], reached once per kernel entry and passed down as `&mut` to
//! whatever needs a part of it, so that the borrow checker sees every
//! access. That entry is where a big kernel lock will be taken when there
//! is more than one core. State seL4 keeps per node (`NODE_STATE`: the
//! current thread, the scheduler's queues and action, the FPU and UINTR
//! owners) stays in its modules' cells for now: `sched` and
//! `uintr::switch` reach them through a raw pointer, each use making a
//! short reference of its own, until they move into a per-core part of
//! [`Kernel`] passed down the same way.
//!
//! Object memory (TCBs, endpoints, CTEs, receivers) is not kernel state in
//! this sense: it is reached through the pointers in caps, as in seL4, by
//! `unsafe` code whose callers vouch for the pointer.
//!
//! The kernel is single-core and runs with interrupts off, so at most one
//! flow of control touches kernel state at a time; `KernelCell` encodes
//! that argument once instead of scattering `static mut`s.

use core::cell::UnsafeCell;

pub struct KernelCell<T>(UnsafeCell<T>);

// Safety: see the module comment; every access goes through `get`, whose
// contract forbids overlapping borrows.
unsafe impl<T> Sync for KernelCell<T> {}

impl<T> KernelCell<T> {
    pub const fn new(value: T) -> Self {
        KernelCell(UnsafeCell::new(value))
    }

    /// # Safety
    /// The caller runs in the kernel with interrupts off (or during
    /// single-threaded boot) and holds no other reference obtained from
    /// this cell while the returned one is live.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn get(&self) -> &mut T {
        // Safety: exclusivity is the caller's contract.
        unsafe { &mut *self.0.get() }
    }

    pub const fn as_ptr(&self) -> *mut T {
        self.0.get()
    }
}

/// State shared by all cores (seL4's global `ks*` and `x86KS*` variables
/// that are not per node).
pub struct Global {
    /// Which IRQs are handed out and where each comes from.
    pub irqs: crate::object::irq::IrqTable,
    /// Which I/O ports belong to an IOPort cap.
    pub io_ports: crate::object::io_port::IoPortAllocation,
    /// The ASID pools.
    pub asids: crate::arch::x86_64::vspace::AsidTable,
    /// Which slots of the UINTR window are taken.
    pub uintr_window: crate::uintr::window::Slots,
}

/// Everything one kernel entry may touch, handed out by [`kernel_entry`].
pub struct Kernel {
    pub global: Global,
}

static KERNEL: KernelCell<Kernel> = KernelCell::new(Kernel {
    global: Global {
        irqs: crate::object::irq::IrqTable::new(),
        io_ports: crate::object::io_port::IoPortAllocation::new(),
        asids: crate::arch::x86_64::vspace::AsidTable::new(),
        uintr_window: crate::uintr::window::Slots::new(),
    },
});

/// The kernel state for one kernel entry: the arch trap paths (syscall,
/// interrupt, exception) call this once when they come in and pass the
/// result down; boot calls it once for its single-threaded setup. With
/// more than one core, the big kernel lock is taken here.
///
/// The entry's reference ends before it goes back to user mode
/// (`sched::schedule_and_return`), so that the interrupt that ends an
/// idle wait there is an entry of its own, not one nested in a live borrow.
///
/// # Safety
/// Interrupts are off (or the caller is the interrupt entry taken in the
/// idle wait), and no reference from an earlier call is live.
pub unsafe fn kernel_entry() -> &'static mut Kernel {
    // Safety: exclusivity is the caller's contract.
    unsafe { KERNEL.get() }
}

/// The kernel state's address, for the idle wait: an interrupt there
/// changes the state, and the wait tells the compiler so.
pub fn address() -> *mut () {
    KERNEL.as_ptr().cast()
}
