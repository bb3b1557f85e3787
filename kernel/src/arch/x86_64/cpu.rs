//! CPU feature checks and the per-CPU control state the kernel relies on.

use crate::boot::BootError;
use raw_cpuid::CpuId;
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags, LStar, Msr, SFMask};
use x86_64::registers::rflags::RFlags;
use x86_64::VirtAddr;

/// Checks every feature the kernel depends on and names the first one
/// missing. (Long mode and 1 GiB pages were already checked by the 32-bit
/// boot code, which cannot get here without them.)
pub fn check_features() -> Result<(), BootError> {
    let cpuid = CpuId::new();
    let missing = |name| Err(BootError::MissingCpuFeature(name));
    let Some(f) = cpuid.get_feature_info() else { return missing("CPUID leaf 1") };
    let checks: [(bool, &'static str); 9] = [
        (f.has_fpu(), "x87 FPU"),
        (f.has_tsc(), "TSC"),
        (f.has_msr(), "MSRs"),
        (f.has_pae(), "PAE"),
        (f.has_apic(), "local APIC"),
        (f.has_pge(), "global pages (PGE)"),
        (f.has_fxsave_fxstor(), "FXSAVE/FXRSTOR"),
        (f.has_sse() && f.has_sse2(), "SSE2"),
        (f.has_cmov(), "CMOV"),
    ];
    for (present, name) in checks {
        if !present {
            return missing(name);
        }
    }
    let ext = cpuid.get_extended_processor_and_feature_identifiers();
    if !ext.as_ref().is_some_and(|e| e.has_syscall_sysret()) {
        return missing("SYSCALL/SYSRET");
    }
    Ok(())
}

/// Whether the local APIC timer has TSC-deadline mode.
pub fn has_tsc_deadline() -> bool {
    CpuId::new().get_feature_info().is_some_and(|f| f.has_tsc_deadline())
}

/// The CPU's brand string, for the boot banner.
/// Whether the CPU has user interrupts (CPUID.(EAX=7,ECX=0):EDX[5]).
pub fn has_uintr() -> bool {
    // raw-cpuid has no name for this bit yet; leaf 7 exists when the
    // extended feature leaf does.
    CpuId::new().get_extended_feature_info().is_some() && core::arch::x86_64::__cpuid_count(7, 0).edx & (1 << 5) != 0
}

pub fn model_name(buf: &mut [u8; 48]) -> &str {
    let brand = CpuId::new().get_processor_brand_string();
    let s = brand.as_ref().map(|b| b.as_str()).unwrap_or("unknown CPU");
    let n = s.len().min(buf.len());
    buf[..n].copy_from_slice(&s.as_bytes()[..n]);
    core::str::from_utf8(&buf[..n]).unwrap_or("").trim()
}

/// Enables SSE for user code (the kernel itself is soft-float) and puts
/// the x87/SSE unit in its initial state.
///
/// Only CR4.OSFXSR, as seL4's `Arch_initFpu`: OSXMMEXCPT stays clear, so
/// an unmasked SIMD floating-point exception raises #UD (a user exception
/// with vector 6) rather than #XM, and a handler sees what it would see
/// on stock seL4.
pub fn init_fpu() {
    // Safety: setting MP/NE and clearing EM/TS is the architectural way to
    // enable x87 and SSE; OSFXSR is supported (checked above).
    unsafe {
        Cr0::update(|f| {
            f.insert(Cr0Flags::MONITOR_COPROCESSOR | Cr0Flags::NUMERIC_ERROR);
            f.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
        });
        Cr4::update(|f| {
            f.insert(Cr4Flags::OSFXSR);
            f.remove(Cr4Flags::OSXMMEXCPT_ENABLE);
        });
        core::arch::asm!("fninit", options(nomem, nostack));
    }
}

/// Enables SMEP and SMAP when the CPU has them, under the conditions
/// seL4's `init_cpu` uses: SMAP only without kernel printing (seL4's
/// user stack traces read user memory), SMEP always (this kernel has no
/// code-injection syscall). Both change the page-fault error code a
/// fault handler reads (SMEP makes the CPU report instruction fetches in
/// bit 4), so they follow seL4 exactly; QEMU's Nehalem has neither.
pub fn init_smep_smap() {
    let Some(f) = CpuId::new().get_extended_feature_info() else { return };
    // Safety: each bit is set only when CPUID reports the feature. The
    // kernel never executes user pages, and reaches user memory only
    // through the physical window, so neither protection can trip it.
    unsafe {
        if f.has_smap() && !crate::config::PRINTING {
            Cr4::update(|c| c.insert(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION));
        }
        if f.has_smep() {
            Cr4::update(|c| c.insert(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION));
        }
    }
}

/// RFLAGS bits a user thread may set (POPF at CPL 3) that the kernel must
/// not run with after SYSCALL, which keeps every bit not in IA32_FMASK.
/// Interrupt and exception gates clear IF, TF and NT themselves, and the
/// entry stubs clear DF; SYSCALL has only this mask. NT matters most: an
/// IRETQ executed with NT set raises #GP in 64-bit mode, and the kernel
/// leaves by IRETQ whenever the next thread did not enter by SYSCALL.
pub const SYSCALL_CLEARED_FLAGS: RFlags =
    RFlags::INTERRUPT_FLAG.union(RFlags::TRAP_FLAG).union(RFlags::DIRECTION_FLAG).union(RFlags::ALIGNMENT_CHECK).union(RFlags::NESTED_TASK);

/// Programs SYSCALL: entry point, selectors as seL4 sets them, and the
/// RFLAGS bits cleared on entry.
///
/// EFER gets SCE and nothing else (LME came from the boot code), as in
/// seL4's head.S: with NXE clear the CPU never marks a page fault as an
/// instruction fetch (bit 4 of the error code, seL4's PrefetchFault), so
/// a jump to an unmapped page reports FSR 0x4 and PrefetchFault 0 as on
/// stock seL4. It also makes bit 63 of every paging entry reserved, so
/// no mapping, the kernel's included, may set it.
pub fn init_syscall(entry: u64) {
    // Safety: the selectors are the GDT's (gdt::init) and `entry` is the
    // SYSCALL stub; EFER.SCE only enables the instruction.
    unsafe {
        Efer::update(|f| {
            f.insert(EferFlags::SYSTEM_CALL_EXTENSIONS);
            f.remove(EferFlags::NO_EXECUTE_ENABLE);
        });
        let star = (0x2bu64 << 48) | (0x08u64 << 32);
        Msr::new(0xc000_0081).write(star);
        LStar::write(VirtAddr::new(entry));
        SFMask::write(SYSCALL_CLEARED_FLAGS);
    }
}

const IA32_PAT: u32 = 0x277;

/// Programs the PAT as seL4 does: Intel's defaults for entries 0-3 and
/// write-combining in entry 4 (selected by a mapping's PAT bit).
pub fn init_pat() {
    // Safety: PAT exists on every CPU that passes `check_features` (P6+);
    // entries 0-3 keep their architectural defaults.
    unsafe {
        let mut msr = Msr::new(IA32_PAT);
        let pat = msr.read();
        msr.write((pat & !0xff_0000_0000) | (0x01 << 32));
    }
}

const IA32_FS_BASE: u32 = 0xc000_0100;
const IA32_GS_BASE: u32 = 0xc000_0101;

/// The GS base last written to IA32_GS_BASE; at first a non-canonical
/// value no thread can have, so the first load writes. Only
/// `load_fs_gs_base` writes the MSR (user code cannot: KernelFSGSBase =
/// msr leaves CR4.FSGSBASE clear), so the cache stays true.
static LOADED_GS_BASE: crate::kernel_state::KernelCell<u64> = crate::kernel_state::KernelCell::new(u64::MAX);

/// Loads a thread's FS and GS bases (KernelFSGSBase = msr). The GS base
/// is written only when it changes: threads rarely set one, and this runs
/// on every return to user mode (the FS base, the TLS pointer, differs
/// from thread to thread, so it is written every time).
#[inline(always)]
pub fn load_fs_gs_base(fs: u64, gs: u64) {
    // Safety: single core, kernel context; no other borrow of the cache.
    let loaded_gs = unsafe { LOADED_GS_BASE.get() };
    // Safety: the values were checked canonical by whoever stored them;
    // the MSRs only affect user segment bases (the kernel uses neither).
    unsafe {
        Msr::new(IA32_FS_BASE).write(fs);
        if *loaded_gs != gs {
            Msr::new(IA32_GS_BASE).write(gs);
            *loaded_gs = gs;
        }
    }
}

/// Sets RFLAGS.NT in the kernel, which makes the next IRETQ fault: the
/// kernel's exit-stub fault self-test (`selftest=exit_stub_fault`).
pub fn set_nested_task_flag() {
    // Safety: only changes NT; the kernel runs with interrupts off either
    // way, and the fault this provokes is the point of the self-test.
    unsafe { core::arch::asm!("pushfq", "or qword ptr [rsp], 0x4000", "popfq") };
}

/// Copies `count` words from `src` to `dst`, lowest address first, with
/// one `rep movsq`: the message copy of every IPC longer than the message
/// registers, without a call into `memcpy` and its alignment steps (both
/// buffers are word aligned). Copying a buffer onto itself leaves it as
/// it is.
///
/// # Safety
/// `src` and `dst` are word aligned and valid for `count` words each, and
/// do not overlap unless they are equal.
#[inline(always)]
pub unsafe fn copy_words_forward(dst: *mut u64, src: *const u64, count: usize) {
    // Safety: per the caller's contract; the direction flag is clear in
    // Rust code, so the copy goes upwards.
    unsafe {
        core::arch::asm!(
            "rep movsq",
            inout("rcx") count => _,
            inout("rdi") dst => _,
            inout("rsi") src => _,
            options(nostack, preserves_flags),
        );
    }
}
