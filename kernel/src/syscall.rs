//! The syscall entry: decode the number in `rdx` and dispatch.

use crate::debug;
use crate::thread::{self, ThreadState};
use sel4_compat::syscalls::Syscall;

/// Called by the SYSCALL stub with the caller's registers saved in its
/// TCB. Never returns: it ends by resuming a thread or idling.
#[no_mangle]
extern "C" fn handle_syscall() -> ! {
    let tcb = thread::current();
    let number = tcb.ctx.regs.rdx;
    match Syscall::from_word(number) {
        Some(Syscall::DebugPutChar) => debug::put_char(tcb.ctx.regs.rdi as u8),
        Some(Syscall::DebugHalt) => debug::halt(),
        Some(Syscall::DebugSnapshot) => debug::snapshot(),
        Some(Syscall::DebugCapIdentify) => tcb.ctx.regs.rdi = debug::cap_identify(tcb, tcb.ctx.regs.rdi),
        Some(Syscall::DebugNameThread) => debug::name_thread(tcb, tcb.ctx.regs.rdi),
        Some(Syscall::DebugDumpScheduler) => debug::dump_scheduler(),
        Some(Syscall::SetTLSBase) => tcb.fs_base = tcb.ctx.regs.rdi,
        // With a single runnable thread there is nobody to yield to.
        Some(Syscall::Yield) => {}
        Some(other) => {
            kprintln!(
                "syscall {:?} ({}) from \"{}\" is not implemented by this kernel yet",
                other,
                number as i64,
                tcb.name()
            );
            tcb.state = ThreadState::Inactive;
        }
        None => thread::handle_unknown_syscall(number),
    }
    thread::schedule_and_return()
}
