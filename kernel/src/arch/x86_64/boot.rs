//! The first instructions: multiboot headers, the 32-bit entry a multiboot
//! loader jumps to, and the switch to long mode.
//!
//! The boot page tables map the first 4 GiB 1:1 (so this code keeps
//! running after paging is on), all physical memory at `PPTR_BASE`, and
//! the kernel image at `PPTR_TOP`, using 1 GiB pages. The kernel keeps
//! using the upper half of these tables for good; every address space
//! shares that PML4 entry.

core::arch::global_asm!(
    r#"
    .section .multiboot_header, "a"
    .balign 8
mb2_header:
    .long 0xe85250d6
    .long 0
    .long mb2_header_end - mb2_header
    .long -(0xe85250d6 + (mb2_header_end - mb2_header))
    // Framebuffer tag, optional, no preferred size or depth: under UEFI
    // there is no VGA text mode, and this asks GRUB to hand over the
    // firmware's linear framebuffer (for bootinfo) instead of none.
    .short 5
    .short 1
    .long 20
    .long 0
    .long 0
    .long 0
    .balign 8
    .short 0
    .short 0
    .long 8
mb2_header_end:
    .balign 4
mb1_header:
    .long 0x1badb002
    .long 0x00000003
    .long -(0x1badb002 + 0x00000003)

    .section .boot.bss, "aw", @nobits
    .balign 4096
    .global boot_pml4
boot_pml4:
    .skip 4096
boot_pdpt_low:
    .skip 4096
    .global boot_pdpt_high
boot_pdpt_high:
    .skip 4096
boot_stack_bottom:
    .skip 1024
boot_stack_top:

    .section .boot.data, "aw"
    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
boot_gdt_end:
boot_gdt_ptr:
    .short boot_gdt_end - boot_gdt - 1
    .long boot_gdt
    .global boot_multiboot_magic
boot_multiboot_magic:
    .long 0
    .global boot_multiboot_info
boot_multiboot_info:
    .long 0
msg_no_long_mode:
    .asciz "\r\nboot failed: this CPU lacks a required feature: long mode (64-bit)\r\n"
msg_no_1g_pages:
    .asciz "\r\nboot failed: this CPU lacks a required feature: 1 GiB pages (pdpe1gb)\r\n"

    .section .boot.text, "ax"
    .code32
    .global _start
_start:
    cli
    cld
    mov dword ptr [boot_multiboot_magic], eax
    mov dword ptr [boot_multiboot_info], ebx
    mov esp, offset boot_stack_top

    mov eax, 0x80000000
    cpuid
    cmp eax, 0x80000001
    jb 90f
    mov eax, 0x80000001
    cpuid
    test edx, 0x20000000
    jz 90f
    test edx, 0x04000000
    jz 91f

    mov edi, offset boot_pml4
    mov ecx, 3 * 4096 / 4
    xor eax, eax
    rep stosd

    mov eax, offset boot_pdpt_low
    or eax, 3
    mov dword ptr [boot_pml4], eax
    mov eax, offset boot_pdpt_high
    or eax, 3
    mov dword ptr [boot_pml4 + 511 * 8], eax

    mov dword ptr [boot_pdpt_low + 0], 0x00000083
    mov dword ptr [boot_pdpt_low + 8], 0x40000083
    mov dword ptr [boot_pdpt_low + 16], 0x80000083
    mov dword ptr [boot_pdpt_low + 24], 0xc0000083

    xor ecx, ecx
1:
    mov eax, ecx
    shl eax, 30
    or eax, 0x83
    mov edx, ecx
    shr edx, 2
    mov dword ptr [boot_pdpt_high + ecx * 8], eax
    mov dword ptr [boot_pdpt_high + ecx * 8 + 4], edx
    inc ecx
    cmp ecx, 510
    jb 1b
    mov dword ptr [boot_pdpt_high + 510 * 8], 0x00000083

    mov eax, cr4
    or eax, 0x20
    mov cr4, eax
    mov eax, offset boot_pml4
    mov cr3, eax
    // EFER.LME only, as seL4's boot: NXE stays off (see cpu::init_syscall).
    mov ecx, 0xc0000080
    rdmsr
    or eax, 0x100
    wrmsr
    mov eax, cr0
    or eax, 0x80010001
    mov cr0, eax

    lgdt [boot_gdt_ptr]
    .byte 0xea
    .long boot_long_mode
    .short 0x08

90:
    mov esi, offset msg_no_long_mode
    jmp 99f
91:
    mov esi, offset msg_no_1g_pages
99:
    mov dx, 0x3f8
2:
    lodsb
    test al, al
    jz 3f
    out dx, al
    jmp 2b
3:
    mov dx, 0xf4
    mov eax, 0x11
    out dx, eax
4:
    hlt
    jmp 4b

    .code64
boot_long_mode:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax

    movabs rsp, offset boot_stack_top_high
    movabs rdi, offset __bss_start
    movabs rcx, offset __bss_end
    sub rcx, rdi
    xor eax, eax
    rep stosb

    mov edi, dword ptr [boot_multiboot_magic]
    mov esi, dword ptr [boot_multiboot_info]
    movabs rax, offset kernel_boot_entry
    call rax
    ud2

    // Boot builds the initial system with large values on the stack; it
    // gets its own stack, and every later kernel entry the 16 KiB one.
    .section .bss.boot_stack, "aw", @nobits
    .balign 4096
boot_stack_bottom_high:
    .skip 65536
boot_stack_top_high:

    .section .bss.kernel_stack, "aw", @nobits
    .balign 4096
    .global kernel_stack_bottom
kernel_stack_bottom:
    .skip 16384
    .global kernel_stack_top
kernel_stack_top:

    // NMIs and machine checks may arrive in user mode: their stack is in
    // the skim window.
    .section .skim.bss, "aw", @nobits
    .balign 4096
    .global fault_stack_bottom
fault_stack_bottom:
    .skip 8192
    .global fault_stack_top
fault_stack_top:
"#
);

extern "C" {
    static kernel_stack_bottom: u8;
    static boot_pml4: u8;
    static boot_pdpt_high: u8;
    static __kernel_end: u8;
    static kernel_stack_top: u8;
    static fault_stack_top: u8;
}

/// Physical address of the PML4 the boot code built; its last entry maps
/// the kernel and is shared by every address space.
pub fn boot_pml4_paddr() -> u64 {
    core::ptr::addr_of!(boot_pml4) as u64
}

/// Physical address of the boot PDPT under the PML4's last entry (the
/// physical window, the kernel image and the kernel device gigabyte).
pub fn boot_pdpt_high_paddr() -> u64 {
    core::ptr::addr_of!(boot_pdpt_high) as u64
}

/// Physical end of the kernel image, page-aligned.
pub fn kernel_end_paddr() -> u64 {
    let vaddr = core::ptr::addr_of!(__kernel_end) as u64;
    crate::config::kernel_vaddr_to_paddr(vaddr)
}

/// Top of the kernel stack every kernel entry runs on.
pub fn kernel_stack_top_addr() -> u64 {
    core::ptr::addr_of!(kernel_stack_top) as u64
}

/// Top of the stack for double faults, NMIs and machine checks.
pub fn fault_stack_top_addr() -> u64 {
    core::ptr::addr_of!(fault_stack_top) as u64
}

/// A value kept in the lowest word of the kernel stack; if it changes the
/// stack overflowed into whatever lies below it.
const STACK_CANARY: u64 = 0x5ce1_4ca9_a5f0_0d5e;

fn canary() -> *mut u64 {
    core::ptr::addr_of!(kernel_stack_bottom) as *mut u64
}

/// Plants the kernel-stack canary (boot).
pub fn plant_stack_canary() {
    // Safety: the lowest word of the kernel stack, which only an overflow
    // would otherwise touch.
    unsafe { canary().write_volatile(STACK_CANARY) };
}

/// Stops with a clear message if the kernel stack overflowed.
pub fn check_stack_canary() {
    // Safety: as above.
    if unsafe { canary().read_volatile() } != STACK_CANARY {
        panic!("kernel stack overflow: the canary at the bottom of the 16 KiB kernel stack was overwritten");
    }
}
