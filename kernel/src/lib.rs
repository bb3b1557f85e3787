//! A Rust rewrite of the seL4 microkernel for x86_64.
//!
//! The crate is a library so that the pure parts (parsers, capability
//! encodings, lookup, region arithmetic) build and are unit-tested on the
//! host; everything that touches hardware lives under `arch::x86_64` and
//! is compiled only for the bare-metal target. The `kernel` binary links
//! this library into the bootable image.
#![cfg_attr(target_os = "none", no_std)]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(target_os = "none")]
#[macro_use]
pub mod console;
#[macro_use]
pub mod user_error;

pub mod boot;
pub mod cap;
pub mod config;
pub mod cspace;
pub mod domain_schedule;
pub mod list;
pub mod object;
pub mod pte;
pub mod uintr;

#[cfg(target_os = "none")]
pub mod arch;
#[cfg(target_os = "none")]
pub mod debug;
#[cfg(target_os = "none")]
pub mod fastpath;
#[cfg(target_os = "none")]
pub mod fault;
#[cfg(target_os = "none")]
pub mod invariants;
#[cfg(target_os = "none")]
pub mod ipc;
#[cfg(target_os = "none")]
pub mod kernel_env;
#[cfg(target_os = "none")]
pub mod kernel_state;
#[cfg(target_os = "none")]
pub mod preemption;
#[cfg(target_os = "none")]
pub mod registers;
#[cfg(target_os = "none")]
pub mod sched;
#[cfg(target_os = "none")]
pub mod syscall;
#[cfg(target_os = "none")]
pub mod thread;
