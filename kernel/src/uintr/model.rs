//! A thread's user-interrupt state and the architectural operations on
//! it, as Intel defines them: what the CPU does on the hardware path and
//! what the kernel does for it on the fallback path.

use super::format::Upid;
use crate::cap::is_canonical;

/// The per-thread registers of UINTR (the IA32_UINTR_* MSRs and UIF):
/// what the kernel saves and restores on every switch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UintrState {
    /// IA32_UINTR_HANDLER.
    pub handler: u64,
    /// IA32_UINTR_STACKADJUST: bit 0 set, load RSP with it (bit 0
    /// cleared); bit 0 clear, subtract it from RSP.
    pub stack_adjust: u64,
    /// IA32_UINTR_RR: the user interrupts recognised and not yet delivered.
    pub uirr: u64,
    /// The user-interrupt flag: delivery is enabled.
    pub uif: bool,
}

impl UintrState {
    /// Whether a user interrupt is recognised and delivery enabled (the
    /// caller knows the thread is going to user mode).
    pub const fn may_deliver(&self) -> bool {
        self.uirr != 0 && self.uif
    }
}

/// SENDUIPI's locked update of the receiver's UPID: the vector is posted
/// whatever the flags say; the result says whether the CPU then sends
/// the notification IPI (vector NV to NDST), which it does only when
/// notifications are not suppressed and none is outstanding.
pub fn post(upid: &mut Upid, vector: u8) -> bool {
    upid.pir |= 1u64 << (vector & 63);
    let notify = !upid.sn() && !upid.on();
    if notify {
        upid.set_on(true);
    }
    notify
}

/// Notification processing (an interrupt with vector UINV arrived): the
/// outstanding notification is consumed and every posted vector moves
/// into UIRR.
pub fn process_notification(upid: &mut Upid, state: &mut UintrState) {
    upid.set_on(false);
    state.uirr |= core::mem::take(&mut upid.pir);
}

/// RFLAGS bits.
const TF: u64 = 1 << 8;
const RF: u64 = 1 << 16;
/// The RFLAGS bits UIRET restores (CF, PF, AF, ZF, SF, TF, DF, OF, NT,
/// RF, AC, ID); the rest keep their current values.
const UIRET_RFLAGS: u64 = 0x25_4dd5;

/// One delivery: what the CPU writes and where it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub vector: u8,
    /// The new stack pointer; `frame` is stored there, lowest address first.
    pub rsp: u64,
    /// The vector, the interrupted RIP, RFLAGS and RSP.
    pub frame: [u64; 4],
    /// The handler, where execution continues.
    pub rip: u64,
    /// RFLAGS in the handler: TF and RF cleared.
    pub rflags: u64,
}

/// The delivery that is due for a thread interrupted at `rip` with
/// `rflags` and `rsp`, if any: UIRR must be non-zero and UIF set (the
/// caller knows the thread is about to run in user mode). Pure: the
/// frame may still fail to be written; [`commit`] applies it.
pub fn due(state: &UintrState, rip: u64, rflags: u64, rsp: u64) -> Option<Delivery> {
    if !state.may_deliver() {
        return None;
    }
    let vector = 63 - state.uirr.leading_zeros() as u8;
    let adjusted = if state.stack_adjust & 1 != 0 { state.stack_adjust & !1 } else { rsp.wrapping_sub(state.stack_adjust) };
    let top = adjusted & !0xf;
    Some(Delivery { vector, rsp: top.wrapping_sub(32), frame: [vector as u64, rip, rflags, rsp], rip: state.handler, rflags: rflags & !(TF | RF) })
}

/// The state after `delivery` was made: its vector is no longer pending
/// and further deliveries wait for UIRET (or STUI).
pub fn commit(state: &mut UintrState, delivery: &Delivery) {
    state.uirr &= !(1u64 << delivery.vector);
    state.uif = false;
}

/// Why UIRET did not return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UiretFault {
    /// The RIP on the stack is not canonical: #GP(0).
    NonCanonicalRip,
}

/// UIRET with `popped` = the three words at RSP (RIP, RFLAGS, RSP) and the
/// thread's current RFLAGS: the registers it continues with. UIF is set.
pub fn uiret(state: &mut UintrState, current_rflags: u64, popped: [u64; 3]) -> Result<(u64, u64, u64), UiretFault> {
    let [rip, rflags, rsp] = popped;
    if !is_canonical(rip) {
        return Err(UiretFault::NonCanonicalRip);
    }
    state.uif = true;
    Ok((rip, (current_rflags & !UIRET_RFLAGS) | (rflags & UIRET_RFLAGS), rsp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sn_suppresses_the_notification_but_the_vector_is_posted() {
        let mut upid = Upid::default();
        upid.set_sn(true);
        assert!(!post(&mut upid, 5));
        assert_eq!((upid.pir, upid.on()), (1 << 5, false));
    }

    #[test]
    fn an_outstanding_notification_coalesces_later_sends() {
        let mut upid = Upid::default();
        assert!(post(&mut upid, 1));
        assert!(!post(&mut upid, 63), "ON is set: no second IPI");
        let mut state = UintrState::default();
        process_notification(&mut upid, &mut state);
        assert_eq!((state.uirr, upid.pir, upid.on()), (1 << 1 | 1 << 63, 0, false));
        assert!(post(&mut upid, 2), "after processing, the next send notifies again");
    }

    #[test]
    fn delivery_frame_with_both_stack_adjust_modes() {
        let mut state = UintrState { handler: 0x40_1000, stack_adjust: 128, uirr: 1 << 7 | 1 << 3, uif: true };
        let d = due(&state, 0x40_2000, 0x202 | TF, 0x7fff_1238).unwrap();
        // 0x7fff1238 - 128 = 0x7fff11b8, aligned down to 0x7fff11b0, then
        // four words: vector 7 (the highest), rip, rflags, the old rsp.
        assert_eq!(d, Delivery { vector: 7, rsp: 0x7fff_1190, frame: [7, 0x40_2000, 0x302, 0x7fff_1238], rip: 0x40_1000, rflags: 0x202 });
        commit(&mut state, &d);
        assert_eq!((state.uirr, state.uif), (1 << 3, false));
        assert_eq!(due(&state, 0, 0, 0), None, "UIF clear: nothing until UIRET or STUI");
        // Bit 0 set: the stack is loaded, not adjusted.
        state.uif = true;
        state.stack_adjust = 0x9000_0001;
        assert_eq!(due(&state, 0, 0x202, 0x7fff_1238).unwrap().rsp, 0x9000_0000 - 32);
    }

    #[test]
    fn uiret_restores_and_sets_uif() {
        let mut state = UintrState::default();
        // Only the UIRET-restored flags come from the stack; IF and the
        // always-one bit 1 stay.
        assert_eq!(uiret(&mut state, 0x202, [0x40_2000, 0x8d5, 0x7fff_1238]), Ok((0x40_2000, 0xad7, 0x7fff_1238)));
        assert!(state.uif);
        let mut state = UintrState::default();
        assert_eq!(uiret(&mut state, 0x202, [0x8000_0000_0000, 0, 0]), Err(UiretFault::NonCanonicalRip));
        assert!(!state.uif, "a faulting UIRET changes nothing");
    }

    #[derive(Clone, Debug)]
    enum Op {
        Send(u8),
        Suppress(bool),
        /// The notification interrupt (or the kernel's check for it on
        /// the way back to user mode) is taken.
        Notify,
        Deliver,
        Uiret,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![(0u8..64).prop_map(Op::Send), any::<bool>().prop_map(Op::Suppress), Just(Op::Notify), Just(Op::Deliver), Just(Op::Uiret),]
    }

    proptest! {
        /// Against a model that keeps just the set of vectors sent and not
        /// yet delivered: nothing is lost or delivered twice, deliveries
        /// come highest vector first, and an IPI is sent exactly when
        /// nothing is outstanding and notifications are not suppressed.
        #[test]
        fn no_send_is_lost_or_delivered_twice(ops in proptest::collection::vec(op(), 1..200)) {
            let (mut upid, mut state) = (Upid::default(), UintrState { uif: true, ..Default::default() });
            let mut pending = 0u64;
            let mut notification_in_flight = false;
            for op in ops {
                match op {
                    Op::Send(v) => {
                        let expect_ipi = !upid.sn() && !upid.on();
                        prop_assert_eq!(post(&mut upid, v), expect_ipi);
                        notification_in_flight |= expect_ipi;
                        pending |= 1 << v;
                    }
                    Op::Suppress(sn) => upid.set_sn(sn),
                    Op::Notify => {
                        if notification_in_flight || upid.on() {
                            process_notification(&mut upid, &mut state);
                            notification_in_flight = false;
                        }
                    }
                    Op::Deliver => {
                        if let Some(d) = due(&state, 0x1000, 0x202, 0x8000) {
                            prop_assert!(pending & (1 << d.vector) != 0, "delivered a vector not sent");
                            prop_assert_eq!(d.vector as u32, 63 - state.uirr.leading_zeros(), "not the highest");
                            commit(&mut state, &d);
                            // A resend of the vector posted after it was
                            // recognised is still to come.
                            if upid.pir & (1 << d.vector) == 0 {
                                pending &= !(1 << d.vector);
                            }
                        }
                    }
                    Op::Uiret => {
                        let _ = uiret(&mut state, 0x202, [0x1000, 0x202, 0x8000]);
                    }
                }
                // Everything sent is somewhere: posted, recognised, or gone.
                prop_assert_eq!(upid.pir | state.uirr, pending);
            }
            // Draining: with notifications allowed, everything left is
            // delivered, each vector once per wave, highest first.
            upid.set_sn(false);
            for _ in 0..2 {
                process_notification(&mut upid, &mut state);
                let _ = uiret(&mut state, 0x202, [0x1000, 0x202, 0x8000]);
                let mut last = 64u8;
                while let Some(d) = due(&state, 0x1000, 0x202, 0x8000) {
                    prop_assert!(d.vector < last);
                    last = d.vector;
                    commit(&mut state, &d);
                    let _ = uiret(&mut state, 0x202, [0x1000, 0x202, 0x8000]);
                }
            }
            prop_assert_eq!(upid.pir | state.uirr, 0);
        }
    }
}
