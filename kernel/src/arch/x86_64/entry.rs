//! Kernel entry and exit: the 256 interrupt stubs, the SYSCALL entry, and
//! the return to user mode.
//!
//! Every entry from user mode saves the registers into the current TCB's
//! [`UserContext`](super::context::UserContext), moves to the single
//! kernel stack and calls into Rust, which never returns: the kernel
//! leaves only through [`restore_user_context`] (or idles).

use super::context::UserContext;

core::arch::global_asm!(
    r#"
    .section .text.entry, "ax"
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
    push_gprs_after_rax
    mov edi, eax
    lea rsp, [rip + kernel_stack_top]
    cld
    call handle_user_trap
    ud2

interrupt_from_kernel:
    push_gprs_after_rax
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
    mov [rip + syscall_user_rsp], rsp
    mov rsp, [rip + current_context_top]
    push 0x33
    push [rip + syscall_user_rsp]
    push r11
    push 0x2b
    push rcx
    push 0
    push rax
    push_gprs_after_rax
    lea rsp, [rip + kernel_stack_top]
    call handle_syscall
    ud2

    .global restore_user_context_asm
restore_user_context_asm:
    lea rsp, [rdi + 8]
    pop_gprs
    add rsp, 8
    iretq

    .section .bss.entry, "aw", @nobits
    .balign 8
syscall_user_rsp:
    .skip 8
    .global current_context_top
current_context_top:
    .skip 8
"#
);

extern "C" {
    static interrupt_stubs: u8;
    static mut current_context_top: u64;
    fn syscall_entry();
    fn restore_user_context_asm(ctx: *const UserContext) -> !;
}

/// Size of each interrupt stub; stub `n` is at `interrupt_stubs + 16 n`.
const STUB_SIZE: u64 = 16;

pub fn interrupt_stub_addr(vector: u8) -> u64 {
    core::ptr::addr_of!(interrupt_stubs) as u64 + STUB_SIZE * vector as u64
}

pub fn syscall_entry_addr() -> u64 {
    syscall_entry as *const () as u64
}

/// Leaves the kernel into the thread whose context is `ctx`.
///
/// # Safety
/// `ctx` must be the context of the thread the scheduler chose, living in
/// a TCB that stays valid while the thread runs; its address space must
/// be loaded; and its `cs`, `ss` and `rflags` must be user values.
pub unsafe fn restore_user_context(ctx: &mut UserContext) -> ! {
    super::boot::check_stack_canary();
    let top = ctx.top();
    super::gdt::set_kernel_entry_stack(top);
    // Safety: single core with interrupts off; the SYSCALL stub reads
    // this word only on the next entry, after we have left.
    unsafe { current_context_top = top };
    // Safety: the caller guarantees the frame is a valid user frame.
    unsafe { restore_user_context_asm(ctx) }
}
