//! x86_64: boot, entry/exit, descriptor tables, paging, interrupt
//! controllers, serial ports and the CPU's control registers.

pub mod apic;
pub mod boot;
pub mod context;
pub mod cpu;
pub mod entry;
pub mod exit;
pub mod fpu;
pub mod gdt;
pub mod idt;
pub mod io;
pub mod ioapic;
pub mod paging;
pub mod serial;
pub mod traps;
pub mod tsc;
pub mod uintr;
pub mod vspace;
