/* UINTR smoke test: multiboot (ELF32 via objcopy), long mode, ring 3,
   SENDUIPI/UIRET/CLUI/STUI/TESTUI, SN, faults, STACKADJUST modes, #PF on
   delivery, and (with -smp >= 2) SENDUIPI to another CPU. */
#define UINV 0xE1
#define APIC 0xFEE00000

#define EXPECT(vec, insn...) \
    movq $-1, last_vec; movq $1f, recover_rip; insn; movq $0, recover_rip; \
1:  cmpq $(vec), last_vec; je 2f; movq $__LINE__, fail_line; jmp fail; 2:

#define CHECK_EQ(a, b) \
    cmpq b, a; je 3f; movq $__LINE__, fail_line; jmp fail; 3:

    .section .mbhdr, "a"
    .align 4
    .long 0x1BADB002, 0, -0x1BADB002

    .text
    .code32
    .globl _start
_start:
    mov $kstack_top, %esp
    /* PML4[0] -> PDPT, PDPT[0..3] -> PD[0..3], 2 MiB pages, user+rw */
    mov $pdpt, %eax
    or $7, %eax
    mov %eax, pml4
    xor %ecx, %ecx
1:  mov %ecx, %eax
    shl $12, %eax
    add $pd, %eax
    or $7, %eax
    mov %eax, pdpt(,%ecx,8)
    inc %ecx
    cmp $4, %ecx
    jne 1b
    xor %ecx, %ecx
1:  mov %ecx, %eax
    shl $21, %eax
    or $0x87, %eax
    mov %eax, pd(,%ecx,8)
    mov %ecx, %eax
    shr $11, %eax
    mov %eax, pd+4(,%ecx,8)
    inc %ecx
    cmp $2048, %ecx
    jne 1b
    movl $0, pd+8*511        /* 0x3FE00000-0x3FFFFFFF not present */
    mov $pml4, %eax
    mov %eax, %cr3
    mov %cr4, %eax
    or $0x620, %eax          /* PAE, OSFXSR, OSXMMEXCPT */
    mov %eax, %cr4
    mov $0xC0000080, %ecx
    rdmsr
    or $0x101, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax
    mov %eax, %cr0
    lgdt gdtr
    ljmp $0x08, $long_entry

    .code64
long_entry:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $kstack_top, %rsp
    /* TSS descriptor */
    mov $tss, %rax
    movw $0x67, gdt_tss
    movw %ax, gdt_tss+2
    shr $16, %rax
    movb %al, gdt_tss+4
    movb $0x89, gdt_tss+5
    movb $0, gdt_tss+6
    movb %ah, gdt_tss+7
    movq $kstack_top, tss+4
    mov $0x28, %ax
    ltr %ax
    /* IDT */
    xor %ecx, %ecx
1:  mov $isr_other, %eax
    cmp $32, %ecx
    jae 4f
    mov isr_table(,%rcx,8), %rax
4:  cmp $0x80, %ecx
    jne 5f
    mov $isr128, %eax
5:  cmp $0x81, %ecx
    jne 7f
    mov $isr_wrmsr, %eax
7:  cmp $UINV, %ecx
    jne 6f
    mov $isr_uinv, %eax
6:  mov %rcx, %rdx
    shl $4, %rdx
    movw %ax, idt(%rdx)
    movw $0x08, idt+2(%rdx)
    movw $0x8E00, idt+4(%rdx)
    cmp $0x80, %ecx
    je 8f
    cmp $0x81, %ecx
    jne 2f
8:  movw $0xEE00, idt+4(%rdx)
2:  shr $16, %rax
    movw %ax, idt+6(%rdx)
    shr $16, %rax
    movl %eax, idt+8(%rdx)
    movl $0, idt+12(%rdx)
    inc %ecx
    cmp $256, %ecx
    jne 1b
    lidt idtr

    mov $0xFF, %al           /* mask the 8259s (IRQ0 would hit vector 8) */
    out %al, $0x21
    out %al, $0xA1
    mov $msg_hello, %rsi
    call puts

    /* CPUID.(7,0):EDX[5] */
    mov $7, %eax
    xor %ecx, %ecx
    cpuid
    bt $5, %edx
    jc have_uintr
    /* no UINTR: CR4.UINTR, the MSRs and the instructions must fault */
    mov %cr4, %rax
    bts $25, %rax
    EXPECT(13, mov %rax, %cr4)
    mov $0x985, %ecx
    EXPECT(13, rdmsr)
    mov $0x98A, %ecx
    xor %eax, %eax
    xor %edx, %edx
    EXPECT(13, wrmsr)
    EXPECT(6, stui)
    EXPECT(6, uiret)
    EXPECT(6, senduipi %rax)
    mov $msg_nouintr, %rsi
    call puts
    mov $0, %al
    jmp do_exit
have_uintr:
    /* #UD before CR4.UINTR */
    EXPECT(6, stui)
    EXPECT(6, testui)
    /* MSR checks */
    mov $0x985, %ecx
    rdmsr
    CHECK_EQ(%rax, $0)
    mov $0x989, %ecx
    mov $0x1001, %eax
    xor %edx, %edx
    EXPECT(13, wrmsr)
    mov $0x98A, %ecx
    mov $0x1002, %eax
    EXPECT(13, wrmsr)
    mov $0x988, %ecx
    xor %eax, %eax
    mov $0x100, %edx
    EXPECT(13, wrmsr)
    mov $0x986, %ecx
    xor %eax, %eax
    mov $0x01000000, %edx
    EXPECT(13, wrmsr)
    mov $0x987, %ecx
    EXPECT(13, wrmsr)

    /* CR4.UINTR */
    mov %cr4, %rax
    bts $25, %rax
    mov %rax, %cr4
    testui
    jnc 1f
    movq $__LINE__, fail_line
    jmp fail
1:
    /* APIC software enable */
    mov $APIC, %ebx
    movl $0x1FF, 0xF0(%rbx)
    mov 0x20(%rbx), %eax
    shr $24, %eax
    shl $8, %eax             /* NDST[15:8] = APIC ID */
    shl $32, %rax
    or $(UINV << 16), %rax
    mov %rax, upid
    movq $0, upid+8

    /* UITT: 0 -> UV 5, 1 -> UV 63, 2 -> UV 0, 3 -> UV 64 (reserved) */
    movq $0x0501, uitt
    movq $upid, uitt+8
    movq $0x3F01, uitt+16
    movq $upid, uitt+24
    movq $0x0001, uitt+32
    movq $upid, uitt+40
    movq $0x4001, uitt+48
    movq $upid, uitt+56
    movq $0x2A01, uitt+64
    movq $ap_upid, uitt+72

    mov $0x986, %ecx
    mov $uhandler, %eax
    xor %edx, %edx
    wrmsr
    mov $0x987, %ecx
    mov $128, %eax
    wrmsr
    mov $0x988, %ecx
    mov $4, %eax
    mov $UINV, %edx
    wrmsr
    mov $0x989, %ecx
    mov $upid, %eax
    xor %edx, %edx
    wrmsr
    mov $0x98A, %ecx
    mov $uitt, %eax
    wrmsr                    /* SENDUIPI disabled */
    xor %eax, %eax
    EXPECT(6, senduipi %rax)
    mov $0x98A, %ecx
    mov $uitt+1, %eax
    xor %edx, %edx
    wrmsr

    /* notification processed at CPL 0: UIRR gets bit 5, no delivery */
    stui
    xor %r9d, %r9d
    senduipi %r9
    sti
    nop
    nop
    cli
    mov $0x985, %ecx
    rdmsr
    CHECK_EQ(%rax, $0x20)
    CHECK_EQ(upid+8, $0)
    mov upid, %rax
    and $3, %eax
    CHECK_EQ(%rax, $0)
    CHECK_EQ(ngot, $0)

    call start_ap

    /* to ring 3: delivery must happen before the first user instruction */
    pushq $0x1B
    pushq $ustack_top
    pushq $0x3202            /* IF, IOPL 3 */
    pushq $0x23
    pushq $user_entry
    iretq

user_entry:
    nop
    CHECK_EQ(ngot, $1)
    CHECK_EQ(got, $5)
    CHECK_EQ(got_rip, $user_entry)
    CHECK_EQ(stack_bad, $0)
    /* vector 63 through r15 */
    mov $1, %r15d
    senduipi %r15
    nop
    CHECK_EQ(ngot, $2)
    CHECK_EQ(got+8, $63)
    /* UIF = 0 blocks delivery; highest vector first after STUI */
    clui
    mov $1, %edi
    senduipi %rdi
    mov $2, %r8d
    senduipi %r8
    nop
    nop
    testui
    jnc 1f
    movq $__LINE__, fail_line
    jmp fail
1:  CHECK_EQ(ngot, $2)
    stui
    CHECK_EQ(ngot, $4)
    CHECK_EQ(got+16, $63)
    CHECK_EQ(got+24, $0)
    /* SN suppresses the notification */
    orq $2, upid
    xor %eax, %eax
    senduipi %rax
    nop
    nop
    CHECK_EQ(ngot, $4)
    CHECK_EQ(upid+8, $0x20)
    andq $~2, upid
    senduipi %rax
    nop
    CHECK_EQ(ngot, $5)
    CHECK_EQ(got+32, $5)
    CHECK_EQ(upid+8, $0)
    /* faults */
    mov $3, %eax
    EXPECT(13, senduipi %rax)
    mov $5, %eax
    EXPECT(13, senduipi %rax)
    /* absolute STACKADJUST */
    mov $0x987, %edi
    mov $(alt_stack_top + 8 + 1), %esi
    int $0x81
    movq $(alt_stack_top + 8), sa_abs
    xor %eax, %eax
    senduipi %rax
    nop
    CHECK_EQ(ngot, $6)
    CHECK_EQ(stack_bad, $0)
    /* #PF on the delivery pushes: state unchanged, retried after the fix */
    mov $0x987, %edi
    mov $0x3FF00001, %esi
    int $0x81
    movq $0x3FF00000, sa_abs
    movq $1, pf_fixup
    xor %eax, %eax
    senduipi %rax
pf_here:
    nop
    CHECK_EQ(pf_fixup, $0)
    CHECK_EQ(pf_cr2, $0x3FEFFFF8)
    CHECK_EQ(pf_uirr, $0x20)
    CHECK_EQ(pf_uif, $1)
    CHECK_EQ(pf_rip, $pf_here)
    CHECK_EQ(ngot, $7)
    CHECK_EQ(stack_bad, $0)
    /* back to the red-zone adjust */
    mov $0x987, %edi
    mov $128, %esi
    int $0x81
    movq $0, sa_abs
    /* cross-CPU: UITT entry 4 targets the AP's UPID, vector 42 */
    cmpq $0, ap_ready
    je 9f
    mov $4, %eax
    senduipi %rax
    mov $100000000, %ecx
1:  cmpq $0, ap_got
    jne 2f
    pause
    dec %ecx
    jnz 1b
2:  CHECK_EQ(ap_got, $1)
    CHECK_EQ(ap_vec, $42)
    mov $4, %eax
    senduipi %rax
    mov $100000000, %ecx
1:  cmpq $2, ap_got
    jae 2f
    pause
    dec %ecx
    jnz 1b
2:  CHECK_EQ(ap_got, $2)
    CHECK_EQ(ap_bad, $0)
9:
    testui
    jc 1f
    movq $__LINE__, fail_line
    jmp fail
1:
    movq $1, user_done
    int $0x80

/* user-interrupt handler (ring 3) */
uhandler:
    push %rax
    push %rbx
    mov ngot, %rbx
    mov 16(%rsp), %rax       /* vector */
    mov %rax, got(,%rbx,8)
    mov 24(%rsp), %rax       /* return RIP */
    cmp $0, %rbx
    jne 1f
    mov %rax, got_rip
1:  incq ngot
    /* old RSP at +40; frame base must be ((old - 128) & ~15) - 32 */
    mov 40(%rsp), %rax
    sub $128, %rax
    cmpq $0, sa_abs
    je 4f
    mov sa_abs, %rax
4:  and $~15, %rax
    sub $32, %rax
    lea 16(%rsp), %rbx
    cmp %rax, %rbx
    je 2f
    movq $1, stack_bad
2:  testui
    jnc 3f
    movq $1, stack_bad       /* UIF must be 0 in the handler */
3:  pop %rbx
    pop %rax
    add $8, %rsp
    uiret

/* ---- kernel side ---- */
isr_common:
    push %rax
    push %rbx
    mov 16(%rsp), %rax
    mov 24(%rsp), %rbx
    cmp $0x80, %rax
    je finish
    cmp $UINV, %rax
    je bad_uinv
    cmp $14, %rax
    jne 5f
    cmpq $0, pf_fixup
    je 5f
    jmp pf_fix
5:  mov %rax, last_vec
    mov %rbx, last_err
    mov recover_rip, %rax
    test %rax, %rax
    jz fatal
    mov %rax, 32(%rsp)
    movq $0, recover_rip
    pop %rbx
    pop %rax
    add $16, %rsp
    iretq
pf_fix:
    /* delivery push faulted: record state, restore STACKADJUST, retry */
    push %rcx
    push %rdx
    mov %cr2, %rax
    mov %rax, pf_cr2
    mov 48(%rsp), %rax
    mov %rax, pf_rip
    mov $0x985, %ecx
    rdmsr
    shl $32, %rdx
    or %rdx, %rax
    mov %rax, pf_uirr
    xor %eax, %eax
    testui
    setc %al
    mov %rax, pf_uif
    mov $0x987, %ecx
    mov $128, %eax
    xor %edx, %edx
    wrmsr
    movq $0, sa_abs
    movq $0, pf_fixup
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp
    iretq
isr_wrmsr:
    push %rax
    push %rcx
    push %rdx
    mov %edi, %ecx
    mov %rsi, %rax
    mov %rsi, %rdx
    shr $32, %rdx
    wrmsr
    pop %rdx
    pop %rcx
    pop %rax
    iretq

/* start the AP (if any) with INIT-SIPI; it runs ap_user in ring 3 */
start_ap:
    mov $ap_tramp, %rsi
    mov $0x8000, %rdi
    mov $(ap_tramp_end - ap_tramp), %rcx
    rep movsb
    mov $ap_tss, %rax
    movw $0x67, gdt_tss2
    movw %ax, gdt_tss2+2
    shr $16, %rax
    movb %al, gdt_tss2+4
    movb $0x89, gdt_tss2+5
    movb $0, gdt_tss2+6
    movb %ah, gdt_tss2+7
    movq $ap_kstack_top, ap_tss+4
    mov $APIC, %ebx
    movl $0x000C4500, 0x300(%rbx)     /* INIT, all excluding self */
    mov $100000, %ecx
1:  dec %ecx
    jnz 1b
    movl $0x000C4608, 0x300(%rbx)     /* SIPI, vector 0x08 -> 0x8000 */
    mov $100000, %ecx
1:  dec %ecx
    jnz 1b
    movl $0x000C4608, 0x300(%rbx)
    mov $50000000, %ecx
1:  cmpq $0, ap_ready
    jne 2f
    pause
    dec %ecx
    jnz 1b
2:  ret

    .code16
ap_tramp:
    cli
    xor %ax, %ax
    mov %ax, %ds
    lgdtl 0x8000 + (ap_gdtr - ap_tramp)
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x38, $(0x8000 + (ap_pm32 - ap_tramp))
    .code32
ap_pm32:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov %cr4, %eax
    or $0x620, %eax
    mov %eax, %cr4
    mov $pml4, %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx
    rdmsr
    or $0x101, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax
    mov %eax, %cr0
    ljmp $0x08, $ap_long
    .align 4
ap_gdtr:
    .word gdt_end - gdt - 1
    .long gdt
ap_tramp_end:
    .code64
ap_long:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    lock btsq $0, ap_claim   /* only the first AP takes part */
    jnc 1f
2:  cli
    hlt
    jmp 2b
1:  mov $ap_kstack_top, %rsp
    lidt idtr
    mov $0x40, %ax
    ltr %ax
    mov %cr4, %rax
    bts $25, %rax
    mov %rax, %cr4
    mov $APIC, %ebx
    movl $0x1FF, 0xF0(%rbx)
    mov 0x20(%rbx), %eax
    shr $24, %eax
    shl $8, %eax
    shl $32, %rax
    or $(UINV << 16), %rax
    mov %rax, ap_upid
    movq $0, ap_upid+8
    mov $0x986, %ecx
    mov $ap_uhandler, %eax
    xor %edx, %edx
    wrmsr
    mov $0x987, %ecx
    mov $128, %eax
    wrmsr
    mov $0x988, %ecx
    xor %eax, %eax
    mov $UINV, %edx
    wrmsr
    mov $0x989, %ecx
    mov $ap_upid, %eax
    xor %edx, %edx
    wrmsr
    stui
    movq $1, ap_ready
    pushq $0x1B
    pushq $ap_ustack_top
    pushq $0x3202
    pushq $0x23
    pushq $ap_user
    iretq
ap_user:
    pause
    jmp ap_user
ap_uhandler:
    push %rax
    mov 8(%rsp), %rax
    mov %rax, ap_vec
    incq ap_got
    testui
    jnc 1f
    movq $1, ap_bad
1:  pop %rax
    add $8, %rsp
    uiret

fatal:
    mov $msg_fatal, %rsi
    call puts
    mov 16(%rsp), %rax
    call puthex
    mov 24(%rsp), %rax
    call puthex
    mov 32(%rsp), %rax
    call puthex
    jmp fail_exit
bad_uinv:
    mov $msg_uinv, %rsi
    call puts
    jmp fail_exit

finish:
    cmpq $0, ap_ready
    je 1f
    mov $msg_smp, %rsi
    call puts
1:  mov $msg_pass, %rsi
    call puts
    mov $0, %al
    jmp do_exit
fail:
    mov $msg_fail, %rsi
    call puts
    mov fail_line, %rax
    call puthex
fail_exit:
    mov $1, %al
do_exit:
    mov $0xf4, %dx
    out %al, %dx
    cli
    hlt
    jmp do_exit

putc:
    push %rdx
    push %rax
    mov $0x3fd, %dx
1:  in %dx, %al
    test $0x20, %al
    jz 1b
    pop %rax
    mov $0x3f8, %dx
    out %al, %dx
    pop %rdx
    ret
puts:
    lodsb
    test %al, %al
    jz 1f
    call putc
    jmp puts
1:  ret
puthex:
    mov $16, %ecx
    mov %rax, %rbx
1:  rol $4, %rbx
    mov %bl, %al
    and $15, %al
    add $'0', %al
    cmp $'9', %al
    jbe 2f
    add $7, %al
2:  call putc
    dec %ecx
    jnz 1b
    mov $'\n', %al
    call putc
    ret

    .altmacro
    .macro stub n
isr\n:
    .if (\n == 8) || ((\n >= 10) && (\n <= 14)) || (\n == 17)
    .else
    pushq $0
    .endif
    pushq $\n
    jmp isr_common
    .endm
    .set i, 0
    .rept 32
    stub %i
    .set i, i+1
    .endr
    stub 128
isr_uinv:
    pushq $0
    pushq $UINV
    jmp isr_common
isr_other:
    pushq $0
    pushq $0x1FF
    jmp isr_common

    .macro tabent n
    .quad isr\n
    .endm
    .section .rodata
    .align 8
isr_table:
    .set i, 0
    .rept 32
    tabent %i
    .set i, i+1
    .endr
msg_hello: .asciz "uintr smoke start\n"
msg_pass:  .asciz "UINTR SMOKE PASS\n"
msg_nouintr: .asciz "NO-UINTR FAULT CHECKS PASS\n"
msg_smp:   .asciz "cross-CPU SENDUIPI ok\n"
msg_fail:  .asciz "UINTR SMOKE FAIL at line "
msg_fatal: .asciz "unexpected exception vec/err/rip:\n"
msg_uinv:  .asciz "UINV delivered through IDT\n"

    .data
    .align 16
gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF
    .quad 0x00CF92000000FFFF
    .quad 0x00CFF2000000FFFF
    .quad 0x00AFFA000000FFFF
gdt_tss:
    .quad 0, 0
    .quad 0x00CF9A000000FFFF
gdt_tss2:
    .quad 0, 0
gdt_end:
gdtr:
    .word gdt_end - gdt - 1
    .quad gdt
    .align 16
idtr:
    .word 4095
    .quad idt
last_vec: .quad 0
last_err: .quad 0
recover_rip: .quad 0
fail_line: .quad 0
ngot: .quad 0
got: .quad 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0
got_rip: .quad 0
stack_bad: .quad 0
user_done: .quad 0
sa_abs: .quad 0
pf_fixup: .quad 0
pf_cr2: .quad 0
pf_rip: .quad 0
pf_uirr: .quad 0
pf_uif: .quad 0
ap_ready: .quad 0
ap_got: .quad 0
ap_vec: .quad 0
ap_bad: .quad 0
ap_claim: .quad 0

    .bss
    .align 4096
pml4: .skip 4096
pdpt: .skip 4096
pd:   .skip 4096*4
idt:  .skip 4096
tss:  .skip 4096
upid: .skip 4096
uitt: .skip 4096
      .skip 16384
kstack_top:
      .skip 16384
ustack_top:
      .skip 16384
alt_stack_top:
      .skip 16384
ap_kstack_top:
      .skip 16384
ap_ustack_top:
ap_tss: .skip 4096
ap_upid: .skip 4096
