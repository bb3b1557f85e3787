//! seL4's debug syscalls (KernelDebugBuild): console output, halting,
//! capability identification, thread names and the scheduler dump.

use crate::arch::x86_64::exit::{exit_qemu, ExitCode};
use crate::cap::Cap;
use crate::cspace::lookup::{resolve_address_bits, CNodeStore, SlotMemory};
use crate::thread::{self, Tcb};
use sel4_compat::caps::CapType;
use sel4_compat::ipc::MSG_MAX_LENGTH;

/// seL4's `lookupCap` for a full-depth pointer: the cap in the slot the
/// pointer resolves to, or the null cap when resolution fails.
pub fn lookup_cap(tcb: &Tcb, cptr: u64) -> Cap {
    match resolve_address_bits(&SlotMemory, tcb.cspace_root(), cptr, 64) {
        Ok(r) => SlotMemory.cap_at(r.slot),
        Err(_) => Cap::NULL,
    }
}

pub fn put_char(c: u8) {
    crate::arch::x86_64::serial::put_byte(c);
}

pub fn halt(caller: &Tcb) -> ! {
    crate::fastpath::report();
    crate::uintr::switch::report();
    crate::invariants::report();
    kprintln!("halting: DebugHalt called by \"{}\"", caller.name());
    exit_qemu(ExitCode::Halted)
}

/// The cap type of `cptr` in the caller's CSpace (0 when lookup fails).
pub fn cap_identify(tcb: &Tcb, cptr: u64) -> u64 {
    lookup_cap(tcb, cptr).tag()
}

/// Names the thread `cptr` refers to after the NUL-terminated string in
/// the caller's IPC buffer message words. As in seL4, a bad cap or an
/// unterminated name halts the system with a message.
pub fn name_thread(caller: &mut Tcb, cptr: u64) {
    let cap = lookup_cap(caller, cptr);
    let Some(thread) = cap.as_thread() else {
        kprintln!("SysDebugNameThread: cap is not a TCB, halting");
        exit_qemu(ExitCode::Failed);
    };
    let mut name = [0u8; 64];
    let mut len = 0;
    let Some(buffer) = caller.ipc_buffer() else {
        kprintln!("SysDebugNameThread: caller has no IPC buffer, halting");
        exit_qemu(ExitCode::Failed);
    };
    let bytes = buffer.msg.iter().flat_map(|w| w.to_le_bytes());
    let mut terminated = false;
    for (i, b) in bytes.enumerate() {
        if b == 0 {
            terminated = true;
            break;
        }
        if i < name.len() {
            name[i] = b;
            len = i + 1;
        }
    }
    if !terminated {
        kprintln!("SysDebugNameThread: Name too long (no NUL in {} bytes), halting", MSG_MAX_LENGTH * 8);
        exit_qemu(ExitCode::Failed);
    }
    // Safety: a thread cap points to a live TCB object.
    let target = unsafe { &mut *(thread.tcb() as *mut Tcb) };
    target.set_name(&name[..len]);
}

/// seL4's `debug_dumpScheduler` for x86_64 without SMP, MCS or domains:
/// its header, an 88-dash rule, and one line per TCB in the order of
/// seL4's debug list (newest first, the idle thread just before the
/// thread created at boot). The IP is seL4's `getRestartPC` (FaultIP):
/// for a thread in a syscall, the SYSCALL instruction itself.
pub fn dump_scheduler() {
    kprintln!("Dumping all tcbs!");
    kprintln!("{:<40}   {:<16}   {:<18}   {:<4}", "Name", "State", "IP", "Prio");
    kprintln!("{:-<88}", "");
    let boot_thread = thread::boot_thread();
    let mut idle_listed = false;
    for tcb in thread::all_threads() {
        if core::ptr::eq(tcb, boot_thread) {
            print_idle_thread();
            idle_listed = true;
        }
        print_tcb_line(tcb.name(), tcb.state.name(), tcb.restart_pc, tcb.priority.into());
    }
    if !idle_listed {
        print_idle_thread();
    }
}

/// The idle thread's line. This kernel idles without a TCB; it is listed
/// as seL4 lists its idle TCB: named `idle_thread`, priority 0, IP 0 until
/// an interrupt has arrived while idle, then where the kernel idles.
fn print_idle_thread() {
    let ip = if crate::sched::has_idled() { crate::arch::x86_64::io::wait_for_interrupt as *const () as u64 } else { 0 };
    print_tcb_line("idle_thread", "idle", ip, 0);
}

/// One line as seL4's `debug_printTCB` prints it: `%-40s   %-16s   %-18p
/// %4lu`, where seL4's `%p` is the address in hex with `0x` and no
/// leading zeros, and plain `0` for a null address.
fn print_tcb_line(name: &str, state: &str, ip: u64, prio: u64) {
    if ip == 0 {
        kprintln!("{name:<40}   {state:<16}   {:<18}   {prio:>4}", "0");
    } else {
        kprintln!("{name:<40}   {state:<16}   {ip:<#18x}   {prio:>4}");
    }
}

/// Prints the caller's root CNode: every non-null slot and its cap type.
pub fn snapshot(tcb: &Tcb) {
    let Some(root) = tcb.cspace_root().as_cnode() else {
        kprintln!("snapshot of \"{}\": no root CNode", tcb.name());
        return;
    };
    kprintln!("snapshot of \"{}\": root CNode at {:#x}, {} slots", tcb.name(), root.ptr(), 1u64 << root.radix());
    let mut previous: Option<(u64, u64, u64)> = None;
    let flush = |run: (u64, u64, u64)| {
        let (first, last, tag) = run;
        match CapType::from_tag(tag) {
            Some(t) => kprintln!("  slots {first:>5}..={last:<5} {t:?} (type {tag})"),
            None => kprintln!("  slots {first:>5}..={last:<5} unknown cap type {tag}"),
        }
    };
    for index in 0..(1u64 << root.radix()) {
        let cap = SlotMemory.cap_at(SlotMemory.slot(root.ptr(), index));
        if cap.is_null() {
            continue;
        }
        previous = match previous {
            Some((first, last, tag)) if last + 1 == index && tag == cap.tag() => Some((first, index, tag)),
            Some(run) => {
                flush(run);
                Some((index, index, cap.tag()))
            }
            None => Some((index, index, cap.tag())),
        };
    }
    if let Some(run) = previous {
        flush(run);
    }
}
