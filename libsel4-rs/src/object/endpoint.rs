//! Endpoints and notifications: the IPC syscalls as methods.
//!
//! ```no_run
//! use sel4::cap::Endpoint;
//! use sel4::MessageInfo;
//! # fn demo(server: Endpoint) {
//! // A two-word request; the reply's words are read back with get_mr.
//! let reply = server.call(MessageInfo::new(7, 0, 0, 2), &[1, 2]);
//! let answer = sel4::invocation::get_mr(0);
//! # let _ = (reply, answer);
//! # }
//! ```

use crate::cap::{Endpoint, Notification};
use crate::ipc::{self, Received};
use crate::{MessageInfo, Word};

impl Endpoint {
    /// `seL4_Send`: blocks until a receiver takes the message.
    pub fn send(self, info: MessageInfo, mrs: &[Word]) {
        ipc::send(self.cptr(), info, mrs)
    }

    /// `seL4_NBSend`: delivered only if a receiver is already waiting.
    pub fn nb_send(self, info: MessageInfo, mrs: &[Word]) {
        ipc::nb_send(self.cptr(), info, mrs)
    }

    /// `seL4_Call`: sends and waits for the reply.
    pub fn call(self, info: MessageInfo, mrs: &[Word]) -> Received {
        ipc::call(self.cptr(), info, mrs)
    }

    /// `seL4_Recv`: waits for a message (or, with a bound notification, a
    /// signal).
    pub fn recv(self) -> Received {
        ipc::recv(self.cptr())
    }

    /// `seL4_NBRecv`: an empty message with badge 0 when no one is sending.
    pub fn nb_recv(self) -> Received {
        ipc::nb_recv(self.cptr())
    }

    /// `seL4_ReplyRecv`: answers the last caller, then waits here.
    pub fn reply_recv(self, info: MessageInfo, mrs: &[Word]) -> Received {
        ipc::reply_recv(self.cptr(), info, mrs)
    }
}

impl Notification {
    /// `seL4_Signal`: ors the cap's badge into the notification word.
    pub fn signal(self) {
        ipc::signal(self.cptr())
    }

    /// `seL4_Wait`: blocks until signalled; returns the accumulated badges.
    pub fn wait(self) -> Word {
        ipc::wait(self.cptr())
    }

    /// `seL4_Poll`: the accumulated badges, or 0 when not signalled.
    pub fn poll(self) -> Word {
        ipc::poll(self.cptr())
    }
}
