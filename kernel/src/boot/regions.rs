//! Physical address ranges: the free-memory list the boot code carves the
//! initial objects out of, and seL4's split of what is left into untypeds.

use arrayvec::ArrayVec;

/// A half-open physical range `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Region {
    pub start: u64,
    pub end: u64,
}

impl Region {
    pub const fn new(start: u64, end: u64) -> Self {
        Region { start, end }
    }
    pub const fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }
    pub const fn overlaps(&self, other: &Region) -> bool {
        self.start < other.end && other.start < self.end
    }
    pub const fn contains(&self, other: &Region) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

/// Most regions the free list keeps (seL4's `MAX_NUM_FREEMEM_REG` is 16;
/// more room here because reservations split regions before merging).
pub const MAX_REGIONS: usize = 64;

/// A sorted, non-overlapping, coalesced set of regions.
#[derive(Clone, Debug, Default)]
pub struct RegionSet {
    regions: ArrayVec<Region, MAX_REGIONS>,
}

impl RegionSet {
    pub const fn new() -> Self {
        RegionSet { regions: ArrayVec::new_const() }
    }

    pub fn as_slice(&self) -> &[Region] {
        &self.regions
    }

    pub fn total(&self) -> u64 {
        self.regions.iter().map(Region::len).sum()
    }

    /// Adds `r`, merging with neighbours. Returns false (and drops the
    /// region) only when the set is full, which a sane memory map never
    /// reaches.
    pub fn add(&mut self, r: Region) -> bool {
        if r.is_empty() {
            return true;
        }
        let mut merged = r;
        let mut kept: ArrayVec<Region, MAX_REGIONS> = ArrayVec::new();
        for &old in self.regions.iter() {
            if old.end < merged.start || merged.end < old.start {
                kept.push(old);
            } else {
                merged.start = merged.start.min(old.start);
                merged.end = merged.end.max(old.end);
            }
        }
        if kept.is_full() {
            return false;
        }
        let at = kept.iter().position(|k| k.start > merged.start).unwrap_or(kept.len());
        kept.insert(at, merged);
        self.regions = kept;
        true
    }

    /// Removes `r` from the set, splitting regions as needed.
    pub fn remove(&mut self, r: Region) -> bool {
        if r.is_empty() {
            return true;
        }
        let mut kept: ArrayVec<Region, MAX_REGIONS> = ArrayVec::new();
        for &old in self.regions.iter() {
            if !old.overlaps(&r) {
                if kept.try_push(old).is_err() {
                    return false;
                }
                continue;
            }
            let below = Region::new(old.start, r.start.min(old.end));
            let above = Region::new(r.end.max(old.start), old.end);
            for piece in [below, above] {
                if !piece.is_empty() && kept.try_push(piece).is_err() {
                    return false;
                }
            }
        }
        self.regions = kept;
        true
    }

    /// Keeps only the parts of the set inside `limit`.
    pub fn clip(&mut self, limit: Region) {
        let low = Region::new(0, limit.start);
        let high = Region::new(limit.end, u64::MAX);
        self.remove(low);
        self.remove(high);
    }

    /// Takes `size` bytes aligned to `align` (a power of two) from the
    /// highest region that can hold them, as seL4 places its rootserver
    /// objects at the top of the largest free region.
    pub fn alloc_top(&mut self, size: u64, align: u64) -> Option<u64> {
        debug_assert!(align.is_power_of_two());
        let candidate = self.regions.iter().rev().find_map(|r| {
            let start = r.end.checked_sub(size)? & !(align - 1);
            (start >= r.start).then_some(start)
        })?;
        self.remove(Region::new(candidate, candidate + size));
        Some(candidate)
    }
}

/// One untyped block as seL4 hands it to the rootserver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UntypedBlock {
    pub paddr: u64,
    pub size_bits: u32,
    pub is_device: bool,
}

/// Splits the kernel-virtual range `start..end` into the largest
/// naturally aligned power-of-two blocks between `min_bits` and
/// `max_bits`, in order, calling `emit(start, bits)` for each. As in seL4
/// the range may wrap around the top of the address space (`end <
/// start`): device memory beyond the kernel window does, since seL4 names
/// every untyped by its kernel-window address. Pieces too small for
/// `min_bits` are dropped.
pub fn split_into_untypeds(mut start: u64, end: u64, min_bits: u32, max_bits: u32, mut emit: impl FnMut(u64, u32)) {
    while start != end {
        let span = end.wrapping_sub(start);
        let mut size_bits = (63 - span.leading_zeros()).min(max_bits);
        if start != 0 {
            size_bits = size_bits.min(start.trailing_zeros());
        }
        if size_bits >= min_bits {
            emit(start, size_bits);
        }
        start = start.wrapping_add(1u64 << size_bits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(rs: &[(u64, u64)]) -> RegionSet {
        let mut s = RegionSet::new();
        for &(a, b) in rs {
            assert!(s.add(Region::new(a, b)));
        }
        s
    }

    #[test]
    fn add_merges_touching_and_overlapping() {
        let s = set(&[(0x3000, 0x4000), (0x1000, 0x2000), (0x2000, 0x3000), (0x8000, 0x9000)]);
        assert_eq!(s.as_slice(), &[Region::new(0x1000, 0x4000), Region::new(0x8000, 0x9000)]);
    }

    #[test]
    fn remove_splits() {
        let mut s = set(&[(0x0, 0x10000)]);
        s.remove(Region::new(0x4000, 0x5000));
        assert_eq!(s.as_slice(), &[Region::new(0, 0x4000), Region::new(0x5000, 0x10000)]);
        s.remove(Region::new(0x0, 0x1000));
        s.remove(Region::new(0xf000, 0x20000));
        assert_eq!(s.as_slice(), &[Region::new(0x1000, 0x4000), Region::new(0x5000, 0xf000)]);
        assert_eq!(s.total(), 0x3000 + 0xa000);
    }

    #[test]
    fn alloc_top_is_aligned_and_reserved() {
        let mut s = set(&[(0x10_0000, 0x20_0000), (0x30_0000, 0x31_0800)]);
        let a = s.alloc_top(0x4_0000, 0x4_0000).unwrap();
        assert_eq!(a, 0x1c_0000);
        assert_eq!(s.alloc_top(0x1000, 0x1000), Some(0x30_f000));
        assert!(s.as_slice().iter().all(|r| !r.overlaps(&Region::new(a, a + 0x4_0000))));
        assert_eq!(s.alloc_top(0x1_0000_0000, 0x1000), None);
    }

    #[test]
    fn split_matches_sel4_arithmetic() {
        let mut out = Vec::new();
        split_into_untypeds(0x10_1000, 0x20_0000, 4, 47, |p, b| out.push((p, b)));
        // Alignment-limited blocks growing, then the big aligned tail.
        assert_eq!(out[0], (0x10_1000, 12));
        assert_eq!(out[1], (0x10_2000, 13));
        let total: u64 = out.iter().map(|&(_, b)| 1u64 << b).sum();
        assert_eq!(total, 0x20_0000 - 0x10_1000);
        for &(p, b) in &out {
            assert_eq!(p % (1 << b), 0, "block {p:#x} not aligned to its size");
        }
    }

    #[test]
    fn split_drops_slivers_below_min() {
        let mut out = Vec::new();
        split_into_untypeds(0x1008, 0x1010, 4, 47, |p, b| out.push((p, b)));
        assert!(out.is_empty());
        split_into_untypeds(0, 1u64 << 48, 4, 47, |p, b| out.push((p, b)));
        assert_eq!(out, vec![(0, 47), (1 << 47, 47)]);
    }

    #[test]
    fn split_of_a_wrapping_range_passes_through_zero() {
        // Device memory from 4 GiB to 2^47 seen through the window at
        // 0xffffff8000000000: it wraps, and blocks after the wrap are
        // aligned in kernel-virtual, not physical, terms (as in seL4).
        let base = 0xffff_ff80_0000_0000u64;
        let mut out = Vec::new();
        split_into_untypeds(base + (4 << 30), base.wrapping_add(1 << 47), 4, 47, |p, b| out.push((p, b)));
        let total: u64 = out.iter().map(|&(_, b)| 1u64 << b).sum();
        assert_eq!(total, (1u64 << 47) - (4 << 30));
        assert!(out.iter().any(|&(p, _)| p == 0), "a block starts at the wrap");
        assert!(out.iter().all(|&(p, b)| p == 0 || p % (1 << b) == 0));
    }
}
