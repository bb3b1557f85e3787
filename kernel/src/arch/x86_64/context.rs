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

/// The `error` word of a frame saved by the SYSCALL entry (seL4 marks
/// them the same way). Such a frame leaves by SYSRET, which restores rip
/// and rflags from rcx and r11; a kernel write to the thread's registers
/// clears the mark, so the exit takes IRETQ and keeps every register.
pub const SYSCALL_FRAME: u64 = u64::MAX;

/// The first address above user space (the canonical lower half).
pub const USER_TOP: u64 = 0x0000_8000_0000_0000;

/// RFLAGS a new thread starts with: interrupts on, bit 1 always set.
pub const RFLAGS_USER_DEFAULT: u64 = 0x202;

/// The registers a kernel entry saves, lowest address first: the stubs'
/// pushes (`r15` .. `rax`), the error code (or 0), and the frame the CPU
/// pushes for an interrupt (`rip` .. `ss`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrapFrame {
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
    /// The exception's error code, 0, or [`SYSCALL_FRAME`].
    pub error: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// A thread's saved user registers. 16-byte aligned with the end of the
/// frame on a 16-byte boundary, because the CPU aligns the stack before
/// pushing an interrupt frame at `TSS.rsp0`.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default)]
pub struct UserContext {
    _pad: u64,
    pub regs: TrapFrame,
}

const _: () = assert!(core::mem::size_of::<UserContext>() == 176);
const _: () = assert!(core::mem::offset_of!(UserContext, regs) == 8);
const _: () = assert!(core::mem::offset_of!(TrapFrame, rax) == 112);
const _: () = assert!(core::mem::offset_of!(TrapFrame, error) == 120);
const _: () = assert!(core::mem::offset_of!(TrapFrame, rip) == 128);
const _: () = assert!(core::mem::offset_of!(TrapFrame, ss) == 160);

impl UserContext {
    /// A context that starts at `entry` in user mode.
    pub fn new_user(entry: u64) -> Self {
        let regs = TrapFrame { rip: entry, cs: USER_CS, rflags: RFLAGS_USER_DEFAULT, ss: USER_SS, ..Default::default() };
        UserContext { _pad: 0, regs }
    }

    /// Address just past the frame: what `TSS.rsp0` holds while this
    /// context's thread runs.
    pub fn top(&mut self) -> u64 {
        self as *mut Self as u64 + core::mem::size_of::<Self>() as u64
    }
}
