//! The kernel's [`ObjectEnv`]: what capability operations do to the rest
//! of the machine (threads, address spaces, preemption).

use crate::arch::x86_64::{apic, paging, vspace};
use crate::config::pptr_to_paddr;
use crate::kernel_state::Global;
use crate::object::cap::Cap;
use crate::object::env::{ObjectEnv, Preempted};
use crate::thread::{self, Tcb};
use sel4_compat::caps::CapType;

/// Holds the kernel entry's global state, which deleting and creating
/// objects update (IRQs, I/O ports, ASIDs, the UINTR window), so that a
/// capability operation reaches it only through the borrow it was given.
pub struct KernelEnv<'k> {
    pub global: &'k mut Global,
}

impl ObjectEnv for KernelEnv<'_> {
    fn preemption_point(&mut self) -> Result<(), Preempted> {
        if crate::preemption::work_unit_done() && apic::interrupt_pending() {
            return Err(Preempted);
        }
        Ok(())
    }

    fn finalise(&mut self, cap: &Cap, is_final: bool) {
        match cap.cap_type() {
            Some(CapType::UintrReceiver) => crate::object::uintr::receiver_cap_deleted(self, cap, is_final),
            Some(CapType::Uitt) => crate::object::uintr::uitt_cap_deleted(self, cap, is_final),
            Some(CapType::Thread) => {
                // Safety: a thread cap points at a live, listed TCB.
                let t = unsafe { &mut *(cap.tcb_ptr() as *mut Tcb) };
                crate::ipc::unbind_notification(t);
                // Safety: as above.
                unsafe { thread::remove_thread(t) };
            }
            Some(CapType::Endpoint) => crate::ipc::cancel_all_ipc(cap.ep_ptr()),
            Some(CapType::Notification) => {
                crate::ipc::unbind_maybe_notification(cap.ntfn_ptr());
                crate::ipc::cancel_all_signals(cap.ntfn_ptr());
            }
            Some(CapType::Frame) => vspace::unmap_frame(&self.global.asids, cap),
            Some(CapType::PageTable | CapType::PageDirectory | CapType::Pdpt) => vspace::unmap_table(&self.global.asids, cap),
            Some(CapType::Pml4) => vspace::delete_asid(&self.global.asids, cap.pml4_asid(), cap.pml4_ptr()),
            Some(CapType::AsidPool) => vspace::delete_asid_pool(&mut self.global.asids, cap.asid_base(), cap.asid_pool_ptr()),
            Some(CapType::IrqHandler) => crate::object::irq::deleting_handler(self, cap.irq()),
            // An I/O port range is released after the slot is emptied.
            _ => {}
        }
    }

    fn uintr_window_free(&self) -> u64 {
        crate::object::uintr::window_slots_free(&self.global.uintr_window)
    }

    fn post_cap_deletion(&mut self, cleanup: &Cap) {
        if cleanup.is(CapType::IoPort) {
            crate::object::io_port::release(&mut self.global.io_ports, cleanup);
        }
        if cleanup.is(CapType::IrqHandler) {
            crate::object::irq::deleted_handler(&mut self.global.irqs, cleanup.irq());
        }
    }

    fn init_object(&mut self, cap: &Cap) {
        match cap.cap_type() {
            Some(CapType::Thread) => {
                let mut name = [0u8; thread::TCB_NAME_LENGTH];
                let n = thread::child_name(&mut name);
                // Safety: retype just created the TCB in zeroed memory.
                unsafe { thread::init_tcb(cap.tcb_ptr() as *mut Tcb, &name[..n]) };
            }
            Some(CapType::UintrReceiver | CapType::Uitt) => crate::object::uintr::object_created(&mut self.global.uintr_window, cap),
            // Safety: retype just created the PML4 in zeroed memory.
            Some(CapType::Pml4) => unsafe { paging::copy_kernel_mappings(pptr_to_paddr(cap.pml4_ptr())) },
            _ => {}
        }
    }

    fn cancel_badged_sends(&mut self, ep: u64, badge: u64) {
        crate::ipc::cancel_badged_sends(ep, badge);
    }
}
