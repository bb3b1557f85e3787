//! User interrupts (Intel UINTR), all in one place.
//!
//! The architectural formats and rules the kernel manages are written once
//! as plain data and functions (built and tested on the host too), so
//! that the hardware path (where the CPU applies them) and the
//! trap-and-emulate fallback (where the kernel applies them on #UD) agree,
//! and so that the host tests can hold them to Intel's definition:
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
//! The kernel side (bare-metal target only):
//!
//! - `objects`: receivers and UITTs, their window mappings, wake-ups and
//!   cap deletion.
//! - `invocation`: the receiver, UITT and TCB invocations, decoded then
//!   performed.
//! - `switch`: the hardware path, which thread's UINTR state the CPU holds
//!   and what a switched-out receiver's UPID says.
//! - `emulate`: the #UD fallback and its walk of the user's page tables.
//!
//! The instructions themselves (MSR access, SENDUIPI for tests, the
//! vectors) are in `arch::x86_64::uintr`.
//!
//! `docs/uintr.md` describes the capability API built on these.

pub mod decode;
#[cfg(target_os = "none")]
pub mod emulate;
pub mod format;
#[cfg(target_os = "none")]
pub mod invocation;
pub mod model;
#[cfg(target_os = "none")]
pub mod objects;
pub mod parking;
#[cfg(target_os = "none")]
pub mod switch;
pub mod window;

/// Vectors a user interrupt can carry (UV and UIRR bits 0..63).
pub const VECTORS: u32 = 64;
