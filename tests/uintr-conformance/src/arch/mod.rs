//! Everything that touches the hardware directly; the only place with
//! assembly. The rest of the image (harness and tests) is plain Rust on
//! top of these functions.

pub mod apic;
pub mod boot;
pub mod cpu;
pub mod desc;
pub mod entry;
pub mod serial;
pub mod smp;
