//! GDT (ring-0 and ring-3 segments, TSS), TSS (RSP0 for entries from ring
//! 3, IST1 for double faults), IDT (256 stubs into one common trap path)
//! and the SYSCALL MSRs.

use super::cpu::wrmsr;
use crate::Global;

/// Selectors (kernel data is 0x10). SYSRET's fixed arithmetic
/// (STAR[63:48] = 0x18) gives user SS = 0x20 | 3 and user CS = 0x28 | 3.
pub const KERNEL_CS: u64 = 0x08;
pub const USER_CS: u64 = 0x28 | 3;
const TSS_SEL: u16 = 0x30;
/// The second CPU's TSS.
const AP_TSS_SEL: u16 = 0x40;
pub const GDT_LEN: usize = 10;

/// Vector of the `int` gate ring-3 code uses to return to the harness.
pub const EXIT_VECTOR: u8 = 0x80;

#[no_mangle]
pub static GDT: Global<[u64; GDT_LEN]> = Global::new([
    0,
    0x00af_9a00_0000_ffff, // 0x08 kernel code, 64-bit
    0x00cf_9200_0000_ffff, // 0x10 kernel data
    0x00cf_fa00_0000_ffff, // 0x18 user code, 32-bit (unused; SYSRET layout)
    0x00cf_f200_0000_ffff, // 0x20 user data
    0x00af_fa00_0000_ffff, // 0x28 user code, 64-bit
    0,                     // 0x30 TSS (filled in by `init`)
    0,
    0, // 0x40 the second CPU's TSS (filled in by `init`)
    0,
]);

#[repr(C, packed)]
struct Tss {
    reserved0: u32,
    rsp: [u64; 3],
    reserved1: u64,
    ist: [u64; 7],
    reserved2: u64,
    reserved3: u16,
    iomap_base: u16,
}

static TSS: Global<Tss> = Global::new(Tss { reserved0: 0, rsp: [0; 3], reserved1: 0, ist: [0; 7], reserved2: 0, reserved3: 0, iomap_base: 104 });
static AP_TSS: Global<Tss> = Global::new(Tss { reserved0: 0, rsp: [0; 3], reserved1: 0, ist: [0; 7], reserved2: 0, reserved3: 0, iomap_base: 104 });

#[repr(C, align(16))]
struct Stack<const N: usize>([u8; N]);

/// The stack every interrupt or exception from ring 3 lands on (TSS.RSP0).
static TRAP_STACK: Global<Stack<32768>> = Global::new(Stack([0; 32768]));
/// The double-fault stack (IST1).
static DF_STACK: Global<Stack<8192>> = Global::new(Stack([0; 8192]));
/// The second CPU's stack for entries from ring 3 and double faults.
static AP_TRAP_STACK: Global<Stack<16384>> = Global::new(Stack([0; 16384]));

#[derive(Clone, Copy)]
#[repr(C)]
struct IdtEntry {
    offset_lo: u16,
    selector: u16,
    ist: u8,
    attr: u8,
    offset_mid: u16,
    offset_hi: u32,
    reserved: u32,
}

#[repr(C, align(16))]
struct Idt([IdtEntry; 256]);

static IDT: Global<Idt> = Global::new(Idt([IdtEntry { offset_lo: 0, selector: 0, ist: 0, attr: 0, offset_mid: 0, offset_hi: 0, reserved: 0 }; 256]));

#[repr(C, packed)]
struct TablePtr {
    limit: u16,
    base: u64,
}

extern "C" {
    static isr_stubs: u8;
    static syscall_entry: u8;
}

fn stack_top<const N: usize>(s: &Global<Stack<N>>) -> u64 {
    s.ptr() as u64 + N as u64
}

fn tss_descriptor(base: u64) -> [u64; 2] {
    let limit = (core::mem::size_of::<Tss>() - 1) as u64;
    [(limit & 0xffff) | ((base & 0xff_ffff) << 16) | (0x89 << 40) | (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56), base >> 32]
}

/// Loads GDTR, IDTR and TR (`tss`) on this CPU.
fn load_tables(tss: u16) {
    let gdtr = TablePtr { limit: (GDT_LEN * 8 - 1) as u16, base: GDT.ptr() as u64 };
    let idtr = TablePtr { limit: (256 * 16 - 1) as u16, base: IDT.ptr() as u64 };
    // Safety: the tables are complete and static; the selector names a TSS
    // descriptor `init` set up.
    unsafe {
        core::arch::asm!(
            "lgdt [{g}]",
            "lidt [{i}]",
            "ltr {t:x}",
            g = in(reg) &gdtr,
            i = in(reg) &idtr,
            t = in(reg) tss as u64,
        );
    }
}

/// The second CPU's GDT/IDT/TSS (after `init` ran on the first).
pub fn init_ap() {
    load_tables(AP_TSS_SEL);
}

/// Loads the GDT with the TSS, the IDT and the SYSCALL MSRs.
pub fn init() {
    let tss = TSS.ptr();
    // Safety: boot is single-threaded; the TSS, GDT and IDT are statics
    // that live forever, and nothing else uses them yet.
    unsafe {
        (*tss).rsp[0] = stack_top(&TRAP_STACK);
        (*tss).ist[0] = stack_top(&DF_STACK);
        let ap_tss = AP_TSS.ptr();
        (*ap_tss).rsp[0] = stack_top(&AP_TRAP_STACK);
        (*ap_tss).ist[0] = stack_top(&AP_TRAP_STACK);
        let gdt = &mut *GDT.ptr();
        [gdt[6], gdt[7]] = tss_descriptor(tss as u64);
        [gdt[8], gdt[9]] = tss_descriptor(ap_tss as u64);

        let stubs = core::ptr::addr_of!(isr_stubs) as u64;
        let idt = &mut (*IDT.ptr()).0;
        for (v, e) in idt.iter_mut().enumerate() {
            let handler = stubs + 16 * v as u64;
            let dpl3 = v == EXIT_VECTOR as usize;
            *e = IdtEntry {
                offset_lo: handler as u16,
                selector: KERNEL_CS as u16,
                ist: if v == 8 { 1 } else { 0 },
                attr: if dpl3 { 0xee } else { 0x8e },
                offset_mid: (handler >> 16) as u16,
                offset_hi: (handler >> 32) as u32,
                reserved: 0,
            };
        }
        load_tables(TSS_SEL);
        // STAR: SYSCALL loads CS 0x08 / SS 0x10; SYSRET CS 0x2b / SS 0x23.
        wrmsr(0xc000_0081, (0x18u64 << 48) | (KERNEL_CS << 32));
        wrmsr(0xc000_0082, core::ptr::addr_of!(syscall_entry) as u64);
        // FMASK: clear TF, IF, DF, NT and AC on SYSCALL.
        wrmsr(0xc000_0084, 0x4_4700);
    }
}
