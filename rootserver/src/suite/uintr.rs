//! User interrupts through this kernel's capability API (its extension;
//! stock seL4 has none): every vector delivered highest first, senders
//! without the right refused with the CPU's faults, revocation stopping a
//! sender, a blocked receiver woken, and two threads exchanging many.
//! On CPUs without UINTR the kernel carries the instructions out, so
//! these run the same under TCG.

use super::threads::{spawn_with, WorkerSpec};
use super::{ensure, find_untyped, slot, Runner, ROOT_NODE};
use core::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use sel4::cap::{init, CapRights, Endpoint, Notification, Tcb, UintrReceiver, Uitt};
use sel4::invocation::get_mr;
use sel4::uintr;
use sel4::{BootInfo, MessageInfo, ObjectType};

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

/// A receiver that is preempted rather than blocked: it enables user
/// interrupts and says so on endpoint `arg`; the rootserver, above it in
/// priority, runs and sends it three while it waits in the ready queue;
/// it spins until the three have arrived and says so again.
extern "C" fn spinning_receiver(arg: u64) -> ! {
    uintr::stui();
    let ep = Endpoint::from_cptr(arg);
    ep.send(MessageInfo::new(0, 0, 0, 0), &[]);
    while DELIVERED.load(Ordering::Relaxed) < 3 {
        core::hint::spin_loop();
    }
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

pub fn run(t: &mut Runner, bi: &'static BootInfo) {
    let Some((ut, _)) = find_untyped(bi, 22) else {
        t.run("uintr_untyped_available", || Err("no RAM untyped of 4 MiB or more"));
        return;
    };
    let base = bi.empty.start + 64 * 40;
    // Stock seL4 has no such objects: the same suite runs there without
    // these tests (the host checks that this kernel runs them).
    match ut.retype(ObjectType::UintrReceiver, 0, ROOT_NODE, base, 1) {
        Err(sel4::Error::InvalidArgument) => {
            sel4::println!("uintr: this kernel has no user-interrupt objects (stock seL4): UINTR tests not run");
            return;
        }
        _ => {
            let _ = slot(ut).revoke();
        }
    }
    let (receiver, uitt) = (UintrReceiver::from_cptr(base), Uitt::from_cptr(base + 1));
    let make = || -> Result<(), &'static str> {
        ut.retype(ObjectType::UintrReceiver, 0, ROOT_NODE, base, 1).map_err(|_| "receiver retype failed")?;
        ut.retype(ObjectType::Uitt, 0, ROOT_NODE, base + 1, 1).map_err(|_| "UITT retype failed")
    };
    // Entry `index` of the UITT sends `vector` to the receiver, through a
    // minted copy in slot base + 2 + index.
    let register = |index: u64, vector: u64| -> Result<(), &'static str> {
        slot(base + 2 + index).mint(slot(receiver), CapRights::ALL, vector).map_err(|_| "minting a vector failed")?;
        uitt.register_sender(index, UintrReceiver::from_cptr(base + 2 + index)).map_err(|_| "RegisterSender failed")
    };
    let reset = || -> Result<(), &'static str> {
        uintr::clui();
        slot(ut).revoke().map_err(|_| "cleanup revoke failed")?;
        // Revoking the untyped took the receiver and UITT copies in the TCB too.
        ensure(init::TCB.unbind_uitt() == Err(sel4::Error::IllegalOperation), "the UITT binding outlived its object")
    };

    t.run("uintr_all_64_vectors_highest_first", || {
        make()?;
        reset_record();
        uintr::set_handler(record);
        receiver.bind_tcb(init::TCB, uintr::handler_entry(), 128).map_err(|_| "BindTCB failed")?;
        init::TCB.bind_uitt(uitt).map_err(|_| "BindUITT failed")?;
        for v in 0..64 {
            register(v, v)?;
        }
        ensure(!uintr::testui(), "a new receiver starts with user interrupts disabled")?;
        for v in 0..64 {
            uintr::senduipi(v);
        }
        ensure(DELIVERED.load(Ordering::Relaxed) == 0, "delivered while UIF was clear")?;
        uintr::stui();
        ensure(DELIVERED.load(Ordering::Relaxed) == 64, "not all 64 vectors were delivered once")?;
        ensure((0..64).all(|i| ORDER[i].load(Ordering::Relaxed) == 63 - i as u8), "not delivered highest vector first")?;
        ensure(uintr::testui(), "UIRET must leave user interrupts enabled")?;
        // A second send of a vector delivers it again, right away.
        uintr::senduipi(63);
        ensure(DELIVERED.load(Ordering::Relaxed) == 65, "a resent vector was lost")?;
        reset()
    });

    t.run("uintr_api_refusals", || {
        make()?;
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
        uitt.register_sender(3, m).map_err(|_| "the entry is not free again")?;
        reset()
    });

    t.run("uintr_senders_without_the_right_fault_and_revocation_stops_one", || {
        make()?;
        reset_record();
        uintr::set_handler(record);
        // The worker's fault messages and its report arrive on one
        // endpoint, told apart by badge.
        let (ep, fault_ep, done, worker) = (base + 100, base + 101, base + 102, base + 103);
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, ep, 1).map_err(|_| "endpoint retype failed")?;
        slot(fault_ep).mint(slot(ep), CapRights::ALL, FAULTED).map_err(|_| "mint failed")?;
        slot(done).mint(slot(ep), CapRights::ALL, SENT).map_err(|_| "mint failed")?;
        receiver.bind_tcb(init::TCB, uintr::handler_entry(), 128).map_err(|_| "BindTCB failed")?;
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
        ensure(attempt(7, true)? == None, "a registered sender was refused")?;
        ensure(DELIVERED.load(Ordering::Relaxed) == 1 && ORDER[0].load(Ordering::Relaxed) == 42, "the sender's vector 42 was not delivered")?;
        // Revoking the minted cap (its copy in the UITT goes with it)
        // invalidates the entry.
        slot(base + 2 + 7).revoke().map_err(|_| "revoke failed")?;
        ensure(attempt(7, true)? == Some(GP), "a revoked sender could still send")?;
        ensure(DELIVERED.load(Ordering::Relaxed) == 1, "a revoked sender's interrupt arrived")?;
        reset()
    });

    t.run("uintr_many_senders_one_receiver", || {
        make()?;
        reset_record();
        uintr::set_handler(record);
        let (ep, done) = (base + 100, base + 101);
        ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, ep, 1).map_err(|_| "endpoint retype failed")?;
        slot(done).mint(slot(ep), CapRights::ALL, SENT).map_err(|_| "mint failed")?;
        receiver.bind_tcb(init::TCB, uintr::handler_entry(), 128).map_err(|_| "BindTCB failed")?;
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
        ensure(DELIVERED.load(Ordering::Relaxed) == 0, "delivered while UIF was clear")?;
        uintr::stui();
        ensure(DELIVERED.load(Ordering::Relaxed) == 3, "not one delivery per sender")?;
        ensure((0..3).all(|i| ORDER[i].load(Ordering::Relaxed) == 30 - 10 * i as u8), "the senders' vectors, highest first")?;
        for k in 1..=3u64 {
            slot(base + 102 + k).delete().map_err(|_| "worker delete failed")?;
        }
        reset()
    });

    t.run("uintr_preempted_receiver_takes_posts_when_switched_back_in", || {
        make()?;
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
        ensure(DELIVERED.load(Ordering::Relaxed) == 0, "delivered to a receiver that was not running")?;
        // Switched back in, it takes all three before it reports.
        Endpoint::from_cptr(ep).recv();
        ensure(DELIVERED.load(Ordering::Relaxed) == 3, "not all three posts arrived once")?;
        ensure(
            [63, 9, 5].iter().enumerate().all(|(i, &v)| ORDER[i].load(Ordering::Relaxed) == v),
            "the posts were not delivered highest vector first",
        )?;
        slot(worker).delete().map_err(|_| "worker delete failed")?;
        reset()
    });

    t.run("uintr_window_full_is_not_enough_memory", || {
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
        ut.retype(ObjectType::Uitt, 0, ROOT_NODE, first, 1).map_err(|_| "a freed window slot was not reused")?;
        reset()
    });

    t.run_stress("uintr_two_threads_exchange_1m_blocked_receiver_woken", || {
        make()?;
        // Each thread: a receiver, a notification that wakes it, and UITT
        // entry 0 sending to the other.
        let (worker_receiver, worker_uitt, wake, worker, root_wake) = (base + 110, base + 111, base + 112, base + 113, base + 114);
        ut.retype(ObjectType::UintrReceiver, 0, ROOT_NODE, worker_receiver, 1).map_err(|_| "receiver retype failed")?;
        ut.retype(ObjectType::Uitt, 0, ROOT_NODE, worker_uitt, 1).map_err(|_| "UITT retype failed")?;
        ut.retype(ObjectType::Notification, 0, ROOT_NODE, wake, 1).map_err(|_| "notification retype failed")?;
        ut.retype(ObjectType::Notification, 0, ROOT_NODE, root_wake, 1).map_err(|_| "notification retype failed")?;
        let root_wake = Notification::from_cptr(root_wake);
        PINGS.store(0, Ordering::Relaxed);
        PONGS.store(0, Ordering::Relaxed);
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
        uintr::stui();
        let started = sel4::debug::rdtsc_serialised();
        // The worker is below us in priority: it runs (enables user
        // interrupts, sleeps on its notification, is woken by our send,
        // answers from its handler) while we sleep on ours; its answer
        // wakes us, and our handler counts it.
        for i in 1..=EXCHANGES {
            uintr::senduipi(0);
            while PINGS.load(Ordering::Relaxed) < i {
                root_wake.wait();
            }
        }
        let (pings, pongs) = (PINGS.load(Ordering::Relaxed), PONGS.load(Ordering::Relaxed));
        let cycles = sel4::debug::rdtsc_serialised() - started;
        sel4::println!("uintr exchange: {pongs} to the worker, {pings} back in {cycles} TSC cycles");
        ensure(pings == EXCHANGES && pongs == EXCHANGES, "user interrupts lost or duplicated")?;
        slot(worker).delete().map_err(|_| "worker delete failed")?;
        reset()
    });
}
