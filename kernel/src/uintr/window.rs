//! The UINTR window's page slots.
//!
//! The CPU reads UPIDs and UITTs by linear address under whatever page
//! tables are loaded: the sender's (SENDUIPI), the receiver's or the
//! kernel's (notification processing). With the skim window, kernel
//! memory is not mapped in user address spaces, so the kernel maps the
//! page of each receiver and UITT object, supervisor-only, into a small
//! window shared by its own tables and every user address space. Each
//! such object holds one slot of the window for its whole life (taken at
//! retype, released when its last cap goes), so every address the kernel
//! hands to the CPU stays valid as long as the object exists.

/// Slots in the window: one page table's worth (2 MiB of addresses).
pub const SLOTS: usize = 512;

/// Which slots are taken.
#[derive(Clone, Debug)]
pub struct Slots {
    used: [u64; SLOTS / 64],
    free: usize,
}

impl Default for Slots {
    fn default() -> Self {
        Self::new()
    }
}

impl Slots {
    pub const fn new() -> Slots {
        Slots { used: [0; SLOTS / 64], free: SLOTS }
    }

    /// Slots not taken.
    pub const fn free(&self) -> usize {
        self.free
    }

    /// Takes the lowest free slot.
    pub fn take(&mut self) -> Option<usize> {
        let (word, bits) = self.used.iter_mut().enumerate().find(|(_, bits)| **bits != u64::MAX)?;
        let bit = bits.trailing_ones() as usize;
        *bits |= 1 << bit;
        self.free -= 1;
        Some(word * 64 + bit)
    }

    /// Returns `slot`; releasing a free slot is a kernel bug.
    pub fn release(&mut self, slot: usize) {
        let (word, bit) = (slot / 64, slot % 64);
        assert!(self.used[word] & 1 << bit != 0, "UINTR window slot {slot} released twice");
        self.used[word] &= !(1 << bit);
        self.free += 1;
    }

    pub fn is_taken(&self, slot: usize) -> bool {
        self.used[slot / 64] & 1 << (slot % 64) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn takes_every_slot_once_then_refuses() {
        let mut s = Slots::new();
        for expected in 0..SLOTS {
            assert_eq!(s.take(), Some(expected));
        }
        assert_eq!((s.take(), s.free()), (None, 0));
        s.release(300);
        assert_eq!((s.free(), s.take()), (1, Some(300)));
    }

    #[test]
    #[should_panic(expected = "released twice")]
    fn double_release_is_caught() {
        let mut s = Slots::new();
        let slot = s.take().unwrap();
        s.release(slot);
        s.release(slot);
    }

    proptest! {
        /// Against a set: taken slots are distinct, the free count agrees,
        /// and a slot is handed out only while not taken.
        #[test]
        fn agrees_with_a_set(ops in proptest::collection::vec(any::<(bool, u16)>(), 1..2000)) {
            let mut s = Slots::new();
            let mut model = std::collections::BTreeSet::new();
            for (take, pick) in ops {
                if take || model.is_empty() {
                    match s.take() {
                        Some(slot) => prop_assert!(model.insert(slot), "slot {} handed out twice", slot),
                        None => prop_assert_eq!(model.len(), SLOTS),
                    }
                } else {
                    let slot = *model.iter().nth(pick as usize % model.len()).unwrap();
                    model.remove(&slot);
                    s.release(slot);
                }
                prop_assert_eq!(s.free(), SLOTS - model.len());
                prop_assert!((0..SLOTS).all(|i| s.is_taken(i) == model.contains(&i)));
            }
        }
    }
}
