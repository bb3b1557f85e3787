//! Threads: the TCB, the current thread, and getting back to user mode.
//!
//! A TCB object (2^11 bytes) holds the thread's own cap slots first (CSpace
//! root, VSpace root, reply, caller, IPC buffer frame) and the `Tcb` at
//! `TCB_OFFSET`, where thread caps point, as in seL4.
//!
//! This is the part of seL4's scheduler the initial thread needs so far:
//! one current thread, the idle loop when nothing can run, and faults of a
//! thread with no fault handler, which stop the thread (never the kernel).

use crate::arch::x86_64::context::UserContext;
use crate::arch::x86_64::{cpu, entry, io, paging, traps};
use crate::config::pptr_to_paddr;
use crate::cspace::cte::Cte;
use crate::kernel_state::KernelCell;
use crate::object::cap::{vm_rights, Cap};
use crate::object::cap_rules::TCB_OFFSET;
use sel4_compat::caps::CapType;

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

/// The TCB's cap slots (seL4's `tcbCTable` .. `tcbBuffer`, non-MCS).
pub mod tcb_slot {
    pub const CTABLE: u64 = 0;
    pub const VTABLE: u64 = 1;
    pub const REPLY: u64 = 2;
    pub const CALLER: u64 = 3;
    pub const BUFFER: u64 = 4;
}

pub const TCB_NAME_LENGTH: usize = 64;

/// A thread control block, at `TCB_OFFSET` inside its TCB object.
#[repr(C)]
pub struct Tcb {
    pub ctx: UserContext,
    pub fs_base: u64,
    pub gs_base: u64,
    pub state: ThreadState,
    pub priority: u8,
    pub mcp: u8,
    pub ipc_buffer_vaddr: u64,
    /// All TCBs, for the debug scheduler dump (seL4's `ksDebugTCBs`).
    debug_prev: *mut Tcb,
    debug_next: *mut Tcb,
    pub name: [u8; TCB_NAME_LENGTH],
}

const _: () = assert!(core::mem::size_of::<Tcb>() <= (1 << sel4_compat::objects::TCB_BITS) - TCB_OFFSET as usize);
const _: () = assert!(5 * 32 <= TCB_OFFSET as usize);

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

    /// One of the thread's own cap slots (see [`tcb_slot`]).
    pub fn slot(&self, index: u64) -> *mut Cte {
        (self as *const Tcb as u64 - TCB_OFFSET + index * 32) as *mut Cte
    }

    fn slot_cap(&self, index: u64) -> Cap {
        // Safety: the TCB object's slots precede the TCB and live with it.
        unsafe { (*self.slot(index)).cap }
    }

    /// The thread's CSpace root cap.
    pub fn cspace_root(&self) -> Cap {
        self.slot_cap(tcb_slot::CTABLE)
    }

    /// Physical address of the thread's VSpace root, if it has a valid one.
    pub fn vspace_root_paddr(&self) -> Option<u64> {
        let cap = self.slot_cap(tcb_slot::VTABLE);
        (cap.is(CapType::Pml4) && cap.pml4_mapped()).then(|| pptr_to_paddr(cap.pml4_ptr()))
    }

    /// The thread's IPC buffer (seL4's `lookupIPCBuffer`): the buffer frame
    /// cap must be a writable, non-device frame.
    pub fn ipc_buffer(&mut self) -> Option<&'static mut sel4_compat::ipc::IpcBuffer> {
        let cap = self.slot_cap(tcb_slot::BUFFER);
        if !cap.is(CapType::Frame) || cap.frame_is_device() || cap.frame_rights() != vm_rights::READ_WRITE {
            return None;
        }
        let offset = self.ipc_buffer_vaddr & ((1u64 << cap.frame_size().bits()) - 1);
        // Safety: the frame is live while its cap sits in the TCB's slot;
        // SetIPCBuffer and boot require the buffer to be 1 KiB aligned, so
        // it lies wholly inside the frame.
        Some(unsafe { &mut *((cap.frame_base() + offset) as *mut sel4_compat::ipc::IpcBuffer) })
    }
}

struct Threads {
    current: *mut Tcb,
    debug_head: *mut Tcb,
    idle_announced: bool,
}

static THREADS: KernelCell<Threads> =
    KernelCell::new(Threads { current: core::ptr::null_mut(), debug_head: core::ptr::null_mut(), idle_announced: false });

/// Sets up a TCB in freshly zeroed memory (seL4's `createObject` for a
/// TCB): user-mode context, inactive, named after its creator, and listed
/// for the debug dump.
///
/// # Safety
/// `tcb` points at `TCB_OFFSET` into a zeroed TCB object that stays
/// allocated until `remove_thread`.
pub unsafe fn init_tcb(tcb: *mut Tcb, name: &[u8]) {
    // Safety: per the caller's contract; zero bytes are valid for every
    // field before we write them.
    let t = unsafe { &mut *tcb };
    t.ctx = UserContext::new_user(0);
    t.state = ThreadState::Inactive;
    t.set_name(name);
    // Safety: kernel context, no other borrow of THREADS is live.
    let threads = unsafe { THREADS.get() };
    t.debug_prev = core::ptr::null_mut();
    t.debug_next = threads.debug_head;
    if !threads.debug_head.is_null() {
        // Safety: listed TCBs are live.
        unsafe { (*threads.debug_head).debug_prev = tcb };
    }
    threads.debug_head = tcb;
}

/// Names a child TCB as seL4 does: `child of: '<creator>'`.
pub fn child_name(buf: &mut [u8; TCB_NAME_LENGTH]) -> usize {
    let parent = current_opt().map(|t| t.name()).unwrap_or("");
    let mut n = 0;
    for part in ["child of: '", parent, "'"] {
        for &b in part.as_bytes() {
            if n < TCB_NAME_LENGTH - 1 {
                buf[n] = b;
                n += 1;
            }
        }
    }
    n
}

/// A TCB's last cap is going: stop the thread and drop it from the lists.
///
/// # Safety
/// `tcb` is a live, listed TCB.
pub unsafe fn remove_thread(tcb: *mut Tcb) {
    // Safety: kernel context; listed TCBs are live.
    unsafe {
        let threads = THREADS.get();
        let t = &mut *tcb;
        t.state = ThreadState::Inactive;
        if t.debug_prev.is_null() {
            threads.debug_head = t.debug_next;
        } else {
            (*t.debug_prev).debug_next = t.debug_next;
        }
        if !t.debug_next.is_null() {
            (*t.debug_next).debug_prev = t.debug_prev;
        }
        t.debug_prev = core::ptr::null_mut();
        t.debug_next = core::ptr::null_mut();
    }
}

/// Makes `tcb` the thread that runs next.
///
/// # Safety
/// `tcb` is a live TCB.
pub unsafe fn set_current(tcb: *mut Tcb) {
    // Safety: kernel context.
    unsafe { THREADS.get() }.current = tcb;
}

fn current_opt() -> Option<&'static mut Tcb> {
    // Safety: kernel context; `current` is null or a live TCB.
    unsafe { THREADS.get().current.as_mut() }
}

/// The thread whose registers the current kernel entry saved.
pub fn current() -> &'static mut Tcb {
    current_opt().expect("a kernel entry from user mode always has a current thread")
}

/// Every TCB, newest first.
pub fn all_threads() -> impl Iterator<Item = &'static Tcb> {
    // Safety: kernel context; the list holds live TCBs.
    let mut next = unsafe { THREADS.get().debug_head };
    core::iter::from_fn(move || {
        // Safety: as above.
        let t = unsafe { next.as_ref() }?;
        next = t.debug_next;
        Some(t)
    })
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

/// A capability fault (invoking a cap pointer that does not resolve).
pub fn handle_cap_fault(cptr: u64) {
    let tcb = current();
    suspend_after_fault(tcb, format_args!("capability fault: invoked cap pointer {cptr:#x} does not name a cap"));
}

/// Returns to the current thread if it can run, else idles.
pub fn schedule_and_return() -> ! {
    let Some(tcb) = current_opt() else { idle() };
    if tcb.state == ThreadState::Inactive {
        idle();
    }
    let Some(vspace) = tcb.vspace_root_paddr() else {
        suspend_after_fault(tcb, format_args!("its VSpace root is not a valid, assigned PML4"));
        idle();
    };
    tcb.state = ThreadState::Running;
    cpu::load_fs_gs_base(tcb.fs_base, tcb.gs_base);
    // Safety: the TCB's context is a user frame (set at creation and only
    // ever saved by the entry code); the VSpace root maps the kernel
    // (every PML4 gets the kernel's mappings when created).
    unsafe {
        paging::load_vspace(vspace);
        entry::restore_user_context(&mut tcb.ctx)
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
    // Leave any address space that may be torn down while idle.
    // Safety: the boot PML4 maps the kernel.
    unsafe { paging::load_vspace(crate::arch::x86_64::boot::boot_pml4_paddr()) };
    loop {
        io::wait_for_interrupt();
    }
}
