//! Starting threads in the caller's address space: a TCB configured by
//! the caller is pointed at a trampoline that installs its TLS block and
//! IPC buffer, then runs the entry function.

use crate::cap::Tcb;
use crate::ipc_buffer::TlsBlock;
use crate::{Error, IpcBuffer};

/// A thread entry: runs forever (a finished thread should suspend itself
/// or block).
pub type Entry = extern "C" fn(arg: u64) -> !;

#[cfg(target_arch = "x86_64")]
extern "C" fn trampoline(tls: *mut TlsBlock, buffer: *mut IpcBuffer, entry: Entry, arg: u64) -> ! {
    // Safety: `start` passes a TLS block and buffer owned by this thread.
    unsafe { crate::ipc_buffer::init_thread(tls, buffer) };
    entry(arg)
}

/// Starts the configured thread `tcb` at `entry(arg)` on the stack
/// ending at `stack_top` (16-byte aligned), with its own TLS block and the
/// IPC buffer it was configured with.
///
/// # Safety
/// The stack, TLS block and IPC buffer must be mapped, unused by anything
/// else, and live as long as the thread runs.
#[cfg(target_arch = "x86_64")]
pub unsafe fn start(tcb: Tcb, entry: Entry, arg: u64, stack_top: u64, tls: *mut TlsBlock, buffer: u64) -> Result<(), Error> {
    let mut regs = [0u64; 20];
    regs[0] = trampoline as *const () as u64; // rip
    regs[1] = stack_top - 8; // rsp as after a call
    regs[2] = 0x202; // rflags
    regs[8] = tls as u64; // rdi
    regs[7] = buffer; // rsi
    regs[6] = entry as *const () as u64; // rdx
    regs[5] = arg; // rcx
    tcb.write_registers(true, 0, &regs)
}
