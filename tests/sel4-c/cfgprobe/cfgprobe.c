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
 *   - Untyped_Retype's fan-out limit (KernelRetypeFanOutLimit).
 * Each check prints "cfgprobe NAME ok" or "cfgprobe NAME FAILED: why", then
 * "cfgprobe done: P passed, F failed", through seL4_DebugPutChar (so it
 * needs a debug configuration), and the program ends with seL4_DebugHalt.
 * Links libsel4 and sel4runtime only.
 */

#include <sel4/sel4.h>
#include <sel4runtime.h>

static void out_str(const char *s)
{
    while (*s) {
        seL4_DebugPutChar(*s++);
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
        seL4_DebugPutChar(buf[--n]);
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
    seL4_DebugHalt();
    for (;;) {
    }
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

#define ROOT seL4_CapInitThreadCNode
#define DEPTH seL4_WordBits

int main(int argc, char **argv)
{
    seL4_BootInfo *bi = sel4runtime_bootinfo();
    (void)argc;
    (void)argv;
    if (bi == (seL4_BootInfo *)0) {
        out_str("cfgprobe: no bootinfo\n");
        seL4_DebugHalt();
    }

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

    out_str("cfgprobe done: ");
    out_dec((seL4_Word)passed);
    out_str(" passed, ");
    out_dec((seL4_Word)failed);
    out_str(" failed\n");
    seL4_DebugHalt();
    return 0;
}
