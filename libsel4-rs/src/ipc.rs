//! IPC syscalls: Send, NBSend, Call, Recv, NBRecv, Reply, ReplyRecv, and
//! notification Signal, Wait and Poll.
//!
//! Message registers beyond the fourth travel in the IPC buffer; received
//! register MRs are copied into the buffer so [`crate::invocation::get_mr`]
//! reads the whole message, as with libsel4.

use crate::arch::{syscall, SyscallRegs};
use crate::ipc_buffer::with_ipc_buffer;
use crate::{CPtr, MessageInfo, Syscall, Word};

/// What a receive returns: the message info and the sender's badge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    pub info: MessageInfo,
    pub badge: Word,
}

fn outgoing(info: MessageInfo, mrs: &[Word]) -> [Word; 4] {
    let n = (info.length() as usize).min(mrs.len());
    if n > 4 {
        with_ipc_buffer(|b| b.msg[4..n].copy_from_slice(&mrs[4..n]));
    }
    let mut regs = [0; 4];
    for (i, &m) in mrs.iter().take(4.min(n)).enumerate() {
        regs[i] = m;
    }
    regs
}

fn incoming(out: SyscallRegs) -> Received {
    with_ipc_buffer(|b| b.msg[..4].copy_from_slice(&out.mr));
    Received { info: MessageInfo(out.info), badge: out.dest }
}

/// `seL4_Send`: blocks until a receiver takes the message.
pub fn send(dest: CPtr, info: MessageInfo, mrs: &[Word]) {
    syscall(Syscall::Send, SyscallRegs { dest, info: info.0, mr: outgoing(info, mrs) });
}

/// `seL4_NBSend`: delivers only to a receiver already waiting.
pub fn nb_send(dest: CPtr, info: MessageInfo, mrs: &[Word]) {
    syscall(Syscall::NBSend, SyscallRegs { dest, info: info.0, mr: outgoing(info, mrs) });
}

/// `seL4_Call`: send and wait for the reply.
pub fn call(dest: CPtr, info: MessageInfo, mrs: &[Word]) -> Received {
    incoming(syscall(Syscall::Call, SyscallRegs { dest, info: info.0, mr: outgoing(info, mrs) }))
}

/// `seL4_Recv`.
pub fn recv(src: CPtr) -> Received {
    incoming(syscall(Syscall::Recv, SyscallRegs { dest: src, ..Default::default() }))
}

/// `seL4_NBRecv`: badge 0 and an empty message when nothing is waiting.
pub fn nb_recv(src: CPtr) -> Received {
    incoming(syscall(Syscall::NBRecv, SyscallRegs { dest: src, ..Default::default() }))
}

/// `seL4_Reply`: answers the last caller.
pub fn reply(info: MessageInfo, mrs: &[Word]) {
    syscall(Syscall::Reply, SyscallRegs { dest: 0, info: info.0, mr: outgoing(info, mrs) });
}

/// `seL4_ReplyRecv`: answers the last caller and waits on `src`.
pub fn reply_recv(src: CPtr, info: MessageInfo, mrs: &[Word]) -> Received {
    incoming(syscall(Syscall::ReplyRecv, SyscallRegs { dest: src, info: info.0, mr: outgoing(info, mrs) }))
}

/// `seL4_Signal`.
pub fn signal(ntfn: CPtr) {
    syscall(Syscall::Send, SyscallRegs { dest: ntfn, ..Default::default() });
}

/// `seL4_Wait`: returns the accumulated badge.
pub fn wait(ntfn: CPtr) -> Word {
    syscall(Syscall::Recv, SyscallRegs { dest: ntfn, ..Default::default() }).dest
}

/// `seL4_Poll`: the badge, or 0 when not signalled.
pub fn poll(ntfn: CPtr) -> Word {
    syscall(Syscall::NBRecv, SyscallRegs { dest: ntfn, ..Default::default() }).dest
}
