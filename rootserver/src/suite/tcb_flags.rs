//! TCB SetFlags and threads whose FPU is disabled (seL4's
//! `seL4_TCBFlag_fpuDisabled`): flags are cleared, then set, and returned;
//! a disabled thread's first FPU instruction is a user exception (#NM,
//! vector 7) for its fault handler; its FPU registers survive being
//! disabled and enabled again.

use super::threads::{spawn_with, WorkerSpec};
use super::{ensure, find_untyped, slot, Runner, ROOT_NODE};
use core::sync::atomic::{AtomicU64, Ordering};
use sel4::cap::{CapRights, Endpoint, Notification, Tcb};
use sel4::invocation::get_mr;
use sel4::tcb_flag::FPU_DISABLED;
use sel4::{ipc, BootInfo, MessageInfo, ObjectType};

/// User exception fault messages carry the vector in MR3 (seL4's
/// `seL4_UserException_Number`) and the error code in MR4.
const USER_EXCEPTION: u64 = 3;
const DEVICE_NOT_AVAILABLE: u64 = 7;

/// xmm registers that differed from what the worker wrote (`u64::MAX`
/// until the worker reports).
static BAD_XMM: AtomicU64 = AtomicU64::new(u64::MAX);

fn fill_xmm(v: u64) {
    // Safety: writes only the xmm registers it declares clobbered.
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
}

fn read_xmm() -> [u64; 16] {
    let mut out = [0u64; 16];
    // Safety: stores the xmm registers into the local array.
    unsafe {
        core::arch::asm!(
            "movq [{p}], xmm0", "movq [{p} + 8], xmm1", "movq [{p} + 16], xmm2", "movq [{p} + 24], xmm3",
            "movq [{p} + 32], xmm4", "movq [{p} + 40], xmm5", "movq [{p} + 48], xmm6", "movq [{p} + 56], xmm7",
            "movq [{p} + 64], xmm8", "movq [{p} + 72], xmm9", "movq [{p} + 80], xmm10", "movq [{p} + 88], xmm11",
            "movq [{p} + 96], xmm12", "movq [{p} + 104], xmm13", "movq [{p} + 112], xmm14", "movq [{p} + 120], xmm15",
            p = in(reg) out.as_mut_ptr(),
        );
    }
    out
}

/// Loads a pattern into the xmm registers, disables its own FPU (so the
/// kernel must save them), then reads them back: the first read faults,
/// and once the handler has enabled the FPU again and restarted it, the
/// pattern must still be there. (Its own code is soft-float: between the
/// two only the asm touches the FPU.)
extern "C" fn disables_itself(arg: u64) -> ! {
    let (me, done) = (arg >> 32, arg & 0xffff_ffff);
    let pattern = 0x5eed_0000_0000_0000 | me;
    fill_xmm(pattern);
    let flags = Tcb::from_cptr(me).set_flags(0, FPU_DISABLED);
    let got = read_xmm();
    let bad = got.iter().filter(|&&x| x != pattern).count() as u64;
    BAD_XMM.store(if flags == Ok(FPU_DISABLED) { bad } else { 100 }, Ordering::Relaxed);
    Notification::from_cptr(done).signal();
    loop {
        Notification::from_cptr(done).wait();
    }
}

pub fn run(t: &mut Runner, bi: &'static BootInfo) {
    let Some((ut, _)) = find_untyped(bi, 22) else {
        t.run("tcb_flags_untyped_available", || Err("no RAM untyped of 4 MiB or more"));
        return;
    };
    let base = bi.empty.start + 64 * 12;
    let reset = || slot(ut).revoke().map_err(|_| "cleanup revoke failed");

    t.run("tcb_set_flags_clears_then_sets_and_returns_the_flags", || {
        ut.retype(ObjectType::Tcb, 0, ROOT_NODE, base, 1).map_err(|_| "TCB retype failed")?;
        let tcb = Tcb::from_cptr(base);
        ensure(tcb.set_flags(0, 0) == Ok(0), "a new TCB has no flags")?;
        ensure(tcb.set_flags(0, FPU_DISABLED) == Ok(FPU_DISABLED), "setting fpuDisabled")?;
        ensure(tcb.set_flags(FPU_DISABLED, FPU_DISABLED) == Ok(FPU_DISABLED), "a flag both cleared and set ends up set")?;
        ensure(tcb.set_flags(0, 0) == Ok(FPU_DISABLED), "reading the flags back")?;
        ensure(tcb.set_flags(FPU_DISABLED, 0) == Ok(0), "clearing fpuDisabled")?;
        ensure(tcb.set_flags(0, !0) == Ok(FPU_DISABLED), "unknown flags are ignored")?;
        ensure(tcb.set_flags(!0, 0) == Ok(0), "clearing every flag")?;
        let short = sel4::invocation::call(base, sel4::invocation_labels::TCB_SET_FLAGS, &[0], &[]);
        ensure(sel4::invocation::result(short) == Err(sel4::Error::TruncatedMessage), "one word is a truncated message")?;
        reset()
    });

    t.run("fpu_disabled_thread_takes_a_user_exception_and_keeps_its_registers", || {
        BAD_XMM.store(u64::MAX, Ordering::Relaxed);
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, base, 1).map_err(|_| "endpoint retype failed")?;
        ut.retype(ObjectType::Notification, 0, ROOT_NODE, base + 1, 1).map_err(|_| "notification retype failed")?;
        slot(base + 2).mint(slot(base), CapRights::ALL, 0xf9).map_err(|_| "mint failed")?;
        let worker = base + 3;
        spawn_with(bi, ut, WorkerSpec { tcb_slot: worker, k: 1, prio: 254, fault_ep: base + 2 }, disables_itself, worker << 32 | (base + 1))?;
        let r = Endpoint::from_cptr(base).recv();
        ensure(r.badge == 0xf9 && r.info.label() == USER_EXCEPTION && r.info.length() == 5, "expected a user-exception fault")?;
        ensure(get_mr(3) == DEVICE_NOT_AVAILABLE && get_mr(4) == 0, "the fault must be #NM (vector 7, code 0)")?;
        let tcb = Tcb::from_cptr(worker);
        ensure(tcb.set_flags(0, 0) == Ok(FPU_DISABLED), "the worker's FPU is disabled")?;
        ensure(tcb.set_flags(FPU_DISABLED, 0) == Ok(0), "enabling the FPU again")?;
        // An empty reply restarts the faulting instruction.
        ipc::reply(MessageInfo::new(0, 0, 0, 0), &[]);
        Notification::from_cptr(base + 1).wait();
        match BAD_XMM.load(Ordering::Relaxed) {
            0 => {}
            100 => return Err("SetFlags on itself did not return fpuDisabled"),
            _ => return Err("xmm registers changed across disabling and enabling the FPU"),
        }
        reset()
    });
}
