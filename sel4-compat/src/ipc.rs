//! The IPC buffer and message-info word.

use crate::Word;

/// `seL4_MsgMaxLength`.
pub const MSG_MAX_LENGTH: usize = 120;
/// `seL4_MsgMaxExtraCaps`.
pub const MSG_MAX_EXTRA_CAPS: usize = 3;

/// `seL4_IPCBuffer`: 1024 bytes, one per thread.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IpcBuffer {
    pub tag: Word,
    pub msg: [Word; MSG_MAX_LENGTH],
    pub user_data: Word,
    pub caps_or_badges: [Word; MSG_MAX_EXTRA_CAPS],
    pub receive_cnode: Word,
    pub receive_index: Word,
    pub receive_depth: Word,
}

const _: () = assert!(core::mem::size_of::<IpcBuffer>() == 1 << crate::objects::IPC_BUFFER_SIZE_BITS);
const _: () = assert!(core::mem::offset_of!(IpcBuffer, msg) == 8);
const _: () = assert!(core::mem::offset_of!(IpcBuffer, user_data) == 968);
const _: () = assert!(core::mem::offset_of!(IpcBuffer, caps_or_badges) == 976);
const _: () = assert!(core::mem::offset_of!(IpcBuffer, receive_depth) == 1016);

/// `seL4_MessageInfo`: label 52 bits, capsUnwrapped 3, extraCaps 2, length 7.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MessageInfo(pub Word);

impl MessageInfo {
    pub const fn new(label: u64, caps_unwrapped: u64, extra_caps: u64, length: u64) -> Self {
        MessageInfo((label & ((1 << 52) - 1)) << 12 | (caps_unwrapped & 0x7) << 9 | (extra_caps & 0x3) << 7 | (length & 0x7f))
    }
    pub const fn label(self) -> u64 {
        self.0 >> 12
    }
    pub const fn caps_unwrapped(self) -> u64 {
        (self.0 >> 9) & 0x7
    }
    pub const fn extra_caps(self) -> u64 {
        (self.0 >> 7) & 0x3
    }
    pub const fn length(self) -> u64 {
        self.0 & 0x7f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_info_packs_like_sel4() {
        let info = MessageInfo::new(0xabc, 5, 2, 120);
        assert_eq!(info.0, (0xabc << 12) | (5 << 9) | (2 << 7) | 120);
        assert_eq!((info.label(), info.caps_unwrapped(), info.extra_caps(), info.length()), (0xabc, 5, 2, 120));
        // Oversized fields are truncated to their width, as libsel4 does.
        assert_eq!(MessageInfo::new(0, 0, 0, 0x80).length(), 0);
    }
}
