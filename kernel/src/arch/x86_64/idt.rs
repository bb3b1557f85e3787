//! The IDT: every vector goes to its stub in `entry`; the three that can
//! arrive with a broken stack use the fault IST stack.

use super::entry::interrupt_stub_addr;
use crate::kernel_state::KernelCell;
use x86_64::structures::idt::InterruptDescriptorTable;
use x86_64::VirtAddr;

// Read by the CPU on interrupts taken in user mode: in the skim window.
#[link_section = ".skim.data"]
static IDT: KernelCell<InterruptDescriptorTable> = KernelCell::new(InterruptDescriptorTable::new());

const NMI: u8 = 2;
const DOUBLE_FAULT: u8 = 8;
const MACHINE_CHECK: u8 = 18;

pub fn init() {
    // Safety: boot runs once, single-threaded.
    let idt = unsafe { IDT.get() };
    macro_rules! set {
        ($entry:expr, $vector:expr) => {{
            // Safety: the address is the entry stub for this vector.
            let opts = unsafe { $entry.set_handler_addr(VirtAddr::new(interrupt_stub_addr($vector))) };
            if matches!($vector, NMI | DOUBLE_FAULT | MACHINE_CHECK) {
                // Safety: the IST slot holds a dedicated stack (gdt::init).
                unsafe { opts.set_stack_index(super::gdt::FAULT_IST_INDEX) };
            }
        }};
    }
    set!(idt.divide_error, 0);
    set!(idt.debug, 1);
    set!(idt.non_maskable_interrupt, 2);
    set!(idt.breakpoint, 3);
    set!(idt.overflow, 4);
    set!(idt.bound_range_exceeded, 5);
    set!(idt.invalid_opcode, 6);
    set!(idt.device_not_available, 7);
    set!(idt.double_fault, 8);
    set!(idt.invalid_tss, 10);
    set!(idt.segment_not_present, 11);
    set!(idt.stack_segment_fault, 12);
    set!(idt.general_protection_fault, 13);
    set!(idt.page_fault, 14);
    set!(idt.x87_floating_point, 16);
    set!(idt.alignment_check, 17);
    set!(idt.machine_check, 18);
    set!(idt.simd_floating_point, 19);
    set!(idt.virtualization, 20);
    set!(idt.cp_protection_exception, 21);
    set!(idt.hv_injection_exception, 28);
    set!(idt.vmm_communication_exception, 29);
    set!(idt.security_exception, 30);
    for vector in 32..=255u8 {
        set!(idt[vector], vector);
    }
    // Safety: the IDT is a static that lives forever.
    unsafe { idt.load_unsafe() };
}
