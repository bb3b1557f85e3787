//! Threads, IPC, notifications, priorities and faults, with worker threads
//! in the rootserver's own address space (each with its own stack, TLS
//! block and a quarter of the IPC buffer frame).

use super::{ensure, Runner};
use core::sync::atomic::{AtomicU64, Ordering};
use sel4::invocation::{cnode, get_mr, tcb, untyped, CapRights};
use sel4::ipc::{self, Received};
use sel4::ipc_buffer::{with_ipc_buffer, TlsBlock};
use sel4::object_type as ty;
use sel4::{root_slots, BootInfo, CapType, MessageInfo};

const ROOT: u64 = root_slots::INIT_THREAD_CNODE;
const DEPTH: u8 = 64;
const STACK_BYTES: usize = 16 * 1024;
const WORKERS: usize = 3;

#[repr(C, align(16))]
struct Stacks([[u8; STACK_BYTES]; WORKERS]);

static mut STACKS: Stacks = Stacks([[0; STACK_BYTES]; WORKERS]);
static mut TLS: [TlsBlock; WORKERS] = [TlsBlock::new(), TlsBlock::new(), TlsBlock::new()];

/// A shared log the workers append to.
static LOG: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];
static LOG_LEN: AtomicU64 = AtomicU64::new(0);

fn log(v: u64) {
    let i = LOG_LEN.fetch_add(1, Ordering::Relaxed) as usize;
    if i < LOG.len() {
        LOG[i].store(v, Ordering::Relaxed);
    }
}

/// Where and how a worker runs.
pub struct WorkerSpec {
    pub tcb_slot: u64,
    /// Worker number 1..=WORKERS: its stack, TLS block and IPC buffer.
    pub k: usize,
    pub prio: u64,
    pub fault_ep: u64,
}

/// Starts a worker described by `spec`, running `entry(arg)`.
pub fn spawn_with(bi: &BootInfo, ut: u64, spec: WorkerSpec, entry: sel4::thread::Entry, arg: u64) -> Result<(), &'static str> {
    spawn(bi, ut, spec.tcb_slot, spec.k, spec.prio, spec.fault_ep, entry, arg)
}

/// Points worker `k` (already configured, suspended) at `entry(arg)` on its
/// own stack and TLS block, and resumes it.
///
/// # Safety
/// Worker `k`'s stack and TLS block must not be in use by another thread.
pub unsafe fn restart_worker(tcb_slot: u64, k: usize, entry: sel4::thread::Entry, arg: u64, buffer: u64) -> Result<(), &'static str> {
    // Safety: per the caller's contract.
    unsafe {
        let stack_top = core::ptr::addr_of_mut!(STACKS.0[k - 1]) as u64 + STACK_BYTES as u64;
        let tls = core::ptr::addr_of_mut!(TLS[k - 1]);
        sel4::thread::start(tcb_slot, entry, arg, stack_top, tls, buffer).map_err(|_| "starting the worker failed")
    }
}

/// Entry `i` of the shared log.
pub fn log_entry(i: usize) -> u64 {
    LOG[i].load(Ordering::Relaxed)
}

/// The echo server's entry, for threads started elsewhere.
pub fn echo_entry() -> sel4::thread::Entry {
    echo_server
}

/// Starts worker `k` (1..=WORKERS) in `tcb_slot` at priority `prio`, with
/// fault handler `fault_ep`, running `entry(arg)`.
#[allow(clippy::too_many_arguments)]
fn spawn(bi: &BootInfo, ut: u64, tcb_slot: u64, k: usize, prio: u64, fault_ep: u64, entry: sel4::thread::Entry, arg: u64) -> Result<(), &'static str> {
    untyped::retype(ut, ty::TCB, 0, ROOT, 0, 0, tcb_slot, 1).map_err(|_| "TCB retype failed")?;
    let buffer = bi.ipc_buffer + 1024 * k as u64;
    tcb::configure(tcb_slot, fault_ep, ROOT, 0, root_slots::INIT_THREAD_VSPACE, 0, buffer, root_slots::INIT_THREAD_IPC_BUFFER)
        .map_err(|_| "TCB configure failed")?;
    tcb::set_priority(tcb_slot, root_slots::INIT_THREAD_TCB, prio).map_err(|_| "set priority failed")?;
    // Safety: worker k's stack and TLS block are used by that worker only,
    // and the test deletes the worker before reusing them.
    unsafe {
        let stack_top = core::ptr::addr_of_mut!(STACKS.0[k - 1]) as u64 + STACK_BYTES as u64;
        let tls = core::ptr::addr_of_mut!(TLS[k - 1]);
        sel4::thread::start(tcb_slot, entry, arg, stack_top, tls, buffer).map_err(|_| "starting the worker failed")
    }
}

pub fn find_untyped(bi: &BootInfo) -> Option<u64> {
    bi.untypeds().iter().position(|u| u.is_device == 0 && u.size_bits >= 22).map(|i| bi.untyped.start + i as u64)
}

/// Echoes every message back with each word and the label plus one.
extern "C" fn echo_server(ep: u64) -> ! {
    let mut r = ipc::recv(ep);
    let mut words = [0u64; 120];
    loop {
        let n = r.info.length() as usize;
        for (i, w) in words.iter_mut().enumerate().take(n) {
            *w = get_mr(i) + 1;
        }
        r = ipc::reply_recv(ep, MessageInfo::new(r.info.label() + 1, 0, 0, n as u64), &words[..n]);
    }
}

/// Answers with the caller's badge.
extern "C" fn badge_server(ep: u64) -> ! {
    let mut r = ipc::recv(ep);
    loop {
        r = ipc::reply_recv(ep, MessageInfo::new(0, 0, 0, 1), &[r.badge]);
    }
}

/// The slot where `cap_server` receives caps.
static RECEIVE_SLOT: AtomicU64 = AtomicU64::new(0);

/// Answers with what arrived besides data: unwrapped mask, extra caps,
/// the first unwrapped badge, and the type of the cap in its receive slot.
extern "C" fn cap_server(ep: u64) -> ! {
    let slot = RECEIVE_SLOT.load(Ordering::Relaxed);
    let set_receive = || {
        with_ipc_buffer(|b| {
            b.receive_cnode = ROOT;
            b.receive_index = slot;
            b.receive_depth = 64;
        })
    };
    set_receive();
    let mut r = ipc::recv(ep);
    loop {
        let badge0 = with_ipc_buffer(|b| b.caps_or_badges[0]);
        let got = sel4::debug::cap_identify_raw(slot);
        let answer = [r.info.caps_unwrapped(), r.info.extra_caps(), badge0, got];
        // Make room for the next cap.
        let _ = cnode::delete(ROOT, slot, DEPTH);
        set_receive();
        r = ipc::reply_recv(ep, MessageInfo::new(0, 0, 0, 4), &answer);
    }
}

/// Logs its id three times, yielding in between, then signals `done`.
extern "C" fn yielder(arg: u64) -> ! {
    let (id, done) = (arg >> 32, arg & 0xffff_ffff);
    for _ in 0..3 {
        log(id);
        sel4::arch::yield_now();
    }
    ipc::signal(done);
    loop {
        sel4::arch::yield_now();
    }
}

/// Waits on its endpoint; a signal to its bound notification arrives there.
extern "C" fn bound_waiter(arg: u64) -> ! {
    let (ep, done) = (arg >> 32, arg & 0xffff_ffff);
    let r = ipc::recv(ep);
    log(r.badge);
    ipc::signal(done);
    loop {
        ipc::recv(ep);
    }
}

/// Calls through `arg >> 32`, then signals `arg & 0xffffffff`.
extern "C" fn caller_then_signal(arg: u64) -> ! {
    let (ep, ntfn) = (arg >> 32, arg & 0xffff_ffff);
    ipc::call(ep, MessageInfo::new(0x55, 0, 0, 0), &[]);
    ipc::signal(ntfn);
    loop {
        sel4::arch::yield_now();
    }
}

/// Takes three faults in a row: an invalid opcode, an unknown syscall, and
/// a read of an unmapped address.
extern "C" fn faulter(_: u64) -> ! {
    // Safety: deliberately faulting instructions; the fault handler moves
    // the thread past the first two.
    unsafe {
        core::arch::asm!("ud2");
        core::arch::asm!("mov r14, rsp", "syscall", "mov rsp, r14", in("rdx") -99i64 as u64, out("rcx") _, out("r11") _, out("r14") _);
        core::ptr::read_volatile(0x10 as *const u64);
    }
    loop {}
}

/// Invokes a capability pointer that cannot resolve (a non-zero guard).
extern "C" fn cap_faulter(_: u64) -> ! {
    ipc::call(1 << 40, MessageInfo::new(0, 0, 0, 0), &[]);
    loop {}
}

static SPIN: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];

/// Spins without yielding until both spinners have counted far enough:
/// only timer preemption lets the other one run.
extern "C" fn spinner(arg: u64) -> ! {
    let (me, done) = ((arg >> 32) as usize, arg & 0xffff_ffff);
    let other = 1 - me;
    loop {
        let mine = SPIN[me].fetch_add(1, Ordering::Relaxed);
        if mine > 1000 && SPIN[other].load(Ordering::Relaxed) > 1000 {
            break;
        }
    }
    ipc::signal(done);
    loop {
        ipc::wait(done);
    }
}

/// Fills xmm0..xmm15 with its pattern, lets other threads run (by
/// yielding, or with bit 31 of the argument by spinning until preempted),
/// and checks them, many times.
extern "C" fn sse_worker(arg: u64) -> ! {
    let (pattern, done) = ((arg >> 32) & 0x7fff_ffff, arg & 0xffff_ffff);
    let spin = arg & (1 << 63) != 0;
    let mut bad = 0u64;
    for round in 0..200u64 {
        let v = pattern << 16 | round;
        let mut out = [0u64; 16];
        // Safety: only xmm registers and the local array are touched.
        unsafe {
            core::arch::asm!(
                "movq xmm0, {v}", "movq xmm1, {v}", "movq xmm2, {v}", "movq xmm3, {v}",
                "movq xmm4, {v}", "movq xmm5, {v}", "movq xmm6, {v}", "movq xmm7, {v}",
                "movq xmm8, {v}", "movq xmm9, {v}", "movq xmm10, {v}", "movq xmm11, {v}",
                "movq xmm12, {v}", "movq xmm13, {v}", "movq xmm14, {v}", "movq xmm15, {v}",
                v = in(reg) v,
                out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
                out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
                out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
                out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
            );
        }
        if spin {
            // Long enough for the 10 ms time slice to run out now and then.
            for i in 0..20_000u64 {
                core::hint::black_box(i);
            }
        } else {
            sel4::arch::yield_now();
        }
        // Safety: reads the xmm registers into the local array.
        unsafe {
            core::arch::asm!(
                "movq [{p}], xmm0", "movq [{p} + 8], xmm1", "movq [{p} + 16], xmm2", "movq [{p} + 24], xmm3",
                "movq [{p} + 32], xmm4", "movq [{p} + 40], xmm5", "movq [{p} + 48], xmm6", "movq [{p} + 56], xmm7",
                "movq [{p} + 64], xmm8", "movq [{p} + 72], xmm9", "movq [{p} + 80], xmm10", "movq [{p} + 88], xmm11",
                "movq [{p} + 96], xmm12", "movq [{p} + 104], xmm13", "movq [{p} + 112], xmm14", "movq [{p} + 120], xmm15",
                p = in(reg) out.as_mut_ptr(),
            );
        }
        bad += out.iter().filter(|&&x| x != v).count() as u64;
    }
    log(bad);
    ipc::signal(done);
    loop {
        sel4::arch::yield_now();
    }
}

pub fn run(t: &mut Runner, bi: &'static BootInfo) {
    let Some(ut) = find_untyped(bi) else {
        t.run("threads_untyped_available", || Err("no RAM untyped of 4 MiB or more"));
        return;
    };
    let base = bi.empty.start + 64 * 12;
    let reset = || {
        LOG_LEN.store(0, Ordering::Relaxed);
        cnode::revoke(ROOT, ut, DEPTH).map_err(|_| "cleanup revoke failed")
    };

    t.run("ipc_call_reply_every_length_0_to_120", || {
        untyped::retype(ut, ty::ENDPOINT, 0, ROOT, 0, 0, base, 1).map_err(|_| "endpoint retype failed")?;
        spawn(bi, ut, base + 1, 1, 254, 0, echo_server, base)?;
        let mut msg = [0u64; 120];
        for len in 0..=120usize {
            for (i, m) in msg.iter_mut().enumerate().take(len) {
                *m = (len as u64) << 32 | i as u64;
            }
            let r: Received = ipc::call(base, MessageInfo::new(0x77, 0, 0, len as u64), &msg[..len]);
            ensure(r.info.label() == 0x78 && r.info.length() == len as u64, "reply label or length wrong")?;
            ensure((0..len).all(|i| get_mr(i) == msg[i] + 1), "a message word was not transferred")?;
        }
        reset()
    });

    t.run("badges_reach_the_receiver", || {
        untyped::retype(ut, ty::ENDPOINT, 0, ROOT, 0, 0, base, 1).map_err(|_| "endpoint retype failed")?;
        cnode::mint(ROOT, base + 2, DEPTH, ROOT, base, DEPTH, CapRights::ALL, 0x42).map_err(|_| "mint failed")?;
        spawn(bi, ut, base + 1, 1, 254, 0, badge_server, base)?;
        ipc::call(base + 2, MessageInfo::new(0, 0, 0, 0), &[]);
        ensure(get_mr(0) == 0x42, "badge 0x42 did not arrive")?;
        ipc::call(base, MessageInfo::new(0, 0, 0, 0), &[]);
        ensure(get_mr(0) == 0, "the unbadged cap should give badge 0")?;
        // Nobody is waiting on a fresh endpoint: NBSend drops the message.
        untyped::retype(ut, ty::ENDPOINT, 0, ROOT, 0, 0, base + 3, 1).map_err(|_| "endpoint retype failed")?;
        ipc::nb_send(base + 3, MessageInfo::new(0, 0, 0, 0), &[]);
        ensure(ipc::nb_recv(base + 3).badge == 0, "NBRecv on an empty endpoint must not block")?;
        reset()
    });

    t.run("capability_transfer_and_unwrapping", || {
        untyped::retype(ut, ty::ENDPOINT, 0, ROOT, 0, 0, base, 1).map_err(|_| "endpoint retype failed")?;
        untyped::retype(ut, ty::NOTIFICATION, 0, ROOT, 0, 0, base + 3, 1).map_err(|_| "notification retype failed")?;
        cnode::mint(ROOT, base + 2, DEPTH, ROOT, base, DEPTH, CapRights::ALL, 0x99).map_err(|_| "mint failed")?;
        RECEIVE_SLOT.store(base + 10, Ordering::Relaxed);
        spawn(bi, ut, base + 1, 1, 254, 0, cap_server, base)?;
        let send_cap = |cap: u64| {
            with_ipc_buffer(|b| b.caps_or_badges[0] = cap);
            ipc::call(base, MessageInfo::new(0, 0, 1, 0), &[]);
            [get_mr(0), get_mr(1), get_mr(2), get_mr(3)]
        };
        // A badged cap to the endpoint the message travels on is unwrapped.
        let a = send_cap(base + 2);
        ensure(a[0] == 1 && a[1] == 1 && a[2] == 0x99, "the endpoint cap was not unwrapped into its badge")?;
        ensure(a[3] == CapType::Null as u64, "an unwrapped cap must not be placed in a slot")?;
        // Any other cap moves into the receiver's receive slot.
        let b = send_cap(base + 3);
        ensure(b[0] == 0 && b[1] == 1, "the notification cap was not transferred")?;
        ensure(b[3] == CapType::Notification as u64, "the transferred cap is not in the receive slot")?;
        reset()
    });

    t.run("notifications_signal_wait_poll_and_binding", || {
        untyped::retype(ut, ty::NOTIFICATION, 0, ROOT, 0, 0, base, 2).map_err(|_| "notification retype failed")?;
        for (i, badge) in [1u64, 2, 4].iter().enumerate() {
            cnode::mint(ROOT, base + 2 + i as u64, DEPTH, ROOT, base, DEPTH, CapRights::ALL, *badge).map_err(|_| "mint failed")?;
        }
        ensure(ipc::poll(base) == 0, "an idle notification polls as 0")?;
        for i in 0..3 {
            ipc::signal(base + 2 + i);
        }
        ensure(ipc::wait(base) == 7, "signals must OR their badges")?;
        ensure(ipc::poll(base) == 0, "waiting consumes the badges")?;
        // A notification bound to a thread arrives through its Recv.
        untyped::retype(ut, ty::ENDPOINT, 0, ROOT, 0, 0, base + 5, 1).map_err(|_| "endpoint retype failed")?;
        untyped::retype(ut, ty::TCB, 0, ROOT, 0, 0, base + 6, 1).map_err(|_| "TCB retype failed")?;
        tcb::bind_notification(base + 6, base).map_err(|_| "bind failed")?;
        ensure(tcb::bind_notification(base + 6, base + 1) == Err(sel4::Error::IllegalOperation), "double bind must fail")?;
        cnode::delete(ROOT, base + 6, DEPTH).map_err(|_| "delete failed")?;
        spawn(bi, ut, base + 6, 1, 254, 0, bound_waiter, (base + 5) << 32 | (base + 1))?;
        tcb::bind_notification(base + 6, base).map_err(|_| "bind failed")?;
        sel4::arch::yield_now();
        ipc::signal(base + 4);
        ipc::wait(base + 1);
        ensure(LOG_LEN.load(Ordering::Relaxed) == 1 && LOG[0].load(Ordering::Relaxed) == 4, "the bound signal did not reach Recv")?;
        reset()
    });

    t.run("round_robin_within_a_priority", || {
        untyped::retype(ut, ty::NOTIFICATION, 0, ROOT, 0, 0, base, 1).map_err(|_| "notification retype failed")?;
        spawn(bi, ut, base + 1, 1, 100, 0, yielder, 1 << 32 | base)?;
        spawn(bi, ut, base + 2, 2, 100, 0, yielder, 2 << 32 | base)?;
        ipc::wait(base);
        ipc::wait(base);
        let n = LOG_LEN.load(Ordering::Relaxed) as usize;
        let entries: [u64; 6] = core::array::from_fn(|i| LOG[i].load(Ordering::Relaxed));
        ensure(n == 6, "each worker logs three times")?;
        ensure(entries.windows(2).all(|w| w[0] != w[1]), "equal-priority workers must alternate on Yield")?;
        reset()
    });

    t.run("higher_priority_preempts_on_wakeup", || {
        untyped::retype(ut, ty::NOTIFICATION, 0, ROOT, 0, 0, base, 1).map_err(|_| "notification retype failed")?;
        // A worker above the rootserver's priority is refused: the root's
        // MCP is 255, so 255 is allowed and 256 is a range error.
        untyped::retype(ut, ty::TCB, 0, ROOT, 0, 0, base + 1, 1).map_err(|_| "TCB retype failed")?;
        ensure(
            tcb::set_priority(base + 1, root_slots::INIT_THREAD_TCB, 256) == Err(sel4::Error::RangeError),
            "priority above the authority's MCP must be refused",
        )?;
        // Lower the new TCB's MCP and use it as authority: it cannot grant
        // more than it has.
        tcb::set_mc_priority(base + 1, root_slots::INIT_THREAD_TCB, 10).map_err(|_| "set MCP failed")?;
        ensure(tcb::set_priority(base + 1, base + 1, 11) == Err(sel4::Error::RangeError), "MCP 10 cannot grant priority 11")?;
        tcb::set_priority(base + 1, base + 1, 10).map_err(|_| "priority within MCP refused")?;
        reset()
    });

    t.run("fault_messages_and_fault_replies", || {
        untyped::retype(ut, ty::ENDPOINT, 0, ROOT, 0, 0, base, 1).map_err(|_| "endpoint retype failed")?;
        cnode::mint(ROOT, base + 2, DEPTH, ROOT, base, DEPTH, CapRights::ALL, 0xfa).map_err(|_| "mint failed")?;
        spawn(bi, ut, base + 1, 1, 254, base + 2, faulter, 0)?;
        // 1: invalid opcode, a user exception (label 3): IP, SP, FLAGS,
        // vector 6, code 0.
        let r = ipc::recv(base);
        ensure(r.badge == 0xfa && r.info.label() == 3 && r.info.length() == 5, "expected a user-exception fault message")?;
        let (ip, sp, flags) = (get_mr(0), get_mr(1), get_mr(2));
        ensure(get_mr(3) == 6 && get_mr(4) == 0, "user exception must report vector 6, code 0")?;
        // Reply past the two-byte ud2.
        ipc::reply(MessageInfo::new(0, 0, 0, 3), &[ip + 2, sp, flags]);
        // 2: an unknown syscall (label 2): 18 registers and the number.
        let r = ipc::recv(base);
        ensure(r.info.label() == 2 && r.info.length() == 19, "expected an unknown-syscall fault message")?;
        ensure(get_mr(18) == -99i64 as u64 && get_mr(3) == -99i64 as u64, "the syscall number must be in MR18 and RDX")?;
        let mut regs = [0u64; 19];
        for (i, r) in regs.iter_mut().enumerate() {
            *r = get_mr(i);
        }
        regs[15] += 2; // FaultIP past the syscall instruction
        ipc::reply(MessageInfo::new(0, 0, 0, 18), &regs[..18]);
        // 3: a read of 0x10, a VM fault (label 5): IP, address, not an
        // instruction fetch, FSR with the user bit.
        let r = ipc::recv(base);
        ensure(r.info.label() == 5 && r.info.length() == 4, "expected a VM fault message")?;
        ensure(get_mr(1) == 0x10 && get_mr(2) == 0 && get_mr(3) & 0x4 != 0, "VM fault address or status wrong")?;
        // A cap fault: label 1, IP, address, send phase, guard mismatch.
        cnode::delete(ROOT, base + 1, DEPTH).map_err(|_| "delete failed")?;
        spawn(bi, ut, base + 1, 1, 254, base + 2, cap_faulter, 0)?;
        let r = ipc::recv(base);
        ensure(r.info.label() == 1, "expected a cap fault message")?;
        let words = [get_mr(1), get_mr(2), get_mr(3), get_mr(4), get_mr(5), get_mr(6)];
        ensure(words == [1 << 40, 0, 4, 64, 0, 51], "cap fault words differ from seL4's")?;
        reset()
    });

    t.run("read_write_registers_suspend_resume", || {
        untyped::retype(ut, ty::NOTIFICATION, 0, ROOT, 0, 0, base, 1).map_err(|_| "notification retype failed")?;
        untyped::retype(ut, ty::ENDPOINT, 0, ROOT, 0, 0, base + 3, 1).map_err(|_| "endpoint retype failed")?;
        // A worker at the rootserver's priority runs when the rootserver
        // yields, and blocks in Recv: its registers read back with rip at
        // that syscall, rdx the Recv number and rdi the endpoint.
        spawn(bi, ut, base + 1, 1, 255, 0, badge_server, base + 3)?;
        sel4::arch::yield_now();
        let regs = tcb::read_registers(base + 1, true, 20).map_err(|_| "ReadRegisters failed")?;
        ensure(regs[8] == base + 3 && regs[6] == (-5i64) as u64, "rdi/rdx of a thread in Recv look wrong")?;
        // Safety: reads two bytes of our own code at the reported rip.
        let insn = unsafe { core::ptr::read_volatile(regs[0] as *const [u8; 2]) };
        ensure(insn == [0x0f, 0x05], "rip of a thread in a syscall must point at the syscall instruction")?;
        ensure(regs[2] & 0x200 != 0, "user RFLAGS must have IF")?;
        ensure(tcb::read_registers(root_slots::INIT_THREAD_TCB, false, 1) == Err(sel4::Error::IllegalOperation), "reading oneself is refused")?;
        ensure(tcb::read_registers(base + 1, false, 21) == Err(sel4::Error::RangeError), "21 registers is out of range")?;
        // Point it at the yielder instead and resume it.
        let mut new = regs;
        new[0] = yielder as *const () as u64;
        new[5] = 7 << 32 | base; // rcx is unused; the argument goes in rdi
        new[8] = 7 << 32 | base;
        sel4::invocation::result(tcb::write_registers(base + 1, true, 0, &new)).map_err(|_| "WriteRegisters failed")?;
        ipc::wait(base);
        ensure(LOG[0].load(Ordering::Relaxed) == 7, "the rewritten thread did not run the new code")?;
        tcb::suspend(base + 1).map_err(|_| "suspend failed")?;
        reset()
    });

    t.run("time_slices_preempt_busy_threads", || {
        untyped::retype(ut, ty::NOTIFICATION, 0, ROOT, 0, 0, base, 1).map_err(|_| "notification retype failed")?;
        spawn(bi, ut, base + 1, 1, 100, 0, spinner, base)?;
        spawn(bi, ut, base + 2, 2, 100, 0, spinner, 1 << 32 | base)?;
        ipc::wait(base);
        ensure(SPIN[0].load(Ordering::Relaxed) > 1000 && SPIN[1].load(Ordering::Relaxed) > 1000, "a spinner never ran")?;
        reset()
    });

    t.run("domain_set", || {
        let (dom, me) = (root_slots::DOMAIN, root_slots::INIT_THREAD_TCB);
        sel4::invocation::domain_set(dom, 0, me).map_err(|_| "DomainSet_Set to domain 0 failed")?;
        ensure(sel4::invocation::domain_set(dom, 1, me) == Err(sel4::Error::InvalidArgument), "only domain 0 exists")?;
        ensure(sel4::invocation::domain_set(dom, 0, ROOT) == Err(sel4::Error::InvalidArgument), "the extra cap must be a TCB")
    });

    t.run("io_ports_issue_in_out_and_ranges", || {
        use sel4::invocation::io_port;
        let ctl = root_slots::IO_PORT_CONTROL;
        // The CMOS/RTC index and data ports.
        io_port::issue(ctl, 0x70, 0x71, ROOT, base, DEPTH).map_err(|_| "issue failed")?;
        ensure(sel4::debug::cap_identify(base) == Some(CapType::IoPort), "issued cap is not an IOPort cap")?;
        ensure(io_port::issue(ctl, 0x71, 0x72, ROOT, base + 1, DEPTH) == Err(sel4::Error::RevokeFirst), "ports can be issued once")?;
        ensure(io_port::issue(ctl, 0x90, 0x80, ROOT, base + 1, DEPTH) == Err(sel4::Error::InvalidArgument), "last below first")?;
        // RTC status register A reads 0x26 (32.768 kHz base, 1024 Hz rate)
        // apart from the update-in-progress bit.
        io_port::out8(base, 0x70, 0x0a).map_err(|_| "out8 failed")?;
        let a = io_port::in8(base, 0x71).map_err(|_| "in8 failed")?;
        ensure(a & 0x7f == 0x26, "RTC status A did not read 0x26")?;
        ensure(io_port::in8(base, 0x72) == Err(sel4::Error::IllegalOperation), "a port outside the range is refused")?;
        ensure(io_port::in16(base, 0x71) == Err(sel4::Error::IllegalOperation), "a 16-bit access reaching past the range is refused")?;
        // Deleting the cap frees the range.
        cnode::delete(ROOT, base, DEPTH).map_err(|_| "delete failed")?;
        io_port::issue(ctl, 0x70, 0x71, ROOT, base, DEPTH).map_err(|_| "re-issue after delete failed")?;
        cnode::delete(ROOT, base, DEPTH).map_err(|_| "delete failed")
    });

    t.run("pit_interrupt_reaches_a_notification", || {
        use sel4::invocation::{io_port, irq};
        untyped::retype(ut, ty::NOTIFICATION, 0, ROOT, 0, 0, base, 1).map_err(|_| "notification retype failed")?;
        cnode::mint(ROOT, base + 1, DEPTH, ROOT, base, DEPTH, CapRights::ALL, 0x1234).map_err(|_| "mint failed")?;
        let (ctl, handler, pit) = (root_slots::IRQ_CONTROL, base + 2, base + 3);
        ensure(irq::get(ctl, 0, ROOT, handler, DEPTH) == Err(sel4::Error::IllegalOperation), "plain Get is not for the I/O APIC")?;
        ensure(irq::get_ioapic(ctl, ROOT, handler, DEPTH, 0, 24, 0, 0, 0) == Err(sel4::Error::RangeError), "pin 24 does not exist")?;
        ensure(irq::get_ioapic(ctl, ROOT, handler, DEPTH, 0, 2, 0, 0, 108) == Err(sel4::Error::RangeError), "vector 108 is out of range")?;
        // The PIT's IRQ 0 arrives on I/O APIC pin 2 (QEMU's override).
        irq::get_ioapic(ctl, ROOT, handler, DEPTH, 0, 2, 0, 0, 0).map_err(|_| "GetIOAPIC failed")?;
        ensure(irq::get_ioapic(ctl, ROOT, base + 4, DEPTH, 0, 3, 0, 0, 0) == Err(sel4::Error::RevokeFirst), "a vector is issued once")?;
        irq::set_notification(handler, base + 1).map_err(|_| "SetNotification failed")?;
        irq::ack(handler).map_err(|_| "Ack failed")?;
        io_port::issue(root_slots::IO_PORT_CONTROL, 0x40, 0x43, ROOT, pit, DEPTH).map_err(|_| "PIT ports failed")?;
        // Channel 0, rate generator, about 1 kHz.
        io_port::out8(pit, 0x43, 0x34).map_err(|_| "PIT mode failed")?;
        io_port::out8(pit, 0x40, (1193 & 0xff) as u8).map_err(|_| "PIT count failed")?;
        io_port::out8(pit, 0x40, (1193 >> 8) as u8).map_err(|_| "PIT count failed")?;
        for _ in 0..3 {
            ensure(ipc::wait(base) == 0x1234, "the IRQ's badge did not arrive")?;
            irq::ack(handler).map_err(|_| "Ack failed")?;
        }
        // Stop the PIT (one-shot, never reloaded) and give the IRQ back.
        io_port::out8(pit, 0x43, 0x30).map_err(|_| "PIT stop failed")?;
        cnode::delete(ROOT, handler, DEPTH).map_err(|_| "handler delete failed")?;
        cnode::delete(ROOT, pit, DEPTH).map_err(|_| "PIT cap delete failed")?;
        irq::get_ioapic(ctl, ROOT, handler, DEPTH, 0, 2, 0, 0, 0).map_err(|_| "the vector was not freed")?;
        irq::set_notification(handler, base + 1).map_err(|_| "SetNotification failed")?;
        irq::clear(handler).map_err(|_| "Clear failed")?;
        cnode::delete(ROOT, handler, DEPTH).map_err(|_| "handler delete failed")?;
        // MSIs: bus, device and function ranges, then a handler.
        ensure(irq::get_msi(ctl, ROOT, handler, DEPTH, 256, 0, 0, 0, 5) == Err(sel4::Error::RangeError), "PCI bus 256")?;
        ensure(irq::get_msi(ctl, ROOT, handler, DEPTH, 0, 32, 0, 0, 5) == Err(sel4::Error::RangeError), "PCI device 32")?;
        irq::get_msi(ctl, ROOT, handler, DEPTH, 0, 3, 0, 0, 5).map_err(|_| "GetMSI failed")?;
        ensure(sel4::debug::cap_identify(handler) == Some(CapType::IrqHandler), "GetMSI gave no IRQ handler cap")?;
        cnode::delete(ROOT, handler, DEPTH).map_err(|_| "handler delete failed")?;
        reset()
    });

    t.run("sse_registers_survive_preemption", || {
        untyped::retype(ut, ty::NOTIFICATION, 0, ROOT, 0, 0, base, 1).map_err(|_| "notification retype failed")?;
        spawn(bi, ut, base + 1, 1, 100, 0, sse_worker, 1 << 63 | 0x1357 << 32 | base)?;
        spawn(bi, ut, base + 2, 2, 100, 0, sse_worker, 1 << 63 | 0x2468 << 32 | base)?;
        ipc::wait(base);
        ipc::wait(base);
        ensure(LOG_LEN.load(Ordering::Relaxed) == 2, "both SSE workers must finish")?;
        ensure(LOG[0].load(Ordering::Relaxed) == 0 && LOG[1].load(Ordering::Relaxed) == 0, "an xmm register was corrupted")?;
        reset()
    });

    t.run("more_tcb_methods", || {
        untyped::retype(ut, ty::NOTIFICATION, 0, ROOT, 0, 0, base, 1).map_err(|_| "notification retype failed")?;
        untyped::retype(ut, ty::TCB, 0, ROOT, 0, 0, base + 1, 2).map_err(|_| "TCB retype failed")?;
        let (a, b) = (base + 1, base + 2);
        // SetSpace and SetIPCBuffer (a misaligned buffer is an alignment
        // error), the TCB's SetTLSBase, SetSchedParams within the MCP.
        tcb::configure(a, 0, ROOT, 0, root_slots::INIT_THREAD_VSPACE, 0, 0, 0).map_err(|_| "configure failed")?;
        let set_space = sel4::invocation::call(a, sel4::invocation_labels::TCB_SET_SPACE, &[0, 0, 0], &[ROOT, root_slots::INIT_THREAD_VSPACE]);
        sel4::invocation::result(set_space).map_err(|_| "SetSpace failed")?;
        ensure(
            tcb::set_ipc_buffer(a, bi.ipc_buffer + 1024 + 8, root_slots::INIT_THREAD_IPC_BUFFER) == Err(sel4::Error::AlignmentError),
            "a misaligned IPC buffer must be refused",
        )?;
        tcb::set_ipc_buffer(a, bi.ipc_buffer + 1024, root_slots::INIT_THREAD_IPC_BUFFER).map_err(|_| "SetIPCBuffer failed")?;
        tcb::set_tls_base(a, 0x1234_5000).map_err(|_| "SetTLSBase failed")?;
        let tls = tcb::read_registers(a, false, 20).map_err(|_| "ReadRegisters failed")?;
        ensure(tls[18] == 0x1234_5000, "SetTLSBase did not set fs_base")?;
        tcb::set_sched_params(a, root_slots::INIT_THREAD_TCB, 50, 40).map_err(|_| "SetSchedParams failed")?;
        ensure(
            tcb::set_sched_params(a, root_slots::INIT_THREAD_TCB, 256, 40) == Err(sel4::Error::RangeError),
            "MCP above the authority's is refused",
        )?;
        // Write a's registers, copy them to b, read b's back.
        let regs: [u64; 20] = core::array::from_fn(|i| 0x1000 + i as u64);
        sel4::invocation::result(tcb::write_registers(a, false, 0, &regs)).map_err(|_| "WriteRegisters failed")?;
        let copy = sel4::invocation::call(b, sel4::invocation_labels::TCB_COPY_REGISTERS, &[0b1100], &[a]);
        sel4::invocation::result(copy).map_err(|_| "CopyRegisters failed")?;
        let got = tcb::read_registers(b, false, 20).map_err(|_| "ReadRegisters failed")?;
        ensure(got[3..18] == regs[3..18], "general registers were not copied")?;
        ensure(got[18..20] == regs[18..20], "fs_base and gs_base were not copied")?;
        ensure(got[2] & 0x200 != 0 && got[2] & 0x100 == 0, "RFLAGS must be sanitised: IF set, TF clear")?;
        // Binding and unbinding.
        tcb::bind_notification(a, base).map_err(|_| "bind failed")?;
        tcb::unbind_notification(a).map_err(|_| "unbind failed")?;
        ensure(tcb::unbind_notification(a) == Err(sel4::Error::IllegalOperation), "unbinding twice")?;
        reset()
    });

    t.run("call_without_grant_rights_gets_no_reply_cap", || {
        untyped::retype(ut, ty::ENDPOINT, 0, ROOT, 0, 0, base, 1).map_err(|_| "endpoint retype failed")?;
        untyped::retype(ut, ty::NOTIFICATION, 0, ROOT, 0, 0, base + 3, 1).map_err(|_| "notification retype failed")?;
        // A cap with only the write right: a Call through it leaves the
        // caller inactive (no reply cap can be made), as seL4 does.
        cnode::mint(ROOT, base + 1, DEPTH, ROOT, base, DEPTH, CapRights::WRITE, 0).map_err(|_| "mint failed")?;
        spawn(bi, ut, base + 2, 1, 254, 0, caller_then_signal, (base + 1) << 32 | (base + 3))?;
        let r = ipc::recv(base);
        ensure(r.info.label() == 0x55, "the call did not arrive")?;
        sel4::invocation::cnode::save_caller(ROOT, base + 4, DEPTH).map_err(|_| "SaveCaller failed")?;
        ensure(sel4::debug::cap_identify(base + 4) == Some(CapType::Null), "no reply cap may exist for a call without grant rights")?;
        let regs = tcb::read_registers(base + 2, false, 1).map_err(|_| "ReadRegisters failed")?;
        ensure(regs[0] != 0, "the caller's registers are readable")?;
        ensure(ipc::poll(base + 3) == 0, "the caller must not have run on")?;
        reset()
    });

    t.run("sse_registers_survive_switches", || {
        untyped::retype(ut, ty::NOTIFICATION, 0, ROOT, 0, 0, base, 1).map_err(|_| "notification retype failed")?;
        spawn(bi, ut, base + 1, 1, 100, 0, sse_worker, 0xaaaa << 32 | base)?;
        spawn(bi, ut, base + 2, 2, 100, 0, sse_worker, 0x5555 << 32 | base)?;
        ipc::wait(base);
        ipc::wait(base);
        ensure(LOG_LEN.load(Ordering::Relaxed) == 2, "both SSE workers must finish")?;
        ensure(LOG[0].load(Ordering::Relaxed) == 0 && LOG[1].load(Ordering::Relaxed) == 0, "an xmm register was corrupted")?;
        reset()
    });
}
