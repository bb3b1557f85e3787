//! Kernel objects and the capabilities that name them.

// The cap types, their rules and the environment seam live below cspace/
// in `crate::cap`; these names keep the object code's paths.
pub use crate::cap;
pub use crate::cap::env;
pub use crate::cap::rules as cap_rules;
pub mod cnode;
#[cfg(target_os = "none")]
pub mod domain;
#[cfg(target_os = "none")]
pub mod endpoint;
pub mod invocation;
#[cfg(target_os = "none")]
pub mod io_port;
#[cfg(target_os = "none")]
pub mod irq;
#[cfg(target_os = "none")]
pub mod notification;
#[cfg(target_os = "none")]
pub mod reply;
#[cfg(target_os = "none")]
pub mod tcb;
pub mod untyped;
#[cfg(target_os = "none")]
pub mod vspace;
