//! The IPC benchmark, in the manner of sel4bench's IPC application: a
//! client thread Calls a server thread, which answers with ReplyRecv, for
//! every message length, both priority orders, and the server in the
//! client's address space or in its own. The client times each
//! round trip with serialised TSC reads; the warm-up round trips are
//! dropped, and the cost of the timing itself is measured and reported so
//! it can be subtracted. Each case is printed as one JSON line with its raw
//! samples; `cargo xtask bench` does the statistics on the host.

use crate::suite::threads::{find_untyped, spawn_with, WorkerSpec};
use crate::suite::vspace::{drop_image_frame_copies, spawn_in_child_vspace};
use core::sync::atomic::{AtomicU64, Ordering};
use sel4::debug::rdtsc_serialised;
use sel4::invocation::{cnode, untyped};
use sel4::ipc;
use sel4::object_type as ty;
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

static ROUND_TRIPS: [AtomicU64; SAMPLES] = [const { AtomicU64::new(0) }; SAMPLES];

/// Arguments packed into one word: endpoint, done endpoint, length.
fn pack(ep: u64, done: u64, length: usize) -> u64 {
    ep | done << 16 | (length as u64) << 32
}

fn unpack(arg: u64) -> (u64, u64, usize) {
    (arg & 0xffff, (arg >> 16) & 0xffff, (arg >> 32) as usize)
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
    let (ep, done, length) = unpack(arg);
    let words = [0u64; 120];
    let info = MessageInfo::new(0, 0, 0, length as u64);
    for i in 0..WARM_UP + SAMPLES {
        let t0 = rdtsc_serialised();
        ipc::call(ep, info, &words[..length]);
        let t1 = rdtsc_serialised();
        if i >= WARM_UP {
            ROUND_TRIPS[i - WARM_UP].store(t1 - t0, Ordering::Relaxed);
        }
    }
    ipc::send(done, MessageInfo::new(0, 0, 0, 0), &[]);
    unreachable!("the rootserver deletes the client once it reports")
}

extern "C" fn server(arg: u64) -> ! {
    let (ep, _, length) = unpack(arg);
    let words = [0u64; 120];
    let info = MessageInfo::new(0, 0, 0, length as u64);
    ipc::recv(ep);
    loop {
        ipc::reply_recv(ep, info, &words[..length]);
    }
}

/// Runs one case on fresh objects and returns when the client is done.
fn run_case(bi: &BootInfo, ut: u64, spaces: Spaces, client_prio: u64, server_prio: u64, length: usize) -> Result<(), &'static str> {
    let base = bi.empty.start;
    let (ep, done, client_tcb, server_slots) = (base, base + 1, base + 2, base + 3);
    untyped::retype(ut, ty::ENDPOINT, 0, ROOT, 0, 0, ep, 2).map_err(|_| "endpoint retype failed")?;
    let arg = pack(ep, done, length);
    match spaces {
        Spaces::Same => spawn_with(bi, ut, WorkerSpec { tcb_slot: server_slots, k: 1, prio: server_prio, fault_ep: 0 }, server, arg)?,
        Spaces::Different => spawn_in_child_vspace(bi, ut, server_slots, server_prio, server, arg)?,
    }
    spawn_with(bi, ut, WorkerSpec { tcb_slot: client_tcb, k: 2, prio: client_prio, fault_ep: 0 }, client, arg)?;
    ipc::recv(done);
    if spaces == Spaces::Different {
        drop_image_frame_copies(bi)?;
    }
    cnode::revoke(ROOT, ut, DEPTH).map_err(|_| "cleanup revoke failed")
}

fn print_case(spaces: Spaces, direction: &str, length: usize, overhead: u64) {
    sel4::print!(
        "{{\"bench\":\"ipc\",\"case\":\"call_replyrecv_roundtrip\",\"address_spaces\":\"{}\",\"direction\":\"{}\",\"length\":{},\"overhead\":{},\"samples\":[",
        spaces.name(),
        direction,
        length,
        overhead
    );
    for (i, s) in ROUND_TRIPS.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        sel4::print!("{}{}", sep, s.load(Ordering::Relaxed));
    }
    sel4::println!("]}}");
}

/// Runs every case and prints its JSON line; the closing line says how
/// many cases ran.
pub fn run(bi: &'static BootInfo) {
    let Some(ut) = find_untyped(bi) else {
        sel4::println!("ipcbench: no untyped of 4 MiB or more");
        return;
    };
    let overhead = timing_overhead();
    let mut cases = 0;
    for spaces in [Spaces::Same, Spaces::Different] {
        for (direction, client_prio, server_prio) in DIRECTIONS {
            for length in LENGTHS {
                if let Err(why) = run_case(bi, ut, spaces, client_prio, server_prio, length) {
                    sel4::println!("ipcbench: {} address spaces, {direction}, length {length}: {why}", spaces.name());
                    return;
                }
                print_case(spaces, direction, length, overhead);
                cases += 1;
            }
        }
    }
    sel4::println!("ipcbench: {cases} cases done");
}
