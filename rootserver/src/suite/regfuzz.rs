//! A second fuzzer, aimed at kernel entry and exit rather than at the
//! invocation decoders: every syscall is made with random values in every
//! general register and in every RFLAGS bit user code can set, user
//! interrupt instructions run with random operands, and a chaos thread
//! meanwhile rewrites the fuzzer's registers, suspends and resumes it and
//! changes its priority, so the kernel leaves to it by IRETQ (a thread
//! whose registers were written, or that was preempted) as often as by
//! SYSRET.
//!
//! Three threads in the rootserver's address space: the fuzzer (in a
//! sandbox CSpace), the chaos thread and the fault handler. Whatever the
//! fuzzer ends up doing (random jumps after a register write or a UIRET
//! of random words, a single-step trap, an unknown syscall), it faults,
//! and the handler sends it back to its entry point; its progress is kept
//! in statics, never on its stack or in its TLS (its TLS base is random
//! too). The run must end with the kernel alive and its invariant checks
//! holding (the kernel reports those at DebugHalt).

use super::threads::{restart_worker, spawn_with, WorkerSpec};
use super::{ensure, find_untyped, slot, Rng, Runner, ROOT_NODE};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use sel4::cap::{init, CNode, CapRights, Endpoint, Notification, Tcb, UintrReceiver, Uitt};
use sel4::ipc::reply;
use sel4::{BootInfo, MessageInfo, ObjectType, Syscall};

/// Operations the fuzzer makes (syscalls and user-interrupt instructions).
pub const OPERATIONS: u64 = 200_000;
const SANDBOX_RADIX: u8 = 6;
/// Sandbox slots: the CNode itself, endpoints, notifications.
const SANDBOX_FIRST_EP: u64 = 2;
const SANDBOX_EPS: u64 = 3;
const SANDBOX_FIRST_NTFN: u64 = 5;
const SANDBOX_NTFNS: u64 = 2;
/// The fuzzer's fault endpoint, in its sandbox: never named by it (its
/// random cap pointers stay below it).
const SANDBOX_FAULT_EP: u64 = 40;

/// RFLAGS bits POPF changes at CPL 3: CF, PF, AF, ZF, SF, TF, DF, OF, NT,
/// AC and ID (IF and IOPL are not the thread's to change).
const USER_FLAGS: u64 = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x4000 | 0x4_0000 | 0x20_0000;
const TF: u64 = 0x100;
/// 32 TiB: a part of the lower half no test maps.
const WILD_USER_BASE: u64 = 0x2000_0000_0000;

static OPS: AtomicU64 = AtomicU64::new(0);
static DONE: AtomicBool = AtomicBool::new(false);
static RESETS: AtomicU64 = AtomicU64::new(0);
static CHAOS_STEPS: AtomicU64 = AtomicU64::new(0);
static DELIVERIES: AtomicU64 = AtomicU64::new(0);
/// Whether the kernel has user-interrupt objects (stock seL4 has not).
static UINTR: AtomicBool = AtomicBool::new(false);
/// The fuzzer's entry, stack top and TCB, for the handler's resets.
static FUZZER_ENTRY_SP: AtomicU64 = AtomicU64::new(0);
static FUZZER_TCB: AtomicU64 = AtomicU64::new(0);

/// The registers loaded before one syscall, in the order the asm reads
/// them (rax, rbx, rcx, rdx, rsi, rdi, rbp, r8..r15), and the flags.
#[repr(C, align(16))]
struct Loaded {
    gprs: [u64; 15],
    flags: u64,
    saved_rsp: u64,
}

/// Only the fuzzer thread touches these, one operation at a time.
struct FuzzerState(core::cell::UnsafeCell<(Loaded, [u64; 512])>);
// Safety: used by the fuzzer thread alone (see above).
unsafe impl Sync for FuzzerState {}
static STATE: FuzzerState = FuzzerState(core::cell::UnsafeCell::new((Loaded { gprs: [0; 15], flags: 0, saved_rsp: 0 }, [0; 512])));

impl Rng {
    /// Register contents: small numbers (cap pointers, lengths) half the
    /// time, otherwise anything, kernel and non-canonical addresses too.
    fn register(&mut self) -> u64 {
        match self.below(8) {
            0..=3 => self.below(SANDBOX_FAULT_EP),
            4 => self.below(1 << 12) << 12,
            5 => 0xffff_8000_0000_0000 | self.next(),
            _ => self.next(),
        }
    }

    /// An instruction or stack pointer that cannot reach anything mapped:
    /// non-canonical, in the kernel's half, or in a user range nothing
    /// maps. The fuzzer shares its address space with the threads that
    /// look after it, so it must never run random code or take a user
    /// interrupt frame onto a stack it does not own; it faults instead.
    fn wild(&mut self) -> u64 {
        match self.below(3) {
            0 => self.next() | 1 << 63,
            1 => 0xffff_8000_0000_0000 | self.next(),
            _ => WILD_USER_BASE | (self.next() & ((1 << 44) - 1)),
        }
    }
}

/// seL4's syscalls and a few numbers it does not have.
const NUMBERS: [Syscall; 10] = [
    Syscall::Call,
    Syscall::Send,
    Syscall::NBSend,
    Syscall::Recv,
    Syscall::NBRecv,
    Syscall::Reply,
    Syscall::ReplyRecv,
    Syscall::Yield,
    Syscall::SetTLSBase,
    Syscall::DebugCapIdentify,
];

/// Loads every general register but RSP from `STATE.0.gprs` and RFLAGS
/// from `STATE.0.flags` (POPF right before SYSCALL, so TF is set at the
/// SYSCALL itself), makes the syscall, and restores the stack, RBX and
/// RBP. RSP points into `STATE.1` across the syscall, so a user interrupt
/// delivered on the way back has room below it.
fn syscall_with_random_registers() {
    // Safety: the asm saves and restores everything Rust relies on (RSP,
    // RBX and RBP explicitly; the rest are declared clobbered) and sets
    // the flags back to a clean value; only this thread uses STATE.
    unsafe {
        let state = &mut *STATE.0.get();
        let loaded = &mut state.0 as *mut Loaded;
        let scratch_top = state.1.as_mut_ptr().add(state.1.len() - 2);
        scratch_top.write((*loaded).flags);
        core::arch::asm!(
            "push rbx",
            "push rbp",
            "mov [r15 + 128], rsp",
            "mov rsp, r14",
            "mov rax, [r15 + 0]",
            "mov rbx, [r15 + 8]",
            "mov rcx, [r15 + 16]",
            "mov rdx, [r15 + 24]",
            "mov rsi, [r15 + 32]",
            "mov rdi, [r15 + 40]",
            "mov rbp, [r15 + 48]",
            "mov r8, [r15 + 56]",
            "mov r9, [r15 + 64]",
            "mov r10, [r15 + 72]",
            "mov r11, [r15 + 80]",
            "mov r12, [r15 + 88]",
            "mov r13, [r15 + 96]",
            "mov r14, [r15 + 104]",
            "mov r15, [r15 + 112]",
            "popfq",
            "syscall",
            // Every register is the kernel's answer or random now: find
            // the saved stack pointer through the static.
            "mov r15, [rip + {loaded}]",
            "mov rsp, [r15 + 128]",
            "push 0x202",
            "popfq",
            "cld",
            "pop rbp",
            "pop rbx",
            loaded = sym LOADED_PTR,
            inout("r15") loaded => _,
            inout("r14") scratch_top => _,
            out("rax") _, out("rcx") _, out("rdx") _, out("rsi") _, out("rdi") _,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _, out("r12") _, out("r13") _,
        );
    }
}

/// The address of `STATE.0`, for the asm to find it with every register
/// already random.
static LOADED_PTR: AtomicU64 = AtomicU64::new(0);

fn senduipi_random(rng: &mut Rng) {
    let index = if rng.below(2) == 0 { rng.below(4) } else { rng.next() };
    sel4::uintr::senduipi(index);
}

/// UIRET with random words where it pops RIP, RFLAGS and RSP: mostly a
/// #GP (non-canonical RIP) or a jump into nowhere, both faults.
fn uiret_random(rng: &mut Rng) {
    let words = [rng.wild(), rng.next(), rng.wild()];
    // Safety: UIRET pops the three words and goes wherever they say; the
    // fault handler brings the thread back to its entry.
    unsafe {
        core::arch::asm!(
            "mov rsp, {w}",
            ".byte 0xf3, 0x0f, 0x01, 0xec",
            w = in(reg) words.as_ptr(),
            options(noreturn)
        )
    }
}

/// The fuzzer: re-entered from the top after every fault.
extern "C" fn fuzzer(seed: u64) -> ! {
    loop {
        let op = OPS.fetch_add(1, Ordering::Relaxed);
        if op >= OPERATIONS {
            DONE.store(true, Ordering::Release);
            // Report by faulting: the handler sees DONE.
            // Safety: a deliberate invalid opcode.
            unsafe { core::arch::asm!("ud2") };
        }
        let mut rng = Rng((seed ^ op.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1);
        let uintr = UINTR.load(Ordering::Relaxed);
        match rng.below(16) {
            0 if uintr => senduipi_random(&mut rng),
            1 if uintr => uiret_random(&mut rng),
            2 => sel4::uintr::stui(),
            3 => sel4::uintr::clui(),
            4 => {
                let _ = sel4::uintr::testui();
            }
            _ => {
                // Safety: the fuzzer thread alone uses STATE.
                let loaded = unsafe { &mut (*STATE.0.get()).0 };
                for r in loaded.gprs.iter_mut() {
                    *r = rng.register();
                }
                // Now and then a number seL4 does not have (not one of the
                // debug syscalls, -9 to -14: DebugHalt would end the run).
                let number = if rng.below(16) == 0 {
                    (15 + rng.below(50)).wrapping_neg()
                } else {
                    NUMBERS[rng.below(NUMBERS.len() as u64) as usize].to_word()
                };
                loaded.gprs[3] = number;
                // Message infos with small lengths and cap counts mostly.
                if rng.below(2) == 0 {
                    loaded.gprs[4] = MessageInfo::new(rng.below(64), 0, rng.below(4), rng.below(8)).0;
                }
                let mut flags = rng.next() & USER_FLAGS;
                if rng.below(8) != 0 {
                    flags &= !TF;
                }
                loaded.flags = flags | 0x202;
                syscall_with_random_registers();
            }
        }
    }
}

fn record_delivery(_vector: u8) {
    DELIVERIES.fetch_add(1, Ordering::Relaxed);
}

/// The fault handler: every fault of the fuzzer sends it back to its
/// entry; once the fuzzer is done, it signals `arg` and stops.
extern "C" fn handler(arg: u64) -> ! {
    let (fault_ep, done) = (arg >> 32, arg & 0xffff_ffff);
    loop {
        let _ = Endpoint::from_cptr(fault_ep).recv();
        if DONE.load(Ordering::Acquire) {
            Notification::from_cptr(done).signal();
            loop {
                Endpoint::from_cptr(fault_ep).recv();
            }
        }
        RESETS.fetch_add(1, Ordering::Relaxed);
        let tcb = Tcb::from_cptr(FUZZER_TCB.load(Ordering::Relaxed));
        let mut regs = [0u64; 20];
        regs[0] = fuzzer as *const () as u64;
        regs[1] = FUZZER_ENTRY_SP.load(Ordering::Relaxed);
        regs[2] = 0x202;
        regs[8] = 0x5eed;
        if tcb.write_registers(false, 0, &regs).is_ok() {
            reply(MessageInfo::new(0, 0, 0, 0), &[]);
        }
    }
}

/// The chaos thread: random register writes, suspends, resumes and
/// priority changes on the fuzzer, and wake-ups of whatever it waits on.
extern "C" fn chaos(arg: u64) -> ! {
    // The sandbox's endpoints and notifications, in the root CNode.
    let objects = arg;
    let mut rng = Rng(0xc4a0_5eed_1234_5678);
    let tcb = Tcb::from_cptr(FUZZER_TCB.load(Ordering::Relaxed));
    while !DONE.load(Ordering::Acquire) {
        CHAOS_STEPS.fetch_add(1, Ordering::Relaxed);
        match rng.below(12) {
            0 => {
                let _ = tcb.suspend();
            }
            1..=3 => {
                let _ = tcb.resume();
            }
            4 => {
                let mut regs = [0u64; 20];
                for r in regs.iter_mut() {
                    *r = rng.register();
                }
                if rng.below(2) == 0 {
                    // Back to its entry: the stack and flags its Rust code
                    // needs (DF clear above all), the rest random.
                    regs[0] = fuzzer as *const () as u64;
                    regs[1] = FUZZER_ENTRY_SP.load(Ordering::Relaxed);
                    regs[2] = 0x202;
                } else {
                    regs[0] = rng.wild();
                    regs[1] = rng.wild();
                }
                let _ = tcb.write_registers(rng.below(2) == 0, 0, &regs);
            }
            5 => {
                let _ = tcb.read_registers(rng.below(4) == 0, 20);
            }
            6 => {
                let _ = tcb.set_priority(init::TCB, 95 + rng.below(11));
            }
            7 => {
                // Wake it from whatever sandbox object it waits on.
                let which = rng.below(SANDBOX_EPS + SANDBOX_NTFNS);
                if which < SANDBOX_EPS {
                    Endpoint::from_cptr(objects + which).nb_send(MessageInfo::new(0, 0, 0, 0), &[]);
                } else {
                    Notification::from_cptr(objects + which).signal();
                }
            }
            _ => sel4::arch::yield_now(),
        }
    }
    loop {
        sel4::arch::yield_now();
    }
}

pub fn run(t: &mut Runner, bi: &'static BootInfo) {
    let Some((ut, _)) = find_untyped(bi, 22) else {
        t.run("register_fuzzer_untyped_available", || Err("no RAM untyped of 4 MiB or more"));
        return;
    };
    let base = bi.empty.start + 64 * 70;
    t.run_stress("register_and_flags_fuzzer_200k", || {
        let outcome = fuzz(bi, ut, base);
        let cleanup = slot(ut).revoke().map_err(|_| "cleanup revoke failed");
        outcome.and(cleanup)
    });
}

fn fuzz(bi: &'static BootInfo, ut: sel4::cap::Untyped, base: u64) -> Result<(), &'static str> {
    let s = |i: u64| base + i;
    let (cnode, guarded, fault_ep, done) = (s(0), s(1), s(2), s(3));
    let (fuzz_tcb, chaos_tcb, handler_tcb) = (s(4), s(5), s(6));
    let (receiver, uitt) = (s(7), s(8));
    let first_object = s(10);
    ut.retype(ObjectType::CNode, SANDBOX_RADIX as u64, ROOT_NODE, cnode, 1).map_err(|_| "CNode retype failed")?;
    slot(guarded).mint(slot(cnode), CapRights::ALL, 64 - SANDBOX_RADIX as u64).map_err(|_| "mint failed")?;
    ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, fault_ep, 1).map_err(|_| "endpoint retype failed")?;
    ut.retype(ObjectType::Notification, 0, ROOT_NODE, done, 1).map_err(|_| "notification retype failed")?;
    ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, first_object, SANDBOX_EPS).map_err(|_| "endpoint retype failed")?;
    ut.retype(ObjectType::Notification, 0, ROOT_NODE, first_object + SANDBOX_EPS, SANDBOX_NTFNS).map_err(|_| "notification retype failed")?;
    let put =
        |index: u64, src: u64| CNode::from_cptr(guarded).slot(index, 64).copy(slot(src), CapRights::ALL).map_err(|_| "populating the sandbox failed");
    put(1, guarded)?;
    for i in 0..SANDBOX_EPS {
        put(SANDBOX_FIRST_EP + i, first_object + i)?;
    }
    for i in 0..SANDBOX_NTFNS {
        put(SANDBOX_FIRST_NTFN + i, first_object + SANDBOX_EPS + i)?;
    }
    CNode::from_cptr(guarded).slot(SANDBOX_FAULT_EP, 64).mint(slot(fault_ep), CapRights::ALL, 0xf00).map_err(|_| "populating the sandbox failed")?;

    // The fuzzer: worker 1, then moved into its sandbox.
    spawn_with(bi, ut, WorkerSpec { tcb_slot: fuzz_tcb, k: 1, prio: 100, fault_ep: 0 }, park, 0)?;
    let fuzzer_tcb = Tcb::from_cptr(fuzz_tcb);
    fuzzer_tcb.suspend().map_err(|_| "suspend failed")?;
    fuzzer_tcb
        .configure(SANDBOX_FAULT_EP, CNode::from_cptr(guarded), 0, init::VSPACE, 0, bi.ipc_buffer + 1024, init::IPC_BUFFER)
        .map_err(|_| "fuzzer configure failed")?;
    FUZZER_TCB.store(fuzz_tcb, Ordering::Relaxed);

    // User interrupts where the kernel has them: a receiver for the
    // fuzzer and a UITT whose entry 0 sends to it.
    let has_uintr = ut.retype(ObjectType::UintrReceiver, 0, ROOT_NODE, receiver, 1).is_ok();
    UINTR.store(has_uintr, Ordering::Relaxed);
    if has_uintr {
        ut.retype(ObjectType::Uitt, 0, ROOT_NODE, uitt, 1).map_err(|_| "UITT retype failed")?;
        slot(s(9)).mint(slot(receiver), CapRights::ALL, 7).map_err(|_| "minting a vector failed")?;
        Uitt::from_cptr(uitt).register_sender(0, UintrReceiver::from_cptr(s(9))).map_err(|_| "RegisterSender failed")?;
        UintrReceiver::from_cptr(receiver).bind_tcb(fuzzer_tcb, sel4::uintr::handler_entry(), 128).map_err(|_| "binding the receiver failed")?;
        fuzzer_tcb.bind_uitt(Uitt::from_cptr(uitt)).map_err(|_| "binding the UITT failed")?;
        sel4::uintr::set_handler(record_delivery);
    }

    LOADED_PTR.store(STATE.0.get() as u64, Ordering::Relaxed);
    OPS.store(0, Ordering::Relaxed);
    DONE.store(false, Ordering::Relaxed);
    RESETS.store(0, Ordering::Relaxed);
    CHAOS_STEPS.store(0, Ordering::Relaxed);

    spawn_with(bi, ut, WorkerSpec { tcb_slot: handler_tcb, k: 3, prio: 120, fault_ep: 0 }, handler, fault_ep << 32 | done)?;
    // Safety: worker 1's stack and TLS block are the fuzzer's.
    unsafe { restart_worker(fuzz_tcb, 1, fuzzer, 0x5eed, bi.ipc_buffer + 1024)? };
    let regs = fuzzer_tcb.read_registers(false, 2).map_err(|_| "ReadRegisters failed")?;
    FUZZER_ENTRY_SP.store(regs[1], Ordering::Relaxed);
    spawn_with(bi, ut, WorkerSpec { tcb_slot: chaos_tcb, k: 2, prio: 100, fault_ep: 0 }, chaos, first_object)?;
    sel4::debug::name_thread(fuzz_tcb, "register-fuzzer");
    sel4::debug::name_thread(chaos_tcb, "register-fuzzer-chaos");
    sel4::debug::name_thread(handler_tcb, "register-fuzzer-fault-handler");
    let start = sel4::debug::rdtsc_serialised();
    Notification::from_cptr(done).wait();
    let cycles = sel4::debug::rdtsc_serialised() - start;
    sel4::println!(
        "register fuzzer: {} operations, {} resets after faults, {} chaos steps, {} user interrupts delivered, in {} TSC cycles",
        OPS.load(Ordering::Relaxed).min(OPERATIONS),
        RESETS.load(Ordering::Relaxed),
        CHAOS_STEPS.load(Ordering::Relaxed),
        DELIVERIES.load(Ordering::Relaxed),
        cycles
    );
    for tcb in [fuzz_tcb, chaos_tcb, handler_tcb] {
        Tcb::from_cptr(tcb).suspend().map_err(|_| "suspend failed")?;
    }
    if has_uintr {
        sel4::uintr::clui();
    }
    ensure(OPS.load(Ordering::Relaxed) >= OPERATIONS, "the fuzzer did not finish")
}

/// Entry for a thread that is reconfigured before it runs.
extern "C" fn park(_: u64) -> ! {
    loop {
        sel4::arch::yield_now();
    }
}
