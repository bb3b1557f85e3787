//! Capabilities in seL4's two-word encoding for x86_64.
//!
//! The 5-bit type tag sits in bits 63..59 of word 0 for every type; the
//! remaining fields follow seL4's bitfield specification, so a slot is the
//! same 32 bytes it is in seL4 (two cap words, two MDB words) and the words
//! the debug and snapshot tools show are seL4's.

use sel4_compat::caps::CapType;

pub mod env;
pub mod rules;

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

/// Declares one typed view per cap type from a table of its fields.
///
/// Each row names a field's getter and setter, the value type, the word
/// (0 or 1) and the bit range `[shift +: width]`; the tag is always bits
/// 63..59 of word 0. A view is the cap's own two words behind a
/// `#[repr(transparent)]` newtype, so holding one costs nothing, and the
/// only way to get one from a `Cap` is through a tag check (`Cap::as_*`
/// or `Cap::view`), so a field of one type is never read out of a cap of
/// another. Fields that hold a pointer are raw here; the views decode
/// them (sign extension, stored shifts) in the hand-written methods below.
macro_rules! cap_views {
    ($(
        $(#[$doc:meta])*
        $tag:ident => $view:ident, $as_fn:ident {
            $( $(#[$fdoc:meta])* $get:ident / $set:ident : $kind:ident = w $word:literal [$shift:literal +: $bits:literal]; )*
        }
    )*) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            #[repr(transparent)]
            pub struct $view(Cap);

            impl $view {
                /// The type every cap of this view has.
                pub const TYPE: CapType = CapType::$tag;
                /// Its tag (bits 63..59 of word 0).
                pub const TAG: u64 = CapType::$tag as u64;

                /// A cap of this type with every field zero.
                #[inline(always)]
                pub const fn zeroed() -> $view {
                    $view(Cap { words: [(CapType::$tag as u64) << 59, 0] })
                }

                /// The cap itself (to store it in a slot or pass it on).
                #[inline(always)]
                pub const fn cap(self) -> Cap {
                    self.0
                }

                /// The cap's words, as `Cap::words`.
                #[inline(always)]
                pub const fn words(&self) -> [u64; 2] {
                    self.0.words
                }

                $(
                    $(#[$fdoc])*
                    #[inline(always)]
                    pub const fn $get(&self) -> cap_views!(@ty $kind) {
                        cap_views!(@from $kind, (self.0.words[$word] >> $shift) & mask($bits))
                    }

                    #[inline(always)]
                    pub const fn $set(mut self, value: cap_views!(@ty $kind)) -> $view {
                        let raw = cap_views!(@to $kind, value) & mask($bits);
                        self.0.words[$word] = (self.0.words[$word] & !(mask($bits) << $shift)) | raw << $shift;
                        self
                    }
                )*
            }

            impl Cap {
                /// This cap as its typed view, if it has that type.
                #[inline(always)]
                pub const fn $as_fn(&self) -> Option<$view> {
                    if self.is(CapType::$tag) {
                        Some($view(*self))
                    } else {
                        None
                    }
                }
            }

            impl From<$view> for Cap {
                #[inline(always)]
                fn from(view: $view) -> Cap {
                    view.0
                }
            }
        )*

        /// A cap seen through the view of its type (`Cap::view`), for code
        /// that dispatches on the type and then reads that type's fields.
        // The discriminants are the tags, so that matching on a view is
        // matching on the tag.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u64)]
        pub enum CapView {
            $( $tag($view) = CapType::$tag as u64, )*
            /// A tag no cap type has (never stored by the kernel).
            Invalid = 32,
        }

        impl Cap {
            /// The typed view of this cap, with the tag checked once.
            #[inline(always)]
            pub fn view(&self) -> CapView {
                match self.tag() {
                    $( $view::TAG => CapView::$tag($view(*self)), )*
                    _ => CapView::Invalid,
                }
            }
        }
    };
    (@ty bool) => { bool };
    (@ty u64) => { u64 };
    (@ty u32) => { u32 };
    (@ty u16) => { u16 };
    (@from bool, $e:expr) => { $e != 0 };
    (@from u64, $e:expr) => { $e };
    (@from u32, $e:expr) => { $e as u32 };
    (@from u16, $e:expr) => { $e as u16 };
    (@to bool, $e:expr) => { $e as u64 };
    (@to u64, $e:expr) => { $e };
    (@to u32, $e:expr) => { $e as u64 };
    (@to u16, $e:expr) => { $e as u64 };
}

// seL4's x86_64 cap layouts (its structures.bf), plus this kernel's two
// user-interrupt caps in tags seL4 leaves unused.
cap_views! {
    Null => NullCap, as_null {}

    /// An untyped region: `2^block_size` bytes at `ptr`, of which the first
    /// `free_index` 16-byte units are used.
    Untyped => UntypedCap, as_untyped {
        free_index / with_free_index: u64 = w 1 [16 +: 48];
        is_device / with_is_device: bool = w 1 [6 +: 1];
        size_bits / with_size_bits: u32 = w 1 [0 +: 6];
        raw_ptr / with_raw_ptr: u64 = w 0 [0 +: 48];
    }

    Endpoint => EndpointCap, as_endpoint {
        badge / with_badge: u64 = w 1 [0 +: 64];
        can_grant_reply / with_can_grant_reply: bool = w 0 [58 +: 1];
        can_grant / with_can_grant: bool = w 0 [57 +: 1];
        can_receive / with_can_receive: bool = w 0 [56 +: 1];
        can_send / with_can_send: bool = w 0 [55 +: 1];
        raw_ptr / with_raw_ptr: u64 = w 0 [0 +: 48];
    }

    Notification => NotificationCap, as_notification {
        badge / with_badge: u64 = w 1 [0 +: 64];
        can_receive / with_can_receive: bool = w 0 [58 +: 1];
        can_send / with_can_send: bool = w 0 [57 +: 1];
        raw_ptr / with_raw_ptr: u64 = w 0 [0 +: 48];
    }

    /// A reply cap (the non-MCS kind): the TCB it replies to.
    Reply => ReplyCap, as_reply {
        tcb / with_tcb: u64 = w 1 [0 +: 64];
        can_grant / with_can_grant: bool = w 0 [1 +: 1];
        master / with_master: bool = w 0 [0 +: 1];
    }

    /// A CNode of `2^radix` slots; the pointer is stored shifted right by one.
    CNode => CNodeCap, as_cnode {
        guard / with_guard: u64 = w 1 [0 +: 64];
        guard_size / with_guard_size: u32 = w 0 [53 +: 6];
        radix / with_radix: u32 = w 0 [47 +: 6];
        raw_ptr / with_raw_ptr: u64 = w 0 [0 +: 47];
    }

    /// A thread: the pointer is to the TCB proper, after its cap slots.
    Thread => ThreadCap, as_thread {
        raw_tcb / with_raw_tcb: u64 = w 0 [0 +: 48];
    }

    IrqControl => IrqControlCap, as_irq_control {}

    IrqHandler => IrqHandlerCap, as_irq_handler {
        irq / with_irq: u64 = w 1 [0 +: 12];
    }

    /// What is left of a CNode or TCB while its slots are being deleted:
    /// the object pointer and the slots remaining share word 1, split by
    /// the type (`ZOMBIE_TYPE_TCB` or the CNode's radix).
    Zombie => ZombieCap, as_zombie {
        id / with_id: u64 = w 1 [0 +: 64];
        zombie_type / with_zombie_type: u64 = w 0 [0 +: 7];
    }

    AsidControl => AsidControlCap, as_asid_control {}

    /// An ASID pool; the pointer is stored shifted right by 11.
    AsidPool => AsidPoolCap, as_asid_pool {
        asid_base / with_asid_base: u64 = w 0 [47 +: 12];
        raw_pool / with_raw_pool: u64 = w 0 [0 +: 37];
    }

    Domain => DomainCap, as_domain {}

    IoPortControl => IoPortControlCap, as_io_port_control {}

    /// The I/O ports `first..=last`.
    IoPort => IoPortCap, as_io_port {
        first / with_first: u64 = w 0 [40 +: 16];
        last / with_last: u64 = w 0 [24 +: 16];
    }

    Pml4 => Pml4Cap, as_pml4 {
        ptr / with_ptr: u64 = w 1 [0 +: 64];
        mapped / with_mapped: bool = w 0 [58 +: 1];
        asid / with_asid: u64 = w 0 [0 +: 12];
    }

    /// A PDPT; `raw_mapped_addr` holds bits 48..39 of the address it maps.
    Pdpt => PdptCap, as_pdpt {
        mapped_asid / with_mapped_asid: u64 = w 1 [48 +: 12];
        raw_ptr / with_raw_ptr: u64 = w 1 [0 +: 48];
        mapped / with_mapped: bool = w 0 [58 +: 1];
        raw_mapped_addr / with_raw_mapped_addr: u64 = w 0 [48 +: 10];
    }

    /// A page directory; `raw_mapped_addr` holds bits 48..30 of the address
    /// it maps.
    PageDirectory => PageDirectoryCap, as_page_directory {
        mapped_asid / with_mapped_asid: u64 = w 1 [48 +: 12];
        raw_ptr / with_raw_ptr: u64 = w 1 [0 +: 48];
        mapped / with_mapped: bool = w 0 [49 +: 1];
        raw_mapped_addr / with_raw_mapped_addr: u64 = w 0 [30 +: 19];
    }

    /// A page table; `raw_mapped_addr` holds bits 48..21 of the address it
    /// maps.
    PageTable => PageTableCap, as_page_table {
        mapped_asid / with_mapped_asid: u64 = w 1 [48 +: 12];
        raw_ptr / with_raw_ptr: u64 = w 1 [0 +: 48];
        mapped / with_mapped: bool = w 0 [49 +: 1];
        raw_mapped_addr / with_raw_mapped_addr: u64 = w 0 [21 +: 28];
    }

    /// A frame; the mapped ASID shares word 1 with the base.
    Frame => FrameCap, as_frame {
        mapped_asid / with_mapped_asid: u64 = w 1 [48 +: 16];
        raw_base / with_raw_base: u64 = w 1 [0 +: 48];
        size_field / with_size_field: u64 = w 0 [57 +: 2];
        map_type / with_map_type: u64 = w 0 [55 +: 2];
        raw_mapped_addr / with_raw_mapped_addr: u64 = w 0 [7 +: 48];
        rights / with_rights: u64 = w 0 [5 +: 2];
        is_device / with_is_device: bool = w 0 [4 +: 1];
    }

    /// A UINTR receiver (this kernel's extension). In word 0, bit 58 says
    /// a vector is minted (in 53..48); bit 57 marks the copy a UITT entry
    /// holds and bit 56 the copy a receiving thread's TCB holds, with the
    /// entry's or the TCB's address in 47..0, so that deleting the copy
    /// can undo what it stands for.
    UintrReceiver => UintrReceiverCap, as_uintr_receiver {
        ptr / with_ptr: u64 = w 1 [0 +: 64];
        has_vector / with_has_vector: bool = w 0 [58 +: 1];
        held_by_uitt_entry / with_held_by_uitt_entry: bool = w 0 [57 +: 1];
        held_by_tcb / with_held_by_tcb: bool = w 0 [56 +: 1];
        raw_vector / with_raw_vector: u64 = w 0 [48 +: 6];
        raw_holder / with_raw_holder: u64 = w 0 [0 +: 48];
    }

    /// A user-interrupt target table (this kernel's extension).
    Uitt => UittCap, as_uitt {
        ptr / with_ptr: u64 = w 1 [0 +: 64];
    }
}

impl Cap {
    pub const NULL: Cap = Cap { words: [0, 0] };

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

    /// This cap as an endpoint, if `is_endpoint_for_call` holds.
    #[inline(always)]
    pub const fn as_endpoint_for_call(&self) -> Option<EndpointCap> {
        if self.is_endpoint_for_call() {
            Some(EndpointCap(*self))
        } else {
            None
        }
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

    /// This cap as a frame, if `is_normal_frame_with_rights(rights)` holds.
    #[inline(always)]
    pub const fn as_normal_frame_with_rights(&self, rights: u64) -> Option<FrameCap> {
        if self.is_normal_frame_with_rights(rights) {
            Some(FrameCap(*self))
        } else {
            None
        }
    }

    /// This cap as a one-shot reply cap (a reply cap that is not a
    /// master), if it is one: type and master flag as one masked compare,
    /// as every Call and ReplyRecv asks this of the caller slot. Rotating
    /// the word left by 5 brings the tag to bits 4..0 and the master flag
    /// to bit 5, so the compare needs no 64-bit constants.
    #[inline(always)]
    pub const fn as_one_shot_reply(&self) -> Option<ReplyCap> {
        if self.words[0].rotate_left(5) & 0x3f == ReplyCap::TAG {
            Some(ReplyCap(*self))
        } else {
            None
        }
    }

    /// This cap as a PML4 with an ASID assigned (a valid VSpace root), if
    /// it is one: type and mapped flag as one masked compare, as every
    /// switch to a thread asks this of its VSpace slot. Rotating the word
    /// left by 6 brings the tag to bits 5..1 and the mapped flag (bit 58)
    /// to bit 0.
    #[inline(always)]
    pub const fn as_mapped_pml4(&self) -> Option<Pml4Cap> {
        if self.words[0].rotate_left(6) & 0x3f == Pml4Cap::TAG << 1 | 1 {
            Some(Pml4Cap(*self))
        } else {
            None
        }
    }

    /// This cap as a PDPT, page directory or page table, if it is one.
    #[inline(always)]
    pub const fn as_paging(&self) -> Option<PagingCap> {
        if self.is(CapType::Pdpt) || self.is(CapType::PageDirectory) || self.is(CapType::PageTable) {
            Some(PagingCap(*self))
        } else {
            None
        }
    }

    // --- Constructors, from the views' fields.

    pub const fn untyped(ptr: u64, size_bits: u32, is_device: bool, free_index: u64) -> Cap {
        UntypedCap::zeroed().with_raw_ptr(ptr).with_size_bits(size_bits).with_is_device(is_device).with_free_index(free_index).cap()
    }

    pub const fn endpoint(ptr: u64, badge: u64, send: bool, recv: bool, grant: bool, grant_reply: bool) -> Cap {
        EndpointCap::zeroed()
            .with_raw_ptr(ptr)
            .with_badge(badge)
            .with_can_send(send)
            .with_can_receive(recv)
            .with_can_grant(grant)
            .with_can_grant_reply(grant_reply)
            .cap()
    }

    pub const fn notification(ptr: u64, badge: u64, send: bool, recv: bool) -> Cap {
        NotificationCap::zeroed().with_raw_ptr(ptr).with_badge(badge).with_can_send(send).with_can_receive(recv).cap()
    }

    pub const fn reply(tcb: u64, master: bool, can_grant: bool) -> Cap {
        ReplyCap::zeroed().with_tcb(tcb).with_master(master).with_can_grant(can_grant).cap()
    }

    pub const fn cnode(ptr: u64, radix: u32, guard_size: u32, guard: u64) -> Cap {
        CNodeCap::zeroed().with_raw_ptr(ptr >> 1).with_radix(radix).with_guard_size(guard_size).with_guard(guard).cap()
    }

    pub const fn thread(tcb: u64) -> Cap {
        ThreadCap::zeroed().with_raw_tcb(tcb).cap()
    }

    pub const fn irq_control() -> Cap {
        IrqControlCap::zeroed().cap()
    }
    pub const fn asid_control() -> Cap {
        AsidControlCap::zeroed().cap()
    }
    pub const fn io_port_control() -> Cap {
        IoPortControlCap::zeroed().cap()
    }
    pub const fn domain() -> Cap {
        DomainCap::zeroed().cap()
    }

    pub const fn irq_handler(irq: u64) -> Cap {
        IrqHandlerCap::zeroed().with_irq(irq).cap()
    }

    pub const fn uintr_receiver(ptr: u64) -> Cap {
        UintrReceiverCap::zeroed().with_ptr(ptr).cap()
    }

    pub const fn uitt(ptr: u64) -> Cap {
        UittCap::zeroed().with_ptr(ptr).cap()
    }

    pub const fn io_port(first: u16, last: u16) -> Cap {
        IoPortCap::zeroed().with_first(first as u64).with_last(last as u64).cap()
    }

    /// A zombie for `number` remaining slots starting at `ptr`, of type
    /// `ZOMBIE_TYPE_TCB` or a CNode radix.
    pub const fn zombie(number: u64, zombie_type: u64, ptr: u64) -> Cap {
        let m = mask(zombie_id_bits(zombie_type));
        ZombieCap::zeroed().with_zombie_type(zombie_type).with_id((ptr & !m) | (number & m)).cap()
    }

    pub const fn asid_pool(pool: u64, asid_base: u64) -> Cap {
        AsidPoolCap::zeroed().with_asid_base(asid_base).with_raw_pool(pool >> 11).cap()
    }

    pub const fn pml4(ptr: u64, asid: u64, mapped: bool) -> Cap {
        Pml4Cap::zeroed().with_ptr(ptr).with_asid(asid).with_mapped(mapped).cap()
    }

    /// A PDPT, page directory or page table cap (`tag` says which).
    pub const fn paging(tag: CapType, ptr: u64, asid: u64, mapped_vaddr: Option<u64>) -> Cap {
        let (mapped, vaddr) = match mapped_vaddr {
            Some(v) => (true, v),
            None => (false, 0),
        };
        match tag {
            CapType::Pdpt => PdptCap::zeroed().with_raw_ptr(ptr).with_mapped_asid(asid).with_mapped(mapped).with_raw_mapped_addr(vaddr >> 39).cap(),
            CapType::PageDirectory => {
                PageDirectoryCap::zeroed().with_raw_ptr(ptr).with_mapped_asid(asid).with_mapped(mapped).with_raw_mapped_addr(vaddr >> 30).cap()
            }
            _ => PageTableCap::zeroed().with_raw_ptr(ptr).with_mapped_asid(asid).with_mapped(mapped).with_raw_mapped_addr(vaddr >> 21).cap(),
        }
    }

    pub const fn frame(base: u64, size: FrameSize, rights: u64, is_device: bool, mapping: Option<(u64, u64)>) -> Cap {
        let (asid, vaddr, kind) = match mapping {
            Some((asid, vaddr)) => (asid, vaddr, map_type::VSPACE),
            None => (0, 0, map_type::NONE),
        };
        FrameCap::zeroed()
            .with_size_field(size as u64)
            .with_map_type(kind)
            .with_raw_mapped_addr(vaddr)
            .with_rights(rights)
            .with_is_device(is_device)
            .with_mapped_asid(asid)
            .with_raw_base(base)
            .cap()
    }
}

impl UntypedCap {
    #[inline(always)]
    pub const fn ptr(&self) -> u64 {
        canonical(self.raw_ptr())
    }
}

impl EndpointCap {
    #[inline(always)]
    pub const fn ptr(&self) -> u64 {
        canonical(self.raw_ptr())
    }
    /// `ptr` for a cap the kernel made: endpoints live in the kernel's
    /// half of the address space, so the pointer's top 16 bits are all
    /// ones and the type and rights bits above it can simply be set too
    /// (two instructions instead of `canonical`'s choice, on every
    /// fastpath IPC).
    #[inline(always)]
    pub const fn kernel_ptr(&self) -> u64 {
        self.0.words[0] | 0xffff_0000_0000_0000
    }
    #[inline(always)]
    pub const fn with_rights(self, send: bool, recv: bool, grant: bool, grant_reply: bool) -> EndpointCap {
        self.with_can_send(send).with_can_receive(recv).with_can_grant(grant).with_can_grant_reply(grant_reply)
    }
}

impl NotificationCap {
    #[inline(always)]
    pub const fn ptr(&self) -> u64 {
        canonical(self.raw_ptr())
    }
    #[inline(always)]
    pub const fn with_rights(self, send: bool, recv: bool) -> NotificationCap {
        self.with_can_send(send).with_can_receive(recv)
    }
}

impl CNodeCap {
    #[inline(always)]
    pub const fn ptr(&self) -> u64 {
        canonical(self.raw_ptr() << 1)
    }
    /// `ptr` for a cap the kernel made: CNodes live in the kernel's
    /// half of the address space, so the pointer's top bits are all ones
    /// and shifting the fields above it out and setting them is the
    /// whole decoding (the fastpath's lookup, on every IPC).
    #[inline(always)]
    pub const fn kernel_ptr(&self) -> u64 {
        self.0.words[0] << 1 | 0xffff_0000_0000_0000
    }
    #[inline(always)]
    pub const fn with_guard_and_size(self, guard: u64, guard_size: u32) -> CNodeCap {
        self.with_guard_size(guard_size).with_guard(guard)
    }
}

impl ThreadCap {
    /// The TCB proper (after its cap slots).
    #[inline(always)]
    pub const fn tcb(&self) -> u64 {
        canonical(self.raw_tcb())
    }
}

/// Width of the slot count in a zombie's ID word: the rest is the pointer.
const fn zombie_id_bits(zombie_type: u64) -> u32 {
    if zombie_type == ZOMBIE_TYPE_TCB {
        TCB_CNODE_RADIX + 1
    } else {
        (zombie_type & mask(6)) as u32 + 1
    }
}

impl ZombieCap {
    #[inline(always)]
    pub const fn number(&self) -> u64 {
        self.id() & mask(zombie_id_bits(self.zombie_type()))
    }
    #[inline(always)]
    pub const fn ptr(&self) -> u64 {
        self.id() & !mask(zombie_id_bits(self.zombie_type()))
    }
    #[inline(always)]
    pub const fn with_number(self, n: u64) -> ZombieCap {
        let m = mask(zombie_id_bits(self.zombie_type()));
        self.with_id((self.id() & !m) | (n & m))
    }
}

impl AsidPoolCap {
    #[inline(always)]
    pub const fn ptr(&self) -> u64 {
        canonical(self.raw_pool() << 11)
    }
}

impl FrameCap {
    #[inline(always)]
    pub const fn base(&self) -> u64 {
        canonical(self.raw_base())
    }
    #[inline(always)]
    pub const fn size(&self) -> FrameSize {
        FrameSize::from_field(self.size_field())
    }
    #[inline(always)]
    pub const fn mapped_vaddr(&self) -> u64 {
        canonical(self.raw_mapped_addr())
    }
    /// The mask of an address's offset inside the frame
    /// (`MASK(pageBitsForSize(capFSize))`), by table rather than
    /// `size().bits()`'s two choices.
    #[inline(always)]
    pub const fn offset_mask(&self) -> u64 {
        // Indexed by `capFSize`; the unused value 3 reads as a small page,
        // as `FrameSize::from_field` decodes it.
        const MASKS: [u64; 4] = [mask(12), mask(21), mask(30), mask(12)];
        MASKS[self.size_field() as usize]
    }
    /// `base` for a cap the kernel made: frames are reached through
    /// the kernel's window onto physical memory, so the base's top 16 bits
    /// are all ones (which also covers the mapped ASID stored there).
    #[inline(always)]
    pub const fn kernel_base(&self) -> u64 {
        self.0.words[1] | 0xffff_0000_0000_0000
    }
    /// The same frame, unmapped (what deriving a frame cap produces).
    #[inline(always)]
    pub const fn unmapped(self) -> FrameCap {
        self.with_map_type(map_type::NONE).with_mapped_asid(0)
    }
}

impl UintrReceiverCap {
    /// The vector minted into the cap, if any.
    #[inline(always)]
    pub const fn vector(&self) -> Option<u8> {
        if self.has_vector() {
            Some(self.raw_vector() as u8)
        } else {
            None
        }
    }
    #[inline(always)]
    pub const fn with_vector(self, vector: u8) -> UintrReceiverCap {
        self.with_has_vector(true).with_raw_vector(vector as u64)
    }
    /// Who holds this copy on the kernel's behalf, if anyone.
    #[inline(always)]
    pub const fn holder(&self) -> ReceiverHolder {
        let address = canonical(self.raw_holder());
        if self.held_by_uitt_entry() {
            ReceiverHolder::UittEntry(address)
        } else if self.held_by_tcb() {
            ReceiverHolder::Tcb(address)
        } else {
            ReceiverHolder::User
        }
    }
    #[inline(always)]
    pub const fn held_by(self, holder: ReceiverHolder) -> UintrReceiverCap {
        let (uitt_entry, tcb, address) = match holder {
            ReceiverHolder::User => (false, false, 0),
            ReceiverHolder::UittEntry(entry) => (true, false, entry),
            ReceiverHolder::Tcb(tcb) => (false, true, tcb),
        };
        self.with_held_by_uitt_entry(uitt_entry).with_held_by_tcb(tcb).with_raw_holder(address)
    }
}

/// A PDPT, page directory or page table cap (`Cap::as_paging`): the
/// three share the pointer and ASID in word 1 and differ in where word 0
/// keeps the mapped flag and address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct PagingCap(Cap);

macro_rules! paging_from {
    ($($view:ident),*) => {$(
        impl From<$view> for PagingCap {
            #[inline(always)]
            fn from(table: $view) -> PagingCap {
                PagingCap(table.0)
            }
        }
    )*};
}
paging_from!(PdptCap, PageDirectoryCap, PageTableCap);

impl PagingCap {
    #[inline(always)]
    pub const fn cap(self) -> Cap {
        self.0
    }
    #[inline(always)]
    pub const fn cap_type(&self) -> CapType {
        if self.0.is(CapType::Pdpt) {
            CapType::Pdpt
        } else if self.0.is(CapType::PageDirectory) {
            CapType::PageDirectory
        } else {
            CapType::PageTable
        }
    }
    #[inline(always)]
    pub const fn ptr(&self) -> u64 {
        // The three layouts agree on word 1 (checked in the tests).
        canonical(PageTableCap(self.0).raw_ptr())
    }
    #[inline(always)]
    pub const fn mapped_asid(&self) -> u64 {
        PageTableCap(self.0).mapped_asid()
    }
    #[inline(always)]
    pub const fn mapped(&self) -> bool {
        match self.cap_type() {
            CapType::Pdpt => PdptCap(self.0).mapped(),
            CapType::PageDirectory => PageDirectoryCap(self.0).mapped(),
            _ => PageTableCap(self.0).mapped(),
        }
    }
    #[inline(always)]
    pub const fn mapped_vaddr(&self) -> u64 {
        canonical(match self.cap_type() {
            CapType::Pdpt => PdptCap(self.0).raw_mapped_addr() << 39,
            CapType::PageDirectory => PageDirectoryCap(self.0).raw_mapped_addr() << 30,
            _ => PageTableCap(self.0).raw_mapped_addr() << 21,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cnode_fields_round_trip() {
        let ptr = 0xffff_ff80_0ab4_0000;
        let c = Cap::cnode(ptr, 13, 51, 0x5).as_cnode().unwrap();
        assert_eq!(c.ptr(), ptr);
        assert_eq!(c.radix(), 13);
        assert_eq!(c.guard_size(), 51);
        assert_eq!(c.guard(), 5);
        assert_eq!(c.words()[0] >> 53 & 0x3f, 51);
        assert_eq!(c.words()[0] >> 47 & 0x3f, 13);
        let g = c.with_guard_and_size(3, 2);
        assert_eq!((g.guard(), g.guard_size(), g.radix(), g.ptr()), (3, 2, 13, ptr));
        assert_eq!(c.kernel_ptr(), c.ptr());
    }

    #[test]
    fn views_check_the_tag() {
        let ep = Cap::endpoint(0xffff_ff80_0000_1230, 3, true, true, true, true);
        assert!(ep.as_endpoint().is_some());
        assert!(ep.as_cnode().is_none() && ep.as_notification().is_none() && ep.as_paging().is_none());
        assert!(matches!(ep.view(), CapView::Endpoint(e) if e.badge() == 3));
        assert_eq!(Cap::NULL.view(), CapView::Null(NullCap::zeroed()));
        // Tags no cap type has.
        for tag in [15u64, 17, 21, 22, 23, 24, 25, 27, 29, 30] {
            assert_eq!(Cap { words: [tag << 59, 0] }.view(), CapView::Invalid, "tag {tag}");
        }
        for t in [CapType::Pdpt, CapType::PageDirectory, CapType::PageTable] {
            let table = Cap::paging(t, 0xffff_ff80_0003_0000, 1, None);
            assert_eq!(table.as_paging().map(|p| p.cap_type()), Some(t));
        }
    }

    /// The layouts the views are generated from, against the encodings
    /// written out field by field from seL4's x86_64 bitfield
    /// specification.
    #[test]
    fn encodings_are_sel4s() {
        let p = 0xffff_ff80_1234_5670u64;
        let low48 = p & mask(48);
        assert_eq!(Cap::untyped(p, 30, true, 7).words, [2 << 59 | low48, 7 << 16 | 1 << 6 | 30]);
        assert_eq!(Cap::endpoint(p, 9, true, false, true, false).words, [4 << 59 | 1 << 57 | 1 << 55 | low48, 9]);
        assert_eq!(Cap::endpoint(p, 0, false, true, false, true).words, [4 << 59 | 1 << 58 | 1 << 56 | low48, 0]);
        assert_eq!(Cap::notification(p, 5, true, false).words, [6 << 59 | 1 << 57 | low48, 5]);
        assert_eq!(Cap::notification(p, 5, false, true).words, [6 << 59 | 1 << 58 | low48, 5]);
        assert_eq!(Cap::reply(p, true, true).words, [8 << 59 | 3, p]);
        assert_eq!(Cap::cnode(p, 12, 52, 6).words, [10 << 59 | 52 << 53 | 12 << 47 | (p >> 1) & mask(47), 6]);
        assert_eq!(Cap::thread(p).words, [12 << 59 | low48, 0]);
        assert_eq!(Cap::irq_control().words, [14 << 59, 0]);
        assert_eq!(Cap::irq_handler(0x1234).words, [16 << 59, 0x234]);
        assert_eq!(Cap::zombie(3, 13, 0xffff_ff80_0100_0000).words, [18 << 59 | 13, 0xffff_ff80_0100_0003]);
        assert_eq!(Cap::io_port(0x3f8, 0x3ff).words, [19 << 59 | 0x3f8 << 40 | 0x3ff << 24, 0]);
        assert_eq!(Cap::domain().words, [20 << 59, 0]);
        assert_eq!(Cap::asid_control().words, [11 << 59, 0]);
        assert_eq!(Cap::asid_pool(0xffff_ff80_0020_0800, 0x200).words, [13 << 59 | 0x200 << 47 | (0xffff_ff80_0020_0800u64 >> 11) & mask(37), 0]);
        assert_eq!(Cap::pml4(p, 0x123, true).words, [9 << 59 | 1 << 58 | 0x123, p]);
        let v = 0x7f12_3456_7000u64;
        assert_eq!(Cap::paging(CapType::Pdpt, p, 3, Some(v)).words, [7 << 59 | 1 << 58 | ((v >> 39) & mask(10)) << 48, 3 << 48 | low48]);
        assert_eq!(Cap::paging(CapType::PageDirectory, p, 3, Some(v)).words, [5 << 59 | 1 << 49 | ((v >> 30) & mask(19)) << 30, 3 << 48 | low48]);
        assert_eq!(Cap::paging(CapType::PageTable, p, 3, Some(v)).words, [3 << 59 | 1 << 49 | ((v >> 21) & mask(28)) << 21, 3 << 48 | low48]);
        assert_eq!(Cap::paging(CapType::PageTable, p, 3, None).words, [3 << 59, 3 << 48 | low48]);
        assert_eq!(
            Cap::frame(p & !0xfff, FrameSize::Large, 3, true, Some((0x4567, v))).words,
            [1 << 59 | 1 << 57 | 1 << 55 | (v & mask(48)) << 7 | 3 << 5 | 1 << 4, 0x4567 << 48 | (p & !0xfff) & mask(48)]
        );
        assert_eq!(Cap::uintr_receiver(p).words, [26 << 59, p]);
        assert_eq!(Cap::uitt(p).words, [28 << 59, p]);
        let r = Cap::uintr_receiver(p).as_uintr_receiver().unwrap().with_vector(37).held_by(ReceiverHolder::UittEntry(p));
        assert_eq!(r.words(), [26 << 59 | 1 << 58 | 37 << 48 | 1 << 57 | low48, p]);
        let t = r.held_by(ReceiverHolder::Tcb(0xffff_ff80_0000_0400));
        assert_eq!(t.words(), [26 << 59 | 1 << 58 | 37 << 48 | 1 << 56 | 0xff80_0000_0400, p]);
        assert_eq!(t.holder(), ReceiverHolder::Tcb(0xffff_ff80_0000_0400));
        assert_eq!(t.held_by(ReceiverHolder::User).words(), [26 << 59 | 1 << 58 | 37 << 48, p]);
    }

    #[test]
    fn endpoint_for_call_is_the_fastpath_condition() {
        // Every type tag and every combination of the four rights bits.
        for tag in 0..32u64 {
            for rights in 0..16u64 {
                let cap = Cap { words: [tag << 59 | rights << 55 | 0x1234_5678, 7] };
                let plain = cap.as_endpoint().is_some_and(|ep| ep.can_send() && (ep.can_grant() || ep.can_grant_reply()));
                assert_eq!(cap.is_endpoint_for_call(), plain, "tag {tag} rights {rights:#06b}");
                assert_eq!(cap.as_endpoint_for_call().is_some(), plain);
            }
        }
    }

    #[test]
    fn one_compare_checks_are_the_plain_ones() {
        for tag in 0..32u64 {
            for flags in [0, 1, 2, 3, 1 << 58, 1 << 58 | 1, 1 << 57] {
                let cap = Cap { words: [tag << 59 | flags | 0x1230, 0xffff_ff80_0000_4000] };
                let one_shot = cap.as_reply().filter(|r| !r.master());
                assert_eq!(cap.as_one_shot_reply(), one_shot, "tag {tag} flags {flags:#x}");
                let mapped = cap.as_pml4().filter(|p| p.mapped());
                assert_eq!(cap.as_mapped_pml4(), mapped, "tag {tag} flags {flags:#x}");
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
                            let plain = cap.as_frame().is_some_and(|f| !f.is_device() && f.rights() == wanted);
                            assert_eq!(cap.is_normal_frame_with_rights(wanted), plain, "tag {tag} rights {rights} device {device}");
                            assert_eq!(cap.as_normal_frame_with_rights(wanted).is_some(), plain);
                        }
                        if let Some(f) = cap.as_frame() {
                            assert_eq!(f.offset_mask(), mask(f.size().bits()), "size {size}");
                            assert_eq!(f.kernel_base(), f.base());
                        }
                    }
                }
            }
        }
    }

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
        let u = Cap::untyped(0xffff_ff80_4000_0000, 30, true, 7).as_untyped().unwrap();
        assert_eq!(u.ptr(), 0xffff_ff80_4000_0000);
        assert_eq!(u.size_bits(), 30);
        assert!(u.is_device());
        assert_eq!(u.free_index(), 7);
        assert_eq!(u.with_free_index(9).free_index(), 9);
        let f = Cap::frame(0xffff_ff80_1234_5000, FrameSize::Large, vm_rights::READ_WRITE, false, Some((1, 0x40_0000))).as_frame().unwrap();
        assert_eq!(f.base(), 0xffff_ff80_1234_5000);
        assert_eq!(f.mapped_vaddr(), 0x40_0000);
        assert_eq!(f.mapped_asid(), 1);
        assert_eq!(f.map_type(), map_type::VSPACE);
        assert_eq!(f.size(), FrameSize::Large);
        let d = f.unmapped();
        assert_eq!((d.mapped_asid(), d.map_type(), d.base()), (0, 0, f.base()));
        assert_eq!(f.with_rights(vm_rights::READ_ONLY).rights(), vm_rights::READ_ONLY);
    }

    #[test]
    fn endpoint_and_notification_fields() {
        let e = Cap::endpoint(0xffff_ff80_0000_1230, 0, true, false, true, false).as_endpoint().unwrap();
        assert_eq!(e.ptr(), 0xffff_ff80_0000_1230);
        assert!(e.can_send() && !e.can_receive() && e.can_grant() && !e.can_grant_reply());
        let e2 = e.with_rights(false, true, false, true).with_badge(42);
        assert!(!e2.can_send() && e2.can_receive() && !e2.can_grant() && e2.can_grant_reply());
        assert_eq!((e2.badge(), e2.ptr()), (42, e.ptr()));
        assert_eq!(e.kernel_ptr(), e.ptr());
        let n = Cap::notification(0xffff_ff80_0000_2220, 9, true, false).as_notification().unwrap();
        assert_eq!((n.ptr(), n.badge(), n.can_send(), n.can_receive()), (0xffff_ff80_0000_2220, 9, true, false));
    }

    #[test]
    fn zombie_number_and_pointer_share_a_word() {
        let z = Cap::zombie(1 << 13, 13, 0xffff_ff80_0100_0000).as_zombie().unwrap();
        assert_eq!((z.number(), z.ptr(), z.zombie_type()), (1 << 13, 0xffff_ff80_0100_0000, 13));
        let z = z.with_number(5);
        assert_eq!((z.number(), z.ptr()), (5, 0xffff_ff80_0100_0000));
        let t = Cap::zombie(5, ZOMBIE_TYPE_TCB, 0xffff_ff80_0200_0800).as_zombie().unwrap();
        assert_eq!((t.number(), t.ptr()), (5, 0xffff_ff80_0200_0800));
    }

    #[test]
    fn paging_fields() {
        let pt = Cap::paging(CapType::PageTable, 0xffff_ff80_0003_0000, 1, Some(0x40_0000)).as_paging().unwrap();
        assert!(pt.mapped());
        assert_eq!((pt.ptr(), pt.mapped_asid(), pt.mapped_vaddr()), (0xffff_ff80_0003_0000, 1, 0x40_0000));
        let pdpt = Cap::paging(CapType::Pdpt, 0xffff_ff80_0004_0000, 2, Some(0x80_0000_0000)).as_paging().unwrap();
        assert_eq!(pdpt.mapped_vaddr(), 0x80_0000_0000);
        assert_eq!((pdpt.ptr(), pdpt.mapped_asid()), (0xffff_ff80_0004_0000, 2));
        let pd = Cap::paging(CapType::PageDirectory, 0xffff_ff80_0005_0000, 3, Some(0x4000_0000)).as_paging().unwrap();
        assert_eq!((pd.ptr(), pd.mapped_asid(), pd.mapped_vaddr()), (0xffff_ff80_0005_0000, 3, 0x4000_0000));
        assert!(!Cap::paging(CapType::PageDirectory, 0x1000, 0, None).as_paging().unwrap().mapped());
    }
}
