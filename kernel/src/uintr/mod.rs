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
//!
//! `docs/uintr.md` describes the capability API built on these.

pub mod decode;
pub mod format;
pub mod model;

/// Vectors a user interrupt can carry (UV and UIRR bits 0..63).
pub const VECTORS: u32 = 64;
