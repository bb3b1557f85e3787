//! I/O ports, MSRs and control registers used by the rest of the kernel.

use x86_64::instructions::port::Port;

/// # Safety
/// Writing an I/O port can have any effect on the machine; the caller
/// must know what device sits at `port`.
pub unsafe fn outb(port: u16, value: u8) {
    // Safety: per the caller's contract.
    unsafe { Port::new(port).write(value) }
}

/// # Safety
/// As for [`outb`].
pub unsafe fn outl(port: u16, value: u32) {
    // Safety: per the caller's contract.
    unsafe { Port::new(port).write(value) }
}

/// # Safety
/// As for [`outb`].
pub unsafe fn outw(port: u16, value: u16) {
    // Safety: per the caller's contract.
    unsafe { Port::new(port).write(value) }
}

/// # Safety
/// Reading some ports has side effects; the caller must know the device.
pub unsafe fn inw(port: u16) -> u16 {
    // Safety: per the caller's contract.
    unsafe { Port::new(port).read() }
}

/// # Safety
/// As for [`inw`].
pub unsafe fn inl(port: u16) -> u32 {
    // Safety: per the caller's contract.
    unsafe { Port::new(port).read() }
}

/// # Safety
/// Reading some ports has side effects; the caller must know the device.
pub unsafe fn inb(port: u16) -> u8 {
    // Safety: per the caller's contract.
    unsafe { Port::new(port).read() }
}

pub fn read_cr2() -> u64 {
    x86_64::registers::control::Cr2::read_raw()
}

pub fn rdtsc() -> u64 {
    // Safety: RDTSC has no side effects; CR4.TSD is clear.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Stops the CPU for good (interrupts off).
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// Sleeps until the next interrupt with interrupts enabled, then returns
/// with them disabled again. `state` is the kernel state the interrupt's
/// handler may change while the caller holds it: the wait takes its
/// address, so the compiler assumes the wait reads and writes it and keeps
/// nothing of it in registers across.
pub fn wait_for_interrupt(state: *mut ()) {
    // Safety: enabling interrupts for one HLT (STI's one-instruction delay
    // makes the pair atomic) and disabling them again changes no memory but
    // what the interrupt's handler changes, which `state` covers.
    unsafe { core::arch::asm!("sti", "hlt", "cli", in("rax") state, options(nostack)) };
}
