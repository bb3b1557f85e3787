//! Interrupts for user level: IRQControl hands out IRQHandler caps for
//! I/O APIC pins (GetIOAPIC) and MSIs (GetMSI); an IRQHandler cap binds a
//! notification (SetNotification, Clear) and re-enables its line (Ack).
//! The kernel's own timer vector is never among them.

use super::cap::{Cap, IrqHandlerCap};
use super::cnode::lookup_slot_for_cnode_op;
use super::invocation::{Invocation, InvocationError, SyscallError};
use crate::arch::x86_64::ioapic;
use crate::cspace::cte::{self, Cte};
use crate::cspace::delete;
use crate::kernel_env::KernelEnv;
use crate::kernel_state::KernelCell;
use sel4_compat::invocation as label;

/// Vector of IRQ 0 (seL4's `IRQ_INT_OFFSET`).
pub const IRQ_INT_OFFSET: u64 = 0x20;
/// User IRQs are `IRQ_USER_MIN..=IRQ_USER_MAX` (vectors 0x30..=155).
pub const IRQ_USER_MIN: u64 = 16;
pub const IRQ_USER_MAX: u64 = 155 - IRQ_INT_OFFSET;
const IRQ_COUNT: usize = (IRQ_USER_MAX + 1) as usize;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    None,
    IoApic { ioapic: usize, pin: u32 },
    Msi,
}

#[derive(Clone, Copy)]
struct Irq {
    active: bool,
    source: Source,
}

/// Which IRQs are handed out and where each comes from (seL4's
/// `intStateIRQTable`); part of the kernel's [`Global`] state.
///
/// [`Global`]: crate::kernel_state::Global
pub struct IrqTable([Irq; IRQ_COUNT]);

impl Default for IrqTable {
    fn default() -> IrqTable {
        IrqTable::new()
    }
}

impl IrqTable {
    pub const fn new() -> IrqTable {
        IrqTable([IDLE; IRQ_COUNT])
    }
}

const IDLE: Irq = Irq { active: false, source: Source::None };
const EMPTY_SLOT: Cte = Cte { cap: Cap::NULL, mdb: crate::cspace::cte::MdbNode::NULL };

/// The notification cap each IRQ signals (seL4's `intStateIRQNode`). These
/// are capability slots, linked into the MDB like any other, so they are
/// reached by pointer (as object memory is) rather than through a borrow
/// of the kernel state.
static NODE: KernelCell<[Cte; IRQ_COUNT]> = KernelCell::new([EMPTY_SLOT; IRQ_COUNT]);

/// The slot of `irq`'s notification cap, if `irq` is in range.
fn node_slot(irq: u64) -> Option<*mut Cte> {
    ((irq as usize) < IRQ_COUNT).then(|| NODE.as_ptr().cast::<Cte>().wrapping_add(irq as usize))
}

fn set_masked(table: &IrqTable, irq: u64, masked: bool) {
    if let Some(i) = table.0.get(irq as usize) {
        if let Source::IoApic { ioapic: a, pin } = i.source {
            ioapic::set_masked(a, pin, masked);
        }
    }
}

/// A checked IRQControl issue: `irq` from `source` (its I/O APIC pin
/// wiring still to program), its handler cap going to the empty `dest`.
struct IssueHandler {
    irq: u64,
    source: IssueSource,
    dest: *mut Cte,
}

enum IssueSource {
    IoApic { ioapic: usize, pin: u32, level: bool, polarity: bool },
    Msi,
}

/// IRQControl invocations.
///
/// # Safety
/// `control_slot` is the live slot of the invoked IRQControl cap and the
/// invocation's extra caps are live slots found by lookup.
pub unsafe fn invoke_control(table: &mut IrqTable, control_slot: *mut Cte, inv: &Invocation<'_>) -> Result<(), InvocationError> {
    let op = decode_control(table, inv)?;
    // Safety: per the caller's contract; `op` was just decoded.
    unsafe { perform_issue(table, control_slot, op) };
    Ok(())
}

fn decode_control(table: &IrqTable, inv: &Invocation<'_>) -> Result<IssueHandler, SyscallError> {
    match inv.label {
        // With the I/O APIC, IRQs are obtained by pin or MSI only; as in
        // seL4, a message too short for the generic form is refused as
        // truncated (silently, as there) before the IRQ number is looked at.
        label::IRQ_ISSUE_IRQ_HANDLER => {
            if inv.length < 3 || inv.extra_cap(0).is_none() {
                return Err(SyscallError::TruncatedMessage);
            }
            user_error!("IRQControl: Illegal operation");
            Err(SyscallError::IllegalOperation)
        }
        label::X86_IRQ_ISSUE_IRQ_HANDLER_IOAPIC | label::X86_IRQ_ISSUE_IRQ_HANDLER_MSI => {
            let Some(root_slot) = inv.extra_cap(0).filter(|_| inv.length >= 7) else {
                user_error!("IRQControl: Truncated message");
                return Err(SyscallError::TruncatedMessage);
            };
            let (index, depth) = (inv.arg(0), inv.arg(1));
            let requested = inv.arg(6);
            if requested > IRQ_USER_MAX - IRQ_USER_MIN {
                user_error!("IRQControl: Invalid irq {} should be between 0-{}", requested as i64, IRQ_USER_MAX - IRQ_USER_MIN);
                return Err(SyscallError::RangeError { min: 0, max: IRQ_USER_MAX - IRQ_USER_MIN });
            }
            let irq = requested + IRQ_USER_MIN;
            if table.0[irq as usize].active {
                user_error!("IRQControl: IRQ {irq} is already active.");
                return Err(SyscallError::RevokeFirst);
            }
            // Safety: looked up in the caller's CSpace.
            let root = unsafe { (*root_slot).cap };
            let dest = lookup_slot_for_cnode_op(false, root, index, depth)
                .inspect_err(|_| user_error!("IRQControl: Target slot for the new IRQ Handler cap invalid."))?;
            // Safety: a slot from a lookup.
            if !unsafe { (*dest).cap }.is_null() {
                user_error!("IRQControl: Target slot for the new IRQ Handler cap not empty.");
                return Err(SyscallError::DeleteFirst);
            }
            let source = if inv.label == label::X86_IRQ_ISSUE_IRQ_HANDLER_IOAPIC {
                let (a, pin, level, polarity) = (inv.arg(2), inv.arg(3), inv.arg(4), inv.arg(5));
                if ioapic::count() == 0 {
                    user_error!("System has no IOAPICs");
                    return Err(SyscallError::IllegalOperation);
                }
                if a >= ioapic::count() as u64 {
                    user_error!("Invalid IOAPIC {}, only have {}", a as i64, ioapic::count());
                    return Err(SyscallError::RangeError { min: 0, max: ioapic::count() as u64 - 1 });
                }
                let pins = ioapic::pins(a as usize) as u64;
                if pin >= pins {
                    user_error!("Invalid IOAPIC pin {}, there are {pins} pins", pin as i64);
                    return Err(SyscallError::RangeError { min: 0, max: pins - 1 });
                }
                if level > 1 || polarity > 1 {
                    match level > 1 {
                        true => user_error!("Level should be 0 or 1, not {}", level as i32),
                        false => user_error!("Polarity should be 0 or 1, not {}", polarity as i32),
                    }
                    return Err(SyscallError::RangeError { min: 0, max: 1 });
                }
                IssueSource::IoApic { ioapic: a as usize, pin: pin as u32, level: level == 1, polarity: polarity == 1 }
            } else {
                let (bus, dev, func) = (inv.arg(2), inv.arg(3), inv.arg(4));
                for (value, max) in [(bus, 255), (dev, 31), (func, 7)] {
                    if value > max {
                        user_error!("IRQControl: PCI bus, device or function {value} above {max}.");
                        return Err(SyscallError::RangeError { min: 0, max });
                    }
                }
                IssueSource::Msi
            };
            Ok(IssueHandler { irq, source, dest })
        }
        _ => {
            user_error!("IRQControl: Illegal operation");
            Err(SyscallError::IllegalOperation)
        }
    }
}

/// # Safety
/// `control_slot` is the live slot of the IRQControl cap and `op` was
/// just decoded (its `dest` is an empty live slot).
unsafe fn perform_issue(table: &mut IrqTable, control_slot: *mut Cte, op: IssueHandler) {
    let IssueHandler { irq, source, dest } = op;
    let source = match source {
        IssueSource::IoApic { ioapic: a, pin, level, polarity } => {
            ioapic::map_pin(a, pin, level, polarity, (irq + IRQ_INT_OFFSET) as u8);
            Source::IoApic { ioapic: a, pin }
        }
        IssueSource::Msi => Source::Msi,
    };
    table.0[irq as usize] = Irq { active: true, source };
    // Safety: `dest` is empty, distinct from the control cap's slot.
    unsafe { cte::cte_insert(Cap::irq_handler(irq), control_slot, dest) };
}

/// A checked IRQHandler operation, ready to perform.
enum HandlerOp {
    Ack,
    /// Make the notification cap found in `src` the IRQ's.
    SetNotification {
        ntfn: Cap,
        src: *mut Cte,
    },
    Clear,
}

/// IRQHandler invocations.
pub fn invoke_handler(env: &mut KernelEnv<'_>, cap: IrqHandlerCap, inv: &Invocation<'_>) -> Result<(), InvocationError> {
    let op = decode_handler(inv)?;
    // Safety: just decoded.
    unsafe { perform_handler(env, cap.irq(), op) };
    Ok(())
}

fn decode_handler(inv: &Invocation<'_>) -> Result<HandlerOp, SyscallError> {
    match inv.label {
        label::IRQ_ACK_IRQ => Ok(HandlerOp::Ack),
        label::IRQ_SET_IRQ_HANDLER => {
            let Some(ntfn_slot) = inv.extra_cap(0) else {
                user_error!("IRQSetHandler: Truncated message.");
                return Err(SyscallError::TruncatedMessage);
            };
            // Safety: looked up in the caller's CSpace.
            let ntfn = unsafe { (*ntfn_slot).cap };
            match ntfn.as_notification() {
                None => {
                    user_error!("IRQSetHandler: provided cap is not an notification capability.");
                    return Err(SyscallError::InvalidCapability { number: 0 });
                }
                Some(n) if !n.can_send() => {
                    user_error!("IRQSetHandler: caller does not have send rights on the endpoint.");
                    return Err(SyscallError::InvalidCapability { number: 0 });
                }
                Some(_) => {}
            }
            Ok(HandlerOp::SetNotification { ntfn, src: ntfn_slot })
        }
        label::IRQ_CLEAR_IRQ_HANDLER => Ok(HandlerOp::Clear),
        _ => {
            user_error!("IRQHandler: Illegal operation.");
            Err(SyscallError::IllegalOperation)
        }
    }
}

/// # Safety
/// `op` was just decoded (its slots are live, nothing ran since).
unsafe fn perform_handler(env: &mut KernelEnv<'_>, irq: u64, op: HandlerOp) {
    let node = node_slot(irq).expect("an IRQHandler cap names an IRQ in range");
    match op {
        HandlerOp::Ack => set_masked(&env.global.irqs, irq, false),
        HandlerOp::SetNotification { ntfn, src } => {
            // Safety: the IRQ's node slot, and `src` per the caller's contract.
            unsafe {
                delete::cte_delete_one(node, env);
                cte::cte_insert(ntfn, src, node);
            }
        }
        // Safety: the IRQ's node slot.
        HandlerOp::Clear => unsafe { delete::cte_delete_one(node, env) },
    }
}

/// The last IRQHandler cap for `irq` is being deleted (finalise).
pub fn deleting_handler(env: &mut KernelEnv<'_>, irq: u64) {
    if let Some(node) = node_slot(irq) {
        // Safety: the IRQ's node slot.
        unsafe { delete::cte_delete_one(node, env) };
    }
}

/// After the slot is empty: the IRQ is free again and masked.
pub fn deleted_handler(table: &mut IrqTable, irq: u64) {
    set_masked(table, irq, true);
    if let Some(i) = table.0.get_mut(irq as usize) {
        *i = IDLE;
    }
}

/// A user interrupt arrived on `vector` (seL4's `handleInterrupt`): signal
/// its notification and mask the line until the handler acknowledges it.
pub fn handle(table: &IrqTable, vector: u64) {
    let irq = vector - IRQ_INT_OFFSET;
    let Some(info) = table.0.get(irq as usize).copied() else { return };
    if info.active {
        let node = node_slot(irq).expect("the table and the node have one entry per IRQ");
        // Safety: the IRQ's node slot, a live static slot.
        let cap = unsafe { (*node).cap };
        if let Some(ntfn) = cap.as_notification().filter(|ntfn| ntfn.can_send()) {
            crate::object::notification::send_signal(ntfn.ptr(), ntfn.badge());
        }
    }
    set_masked(table, irq, true);
}
