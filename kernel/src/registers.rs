//! Thread register access: a TCB's saved user context in seL4's register
//! numbering, and the message registers (the first few in registers, the
//! rest in the IPC buffer).

use crate::thread::Tcb;
use sel4_compat::ipc::MessageInfo;

/// Message registers passed in CPU registers (seL4's `msgRegisters`).
fn get_mr_reg(t: &Tcb, i: usize) -> u64 {
    match i {
        0 => t.ctx.regs.r10,
        1 => t.ctx.regs.r8,
        2 => t.ctx.regs.r9,
        _ => t.ctx.regs.r15,
    }
}

fn set_mr_reg(t: &mut Tcb, i: usize, v: u64) {
    match i {
        0 => t.ctx.regs.r10 = v,
        1 => t.ctx.regs.r8 = v,
        2 => t.ctx.regs.r9 = v,
        _ => t.ctx.regs.r15 = v,
    }
}

/// Copies a message that fits in the message registers (the fastpath's
/// only kind) and gives the receiver its badge and message info, exactly
/// as the slowpath's transfer does for such a message.
#[inline(always)]
pub(crate) fn transfer_register_message(sender: &Tcb, badge: u64, receiver: &mut Tcb) {
    let info = MessageInfo(sender.ctx.regs.rsi);
    let length = info.length() as usize;
    debug_assert!(length <= 4 && info.extra_caps() == 0);
    copy_register_words(sender, receiver, length);
    receiver.ctx.regs.rsi = MessageInfo::new(info.label(), 0, 0, length as u64).0;
    receiver.ctx.regs.rdi = badge;
}

/// Copies the first `length` message registers (at most four are in CPU
/// registers) from `sender` to `receiver`: the registers in order, each
/// copied if the message reaches it, straight-line code rather than a loop
/// over `set_mr_reg`'s match.
#[inline(always)]
pub(crate) fn copy_register_words(sender: &Tcb, receiver: &mut Tcb, length: usize) {
    let (from, to) = (&sender.ctx.regs, &mut receiver.ctx.regs);
    if length > 0 {
        to.r10 = from.r10;
        if length > 1 {
            to.r8 = from.r8;
            if length > 2 {
                to.r9 = from.r9;
                if length > 3 {
                    to.r15 = from.r15;
                }
            }
        }
    }
}

/// seL4's `setMR`: register or IPC buffer; returns the next index.
pub fn set_mr(t: &mut Tcb, i: usize, v: u64) -> usize {
    if i < 4 {
        set_mr_reg(t, i, v);
    } else if let Some(b) = t.ipc_buffer() {
        b.msg[i] = v;
    }
    i + 1
}

pub(crate) fn get_mr(t: &mut Tcb, i: usize) -> u64 {
    if i < 4 {
        get_mr_reg(t, i)
    } else {
        t.ipc_buffer().map(|b| b.msg[i]).unwrap_or(0)
    }
}

/// `seL4_UserContext` order: rip, rsp, rflags, rax, rbx, rcx, rdx, rsi,
/// rdi, rbp, r8..r15, fs_base, gs_base.
pub const USER_CONTEXT_WORDS: usize = 20;

/// Reads register `i` of `seL4_UserContext`. As in seL4, rip reads as the
/// thread's FaultIP: the instruction it was last stopped at (a syscall
/// it is blocked in, a faulting instruction, or the next instruction after
/// an interrupt).
pub fn read_user_register(t: &Tcb, i: usize) -> u64 {
    let r = &t.ctx.regs;
    match i {
        0 => t.restart_pc,
        1 => r.rsp,
        2 => r.rflags,
        3 => r.rax,
        4 => r.rbx,
        5 => r.rcx,
        6 => r.rdx,
        7 => r.rsi,
        8 => r.rdi,
        9 => r.rbp,
        10 => r.r8,
        11 => r.r9,
        12 => r.r10,
        13 => r.r11,
        14 => r.r12,
        15 => r.r13,
        16 => r.r14,
        17 => r.r15,
        18 => t.fs_base,
        _ => t.gs_base,
    }
}

fn canonical_or_zero(v: u64) -> u64 {
    if crate::cap::is_canonical(v) {
        v
    } else {
        0
    }
}

/// Writes register `i` of `seL4_UserContext`, sanitised as seL4 does:
/// instruction pointers and segment bases must be canonical, RFLAGS keeps
/// interrupts on, no trap flag, only the low 12 bits.
pub fn write_user_register(t: &mut Tcb, i: usize, v: u64) {
    let r = &mut t.ctx.regs;
    // The thread must come back with exactly these registers: IRETQ.
    r.error = 0;
    match i {
        0 => {
            let v = canonical_or_zero(v);
            r.rip = v;
            t.restart_pc = v;
        }
        1 => r.rsp = v,
        2 => r.rflags = ((v | 0x2 | 0x200) & !(0x8 | 0x20 | 0x100)) & 0xfff,
        3 => r.rax = v,
        4 => r.rbx = v,
        5 => r.rcx = v,
        6 => r.rdx = v,
        7 => r.rsi = v,
        8 => r.rdi = v,
        9 => r.rbp = v,
        10 => r.r8 = v,
        11 => r.r9 = v,
        12 => r.r10 = v,
        13 => r.r11 = v,
        14 => r.r12 = v,
        15 => r.r13 = v,
        16 => r.r14 = v,
        17 => r.r15 = v,
        18 => t.fs_base = canonical_or_zero(v),
        _ => t.gs_base = canonical_or_zero(v),
    }
}
