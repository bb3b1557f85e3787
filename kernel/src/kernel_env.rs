//! The kernel's [`ObjectEnv`]: what capability operations do to the rest
//! of the machine (threads, address spaces, preemption).

use crate::arch::x86_64::{apic, paging, vspace};
use crate::config::pptr_to_paddr;
use crate::object::cap::{Cap, CapView};
use crate::object::env::{ObjectEnv, Preempted};
use crate::thread::{self, Tcb};

pub struct KernelEnv;

impl ObjectEnv for KernelEnv {
    fn preemption_point(&mut self) -> Result<(), Preempted> {
        if crate::preemption::work_unit_done() && apic::interrupt_pending() {
            return Err(Preempted);
        }
        Ok(())
    }

    fn finalise(&mut self, cap: &Cap, is_final: bool) {
        match cap.view() {
            CapView::UintrReceiver(receiver) => crate::object::uintr::receiver_cap_deleted(receiver, is_final),
            CapView::Uitt(uitt) => crate::object::uintr::uitt_cap_deleted(uitt, is_final),
            CapView::Thread(thread) => {
                // Safety: a thread cap points at a live, listed TCB.
                let t = unsafe { &mut *(thread.tcb() as *mut Tcb) };
                crate::ipc::unbind_notification(t);
                // Safety: as above.
                unsafe { thread::remove_thread(t) };
            }
            CapView::Endpoint(ep) => crate::ipc::cancel_all_ipc(ep.ptr()),
            CapView::Notification(ntfn) => {
                crate::ipc::unbind_maybe_notification(ntfn.ptr());
                crate::ipc::cancel_all_signals(ntfn.ptr());
            }
            CapView::Frame(frame) => vspace::unmap_frame(frame),
            CapView::PageTable(table) => vspace::unmap_table(table.into()),
            CapView::PageDirectory(table) => vspace::unmap_table(table.into()),
            CapView::Pdpt(table) => vspace::unmap_table(table.into()),
            CapView::Pml4(pml4) => vspace::delete_asid(pml4.asid(), pml4.ptr()),
            CapView::AsidPool(pool) => vspace::delete_asid_pool(pool.asid_base(), pool.ptr()),
            CapView::IrqHandler(handler) => crate::object::irq::deleting_handler(handler.irq()),
            // An I/O port range is released after the slot is emptied.
            _ => {}
        }
    }

    fn uintr_window_free(&self) -> u64 {
        crate::object::uintr::window_slots_free()
    }

    fn post_cap_deletion(&mut self, cleanup: &Cap) {
        if let Some(ports) = cleanup.as_io_port() {
            crate::object::io_port::release(ports);
        }
        if let Some(handler) = cleanup.as_irq_handler() {
            crate::object::irq::deleted_handler(handler.irq());
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
            CapView::UintrReceiver(_) | CapView::Uitt(_) => crate::object::uintr::object_created(cap),
            // Safety: retype just created the PML4 in zeroed memory.
            CapView::Pml4(pml4) => unsafe { paging::copy_kernel_mappings(pptr_to_paddr(pml4.ptr())) },
            _ => {}
        }
    }

    fn cancel_badged_sends(&mut self, ep: u64, badge: u64) {
        crate::ipc::cancel_badged_sends(ep, badge);
    }
}
