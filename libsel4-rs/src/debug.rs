//! seL4's debug syscalls (available in debug kernels).

use crate::arch::{syscall, SyscallRegs};
use crate::{CPtr, CapType, Syscall};

/// `seL4_DebugPutChar`.
pub fn put_char(c: u8) {
    syscall(Syscall::DebugPutChar, SyscallRegs { dest: c as u64, ..Default::default() });
}

/// `seL4_DebugHalt`: stops the system.
pub fn halt() -> ! {
    syscall(Syscall::DebugHalt, SyscallRegs::default());
    // A kernel that returns from DebugHalt leaves nothing sensible to do.
    loop {
        core::hint::spin_loop();
    }
}

/// `seL4_DebugCapIdentify`: the raw cap type tag at `cap` (0 when the
/// lookup fails or the slot is empty).
pub fn cap_identify_raw(cap: CPtr) -> u64 {
    syscall(Syscall::DebugCapIdentify, SyscallRegs { dest: cap, ..Default::default() }).dest as u32 as u64
}

/// `seL4_DebugCapIdentify`, decoded.
pub fn cap_identify(cap: CPtr) -> Option<CapType> {
    CapType::from_tag(cap_identify_raw(cap))
}

/// `seL4_DebugNameThread`: names the thread `tcb` (shown by the kernel's
/// debug output). The name travels NUL-terminated in the IPC buffer.
pub fn name_thread(tcb: CPtr, name: &str) {
    crate::ipc_buffer::with_ipc_buffer(|buf| {
        let bytes = name.as_bytes();
        let max = buf.msg.len() * 8 - 1;
        let n = bytes.len().min(max);
        for (i, word) in buf.msg.iter_mut().enumerate() {
            let mut w = [0u8; 8];
            for (j, b) in w.iter_mut().enumerate() {
                let k = i * 8 + j;
                if k < n {
                    *b = bytes[k];
                }
            }
            *word = u64::from_le_bytes(w);
            if (i + 1) * 8 > n {
                break;
            }
        }
    });
    syscall(Syscall::DebugNameThread, SyscallRegs { dest: tcb, ..Default::default() });
}

/// `seL4_DebugDumpScheduler`.
pub fn dump_scheduler() {
    syscall(Syscall::DebugDumpScheduler, SyscallRegs::default());
}

/// `seL4_DebugSnapshot`.
pub fn snapshot() {
    syscall(Syscall::DebugSnapshot, SyscallRegs::default());
}

/// The time-stamp counter, serialised: earlier instructions complete
/// before it is read (`lfence; rdtsc`).
#[cfg(target_arch = "x86_64")]
pub fn rdtsc_serialised() -> u64 {
    let (lo, hi): (u32, u32);
    // Safety: LFENCE and RDTSC have no side effects (CR4.TSD is clear).
    unsafe { core::arch::asm!("lfence", "rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    (hi as u64) << 32 | lo as u64
}
