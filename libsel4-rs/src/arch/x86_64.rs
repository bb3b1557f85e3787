//! x86_64 syscall stubs with seL4's register convention: number in `rdx`,
//! capability/badge in `rdi`, message info in `rsi`, message registers
//! 0-3 in `r10`, `r8`, `r9`, `r15`. The caller's stack pointer is kept in
//! `r14` across the instruction, since the kernel's SYSRET path need not
//! restore it.

use crate::Syscall;

/// Registers exchanged with the kernel in one syscall.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallRegs {
    pub dest: u64,
    pub info: u64,
    pub mr: [u64; 4],
}

/// Issues `syscall` and returns the registers the kernel left.
#[cfg(target_arch = "x86_64")]
pub fn syscall(sys: Syscall, regs: SyscallRegs) -> SyscallRegs {
    syscall_number(sys.to_word(), regs)
}

/// Issues `syscall` with any number in `rdx`, seL4's or not (for tests of
/// the kernel's answer to unknown syscalls).
#[cfg(target_arch = "x86_64")]
pub fn syscall_number(number: u64, regs: SyscallRegs) -> SyscallRegs {
    let mut out = regs;
    // Safety: the syscall instruction transfers to the kernel, which
    // preserves every register except rcx, r11 and the declared outputs;
    // r14 carries rsp across it.
    unsafe {
        core::arch::asm!(
            "mov r14, rsp",
            "syscall",
            "mov rsp, r14",
            in("rdx") number,
            inout("rdi") out.dest,
            inout("rsi") out.info,
            inout("r10") out.mr[0],
            inout("r8") out.mr[1],
            inout("r9") out.mr[2],
            inout("r15") out.mr[3],
            out("rcx") _,
            out("r11") _,
            out("r14") _,
        );
    }
    out
}

#[cfg(target_os = "none")]
core::arch::global_asm!(
    r#"
    .section .text._start, "ax"
    .global _start
_start:
    lea rsp, [rip + __sel4_rs_stack_top]
    xor ebp, ebp
    call __sel4_rs_main
    ud2

    .section .bss.__sel4_rs_stack, "aw", @nobits
    .balign 16
__sel4_rs_stack_bottom:
    .skip 65536
__sel4_rs_stack_top:
"#
);

/// Sets the FS segment base through the kernel (KernelFSGSBase = msr).
pub fn set_tls_base(base: u64) {
    syscall(Syscall::SetTLSBase, SyscallRegs { dest: base, ..Default::default() });
}

/// Reads the 64-bit word at `fs:offset`.
#[cfg(target_arch = "x86_64")]
pub fn read_fs_word(offset: u64) -> u64 {
    let value: u64;
    // Safety: reads through FS, which the caller pointed at readable
    // memory with `set_tls_base`.
    unsafe { core::arch::asm!("mov {}, fs:[{}]", out(reg) value, in(reg) offset, options(readonly, nostack)) };
    value
}

/// Writes the 64-bit word at `fs:offset`.
#[cfg(target_arch = "x86_64")]
pub fn write_fs_word(offset: u64, value: u64) {
    // Safety: writes through FS, which the caller pointed at this thread's
    // writable TLS block with `set_tls_base`.
    unsafe { core::arch::asm!("mov fs:[{}], {}", in(reg) offset, in(reg) value, options(nostack)) };
}

/// Gives up the rest of the time slice.
pub fn yield_now() {
    syscall(Syscall::Yield, SyscallRegs::default());
}

// User interrupts. The entry runs on the frame the CPU (or the kernel's
// fallback) pushed: the vector at [rsp], then the interrupted rip, rflags
// and rsp, with rsp 16-byte aligned. It keeps every register the
// interrupted code had (the SSE state too, since the handler is ordinary
// Rust code), pops the vector and returns with UIRET. The instructions
// are spelled as bytes so that no assembler support is needed.
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    r#"
    .pushsection .text.sel4_uintr_entry, "ax"
    .global sel4_uintr_entry
sel4_uintr_entry:
    push rax
    push rcx
    push rdx
    push rsi
    push rdi
    push r8
    push r9
    push r10
    push r11
    sub rsp, 520
    fxsave64 [rsp]
    mov rdi, [rsp + 520 + 72]
    cld
    call sel4_uintr_dispatch
    fxrstor64 [rsp]
    add rsp, 520
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
    .byte 0xf3, 0x0f, 0x01, 0xec
    .popsection
"#
);

#[cfg(target_arch = "x86_64")]
extern "C" {
    fn sel4_uintr_entry();
}

/// Where [`crate::uintr::handler_entry`] is.
#[cfg(target_arch = "x86_64")]
pub fn uintr_entry_address() -> u64 {
    sel4_uintr_entry as *const () as u64
}

/// SENDUIPI: posts the user interrupt of this thread's UITT entry `index`
/// (delivered later, when its notification reaches the receiving CPU; see
/// [`crate::uintr`]).
#[cfg(target_arch = "x86_64")]
pub fn senduipi(index: u64) {
    // Safety: SENDUIPI reads the UITT and the receiver's UPID; a bad index
    // is a fault the kernel reports to this thread's fault handler.
    unsafe { core::arch::asm!(".byte 0xf3, 0x0f, 0xc7, 0xf0", in("rax") index, options(nostack)) };
}

/// STUI: enables user-interrupt delivery (one already in UIRR arrives
/// before the next instruction; one whose notification is still in
/// flight, when it lands).
#[cfg(target_arch = "x86_64")]
pub fn stui() {
    // Safety: only changes this thread's user-interrupt flag.
    unsafe { core::arch::asm!(".byte 0xf3, 0x0f, 0x01, 0xef", options(nostack)) };
}

/// CLUI: disables user-interrupt delivery.
#[cfg(target_arch = "x86_64")]
pub fn clui() {
    // Safety: only changes this thread's user-interrupt flag.
    unsafe { core::arch::asm!(".byte 0xf3, 0x0f, 0x01, 0xee", options(nostack)) };
}

/// TESTUI: whether user-interrupt delivery is enabled.
#[cfg(target_arch = "x86_64")]
pub fn testui() -> bool {
    let uif: u8;
    // Safety: reads this thread's user-interrupt flag into CF.
    unsafe { core::arch::asm!(".byte 0xf3, 0x0f, 0x01, 0xed", "setc {0}", out(reg_byte) uif, options(nostack)) };
    uif != 0
}
