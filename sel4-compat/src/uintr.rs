//! This kernel's user-interrupt (UINTR) extension: the numbers its API
//! uses. Not seL4's: they are chosen outside every range seL4 uses in any
//! configuration (MCS, VT-x, IOMMU, SMP included), so a stock seL4 program
//! can never name them by accident, and stock seL4 rejects them as it
//! rejects any unknown object type or label. `docs/uintr.md` describes
//! the API.

/// `Untyped_Retype` object types.
pub mod object_type {
    /// A receiver: the UPID a thread's senders post to (64 bytes).
    pub const UINTR_RECEIVER: u64 = 48;
    /// A sender's UITT: 256 entries of 16 bytes (one 4 KiB page, which
    /// the hardware path maps for the CPU), each backed by the receiver
    /// cap it was registered with (8 KiB of cap slots after it).
    pub const UITT: u64 = 49;
}

/// Object sizes (log2 bytes).
pub const UINTR_RECEIVER_SIZE_BITS: u32 = 6;
pub const UITT_ENTRIES: usize = 256;
pub const UITT_SIZE_BITS: u32 = 14;

/// Cap type tags: the 5-bit tags seL4 leaves unused on x86_64 (odd tags
/// are all taken by architecture caps; 22 and 24 are MCS's).
pub mod cap_tag {
    pub const UINTR_RECEIVER: u64 = 26;
    pub const UITT: u64 = 28;
}

/// Invocation labels, far above seL4's (which stay below 100 in every
/// configuration).
pub mod label {
    /// On a receiver cap: make the TCB (extra cap 0) its receiving thread,
    /// with MR0 = handler address, MR1 = stack adjust.
    pub const UINTR_RECEIVER_BIND_TCB: u64 = 0x100;
    /// On a receiver cap: detach its thread.
    pub const UINTR_RECEIVER_UNBIND_TCB: u64 = 0x101;
    /// On a receiver cap: the notification (extra cap 0) signalled when a
    /// user interrupt arrives while the receiving thread is blocked.
    pub const UINTR_RECEIVER_SET_NOTIFICATION: u64 = 0x102;
    /// On a UITT cap: entry MR0 sends to the receiver of extra cap 0 with
    /// the vector minted into it.
    pub const UITT_REGISTER_SENDER: u64 = 0x110;
    /// On a UITT cap: entry MR0 becomes invalid.
    pub const UITT_UNREGISTER_SENDER: u64 = 0x111;
    /// On a TCB cap: the UITT (extra cap 0) its SENDUIPIs index.
    pub const TCB_BIND_UITT: u64 = 0x120;
    pub const TCB_UNBIND_UITT: u64 = 0x121;
}

#[cfg(test)]
mod tests {
    use super::*;

    // The numbers' rules are constant: they are checked when the crate
    // builds. Object types: seL4 counts at most a few dozen in any
    // configuration.
    const _: () = assert!(object_type::UINTR_RECEIVER >= 32 && object_type::UITT >= 32);
    const _: () = assert!(crate::object_type::COUNT < 32);
    // Cap tags: even (odd ones are all seL4's architecture caps), not MCS's
    // 22 and 24.
    const fn tag_is_free(tag: u64) -> bool {
        tag < 32 && tag.is_multiple_of(2) && tag != 22 && tag != 24
    }
    const _: () = assert!(tag_is_free(cap_tag::UINTR_RECEIVER) && tag_is_free(cap_tag::UITT));
    // Labels: above 100, which is above every seL4 label.
    const _: () = assert!(crate::invocation::COUNT < 100);
    const LABELS: [u64; 7] = [
        label::UINTR_RECEIVER_BIND_TCB,
        label::UINTR_RECEIVER_UNBIND_TCB,
        label::UINTR_RECEIVER_SET_NOTIFICATION,
        label::UITT_REGISTER_SENDER,
        label::UITT_UNREGISTER_SENDER,
        label::TCB_BIND_UITT,
        label::TCB_UNBIND_UITT,
    ];
    const _: () = {
        let mut i = 0;
        while i < LABELS.len() {
            assert!(LABELS[i] > 100);
            i += 1;
        }
    };
    // A UITT holds its page of entries and their caps.
    const _: () = assert!(UITT_ENTRIES * 16 == 4096);
    const _: () = assert!(UITT_ENTRIES * (16 + 32) <= 1 << UITT_SIZE_BITS);

    #[test]
    fn the_new_cap_tags_decode_to_their_cap_types() {
        assert_eq!(crate::caps::CapType::from_tag(cap_tag::UINTR_RECEIVER), Some(crate::caps::CapType::UintrReceiver));
        assert_eq!(crate::caps::CapType::from_tag(cap_tag::UITT), Some(crate::caps::CapType::Uitt));
    }
}
