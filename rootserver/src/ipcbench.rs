//! The IPC benchmark, in the manner of sel4bench's IPC application: a
//! client thread Calls a server thread, which answers with ReplyRecv, for
//! every message length, both priority orders, and the server in the
//! client's address space or in its own. Three passes time the round trip
//! (client side) and each one-way half (the sender stores a serialised TSC
//! reading, the receiver subtracts it from its own); a fourth times a
//! one-way Send to a server waiting in Recv, as sel4bench's seL4_Send case
//! does. The warm-up exchanges are dropped, and the cost of the timing itself is measured and reported so
//! it can be subtracted. Each case is printed as one JSON line with its raw
//! samples; `cargo xtask bench` does the statistics on the host.

use crate::suite::threads::{spawn_with, WorkerSpec};
use crate::suite::vspace::{drop_image_frame_copies, spawn_in_child_vspace};
use crate::suite::{find_untyped, slot, ROOT_NODE};
use core::sync::atomic::{AtomicU64, Ordering};
use sel4::cap::{CapRights, Endpoint, Notification, Tcb, UintrReceiver, Uitt, Untyped};
use sel4::debug::rdtsc_serialised;
use sel4::ObjectType;
use sel4::{root_slots, BootInfo, MessageInfo};

const ROOT: u64 = root_slots::INIT_THREAD_CNODE;
const DEPTH: u8 = 64;
/// Round trips run before measuring, to warm caches and TLBs and to get
/// past the first exchange, which goes through the slowpath whatever the
/// kernel (the server is not waiting yet when a higher-priority client
/// makes its first Call).
const WARM_UP: usize = 100;
const SAMPLES: usize = 1000;
/// sel4bench's message lengths, in words.
const LENGTHS: [usize; 9] = [0, 1, 2, 4, 8, 16, 32, 64, 120];

/// Whether the server shares the client's address space or has its own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Spaces {
    Same,
    Different,
}

impl Spaces {
    fn name(self) -> &'static str {
        match self {
            Spaces::Same => "same",
            Spaces::Different => "different",
        }
    }
}

/// (name, client priority, server priority)
const DIRECTIONS: [(&str, u64, u64); 2] = [("low_to_high", 100, 200), ("high_to_low", 200, 100)];

/// What a pass measures.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Measure {
    /// Client: from before its Call to after the reply.
    RoundTrip,
    /// From the client before its Call to the server after its receive.
    CallOneWay,
    /// From the server before its ReplyRecv to the client after its Call.
    ReplyOneWay,
    /// From the client before its Send to the server after its Recv. Only
    /// with the server above the client in priority (as in sel4bench): a
    /// higher-priority sender would go on running after its Send, and the
    /// figure would be its own next steps, not the message's trip.
    SendOneWay,
}

impl Measure {
    const ALL: [Measure; 4] = [Measure::RoundTrip, Measure::CallOneWay, Measure::ReplyOneWay, Measure::SendOneWay];

    fn name(self) -> &'static str {
        match self {
            Measure::RoundTrip => "call_replyrecv_roundtrip",
            Measure::CallOneWay => "call_one_way",
            Measure::ReplyOneWay => "replyrecv_one_way",
            Measure::SendOneWay => "send_recv_one_way",
        }
    }

    fn from_word(w: u64) -> Measure {
        Measure::ALL[w as usize % Measure::ALL.len()]
    }
}

/// The samples of the running case. Client and server share them even in
/// different address spaces: the server's space maps the rootserver's own
/// image frames, statics included.
static SAMPLE_CYCLES: [AtomicU64; SAMPLES] = [const { AtomicU64::new(0) }; SAMPLES];
/// The TSC reading a one-way measurement starts from, taken by the sender.
static SENT_AT: AtomicU64 = AtomicU64::new(0);

/// Keeps the sample of exchange `i` unless it is a warm-up one.
fn record(i: usize, cycles: u64) {
    if let Some(slot) = i.checked_sub(WARM_UP).and_then(|k| SAMPLE_CYCLES.get(k)) {
        slot.store(cycles, Ordering::Relaxed);
    }
}

/// Arguments packed into one word: endpoint, done endpoint, length, what
/// to measure.
fn pack(ep: u64, done: u64, length: usize, measure: Measure) -> u64 {
    ep | done << 16 | (length as u64) << 32 | (measure as u64) << 48
}

fn unpack(arg: u64) -> (u64, u64, usize, Measure) {
    (arg & 0xffff, (arg >> 16) & 0xffff, ((arg >> 32) & 0xffff) as usize, Measure::from_word(arg >> 48))
}

/// The fewest cycles two back-to-back serialised TSC reads are apart: the
/// part of every sample that is the measurement itself.
fn timing_overhead() -> u64 {
    (0..SAMPLES)
        .map(|_| {
            let t0 = rdtsc_serialised();
            let t1 = rdtsc_serialised();
            t1 - t0
        })
        .min()
        .unwrap_or(0)
}

extern "C" fn client(arg: u64) -> ! {
    let (ep, done, length, measure) = unpack(arg);
    let (ep, done) = (Endpoint::from_cptr(ep), Endpoint::from_cptr(done));
    let words = [0u64; 120];
    let info = MessageInfo::new(0, 0, 0, length as u64);
    for i in 0..WARM_UP + SAMPLES {
        match measure {
            Measure::RoundTrip => {
                let t0 = rdtsc_serialised();
                ep.call(info, &words[..length]);
                record(i, rdtsc_serialised() - t0);
            }
            Measure::CallOneWay => {
                SENT_AT.store(rdtsc_serialised(), Ordering::Relaxed);
                ep.call(info, &words[..length]);
            }
            Measure::ReplyOneWay => {
                ep.call(info, &words[..length]);
                record(i, rdtsc_serialised() - SENT_AT.load(Ordering::Relaxed));
            }
            Measure::SendOneWay => {
                SENT_AT.store(rdtsc_serialised(), Ordering::Relaxed);
                ep.send(info, &words[..length]);
            }
        }
    }
    done.send(MessageInfo::new(0, 0, 0, 0), &[]);
    unreachable!("the rootserver deletes the client once it reports")
}

extern "C" fn server(arg: u64) -> ! {
    let (ep, _, length, measure) = unpack(arg);
    let ep = Endpoint::from_cptr(ep);
    let words = [0u64; 120];
    let info = MessageInfo::new(0, 0, 0, length as u64);
    ep.recv();
    for i in 0.. {
        match measure {
            Measure::CallOneWay | Measure::SendOneWay => record(i, rdtsc_serialised() - SENT_AT.load(Ordering::Relaxed)),
            Measure::ReplyOneWay => SENT_AT.store(rdtsc_serialised(), Ordering::Relaxed),
            Measure::RoundTrip => {}
        }
        if measure == Measure::SendOneWay {
            ep.recv();
        } else {
            ep.reply_recv(info, &words[..length]);
        }
    }
    unreachable!("the server answers until it is deleted")
}

/// Runs one case on fresh objects and returns when the client is done.
fn run_case(
    bi: &BootInfo,
    ut: Untyped,
    measure: Measure,
    spaces: Spaces,
    client_prio: u64,
    server_prio: u64,
    length: usize,
) -> Result<(), &'static str> {
    let base = bi.empty.start;
    let (ep, done, client_tcb, server_slots) = (base, base + 1, base + 2, base + 3);
    ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, ep, 2).map_err(|_| "endpoint retype failed")?;
    let arg = pack(ep, done, length, measure);
    match spaces {
        Spaces::Same => spawn_with(bi, ut, WorkerSpec { tcb_slot: server_slots, k: 1, prio: server_prio, fault_ep: 0 }, server, arg)?,
        Spaces::Different => spawn_in_child_vspace(bi, ut, server_slots, server_prio, server, arg)?,
    }
    spawn_with(bi, ut, WorkerSpec { tcb_slot: client_tcb, k: 2, prio: client_prio, fault_ep: 0 }, client, arg)?;
    Endpoint::from_cptr(done).recv();
    if spaces == Spaces::Different {
        drop_image_frame_copies(bi)?;
    }
    slot(ut).revoke().map_err(|_| "cleanup revoke failed")
}

fn print_case(case: &str, spaces: Spaces, direction: &str, length: usize, overhead: u64) {
    sel4::print!(
        "{{\"bench\":\"ipc\",\"case\":\"{}\",\"address_spaces\":\"{}\",\"direction\":\"{}\",\"length\":{},\"overhead\":{},\"samples\":[",
        case,
        spaces.name(),
        direction,
        length,
        overhead
    );
    for (i, s) in SAMPLE_CYCLES.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        sel4::print!("{}{}", sep, s.load(Ordering::Relaxed));
    }
    sel4::println!("]}}");
}

/// Runs every case and prints its JSON line; the closing line says how
/// many cases ran.
pub fn run(bi: &'static BootInfo) {
    let Some((ut, _)) = find_untyped(bi, 22) else {
        sel4::println!("ipcbench: no untyped of 4 MiB or more");
        return;
    };
    let overhead = timing_overhead();
    let mut cases = 0;
    for measure in Measure::ALL {
        for spaces in [Spaces::Same, Spaces::Different] {
            for (direction, client_prio, server_prio) in DIRECTIONS {
                if measure == Measure::SendOneWay && client_prio > server_prio {
                    continue;
                }
                for length in LENGTHS {
                    if let Err(why) = run_case(bi, ut, measure, spaces, client_prio, server_prio, length) {
                        sel4::println!("ipcbench: {}, {} address spaces, {direction}, length {length}: {why}", measure.name(), spaces.name());
                        return;
                    }
                    print_case(measure.name(), spaces, direction, length, overhead);
                    cases += 1;
                }
            }
        }
    }
    let uintr = crate::suite::uintr::probe_uintr_objects(bi, ut);
    if !uintr {
        sel4::println!("ipcbench: this kernel has no user-interrupt objects (stock seL4): uintr_roundtrip not measured");
    }
    for (ping, direction, client_prio, server_prio) in PINGS {
        if ping != Ping::Notification && !uintr {
            continue;
        }
        if let Err(why) = run_ping(bi, ut, ping, client_prio, server_prio) {
            sel4::println!("ipcbench: {}, {direction}: {why}", ping.name());
            return;
        }
        print_case(ping.name(), Spaces::Same, direction, 0, overhead);
        cases += 1;
    }
    sel4::println!("ipcbench: {cases} cases done");
}

// Round trips without endpoints: notification Signal/Wait, and user
// interrupts (this kernel's extension) to a receiver that is running (the
// sender itself), preempted (a lower-priority thread spinning in user
// mode: it runs once the client sleeps) or blocked (a higher-priority
// thread asleep on its wake notification: the send wakes it, it answers
// and sleeps again, and the client takes the answer when it runs again;
// below the client it would be preempted inside its handler and never
// sleep again). The client times from before its signal or SENDUIPI to
// after the answer reached it.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ping {
    Notification,
    UintrRunning,
    UintrPreempted,
    UintrBlocked,
}

impl Ping {
    fn name(self) -> &'static str {
        match self {
            Ping::Notification => "signal_wait_roundtrip",
            Ping::UintrRunning | Ping::UintrPreempted | Ping::UintrBlocked => "uintr_roundtrip",
        }
    }
}

/// (what, direction or receiver state, client priority, server priority)
const PINGS: [(Ping, &str, u64, u64); 5] = [
    (Ping::Notification, "low_to_high", 100, 200),
    (Ping::Notification, "high_to_low", 200, 100),
    (Ping::UintrRunning, "running", 200, 100),
    (Ping::UintrPreempted, "preempted", 200, 100),
    (Ping::UintrBlocked, "blocked", 100, 200),
];

/// User-interrupt vectors: to the client's receiver, to the server's, and
/// the client's to itself (a running receiver is the sender itself: on one
/// core no other thread runs while the client does).
const TO_CLIENT: u8 = 2;
const TO_SERVER: u8 = 1;
const TO_SELF: u8 = 3;
/// The shared buffer: the client writes a request, the server's handler
/// writes the response (the request plus one) before it answers.
static REQUEST: AtomicU64 = AtomicU64::new(0);
static RESPONSE: AtomicU64 = AtomicU64::new(0);
/// Answers the client's handler has seen.
static ANSWERS: AtomicU64 = AtomicU64::new(0);

fn serve() {
    RESPONSE.store(REQUEST.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// One handler for both threads (one per program), told apart by vector:
/// the server answers the request and signals back on its UITT entry 0,
/// the client counts the answer.
fn ping_handler(vector: u8) {
    match vector {
        TO_SERVER => {
            serve();
            sel4::uintr::senduipi(0);
        }
        TO_SELF => {
            serve();
            ANSWERS.fetch_add(1, Ordering::Relaxed);
        }
        _ => {
            ANSWERS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Slots of a ping case, from the start of the empty region.
struct PingSlots {
    base: u64,
}

impl PingSlots {
    const N1: u64 = 0;
    const N2: u64 = 1;
    const DONE: u64 = 2;
    const CLIENT_TCB: u64 = 3;
    const SERVER_TCB: u64 = 4;
    const CLIENT_RECEIVER: u64 = 5;
    const SERVER_RECEIVER: u64 = 6;
    const CLIENT_UITT: u64 = 7;
    const SERVER_UITT: u64 = 8;
    const TO_CLIENT_CAP: u64 = 9;
    const TO_SERVER_CAP: u64 = 10;

    fn at(&self, i: u64) -> u64 {
        self.base + i
    }
}

/// Arguments packed into one word: the slots' base and what to run.
fn pack_ping(base: u64, ping: Ping) -> u64 {
    base | (ping as u64) << 32
}

fn unpack_ping(arg: u64) -> (PingSlots, Ping) {
    let ping = [Ping::Notification, Ping::UintrRunning, Ping::UintrPreempted, Ping::UintrBlocked][(arg >> 32) as usize & 3];
    (PingSlots { base: arg & 0xffff_ffff }, ping)
}

extern "C" fn ping_client(arg: u64) -> ! {
    let (s, ping) = unpack_ping(arg);
    let (n1, n2) = (Notification::from_cptr(s.at(PingSlots::N1)), Notification::from_cptr(s.at(PingSlots::N2)));
    if ping != Ping::Notification {
        sel4::uintr::stui();
    }
    let mut wrong_responses = 0;
    for i in 0..WARM_UP + SAMPLES {
        let t0 = rdtsc_serialised();
        if ping == Ping::Notification {
            n1.signal();
            n2.wait();
        } else {
            REQUEST.store(i as u64, Ordering::Relaxed);
            sel4::uintr::senduipi(0);
            // The answer arrives in our handler: at once for a running
            // receiver (ourselves), else once we sleep and the server runs.
            while ANSWERS.load(Ordering::Relaxed) <= i as u64 {
                n2.wait();
            }
        }
        let t1 = rdtsc_serialised();
        record(i, t1 - t0);
        if ping != Ping::Notification && RESPONSE.load(Ordering::Relaxed) != i as u64 + 1 {
            wrong_responses += 1;
        }
    }
    Endpoint::from_cptr(s.at(PingSlots::DONE)).send(MessageInfo::new(wrong_responses, 0, 0, 0), &[]);
    unreachable!("the rootserver deletes the client once it reports")
}

extern "C" fn ping_server(arg: u64) -> ! {
    let (s, ping) = unpack_ping(arg);
    let n1 = Notification::from_cptr(s.at(PingSlots::N1));
    match ping {
        Ping::Notification => loop {
            n1.wait();
            Notification::from_cptr(s.at(PingSlots::N2)).signal();
        },
        Ping::UintrPreempted => {
            sel4::uintr::stui();
            loop {
                core::hint::spin_loop();
            }
        }
        _ => {
            sel4::uintr::stui();
            loop {
                n1.wait();
            }
        }
    }
}

/// Runs one ping case on fresh objects.
fn run_ping(bi: &BootInfo, ut: Untyped, ping: Ping, client_prio: u64, server_prio: u64) -> Result<(), &'static str> {
    let s = PingSlots { base: bi.empty.start };
    ut.retype(ObjectType::Notification, 0, ROOT_NODE, s.at(PingSlots::N1), 2).map_err(|_| "notification retype failed")?;
    ut.retype(ObjectType::Endpoint, 0, ROOT_NODE, s.at(PingSlots::DONE), 1).map_err(|_| "endpoint retype failed")?;
    let arg = pack_ping(s.base, ping);
    let (client, server) = (s.at(PingSlots::CLIENT_TCB), s.at(PingSlots::SERVER_TCB));
    spawn_with(bi, ut, WorkerSpec { tcb_slot: server, k: 1, prio: server_prio, fault_ep: 0 }, ping_server, arg)?;
    spawn_with(bi, ut, WorkerSpec { tcb_slot: client, k: 2, prio: client_prio, fault_ep: 0 }, ping_client, arg)?;
    if ping != Ping::Notification {
        ANSWERS.store(0, Ordering::Relaxed);
        sel4::uintr::set_handler(ping_handler);
        // The client's receiver wakes it through N2, the server's through N1.
        let receiver = |slot_index: u64, tcb: u64, wake: u64| -> Result<UintrReceiver, &'static str> {
            ut.retype(ObjectType::UintrReceiver, 0, ROOT_NODE, s.at(slot_index), 1).map_err(|_| "receiver retype failed")?;
            let r = UintrReceiver::from_cptr(s.at(slot_index));
            r.bind_tcb(Tcb::from_cptr(tcb), sel4::uintr::handler_entry(), 128).map_err(|_| "BindTCB failed")?;
            r.set_notification(Notification::from_cptr(s.at(wake))).map_err(|_| "SetNotification failed")?;
            Ok(r)
        };
        let client_receiver = receiver(PingSlots::CLIENT_RECEIVER, client, PingSlots::N2)?;
        let server_receiver = receiver(PingSlots::SERVER_RECEIVER, server, PingSlots::N1)?;
        // Client's entry 0: the server (or itself, for a running receiver);
        // server's entry 0: the client.
        let target = if ping == Ping::UintrRunning { (client_receiver, TO_SELF) } else { (server_receiver, TO_SERVER) };
        let entry = |uitt_index: u64, tcb: u64, cap_index: u64, (to, vector): (UintrReceiver, u8)| -> Result<(), &'static str> {
            ut.retype(ObjectType::Uitt, 0, ROOT_NODE, s.at(uitt_index), 1).map_err(|_| "UITT retype failed")?;
            let uitt = Uitt::from_cptr(s.at(uitt_index));
            slot(s.at(cap_index)).mint(slot(to), CapRights::ALL, vector as u64).map_err(|_| "mint failed")?;
            uitt.register_sender(0, UintrReceiver::from_cptr(s.at(cap_index))).map_err(|_| "RegisterSender failed")?;
            Tcb::from_cptr(tcb).bind_uitt(uitt).map_err(|_| "BindUITT failed")
        };
        entry(PingSlots::CLIENT_UITT, client, PingSlots::TO_SERVER_CAP, target)?;
        entry(PingSlots::SERVER_UITT, server, PingSlots::TO_CLIENT_CAP, (client_receiver, TO_CLIENT))?;
    }
    let wrong_responses = Endpoint::from_cptr(s.at(PingSlots::DONE)).recv().info.label();
    slot(ut).revoke().map_err(|_| "cleanup revoke failed")?;
    if wrong_responses != 0 {
        return Err("the shared buffer held a wrong response");
    }
    Ok(())
}
