//! The domain-set cap.

use crate::cap::{DomainSet, Tcb};
use crate::invocation::{call, result};
use crate::Error;
use sel4_compat::invocation as label;

impl DomainSet {
    /// `seL4_DomainSet_Set`: moves `thread` to scheduling `domain`.
    pub fn set(self, domain: u64, thread: Tcb) -> Result<(), Error> {
        result(call(self.cptr(), label::DOMAIN_SET_SET, &[domain], &[thread.cptr()]))
    }

    /// `seL4_DomainSet_ScheduleConfigure`: entry `index` of the domain
    /// schedule runs `domain` for `duration` timer ticks (both zero: an
    /// end marker).
    pub fn schedule_configure(self, index: u64, domain: u64, duration: u64) -> Result<(), Error> {
        result(call(self.cptr(), label::DOMAIN_SCHEDULE_CONFIGURE, &[index, domain, duration], &[]))
    }

    /// `seL4_DomainSet_ScheduleSetStart`: the schedule restarts from entry
    /// `index`, at once.
    pub fn schedule_set_start(self, index: u64) -> Result<(), Error> {
        result(call(self.cptr(), label::DOMAIN_SCHEDULE_SET_START, &[index], &[]))
    }
}
