/*
 * cfgprobe: a seL4 root server that checks that the kernel it runs on was
 * built for the configuration the program itself was compiled for. It is
 * built with seL4's CMake flow for non-default option values (see
 * tests/src/sel4test.rs) and compares what the kernel does with what the
 * generated configuration (CONFIG_*) says:
 *   - bootinfo: the root CNode radix and the empty region's end
 *     (KernelRootCNodeSizeBits), the number of untyped descriptors
 *     (KernelMaxNumBootinfoUntypedCaps) and that each one is well formed;
 *   - the highest priority (KernelNumPriorities): seL4_MaxPrio is accepted,
 *     one more is a range error;
 *   - the root CNode's last slot is usable and the one after it is not;
 *   - Untyped_Retype's fan-out limit (KernelRetypeFanOutLimit);
 *   - without KernelPrinting and KernelDebugBuild (a release build), that
 *     the debug syscalls are gone: a thread that makes one takes an
 *     unknown-syscall fault, as on a release seL4 kernel.
 * Each check prints "cfgprobe NAME ok" or "cfgprobe NAME FAILED: why", then
 * "cfgprobe done: P passed, F failed": through seL4_DebugPutChar when the
 * configuration has it, else to COM1 through an I/O port capability. A debug
 * build ends with seL4_DebugHalt, a release build by suspending itself.
 * Links libsel4 and sel4runtime only.
 */

#include <sel4/sel4.h>
#include <sel4runtime.h>

#define ROOT seL4_CapInitThreadCNode
#define DEPTH seL4_WordBits
#define COM1 0x3f8

#ifdef CONFIG_PRINTING
static void put_char(char c)
{
    seL4_DebugPutChar(c);
}
#else
/* An I/O port capability for COM1 (QEMU's UART prints what is written). */
static seL4_CPtr serial;

static void put_char(char c)
{
    if (serial != seL4_CapNull) {
        seL4_X86_IOPort_Out8(serial, COM1, (seL4_Word)(unsigned char)c);
    }
}
#endif

static void finish(void)
{
#ifdef CONFIG_DEBUG_BUILD
    seL4_DebugHalt();
#endif
    seL4_TCB_Suspend(seL4_CapInitThreadTCB);
    for (;;) {
    }
}

static void out_str(const char *s)
{
    while (*s) {
        put_char(*s++);
    }
}

static void out_dec(seL4_Word v)
{
    char buf[24];
    int n = 0;
    do {
        buf[n++] = (char)('0' + (v % 10));
        v /= 10;
    } while (v != 0);
    while (n > 0) {
        put_char(buf[--n]);
    }
}

/* The two libc functions libsel4 and sel4runtime call. */
void __assert_fail(const char *str, const char *file, int line, const char *function)
{
    (void)file;
    (void)line;
    out_str("cfgprobe: assertion failed: ");
    out_str(str);
    out_str(" in ");
    out_str(function);
    out_str("\n");
    finish();
}

char *strcpy(char *dst, const char *src)
{
    char *d = dst;
    while ((*d++ = *src++) != 0) {
    }
    return dst;
}

static int passed, failed;

static void check(const char *name, int ok, const char *why)
{
    out_str("cfgprobe ");
    out_str(name);
    if (ok) {
        out_str(" ok\n");
        passed++;
    } else {
        out_str(" FAILED: ");
        out_str(why);
        out_str("\n");
        failed++;
    }
}

static void fact(const char *name, seL4_Word v)
{
    out_str("cfgprobe fact ");
    out_str(name);
    out_str("=");
    out_dec(v);
    out_str("\n");
}

#ifndef CONFIG_DEBUG_BUILD
/* A thread that makes the syscall whose number it finds in rbx and, since
 * the number is unknown here, faults; its handler never lets it go on. */
static void unknown_syscall_thread(void)
{
    asm volatile("mov %%rbx, %%rdx\n\tsyscall" : : : "rdx", "rcx", "r11", "memory");
    for (;;) {
    }
}

static char thread_stack[4096] __attribute__((aligned(16)));

/* Starts a thread making syscall `number` with `fault_ep` as its fault
 * handler; returns whether its fault arrived as an unknown syscall of that
 * number. */
static int debug_syscall_faults(seL4_CPtr ut, seL4_CPtr tcb, seL4_CPtr fault_ep, seL4_Word number)
{
    seL4_Error e = seL4_Untyped_Retype(ut, seL4_TCBObject, 0, ROOT, 0, 0, tcb, 1);
    e = e ? e : seL4_TCB_Configure(tcb, fault_ep, ROOT, 0, seL4_CapInitThreadVSpace, 0, 0, seL4_CapNull);
    e = e ? e : seL4_TCB_SetPriority(tcb, seL4_CapInitThreadTCB, seL4_MaxPrio - 1);
    seL4_UserContext regs = {0};
    regs.rip = (seL4_Word)unknown_syscall_thread;
    regs.rsp = (seL4_Word)(thread_stack + sizeof(thread_stack) - 8);
    regs.rbx = number;
    e = e ? e : seL4_TCB_WriteRegisters(tcb, 1, 0, 5, &regs);
    if (e != seL4_NoError) {
        return 0;
    }
    seL4_MessageInfo_t info = seL4_Recv(fault_ep, (seL4_Word *)0);
    int ok = seL4_MessageInfo_get_label(info) == seL4_Fault_UnknownSyscall &&
             seL4_GetMR(seL4_UnknownSyscall_Syscall) == number;
    seL4_CNode_Delete(ROOT, tcb, DEPTH);
    return ok;
}
#endif

int main(int argc, char **argv)
{
    seL4_BootInfo *bi = sel4runtime_bootinfo();
    (void)argc;
    (void)argv;
    if (bi == (seL4_BootInfo *)0) {
        finish();
    }
    /* Slots for the program's own caps, after the ones retype uses. */
    seL4_CPtr mine = bi->empty.start + CONFIG_RETYPE_FAN_OUT_LIMIT + 1;
    (void)mine;
#ifndef CONFIG_PRINTING
    if (seL4_X86_IOPortControl_Issue(seL4_CapIOPortControl, COM1, COM1 + 7, ROOT, mine, DEPTH) == seL4_NoError) {
        serial = mine;
    }
#endif

    seL4_Word slots = (seL4_Word)1 << CONFIG_ROOT_CNODE_SIZE_BITS;
    seL4_Word untypeds = bi->untyped.end - bi->untyped.start;
    fact("CONFIG_ROOT_CNODE_SIZE_BITS", CONFIG_ROOT_CNODE_SIZE_BITS);
    fact("initThreadCNodeSizeBits", bi->initThreadCNodeSizeBits);
    fact("empty.end", bi->empty.end);
    fact("CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS", CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS);
    fact("untypeds", untypeds);
    seL4_Word device = 0;
    for (seL4_Word i = 0; i < untypeds && i < CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS; i++) {
        device += bi->untypedList[i].isDevice;
    }
    fact("device_untypeds", device);
    fact("CONFIG_NUM_PRIORITIES", CONFIG_NUM_PRIORITIES);
    fact("CONFIG_RETYPE_FAN_OUT_LIMIT", CONFIG_RETYPE_FAN_OUT_LIMIT);

    check("root_cnode_radix", bi->initThreadCNodeSizeBits == CONFIG_ROOT_CNODE_SIZE_BITS,
          "bootinfo's initThreadCNodeSizeBits is not KernelRootCNodeSizeBits");
    check("empty_region_runs_to_the_end", bi->empty.end == slots,
          "the empty slot region does not end at 2^KernelRootCNodeSizeBits");

    /* More untypeds than the limit exist under QEMU with 3 GiB, so the
     * kernel must fill exactly the configured number of descriptors. */
    check("untyped_descriptors_up_to_the_limit", untypeds == CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS,
          "the number of untyped caps is not KernelMaxNumBootinfoUntypedCaps");
    int well_formed = untypeds <= CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS;
    for (seL4_Word i = 0; well_formed && i < untypeds; i++) {
        seL4_UntypedDesc *d = &bi->untypedList[i];
        well_formed = d->sizeBits >= seL4_MinUntypedBits && d->sizeBits <= seL4_MaxUntypedBits && d->isDevice <= 1;
    }
    check("untyped_descriptors_well_formed", well_formed, "an untyped descriptor has an impossible size or flag");

    /* The root thread runs at, and may grant up to, seL4_MaxPrio. */
    seL4_Error e = seL4_TCB_SetPriority(seL4_CapInitThreadTCB, seL4_CapInitThreadTCB, seL4_MaxPrio);
    check("max_priority_accepted", e == seL4_NoError, "seL4_MaxPrio (KernelNumPriorities - 1) was refused");
    e = seL4_TCB_SetPriority(seL4_CapInitThreadTCB, seL4_CapInitThreadTCB, seL4_MaxPrio + 1);
    check("priority_above_max_refused", e == seL4_RangeError && seL4_GetMR(1) == seL4_MaxPrio,
          "seL4_MaxPrio + 1 must be a range error up to seL4_MaxPrio");

    /* The last slot of the root CNode exists; the next index does not. */
    e = seL4_CNode_Copy(ROOT, slots - 1, DEPTH, ROOT, seL4_CapInitThreadTCB, DEPTH, seL4_AllRights);
    check("last_root_slot_usable", e == seL4_NoError, "copying into slot 2^bits - 1 failed");
    e = seL4_CNode_Copy(ROOT, slots, DEPTH, ROOT, seL4_CapInitThreadTCB, DEPTH, seL4_AllRights);
    check("slot_past_the_end_refused", e == seL4_FailedLookup, "slot 2^bits must not resolve");
    seL4_CNode_Delete(ROOT, slots - 1, DEPTH);

    /* Retype: one object past the fan-out limit is a range error naming
     * the limit; exactly the limit is fine. */
    seL4_CPtr ut = 0;
    for (seL4_Word i = 0; i < untypeds && ut == 0; i++) {
        if (!bi->untypedList[i].isDevice && bi->untypedList[i].sizeBits >= 16) {
            ut = bi->untyped.start + i;
        }
    }
    seL4_Word limit = CONFIG_RETYPE_FAN_OUT_LIMIT;
    e = seL4_Untyped_Retype(ut, seL4_EndpointObject, 0, ROOT, 0, 0, bi->empty.start, limit + 1);
    check("retype_past_the_fan_out_limit_refused", ut != 0 && e == seL4_RangeError && seL4_GetMR(1) == limit,
          "retyping KernelRetypeFanOutLimit + 1 objects must be a range error up to the limit");
    e = seL4_Untyped_Retype(ut, seL4_EndpointObject, 0, ROOT, 0, 0, bi->empty.start, limit);
    check("retype_at_the_fan_out_limit", ut != 0 && e == seL4_NoError, "retyping KernelRetypeFanOutLimit objects failed");

#ifndef CONFIG_DEBUG_BUILD
    /* DebugPutChar (-9) and DebugHalt (-11) are unknown syscalls here. */
    seL4_Untyped_Retype(ut, seL4_EndpointObject, 0, ROOT, 0, 0, mine + 2, 1);
    check("debug_put_char_is_an_unknown_syscall", ut != 0 && debug_syscall_faults(ut, mine + 1, mine + 2, (seL4_Word)-9),
          "syscall -9 did not fault as an unknown syscall");
    check("debug_halt_is_an_unknown_syscall", ut != 0 && debug_syscall_faults(ut, mine + 1, mine + 2, (seL4_Word)-11),
          "syscall -11 did not fault as an unknown syscall");
#endif

    out_str("cfgprobe done: ");
    out_dec((seL4_Word)passed);
    out_str(" passed, ");
    out_dec((seL4_Word)failed);
    out_str(" failed\n");
    finish();
    return 0;
}
