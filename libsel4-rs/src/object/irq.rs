//! Interrupts: IRQControl issues handler caps, an IRQHandler cap binds a
//! notification and acknowledges.
//!
//! ```no_run
//! use sel4::cap::{init, IrqHandler, Notification};
//! # fn demo(ntfn: Notification, free: u64) -> Result<(), sel4::Error> {
//! // The PIT on I/O APIC 0 pin 2, edge-triggered, active high, delivered
//! // as user IRQ vector 0; its signals arrive on `ntfn`.
//! init::IRQ_CONTROL.get_ioapic(init::CNODE.slot(free, 64), 0, 2, 0, 0, 0)?;
//! let handler = IrqHandler::from_cptr(free);
//! handler.set_notification(ntfn)?;
//! ntfn.wait();
//! handler.ack()?;
//! # Ok(())
//! # }
//! ```

use crate::cap::{IrqControl, IrqHandler, Notification, Slot};
use crate::invocation::{call, result};
use crate::Error;
use sel4_compat::invocation as label;

impl IrqControl {
    /// `seL4_IRQControl_GetIOAPIC`: a handler cap in `dest` for `pin` of
    /// I/O APIC `ioapic`, `level`-triggered (1) or edge (0), active low
    /// (`polarity` 1) or high, delivered as user IRQ `vector`.
    pub fn get_ioapic(self, dest: Slot, ioapic: u64, pin: u64, level: u64, polarity: u64, vector: u64) -> Result<(), Error> {
        let args = [dest.index, dest.depth as u64, ioapic, pin, level, polarity, vector];
        result(call(self.cptr(), label::X86_IRQ_ISSUE_IRQ_HANDLER_IOAPIC, &args, &[dest.root.cptr()]))
    }

    /// `seL4_IRQControl_GetMSI` for PCI `bus:dev.func`, with the driver's
    /// `handle`, delivered as user IRQ `vector`.
    #[allow(clippy::too_many_arguments)]
    pub fn get_msi(self, dest: Slot, bus: u64, dev: u64, func: u64, handle: u64, vector: u64) -> Result<(), Error> {
        let args = [dest.index, dest.depth as u64, bus, dev, func, handle, vector];
        result(call(self.cptr(), label::X86_IRQ_ISSUE_IRQ_HANDLER_MSI, &args, &[dest.root.cptr()]))
    }

    /// `seL4_IRQControl_Get`, which x86 with an I/O APIC refuses (use
    /// [`IrqControl::get_ioapic`]); present for completeness.
    pub fn get(self, irq: u64, dest: Slot) -> Result<(), Error> {
        result(call(self.cptr(), label::IRQ_ISSUE_IRQ_HANDLER, &[irq, dest.index, dest.depth as u64], &[dest.root.cptr()]))
    }
}

impl IrqHandler {
    /// `seL4_IRQHandler_Ack`: unmasks the interrupt for its next arrival.
    pub fn ack(self) -> Result<(), Error> {
        result(call(self.cptr(), label::IRQ_ACK_IRQ, &[], &[]))
    }

    pub fn set_notification(self, notification: Notification) -> Result<(), Error> {
        result(call(self.cptr(), label::IRQ_SET_IRQ_HANDLER, &[], &[notification.cptr()]))
    }

    pub fn clear(self) -> Result<(), Error> {
        result(call(self.cptr(), label::IRQ_CLEAR_IRQ_HANDLER, &[], &[]))
    }
}
