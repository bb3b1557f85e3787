//! Invoking kernel objects: the Call syscall with seL4's message layout.
//! The typed methods in [`crate::object`] are built on [`call`]; use it
//! directly only for what they cannot express (a deliberately malformed
//! invocation in a test, say).
//!
//! As in libsel4, the first four message registers travel in CPU
//! registers and the rest in the IPC buffer; after the call the returned
//! registers are copied into the IPC buffer so [`get_mr`] sees the whole
//! reply.
//!
//! ```no_run
//! use sel4::invocation::{call, result};
//! use sel4::invocation_labels::TCB_SUSPEND;
//! # fn demo(tcb: sel4::CPtr) -> Result<(), sel4::Error> {
//! // What `Tcb::suspend` does, by hand.
//! result(call(tcb, TCB_SUSPEND, &[], &[]))
//! # }
//! ```

use crate::arch::{syscall, SyscallRegs};
use crate::ipc_buffer::with_ipc_buffer;
use crate::{CPtr, Error, MessageInfo, Syscall};

/// Message register `i` of the last reply (or of the message being built).
pub fn get_mr(i: usize) -> u64 {
    with_ipc_buffer(|b| b.msg[i])
}

/// Sets message register `i` in the IPC buffer.
pub fn set_mr(i: usize, value: u64) {
    with_ipc_buffer(|b| b.msg[i] = value);
}

/// `seL4_Call` with `args` as the message and `extra_caps` as capability
/// pointers to transfer; returns the reply's message info.
pub fn call(service: CPtr, label: u64, args: &[u64], extra_caps: &[CPtr]) -> MessageInfo {
    with_ipc_buffer(|b| {
        for (i, &a) in args.iter().enumerate().skip(4) {
            b.msg[i] = a;
        }
        for (i, &c) in extra_caps.iter().enumerate() {
            b.caps_or_badges[i] = c;
        }
    });
    let mut mr = [0u64; 4];
    for (i, &a) in args.iter().take(4).enumerate() {
        mr[i] = a;
    }
    let info = MessageInfo::new(label, 0, extra_caps.len() as u64, args.len() as u64);
    let out = syscall(Syscall::Call, SyscallRegs { dest: service, info: info.0, mr });
    with_ipc_buffer(|b| b.msg[..4].copy_from_slice(&out.mr));
    MessageInfo(out.info)
}

/// The error a kernel reply carries (label 0 is success).
pub fn result(info: MessageInfo) -> Result<(), Error> {
    match info.label() {
        0 => Ok(()),
        code => Err(Error::from_word(code).unwrap_or(Error::IllegalOperation)),
    }
}
