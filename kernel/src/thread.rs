//! Threads: the TCB, the current thread, and getting back to user mode.
//!
//! This is the part of seL4's scheduler the initial thread needs: one
//! current thread, the idle loop when nothing can run, and faults of a
//! thread with no fault handler, which stop the thread (never the kernel).

use crate::arch::x86_64::context::UserContext;
use crate::arch::x86_64::{cpu, entry, io, paging, traps};
use crate::kernel_state::KernelCell;
use crate::object::cap::Cap;
use arrayvec::ArrayVec;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    Inactive,
    Running,
    Restart,
}

impl ThreadState {
    pub fn name(self) -> &'static str {
        match self {
            ThreadState::Inactive => "inactive",
            ThreadState::Running => "running",
            ThreadState::Restart => "restart",
        }
    }
}

pub const TCB_NAME_LENGTH: usize = 64;

/// A thread control block. It lives in a TCB object (2^11 bytes).
#[repr(C)]
pub struct Tcb {
    pub ctx: UserContext,
    pub fs_base: u64,
    pub gs_base: u64,
    pub state: ThreadState,
    pub priority: u8,
    pub mcp: u8,
    pub ipc_buffer_vaddr: u64,
    /// Physical address of the IPC buffer (frame plus offset), so the
    /// kernel reads it through the physical window.
    pub ipc_buffer_paddr: u64,
    pub cspace_root: Cap,
    pub vspace_root_paddr: u64,
    pub name: [u8; TCB_NAME_LENGTH],
}

const _: () = assert!(core::mem::size_of::<Tcb>() <= 1 << sel4_compat::objects::TCB_BITS);

impl Tcb {
    pub fn name(&self) -> &str {
        let len = self.name.iter().position(|&b| b == 0).unwrap_or(TCB_NAME_LENGTH);
        core::str::from_utf8(&self.name[..len]).unwrap_or("?")
    }

    pub fn set_name(&mut self, name: &[u8]) {
        let n = name.len().min(TCB_NAME_LENGTH - 1);
        self.name = [0; TCB_NAME_LENGTH];
        self.name[..n].copy_from_slice(&name[..n]);
    }

    /// The thread's IPC buffer, if it has one.
    pub fn ipc_buffer(&mut self) -> Option<&mut sel4_compat::ipc::IpcBuffer> {
        if self.ipc_buffer_paddr == 0 {
            return None;
        }
        // Safety: the paddr was set from a frame cap of at least 4 KiB with
        // a 1 KiB-aligned offset, so the whole buffer is inside that frame,
        // which stays allocated while the TCB refers to it.
        Some(unsafe { &mut *(crate::config::paddr_to_pptr(self.ipc_buffer_paddr) as *mut _) })
    }
}

struct Threads {
    current: *mut Tcb,
    /// Every TCB, for the debug scheduler dump.
    all: ArrayVec<*mut Tcb, 64>,
    idle_announced: bool,
}

static THREADS: KernelCell<Threads> =
    KernelCell::new(Threads { current: core::ptr::null_mut(), all: ArrayVec::new_const(), idle_announced: false });

/// Registers a new TCB and makes it current if nothing else runs.
///
/// # Safety
/// `tcb` must point to an initialised TCB object that stays allocated.
pub unsafe fn add_thread(tcb: *mut Tcb) {
    // Safety: kernel context, no other borrow of THREADS is live.
    let threads = unsafe { THREADS.get() };
    let _ = threads.all.try_push(tcb);
    if threads.current.is_null() {
        threads.current = tcb;
    }
}

/// The thread whose registers the current kernel entry saved.
pub fn current() -> &'static mut Tcb {
    // Safety: kernel context; `current` is set before the first entry from
    // user mode and points to a live TCB (add_thread's contract).
    unsafe { &mut *THREADS.get().current }
}

/// Every TCB, in creation order.
pub fn all_threads() -> impl Iterator<Item = &'static Tcb> {
    // Safety: kernel context; the pointers are live TCBs (add_thread).
    unsafe { THREADS.get().all.iter().map(|&t| &*t) }
}

/// Stops a thread that faulted with nobody to handle the fault.
fn suspend_after_fault(tcb: &mut Tcb, what: core::fmt::Arguments<'_>) {
    kprintln!(
        "user thread \"{}\" faulted at RIP {:#x}: {}; it has no fault handler and is now inactive",
        tcb.name(),
        tcb.ctx.regs.rip,
        what
    );
    tcb.state = ThreadState::Inactive;
}

/// An exception in user mode. Without fault endpoints (later issues) the
/// thread is stopped, as seL4 stops a thread whose fault cannot be sent.
pub fn handle_user_exception(vector: u64) {
    let tcb = current();
    let error = tcb.ctx.regs.error;
    if vector == 14 {
        let kind = if error & 0x10 != 0 { "instruction fetch" } else { "data" };
        let addr = io::read_cr2();
        suspend_after_fault(tcb, format_args!("VM fault on {kind} at address {addr:#x} (error {error:#x})"));
    } else {
        let name = traps::exception_name(vector);
        suspend_after_fault(tcb, format_args!("user exception {vector} ({name}), error code {error:#x}"));
    }
}

/// A syscall number the kernel does not know: seL4's unknown-syscall fault.
pub fn handle_unknown_syscall(number: u64) {
    let tcb = current();
    suspend_after_fault(tcb, format_args!("unknown syscall {}", number as i64));
}

/// Returns to the current thread if it can run, else idles.
pub fn schedule_and_return() -> ! {
    let tcb = current();
    match tcb.state {
        ThreadState::Running | ThreadState::Restart => {
            tcb.state = ThreadState::Running;
            cpu::load_fs_gs_base(tcb.fs_base, tcb.gs_base);
            // Safety: the TCB's context is a user frame (set at creation and
            // only ever saved by the entry code), its VSpace maps the kernel.
            unsafe {
                paging::load_vspace(tcb.vspace_root_paddr);
                entry::restore_user_context(&mut tcb.ctx)
            }
        }
        ThreadState::Inactive => idle(),
    }
}

/// Nothing can run: wait for interrupts forever (seL4's idle thread).
fn idle() -> ! {
    // Safety: kernel context.
    let threads = unsafe { THREADS.get() };
    if !threads.idle_announced {
        threads.idle_announced = true;
        kprintln!("no runnable threads; idling");
    }
    loop {
        io::wait_for_interrupt();
    }
}
