//! Invocations of this kernel's user-interrupt objects (not seL4's; see
//! [`crate::uintr`] for the whole API and an example).

use crate::cap::{Notification, Tcb, UintrReceiver, Uitt};
use crate::invocation::{call, result};
use crate::Error;
use sel4_compat::uintr::label;

impl UintrReceiver {
    /// Makes `tcb` the thread that takes this receiver's user interrupts,
    /// in `handler` (see [`crate::uintr::handler_entry`]) on its stack
    /// moved down by `stack_adjust` bytes (or, with bit 0 set, on the
    /// stack at `stack_adjust - 1`). The thread starts with user
    /// interrupts disabled: it enables them with [`crate::uintr::stui`].
    pub fn bind_tcb(self, tcb: Tcb, handler: u64, stack_adjust: u64) -> Result<(), Error> {
        result(call(self.cptr(), label::UINTR_RECEIVER_BIND_TCB, &[handler, stack_adjust], &[tcb.cptr()]))
    }

    pub fn unbind_tcb(self) -> Result<(), Error> {
        result(call(self.cptr(), label::UINTR_RECEIVER_UNBIND_TCB, &[], &[]))
    }

    /// The notification signalled when a user interrupt arrives while the
    /// receiving thread is blocked: waiting on it is how a receiver
    /// sleeps until its next user interrupt.
    pub fn set_notification(self, notification: Notification) -> Result<(), Error> {
        result(call(self.cptr(), label::UINTR_RECEIVER_SET_NOTIFICATION, &[], &[notification.cptr()]))
    }
}

impl Uitt {
    /// Entry `index` (0-255) sends to `receiver` with the vector minted
    /// into it (`CNode_Mint` with the vector as the badge). Revoking or
    /// deleting that cap invalidates the entry.
    pub fn register_sender(self, index: u64, receiver: UintrReceiver) -> Result<(), Error> {
        result(call(self.cptr(), label::UITT_REGISTER_SENDER, &[index], &[receiver.cptr()]))
    }

    pub fn unregister_sender(self, index: u64) -> Result<(), Error> {
        result(call(self.cptr(), label::UITT_UNREGISTER_SENDER, &[index], &[]))
    }
}

impl Tcb {
    /// The UITT this thread's SENDUIPIs index.
    pub fn bind_uitt(self, uitt: Uitt) -> Result<(), Error> {
        result(call(self.cptr(), label::TCB_BIND_UITT, &[], &[uitt.cptr()]))
    }

    pub fn unbind_uitt(self) -> Result<(), Error> {
        result(call(self.cptr(), label::TCB_UNBIND_UITT, &[], &[]))
    }
}
