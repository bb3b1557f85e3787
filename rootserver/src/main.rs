//! The rootserver: the first user program. It reports the bootinfo it was
//! handed and runs the in-QEMU test suite, ending with the line
//! `N passed, N failed`, then halts the system.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_op_in_unsafe_fn)]
// The benchmark build uses only the suite's thread helpers.
#![cfg_attr(feature = "bench", allow(dead_code))]
// The differential build runs only the differential fuzzer.
#![cfg_attr(feature = "difffuzz", allow(dead_code))]

#[cfg(target_os = "none")]
mod suite;

#[cfg(all(target_os = "none", feature = "bench"))]
mod ipcbench;
#[cfg(all(target_os = "none", feature = "bench"))]
mod serial;

#[cfg(target_os = "none")]
sel4::main!(start);

#[cfg(target_os = "none")]
fn start(bootinfo: &'static sel4::BootInfo) -> ! {
    // The benchmark prints through COM1 itself: release kernels have no
    // DebugPutChar.
    #[cfg(feature = "bench")]
    serial::init(bootinfo);
    print_bootinfo(bootinfo);
    #[cfg(feature = "bench")]
    ipcbench::run(bootinfo);
    #[cfg(feature = "difffuzz")]
    if let Err(why) = suite::difffuzz::run(bootinfo) {
        sel4::println!("difffuzz: setup failed: {}", why);
        sel4::println!("difffuzz: end");
    }
    #[cfg(not(any(feature = "bench", feature = "difffuzz")))]
    {
        let (passed, failed) = suite::run(bootinfo);
        sel4::println!("{} passed, {} failed", passed, failed);
    }
    sel4::debug::halt()
}

#[cfg(target_os = "none")]
fn print_bootinfo(bi: &sel4::BootInfo) {
    let untypeds = bi.untypeds();
    let total: u64 = untypeds.iter().map(|u| 1u64 << u.size_bits).sum();
    let ram: u64 = untypeds.iter().filter(|u| u.is_device == 0).map(|u| 1u64 << u.size_bits).sum();
    sel4::println!("rootserver: bootinfo at {:p}", bi);
    sel4::println!("  node {} of {}, IPC buffer at {:#x}", bi.node_id, bi.num_nodes, bi.ipc_buffer);
    sel4::println!(
        "  untyped: {} caps (slots {}..{}), {} bytes in all, {} bytes of RAM",
        untypeds.len(),
        bi.untyped.start,
        bi.untyped.end,
        total,
        ram
    );
    sel4::println!(
        "  empty slots {}..{} ({} free), user image frames {}..{}, paging {}..{}",
        bi.empty.start,
        bi.empty.end,
        bi.empty.len(),
        bi.user_image_frames.start,
        bi.user_image_frames.end,
        bi.user_image_paging.start,
        bi.user_image_paging.end
    );
    sel4::println!("  root CNode: 2^{} slots, domain {}", bi.init_thread_cnode_size_bits, bi.init_thread_domain);
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    sel4::println!("rootserver panic: {}", info);
    sel4::debug::halt()
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the rootserver runs on seL4: boot it with `cargo xtask run`");
    std::process::exit(1);
}
