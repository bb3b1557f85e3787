//! Starting the second CPU (with `-smp 2`): a real-mode trampoline copied
//! to 0x8000 goes straight to long mode with the first CPU's page tables
//! and GDT, then `ap_main` (harness) runs on its own stack. The second
//! CPU only ever receives user interrupts in ring 3.

use super::apic;
use core::arch::asm;

/// Where the trampoline runs (SIPI vector 0x08).
const TRAMPOLINE: u64 = 0x8000;

core::arch::global_asm!(
    r#"
    .section .rodata.ap_trampoline, "a"
    .global ap_tramp_start
    .global ap_tramp_end
    .global ap_tramp_cr3
    .global ap_tramp_gdtr
    .code16
ap_tramp_start:
    cli
    cld
    xor ax, ax
    mov ds, ax
    // o32 lgdt [ap_tramp_gdtr] (16-bit absolute address)
    .byte 0x66, 0x0f, 0x01, 0x16
    .word 0x8000 + (ap_tramp_gdtr - ap_tramp_start)
    mov eax, 0x20
    mov cr4, eax
    // o32 mov eax, [ap_tramp_cr3]
    .byte 0x66, 0xa1
    .word 0x8000 + (ap_tramp_cr3 - ap_tramp_start)
    mov cr3, eax
    mov ecx, 0xc0000080
    rdmsr
    or eax, 0x101
    wrmsr
    mov eax, cr0
    or eax, 0x80010001
    mov cr0, eax
    // jmp far 0x08:ap_long_mode (ptr16:32)
    .byte 0x66, 0xea
    .long ap_long_mode
    .word 0x08
    .balign 4
ap_tramp_cr3:
    .long 0
ap_tramp_gdtr:
    .word 0
    .long 0
ap_tramp_end:
    .code64

    .section .text
ap_long_mode:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    lea rsp, [rip + ap_stack_top]
    call ap_main
8:
    cli
    hlt
    jmp 8b

    .section .bss
    .balign 16
ap_stack_bottom:
    .skip 32768
ap_stack_top:
"#
);

extern "C" {
    static ap_tramp_start: u8;
    static ap_tramp_end: u8;
    static ap_tramp_cr3: u8;
    static ap_tramp_gdtr: u8;
}

/// Copies the trampoline to 0x8000 and sends INIT, SIPI, SIPI to
/// `apic_id`. Ring 0, first CPU only.
pub fn start_ap(apic_id: u8) {
    let start = core::ptr::addr_of!(ap_tramp_start) as u64;
    let len = core::ptr::addr_of!(ap_tramp_end) as u64 - start;
    let cr3: u64;
    // Safety: reading CR3 has no side effects.
    unsafe { asm!("mov {}, cr3", out(reg) cr3) };
    let gdt = super::desc::GDT.ptr() as u64;
    // Safety: 0x8000.. is free low memory (identity-mapped) that nothing
    // else uses; the trampoline is position-dependent on exactly that
    // address; the patched words are its CR3 and GDTR.
    unsafe {
        core::ptr::copy_nonoverlapping(start as *const u8, TRAMPOLINE as *mut u8, len as usize);
        let at = |sym: *const u8| (TRAMPOLINE + (sym as u64 - start)) as *mut u8;
        (at(core::ptr::addr_of!(ap_tramp_cr3)) as *mut u32).write_volatile(cr3 as u32);
        let gdtr = at(core::ptr::addr_of!(ap_tramp_gdtr));
        (gdtr as *mut u16).write_volatile((super::desc::GDT_LEN * 8 - 1) as u16);
        (gdtr.add(2) as *mut u32).write_unaligned(gdt as u32);
    }
    apic::send_init_sipi(apic_id, (TRAMPOLINE >> 12) as u8);
}

/// Enters ring 3 at `rip` with stack `rsp` and IF = 1, for good.
pub fn enter_user_forever(rip: u64, rsp: u64) -> ! {
    // Safety: `rip` is ring-3 code of this image that never returns, and
    // `rsp` a user-accessible stack reserved for it.
    unsafe {
        asm!(
            "push 0x23",
            "push {rsp}",
            "push 0x202",
            "push 0x2b",
            "push {rip}",
            "iretq",
            rsp = in(reg) rsp,
            rip = in(reg) rip,
            options(noreturn),
        )
    }
}

/// Halts this CPU for good.
pub fn halt() -> ! {
    super::cpu::hlt_forever()
}
