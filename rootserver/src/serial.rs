//! The benchmark's console: COM1 written from user level through an I/O
//! port capability, as sel4bench does, so that the benchmark runs on a
//! release kernel (which has no DebugPutChar) as well as on a debug one.

use core::sync::atomic::{AtomicU64, Ordering};
use sel4::cap::{init, IoPort};
use sel4::BootInfo;

/// COM1's eight registers.
const COM1: u16 = 0x3f8;
const COM1_LAST: u16 = 0x3ff;
/// Register offsets and the line status bit saying the transmitter can
/// take a byte.
const LINE_CONTROL: u16 = 3;
const LINE_STATUS: u16 = 5;
const TRANSMIT_EMPTY: u8 = 1 << 5;

/// The slot of the COM1 cap (0 until [`init`] issued it).
static PORT: AtomicU64 = AtomicU64::new(0);

fn put(b: u8) {
    let port = IoPort::from_cptr(PORT.load(Ordering::Relaxed));
    if b == b'\n' {
        put(b'\r');
    }
    // A port that refuses to answer cannot be waited for: give up after a
    // bounded wait rather than hang the benchmark.
    for _ in 0..100_000 {
        match port.in8(COM1 + LINE_STATUS) {
            Ok(status) if status & TRANSMIT_EMPTY != 0 => break,
            Ok(_) => core::hint::spin_loop(),
            Err(_) => return,
        }
    }
    let _ = port.out8(COM1, b);
}

/// Takes the COM1 cap into the root CNode's last empty slot (the cases
/// use the region's start), sets the line to 8 data bits, no parity, one
/// stop bit (the baud rate the firmware or kernel chose is kept), and
/// sends every later `print!` there. On failure printing stays on
/// DebugPutChar.
pub fn init(bi: &BootInfo) {
    let slot = bi.empty.end - 1;
    if init::IO_PORT_CONTROL.issue(COM1, COM1_LAST, init::CNODE.slot(slot, 64)).is_err() {
        return;
    }
    let port = IoPort::from_cptr(slot);
    if port.out8(COM1 + LINE_CONTROL, 0x03).is_err() {
        return;
    }
    PORT.store(slot, Ordering::Relaxed);
    sel4::console::set_sink(put);
}
