//! Single instructions: CPUID, control registers, MSRs, port I/O, the
//! interrupt flag, the UINTR instructions, and "probes" that run one
//! instruction which may fault and report the fault instead of aborting.
//!
//! UINTR instructions are written as bytes (64-bit mode encodings):
//! SENDUIPI `F3 [REX.B] 0F C7 /6` (register form), UIRET `F3 0F 01 EC`,
//! TESTUI `F3 0F 01 ED`, CLUI `F3 0F 01 EE`, STUI `F3 0F 01 EF`.
//!
//! Every function here is usable in ring 3 as well as ring 0 unless it
//! says otherwise (the whole image is user-accessible).

use core::arch::asm;

/// A fault taken by a probe (or recorded by the trap handler).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub vector: u64,
    pub error: u64,
    pub rip: u64,
    pub cs: u64,
    pub cr2: u64,
}

/// The recovery point the trap handler resumes at when a probed
/// instruction faults: [rip, rsp]. Zero rip: no probe active.
#[no_mangle]
pub static mut RECOVER: [u64; 2] = [0, 0];
/// Set by the trap handler when it resumed a probe: [taken, vector,
/// error, rip, cs, cr2].
#[no_mangle]
pub static mut PROBE_FAULT: [u64; 6] = [0; 6];

fn clear_probe() {
    // Safety: plain stores to statics only this CPU uses; the trap handler
    // writes them only while a probe is active.
    unsafe { core::ptr::addr_of_mut!(PROBE_FAULT).write_volatile([0; 6]) }
}

/// The fault the last probe (or an escaped ring-3 fault) recorded.
pub fn take_probe() -> Option<Fault> {
    // Safety: as in `clear_probe`.
    let f = unsafe { core::ptr::addr_of!(PROBE_FAULT).read_volatile() };
    (f[0] != 0).then_some(Fault { vector: f[1], error: f[2], rip: f[3], cs: f[4], cr2: f[5] })
}

/// The result of a probe: the fault (if any) and the address of the
/// probed instruction.
pub struct Probe {
    pub fault: Option<Fault>,
    pub at: u64,
}

/// Runs the instruction bytes in `$insn` with a recovery point right after
/// them. Extra operands follow the `;`.
macro_rules! probe {
    ($($insn:literal),+ ; $($ops:tt)*) => {{
        clear_probe();
        let at: u64;
        // Safety: the recovery point restores RIP and RSP as they were
        // before the instruction; the operands say which registers the
        // instruction may change.
        unsafe {
            asm!(
                "lea {at}, [rip + 3f]",
                "lea {tmp}, [rip + 2f]",
                "mov qword ptr [rip + RECOVER + 8], rsp",
                "mov qword ptr [rip + RECOVER], {tmp}",
                "3:",
                $($insn,)+
                "2:",
                "mov qword ptr [rip + RECOVER], 0",
                at = out(reg) at,
                tmp = out(reg) _,
                $($ops)*
            );
        }
        Probe { fault: take_probe(), at }
    }};
}

pub fn cpuid(leaf: u32, sub: u32) -> [u32; 4] {
    let (a, b, c, d): (u32, u32, u32, u32);
    // Safety: CPUID has no side effects; RBX is reserved by LLVM, so it is
    // saved and restored around the instruction.
    unsafe {
        asm!(
            "mov {t:r}, rbx",
            "cpuid",
            "xchg {t:r}, rbx",
            t = out(reg) b,
            inout("eax") leaf => a,
            inout("ecx") sub => c,
            out("edx") d,
        );
    }
    [a, b, c, d]
}

/// Ring 0 only.
pub fn read_cr4() -> u64 {
    let v;
    // Safety: reading CR4 has no side effects (ring 0).
    unsafe { asm!("mov {}, cr4", out(reg) v) };
    v
}

/// Writes CR4, reporting a #GP instead of aborting. Ring 0 only.
pub fn write_cr4(v: u64) -> Probe {
    probe!("mov cr4, {v}"; v = in(reg) v)
}

/// Ring 0 only.
pub fn read_cr2() -> u64 {
    let v;
    // Safety: reading CR2 has no side effects (ring 0).
    unsafe { asm!("mov {}, cr2", out(reg) v) };
    v
}

/// Ring 0 only; #GP aborts the running test.
pub fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // Safety: RDMSR only reads; a bad MSR number faults into the harness.
    unsafe { asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi) };
    (hi as u64) << 32 | lo as u64
}

/// Ring 0 only; #GP aborts the running test.
///
/// # Safety
/// The caller must know what writing `value` to `msr` does.
pub unsafe fn wrmsr(msr: u32, value: u64) {
    // Safety: the caller's contract.
    unsafe { asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32) };
}

pub fn rdmsr_probe(msr: u32) -> (u64, Probe) {
    let (lo, hi): (u32, u32);
    let p = probe!("rdmsr"; in("ecx") msr, out("eax") lo, out("edx") hi);
    ((hi as u64) << 32 | lo as u64, p)
}

/// Ring 0 only: writes one of the UINTR MSRs (or another harmless MSR)
/// and reports a #GP.
pub fn wrmsr_probe(msr: u32, value: u64) -> Probe {
    probe!("wrmsr"; in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32)
}

/// Reads a byte at `addr`, reporting a fault (for checking mappings).
pub fn read_probe(addr: u64) -> Probe {
    probe!("mov {tmp2}, byte ptr [{a}]"; a = in(reg) addr, tmp2 = out(reg_byte) _)
}

pub fn outb(port: u16, v: u8) {
    // Safety: port I/O to the serial port and debug-exit device (ring 0).
    unsafe { asm!("out dx, al", in("dx") port, in("al") v) };
}

pub fn outl(port: u16, v: u32) {
    // Safety: as for `outb`.
    unsafe { asm!("out dx, eax", in("dx") port, in("eax") v) };
}

pub fn inb(port: u16) -> u8 {
    let v;
    // Safety: as for `outb`.
    unsafe { asm!("in al, dx", in("dx") port, out("al") v) };
    v
}

pub fn cli() {
    // Safety: ring 0; the harness decides when interrupts are taken.
    unsafe { asm!("cli") };
}

/// Opens an interrupt window of about `spins` iterations in ring 0 (STI,
/// spin, CLI): pending interrupts (and UINV notifications) are taken.
pub fn interrupt_window(spins: u32) {
    // Safety: ring 0; every vector has a handler.
    unsafe {
        asm!(
            "sti",
            "2:",
            "pause",
            "dec {n:e}",
            "jnz 2b",
            "cli",
            n = inout(reg) spins.max(1) => _,
        );
    }
}

pub fn hlt_forever() -> ! {
    loop {
        // Safety: halting with interrupts off ends execution.
        unsafe { asm!("cli", "hlt") };
    }
}

/// Current code segment selector (to tell ring 0 from ring 3).
pub fn read_cs() -> u64 {
    let v: u64;
    // Safety: reading CS has no side effects.
    unsafe { asm!("mov {:r}, cs", out(reg) v) };
    v & 0xffff
}

// ---- UINTR instructions (CR4.UINTR must be 1, or they #UD) ----

pub fn clui() {
    // Safety: only changes UIF.
    unsafe { asm!(".byte 0xf3, 0x0f, 0x01, 0xee") };
}

pub fn stui() {
    // Safety: only changes UIF; a pending user interrupt may be delivered
    // right after it (in ring 3), which returns here through UIRET.
    unsafe { asm!(".byte 0xf3, 0x0f, 0x01, 0xef") };
}

/// TESTUI: CF := UIF.
pub fn testui() -> bool {
    let cf: u8;
    // Safety: only changes flags.
    unsafe { asm!(".byte 0xf3, 0x0f, 0x01, 0xed", "setc {}", out(reg_byte) cf) };
    cf != 0
}

/// Loads RFLAGS with `flags` (arithmetic flags), runs TESTUI and returns
/// the resulting RFLAGS.
pub fn testui_flags(flags: u64) -> u64 {
    let out: u64;
    // Safety: the flags loaded are arithmetic ones plus IF as it is; the
    // stack is left as it was.
    unsafe {
        asm!(
            "pushfq",
            "or qword ptr [rsp], {f}",
            "popfq",
            ".byte 0xf3, 0x0f, 0x01, 0xed",
            "pushfq",
            "pop {o}",
            f = in(reg) flags,
            o = lateout(reg) out,
        );
    }
    out
}

/// SENDUIPI with RAX as the operand; a fault aborts the running test.
pub fn senduipi(index: u64) {
    // Safety: posts into the UPID named by the UITT (memory the harness set
    // up) and may send an IPI, handled by the harness.
    unsafe { asm!(".byte 0xf3, 0x0f, 0xc7, 0xf0", in("rax") index) };
}

pub fn senduipi_probe(index: u64) -> Probe {
    probe!(".byte 0xf3, 0x0f, 0xc7, 0xf0"; in("rax") index)
}

/// SENDUIPI with a 66 (operand-size) prefix, which must be ignored.
pub fn senduipi_opsize_probe(index: u64) -> Probe {
    probe!(".byte 0x66, 0xf3, 0x0f, 0xc7, 0xf0"; in("rax") index)
}

pub fn clui_probe() -> Probe {
    probe!(".byte 0xf3, 0x0f, 0x01, 0xee";)
}

pub fn stui_probe() -> Probe {
    probe!(".byte 0xf3, 0x0f, 0x01, 0xef";)
}

pub fn testui_probe() -> Probe {
    probe!(".byte 0xf3, 0x0f, 0x01, 0xed";)
}

/// UIRET over a frame that returns to the next instruction with the
/// current RSP and RFLAGS (so it is harmless if it does not fault).
pub fn uiret_probe() -> Probe {
    probe!(
        "mov {t2}, rsp",
        "pushfq",
        "pop {t3}",
        "push {t2}",
        "push {t3}",
        "lea {t2}, [rip + 4f]",
        "push {t2}",
        ".byte 0xf3, 0x0f, 0x01, 0xec",
        "4:";
        t2 = out(reg) _, t3 = out(reg) _
    )
}

/// The UINTR instructions with a LOCK prefix.
pub fn lock_clui_probe() -> Probe {
    probe!(".byte 0xf0, 0xf3, 0x0f, 0x01, 0xee";)
}

pub fn lock_stui_probe() -> Probe {
    probe!(".byte 0xf0, 0xf3, 0x0f, 0x01, 0xef";)
}

pub fn lock_testui_probe() -> Probe {
    probe!(".byte 0xf0, 0xf3, 0x0f, 0x01, 0xed";)
}
