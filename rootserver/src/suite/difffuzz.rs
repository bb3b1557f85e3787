//! The differential fuzzer (`--features difffuzz`): from a seed, a long
//! sequence of syscalls and invocations whose every observable result is
//! folded into a running hash, so that the same image booted on this
//! kernel and on stock seL4 can be compared by their consoles
//! (`cargo xtask difffuzz`).
//!
//! Everything here must run unchanged on stock seL4: no UINTR objects, no
//! debug calls of our own, no `clui`. Its world is built from one untyped
//! so that nothing depends on what the bootinfo hands out beyond the
//! shape of the rootserver's own image:
//!
//! - F, the fuzzer (priority 100), in a CSpace of its own (2^8 slots,
//!   guard to 64 bits) holding an untyped of 2^21 bytes, endpoints E0 and
//!   E1, notification N0, two victim TCBs, a small CNode, the ASID pool,
//!   IRQ control, I/O port control, ASID control and the domain cap;
//! - P (150), a server blocked on E0 that records and answers what F
//!   sends it;
//! - H (200), F's and the victims' fault handler;
//! - L (50), which runs only when every other thread is blocked: it
//!   takes and answers what waits on E1, sends on E1, signals N0, and
//!   finally moves F past the syscall it is blocked in, so F never hangs;
//! - T1, T2 (set up by F's invocations; their instruction pointers come
//!   from a table of entries that fault at once), victims whose faults go
//!   to H, to nothing, or wherever F pointed them.
//!
//! Priorities are all distinct and no interrupt reaches user level, so
//! which thread runs next is decided by the kernel's IPC and scheduling
//! rules alone, as on seL4: the timer only ever preempts a thread that is
//! alone at the highest runnable priority. Invocations that would change
//! that are kept out of the generator (priorities 50 and 100, IRQ lines
//! of live devices, I/O ports outside a harmless window). The one
//! exception: F sets the victims' priorities, so two victims can share
//! one; they then run in the ready queue's order unless a victim's time
//! slice (five timer ticks, each landing while it runs its few
//! instructions before faulting) runs out, which is what could make a
//! run differ by timing. None of the runs made has shown it.
//!
//! What is recorded: every result (message info, badge register, message
//! registers up to the returned length, which carry the error words and
//! lookup failures), what each receiving thread gets (badge, info,
//! words, unwrapped badges, the type of a received cap), fault messages,
//! the order in which the threads run (each observation names its
//! thread), and at each checkpoint the types DebugCapIdentify reports for
//! every slot of F's CSpace. What is left out, each where it arises:
//! physical addresses (Page_GetAddress), kernel addresses (none reach
//! user level otherwise), untyped placement (only offsets inside F's own
//! aligned untyped are used) and time (nothing reads the TSC).
//!
//! Build-time parameters (environment variables at `cargo build`):
//! `DIFFFUZZ_SEED` (default 1), `DIFFFUZZ_CALLS` (default 100000),
//! `DIFFFUZZ_EVERY` (checkpoint interval, default 1000) and
//! `DIFFFUZZ_WINDOW=A-B`: print every observation of steps A..B.
//! Console lines: `difffuzz: seed S step N hash H` at each checkpoint,
//! `difffuzz: done S steps hash H` at the end (then `difffuzz: end`),
//! `df N X ...` in the window.

use super::{find_untyped, Rng, ROOT_NODE};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use sel4::arch::{syscall, syscall_number, SyscallRegs};
use sel4::cap::{init, CNode, CapRights, Endpoint, Notification, Tcb};
use sel4::invocation_labels as l;
use sel4::ipc_buffer::TlsBlock;
use sel4::{object_type, BootInfo, IpcBuffer, MessageInfo, ObjectType, Syscall};

const PAGE: u64 = 4096;

fn env_u64(v: Option<&str>, default: u64) -> u64 {
    match v {
        Some(s) => {
            let mut n = 0u64;
            for b in s.bytes() {
                if b.is_ascii_digit() {
                    n = n.wrapping_mul(10).wrapping_add((b - b'0') as u64);
                }
            }
            n
        }
        None => default,
    }
}

fn seed() -> u64 {
    env_u64(option_env!("DIFFFUZZ_SEED"), 1)
}
fn calls() -> u64 {
    env_u64(option_env!("DIFFFUZZ_CALLS"), 100_000)
}
fn every() -> u64 {
    env_u64(option_env!("DIFFFUZZ_EVERY"), 1000).max(1)
}
/// The window of steps whose observations are printed in full.
fn window() -> (u64, u64) {
    match option_env!("DIFFFUZZ_WINDOW") {
        Some(w) => match w.split_once('-') {
            Some((a, b)) => (env_u64(Some(a), 0), env_u64(Some(b), 0)),
            None => (0, 0),
        },
        None => (0, 0),
    }
}

static STEP: AtomicU64 = AtomicU64::new(0);
static HASH: AtomicU64 = AtomicU64::new(0xcbf2_9ce4_8422_2325);
static DONE: AtomicBool = AtomicBool::new(false);
static IN_WINDOW: AtomicBool = AtomicBool::new(false);
/// Invocations made and invocations that succeeded, by label (for the
/// closing coverage line; not part of the hash).
static MADE: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];
static SUCCEEDED: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];

/// Folds one thread's observation into the hash (and prints it inside the
/// window). Only one thread runs at a time on this single-core
/// configuration, so the read-modify-write needs no more than relaxed.
fn obs(tag: u8, words: &[u64]) {
    let mut h = HASH.load(Ordering::Relaxed);
    let mut mix = |w: u64| {
        h ^= w;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        h ^= h >> 29;
    };
    mix(tag as u64 | (words.len() as u64) << 8);
    for &w in words {
        mix(w);
    }
    HASH.store(h, Ordering::Relaxed);
    if IN_WINDOW.load(Ordering::Relaxed) {
        sel4::print!("df {} {}", STEP.load(Ordering::Relaxed), tag as char);
        for w in words {
            sel4::print!(" {:x}", w);
        }
        sel4::println!();
    }
}

// ---------------------------------------------------------------- memory

const THREADS: usize = 6;
const STACK_BYTES: usize = 16 * 1024;

#[repr(C, align(4096))]
struct Pages([[u8; 4096]; THREADS]);
#[repr(C, align(16))]
struct Stacks([[u8; STACK_BYTES]; THREADS]);

/// The threads' IPC buffers, one page each, inside the rootserver image so
/// that their frame caps are among the image frames bootinfo lists.
static mut BUFFERS: Pages = Pages([[0; 4096]; THREADS]);
static mut STACKS: Stacks = Stacks([[0; STACK_BYTES]; THREADS]);
static mut TLS: [TlsBlock; THREADS] = [const { TlsBlock::new() }; THREADS];

/// Thread numbers (index into the arrays above).
const F: usize = 0;
const P: usize = 1;
const H: usize = 2;
const L: usize = 3;
const KT1: usize = 4;

fn buffer_addr(k: usize) -> u64 {
    // Safety: only the address is taken.
    unsafe { core::ptr::addr_of_mut!(BUFFERS.0[k]) as u64 }
}
fn stack_top(k: usize) -> u64 {
    // Safety: only the address is taken.
    unsafe { core::ptr::addr_of_mut!(STACKS.0[k]) as u64 + STACK_BYTES as u64 }
}
fn buffer(k: usize) -> *mut IpcBuffer {
    buffer_addr(k) as *mut IpcBuffer
}

// ------------------------------------------------------------ F's CSpace

/// F's slots. The generator never names `F_FAULT` itself (so that H can
/// tell F's faults by their badge), though copies of it may appear.
mod fs {
    pub const ROOT: u64 = 1;
    pub const UNTYPED: u64 = 2;
    pub const E0: u64 = 3;
    pub const E1: u64 = 4;
    pub const N0: u64 = 5;
    pub const T1: u64 = 6;
    pub const T2: u64 = 7;
    pub const SUB: u64 = 8;
    pub const ASID_POOL: u64 = 9;
    pub const IRQ_CONTROL: u64 = 10;
    pub const IO_PORT_CONTROL: u64 = 11;
    pub const F_FAULT: u64 = 12;
    /// H's endpoint badged for the victims.
    pub const T_FAULT: u64 = 13;
    pub const ASID_CONTROL: u64 = 14;
    pub const DOMAIN: u64 = 15;
    /// A frame for IPC buffers and mappings.
    pub const FRAME: u64 = 16;
}
const F_RADIX: u8 = 8;
const SUB_RADIX: u8 = 4;
const SMALL_RADIX: u8 = 4;
const F_BADGE: u64 = 0xf;
const T_BADGE: u64 = 0x7;

/// Slots of the helpers' CSpaces (2^4 slots each, guard to 64 bits).
mod ps {
    pub const E0: u64 = 1;
    pub const N0: u64 = 2;
    pub const E1_BADGED: u64 = 3;
    pub const RECV: u64 = 4;
    pub const ROOT: u64 = 5;
}
mod hs {
    pub const HE: u64 = 1;
    pub const F_TCB: u64 = 2;
    pub const DONE: u64 = 3;
}
mod ls {
    pub const E1: u64 = 1;
    pub const N0: u64 = 2;
    pub const F_TCB: u64 = 3;
    pub const RECV: u64 = 4;
    pub const ROOT: u64 = 5;
}

/// Priorities in use: the generator maps its choices away from F's and
/// L's, so that no victim shares a priority with a thread that runs.
const PRIO_F: u64 = 100;
const PRIO_P: u64 = 150;
const PRIO_H: u64 = 200;
const PRIO_L: u64 = 50;

// ----------------------------------------------------------- generators

impl Rng {
    /// A slot of F's CSpace: mostly the populated low ones.
    fn slot(&mut self) -> u64 {
        let v = match self.below(10) {
            0..=6 => self.below(40),
            7..=8 => self.below(256),
            _ => self.next(),
        };
        if v == fs::F_FAULT {
            fs::F_FAULT + 8
        } else {
            v
        }
    }
    fn depth(&mut self) -> u64 {
        match self.below(10) {
            0..=5 => 64,
            6 => 4,
            7 => 8,
            8 => 0,
            _ => self.below(70),
        }
    }
    /// A CNode to invoke or name as a root: F's own, the small one, or any.
    fn cnode(&mut self) -> u64 {
        match self.below(8) {
            0..=4 => fs::ROOT,
            5 => fs::SUB,
            _ => self.slot(),
        }
    }
    fn badge(&mut self) -> u64 {
        match self.below(6) {
            0 => 0,
            1..=3 => self.below(16),
            4 => 64 - F_RADIX as u64 + self.below(3), // a guard size around F's
            _ => self.next(),
        }
    }
    fn any(&mut self) -> u64 {
        match self.below(4) {
            0 => self.below(8),
            1 => self.below(300),
            _ => self.next(),
        }
    }
    fn prio(&mut self) -> u64 {
        let p = if self.below(4) == 0 { self.next() } else { self.below(256) };
        match p {
            PRIO_F => PRIO_F - 1,
            PRIO_L => PRIO_L + 1,
            _ => p,
        }
    }
    fn vaddr(&mut self) -> u64 {
        const TABLE: [u64; 8] = [0, 0x1000, 0x20_0000, 0x4000_0000, 0x80_0000_0000, 0x7fff_ffff_f000, 0xffff_8000_0000_0000, 0x1234_5000];
        match self.below(8) {
            0..=5 => TABLE[self.below(8) as usize] + self.below(4) * PAGE,
            6 => self.next() & 0x0000_7fff_ffff_f000,
            _ => self.next(),
        }
    }
    /// I/O ports: a window of DMA page registers, harmless to read and
    /// write, and a little either side (refused by every cap F can get).
    fn port(&mut self) -> u64 {
        0x7c + self.below(0x18)
    }
    /// IOAPIC pins with no device behind them in QEMU's PC (and some that
    /// do not exist): an IRQ handler F binds never fires, so no
    /// notification is signalled at a time the kernels could differ on.
    fn pin(&mut self) -> u64 {
        [5, 7, 10, 11, 24, 30, 255, 1 << 32][self.below(8) as usize]
    }
    /// Object types of the configuration (0..12: seL4's on x86_64, non-MCS).
    /// Numbers at and above 12 are left out: this kernel's own extension
    /// types live there, which stock seL4 refuses by design.
    fn object_type(&mut self) -> u64 {
        self.below(object_type::COUNT)
    }
    fn size_bits(&mut self, ty: u64) -> u64 {
        match self.below(8) {
            0 => self.below(70),
            _ => match ty {
                object_type::UNTYPED => 4 + self.below(18),
                object_type::CAP_TABLE => self.below(12),
                _ => self.below(4),
            },
        }
    }
}

/// A canonical address for TCB_SetTLSBase. Stock seL4 stores a
/// non-canonical TLS base as given (ReadRegisters shows it, and loading it
/// into FS_BASE when the thread runs would fault in the kernel); this
/// kernel stores 0, as seL4 does for the same value through WriteRegisters.
/// A stock fault we do not copy (README, "Differential fuzzing"), so the
/// generator does not ask.
fn canonical(v: u64) -> u64 {
    if v > 0x0000_7fff_ffff_ffff && v < 0xffff_8000_0000_0000 {
        v & 0x0000_7fff_ffff_ffff
    } else {
        v
    }
}

/// Entries for the victims (WriteRegisters only ever points them at
/// these): each faults at once, in its own way, with at most one syscall.
extern "C" fn v_vmfault() -> ! {
    // Safety: a read of an unmapped page, to take a VM fault.
    unsafe { core::ptr::read_volatile(0x1000 as *const u64) };
    v_ud2()
}
extern "C" fn v_ud2() -> ! {
    loop {
        // Safety: a deliberate invalid opcode: a user exception fault.
        unsafe { core::arch::asm!("ud2") };
    }
}
extern "C" fn v_unknown() -> ! {
    syscall_number(0x55, SyscallRegs::default());
    v_ud2()
}
extern "C" fn v_capfault() -> ! {
    syscall(Syscall::Send, SyscallRegs { dest: 250, info: MessageInfo::new(3, 0, 0, 2).0, mr: [1, 2, 3, 4] });
    v_ud2()
}
extern "C" fn v_gp() -> ! {
    // Safety: a read of a non-canonical address, to take #GP.
    unsafe { core::ptr::read_volatile(0x8000_0000_0000_0000u64 as *const u64) };
    v_ud2()
}

fn victim_ip(rng: &mut Rng) -> u64 {
    let table = [
        v_vmfault as *const () as u64,
        v_ud2 as *const () as u64,
        v_unknown as *const () as u64,
        v_capfault as *const () as u64,
        v_gp as *const () as u64,
        0,
        0x1000,
        0xffff_8000_0000_0000,
    ];
    table[rng.below(table.len() as u64) as usize]
}

fn victim_sp(rng: &mut Rng, k: usize) -> u64 {
    [stack_top(k) - 8, 0, 0x1000, stack_top(k) - 8 - 8 * rng.below(64)][rng.below(4) as usize]
}

/// A fault endpoint pointer for a victim: H's victim endpoint, nothing,
/// a notification, an empty slot (but never F's own fault endpoint, or
/// H would take a victim's fault for F's).
fn fault_cptr(rng: &mut Rng) -> u64 {
    [fs::T_FAULT, fs::T_FAULT, 0, fs::N0, 250][rng.below(5) as usize]
}

// --------------------------------------------------------------- F

/// One invocation: its label, words and caps.
struct Inv {
    cap: u64,
    label: u64,
    args: [u64; 24],
    n: usize,
    caps: [u64; 3],
    ncaps: usize,
}

impl Inv {
    fn new(cap: u64, label: u64) -> Self {
        Inv { cap, label, args: [0; 24], n: 0, caps: [0; 3], ncaps: 0 }
    }
    fn a(mut self, w: u64) -> Self {
        self.args[self.n] = w;
        self.n += 1;
        self
    }
    fn c(mut self, cap: u64) -> Self {
        self.caps[self.ncaps] = cap;
        self.ncaps += 1;
        self
    }
}

fn generate(rng: &mut Rng) -> Inv {
    use fs::*;
    let tcb = |rng: &mut Rng| match rng.below(5) {
        0..=1 => T1,
        2..=3 => T2,
        _ => rng.slot(),
    };
    match rng.below(30) {
        0..=3 => {
            let ty = rng.object_type();
            let (index, depth) = match rng.below(4) {
                0..=1 => (0, 0),
                2 => (SUB, 64),
                _ => (rng.slot(), rng.depth()),
            };
            let num = if rng.below(8) == 0 { rng.any() } else { 1 + rng.below(3) };
            let offset = if rng.below(8) == 0 { rng.any() } else { 16 + rng.below(40) };
            let ut = if rng.below(4) == 0 { rng.slot() } else { UNTYPED };
            Inv::new(ut, l::UNTYPED_RETYPE).a(ty).a(rng.size_bits(ty)).a(index).a(depth).a(offset).a(num).c(rng.cnode())
        }
        4..=9 => {
            let node = rng.cnode();
            let label = l::CNODE_REVOKE + rng.below(l::CNODE_SAVE_CALLER - l::CNODE_REVOKE + 1);
            let mut inv = Inv::new(node, label).a(rng.slot()).a(rng.depth());
            match label {
                l::CNODE_COPY => inv = inv.a(rng.slot()).a(rng.depth()).a(rng.below(16)).c(rng.cnode()),
                l::CNODE_MINT => inv = inv.a(rng.slot()).a(rng.depth()).a(rng.below(16)).a(rng.badge()).c(rng.cnode()),
                l::CNODE_MOVE => inv = inv.a(rng.slot()).a(rng.depth()).c(rng.cnode()),
                l::CNODE_MUTATE => inv = inv.a(rng.slot()).a(rng.depth()).a(rng.badge()).c(rng.cnode()),
                l::CNODE_ROTATE => {
                    inv = inv.a(rng.badge()).a(rng.slot()).a(rng.depth()).a(rng.badge()).a(rng.slot()).a(rng.depth());
                    inv = inv.c(rng.cnode()).c(rng.cnode())
                }
                _ => {}
            }
            inv
        }
        10..=14 => {
            let t = tcb(rng);
            let label = l::TCB_READ_REGISTERS + rng.below(l::TCB_SET_FLAGS - l::TCB_READ_REGISTERS + 1);
            let inv = Inv::new(t, label);
            match label {
                l::TCB_READ_REGISTERS => inv.a(rng.below(2)).a(rng.below(24)),
                l::TCB_WRITE_REGISTERS => {
                    // At least rip..r11 (14 registers): rsp, rcx and r11
                    // are the registers stock seL4 leaves stale after a
                    // syscall (see READ_REGISTERS_UNSAVED), and a victim
                    // resumed with such a stale stack pointer would run
                    // differently on the two kernels from then on.
                    let count = if rng.below(4) == 0 { 14 + rng.below(10) } else { 20 };
                    let k = if t == T2 { KT1 + 1 } else { KT1 };
                    // Resume flag in bit 0, arch flags from bit 8.
                    let mut inv = inv.a(rng.below(2) | rng.below(2) << 8).a(count);
                    inv = inv.a(victim_ip(rng)).a(victim_sp(rng, k));
                    for _ in 2..count.min(20) {
                        inv = inv.a(rng.any());
                    }
                    inv
                }
                // Without the frame registers (flag bit 2): they include
                // rsp, rcx and r11, stale on stock seL4 in a source that
                // last entered the kernel by SYSCALL, and a target resumed
                // with them would run differently on the two kernels.
                l::TCB_COPY_REGISTERS => inv.a(rng.below(16) & !4).c(tcb(rng)),
                l::TCB_CONFIGURE => {
                    let buf = if rng.below(2) == 0 { 0 } else { buffer_addr(KT1) + rng.below(3) * 512 };
                    let croot = if rng.below(3) == 0 { rng.slot() } else { ROOT };
                    let cdata = if rng.below(3) == 0 { rng.badge() } else { 0 };
                    inv.a(fault_cptr(rng)).a(cdata).a(0).a(buf).c(croot).c(rng.slot()).c(if rng.below(2) == 0 { FRAME } else { rng.slot() })
                }
                l::TCB_SET_PRIORITY | l::TCB_SET_MCPRIORITY => inv.a(rng.prio()).c(tcb(rng)),
                l::TCB_SET_SCHED_PARAMS => inv.a(rng.prio()).a(rng.prio()).c(tcb(rng)),
                l::TCB_SET_IPC_BUFFER => {
                    let buf = if rng.below(2) == 0 { 0 } else { buffer_addr(KT1) + rng.below(1024) };
                    inv.a(buf).c(if rng.below(2) == 0 { FRAME } else { rng.slot() })
                }
                l::TCB_SET_SPACE => {
                    let croot = if rng.below(3) == 0 { rng.slot() } else { ROOT };
                    inv.a(fault_cptr(rng)).a(0).a(0).c(croot).c(rng.slot())
                }
                l::TCB_BIND_NOTIFICATION => inv.c(if rng.below(2) == 0 { N0 } else { rng.slot() }),
                l::TCB_SET_TLS_BASE => inv.a(canonical(rng.any())),
                l::TCB_SET_FLAGS => inv.a(rng.below(4)).a(rng.below(4)),
                _ => inv,
            }
        }
        15..=17 => {
            // Paging structures and frames, mapped into VSpaces F made.
            let label = l::X86_PDPT_MAP + rng.below(l::X86_ASID_POOL_ASSIGN - l::X86_PDPT_MAP + 1);
            let obj = rng.slot();
            match label {
                l::X86_PDPT_MAP | l::X86_PAGE_DIRECTORY_MAP | l::X86_PAGE_TABLE_MAP => {
                    Inv::new(obj, label).a(rng.vaddr()).a(rng.below(8)).c(rng.slot())
                }
                l::X86_PAGE_MAP => Inv::new(obj, label).a(rng.vaddr()).a(rng.below(16)).a(rng.below(8)).c(rng.slot()),
                l::X86_ASID_CONTROL_MAKE_POOL => {
                    let c = if rng.below(2) == 0 { ASID_CONTROL } else { obj };
                    Inv::new(c, label).a(rng.slot()).a(rng.depth()).c(rng.slot()).c(rng.cnode())
                }
                l::X86_ASID_POOL_ASSIGN => Inv::new(if rng.below(2) == 0 { ASID_POOL } else { obj }, label).c(rng.slot()),
                _ => Inv::new(obj, label),
            }
        }
        18 => {
            let c = if rng.below(3) == 0 { rng.slot() } else { IRQ_CONTROL };
            match rng.below(3) {
                0 => Inv::new(c, l::X86_IRQ_ISSUE_IRQ_HANDLER_IOAPIC)
                    .a(rng.slot())
                    .a(rng.depth())
                    .a(rng.below(2))
                    .a(rng.pin())
                    .a(rng.below(2))
                    .a(rng.below(2))
                    .a(rng.below(256))
                    .c(rng.cnode()),
                1 => Inv::new(c, l::X86_IRQ_ISSUE_IRQ_HANDLER_MSI)
                    .a(rng.slot())
                    .a(rng.depth())
                    .a(rng.below(300))
                    .a(rng.below(40))
                    .a(rng.below(10))
                    .a(rng.any())
                    .a(rng.below(256))
                    .c(rng.cnode()),
                _ => Inv::new(c, l::IRQ_ISSUE_IRQ_HANDLER).a(rng.pin()).a(rng.slot()).a(rng.depth()).c(rng.cnode()),
            }
        }
        19 => {
            let label = l::IRQ_ACK_IRQ + rng.below(3);
            let inv = Inv::new(rng.slot(), label);
            if label == l::IRQ_SET_IRQ_HANDLER {
                inv.c(if rng.below(2) == 0 { N0 } else { rng.slot() })
            } else {
                inv
            }
        }
        20 => {
            let label = l::X86_IOPORT_CONTROL_ISSUE + rng.below(7);
            if label == l::X86_IOPORT_CONTROL_ISSUE {
                let c = if rng.below(3) == 0 { rng.slot() } else { IO_PORT_CONTROL };
                // Inside the window, or the kernel's own serial port.
                let (first, last) = if rng.below(8) == 0 {
                    (0x3f8, 0x3ff)
                } else {
                    let a = 0x80 + rng.below(16);
                    (a, a + rng.below(0x90 - a))
                };
                Inv::new(c, label).a(first).a(last).a(rng.slot()).a(rng.depth()).c(rng.cnode())
            } else if label >= l::X86_IOPORT_OUT8 {
                Inv::new(rng.slot(), label).a(rng.port()).a(rng.below(256))
            } else {
                Inv::new(rng.slot(), label).a(rng.port())
            }
        }
        21 => {
            let cap = if rng.below(2) == 0 { DOMAIN } else { rng.slot() };
            match rng.below(3) {
                0 => Inv::new(cap, l::DOMAIN_SET_SET).a(rng.below(3)).c(tcb(rng)),
                // Indices and domains around the one-domain schedule's
                // bounds; durations of zero, small, the 56-bit limit and
                // just past it.
                1 => {
                    let duration = [0, 1 + rng.below(1000), u64::MAX >> 8, 1 << 56, rng.any()][rng.below(5) as usize];
                    Inv::new(cap, l::DOMAIN_SCHEDULE_CONFIGURE).a(rng.below(3)).a(rng.below(3)).a(duration)
                }
                _ => Inv::new(cap, l::DOMAIN_SCHEDULE_SET_START).a(rng.below(3)),
            }
        }
        // Revoking F's untyped deletes everything retyped from it, so that
        // retypes keep finding room (and the deletions run in bulk).
        22 => Inv::new(ROOT, l::CNODE_REVOKE).a(UNTYPED).a(64),
        _ => {
            // Any label on any cap.
            let label = rng.below(l::COUNT + 3);
            let mut inv = Inv::new(rng.slot(), label);
            for _ in 0..rng.below(8) {
                inv = inv.a(rng.any());
            }
            if label == l::TCB_SET_TLS_BASE {
                inv.args[0] = canonical(inv.args[0]);
            }
            for _ in 0..rng.below(4) {
                inv = inv.c(rng.slot());
            }
            inv
        }
    }
}

/// Registers stock seL4 does not save when a thread enters by SYSCALL: its
/// fast entry stores neither the user stack pointer nor rcx and r11 (which
/// SYSCALL itself overwrites, and which seL4's ABI declares clobbered), so
/// stock reports whatever an earlier exception entry or WriteRegisters
/// left in those slots, where this kernel reports the registers as they
/// were. Left out of the comparison wherever they appear: the
/// unknown-syscall fault message (words 2, 10 and 16: RCX, R11, SP) and
/// ReadRegisters (rsp, rcx, r11 at 1, 5 and 13 of seL4_UserContext).
const UNKNOWN_SYSCALL_UNSAVED: [usize; 3] = [2, 10, 16];
const READ_REGISTERS_UNSAVED: [usize; 3] = [1, 5, 13];
const FAULT_UNKNOWN_SYSCALL: u64 = 2;
const UNKNOWN_SYSCALL_LENGTH: u64 = 19;

/// Blanks the words of a received message that hold unsaved registers.
fn mask_received(info: MessageInfo, msg: &mut [u64]) {
    if info.label() == FAULT_UNKNOWN_SYSCALL && info.length() == UNKNOWN_SYSCALL_LENGTH {
        for i in UNKNOWN_SYSCALL_UNSAVED {
            msg[i] = 0;
        }
    }
}

/// The words of a syscall's result that a program sees.
fn observe_result(tag: u8, out: SyscallRegs, skip_words: bool) {
    observe_result_masked(tag, out, skip_words, &[])
}

fn observe_result_masked(tag: u8, out: SyscallRegs, skip_words: bool, masked: &[usize]) {
    let info = MessageInfo(out.info);
    let len = (info.length() as usize).min(120);
    let mut words = [0u64; 2 + 120];
    words[0] = out.info;
    words[1] = out.dest;
    let mut n = 2;
    if !skip_words {
        for i in 0..len {
            // Safety: F's own IPC buffer; only F runs while it reads it.
            words[n] = if i < 4 { out.mr[i] } else { unsafe { (*buffer(F)).msg[i] } };
            n += 1;
        }
        if tag == b'R' {
            mask_received(info, &mut words[2..n]);
        }
        for &i in masked {
            if 2 + i < n {
                words[2 + i] = 0;
            }
        }
        // The masked words stay in F's IPC buffer, where a later result
        // whose length reaches past what the kernel wrote (an unknown
        // syscall F is moved past returns F's own message info) would read
        // them: they are cleared there too.
        for i in 4..len {
            if words[2 + i] == 0 {
                // Safety: F's own IPC buffer.
                unsafe { (*buffer(F)).msg[i] = 0 };
            }
        }
    }
    obs(tag, &words[..n]);
}

fn invoke(inv: &Inv) -> SyscallRegs {
    {
        // Safety: F's own IPC buffer, used by F alone.
        let b = unsafe { &mut *buffer(F) };
        b.msg[4..inv.n.max(4)].copy_from_slice(&inv.args[4..inv.n.max(4)]);
        b.caps_or_badges[..inv.ncaps].copy_from_slice(&inv.caps[..inv.ncaps]);
    }
    let mut mr = [0u64; 4];
    mr[..inv.n.min(4)].copy_from_slice(&inv.args[..inv.n.min(4)]);
    let info = MessageInfo::new(inv.label, 0, inv.ncaps as u64, inv.n as u64);
    syscall(Syscall::Call, SyscallRegs { dest: inv.cap, info: info.0, mr })
}

/// IPC syscalls F makes on its endpoints, notification and anything else.
fn ipc_step(rng: &mut Rng) {
    const SYS: [Syscall; 9] = [
        Syscall::Call,
        Syscall::Send,
        Syscall::NBSend,
        Syscall::Recv,
        Syscall::NBRecv,
        Syscall::Reply,
        Syscall::ReplyRecv,
        Syscall::Yield,
        Syscall::Call,
    ];
    let sys = SYS[rng.below(SYS.len() as u64) as usize];
    let dest = match rng.below(8) {
        0..=1 => fs::E0,
        2..=3 => fs::E1,
        4 => fs::N0,
        5 => fs::T_FAULT,
        _ => rng.slot(),
    };
    let len = if rng.below(4) == 0 { rng.below(121) } else { rng.below(6) };
    let ncaps = if rng.below(3) == 0 { rng.below(4) } else { 0 };
    let label = if rng.below(4) == 0 { rng.next() } else { rng.below(64) };
    let info = MessageInfo::new(label, rng.below(8), ncaps, len);
    let recv_slot = 16 + rng.below(24);
    let recv_cnode = if rng.below(8) == 0 { rng.slot() } else { fs::ROOT };
    let recv_depth = if rng.below(8) == 0 { rng.depth() } else { 64 };
    {
        // Safety: F's own IPC buffer, used by F alone.
        let b = unsafe { &mut *buffer(F) };
        for w in b.msg.iter_mut().take(len as usize).skip(4) {
            *w = rng.any();
        }
        for c in b.caps_or_badges.iter_mut() {
            *c = rng.slot();
        }
        b.receive_cnode = recv_cnode;
        b.receive_index = recv_slot;
        b.receive_depth = recv_depth;
    }
    let mr = [rng.any(), rng.any(), rng.any(), rng.any()];
    if IN_WINDOW.load(Ordering::Relaxed) {
        sel4::print!(
            "df {} > syscall {} dest {:x} info {:x} mrs {:x} {:x} {:x} {:x}",
            STEP.load(Ordering::Relaxed),
            sys as i64,
            dest,
            info.0,
            mr[0],
            mr[1],
            mr[2],
            mr[3]
        );
        // Safety: F's own IPC buffer.
        let b = unsafe { &*buffer(F) };
        sel4::print!(" buffer");
        for w in b.msg.iter().take(len as usize).skip(4) {
            sel4::print!(" {:x}", w);
        }
        sel4::println!(
            " caps {:x} {:x} {:x} recv {:x} {:x} {:x}",
            b.caps_or_badges[0],
            b.caps_or_badges[1],
            b.caps_or_badges[2],
            recv_cnode,
            recv_slot,
            recv_depth
        );
    }
    let out = syscall(sys, SyscallRegs { dest, info: info.0, mr });
    // 'R': what F received (or the result of its send), masked as a
    // message a receiver gets. A Call that happens to invoke a frame with
    // Page_GetAddress's label gets a physical address: left out, as below.
    let got_address = sys == Syscall::Call && info.label() == l::X86_PAGE_GET_ADDRESS && MessageInfo(out.info).label() == 0;
    observe_result(b'R', out, got_address);
    let got = MessageInfo(out.info);
    if matches!(sys, Syscall::Call | Syscall::Recv | Syscall::NBRecv | Syscall::ReplyRecv) {
        // Unwrapped badges, and the type of a cap received into the slot.
        // Safety: F's own IPC buffer.
        let badges = unsafe { (*buffer(F)).caps_or_badges };
        let extra = (got.extra_caps() as usize).min(3);
        obs(b'u', &badges[..extra]);
        if recv_cnode == fs::ROOT && recv_depth == 64 {
            obs(b'i', &[sel4::debug::cap_identify_raw(recv_slot)]);
        }
    }
}

fn snapshot() {
    // Every slot of F's CSpace (DebugCapIdentify resolves 64 bits, which
    // F's root consumes entirely: the small CNode's slots are seen only
    // through the results of the operations on them).
    let mut types = [0u64; 256];
    for (s, t) in types.iter_mut().enumerate() {
        *t = sel4::debug::cap_identify_raw(s as u64);
    }
    obs(b'S', &types);
}

fn print_inv(step: u64, inv: &Inv) {
    sel4::print!("df {} > cap {:x} label {} args", step, inv.cap, inv.label);
    for w in &inv.args[..inv.n] {
        sel4::print!(" {:x}", w);
    }
    sel4::print!(" caps");
    for c in &inv.caps[..inv.ncaps] {
        sel4::print!(" {:x}", c);
    }
    sel4::println!();
}

extern "C" fn fuzzer(seed: u64) -> ! {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let (wa, wb) = window();
    let n = calls();
    let every = every();
    for step in 0..n {
        STEP.store(step, Ordering::Relaxed);
        IN_WINDOW.store(step >= wa && step < wb, Ordering::Relaxed);
        if step % every == 0 {
            snapshot();
            sel4::println!("difffuzz: seed {} step {} hash {:016x}", seed, step, HASH.load(Ordering::Relaxed));
        }
        match rng.below(20) {
            0..=11 => {
                let inv = generate(&mut rng);
                if IN_WINDOW.load(Ordering::Relaxed) {
                    print_inv(step, &inv);
                }
                let out = invoke(&inv);
                // Page_GetAddress answers with a physical address, which
                // depends on where each kernel placed F's untyped: only
                // whether it succeeded is compared.
                let ok = MessageInfo(out.info).label() == 0;
                let i = inv.label.min(63) as usize;
                MADE[i].fetch_add(1, Ordering::Relaxed);
                if ok {
                    SUCCEEDED[i].fetch_add(1, Ordering::Relaxed);
                }
                let physical = inv.label == l::X86_PAGE_GET_ADDRESS && ok;
                let masked: &[usize] = if inv.label == l::TCB_READ_REGISTERS && ok { &READ_REGISTERS_UNSAVED } else { &[] };
                observe_result_masked(b'F', out, physical, masked);
            }
            12..=17 => ipc_step(&mut rng),
            18 => {
                let s = rng.slot();
                obs(b'i', &[sel4::debug::cap_identify_raw(s)]);
            }
            _ => {
                // Numbers seL4 does not have: an unknown-syscall fault for H.
                let number = [1, 2, 100, 0x55, (-31i64) as u64, (-100i64) as u64][rng.below(6) as usize];
                let out = syscall_number(number, SyscallRegs { dest: rng.any(), info: rng.any(), mr: [1, 2, 3, 4] });
                observe_result(b'F', out, false);
            }
        }
    }
    STEP.store(n, Ordering::Relaxed);
    IN_WINDOW.store(false, Ordering::Relaxed);
    snapshot();
    DONE.store(true, Ordering::Release);
    // Report by faulting: H sees DONE and ends the run.
    loop {
        syscall_number(0x55, SyscallRegs::default());
    }
}

// --------------------------------------------------------------- helpers

/// Counts messages a helper answered without F taking a step in between:
/// past a few, a helper stops answering, so that a victim whose fault it
/// answers cannot keep every lower thread (and F behind them) from running.
struct Guard {
    step: u64,
    count: u64,
}

impl Guard {
    fn may_answer(&mut self) -> bool {
        let now = STEP.load(Ordering::Relaxed);
        if now != self.step {
            self.step = now;
            self.count = 0;
        }
        self.count += 1;
        self.count <= 8
    }
}

/// The message a helper received: badge, info, words, unwrapped badges.
fn observe_received(tag: u8, k: usize, badge: u64, info: MessageInfo) {
    let len = (info.length() as usize).min(120);
    let mut words = [0u64; 2 + 120 + 3];
    words[0] = badge;
    words[1] = info.0;
    // Safety: this helper's own IPC buffer.
    let b = unsafe { &*buffer(k) };
    words[2..2 + len].copy_from_slice(&b.msg[..len]);
    mask_received(info, &mut words[2..2 + len]);
    let extra = (info.extra_caps() as usize).min(3);
    words[2 + len..2 + len + extra].copy_from_slice(&b.caps_or_badges[..extra]);
    obs(tag, &words[..2 + len + extra]);
}

extern "C" fn server(seed: u64) -> ! {
    let mut rng = Rng(seed ^ 0x5eed_0000_0000_0001);
    let mut guard = Guard { step: u64::MAX, count: 0 };
    let set_receive = || {
        sel4::ipc_buffer::with_ipc_buffer(|b| {
            b.receive_cnode = ps::ROOT;
            b.receive_index = ps::RECV;
            b.receive_depth = 64;
        })
    };
    set_receive();
    let mut r = Endpoint::from_cptr(ps::E0).recv();
    loop {
        observe_received(b'P', P, r.badge, r.info);
        obs(b'p', &[sel4::debug::cap_identify_raw(ps::RECV)]);
        let _ = CNode::from_cptr(ps::ROOT).slot(ps::RECV, 64).delete();
        set_receive();
        if guard.may_answer() {
            let len = if rng.below(4) == 0 { rng.below(121) } else { rng.below(5) };
            let ncaps = rng.below(3);
            let mut words = [0u64; 120];
            for w in words.iter_mut().take(len as usize) {
                *w = rng.next();
            }
            sel4::ipc_buffer::with_ipc_buffer(|b| {
                b.caps_or_badges[0] = ps::N0;
                b.caps_or_badges[1] = ps::E1_BADGED;
            });
            let info = MessageInfo::new(rng.below(1000), 0, ncaps, len);
            r = Endpoint::from_cptr(ps::E0).reply_recv(info, &words[..len as usize]);
        } else {
            r = Endpoint::from_cptr(ps::E0).recv();
        }
    }
}

/// Moves F past the syscall it is blocked in (or faulted on): its IP is
/// that of the SYSCALL instruction, and F's code after it takes the
/// registers as they were.
fn skip_syscall(tcb: u64) -> u64 {
    let Ok(regs) = Tcb::from_cptr(tcb).read_registers(false, 1) else { return 0 };
    let ip = regs[0];
    // Safety: F runs the rootserver's code, mapped at `ip`.
    let at_syscall = unsafe { core::ptr::read_volatile(ip as *const [u8; 2]) } == [0x0f, 0x05];
    let to = if at_syscall { ip + 2 } else { ip };
    let _ = Tcb::from_cptr(tcb).write_registers(true, 0, &[to]);
    at_syscall as u64
}

extern "C" fn handler(_: u64) -> ! {
    let mut guard = Guard { step: u64::MAX, count: 0 };
    let mut r = Endpoint::from_cptr(hs::HE).recv();
    loop {
        if r.badge == F_BADGE && DONE.load(Ordering::Acquire) {
            Notification::from_cptr(hs::DONE).signal();
            loop {
                Notification::from_cptr(hs::DONE).wait();
            }
        }
        observe_received(b'H', H, r.badge, r.info);
        if r.badge == F_BADGE {
            obs(b'h', &[skip_syscall(hs::F_TCB)]);
            r = Endpoint::from_cptr(hs::HE).recv();
        } else if guard.may_answer() {
            r = Endpoint::from_cptr(hs::HE).reply_recv(MessageInfo::new(0, 0, 0, 0), &[]);
        } else {
            r = Endpoint::from_cptr(hs::HE).recv();
        }
    }
}

extern "C" fn low(_: u64) -> ! {
    let set_receive = || {
        sel4::ipc_buffer::with_ipc_buffer(|b| {
            b.receive_cnode = ls::ROOT;
            b.receive_index = ls::RECV;
            b.receive_depth = 64;
        })
    };
    loop {
        set_receive();
        let r = Endpoint::from_cptr(ls::E1).nb_recv();
        observe_received(b'L', L, r.badge, r.info);
        obs(b'l', &[sel4::debug::cap_identify_raw(ls::RECV)]);
        let _ = CNode::from_cptr(ls::ROOT).slot(ls::RECV, 64).delete();
        // Answers a caller, if the message came from one (otherwise the
        // reply goes nowhere).
        sel4::ipc::reply(MessageInfo::new(0x4c, 0, 0, 2), &[0x10, 0x20]);
        Endpoint::from_cptr(ls::E1).nb_send(MessageInfo::new(0x1e, 0, 0, 3), &[1, 2, 3]);
        Notification::from_cptr(ls::N0).signal();
        obs(b'k', &[skip_syscall(ls::F_TCB)]);
        sel4::arch::yield_now();
    }
}

// --------------------------------------------------------------- setup

fn check(r: Result<(), sel4::Error>, what: &'static str) -> Result<(), &'static str> {
    r.map_err(|_| what)
}

/// Builds the world and runs the fuzzer; returns when it finished.
pub fn run(bi: &'static BootInfo) -> Result<(), &'static str> {
    let (big, _) = find_untyped(bi, 23).ok_or("no RAM untyped of 8 MiB or more")?;
    let base = bi.empty.start;
    let s = |i: u64| base + i;
    // One 4 MiB untyped for the world, so that every object's placement is
    // relative to an untyped aligned to its size on both kernels.
    check(big.retype(ObjectType::Untyped, 22, ROOT_NODE, s(0), 1), "untyped retype failed")?;
    let ut = sel4::cap::Untyped::from_cptr(s(0));
    // F's untyped first, so that it is aligned to its size.
    check(ut.retype(ObjectType::Untyped, 21, ROOT_NODE, s(1), 1), "F's untyped")?;
    check(ut.retype(ObjectType::CNode, F_RADIX as u64, ROOT_NODE, s(2), 1), "F's CNode")?;
    check(ut.retype(ObjectType::CNode, SUB_RADIX as u64, ROOT_NODE, s(3), 1), "the small CNode")?;
    check(ut.retype(ObjectType::CNode, SMALL_RADIX as u64, ROOT_NODE, s(4), 3), "helper CNodes")?; // 4 P, 5 H, 6 L
    check(ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, s(7), 3), "endpoints")?; // 7 E0, 8 E1, 9 HE
    check(ut.retype(ObjectType::Notification, 0, ROOT_NODE, s(10), 2), "notifications")?; // 10 N0, 11 done
    check(ut.retype(ObjectType::Tcb, 0, ROOT_NODE, s(12), 6), "TCBs")?; // 12 F, 13 P, 14 H, 15 L, 16 T1, 17 T2
    check(ut.retype(ObjectType::Granule, 0, ROOT_NODE, s(18), 1), "frame")?;
    // Guarded caps so that 64-bit pointers resolve in each CSpace.
    let root = |i: u64| init::CNODE.slot(s(i), 64);
    check(root(20).mint(root(2), CapRights::ALL, 64 - F_RADIX as u64), "F root mint")?;
    for k in 0..3 {
        check(root(21 + k).mint(root(4 + k), CapRights::ALL, 64 - SMALL_RADIX as u64), "helper root mint")?;
    }
    let (froot, proot, hroot, lroot) = (s(20), s(21), s(22), s(23));
    let put = |cn: u64, index: u64, src: u64, badge: u64| {
        let dest = CNode::from_cptr(cn).slot(index, 64);
        let r = if badge == 0 {
            dest.copy(init::CNODE.slot(src, 64), CapRights::ALL)
        } else {
            dest.mint(init::CNODE.slot(src, 64), CapRights::ALL, badge)
        };
        r.map_err(|_| "populating a CSpace failed")
    };
    let mv =
        |cn: u64, index: u64, src: u64| CNode::from_cptr(cn).slot(index, 64).move_from(init::CNODE.slot(src, 64)).map_err(|_| "moving a cap failed");
    put(froot, fs::ROOT, froot, 0)?;
    mv(froot, fs::UNTYPED, s(1))?;
    put(froot, fs::E0, s(7), 0)?;
    put(froot, fs::E1, s(8), 0)?;
    put(froot, fs::N0, s(10), 0)?;
    put(froot, fs::T1, s(16), 0)?;
    put(froot, fs::T2, s(17), 0)?;
    put(froot, fs::SUB, s(3), 0)?;
    put(froot, fs::ASID_POOL, init::ASID_POOL.cptr(), 0)?;
    mv(froot, fs::IRQ_CONTROL, init::IRQ_CONTROL.cptr())?;
    mv(froot, fs::IO_PORT_CONTROL, init::IO_PORT_CONTROL.cptr())?;
    put(froot, fs::F_FAULT, s(9), F_BADGE)?;
    put(froot, fs::T_FAULT, s(9), T_BADGE)?;
    mv(froot, fs::ASID_CONTROL, init::ASID_CONTROL.cptr())?;
    mv(froot, fs::DOMAIN, init::DOMAIN.cptr())?;
    mv(froot, fs::FRAME, s(18))?;
    put(proot, ps::E0, s(7), 0)?;
    put(proot, ps::N0, s(10), 0)?;
    put(proot, ps::E1_BADGED, s(8), 0x55)?;
    put(proot, ps::ROOT, proot, 0)?;
    put(hroot, hs::HE, s(9), 0)?;
    put(hroot, hs::F_TCB, s(12), 0)?;
    put(hroot, hs::DONE, s(11), 0)?;
    put(lroot, ls::E1, s(8), 0)?;
    put(lroot, ls::N0, s(10), 0)?;
    put(lroot, ls::F_TCB, s(12), 0)?;
    put(lroot, ls::ROOT, lroot, 0)?;

    // The image frame holding a thread's IPC buffer page.
    let frame_of = |k: usize| bi.user_image_frames.start + (buffer_addr(k) - super::image_start(bi)) / PAGE;
    let threads: [(u64, u64, u64, u64, extern "C" fn(u64) -> !); 4] = [
        (s(12), froot, fs::F_FAULT, PRIO_F, fuzzer),
        (s(13), proot, 0, PRIO_P, server),
        (s(14), hroot, 0, PRIO_H, handler),
        (s(15), lroot, 0, PRIO_L, low),
    ];
    for (k, &(tcb, croot, fault, prio, _)) in threads.iter().enumerate() {
        let t = Tcb::from_cptr(tcb);
        check(
            t.configure(fault, CNode::from_cptr(croot), 0, init::VSPACE, 0, buffer_addr(k), sel4::cap::Granule::from_cptr(frame_of(k))),
            "configure",
        )?;
        check(t.set_sched_params(init::TCB, prio, prio), "priority")?;
    }
    // The victims: F's CSpace, the rootserver's VSpace, H's victim
    // endpoint; MCP 100 so that F can name them as authority.
    for (k, tcb) in [(KT1, s(16)), (KT1 + 1, s(17))] {
        let t = Tcb::from_cptr(tcb);
        check(
            t.configure(fs::T_FAULT, CNode::from_cptr(froot), 0, init::VSPACE, 0, buffer_addr(k), sel4::cap::Granule::from_cptr(frame_of(k))),
            "victim configure",
        )?;
        check(t.set_sched_params(init::TCB, PRIO_F, if k == KT1 { 60 } else { 80 }), "victim priority")?;
    }
    sel4::println!("difffuzz: seed {} calls {} every {} window {:?}", seed(), calls(), every(), window());
    // Helpers first (they block at once), then F.
    for k in [H, P, L, F] {
        let (tcb, _, _, _, entry) = threads[k];
        // Safety: thread k's stack, TLS block and buffer are its own.
        unsafe {
            let tls = core::ptr::addr_of_mut!(TLS[k]);
            sel4::thread::start(Tcb::from_cptr(tcb), entry, seed(), stack_top(k), tls, buffer_addr(k)).map_err(|_| "start")?;
        }
    }
    Notification::from_cptr(s(11)).wait();
    // Which invocations the run made and how many succeeded (label:made/ok).
    sel4::print!("difffuzz: coverage");
    for i in 0..64 {
        let made = MADE[i].load(Ordering::Relaxed);
        if made > 0 {
            sel4::print!(" {}:{}/{}", i, made, SUCCEEDED[i].load(Ordering::Relaxed));
        }
    }
    sel4::println!();
    sel4::println!("difffuzz: done {} steps hash {:016x}", calls(), HASH.load(Ordering::Relaxed));
    // The line a harness stops QEMU at: the closing line is complete by then.
    sel4::println!("difffuzz: end");
    Ok(())
}
