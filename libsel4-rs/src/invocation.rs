//! Invoking kernel objects: the Call syscall with seL4's message layout,
//! and typed methods for CNode and Untyped caps.
//!
//! As in libsel4, the first four message registers travel in CPU
//! registers and the rest in the IPC buffer; after the call the returned
//! registers are copied into the IPC buffer so [`get_mr`] sees the whole
//! reply.
//!
//! ```ignore
//! use sel4::invocation::{cnode, untyped, CapRights};
//! // Make an endpoint in slot 100 of the root CNode, then a badged copy.
//! untyped::retype(ut, sel4::ObjectType::Endpoint as u64, 0, root, 0, 0, 100, 1)?;
//! cnode::mint(root, 101, 64, root, 100, 64, CapRights::ALL, 42)?;
//! ```

use crate::arch::{syscall, SyscallRegs};
use crate::ipc_buffer::with_ipc_buffer;
use crate::{CPtr, Error, MessageInfo, Syscall};
use sel4_compat::invocation as label;

/// `seL4_CapRights`: bit 0 write, 1 read, 2 grant, 3 grant-reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapRights(pub u64);

impl CapRights {
    pub const ALL: CapRights = CapRights(0xf);
    pub const NONE: CapRights = CapRights(0);
    pub const READ: CapRights = CapRights(0b0010);
    pub const WRITE: CapRights = CapRights(0b0001);
    pub const READ_WRITE: CapRights = CapRights(0b0011);
}

/// Message register `i` of the last reply (or of the message being built).
pub fn get_mr(i: usize) -> u64 {
    with_ipc_buffer(|b| b.msg[i])
}

/// Sets message register `i` in the IPC buffer.
pub fn set_mr(i: usize, value: u64) {
    with_ipc_buffer(|b| b.msg[i] = value);
}

/// `seL4_Call` with `args` as the message and `extra_caps` as capability
/// pointers to transfer; returns the reply's message info.
pub fn call(service: CPtr, label: u64, args: &[u64], extra_caps: &[CPtr]) -> MessageInfo {
    with_ipc_buffer(|b| {
        for (i, &a) in args.iter().enumerate().skip(4) {
            b.msg[i] = a;
        }
        for (i, &c) in extra_caps.iter().enumerate() {
            b.caps_or_badges[i] = c;
        }
    });
    let mut mr = [0u64; 4];
    for (i, &a) in args.iter().take(4).enumerate() {
        mr[i] = a;
    }
    let info = MessageInfo::new(label, 0, extra_caps.len() as u64, args.len() as u64);
    let out = syscall(Syscall::Call, SyscallRegs { dest: service, info: info.0, mr });
    with_ipc_buffer(|b| b.msg[..4].copy_from_slice(&out.mr));
    MessageInfo(out.info)
}

/// The error a kernel reply carries (label 0 is success).
pub fn result(info: MessageInfo) -> Result<(), Error> {
    match info.label() {
        0 => Ok(()),
        code => Err(Error::from_word(code).unwrap_or(Error::IllegalOperation)),
    }
}

/// CNode methods. Indices are looked up in the CNode `service` with
/// `depth` bits; `src_root` and friends name CNodes by cap pointer.
pub mod cnode {
    use super::*;

    fn depth(d: u8) -> u64 {
        d as u64
    }

    pub fn revoke(service: CPtr, index: CPtr, d: u8) -> Result<(), Error> {
        result(call(service, label::CNODE_REVOKE, &[index, depth(d)], &[]))
    }

    pub fn delete(service: CPtr, index: CPtr, d: u8) -> Result<(), Error> {
        result(call(service, label::CNODE_DELETE, &[index, depth(d)], &[]))
    }

    pub fn cancel_badged_sends(service: CPtr, index: CPtr, d: u8) -> Result<(), Error> {
        result(call(service, label::CNODE_CANCEL_BADGED_SENDS, &[index, depth(d)], &[]))
    }

    pub fn save_caller(service: CPtr, index: CPtr, d: u8) -> Result<(), Error> {
        result(call(service, label::CNODE_SAVE_CALLER, &[index, depth(d)], &[]))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn copy(service: CPtr, dest: CPtr, dest_depth: u8, src_root: CPtr, src: CPtr, src_depth: u8, rights: CapRights) -> Result<(), Error> {
        result(call(service, label::CNODE_COPY, &[dest, depth(dest_depth), src, depth(src_depth), rights.0], &[src_root]))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn mint(
        service: CPtr,
        dest: CPtr,
        dest_depth: u8,
        src_root: CPtr,
        src: CPtr,
        src_depth: u8,
        rights: CapRights,
        badge: u64,
    ) -> Result<(), Error> {
        let args = [dest, depth(dest_depth), src, depth(src_depth), rights.0, badge];
        result(call(service, label::CNODE_MINT, &args, &[src_root]))
    }

    pub fn move_(service: CPtr, dest: CPtr, dest_depth: u8, src_root: CPtr, src: CPtr, src_depth: u8) -> Result<(), Error> {
        result(call(service, label::CNODE_MOVE, &[dest, depth(dest_depth), src, depth(src_depth)], &[src_root]))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn mutate(service: CPtr, dest: CPtr, dest_depth: u8, src_root: CPtr, src: CPtr, src_depth: u8, data: u64) -> Result<(), Error> {
        result(call(service, label::CNODE_MUTATE, &[dest, depth(dest_depth), src, depth(src_depth), data], &[src_root]))
    }

    /// Moves `pivot` to `dest` and `src` to `pivot` (with new data for each).
    #[allow(clippy::too_many_arguments)]
    pub fn rotate(
        service: CPtr,
        dest: CPtr,
        dest_depth: u8,
        pivot_root: CPtr,
        pivot: CPtr,
        pivot_depth: u8,
        pivot_data: u64,
        src_root: CPtr,
        src: CPtr,
        src_depth: u8,
        src_data: u64,
    ) -> Result<(), Error> {
        let args = [dest, depth(dest_depth), pivot_data, pivot, depth(pivot_depth), src_data, src, depth(src_depth)];
        result(call(service, label::CNODE_ROTATE, &args, &[pivot_root, src_root]))
    }
}

/// Untyped methods.
pub mod untyped {
    use super::*;

    /// `seL4_Untyped_Retype`: `num` objects of `object_type` (and
    /// `size_bits` for CNodes and untypeds) into slots `offset..` of the
    /// CNode found at `node_index`/`node_depth` from `root` (depth 0: root
    /// itself).
    #[allow(clippy::too_many_arguments)]
    pub fn retype(
        service: CPtr,
        object_type: u64,
        size_bits: u64,
        root: CPtr,
        node_index: CPtr,
        node_depth: u64,
        offset: u64,
        num: u64,
    ) -> Result<(), Error> {
        let args = [object_type, size_bits, node_index, node_depth, offset, num];
        result(call(service, label::UNTYPED_RETYPE, &args, &[root]))
    }
}

/// TCB methods.
pub mod tcb {
    use super::*;

    /// `seL4_TCB_Configure`.
    #[allow(clippy::too_many_arguments)]
    pub fn configure(
        service: CPtr,
        fault_ep: CPtr,
        cspace_root: CPtr,
        cspace_root_data: u64,
        vspace_root: CPtr,
        vspace_root_data: u64,
        buffer: u64,
        buffer_frame: CPtr,
    ) -> Result<(), Error> {
        let args = [fault_ep, cspace_root_data, vspace_root_data, buffer];
        result(call(service, label::TCB_CONFIGURE, &args, &[cspace_root, vspace_root, buffer_frame]))
    }

    /// `seL4_TCB_WriteRegisters` with `regs` in `seL4_UserContext` order.
    pub fn write_registers(service: CPtr, resume: bool, arch_flags: u8, regs: &[u64]) -> MessageInfo {
        let mut args = [0u64; 22];
        args[0] = resume as u64 | (arch_flags as u64) << 8;
        args[1] = regs.len() as u64;
        args[2..2 + regs.len()].copy_from_slice(regs);
        call(service, label::TCB_WRITE_REGISTERS, &args[..2 + regs.len()], &[])
    }

    /// `seL4_TCB_ReadRegisters`: the first `count` registers.
    pub fn read_registers(service: CPtr, suspend: bool, count: usize) -> Result<[u64; 20], Error> {
        let info = call(service, label::TCB_READ_REGISTERS, &[suspend as u64, count as u64], &[]);
        result(info)?;
        let mut regs = [0u64; 20];
        for (i, r) in regs.iter_mut().enumerate().take(count.min(info.length() as usize)) {
            *r = get_mr(i);
        }
        Ok(regs)
    }

    pub fn resume(service: CPtr) -> Result<(), Error> {
        result(call(service, label::TCB_RESUME, &[], &[]))
    }

    pub fn suspend(service: CPtr) -> Result<(), Error> {
        result(call(service, label::TCB_SUSPEND, &[], &[]))
    }

    pub fn set_priority(service: CPtr, authority: CPtr, priority: u64) -> Result<(), Error> {
        result(call(service, label::TCB_SET_PRIORITY, &[priority], &[authority]))
    }

    pub fn set_mc_priority(service: CPtr, authority: CPtr, mcp: u64) -> Result<(), Error> {
        result(call(service, label::TCB_SET_MCPRIORITY, &[mcp], &[authority]))
    }

    pub fn set_sched_params(service: CPtr, authority: CPtr, mcp: u64, priority: u64) -> Result<(), Error> {
        result(call(service, label::TCB_SET_SCHED_PARAMS, &[mcp, priority], &[authority]))
    }

    pub fn set_ipc_buffer(service: CPtr, buffer: u64, buffer_frame: CPtr) -> Result<(), Error> {
        result(call(service, label::TCB_SET_IPC_BUFFER, &[buffer], &[buffer_frame]))
    }

    pub fn bind_notification(service: CPtr, notification: CPtr) -> Result<(), Error> {
        result(call(service, label::TCB_BIND_NOTIFICATION, &[], &[notification]))
    }

    pub fn unbind_notification(service: CPtr) -> Result<(), Error> {
        result(call(service, label::TCB_UNBIND_NOTIFICATION, &[], &[]))
    }

    pub fn set_tls_base(service: CPtr, base: u64) -> Result<(), Error> {
        result(call(service, label::TCB_SET_TLS_BASE, &[base], &[]))
    }
}

/// `seL4_DomainSet_Set`.
pub fn domain_set(service: CPtr, domain: u64, thread: CPtr) -> Result<(), Error> {
    result(call(service, label::DOMAIN_SET_SET, &[domain], &[thread]))
}

/// x86 I/O ports.
pub mod io_port {
    use super::*;

    /// `seL4_X86_IOPortControl_Issue`: an IOPort cap for `first..=last`.
    pub fn issue(service: CPtr, first: u16, last: u16, root: CPtr, index: CPtr, depth: u8) -> Result<(), Error> {
        result(call(service, label::X86_IOPORT_CONTROL_ISSUE, &[first as u64, last as u64, index, depth as u64], &[root]))
    }

    fn input(service: CPtr, label: u64, port: u16) -> Result<u64, Error> {
        let info = call(service, label, &[port as u64], &[]);
        result(info).map(|()| get_mr(0))
    }

    pub fn in8(service: CPtr, port: u16) -> Result<u8, Error> {
        input(service, label::X86_IOPORT_IN8, port).map(|v| v as u8)
    }

    pub fn in16(service: CPtr, port: u16) -> Result<u16, Error> {
        input(service, label::X86_IOPORT_IN16, port).map(|v| v as u16)
    }

    pub fn in32(service: CPtr, port: u16) -> Result<u32, Error> {
        input(service, label::X86_IOPORT_IN32, port).map(|v| v as u32)
    }

    pub fn out8(service: CPtr, port: u16, value: u8) -> Result<(), Error> {
        result(call(service, label::X86_IOPORT_OUT8, &[port as u64, value as u64], &[]))
    }

    pub fn out16(service: CPtr, port: u16, value: u16) -> Result<(), Error> {
        result(call(service, label::X86_IOPORT_OUT16, &[port as u64, value as u64], &[]))
    }

    pub fn out32(service: CPtr, port: u16, value: u32) -> Result<(), Error> {
        result(call(service, label::X86_IOPORT_OUT32, &[port as u64, value as u64], &[]))
    }
}

/// x86_64 VSpace methods: paging structures, frames, ASIDs.
pub mod x86 {
    use super::*;

    /// `seL4_X86_VMAttributes`.
    pub const DEFAULT_VM_ATTRIBUTES: u64 = 0;
    pub const CACHE_DISABLED: u64 = 1;
    pub const WRITE_THROUGH: u64 = 2;
    pub const WRITE_COMBINING: u64 = 4;

    /// `seL4_X86_Page_Map`.
    pub fn page_map(frame: CPtr, vspace: CPtr, vaddr: u64, rights: CapRights, attr: u64) -> MessageInfo {
        call(frame, label::X86_PAGE_MAP, &[vaddr, rights.0, attr], &[vspace])
    }

    pub fn page_unmap(frame: CPtr) -> Result<(), Error> {
        result(call(frame, label::X86_PAGE_UNMAP, &[], &[]))
    }

    /// `seL4_X86_Page_GetAddress`: the frame's physical address.
    pub fn page_get_address(frame: CPtr) -> Result<u64, Error> {
        let info = call(frame, label::X86_PAGE_GET_ADDRESS, &[], &[]);
        result(info).map(|()| get_mr(0))
    }

    /// Maps a PDPT (`level` 39), page directory (30) or page table (21)
    /// `table` in `vspace` at `vaddr`.
    pub fn table_map(table: CPtr, level: u32, vspace: CPtr, vaddr: u64, attr: u64) -> MessageInfo {
        let l = match level {
            39 => label::X86_PDPT_MAP,
            30 => label::X86_PAGE_DIRECTORY_MAP,
            _ => label::X86_PAGE_TABLE_MAP,
        };
        call(table, l, &[vaddr, attr], &[vspace])
    }

    pub fn table_unmap(table: CPtr, level: u32) -> Result<(), Error> {
        let l = match level {
            39 => label::X86_PDPT_UNMAP,
            30 => label::X86_PAGE_DIRECTORY_UNMAP,
            _ => label::X86_PAGE_TABLE_UNMAP,
        };
        result(call(table, l, &[], &[]))
    }

    /// `seL4_X86_ASIDControl_MakePool`.
    pub fn asid_make_pool(control: CPtr, untyped: CPtr, root: CPtr, index: CPtr, depth: u8) -> Result<(), Error> {
        result(call(control, label::X86_ASID_CONTROL_MAKE_POOL, &[index, depth as u64], &[untyped, root]))
    }

    /// `seL4_X86_ASIDPool_Assign`.
    pub fn asid_pool_assign(pool: CPtr, vspace: CPtr) -> Result<(), Error> {
        result(call(pool, label::X86_ASID_POOL_ASSIGN, &[], &[vspace]))
    }
}

/// Interrupts: IRQControl and IRQHandler methods.
pub mod irq {
    use super::*;

    /// `seL4_IRQControl_GetIOAPIC`: a handler cap for `pin` of I/O APIC
    /// `ioapic` delivered as user IRQ `vector` (0-based).
    #[allow(clippy::too_many_arguments)]
    pub fn get_ioapic(
        control: CPtr,
        root: CPtr,
        index: CPtr,
        depth: u8,
        ioapic: u64,
        pin: u64,
        level: u64,
        polarity: u64,
        vector: u64,
    ) -> Result<(), Error> {
        let args = [index, depth as u64, ioapic, pin, level, polarity, vector];
        result(call(control, label::X86_IRQ_ISSUE_IRQ_HANDLER_IOAPIC, &args, &[root]))
    }

    /// `seL4_IRQControl_GetMSI`.
    #[allow(clippy::too_many_arguments)]
    pub fn get_msi(control: CPtr, root: CPtr, index: CPtr, depth: u8, bus: u64, dev: u64, func: u64, handle: u64, vector: u64) -> Result<(), Error> {
        let args = [index, depth as u64, bus, dev, func, handle, vector];
        result(call(control, label::X86_IRQ_ISSUE_IRQ_HANDLER_MSI, &args, &[root]))
    }

    /// `seL4_IRQControl_Get` (not available with the I/O APIC).
    pub fn get(control: CPtr, irq: u64, root: CPtr, index: CPtr, depth: u8) -> Result<(), Error> {
        result(call(control, label::IRQ_ISSUE_IRQ_HANDLER, &[irq, index, depth as u64], &[root]))
    }

    pub fn ack(handler: CPtr) -> Result<(), Error> {
        result(call(handler, label::IRQ_ACK_IRQ, &[], &[]))
    }

    pub fn set_notification(handler: CPtr, notification: CPtr) -> Result<(), Error> {
        result(call(handler, label::IRQ_SET_IRQ_HANDLER, &[], &[notification]))
    }

    pub fn clear(handler: CPtr) -> Result<(), Error> {
        result(call(handler, label::IRQ_CLEAR_IRQ_HANDLER, &[], &[]))
    }
}
