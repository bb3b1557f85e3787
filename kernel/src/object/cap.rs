//! Capabilities in seL4's two-word encoding for x86_64.
//!
//! The 5-bit type tag sits in bits 63..59 of word 0 for every type; the
//! remaining fields follow seL4's bitfield specification, so a slot is the
//! same 32 bytes it is in seL4 (two cap words, two MDB words) and the words
//! the debug and snapshot tools show are seL4's.

use sel4_compat::caps::CapType;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Cap {
    pub words: [u64; 2],
}

pub const fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1 << bits) - 1
    }
}

/// Whether `v` is canonical with 48-bit linear addresses.
pub const fn is_canonical(v: u64) -> bool {
    canonical(v) == v
}

/// Sign-extends a 48-bit canonical address.
pub const fn canonical(v: u64) -> u64 {
    if v & (1 << 47) != 0 {
        v | 0xffff_0000_0000_0000
    } else {
        v & mask(48)
    }
}

/// Frame sizes (`capFSize`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum FrameSize {
    Small = 0,
    Large = 1,
    Huge = 2,
}

impl FrameSize {
    pub const fn from_field(v: u64) -> FrameSize {
        match v {
            1 => FrameSize::Large,
            2 => FrameSize::Huge,
            _ => FrameSize::Small,
        }
    }
    pub const fn bits(self) -> u32 {
        match self {
            FrameSize::Small => 12,
            FrameSize::Large => 21,
            FrameSize::Huge => 30,
        }
    }
}

/// `capFVMRights` values (seL4's `vm_rights_t`).
pub mod vm_rights {
    pub const KERNEL_ONLY: u64 = 1;
    pub const READ_ONLY: u64 = 2;
    pub const READ_WRITE: u64 = 3;
}

/// `capFMapType` values.
pub mod map_type {
    pub const NONE: u64 = 0;
    pub const VSPACE: u64 = 1;
}

/// The TCB's own cap slots (seL4's five, plus this kernel's two for user
/// interrupts: the thread's UITT and its receiver) sit before the TCB
/// proper; a zombie for a TCB covers them.
pub const TCB_CNODE_ENTRIES: u64 = 7;

/// Who holds a UINTR receiver cap on the kernel's behalf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiverHolder {
    /// An ordinary cap in a CNode.
    User,
    /// The copy backing the UITT entry at this address.
    UittEntry(u64),
    /// The copy in this TCB's receiver slot (the TCB pointer).
    Tcb(u64),
}
/// Radix a TCB zombie uses to encode its slot count (seL4's value).
pub const TCB_CNODE_RADIX: u32 = 4;
/// Zombie type for a TCB (`BIT(wordRadix)`); CNode zombies store the radix.
pub const ZOMBIE_TYPE_TCB: u64 = 1 << 6;

/// User rights as passed to Copy and Mint (`seL4_CapRights`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapRights(pub u64);

impl CapRights {
    pub const fn allow_write(self) -> bool {
        self.0 & 1 != 0
    }
    pub const fn allow_read(self) -> bool {
        self.0 & 2 != 0
    }
    pub const fn allow_grant(self) -> bool {
        self.0 & 4 != 0
    }
    pub const fn allow_grant_reply(self) -> bool {
        self.0 & 8 != 0
    }
}

impl Cap {
    pub const NULL: Cap = Cap { words: [0, 0] };

    const fn with_type(tag: CapType, word0_low: u64, word1: u64) -> Cap {
        Cap { words: [(tag as u64) << 59 | (word0_low & mask(59)), word1] }
    }

    pub const fn tag(&self) -> u64 {
        self.words[0] >> 59
    }

    pub fn cap_type(&self) -> Option<CapType> {
        CapType::from_tag(self.tag())
    }

    pub const fn is(&self, t: CapType) -> bool {
        self.tag() == t as u64
    }

    pub const fn is_null(&self) -> bool {
        self.tag() == CapType::Null as u64
    }

    /// Architecture caps have odd tags in seL4's x86_64 numbering.
    pub const fn is_arch(&self) -> bool {
        self.tag() & 1 == 1
    }

    const fn field0(&self, shift: u32, bits: u32) -> u64 {
        (self.words[0] >> shift) & mask(bits)
    }
    const fn field1(&self, shift: u32, bits: u32) -> u64 {
        (self.words[1] >> shift) & mask(bits)
    }
    const fn set0(mut self, shift: u32, bits: u32, v: u64) -> Cap {
        self.words[0] = (self.words[0] & !(mask(bits) << shift)) | ((v & mask(bits)) << shift);
        self
    }
    const fn set1(mut self, shift: u32, bits: u32, v: u64) -> Cap {
        self.words[1] = (self.words[1] & !(mask(bits) << shift)) | ((v & mask(bits)) << shift);
        self
    }

    // --- Untyped: word 0 = pointer; word 1 = free index (16-byte units)
    // at 63..16, device flag at 6, block size at 5..0.

    pub const fn untyped(ptr: u64, size_bits: u32, is_device: bool, free_index: u64) -> Cap {
        let w1 = (free_index & mask(48)) << 16 | (is_device as u64) << 6 | (size_bits as u64 & 0x3f);
        Cap::with_type(CapType::Untyped, ptr & mask(59), w1)
    }
    pub const fn untyped_ptr(&self) -> u64 {
        canonical(self.words[0] & mask(48))
    }
    pub const fn untyped_size_bits(&self) -> u32 {
        self.field1(0, 6) as u32
    }
    pub const fn untyped_is_device(&self) -> bool {
        self.field1(6, 1) != 0
    }
    pub const fn untyped_free_index(&self) -> u64 {
        self.field1(16, 48)
    }
    pub const fn with_untyped_free_index(self, index: u64) -> Cap {
        self.set1(16, 48, index)
    }

    // --- Endpoint: badge in word 1; rights and pointer in word 0.

    pub const fn endpoint(ptr: u64, badge: u64, send: bool, recv: bool, grant: bool, grant_reply: bool) -> Cap {
        let w0 = (grant_reply as u64) << 58 | (grant as u64) << 57 | (recv as u64) << 56 | (send as u64) << 55 | ptr & mask(48);
        Cap::with_type(CapType::Endpoint, w0, badge)
    }
    pub const fn ep_ptr(&self) -> u64 {
        canonical(self.words[0] & mask(48))
    }
    /// `ep_ptr` for a cap the kernel made: endpoints live in the kernel's
    /// half of the address space, so the pointer's top 16 bits are all
    /// ones and the type and rights bits above it can simply be set too
    /// (two instructions instead of `canonical`'s choice, on every
    /// fastpath IPC).
    #[inline(always)]
    pub const fn ep_kernel_ptr(&self) -> u64 {
        self.words[0] | 0xffff_0000_0000_0000
    }
    pub const fn ep_badge(&self) -> u64 {
        self.words[1]
    }
    pub const fn ep_can_send(&self) -> bool {
        self.field0(55, 1) != 0
    }
    pub const fn ep_can_receive(&self) -> bool {
        self.field0(56, 1) != 0
    }
    pub const fn ep_can_grant(&self) -> bool {
        self.field0(57, 1) != 0
    }
    pub const fn ep_can_grant_reply(&self) -> bool {
        self.field0(58, 1) != 0
    }
    /// Whether this is an endpoint cap a Call may take the fastpath on:
    /// send right and grant or grant-reply (seL4's fastpath condition),
    /// in one compare. The word's top 9 bits from bit 55 are the type (4
    /// for an endpoint) then grant-reply, grant, receive and send, so the
    /// valid values are 0x45 plus an even number up to 10; subtracting
    /// 0x45 and rotating right by one turns an odd difference into a huge
    /// number, leaving exactly the values up to 5.
    #[inline(always)]
    pub const fn is_endpoint_for_call(&self) -> bool {
        ((self.words[0] >> 55).wrapping_sub(0x45)).rotate_right(1) <= 5
    }
    pub const fn with_ep_rights(self, send: bool, recv: bool, grant: bool, grant_reply: bool) -> Cap {
        self.set0(55, 1, send as u64).set0(56, 1, recv as u64).set0(57, 1, grant as u64).set0(58, 1, grant_reply as u64)
    }
    pub const fn with_badge(mut self, badge: u64) -> Cap {
        self.words[1] = badge;
        self
    }

    // --- Notification: badge in word 1; rights and pointer in word 0.

    pub const fn notification(ptr: u64, badge: u64, send: bool, recv: bool) -> Cap {
        let w0 = (recv as u64) << 58 | (send as u64) << 57 | ptr & mask(48);
        Cap::with_type(CapType::Notification, w0, badge)
    }
    pub const fn ntfn_ptr(&self) -> u64 {
        canonical(self.words[0] & mask(48))
    }
    pub const fn ntfn_badge(&self) -> u64 {
        self.words[1]
    }
    pub const fn ntfn_can_send(&self) -> bool {
        self.field0(57, 1) != 0
    }
    pub const fn ntfn_can_receive(&self) -> bool {
        self.field0(58, 1) != 0
    }
    pub const fn with_ntfn_rights(self, send: bool, recv: bool) -> Cap {
        self.set0(57, 1, send as u64).set0(58, 1, recv as u64)
    }

    // --- Reply (non-MCS): TCB pointer in word 1; grant and master flags.

    pub const fn reply(tcb: u64, master: bool, can_grant: bool) -> Cap {
        Cap::with_type(CapType::Reply, (can_grant as u64) << 1 | master as u64, tcb)
    }
    pub const fn reply_tcb(&self) -> u64 {
        self.words[1]
    }
    pub const fn reply_master(&self) -> bool {
        self.field0(0, 1) != 0
    }
    pub const fn reply_can_grant(&self) -> bool {
        self.field0(1, 1) != 0
    }
    pub const fn with_reply_can_grant(self, grant: bool) -> Cap {
        self.set0(1, 1, grant as u64)
    }

    // --- CNode: guard in word 1; guard size, radix and pointer >> 1.

    pub const fn cnode(ptr: u64, radix: u32, guard_size: u32, guard: u64) -> Cap {
        let w0 = (guard_size as u64 & 0x3f) << 53 | (radix as u64 & 0x3f) << 47 | (ptr >> 1) & mask(47);
        Cap::with_type(CapType::CNode, w0, guard)
    }
    pub const fn cnode_ptr(&self) -> u64 {
        canonical((self.words[0] & mask(47)) << 1)
    }
    /// `cnode_ptr` for a cap the kernel made: CNodes live in the kernel's
    /// half of the address space, so the pointer's top bits are all ones
    /// and shifting the fields above it out and setting them is the
    /// whole decoding (the fastpath's lookup, on every IPC).
    #[inline(always)]
    pub const fn cnode_kernel_ptr(&self) -> u64 {
        self.words[0] << 1 | 0xffff_0000_0000_0000
    }
    pub const fn cnode_radix(&self) -> u32 {
        self.field0(47, 6) as u32
    }
    pub const fn cnode_guard_size(&self) -> u32 {
        self.field0(53, 6) as u32
    }
    pub const fn cnode_guard(&self) -> u64 {
        self.words[1]
    }
    pub const fn with_cnode_guard(self, guard: u64, guard_size: u32) -> Cap {
        let mut c = self.set0(53, 6, guard_size as u64);
        c.words[1] = guard;
        c
    }

    // --- Thread: TCB pointer in word 0.

    pub const fn thread(tcb: u64) -> Cap {
        Cap::with_type(CapType::Thread, tcb & mask(48), 0)
    }
    pub const fn tcb_ptr(&self) -> u64 {
        canonical(self.words[0] & mask(48))
    }

    // --- Caps with no fields.

    pub const fn irq_control() -> Cap {
        Cap::with_type(CapType::IrqControl, 0, 0)
    }
    pub const fn asid_control() -> Cap {
        Cap::with_type(CapType::AsidControl, 0, 0)
    }
    pub const fn io_port_control() -> Cap {
        Cap::with_type(CapType::IoPortControl, 0, 0)
    }
    pub const fn domain() -> Cap {
        Cap::with_type(CapType::Domain, 0, 0)
    }

    // --- IRQ handler: IRQ number in word 1 bits 11..0.

    pub const fn irq_handler(irq: u64) -> Cap {
        Cap::with_type(CapType::IrqHandler, 0, irq & 0xfff)
    }
    pub const fn irq(&self) -> u64 {
        self.field1(0, 12)
    }

    // --- UINTR receiver (this kernel's extension): object pointer in word
    // 1; in word 0, bit 58 says a vector is minted and 53..48 hold it;
    // bit 57 marks the copy a UITT entry holds and bit 56 the copy a
    // receiving thread's TCB holds, with the entry's or the TCB's address
    // in 47..0, so that deleting the copy can undo what it stands for.

    pub const fn uintr_receiver(ptr: u64) -> Cap {
        Cap::with_type(CapType::UintrReceiver, 0, ptr)
    }
    pub const fn receiver_ptr(&self) -> u64 {
        self.words[1]
    }
    /// The vector minted into the cap, if any.
    pub const fn receiver_vector(&self) -> Option<u8> {
        if self.field0(58, 1) != 0 {
            Some(self.field0(48, 6) as u8)
        } else {
            None
        }
    }
    pub const fn with_receiver_vector(mut self, vector: u8) -> Cap {
        self.words[0] = (self.words[0] & !(mask(6) << 48)) | 1 << 58 | ((vector as u64) & mask(6)) << 48;
        self
    }
    /// Who holds this copy on the kernel's behalf, if anyone.
    pub const fn receiver_holder(&self) -> ReceiverHolder {
        let address = canonical(self.words[0] & mask(48));
        if self.field0(57, 1) != 0 {
            ReceiverHolder::UittEntry(address)
        } else if self.field0(56, 1) != 0 {
            ReceiverHolder::Tcb(address)
        } else {
            ReceiverHolder::User
        }
    }
    pub const fn held_by(mut self, holder: ReceiverHolder) -> Cap {
        self.words[0] &= !(3 << 56 | mask(48));
        self.words[0] |= match holder {
            ReceiverHolder::User => 0,
            ReceiverHolder::UittEntry(entry) => 1 << 57 | entry & mask(48),
            ReceiverHolder::Tcb(tcb) => 1 << 56 | tcb & mask(48),
        };
        self
    }

    // --- UITT (this kernel's extension): object pointer in word 1.

    pub const fn uitt(ptr: u64) -> Cap {
        Cap::with_type(CapType::Uitt, 0, ptr)
    }
    pub const fn uitt_ptr(&self) -> u64 {
        self.words[1]
    }

    // --- I/O ports: first port at 55..40, last at 39..24 of word 0.

    pub const fn io_port(first: u16, last: u16) -> Cap {
        Cap::with_type(CapType::IoPort, (first as u64) << 40 | (last as u64) << 24, 0)
    }
    pub const fn io_port_first(&self) -> u64 {
        self.field0(40, 16)
    }
    pub const fn io_port_last(&self) -> u64 {
        self.field0(24, 16)
    }

    // --- Zombie: ID (pointer | number) in word 1, type in word 0 bits 6..0.

    /// A zombie for `number` remaining slots starting at `ptr`, of type
    /// `ZOMBIE_TYPE_TCB` or a CNode radix.
    pub const fn zombie(number: u64, zombie_type: u64, ptr: u64) -> Cap {
        let bits = if zombie_type == ZOMBIE_TYPE_TCB { TCB_CNODE_RADIX } else { zombie_type as u32 };
        let m = mask(bits + 1);
        Cap::with_type(CapType::Zombie, zombie_type & 0x7f, (ptr & !m) | (number & m))
    }
    pub const fn zombie_type(&self) -> u64 {
        self.field0(0, 7)
    }
    const fn zombie_bits(&self) -> u32 {
        if self.zombie_type() == ZOMBIE_TYPE_TCB {
            TCB_CNODE_RADIX
        } else {
            (self.zombie_type() & mask(6)) as u32
        }
    }
    pub const fn zombie_number(&self) -> u64 {
        self.words[1] & mask(self.zombie_bits() + 1)
    }
    pub const fn zombie_ptr(&self) -> u64 {
        self.words[1] & !mask(self.zombie_bits() + 1)
    }
    pub const fn with_zombie_number(self, n: u64) -> Cap {
        let m = mask(self.zombie_bits() + 1);
        let mut c = self;
        c.words[1] = (c.words[1] & !m) | (n & m);
        c
    }

    // --- ASID pool: base ASID at 58..47, pool pointer >> 11 in 36..0.

    pub const fn asid_pool(pool: u64, asid_base: u64) -> Cap {
        Cap::with_type(CapType::AsidPool, (asid_base & 0xfff) << 47 | (pool >> 11) & mask(37), 0)
    }
    pub const fn asid_pool_ptr(&self) -> u64 {
        canonical((self.words[0] & mask(37)) << 11)
    }
    pub const fn asid_base(&self) -> u64 {
        self.field0(47, 12)
    }

    // --- PML4: pointer in word 1; mapped flag (58) and ASID (11..0).

    pub const fn pml4(ptr: u64, asid: u64, mapped: bool) -> Cap {
        Cap::with_type(CapType::Pml4, (mapped as u64) << 58 | (asid & 0xfff), ptr)
    }
    pub const fn pml4_ptr(&self) -> u64 {
        self.words[1]
    }
    pub const fn pml4_mapped(&self) -> bool {
        self.field0(58, 1) != 0
    }
    pub const fn pml4_asid(&self) -> u64 {
        self.field0(0, 12)
    }

    // --- PDPT, page directory, page table: pointer (47..0) and ASID
    // (59..48) in word 1; mapped flag and mapped address in word 0.

    const fn paging_layout(tag: u64) -> (u32, u32, u32, u32) {
        // (mapped bit, address field shift, field width, address shift)
        if tag == CapType::Pdpt as u64 {
            (58, 48, 10, 39)
        } else if tag == CapType::PageDirectory as u64 {
            (49, 30, 19, 30)
        } else {
            (49, 21, 28, 21)
        }
    }

    pub const fn paging(tag: CapType, ptr: u64, asid: u64, mapped_vaddr: Option<u64>) -> Cap {
        let (mapped_bit, field_shift, width, addr_shift) = Cap::paging_layout(tag as u64);
        let w0 = match mapped_vaddr {
            Some(v) => 1 << mapped_bit | ((v >> addr_shift) & mask(width)) << field_shift,
            None => 0,
        };
        Cap::with_type(tag, w0, (asid & 0xfff) << 48 | ptr & mask(48))
    }
    pub const fn paging_ptr(&self) -> u64 {
        canonical(self.words[1] & mask(48))
    }
    pub const fn paging_asid(&self) -> u64 {
        self.field1(48, 12)
    }
    pub const fn paging_mapped(&self) -> bool {
        let (mapped_bit, ..) = Cap::paging_layout(self.tag());
        self.field0(mapped_bit, 1) != 0
    }
    pub const fn paging_mapped_vaddr(&self) -> u64 {
        let (_, field_shift, width, addr_shift) = Cap::paging_layout(self.tag());
        canonical(self.field0(field_shift, width) << addr_shift)
    }

    // --- Frame: ASID (63..48) and base (47..0) in word 1; size (58..57),
    // map type (56..55), mapped address (54..7), rights (6..5), device (4).

    pub const fn frame(base: u64, size: FrameSize, rights: u64, is_device: bool, mapping: Option<(u64, u64)>) -> Cap {
        let (asid, vaddr, kind) = match mapping {
            Some((asid, vaddr)) => (asid, vaddr, map_type::VSPACE),
            None => (0, 0, map_type::NONE),
        };
        let w0 = (size as u64) << 57 | kind << 55 | (vaddr & mask(48)) << 7 | (rights & 3) << 5 | (is_device as u64) << 4;
        Cap::with_type(CapType::Frame, w0, (asid & 0xffff) << 48 | base & mask(48))
    }
    pub const fn frame_base(&self) -> u64 {
        canonical(self.words[1] & mask(48))
    }
    pub const fn frame_size(&self) -> FrameSize {
        FrameSize::from_field(self.field0(57, 2))
    }
    pub const fn frame_map_type(&self) -> u64 {
        self.field0(55, 2)
    }
    pub const fn frame_mapped_asid(&self) -> u64 {
        self.field1(48, 16)
    }
    pub const fn frame_mapped_vaddr(&self) -> u64 {
        canonical(self.field0(7, 48))
    }
    pub const fn frame_rights(&self) -> u64 {
        self.field0(5, 2)
    }
    pub const fn frame_is_device(&self) -> bool {
        self.field0(4, 1) != 0
    }
    /// Whether this is a frame cap seL4's `lookupIPCBuffer` takes for
    /// a buffer with `rights`: a frame, not device memory, with exactly
    /// those rights. Type, device bit and rights are tested as one masked
    /// compare, as the slowpath asks this on every message it copies.
    #[inline(always)]
    pub const fn is_normal_frame_with_rights(&self, rights: u64) -> bool {
        const TAG_RIGHTS_DEVICE: u64 = 0x1f << 59 | 3 << 5 | 1 << 4;
        self.words[0] & TAG_RIGHTS_DEVICE == (CapType::Frame as u64) << 59 | (rights & 3) << 5
    }
    /// The mask of an address's offset inside the frame
    /// (`MASK(pageBitsForSize(capFSize))`), by table rather than
    /// `frame_size().bits()`'s two choices.
    #[inline(always)]
    pub const fn frame_offset_mask(&self) -> u64 {
        // Indexed by `capFSize`; the unused value 3 reads as a small page,
        // as `FrameSize::from_field` decodes it.
        const MASKS: [u64; 4] = [mask(12), mask(21), mask(30), mask(12)];
        MASKS[self.field0(57, 2) as usize]
    }
    /// `frame_base` for a cap the kernel made: frames are reached through
    /// the kernel's window onto physical memory, so the base's top 16 bits
    /// are all ones (which also covers the mapped ASID stored there).
    #[inline(always)]
    pub const fn frame_kernel_base(&self) -> u64 {
        self.words[1] | 0xffff_0000_0000_0000
    }
    pub const fn with_frame_rights(self, rights: u64) -> Cap {
        self.set0(5, 2, rights)
    }
    /// The same frame, unmapped (what deriving a frame cap produces).
    pub const fn frame_unmapped(self) -> Cap {
        self.set0(55, 2, map_type::NONE).set1(48, 16, 0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cnode_fields_round_trip() {
        let ptr = 0xffff_ff80_0ab4_0000;
        let c = Cap::cnode(ptr, 13, 51, 0x5);
        assert_eq!(c.cnode_ptr(), ptr);
        assert_eq!(c.cnode_radix(), 13);
        assert_eq!(c.cnode_guard_size(), 51);
        assert_eq!(c.cnode_guard(), 5);
        assert_eq!(c.words[0] >> 53 & 0x3f, 51);
        assert_eq!(c.words[0] >> 47 & 0x3f, 13);
        let g = c.with_cnode_guard(3, 2);
        assert_eq!((g.cnode_guard(), g.cnode_guard_size(), g.cnode_radix(), g.cnode_ptr()), (3, 2, 13, ptr));
    }

    #[test]
    fn endpoint_for_call_is_the_fastpath_condition() {
        // Every type tag and every combination of the four rights bits.
        for tag in 0..32u64 {
            for rights in 0..16u64 {
                let cap = Cap { words: [tag << 59 | rights << 55 | 0x1234_5678, 7] };
                let plain = cap.is(CapType::Endpoint) && cap.ep_can_send() && (cap.ep_can_grant() || cap.ep_can_grant_reply());
                assert_eq!(cap.is_endpoint_for_call(), plain, "tag {tag} rights {rights:#06b}");
            }
        }
    }

    #[test]
    fn ipc_buffer_frame_test_is_the_plain_one() {
        // Every type tag, rights value, device bit and size, and mapped
        // or not (the ASID shares the base's word).
        for tag in 0..32u64 {
            for rights in 0..4u64 {
                for device in [false, true] {
                    for size in 0..4u64 {
                        let frame = Cap::frame(0xffff_ff80_1234_5000, FrameSize::from_field(size), rights, device, Some((7, 0x40_0000)));
                        let cap = Cap { words: [tag << 59 | frame.words[0] & mask(59) | size << 57, frame.words[1]] };
                        for wanted in [vm_rights::READ_ONLY, vm_rights::READ_WRITE] {
                            let plain = cap.is(CapType::Frame) && !cap.frame_is_device() && cap.frame_rights() == wanted;
                            assert_eq!(cap.is_normal_frame_with_rights(wanted), plain, "tag {tag} rights {rights} device {device}");
                        }
                        assert_eq!(cap.frame_offset_mask(), mask(cap.frame_size().bits()), "size {size}");
                        assert_eq!(cap.frame_kernel_base(), cap.frame_base());
                    }
                }
            }
        }
    }

    use super::*;

    #[test]
    fn tags_match_sel4() {
        assert_eq!(Cap::NULL.tag(), 0);
        assert_eq!(Cap::thread(0xffff_ff80_0012_3400).tag(), 12);
        assert_eq!(Cap::cnode(0xffff_ff80_0100_0000, 13, 51, 0).tag(), 10);
        assert_eq!(Cap::io_port_control().tag(), 31);
        assert_eq!(Cap::domain().tag(), 20);
        assert_eq!(Cap::pml4(0xffff_ff80_0000_1000, 1, true).tag(), 9);
        assert_eq!(Cap::frame(0x1000, FrameSize::Small, 3, false, None).tag(), 1);
        assert_eq!(Cap::endpoint(0x1000, 0, true, true, true, true).tag(), 4);
        assert_eq!(Cap::notification(0x1000, 0, true, true).tag(), 6);
        assert!(Cap::frame(0x1000, FrameSize::Small, 3, false, None).is_arch());
        assert!(!Cap::thread(0x1000).is_arch());
    }

    #[test]
    fn untyped_and_frame_fields() {
        let u = Cap::untyped(0xffff_ff80_4000_0000, 30, true, 7);
        assert_eq!(u.untyped_ptr(), 0xffff_ff80_4000_0000);
        assert_eq!(u.untyped_size_bits(), 30);
        assert!(u.untyped_is_device());
        assert_eq!(u.untyped_free_index(), 7);
        assert_eq!(u.with_untyped_free_index(9).untyped_free_index(), 9);
        let f = Cap::frame(0xffff_ff80_1234_5000, FrameSize::Large, vm_rights::READ_WRITE, false, Some((1, 0x40_0000)));
        assert_eq!(f.frame_base(), 0xffff_ff80_1234_5000);
        assert_eq!(f.frame_mapped_vaddr(), 0x40_0000);
        assert_eq!(f.frame_mapped_asid(), 1);
        assert_eq!(f.frame_map_type(), map_type::VSPACE);
        assert_eq!(f.frame_size(), FrameSize::Large);
        let d = f.frame_unmapped();
        assert_eq!((d.frame_mapped_asid(), d.frame_map_type(), d.frame_base()), (0, 0, f.frame_base()));
        assert_eq!(f.with_frame_rights(vm_rights::READ_ONLY).frame_rights(), vm_rights::READ_ONLY);
    }

    #[test]
    fn endpoint_and_notification_fields() {
        let e = Cap::endpoint(0xffff_ff80_0000_1230, 0, true, false, true, false);
        assert_eq!(e.ep_ptr(), 0xffff_ff80_0000_1230);
        assert!(e.ep_can_send() && !e.ep_can_receive() && e.ep_can_grant() && !e.ep_can_grant_reply());
        let e2 = e.with_ep_rights(false, true, false, true).with_badge(42);
        assert!(!e2.ep_can_send() && e2.ep_can_receive() && !e2.ep_can_grant() && e2.ep_can_grant_reply());
        assert_eq!((e2.ep_badge(), e2.ep_ptr()), (42, e.ep_ptr()));
        let n = Cap::notification(0xffff_ff80_0000_2220, 9, true, false);
        assert_eq!((n.ntfn_ptr(), n.ntfn_badge(), n.ntfn_can_send(), n.ntfn_can_receive()), (0xffff_ff80_0000_2220, 9, true, false));
    }

    #[test]
    fn zombie_number_and_pointer_share_a_word() {
        let z = Cap::zombie(1 << 13, 13, 0xffff_ff80_0100_0000);
        assert_eq!((z.zombie_number(), z.zombie_ptr(), z.zombie_type()), (1 << 13, 0xffff_ff80_0100_0000, 13));
        let z = z.with_zombie_number(5);
        assert_eq!((z.zombie_number(), z.zombie_ptr()), (5, 0xffff_ff80_0100_0000));
        let t = Cap::zombie(5, ZOMBIE_TYPE_TCB, 0xffff_ff80_0200_0800);
        assert_eq!((t.zombie_number(), t.zombie_ptr()), (5, 0xffff_ff80_0200_0800));
    }

    #[test]
    fn paging_fields() {
        let pt = Cap::paging(CapType::PageTable, 0xffff_ff80_0003_0000, 1, Some(0x40_0000));
        assert!(pt.paging_mapped());
        assert_eq!((pt.paging_ptr(), pt.paging_asid(), pt.paging_mapped_vaddr()), (0xffff_ff80_0003_0000, 1, 0x40_0000));
        let pdpt = Cap::paging(CapType::Pdpt, 0xffff_ff80_0004_0000, 2, Some(0x80_0000_0000));
        assert_eq!(pdpt.paging_mapped_vaddr(), 0x80_0000_0000);
        assert!(!Cap::paging(CapType::PageDirectory, 0x1000, 0, None).paging_mapped());
    }
}
