//! x86 I/O ports.
//!
//! ```no_run
//! use sel4::cap::{init, IoPort};
//! # fn demo(free: u64) -> Result<(), sel4::Error> {
//! // The CMOS RTC's index and data ports; read the seconds register.
//! init::IO_PORT_CONTROL.issue(0x70, 0x71, init::CNODE.slot(free, 64))?;
//! let rtc = IoPort::from_cptr(free);
//! rtc.out8(0x70, 0)?;
//! let seconds = rtc.in8(0x71)?;
//! # let _ = seconds;
//! # Ok(())
//! # }
//! ```

use crate::cap::{IoPort, IoPortControl, Slot};
use crate::invocation::{call, get_mr, result};
use crate::Error;
use sel4_compat::invocation as label;

impl IoPortControl {
    /// `seL4_X86_IOPortControl_Issue`: a cap in `dest` for ports
    /// `first..=last` (which no other issued cap may overlap).
    pub fn issue(self, first: u16, last: u16, dest: Slot) -> Result<(), Error> {
        let args = [first as u64, last as u64, dest.index, dest.depth as u64];
        result(call(self.cptr(), label::X86_IOPORT_CONTROL_ISSUE, &args, &[dest.root.cptr()]))
    }
}

impl IoPort {
    fn input(self, label: u64, port: u16) -> Result<u64, Error> {
        result(call(self.cptr(), label, &[port as u64], &[])).map(|()| get_mr(0))
    }

    fn output(self, label: u64, port: u16, value: u64) -> Result<(), Error> {
        result(call(self.cptr(), label, &[port as u64, value], &[]))
    }

    pub fn in8(self, port: u16) -> Result<u8, Error> {
        self.input(label::X86_IOPORT_IN8, port).map(|v| v as u8)
    }

    pub fn in16(self, port: u16) -> Result<u16, Error> {
        self.input(label::X86_IOPORT_IN16, port).map(|v| v as u16)
    }

    pub fn in32(self, port: u16) -> Result<u32, Error> {
        self.input(label::X86_IOPORT_IN32, port).map(|v| v as u32)
    }

    pub fn out8(self, port: u16, value: u8) -> Result<(), Error> {
        self.output(label::X86_IOPORT_OUT8, port, value as u64)
    }

    pub fn out16(self, port: u16, value: u16) -> Result<(), Error> {
        self.output(label::X86_IOPORT_OUT16, port, value as u64)
    }

    pub fn out32(self, port: u16, value: u32) -> Result<(), Error> {
        self.output(label::X86_IOPORT_OUT32, port, value as u64)
    }
}
