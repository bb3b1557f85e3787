//! The hardware path of user interrupts: which thread's UINTR state the
//! CPU holds, and what a receiver's UPID says while its thread is not
//! running (Intel SDM volume 3, chapter "User Interrupts"; the scheme
//! is Linux's).
//!
//! The MSRs are switched lazily, like the FPU: they stay with the last
//! thread that ran until another one returns to user mode. Only UIRR and
//! UIF change under the CPU, so those are the only values read back.
//!
//! A receiver's UPID is running while its thread's state is loaded and
//! parked otherwise (`crate::uintr::parking` has the modes and their
//! rules); the threads whose receivers are parked blocked are listed here
//! so that the wake interrupt can find them.
//!
//! The kernel is single-CPU and runs with interrupts disabled, so no
//! SENDUIPI or notification processing touches a UPID while it runs.

use crate::arch::x86_64::apic;
use crate::arch::x86_64::uintr::{self as cpu, UintrMsrs, NOTIFICATION_VECTOR, WAKE_VECTOR};
use crate::kernel_state::KernelCell;
use crate::list::List;
use crate::thread::{tcb_slot, Tcb};
use crate::uintr::format::Upid;
use crate::uintr::objects::{uitt_of_thread, Receiver, UITT_SIZE};
use crate::uintr::parking::{self, Vectors};

const VECTORS: Vectors = Vectors { notification: NOTIFICATION_VECTOR, wake: WAKE_VECTOR };

/// How UINTR instructions are carried out on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// They raise #UD and the kernel emulates them (`crate::uintr::emulate`).
    Emulated,
    /// The CPU executes them; the kernel switches the state.
    Hardware,
}

/// The kind of list the sleepers are.
struct Sleepers;
crate::list::linked_through!(Tcb, Sleepers, uintr_sleep_links);

struct HardwareState {
    path: Path,
    /// The thread whose UIF (and MSRs, if `msrs_loaded`) the CPU holds;
    /// null when the neutral values are loaded.
    loaded: *mut Tcb,
    msrs_loaded: bool,
    /// The loaded IA32_UINTR_TT (when `msrs_loaded`).
    loaded_tt: u64,
    /// Threads whose receivers are parked blocked, newest first.
    sleepers: List<Tcb, Sleepers>,
    /// Wake interrupts taken, and notifications the kernel sent on a
    /// receiver's behalf when switching it in (counted in debug
    /// configurations and reported at DebugHalt: tests check that both
    /// mechanisms ran).
    wake_interrupts: u64,
    notifications_resent: u64,
    /// What the MSRs hold for a thread that neither receives nor sends:
    /// no UITT, no pending interrupts, and a UPID of the kernel's own that
    /// nothing posts to, so that a late notification has nothing to move.
    neutral: UintrMsrs,
}

static STATE: KernelCell<HardwareState> = KernelCell::new(HardwareState {
    path: Path::Emulated,
    loaded: core::ptr::null_mut(),
    msrs_loaded: false,
    loaded_tt: 0,
    sleepers: List::new(),
    wake_interrupts: 0,
    notifications_resent: 0,
    neutral: UintrMsrs { handler: 0, stack_adjust: 0, misc: 0, pd: 0, tt: 0 },
});

/// The path's state. A pointer rather than a reference: each use makes a
/// reference of its own that ends before the next call that reaches the
/// state again, so that no two overlap.
fn state() -> *mut HardwareState {
    STATE.as_ptr()
}

/// IA32_UINTR_MISC: UITTSZ and UINV.
const MISC: u64 = UITT_SIZE | (NOTIFICATION_VECTOR as u64) << 32;

/// The kernel's own UPID for threads without a receiver, alone in its page
/// (the page is mapped into the window).
#[repr(C, align(4096))]
struct NeutralUpid(Upid, [u8; 4096 - 16]);

static NEUTRAL_UPID: KernelCell<NeutralUpid> = KernelCell::new(NeutralUpid(Upid { control: 0, pir: 0 }, [0; 4096 - 16]));

/// Chooses the path at boot; `hardware` only when CPUID reports UINTR.
pub fn init(window: &mut crate::uintr::window::Slots, hardware: bool) {
    if !hardware {
        return;
    }
    // Safety: boot; the page is the kernel's and only the CPU's
    // notification processing will touch it.
    let page = unsafe { NEUTRAL_UPID.get() };
    page.0.set_sn(true);
    page.0.set_nv(NOTIFICATION_VECTOR);
    // Safety: boot; one field is written.
    unsafe { (*state()).path = Path::Hardware };
    let pd = crate::uintr::objects::map_into_window(window, crate::config::kernel_vaddr_to_paddr(page as *mut NeutralUpid as u64))
        .expect("the UINTR window is empty at boot");
    // Safety: kernel context (one core, interrupts off); the reference
    // ends before anything reaches this state again.
    let s = unsafe { &mut *state() };
    s.neutral = UintrMsrs { handler: 0, stack_adjust: 0, misc: MISC, pd, tt: 0 };
    // Safety: the CPU has UINTR (the caller checked CPUID); the MSRs get
    // valid values before interrupts are enabled; the neutral UPID is
    // mapped in the window.
    unsafe {
        cpu::enable();
        cpu::load_msrs(&s.neutral, 0);
    }
    // Safety: enabled just above.
    unsafe { cpu::set_uif(false) };
}

/// The one-line report printed when the system halts.
pub fn report() {
    // Safety: kernel context; only read.
    let s = unsafe { &*state() };
    match s.path {
        Path::Hardware => kprintln!(
            "user interrupts: hardware path; {} wake interrupts, {} notifications re-sent on switch-in",
            s.wake_interrupts,
            s.notifications_resent
        ),
        Path::Emulated => kprintln!("user interrupts: fallback path (emulated on #UD)"),
    }
}

/// Whether the CPU carries out UINTR instructions itself.
#[inline(always)]
pub fn hardware() -> bool {
    // Safety: kernel context; a copy of one field.
    unsafe { (*state()).path == Path::Hardware }
}

/// This CPU in a UPID's NDST (xAPIC or x2APIC format, as the APIC runs).
fn this_cpu() -> u32 {
    apic::upid_ndst()
}

/// The MSR values of `t`, or `None` for a thread with neither a receiver
/// nor a UITT.
fn msrs_of(t: &Tcb, neutral: &UintrMsrs) -> Option<UintrMsrs> {
    // Safety: the thread's slots are consistent; the two references are
    // only read here, to different objects.
    let receiver = unsafe { crate::uintr::objects::receiver_of_thread(t) };
    // Safety: as above.
    let uitt = unsafe { uitt_of_thread(t) };
    if receiver.is_none() && uitt.is_none() {
        return None;
    }
    Some(UintrMsrs {
        handler: t.uintr.handler,
        stack_adjust: t.uintr.stack_adjust,
        misc: MISC,
        pd: receiver.map_or(neutral.pd, |r| r.window),
        tt: uitt.map_or(0, |u| u.window | 1),
    })
}

/// Gives the CPU's UINTR state to `t`, which is about to return to user
/// mode (hardware path only). Between two threads that neither receive
/// nor send (most switches, the IPC fastpath's included) only UIF moves.
#[inline(always)]
pub fn switch_to(t: &mut Tcb) {
    debug_assert!(hardware(), "the fallback has no UINTR state on the CPU");
    // Safety: kernel context; the reference is not used after
    // `switch_state`, the one call below that reaches this state.
    let s = unsafe { &mut *state() };
    if core::ptr::eq(s.loaded, t) {
        return;
    }
    let plain = t.slot_cap(tcb_slot::RECEIVER).is_null() && t.slot_cap(tcb_slot::UITT).is_null();
    if !plain || s.msrs_loaded {
        return switch_state(t);
    }
    // Safety: only the hardware path switches, so UINTR is enabled; the
    // loaded thread is live (deletion calls `unload`).
    unsafe {
        if let Some(prev) = s.loaded.as_mut() {
            prev.uintr.uif = cpu::uif();
        }
        cpu::set_uif(t.uintr.uif);
    }
    s.loaded = t;
}

/// [`switch_to`] when either side has MSRs of its own.
#[inline(never)]
fn switch_state(t: &mut Tcb) {
    // Safety: kernel context; copies of fields.
    let (loaded, msrs_loaded) = unsafe { ((*state()).loaded, (*state()).msrs_loaded) };
    // Safety: the loaded thread is live (deletion calls `unload`).
    if let Some(prev) = unsafe { loaded.as_mut() } {
        save(prev, msrs_loaded);
    }
    // Safety: kernel context; a copy of one field.
    let neutral = unsafe { (*state()).neutral };
    match msrs_of(t, &neutral) {
        Some(msrs) => {
            // Safety: the thread's receiver slot is consistent; `msrs` no
            // longer refers to the receiver.
            if let Some(r) = unsafe { crate::uintr::objects::receiver_of_thread(t) } {
                resume(t, r);
            }
            // Safety: window addresses of live objects and a handler that
            // binding checked canonical.
            unsafe { cpu::load_msrs(&msrs, t.uintr.uirr) };
            // Safety: kernel context (one core, interrupts off); the reference
            // ends before anything reaches this state again.
            let s = unsafe { &mut *state() };
            s.msrs_loaded = true;
            s.loaded_tt = msrs.tt;
        }
        None if msrs_loaded => {
            // Safety: the neutral values.
            unsafe { cpu::load_msrs(&neutral, 0) };
            // Safety: kernel context; one field is written.
            unsafe { (*state()).msrs_loaded = false };
        }
        None => {}
    }
    // Safety: only the hardware path switches.
    unsafe { cpu::set_uif(t.uintr.uif) };
    // Safety: kernel context; one field is written.
    unsafe { (*state()).loaded = t };
}

/// Saves what the CPU changed of `t`'s state and parks its receiver.
fn save(t: &mut Tcb, msrs_loaded: bool) {
    // Safety: only the hardware path loads threads, so UINTR is enabled.
    t.uintr.uif = unsafe { cpu::uif() };
    if msrs_loaded {
        // Safety: as above.
        t.uintr.uirr = unsafe { cpu::read_uirr() };
        // Safety: the thread's receiver slot is consistent; nothing else
        // refers to the receiver here.
        if let Some(r) = unsafe { crate::uintr::objects::receiver_of_thread(t) } {
            park(t, r);
        }
    }
}

/// `t` is about to change its UINTR bindings or go away: its state
/// returns to its TCB and the CPU holds the neutral values, so the next
/// return to user mode loads whatever it has then.
///
/// # Safety
/// `t` is a live TCB or null.
pub unsafe fn unload(t: *mut Tcb) {
    // Safety: kernel context; copies of fields.
    let (path, loaded, msrs_loaded, neutral) = unsafe {
        let s = &*state();
        (s.path, s.loaded, s.msrs_loaded, s.neutral)
    };
    if path != Path::Hardware || loaded != t {
        return;
    }
    // Safety: `t` is the loaded thread, live (its owner is changing or
    // deleting it).
    save(unsafe { &mut *t }, msrs_loaded);
    if msrs_loaded {
        // Safety: the neutral values.
        unsafe { cpu::load_msrs(&neutral, 0) };
    }
    // Safety: kernel context (one core, interrupts off); the reference
    // ends before anything reaches this state again.
    let s = unsafe { &mut *state() };
    s.msrs_loaded = false;
    s.loaded = core::ptr::null_mut();
}

/// `t`'s receiver `r` is no longer its own (unbound or deleted): nothing
/// posted to it may interrupt anyone any more.
pub fn detach(t: &mut Tcb, r: &mut Receiver) {
    // Safety: `t` is a reference to a live TCB.
    unsafe { unload(t) };
    unlink_sleeper(t);
    r.upid.set_sn(true);
}

/// A cap to the UITT at `window` is being deleted: if the CPU holds it
/// for the loaded thread, that thread loads its state again on its next
/// return to user mode (from its TCB, whose slot may be emptied now).
pub fn uitt_going(window: u64) {
    // Safety: kernel context; copies of fields.
    let (loaded, msrs_loaded, loaded_tt) = unsafe {
        let s = &*state();
        (s.loaded, s.msrs_loaded, s.loaded_tt)
    };
    if msrs_loaded && loaded_tt == window | 1 {
        // Safety: the loaded thread is live (a TCB's deletion unloads it).
        unsafe { unload(loaded) };
    }
}

/// `t` is being deleted.
pub fn forget_thread(t: &mut Tcb) {
    // Safety: `t` is a reference to a live TCB.
    unsafe { unload(t) };
    unlink_sleeper(t);
}

/// `r` was just bound to `t`, which is not loaded: it starts parked, as
/// if `t` had just been switched out (the fallback keeps UPIDs running:
/// it processes every notification at once itself).
pub fn attach(t: &mut Tcb, r: &mut Receiver) {
    if hardware() {
        park(t, r);
    } else {
        r.upid.set_sn(false);
    }
}

/// Parks `r`'s UPID for `t`, which stops running.
fn park(t: &mut Tcb, r: &mut Receiver) {
    let blocked = !t.state.is_runnable();
    if parking::park(&mut r.upid, blocked, VECTORS, this_cpu()) {
        // Posted before it was parked (a notification still in flight):
        // the wake interrupt the post would have sent, taken when
        // interrupts are next enabled, like any other.
        apic::send_self_ipi(WAKE_VECTOR);
    }
    if blocked && !t.uintr_sleeping {
        t.uintr_sleeping = true;
        // Safety: kernel context, one field updated; sleepers are live
        // TCBs (deletion unlinks them), and `t` is not one.
        unsafe { (*state()).sleepers.push_front(t) };
    }
}

/// `t` is switched in: its receiver `r` runs again.
fn resume(t: &mut Tcb, r: &mut Receiver) {
    unlink_sleeper(t);
    if parking::resume(&mut r.upid, VECTORS, this_cpu()) {
        // The notification the CPU did not send while it was parked. It
        // arrives once user mode enables interrupts, with `t`'s MSRs.
        apic::send_self_ipi(NOTIFICATION_VECTOR);
        if crate::config::DEBUG_BUILD {
            // Safety: kernel context; one field is updated.
            unsafe { (*state()).notifications_resent += 1 };
        }
    }
}

fn unlink_sleeper(t: &mut Tcb) {
    if !t.uintr_sleeping {
        return;
    }
    // Safety: kernel context, one field updated; the list holds live TCBs
    // (deletion unlinks them), `t` among them.
    unsafe { (*state()).sleepers.remove(t) };
    t.uintr_sleeping = false;
}

/// The wake vector arrived (sent by a post, or re-sent by the kernel for
/// one that reached a receiver just before it was parked): every
/// sleeping receiver with something posted is parked runnable-style
/// (SN set, so no more wake interrupts) and its thread woken through the
/// receiver's notification. PIR stays for the switch-in to deliver.
pub fn wake_interrupt() {
    if crate::config::DEBUG_BUILD {
        // Safety: kernel context; one field is updated.
        unsafe { (*state()).wake_interrupts += 1 };
    }
    // Safety: kernel context; the address of one field. Waking a thread
    // reaches the list again, so it is reached through this pointer alone.
    let sleepers = unsafe { core::ptr::addr_of_mut!((*state()).sleepers) };
    // Safety: the list holds live TCBs with bound receivers (unbinding
    // and deletion unlink them first); waking a thread (signalling its
    // notification) parks or resumes no other, so only the yielded thread
    // leaves the list while it is walked.
    unsafe {
        for t in (*sleepers).iter() {
            let t = &mut *t;
            let r = crate::uintr::objects::receiver_of_thread(t).expect("a sleeping thread has a receiver");
            if !parking::wake(&mut r.upid) {
                continue;
            }
            (*sleepers).remove(t);
            t.uintr_sleeping = false;
            crate::uintr::objects::wake_receiver_thread(r, t);
        }
    }
}
