//! Threads: the TCB, the current thread, and getting back to user mode.
//!
//! A TCB object (2^11 bytes) holds the thread's own cap slots first (CSpace
//! root, VSpace root, reply, caller, IPC buffer frame) and the `Tcb` at
//! `TCB_OFFSET`, where thread caps point, as in seL4.
//!
//! Scheduling is in `sched`; IPC and thread blocking in `ipc` and the
//! `object::endpoint`, `object::notification` and `object::reply` modules.

use crate::arch::x86_64::context::UserContext;
use crate::cap::rules::TCB_OFFSET;
use crate::cap::{vm_rights, Cap};
use crate::config::pptr_to_paddr;
use crate::cspace::cte::Cte;
use crate::kernel_state::KernelCell;
use crate::list::{Links, List};

/// seL4's thread states. The blocked states carry what seL4 keeps in the
/// TCB's state words: the object waited on and the IPC parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    Inactive,
    Running,
    /// Runnable; resumes by re-executing its last syscall or instruction.
    Restart,
    BlockedOnReceive {
        ep: u64,
        can_grant: bool,
    },
    BlockedOnSend {
        ep: u64,
        badge: u64,
        can_grant: bool,
        can_grant_reply: bool,
        is_call: bool,
    },
    BlockedOnReply,
    BlockedOnNotification {
        ntfn: u64,
    },
}

impl ThreadState {
    pub fn name(self) -> &'static str {
        match self {
            ThreadState::Inactive => "inactive",
            ThreadState::Running => "running",
            ThreadState::Restart => "restart",
            ThreadState::BlockedOnReceive { .. } => "blocked on recv",
            ThreadState::BlockedOnSend { .. } => "blocked on send",
            ThreadState::BlockedOnReply => "blocked on reply",
            ThreadState::BlockedOnNotification { .. } => "blocked on ntfn",
        }
    }

    /// seL4's `isRunnable`.
    pub fn is_runnable(self) -> bool {
        matches!(self, ThreadState::Running | ThreadState::Restart)
    }
}

/// A fault the thread took, kept until its handler replies (seL4's
/// `tcbFault` and `tcbLookupFailure`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    Cap { address: u64, in_receive_phase: bool, lookup: crate::cspace::lookup::LookupFault },
    UnknownSyscall { number: u64 },
    UserException { number: u64, code: u64 },
    VmFault { address: u64, fsr: u64, instruction: bool },
}

/// The TCB's cap slots (seL4's `tcbCTable` .. `tcbBuffer`, non-MCS).
pub mod tcb_slot {
    pub const CTABLE: u64 = 0;
    pub const VTABLE: u64 = 1;
    pub const REPLY: u64 = 2;
    pub const CALLER: u64 = 3;
    pub const BUFFER: u64 = 4;
    /// This kernel's user-interrupt slots: the UITT the thread's SENDUIPIs
    /// index, and the receiver it takes user interrupts on.
    pub const UITT: u64 = 5;
    pub const RECEIVER: u64 = 6;
}

pub const TCB_NAME_LENGTH: usize = 64;

/// A thread control block, at `TCB_OFFSET` inside its TCB object.
#[repr(C)]
pub struct Tcb {
    /// First, so that the TCB's address is the FXSAVE/FXRSTOR operand on
    /// every thread switch (no address arithmetic on the fastpath).
    pub fpu: crate::arch::x86_64::fpu::FpuState,
    pub ctx: UserContext,
    pub fs_base: u64,
    pub gs_base: u64,
    pub state: ThreadState,
    pub fault: Fault,
    pub priority: u8,
    pub mcp: u8,
    pub domain: u8,
    pub time_slice: u64,
    /// Capability pointer of the fault endpoint, in the thread's CSpace.
    pub fault_handler: u64,
    pub ipc_buffer_vaddr: u64,
    /// Where a `Restart` resumes: the syscall instruction for a syscall
    /// entry, the faulting instruction for an exception (seL4's FaultIP).
    pub restart_pc: u64,
    pub bound_notification: u64,
    /// seL4's `tcbFlags`: the `seL4_TCBFlag`s set by TCB SetFlags.
    pub flags: u64,
    /// The user-interrupt registers (handler, stack adjust, UIRR, UIF) of
    /// a receiving thread; all zero otherwise.
    pub uintr: crate::uintr::model::UintrState,
    /// Whether the thread is on the hardware path's list of blocked
    /// receivers (`uintr::switch`), and its links there.
    pub uintr_sleeping: bool,
    pub uintr_sleep_links: Links<Tcb>,
    /// Links of the ready queue and of an endpoint or notification queue.
    pub sched_links: Links<Tcb>,
    pub in_ready_queue: bool,
    pub ep_links: Links<Tcb>,
    /// All TCBs, for the debug scheduler dump (seL4's `ksDebugTCBs`).
    debug_links: Links<Tcb>,
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

    pub fn slot_cap(&self, index: u64) -> Cap {
        // Safety: the TCB object's slots precede the TCB and live with it.
        unsafe { (*self.slot(index)).cap }
    }

    /// The thread's CSpace root cap.
    pub fn cspace_root(&self) -> Cap {
        self.slot_cap(tcb_slot::CTABLE)
    }

    /// Physical address of the thread's VSpace root, if it has a valid one.
    pub fn vspace_root_paddr(&self) -> Option<u64> {
        self.slot_cap(tcb_slot::VTABLE).as_mapped_pml4().map(|pml4| pptr_to_paddr(pml4.ptr()))
    }

    /// The thread's IPC buffer (seL4's `lookupIPCBuffer`): the buffer frame
    /// cap must be a writable, non-device frame.
    /// The buffer is borrowed with the TCB, so that no second reference to
    /// it can be made through this thread while it is live.
    pub fn ipc_buffer(&mut self) -> Option<&mut sel4_compat::ipc::IpcBuffer> {
        // Safety: a pointer from `ipc_buffer_ptr` is to the thread's live
        // buffer; the reference is the only one this caller makes.
        self.ipc_buffer_ptr().map(|b| unsafe { &mut *b })
    }

    /// [`Tcb::ipc_buffer`] as a raw pointer, for the message copy, where
    /// two threads may share one buffer (so no two `&mut` may be made).
    #[inline]
    pub fn ipc_buffer_ptr(&self) -> Option<*mut sel4_compat::ipc::IpcBuffer> {
        let frame = self.slot_cap(tcb_slot::BUFFER).as_normal_frame_with_rights(vm_rights::READ_WRITE)?;
        debug_assert_eq!(frame.kernel_base(), frame.base());
        debug_assert_eq!(frame.offset_mask(), (1u64 << frame.size().bits()) - 1);
        let offset = self.ipc_buffer_vaddr & frame.offset_mask();
        // The frame is live while its cap sits in the TCB's slot;
        // SetIPCBuffer and boot require the buffer to be 1 KiB aligned, so
        // it lies wholly inside the frame.
        Some((frame.kernel_base() + offset) as *mut sel4_compat::ipc::IpcBuffer)
    }
}

/// The kind of list the debug list is.
struct DebugList;
crate::list::linked_through!(Tcb, DebugList, debug_links);

struct Threads {
    /// Every TCB, newest first.
    debug_list: List<Tcb, DebugList>,
    /// The first TCB made (the rootserver's, at boot) while it lives: seL4
    /// lists its idle thread just before it (`init_core_state`).
    boot_thread: *mut Tcb,
    any_made: bool,
}

static THREADS: KernelCell<Threads> = KernelCell::new(Threads { debug_list: List::new(), boot_thread: core::ptr::null_mut(), any_made: false });

/// The TCB created at boot, or null once it is deleted.
pub fn boot_thread() -> *const Tcb {
    // Safety: kernel context; only reads the pointer.
    unsafe { THREADS.get() }.boot_thread
}

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
    t.fpu = crate::arch::x86_64::fpu::FpuState::initial();
    t.state = ThreadState::Inactive;
    t.fault = Fault::None;
    t.time_slice = crate::config::TIME_SLICE_TICKS;
    t.set_name(name);
    // Safety: kernel context, no other borrow of THREADS is live.
    let threads = unsafe { THREADS.get() };
    // Safety: listed TCBs are live, and a new one is on no list.
    unsafe { threads.debug_list.push_front(tcb) };
    if !threads.any_made {
        threads.any_made = true;
        threads.boot_thread = tcb;
    }
}

/// Names a child TCB as seL4 does: `child of: '<creator>'`.
pub fn child_name(buf: &mut [u8; TCB_NAME_LENGTH]) -> usize {
    // Safety: the creating thread's TCB, only read (its name) while the
    // entry's reference to it is not in use.
    let parent = unsafe { crate::sched::current_ptr().as_ref() }.map(|t| t.name()).unwrap_or("");
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

/// A TCB's last cap is going: stop the thread (seL4's `suspend`, which
/// also takes it off any queue) and drop it from the debug list.
///
/// # Safety
/// `tcb` is a live, listed TCB.
pub unsafe fn remove_thread(tcb: *mut Tcb) {
    // Safety: kernel context; listed TCBs are live.
    unsafe {
        crate::ipc::suspend(&mut *tcb);
        crate::sched::forget_fpu_owner(tcb);
        crate::uintr::switch::forget_thread(&mut *tcb);
        let threads = THREADS.get();
        threads.debug_list.remove(tcb);
        if threads.boot_thread == tcb {
            threads.boot_thread = core::ptr::null_mut();
        }
    }
}

/// Every TCB, newest first.
pub fn all_threads() -> impl Iterator<Item = &'static Tcb> {
    // Safety: kernel context; the list holds live TCBs.
    unsafe { THREADS.get().debug_list.iter() }.map(|t| {
        // Safety: as above.
        unsafe { &*t }
    })
}
