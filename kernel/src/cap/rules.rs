//! What seL4 says about capabilities independent of where they are
//! stored: which caps name the same object or region, what deriving,
//! masking and minting produce, and which derived caps are revocable.

use super::{mask, vm_rights, Cap, CapRights, CapView, EndpointCap, FrameSize, ZOMBIE_TYPE_TCB};
use sel4_compat::caps::CapType;
use sel4_compat::objects::*;
use sel4_compat::uintr::{self, UINTR_RECEIVER_SIZE_BITS, UITT_SIZE_BITS};

/// Size in bits of the object a cap covers (0 for caps with no object).
pub fn cap_size_bits(cap: &Cap) -> u32 {
    match cap.view() {
        CapView::Untyped(ut) => ut.size_bits(),
        CapView::Endpoint(_) => ENDPOINT_BITS,
        CapView::Notification(_) => NOTIFICATION_BITS,
        CapView::CNode(cn) => cn.radix() + SLOT_BITS,
        CapView::Thread(_) => TCB_BITS,
        CapView::Zombie(z) => {
            if z.zombie_type() == ZOMBIE_TYPE_TCB {
                TCB_BITS
            } else {
                (z.zombie_type() & mask(6)) as u32 + SLOT_BITS
            }
        }
        CapView::Frame(f) => f.size().bits(),
        CapView::PageTable(_) | CapView::PageDirectory(_) | CapView::Pdpt(_) | CapView::Pml4(_) => PAGE_TABLE_BITS,
        CapView::AsidPool(_) => ASID_POOL_BITS,
        CapView::UintrReceiver(_) => UINTR_RECEIVER_SIZE_BITS,
        CapView::Uitt(_) => UITT_SIZE_BITS,
        _ => 0,
    }
}

/// Whether the cap names memory (so an untyped cap can be its parent).
pub fn cap_is_physical(cap: &Cap) -> bool {
    matches!(
        cap.cap_type(),
        Some(
            CapType::Untyped
                | CapType::Endpoint
                | CapType::Notification
                | CapType::CNode
                | CapType::Thread
                | CapType::Zombie
                | CapType::Frame
                | CapType::PageTable
                | CapType::PageDirectory
                | CapType::Pdpt
                | CapType::Pml4
                | CapType::AsidPool
                | CapType::UintrReceiver
                | CapType::Uitt
        )
    )
}

/// Kernel address of the start of the object (for a TCB, of its cap slots).
pub fn cap_ptr(cap: &Cap) -> u64 {
    match cap.view() {
        CapView::Untyped(ut) => ut.ptr(),
        CapView::Endpoint(ep) => ep.ptr(),
        CapView::Notification(ntfn) => ntfn.ptr(),
        CapView::CNode(cn) => cn.ptr(),
        CapView::Thread(t) => tcb_object_base(t.tcb()),
        CapView::Zombie(z) => z.ptr(),
        CapView::Frame(f) => f.base(),
        CapView::PageTable(_) | CapView::PageDirectory(_) | CapView::Pdpt(_) => paging_ptr(cap),
        CapView::Pml4(pml4) => pml4.ptr(),
        CapView::AsidPool(pool) => pool.ptr(),
        CapView::UintrReceiver(r) => r.ptr(),
        CapView::Uitt(u) => u.ptr(),
        _ => 0,
    }
}

/// The table a PDPT, page directory or page table cap names (0 for any
/// other cap).
fn paging_ptr(cap: &Cap) -> u64 {
    cap.as_paging().map_or(0, |p| p.ptr())
}

/// A thread cap points this far into the TCB object; the TCB's own cap
/// slots come first (seL4's `TCB_OFFSET`).
pub const TCB_OFFSET: u64 = 1 << (TCB_BITS - 1);

pub const fn tcb_object_base(tcb_ptr: u64) -> u64 {
    tcb_ptr - TCB_OFFSET
}

/// seL4's `sameRegionAs`: `b` is `a` or lies within the region `a` covers.
pub fn same_region_as(a: &Cap, b: &Cap) -> bool {
    let bt = b.cap_type();
    match a.view() {
        CapView::Untyped(ut) => {
            if !cap_is_physical(b) {
                return false;
            }
            let a_base = ut.ptr();
            let b_base = cap_ptr(b);
            let a_top = a_base.wrapping_add(mask(ut.size_bits()));
            let b_top = b_base.wrapping_add(mask(cap_size_bits(b)));
            a_base <= b_base && b_top <= a_top && b_base <= b_top
        }
        CapView::Endpoint(ep) => b.as_endpoint().is_some_and(|b| ep.ptr() == b.ptr()),
        CapView::Notification(ntfn) => b.as_notification().is_some_and(|b| ntfn.ptr() == b.ptr()),
        CapView::CNode(cn) => b.as_cnode().is_some_and(|b| cn.ptr() == b.ptr() && cn.radix() == b.radix()),
        CapView::Thread(t) => b.as_thread().is_some_and(|b| t.tcb() == b.tcb()),
        CapView::Reply(r) => b.as_reply().is_some_and(|b| r.tcb() == b.tcb()),
        CapView::Domain(_) => bt == Some(CapType::Domain),
        CapView::IrqControl(_) => matches!(bt, Some(CapType::IrqControl | CapType::IrqHandler)),
        CapView::IrqHandler(h) => b.as_irq_handler().is_some_and(|b| h.irq() == b.irq()),
        CapView::Frame(fa) => {
            let Some(fb) = b.as_frame() else {
                return false;
            };
            let (bot_a, bot_b) = (fa.base(), fb.base());
            let top_a = bot_a + mask(fa.size().bits());
            let top_b = bot_b + mask(fb.size().bits());
            bot_a <= bot_b && top_a >= top_b && bot_b <= top_b
        }
        CapView::PageTable(_) | CapView::PageDirectory(_) | CapView::Pdpt(_) => bt == a.cap_type() && paging_ptr(a) == paging_ptr(b),
        CapView::Pml4(pml4) => b.as_pml4().is_some_and(|b| pml4.ptr() == b.ptr()),
        CapView::AsidControl(_) => bt == Some(CapType::AsidControl),
        CapView::AsidPool(pool) => b.as_asid_pool().is_some_and(|b| pool.ptr() == b.ptr()),
        CapView::IoPortControl(_) => matches!(bt, Some(CapType::IoPortControl | CapType::IoPort)),
        CapView::IoPort(io) => b.as_io_port().is_some_and(|b| io.first() == b.first() && io.last() == b.last()),
        CapView::UintrReceiver(r) => b.as_uintr_receiver().is_some_and(|b| r.ptr() == b.ptr()),
        CapView::Uitt(u) => b.as_uitt().is_some_and(|b| u.ptr() == b.ptr()),
        _ => false,
    }
}

/// seL4's `sameObjectAs`: `b` names exactly the object `a` names.
pub fn same_object_as(a: &Cap, b: &Cap) -> bool {
    match a.view() {
        CapView::Untyped(_) | CapView::IrqControl(_) => false,
        CapView::IoPortControl(_) if b.is(CapType::IoPort) => false,
        CapView::Frame(fa) if b.is(CapType::Frame) => match b.as_frame() {
            Some(fb) => fa.base() == fb.base() && fa.size() == fb.size() && fa.is_device() == fb.is_device(),
            None => false,
        },
        _ => same_region_as(a, b),
    }
}

/// seL4's `isCapRevocable`: whether a cap derived from `src` becomes the
/// head of its own revocable subtree.
pub fn is_cap_revocable(derived: &Cap, src: &Cap) -> bool {
    match derived.view() {
        // The source of a derived endpoint, notification or receiver cap
        // is a cap of the same type.
        CapView::Endpoint(ep) => Some(ep.badge()) != src.as_endpoint().map(|s| s.badge()),
        CapView::Notification(ntfn) => Some(ntfn.badge()) != src.as_notification().map(|s| s.badge()),
        CapView::IrqHandler(_) => src.is(CapType::IrqControl),
        CapView::Untyped(_) => true,
        CapView::IoPort(_) => src.is(CapType::IoPortControl),
        // Minting a vector starts a subtree that revokes on its own, as
        // minting a badge does.
        CapView::UintrReceiver(r) => Some(r.vector()) != src.as_uintr_receiver().map(|s| s.vector()),
        _ => false,
    }
}

/// seL4's deriveCap refusal: the cap is an unmapped page table or frame
/// (or similar) that seL4 will not copy; the invocation fails with
/// seL4_IllegalOperation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotDerivable;

/// What a copy of `cap` may be, before the untyped rule (an untyped with
/// children cannot be copied), which needs the slot and is checked by the
/// caller. `Err(NotDerivable)` is seL4_IllegalOperation; a null result
/// means the cap cannot be copied at all.
pub fn derive_cap_ignoring_children(cap: Cap) -> Result<Cap, NotDerivable> {
    match cap.view() {
        CapView::Zombie(_) | CapView::IrqControl(_) | CapView::Reply(_) | CapView::IoPortControl(_) => Ok(Cap::NULL),
        CapView::PageTable(pt) => {
            if pt.mapped() {
                Ok(cap)
            } else {
                user_error!("Deriving an unmapped PT cap");
                Err(NotDerivable)
            }
        }
        CapView::PageDirectory(pd) => {
            if pd.mapped() {
                Ok(cap)
            } else {
                user_error!("Deriving a PD cap without an assigned ASID");
                Err(NotDerivable)
            }
        }
        CapView::Pdpt(pdpt) => {
            if pdpt.mapped() {
                Ok(cap)
            } else {
                user_error!("Deriving an unmapped PTPD cap");
                Err(NotDerivable)
            }
        }
        CapView::Pml4(pml4) => {
            if pml4.mapped() {
                Ok(cap)
            } else {
                user_error!("Deriving a PML4 cap without an assigned ASID");
                Err(NotDerivable)
            }
        }
        CapView::Frame(f) => Ok(f.unmapped().cap()),
        _ => Ok(cap),
    }
}

/// seL4's `updateCapData`: Mint's badge or guard, or Mutate's (with
/// `preserve`). A null result means the new data is not allowed.
pub fn update_cap_data(preserve: bool, data: u64, cap: Cap) -> Cap {
    match cap.view() {
        CapView::Endpoint(ep) => {
            if !preserve && ep.badge() == 0 {
                ep.with_badge(data).cap()
            } else {
                Cap::NULL
            }
        }
        CapView::Notification(ntfn) => {
            if !preserve && ntfn.badge() == 0 {
                ntfn.with_badge(data).cap()
            } else {
                Cap::NULL
            }
        }
        // A vector is minted once, like a badge, and must be one of the 64.
        CapView::UintrReceiver(r) => {
            if !preserve && r.vector().is_none() && data < 64 {
                r.with_vector(data as u8).cap()
            } else {
                Cap::NULL
            }
        }
        CapView::CNode(cn) => {
            let guard_size = (data & 0x3f) as u32;
            if guard_size + cn.radix() > 64 {
                Cap::NULL
            } else {
                let guard = (data >> 6) & mask(guard_size);
                cn.with_guard_and_size(guard, guard_size).cap()
            }
        }
        _ => cap,
    }
}

/// Frame rights after masking with user rights (seL4's `maskVMRights`).
pub fn mask_vm_rights(rights: u64, mask_rights: CapRights) -> u64 {
    if rights == vm_rights::READ_ONLY && mask_rights.allow_read() {
        return vm_rights::READ_ONLY;
    }
    if rights == vm_rights::READ_WRITE && mask_rights.allow_read() {
        return if mask_rights.allow_write() { vm_rights::READ_WRITE } else { vm_rights::READ_ONLY };
    }
    vm_rights::KERNEL_ONLY
}

/// seL4's `maskCapRights`.
pub fn mask_cap_rights(rights: CapRights, cap: Cap) -> Cap {
    match cap.view() {
        CapView::Endpoint(ep) => ep
            .with_rights(
                ep.can_send() && rights.allow_write(),
                ep.can_receive() && rights.allow_read(),
                ep.can_grant() && rights.allow_grant(),
                ep.can_grant_reply() && rights.allow_grant_reply(),
            )
            .cap(),
        CapView::Notification(ntfn) => ntfn.with_rights(ntfn.can_send() && rights.allow_write(), ntfn.can_receive() && rights.allow_read()).cap(),
        CapView::Reply(r) => r.with_can_grant(r.can_grant() && rights.allow_grant()).cap(),
        CapView::Frame(f) => f.with_rights(mask_vm_rights(f.rights(), rights)).cap(),
        _ => cap,
    }
}

/// The endpoint cap CancelBadgedSends may use: one with all four rights.
pub fn endpoint_with_cancel_send_rights(cap: &Cap) -> Option<EndpointCap> {
    cap.as_endpoint().filter(|ep| ep.can_send() && ep.can_receive() && ep.can_grant() && ep.can_grant_reply())
}

/// Frame size of a frame object type, if it is one.
pub fn frame_size_of_type(object_type: u64) -> Option<FrameSize> {
    use sel4_compat::object_type::*;
    match object_type {
        X86_4K => Some(FrameSize::Small),
        X86_LARGE_PAGE => Some(FrameSize::Large),
        X64_HUGE_PAGE => Some(FrameSize::Huge),
        _ => None,
    }
}

/// seL4's `getObjectSize`: bits of one object of `object_type`
/// (`user_size` is the radix of a CNode or the size of an untyped).
pub fn object_size_bits(object_type: u64, user_size: u64) -> u64 {
    use sel4_compat::object_type::*;
    match object_type {
        UNTYPED => user_size,
        TCB => TCB_BITS as u64,
        ENDPOINT => ENDPOINT_BITS as u64,
        NOTIFICATION => NOTIFICATION_BITS as u64,
        CAP_TABLE => SLOT_BITS as u64 + user_size,
        X86_PDPT => PDPT_BITS as u64,
        X64_PML4 => PML4_BITS as u64,
        X86_PAGE_TABLE => PAGE_TABLE_BITS as u64,
        X86_PAGE_DIRECTORY => PAGE_DIR_BITS as u64,
        uintr::object_type::UINTR_RECEIVER => uintr::UINTR_RECEIVER_SIZE_BITS as u64,
        uintr::object_type::UITT => uintr::UITT_SIZE_BITS as u64,
        t => frame_size_of_type(t).map(|s| s.bits() as u64).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EP: u64 = 0xffff_ff80_0001_0000;

    #[test]
    fn untyped_covers_objects_inside_it() {
        let ut = Cap::untyped(0xffff_ff80_0010_0000, 20, false, 0);
        assert!(same_region_as(&ut, &Cap::endpoint(0xffff_ff80_0010_0010, 0, true, true, true, true)));
        assert!(same_region_as(&ut, &Cap::untyped(0xffff_ff80_0018_0000, 19, false, 0)));
        assert!(!same_region_as(&ut, &Cap::untyped(0xffff_ff80_0018_0000, 20, false, 0)));
        assert!(!same_region_as(&ut, &Cap::domain()));
        assert!(!same_object_as(&ut, &ut));
    }

    #[test]
    fn badges_and_revocability() {
        let ep = Cap::endpoint(EP, 0, true, true, true, true);
        let minted = update_cap_data(false, 7, ep);
        assert_eq!(minted.as_endpoint().unwrap().badge(), 7);
        assert!(is_cap_revocable(&minted, &ep));
        assert!(!is_cap_revocable(&ep, &ep));
        // A badged cap cannot be re-badged, and Mutate cannot badge.
        assert!(update_cap_data(false, 9, minted).is_null());
        assert!(update_cap_data(true, 9, ep).is_null());
    }

    #[test]
    fn cnode_guard_update() {
        let cn = Cap::cnode(0xffff_ff80_0100_0000, 10, 0, 0);
        let g = update_cap_data(false, (5 << 6) | 3, cn);
        let g = g.as_cnode().unwrap();
        assert_eq!((g.guard(), g.guard_size()), (5, 3));
        // Guard bits beyond the guard size are dropped.
        assert_eq!(update_cap_data(false, (0xff << 6) | 2, cn).as_cnode().unwrap().guard(), 3);
        assert!(update_cap_data(false, 55, cn).is_null(), "radix 10 + guard 55 exceeds 64 bits");
    }

    #[test]
    fn rights_masking() {
        let ep = Cap::endpoint(EP, 0, true, true, true, true);
        let ro = mask_cap_rights(CapRights(2), ep);
        let ro_ep = ro.as_endpoint().unwrap();
        assert!(!ro_ep.can_send() && ro_ep.can_receive() && !ro_ep.can_grant());
        assert!(endpoint_with_cancel_send_rights(&ro).is_none() && endpoint_with_cancel_send_rights(&ep).is_some());
        let f = Cap::frame(0xffff_ff80_0020_0000, FrameSize::Small, vm_rights::READ_WRITE, false, None);
        assert_eq!(mask_cap_rights(CapRights(2), f).as_frame().unwrap().rights(), vm_rights::READ_ONLY);
        assert_eq!(mask_cap_rights(CapRights(1), f).as_frame().unwrap().rights(), vm_rights::KERNEL_ONLY);
        assert_eq!(mask_cap_rights(CapRights(3), f).as_frame().unwrap().rights(), vm_rights::READ_WRITE);
    }

    #[test]
    fn derive_rules() {
        assert_eq!(derive_cap_ignoring_children(Cap::irq_control()), Ok(Cap::NULL));
        assert_eq!(derive_cap_ignoring_children(Cap::pml4(0x1000, 0, false)), Err(NotDerivable));
        let mapped = Cap::frame(0xffff_ff80_0020_0000, FrameSize::Small, 3, false, Some((1, 0x40_0000)));
        assert_eq!(derive_cap_ignoring_children(mapped).unwrap().as_frame().unwrap().mapped_asid(), 0);
    }
}
