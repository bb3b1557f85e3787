//! Kernel objects and the capabilities that name them.

pub mod cap;
pub mod cap_rules;
pub mod cnode;
#[cfg(target_os = "none")]
pub mod domain;
pub mod env;
pub mod invocation;
#[cfg(target_os = "none")]
pub mod io_port;
#[cfg(target_os = "none")]
pub mod irq;
pub mod pte;
#[cfg(target_os = "none")]
pub mod tcb;
#[cfg(target_os = "none")]
pub mod uintr;
#[cfg(target_os = "none")]
pub mod uintr_switch;
pub mod untyped;
#[cfg(target_os = "none")]
pub mod vspace;
