//! The user register frame saved in every TCB.
//!
//! Its layout is dictated by the entry code: the CPU pushes `rip..ss` (and
//! an error code) onto `TSS.rsp0`, which always points just past the
//! current thread's frame, and the entry stubs push the general-purpose
//! registers below that. So a kernel entry saves user state straight into
//! the TCB, and leaving the kernel is popping the same frame.

/// User code and stack selectors (seL4's GDT slots 5 and 6, RPL 3).
pub const USER_CS: u64 = 0x2b;
pub const USER_SS: u64 = 0x33;

/// RFLAGS a new thread starts with: interrupts on, bit 1 always set.
pub const RFLAGS_USER_DEFAULT: u64 = 0x202;

/// The saved user registers. 16-byte aligned with its end on a 16-byte
/// boundary, because the CPU aligns the stack before pushing a frame.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default)]
pub struct UserContext {
    _pad: u64,
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// The exception's error code, or 0.
    pub error: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

const _: () = assert!(core::mem::size_of::<UserContext>() == 176);
const _: () = assert!(core::mem::offset_of!(UserContext, r15) == 8);
const _: () = assert!(core::mem::offset_of!(UserContext, rax) == 120);
const _: () = assert!(core::mem::offset_of!(UserContext, error) == 128);
const _: () = assert!(core::mem::offset_of!(UserContext, rip) == 136);
const _: () = assert!(core::mem::offset_of!(UserContext, ss) == 168);

impl UserContext {
    /// A context that starts at `entry` in user mode.
    pub fn new_user(entry: u64) -> Self {
        UserContext { rip: entry, cs: USER_CS, rflags: RFLAGS_USER_DEFAULT, ss: USER_SS, ..Default::default() }
    }

    /// Address just past the frame: what `TSS.rsp0` holds while this
    /// context's thread runs.
    pub fn top(&mut self) -> u64 {
        self as *mut Self as u64 + core::mem::size_of::<Self>() as u64
    }
}

/// Registers pushed by a trap taken in kernel mode (same order as the
/// user frame, on the kernel or fault stack).
#[repr(C)]
#[derive(Debug)]
pub struct KernelTrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub error: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}
