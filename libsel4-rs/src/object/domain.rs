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
}
