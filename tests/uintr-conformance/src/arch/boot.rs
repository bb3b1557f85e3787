//! Multiboot 1 header, the 32-bit entry QEMU's `-kernel` loader jumps to,
//! the identity-mapped page tables and the switch to long mode.
//!
//! Paging: the first GiB is mapped 1:1 with 2 MiB pages, all of them
//! user-accessible except the one at 4 MiB (`.kdata`: UPIDs and UITT,
//! supervisor-only). The local APIC page at 0xfee00000 is mapped
//! supervisor-only and uncached. Nothing else is mapped, so 1 GiB
//! (0x4000_0000) is a convenient unmapped address.

use super::desc::GDT;

/// An address no page table maps.
pub const UNMAPPED_ADDR: u64 = 0x4000_0000;

core::arch::global_asm!(
    r#"
    .section .multiboot_header, "a"
    .balign 4
    .long 0x1badb002
    .long 0x00000003
    .long -(0x1badb002 + 0x00000003)

    .section .pagetables, "aw", @nobits
    .balign 4096
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_pd_low:
    .skip 4096
boot_pd_apic:
    .skip 4096

    .section .data
    .balign 8
    .global boot_mb_magic
boot_mb_magic:
    .long 0
    .global boot_mb_info
boot_mb_info:
    .long 0
boot_gdt_ptr:
    .short {gdt_len} * 8 - 1
    .long {gdt}
boot_msg_no_lm:
    .asciz "\r\nuintr-conformance: this CPU has no long mode\r\n0 passed, 1 failed\r\n"

    .section .boot.text, "ax"
    .code32
    .global _start
_start:
    cli
    cld
    mov dword ptr [boot_mb_magic], eax
    mov dword ptr [boot_mb_info], ebx

    mov eax, 0x80000000
    cpuid
    cmp eax, 0x80000001
    jb 8f
    mov eax, 0x80000001
    cpuid
    test edx, 0x20000000
    jz 8f

    mov edi, offset boot_pml4
    mov ecx, 4 * 4096 / 4
    xor eax, eax
    rep stosd

    mov eax, offset boot_pdpt
    or eax, 7
    mov dword ptr [boot_pml4], eax
    mov eax, offset boot_pd_low
    or eax, 7
    mov dword ptr [boot_pdpt], eax
    mov eax, offset boot_pd_apic
    or eax, 3
    mov dword ptr [boot_pdpt + 3 * 8], eax

    // 2 MiB pages: present, writable, user, large; the one at 4 MiB
    // (index 2) without the user bit.
    xor ecx, ecx
2:
    mov eax, ecx
    shl eax, 21
    or eax, 0x87
    cmp ecx, 2
    jne 3f
    and eax, 0xfffffffb
3:
    mov dword ptr [boot_pd_low + ecx * 8], eax
    inc ecx
    cmp ecx, 512
    jb 2b
    // 0xfee00000: present, writable, PWT, PCD, large, supervisor.
    mov dword ptr [boot_pd_apic + 503 * 8], 0xfee0009b

    mov eax, cr4
    or eax, 0x20
    mov cr4, eax
    mov eax, offset boot_pml4
    mov cr3, eax
    // EFER: LME and SCE (SYSCALL/SYSRET).
    mov ecx, 0xc0000080
    rdmsr
    or eax, 0x101
    wrmsr
    mov eax, cr0
    or eax, 0x80010001
    mov cr0, eax

    lgdt [boot_gdt_ptr]
    .byte 0xea
    .long boot_long_mode
    .short 0x08

8:
    mov esi, offset boot_msg_no_lm
    mov dx, 0x3f8
4:
    lodsb
    test al, al
    jz 5f
    out dx, al
    jmp 4b
5:
    mov dx, 0xf4
    mov eax, 0x11
    out dx, eax
6:
    hlt
    jmp 6b

    .code64
boot_long_mode:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax

    lea rsp, [rip + kernel_stack_top]
    lea rdi, [rip + __bss_start]
    lea rcx, [rip + __bss_end]
    sub rcx, rdi
    xor eax, eax
    rep stosb
    lea rdi, [rip + __kdata_start]
    lea rcx, [rip + __kdata_end]
    sub rcx, rdi
    rep stosb

    mov edi, dword ptr [rip + boot_mb_magic]
    mov esi, dword ptr [rip + boot_mb_info]
    call rust_main
7:
    hlt
    jmp 7b

    .section .bss
    .balign 4096
    .global kernel_stack_bottom
kernel_stack_bottom:
    .skip 65536
    .global kernel_stack_top
kernel_stack_top:
"#,
    gdt = sym GDT,
    gdt_len = const super::desc::GDT_LEN,
);

extern "C" {
    static boot_mb_magic: u32;
    static boot_mb_info: u32;
}

/// The multiboot magic and info address the loader passed.
pub fn multiboot() -> (u32, u32) {
    // Safety: written once by the 32-bit entry before any Rust code runs.
    unsafe { (core::ptr::addr_of!(boot_mb_magic).read_volatile(), core::ptr::addr_of!(boot_mb_info).read_volatile()) }
}

/// The multiboot 1 command line, if the loader passed one.
pub fn cmdline() -> &'static [u8] {
    let (magic, info) = multiboot();
    if magic != 0x2bad_b002 || info == 0 {
        return b"";
    }
    // Safety: the multiboot info structure is in identity-mapped low memory;
    // flags bit 2 says the cmdline field holds the address of a NUL-terminated
    // string.
    unsafe {
        let flags = (info as *const u32).read_volatile();
        if flags & 4 == 0 {
            return b"";
        }
        let ptr = ((info as usize + 16) as *const u32).read_volatile() as *const u8;
        let mut len = 0;
        while len < 4096 && ptr.add(len).read_volatile() != 0 {
            len += 1;
        }
        core::slice::from_raw_parts(ptr, len)
    }
}
