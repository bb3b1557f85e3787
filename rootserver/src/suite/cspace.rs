//! Capabilities through real syscalls: Untyped_Retype of every object
//! type, every CNode method, and the error codes and message words a
//! seL4 program reads back.

use super::{ensure, find_untyped, slot, Runner, ROOT_NODE};
use sel4::cap::{CNode, CapRights, Untyped};
use sel4::invocation::{call, get_mr};
use sel4::object_type as ty;
use sel4::ObjectType;
use sel4::{root_slots, BootInfo, CapType, Error, MessageInfo};

const ROOT: u64 = root_slots::INIT_THREAD_CNODE;
const ALL: CapRights = CapRights::ALL;

fn identify(slot: u64) -> Option<CapType> {
    sel4::debug::cap_identify(slot)
}

/// The label and first message words of a reply.
fn reply(info: MessageInfo, words: usize) -> (u64, [u64; 5]) {
    let mut mrs = [0u64; 5];
    for (i, m) in mrs.iter_mut().enumerate().take(words.min(info.length() as usize)) {
        *m = get_mr(i);
    }
    (info.label(), mrs)
}

pub fn run(t: &mut Runner, bi: &'static BootInfo) {
    let Some((ut, _)) = find_untyped(bi, 22) else {
        t.run("cspace_untyped_available", || Err("no RAM untyped of 4 MiB or more"));
        return;
    };
    // Each test works in its own window of empty slots.
    let window = |n: u64| bi.empty.start + 64 * n;

    t.run("retype_every_object_type", || {
        let base = window(0);
        let kinds = [
            (ObjectType::Untyped, 12, CapType::Untyped),
            (ObjectType::Tcb, 0, CapType::Thread),
            (ObjectType::Endpoint, 0, CapType::Endpoint),
            (ObjectType::Notification, 0, CapType::Notification),
            (ObjectType::CNode, 4, CapType::CNode),
            (ObjectType::Pdpt, 0, CapType::Pdpt),
            (ObjectType::Pml4, 0, CapType::Pml4),
            (ObjectType::Granule, 0, CapType::Frame),
            (ObjectType::PageTable, 0, CapType::PageTable),
            (ObjectType::PageDirectory, 0, CapType::PageDirectory),
        ];
        for (i, &(kind, size, cap_type)) in kinds.iter().enumerate() {
            ut.retype(kind, size, ROOT_NODE, base + i as u64, 1).map_err(|_| "retype failed")?;
            ensure(identify(base + i as u64) == Some(cap_type), "retyped cap has the wrong type")?;
        }
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, base + 20, 16).map_err(|_| "retype of 16 endpoints failed")?;
        ensure((base + 20..base + 36).all(|s| identify(s) == Some(CapType::Endpoint)), "fan-out retype incomplete")?;
        // Last, as its 2 MiB alignment may use up the rest of the untyped.
        ut.retype(ObjectType::LargePage, 0, ROOT_NODE, base + 40, 1).map_err(|_| "large page retype failed")?;
        ensure(identify(base + 40) == Some(CapType::Frame), "large page cap has the wrong type")?;
        slot(ut).revoke().map_err(|_| "revoke of the untyped failed")?;
        ensure((base..base + 41).all(|s| identify(s) == Some(CapType::Null)), "revoke left children behind")
    });

    t.run("cnode_copy_mint_move_mutate_rotate_delete", || {
        let b = window(1);
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, b, 1).map_err(|_| "retype failed")?;
        slot(b + 1).copy(slot(b), ALL).map_err(|_| "copy failed")?;
        slot(b + 2).mint(slot(b), CapRights::READ, 7).map_err(|_| "mint failed")?;
        ensure(slot(b + 3).mint(slot(b + 2), ALL, 8) == Err(Error::IllegalOperation), "re-badging must be refused")?;
        slot(b + 3).move_from(slot(b + 1)).map_err(|_| "move failed")?;
        ensure(identify(b + 1) == Some(CapType::Null) && identify(b + 3) == Some(CapType::Endpoint), "move did not move")?;
        ut.retype(ObjectType::CNode, 3, ROOT_NODE, b + 4, 1).map_err(|_| "CNode retype failed")?;
        slot(b + 5).mutate_from(slot(b + 4), (1 << 6) | 1).map_err(|_| "mutate failed")?;
        ensure(identify(b + 4) == Some(CapType::Null) && identify(b + 5) == Some(CapType::CNode), "mutate did not move")?;
        ut.retype(ObjectType::Tcb, 0, ROOT_NODE, b + 6, 1).map_err(|_| "TCB retype failed")?;
        // dest b+7 <- pivot b+6 (TCB) <- src b+5 (CNode)
        slot(b + 7).rotate(slot(b + 6), 0, slot(b + 5), (1 << 6) | 1).map_err(|_| "rotate failed")?;
        ensure(
            identify(b + 5) == Some(CapType::Null) && identify(b + 6) == Some(CapType::CNode) && identify(b + 7) == Some(CapType::Thread),
            "rotate moved the wrong caps",
        )?;
        slot(b + 2).delete().map_err(|_| "delete failed")?;
        ensure(identify(b + 2) == Some(CapType::Null), "delete left the cap")?;
        slot(b).revoke().map_err(|_| "revoke failed")?;
        ensure(identify(b + 3) == Some(CapType::Null), "revoke left the copy")?;
        slot(ut).revoke().map_err(|_| "cleanup revoke failed")
    });

    t.run("failed_invocation_gets_the_kernel_debug_line", || {
        // A debug kernel (KernelPrinting) prints seL4's userError line for
        // this refused Copy right after the marker; the harness checks it
        // names the kernel's decode function, this thread and an IP in
        // this image's code.
        let (src, dest) = (window(11), window(11) + 1);
        sel4::println!("user_error_line: CNode Copy from the empty slot {} into slot {}", src, dest);
        ensure(slot(dest).copy(slot(src), ALL) == Err(Error::FailedLookup), "expected FailedLookup for an empty source")
    });

    t.run("syscall_errors_and_their_message_words", || {
        let b = window(2);
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, b, 1).map_err(|_| "retype failed")?;
        let copy = |dest: u64, dd: u64, src: u64, sd: u64, extra: &[u64]| {
            reply(call(ROOT, sel4_compat_labels::CNODE_COPY, &[dest, dd, src, sd, ALL.0], extra), 5)
        };
        // DeleteFirst: the destination holds a cap.
        ensure(copy(b, 64, b, 64, &[ROOT]).0 == Error::DeleteFirst as u64, "expected DeleteFirst")?;
        // FailedLookup on the source: MR0 = 1 (source), then the lookup
        // failure (missing capability = 1, plus one) and the bits left.
        let (label, mrs) = copy(b + 1, 64, b + 30, 64, &[ROOT]);
        ensure(label == Error::FailedLookup as u64, "expected FailedLookup")?;
        ensure(mrs[..3] == [1, 2, 64], "FailedLookup words differ from seL4's")?;
        // A depth that runs out inside the root CNode's guard (64 -
        // KernelRootCNodeSizeBits bits, 51 by default): target lookup
        // (MR0 = 0), guard mismatch (3 + 1), bits left, guard found,
        // guard size.
        let guard_bits = 64 - sel4::config::ROOT_CNODE_SIZE_BITS as u64;
        let (label, mrs) = copy(b + 1, 20, b, 64, &[ROOT]);
        ensure(label == Error::FailedLookup as u64 && mrs == [0, 4, 20, 0, guard_bits], "guard mismatch words differ")?;
        // RangeError for a depth of 0: MR0..1 = 1..64.
        let (label, mrs) = copy(b + 1, 0, b, 64, &[ROOT]);
        ensure(label == Error::RangeError as u64 && mrs[..2] == [1, 64], "expected RangeError 1..64")?;
        // TruncatedMessage: no source root cap.
        ensure(copy(b + 1, 64, b, 64, &[]).0 == Error::TruncatedMessage as u64, "expected TruncatedMessage")?;
        // IllegalOperation: an untyped method on a CNode.
        let (label, _) = reply(call(ROOT, sel4_compat_labels::UNTYPED_RETYPE, &[0; 6], &[ROOT]), 0);
        ensure(label == Error::IllegalOperation as u64, "expected IllegalOperation")?;
        // InvalidCapability: invoking an empty slot (MR0 = 0).
        let (label, mrs) = reply(call(b + 40, sel4_compat_labels::CNODE_COPY, &[0; 5], &[]), 1);
        ensure(label == Error::InvalidCapability as u64 && mrs[0] == 0, "expected InvalidCapability 0")?;
        // InvalidArgument: an unknown object type is argument 0.
        let (label, mrs) = reply(call(ut.cptr(), sel4_compat_labels::UNTYPED_RETYPE, &[99, 0, 0, 0, b + 1, 1], &[ROOT]), 1);
        ensure(label == Error::InvalidArgument as u64 && mrs[0] == 0, "expected InvalidArgument 0")?;
        // A CNode of radix 0 is argument 1.
        ensure(ut.retype(ObjectType::CNode, 0, ROOT_NODE, b + 1, 1) == Err(Error::InvalidArgument), "expected InvalidArgument for a radix-0 CNode")?;
        // RevokeFirst: copying an untyped that has children.
        ensure(slot(b + 1).copy(slot(ut), ALL) == Err(Error::RevokeFirst), "expected RevokeFirst")?;
        // NotEnoughMemory: MR0 is the bytes left in the untyped.
        let small = b + 2;
        ut.retype(ObjectType::Untyped, 12, ROOT_NODE, small, 1).map_err(|_| "small untyped retype failed")?;
        let (label, mrs) = reply(call(small, sel4_compat_labels::UNTYPED_RETYPE, &[ty::CAP_TABLE, 8, 0, 0, b + 3, 1], &[ROOT]), 1);
        ensure(label == Error::NotEnoughMemory as u64 && mrs[0] == 4096, "expected NotEnoughMemory with 4096 bytes left")?;
        // Fan-out above 256 is a RangeError 1..256.
        let (label, mrs) = reply(call(ut.cptr(), sel4_compat_labels::UNTYPED_RETYPE, &[ty::ENDPOINT, 0, 0, 0, b + 3, 257], &[ROOT]), 2);
        ensure(label == Error::RangeError as u64 && mrs[..2] == [1, 256], "expected RangeError 1..256")?;
        // A depth that reaches a leaf with bits to spare (an endpoint in
        // slot 2 of an unguarded 2^4 CNode, looked up through 8 bits):
        // depth mismatch (2 + 1) with bits left 4 and bits found 0, as
        // seL4's lookupSlotForCNodeOp builds it (found by the
        // differential fuzzer).
        let sub = b + 4;
        ut.retype(ObjectType::CNode, 4, ROOT_NODE, sub, 1).map_err(|_| "sub CNode retype failed")?;
        CNode::from_cptr(sub).slot(2, 4).copy(slot(b), ALL).map_err(|_| "copy into the sub CNode failed")?;
        let (label, mrs) = reply(call(sub, sel4_compat_labels::CNODE_COPY, &[0x21, 8, b, 64, ALL.0], &[ROOT]), 4);
        ensure(label == Error::FailedLookup as u64 && mrs[..4] == [0, 3, 4, 0], "depth mismatch words differ from seL4's")?;
        slot(ut).revoke().map_err(|_| "cleanup revoke failed")
    });

    t.run("untyped_reset_after_children_are_deleted", || {
        // Uses windows 3..7: 320 slots.
        let b = window(3);
        ut.retype(ObjectType::Untyped, 12, ROOT_NODE, b, 1).map_err(|_| "retype failed")?;
        // 4 KiB holds 256 endpoints of 16 bytes and not one more.
        for k in 0..8 {
            Untyped::from_cptr(b).retype(ObjectType::Endpoint, 0, ROOT_NODE, b + 1 + 32 * k, 32).map_err(|_| "endpoints failed")?;
        }
        let (label, mrs) = reply(call(b, sel4_compat_labels::UNTYPED_RETYPE, &[ty::ENDPOINT, 0, 0, 0, b + 300, 1], &[ROOT]), 1);
        ensure(label == Error::NotEnoughMemory as u64 && mrs[0] == 0, "a full untyped must report 0 bytes left")?;
        // Revoking the untyped deletes its children; the next retype resets
        // it and the whole 4 KiB is available again.
        slot(b).revoke().map_err(|_| "revoke failed")?;
        ensure((b + 1..b + 257).all(|s| identify(s) == Some(CapType::Null)), "children survived the revoke")?;
        Untyped::from_cptr(b).retype(ObjectType::CNode, 7, ROOT_NODE, b + 1, 1).map_err(|_| "the reset untyped did not give its 4 KiB")?;
        slot(ut).revoke().map_err(|_| "cleanup revoke failed")
    });

    t.run("cancel_badged_sends_and_save_caller", || {
        let b = window(9);
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, b, 1).map_err(|_| "retype failed")?;
        slot(b + 1).mint(slot(b), ALL, 3).map_err(|_| "mint failed")?;
        slot(b + 2).mint(slot(b), CapRights::READ_WRITE, 4).map_err(|_| "mint failed")?;
        slot(b + 1).cancel_badged_sends().map_err(|_| "CancelBadgedSends with full rights failed")?;
        slot(b).cancel_badged_sends().map_err(|_| "CancelBadgedSends on an unbadged cap failed")?;
        ensure(slot(b + 2).cancel_badged_sends() == Err(Error::IllegalOperation), "CancelBadgedSends needs all four rights")?;
        ensure(slot(ut).cancel_badged_sends() == Err(Error::IllegalOperation), "CancelBadgedSends needs an endpoint")?;
        // Nobody called this thread: SaveCaller succeeds and saves nothing.
        slot(b + 3).save_caller().map_err(|_| "SaveCaller failed")?;
        ensure(identify(b + 3) == Some(CapType::Null), "SaveCaller saved a cap out of nowhere")?;
        ensure(slot(b).save_caller() == Err(Error::DeleteFirst), "SaveCaller into a full slot")?;
        slot(ut).revoke().map_err(|_| "cleanup revoke failed")
    });

    t.run("deleting_a_cnode_deletes_what_it_holds", || {
        let b = window(8);
        ut.retype(ObjectType::Untyped, 12, ROOT_NODE, b, 1).map_err(|_| "untyped retype failed")?;
        ut.retype(ObjectType::CNode, 4, ROOT_NODE, b + 1, 1).map_err(|_| "CNode retype failed")?;
        // Copy the small untyped into slot 3 of the new CNode (radix 4, no
        // guard: addressed with depth 4 through its own cap).
        CNode::from_cptr(b + 1).slot(3, 4).copy(slot(b), ALL).map_err(|_| "copy into the child CNode failed")?;
        ensure(
            Untyped::from_cptr(b).retype(ObjectType::Endpoint, 0, ROOT_NODE, b + 2, 1) == Err(Error::NotEnoughMemory),
            "an untyped with a copy cannot retype",
        )?;
        slot(b + 1).delete().map_err(|_| "deleting the CNode failed")?;
        Untyped::from_cptr(b).retype(ObjectType::Endpoint, 0, ROOT_NODE, b + 2, 1).map_err(|_| "the copy inside the CNode survived")?;
        slot(ut).revoke().map_err(|_| "cleanup revoke failed")
    });

    t.run("the_root_cnodes_last_slots_hold_working_caps", || {
        // The empty region runs to the root CNode's end: with a 16-bit root
        // CNode (capDL's tutorials) that is slot 65535, far above the
        // default 2^13. A notification retyped into the last slot, a badged
        // copy beside it, a signal through the copy and a poll through the
        // original (which reads the badge): each is a full-depth lookup of
        // a high slot.
        let bits = bi.init_thread_cnode_size_bits;
        ensure(bi.empty.end == 1 << bits, "the empty region must end at the root CNode's end")?;
        let (last, below) = (bi.empty.end - 1, bi.empty.end - 2);
        ut.retype(ObjectType::Notification, 0, ROOT_NODE, last, 1).map_err(|_| "retype into the last slot failed")?;
        ensure(identify(last) == Some(CapType::Notification), "the last slot does not hold the notification")?;
        slot(below).mint(slot(last), ALL, 0x5eed).map_err(|_| "mint between the last slots failed")?;
        sel4::cap::Notification::from_cptr(below).signal();
        ensure(sel4::cap::Notification::from_cptr(last).poll() == 0x5eed, "a signal through the copy did not reach the notification")?;
        ensure(identify(1 << bits) == Some(CapType::Null), "the slot past the end must not resolve")?;
        slot(ut).revoke().map_err(|_| "cleanup revoke failed")?;
        ensure(identify(last) == Some(CapType::Null) && identify(below) == Some(CapType::Null), "revoke left the caps")
    });
}

/// Labels used directly with `call` (the typed wrappers hide them).
mod sel4_compat_labels {
    pub use sel4::invocation_labels::*;
}
