//! COM1 (0x3f8), polled. Ring 0 only.

use super::cpu::{inb, outb};

const PORT: u16 = 0x3f8;

pub fn init() {
    outb(PORT + 1, 0x00);
    outb(PORT + 3, 0x80);
    outb(PORT, 0x01);
    outb(PORT + 1, 0x00);
    outb(PORT + 3, 0x03);
    outb(PORT + 2, 0xc7);
    outb(PORT + 4, 0x0b);
}

pub fn write_byte(b: u8) {
    while inb(PORT + 5) & 0x20 == 0 {
        core::hint::spin_loop();
    }
    outb(PORT, b);
}

pub struct Serial;

impl core::fmt::Write for Serial {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                write_byte(b'\r');
            }
            write_byte(b);
        }
        Ok(())
    }
}

/// Ends QEMU through isa-debug-exit (port 0xf4): status (code << 1) | 1.
pub fn exit_qemu(code: u32) -> ! {
    super::cpu::outl(0xf4, code);
    super::cpu::hlt_forever()
}
