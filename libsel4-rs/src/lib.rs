//! `sel4`: the user-side library for programs running on seL4 x86_64 (and
//! on this kernel, which implements the same ABI).
//!
//! It provides the syscall stubs ([`ipc`], [`arch`]), message info and
//! IPC buffer access ([`invocation::get_mr`], [`ipc_buffer`]), typed
//! capabilities ([`cap`]) whose methods are the invocations of every
//! object type of the configuration ([`object`]), typed bootinfo
//! ([`bootinfo`]), threads in the caller's address space ([`thread`]),
//! console output through the debug syscalls, and a minimal runtime that
//! starts a rootserver: declare the program's entry with [`main!`].
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! sel4::main!(start);
//!
//! fn start(bootinfo: &'static sel4::BootInfo) -> ! {
//!     use sel4::bootinfo::BootInfoCaps;
//!     use sel4::cap::{init, Notification};
//!     let (ut, _) = bootinfo.untyped_caps().find(|(_, d)| d.is_device == 0).unwrap();
//!     let slot = bootinfo.empty_slots().start;
//!     ut.retype(sel4::ObjectType::Notification, 0, init::CNODE.itself(), slot, 1).unwrap();
//!     let ntfn = Notification::from_cptr(slot);
//!     ntfn.signal();
//!     sel4::println!("badge {}", ntfn.wait());
//!     sel4::debug::halt()
//! }
//! ```
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod arch;
pub mod bootinfo;
pub mod cap;
pub mod console;
pub mod debug;
pub mod invocation;
pub mod ipc;
pub mod ipc_buffer;
pub mod object;
pub mod thread;
pub mod uintr;

pub use object::ObjectType;
pub use sel4_compat::bootinfo::{BootInfo, SlotRegion, UntypedDesc};
pub use sel4_compat::caps::{root_slots, CapType};
pub use sel4_compat::errors::Error;
pub use sel4_compat::invocation as invocation_labels;
pub use sel4_compat::ipc::{IpcBuffer, MessageInfo};
pub use sel4_compat::object_type;
pub use sel4_compat::objects::tcb_flag;
pub use sel4_compat::syscalls::Syscall;
pub use sel4_compat::{config, CPtr, Word};

/// Declares the rootserver's entry function, `fn(&'static BootInfo) -> !`.
/// The runtime's `_start` sets up a stack, records the IPC buffer from
/// bootinfo, and calls it.
#[macro_export]
macro_rules! main {
    ($entry:path) => {
        #[no_mangle]
        extern "C" fn __sel4_rs_main(bootinfo: *const $crate::BootInfo) -> ! {
            // Safety: the kernel passes the address of the mapped bootinfo
            // frame in rdi; it stays mapped for the life of the rootserver.
            let bootinfo: &'static $crate::BootInfo = unsafe { &*bootinfo };
            static mut ROOT_TLS: $crate::ipc_buffer::TlsBlock = $crate::ipc_buffer::TlsBlock::new();
            // Safety: the root thread's TLS block lives for the program; the
            // kernel maps the IPC buffer it names in bootinfo.
            unsafe { $crate::ipc_buffer::init_thread(core::ptr::addr_of_mut!(ROOT_TLS), bootinfo.ipc_buffer as *mut $crate::IpcBuffer) };
            $entry(bootinfo)
        }
    };
}
