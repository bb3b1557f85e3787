//! What seL4 says about capabilities independent of where they are
//! stored: which caps name the same object or region, what deriving,
//! masking and minting produce, and which derived caps are revocable.

use super::cap::{mask, vm_rights, Cap, CapRights, FrameSize, ZOMBIE_TYPE_TCB};
use sel4_compat::caps::CapType;
use sel4_compat::objects::*;
use sel4_compat::uintr::{self, UINTR_RECEIVER_SIZE_BITS, UITT_SIZE_BITS};

/// Size in bits of the object a cap covers (0 for caps with no object).
pub fn cap_size_bits(cap: &Cap) -> u32 {
    match cap.cap_type() {
        Some(CapType::Untyped) => cap.untyped_size_bits(),
        Some(CapType::Endpoint) => ENDPOINT_BITS,
        Some(CapType::Notification) => NOTIFICATION_BITS,
        Some(CapType::CNode) => cap.cnode_radix() + SLOT_BITS,
        Some(CapType::Thread) => TCB_BITS,
        Some(CapType::Zombie) => {
            if cap.zombie_type() == ZOMBIE_TYPE_TCB {
                TCB_BITS
            } else {
                (cap.zombie_type() & mask(6)) as u32 + SLOT_BITS
            }
        }
        Some(CapType::Frame) => cap.frame_size().bits(),
        Some(CapType::PageTable | CapType::PageDirectory | CapType::Pdpt | CapType::Pml4) => PAGE_TABLE_BITS,
        Some(CapType::AsidPool) => ASID_POOL_BITS,
        Some(CapType::UintrReceiver) => UINTR_RECEIVER_SIZE_BITS,
        Some(CapType::Uitt) => UITT_SIZE_BITS,
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
    match cap.cap_type() {
        Some(CapType::Untyped) => cap.untyped_ptr(),
        Some(CapType::Endpoint) => cap.ep_ptr(),
        Some(CapType::Notification) => cap.ntfn_ptr(),
        Some(CapType::CNode) => cap.cnode_ptr(),
        Some(CapType::Thread) => tcb_object_base(cap.tcb_ptr()),
        Some(CapType::Zombie) => cap.zombie_ptr(),
        Some(CapType::Frame) => cap.frame_base(),
        Some(CapType::PageTable | CapType::PageDirectory | CapType::Pdpt) => cap.paging_ptr(),
        Some(CapType::Pml4) => cap.pml4_ptr(),
        Some(CapType::AsidPool) => cap.asid_pool_ptr(),
        Some(CapType::UintrReceiver) => cap.receiver_ptr(),
        Some(CapType::Uitt) => cap.uitt_ptr(),
        _ => 0,
    }
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
    match a.cap_type() {
        Some(CapType::Untyped) => {
            if !cap_is_physical(b) {
                return false;
            }
            let a_base = a.untyped_ptr();
            let b_base = cap_ptr(b);
            let a_top = a_base.wrapping_add(mask(a.untyped_size_bits()));
            let b_top = b_base.wrapping_add(mask(cap_size_bits(b)));
            a_base <= b_base && b_top <= a_top && b_base <= b_top
        }
        Some(CapType::Endpoint) => bt == Some(CapType::Endpoint) && a.ep_ptr() == b.ep_ptr(),
        Some(CapType::Notification) => bt == Some(CapType::Notification) && a.ntfn_ptr() == b.ntfn_ptr(),
        Some(CapType::CNode) => bt == Some(CapType::CNode) && a.cnode_ptr() == b.cnode_ptr() && a.cnode_radix() == b.cnode_radix(),
        Some(CapType::Thread) => bt == Some(CapType::Thread) && a.tcb_ptr() == b.tcb_ptr(),
        Some(CapType::Reply) => bt == Some(CapType::Reply) && a.reply_tcb() == b.reply_tcb(),
        Some(CapType::Domain) => bt == Some(CapType::Domain),
        Some(CapType::IrqControl) => matches!(bt, Some(CapType::IrqControl | CapType::IrqHandler)),
        Some(CapType::IrqHandler) => bt == Some(CapType::IrqHandler) && a.irq() == b.irq(),
        Some(CapType::Frame) => {
            if bt != Some(CapType::Frame) {
                return false;
            }
            let (bot_a, bot_b) = (a.frame_base(), b.frame_base());
            let top_a = bot_a + mask(a.frame_size().bits());
            let top_b = bot_b + mask(b.frame_size().bits());
            bot_a <= bot_b && top_a >= top_b && bot_b <= top_b
        }
        Some(t @ (CapType::PageTable | CapType::PageDirectory | CapType::Pdpt)) => bt == Some(t) && a.paging_ptr() == b.paging_ptr(),
        Some(CapType::Pml4) => bt == Some(CapType::Pml4) && a.pml4_ptr() == b.pml4_ptr(),
        Some(CapType::AsidControl) => bt == Some(CapType::AsidControl),
        Some(CapType::AsidPool) => bt == Some(CapType::AsidPool) && a.asid_pool_ptr() == b.asid_pool_ptr(),
        Some(CapType::IoPortControl) => matches!(bt, Some(CapType::IoPortControl | CapType::IoPort)),
        Some(CapType::IoPort) => bt == Some(CapType::IoPort) && a.io_port_first() == b.io_port_first() && a.io_port_last() == b.io_port_last(),
        Some(CapType::UintrReceiver) => bt == Some(CapType::UintrReceiver) && a.receiver_ptr() == b.receiver_ptr(),
        Some(CapType::Uitt) => bt == Some(CapType::Uitt) && a.uitt_ptr() == b.uitt_ptr(),
        _ => false,
    }
}

/// seL4's `sameObjectAs`: `b` names exactly the object `a` names.
pub fn same_object_as(a: &Cap, b: &Cap) -> bool {
    match a.cap_type() {
        Some(CapType::Untyped | CapType::IrqControl) => false,
        Some(CapType::IoPortControl) if b.is(CapType::IoPort) => false,
        Some(CapType::Frame) if b.is(CapType::Frame) => {
            a.frame_base() == b.frame_base() && a.frame_size() == b.frame_size() && a.frame_is_device() == b.frame_is_device()
        }
        _ => same_region_as(a, b),
    }
}

/// seL4's `isCapRevocable`: whether a cap derived from `src` becomes the
/// head of its own revocable subtree.
pub fn is_cap_revocable(derived: &Cap, src: &Cap) -> bool {
    match derived.cap_type() {
        Some(CapType::Endpoint) => derived.ep_badge() != src.ep_badge(),
        Some(CapType::Notification) => derived.ntfn_badge() != src.ntfn_badge(),
        Some(CapType::IrqHandler) => src.is(CapType::IrqControl),
        Some(CapType::Untyped) => true,
        Some(CapType::IoPort) => src.is(CapType::IoPortControl),
        // Minting a vector starts a subtree that revokes on its own, as
        // minting a badge does.
        Some(CapType::UintrReceiver) => derived.receiver_vector() != src.receiver_vector(),
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
    match cap.cap_type() {
        Some(CapType::Zombie | CapType::IrqControl | CapType::Reply | CapType::IoPortControl) => Ok(Cap::NULL),
        Some(t @ (CapType::PageTable | CapType::PageDirectory | CapType::Pdpt)) => {
            if cap.paging_mapped() {
                Ok(cap)
            } else {
                match t {
                    CapType::PageTable => user_error!("Deriving an unmapped PT cap"),
                    CapType::PageDirectory => user_error!("Deriving a PD cap without an assigned ASID"),
                    _ => user_error!("Deriving an unmapped PTPD cap"),
                }
                Err(NotDerivable)
            }
        }
        Some(CapType::Pml4) => {
            if cap.pml4_mapped() {
                Ok(cap)
            } else {
                user_error!("Deriving a PML4 cap without an assigned ASID");
                Err(NotDerivable)
            }
        }
        Some(CapType::Frame) => Ok(cap.frame_unmapped()),
        _ => Ok(cap),
    }
}

/// seL4's `updateCapData`: Mint's badge or guard, or Mutate's (with
/// `preserve`). A null result means the new data is not allowed.
pub fn update_cap_data(preserve: bool, data: u64, cap: Cap) -> Cap {
    match cap.cap_type() {
        Some(CapType::Endpoint) => {
            if !preserve && cap.ep_badge() == 0 {
                cap.with_badge(data)
            } else {
                Cap::NULL
            }
        }
        Some(CapType::Notification) => {
            if !preserve && cap.ntfn_badge() == 0 {
                cap.with_badge(data)
            } else {
                Cap::NULL
            }
        }
        // A vector is minted once, like a badge, and must be one of the 64.
        Some(CapType::UintrReceiver) => {
            if !preserve && cap.receiver_vector().is_none() && data < 64 {
                cap.with_receiver_vector(data as u8)
            } else {
                Cap::NULL
            }
        }
        Some(CapType::CNode) => {
            let guard_size = (data & 0x3f) as u32;
            if guard_size + cap.cnode_radix() > 64 {
                Cap::NULL
            } else {
                let guard = (data >> 6) & mask(guard_size);
                cap.with_cnode_guard(guard, guard_size)
            }
        }
        _ => cap,
    }
}

/// Frame rights after masking with user rights (seL4's `maskVMRights`).
fn mask_vm_rights(rights: u64, mask_rights: CapRights) -> u64 {
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
    match cap.cap_type() {
        Some(CapType::Endpoint) => cap.with_ep_rights(
            cap.ep_can_send() && rights.allow_write(),
            cap.ep_can_receive() && rights.allow_read(),
            cap.ep_can_grant() && rights.allow_grant(),
            cap.ep_can_grant_reply() && rights.allow_grant_reply(),
        ),
        Some(CapType::Notification) => {
            cap.with_ntfn_rights(cap.ntfn_can_send() && rights.allow_write(), cap.ntfn_can_receive() && rights.allow_read())
        }
        Some(CapType::Reply) => cap.with_reply_can_grant(cap.reply_can_grant() && rights.allow_grant()),
        Some(CapType::Frame) => cap.with_frame_rights(mask_vm_rights(cap.frame_rights(), rights)),
        _ => cap,
    }
}

/// Rights CancelBadgedSends requires of the endpoint cap: all four.
pub fn has_cancel_send_rights(cap: &Cap) -> bool {
    cap.is(CapType::Endpoint) && cap.ep_can_send() && cap.ep_can_receive() && cap.ep_can_grant() && cap.ep_can_grant_reply()
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
        assert_eq!(minted.ep_badge(), 7);
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
        assert_eq!((g.cnode_guard(), g.cnode_guard_size()), (5, 3));
        // Guard bits beyond the guard size are dropped.
        assert_eq!(update_cap_data(false, (0xff << 6) | 2, cn).cnode_guard(), 3);
        assert!(update_cap_data(false, 55, cn).is_null(), "radix 10 + guard 55 exceeds 64 bits");
    }

    #[test]
    fn rights_masking() {
        let ep = Cap::endpoint(EP, 0, true, true, true, true);
        let ro = mask_cap_rights(CapRights(2), ep);
        assert!(!ro.ep_can_send() && ro.ep_can_receive() && !ro.ep_can_grant());
        assert!(!has_cancel_send_rights(&ro) && has_cancel_send_rights(&ep));
        let f = Cap::frame(0xffff_ff80_0020_0000, FrameSize::Small, vm_rights::READ_WRITE, false, None);
        assert_eq!(mask_cap_rights(CapRights(2), f).frame_rights(), vm_rights::READ_ONLY);
        assert_eq!(mask_cap_rights(CapRights(1), f).frame_rights(), vm_rights::KERNEL_ONLY);
        assert_eq!(mask_cap_rights(CapRights(3), f).frame_rights(), vm_rights::READ_WRITE);
    }

    #[test]
    fn derive_rules() {
        assert_eq!(derive_cap_ignoring_children(Cap::irq_control()), Ok(Cap::NULL));
        assert_eq!(derive_cap_ignoring_children(Cap::pml4(0x1000, 0, false)), Err(NotDerivable));
        let mapped = Cap::frame(0xffff_ff80_0020_0000, FrameSize::Small, 3, false, Some((1, 0x40_0000)));
        assert_eq!(derive_cap_ignoring_children(mapped).unwrap().frame_mapped_asid(), 0);
    }
}
