//! The bootable kernel image. All of the kernel is in the library; this
//! binary only supplies the panic handler and pulls the boot code in.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(target_os = "none")]
pub use kernel::boot::init::kernel_boot_entry;

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    kernel::kprintln!("KERNEL PANIC: {}", info);
    kernel::arch::x86_64::exit::exit_qemu(kernel::arch::x86_64::exit::ExitCode::Failed)
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the kernel runs on bare metal: build it with `cargo xtask run`");
    std::process::exit(1);
}
