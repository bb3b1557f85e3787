//! User interrupts through this kernel's capability API (its extension;
//! stock seL4 has none): every vector delivered highest first, senders
//! without the right refused with the CPU's faults, revocation stopping a
//! sender, a blocked receiver woken, and two threads exchanging many.
//! On CPUs without UINTR the kernel carries the instructions out, so
//! these run the same under TCG.
//!
//! What the tests rely on is what Intel's rules promise on every faithful
//! model, not when our QEMU happens to act. SENDUIPI's notification is an
//! ordinary interrupt through the local APIC, taken at some later
//! instruction boundary (the next translation block on our QEMU, one
//! instruction later on Bochs, after the IPI's latency on hardware), so a
//! test waits for the deliveries it expects, with a bound
//! ([`DELIVERY_SPINS`]), and fails only when they do not come. Vectors are
//! delivered highest first only among those pending together: the order
//! is checked for posts made while the receiver was switched out, which
//! the kernel hands over with one notification when it is switched back
//! in. Each test runs inside [`Case::isolated`], which revokes everything
//! it made whether it passed or failed.

use super::threads::{spawn_with, WorkerSpec};
use super::{ensure, find_untyped, slot, wait_until, Runner, ROOT_NODE};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use sel4::cap::{init, CapRights, Endpoint, Notification, Tcb, UintrReceiver, Uitt, Untyped};
use sel4::invocation::get_mr;
use sel4::uintr;
use sel4::{BootInfo, CapType, MessageInfo, ObjectType};

/// Deliveries seen by the handler, in order.
static ORDER: [AtomicU8; 64] = [const { AtomicU8::new(0xff) }; 64];
static DELIVERED: AtomicUsize = AtomicUsize::new(0);

fn record(vector: u8) {
    let i = DELIVERED.fetch_add(1, Ordering::Relaxed);
    if let Some(slot) = ORDER.get(i) {
        slot.store(vector, Ordering::Relaxed);
    }
}

fn reset_record() {
    DELIVERED.store(0, Ordering::Relaxed);
    ORDER.iter().for_each(|v| v.store(0xff, Ordering::Relaxed));
}

fn delivered() -> usize {
    DELIVERED.load(Ordering::Relaxed)
}

fn ignore(_vector: u8) {}

/// The most spins a test waits for a user interrupt it expects. Far more
/// than any model takes to process a notification (a few instructions on
/// the emulators, microseconds on hardware); about 0.2 s of PAUSEs on a
/// Sapphire Rapids, a fraction of that under TCG. Reached only when a
/// delivery is lost (or on purpose, where a test shows that nothing came).
pub const DELIVERY_SPINS: u64 = 1 << 22;

/// Waits (bounded) until the handler has counted `n` deliveries.
fn await_deliveries(n: usize) -> bool {
    wait_until(|| delivered() >= n, DELIVERY_SPINS)
}

/// A fault message's label for a user exception, and its vector word.
const USER_EXCEPTION: u64 = 3;
const UD: u64 = 6;
const GP: u64 = 13;
const FAULTED: u64 = 0xfa;
const SENT: u64 = 0xd0;

/// Sends user interrupt `index`, then says so on endpoint `arg >> 16`
/// (a cap badged `SENT`).
extern "C" fn sender(arg: u64) -> ! {
    uintr::senduipi(arg & 0xffff);
    Endpoint::from_cptr(arg >> 16).send(MessageInfo::new(0, 0, 0, 0), &[]);
    loop {
        sel4::arch::yield_now();
    }
}

/// Sends every vector through UITT entries 0..64 (entry v sends vector
/// v) in a scrambled order, then says so on endpoint `arg`.
extern "C" fn send_all_64(arg: u64) -> ! {
    for k in 0..64 {
        uintr::senduipi(k * 37 % 64);
    }
    Endpoint::from_cptr(arg).send(MessageInfo::new(0, 0, 0, 0), &[]);
    loop {
        sel4::arch::yield_now();
    }
}

/// A receiver that is preempted rather than blocked: it enables user
/// interrupts and says so on endpoint `arg`; the rootserver, above it in
/// priority, runs and sends it three while it waits in the ready queue;
/// it waits (bounded) for the three to arrive and says so again.
extern "C" fn spinning_receiver(arg: u64) -> ! {
    uintr::stui();
    let ep = Endpoint::from_cptr(arg);
    ep.send(MessageInfo::new(0, 0, 0, 0), &[]);
    await_deliveries(3);
    ep.send(MessageInfo::new(0, 0, 0, 0), &[]);
    loop {
        sel4::arch::yield_now();
    }
}

/// Exchange counts of the two-thread stress test.
static PONGS: AtomicU64 = AtomicU64::new(0);
static PINGS: AtomicU64 = AtomicU64::new(0);
/// Round trips: a million user interrupts in all.
const EXCHANGES: u64 = 500_000;

/// The worker of the exchange: each user interrupt it takes is answered
/// with one to the rootserver (its UITT entry 0), until it has seen them all.
fn pong(_vector: u8) {
    PONGS.fetch_add(1, Ordering::Relaxed);
    uintr::senduipi(0);
}

fn ping(_vector: u8) {
    PINGS.fetch_add(1, Ordering::Relaxed);
}

/// Both threads share one handler function (one per program), told apart
/// by the vector: 1 reaches the worker, 2 the rootserver.
fn exchange_handler(vector: u8) {
    if vector == 1 {
        pong(vector)
    } else {
        ping(vector)
    }
}

/// The exchange worker: enables user interrupts and sleeps on its wake
/// notification (`arg`) between them.
extern "C" fn exchange_worker(arg: u64) -> ! {
    uintr::stui();
    loop {
        Notification::from_cptr(arg).wait();
    }
}

/// Set by the stall watchdog when the exchange stopped moving.
static STALLED: AtomicBool = AtomicBool::new(false);
/// How often the watchdog saw the exchange move (it runs only while both
/// threads sleep, which on our QEMU is never).
static WATCHDOG_CHECKS: AtomicU64 = AtomicU64::new(0);

/// The exchange's watchdog, below both threads in priority: it runs only
/// while both sleep on their notifications. A user interrupt in flight
/// then arrives within a few instructions and wakes one of them; if the
/// count of exchanges does not move for [`DELIVERY_SPINS`] of its own
/// spins, one was lost, and it wakes the rootserver (notification `arg`)
/// to fail the test instead of leaving both asleep for good.
extern "C" fn stall_watchdog(arg: u64) -> ! {
    let progress = || PINGS.load(Ordering::Relaxed) + PONGS.load(Ordering::Relaxed);
    loop {
        let seen = progress();
        WATCHDOG_CHECKS.fetch_add(1, Ordering::Relaxed);
        if !wait_until(|| progress() != seen, DELIVERY_SPINS) {
            STALLED.store(true, Ordering::Relaxed);
            Notification::from_cptr(arg).signal();
            loop {
                sel4::arch::yield_now();
            }
        }
    }
}

/// The objects one UINTR test works with, and the guard that takes them
/// away again: a receiver and a UITT in slots `base` and `base + 1`,
/// minted receiver caps from `base + 2`, anything else the test retypes
/// from `ut` above that.
struct Case {
    ut: Untyped,
    base: u64,
    receiver: UintrReceiver,
    uitt: Uitt,
}

impl Case {
    fn make(&self) -> Result<(), &'static str> {
        self.ut.retype(ObjectType::UintrReceiver, 0, ROOT_NODE, self.base, 1).map_err(|_| "receiver retype failed")?;
        self.ut.retype(ObjectType::Uitt, 0, ROOT_NODE, self.base + 1, 1).map_err(|_| "UITT retype failed")
    }

    /// Entry `index` of the UITT sends `vector` to the receiver, through
    /// a minted copy in slot base + 2 + index.
    fn register(&self, index: u64, vector: u64) -> Result<(), &'static str> {
        let minted = self.base + 2 + index;
        slot(minted).mint(slot(self.receiver), CapRights::ALL, vector).map_err(|_| "minting a vector failed")?;
        self.uitt.register_sender(index, UintrReceiver::from_cptr(minted)).map_err(|_| "RegisterSender failed")
    }

    /// The rootserver as the receiver, with `handler` and a fresh record.
    fn bind_root(&self, handler: fn(u8)) -> Result<(), &'static str> {
        reset_record();
        uintr::set_handler(handler);
        self.receiver.bind_tcb(init::TCB, uintr::handler_entry(), 128).map_err(|_| "BindTCB failed")
    }

    /// Runs `body` (with a fresh receiver and UITT if `objects`), then
    /// cleans up whatever it left, whether it passed or failed: the
    /// body's error if it had one, else the cleanup's.
    fn isolated(&self, objects: bool, body: impl FnOnce() -> Result<(), &'static str>) -> Result<(), &'static str> {
        let outcome = if objects { self.make().and_then(|()| body()) } else { body() };
        let cleanup = self.cleanup();
        outcome.and(cleanup)
    }

    fn run(&self, t: &mut Runner, name: &str, body: impl FnOnce() -> Result<(), &'static str>) {
        t.run(name, || self.isolated(true, body));
    }

    /// [`Case::run`] for a stress test (see `super::STRESS`).
    fn run_stress(&self, t: &mut Runner, name: &str, body: impl FnOnce() -> Result<(), &'static str>) {
        if super::STRESS {
            self.run(t, name, body);
        }
    }

    /// Revoking the untyped deletes every object the test made (workers
    /// included) and every copy of their caps, so the rootserver's TCB
    /// loses its receiver and UITT bindings and the window its slots.
    fn cleanup(&self) -> Result<(), &'static str> {
        uintr::clui();
        uintr::set_handler(ignore);
        STALLED.store(false, Ordering::Relaxed);
        slot(self.ut).revoke().map_err(|_| "cleanup revoke failed")?;
        ensure(init::TCB.unbind_uitt() == Err(sel4::Error::IllegalOperation), "the UITT binding outlived its object")?;
        ensure(sel4::debug::cap_identify(self.base) == Some(CapType::Null), "a slot the test used still holds a cap")
    }
}

/// Whether the kernel has this kernel's user-interrupt objects, found out
/// once by [`probe_uintr_objects`] (stock seL4 has none, and its CPU path
/// does not emulate CLUI and the other instructions either).
static UINTR_OBJECTS: AtomicBool = AtomicBool::new(false);

/// Finds out whether the kernel knows the user-interrupt object types:
/// stock seL4 refuses them as an invalid argument. The probe's object is
/// revoked again. Returns what it found.
pub fn probe_uintr_objects(bi: &BootInfo, ut: Untyped) -> bool {
    let probe = ut.retype(ObjectType::UintrReceiver, 0, ROOT_NODE, bi.empty.start + 64 * 40, 1);
    let _ = slot(ut).revoke();
    let found = probe != Err(sel4::Error::InvalidArgument);
    UINTR_OBJECTS.store(found, Ordering::Relaxed);
    found
}

pub fn kernel_has_uintr_objects() -> bool {
    UINTR_OBJECTS.load(Ordering::Relaxed)
}

pub fn run(t: &mut Runner, bi: &'static BootInfo) {
    let Some((ut, _)) = find_untyped(bi, 22) else {
        t.run("uintr_untyped_available", || Err("no RAM untyped of 4 MiB or more"));
        return;
    };
    let base = bi.empty.start + 64 * 40;
    // Stock seL4 has no such objects: the same suite runs there without
    // these tests (the host checks that this kernel runs them).
    if !kernel_has_uintr_objects() {
        sel4::println!("uintr: this kernel has no user-interrupt objects (stock seL4): UINTR tests not run");
        return;
    }
    let case = Case { ut, base, receiver: UintrReceiver::from_cptr(base), uitt: Uitt::from_cptr(base + 1) };
    let (receiver, uitt) = (case.receiver, case.uitt);
    let register = |index, vector| case.register(index, vector);

    t.run("uintr_a_failing_test_leaves_nothing_behind", || {
        // A test that fails with everything in use: the rootserver bound
        // as receiver and sender, a vector pending (UIF = 0; the wait lets
        // its notification land, so it sits in UIRR), a worker asleep.
        let (worker, sleep) = (base + 100, base + 101);
        let failed = case.isolated(true, || {
            case.bind_root(record)?;
            init::TCB.bind_uitt(uitt).map_err(|_| "BindUITT failed")?;
            register(0, 3)?;
            uintr::senduipi(0);
            ensure(!await_deliveries(1), "delivered while UIF was clear")?;
            ut.retype(ObjectType::Notification, 0, ROOT_NODE, sleep, 1).map_err(|_| "notification retype failed")?;
            spawn_with(bi, ut, WorkerSpec { tcb_slot: worker, k: 1, prio: 254, fault_ep: 0 }, exchange_worker, sleep)?;
            Err("the deliberate failure")
        });
        ensure(failed == Err("the deliberate failure"), "the failing test's own reason was not its result")?;
        ensure(!uintr::testui(), "user interrupts left enabled")?;
        ensure(sel4::debug::cap_identify(worker) == Some(CapType::Null), "the failing test's worker outlived it")?;
        // The next test gets the same slots, bindings and window slots,
        // its interrupts work, and the failed test's pending vector is
        // gone with its receiver.
        case.isolated(true, || {
            case.bind_root(record)?;
            init::TCB.bind_uitt(uitt).map_err(|_| "BindUITT after a failed test failed")?;
            register(0, 4)?;
            uintr::stui();
            uintr::senduipi(0);
            ensure(await_deliveries(1), "a test after a failed one got no user interrupt")?;
            ensure(delivered() == 1 && ORDER[0].load(Ordering::Relaxed) == 4, "the next test saw the failed test's interrupt")
        })
    });

    case.run(t, "uintr_bounded_wait_gives_up_when_nothing_arrives", || {
        case.bind_root(record)?;
        init::TCB.bind_uitt(uitt).map_err(|_| "BindUITT failed")?;
        register(0, 9)?;
        // UIF = 0: the post stays pending, so the wait must end unmet.
        uintr::senduipi(0);
        ensure(!await_deliveries(1), "the wait reported a delivery with user interrupts disabled")?;
        ensure(delivered() == 0, "delivered while UIF was clear")?;
        uintr::stui();
        ensure(await_deliveries(1), "the pending post was not delivered after STUI")?;
        ensure(ORDER[0].load(Ordering::Relaxed) == 9, "the wrong vector was delivered")
    });

    case.run(t, "uintr_all_64_vectors_highest_first", || {
        case.bind_root(record)?;
        init::TCB.bind_uitt(uitt).map_err(|_| "BindUITT failed")?;
        for v in 0..64 {
            register(v, v)?;
        }
        ensure(!uintr::testui(), "a new receiver starts with user interrupts disabled")?;
        // To itself with UIF = 0: nothing is delivered until STUI, then
        // each vector once (in whatever order their notifications came).
        for v in 0..64 {
            uintr::senduipi(v);
        }
        ensure(delivered() == 0, "delivered while UIF was clear")?;
        uintr::stui();
        ensure(await_deliveries(64), "not all 64 vectors were delivered")?;
        ensure(delivered() == 64, "a vector was delivered more than once")?;
        let mut seen = 0u64;
        (0..64).for_each(|i| seen |= 1 << ORDER[i].load(Ordering::Relaxed));
        ensure(seen == u64::MAX, "not every vector was delivered")?;
        ensure(uintr::testui(), "UIRET must leave user interrupts enabled")?;
        // A second send of a vector delivers it again.
        uintr::senduipi(63);
        ensure(await_deliveries(65), "a resent vector was lost")?;
        // From a worker while we wait in the kernel: the 64 posts collect
        // in the UPID and reach UIRR together, so the highest goes first.
        reset_record();
        let (ep, worker) = (base + 100, base + 101);
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, ep, 1).map_err(|_| "endpoint retype failed")?;
        spawn_with(bi, ut, WorkerSpec { tcb_slot: worker, k: 1, prio: 254, fault_ep: 0 }, send_all_64, ep)?;
        Tcb::from_cptr(worker).bind_uitt(uitt).map_err(|_| "BindUITT failed")?;
        Endpoint::from_cptr(ep).recv();
        ensure(await_deliveries(64), "not all 64 posts from the worker were delivered")?;
        ensure(delivered() == 64, "a vector from the worker was delivered more than once")?;
        ensure((0..64).all(|i| ORDER[i].load(Ordering::Relaxed) == 63 - i as u8), "not delivered highest vector first")
    });

    case.run(t, "uintr_api_refusals", || {
        let minted = base + 2;
        ensure(uitt.register_sender(0, receiver) == Err(sel4::Error::InvalidCapability), "an unminted receiver cap registered")?;
        slot(minted).mint(slot(receiver), CapRights::ALL, 1).map_err(|_| "mint failed")?;
        ensure(slot(base + 3).mint(slot(minted), CapRights::ALL, 2) == Err(sel4::Error::IllegalOperation), "a vector re-minted")?;
        ensure(slot(base + 3).mint(slot(receiver), CapRights::ALL, 64) == Err(sel4::Error::IllegalOperation), "vector 64 minted")?;
        let m = UintrReceiver::from_cptr(minted);
        ensure(uitt.register_sender(256, m) == Err(sel4::Error::RangeError), "UITT index 256 accepted")?;
        uitt.register_sender(3, m).map_err(|_| "RegisterSender failed")?;
        ensure(uitt.register_sender(3, m) == Err(sel4::Error::DeleteFirst), "an entry registered twice")?;
        ensure(receiver.bind_tcb(init::TCB, 1 << 47, 0) == Err(sel4::Error::InvalidArgument), "non-canonical handler")?;
        receiver.bind_tcb(init::TCB, uintr::handler_entry(), 128).map_err(|_| "BindTCB failed")?;
        ensure(receiver.bind_tcb(init::TCB, uintr::handler_entry(), 128) == Err(sel4::Error::IllegalOperation), "bound twice")?;
        receiver.unbind_tcb().map_err(|_| "UnbindTCB failed")?;
        ensure(receiver.unbind_tcb() == Err(sel4::Error::IllegalOperation), "unbound twice")?;
        uitt.unregister_sender(3).map_err(|_| "UnregisterSender failed")?;
        uitt.register_sender(3, m).map_err(|_| "the entry is not free again")
    });

    case.run(t, "uintr_senders_without_the_right_fault_and_revocation_stops_one", || {
        case.bind_root(record)?;
        // The worker's fault messages and its report arrive on one
        // endpoint, told apart by badge.
        let (ep, fault_ep, done, worker) = (base + 100, base + 101, base + 102, base + 103);
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, ep, 1).map_err(|_| "endpoint retype failed")?;
        slot(fault_ep).mint(slot(ep), CapRights::ALL, FAULTED).map_err(|_| "mint failed")?;
        slot(done).mint(slot(ep), CapRights::ALL, SENT).map_err(|_| "mint failed")?;
        uintr::stui();
        register(7, 42)?;
        // The worker sends index `index`; the fault it takes, if any.
        let attempt = |index: u64, with_uitt: bool| -> Result<Option<u64>, &'static str> {
            spawn_with(bi, ut, WorkerSpec { tcb_slot: worker, k: 1, prio: 254, fault_ep }, sender, done << 16 | index)?;
            if with_uitt {
                Tcb::from_cptr(worker).bind_uitt(uitt).map_err(|_| "BindUITT failed")?;
            }
            // The worker runs once this thread blocks: it faults or reports.
            let r = Endpoint::from_cptr(ep).recv();
            let fault = match r.badge {
                FAULTED => {
                    ensure(r.info.label() == USER_EXCEPTION, "expected a user-exception fault")?;
                    Some(get_mr(3))
                }
                SENT => None,
                _ => return Err("an unexpected message on the worker's endpoint"),
            };
            slot(worker).delete().map_err(|_| "worker delete failed")?;
            Ok(fault)
        };
        ensure(attempt(7, false)? == Some(UD), "SENDUIPI without a UITT must raise #UD")?;
        ensure(attempt(5, true)? == Some(GP), "an unregistered entry must raise #GP")?;
        ensure(attempt(300, true)? == Some(GP), "an index above UITTSZ must raise #GP")?;
        ensure(attempt(7, true)?.is_none(), "a registered sender was refused")?;
        ensure(await_deliveries(1), "the sender's vector 42 was not delivered")?;
        ensure(delivered() == 1 && ORDER[0].load(Ordering::Relaxed) == 42, "not one delivery of the sender's vector 42")?;
        // Revoking the minted cap (its copy in the UITT goes with it)
        // invalidates the entry.
        slot(base + 2 + 7).revoke().map_err(|_| "revoke failed")?;
        ensure(attempt(7, true)? == Some(GP), "a revoked sender could still send")?;
        // That nothing was posted shows without a timeout: a later send
        // of a lower vector arrives after anything posted before it.
        register(8, 41)?;
        ensure(attempt(8, true)?.is_none(), "a registered sender was refused")?;
        ensure(await_deliveries(2), "the sender's vector 41 was not delivered")?;
        ensure(ORDER[1].load(Ordering::Relaxed) == 41 && delivered() == 2, "a revoked sender's interrupt arrived")
    });

    case.run(t, "uintr_many_senders_one_receiver", || {
        case.bind_root(record)?;
        let (ep, done) = (base + 100, base + 101);
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, ep, 1).map_err(|_| "endpoint retype failed")?;
        slot(done).mint(slot(ep), CapRights::ALL, SENT).map_err(|_| "mint failed")?;
        // Three threads share one UITT; entry k sends vector 10 k.
        for k in 1..=3u64 {
            register(k, 10 * k)?;
        }
        for k in 1..=3u64 {
            let worker = base + 102 + k;
            spawn_with(bi, ut, WorkerSpec { tcb_slot: worker, k: k as usize, prio: 254, fault_ep: 0 }, sender, done << 16 | k)?;
            Tcb::from_cptr(worker).bind_uitt(uitt).map_err(|_| "BindUITT failed")?;
        }
        for _ in 0..3 {
            ensure(Endpoint::from_cptr(ep).recv().badge == SENT, "a sender did not report")?;
        }
        ensure(delivered() == 0, "delivered while UIF was clear")?;
        uintr::stui();
        ensure(await_deliveries(3), "not one delivery per sender")?;
        ensure(delivered() == 3, "a sender's vector was delivered more than once")?;
        ensure((0..3).all(|i| ORDER[i].load(Ordering::Relaxed) == 30 - 10 * i as u8), "the senders' vectors, highest first")
    });

    case.run(t, "uintr_preempted_receiver_takes_posts_when_switched_back_in", || {
        reset_record();
        uintr::set_handler(record);
        let (ep, worker) = (base + 100, base + 101);
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, ep, 1).map_err(|_| "endpoint retype failed")?;
        spawn_with(bi, ut, WorkerSpec { tcb_slot: worker, k: 1, prio: 254, fault_ep: 0 }, spinning_receiver, ep)?;
        receiver.bind_tcb(Tcb::from_cptr(worker), uintr::handler_entry(), 128).map_err(|_| "BindTCB failed")?;
        init::TCB.bind_uitt(uitt).map_err(|_| "BindUITT failed")?;
        for (index, vector) in [(0, 5), (1, 9), (2, 63)] {
            register(index, vector)?;
        }
        // The worker runs while we wait, enables user interrupts and
        // reports; its message brings us back and leaves it preempted.
        Endpoint::from_cptr(ep).recv();
        for index in 0..3 {
            uintr::senduipi(index);
        }
        ensure(delivered() == 0, "delivered to a receiver that was not running")?;
        // Switched back in, it waits for all three before it reports.
        Endpoint::from_cptr(ep).recv();
        ensure(delivered() == 3, "not all three posts arrived once")?;
        ensure(
            [63, 9, 5].iter().enumerate().all(|(i, &v)| ORDER[i].load(Ordering::Relaxed) == v),
            "the posts were not delivered highest vector first",
        )
    });

    t.run("uintr_window_full_is_not_enough_memory", || {
        case.isolated(false, || {
            // Every receiver and UITT takes one of the kernel's 512 UINTR
            // window slots (the hardware path keeps one for itself). Retype
            // them one at a time into fresh slots until the kernel refuses.
            const WINDOW_SLOTS: u64 = 512;
            let first = base + 200;
            let mut made = 0;
            let refusal = loop {
                if made > WINDOW_SLOTS {
                    break Ok(());
                }
                match ut.retype(ObjectType::UintrReceiver, 0, ROOT_NODE, first + made, 1) {
                    Ok(()) => made += 1,
                    Err(e) => break Err(e),
                }
            };
            ensure(refusal == Err(sel4::Error::NotEnoughMemory), "retype went on past the UINTR window's size")?;
            ensure(made == WINDOW_SLOTS || made == WINDOW_SLOTS - 1, "the window held fewer objects than its slots")?;
            ensure(
                ut.retype(ObjectType::Uitt, 0, ROOT_NODE, first + made, 1) == Err(sel4::Error::NotEnoughMemory),
                "a UITT was created with the window full",
            )?;
            // Deleting one gives its slot back.
            slot(first).delete().map_err(|_| "delete failed")?;
            ut.retype(ObjectType::Uitt, 0, ROOT_NODE, first, 1).map_err(|_| "a freed window slot was not reused")
        })
    });

    case.run_stress(t, "uintr_two_threads_exchange_1m_blocked_receiver_woken", || {
        // Each thread: a receiver, a notification that wakes it, and UITT
        // entry 0 sending to the other.
        let (worker_receiver, worker_uitt, wake, worker, root_wake) = (base + 110, base + 111, base + 112, base + 113, base + 114);
        let watchdog = base + 115;
        ut.retype(ObjectType::UintrReceiver, 0, ROOT_NODE, worker_receiver, 1).map_err(|_| "receiver retype failed")?;
        ut.retype(ObjectType::Uitt, 0, ROOT_NODE, worker_uitt, 1).map_err(|_| "UITT retype failed")?;
        ut.retype(ObjectType::Notification, 0, ROOT_NODE, wake, 1).map_err(|_| "notification retype failed")?;
        ut.retype(ObjectType::Notification, 0, ROOT_NODE, root_wake, 1).map_err(|_| "notification retype failed")?;
        let root_wake_cap = root_wake;
        let root_wake = Notification::from_cptr(root_wake);
        PINGS.store(0, Ordering::Relaxed);
        PONGS.store(0, Ordering::Relaxed);
        WATCHDOG_CHECKS.store(0, Ordering::Relaxed);
        uintr::set_handler(exchange_handler);
        // Rootserver: receives vector 2, sends vector 1 to the worker.
        receiver.bind_tcb(init::TCB, uintr::handler_entry(), 128).map_err(|_| "BindTCB failed")?;
        receiver.set_notification(root_wake).map_err(|_| "SetNotification failed")?;
        init::TCB.bind_uitt(uitt).map_err(|_| "BindUITT failed")?;
        slot(base + 2).mint(slot(worker_receiver), CapRights::ALL, 1).map_err(|_| "mint failed")?;
        uitt.register_sender(0, UintrReceiver::from_cptr(base + 2)).map_err(|_| "RegisterSender failed")?;
        // Worker: receives vector 1, sends vector 2 back.
        spawn_with(bi, ut, WorkerSpec { tcb_slot: worker, k: 1, prio: 254, fault_ep: 0 }, exchange_worker, wake)?;
        let worker_receiver = UintrReceiver::from_cptr(worker_receiver);
        worker_receiver.bind_tcb(Tcb::from_cptr(worker), uintr::handler_entry(), 128).map_err(|_| "BindTCB failed")?;
        worker_receiver.set_notification(Notification::from_cptr(wake)).map_err(|_| "SetNotification failed")?;
        Tcb::from_cptr(worker).bind_uitt(Uitt::from_cptr(worker_uitt)).map_err(|_| "BindUITT failed")?;
        slot(base + 3).mint(slot(receiver), CapRights::ALL, 2).map_err(|_| "mint failed")?;
        Uitt::from_cptr(worker_uitt).register_sender(0, UintrReceiver::from_cptr(base + 3)).map_err(|_| "RegisterSender failed")?;
        spawn_with(bi, ut, WorkerSpec { tcb_slot: watchdog, k: 2, prio: 1, fault_ep: 0 }, stall_watchdog, root_wake_cap)?;
        uintr::stui();
        let started = sel4::debug::rdtsc_serialised();
        // The worker is below us in priority: it runs (enables user
        // interrupts, sleeps on its notification, is woken by our send,
        // answers from its handler) while we sleep on ours; its answer
        // wakes us, and our handler counts it.
        for i in 1..=EXCHANGES {
            uintr::senduipi(0);
            while PINGS.load(Ordering::Relaxed) < i {
                if STALLED.load(Ordering::Relaxed) {
                    let (pings, pongs) = (PINGS.load(Ordering::Relaxed), PONGS.load(Ordering::Relaxed));
                    sel4::println!("uintr exchange stalled at round {i}: {pongs} to the worker, {pings} back");
                    sel4::debug::dump_scheduler();
                    return Err("the exchange stalled: a user interrupt was lost");
                }
                root_wake.wait();
            }
        }
        let (pings, pongs) = (PINGS.load(Ordering::Relaxed), PONGS.load(Ordering::Relaxed));
        let cycles = sel4::debug::rdtsc_serialised() - started;
        let checks = WATCHDOG_CHECKS.load(Ordering::Relaxed);
        sel4::println!("uintr exchange: {pongs} to the worker, {pings} back in {cycles} TSC cycles (stall watchdog: {checks} checks)");
        ensure(pings == EXCHANGES && pongs == EXCHANGES, "user interrupts lost or duplicated")
    });
}
