//! The test harness: output, failure messages, the trap dispatcher (fault
//! recovery and test abort, interrupt counting), the ring-3 user-interrupt
//! handler's log, per-test reset and the runner.

use crate::arch::apic;
use crate::arch::cpu::{self, Fault, Probe, PROBE_FAULT, RECOVER};
use crate::arch::desc::EXIT_VECTOR;
use crate::arch::entry::{self, TrapFrame};
use crate::uintr::{self, WATCHDOG_VECTOR};
use crate::Global;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::SeqCst};

macro_rules! print {
    ($($a:tt)*) => {{ let _ = core::fmt::Write::write_fmt(&mut $crate::arch::serial::Serial, format_args!($($a)*)); }};
}

macro_rules! println {
    ($($a:tt)*) => {{ print!($($a)*); print!("\n"); }};
}

/// A failure message (fixed buffer, truncated if too long).
#[derive(Clone, Copy)]
pub struct Msg {
    buf: [u8; 300],
    len: usize,
}

impl Msg {
    pub const fn empty() -> Msg {
        Msg { buf: [0; 300], len: 0 }
    }

    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("(bad utf-8)")
    }
}

impl Write for Msg {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

pub fn msg(args: fmt::Arguments<'_>) -> Msg {
    let mut m = Msg::empty();
    let _ = m.write_fmt(args);
    m
}

pub type Outcome = Result<(), Msg>;

macro_rules! fail {
    ($($a:tt)*) => { return Err($crate::harness::msg(format_args!($($a)*))) };
}

macro_rules! check {
    ($c:expr, $($a:tt)*) => { if !$c { fail!($($a)*); } };
}

macro_rules! check_eq {
    ($got:expr, $want:expr, $($a:tt)*) => {{
        let (got, want) = ($got, $want);
        if got != want {
            fail!("{}: got {:#x}, expected {:#x}", format_args!($($a)*), got, want);
        }
    }};
}

pub fn fault_name(vector: u64) -> &'static str {
    match vector {
        0 => "#DE",
        6 => "#UD",
        8 => "#DF",
        13 => "#GP",
        14 => "#PF",
        _ => "exception",
    }
}

pub struct FaultText(pub Option<Fault>);

impl fmt::Display for FaultText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("no fault"),
            Some(x) => {
                write!(f, "{}({:#x}) at {:#x} in ring {}", fault_name(x.vector), x.error, x.rip, x.cs & 3)?;
                if x.vector == 14 {
                    write!(f, ", CR2 {:#x}", x.cr2)?;
                }
                Ok(())
            }
        }
    }
}

pub const UD: u64 = 6;
pub const GP: u64 = 13;
pub const PF: u64 = 14;

/// `p` must have faulted with `vector`.
pub fn expect_fault(p: &Probe, vector: u64, what: fmt::Arguments<'_>) -> Outcome {
    match p.fault {
        Some(f) if f.vector == vector => Ok(()),
        other => fail!("{}: expected {}, got {}", what, fault_name(vector), FaultText(other)),
    }
}

pub fn expect_no_fault(p: &Probe, what: fmt::Arguments<'_>) -> Outcome {
    match p.fault {
        None => Ok(()),
        other => fail!("{}: unexpected {}", what, FaultText(other)),
    }
}

// ---- interrupt bookkeeping ----

pub static IRQ_COUNT: [AtomicU32; 256] = [const { AtomicU32::new(0) }; 256];
/// CS of the context each vector last interrupted.
pub static IRQ_LAST_CS: [AtomicU64; 256] = [const { AtomicU64::new(0) }; 256];
/// RIP each vector last interrupted, and its place in the event order.
pub static IRQ_LAST_RIP: [AtomicU64; 256] = [const { AtomicU64::new(0) }; 256];
pub static IRQ_SEQ: [AtomicU64; 256] = [const { AtomicU64::new(0) }; 256];
/// Counts IDT interrupts and user-interrupt deliveries, to order them.
pub static SEQ: AtomicU64 = AtomicU64::new(1);
pub static SPURIOUS: AtomicU32 = AtomicU32::new(0);
static IN_TEST: AtomicBool = AtomicBool::new(false);
/// If set, the next fault in ring 3 outside a probe ends the ring-3 run
/// (`run_user*` returns FAULT_EXIT, the fault is in `take_probe`) instead
/// of aborting the test.
pub static ESCAPE_RING3_FAULT: AtomicBool = AtomicBool::new(false);
pub const FAULT_EXIT: u64 = 0xdead_0002;
static ABORT_MSG: Global<Msg> = Global::new(Msg::empty());
/// The ring-3 registers at the last `int 0x80`.
static LAST_EXIT: Global<TrapFrame> = Global::new(unsafe_zero_frame());

const fn unsafe_zero_frame() -> TrapFrame {
    TrapFrame {
        rax: 0,
        rbx: 0,
        rcx: 0,
        rdx: 0,
        rsi: 0,
        rdi: 0,
        rbp: 0,
        r8: 0,
        r9: 0,
        r10: 0,
        r11: 0,
        r12: 0,
        r13: 0,
        r14: 0,
        r15: 0,
        vector: 0,
        error: 0,
        rip: 0,
        cs: 0,
        rflags: 0,
        rsp: 0,
        ss: 0,
    }
}

pub fn irq_count(v: u8) -> u32 {
    IRQ_COUNT[v as usize].load(SeqCst)
}

pub fn last_exit() -> TrapFrame {
    // Safety: written by the trap path only, read here after it returned.
    unsafe { LAST_EXIT.ptr().read_volatile() }
}

fn abort_with(m: Msg) -> ! {
    // Safety: single CPU; the runner reads the message after the abort.
    unsafe { ABORT_MSG.ptr().write(m) };
    if IN_TEST.load(SeqCst) {
        entry::abort_test()
    }
    println!("FATAL outside a test: {}", m.as_str());
    println!("0 passed, 1 failed");
    crate::arch::serial::exit_qemu(0x11)
}

#[no_mangle]
extern "C" fn trap_dispatch(f: &mut TrapFrame) {
    let v = f.vector;
    if apic::id() != apic_id() {
        return ap_trap(f);
    }
    if v == EXIT_VECTOR as u64 {
        // Safety: single CPU; see `last_exit`.
        unsafe { LAST_EXIT.ptr().write_volatile(*f) };
        if f.cs & 3 != 3 {
            abort_with(msg(format_args!("int 0x80 from ring 0 at {:#x}", f.rip)));
        }
        entry::return_from_user(f.rax);
    }
    if v < 32 {
        let cr2 = if v == 14 { cpu::read_cr2() } else { 0 };
        // Safety: RECOVER/PROBE_FAULT are only used by the probes and here.
        let recover = unsafe { core::ptr::addr_of!(RECOVER).read_volatile() };
        if recover[0] != 0 && v != 8 {
            // Safety: as above.
            unsafe {
                core::ptr::addr_of_mut!(PROBE_FAULT).write_volatile([1, v, f.error, f.rip, f.cs, cr2]);
                core::ptr::addr_of_mut!(RECOVER).write_volatile([0, 0]);
            }
            f.rip = recover[0];
            f.rsp = recover[1];
            return;
        }
        if f.cs & 3 == 3 && ESCAPE_RING3_FAULT.swap(false, SeqCst) {
            // Safety: as above.
            unsafe { core::ptr::addr_of_mut!(PROBE_FAULT).write_volatile([1, v, f.error, f.rip, f.cs, cr2]) };
            entry::return_from_user(FAULT_EXIT);
        }
        let fault = Fault { vector: v, error: f.error, rip: f.rip, cs: f.cs, cr2 };
        apic::timer_stop();
        abort_with(msg(format_args!("unexpected {} (RSP {:#x})", FaultText(Some(fault)), f.rsp)));
    }
    let v8 = v as u8;
    if v8 == apic::SPURIOUS_VECTOR {
        SPURIOUS.fetch_add(1, SeqCst);
        return;
    }
    IRQ_COUNT[v as usize].fetch_add(1, SeqCst);
    IRQ_LAST_CS[v as usize].store(f.cs, SeqCst);
    IRQ_LAST_RIP[v as usize].store(f.rip, SeqCst);
    IRQ_SEQ[v as usize].store(SEQ.fetch_add(1, SeqCst), SeqCst);
    apic::eoi();
    if v8 == WATCHDOG_VECTOR && IN_TEST.load(SeqCst) {
        abort_with(msg(format_args!("watchdog: the test ran too long (interrupted at {:#x} in ring {})", f.rip, f.cs & 3)));
    }
}

// ---- the second CPU ----

static AP_APIC_ID: AtomicU32 = AtomicU32::new(0xff);
static AP_READY: AtomicBool = AtomicBool::new(false);

#[repr(C, align(16))]
struct ApUserStack([u8; 16384]);
static AP_USER_STACK: Global<ApUserStack> = Global::new(ApUserStack([0; 16384]));

/// The second CPU's APIC ID (0xff: none was started).
pub fn ap_id() -> u8 {
    AP_APIC_ID.load(SeqCst) as u8
}

/// Whether the second CPU is up and waiting for user interrupts in ring 3.
pub fn ap_ready() -> bool {
    AP_READY.load(SeqCst)
}

/// The second CPU's user stack (RSPs of code it interrupts lie in it).
pub fn ap_user_stack() -> core::ops::Range<u64> {
    let base = AP_USER_STACK.ptr() as u64;
    base..base + 16384
}

/// The second CPU, from the trampoline: UINTR set up with UPID C, then
/// ring 3 for good (with UIF = 1) receiving user interrupts.
#[no_mangle]
extern "C" fn ap_main() -> ! {
    crate::arch::desc::init_ap();
    apic::enable_local();
    if has_uintr() {
        let _ = cpu::write_cr4(cpu::read_cr4() | uintr::CR4_UINTR);
        uintr::ap_msrs();
    }
    AP_READY.store(true, SeqCst);
    let rip = entry::label(core::ptr::addr_of!(entry::u_ap_receiver));
    crate::arch::smp::enter_user_forever(rip, ap_user_stack().end)
}

/// Traps on the second CPU: interrupts are counted like the first CPU's;
/// anything else stops it with a message.
fn ap_trap(f: &mut TrapFrame) {
    let v = f.vector;
    if v >= 32 && v != EXIT_VECTOR as u64 {
        if v as u8 != apic::SPURIOUS_VECTOR {
            IRQ_COUNT[v as usize].fetch_add(1, SeqCst);
            apic::eoi();
        }
        return;
    }
    AP_READY.store(false, SeqCst);
    println!("second CPU: stopped by vector {} (error {:#x}) at {:#x} in ring {}", v, f.error, f.rip, f.cs & 3);
    crate::arch::smp::halt()
}

/// Starts the second CPU (APIC ID + 1) and waits a little for it.
fn start_ap() {
    let id = apic_id().wrapping_add(1);
    AP_APIC_ID.store(id as u32, SeqCst);
    crate::arch::smp::start_ap(id);
    for _ in 0..20_000_000u32 {
        if ap_ready() {
            break;
        }
        core::hint::spin_loop();
    }
    if ap_ready() {
        println!("second CPU: APIC ID {} waiting in ring 3", id);
    } else {
        println!("second CPU: none (boot with -smp 2 for the cross-CPU tests)");
    }
}

// ---- the ring-3 user-interrupt handler and its log ----

#[derive(Clone, Copy, Default, Debug)]
#[repr(C)]
pub struct Delivery {
    /// The vector word on top of the handler's stack.
    pub vector: u64,
    pub rip: u64,
    pub rflags: u64,
    pub old_rsp: u64,
    /// Address of the vector word (RSP at handler entry).
    pub frame: u64,
    /// UIF at handler entry (TESTUI).
    pub uif: u64,
    pub cs: u64,
    /// Place in the event order (see `SEQ`).
    pub seq: u64,
}

pub const LOG_CAP: usize = 128;
const RUNAWAY: usize = 1000;
/// `run_user*` returns this if the handler ran away.
pub const RUNAWAY_EXIT: u64 = 0xdead_0001;

pub static LOG: Global<[Delivery; LOG_CAP]> =
    Global::new([Delivery { vector: 0, rip: 0, rflags: 0, old_rsp: 0, frame: 0, uif: 0, cs: 0, seq: 0 }; LOG_CAP]);
pub static LOG_LEN: AtomicUsize = AtomicUsize::new(0);
/// If non-zero, the handler replaces the saved RFLAGS / RIP with this
/// (once) before its UIRET.
pub static HANDLER_SET_RFLAGS: AtomicU64 = AtomicU64::new(0);
pub static HANDLER_SET_RIP: AtomicU64 = AtomicU64::new(0);

/// Called by `uintr_entry` (arch) in ring 3 with the address of the
/// vector word and UIF as TESTUI saw it.
#[no_mangle]
extern "C" fn uintr_handler(frame: *const u64, uif: u64) {
    let n = LOG_LEN.load(SeqCst);
    let cs = cpu::read_cs();
    if n >= RUNAWAY && cs & 3 == 3 {
        entry::user_exit(RUNAWAY_EXIT);
    }
    // Safety: the frame is the four words the CPU just pushed.
    let w = unsafe { [frame.read_volatile(), frame.add(1).read_volatile(), frame.add(2).read_volatile(), frame.add(3).read_volatile()] };
    if n < LOG_CAP {
        let seq = SEQ.fetch_add(1, SeqCst);
        let d = Delivery { vector: w[0], rip: w[1], rflags: w[2], old_rsp: w[3], frame: frame as u64, uif, cs, seq };
        // Safety: in bounds; single CPU.
        unsafe { (*LOG.ptr())[n] = d };
    }
    LOG_LEN.store(n + 1, SeqCst);
    let frame = frame as *mut u64;
    let rflags = HANDLER_SET_RFLAGS.swap(0, SeqCst);
    if rflags != 0 {
        // Safety: the saved RFLAGS word of the frame above.
        unsafe { frame.add(2).write_volatile(rflags) };
    }
    let rip = HANDLER_SET_RIP.swap(0, SeqCst);
    if rip != 0 {
        // Safety: the saved RIP word of the frame above.
        unsafe { frame.add(1).write_volatile(rip) };
    }
}

pub fn clear_log() {
    LOG_LEN.store(0, SeqCst);
}

pub fn log_len() -> usize {
    LOG_LEN.load(SeqCst)
}

pub fn log_entry(i: usize) -> Delivery {
    // Safety: in bounds; read after the handler ran.
    unsafe { core::ptr::addr_of!((*LOG.ptr())[i]).read_volatile() }
}

// ---- tests and the runner ----

pub struct Test {
    pub name: &'static str,
    pub run: fn(usize) -> Outcome,
    pub arg: usize,
    pub needs_uintr: bool,
    pub basis: Basis,
}

/// Where a test's rule comes from, so that a run on another model or on
/// hardware has a clear meaning.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Intel's definition of UINTR (the SDM and the ISA extensions
    /// reference): every faithful model and every UINTR CPU must pass it.
    /// Waits for interrupts are bounded far beyond any latency, never
    /// timed to an emulator.
    Architectural,
    /// What this project's QEMU (and Bochs) do where Intel's text says
    /// nothing: a failure elsewhere is a difference, not a conformance bug.
    Model(&'static str),
}

struct Slot {
    run: fn(usize) -> Outcome,
    arg: usize,
    result: Outcome,
}

extern "C" fn run_slot(p: *mut u8) {
    let slot = p as *mut Slot;
    // Safety: `p` is the Slot the runner passed, alive for the call.
    unsafe { (*slot).result = ((*slot).run)((*slot).arg) };
}

static APIC_ID: AtomicU32 = AtomicU32::new(0);
/// The watchdog's APIC timer count: about 10 s (QEMU's bus clock is 1 GHz,
/// divided by 128); 1 s in the harness self-test.
static WATCHDOG_COUNT: AtomicU32 = AtomicU32::new(80_000_000);
static HAS_UINTR: AtomicBool = AtomicBool::new(false);

pub fn apic_id() -> u8 {
    APIC_ID.load(SeqCst) as u8
}

pub fn has_uintr() -> bool {
    HAS_UINTR.load(SeqCst)
}

/// Puts the CPU in the standard state: no pending interrupts, nothing in
/// service, CR4.UINTR = 1 (if supported), UIF = 0, UIRR = 0, the standard
/// MSRs and tables, empty log and counters.
pub fn reset() {
    cpu::cli();
    if has_uintr() {
        // Notifications taken while draining must land in a UPID.
        // Safety: points PD at UPID A of this image.
        unsafe { cpu::wrmsr(uintr::MSR_PD, uintr::upid_ptr(uintr::Which::A) as u64) };
    }
    cpu::interrupt_window(2000);
    for _ in 0..16 {
        if apic::highest_in_service().is_some() {
            apic::eoi();
        }
    }
    if has_uintr() {
        let _ = cpu::write_cr4(cpu::read_cr4() | uintr::CR4_UINTR);
        cpu::clui();
        uintr::standard_msrs();
    }
    uintr::init_tables(apic_id(), ap_id());
    LOG_LEN.store(0, SeqCst);
    HANDLER_SET_RFLAGS.store(0, SeqCst);
    HANDLER_SET_RIP.store(0, SeqCst);
    ESCAPE_RING3_FAULT.store(false, SeqCst);
    for c in IRQ_COUNT.iter() {
        c.store(0, SeqCst);
    }
    for (rip, seq) in IRQ_LAST_RIP.iter().zip(IRQ_SEQ.iter()) {
        rip.store(0, SeqCst);
        seq.store(0, SeqCst);
    }
    SPURIOUS.store(0, SeqCst);
    // Safety: single CPU, nothing running in between.
    unsafe {
        core::ptr::addr_of_mut!(PROBE_FAULT).write_volatile([0; 6]);
        LAST_EXIT.ptr().write_volatile(unsafe_zero_frame());
    }
}

fn run_one(t: &Test) -> Outcome {
    if t.needs_uintr && !has_uintr() {
        fail!("not run: this CPU has no UINTR (CPUID.(7,0):EDX[5] = 0)");
    }
    reset();
    let mut slot = Slot { run: t.run, arg: t.arg, result: Ok(()) };
    IN_TEST.store(true, SeqCst);
    apic::timer_start(WATCHDOG_VECTOR, WATCHDOG_COUNT.load(SeqCst));
    let completed = entry::run_abortable(run_slot, &mut slot as *mut Slot as *mut u8);
    apic::timer_stop();
    IN_TEST.store(false, SeqCst);
    cpu::cli();
    if completed {
        slot.result
    } else {
        // Safety: written by abort_with before the abort.
        Err(unsafe { ABORT_MSG.ptr().read() })
    }
}

/// The UINTR MSRs (0x985..=0x98a) and UIF as found at power-on, before
/// the harness touched them.
pub static POWER_ON: Global<[u64; 7]> = Global::new([u64::MAX; 7]);

pub fn main() -> ! {
    APIC_ID.store(apic::id() as u32, SeqCst);
    let cpuid7 = if cpu::cpuid(0, 0)[0] >= 7 { cpu::cpuid(7, 0)[3] } else { 0 };
    HAS_UINTR.store(cpuid7 & (1 << 5) != 0, SeqCst);
    if has_uintr() {
        let mut state = [0u64; 7];
        for (i, msr) in (uintr::MSR_UIRR..=uintr::MSR_TT).enumerate() {
            state[i] = cpu::rdmsr(msr);
        }
        let _ = cpu::write_cr4(cpu::read_cr4() | uintr::CR4_UINTR);
        state[6] = cpu::testui() as u64;
        // Safety: single CPU, before any test runs.
        unsafe { POWER_ON.ptr().write(state) };
    }
    let cmdline = crate::arch::boot::cmdline();
    let has = |word: &[u8]| cmdline.split(|&b| b == b' ').any(|w| w == word);
    let absent_mode = has(b"absent");
    let strict = has(b"strict");
    let selftest = has(b"selftest");
    // `architectural` leaves out what only our models promise (for other
    // models and real hardware).
    let architectural_only = has(b"architectural");
    if selftest {
        WATCHDOG_COUNT.store(8_000_000, SeqCst);
    }
    println!(
        "uintr-conformance: APIC ID {}, UINTR {} (CPUID.(7,0):EDX = {:#x}), mode {}",
        apic_id(),
        if has_uintr() { "present" } else { "absent" },
        cpuid7,
        match (absent_mode, strict) {
            _ if selftest => "harness self-test",
            (false, _) => "full",
            (true, false) => "absent",
            (true, true) => "absent strict",
        }
    );
    if !absent_mode && !selftest && has_uintr() {
        uintr::init_tables(apic_id(), apic_id().wrapping_add(1));
        start_ap();
    }
    let tests = match (absent_mode, strict) {
        _ if selftest => crate::tests::SELFTEST,
        (false, _) => crate::tests::ALL,
        (true, false) => crate::tests::ABSENT,
        (true, true) => crate::tests::ABSENT_STRICT,
    };
    let model_rules = tests.iter().filter(|t| t.basis != Basis::Architectural).count();
    if !selftest {
        println!(
            "rules: {} architectural, {} that only this project's models promise{}",
            tests.len() - model_rules,
            model_rules,
            if architectural_only { " (left out: architectural mode)" } else { "" }
        );
    }
    // `skip=a,b` leaves tests out (for narrowing down an emulator bug).
    let skip = cmdline.split(|&b| b == b' ').find_map(|w| w.strip_prefix(b"skip=")).unwrap_or(b"");
    let (mut passed, mut failed) = (0u32, 0u32);
    for t in tests {
        if skip.split(|&b| b == b',').any(|n| n == t.name.as_bytes()) {
            println!("skipped {}", t.name);
            continue;
        }
        if let (true, Basis::Model(why)) = (architectural_only, t.basis) {
            println!("skipped {}: not architectural ({})", t.name, why);
            continue;
        }
        match (run_one(t), t.basis) {
            (Ok(()), _) => {
                passed += 1;
                println!("ok {}", t.name);
            }
            (Err(m), Basis::Architectural) => {
                failed += 1;
                println!("FAIL {}: {}", t.name, m.as_str());
            }
            (Err(m), Basis::Model(why)) => {
                failed += 1;
                println!("FAIL {}: {} [a property of this project's models, not an architectural rule: {}]", t.name, m.as_str(), why);
            }
        }
    }
    reset();
    println!("{} passed, {} failed", passed, failed);
    crate::arch::serial::exit_qemu(if failed == 0 { 0x10 } else { 0x11 })
}
