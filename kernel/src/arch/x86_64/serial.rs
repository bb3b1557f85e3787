//! The serial console and debug port (16550 UARTs).

use crate::kernel_state::KernelCell;
use uart_16550::SerialPort;

struct Ports {
    console: Option<SerialPort>,
    console_port: u16,
}

static PORTS: KernelCell<Ports> = KernelCell::new(Ports { console: None, console_port: 0 });

/// Initialises the UART at `port` and makes it the console.
pub fn init_console(port: u16) {
    // Safety: single core, interrupts off; no other borrow is live.
    let ports = unsafe { PORTS.get() };
    if ports.console.is_some() && ports.console_port == port {
        return;
    }
    // Safety: the port comes from the kernel command line or the pc99
    // default; a 16550 is assumed there, as seL4 assumes.
    let mut uart = unsafe { SerialPort::new(port) };
    uart.init();
    ports.console = Some(uart);
    ports.console_port = port;
}

pub fn console_port() -> u16 {
    // Safety: as above.
    unsafe { PORTS.get() }.console_port
}

pub fn put_byte(b: u8) {
    // Safety: as above.
    if let Some(uart) = unsafe { PORTS.get() }.console.as_mut() {
        if b == b'\n' {
            uart.send_raw(b'\r');
        }
        uart.send_raw(b);
    }
}
