//! The domain cap: DomainSet_Set moves a thread to a scheduling domain,
//! DomainSchedule_Configure writes an entry of the domain schedule and
//! DomainSchedule_SetStart picks the entry the schedule restarts from
//! (`KernelNumDomains`; seL4-rs supports one domain, domain 0, so its
//! schedule has two entries and only the first can be configured).

use super::invocation::{Invocation, InvocationError, SyscallError};
use crate::domain_schedule::{DomainSchedule, Entry, MAX_DURATION, SCHEDULE_LENGTH};
use crate::sched;
use crate::thread::Tcb;
use sel4_compat::invocation as label;

/// `KernelNumDomains`.
pub const NUM_DOMAINS: u64 = crate::config::NUM_DOMAINS as u64;

/// A checked domain invocation.
enum Operation {
    SetDomain { tcb: *mut Tcb, domain: u8 },
    Configure { index: usize, entry: Entry },
    SetStart { index: usize },
}

pub fn invoke(inv: &Invocation<'_>) -> Result<(), InvocationError> {
    let op = sched::with_domain_schedule(|schedule| decode(inv, schedule))?;
    perform(op);
    Ok(())
}

fn decode(inv: &Invocation<'_>, schedule: &DomainSchedule) -> Result<Operation, SyscallError> {
    match inv.label {
        label::DOMAIN_SET_SET => decode_set_domain(inv),
        label::DOMAIN_SCHEDULE_CONFIGURE => decode_configure(inv, schedule),
        label::DOMAIN_SCHEDULE_SET_START => decode_set_start(inv, schedule),
        // seL4 prints nothing here.
        _ => Err(SyscallError::IllegalOperation),
    }
}

fn decode_set_domain(inv: &Invocation<'_>) -> Result<Operation, SyscallError> {
    if inv.length == 0 {
        user_error!("Domain Configure: Truncated message.");
        return Err(SyscallError::TruncatedMessage);
    }
    let domain = inv.arg(0);
    if domain >= NUM_DOMAINS {
        user_error!("Domain Configure: invalid domain ({domain} >= {NUM_DOMAINS}).");
        return Err(SyscallError::InvalidArgument { number: 0 });
    }
    let Some(slot) = inv.extra_cap(0) else {
        user_error!("Domain Configure: Truncated message.");
        return Err(SyscallError::TruncatedMessage);
    };
    // Safety: looked up in the caller's CSpace.
    let Some(thread) = unsafe { (*slot).cap }.as_thread() else {
        user_error!("Domain Configure: thread cap required.");
        return Err(SyscallError::InvalidArgument { number: 1 });
    };
    Ok(Operation::SetDomain { tcb: thread.tcb() as *mut Tcb, domain: domain as u8 })
}

/// The checks of seL4's `decodeDomainScheduleConfigure`, in its order. The
/// duration is one word on a 64-bit kernel.
fn decode_configure(inv: &Invocation<'_>, schedule: &DomainSchedule) -> Result<Operation, SyscallError> {
    if inv.length < 3 {
        user_error!("Domain Schedule Configure: Truncated message.");
        return Err(SyscallError::TruncatedMessage);
    }
    let (index, domain, duration) = (inv.arg(0), inv.arg(1), inv.arg(2));
    // The last entry stays an end marker.
    let last_configurable = SCHEDULE_LENGTH as u64 - 2;
    if index > last_configurable {
        user_error!("Domain Schedule Configure: Invalid index.");
        return Err(SyscallError::RangeError { min: 0, max: last_configurable });
    }
    if domain >= NUM_DOMAINS {
        user_error!("Domain Schedule Configure: Invalid domain.");
        return Err(SyscallError::RangeError { min: 0, max: NUM_DOMAINS - 1 });
    }
    if duration > MAX_DURATION {
        user_error!("Domain Schedule Configure: Duration must fit in 56 bits.");
        return Err(SyscallError::InvalidArgument { number: 2 });
    }
    if duration == 0 && domain != 0 {
        user_error!("Domain Schedule Configure: Both domain and duration must be zero for end markers.");
        return Err(SyscallError::InvalidArgument { number: 1 });
    }
    let index = index as usize;
    if index == schedule.start() && duration == 0 {
        user_error!("Domain Schedule Configure: Starting schedule's duration must not be zero.");
        return Err(SyscallError::InvalidArgument { number: 2 });
    }
    Ok(Operation::Configure { index, entry: Entry { domain: domain as u8, duration } })
}

/// The checks of seL4's `decodeDomainScheduleSetStart`.
fn decode_set_start(inv: &Invocation<'_>, schedule: &DomainSchedule) -> Result<Operation, SyscallError> {
    if inv.length < 1 {
        // seL4 prints its Configure message here too.
        user_error!("Domain Schedule Configure: Truncated message.");
        return Err(SyscallError::TruncatedMessage);
    }
    let index = inv.arg(0);
    if index >= SCHEDULE_LENGTH as u64 {
        user_error!("Domain Schedule Set Start: Invalid index.");
        return Err(SyscallError::RangeError { min: 0, max: SCHEDULE_LENGTH as u64 - 1 });
    }
    let index = index as usize;
    if schedule.entry(index).is_end_marker() {
        user_error!("Domain Schedule Set Start: Starting schedule must not be an end marker.");
        return Err(SyscallError::InvalidArgument { number: 0 });
    }
    Ok(Operation::SetStart { index })
}

fn perform(op: Operation) {
    match op {
        Operation::SetDomain { tcb, domain } => {
            // Safety: decoded from a thread cap, which names a live TCB.
            let t = unsafe { &mut *tcb };
            // seL4's `prepareSetDomain`: no FPU state crosses domains.
            if domain != sched::with_domain_schedule(|s| s.current_domain()) {
                sched::release_fpu(t);
            }
            sched::dequeue(t);
            t.domain = domain;
            if t.state.is_runnable() {
                sched::enqueue(t);
            }
            if sched::is_current(t) {
                sched::reschedule_required();
            }
        }
        Operation::Configure { index, entry } => sched::with_domain_schedule(|s| s.configure(index, entry)),
        Operation::SetStart { index } => {
            sched::with_domain_schedule(|s| s.set_start(index));
            sched::reschedule_required();
        }
    }
}
