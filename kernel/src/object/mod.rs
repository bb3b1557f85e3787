//! Kernel objects and the capabilities that name them.

pub mod cap;
