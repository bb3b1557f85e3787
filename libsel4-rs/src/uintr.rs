//! User interrupts (Intel UINTR) on this kernel: a thread signals another
//! with SENDUIPI, which the receiver takes in a handler, with no kernel
//! entry where the CPU has UINTR (elsewhere the kernel carries the same
//! instructions out). Capability-controlled, with objects of this
//! kernel's own (`docs/uintr.md`); stock seL4 has none of this. The kernel
//! maps every receiver and UITT where the CPU reads them, in a window of
//! 512 slots: retyping more than are free fails with
//! [`Error::NotEnoughMemory`](crate::Error::NotEnoughMemory).
//!
//! # When the handler runs
//!
//! SENDUIPI posts the vector in the receiver's UPID and, unless a
//! notification is already outstanding or the receiver is switched out,
//! sends an ordinary interrupt through the local APIC. What the
//! architecture promises, and so what a program may rely on:
//!
//! - Nothing is delivered while user interrupts are disabled ([`clui`],
//!   or a fresh receiver before its first [`stui`]) or to a thread that is
//!   not running; posts wait and are not lost.
//! - A vector that has reached the CPU (UIRR) is delivered before the next
//!   instruction once the thread runs in user mode with user interrupts
//!   enabled: right after [`stui`], after the handler's UIRET, after a
//!   return from the kernel. Among the vectors pending together the
//!   highest goes first, each once per post (posts of one vector made
//!   before its delivery merge into one).
//! - The notification that carries a post to the CPU is an interrupt like
//!   any other: it is taken at some instruction boundary after the SENDUIPI
//!   (a self-IPI takes time on real hardware; emulators differ too), not at
//!   a particular one. So the handler does **not** necessarily run before
//!   [`senduipi`] returns, even when a thread sends to itself, and vectors
//!   sent one after another may arrive in separate batches. On this kernel
//!   posts to a receiver that is switched out reach it in one batch when it
//!   is switched back in.
//!
//! A program that needs the handler to have run waits for something the
//! handler does, as below (with a bound if losing an interrupt must be
//! reported rather than hang).
//!
//! ```no_run
//! use core::sync::atomic::{AtomicU32, Ordering};
//! use sel4::cap::{init, CapRights, UintrReceiver, Uitt};
//! use sel4::{uintr, ObjectType};
//! # fn demo(ut: sel4::cap::Untyped, free: u64) -> Result<(), sel4::Error> {
//! static SEEN: AtomicU32 = AtomicU32::new(0);
//! fn on_interrupt(vector: u8) {
//!     sel4::println!("user interrupt {vector}");
//!     SEEN.fetch_add(1, Ordering::Relaxed);
//! }
//! // A receiver for this thread, and a UITT whose entry 0 sends it vector 5.
//! ut.retype(ObjectType::UintrReceiver, 0, init::CNODE.itself(), free, 1)?;
//! ut.retype(ObjectType::Uitt, 0, init::CNODE.itself(), free + 1, 1)?;
//! let (receiver, uitt) = (UintrReceiver::from_cptr(free), Uitt::from_cptr(free + 1));
//! uintr::set_handler(on_interrupt);
//! receiver.bind_tcb(init::TCB, uintr::handler_entry(), 128)?;
//! init::CNODE.slot(free + 2, 64).mint(receiver.slot_in(init::CNODE), CapRights::ALL, 5)?;
//! init::TCB.bind_uitt(uitt)?;
//! uitt.register_sender(0, UintrReceiver::from_cptr(free + 2))?;
//! uintr::stui();
//! uintr::senduipi(0);
//! // on_interrupt(5) runs soon, at no instruction the program can name:
//! // wait for it.
//! while SEEN.load(Ordering::Relaxed) == 0 {
//!     core::hint::spin_loop();
//! }
//! # Ok(())
//! # }
//! ```

use core::sync::atomic::{AtomicUsize, Ordering};

/// The function every user interrupt of this program runs, with its vector.
static HANDLER: AtomicUsize = AtomicUsize::new(0);

/// Sets the function user interrupts run (one per program; it gets the
/// vector and runs with user interrupts disabled). It runs asynchronously,
/// like a signal handler, at an instruction boundary the program does not
/// choose (see the module documentation): share data with it through
/// atomics.
pub fn set_handler(handler: fn(u8)) {
    HANDLER.store(handler as usize, Ordering::Release);
}

#[no_mangle]
extern "C" fn sel4_uintr_dispatch(vector: u64) {
    let handler = HANDLER.load(Ordering::Acquire);
    if handler != 0 {
        // Safety: only `set_handler` stores a non-zero value, a `fn(u8)`.
        let handler: fn(u8) = unsafe { core::mem::transmute::<usize, fn(u8)>(handler) };
        handler(vector as u8);
    }
}

/// The address to bind a receiver with: the entry code that saves the
/// interrupted registers, runs the handler set with [`set_handler`] and
/// returns with UIRET.
pub fn handler_entry() -> u64 {
    crate::arch::uintr_entry_address()
}

pub use crate::arch::{clui, senduipi, stui, testui};
