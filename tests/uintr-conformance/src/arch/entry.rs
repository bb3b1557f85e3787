//! Control transfers: the 256 interrupt stubs and the common trap path,
//! entering ring 3 (IRETQ or SYSRETQ) and coming back (`int 0x80` or
//! SYSCALL), running a test so that a fault can abort it, the ring-3
//! user-interrupt handler stub, and the ring-3 code snippets whose exact
//! instruction addresses the tests check.

use core::arch::asm;

/// The register frame the common trap path builds (lowest address first).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct TrapFrame {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub vector: u64,
    pub error: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

core::arch::global_asm!(
    r#"
    .section .bss
    .balign 8
    .global KERNEL_RESUME_RSP
KERNEL_RESUME_RSP:
    .quad 0
    .global ABORT_RSP
ABORT_RSP:
    .quad 0
    .global USER_FN
USER_FN:
    .quad 0
    .global SYSCALL_USER_RSP
SYSCALL_USER_RSP:
    .quad 0

    .section .text
    // One 16-byte stub per vector: push a zero error code unless the CPU
    // pushes one, push the vector, go to the common path.
    .balign 16
    .global isr_stubs
isr_stubs:
    .set vec, 0
    .rept 256
    .balign 16
    .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    .byte 0x6a, 0x00
    .endif
    .byte 0x68
    .long vec
    jmp trap_common
    .set vec, vec + 1
    .endr

trap_common:
    push r15
    push r14
    push r13
    push r12
    push r11
    push r10
    push r9
    push r8
    push rbp
    push rdi
    push rsi
    push rdx
    push rcx
    push rbx
    push rax
    mov rdi, rsp
    cld
    call trap_dispatch
    pop rax
    pop rbx
    pop rcx
    pop rdx
    pop rsi
    pop rdi
    pop rbp
    pop r8
    pop r9
    pop r10
    pop r11
    pop r12
    pop r13
    pop r14
    pop r15
    add rsp, 16
    iretq

    // enter_user(rip, arg0, arg1, rsp, rflags, use_sysret) -> exit value
    .global enter_user
enter_user:
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    mov [rip + KERNEL_RESUME_RSP], rsp
    test r9, r9
    jnz 5f
    push 0x23
    push rcx
    push r8
    push 0x2b
    push rdi
    mov rdi, rsi
    mov rsi, rdx
    iretq
5:
    cli
    mov r11, r8
    mov rax, rcx
    mov rcx, rdi
    mov rdi, rsi
    mov rsi, rdx
    mov rsp, rax
    // SYSRETQ
    .byte 0x48, 0x0f, 0x07

    // exit_to_kernel(value): back to enter_user's caller.
    .global exit_to_kernel
exit_to_kernel:
    mov rsp, [rip + KERNEL_RESUME_RSP]
    mov rax, rdi
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret

    // SYSCALL from ring 3 (RAX = exit value); FMASK cleared IF.
    .global syscall_entry
syscall_entry:
    mov [rip + SYSCALL_USER_RSP], rsp
    mov rdi, rax
    jmp exit_to_kernel

    // call_abortable(f, arg) -> 0, or 1 if abort_to_runner was called.
    .global call_abortable
call_abortable:
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    mov [rip + ABORT_RSP], rsp
    sub rsp, 8
    mov rax, rdi
    mov rdi, rsi
    call rax
    add rsp, 8
    mov qword ptr [rip + ABORT_RSP], 0
    xor eax, eax
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret

    .global abort_to_runner
abort_to_runner:
    mov rsp, [rip + ABORT_RSP]
    mov qword ptr [rip + ABORT_RSP], 0
    mov eax, 1
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret

    // ---- ring-3 code ----

    // Calls USER_FN(rdi, rsi) and returns its result to the harness.
    .global u_trampoline
u_trampoline:
    call qword ptr [rip + USER_FN]
    int 0x80
    ud2

    // A sled of NOPs: a user interrupt pending on entry is delivered
    // with the first NOP's address.
    .global u_entry_probe
u_entry_probe:
    .rept 16
    nop
    .endr
    .global u_entry_probe_end
u_entry_probe_end:
    xor eax, eax
    int 0x80
    ud2

    // Same, entered with SYSRETQ and returning with SYSCALL.
    .global u_entry_probe_syscall
u_entry_probe_syscall:
    .rept 16
    nop
    .endr
    xor eax, eax
    syscall
    ud2

    // Entered with UIF = 0 and a user interrupt pending: STUI.
    .global u_stui_probe
u_stui_probe:
    nop
    nop
    nop
    nop
    .byte 0xf3, 0x0f, 0x01, 0xef
    .global u_stui_after
u_stui_after:
    nop
    xor eax, eax
    int 0x80
    ud2

    // u_frame_probe(rsp, rflags): runs STUI on stack `rsp` with RFLAGS
    // `rflags` (UIF = 0 and a user interrupt pending on entry); after the
    // handler's UIRET: R13 = RFLAGS, R14 = RSP, R15 = UIF.
    .global u_frame_probe
u_frame_probe:
    mov r12, rsp
    mov rsp, rdi
    push rsi
    popfq
    .byte 0xf3, 0x0f, 0x01, 0xef
    .global u_frame_after
u_frame_after:
    pushfq
    pop r13
    mov r14, rsp
    .byte 0xf3, 0x0f, 0x01, 0xed
    setc al
    movzx r15d, al
    mov rsp, r12
    cld
    xor eax, eax
    int 0x80
    ud2

    // u_flags_probe(rsp, rflags): as u_frame_probe, but after the
    // handler's UIRET it clears DF and CF itself (CLD, CLC) before reading
    // RFLAGS into R13: flags UIRET loaded must stay under the program's
    // control afterwards.
    .global u_flags_probe
u_flags_probe:
    mov r12, rsp
    mov rsp, rdi
    push rsi
    popfq
    .byte 0xf3, 0x0f, 0x01, 0xef
    cld
    clc
    pushfq
    pop r13
    mov rsp, r12
    xor eax, eax
    int 0x80
    ud2

    // The second CPU's ring-3 loop: UIF = 1, wait for user interrupts.
    .global u_ap_receiver
u_ap_receiver:
    .byte 0xf3, 0x0f, 0x01, 0xef
2:
    pause
    jmp 2b

    // The user-interrupt handler. On entry: [rsp] = vector, then RIP,
    // RFLAGS and RSP of the interrupted code; UIF = 0.
    .global uintr_entry
uintr_entry:
    push rax
    push rcx
    push rdx
    push rsi
    push rdi
    push r8
    push r9
    push r10
    push r11
    .byte 0xf3, 0x0f, 0x01, 0xed
    setc al
    movzx esi, al
    lea rdi, [rsp + 72]
    cld
    sub rsp, 8
    call uintr_handler
    add rsp, 8
    pop r11
    pop r10
    pop r9
    pop r8
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rax
    add rsp, 8
    .global uintr_entry_uiret
uintr_entry_uiret:
    .byte 0xf3, 0x0f, 0x01, 0xec
    ud2
"#
);

/// SENDUIPI snippets, one per GPR: `u_senduipi_REG(index)` loads the
/// index into REG, runs SENDUIPI REG and returns to the harness.
macro_rules! senduipi_snippets {
    ($( $name:literal, $reg:literal, $prefix:literal, $modrm:literal );* $(;)?) => {
        core::arch::global_asm!(
            ".section .text",
            $(
                concat!(".global u_senduipi_", $name),
                concat!("u_senduipi_", $name, ":"),
                concat!("mov ", $reg, ", rdi"),
                concat!(".byte ", $prefix, "0x0f, 0xc7, ", $modrm),
                "xor eax, eax",
                "int 0x80",
                "ud2",
            )*
        );
        pub const SENDUIPI_SNIPPETS: &[(&str, fn() -> u64)] = &[
            $( ($name, || {
                extern "C" { #[link_name = concat!("u_senduipi_", $name)] static SNIPPET: u8; }
                core::ptr::addr_of!(SNIPPET) as u64
            }) ),*
        ];
    };
}

senduipi_snippets!(
    "rax", "rax", "0xf3, ", "0xf0";
    "rcx", "rcx", "0xf3, ", "0xf1";
    "rdx", "rdx", "0xf3, ", "0xf2";
    "rbx", "rbx", "0xf3, ", "0xf3";
    "rsp", "rsp", "0xf3, ", "0xf4";
    "rbp", "rbp", "0xf3, ", "0xf5";
    "rsi", "rsi", "0xf3, ", "0xf6";
    "rdi", "rdi", "0xf3, ", "0xf7";
    "r8", "r8", "0xf3, 0x41, ", "0xf0";
    "r9", "r9", "0xf3, 0x41, ", "0xf1";
    "r10", "r10", "0xf3, 0x41, ", "0xf2";
    "r11", "r11", "0xf3, 0x41, ", "0xf3";
    "r12", "r12", "0xf3, 0x41, ", "0xf4";
    "r13", "r13", "0xf3, 0x41, ", "0xf5";
    "r14", "r14", "0xf3, 0x41, ", "0xf6";
    "r15", "r15", "0xf3, 0x41, ", "0xf7";
);

extern "C" {
    static u_trampoline: u8;
    pub static u_entry_probe: u8;
    pub static u_entry_probe_end: u8;
    pub static u_entry_probe_syscall: u8;
    pub static u_stui_probe: u8;
    pub static u_stui_after: u8;
    pub static u_frame_probe: u8;
    pub static u_frame_after: u8;
    pub static u_flags_probe: u8;
    pub static uintr_entry: u8;
    pub static u_ap_receiver: u8;
    pub static uintr_entry_uiret: u8;
    static mut USER_FN: u64;
    fn enter_user(rip: u64, arg0: u64, arg1: u64, rsp: u64, rflags: u64, use_sysret: u64) -> u64;
    fn exit_to_kernel(value: u64) -> !;
    fn call_abortable(f: extern "C" fn(*mut u8), arg: *mut u8) -> u64;
    fn abort_to_runner() -> !;
}

/// How to enter ring 3.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Entry {
    Iretq,
    Sysret,
}

#[repr(C, align(16))]
struct UserStack([u8; 65536]);
static USER_STACK: crate::Global<UserStack> = crate::Global::new(UserStack([0; 65536]));

/// Top of the stack ring-3 code starts on.
pub fn user_stack_top() -> u64 {
    USER_STACK.ptr() as u64 + 65536
}

/// Runs ring-3 code at `rip` (arguments in RDI and RSI) on the user stack
/// with `rflags`, until it comes back with `int 0x80` or SYSCALL; returns
/// RAX at that point. Ring 0 only; interrupts are off again afterwards.
pub fn run_user_at(rip: u64, arg0: u64, arg1: u64, rflags: u64, how: Entry) -> u64 {
    // Safety: `rip` is ring-3 code of this image that ends with `int 0x80`
    // or SYSCALL; the user stack is user-accessible; the harness's trap
    // path returns here through exit_to_kernel.
    unsafe { enter_user(rip, arg0, arg1, user_stack_top(), rflags, (how == Entry::Sysret) as u64) }
}

/// Runs `f(arg0, arg1)` in ring 3 with IF = 1 and returns its result.
pub fn run_user(f: extern "C" fn(u64, u64) -> u64, arg0: u64, arg1: u64) -> u64 {
    // Safety: USER_FN is read by u_trampoline only.
    unsafe { core::ptr::addr_of_mut!(USER_FN).write_volatile(f as usize as u64) };
    run_user_at(label(core::ptr::addr_of!(u_trampoline)), arg0, arg1, 0x202, Entry::Iretq)
}

/// The address of one of the snippet labels above.
pub fn label(p: *const u8) -> u64 {
    p as u64
}

/// Abandons the current ring-3 context and returns `value` from
/// `run_user*`. Called by the trap handler for `int 0x80`.
pub fn return_from_user(value: u64) -> ! {
    // Safety: KERNEL_RESUME_RSP was saved by enter_user, whose frame is
    // still live (the harness only returns to ring 3 from inside it).
    unsafe { exit_to_kernel(value) }
}

/// Runs `f(arg)`; returns false if the test was aborted by `abort_test`.
pub fn run_abortable(f: extern "C" fn(*mut u8), arg: *mut u8) -> bool {
    // Safety: call_abortable saves the callee-saved registers and the stack
    // pointer; abort_to_runner restores them.
    unsafe { call_abortable(f, arg) == 0 }
}

/// Abandons the running test (ring 0 or 3) and returns to the runner.
pub fn abort_test() -> ! {
    // Safety: only called while run_abortable is on the stack (the harness
    // checks `in_test` first).
    unsafe { abort_to_runner() }
}

/// Ends the test from ring 3 with `int 0x80` (RAX = `value`).
pub fn user_exit(value: u64) -> ! {
    // Safety: the exit gate is DPL 3 and never returns here.
    unsafe { asm!("int 0x80", in("rax") value, options(noreturn)) }
}
