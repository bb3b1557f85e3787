//! Syscall numbers as passed in `rdx` (seL4's `seL4_Syscall_ID`: non-MCS,
//! no benchmark, no VT-x). The debug syscalls exist only in the
//! configurations that have them, as in seL4: `DebugPutChar` and
//! `DebugDumpScheduler` with `KernelPrinting`, the other `Debug*` ones with
//! `KernelDebugBuild`. The numbers never move; an absent one is an unknown
//! syscall.

use crate::config;

/// One seL4 system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i64)]
pub enum Syscall {
    Call = -1,
    ReplyRecv = -2,
    Send = -3,
    NBSend = -4,
    Recv = -5,
    Reply = -6,
    Yield = -7,
    NBRecv = -8,
    DebugPutChar = -9,
    DebugDumpScheduler = -10,
    DebugHalt = -11,
    DebugCapIdentify = -12,
    DebugSnapshot = -13,
    DebugNameThread = -14,
    SetTLSBase = -30,
}

impl Syscall {
    /// Decodes the raw `rdx` value; `None` is an unknown syscall (in this
    /// configuration). One match, whose guards are constants, so that the
    /// syscall entry pays nothing for the configuration.
    pub fn from_word(word: u64) -> Option<Syscall> {
        use Syscall::*;
        Some(match word as i64 {
            -1 => Call,
            -2 => ReplyRecv,
            -3 => Send,
            -4 => NBSend,
            -5 => Recv,
            -6 => Reply,
            -7 => Yield,
            -8 => NBRecv,
            -9 if config::PRINTING => DebugPutChar,
            -10 if config::PRINTING => DebugDumpScheduler,
            -11 if config::DEBUG_BUILD => DebugHalt,
            -12 if config::DEBUG_BUILD => DebugCapIdentify,
            -13 if config::DEBUG_BUILD => DebugSnapshot,
            -14 if config::DEBUG_BUILD => DebugNameThread,
            -30 if config::SET_TLS_BASE_SELF => SetTLSBase,
            _ => return None,
        })
    }

    /// Whether this configuration has the syscall.
    pub const fn exists(self) -> bool {
        use Syscall::*;
        match self {
            DebugPutChar | DebugDumpScheduler => config::PRINTING,
            DebugHalt | DebugCapIdentify | DebugSnapshot | DebugNameThread => config::DEBUG_BUILD,
            SetTLSBase => config::SET_TLS_BASE_SELF,
            _ => true,
        }
    }

    /// The value user code places in `rdx`.
    pub const fn to_word(self) -> u64 {
        self as i64 as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_number() {
        use Syscall::*;
        let all = [
            Call,
            ReplyRecv,
            Send,
            NBSend,
            Recv,
            Reply,
            Yield,
            NBRecv,
            DebugPutChar,
            DebugDumpScheduler,
            DebugHalt,
            DebugCapIdentify,
            DebugSnapshot,
            DebugNameThread,
            SetTLSBase,
        ];
        for sc in all {
            assert_eq!(Syscall::from_word(sc.to_word()), sc.exists().then_some(sc), "{sc:?}");
        }
        for n in -40i64..5 {
            if let Some(sc) = Syscall::from_word(n as u64) {
                assert_eq!(sc.to_word(), n as u64);
            }
        }
        assert_eq!(Syscall::from_word(-9i64 as u64).is_some(), config::PRINTING);
        assert_eq!(Syscall::from_word(-11i64 as u64).is_some(), config::DEBUG_BUILD);
        assert_eq!(Syscall::from_word(-15i64 as u64), None);
        assert_eq!(Syscall::from_word(0), None);
        assert_eq!(Syscall::SetTLSBase.to_word(), (-30i64) as u64);
    }
}
