//! Threads, IPC, notifications, priorities and faults, with worker threads
//! in the rootserver's own address space (each with its own stack, TLS
//! block and a quarter of the IPC buffer frame).

use super::{ensure, find_untyped, slot, Runner, ROOT_NODE};
use core::sync::atomic::{AtomicU64, Ordering};
use sel4::cap::{init, CapRights, Endpoint, Granule, IoPort, IoPortControl, IrqControl, IrqHandler, Notification, Tcb, Untyped};
use sel4::invocation::get_mr;
use sel4::ipc::{self, Received};
use sel4::ipc_buffer::{with_ipc_buffer, TlsBlock};
use sel4::ObjectType;
use sel4::{root_slots, BootInfo, CapType, MessageInfo};

const ROOT: u64 = root_slots::INIT_THREAD_CNODE;
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

/// Empties the shared log (after a failed test, which may have left it).
pub fn clear_log() {
    LOG_LEN.store(0, Ordering::Relaxed);
}

pub fn log_len() -> u64 {
    LOG_LEN.load(Ordering::Relaxed)
}

/// Appends to the shared log, as a worker would.
pub fn log_for_test(v: u64) {
    log(v)
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
pub fn spawn_with(bi: &BootInfo, ut: Untyped, spec: WorkerSpec, entry: sel4::thread::Entry, arg: u64) -> Result<(), &'static str> {
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
        sel4::thread::start(Tcb::from_cptr(tcb_slot), entry, arg, stack_top, tls, buffer).map_err(|_| "starting the worker failed")
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
fn spawn(
    bi: &BootInfo,
    ut: Untyped,
    tcb_slot: u64,
    k: usize,
    prio: u64,
    fault_ep: u64,
    entry: sel4::thread::Entry,
    arg: u64,
) -> Result<(), &'static str> {
    ut.retype(ObjectType::Tcb, 0, ROOT_NODE, tcb_slot, 1).map_err(|_| "TCB retype failed")?;
    let tcb = Tcb::from_cptr(tcb_slot);
    let buffer = bi.ipc_buffer + 1024 * k as u64;
    tcb.configure(fault_ep, init::CNODE, 0, init::VSPACE, 0, buffer, init::IPC_BUFFER).map_err(|_| "TCB configure failed")?;
    tcb.set_priority(init::TCB, prio).map_err(|_| "set priority failed")?;
    // Safety: worker k's stack and TLS block are used by that worker only,
    // and the test deletes the worker before reusing them.
    unsafe {
        let stack_top = core::ptr::addr_of_mut!(STACKS.0[k - 1]) as u64 + STACK_BYTES as u64;
        let tls = core::ptr::addr_of_mut!(TLS[k - 1]);
        sel4::thread::start(tcb, entry, arg, stack_top, tls, buffer).map_err(|_| "starting the worker failed")
    }
}

/// Echoes every message back with each word and the label plus one.
extern "C" fn echo_server(ep: u64) -> ! {
    let mut r = Endpoint::from_cptr(ep).recv();
    let mut words = [0u64; 120];
    loop {
        let n = r.info.length() as usize;
        for (i, w) in words.iter_mut().enumerate().take(n) {
            *w = get_mr(i) + 1;
        }
        r = Endpoint::from_cptr(ep).reply_recv(MessageInfo::new(r.info.label() + 1, 0, 0, n as u64), &words[..n]);
    }
}

/// Answers with the caller's badge.
extern "C" fn badge_server(ep: u64) -> ! {
    let mut r = Endpoint::from_cptr(ep).recv();
    loop {
        r = Endpoint::from_cptr(ep).reply_recv(MessageInfo::new(0, 0, 0, 1), &[r.badge]);
    }
}

/// The slot where `cap_server` receives caps.
static RECEIVE_SLOT: AtomicU64 = AtomicU64::new(0);

/// Answers with what arrived besides data: unwrapped mask, extra caps,
/// the first unwrapped badge, and the type of the cap in its receive slot.
extern "C" fn cap_server(ep: u64) -> ! {
    let receive_slot = RECEIVE_SLOT.load(Ordering::Relaxed);
    let set_receive = || {
        with_ipc_buffer(|b| {
            b.receive_cnode = ROOT;
            b.receive_index = receive_slot;
            b.receive_depth = 64;
        })
    };
    set_receive();
    let mut r = Endpoint::from_cptr(ep).recv();
    loop {
        let badge0 = with_ipc_buffer(|b| b.caps_or_badges[0]);
        let got = sel4::debug::cap_identify_raw(receive_slot);
        let answer = [r.info.caps_unwrapped(), r.info.extra_caps(), badge0, got];
        // Make room for the next cap.
        let _ = slot(receive_slot).delete();
        set_receive();
        r = Endpoint::from_cptr(ep).reply_recv(MessageInfo::new(0, 0, 0, 4), &answer);
    }
}

/// Logs its id three times, yielding in between, then signals `done`.
extern "C" fn yielder(arg: u64) -> ! {
    let (id, done) = (arg >> 32, arg & 0xffff_ffff);
    for _ in 0..3 {
        log(id);
        sel4::arch::yield_now();
    }
    Notification::from_cptr(done).signal();
    loop {
        sel4::arch::yield_now();
    }
}

/// Waits on its endpoint; a signal to its bound notification arrives there.
extern "C" fn bound_waiter(arg: u64) -> ! {
    let (ep, done) = (arg >> 32, arg & 0xffff_ffff);
    let r = Endpoint::from_cptr(ep).recv();
    log(r.badge);
    Notification::from_cptr(done).signal();
    loop {
        Endpoint::from_cptr(ep).recv();
    }
}

/// Calls through `arg >> 32`, then signals `arg & 0xffffffff`.
extern "C" fn caller_then_signal(arg: u64) -> ! {
    let (ep, ntfn) = (arg >> 32, arg & 0xffff_ffff);
    Endpoint::from_cptr(ep).call(MessageInfo::new(0x55, 0, 0, 0), &[]);
    Notification::from_cptr(ntfn).signal();
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
    loop {
        core::hint::spin_loop();
    }
}

/// Invokes a capability pointer that cannot resolve (a non-zero guard).
extern "C" fn cap_faulter(_: u64) -> ! {
    Endpoint::from_cptr(1 << 40).call(MessageInfo::new(0, 0, 0, 0), &[]);
    loop {
        core::hint::spin_loop();
    }
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
    Notification::from_cptr(done).signal();
    loop {
        Notification::from_cptr(done).wait();
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
    Notification::from_cptr(done).signal();
    loop {
        sel4::arch::yield_now();
    }
}

pub fn run(t: &mut Runner, bi: &'static BootInfo) {
    let Some((ut, _)) = find_untyped(bi, 22) else {
        t.run("threads_untyped_available", || Err("no RAM untyped of 4 MiB or more"));
        return;
    };
    let base = bi.empty.start + 64 * 12;
    let reset = || {
        LOG_LEN.store(0, Ordering::Relaxed);
        slot(ut).revoke().map_err(|_| "cleanup revoke failed")
    };

    t.run("ipc_call_reply_every_length_0_to_120", || {
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, base, 1).map_err(|_| "endpoint retype failed")?;
        spawn(bi, ut, base + 1, 1, 254, 0, echo_server, base)?;
        let mut msg = [0u64; 120];
        for len in 0..=120usize {
            for (i, m) in msg.iter_mut().enumerate().take(len) {
                *m = (len as u64) << 32 | i as u64;
            }
            let r: Received = Endpoint::from_cptr(base).call(MessageInfo::new(0x77, 0, 0, len as u64), &msg[..len]);
            ensure(r.info.label() == 0x78 && r.info.length() == len as u64, "reply label or length wrong")?;
            ensure((0..len).all(|i| get_mr(i) == msg[i] + 1), "a message word was not transferred")?;
        }
        reset()
    });

    t.run("badges_reach_the_receiver", || {
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, base, 1).map_err(|_| "endpoint retype failed")?;
        slot(base + 2).mint(slot(base), CapRights::ALL, 0x42).map_err(|_| "mint failed")?;
        spawn(bi, ut, base + 1, 1, 254, 0, badge_server, base)?;
        Endpoint::from_cptr(base + 2).call(MessageInfo::new(0, 0, 0, 0), &[]);
        ensure(get_mr(0) == 0x42, "badge 0x42 did not arrive")?;
        Endpoint::from_cptr(base).call(MessageInfo::new(0, 0, 0, 0), &[]);
        ensure(get_mr(0) == 0, "the unbadged cap should give badge 0")?;
        // Nobody is waiting on a fresh endpoint: NBSend drops the message.
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, base + 3, 1).map_err(|_| "endpoint retype failed")?;
        Endpoint::from_cptr(base + 3).nb_send(MessageInfo::new(0, 0, 0, 0), &[]);
        ensure(Endpoint::from_cptr(base + 3).nb_recv().badge == 0, "NBRecv on an empty endpoint must not block")?;
        reset()
    });

    t.run("capability_transfer_and_unwrapping", || {
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, base, 1).map_err(|_| "endpoint retype failed")?;
        ut.retype(ObjectType::Notification, 0, ROOT_NODE, base + 3, 1).map_err(|_| "notification retype failed")?;
        slot(base + 2).mint(slot(base), CapRights::ALL, 0x99).map_err(|_| "mint failed")?;
        RECEIVE_SLOT.store(base + 10, Ordering::Relaxed);
        spawn(bi, ut, base + 1, 1, 254, 0, cap_server, base)?;
        let send_cap = |cap: u64| {
            with_ipc_buffer(|b| b.caps_or_badges[0] = cap);
            Endpoint::from_cptr(base).call(MessageInfo::new(0, 0, 1, 0), &[]);
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
        ut.retype(ObjectType::Notification, 0, ROOT_NODE, base, 2).map_err(|_| "notification retype failed")?;
        for (i, badge) in [1u64, 2, 4].iter().enumerate() {
            slot(base + 2 + i as u64).mint(slot(base), CapRights::ALL, *badge).map_err(|_| "mint failed")?;
        }
        ensure(Notification::from_cptr(base).poll() == 0, "an idle notification polls as 0")?;
        for i in 0..3 {
            Notification::from_cptr(base + 2 + i).signal();
        }
        ensure(Notification::from_cptr(base).wait() == 7, "signals must OR their badges")?;
        ensure(Notification::from_cptr(base).poll() == 0, "waiting consumes the badges")?;
        // A notification bound to a thread arrives through its Recv.
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, base + 5, 1).map_err(|_| "endpoint retype failed")?;
        ut.retype(ObjectType::Tcb, 0, ROOT_NODE, base + 6, 1).map_err(|_| "TCB retype failed")?;
        // A cap of another type is refused as seL4 refuses it: with
        // IllegalOperation (found by the differential fuzzer).
        ensure(
            Tcb::from_cptr(base + 6).bind_notification(Notification::from_cptr(base + 5)) == Err(sel4::Error::IllegalOperation),
            "binding an endpoint must be IllegalOperation",
        )?;
        Tcb::from_cptr(base + 6).bind_notification(Notification::from_cptr(base)).map_err(|_| "bind failed")?;
        ensure(
            Tcb::from_cptr(base + 6).bind_notification(Notification::from_cptr(base + 1)) == Err(sel4::Error::IllegalOperation),
            "double bind must fail",
        )?;
        slot(base + 6).delete().map_err(|_| "delete failed")?;
        spawn(bi, ut, base + 6, 1, 254, 0, bound_waiter, (base + 5) << 32 | (base + 1))?;
        Tcb::from_cptr(base + 6).bind_notification(Notification::from_cptr(base)).map_err(|_| "bind failed")?;
        sel4::arch::yield_now();
        Notification::from_cptr(base + 4).signal();
        Notification::from_cptr(base + 1).wait();
        ensure(LOG_LEN.load(Ordering::Relaxed) == 1 && LOG[0].load(Ordering::Relaxed) == 4, "the bound signal did not reach Recv")?;
        reset()
    });

    t.run("round_robin_within_a_priority", || {
        ut.retype(ObjectType::Notification, 0, ROOT_NODE, base, 1).map_err(|_| "notification retype failed")?;
        spawn(bi, ut, base + 1, 1, 100, 0, yielder, 1 << 32 | base)?;
        spawn(bi, ut, base + 2, 2, 100, 0, yielder, 2 << 32 | base)?;
        Notification::from_cptr(base).wait();
        Notification::from_cptr(base).wait();
        let n = LOG_LEN.load(Ordering::Relaxed) as usize;
        let entries: [u64; 6] = core::array::from_fn(|i| LOG[i].load(Ordering::Relaxed));
        ensure(n == 6, "each worker logs three times")?;
        ensure(entries.windows(2).all(|w| w[0] != w[1]), "equal-priority workers must alternate on Yield")?;
        reset()
    });

    t.run("higher_priority_preempts_on_wakeup", || {
        ut.retype(ObjectType::Notification, 0, ROOT_NODE, base, 1).map_err(|_| "notification retype failed")?;
        // A worker above the rootserver's priority is refused: the root's
        // MCP is 255, so 255 is allowed and 256 is a range error.
        ut.retype(ObjectType::Tcb, 0, ROOT_NODE, base + 1, 1).map_err(|_| "TCB retype failed")?;
        ensure(
            Tcb::from_cptr(base + 1).set_priority(init::TCB, 256) == Err(sel4::Error::RangeError),
            "priority above the authority's MCP must be refused",
        )?;
        // Lower the new TCB's MCP and use it as authority: it cannot grant
        // more than it has.
        Tcb::from_cptr(base + 1).set_mc_priority(init::TCB, 10).map_err(|_| "set MCP failed")?;
        ensure(
            Tcb::from_cptr(base + 1).set_priority(Tcb::from_cptr(base + 1), 11) == Err(sel4::Error::RangeError),
            "MCP 10 cannot grant priority 11",
        )?;
        Tcb::from_cptr(base + 1).set_priority(Tcb::from_cptr(base + 1), 10).map_err(|_| "priority within MCP refused")?;
        reset()
    });

    t.run("fault_messages_and_fault_replies", || {
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, base, 1).map_err(|_| "endpoint retype failed")?;
        slot(base + 2).mint(slot(base), CapRights::ALL, 0xfa).map_err(|_| "mint failed")?;
        spawn(bi, ut, base + 1, 1, 254, base + 2, faulter, 0)?;
        // 1: invalid opcode, a user exception (label 3): IP, SP, FLAGS,
        // vector 6, code 0.
        let r = Endpoint::from_cptr(base).recv();
        ensure(r.badge == 0xfa && r.info.label() == 3 && r.info.length() == 5, "expected a user-exception fault message")?;
        let (ip, sp, flags) = (get_mr(0), get_mr(1), get_mr(2));
        ensure(get_mr(3) == 6 && get_mr(4) == 0, "user exception must report vector 6, code 0")?;
        // Reply past the two-byte ud2.
        ipc::reply(MessageInfo::new(0, 0, 0, 3), &[ip + 2, sp, flags]);
        // 2: an unknown syscall (label 2): 18 registers and the number.
        let r = Endpoint::from_cptr(base).recv();
        ensure(r.info.label() == 2 && r.info.length() == 19, "expected an unknown-syscall fault message")?;
        ensure(get_mr(18) == -99i64 as u64 && get_mr(3) == -99i64 as u64, "the syscall number must be in MR18 and RDX")?;
        let mut regs = [0u64; 19];
        for (i, r) in regs.iter_mut().enumerate() {
            *r = get_mr(i);
        }
        regs[15] += 2; // FaultIP past the syscall instruction
        ipc::reply(MessageInfo::new(0, 0, 0, 18), &regs[..18]);
        // 3: a read of 0x10, a VM fault (label 5): IP, address, not an
        // instruction fetch, FSR 0x4 (user, not present, read).
        let r = Endpoint::from_cptr(base).recv();
        ensure(r.info.label() == 5 && r.info.length() == 4, "expected a VM fault message")?;
        ensure(get_mr(1) == 0x10 && get_mr(2) == 0 && get_mr(3) == 0x4, "VM fault address or status wrong")?;
        // A cap fault: label 1, IP, address, send phase, guard mismatch.
        slot(base + 1).delete().map_err(|_| "delete failed")?;
        spawn(bi, ut, base + 1, 1, 254, base + 2, cap_faulter, 0)?;
        let r = Endpoint::from_cptr(base).recv();
        ensure(r.info.label() == 1, "expected a cap fault message")?;
        let words = [get_mr(1), get_mr(2), get_mr(3), get_mr(4), get_mr(5), get_mr(6)];
        // The guard of the root CNode is 64 - KernelRootCNodeSizeBits bits.
        let guard_bits = 64 - sel4::config::ROOT_CNODE_SIZE_BITS as u64;
        ensure(words == [1 << 40, 0, 4, 64, 0, guard_bits], "cap fault words differ from seL4's")?;
        reset()
    });

    t.run("read_write_registers_suspend_resume", || {
        ut.retype(ObjectType::Notification, 0, ROOT_NODE, base, 1).map_err(|_| "notification retype failed")?;
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, base + 3, 1).map_err(|_| "endpoint retype failed")?;
        // A worker at the rootserver's priority runs when the rootserver
        // yields, and blocks in Recv: its registers read back with rip at
        // that syscall, rdx the Recv number and rdi the endpoint.
        spawn(bi, ut, base + 1, 1, 255, 0, badge_server, base + 3)?;
        sel4::arch::yield_now();
        let regs = Tcb::from_cptr(base + 1).read_registers(true, 20).map_err(|_| "ReadRegisters failed")?;
        ensure(regs[8] == base + 3 && regs[6] == (-5i64) as u64, "rdi/rdx of a thread in Recv look wrong")?;
        // Safety: reads two bytes of our own code at the reported rip.
        let insn = unsafe { core::ptr::read_volatile(regs[0] as *const [u8; 2]) };
        ensure(insn == [0x0f, 0x05], "rip of a thread in a syscall must point at the syscall instruction")?;
        ensure(regs[2] & 0x200 != 0, "user RFLAGS must have IF")?;
        ensure(init::TCB.read_registers(false, 1) == Err(sel4::Error::IllegalOperation), "reading oneself is refused")?;
        ensure(Tcb::from_cptr(base + 1).read_registers(false, 21) == Err(sel4::Error::RangeError), "21 registers is out of range")?;
        // Point it at the yielder instead and resume it.
        let mut new = regs;
        new[0] = yielder as *const () as u64;
        new[5] = 7 << 32 | base; // rcx is unused; the argument goes in rdi
        new[8] = 7 << 32 | base;
        Tcb::from_cptr(base + 1).write_registers(true, 0, &new).map_err(|_| "WriteRegisters failed")?;
        Notification::from_cptr(base).wait();
        ensure(LOG[0].load(Ordering::Relaxed) == 7, "the rewritten thread did not run the new code")?;
        Tcb::from_cptr(base + 1).suspend().map_err(|_| "suspend failed")?;
        reset()
    });

    t.run("time_slices_preempt_busy_threads", || {
        ut.retype(ObjectType::Notification, 0, ROOT_NODE, base, 1).map_err(|_| "notification retype failed")?;
        spawn(bi, ut, base + 1, 1, 100, 0, spinner, base)?;
        spawn(bi, ut, base + 2, 2, 100, 0, spinner, 1 << 32 | base)?;
        Notification::from_cptr(base).wait();
        ensure(SPIN[0].load(Ordering::Relaxed) > 1000 && SPIN[1].load(Ordering::Relaxed) > 1000, "a spinner never ran")?;
        reset()
    });

    t.run("domain_set", || {
        init::DOMAIN.set(0, init::TCB).map_err(|_| "DomainSet_Set to domain 0 failed")?;
        ensure(init::DOMAIN.set(1, init::TCB) == Err(sel4::Error::InvalidArgument), "only domain 0 exists")?;
        let not_a_tcb = init::CNODE.cast();
        ensure(init::DOMAIN.set(0, not_a_tcb) == Err(sel4::Error::InvalidArgument), "the extra cap must be a TCB")
    });

    // seL4's checks of the domain schedule's invocations, with the words
    // of each error. With one domain the schedule has two entries: only
    // entry 0 can be configured, and entry 1 stays an end marker.
    t.run("domain_schedule_configure_and_set_start", || {
        use sel4::invocation_labels as l;
        let words = |label: u64, args: &[u64]| {
            let info = sel4::invocation::call(init::DOMAIN.cptr(), label, args, &[]);
            (info.label(), [get_mr(0), get_mr(1)])
        };
        let range = sel4::Error::RangeError as u64;
        let invalid = sel4::Error::InvalidArgument as u64;
        let configure = |args: &[u64]| words(l::DOMAIN_SCHEDULE_CONFIGURE, args);
        ensure(configure(&[0, 0]).0 == sel4::Error::TruncatedMessage as u64, "Configure takes three words")?;
        ensure(configure(&[1, 0, 5]) == (range, [0, 0]), "index 1 is the end marker: RangeError 0..0")?;
        ensure(configure(&[0, 1, 5]) == (range, [0, 0]), "domain 1 does not exist: RangeError 0..0")?;
        ensure(configure(&[0, 0, 1 << 56]).0 == invalid && get_mr(0) == 2, "a duration must fit in 56 bits")?;
        ensure(configure(&[0, 0, 0]).0 == invalid && get_mr(0) == 2, "the start entry cannot become an end marker")?;
        init::DOMAIN.schedule_configure(0, 0, 1000).map_err(|_| "configuring entry 0 failed")?;
        let set_start = |args: &[u64]| words(l::DOMAIN_SCHEDULE_SET_START, args);
        ensure(set_start(&[]).0 == sel4::Error::TruncatedMessage as u64, "SetStart takes one word")?;
        ensure(set_start(&[2]) == (range, [0, 1]), "index 2 is past the schedule: RangeError 0..1")?;
        ensure(set_start(&[1]).0 == invalid && get_mr(0) == 0, "an end marker cannot be the start")?;
        // SetStart ends the current domain and reschedules: the caller goes
        // back to the head of its queue, so a ready thread of the same
        // priority still waits.
        ut.retype(ObjectType::Notification, 0, ROOT_NODE, base, 1).map_err(|_| "notification retype failed")?;
        LOG_LEN.store(0, Ordering::Relaxed);
        // The rootserver runs at priority 255.
        spawn(bi, ut, base + 1, 1, 255, 0, yielder, 5 << 32 | base)?;
        ensure(LOG_LEN.load(Ordering::Relaxed) == 0, "a resumed thread of the caller's priority ran first")?;
        init::DOMAIN.schedule_set_start(0).map_err(|_| "SetStart(0) failed")?;
        ensure(LOG_LEN.load(Ordering::Relaxed) == 0, "SetStart let a thread of the caller's priority run first")?;
        Notification::from_cptr(base).wait();
        ensure(LOG[0].load(Ordering::Relaxed) == 5, "the worker ran without logging")?;
        // Back to the boot schedule: domain 0 for the longest duration.
        init::DOMAIN.schedule_configure(0, 0, u64::MAX >> 8).map_err(|_| "restoring entry 0 failed")?;
        init::DOMAIN.schedule_set_start(0).map_err(|_| "restoring the start failed")?;
        reset()
    });

    t.run("io_ports_issue_in_out_and_ranges", || {
        let ctl = root_slots::IO_PORT_CONTROL;
        // The CMOS/RTC index and data ports.
        IoPortControl::from_cptr(ctl).issue(0x70, 0x71, slot(base)).map_err(|_| "issue failed")?;
        ensure(sel4::debug::cap_identify(base) == Some(CapType::IoPort), "issued cap is not an IOPort cap")?;
        ensure(IoPortControl::from_cptr(ctl).issue(0x71, 0x72, slot(base + 1)) == Err(sel4::Error::RevokeFirst), "ports can be issued once")?;
        ensure(IoPortControl::from_cptr(ctl).issue(0x90, 0x80, slot(base + 1)) == Err(sel4::Error::InvalidArgument), "last below first")?;
        // RTC status register A reads 0x26 (32.768 kHz base, 1024 Hz rate)
        // apart from the update-in-progress bit.
        IoPort::from_cptr(base).out8(0x70, 0x0a).map_err(|_| "out8 failed")?;
        let a = IoPort::from_cptr(base).in8(0x71).map_err(|_| "in8 failed")?;
        ensure(a & 0x7f == 0x26, "RTC status A did not read 0x26")?;
        ensure(IoPort::from_cptr(base).in8(0x72) == Err(sel4::Error::IllegalOperation), "a port outside the range is refused")?;
        ensure(IoPort::from_cptr(base).in16(0x71) == Err(sel4::Error::IllegalOperation), "a 16-bit access reaching past the range is refused")?;
        // Deleting the cap frees the range.
        slot(base).delete().map_err(|_| "delete failed")?;
        IoPortControl::from_cptr(ctl).issue(0x70, 0x71, slot(base)).map_err(|_| "re-issue after delete failed")?;
        slot(base).delete().map_err(|_| "delete failed")
    });

    t.run("pit_interrupt_reaches_a_notification", || {
        ut.retype(ObjectType::Notification, 0, ROOT_NODE, base, 1).map_err(|_| "notification retype failed")?;
        slot(base + 1).mint(slot(base), CapRights::ALL, 0x1234).map_err(|_| "mint failed")?;
        let (ctl, handler, pit) = (root_slots::IRQ_CONTROL, base + 2, base + 3);
        ensure(IrqControl::from_cptr(ctl).get(0, slot(handler)) == Err(sel4::Error::IllegalOperation), "plain Get is not for the I/O APIC")?;
        // Too short for plain Get: truncated, before the IRQ is looked at,
        // as in seL4 (found by the differential fuzzer).
        let info = sel4::invocation::call(ctl, sel4::invocation_labels::IRQ_ISSUE_IRQ_HANDLER, &[], &[]);
        ensure(info.label() == sel4::Error::TruncatedMessage as u64, "a short plain Get must be TruncatedMessage")?;
        ensure(IrqControl::from_cptr(ctl).get_ioapic(slot(handler), 0, 24, 0, 0, 0) == Err(sel4::Error::RangeError), "pin 24 does not exist")?;
        ensure(IrqControl::from_cptr(ctl).get_ioapic(slot(handler), 0, 2, 0, 0, 108) == Err(sel4::Error::RangeError), "vector 108 is out of range")?;
        // The PIT's IRQ 0 arrives on I/O APIC pin 2 (QEMU's override).
        IrqControl::from_cptr(ctl).get_ioapic(slot(handler), 0, 2, 0, 0, 0).map_err(|_| "GetIOAPIC failed")?;
        ensure(IrqControl::from_cptr(ctl).get_ioapic(slot(base + 4), 0, 3, 0, 0, 0) == Err(sel4::Error::RevokeFirst), "a vector is issued once")?;
        IrqHandler::from_cptr(handler).set_notification(Notification::from_cptr(base + 1)).map_err(|_| "SetNotification failed")?;
        IrqHandler::from_cptr(handler).ack().map_err(|_| "Ack failed")?;
        init::IO_PORT_CONTROL.issue(0x40, 0x43, slot(pit)).map_err(|_| "PIT ports failed")?;
        // Channel 0, rate generator, about 1 kHz.
        IoPort::from_cptr(pit).out8(0x43, 0x34).map_err(|_| "PIT mode failed")?;
        IoPort::from_cptr(pit).out8(0x40, (1193 & 0xff) as u8).map_err(|_| "PIT count failed")?;
        IoPort::from_cptr(pit).out8(0x40, (1193 >> 8) as u8).map_err(|_| "PIT count failed")?;
        for _ in 0..3 {
            ensure(Notification::from_cptr(base).wait() == 0x1234, "the IRQ's badge did not arrive")?;
            IrqHandler::from_cptr(handler).ack().map_err(|_| "Ack failed")?;
        }
        // Stop the PIT (one-shot, never reloaded) and give the IRQ back.
        IoPort::from_cptr(pit).out8(0x43, 0x30).map_err(|_| "PIT stop failed")?;
        slot(handler).delete().map_err(|_| "handler delete failed")?;
        slot(pit).delete().map_err(|_| "PIT cap delete failed")?;
        IrqControl::from_cptr(ctl).get_ioapic(slot(handler), 0, 2, 0, 0, 0).map_err(|_| "the vector was not freed")?;
        IrqHandler::from_cptr(handler).set_notification(Notification::from_cptr(base + 1)).map_err(|_| "SetNotification failed")?;
        IrqHandler::from_cptr(handler).clear().map_err(|_| "Clear failed")?;
        slot(handler).delete().map_err(|_| "handler delete failed")?;
        // MSIs: bus, device and function ranges, then a handler.
        ensure(IrqControl::from_cptr(ctl).get_msi(slot(handler), 256, 0, 0, 0, 5) == Err(sel4::Error::RangeError), "PCI bus 256")?;
        ensure(IrqControl::from_cptr(ctl).get_msi(slot(handler), 0, 32, 0, 0, 5) == Err(sel4::Error::RangeError), "PCI device 32")?;
        IrqControl::from_cptr(ctl).get_msi(slot(handler), 0, 3, 0, 0, 5).map_err(|_| "GetMSI failed")?;
        ensure(sel4::debug::cap_identify(handler) == Some(CapType::IrqHandler), "GetMSI gave no IRQ handler cap")?;
        slot(handler).delete().map_err(|_| "handler delete failed")?;
        reset()
    });

    t.run("sse_registers_survive_preemption", || {
        ut.retype(ObjectType::Notification, 0, ROOT_NODE, base, 1).map_err(|_| "notification retype failed")?;
        spawn(bi, ut, base + 1, 1, 100, 0, sse_worker, 1 << 63 | 0x1357 << 32 | base)?;
        spawn(bi, ut, base + 2, 2, 100, 0, sse_worker, 1 << 63 | 0x2468 << 32 | base)?;
        Notification::from_cptr(base).wait();
        Notification::from_cptr(base).wait();
        ensure(LOG_LEN.load(Ordering::Relaxed) == 2, "both SSE workers must finish")?;
        ensure(LOG[0].load(Ordering::Relaxed) == 0 && LOG[1].load(Ordering::Relaxed) == 0, "an xmm register was corrupted")?;
        reset()
    });

    t.run("more_tcb_methods", || {
        ut.retype(ObjectType::Notification, 0, ROOT_NODE, base, 1).map_err(|_| "notification retype failed")?;
        ut.retype(ObjectType::Tcb, 0, ROOT_NODE, base + 1, 2).map_err(|_| "TCB retype failed")?;
        let (a, b) = (base + 1, base + 2);
        // SetSpace and SetIPCBuffer (a misaligned buffer is an alignment
        // error), the TCB's SetTLSBase, SetSchedParams within the MCP.
        Tcb::from_cptr(a).configure(0, init::CNODE, 0, init::VSPACE, 0, 0, Granule::from_cptr(0)).map_err(|_| "configure failed")?;
        let set_space = sel4::invocation::call(a, sel4::invocation_labels::TCB_SET_SPACE, &[0, 0, 0], &[ROOT, root_slots::INIT_THREAD_VSPACE]);
        sel4::invocation::result(set_space).map_err(|_| "SetSpace failed")?;
        ensure(
            Tcb::from_cptr(a).set_ipc_buffer(bi.ipc_buffer + 1024 + 8, init::IPC_BUFFER) == Err(sel4::Error::AlignmentError),
            "a misaligned IPC buffer must be refused",
        )?;
        Tcb::from_cptr(a).set_ipc_buffer(bi.ipc_buffer + 1024, init::IPC_BUFFER).map_err(|_| "SetIPCBuffer failed")?;
        Tcb::from_cptr(a).set_tls_base(0x1234_5000).map_err(|_| "SetTLSBase failed")?;
        let tls = Tcb::from_cptr(a).read_registers(false, 20).map_err(|_| "ReadRegisters failed")?;
        ensure(tls[18] == 0x1234_5000, "SetTLSBase did not set fs_base")?;
        Tcb::from_cptr(a).set_sched_params(init::TCB, 50, 40).map_err(|_| "SetSchedParams failed")?;
        ensure(Tcb::from_cptr(a).set_sched_params(init::TCB, 256, 40) == Err(sel4::Error::RangeError), "MCP above the authority's is refused")?;
        // Write a's registers, copy them to b, read b's back.
        let regs: [u64; 20] = core::array::from_fn(|i| 0x1000 + i as u64);
        Tcb::from_cptr(a).write_registers(false, 0, &regs).map_err(|_| "WriteRegisters failed")?;
        let copy = sel4::invocation::call(b, sel4::invocation_labels::TCB_COPY_REGISTERS, &[0b1100], &[a]);
        sel4::invocation::result(copy).map_err(|_| "CopyRegisters failed")?;
        let got = Tcb::from_cptr(b).read_registers(false, 20).map_err(|_| "ReadRegisters failed")?;
        ensure(got[3..18] == regs[3..18], "general registers were not copied")?;
        ensure(got[18..20] == regs[18..20], "fs_base and gs_base were not copied")?;
        ensure(got[2] & 0x200 != 0 && got[2] & 0x100 == 0, "RFLAGS must be sanitised: IF set, TF clear")?;
        // Binding and unbinding.
        Tcb::from_cptr(a).bind_notification(Notification::from_cptr(base)).map_err(|_| "bind failed")?;
        Tcb::from_cptr(a).unbind_notification().map_err(|_| "unbind failed")?;
        ensure(Tcb::from_cptr(a).unbind_notification() == Err(sel4::Error::IllegalOperation), "unbinding twice")?;
        reset()
    });

    t.run("call_without_grant_rights_gets_no_reply_cap", || {
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, base, 1).map_err(|_| "endpoint retype failed")?;
        ut.retype(ObjectType::Notification, 0, ROOT_NODE, base + 3, 1).map_err(|_| "notification retype failed")?;
        // A cap with only the write right: a Call through it leaves the
        // caller inactive (no reply cap can be made), as seL4 does.
        slot(base + 1).mint(slot(base), CapRights::WRITE, 0).map_err(|_| "mint failed")?;
        spawn(bi, ut, base + 2, 1, 254, 0, caller_then_signal, (base + 1) << 32 | (base + 3))?;
        let r = Endpoint::from_cptr(base).recv();
        ensure(r.info.label() == 0x55, "the call did not arrive")?;
        slot(base + 4).save_caller().map_err(|_| "SaveCaller failed")?;
        ensure(sel4::debug::cap_identify(base + 4) == Some(CapType::Null), "no reply cap may exist for a call without grant rights")?;
        let regs = Tcb::from_cptr(base + 2).read_registers(false, 1).map_err(|_| "ReadRegisters failed")?;
        ensure(regs[0] != 0, "the caller's registers are readable")?;
        ensure(Notification::from_cptr(base + 3).poll() == 0, "the caller must not have run on")?;
        reset()
    });

    t.run("sse_registers_survive_switches", || {
        ut.retype(ObjectType::Notification, 0, ROOT_NODE, base, 1).map_err(|_| "notification retype failed")?;
        spawn(bi, ut, base + 1, 1, 100, 0, sse_worker, 0xaaaa << 32 | base)?;
        spawn(bi, ut, base + 2, 2, 100, 0, sse_worker, 0x5555 << 32 | base)?;
        Notification::from_cptr(base).wait();
        Notification::from_cptr(base).wait();
        ensure(LOG_LEN.load(Ordering::Relaxed) == 2, "both SSE workers must finish")?;
        ensure(LOG[0].load(Ordering::Relaxed) == 0 && LOG[1].load(Ordering::Relaxed) == 0, "an xmm register was corrupted")?;
        reset()
    });
}
