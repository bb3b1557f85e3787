//! Reading boot-time structures out of physical memory.
//!
//! Parsers take a [`PhysRead`] rather than raw pointers so that the same
//! code reads QEMU's structures on the machine and synthetic ones in host
//! tests, and so that a hostile pointer in a boot structure becomes an
//! error instead of a fault.

/// Byte-granular access to physical memory.
pub trait PhysRead {
    /// Fills `buf` from `paddr`; false when the range is not readable.
    fn read(&self, paddr: u64, buf: &mut [u8]) -> bool;

    fn read_u8(&self, paddr: u64) -> Option<u8> {
        let mut b = [0u8; 1];
        self.read(paddr, &mut b).then_some(b[0])
    }
    fn read_u16(&self, paddr: u64) -> Option<u16> {
        let mut b = [0u8; 2];
        self.read(paddr, &mut b).then(|| u16::from_le_bytes(b))
    }
    fn read_u32(&self, paddr: u64) -> Option<u32> {
        let mut b = [0u8; 4];
        self.read(paddr, &mut b).then(|| u32::from_le_bytes(b))
    }
    fn read_u64(&self, paddr: u64) -> Option<u64> {
        let mut b = [0u8; 8];
        self.read(paddr, &mut b).then(|| u64::from_le_bytes(b))
    }
}

/// A slice standing in for physical memory starting at `base` (host tests,
/// and in-memory copies on the machine).
pub struct SliceMem<'a> {
    pub base: u64,
    pub bytes: &'a [u8],
}

impl PhysRead for SliceMem<'_> {
    fn read(&self, paddr: u64, buf: &mut [u8]) -> bool {
        let Some(off) = paddr.checked_sub(self.base) else {
            return false;
        };
        let Ok(off) = usize::try_from(off) else {
            return false;
        };
        match off.checked_add(buf.len()) {
            Some(end) if end <= self.bytes.len() => {
                buf.copy_from_slice(&self.bytes[off..end]);
                true
            }
            _ => false,
        }
    }
}
