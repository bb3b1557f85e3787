//! Kernel objects and the capabilities that name them.

pub mod cap;
pub mod cap_rules;
pub mod env;
pub mod invocation;
pub mod pte;
pub mod cnode;
#[cfg(target_os = "none")]
pub mod tcb;
#[cfg(target_os = "none")]
pub mod domain;
#[cfg(target_os = "none")]
pub mod io_port;
#[cfg(target_os = "none")]
pub mod vspace;
#[cfg(target_os = "none")]
pub mod irq;
#[cfg(target_os = "none")]
pub mod uintr;
#[cfg(target_os = "none")]
pub mod uintr_switch;
pub mod untyped;
