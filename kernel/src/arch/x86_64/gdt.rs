//! The GDT in seL4's slot order and the TSS that gives each kernel entry
//! from user mode its stack (the current thread's register frame).

use crate::kernel_state::KernelCell;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::{PrivilegeLevel, VirtAddr};

/// IST slot used for double faults, NMIs and machine checks.
pub const FAULT_IST_INDEX: u16 = 0;

// The CPU reads the GDT and TSS on every entry from user mode, while the
// user's page tables are still loaded: they live in the skim window.
#[link_section = ".skim.data"]
static TSS: KernelCell<TaskStateSegment> = KernelCell::new(TaskStateSegment::new());
#[link_section = ".skim.data"]
static GDT: KernelCell<GlobalDescriptorTable<9>> = KernelCell::new(GlobalDescriptorTable::empty());

/// Builds and loads the GDT (null, kernel code, kernel data, TSS (two
/// slots), user code, user data, and two more user slots that seL4 keeps
/// for FS/GS; SYSRET's fixed selector arithmetic lands on slot 7, so it
/// holds user code too) and the TSS.
pub fn init() {
    // Safety: boot runs once, single-threaded, before any other use.
    let tss = unsafe { TSS.get() };
    tss.interrupt_stack_table[FAULT_IST_INDEX as usize] = VirtAddr::new(super::boot::fault_stack_top_addr());
    tss.privilege_stack_table[0] = VirtAddr::new(super::entry::entry_stack_top());
    // Safety: as above; the GDT is a static that lives forever.
    let gdt = unsafe { GDT.get() };
    let kcode = gdt.append(Descriptor::kernel_code_segment());
    let kdata = gdt.append(Descriptor::kernel_data_segment());
    // Safety: the TSS is a static that lives forever.
    let tss_sel = gdt.append(unsafe { Descriptor::tss_segment_unchecked(TSS.as_ptr()) });
    let ucode = gdt.append(Descriptor::user_code_segment());
    let udata = gdt.append(Descriptor::user_data_segment());
    gdt.append(Descriptor::user_code_segment());
    gdt.append(Descriptor::user_data_segment());
    debug_assert_eq!(kcode, SegmentSelector::new(1, PrivilegeLevel::Ring0));
    debug_assert_eq!(tss_sel.0, 0x18);
    debug_assert_eq!(ucode.0 as u64, super::context::USER_CS);
    debug_assert_eq!(udata.0 as u64, super::context::USER_SS);
    // Safety: the GDT is static and complete; the selectors name its
    // kernel code/data and TSS entries.
    unsafe {
        gdt.load_unsafe();
        CS::set_reg(kcode);
        DS::set_reg(kdata);
        ES::set_reg(kdata);
        SS::set_reg(kdata);
        load_tss(tss_sel);
    }
}
