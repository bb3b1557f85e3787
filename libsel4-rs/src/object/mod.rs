//! Invocation methods on typed capabilities, one module per object type
//! of seL4's x86_64 configuration. Each method is one `seL4_Call` with
//! seL4's message layout (see [`crate::invocation::call`]) and returns
//! seL4's error on failure; after an error the kernel's extra words (for
//! example the bits left of a failed lookup) are in the message registers,
//! read with [`crate::invocation::get_mr`].

mod cnode;
mod domain;
mod endpoint;
mod io_port;
mod irq;
mod tcb;
mod uintr;
mod untyped;
mod vspace;

pub use tcb::{CopyRegisters, USER_CONTEXT_WORDS};
pub use untyped::ObjectType;
pub use vspace::{FrameKind, TableKind, VmAttributes};
