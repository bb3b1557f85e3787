//! Reading bootinfo as typed caps: the untyped caps with their
//! descriptions, and the free slots of the root CNode.
//!
//! ```no_run
//! use sel4::bootinfo::BootInfoCaps;
//! # fn demo(bootinfo: &sel4::BootInfo) {
//! // The largest RAM untyped, and the first free slot.
//! let biggest = bootinfo
//!     .untyped_caps()
//!     .filter(|(_, desc)| desc.is_device == 0)
//!     .max_by_key(|(_, desc)| desc.size_bits);
//! let first_free = bootinfo.empty_slots().start;
//! # let _ = (biggest, first_free);
//! # }
//! ```

use crate::cap::Untyped;
use crate::{BootInfo, CPtr, UntypedDesc};
use core::ops::Range;

/// Typed views of the caps bootinfo describes.
pub trait BootInfoCaps {
    /// Each untyped cap of the root CNode with its description (physical
    /// address, size, device or RAM).
    fn untyped_caps(&self) -> impl Iterator<Item = (Untyped, &UntypedDesc)>;

    /// The root CNode's slots that hold no cap at boot.
    fn empty_slots(&self) -> Range<CPtr>;
}

impl BootInfoCaps for BootInfo {
    fn untyped_caps(&self) -> impl Iterator<Item = (Untyped, &UntypedDesc)> {
        let first = self.untyped.start;
        self.untypeds().iter().enumerate().map(move |(i, desc)| (Untyped::from_cptr(first + i as CPtr), desc))
    }

    fn empty_slots(&self) -> Range<CPtr> {
        self.empty.start..self.empty.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sel4_compat::bootinfo::SlotRegion;

    #[test]
    fn untyped_caps_pair_slots_with_descriptions() {
        // Safety: BootInfo is plain old data; all-zero is a valid value.
        let mut bi: BootInfo = unsafe { core::mem::zeroed() };
        bi.untyped = SlotRegion { start: 20, end: 22 };
        bi.untyped_list[1].size_bits = 16;
        bi.empty = SlotRegion { start: 22, end: 8192 };
        let caps: Vec<_> = bi.untyped_caps().map(|(cap, desc)| (cap.cptr(), desc.size_bits)).collect();
        assert_eq!(caps, [(20, 0), (21, 16)]);
        assert_eq!(bi.empty_slots(), 22..8192);
    }
}
