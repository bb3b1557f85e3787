//! Untyped_Retype: every object type, seL4's checks and errors, alignment,
//! the free-index watermark, and reset when the last child is gone.

mod common;

use common::*;
use kernel::object::cap::Cap;
use kernel::object::cap_rules::cap_ptr;
use kernel::object::invocation::{InvocationError, SyscallError};
use kernel::object::untyped::free_index_to_offset;
use sel4_compat::caps::CapType;
use sel4_compat::invocation::*;
use sel4_compat::object_type as ty;

fn err(e: SyscallError) -> Result<(), InvocationError> {
    Err(InvocationError::Syscall(e))
}

#[test]
fn every_object_type_gets_its_cap() {
    let expect = [
        (ty::UNTYPED, 12, CapType::Untyped),
        (ty::TCB, 0, CapType::Thread),
        (ty::ENDPOINT, 0, CapType::Endpoint),
        (ty::NOTIFICATION, 0, CapType::Notification),
        (ty::CAP_TABLE, 4, CapType::CNode),
        (ty::X86_PDPT, 0, CapType::Pdpt),
        (ty::X64_PML4, 0, CapType::Pml4),
        (ty::X86_4K, 0, CapType::Frame),
        (ty::X86_PAGE_TABLE, 0, CapType::PageTable),
        (ty::X86_PAGE_DIRECTORY, 0, CapType::PageDirectory),
        // Last: aligned to 2 MiB, it takes the rest of the 4 MiB untyped.
        (ty::X86_LARGE_PAGE, 0, CapType::Frame),
    ];
    let mut w = World::new();
    for (i, (t, size, cap_type)) in expect.into_iter().enumerate() {
        w.retype(UNTYPED_SLOT, t, size, 10 + i as u64, 1).unwrap();
        assert!(w.cap(10 + i as u64).is(cap_type), "type {t}");
    }
    assert_eq!(w.env.created.len(), expect.len());
    w.check_mdb();
    w.check_memory();
    // A 1 GiB frame does not fit a 4 MiB untyped.
    assert_eq!(
        w.retype(UNTYPED_SLOT, ty::X64_HUGE_PAGE, 0, 40, 1),
        err(SyscallError::NotEnoughMemory {
            bytes_left: (1 << UT_BITS) - free_index_to_offset(w.cap(UNTYPED_SLOT).as_untyped().unwrap().free_index())
        })
    );
}

#[test]
fn objects_are_aligned_to_their_size_and_memory_is_cleared() {
    let mut w = World::new();
    w.retype(UNTYPED_SLOT, ty::ENDPOINT, 0, 10, 1).unwrap();
    w.retype(UNTYPED_SLOT, ty::CAP_TABLE, 4, 11, 1).unwrap();
    let base = w.ut_mem as u64;
    assert_eq!(cap_ptr(&w.cap(10)), base);
    assert_eq!(cap_ptr(&w.cap(11)), base + 512, "a 512-byte CNode is aligned past the 16-byte endpoint");
    assert_eq!(free_index_to_offset(w.cap(UNTYPED_SLOT).as_untyped().unwrap().free_index()), 1024);
    // The boot-time garbage was cleared by the first retype's reset.
    // Safety: inside the world's untyped memory.
    let bytes = unsafe { core::slice::from_raw_parts(w.ut_mem, 1 << UT_BITS) };
    assert!(bytes.iter().all(|&b| b == 0));
}

#[test]
fn several_objects_at_once_and_fan_out_limit() {
    let mut w = World::new();
    w.retype(UNTYPED_SLOT, ty::NOTIFICATION, 0, 10, 100).unwrap();
    assert!((10..110).all(|i| w.cap(i).is(CapType::Notification)));
    assert_eq!(w.descendants(UNTYPED_SLOT).len(), 100);
    assert_eq!(w.retype(UNTYPED_SLOT, ty::ENDPOINT, 0, 0, 0), err(SyscallError::RangeError { min: 1, max: 256 }));
    assert_eq!(w.retype(UNTYPED_SLOT, ty::ENDPOINT, 0, 0, 257), err(SyscallError::RangeError { min: 1, max: 256 }));
    assert_eq!(w.retype(UNTYPED_SLOT, ty::ENDPOINT, 0, 250, 10), err(SyscallError::RangeError { min: 1, max: 6 }));
    assert_eq!(w.retype(UNTYPED_SLOT, ty::ENDPOINT, 0, 256, 1), err(SyscallError::RangeError { min: 0, max: 255 }));
    assert_eq!(w.retype(UNTYPED_SLOT, ty::ENDPOINT, 0, 100, 20), err(SyscallError::DeleteFirst));
}

#[test]
fn argument_errors() {
    let mut w = World::new();
    assert_eq!(w.retype(UNTYPED_SLOT, ty::COUNT, 0, 10, 1), err(SyscallError::InvalidArgument { number: 0 }));
    assert_eq!(w.retype(UNTYPED_SLOT, ty::CAP_TABLE, 0, 10, 1), err(SyscallError::InvalidArgument { number: 1 }));
    assert_eq!(w.retype(UNTYPED_SLOT, ty::UNTYPED, 3, 10, 1), err(SyscallError::InvalidArgument { number: 1 }));
    assert_eq!(w.retype(UNTYPED_SLOT, ty::UNTYPED, 48, 10, 1), err(SyscallError::RangeError { min: 0, max: 47 }));
    assert_eq!(w.retype(UNTYPED_SLOT, ty::CAP_TABLE, 64, 10, 1), err(SyscallError::RangeError { min: 0, max: 47 }));
    assert_eq!(w.retype(UNTYPED_SLOT, ty::UNTYPED, 23, 10, 1), err(SyscallError::NotEnoughMemory { bytes_left: 1 << 22 }));
    assert_eq!(w.untyped_raw(UNTYPED_SLOT, UNTYPED_RETYPE, &[ty::ENDPOINT, 0, 0, 0, 10], &[ROOT_CNODE_SLOT]), err(SyscallError::TruncatedMessage));
    assert_eq!(w.untyped_raw(UNTYPED_SLOT, UNTYPED_RETYPE, &[ty::ENDPOINT, 0, 0, 0, 10, 1], &[]), err(SyscallError::TruncatedMessage));
    assert_eq!(w.untyped_raw(UNTYPED_SLOT, CNODE_COPY, &[0; 6], &[ROOT_CNODE_SLOT]), err(SyscallError::IllegalOperation));
    // The destination CNode named through the root with a depth: slot 2 is
    // the untyped, not a CNode.
    assert_eq!(
        w.untyped_raw(UNTYPED_SLOT, UNTYPED_RETYPE, &[ty::ENDPOINT, 0, UNTYPED_SLOT, 64, 0, 1], &[ROOT_CNODE_SLOT]),
        err(SyscallError::FailedLookup { source: false, fault: kernel::cspace::lookup::LookupFault::MissingCapability { bits_left: 64 } })
    );
}

#[test]
fn device_untyped_gives_only_frames_and_untypeds() {
    let mut w = World::new();
    // Carve a device untyped by hand into slot 50 from the top half of the
    // region (as boot does for device memory).
    let dev = Cap::untyped(w.ut_mem as u64 + (1 << 19), 19, true, 0);
    w.cnode[50].cap = dev;
    w.cnode[50].mdb = kernel::cspace::cte::MdbNode::new(core::ptr::null_mut(), true, true, core::ptr::null_mut());
    assert_eq!(w.retype(50, ty::ENDPOINT, 0, 10, 1), err(SyscallError::InvalidArgument { number: 1 }));
    w.retype(50, ty::X86_4K, 0, 10, 1).unwrap();
    assert!(w.cap(10).as_frame().unwrap().is_device());
    w.retype(50, ty::UNTYPED, 12, 11, 1).unwrap();
    assert!(w.cap(11).as_untyped().unwrap().is_device());
}

#[test]
fn copies_of_an_untyped_and_the_revoke_first_rule() {
    let mut w = World::new();
    w.retype(UNTYPED_SLOT, ty::UNTYPED, 16, 10, 1).unwrap();
    // A copy of an untyped without children is allowed and makes the
    // original unable to retype into the shared memory.
    w.cnode(CNODE_COPY, &[11, 64, 10, 64, 0xf], &[ROOT_CNODE_SLOT]).unwrap();
    assert_eq!(w.retype(10, ty::ENDPOINT, 0, 12, 1), err(SyscallError::NotEnoughMemory { bytes_left: 0 }));
    // The copy itself has no children and retypes from the start.
    w.retype(11, ty::ENDPOINT, 0, 12, 1).unwrap();
    assert_eq!(cap_ptr(&w.cap(12)), cap_ptr(&w.cap(11)));
    // The copy is a child of the original: the original cannot be copied now.
    assert_eq!(w.cnode(CNODE_COPY, &[13, 64, 10, 64, 0xf], &[ROOT_CNODE_SLOT]), err(SyscallError::RevokeFirst));
}

#[test]
fn reset_after_the_last_child_goes() {
    let mut w = World::new();
    w.retype(UNTYPED_SLOT, ty::X86_4K, 0, 10, 1).unwrap();
    let first = cap_ptr(&w.cap(10));
    // Dirty the frame (as its user would), delete it, and retype a CNode:
    // same place, cleared memory.
    // Safety: inside the world's untyped memory.
    unsafe { core::ptr::write_bytes(first as *mut u8, 0x77, 1 << 12) };
    w.cnode_to_completion(CNODE_DELETE, &[10, 64], &[]).unwrap();
    assert_eq!(free_index_to_offset(w.cap(UNTYPED_SLOT).as_untyped().unwrap().free_index()), 1 << 12, "deletion does not move the watermark");
    w.env.preempt_every = 3;
    w.retype(UNTYPED_SLOT, ty::CAP_TABLE, 7, 10, 1).unwrap();
    assert_eq!(cap_ptr(&w.cap(10)), first);
    // Safety: as above.
    let bytes = unsafe { core::slice::from_raw_parts(first as *const u8, 1 << 12) };
    assert!(bytes.iter().all(|&b| b == 0), "reset cleared the old object");
}
