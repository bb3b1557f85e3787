//! Capability facts visible to user code: the 5-bit `capType` tags that
//! `seL4_DebugCapIdentify` returns, and the slot order of the root CNode.

/// seL4's `capType` tag values on x86_64 (from its bitfield specification).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum CapType {
    Null = 0,
    Frame = 1,
    Untyped = 2,
    PageTable = 3,
    Endpoint = 4,
    PageDirectory = 5,
    Notification = 6,
    Pdpt = 7,
    Reply = 8,
    Pml4 = 9,
    CNode = 10,
    AsidControl = 11,
    Thread = 12,
    AsidPool = 13,
    IrqControl = 14,
    IrqHandler = 16,
    Zombie = 18,
    IoPort = 19,
    Domain = 20,
    /// This kernel's user-interrupt extension (`crate::uintr`), in tags
    /// seL4 leaves unused.
    UintrReceiver = 26,
    Uitt = 28,
    IoPortControl = 31,
}

impl CapType {
    pub fn from_tag(tag: u64) -> Option<CapType> {
        use CapType::*;
        Some(match tag {
            0 => Null,
            1 => Frame,
            2 => Untyped,
            3 => PageTable,
            4 => Endpoint,
            5 => PageDirectory,
            6 => Notification,
            7 => Pdpt,
            8 => Reply,
            9 => Pml4,
            10 => CNode,
            11 => AsidControl,
            12 => Thread,
            13 => AsidPool,
            14 => IrqControl,
            16 => IrqHandler,
            18 => Zombie,
            19 => IoPort,
            20 => Domain,
            26 => UintrReceiver,
            28 => Uitt,
            31 => IoPortControl,
            _ => return None,
        })
    }
}

/// Slots of the initial thread's root CNode (`seL4_RootCNodeCapSlots`).
pub mod root_slots {
    pub const NULL: u64 = 0;
    pub const INIT_THREAD_TCB: u64 = 1;
    pub const INIT_THREAD_CNODE: u64 = 2;
    pub const INIT_THREAD_VSPACE: u64 = 3;
    pub const IRQ_CONTROL: u64 = 4;
    pub const ASID_CONTROL: u64 = 5;
    pub const INIT_THREAD_ASID_POOL: u64 = 6;
    pub const IO_PORT_CONTROL: u64 = 7;
    pub const IO_SPACE: u64 = 8;
    pub const BOOT_INFO_FRAME: u64 = 9;
    pub const INIT_THREAD_IPC_BUFFER: u64 = 10;
    pub const DOMAIN: u64 = 11;
    pub const SMMU_SID_CONTROL: u64 = 12;
    pub const SMMU_CB_CONTROL: u64 = 13;
    pub const INIT_THREAD_SC: u64 = 14;
    pub const SMC: u64 = 15;
    /// First slot after the fixed ones (`seL4_NumInitialCaps`).
    pub const NUM_INITIAL_CAPS: u64 = 16;
}
