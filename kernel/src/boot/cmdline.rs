//! The kernel command line, with seL4's keys: `console_port=`,
//! `debug_port=` (I/O port numbers, decimal or 0x-hex) and `disable_iommu`;
//! and this kernel's `uintr=emulate`, which keeps user interrupts on the
//! #UD fallback on a CPU that has them (to compare the two paths).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmdlineOptions {
    pub console_port: u16,
    pub debug_port: u16,
    pub disable_iommu: bool,
    pub uintr_emulate: bool,
}

impl Default for CmdlineOptions {
    fn default() -> Self {
        CmdlineOptions {
            console_port: crate::config::DEFAULT_CONSOLE_PORT,
            debug_port: crate::config::DEFAULT_DEBUG_PORT,
            disable_iommu: false,
            uintr_emulate: false,
        }
    }
}

fn parse_number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Parses the options; unknown words are ignored, as the rest of the line
/// may belong to the bootloader. A port value that does not parse or does
/// not fit 16 bits leaves the default in place.
pub fn parse(line: &str) -> CmdlineOptions {
    let mut opts = CmdlineOptions::default();
    for word in line.split_ascii_whitespace() {
        let (key, value) = word.split_once('=').unwrap_or((word, ""));
        let port = || parse_number(value).and_then(|v| u16::try_from(v).ok());
        match key {
            "console_port" => opts.console_port = port().unwrap_or(opts.console_port),
            "debug_port" => opts.debug_port = port().unwrap_or(opts.debug_port),
            "disable_iommu" => opts.disable_iommu = true,
            "uintr" => opts.uintr_emulate = value == "emulate",
            _ => {}
        }
    }
    opts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_com1() {
        assert_eq!(parse(""), CmdlineOptions::default());
        assert_eq!(parse("").console_port, 0x3f8);
    }

    #[test]
    fn ports_in_hex_and_decimal() {
        let o = parse("/kernel console_port=0x2f8 debug_port=1016 disable_iommu");
        assert_eq!(o.console_port, 0x2f8);
        assert_eq!(o.debug_port, 1016);
        assert!(o.disable_iommu);
        assert!(!o.uintr_emulate);
    }

    #[test]
    fn uintr_fallback_on_request() {
        assert!(parse("uintr=emulate").uintr_emulate);
        assert!(!parse("uintr=hardware").uintr_emulate);
    }

    #[test]
    fn bad_values_keep_defaults() {
        let o = parse("console_port=0x10000 debug_port=zz");
        assert_eq!(o, CmdlineOptions::default());
    }
}
