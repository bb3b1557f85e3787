//! x86 I/O ports: IOPortControl hands out port ranges as IOPort caps (each
//! port to at most one range at a time), and IOPort caps read and write
//! ports inside their range.

use super::cap::{Cap, IoPortCap};
use super::cnode::lookup_slot_for_cnode_op;
use super::invocation::{Invocation, InvocationError, SyscallError};
use crate::arch::x86_64::io;
use crate::cspace::cte::{self, Cte};
use crate::sched;
use crate::thread::{Tcb, ThreadState};
use sel4_compat::invocation as label;
use sel4_compat::ipc::MessageInfo;

/// One bit per I/O port: handed out to an IOPort cap (seL4's
/// `x86KSAllocatedIOPorts`); part of the kernel's [`Global`] state.
///
/// [`Global`]: crate::kernel_state::Global
pub struct IoPortAllocation([u64; 1024]);

impl Default for IoPortAllocation {
    fn default() -> IoPortAllocation {
        IoPortAllocation::new()
    }
}

impl IoPortAllocation {
    pub const fn new() -> IoPortAllocation {
        IoPortAllocation([0; 1024])
    }

    fn range_free(&self, first: u16, last: u16) -> bool {
        (first..=last).all(|p| self.0[p as usize / 64] & (1 << (p % 64)) == 0)
    }

    fn set_range(&mut self, first: u16, last: u16, used: bool) {
        for p in first..=last {
            let (w, b) = (p as usize / 64, p % 64);
            if used {
                self.0[w] |= 1 << b;
            } else {
                self.0[w] &= !(1 << b);
            }
        }
    }
}

/// An IOPort cap was deleted for good: its ports are free again.
pub fn release(ports: &mut IoPortAllocation, cap: IoPortCap) {
    ports.set_range(cap.first() as u16, cap.last() as u16, false);
}

/// IOPortControl_Issue.
///
/// # Safety
/// `slot` is the live slot of the invoked IOPortControl cap and the
/// invocation's extra caps are live slots found by lookup.
pub unsafe fn invoke_control(ports: &mut IoPortAllocation, caller: &mut Tcb, slot: *mut Cte, inv: &Invocation<'_>) -> Result<(), InvocationError> {
    if inv.label != label::X86_IOPORT_CONTROL_ISSUE {
        user_error!("IOPortControl: Unknown operation.");
        return Err(SyscallError::IllegalOperation.into());
    }
    let Some(root_slot) = inv.extra_cap(0).filter(|_| inv.length >= 4) else {
        user_error!("IOPortControl: Truncated message.");
        return Err(SyscallError::TruncatedMessage.into());
    };
    let (first, last) = ((inv.arg(0) & 0xffff) as u16, (inv.arg(1) & 0xffff) as u16);
    let (index, depth) = (inv.arg(2), inv.arg(3));
    if last < first {
        user_error!("IOPortControl: Last port must be > first port.");
        return Err(SyscallError::InvalidArgument { number: 1 }.into());
    }
    if !ports.range_free(first, last) {
        user_error!("IOPortControl: Some ports in range already in use.");
        return Err(SyscallError::RevokeFirst.into());
    }
    // Safety: the extra cap's slot was looked up in the caller's CSpace.
    let root = unsafe { (*root_slot).cap };
    let dest = lookup_slot_for_cnode_op(false, root, index, depth)
        .inspect_err(|_| user_error!("Target slot for new IO Port cap invalid: cap {}.", extra_cptr(caller)))?;
    // Safety: a slot from a lookup.
    if !unsafe { (*dest).cap }.is_null() {
        user_error!("Target slot for new IO Port cap not empty: cap {}.", extra_cptr(caller));
        return Err(SyscallError::DeleteFirst.into());
    }
    ports.set_range(first, last, true);
    // Safety: `dest` is empty and distinct from the control cap's slot.
    unsafe { cte::cte_insert(Cap::io_port(first, last), slot, dest) };
    Ok(())
}

/// The cap pointer of the invocation's first extra cap, as the caller
/// wrote it (for the debug line).
fn extra_cptr(caller: &mut Tcb) -> u64 {
    caller.ipc_buffer().map_or(0, |b| b.caps_or_badges[0])
}

/// IOPort In8/16/32 and Out8/16/32.
pub fn invoke_port(caller: &mut Tcb, cap: IoPortCap, inv: &Invocation<'_>, is_call: bool) -> Result<(), InvocationError> {
    let size = match inv.label {
        label::X86_IOPORT_IN8 | label::X86_IOPORT_OUT8 => 1,
        label::X86_IOPORT_IN16 | label::X86_IOPORT_OUT16 => 2,
        label::X86_IOPORT_IN32 | label::X86_IOPORT_OUT32 => 4,
        _ => {
            user_error!("IOPort: Unknown operation.");
            return Err(SyscallError::IllegalOperation.into());
        }
    };
    let is_in = matches!(inv.label, label::X86_IOPORT_IN8 | label::X86_IOPORT_IN16 | label::X86_IOPORT_IN32);
    if inv.length < if is_in { 1 } else { 2 } {
        match is_in {
            true => user_error!("IOPort: Truncated message."),
            false => user_error!("IOPort Out: Truncated message."),
        }
        return Err(SyscallError::TruncatedMessage.into());
    }
    let port = (inv.arg(0) & 0xffff) as u32;
    let end = port + size - 1;
    if port < cap.first() as u32 || end > cap.last() as u32 {
        let (first, last) = (cap.first(), cap.last());
        user_error!("IOPort: Ports {port}--{end} fall outside permitted range {first}--{last}.");
        return Err(SyscallError::IllegalOperation.into());
    }
    let port = port as u16;
    if is_in {
        // Safety: the port lies in a range the caller holds a cap to.
        let value = unsafe {
            match size {
                1 => io::inb(port) as u64,
                2 => io::inw(port) as u64,
                _ => io::inl(port) as u64,
            }
        };
        if is_call {
            caller.ctx.regs.r10 = value;
            caller.ctx.regs.rdi = 0;
            caller.ctx.regs.rsi = MessageInfo::new(0, 0, 0, 1).0;
        }
        sched::set_thread_state(caller, ThreadState::Running);
    } else {
        let data = inv.arg(1);
        // Safety: as above.
        unsafe {
            match size {
                1 => io::outb(port, data as u8),
                2 => io::outw(port, data as u16),
                _ => io::outl(port, data as u32),
            }
        }
    }
    Ok(())
}
