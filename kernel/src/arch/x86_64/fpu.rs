//! Per-thread x87/SSE state, switched eagerly with FXSAVE/FXRSTOR
//! (KernelFPU = FXSAVE, 512 bytes) whenever a different thread returns to
//! user mode than the one whose state the FPU holds; a thread whose FPU is
//! disabled runs with CR0.TS set.

/// The FXSAVE image, 16-byte aligned.
#[repr(C, align(16))]
#[derive(Clone, Copy)]
pub struct FpuState {
    pub bytes: [u8; 512],
}

impl FpuState {
    /// The state `fninit` plus the default MXCSR leave: FCW 0x37f,
    /// MXCSR 0x1f80 (all exceptions masked), everything else zero.
    pub fn initial() -> Self {
        let mut s = FpuState { bytes: [0; 512] };
        s.bytes[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
        s.bytes[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        s
    }
}

/// Lets FPU and SSE instructions run (clears CR0.TS), as they must before
/// the kernel saves or loads FPU state.
pub fn enable() {
    // Safety: CLTS only clears CR0.TS.
    unsafe { core::arch::asm!("clts", options(nomem, nostack)) };
}

/// Makes the next FPU or SSE instruction raise #NM (sets CR0.TS): how a
/// thread whose FPU is disabled (`seL4_TCBFlag_fpuDisabled`) runs.
pub fn disable() {
    // Safety: setting CR0.TS only makes FPU instructions trap; the kernel
    // itself is soft-float and enables the FPU before touching FPU state.
    unsafe {
        x86_64::registers::control::Cr0::update(|f| f.insert(x86_64::registers::control::Cr0Flags::TASK_SWITCHED));
    }
}

/// Saves the FPU registers into `state`.
pub fn save(state: &mut FpuState) {
    // Safety: FXSAVE writes 512 bytes to a 16-byte aligned buffer, which
    // `FpuState` is; CR4.OSFXSR is set at boot.
    unsafe { core::arch::asm!("fxsave64 [{}]", in(reg) state.bytes.as_mut_ptr(), options(nostack)) };
}

/// Loads the FPU registers from `state`.
pub fn restore(state: &FpuState) {
    // Safety: as for `save`; the image came from FXSAVE or `initial`, whose
    // MXCSR has no reserved bits set.
    unsafe { core::arch::asm!("fxrstor64 [{}]", in(reg) state.bytes.as_ptr(), options(nostack)) };
}
