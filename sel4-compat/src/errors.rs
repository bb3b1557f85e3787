//! `seL4_Error`: the values returned in the message label of a failed
//! invocation.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Error {
    NoError = 0,
    InvalidArgument = 1,
    InvalidCapability = 2,
    IllegalOperation = 3,
    RangeError = 4,
    AlignmentError = 5,
    FailedLookup = 6,
    TruncatedMessage = 7,
    DeleteFirst = 8,
    RevokeFirst = 9,
    NotEnoughMemory = 10,
}

impl Error {
    pub fn from_word(word: u64) -> Option<Error> {
        use Error::*;
        [
            NoError,
            InvalidArgument,
            InvalidCapability,
            IllegalOperation,
            RangeError,
            AlignmentError,
            FailedLookup,
            TruncatedMessage,
            DeleteFirst,
            RevokeFirst,
            NotEnoughMemory,
        ]
        .get(word as usize)
        .copied()
    }
}
