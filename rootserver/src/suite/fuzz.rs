//! A randomized syscall fuzzer. A fuzzer thread with its own small CSpace
//! (a sandbox of endpoints, notifications, an untyped, a spare TCB and
//! assorted objects) issues random syscalls with random caps, labels,
//! lengths, message words and extra caps. A lower-priority helper keeps
//! it going: it takes its faults (skipping the faulting syscall) and
//! unblocks it from endpoints and notifications. The kernel checks its
//! invariants every 10,000 syscalls; the kernel must neither panic nor
//! hang, and the rootserver must survive.

use super::threads::{spawn_with, WorkerSpec};
use super::{ensure, find_untyped, slot, Rng, Runner, ROOT_NODE};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use sel4::arch::{syscall, syscall_number, SyscallRegs};
use sel4::cap::{init, CNode, CapRights, Endpoint, Notification, Tcb};
use sel4::ObjectType;
use sel4::{BootInfo, MessageInfo, Syscall};

const DEPTH: u8 = 64;
/// Random syscalls to issue.
pub const ITERATIONS: u64 = 1_000_000;
/// The fuzzer's fault endpoint slot: never named by the fuzzer itself.
const FAULT_SLOT: u64 = 20;
const FAULT_BADGE: u64 = 0xfa17;
const FUZZ_RADIX: u8 = 8;
const HELPER_RADIX: u8 = 6;

static DONE: AtomicBool = AtomicBool::new(false);
static CALLS: AtomicU64 = AtomicU64::new(0);
static FAULTS: AtomicU64 = AtomicU64::new(0);
static FUZZ_BUFFER: AtomicU64 = AtomicU64::new(0);

impl Rng {
    /// Mostly small numbers (slot indices, depths, types), sometimes any.
    fn word(&mut self) -> u64 {
        let v = match self.below(10) {
            0..=5 => self.below(32),
            6..=7 => self.below(256),
            8 => 64,
            _ => self.next(),
        };
        if v == FAULT_SLOT {
            FAULT_SLOT + 1
        } else {
            v
        }
    }
}

const SYSCALLS: [Syscall; 10] = [
    Syscall::Call,
    Syscall::Call,
    Syscall::Call,
    Syscall::NBSend,
    Syscall::Send,
    Syscall::NBRecv,
    Syscall::Recv,
    Syscall::Reply,
    Syscall::ReplyRecv,
    Syscall::Yield,
];

extern "C" fn fuzzer(seed: u64) -> ! {
    let buffer = FUZZ_BUFFER.load(Ordering::Relaxed) as *mut sel4::IpcBuffer;
    let mut rng = Rng(seed | 1);
    for _ in 0..ITERATIONS {
        let regs_in = SyscallRegs {
            dest: rng.word(),
            info: MessageInfo::new(
                if rng.below(4) == 0 { rng.next() } else { rng.below(60) },
                rng.below(8),
                rng.below(4),
                if rng.below(4) == 0 { rng.below(128) } else { rng.below(9) },
            )
            .0,
            mr: [rng.word(), rng.word(), rng.word(), rng.word()],
        };
        // Safety: the fuzzer's own IPC buffer (its TLS may be clobbered by
        // random SetTLSBase calls, so it is not used).
        unsafe {
            let b = &mut *buffer;
            for w in b.msg.iter_mut().skip(4).take(8) {
                *w = rng.word();
            }
            for c in b.caps_or_badges.iter_mut() {
                *c = rng.word();
            }
            b.receive_cnode = rng.word();
            b.receive_index = rng.word();
            b.receive_depth = rng.word();
        }
        let choice = rng.below(20);
        let sys = match choice {
            0..=9 => SYSCALLS[choice as usize],
            10..=13 => Syscall::Call,
            14 => Syscall::DebugCapIdentify,
            15 => Syscall::SetTLSBase,
            // Numbers seL4 does not have: unknown-syscall faults.
            16 => {
                let _ = syscall_number(rng.below(1000) + 1, regs_in);
                CALLS.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            _ => Syscall::NBSend,
        };
        let _ = syscall(sys, regs_in);
        CALLS.fetch_add(1, Ordering::Relaxed);
    }
    DONE.store(true, Ordering::Release);
    // Report by faulting: the helper sees DONE and ends the run.
    // Safety: a deliberate invalid opcode.
    unsafe { core::arch::asm!("ud2") };
    loop {
        core::hint::spin_loop();
    }
}

/// Helper slots in its own CNode.
mod helper_slot {
    pub const FAULT_EP: u64 = 2;
    pub const FUZZER_TCB: u64 = 3;
    pub const DONE_NTFN: u64 = 4;
    /// Endpoints 5..8, notifications 8..10.
    pub const FIRST_EP: u64 = 5;
    pub const FIRST_NTFN: u64 = 8;
}

extern "C" fn helper(_: u64) -> ! {
    use helper_slot::*;
    loop {
        let r = Endpoint::from_cptr(FAULT_EP).nb_recv();
        if r.badge == FAULT_BADGE {
            if DONE.load(Ordering::Acquire) {
                Notification::from_cptr(DONE_NTFN).signal();
                loop {
                    Endpoint::from_cptr(FAULT_EP).recv();
                }
            }
            FAULTS.fetch_add(1, Ordering::Relaxed);
            // Skip the syscall that faulted: resume after its 2 bytes.
            if let Ok(regs) = Tcb::from_cptr(FUZZER_TCB).read_registers(false, 1) {
                let _ = Tcb::from_cptr(FUZZER_TCB).write_registers(true, 0, &[regs[0] + 2]);
            }
            continue;
        }
        for ep in FIRST_EP..FIRST_EP + 3 {
            Endpoint::from_cptr(ep).nb_send(MessageInfo::new(0, 0, 0, 0), &[]);
            Endpoint::from_cptr(ep).nb_recv();
            sel4::ipc::reply(MessageInfo::new(0, 0, 0, 0), &[]);
        }
        for n in FIRST_NTFN..FIRST_NTFN + 2 {
            Notification::from_cptr(n).signal();
        }
        sel4::arch::yield_now();
    }
}

pub fn run(t: &mut Runner, bi: &'static BootInfo) {
    let Some((ut, _)) = find_untyped(bi, 22) else {
        t.run("fuzzer_untyped_available", || Err("no RAM untyped of 4 MiB or more"));
        return;
    };
    let base = bi.empty.start + 64 * 30;
    t.run("random_syscall_fuzzer_1m", || {
        let s = |i: u64| base + i;
        // Objects: fuzzer and helper CNodes, endpoints, notifications, the
        // fuzzer's untyped, a spare TCB, a frame, a CNode.
        ut.retype(ObjectType::CNode, FUZZ_RADIX as u64, ROOT_NODE, s(0), 1).map_err(|_| "CNode retype failed")?;
        ut.retype(ObjectType::CNode, HELPER_RADIX as u64, ROOT_NODE, s(1), 1).map_err(|_| "CNode retype failed")?;
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, s(2), 4).map_err(|_| "endpoint retype failed")?; // s(2..6): 3 sandbox + fault
        ut.retype(ObjectType::Notification, 0, ROOT_NODE, s(6), 3).map_err(|_| "notification retype failed")?; // s(6..9): 2 sandbox + done
        ut.retype(ObjectType::Untyped, 16, ROOT_NODE, s(9), 1).map_err(|_| "untyped retype failed")?;
        ut.retype(ObjectType::Tcb, 0, ROOT_NODE, s(10), 1).map_err(|_| "TCB retype failed")?;
        ut.retype(ObjectType::Granule, 0, ROOT_NODE, s(11), 1).map_err(|_| "frame retype failed")?;
        ut.retype(ObjectType::CNode, 4, ROOT_NODE, s(13), 1).map_err(|_| "CNode retype failed")?;
        // Guarded CNode caps so that full 64-bit pointers resolve.
        let guard = |radix: u8| 64 - radix as u64;
        slot(s(14)).mint(slot(s(0)), CapRights::ALL, guard(FUZZ_RADIX)).map_err(|_| "mint failed")?;
        slot(s(15)).mint(slot(s(1)), CapRights::ALL, guard(HELPER_RADIX)).map_err(|_| "mint failed")?;
        let (fz, hp) = (s(14), s(15));
        // The fuzzer's sandbox.
        let put = |cn: u64, index: u64, src: u64, badge: u64| {
            let dest = CNode::from_cptr(cn).slot(index, DEPTH);
            if badge == 0 { dest.copy(slot(src), CapRights::ALL) } else { dest.mint(slot(src), CapRights::ALL, badge) }
                .map_err(|_| "populating a CSpace failed")
        };
        put(fz, 1, fz, 0)?;
        put(fz, 2, s(9), 0)?;
        for i in 0..3 {
            put(fz, 3 + i, s(2 + i), 0)?;
        }
        put(fz, 6, s(6), 0)?;
        put(fz, 7, s(7), 0)?;
        put(fz, 8, s(10), 0)?;
        put(fz, 9, s(11), 0)?;
        // An unmapped page table cannot be copied: retype one straight into
        // the sandbox.
        ut.retype(ObjectType::PageTable, 0, slot(fz), 10, 1).map_err(|_| "sandbox PT retype failed")?;
        put(fz, 11, s(13), 0)?;
        put(fz, 12, s(2), 0x77)?;
        put(fz, FAULT_SLOT, s(5), FAULT_BADGE)?;
        // The helper's CSpace.
        put(hp, 1, hp, 0)?;
        put(hp, helper_slot::FAULT_EP, s(5), 0)?;
        put(hp, helper_slot::DONE_NTFN, s(8), 0)?;
        for i in 0..3 {
            put(hp, helper_slot::FIRST_EP + i, s(2 + i), 0)?;
        }
        put(hp, helper_slot::FIRST_NTFN, s(6), 0)?;
        put(hp, helper_slot::FIRST_NTFN + 1, s(7), 0)?;
        // Threads: the fuzzer above the helper, both below the rootserver.
        let (fuzz_tcb, help_tcb) = (s(16), s(17));
        spawn_with(bi, ut, WorkerSpec { tcb_slot: fuzz_tcb, k: 1, prio: 100, fault_ep: FAULT_SLOT }, park, 0)?;
        Tcb::from_cptr(fuzz_tcb).suspend().map_err(|_| "suspend failed")?;
        Tcb::from_cptr(fuzz_tcb)
            .configure(FAULT_SLOT, CNode::from_cptr(fz), 0, init::VSPACE, 0, bi.ipc_buffer + 1024, init::IPC_BUFFER)
            .map_err(|_| "fuzzer configure failed")?;
        put(hp, helper_slot::FUZZER_TCB, fuzz_tcb, 0)?;
        FUZZ_BUFFER.store(bi.ipc_buffer + 1024, Ordering::Relaxed);
        spawn_with(bi, ut, WorkerSpec { tcb_slot: help_tcb, k: 2, prio: 50, fault_ep: 0 }, park, 0)?;
        Tcb::from_cptr(help_tcb).suspend().map_err(|_| "suspend failed")?;
        Tcb::from_cptr(help_tcb)
            .configure(0, CNode::from_cptr(hp), 0, init::VSPACE, 0, bi.ipc_buffer + 2048, init::IPC_BUFFER)
            .map_err(|_| "helper configure failed")?;
        // Safety: workers 1 and 2's stacks and TLS blocks are theirs.
        unsafe {
            super::threads::restart_worker(help_tcb, 2, helper, 0, bi.ipc_buffer + 2048)?;
            let start = sel4::debug::rdtsc_serialised();
            super::threads::restart_worker(fuzz_tcb, 1, fuzzer, 0x9e37_79b9_7f4a_7c15, bi.ipc_buffer + 1024)?;
            Notification::from_cptr(s(8)).wait();
            let cycles = sel4::debug::rdtsc_serialised() - start;
            let calls = CALLS.load(Ordering::Relaxed);
            let mhz = super::tsc_mhz(bi).max(1);
            sel4::println!(
                "fuzzer: {} syscalls ({} faults taken) in {} TSC cycles: {} syscalls/s at {} MHz",
                calls,
                FAULTS.load(Ordering::Relaxed),
                cycles,
                calls * mhz * 1_000_000 / cycles.max(1),
                mhz
            );
            ensure(calls == ITERATIONS, "the fuzzer did not finish its syscalls")?;
        }
        slot(ut).revoke().map_err(|_| "cleanup revoke failed")
    });
}

/// Entry for a thread that is reconfigured before it runs.
extern "C" fn park(_: u64) -> ! {
    loop {
        sel4::arch::yield_now();
    }
}
