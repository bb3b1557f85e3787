//! The shape of an object invocation: its arguments (message registers,
//! the first four in CPU registers and the rest in the IPC buffer), the
//! extra caps it names, and seL4's syscall errors with the words they put
//! in the reply.

use crate::cspace::cte::Cte;
use crate::cspace::lookup::LookupFault;
use arrayvec::ArrayVec;
use sel4_compat::errors::Error;
use sel4_compat::ipc::{MSG_MAX_EXTRA_CAPS, MSG_MAX_LENGTH};

/// Number of message registers passed in CPU registers.
pub const FAST_MESSAGE_REGISTERS: usize = 4;

/// An invocation's inputs.
pub struct Invocation<'a> {
    pub label: u64,
    /// Message length in words, already clamped (120, or 4 without an IPC
    /// buffer), as seL4 does before decoding.
    pub length: usize,
    pub regs: [u64; FAST_MESSAGE_REGISTERS],
    pub buffer: Option<&'a [u64; MSG_MAX_LENGTH]>,
    /// Slots of the extra caps, looked up already (seL4's `excaprefs`).
    pub extra_caps: ArrayVec<*mut Cte, MSG_MAX_EXTRA_CAPS>,
}

impl Invocation<'_> {
    /// seL4's `getSyscallArg`.
    pub fn arg(&self, i: usize) -> u64 {
        if i < FAST_MESSAGE_REGISTERS {
            self.regs[i]
        } else {
            self.buffer.map(|b| b[i]).unwrap_or(0)
        }
    }

    pub fn extra_cap(&self, i: usize) -> Option<*mut Cte> {
        self.extra_caps.get(i).copied()
    }
}

/// seL4's `syscall_error`: why a decode refused an invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyscallError {
    InvalidArgument { number: u64 },
    InvalidCapability { number: u64 },
    IllegalOperation,
    RangeError { min: u64, max: u64 },
    AlignmentError,
    FailedLookup { source: bool, fault: LookupFault },
    TruncatedMessage,
    DeleteFirst,
    RevokeFirst,
    NotEnoughMemory { bytes_left: u64 },
}

impl SyscallError {
    pub fn code(&self) -> Error {
        match self {
            SyscallError::InvalidArgument { .. } => Error::InvalidArgument,
            SyscallError::InvalidCapability { .. } => Error::InvalidCapability,
            SyscallError::IllegalOperation => Error::IllegalOperation,
            SyscallError::RangeError { .. } => Error::RangeError,
            SyscallError::AlignmentError => Error::AlignmentError,
            SyscallError::FailedLookup { .. } => Error::FailedLookup,
            SyscallError::TruncatedMessage => Error::TruncatedMessage,
            SyscallError::DeleteFirst => Error::DeleteFirst,
            SyscallError::RevokeFirst => Error::RevokeFirst,
            SyscallError::NotEnoughMemory { .. } => Error::NotEnoughMemory,
        }
    }

    /// The message words of the error reply (seL4's
    /// `setMRs_syscall_error`), which libsel4 reads back.
    pub fn message(&self) -> ArrayVec<u64, 5> {
        let mut mrs = ArrayVec::new();
        match *self {
            SyscallError::InvalidArgument { number } | SyscallError::InvalidCapability { number } => mrs.push(number),
            SyscallError::RangeError { min, max } => {
                mrs.push(min);
                mrs.push(max);
            }
            SyscallError::FailedLookup { source, fault } => {
                mrs.push(source as u64);
                mrs.extend(lookup_fault_words(fault));
            }
            SyscallError::NotEnoughMemory { bytes_left } => mrs.push(bytes_left),
            _ => {}
        }
        mrs
    }
}

/// A lookup failure as message words (seL4's `setMRs_lookup_failure`):
/// the type plus one, then the type's fields.
pub fn lookup_fault_words(fault: LookupFault) -> ArrayVec<u64, 4> {
    let mut w = ArrayVec::new();
    match fault {
        LookupFault::InvalidRoot => w.push(1),
        LookupFault::MissingCapability { bits_left } => {
            w.push(2);
            w.push(bits_left as u64);
        }
        LookupFault::DepthMismatch { bits_left, bits_found } => {
            w.push(3);
            w.push(bits_left as u64);
            w.push(bits_found as u64);
        }
        LookupFault::GuardMismatch { bits_left, guard_found, guard_size } => {
            w.push(4);
            w.push(bits_left as u64);
            w.push(guard_found);
            w.push(guard_size as u64);
        }
    }
    w
}

/// What a failed or preempted invocation leaves for the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvocationError {
    Syscall(SyscallError),
    Preempted,
}

impl From<SyscallError> for InvocationError {
    fn from(e: SyscallError) -> Self {
        InvocationError::Syscall(e)
    }
}

impl From<crate::cap::env::Preempted> for InvocationError {
    fn from(_: crate::cap::env::Preempted) -> Self {
        InvocationError::Preempted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_match_libsel4() {
        let e = SyscallError::FailedLookup { source: true, fault: LookupFault::GuardMismatch { bits_left: 64, guard_found: 0, guard_size: 51 } };
        assert_eq!(e.message().as_slice(), &[1, 4, 64, 0, 51]);
        assert_eq!(e.code() as u64, 6);
        assert_eq!(SyscallError::RangeError { min: 1, max: 64 }.message().as_slice(), &[1, 64]);
        assert!(SyscallError::DeleteFirst.message().is_empty());
        let d = SyscallError::FailedLookup { source: false, fault: LookupFault::DepthMismatch { bits_left: 8, bits_found: 13 } };
        assert_eq!(d.message().as_slice(), &[0, 3, 8, 13]);
    }
}
