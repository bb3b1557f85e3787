//! Kernel entry and exit: the 256 interrupt stubs, the SYSCALL entry, and
//! the return to user mode.
//!
//! While user code runs only the skim window is mapped (KernelSkimWindow):
//! this code, the descriptor tables, a small entry stack and a few words.
//! Every entry from user mode therefore first switches to the kernel's
//! page tables, then moves the registers into the current TCB's
//! [`UserContext`](super::context::UserContext) and calls into Rust on the
//! single kernel stack. Rust never returns: the kernel leaves through
//! [`restore_user_context`]: by SYSRET straight from the TCB when the
//! thread entered by SYSCALL (as seL4 does), otherwise by copying the
//! frame to the entry stack, switching page tables and IRETQ from there.

use super::context::UserContext;

core::arch::global_asm!(
    r#"
    .section .skim.text, "ax"
    .code64

    // The general-purpose registers below `rax` in a register frame
    // (rax is pushed first by every entry path, right after the error code).
    .macro push_gprs_after_rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    .endm

    .macro pop_gprs
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    .endm

    .balign 16
    .global interrupt_stubs
interrupt_stubs:
    .set vector, 0
    .rept 256
    .balign 16
    .if (vector == 8) || ((vector >= 10) && (vector <= 14)) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
    .else
    push 0
    .endif
    push rax
    mov eax, vector
    jmp interrupt_common
    .set vector, vector + 1
    .endr

interrupt_common:
    test byte ptr [rsp + 24], 3
    jz interrupt_from_kernel
    // From user mode: the CPU pushed its frame on the skim entry stack.
    // Switch to the kernel's tables (rax is saved: it holds the vector).
    mov [rip + entry_vector], rax
    mov rax, [rip + kernel_cr3]
    mov cr3, rax
    // Move rax, the error code and the CPU's frame into the TCB.
    mov [rip + entry_scratch], rcx
    mov rax, [rip + current_context_top]
    mov rcx, [rsp + 48]
    mov [rax - 8], rcx
    mov rcx, [rsp + 40]
    mov [rax - 16], rcx
    mov rcx, [rsp + 32]
    mov [rax - 24], rcx
    mov rcx, [rsp + 24]
    mov [rax - 32], rcx
    mov rcx, [rsp + 16]
    mov [rax - 40], rcx
    mov rcx, [rsp + 8]
    mov [rax - 48], rcx
    mov rcx, [rsp]
    mov [rax - 56], rcx
    mov rcx, [rip + entry_scratch]
    lea rsp, [rax - 56]
    push_gprs_after_rax
    mov rdi, [rip + entry_vector]
    lea rsp, [rip + kernel_stack_top]
    cld
    call handle_user_trap
    ud2

interrupt_from_kernel:
    push_gprs_after_rax
    // A fault in an entry or exit stub (an IRETQ that faults, say) can
    // arrive with a user address space loaded, which maps only the skim
    // window: the rest of the kernel must be reachable before Rust runs.
    // The trap frame already holds rcx and rdx. The address space the
    // trap came from goes to the handler for its report.
    mov rdx, cr3
    mov rcx, [rip + kernel_cr3]
    cmp rdx, rcx
    je 1f
    mov cr3, rcx
1:
    mov edi, eax
    mov rsi, rsp
    mov rbx, rsp
    and rsp, -16
    cld
    call handle_kernel_trap
    mov rsp, rbx
    pop_gprs
    add rsp, 8
    iretq

    .balign 16
    .global syscall_entry
syscall_entry:
    // The user's stack pointer is saved first, so rsp is free to carry
    // the kernel's CR3 (no other register needs saving for it).
    mov [rip + syscall_user_rsp], rsp
    mov rsp, [rip + kernel_cr3]
    mov cr3, rsp
    mov rsp, [rip + current_context_top]
    push 0x33
    push [rip + syscall_user_rsp]
    push r11
    push 0x2b
    push rcx
    push -1                 // error: SYSCALL_FRAME, this frame may leave by SYSRET
    push rax
    push_gprs_after_rax
    // Rust never returns here: the entries are reached by a jump with the
    // stack as a call would leave it (aligned to 16 less 8).
    lea rsp, [rip + kernel_stack_top - 8]
    // Call and ReplyRecv (seL4_SysCall -1, seL4_SysReplyRecv -2) go
    // straight to entries that try the fastpath first.
    cmp rdx, -1
    je handle_call_syscall
    cmp rdx, -2
    je handle_reply_recv_syscall
    jmp handle_syscall

    // rdi: the thread's register frame (a UserContext); rsi: its CR3.
    .global restore_user_context_asm
restore_user_context_asm:
    mov r8, rsi
    lea rsi, [rdi + 8]
    lea rdi, [rip + entry_stack_top - 168]
    mov ecx, 21
    rep movsq
    lea rsp, [rip + entry_stack_top - 168]
    mov cr3, r8
    pop_gprs
    add rsp, 8
    iretq

    // rdi: the frame of a thread that entered by SYSCALL and whose rcx and
    // r11 nobody has changed since (so they hold rip and rflags, as SYSRET
    // wants); its CR3 is already in exit_cr3. The registers come straight from the TCB; only
    // the CR3 value and the user stack pointer go through the skim window,
    // which is all that stays mapped after the switch. The user RSP is
    // loaded before SYSRET, so nothing can arrive on a kernel stack.
    .global restore_user_context_sysret_asm
restore_user_context_sysret_asm:
    mov rax, [rdi + 8 + 152]
    mov [rip + syscall_user_rsp], rax
    lea rsp, [rdi + 8]
    pop_gprs
    mov rcx, [rsp + 8]
    mov r11, [rsp + 24]
    mov rsp, [rip + exit_cr3]
    mov cr3, rsp
    mov rsp, [rip + syscall_user_rsp]
    sysretq

    .section .skim.data, "aw"
    .balign 8
    .global kernel_cr3
kernel_cr3:
    .quad 0
    .global exit_cr3
exit_cr3:
    .quad 0
syscall_user_rsp:
    .quad 0
entry_scratch:
    .quad 0
entry_vector:
    .quad 0

    .section .skim.bss, "aw", @nobits
    .balign 4096
entry_stack_bottom:
    .skip 4096
    .global entry_stack_top
entry_stack_top:

    .section .bss.entry, "aw", @nobits
    .balign 8
    .global current_context_top
current_context_top:
    .skip 8
"#
);

extern "C" {
    static interrupt_stubs: u8;
    #[link_name = "entry_stack_top"]
    static ENTRY_STACK_TOP: u8;
    static mut kernel_cr3: u64;
    static mut current_context_top: u64;
    static mut exit_cr3: u64;
    fn syscall_entry();
    fn restore_user_context_asm(ctx: *const UserContext, cr3: u64) -> !;
    fn restore_user_context_sysret_asm(ctx: *const UserContext) -> !;
}

/// Size of each interrupt stub; stub `n` is at `interrupt_stubs + 16 n`.
const STUB_SIZE: u64 = 16;

pub fn interrupt_stub_addr(vector: u8) -> u64 {
    core::ptr::addr_of!(interrupt_stubs) as u64 + STUB_SIZE * vector as u64
}

pub fn syscall_entry_addr() -> u64 {
    syscall_entry as *const () as u64
}

/// Top of the skim entry stack, where the CPU pushes its frame on an
/// interrupt from user mode (`TSS.rsp0`).
pub fn entry_stack_top() -> u64 {
    core::ptr::addr_of!(ENTRY_STACK_TOP) as u64
}

/// Records the kernel's page tables, which every entry switches to.
pub fn set_kernel_cr3(paddr: u64) {
    // Safety: boot, single-threaded; read only by the entry code.
    unsafe { kernel_cr3 = paddr };
}

/// The kernel's page tables, as recorded by [`set_kernel_cr3`].
pub fn kernel_cr3_value() -> u64 {
    // Safety: written once at boot, before any trap can read it.
    unsafe { core::ptr::addr_of!(kernel_cr3).read() }
}

/// Leaves the kernel into the thread whose context is `ctx`, on the page
/// tables rooted at `cr3`.
///
/// # Safety
/// `ctx` must be the context of the thread the scheduler chose, living in
/// a TCB that stays valid while the thread runs; `cr3` must map the skim
/// window (every user PML4 does); `ctx`'s `cs`, `ss` and `rflags` must be
/// user values.
#[inline(always)]
pub unsafe fn restore_user_context(ctx: &mut UserContext, cr3: u64) -> ! {
    // A debugging aid on every exit: release builds leave it out, as seL4
    // has no such check.
    if crate::config::DEBUG_BUILD {
        super::boot::check_stack_canary();
    }
    let top = ctx.top();
    // Safety: single core with interrupts off; the entry code reads this
    // word only on the next entry, after we have left.
    unsafe { current_context_top = top };
    // SYSRET trusts rcx as the return address; a non-canonical one would
    // fault in ring 0 on the user's stack, so such frames take IRETQ.
    let sysret = ctx.regs.error == super::context::SYSCALL_FRAME && ctx.regs.rip < super::context::USER_TOP;
    // Safety: the caller guarantees the frame is a valid user frame and
    // the page tables map the skim window; a SYSCALL_FRAME frame has rip
    // and rflags in rcx and r11 (writes to its registers clear the mark).
    unsafe {
        if sysret {
            // The exit stub loads CR3 from the skim window once the
            // registers are restored; storing it here saves passing it.
            exit_cr3 = cr3;
            restore_user_context_sysret_asm(ctx)
        } else {
            restore_user_context_asm(ctx, cr3)
        }
    }
}
