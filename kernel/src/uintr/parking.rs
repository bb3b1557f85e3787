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
//! These are the transitions the kernel makes (`object::uintr_switch`);
//! the tests run them on a model of one CPU with interrupts that arrive
//! late, and hold them to two promises: no post is lost, and a receiver
//! blocked with a post pending is always woken.

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

    const VECTORS: Vectors = Vectors { notification: 0xec, wake: 0xed };
    const THIS_CPU: u32 = 0x100;

    #[test]
    fn parking_and_resuming_set_the_fields() {
        let mut upid = Upid::default();
        assert!(!park(&mut upid, false, VECTORS, THIS_CPU));
        assert!(upid.sn());
        assert!(!post(&mut upid, 3), "a preempted receiver is not notified");
        assert!(resume(&mut upid, VECTORS, THIS_CPU), "its post is re-sent on switch-in");
        assert!(!upid.sn() && upid.nv() == 0xec && upid.ndst() == THIS_CPU);
        upid.pir = 0;
        assert!(!park(&mut upid, true, VECTORS, THIS_CPU));
        assert!(!upid.sn() && upid.nv() == 0xed);
        assert!(post(&mut upid, 4), "a blocked receiver's first post interrupts the kernel");
        assert!(wake(&mut upid) && upid.sn());
        assert!(!wake(&mut Upid::default()), "nothing posted: nothing to wake");
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
        /// Whoever runs in user mode sends the receiver `vector` (the
        /// receiver itself, or another thread while it is switched out).
        Send(u8),
        /// The CPU, in user mode, takes the interrupts pending in its
        /// local APIC (they may arrive arbitrarily late).
        TakeInterrupts,
        /// The running receiver blocks, or is preempted; another thread
        /// runs.
        Block,
        Preempt,
        /// The receiver, runnable, is switched in.
        SwitchIn,
        /// Something else (a notification from elsewhere, say) makes the
        /// blocked receiver runnable.
        WokenOtherwise,
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            3 => (0u8..64).prop_map(Event::Send),
            3 => Just(Event::TakeInterrupts),
            1 => Just(Event::Block),
            1 => Just(Event::Preempt),
            2 => Just(Event::SwitchIn),
            1 => Just(Event::WokenOtherwise),
        ]
    }

    /// One CPU, one receiver, everyone else as one other thread.
    struct Cpu {
        upid: Upid,
        /// The receiver's UIRR and UIF (always set: it wants interrupts).
        state: UintrState,
        thread: Thread,
        sleeping: bool,
        /// Vectors pending in the local APIC.
        pending: Vec<u8>,
        /// Vectors sent and not yet delivered to the receiver's handler.
        undelivered: u64,
    }

    impl Cpu {
        fn interrupt_self(&mut self, vector: u8) {
            if !self.pending.contains(&vector) {
                self.pending.push(vector);
            }
        }

        fn step(&mut self, e: Event) {
            match e {
                Event::Send(v) => {
                    if post(&mut self.upid, v) {
                        assert_eq!(self.upid.ndst(), THIS_CPU, "a notification to another CPU");
                        self.interrupt_self(self.upid.nv());
                    }
                    self.undelivered |= 1 << v;
                }
                Event::TakeInterrupts => {
                    for vector in core::mem::take(&mut self.pending) {
                        if vector == VECTORS.notification {
                            // With another thread's (neutral) state loaded,
                            // the CPU processes a UPID nobody posts to.
                            if self.thread == Thread::Running {
                                process_notification(&mut self.upid, &mut self.state);
                            }
                        } else if vector == VECTORS.wake && self.sleeping && wake(&mut self.upid) {
                            self.sleeping = false;
                            if self.thread == Thread::Blocked {
                                self.thread = Thread::Preempted;
                            }
                        }
                    }
                    if self.thread == Thread::Running {
                        // The CPU delivers everything recognised (UIF is
                        // set again by each handler's UIRET).
                        self.undelivered &= !core::mem::take(&mut self.state.uirr) | self.upid.pir;
                    }
                }
                Event::Block | Event::Preempt if self.thread == Thread::Running => {
                    let blocked = matches!(e, Event::Block);
                    self.thread = if blocked { Thread::Blocked } else { Thread::Preempted };
                    if park(&mut self.upid, blocked, VECTORS, THIS_CPU) {
                        self.interrupt_self(VECTORS.wake);
                    }
                    self.sleeping = blocked;
                }
                Event::SwitchIn if self.thread == Thread::Preempted => {
                    self.thread = Thread::Running;
                    self.sleeping = false;
                    if resume(&mut self.upid, VECTORS, THIS_CPU) {
                        self.interrupt_self(VECTORS.notification);
                    }
                }
                Event::WokenOtherwise if self.thread == Thread::Blocked => self.thread = Thread::Preempted,
                _ => {}
            }
        }
    }

    proptest! {
        /// Whatever the order of sends, switches and late interrupts: once
        /// the pending interrupts are taken, a running receiver has
        /// received everything posted to it and a blocked one has nothing
        /// posted (it would have been woken); and when the receiver
        /// finally runs, every vector sent has been delivered.
        #[test]
        fn no_post_is_lost_and_blocked_receivers_wake(events in proptest::collection::vec(event(), 1..300)) {
            let mut cpu = Cpu {
                upid: Upid::default(),
                state: UintrState { uif: true, ..Default::default() },
                thread: Thread::Running,
                sleeping: false,
                pending: Vec::new(),
                undelivered: 0,
            };
            resume(&mut cpu.upid, VECTORS, THIS_CPU);
            for e in events {
                cpu.step(e);
                prop_assert_eq!(cpu.undelivered & !(cpu.upid.pir | cpu.state.uirr), 0, "a post vanished");
                if matches!(e, Event::TakeInterrupts) {
                    match cpu.thread {
                        Thread::Running => prop_assert_eq!((cpu.upid.pir, cpu.undelivered), (0, 0), "a running receiver missed a post"),
                        Thread::Blocked => prop_assert_eq!(cpu.upid.pir, 0, "a receiver sleeps with a post pending"),
                        Thread::Preempted => {}
                    }
                }
            }
            // The receiver gets the CPU back: everything arrives.
            cpu.step(Event::WokenOtherwise);
            cpu.step(Event::SwitchIn);
            cpu.step(Event::TakeInterrupts);
            prop_assert_eq!(cpu.thread, Thread::Running);
            prop_assert_eq!(cpu.undelivered, 0);
        }
    }
}
