//! The kernel's [`ObjectEnv`]: what capability operations do to the rest
//! of the machine (threads, address spaces, preemption).

use crate::arch::x86_64::{apic, paging, vspace};
use crate::cap::env::{ObjectEnv, Preempted};
use crate::cap::{Cap, CapView};
use crate::config::pptr_to_paddr;
use crate::kernel_state::Global;
use crate::thread::{self, Tcb};

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
        match cap.view() {
            CapView::UintrReceiver(receiver) => crate::uintr::objects::receiver_cap_deleted(self, receiver, is_final),
            CapView::Uitt(uitt) => crate::uintr::objects::uitt_cap_deleted(self, uitt, is_final),
            CapView::Thread(thread) => {
                // Safety: a thread cap points at a live, listed TCB.
                let t = unsafe { &mut *(thread.tcb() as *mut Tcb) };
                crate::object::notification::unbind_notification(t);
                // Safety: as above.
                unsafe { thread::remove_thread(t) };
            }
            CapView::Endpoint(ep) => crate::object::endpoint::cancel_all_ipc(ep.ptr()),
            CapView::Notification(ntfn) => {
                crate::object::notification::unbind_maybe_notification(ntfn.ptr());
                crate::object::notification::cancel_all_signals(ntfn.ptr());
            }
            CapView::Frame(frame) => vspace::unmap_frame(&self.global.asids, frame),
            CapView::PageTable(table) => vspace::unmap_table(&self.global.asids, table.into()),
            CapView::PageDirectory(table) => vspace::unmap_table(&self.global.asids, table.into()),
            CapView::Pdpt(table) => vspace::unmap_table(&self.global.asids, table.into()),
            CapView::Pml4(pml4) => vspace::delete_asid(&self.global.asids, pml4.asid(), pml4.ptr()),
            CapView::AsidPool(pool) => vspace::delete_asid_pool(&mut self.global.asids, pool.asid_base(), pool.ptr()),
            CapView::IrqHandler(handler) => crate::object::irq::deleting_handler(self, handler.irq()),
            // An I/O port range is released after the slot is emptied.
            _ => {}
        }
    }

    fn uintr_window_free(&self) -> u64 {
        crate::uintr::objects::window_slots_free(&self.global.uintr_window)
    }

    fn post_cap_deletion(&mut self, cleanup: &Cap) {
        if let Some(ports) = cleanup.as_io_port() {
            crate::object::io_port::release(&mut self.global.io_ports, ports);
        }
        if let Some(handler) = cleanup.as_irq_handler() {
            crate::object::irq::deleted_handler(&mut self.global.irqs, handler.irq());
        }
    }

    fn init_object(&mut self, cap: &Cap) {
        match cap.view() {
            CapView::Thread(thread) => {
                let mut name = [0u8; thread::TCB_NAME_LENGTH];
                let n = thread::child_name(&mut name);
                // Safety: retype just created the TCB in zeroed memory.
                unsafe { thread::init_tcb(thread.tcb() as *mut Tcb, &name[..n]) };
            }
            CapView::UintrReceiver(_) | CapView::Uitt(_) => crate::uintr::objects::object_created(&mut self.global.uintr_window, cap),
            // Safety: retype just created the PML4 in zeroed memory.
            CapView::Pml4(pml4) => unsafe { paging::copy_kernel_mappings(pptr_to_paddr(pml4.ptr())) },
            _ => {}
        }
    }

    fn cancel_badged_sends(&mut self, ep: u64, badge: u64) {
        crate::object::endpoint::cancel_badged_sends(ep, badge);
    }
}
