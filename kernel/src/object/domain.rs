//! The domain cap: DomainSet_Set moves a thread to a scheduling domain
//! (`KernelNumDomains`; seL4-rs supports one, domain 0).

use super::cap::Cap;
use super::invocation::{Invocation, InvocationError, SyscallError};
use crate::sched;
use crate::thread::Tcb;
use sel4_compat::caps::CapType;

/// `KernelNumDomains`.
pub const NUM_DOMAINS: u64 = crate::config::NUM_DOMAINS as u64;

pub fn invoke(inv: &Invocation<'_>) -> Result<(), InvocationError> {
    if inv.label != sel4_compat::invocation::DOMAIN_SET_SET {
        user_error!("Domain: Illegal operation (only DomainSet_Set is implemented).");
        return Err(SyscallError::IllegalOperation.into());
    }
    if inv.length == 0 {
        user_error!("Domain Configure: Truncated message.");
        return Err(SyscallError::TruncatedMessage.into());
    }
    let domain = inv.arg(0);
    if domain >= NUM_DOMAINS {
        user_error!("Domain Configure: invalid domain ({domain} >= {NUM_DOMAINS}).");
        return Err(SyscallError::InvalidArgument { number: 0 }.into());
    }
    let Some(slot) = inv.extra_cap(0) else {
        user_error!("Domain Configure: Truncated message.");
        return Err(SyscallError::TruncatedMessage.into());
    };
    // Safety: looked up in the caller's CSpace.
    let cap: Cap = unsafe { (*slot).cap };
    if !cap.is(CapType::Thread) {
        user_error!("Domain Configure: thread cap required.");
        return Err(SyscallError::InvalidArgument { number: 1 }.into());
    }
    // Safety: a thread cap names a live TCB.
    let t = unsafe { &mut *(cap.tcb_ptr() as *mut Tcb) };
    sched::dequeue(t);
    t.domain = domain as u8;
    if t.state.is_runnable() {
        sched::enqueue(t);
    }
    if sched::is_current(t) {
        sched::reschedule_required();
    }
    Ok(())
}
