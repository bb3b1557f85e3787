//! seL4's domain schedule: the table of (domain, duration) entries that the
//! scheduler walks, the entry it is at, the entry it wraps back to, and
//! the ticks the current domain has left.
//!
//! An entry whose domain and duration are both zero is an end marker: the
//! walk goes back to the start entry when it reaches one or runs off the
//! table. The table's last entry can never be configured, so every walk
//! meets an end marker. Durations are kernel timer ticks; a duration must
//! fit in 56 bits (seL4 packs the domain into the top 8 bits of a word).
//!
//! At boot the first entry is domain 0 for the longest duration and the
//! current domain's time is that duration, so a kernel whose schedule is
//! never configured stays in domain 0.

/// `KernelNumDomains`.
pub const NUM_DOMAINS: usize = crate::config::NUM_DOMAINS;
/// `KernelNumDomainSchedules`: entries in the table.
pub const SCHEDULE_LENGTH: usize = crate::config::NUM_DOMAIN_SCHEDULES;
/// The longest duration an entry can hold (56 bits of ticks).
pub const MAX_DURATION: u64 = u64::MAX >> 8;

// The table needs one configurable entry and the end marker after it.
const _: () = assert!(SCHEDULE_LENGTH >= 2 && NUM_DOMAINS >= 1 && NUM_DOMAINS <= 256);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub domain: u8,
    pub duration: u64,
}

impl Entry {
    pub const END_MARKER: Entry = Entry { domain: 0, duration: 0 };

    pub fn is_end_marker(&self) -> bool {
        *self == Entry::END_MARKER
    }
}

pub struct DomainSchedule {
    entries: [Entry; SCHEDULE_LENGTH],
    /// The entry the current domain came from.
    index: usize,
    /// Where the walk goes back to at an end marker.
    start: usize,
    current_domain: u8,
    /// Ticks the current domain has left; zero means a new domain is due
    /// the next time the scheduler chooses a thread.
    time_left: u64,
}

impl Default for DomainSchedule {
    fn default() -> Self {
        Self::new()
    }
}

impl DomainSchedule {
    /// The schedule at boot.
    pub const fn new() -> Self {
        let mut entries = [Entry::END_MARKER; SCHEDULE_LENGTH];
        entries[0] = Entry { domain: 0, duration: MAX_DURATION };
        DomainSchedule { entries, index: 0, start: 0, current_domain: 0, time_left: MAX_DURATION }
    }

    pub fn entry(&self, index: usize) -> Entry {
        self.entries[index]
    }

    pub fn start(&self) -> usize {
        self.start
    }

    pub fn current_domain(&self) -> u8 {
        self.current_domain
    }

    pub fn time_left(&self) -> u64 {
        self.time_left
    }

    /// Whether the current domain's time is up (seL4's `ksDomainTime == 0`).
    #[inline(always)]
    pub fn expired(&self) -> bool {
        self.time_left == 0
    }

    /// Replaces an entry; the caller has checked the index (below the
    /// last entry), the domain and the duration.
    pub fn configure(&mut self, index: usize, entry: Entry) {
        debug_assert!(index < SCHEDULE_LENGTH - 1 && (entry.domain as usize) < NUM_DOMAINS);
        debug_assert!(entry.duration <= MAX_DURATION && !(index == self.start && entry.duration == 0));
        self.entries[index] = entry;
    }

    /// Makes `index` the start entry and ends the current domain at once:
    /// the next choice of thread begins the walk at the new start (from
    /// the second-to-last entry, whose successor is the end marker).
    pub fn set_start(&mut self, index: usize) {
        debug_assert!(!self.entries[index].is_end_marker());
        self.start = index;
        self.time_left = 0;
        self.index = SCHEDULE_LENGTH - 2;
    }

    /// Moves to the next entry (seL4's `nextDomain`).
    pub fn next_domain(&mut self) {
        self.index += 1;
        if self.index == SCHEDULE_LENGTH || self.entries[self.index].is_end_marker() {
            self.index = self.start;
        }
        let e = self.entries[self.index];
        self.current_domain = e.domain;
        self.time_left = e.duration;
    }

    /// One timer tick spent in the current domain; true when that used up
    /// its time. With one domain the time never runs down (as in seL4).
    pub fn tick(&mut self) -> bool {
        if NUM_DOMAINS == 1 || self.time_left == 0 {
            return false;
        }
        self.time_left -= 1;
        self.time_left == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_schedule_is_domain_zero_forever() {
        let mut d = DomainSchedule::new();
        assert_eq!((d.current_domain(), d.time_left(), d.start()), (0, MAX_DURATION, 0));
        assert!(!d.expired());
        assert!(!d.tick());
        assert!(d.entry(SCHEDULE_LENGTH - 1).is_end_marker());
    }

    #[test]
    fn set_start_expires_and_the_walk_restarts_there() {
        let mut d = DomainSchedule::new();
        d.configure(0, Entry { domain: 0, duration: 7 });
        d.set_start(0);
        assert!(d.expired());
        d.next_domain();
        assert_eq!((d.current_domain(), d.time_left()), (0, 7));
        // With one domain the table has two entries; the second is the
        // end marker, so each new domain is the start entry again.
        d.next_domain();
        assert_eq!((d.index, d.time_left()), (0, 7));
    }

    #[test]
    fn the_walk_wraps_at_an_end_marker_and_at_the_table_end() {
        let mut d = DomainSchedule::new();
        d.entries = [Entry::END_MARKER; SCHEDULE_LENGTH];
        d.entries[0] = Entry { domain: 0, duration: 3 };
        d.index = SCHEDULE_LENGTH - 1;
        d.next_domain();
        assert_eq!(d.index, 0);
        d.next_domain();
        assert_eq!((d.index, d.time_left()), (0, 3));
    }
}
