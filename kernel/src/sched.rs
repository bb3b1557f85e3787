//! The scheduler: `KernelNumPriorities` priority-ordered ready queues (256
//! in sel4test's configuration) with round-robin inside
//! a priority, seL4's scheduler action (resume the current thread, switch to
//! a chosen one, or choose anew), and getting back to user mode.
//!
//! As in seL4, a runnable current thread is not in a ready queue; it is put
//! back (at the head) only when the scheduler runs.

use crate::arch::x86_64::{cpu, entry, fpu, io};
use crate::domain_schedule::DomainSchedule;
use crate::kernel_state::KernelCell;
use crate::list::List;
use crate::thread::{Tcb, ThreadState};
use sel4_compat::objects::tcb_flag;
use sel4_compat::NUM_PRIORITIES;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    ResumeCurrent,
    ChooseNew,
    SwitchTo(*mut Tcb),
}

/// The kind of list a ready queue is (a TCB's links in it are its
/// `sched_links`).
pub struct ReadyQueue;
crate::list::linked_through!(Tcb, ReadyQueue, sched_links);

type Queue = List<Tcb, ReadyQueue>;

struct Scheduler {
    queues: [Queue; NUM_PRIORITIES],
    /// One bit per non-empty queue.
    bitmap: [u64; BITMAP_WORDS],
    /// One bit per non-zero `bitmap` word (seL4's two-level bitmap), so
    /// that the highest priority is two leading-zero counts away: the
    /// fastpath asks on every IPC.
    bitmap_l1: u64,
    action: Action,
    /// Null while idle.
    current: *mut Tcb,
    /// The thread whose registers the FPU holds.
    fpu_owner: *mut Tcb,
    /// Whether CR0.TS is set (the running thread's FPU is disabled); only
    /// while `fpu_owner` is null.
    fpu_trapping: bool,
    idle_announced: bool,
    domains: DomainSchedule,
}

const BITMAP_WORDS: usize = NUM_PRIORITIES.div_ceil(64);
// The summary word has a bit per bitmap word.
const _: () = assert!(BITMAP_WORDS <= 64);

const EMPTY: Queue = List::new();

static SCHED: KernelCell<Scheduler> = KernelCell::new(Scheduler {
    queues: [EMPTY; NUM_PRIORITIES],
    bitmap: [0; BITMAP_WORDS],
    bitmap_l1: 0,
    action: Action::ResumeCurrent,
    current: core::ptr::null_mut(),
    fpu_owner: core::ptr::null_mut(),
    fpu_trapping: false,
    idle_announced: false,
    domains: DomainSchedule::new(),
});

/// The scheduler's state. A pointer rather than a reference: each use
/// makes a reference of its own that ends before the next call into this
/// module, so that no two overlap (the reentrant paths, such as
/// `reschedule_required` enqueuing, would otherwise hold two).
fn sched() -> *mut Scheduler {
    SCHED.as_ptr()
}

/// The running thread (null while idle).
pub fn current_ptr() -> *mut Tcb {
    // Safety: kernel context; a copy of one field.
    unsafe { (*sched()).current }
}

/// The running thread, or `None` while idle.
///
/// # Safety
/// The caller makes no other reference to the current TCB while the
/// returned one is live.
pub unsafe fn current_opt<'a>() -> Option<&'a mut Tcb> {
    // Safety: `current` is null or a live TCB (TCB deletion suspends the
    // thread first, which takes it off the CPU); exclusivity is the
    // caller's contract.
    unsafe { current_ptr().as_mut() }
}

/// The thread whose registers the current kernel entry saved.
///
/// # Safety
/// As for [`current_opt`].
pub unsafe fn current<'a>() -> &'a mut Tcb {
    // Safety: the caller's contract.
    unsafe { current_opt() }.expect("a kernel entry from user mode always has a current thread")
}

pub fn is_current(t: *const Tcb) -> bool {
    core::ptr::eq(current_ptr(), t)
}

/// Makes `tcb` the running thread (boot).
///
/// # Safety
/// `tcb` is a live TCB.
pub unsafe fn set_current(tcb: *mut Tcb) {
    // Safety: kernel context; one field is written.
    unsafe { (*sched()).current = tcb };
}

/// seL4's `tcbSchedEnqueue`: to the head of its priority's queue.
pub fn enqueue(t: &mut Tcb) {
    if t.in_ready_queue {
        return;
    }
    // Safety: kernel context (one core, interrupts off); the reference
    // ends before anything reaches the scheduler again.
    let s = unsafe { &mut *sched() };
    let p = t.priority as usize;
    // Safety: queued TCBs are live; `t` is on no ready queue.
    unsafe { s.queues[p].push_front(t) };
    s.bitmap[p / 64] |= 1 << (p % 64);
    s.bitmap_l1 |= 1 << (p / 64);
    t.in_ready_queue = true;
}

/// seL4's `tcbSchedAppend`: to the tail of its priority's queue.
pub fn append(t: &mut Tcb) {
    if t.in_ready_queue {
        return;
    }
    // Safety: kernel context (one core, interrupts off); the reference
    // ends before anything reaches the scheduler again.
    let s = unsafe { &mut *sched() };
    let p = t.priority as usize;
    // Safety: as in `enqueue`.
    unsafe { s.queues[p].push_back(t) };
    s.bitmap[p / 64] |= 1 << (p % 64);
    s.bitmap_l1 |= 1 << (p / 64);
    t.in_ready_queue = true;
}

/// seL4's `tcbSchedDequeue`.
pub fn dequeue(t: &mut Tcb) {
    if !t.in_ready_queue {
        return;
    }
    // Safety: kernel context (one core, interrupts off); the reference
    // ends before anything reaches the scheduler again.
    let s = unsafe { &mut *sched() };
    let p = t.priority as usize;
    let q = &mut s.queues[p];
    // Safety: queued TCBs are live, and `t` is on its priority's queue.
    unsafe { q.remove(t) };
    if q.is_empty() {
        s.bitmap[p / 64] &= !(1 << (p % 64));
        if s.bitmap[p / 64] == 0 {
            s.bitmap_l1 &= !(1 << (p / 64));
        }
    }
    t.in_ready_queue = false;
}

#[inline(always)]
fn highest_priority() -> Option<usize> {
    // Safety: kernel context (one core, interrupts off); only read, and the
    // reference ends before anything reaches the scheduler again.
    let s = unsafe { &*sched() };
    if s.bitmap_l1 == 0 {
        return None;
    }
    let word = 63 - s.bitmap_l1.leading_zeros() as usize;
    // Safety: `bitmap_l1` has bits only for words of `bitmap` (fewer than
    // 64 of them), so `word` indexes it; unchecked as it runs on every IPC.
    let bits = unsafe { *s.bitmap.get_unchecked(word) };
    Some(word * 64 + 63 - bits.leading_zeros() as usize)
}

#[inline(always)]
pub fn is_highest_priority(p: u8) -> bool {
    highest_priority().is_none_or(|h| p as usize >= h)
}

/// seL4's `rescheduleRequired`.
pub fn reschedule_required() {
    // Safety: kernel context; a copy of one field.
    if let Action::SwitchTo(t) = unsafe { (*sched()).action } {
        // Safety: a chosen thread is live and runnable.
        enqueue(unsafe { &mut *t });
    }
    // Safety: kernel context; one field is written.
    unsafe { (*sched()).action = Action::ChooseNew };
}

/// seL4's `possibleSwitchTo`: `target` became runnable.
pub fn possible_switch_to(target: &mut Tcb) {
    if !resuming_current() {
        reschedule_required();
        enqueue(target);
    } else {
        // Safety: kernel context; one field is written.
        unsafe { (*sched()).action = Action::SwitchTo(target) };
    }
}

/// seL4's `setThreadState` with its `scheduleTCB`.
pub fn set_thread_state(t: &mut Tcb, state: ThreadState) {
    t.state = state;
    if is_current(t) && resuming_current() && !state.is_runnable() {
        // Safety: kernel context; one field is written.
        unsafe { (*sched()).action = Action::ChooseNew };
    }
}

fn switch_to(t: *mut Tcb) {
    // Safety: chosen threads are live.
    dequeue(unsafe { &mut *t });
    // Safety: kernel context; one field is written.
    unsafe { (*sched()).current = t };
}

fn choose_thread() {
    match highest_priority() {
        // Safety (both arms): kernel context, one field read or written; a
        // non-empty queue's head is a live TCB.
        Some(p) => switch_to(unsafe { (*sched()).queues[p].front() }),
        None => unsafe { (*sched()).current = core::ptr::null_mut() },
    }
}

/// seL4's `scheduleChooseNewThread`: a new domain first if the current
/// one's time is up.
#[inline(always)]
fn choose_new_thread() {
    // Safety: kernel context; the reference is to the domain schedule
    // alone and ends with the call.
    if unsafe { (*sched()).domains.expired() } {
        begin_next_domain();
    }
    choose_thread();
}

/// seL4's `prepareNextDomain` and `nextDomain`: the FPU's registers go back
/// to their owner's TCB (so that no FPU state crosses into the new domain)
/// and the preemption count starts again.
#[cold]
fn begin_next_domain() {
    // Safety: kernel context; a copy of one field. The owner is a live TCB
    // (deletion calls `forget_fpu_owner`).
    if let Some(owner) = unsafe { (*sched()).fpu_owner.as_mut() } {
        release_fpu(owner);
    }
    crate::preemption::reset();
    // Safety: kernel context; the reference is to the domain schedule
    // alone and ends with the call.
    unsafe { (*sched()).domains.next_domain() };
}

/// Runs `f` on the domain schedule (the domain cap's invocations).
pub fn with_domain_schedule<R>(f: impl FnOnce(&mut DomainSchedule) -> R) -> R {
    // Safety: kernel context; domain invocations reach nothing else of the
    // scheduler while `f` runs (they only read and write the schedule).
    f(unsafe { &mut (*sched()).domains })
}

/// seL4's `schedule`.
pub fn schedule() {
    // Safety: kernel context; a copy of one field.
    let action = unsafe { (*sched()).action };
    if action == Action::ResumeCurrent {
        return;
    }
    // Safety: as above.
    let current = unsafe { (*sched()).current };
    // Safety: `current` is null or live.
    let was_runnable = unsafe { current.as_mut() }.is_some_and(|c| {
        let runnable = c.state.is_runnable();
        if runnable {
            enqueue(c);
        }
        runnable
    });
    match action {
        Action::ChooseNew => choose_new_thread(),
        Action::SwitchTo(candidate) => {
            // Safety: candidates are live and runnable.
            let cand = unsafe { &mut *candidate };
            // Safety: as above.
            let cur_prio = unsafe { current.as_ref() }.map(|c| c.priority);
            let fastfail = cur_prio.is_none_or(|p| cand.priority < p);
            if fastfail && !is_highest_priority(cand.priority) {
                enqueue(cand);
                choose_new_thread();
            } else if was_runnable && Some(cand.priority) == cur_prio {
                append(cand);
                choose_new_thread();
            } else {
                switch_to(candidate);
            }
        }
        Action::ResumeCurrent => {}
    }
    // Safety: kernel context; one field is written.
    unsafe { (*sched()).action = Action::ResumeCurrent };
}

/// Checks the ready queues: links both ways, each thread on the queue of
/// its priority and runnable, the bitmap matching the non-empty queues.
pub fn check_queues() -> Result<(), &'static str> {
    // Safety: kernel context; only read, and nothing below reaches the
    // scheduler.
    let s = unsafe { &*sched() };
    for (p, q) in s.queues.iter().enumerate() {
        let bit = s.bitmap[p / 64] & (1 << (p % 64)) != 0;
        if bit == q.is_empty() {
            return Err("bitmap and queue disagree");
        }
        if (s.bitmap_l1 >> (p / 64)) & 1 != (s.bitmap[p / 64] != 0) as u64 {
            return Err("the bitmap's summary word and its words disagree");
        }
        let mut prev: *mut Tcb = core::ptr::null_mut();
        // Safety: queued TCBs are live.
        for t in unsafe { q.iter() } {
            // Safety: as above.
            let tcb = unsafe { &*t };
            if tcb.sched_links.prev() != prev || !tcb.in_ready_queue || tcb.priority as usize != p {
                return Err("a queued thread's links, flag or priority are wrong");
            }
            if !tcb.state.is_runnable() {
                return Err("a queued thread is not runnable");
            }
            prev = t;
        }
        if q.back() != prev {
            return Err("a queue's tail is not its last thread");
        }
    }
    Ok(())
}

/// A timer tick for the running thread (seL4's `timerTick`).
pub fn timer_tick() {
    // Safety: nothing else refers to the current TCB here.
    if let Some(t) = unsafe { current_opt() } {
        if t.state.is_runnable() {
            t.time_slice = t.time_slice.saturating_sub(1);
            if t.time_slice == 0 {
                t.time_slice = crate::config::TIME_SLICE_TICKS;
                append(t);
                reschedule_required();
            }
        }
    }
    // Safety: kernel context; the reference is to the domain schedule
    // alone and ends with the call.
    if unsafe { (*sched()).domains.tick() } {
        reschedule_required();
    }
}

/// Runs the scheduler and returns to the chosen thread, or idles.
pub fn schedule_and_return() -> ! {
    loop {
        schedule();
        // Safety: nothing else refers to the current TCB from here on.
        let Some(tcb) = (unsafe { current_opt() }) else {
            idle_once();
            continue;
        };
        let Some(vspace) = tcb.vspace_root_paddr() else {
            kprintln!("thread \"{}\" has no valid VSpace root (an assigned PML4); it is now inactive", tcb.name());
            set_thread_state(tcb, ThreadState::Inactive);
            continue;
        };
        // seL4's `activateThread`: a restarted thread re-executes.
        if tcb.state == ThreadState::Restart {
            tcb.ctx.regs.rip = tcb.restart_pc;
            tcb.state = ThreadState::Running;
        }
        enter_user(tcb, vspace)
    }
}

/// The fastpath hands the CPU straight to `next`, which it has made
/// runnable, without consulting the ready queues: `next` is at least as
/// important as anything queued (the fastpath checked), and neither it nor
/// the blocked previous thread is on a ready queue.
#[inline(always)]
pub fn switch_directly_and_return(next: &mut Tcb, vspace: u64) -> ! {
    // The fastpath began by checking that nothing but resuming the current
    // thread was pending, and changed nothing the scheduler looks at, so
    // the action stays as it was.
    debug_assert!(next.state == ThreadState::Running && !next.in_ready_queue && resuming_current());
    // Safety: kernel context; one field is written.
    unsafe { (*sched()).current = next };
    enter_user(next, vspace)
}

/// Whether nothing but resuming the current thread is pending.
#[inline(always)]
pub fn resuming_current() -> bool {
    // Safety: kernel context; a copy of one field.
    unsafe { (*sched()).action == Action::ResumeCurrent }
}

/// Returns to `tcb` in user mode on its address space `vspace`. Inlined
/// so that the fastpath's exit is straight-line code.
#[inline(always)]
fn enter_user(tcb: &mut Tcb, vspace: u64) -> ! {
    // On the hardware path the thread's UINTR state goes to the CPU, which
    // delivers; on the fallback a due user interrupt is delivered on the
    // way out (its part of what the CPU does), and if its frame cannot be
    // stored the thread takes that fault instead.
    if crate::uintr::switch::hardware() {
        crate::uintr::switch::switch_to(tcb);
    } else if tcb.uintr.may_deliver() {
        if let Err(fault) = crate::uintr::emulate::deliver_due(tcb) {
            crate::fault::handle_fault(tcb, fault);
            schedule_and_return()
        }
    }
    switch_fpu(tcb);
    cpu::load_fs_gs_base(tcb.fs_base, tcb.gs_base);
    // Safety: the TCB's context is a user frame (created by the kernel and
    // only changed through checked register writes); the VSpace root maps
    // the skim window (every PML4 gets it when created).
    unsafe { entry::restore_user_context(&mut tcb.ctx, vspace) }
}

/// Gives the FPU to `tcb`, saving the previous owner's registers (seL4's
/// `lazyFPURestore`). A thread whose FPU is disabled gets none: it runs
/// with CR0.TS set, so that its first FPU instruction faults. Two facts
/// keep the common path short: a disabled thread is never the owner, and
/// CR0.TS is set only while there is no owner.
#[inline(always)]
fn switch_fpu(tcb: &mut Tcb) {
    // Safety: kernel context; a copy of one field.
    if core::ptr::eq(unsafe { (*sched()).fpu_owner }, tcb) {
        return;
    }
    if tcb.flags & tcb_flag::FPU_DISABLED != 0 {
        run_with_fpu_disabled();
        return;
    }
    // Safety: kernel context (one core, interrupts off); the reference
    // ends before anything reaches the scheduler again.
    let s = unsafe { &mut *sched() };
    // Safety: the owner is a live TCB (deletion calls `forget_fpu_owner`).
    match unsafe { s.fpu_owner.as_mut() } {
        Some(owner) => fpu::save(&mut owner.fpu),
        None if s.fpu_trapping => {
            fpu::enable();
            s.fpu_trapping = false;
        }
        None => {}
    }
    fpu::restore(&tcb.fpu);
    s.fpu_owner = tcb;
}

/// Sets CR0.TS for a thread whose FPU is disabled, saving the owner's
/// registers first (so that the FPU has no owner while it traps).
#[cold]
fn run_with_fpu_disabled() {
    // Safety: kernel context (one core, interrupts off); the reference
    // ends before anything reaches the scheduler again.
    let s = unsafe { &mut *sched() };
    if s.fpu_trapping {
        return;
    }
    // Safety: as in `switch_fpu`.
    if let Some(owner) = unsafe { s.fpu_owner.as_mut() } {
        fpu::save(&mut owner.fpu);
        s.fpu_owner = core::ptr::null_mut();
    }
    fpu::disable();
    s.fpu_trapping = true;
}

/// seL4's `fpuRelease`: if the FPU holds `tcb`'s registers, they are saved
/// into its TCB and the FPU belongs to no thread.
pub fn release_fpu(tcb: &mut Tcb) {
    // Safety: kernel context (one core, interrupts off); the reference
    // ends before anything reaches the scheduler again.
    let s = unsafe { &mut *sched() };
    if core::ptr::eq(s.fpu_owner, tcb) {
        // CR0.TS is clear while there is an owner.
        fpu::save(&mut tcb.fpu);
        s.fpu_owner = core::ptr::null_mut();
    }
}

/// A TCB is being deleted: its FPU registers need not be saved.
pub fn forget_fpu_owner(tcb: *mut Tcb) {
    // Safety: kernel context (one core, interrupts off); the reference
    // ends before anything reaches the scheduler again.
    let s = unsafe { &mut *sched() };
    if s.fpu_owner == tcb {
        s.fpu_owner = core::ptr::null_mut();
    }
}

/// Whether the kernel has idled (waited for an interrupt with nothing to
/// run) since boot.
pub fn has_idled() -> bool {
    // Safety: kernel context; a copy of one field.
    unsafe { (*sched()).idle_announced }
}

/// Nothing can run: wait for one interrupt with interrupts enabled.
fn idle_once() {
    // Safety: kernel context (one core, interrupts off); the reference
    // ends before anything reaches the scheduler again.
    let s = unsafe { &mut *sched() };
    if !s.idle_announced {
        s.idle_announced = true;
        kprintln!("no runnable threads; idling");
    }
    // The kernel runs on its own page tables, so no address space that may
    // be torn down meanwhile is loaded. The interrupt that ends the wait is
    // a kernel entry of its own, which changes the kernel state.
    io::wait_for_interrupt(crate::kernel_state::address());
}
