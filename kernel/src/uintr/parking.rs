//! A receiver's UPID while its thread is not running, on the hardware
//! path (Linux's scheme; `docs/uintr.md`). Three modes:
//! - running (the thread's state is on the CPU): NV = the notification
//!   vector, SN clear, so the CPU moves posts into UIRR by itself;
//! - parked runnable (preempted): SN set, so posts collect in PIR without
//!   an interrupt until the thread is switched in;
//! - parked blocked (the thread waits in the kernel): NV = the kernel's
//!   wake vector, SN clear, so the first post interrupts the kernel, which
//!   wakes the thread.
//!
//! These are the transitions the kernel makes (`uintr::switch`);
//! the tests run them on a model of up to four CPUs, with interrupts that
//! arrive late and a receiver that moves between CPUs, and hold them to
//! three promises: no post is lost, none is delivered twice, and a
//! receiver blocked with a post pending is always woken.

use super::format::Upid;

/// The two vectors a UPID can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vectors {
    /// UINV: consumed by the CPU's notification processing.
    pub notification: u8,
    /// An ordinary interrupt to the kernel.
    pub wake: u8,
}

/// The thread stops running (`blocked`: it waits in the kernel, else it
/// was preempted). Returns whether the kernel must send itself the wake
/// vector: something was posted that no wake interrupt will announce
/// (the notification it caused went to the running mode's vector).
pub fn park(upid: &mut Upid, blocked: bool, vectors: Vectors, ndst: u32) -> bool {
    if !blocked {
        upid.set_sn(true);
        return false;
    }
    upid.set_nv(vectors.wake);
    upid.set_ndst(ndst);
    upid.set_sn(false);
    upid.pir != 0
}

/// The thread is switched in. Returns whether the kernel must send itself
/// the notification vector, to be taken once the thread is in user mode:
/// posts were made while it was parked (or a notification for it was
/// consumed while another thread's state was loaded).
pub fn resume(upid: &mut Upid, vectors: Vectors, ndst: u32) -> bool {
    upid.set_nv(vectors.notification);
    upid.set_ndst(ndst);
    upid.set_sn(false);
    upid.pir != 0 || upid.on()
}

/// The thread, switched out (preempted, or `blocked` in the kernel), is
/// moved to the CPU whose APIC ID is `ndst`, before it runs there (an
/// affinity change). Returns whether a blocked receiver has posts and is
/// to be woken now: a wake interrupt sent before the move went to the old
/// CPU, which no longer lists the thread.
///
/// The kernel lists the thread with the new CPU's sleepers first, then
/// calls this: a post that races the move either reads the new NDST (and
/// interrupts the CPU that lists the thread) or happened before the PIR
/// check here.
pub fn migrate(upid: &mut Upid, blocked: bool, ndst: u32) -> bool {
    upid.set_ndst(ndst);
    blocked && wake(upid)
}

/// The wake vector arrived. Returns whether this parked-blocked receiver
/// has posts, in which case its thread is to be woken and it stops
/// interrupting the kernel (SN set; PIR stays for the switch-in).
pub fn wake(upid: &mut Upid) -> bool {
    if upid.pir == 0 {
        return false;
    }
    upid.set_sn(true);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uintr::model::{post, process_notification, UintrState};
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};

    const VECTORS: Vectors = Vectors { notification: 0xec, wake: 0xed };
    const MAX_CPUS: usize = 4;

    fn apic_id(cpu: usize) -> u32 {
        0x100 + cpu as u32
    }

    #[test]
    fn parking_and_resuming_set_the_fields() {
        let this_cpu = apic_id(0);
        let mut upid = Upid::default();
        assert!(!park(&mut upid, false, VECTORS, this_cpu));
        assert!(upid.sn());
        assert!(!post(&mut upid, 3), "a preempted receiver is not notified");
        assert!(resume(&mut upid, VECTORS, this_cpu), "its post is re-sent on switch-in");
        assert!(!upid.sn() && upid.nv() == 0xec && upid.ndst() == this_cpu);
        upid.pir = 0;
        assert!(!park(&mut upid, true, VECTORS, this_cpu));
        assert!(!upid.sn() && upid.nv() == 0xed);
        assert!(post(&mut upid, 4), "a blocked receiver's first post interrupts the kernel");
        assert!(wake(&mut upid) && upid.sn());
        assert!(!wake(&mut Upid::default()), "nothing posted: nothing to wake");
    }

    #[test]
    fn migrating_names_the_new_cpu_and_wakes_a_blocked_receiver_with_posts() {
        let mut upid = Upid::default();
        park(&mut upid, true, VECTORS, apic_id(0));
        assert!(!migrate(&mut upid, true, apic_id(2)), "nothing posted: it stays asleep");
        assert_eq!(upid.ndst(), apic_id(2));
        assert!(!upid.sn(), "still interrupting the kernel, now on the new CPU");
        assert!(post(&mut upid, 5));
        assert!(migrate(&mut upid, true, apic_id(1)), "posted before the move: woken by it");
        assert!(upid.sn() && upid.ndst() == apic_id(1));
        let mut preempted = Upid::default();
        park(&mut preempted, false, VECTORS, apic_id(0));
        assert!(!post(&mut preempted, 6) && !migrate(&mut preempted, false, apic_id(3)));
        assert!(preempted.sn(), "a preempted receiver's posts keep collecting");
    }

    /// Ways to get the rules wrong; the simulation must catch each.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Mutation {
        MigrateKeepsNdst,
        MigrateNeverWakes,
        ResumeKeepsNdst,
        ParkNeverWakes,
    }

    /// The rules as the simulated kernel applies them, possibly broken.
    #[derive(Clone, Copy)]
    struct Rules(Option<Mutation>);

    impl Rules {
        fn park(self, upid: &mut Upid, blocked: bool, ndst: u32) -> bool {
            park(upid, blocked, VECTORS, ndst) && self.0 != Some(Mutation::ParkNeverWakes)
        }
        fn resume(self, upid: &mut Upid, ndst: u32) -> bool {
            let old = upid.ndst();
            let resend = resume(upid, VECTORS, ndst);
            if self.0 == Some(Mutation::ResumeKeepsNdst) {
                upid.set_ndst(old);
            }
            resend
        }
        fn migrate(self, upid: &mut Upid, blocked: bool, ndst: u32) -> bool {
            let old = upid.ndst();
            let woken = migrate(upid, blocked, ndst);
            if self.0 == Some(Mutation::MigrateKeepsNdst) {
                upid.set_ndst(old);
            }
            woken && self.0 != Some(Mutation::MigrateNeverWakes)
        }
    }

    /// The receiver's thread.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Thread {
        Running,
        Preempted,
        Blocked,
    }

    #[derive(Clone, Copy, Debug)]
    enum Event {
        /// A thread in user mode on some CPU sends the receiver `vector`
        /// (the receiver itself, or anyone else).
        Send(u8),
        /// A CPU, in user mode, takes the interrupts pending in its local
        /// APIC (they may arrive arbitrarily late).
        TakeInterrupts(usize),
        /// The running receiver blocks, or is preempted; another thread
        /// runs on its CPU.
        Block,
        Preempt,
        /// The receiver, runnable, is switched in on its CPU.
        SwitchIn,
        /// Something else (a notification from elsewhere, say) makes the
        /// blocked receiver runnable.
        WokenOtherwise,
        /// The switched-out receiver is moved to another CPU.
        Migrate(usize),
    }

    fn event(cpus: usize) -> impl Strategy<Value = Event> {
        prop_oneof![
            3 => (0u8..64).prop_map(Event::Send),
            3 => (0..cpus).prop_map(Event::TakeInterrupts),
            1 => Just(Event::Block),
            1 => Just(Event::Preempt),
            2 => Just(Event::SwitchIn),
            1 => Just(Event::WokenOtherwise),
            1 => (0..cpus).prop_map(Event::Migrate),
        ]
    }

    /// Some CPUs, one receiver, everyone else as the other threads.
    struct Machine {
        rules: Rules,
        upid: Upid,
        /// The receiver's UIRR and UIF (always set: it wants interrupts).
        state: UintrState,
        thread: Thread,
        /// The CPU the receiver runs on, or would run on.
        cpu: usize,
        /// The CPU whose list of parked-blocked receivers holds it.
        listed_on: Option<usize>,
        /// Vectors pending in each CPU's local APIC.
        pending: Vec<Vec<u8>>,
        /// Vectors sent and not yet delivered to the receiver's handler.
        undelivered: u64,
    }

    impl Machine {
        fn new(rules: Rules, cpus: usize) -> Self {
            let mut m = Machine {
                rules,
                upid: Upid::default(),
                state: UintrState { uif: true, ..Default::default() },
                thread: Thread::Running,
                cpu: 0,
                listed_on: None,
                pending: vec![Vec::new(); cpus],
                undelivered: 0,
            };
            rules.resume(&mut m.upid, apic_id(0));
            m
        }

        fn interrupt(&mut self, apic: u32, vector: u8) -> Result<(), TestCaseError> {
            let cpu = (apic - apic_id(0)) as usize;
            prop_assert!(cpu < self.pending.len(), "an interrupt to a CPU that does not exist");
            if !self.pending[cpu].contains(&vector) {
                self.pending[cpu].push(vector);
            }
            Ok(())
        }

        fn take_interrupts(&mut self, cpu: usize) -> Result<(), TestCaseError> {
            let running_here = self.thread == Thread::Running && self.cpu == cpu;
            for vector in core::mem::take(&mut self.pending[cpu]) {
                if vector == VECTORS.notification {
                    // With another thread's (neutral) state loaded, the
                    // CPU processes a UPID nobody posts to.
                    if running_here {
                        process_notification(&mut self.upid, &mut self.state);
                    }
                } else if vector == VECTORS.wake && self.listed_on == Some(cpu) && wake(&mut self.upid) {
                    self.listed_on = None;
                    if self.thread == Thread::Blocked {
                        self.thread = Thread::Preempted;
                    }
                }
            }
            if running_here {
                // The CPU delivers everything recognised (UIF is set again
                // by each handler's UIRET).
                let delivered = core::mem::take(&mut self.state.uirr);
                prop_assert_eq!(delivered & !self.undelivered, 0, "a vector delivered twice");
                self.undelivered &= !delivered | self.upid.pir;
            }
            Ok(())
        }

        fn step(&mut self, e: Event) -> Result<(), TestCaseError> {
            let rules = self.rules;
            match e {
                Event::Send(v) => {
                    if post(&mut self.upid, v) {
                        if self.thread == Thread::Running {
                            prop_assert_eq!(self.upid.ndst(), apic_id(self.cpu), "a running receiver's notification went elsewhere");
                        }
                        self.interrupt(self.upid.ndst(), self.upid.nv())?;
                    }
                    self.undelivered |= 1 << v;
                }
                Event::TakeInterrupts(cpu) => self.take_interrupts(cpu)?,
                Event::Block | Event::Preempt if self.thread == Thread::Running => {
                    let blocked = matches!(e, Event::Block);
                    self.thread = if blocked { Thread::Blocked } else { Thread::Preempted };
                    if blocked {
                        self.listed_on = Some(self.cpu);
                    }
                    if rules.park(&mut self.upid, blocked, apic_id(self.cpu)) {
                        self.interrupt(apic_id(self.cpu), VECTORS.wake)?;
                    }
                }
                Event::SwitchIn if self.thread == Thread::Preempted => {
                    self.thread = Thread::Running;
                    self.listed_on = None;
                    if rules.resume(&mut self.upid, apic_id(self.cpu)) {
                        self.interrupt(apic_id(self.cpu), VECTORS.notification)?;
                    }
                }
                Event::WokenOtherwise if self.thread == Thread::Blocked => {
                    self.thread = Thread::Preempted;
                    self.listed_on = None;
                }
                Event::Migrate(cpu) if self.thread != Thread::Running => {
                    let blocked = self.thread == Thread::Blocked;
                    self.cpu = cpu;
                    if blocked {
                        self.listed_on = Some(cpu);
                    }
                    if rules.migrate(&mut self.upid, blocked, apic_id(cpu)) {
                        self.thread = Thread::Preempted;
                        self.listed_on = None;
                    }
                }
                _ => {}
            }
            Ok(())
        }
    }

    /// Whatever the order of sends, switches, migrations and late
    /// interrupts: no post vanishes or arrives twice; once every CPU has
    /// taken its pending interrupts, a running receiver has received
    /// everything posted to it and a blocked one has nothing posted (it
    /// would have been woken); and when the receiver finally runs, every
    /// vector sent has been delivered.
    fn simulate(rules: Rules, cpus: usize, events: &[Event]) -> Result<(), TestCaseError> {
        let mut m = Machine::new(rules, cpus);
        let take_all = |m: &mut Machine| (0..cpus).try_for_each(|cpu| m.take_interrupts(cpu));
        for &e in events {
            m.step(e)?;
            prop_assert_eq!(m.undelivered & !(m.upid.pir | m.state.uirr), 0, "a post vanished");
            if let Event::TakeInterrupts(0) = e {
                // Every CPU takes its interrupts, after the first.
                take_all(&mut m)?;
                match m.thread {
                    Thread::Running => prop_assert_eq!((m.upid.pir, m.undelivered), (0, 0), "a running receiver missed a post"),
                    Thread::Blocked => prop_assert_eq!(m.upid.pir, 0, "a receiver sleeps with a post pending"),
                    Thread::Preempted => {}
                }
            }
        }
        // The receiver gets a CPU back: everything arrives.
        m.step(Event::WokenOtherwise)?;
        m.step(Event::SwitchIn)?;
        take_all(&mut m)?;
        prop_assert_eq!(m.thread, Thread::Running);
        prop_assert_eq!(m.undelivered, 0, "a post never arrived");
        Ok(())
    }

    fn scenario() -> impl Strategy<Value = (usize, Vec<Event>)> {
        (1..=MAX_CPUS).prop_flat_map(|cpus| (Just(cpus), proptest::collection::vec(event(cpus), 1..300)))
    }

    proptest! {
        #[test]
        fn no_post_is_lost_or_duplicated_and_blocked_receivers_wake((cpus, events) in scenario()) {
            simulate(Rules(None), cpus, &events)?;
        }
    }

    /// The simulation is strong enough to matter: each broken rule loses a
    /// post, or leaves a receiver asleep, in some run it generates.
    #[test]
    fn broken_rules_are_caught() {
        for mutation in [Mutation::MigrateKeepsNdst, Mutation::MigrateNeverWakes, Mutation::ResumeKeepsNdst, Mutation::ParkNeverWakes] {
            let mut runner = TestRunner::new_with_rng(
                Config { cases: 2000, failure_persistence: None, ..Config::default() },
                proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
            );
            let outcome = runner.run(&scenario(), |(cpus, events)| simulate(Rules(Some(mutation)), cpus, &events));
            assert!(outcome.is_err(), "{mutation:?} went unnoticed");
        }
    }
}
