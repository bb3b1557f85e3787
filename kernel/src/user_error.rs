//! seL4's `userError`: in a configuration with `KernelPrinting`, every
//! refused invocation prints one line saying why, for the developer of the
//! program that made it:
//!
//! `<<seL4(CPU 0) [cnode::decode/83 T0xffffff801fe0c400 "rootserver" @401234]: CNode Copy/Mint/Move/Mutate: Source slot invalid or empty.>>`
//!
//! with seL4's fields: the CPU, the kernel function and line that refused
//! (ours: module and function, since our functions are not seL4's), the
//! current thread's TCB address, its debug name (`seL4_DebugNameThread`;
//! empty without `KernelDebugBuild`) and the address of the syscall
//! instruction that made the call. `KernelColourPrinting` (on by default,
//! as in seL4) adds seL4's ANSI bold and green around it. Without
//! `KernelPrinting` the macro compiles to nothing.
//!
//! Decode code that is also built for host tests uses the macro too; there
//! it only type-checks its message.

/// Prints seL4's `userError` line for the invocation being decoded:
/// `user_error!("format", args...)`.
#[cfg(target_os = "none")]
#[macro_export]
macro_rules! user_error {
    ($($arg:tt)*) => {
        if $crate::config::PRINTING {
            $crate::user_error::print($crate::function_name!(), line!(), format_args!($($arg)*));
        }
    };
}

/// Host build: nothing is printed (there is no console or current
/// thread); the message is still checked by the compiler.
#[cfg(not(target_os = "none"))]
#[macro_export]
macro_rules! user_error {
    ($($arg:tt)*) => {
        if false {
            let _ = format_args!($($arg)*);
        }
    };
}

/// The path of the function the macro is used in (closures included), as
/// the compiler names it: `kernel::object::cnode::decode::{{closure}}::here`.
#[macro_export]
macro_rules! function_name {
    () => {{
        fn here() {}
        $crate::user_error::type_name_of(here)
    }};
}

pub fn type_name_of<T>(_: T) -> &'static str {
    core::any::type_name::<T>()
}

/// The part of a `function_name!` path the line shows: the function and
/// its module (`cnode::decode`), without the crate, closures or the marker.
pub fn short_function_name(path: &str) -> &str {
    let mut path = path.strip_suffix("::here").unwrap_or(path);
    while let Some(p) = path.strip_suffix("::{{closure}}") {
        path = p;
    }
    match path.rmatch_indices("::").nth(1) {
        Some((i, _)) => &path[i + 2..],
        None => path,
    }
}

/// The line, written out (seL4's `userError` body).
#[cfg(target_os = "none")]
#[cold]
#[inline(never)]
pub fn print(function: &str, line: u32, message: core::fmt::Arguments<'_>) {
    use crate::config::{COLOUR_PRINTING, DEBUG_BUILD};
    let (bold, green, reset) = if COLOUR_PRINTING { ("\x1b[0m\x1b[1m", "\x1b[0m\x1b[32m", "\x1b[0m") } else { ("", "", "") };
    // Safety: debug output while the entry's reference to the current TCB
    // is not in use; the name and restart PC are only read.
    let (tcb, name, ip) = match unsafe { crate::sched::current_ptr().as_ref() } {
        Some(t) => (t as *const crate::thread::Tcb as u64, if DEBUG_BUILD { t.name() } else { "" }, t.restart_pc),
        None => (0, "", 0),
    };
    crate::console::print(format_args!(
        "{bold}<<{green}seL4(CPU 0){bold} [{}/{line} T{tcb:#x} \"{name}\" @{ip:x}]: {message}>>{reset}\n",
        short_function_name(function)
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_module_and_function() {
        assert_eq!(short_function_name(function_name!()), "tests::the_line_names_module_and_function");
        let in_closure = || short_function_name(function_name!());
        assert_eq!(in_closure(), "tests::the_line_names_module_and_function");
        assert_eq!(short_function_name("kernel::object::cnode::decode::here"), "cnode::decode");
        assert_eq!(short_function_name("decode::here"), "decode");
    }

    #[test]
    fn the_host_macro_only_checks_its_message() {
        let n = 3;
        user_error!("Invocation of invalid cap #{n}.");
    }
}
