//! Ending a QEMU run with a status the test harness can read.
//!
//! QEMU's `isa-debug-exit` device (iobase 0xf4) ends the emulator with
//! status `(value << 1) | 1`. Without the device (seL4's own simulate line,
//! real hardware) the write does nothing and the kernel halts as seL4 does.

use super::io;

const DEBUG_EXIT_PORT: u16 = 0xf4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// DebugHalt from user level: QEMU exits with status 33.
    Halted = 0x10,
    /// Panic, refused boot or kernel fault: QEMU exits with status 35.
    Failed = 0x11,
}

pub fn exit_qemu(code: ExitCode) -> ! {
    // Safety: port 0xf4 is the debug-exit device or nothing at all.
    unsafe { io::outl(DEBUG_EXIT_PORT, code as u32) };
    io::halt_forever()
}
