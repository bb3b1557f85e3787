//! Kernel printing to the serial console (`kprint!`, `kprintln!`), in
//! configurations with `KernelPrinting`; without it the kernel prints
//! nothing, as seL4 does.

use core::fmt::{self, Write};

pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            crate::arch::x86_64::serial::put_byte(b);
        }
        Ok(())
    }
}

#[inline(always)]
pub fn print(args: fmt::Arguments<'_>) {
    if crate::config::PRINTING {
        let _ = Console.write_fmt(args);
    }
}

#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => { $crate::console::print(format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! kprintln {
    () => { $crate::console::print(format_args!("\n")) };
    ($($arg:tt)*) => {{
        $crate::console::print(format_args!($($arg)*));
        $crate::console::print(format_args!("\n"));
    }};
}
