//! What a hostile thread can put in front of the kernel: RFLAGS bits the
//! kernel must not inherit, register values that would make an exit
//! fault, a syscall at the very top of user space, and structures long
//! enough that only preemption keeps the kernel responsive. Each test
//! expects seL4's answer, and above all a kernel that is still running.

use super::threads::{spawn_with, WorkerSpec};
use super::vspace::{map_with_tables, Slots};
use super::{ensure, find_untyped, slot, Runner, ROOT_NODE};
use core::sync::atomic::{AtomicU64, Ordering};
use sel4::cap::{init, CNode, CapRights, Endpoint, Granule, IoPort, IrqControl, IrqHandler, Notification, Tcb};
use sel4::invocation::get_mr;
use sel4::object::VmAttributes;
use sel4::ObjectType;
use sel4::{root_slots, BootInfo, CapType, MessageInfo, Syscall};

/// seL4's fault labels (`seL4_Fault_*`) as they arrive in a fault message.
const FAULT_UNKNOWN_SYSCALL: u64 = 2;
const FAULT_USER_EXCEPTION: u64 = 3;
const FAULT_VM: u64 = 5;
/// `seL4_UserContext` indices.
const REG_RIP: usize = 0;
const REG_RFLAGS: usize = 2;
const REG_RDX: usize = 6;
const REG_RDI: usize = 8;
const REG_FS_BASE: usize = 18;
const REG_GS_BASE: usize = 19;

const RFLAGS_NT: u64 = 1 << 14;
/// A non-canonical address: the first above the lower half.
const ABOVE_LOWER_HALF: u64 = 1 << 47;

static SPINS: AtomicU64 = AtomicU64::new(0);

/// Spins in user mode until suspended; only preemption takes it off.
extern "C" fn spin_forever(_: u64) -> ! {
    loop {
        SPINS.fetch_add(1, Ordering::Relaxed);
        core::hint::spin_loop();
    }
}

/// Sets `flags` in RFLAGS with POPF, as any user thread may.
fn set_rflags_bits(flags: u64) {
    // Safety: only arithmetic and status flags change, and the caller
    // clears them again before relying on them.
    unsafe { core::arch::asm!("pushfq", "or qword ptr [rsp], {f}", "popfq", f = in(reg) flags) };
}

fn clear_rflags_bits(flags: u64) {
    // Safety: as above.
    unsafe { core::arch::asm!("pushfq", "and qword ptr [rsp], {f}", "popfq", f = in(reg) !flags) };
}

/// Sets its TLS base to the page-aligned part of `arg`, then twice to a
/// non-canonical value, which the kernel must refuse; then signals the
/// notification in the low bits of `arg` and waits there for good (the
/// test reads its registers). Only register-only syscalls follow the
/// first SetTLSBase, since the runtime's TLS is gone after it.
extern "C" fn tls_setter(arg: u64) -> ! {
    let (base, ntfn) = (arg & !0xfff, arg & 0xfff);
    sel4::arch::set_tls_base(base);
    sel4::arch::set_tls_base(ABOVE_LOWER_HALF);
    sel4::arch::set_tls_base(0x7fff_8000_0000_0000);
    Notification::from_cptr(ntfn).signal();
    loop {
        Notification::from_cptr(ntfn).wait();
    }
}

/// Sets TF with POPF and makes a syscall: SYSCALL masks TF, so the kernel
/// must take no debug trap, and the single-step trap lands in user mode
/// after the return.
extern "C" fn single_stepper(_: u64) -> ! {
    // Safety: the single-step trap is the point; the fault handler stops
    // the thread.
    unsafe {
        // POPF right before SYSCALL: the single-step trap would come after
        // the SYSCALL, at the kernel's first instruction, had SYSCALL not
        // cleared TF (the trap follows the resulting flags).
        core::arch::asm!(
            "mov r14, rsp",
            "pushfq",
            "or qword ptr [rsp], 0x100",
            "popfq",
            "syscall",
            "mov rsp, r14",
            "nop",
            in("rdx") Syscall::Yield.to_word(),
            out("rcx") _, out("r11") _, out("r14") _,
        );
    }
    loop {
        core::hint::spin_loop();
    }
}

/// Calls the endpoint in `rdi` (blocking while nobody receives), then
/// reports what the call returned by making an unknown syscall, whose
/// fault message carries every register. Runs on no stack.
#[unsafe(naked)]
extern "C" fn call_then_report() -> ! {
    core::arch::naked_asm!("syscall", "mov rdx, -99", "syscall", "ud2")
}

/// The preemption test's CNode holds this many copies of one endpoint
/// cap, in 2^14 slots.
const COPIES: u64 = 10_000;
const COPIES_BITS: u8 = 14;

/// What the preemption test's threads share: PIT interrupts taken, the
/// CNode of copies and a scratch slot for the watcher's look into it,
/// whether the revoker is inside its revoke, and how often the watcher
/// found the copies half revoked.
static TICKS: AtomicU64 = AtomicU64::new(0);
static COPIES_CNODE: AtomicU64 = AtomicU64::new(0);
static WATCHER_SCRATCH: AtomicU64 = AtomicU64::new(0);
static REVOKING: AtomicU64 = AtomicU64::new(0);
static HALF_REVOKED_SEEN: AtomicU64 = AtomicU64::new(0);

/// Whether slot `index` of the copies' CNode still holds a cap: a copy
/// out of it succeeds (the copy is deleted again at once).
fn copy_still_there(index: u64) -> bool {
    let scratch = slot(WATCHER_SCRATCH.load(Ordering::Relaxed));
    let source = CNode::from_cptr(COPIES_CNODE.load(Ordering::Relaxed)).slot(index, COPIES_BITS);
    let present = scratch.copy(source, CapRights::ALL).is_ok();
    if present {
        let _ = scratch.delete();
    }
    present
}

/// The IRQ watcher of the preemption test: counts PIT interrupts and,
/// while a revoke is under way, looks at the first, middle and last copy.
/// A revoke that runs to its end in one go can only be seen before it
/// starts (every copy there) or after it ends (none there): finding some
/// there and some gone proves the watcher ran in the middle of it, so the
/// revoke was preempted and later restarted. The interrupt that arrives
/// while a non-preemptible revoke runs is only taken after it returns,
/// which is why counting ticks alone would prove nothing.
extern "C" fn tick_watcher(arg: u64) -> ! {
    let (ntfn, handler) = (arg >> 32, arg & 0xffff_ffff);
    loop {
        Notification::from_cptr(ntfn).wait();
        TICKS.fetch_add(1, Ordering::Relaxed);
        if REVOKING.load(Ordering::Relaxed) != 0 {
            let seen = [0, COPIES / 2, COPIES - 1].map(copy_still_there);
            if seen.contains(&true) && seen.contains(&false) {
                HALF_REVOKED_SEEN.fetch_add(1, Ordering::Relaxed);
            }
        }
        let _ = IrqHandler::from_cptr(handler).ack();
    }
}

/// Each time the notification at `arg & 0xffffffff` is signalled, revokes
/// the cap at `arg >> 32`, records the outcome, and signals the next
/// notification (the slot after it).
static REVOKE_RESULT: AtomicU64 = AtomicU64::new(0);

extern "C" fn revoker(arg: u64) -> ! {
    let (src, go) = (arg >> 32, arg & 0xffff_ffff);
    loop {
        Notification::from_cptr(go).wait();
        REVOKING.store(1, Ordering::Relaxed);
        let ok = slot(src).revoke().is_ok();
        REVOKING.store(0, Ordering::Relaxed);
        REVOKE_RESULT.store(ok as u64 + 1, Ordering::Relaxed);
        Notification::from_cptr(go + 1).signal();
    }
}

pub fn run(t: &mut Runner, bi: &'static BootInfo) {
    let Some((ut, _)) = find_untyped(bi, 22) else {
        t.run("hostile_untyped_available", || Err("no RAM untyped of 4 MiB or more"));
        return;
    };
    let base = bi.empty.start + 64 * 60;
    // Every test leaves the untyped as it found it, failed or not, so one
    // failure is reported as one failure.
    let run = |t: &mut Runner, name: &str, body: &dyn Fn() -> Result<(), &'static str>| {
        t.run(name, || {
            let outcome = body();
            // Caps from IRQControl and IOPortControl are not the untyped's
            // children: the first slots of the window are emptied too.
            let others = (base..base + 16).try_for_each(|s| slot(s).delete()).map_err(|_| "cleanup delete failed");
            let cleanup = slot(ut).revoke().map_err(|_| "cleanup revoke failed");
            outcome.and(others).and(cleanup)
        })
    };

    // Stock seL4 masks only TF and IF on SYSCALL (its IA32_FMASK): NT
    // reaches its kernel and the IRETQ to the spinning thread faults with
    // the user's page tables loaded, which resets the machine. On stock
    // seL4 (no user-interrupt objects) the test is left out and says so.
    if super::uintr::kernel_has_uintr_objects() {
        run(t, "nt_flag_set_by_a_thread_reaches_no_kernel_exit", &|| {
            // The yield hands the CPU to a new thread, which the kernel enters
            // by IRETQ: with NT inherited from SYSCALL that IRETQ faulted.
            SPINS.store(0, Ordering::Relaxed);
            spawn_with(bi, ut, WorkerSpec { tcb_slot: base, k: 1, prio: 255, fault_ep: 0 }, spin_forever, 0)?;
            set_rflags_bits(RFLAGS_NT);
            sel4::arch::yield_now();
            clear_rflags_bits(RFLAGS_NT);
            ensure(SPINS.load(Ordering::Relaxed) > 0, "the spinning thread never ran")?;
            Tcb::from_cptr(base).suspend().map_err(|_| "suspend failed")?;
            Ok(())
        });
    } else {
        sel4::println!("hostile: nt_flag_set_by_a_thread_reaches_no_kernel_exit left out: it resets stock seL4");
    }

    run(t, "single_step_flag_through_a_syscall_traps_in_user_mode", &|| {
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, base, 1).map_err(|_| "endpoint retype failed")?;
        spawn_with(bi, ut, WorkerSpec { tcb_slot: base + 1, k: 1, prio: 254, fault_ep: base }, single_stepper, 0)?;
        let r = Endpoint::from_cptr(base).recv();
        ensure(r.info.label() == FAULT_USER_EXCEPTION, "expected a user exception")?;
        ensure(get_mr(3) == 1, "expected the debug exception (vector 1)")?;
        ensure(get_mr(0) < ABOVE_LOWER_HALF, "the trap must be taken in user code")?;
        Ok(())
    });

    run(t, "set_tls_base_refuses_non_canonical_bases", &|| {
        ut.retype(ObjectType::Notification, 0, ROOT_NODE, base, 1).map_err(|_| "notification retype failed")?;
        let good = 0x0000_1234_5678_9000u64;
        spawn_with(bi, ut, WorkerSpec { tcb_slot: base + 1, k: 1, prio: 254, fault_ep: 0 }, tls_setter, good | base)?;
        Notification::from_cptr(base).wait();
        let worker = Tcb::from_cptr(base + 1);
        let regs = worker.read_registers(true, 20).map_err(|_| "ReadRegisters failed")?;
        ensure(regs[REG_FS_BASE] == good, "a non-canonical SetTLSBase must leave the TLS base as it was")?;
        // TCB SetTLSBase and WriteRegisters sanitise as seL4's register
        // writes do: a non-canonical base becomes 0.
        worker.set_tls_base(ABOVE_LOWER_HALF).map_err(|_| "TCB SetTLSBase failed")?;
        let regs = worker.read_registers(false, 20).map_err(|_| "ReadRegisters failed")?;
        ensure(regs[REG_FS_BASE] == 0, "TCB SetTLSBase must not store a non-canonical base")?;
        let mut new = regs;
        new[REG_FS_BASE] = ABOVE_LOWER_HALF | 0x10;
        new[REG_GS_BASE] = 0x8000_0000_0000_0000;
        new[REG_RIP] = ABOVE_LOWER_HALF + 0x1000;
        new[REG_RFLAGS] = u64::MAX;
        worker.write_registers(false, 0, &new).map_err(|_| "WriteRegisters failed")?;
        let regs = worker.read_registers(false, 20).map_err(|_| "ReadRegisters failed")?;
        ensure(regs[REG_FS_BASE] == 0 && regs[REG_GS_BASE] == 0, "WriteRegisters stored a non-canonical segment base")?;
        ensure(regs[REG_RIP] == 0, "WriteRegisters stored a non-canonical instruction pointer")?;
        // seL4's rule: bit 1 and IF set; TF, bits 3 and 5 and everything
        // above bit 11 (NT, IOPL, AC, VM, ...) clear.
        ensure(regs[REG_RFLAGS] == 0xed7, "WriteRegisters must sanitise RFLAGS as seL4 does")?;
        Ok(())
    });

    run(t, "the_last_page_of_the_lower_half_stays_unmapped", &|| {
        // seL4 refuses any mapping that reaches 2^47, so no thread can run
        // into the non-canonical hole (SYSRET or IRETQ to 2^47 would fault
        // in the kernel). A SYSCALL in the last bytes of the page below
        // returns to the top page's first address, canonical and unmapped:
        // the thread takes a VM fault there, which seL4 x86_64 (EFER.NXE
        // clear) reports as a data fault with FSR 0x4 (user, not present).
        let mut slots = Slots { next: base + 2 };
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, base, 1).map_err(|_| "endpoint retype failed")?;
        let (top_frame, page) = (slots.take(), slots.take());
        ut.retype(ObjectType::Granule, 0, ROOT_NODE, top_frame, 2).map_err(|_| "frame retype failed")?;
        let top_page = ABOVE_LOWER_HALF - 0x1000;
        map_with_tables(ut, &mut slots, Granule::from_cptr(page), init::VSPACE, top_page - 0x1000, CapRights::ALL)?;
        let refused = Granule::from_cptr(top_frame).map(init::VSPACE, top_page, CapRights::ALL, VmAttributes::DEFAULT);
        ensure(refused == Err(sel4::Error::InvalidArgument), "mapping the last page must be refused")?;
        // Safety: the page was just mapped, writable, at this address.
        unsafe { core::ptr::write_volatile((top_page - 2) as *mut [u8; 2], [0x0f, 0x05]) };
        let tcb = slots.take();
        spawn_with(bi, ut, WorkerSpec { tcb_slot: tcb, k: 1, prio: 254, fault_ep: base }, spin_forever, 0)?;
        let worker = Tcb::from_cptr(tcb);
        let mut regs = worker.read_registers(true, 20).map_err(|_| "ReadRegisters failed")?;
        regs[REG_RIP] = top_page - 2;
        regs[REG_RDX] = Syscall::Yield.to_word();
        worker.write_registers(true, 0, &regs).map_err(|_| "WriteRegisters failed")?;
        let r = Endpoint::from_cptr(base).recv();
        ensure(r.info.label() == FAULT_VM, "expected a VM fault")?;
        ensure(get_mr(0) == top_page && get_mr(1) == top_page, "the fault must be the fetch at the top page")?;
        ensure(get_mr(2) == 0 && get_mr(3) == 0x4, "the fetch must report PrefetchFault 0 and FSR 0x4, as on seL4")?;
        worker.suspend().map_err(|_| "suspend failed")?;
        Granule::from_cptr(page).unmap().map_err(|_| "unmap failed")
    });

    run(t, "revoke_of_10000_copies_is_preempted_and_restarts", &|| {
        // A PIT interrupt at about 100 kHz wakes a higher-priority watcher,
        // which looks into the CNode of copies while the revoke is under
        // way (see `tick_watcher`). The PIT runs on the host's clock under
        // TCG and a loaded host can leave a whole revoke without a tick,
        // so the round (copy, revoke) is repeated until the watcher has
        // seen a half-revoked CNode, a bounded number of times.
        const MAX_ROUNDS: u64 = 20;
        let (cn, ep, go, done, irq_ntfn) = (base, base + 1, base + 2, base + 3, base + 4);
        let (handler, pit, watcher, worker, scratch) = (base + 5, base + 6, base + 7, base + 8, base + 9);
        ut.retype(ObjectType::CNode, COPIES_BITS.into(), ROOT_NODE, cn, 1).map_err(|_| "CNode retype failed")?;
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, ep, 1).map_err(|_| "endpoint retype failed")?;
        ut.retype(ObjectType::Notification, 0, ROOT_NODE, go, 3).map_err(|_| "notification retype failed")?;
        let ctl = IrqControl::from_cptr(root_slots::IRQ_CONTROL);
        ctl.get_ioapic(slot(handler), 0, 2, 0, 0, 0).map_err(|_| "GetIOAPIC failed")?;
        IrqHandler::from_cptr(handler).set_notification(Notification::from_cptr(irq_ntfn)).map_err(|_| "SetNotification failed")?;
        init::IO_PORT_CONTROL.issue(0x40, 0x43, slot(pit)).map_err(|_| "PIT ports failed")?;
        TICKS.store(0, Ordering::Relaxed);
        REVOKING.store(0, Ordering::Relaxed);
        HALF_REVOKED_SEEN.store(0, Ordering::Relaxed);
        COPIES_CNODE.store(cn, Ordering::Relaxed);
        WATCHER_SCRATCH.store(scratch, Ordering::Relaxed);
        spawn_with(bi, ut, WorkerSpec { tcb_slot: watcher, k: 2, prio: 200, fault_ep: 0 }, tick_watcher, irq_ntfn << 32 | handler)?;
        spawn_with(bi, ut, WorkerSpec { tcb_slot: worker, k: 1, prio: 100, fault_ep: 0 }, revoker, ep << 32 | go)?;
        let pit_port = IoPort::from_cptr(pit);
        let program = pit_port.out8(0x43, 0x34).and_then(|()| pit_port.out8(0x40, 12)).and_then(|()| pit_port.out8(0x40, 0));
        program.map_err(|_| "programming the PIT failed")?;
        IrqHandler::from_cptr(handler).ack().map_err(|_| "Ack failed")?;
        let mut rounds = 0;
        while rounds < MAX_ROUNDS && HALF_REVOKED_SEEN.load(Ordering::Relaxed) == 0 {
            rounds += 1;
            for i in 0..COPIES {
                CNode::from_cptr(cn).slot(i, COPIES_BITS).copy(slot(ep), CapRights::ALL).map_err(|_| "copy failed")?;
            }
            REVOKE_RESULT.store(0, Ordering::Relaxed);
            Notification::from_cptr(go).signal();
            Notification::from_cptr(done).wait();
            ensure(REVOKE_RESULT.load(Ordering::Relaxed) == 2, "the revoke failed")?;
            // A copy out of an empty slot fails: none may succeed.
            let survivors = (0..COPIES).filter(|&i| slot(scratch).copy(CNode::from_cptr(cn).slot(i, COPIES_BITS), CapRights::ALL).is_ok()).count();
            ensure(survivors == 0, "copies survived the revoke")?;
        }
        pit_port.out8(0x43, 0x30).map_err(|_| "PIT stop failed")?;
        let seen = HALF_REVOKED_SEEN.load(Ordering::Relaxed);
        sel4::println!(
            "revoke of {COPIES} copies: seen half revoked {seen} time(s) in {rounds} round(s), {} PIT interrupts in all",
            TICKS.load(Ordering::Relaxed)
        );
        ensure(seen > 0, "the watcher never ran in the middle of a revoke: it was never preempted")?;
        ensure(sel4::debug::cap_identify(ep) == Some(CapType::Endpoint), "the revoked cap itself must stay")?;
        Tcb::from_cptr(watcher).suspend().map_err(|_| "suspend failed")?;
        Tcb::from_cptr(worker).suspend().map_err(|_| "suspend failed")?;
        Ok(())
    });

    run(t, "endpoint_with_100_queued_senders_deleted_while_they_wait", &|| {
        // Deleting the endpoint restarts every queued caller (seL4's
        // cancelAllIPC); each re-executes its Call, now on an empty slot,
        // and gets seL4's InvalidCapability error, which it reports through
        // an unknown-syscall fault to its own badged fault endpoint.
        const SENDERS: u64 = 100;
        let (ep, fault_ep) = (base, base + 1);
        let first_tcb = base + 16;
        let first_badged = first_tcb + SENDERS;
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, ep, 2).map_err(|_| "endpoint retype failed")?;
        ut.retype(ObjectType::Tcb, 0, ROOT_NODE, first_tcb, SENDERS).map_err(|_| "TCB retype failed")?;
        for i in 0..SENDERS {
            slot(first_badged + i).mint(slot(fault_ep), CapRights::ALL, 0x100 + i).map_err(|_| "mint failed")?;
            let tcb = Tcb::from_cptr(first_tcb + i);
            tcb.configure(first_badged + i, init::CNODE, 0, init::VSPACE, 0, 0, Granule::from_cptr(0)).map_err(|_| "TCB configure failed")?;
            tcb.set_priority(init::TCB, 255).map_err(|_| "set priority failed")?;
            let mut regs = [0u64; 20];
            regs[REG_RIP] = call_then_report as *const () as u64;
            regs[REG_RFLAGS] = 0x202;
            regs[REG_RDX] = Syscall::Call.to_word();
            regs[REG_RDI] = ep;
            tcb.write_registers(true, 0, &regs).map_err(|_| "WriteRegisters failed")?;
        }
        // One yield lets all of them run and block.
        sel4::arch::yield_now();
        slot(ep).delete().map_err(|_| "deleting the endpoint failed")?;
        let mut seen = [false; SENDERS as usize];
        for _ in 0..SENDERS {
            let r = Endpoint::from_cptr(fault_ep).recv();
            ensure(r.info.label() == FAULT_UNKNOWN_SYSCALL, "expected each caller's report")?;
            // The fault message's registers: rax, rbx, rcx, rdx, rsi, ...
            let reply_info = MessageInfo(get_mr(4));
            ensure(reply_info.label() == sel4::Error::InvalidCapability as u64, "the restarted Call must fail with InvalidCapability")?;
            let i = r.badge.wrapping_sub(0x100) as usize;
            ensure(i < seen.len() && !seen[i], "a report came from an unknown or repeated caller")?;
            seen[i] = true;
        }
        Ok(())
    });

    run(t, "cnode_cycles_are_deleted_without_hanging", &|| {
        // A CNode holding a copy of its own cap, and two CNodes holding
        // each other's: deleting the outside caps leaves them unreachable;
        // revoking their untyped reclaims them through seL4's zombies.
        let (a, b, c) = (base, base + 1, base + 2);
        ut.retype(ObjectType::Untyped, 16, ROOT_NODE, base + 3, 1).map_err(|_| "untyped retype failed")?;
        let inner = sel4::cap::Untyped::from_cptr(base + 3);
        inner.retype(ObjectType::CNode, 4, ROOT_NODE, a, 3).map_err(|_| "CNode retype failed")?;
        CNode::from_cptr(a).slot(0, 4).copy(slot(a), CapRights::ALL).map_err(|_| "self copy failed")?;
        CNode::from_cptr(b).slot(0, 4).copy(slot(c), CapRights::ALL).map_err(|_| "copy failed")?;
        CNode::from_cptr(c).slot(0, 4).copy(slot(b), CapRights::ALL).map_err(|_| "copy failed")?;
        // A lookup through the cycle: a -> a -> a ... resolves 4 bits a
        // level and ends when the 64 bits are used up.
        ensure(CNode::from_cptr(a).slot(0, 4).delete().is_ok(), "deleting through a self-cycle failed")?;
        CNode::from_cptr(a).slot(0, 4).copy(slot(a), CapRights::ALL).map_err(|_| "self copy failed")?;
        for s in [a, b, c] {
            slot(s).delete().map_err(|_| "deleting an outside cap failed")?;
        }
        slot(base + 3).revoke().map_err(|_| "revoking the CNodes' untyped failed")?;
        // All of it is free again.
        inner.retype(ObjectType::CNode, 4, ROOT_NODE, a, 3).map_err(|_| "the untyped was not reclaimed")?;
        Ok(())
    });
}
