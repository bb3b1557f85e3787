//! A bare-metal conformance test image for Intel user interrupts (UINTR).
//!
//! Booted by QEMU's multiboot loader (`-kernel`, elf32 copy), it sets up
//! long mode, a GDT/TSS/IDT, identity paging and the xAPIC, then runs one
//! test after another, each in ring 0 and/or ring 3, printing `ok NAME` or
//! `FAIL NAME: why` on COM1 and finally `N passed, N failed`, and leaves
//! QEMU through isa-debug-exit (status 33 if everything passed, 35 if not).
//!
//! With `absent` on the kernel command line (`-append absent`) it runs the
//! checks for a CPU *without* UINTR instead: CPUID reports it absent,
//! CR4.UINTR and the UINTR MSRs are refused, every UINTR instruction #UDs.
//!
//! Every rule is architectural (Intel's definition) or, where Intel's text
//! says nothing, marked as a property of this project's models
//! (`harness::Basis`); `-append architectural` leaves the latter out, for
//! runs on other models and on hardware.
//!
//! All assembly is in [`arch`]; the harness and the tests are plain Rust.
#![cfg_attr(target_os = "none", no_std)]
// A failed check returns its message by value in a fixed 300-byte buffer
// (`harness::Msg`): the image has no heap to box it into, and the failure
// path is not a hot one.
#![allow(clippy::result_large_err)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(target_os = "none")]
mod arch;
#[cfg(target_os = "none")]
#[macro_use]
mod harness;
#[cfg(target_os = "none")]
mod tests;
#[cfg(target_os = "none")]
mod uintr;

/// A static the harness shares between ring 0, ring 3 and the trap path
/// (one CPU, no threads): every access goes through a raw pointer.
#[repr(transparent)]
pub struct Global<T>(core::cell::UnsafeCell<T>);

// Safety: the image runs on one CPU; accesses from interrupt context are
// plain loads/stores the tests order explicitly.
unsafe impl<T> Sync for Global<T> {}

impl<T> Global<T> {
    pub const fn new(v: T) -> Self {
        Global(core::cell::UnsafeCell::new(v))
    }

    pub fn ptr(&self) -> *mut T {
        self.0.get()
    }
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn rust_main() -> ! {
    arch::serial::init();
    arch::desc::init();
    arch::apic::init();
    harness::main()
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("PANIC: {}", info);
    println!("0 passed, 1 failed");
    arch::serial::exit_qemu(0x11)
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("uintr-conformance is a bare-metal image: build it for x86_64-unknown-none (cargo xtask test)");
    std::process::exit(1);
}
