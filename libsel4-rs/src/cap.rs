//! Typed capabilities: a capability pointer that knows which kind of
//! object it names, so only that object's invocations can be made on it.
//!
//! A [`Cap<K>`] is a plain `CPtr` plus a zero-sized kind marker from
//! [`kind`]; it is `Copy` and costs nothing at run time. The kernel still
//! checks every invocation: a wrongly typed cap (say, a cap pointer cast
//! to the wrong kind with [`Cap::cast`]) gets seL4's error, never
//! undefined behaviour. The type aliases ([`Endpoint`], [`Tcb`],
//! [`Granule`], ...) are what programs name.
//!
//! Slots are addressed as in seL4, by a CNode, an index and a depth: a
//! [`Slot`]. The root thread's caps in seL4's fixed slots are constants in
//! [`init`].
//!
//! ```no_run
//! use sel4::cap::{init, Endpoint, Untyped};
//! use sel4::ObjectType;
//! # fn demo(bootinfo: &sel4::BootInfo) -> Result<(), sel4::Error> {
//! // The first untyped from bootinfo, and a free slot to put objects in.
//! let ut = Untyped::from_cptr(bootinfo.untyped.start);
//! let slot = bootinfo.empty.start;
//! ut.retype(ObjectType::Endpoint, 0, init::CNODE.itself(), slot, 1)?;
//! let ep = Endpoint::from_cptr(slot);
//! # let _ = ep;
//! # Ok(())
//! # }
//! ```

use crate::CPtr;
use core::fmt;
use core::marker::PhantomData;

/// The depth that resolves a whole cap pointer (`seL4_WordBits`).
pub const FULL_DEPTH: u8 = 64;

/// A capability pointer to an object of kind `K`.
pub struct Cap<K: CapKind> {
    cptr: CPtr,
    kind: PhantomData<K>,
}

/// A kind of kernel object: the marker types in [`kind`].
pub trait CapKind: Copy {
    /// The object's name in seL4's API, for debug output.
    const NAME: &'static str;
}

impl<K: CapKind> Cap<K> {
    /// The cap at `cptr` in the caller's CSpace, taken to be of kind `K`.
    pub const fn from_cptr(cptr: CPtr) -> Self {
        Cap { cptr, kind: PhantomData }
    }

    /// The raw capability pointer, for the syscall layer.
    pub const fn cptr(self) -> CPtr {
        self.cptr
    }

    /// The same pointer taken to be of another kind (for example a frame
    /// cap that came through IPC as an [`Unspecified`] cap).
    pub const fn cast<L: CapKind>(self) -> Cap<L> {
        Cap::from_cptr(self.cptr)
    }

    /// The cap pointer the other way round: forgets the kind.
    pub const fn upcast(self) -> Unspecified {
        self.cast()
    }

    /// This cap's slot, seen from `root` with a full-word depth (the
    /// usual way a thread names its own slots through its CSpace root).
    pub const fn slot_in(self, root: CNode) -> Slot {
        root.slot(self.cptr, FULL_DEPTH)
    }
}

// Derives would put bounds on `K`; these impls hold for every kind.
impl<K: CapKind> Clone for Cap<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K: CapKind> Copy for Cap<K> {}
impl<K: CapKind> PartialEq for Cap<K> {
    fn eq(&self, other: &Self) -> bool {
        self.cptr == other.cptr
    }
}
impl<K: CapKind> Eq for Cap<K> {}
impl<K: CapKind> fmt::Debug for Cap<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({:#x})", K::NAME, self.cptr)
    }
}

impl<K: CapKind> From<Cap<K>> for CPtr {
    fn from(cap: Cap<K>) -> CPtr {
        cap.cptr
    }
}

/// The kind markers. Each names one object type of seL4's x86_64
/// configuration (non-MCS: no scheduling contexts or reply objects).
pub mod kind {
    use super::CapKind;

    macro_rules! kinds {
        ($($(#[$doc:meta])* $name:ident = $sel4:literal;)*) => {
            $(
                $(#[$doc])*
                #[derive(Clone, Copy, Debug, PartialEq, Eq)]
                pub struct $name;
                impl CapKind for $name {
                    const NAME: &'static str = $sel4;
                }
            )*
        };
    }

    kinds! {
        /// A cap of no particular kind (what a receiver gets through IPC).
        Unspecified = "seL4_CPtr";
        Untyped = "seL4_Untyped";
        Endpoint = "seL4_Endpoint";
        Notification = "seL4_Notification";
        Tcb = "seL4_TCB";
        CNode = "seL4_CNode";
        IrqControl = "seL4_IRQControl";
        IrqHandler = "seL4_IRQHandler";
        DomainSet = "seL4_DomainSet";
        AsidControl = "seL4_X86_ASIDControl";
        AsidPool = "seL4_X86_ASIDPool";
        IoPortControl = "seL4_X86_IOPortControl";
        IoPort = "seL4_X86_IOPort";
        Pml4 = "seL4_X64_PML4";
        Pdpt = "seL4_X86_PDPT";
        PageDirectory = "seL4_X86_PageDirectory";
        PageTable = "seL4_X86_PageTable";
        /// A 4 KiB frame.
        Granule = "seL4_X86_Page";
        /// A 2 MiB frame.
        LargePage = "seL4_X86_LargePage";
        /// A 1 GiB frame.
        HugePage = "seL4_X64_HugePage";
        /// This kernel's user-interrupt receiver (not in seL4).
        UintrReceiver = "UintrReceiver";
        /// This kernel's user-interrupt target table (not in seL4).
        Uitt = "Uitt";
    }
}

pub type Unspecified = Cap<kind::Unspecified>;
pub type Untyped = Cap<kind::Untyped>;
pub type Endpoint = Cap<kind::Endpoint>;
pub type Notification = Cap<kind::Notification>;
pub type Tcb = Cap<kind::Tcb>;
pub type CNode = Cap<kind::CNode>;
pub type IrqControl = Cap<kind::IrqControl>;
pub type IrqHandler = Cap<kind::IrqHandler>;
pub type DomainSet = Cap<kind::DomainSet>;
pub type AsidControl = Cap<kind::AsidControl>;
pub type AsidPool = Cap<kind::AsidPool>;
pub type IoPortControl = Cap<kind::IoPortControl>;
pub type IoPort = Cap<kind::IoPort>;
pub type Pml4 = Cap<kind::Pml4>;
pub type Pdpt = Cap<kind::Pdpt>;
pub type PageDirectory = Cap<kind::PageDirectory>;
pub type PageTable = Cap<kind::PageTable>;
pub type Granule = Cap<kind::Granule>;
pub type LargePage = Cap<kind::LargePage>;
pub type HugePage = Cap<kind::HugePage>;
pub type UintrReceiver = Cap<kind::UintrReceiver>;
pub type Uitt = Cap<kind::Uitt>;

/// A slot named the way CNode invocations name one: the CNode `root` to
/// start the lookup from, an `index` resolved through it, and the number
/// of bits (`depth`) of the index to use. Depth 0 names `root` itself,
/// which is how Retype and friends are told to put caps straight into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub root: CNode,
    pub index: CPtr,
    pub depth: u8,
}

impl CNode {
    /// The slot `index` of this CNode's CSpace, resolved with `depth` bits.
    pub const fn slot(self, index: CPtr, depth: u8) -> Slot {
        Slot { root: self, index, depth }
    }

    /// This CNode as a destination (depth 0).
    pub const fn itself(self) -> Slot {
        self.slot(0, 0)
    }
}

/// `seL4_CapRights`: what a derived cap may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapRights(pub u64);

impl CapRights {
    pub const WRITE: CapRights = CapRights(1 << 0);
    pub const READ: CapRights = CapRights(1 << 1);
    pub const GRANT: CapRights = CapRights(1 << 2);
    pub const GRANT_REPLY: CapRights = CapRights(1 << 3);
    pub const NONE: CapRights = CapRights(0);
    pub const READ_WRITE: CapRights = CapRights(Self::READ.0 | Self::WRITE.0);
    pub const ALL: CapRights = CapRights(0xf);

    /// Rights in both `self` and `other`.
    pub const fn union(self, other: CapRights) -> CapRights {
        CapRights(self.0 | other.0)
    }
}

/// The root thread's caps in seL4's fixed initial slots.
pub mod init {
    use super::*;
    use sel4_compat::caps::root_slots as s;

    pub const TCB: Tcb = Cap::from_cptr(s::INIT_THREAD_TCB);
    pub const CNODE: CNode = Cap::from_cptr(s::INIT_THREAD_CNODE);
    pub const VSPACE: Pml4 = Cap::from_cptr(s::INIT_THREAD_VSPACE);
    pub const IRQ_CONTROL: IrqControl = Cap::from_cptr(s::IRQ_CONTROL);
    pub const ASID_CONTROL: AsidControl = Cap::from_cptr(s::ASID_CONTROL);
    pub const ASID_POOL: AsidPool = Cap::from_cptr(s::INIT_THREAD_ASID_POOL);
    pub const IO_PORT_CONTROL: IoPortControl = Cap::from_cptr(s::IO_PORT_CONTROL);
    pub const BOOT_INFO_FRAME: Granule = Cap::from_cptr(s::BOOT_INFO_FRAME);
    pub const IPC_BUFFER: Granule = Cap::from_cptr(s::INIT_THREAD_IPC_BUFFER);
    pub const DOMAIN: DomainSet = Cap::from_cptr(s::DOMAIN);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_are_bare_pointers() {
        assert_eq!(core::mem::size_of::<Endpoint>(), core::mem::size_of::<CPtr>());
        let ep = Endpoint::from_cptr(42);
        assert_eq!(ep.cast::<kind::Notification>().cptr(), 42);
        assert_eq!(format!("{ep:?}"), "seL4_Endpoint(0x2a)");
    }

    #[test]
    fn slots_name_sel4_triples() {
        assert_eq!(init::CNODE.itself(), Slot { root: init::CNODE, index: 0, depth: 0 });
        assert_eq!(Endpoint::from_cptr(7).slot_in(init::CNODE).depth, 64);
        assert_eq!(CapRights::READ.union(CapRights::WRITE), CapRights::READ_WRITE);
    }
}
