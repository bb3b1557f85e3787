//! What happens after an interrupt stub: exceptions and interrupts taken
//! from user mode go to the thread and scheduler code; anything that traps
//! inside the kernel is a kernel bug and stops the machine with a report.

use super::context::TrapFrame;
use super::exit::{exit_qemu, ExitCode};
use crate::thread;

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
    if vector < 32 {
        thread::handle_user_exception(vector);
    } else if vector != super::apic::SPURIOUS_VECTOR as u64 {
        super::apic::end_of_interrupt();
    }
    thread::schedule_and_return()
}

/// Entry from `interrupt_common` for traps taken in kernel mode. External
/// interrupts can arrive only while idling and are acknowledged; any
/// exception is fatal.
#[no_mangle]
extern "C" fn handle_kernel_trap(vector: u64, frame: &TrapFrame) {
    if vector >= 32 {
        if vector != super::apic::SPURIOUS_VECTOR as u64 {
            super::apic::end_of_interrupt();
        }
        return;
    }
    kprintln!(
        "KERNEL FAULT: vector {} ({}), error code {:#x}, RIP {:#x}, CR2 {:#x}, RSP {:#x}, RFLAGS {:#x}",
        vector,
        exception_name(vector),
        frame.error,
        frame.rip,
        super::io::read_cr2(),
        frame.rsp,
        frame.rflags
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
