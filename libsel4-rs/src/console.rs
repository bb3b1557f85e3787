//! Console output with `print!`/`println!`: through `seL4_DebugPutChar`
//! unless the program chose another sink (a release kernel has no
//! DebugPutChar; a program there writes to a serial port it holds an I/O
//! port capability for).

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicUsize, Ordering};

/// The sink `print!` writes through: 0 for DebugPutChar, else a
/// `fn(u8)` stored by [`set_sink`].
static SINK: AtomicUsize = AtomicUsize::new(0);

/// Sends every later `print!` byte to `sink` instead of DebugPutChar.
pub fn set_sink(sink: fn(u8)) {
    SINK.store(sink as usize, Ordering::Relaxed);
}

fn put(b: u8) {
    match SINK.load(Ordering::Relaxed) {
        0 => crate::debug::put_char(b),
        f => {
            // Safety: a non-zero SINK was stored by `set_sink` from a
            // `fn(u8)`, and function pointers round-trip through usize.
            let sink: fn(u8) = unsafe { core::mem::transmute::<usize, fn(u8)>(f) };
            sink(b)
        }
    }
}

pub struct DebugConsole;

impl Write for DebugConsole {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            put(b);
        }
        Ok(())
    }
}

pub fn print(args: fmt::Arguments<'_>) {
    let _ = DebugConsole.write_fmt(args);
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::print(format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! println {
    () => { $crate::console::print(format_args!("\n")) };
    ($($arg:tt)*) => {{
        $crate::console::print(format_args!($($arg)*));
        $crate::console::print(format_args!("\n"));
    }};
}
