//! Architecture support. Only x86_64 exists; it is the one place in the
//! kernel with inline assembly.

pub mod x86_64;
