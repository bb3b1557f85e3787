//! Global kernel state and the cell type that holds it.
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
