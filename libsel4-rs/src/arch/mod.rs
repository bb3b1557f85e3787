//! Architecture-specific parts: the syscall instruction and the runtime's
//! first instructions.

pub mod x86_64;
pub use self::x86_64::*;
