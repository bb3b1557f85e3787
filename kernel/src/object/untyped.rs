//! Untyped memory: Retype, with seL4's checks, alignment, watermark
//! (free index), fan-out limit, device restrictions, and the reset that
//! reclaims an untyped whose children are all gone.

use super::cap::{vm_rights, Cap, UntypedCap};
use super::cap_rules::{frame_size_of_type, object_size_bits, TCB_OFFSET};
use super::cnode::lookup_slot_for_cnode_op;
use super::env::ObjectEnv;
use super::invocation::{Invocation, InvocationError, SyscallError};
use crate::cspace::cte::{self, Cte};
use crate::cspace::lookup::LookupFault;
use sel4_compat::caps::CapType;
use sel4_compat::object_type as ty;
use sel4_compat::objects::{MAX_UNTYPED_BITS, MIN_UNTYPED_BITS, SLOT_BITS};
use sel4_compat::uintr;

/// `KernelRetypeFanOutLimit`.
pub const RETYPE_FAN_OUT_LIMIT: u64 = crate::config::RETYPE_FAN_OUT_LIMIT as u64;
/// Memory is cleared in chunks of 2^`KernelResetChunkBits` bytes (2^8 in
/// sel4test's configuration) between preemption points.
pub const RESET_CHUNK_BITS: u32 = crate::config::RESET_CHUNK_BITS as u32;

/// The free index counts 16-byte units (2^seL4_MinUntypedBits).
pub const fn free_index_to_offset(index: u64) -> u64 {
    index << MIN_UNTYPED_BITS
}
pub const fn offset_to_free_index(offset: u64) -> u64 {
    offset >> MIN_UNTYPED_BITS
}
/// The free index of a full untyped (what boot hands out, so the first
/// retype resets, and so clears, the memory).
pub const fn max_free_index(size_bits: u32) -> u64 {
    1 << (size_bits - MIN_UNTYPED_BITS)
}

struct Retype {
    src: *mut Cte,
    reset: bool,
    base: u64,
    object_type: u64,
    user_size: u64,
    dest_cnode: u64,
    dest_offset: u64,
    count: u64,
    is_device: bool,
}

fn decode(slot: *mut Cte, cap: UntypedCap, inv: &Invocation<'_>) -> Result<Retype, SyscallError> {
    if inv.label != sel4_compat::invocation::UNTYPED_RETYPE {
        user_error!("Untyped cap: Illegal operation attempted.");
        return Err(SyscallError::IllegalOperation);
    }
    let root_slot = match inv.extra_cap(0) {
        Some(s) if inv.length >= 6 => s,
        _ => {
            user_error!("Untyped invocation: Truncated message.");
            return Err(SyscallError::TruncatedMessage);
        }
    };
    let (object_type, user_size) = (inv.arg(0), inv.arg(1));
    let (node_index, node_depth, node_offset, node_window) = (inv.arg(2), inv.arg(3), inv.arg(4), inv.arg(5));

    if object_type >= ty::COUNT && !is_uintr_object(object_type) {
        user_error!("Untyped Retype: Invalid object type.");
        return Err(SyscallError::InvalidArgument { number: 0 });
    }
    let object_bits = object_size_bits(object_type, user_size);
    if user_size >= 64 || object_bits > MAX_UNTYPED_BITS as u64 {
        user_error!("Untyped Retype: Invalid object size.");
        return Err(SyscallError::RangeError { min: 0, max: MAX_UNTYPED_BITS as u64 });
    }
    if object_type == ty::CAP_TABLE && user_size == 0 {
        user_error!("Untyped Retype: Requested CapTable size too small.");
        return Err(SyscallError::InvalidArgument { number: 1 });
    }
    if object_type == ty::UNTYPED && user_size < MIN_UNTYPED_BITS as u64 {
        user_error!("Untyped Retype: Requested UntypedItem size too small.");
        return Err(SyscallError::InvalidArgument { number: 1 });
    }

    // Safety: the extra cap's slot was looked up in the caller's CSpace.
    let root = unsafe { (*root_slot).cap };
    let node_cap = if node_depth == 0 {
        root
    } else {
        let s = lookup_slot_for_cnode_op(false, root, node_index, node_depth)
            .inspect_err(|_| user_error!("Untyped Retype: Invalid destination address."))?;
        // Safety: a slot from a lookup.
        unsafe { (*s).cap }
    };
    let Some(node_cap) = node_cap.as_cnode() else {
        user_error!("Untyped Retype: Destination cap invalid or read-only.");
        return Err(SyscallError::FailedLookup { source: false, fault: LookupFault::MissingCapability { bits_left: node_depth as u32 } });
    };
    let node_size = 1u64 << node_cap.radix();
    if node_offset > node_size - 1 {
        user_error!("Untyped Retype: Destination node offset #{} too large.", node_offset as i32);
        return Err(SyscallError::RangeError { min: 0, max: node_size - 1 });
    }
    if !(1..=RETYPE_FAN_OUT_LIMIT).contains(&node_window) {
        user_error!("Untyped Retype: Number of requested objects ({}) too small or large.", node_window as i32);
        return Err(SyscallError::RangeError { min: 1, max: RETYPE_FAN_OUT_LIMIT });
    }
    if node_window > node_size - node_offset {
        user_error!("Untyped Retype: Requested destination window overruns size of node.");
        return Err(SyscallError::RangeError { min: 1, max: node_size - node_offset });
    }
    let dest_cnode = node_cap.ptr();
    for i in node_offset..node_offset + node_window {
        let dest = (dest_cnode + (i << SLOT_BITS)) as *const Cte;
        // Safety: `i` is below the CNode's size.
        if !unsafe { (*dest).cap }.is_null() {
            user_error!("Untyped Retype: Slot #{} in destination window non-empty.", i as i32);
            return Err(SyscallError::DeleteFirst);
        }
    }

    // Safety: the invoked slot is live.
    let (free_index, reset) = if unsafe { cte::has_children(slot) } { (cap.free_index(), false) } else { (0, true) };
    let region = cap.ptr();
    let free_ref = region + free_index_to_offset(free_index);
    let free_bytes = (1u64 << cap.size_bits()) - free_index_to_offset(free_index);
    if (free_bytes >> object_bits) < node_window {
        let size = if object_bits >= 64 { u64::MAX } else { 1 << object_bits };
        user_error!("Untyped Retype: Insufficient memory ({node_window} * {size} bytes needed, {free_bytes} bytes available).");
        return Err(SyscallError::NotEnoughMemory { bytes_left: free_bytes });
    }
    let is_device = cap.is_device();
    if is_device && !ty::is_frame_type(object_type) && object_type != ty::UNTYPED {
        user_error!("Untyped Retype: Creating kernel objects with device untyped");
        return Err(SyscallError::InvalidArgument { number: 1 });
    }
    let align = (1u64 << object_bits) - 1;
    let base = (free_ref + align) & !align;
    Ok(Retype { src: slot, reset, base, object_type, user_size, dest_cnode, dest_offset: node_offset, count: node_window, is_device })
}

/// seL4's `resetUntypedCap`: clears the used part of the untyped (top
/// down, a chunk per preemption point, recording progress in the free
/// index) and marks it empty.
///
/// # Safety
/// `slot` holds an untyped cap without children, whose memory is owned
/// by that cap.
unsafe fn reset(slot: *mut Cte, env: &mut dyn ObjectEnv) -> Result<(), InvocationError> {
    // Safety: per the caller's contract.
    let cap = unsafe { (*slot).cap }.as_untyped().expect("reset is given an untyped's slot");
    let bits = cap.size_bits();
    let base = cap.ptr();
    let offset = free_index_to_offset(cap.free_index());
    if offset == 0 {
        return Ok(());
    }
    if cap.is_device() || bits < RESET_CHUNK_BITS {
        if !cap.is_device() {
            // Safety: the untyped's own memory.
            unsafe { core::ptr::write_bytes(base as *mut u8, 0, 1usize << bits) };
        }
        // Safety: per the caller's contract.
        unsafe { (*slot).cap = cap.with_free_index(0).cap() };
        return Ok(());
    }
    let chunk = 1u64 << RESET_CHUNK_BITS;
    let mut at = (offset - 1) & !(chunk - 1);
    loop {
        // Safety: `at..at + chunk` is inside the untyped's memory.
        unsafe {
            core::ptr::write_bytes((base + at) as *mut u8, 0, chunk as usize);
            (*slot).cap = cap.with_free_index(offset_to_free_index(at)).cap();
        }
        env.preemption_point()?;
        if at == 0 {
            return Ok(());
        }
        at -= chunk;
    }
}

/// The user-interrupt objects of this kernel's extension (not seL4's).
fn is_uintr_object(object_type: u64) -> bool {
    matches!(object_type, uintr::object_type::UINTR_RECEIVER | uintr::object_type::UITT)
}

/// seL4's `createObject`: the cap for a new object at `base` (memory
/// already zero).
pub fn create_object(object_type: u64, base: u64, user_size: u64, is_device: bool) -> Cap {
    match object_type {
        ty::TCB => Cap::thread(base + TCB_OFFSET),
        ty::ENDPOINT => Cap::endpoint(base, 0, true, true, true, true),
        ty::NOTIFICATION => Cap::notification(base, 0, true, true),
        ty::CAP_TABLE => Cap::cnode(base, user_size as u32, 0, 0),
        ty::UNTYPED => Cap::untyped(base, user_size as u32, is_device, 0),
        ty::X86_PDPT => Cap::paging(CapType::Pdpt, base, 0, None),
        ty::X86_PAGE_DIRECTORY => Cap::paging(CapType::PageDirectory, base, 0, None),
        ty::X86_PAGE_TABLE => Cap::paging(CapType::PageTable, base, 0, None),
        ty::X64_PML4 => Cap::pml4(base, 0, false),
        uintr::object_type::UINTR_RECEIVER => Cap::uintr_receiver(base),
        uintr::object_type::UITT => Cap::uitt(base),
        t => {
            let size = frame_size_of_type(t).expect("decode admits only known object types");
            Cap::frame(base, size, vm_rights::READ_WRITE, is_device, None)
        }
    }
}

/// # Safety
/// As for [`invoke`]; `r` was just decoded.
unsafe fn perform(r: Retype, env: &mut dyn ObjectEnv) -> Result<(), InvocationError> {
    if r.reset {
        // Safety: decode found no children.
        unsafe { reset(r.src, env) }?;
    }
    let object_bits = object_size_bits(r.object_type, r.user_size);
    // Safety: per the caller's contract.
    let cap = unsafe { (*r.src).cap }.as_untyped().expect("retype's source is an untyped");
    let free_ref = r.base + (r.count << object_bits);
    // Safety: as above.
    unsafe { (*r.src).cap = cap.with_free_index(offset_to_free_index(free_ref - cap.ptr())).cap() };
    for i in 0..r.count {
        let new_cap = create_object(r.object_type, r.base + (i << object_bits), r.user_size, r.is_device);
        env.init_object(&new_cap);
        let dest = (r.dest_cnode + ((r.dest_offset + i) << SLOT_BITS)) as *mut Cte;
        // Safety: decode checked the destination slots are empty slots of
        // a live CNode, distinct from the untyped's slot (which is full).
        unsafe { cte::insert_new_cap(r.src, dest, new_cap) };
    }
    Ok(())
}

/// Decodes and performs an invocation of the untyped cap in `slot`.
///
/// # Safety
/// `slot` holds `cap`; extra caps are live slots; kernel object invariants
/// hold.
pub unsafe fn invoke(slot: *mut Cte, cap: UntypedCap, inv: &Invocation<'_>, env: &mut dyn ObjectEnv) -> Result<(), InvocationError> {
    let r = decode(slot, cap, inv)?;
    // This kernel's extension: each receiver or UITT takes a slot of the
    // window where the CPU reads them; none left is memory exhausted.
    if is_uintr_object(r.object_type) && r.count > env.uintr_window_free() {
        let used = if r.reset { 0 } else { free_index_to_offset(cap.free_index()) };
        user_error!("Untyped Retype: No room left in the kernel's user-interrupt window for {} objects.", r.count);
        return Err(SyscallError::NotEnoughMemory { bytes_left: (1u64 << cap.size_bits()) - used }.into());
    }
    // Safety: just decoded.
    unsafe { perform(r, env) }
}
