//! What happens after an interrupt stub: exceptions and interrupts taken
//! from user mode go to the thread and scheduler code; anything that traps
//! inside the kernel is a kernel bug and stops the machine with a report.

use super::context::TrapFrame;
use super::exit::{exit_qemu, ExitCode};
use crate::sched;
use crate::thread::Fault;

pub fn exception_name(vector: u64) -> &'static str {
    const NAMES: [&str; 32] = [
        "divide error",
        "debug",
        "NMI",
        "breakpoint",
        "overflow",
        "bound range exceeded",
        "invalid opcode",
        "device not available",
        "double fault",
        "coprocessor segment overrun",
        "invalid TSS",
        "segment not present",
        "stack-segment fault",
        "general protection fault",
        "page fault",
        "reserved",
        "x87 floating-point error",
        "alignment check",
        "machine check",
        "SIMD floating-point error",
        "virtualization exception",
        "control protection exception",
        "reserved",
        "reserved",
        "reserved",
        "reserved",
        "reserved",
        "reserved",
        "hypervisor injection",
        "VMM communication",
        "security exception",
        "reserved",
    ];
    NAMES.get(vector as usize).copied().unwrap_or("interrupt")
}

/// Entry from `interrupt_common` for traps taken in user mode. The user
/// registers are already saved in the current TCB.
#[no_mangle]
extern "C" fn handle_user_trap(vector: u64) -> ! {
    // Safety: the one call of this kernel entry, with interrupts off.
    let k = unsafe { crate::kernel_state::kernel_entry() };
    // Safety: the trap came from the current thread, whose TCB nothing
    // else refers to during the entry.
    let tcb = unsafe { sched::current() };
    // An exception restarts at the faulting instruction; after an
    // interrupt the thread continues where it was.
    tcb.restart_pc = tcb.ctx.regs.rip;
    if vector == INVALID_OPCODE && !crate::uintr::switch::hardware() {
        // The fallback path: the kernel carries out UINTR instructions.
        match crate::uintr::emulate::emulate(tcb) {
            crate::uintr::emulate::Emulated::Done => sched::schedule_and_return(),
            crate::uintr::emulate::Emulated::Fault(fault) => {
                crate::fault::handle_fault(tcb, fault);
                sched::schedule_and_return()
            }
            crate::uintr::emulate::Emulated::NotUintr => {}
        }
    }
    if vector < 32 {
        let error = tcb.ctx.regs.error;
        let fault = if vector == PAGE_FAULT {
            Fault::VmFault { address: super::io::read_cr2(), fsr: error, instruction: error & PF_INSTRUCTION_FETCH != 0 }
        } else {
            Fault::UserException { number: vector, code: error }
        };
        crate::fault::handle_fault(tcb, fault);
    } else {
        handle_interrupt(&mut k.global, vector);
    }
    sched::schedule_and_return()
}

/// An external interrupt (seL4's `handleInterrupt`): the kernel timer
/// ticks the scheduler; anything else is acknowledged.
fn handle_interrupt(global: &mut crate::kernel_state::Global, vector: u64) {
    if vector == super::apic::SPURIOUS_VECTOR as u64 {
        return;
    }
    if vector == super::apic::TIMER_VECTOR as u64 {
        sched::timer_tick();
        super::apic::rearm_timer();
    } else if vector == super::uintr::WAKE_VECTOR as u64 {
        crate::uintr::switch::wake_interrupt();
    } else if (crate::object::irq::IRQ_USER_MIN + crate::object::irq::IRQ_INT_OFFSET
        ..=crate::object::irq::IRQ_USER_MAX + crate::object::irq::IRQ_INT_OFFSET)
        .contains(&vector)
    {
        crate::object::irq::handle(&global.irqs, vector);
    }
    super::apic::end_of_interrupt();
}

const INVALID_OPCODE: u64 = 6;
const PAGE_FAULT: u64 = 14;
/// Page-fault error code bit: the access was an instruction fetch.
const PF_INSTRUCTION_FETCH: u64 = 1 << 4;

/// Entry from `interrupt_common` for traps taken in kernel mode, with the
/// kernel's page tables loaded and `cr3` the ones loaded when the trap
/// came. External interrupts can arrive only while idling and are
/// acknowledged; any exception is fatal: it is reported and the machine
/// stops with the failure status.
#[no_mangle]
extern "C" fn handle_kernel_trap(vector: u64, frame: &TrapFrame, cr3: u64) {
    if vector >= 32 {
        // Safety: interrupts reach the kernel only while it idles; this is
        // the entry nested in the idle wait that `kernel_entry` allows for.
        let k = unsafe { crate::kernel_state::kernel_entry() };
        handle_interrupt(&mut k.global, vector);
        return;
    }
    // A fault while reporting a fault (the console, say) must not recurse:
    // the second one stops at once.
    if KERNEL_FAULTED.swap(true, core::sync::atomic::Ordering::Relaxed) {
        exit_qemu(ExitCode::Failed)
    }
    kprintln!(
        "KERNEL FAULT: vector {} ({}), error code {:#x}, RIP {:#x}, CR2 {:#x}, RSP {:#x}, RFLAGS {:#x}, CR3 {:#x}{}",
        vector,
        exception_name(vector),
        frame.error,
        frame.rip,
        super::io::read_cr2(),
        frame.rsp,
        frame.rflags,
        cr3,
        if cr3 == super::entry::kernel_cr3_value() { "" } else { " (a user address space: the trap came in an entry or exit stub)" }
    );
    kprintln!(
        "  rax {:#x} rbx {:#x} rcx {:#x} rdx {:#x} rsi {:#x} rdi {:#x} rbp {:#x}",
        frame.rax,
        frame.rbx,
        frame.rcx,
        frame.rdx,
        frame.rsi,
        frame.rdi,
        frame.rbp
    );
    kprintln!("halting");
    exit_qemu(ExitCode::Failed)
}

/// Set by the first kernel fault.
static KERNEL_FAULTED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
