/*
 * capdemo: a small seL4 root server that walks through CNode and Untyped
 * invocations (successful and failing ones) and prints the kernel's answers.
 *
 * The output is meant to be compared line by line between two kernels that
 * implement the seL4 API, so it only prints values that must agree across
 * correct implementations (no physical addresses, no memory totals), and it
 * prints through seL4_DebugPutChar only, so nothing depends on a libc.
 * It links against libsel4 and sel4runtime only; the two libc symbols those
 * need (__assert_fail, strcpy) are defined below.
 *
 * Every step line has the form
 *   step N <name>: err=<seL4_Error> mr0=0x.. mr1=0x.. mr2=0x.. mr3=0x.. [cap[slot]=<type> ...]
 * where err is the invocation's result, mrK is seL4_GetMR(K) right after the
 * call (MRs 0..3 are cleared before every call, so on success they read 0 for
 * the generated stubs) and cap[slot] is seL4_DebugCapIdentify(slot).
 * A few lines add " mr4=.." (guard-mismatch lookup faults carry a 4th word)
 * or " len=.." (the reply length, for the hand-built seL4_Call steps).
 *
 * Note: when the kernel's error reply has fewer than 4 MRs, the remaining
 * mrK values are whatever the kernel left in the message registers; stock
 * seL4 leaves the caller's argument registers untouched, so they echo the
 * call's first arguments.
 */

#include <sel4/sel4.h>
#include <sel4runtime.h>

/* ---------- tiny output helpers (seL4_DebugPutChar only) ---------- */

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

static void out_hex(seL4_Word v)
{
    static const char digits[] = "0123456789abcdef";
    char buf[20];
    int n = 0;
    do {
        buf[n++] = digits[v & 0xf];
        v >>= 4;
    } while (v != 0);
    out_str("0x");
    while (n > 0) {
        seL4_DebugPutChar(buf[--n]);
    }
}

static void out_nl(void)
{
    seL4_DebugPutChar('\n');
}

static void fact(const char *name, seL4_Word v)
{
    out_str(name);
    out_str("=");
    out_dec(v);
}

/* ---------- the two libc symbols libsel4/sel4runtime refer to ---------- */

/* libsel4's bitfield constructors assert on their arguments. */
void __assert_fail(const char *str, const char *file, int line, const char *function)
{
    out_str("capdemo: assertion failed: ");
    out_str(str);
    out_str(" in ");
    out_str(function);
    out_nl();
    seL4_DebugHalt();
    for (;;) {
    }
}

/* seL4_DebugNameThread (used by sel4runtime) copies the name with strcpy. */
char *strcpy(char *dst, const char *src)
{
    char *d = dst;
    while ((*d++ = *src++) != 0) {
    }
    return dst;
}

/* ---------- step reporting ---------- */

static int step_no;

/* Clear MRs 0..3 so that stale values never leak into a step's report. */
static void clear_mrs(void)
{
    seL4_SetMR(0, 0);
    seL4_SetMR(1, 0);
    seL4_SetMR(2, 0);
    seL4_SetMR(3, 0);
}

/* Start a step line: "step N name: err=E mr0=.. mr1=.. mr2=.. mr3=.." */
static void step(const char *name, seL4_Word err)
{
    seL4_Word m0 = seL4_GetMR(0), m1 = seL4_GetMR(1);
    seL4_Word m2 = seL4_GetMR(2), m3 = seL4_GetMR(3);

    step_no++;
    out_str("step ");
    out_dec((seL4_Word)step_no);
    out_str(" ");
    out_str(name);
    out_str(": err=");
    out_dec(err);
    out_str(" mr0=");
    out_hex(m0);
    out_str(" mr1=");
    out_hex(m1);
    out_str(" mr2=");
    out_hex(m2);
    out_str(" mr3=");
    out_hex(m3);
}

/* Append " cap[slot]=type" to the current step line. */
static void cap(seL4_CPtr slot)
{
    seL4_Word type = seL4_DebugCapIdentify(slot);
    out_str(" cap[");
    out_dec(slot);
    out_str("]=");
    out_dec(type);
}

/* Append " mrK=value" (used where the kernel's reply is longer than 4 MRs). */
static void mr(int k)
{
    out_str(" mr");
    out_dec((seL4_Word)k);
    out_str("=");
    out_hex(seL4_GetMR(k));
}

/* Finish the step line. */
static void done(void)
{
    out_nl();
}

/* ---------- the demo ---------- */

#define ROOT  seL4_CapInitThreadCNode
#define DEPTH seL4_WordBits

static seL4_CPtr next_free;
static seL4_CPtr free_end;

static seL4_CPtr alloc_slots(seL4_Word n)
{
    seL4_CPtr s = next_free;
    if (next_free + n > free_end) {
        out_str("capdemo: out of empty slots");
        out_nl();
        seL4_DebugHalt();
        for (;;) {
        }
    }
    next_free += n;
    return s;
}

static seL4_CPtr alloc_slot(void)
{
    return alloc_slots(1);
}

static seL4_Error retype(seL4_CPtr ut, seL4_Word type, seL4_Word size_bits,
                         seL4_CPtr dest, seL4_Word num)
{
    clear_mrs();
    return seL4_Untyped_Retype(ut, type, size_bits, ROOT, 0, 0, dest, num);
}

static seL4_Error copy(seL4_CPtr dest, seL4_CPtr src)
{
    clear_mrs();
    return seL4_CNode_Copy(ROOT, dest, DEPTH, ROOT, src, DEPTH, seL4_AllRights);
}

int main(int argc, char **argv)
{
    seL4_BootInfo *bi = sel4runtime_bootinfo();
    seL4_Error e;
    seL4_Word i, n_ut, chosen = ~0ul;

    (void)argc;
    (void)argv;

    out_str("capdemo start");
    out_nl();
    if (bi == (seL4_BootInfo *)0) {
        out_str("capdemo: no bootinfo");
        out_nl();
        seL4_DebugHalt();
        return 1;
    }

    /* Bootinfo facts that must agree between kernels. */
    out_str("info bootinfo ");
    fact("empty.start", bi->empty.start);
    out_str(" ");
    fact("empty.end", bi->empty.end);
    out_nl();
    out_str("info bootinfo ");
    fact("userImageFrames.start", bi->userImageFrames.start);
    out_str(" ");
    fact("userImageFrames.end", bi->userImageFrames.end);
    out_nl();
    out_str("info bootinfo ");
    fact("userImagePaging.start", bi->userImagePaging.start);
    out_str(" ");
    fact("userImagePaging.end", bi->userImagePaging.end);
    out_nl();
    n_ut = bi->untyped.end - bi->untyped.start;
    out_str("info bootinfo ");
    fact("untyped.start", bi->untyped.start);
    out_str(" ");
    fact("untyped.end", bi->untyped.end);
    out_str(" ");
    fact("count", n_ut);
    out_nl();
    out_str("info bootinfo ");
    fact("initThreadCNodeSizeBits", bi->initThreadCNodeSizeBits);
    out_nl();

    /* The first non-device untyped of at least 4 MiB. */
    for (i = 0; i < n_ut; i++) {
        if (!bi->untypedList[i].isDevice && bi->untypedList[i].sizeBits >= 22) {
            chosen = i;
            break;
        }
    }
    if (chosen == ~0ul) {
        out_str("capdemo: no suitable untyped");
        out_nl();
        seL4_DebugHalt();
        return 1;
    }
    out_str("info untyped ");
    fact("index", chosen);
    out_str(" ");
    fact("sizeBits", bi->untypedList[chosen].sizeBits);
    out_str(" ");
    fact("isDevice", bi->untypedList[chosen].isDevice);
    out_nl();

    /* Work at fixed slots well inside the empty region, with a copy of
     * the chosen untyped at a fixed slot too, so that every slot number
     * the steps print or pass (and seL4 echoes back in unused message
     * registers) is the same on any kernel, however many untypeds it
     * hands out. */
    const seL4_CPtr fixed_base = 4096;
    if (bi->empty.start > fixed_base - 1 || bi->empty.end < fixed_base + 1024) {
        out_str("capdemo: empty region does not cover the fixed slots");
        out_nl();
        seL4_DebugHalt();
        return 1;
    }
    const seL4_CPtr ut = fixed_base - 1;
    if (copy(ut, bi->untyped.start + chosen) != seL4_NoError) {
        out_str("capdemo: could not copy the chosen untyped");
        out_nl();
        seL4_DebugHalt();
        return 1;
    }
    const seL4_Word cnode_slots = 1ul << bi->initThreadCNodeSizeBits;
    next_free = fixed_base;
    free_end = bi->empty.end;

    /* Slots used below (all taken from bootinfo->empty, in this order). */
    const seL4_CPtr s_ut4k  = alloc_slot();    /* 4 KiB child untyped          */
    const seL4_CPtr s_tcb   = alloc_slot();
    const seL4_CPtr s_ep    = alloc_slot();
    const seL4_CPtr s_ntfn  = alloc_slot();
    const seL4_CPtr s_cn    = alloc_slot();    /* CNode, radix 4               */
    const seL4_CPtr s_pdpt  = alloc_slot();
    const seL4_CPtr s_pml4  = alloc_slot();
    const seL4_CPtr s_frame = alloc_slot();
    const seL4_CPtr s_pt    = alloc_slot();
    const seL4_CPtr s_pd    = alloc_slot();
    const seL4_CPtr s_large = alloc_slot();
    const seL4_CPtr s_fan   = alloc_slots(16); /* 16-object fan-out            */
    const seL4_CPtr s_copy  = alloc_slot();
    const seL4_CPtr s_mint  = alloc_slot();
    const seL4_CPtr s_mint2 = alloc_slot();
    const seL4_CPtr s_moved = alloc_slot();
    const seL4_CPtr s_cnm   = alloc_slot();    /* mutated (guarded) CNode cap  */
    const seL4_CPtr s_rot   = alloc_slot();
    const seL4_CPtr s_rot2  = alloc_slot();
    const seL4_CPtr s_bep   = alloc_slot();    /* badged, full rights          */
    const seL4_CPtr s_rep   = alloc_slot();    /* badged, reduced rights       */
    const seL4_CPtr s_save  = alloc_slot();
    const seL4_CPtr s_none  = alloc_slot();    /* never filled                 */
    const seL4_CPtr s_dst   = alloc_slot();    /* destination of error cases   */
    const seL4_CPtr s_eps   = alloc_slots(256);
    const seL4_CPtr s_ep1   = alloc_slot();
    const seL4_CPtr s_cnb   = alloc_slot();    /* CNode that will hold a UT copy */
    const seL4_CPtr s_utc   = alloc_slot();    /* small untyped                */
    const seL4_CPtr s_cep   = alloc_slot();

    /* ---- Untyped_Retype of each object type from the chosen untyped ---- */
    e = retype(ut, seL4_UntypedObject, 12, s_ut4k, 1);
    step("retype_untyped_12", e);
    cap(s_ut4k);
    done();

    e = retype(ut, seL4_TCBObject, 0, s_tcb, 1);
    step("retype_tcb", e);
    cap(s_tcb);
    done();

    e = retype(ut, seL4_EndpointObject, 0, s_ep, 1);
    step("retype_endpoint", e);
    cap(s_ep);
    done();

    e = retype(ut, seL4_NotificationObject, 0, s_ntfn, 1);
    step("retype_notification", e);
    cap(s_ntfn);
    done();

    e = retype(ut, seL4_CapTableObject, 4, s_cn, 1);
    step("retype_cnode_4", e);
    cap(s_cn);
    done();

    e = retype(ut, seL4_X86_PDPTObject, 0, s_pdpt, 1);
    step("retype_x86_pdpt", e);
    cap(s_pdpt);
    done();

    e = retype(ut, seL4_X64_PML4Object, 0, s_pml4, 1);
    step("retype_x64_pml4", e);
    cap(s_pml4);
    done();

    e = retype(ut, seL4_X86_4K, 0, s_frame, 1);
    step("retype_x86_4k", e);
    cap(s_frame);
    done();

    e = retype(ut, seL4_X86_PageTableObject, 0, s_pt, 1);
    step("retype_x86_pagetable", e);
    cap(s_pt);
    done();

    e = retype(ut, seL4_X86_PageDirectoryObject, 0, s_pd, 1);
    step("retype_x86_pagedirectory", e);
    cap(s_pd);
    done();

    e = retype(ut, seL4_X86_LargePageObject, 0, s_large, 1);
    step("retype_x86_largepage", e);
    cap(s_large);
    done();

    /* 16 endpoints in one call, from the 4 KiB child untyped. */
    e = retype(s_ut4k, seL4_EndpointObject, 0, s_fan, 16);
    step("retype_fanout_16", e);
    cap(s_fan);
    cap(s_fan + 15);
    cap(s_fan + 16);
    done();

    /* ---- CNode operations ---- */
    e = copy(s_copy, s_ep);
    step("cnode_copy", e);
    cap(s_ep);
    cap(s_copy);
    done();

    clear_mrs();
    e = seL4_CNode_Mint(ROOT, s_mint, DEPTH, ROOT, s_ep, DEPTH,
                        seL4_CapRights_new(0, 0, 1, 1), 0x42);
    step("cnode_mint_badge_0x42_rw", e);
    cap(s_mint);
    done();

    clear_mrs();
    e = seL4_CNode_Mint(ROOT, s_mint2, DEPTH, ROOT, s_mint, DEPTH,
                        seL4_AllRights, 0x43);
    step("cnode_mint_of_badged", e);
    cap(s_mint2);
    done();

    clear_mrs();
    e = seL4_CNode_Move(ROOT, s_moved, DEPTH, ROOT, s_mint, DEPTH);
    step("cnode_move", e);
    cap(s_mint);
    cap(s_moved);
    done();

    /* Give the radix-4 CNode a 60-bit guard so it resolves exactly 64 bits. */
    clear_mrs();
    e = seL4_CNode_Mutate(ROOT, s_cnm, DEPTH, ROOT, s_cn, DEPTH,
                          seL4_CNode_CapData_new(0, seL4_WordBits - 4).words[0]);
    step("cnode_mutate_guard_60", e);
    cap(s_cn);
    cap(s_cnm);
    done();

    /* Use the guarded CNode as the destination root with depth 64. */
    clear_mrs();
    e = seL4_CNode_Copy(s_cnm, 1, DEPTH, ROOT, s_ep, DEPTH, seL4_AllRights);
    step("cnode_copy_into_guarded_depth64", e);
    done();

    /* Depth 4 cannot get past a 60-bit guard. */
    clear_mrs();
    e = seL4_CNode_Copy(s_cnm, 2, 4, ROOT, s_ep, DEPTH, seL4_AllRights);
    step("cnode_copy_into_guarded_depth4", e);
    mr(4);
    done();

    /* Rotate: pivot (CNode) -> dest with new guard 0, src (TCB) -> pivot. */
    clear_mrs();
    e = seL4_CNode_Rotate(ROOT, s_rot, DEPTH, seL4_CNode_CapData_new(0, 0).words[0],
                          ROOT, s_cnm, DEPTH, 0,
                          ROOT, s_tcb, DEPTH);
    step("cnode_rotate_cnode_tcb", e);
    cap(s_rot);
    cap(s_cnm);
    cap(s_tcb);
    done();

    /* Rotate with an endpoint as source: its data cannot be updated. */
    clear_mrs();
    e = seL4_CNode_Rotate(ROOT, s_rot2, DEPTH, 0,
                          ROOT, s_cnm, DEPTH, 0,
                          ROOT, s_copy, DEPTH);
    step("cnode_rotate_endpoint", e);
    cap(s_rot2);
    cap(s_cnm);
    cap(s_copy);
    done();

    clear_mrs();
    e = seL4_CNode_Delete(ROOT, s_copy, DEPTH);
    step("cnode_delete", e);
    cap(s_copy);
    done();

    /* Revoke the original endpoint cap: the moved badged mint goes away. */
    clear_mrs();
    e = seL4_CNode_Revoke(ROOT, s_ep, DEPTH);
    step("cnode_revoke_endpoint", e);
    cap(s_ep);
    cap(s_moved);
    done();

    clear_mrs();
    e = seL4_CNode_Mint(ROOT, s_bep, DEPTH, ROOT, s_ep, DEPTH, seL4_AllRights, 0x55);
    step("cnode_mint_badge_0x55_all", e);
    cap(s_bep);
    done();

    clear_mrs();
    e = seL4_CNode_CancelBadgedSends(ROOT, s_bep, DEPTH);
    step("cnode_cancel_badged_sends", e);
    cap(s_bep);
    done();

    clear_mrs();
    e = seL4_CNode_Mint(ROOT, s_rep, DEPTH, ROOT, s_ep, DEPTH,
                        seL4_CapRights_new(0, 0, 0, 1), 0x66);
    step("cnode_mint_badge_0x66_w", e);
    cap(s_rep);
    done();

    clear_mrs();
    e = seL4_CNode_CancelBadgedSends(ROOT, s_rep, DEPTH);
    step("cnode_cancel_badged_sends_reduced", e);
    done();

    clear_mrs();
    e = seL4_CNode_SaveCaller(ROOT, s_save, DEPTH);
    step("cnode_save_caller", e);
    cap(s_save);
    done();

    /* ---- error cases ---- */
    e = copy(s_ntfn, s_ep);
    step("err_copy_dest_occupied", e);
    cap(s_ntfn);
    done();

    e = copy(s_dst, s_none);
    step("err_copy_missing_source", e);
    cap(s_dst);
    done();

    clear_mrs();
    e = seL4_CNode_Copy(ROOT, s_dst, DEPTH, ROOT, s_ep, 20, seL4_AllRights);
    step("err_copy_source_depth_20", e);
    mr(4);
    done();

    clear_mrs();
    e = seL4_CNode_Copy(ROOT, s_dst, 0, ROOT, s_ep, DEPTH, seL4_AllRights);
    step("err_copy_dest_depth_0", e);
    done();

    clear_mrs();
    e = seL4_CNode_Copy(ROOT, s_dst, 65, ROOT, s_ep, DEPTH, seL4_AllRights);
    step("err_copy_dest_depth_65", e);
    done();

    /* CNodeCopy with only 2 words and no extra cap, built by hand. */
    {
        seL4_MessageInfo_t info = seL4_MessageInfo_new(CNodeCopy, 0, 0, 2);
        clear_mrs();
        seL4_SetMR(0, s_dst);
        seL4_SetMR(1, DEPTH);
        info = seL4_Call(ROOT, info);
        step("err_copy_truncated", seL4_MessageInfo_get_label(info));
        fact(" len", seL4_MessageInfo_get_length(info));
        cap(s_dst);
        done();
    }

    /* A CNode cap invoked with an Untyped label. */
    {
        seL4_MessageInfo_t info = seL4_MessageInfo_new(UntypedRetype, 0, 0, 0);
        clear_mrs();
        info = seL4_Call(ROOT, info);
        step("err_cnode_with_untyped_label", seL4_MessageInfo_get_label(info));
        fact(" len", seL4_MessageInfo_get_length(info));
        done();
    }

    /* Invoking an empty slot. */
    clear_mrs();
    e = seL4_CNode_Delete(s_none, 0, DEPTH);
    step("err_invoke_empty_slot", e);
    done();

    e = retype(ut, 99, 0, s_dst, 1);
    step("err_retype_type_99", e);
    cap(s_dst);
    done();

    e = retype(ut, seL4_CapTableObject, 0, s_dst, 1);
    step("err_retype_cnode_size_0", e);
    cap(s_dst);
    done();

    e = retype(ut, seL4_UntypedObject, 3, s_dst, 1);
    step("err_retype_untyped_size_3", e);
    cap(s_dst);
    done();

    e = retype(ut, seL4_EndpointObject, 0, s_dst, 257);
    step("err_retype_fanout_257", e);
    cap(s_dst);
    done();

    e = retype(ut, seL4_EndpointObject, 0, cnode_slots, 1);
    step("err_retype_offset_beyond_cnode", e);
    done();

    e = copy(s_dst, ut);
    step("err_copy_untyped_with_children", e);
    cap(s_dst);
    done();

    /* ---- a 4 KiB untyped: reuse after revoke, running out of memory ---- */
    clear_mrs();
    e = seL4_CNode_Revoke(ROOT, s_ut4k, DEPTH);
    step("revoke_4k_untyped", e);
    cap(s_fan);
    cap(s_fan + 15);
    done();

    e = retype(s_ut4k, seL4_CapTableObject, 8, s_dst, 1);
    step("err_retype_cnode_8_from_4k", e);
    cap(s_dst);
    done();

    e = retype(s_ut4k, seL4_EndpointObject, 0, s_eps, 256);
    step("retype_256_endpoints_from_4k", e);
    cap(s_eps);
    cap(s_eps + 255);
    done();

    e = retype(s_ut4k, seL4_EndpointObject, 0, s_ep1, 1);
    step("err_retype_endpoint_from_full_4k", e);
    cap(s_ep1);
    done();

    clear_mrs();
    e = seL4_CNode_Revoke(ROOT, s_ut4k, DEPTH);
    step("revoke_full_4k_untyped", e);
    cap(s_eps);
    cap(s_eps + 255);
    done();

    e = retype(s_ut4k, seL4_CapTableObject, 4, s_cnb, 1);
    step("retype_cnode_4_after_revoke", e);
    cap(s_cnb);
    done();

    e = retype(s_ut4k, seL4_UntypedObject, 10, s_utc, 1);
    step("retype_untyped_10_after_revoke", e);
    cap(s_utc);
    done();

    /* ---- a CNode holding a copy of a small untyped gets deleted ---- */
    clear_mrs();
    e = seL4_CNode_Copy(s_cnb, 0, 4, ROOT, s_utc, DEPTH, seL4_AllRights);
    step("copy_small_untyped_into_cnode", e);
    done();

    clear_mrs();
    e = seL4_CNode_Delete(ROOT, s_cnb, DEPTH);
    step("delete_cnode_holding_untyped_copy", e);
    cap(s_cnb);
    done();

    e = retype(s_utc, seL4_EndpointObject, 0, s_cep, 1);
    step("retype_from_small_untyped_again", e);
    cap(s_cep);
    cap(s_utc);
    done();

    out_str("capdemo done");
    out_nl();
    seL4_DebugHalt();
    return 0;
}
