//! TCB invocations.
//!
//! ```no_run
//! use sel4::cap::{init, Tcb};
//! # fn demo(worker: Tcb) -> Result<(), sel4::Error> {
//! // Run the worker one priority below the root thread, then stop it.
//! worker.set_priority(init::TCB, 254)?;
//! worker.resume()?;
//! let regs = worker.read_registers(true, 2)?; // suspends it; rip and rsp
//! # let _ = regs;
//! # Ok(())
//! # }
//! ```

use crate::cap::{CNode, Granule, Notification, Pml4, Tcb};
use crate::invocation::{call, get_mr, result};
use crate::Error;
use sel4_compat::invocation as label;

/// Words in `seL4_UserContext` on x86_64 (rip, rsp, rflags, rax, ...).
pub const USER_CONTEXT_WORDS: usize = 20;

/// Which register groups `seL4_TCB_CopyRegisters` moves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyRegisters {
    pub suspend_source: bool,
    pub resume_target: bool,
    /// rip, rsp, rflags (and the rest of the frame registers).
    pub frame: bool,
    /// The integer registers outside the frame group.
    pub integer: bool,
}

impl Tcb {
    fn invoke(self, label: u64, args: &[u64], caps: &[crate::CPtr]) -> Result<(), Error> {
        result(call(self.cptr(), label, args, caps))
    }

    /// `seL4_TCB_Configure`: fault endpoint (a cap pointer in the thread's
    /// own CSpace, or 0), CSpace and VSpace roots with their data words,
    /// and the IPC buffer's address and frame.
    #[allow(clippy::too_many_arguments)]
    pub fn configure(
        self,
        fault_ep: crate::CPtr,
        cspace: CNode,
        cspace_data: u64,
        vspace: Pml4,
        vspace_data: u64,
        buffer: u64,
        buffer_frame: Granule,
    ) -> Result<(), Error> {
        let args = [fault_ep, cspace_data, vspace_data, buffer];
        self.invoke(label::TCB_CONFIGURE, &args, &[cspace.cptr(), vspace.cptr(), buffer_frame.cptr()])
    }

    /// `seL4_TCB_SetSpace`: new fault endpoint and CSpace/VSpace roots.
    pub fn set_space(self, fault_ep: crate::CPtr, cspace: CNode, cspace_data: u64, vspace: Pml4, vspace_data: u64) -> Result<(), Error> {
        self.invoke(label::TCB_SET_SPACE, &[fault_ep, cspace_data, vspace_data], &[cspace.cptr(), vspace.cptr()])
    }

    /// `seL4_TCB_WriteRegisters`: `regs` in `seL4_UserContext` order (the
    /// first `regs.len()` of them); `resume` restarts the thread.
    pub fn write_registers(self, resume: bool, arch_flags: u8, regs: &[u64]) -> Result<(), Error> {
        let count = regs.len().min(USER_CONTEXT_WORDS);
        let mut args = [0u64; 2 + USER_CONTEXT_WORDS];
        args[0] = resume as u64 | (arch_flags as u64) << 8;
        args[1] = count as u64;
        args[2..2 + count].copy_from_slice(&regs[..count]);
        self.invoke(label::TCB_WRITE_REGISTERS, &args[..2 + count], &[])
    }

    /// `seL4_TCB_ReadRegisters`: the first `count` registers in
    /// `seL4_UserContext` order (the rest of the array is zero).
    pub fn read_registers(self, suspend: bool, count: usize) -> Result<[u64; USER_CONTEXT_WORDS], Error> {
        let info = call(self.cptr(), label::TCB_READ_REGISTERS, &[suspend as u64, count as u64], &[]);
        result(info)?;
        let mut regs = [0u64; USER_CONTEXT_WORDS];
        for (i, r) in regs.iter_mut().enumerate().take(count.min(info.length() as usize)) {
            *r = get_mr(i);
        }
        Ok(regs)
    }

    /// `seL4_TCB_CopyRegisters` from `source` into this thread.
    pub fn copy_registers(self, source: Tcb, what: CopyRegisters, arch_flags: u8) -> Result<(), Error> {
        let flags = what.suspend_source as u64
            | (what.resume_target as u64) << 1
            | (what.frame as u64) << 2
            | (what.integer as u64) << 3
            | (arch_flags as u64) << 8;
        self.invoke(label::TCB_COPY_REGISTERS, &[flags], &[source.cptr()])
    }

    pub fn resume(self) -> Result<(), Error> {
        self.invoke(label::TCB_RESUME, &[], &[])
    }

    pub fn suspend(self) -> Result<(), Error> {
        self.invoke(label::TCB_SUSPEND, &[], &[])
    }

    /// `seL4_TCB_SetPriority`, with `authority`'s maximum controlled
    /// priority as the limit.
    pub fn set_priority(self, authority: Tcb, priority: u64) -> Result<(), Error> {
        self.invoke(label::TCB_SET_PRIORITY, &[priority], &[authority.cptr()])
    }

    pub fn set_mc_priority(self, authority: Tcb, mcp: u64) -> Result<(), Error> {
        self.invoke(label::TCB_SET_MCPRIORITY, &[mcp], &[authority.cptr()])
    }

    pub fn set_sched_params(self, authority: Tcb, mcp: u64, priority: u64) -> Result<(), Error> {
        self.invoke(label::TCB_SET_SCHED_PARAMS, &[mcp, priority], &[authority.cptr()])
    }

    /// `seL4_TCB_SetIPCBuffer`: the buffer's address and the frame it is in.
    pub fn set_ipc_buffer(self, buffer: u64, buffer_frame: Granule) -> Result<(), Error> {
        self.invoke(label::TCB_SET_IPC_BUFFER, &[buffer], &[buffer_frame.cptr()])
    }

    pub fn bind_notification(self, notification: Notification) -> Result<(), Error> {
        self.invoke(label::TCB_BIND_NOTIFICATION, &[], &[notification.cptr()])
    }

    pub fn unbind_notification(self) -> Result<(), Error> {
        self.invoke(label::TCB_UNBIND_NOTIFICATION, &[], &[])
    }

    /// `seL4_TCB_SetTLSBase`: the thread's FS base.
    pub fn set_tls_base(self, base: u64) -> Result<(), Error> {
        self.invoke(label::TCB_SET_TLS_BASE, &[base], &[])
    }

    /// `seL4_TCB_SetFlags`: clears the `clear` flags, then sets the `set`
    /// ones (`sel4_compat::objects::tcb_flag`; unknown flags are ignored)
    /// and returns the thread's flags as they are now. With both zero it
    /// only reads them.
    pub fn set_flags(self, clear: u64, set: u64) -> Result<u64, Error> {
        let info = call(self.cptr(), label::TCB_SET_FLAGS, &[clear, set], &[]);
        result(info)?;
        Ok(get_mr(0))
    }
}
