//! User interrupts (Intel UINTR): the architectural formats and rules the
//! kernel manages, written once as plain data and functions so that the
//! hardware path (where the CPU applies them) and the trap-and-emulate
//! fallback (where the kernel applies them on #UD) agree, and so that the
//! host tests can hold them to Intel's definition.
//!
//! - [`format`]: the UPID and UITT entry layouts.
//! - [`decode`]: recognising SENDUIPI, UIRET, TESTUI, CLUI and STUI at a
//!   faulting user instruction pointer.
//! - [`model`]: a receiver's architectural state and the operations on it
//!   (posting, notification processing, delivery, UIRET).
//! - [`parking`]: what a receiver's UPID says while its thread is not
//!   running (hardware path), held to "no post is lost" by a simulation.
//! - [`window`]: the slots of the window where the CPU finds UPIDs and
//!   UITTs.
//!
//! `docs/uintr.md` describes the capability API built on these.

pub mod decode;
pub mod format;
pub mod model;
pub mod parking;
pub mod window;

/// Vectors a user interrupt can carry (UV and UIRR bits 0..63).
pub const VECTORS: u32 = 64;
