//! User-interrupt objects (this kernel's extension; `docs/uintr.md`):
//! receivers and UITTs, where they sit in the UINTR window, waking a
//! receiver's thread through its notification, and what deleting their
//! caps undoes.

use crate::arch::x86_64::paging;
use crate::cap::{Cap, CapView, ReceiverHolder, UintrReceiverCap, UittCap};
use crate::config::pptr_to_paddr;
use crate::cspace::cte::Cte;
use crate::cspace::delete;
use crate::kernel_env::KernelEnv;
use crate::sched;
use crate::thread::{tcb_slot, Tcb};
use crate::uintr::format::{UittEntry, Upid};
use crate::uintr::model::UintrState;
use crate::uintr::{switch, window};
use sel4_compat::uintr::{UINTR_RECEIVER_SIZE_BITS, UITT_ENTRIES, UITT_SIZE_BITS};

/// A receiver object: the UPID senders post to, the thread that takes
/// its user interrupts, and a slot for the notification that wakes that
/// thread when one arrives while it is blocked.
#[repr(C, align(64))]
pub struct Receiver {
    pub upid: Upid,
    pub tcb: *mut Tcb,
    /// Where the CPU finds the UPID: its address in the UINTR window.
    pub window: u64,
    pub wake: Cte,
}

const _: () = assert!(core::mem::size_of::<Receiver>() == 1 << UINTR_RECEIVER_SIZE_BITS);

/// A UITT object: the page of entries SENDUIPI reads, then the receiver
/// caps that back them.
#[repr(C)]
pub struct Uitt {
    pub entries: [UittEntry; UITT_ENTRIES],
    pub slots: [Cte; UITT_ENTRIES],
    /// Where the CPU finds the entries: their address in the UINTR window.
    pub window: u64,
}

const _: () = assert!(core::mem::size_of::<Uitt>() <= 1 << UITT_SIZE_BITS);

const _: () = assert!(core::mem::size_of::<[UittEntry; UITT_ENTRIES]>() == 4096, "the entries fill the first page");

/// The highest valid UITT index (the CPU's UITTSZ).
pub const UITT_SIZE: u64 = UITT_ENTRIES as u64 - 1;

/// The receiver object at `ptr`.
///
/// # Safety
/// `ptr` comes from a receiver cap or a UITT entry's backing cap (these
/// only ever name live receivers: deleting the last cap clears every entry
/// first), and the caller makes no other reference to the receiver while
/// the returned one is live.
pub(crate) unsafe fn receiver_of<'a>(ptr: u64) -> &'a mut Receiver {
    // Safety: per the caller's contract.
    unsafe { &mut *(ptr as *mut Receiver) }
}

/// The UITT object `cap` names.
///
/// # Safety
/// The caller makes no other reference to the table while the returned
/// one is live (a UITT cap names a live UITT object).
pub(crate) unsafe fn uitt_of<'a>(cap: UittCap) -> &'a mut Uitt {
    // Safety: per the caller's contract.
    unsafe { &mut *(cap.ptr() as *mut Uitt) }
}

/// The receiver bound to `t`, if any.
///
/// # Safety
/// `t`'s receiver slot is consistent (it holds a receiver cap or none),
/// and the caller makes no other reference to the receiver while the
/// returned one is live.
pub unsafe fn receiver_of_thread<'a>(t: &Tcb) -> Option<&'a mut Receiver> {
    // Safety: a receiver cap; exclusivity is the caller's contract.
    t.slot_cap(tcb_slot::RECEIVER).as_uintr_receiver().map(|cap| unsafe { receiver_of(cap.ptr()) })
}

/// The UITT bound to `t`, if any.
///
/// # Safety
/// As for [`receiver_of_thread`], for the UITT slot and the table.
pub unsafe fn uitt_of_thread<'a>(t: &Tcb) -> Option<&'a mut Uitt> {
    // Safety: a UITT cap; exclusivity is the caller's contract.
    t.slot_cap(tcb_slot::UITT).as_uitt().map(|cap| unsafe { uitt_of(cap) })
}

/// Free slots of the UINTR window: how many receivers and UITTs retype
/// can still create.
pub fn window_slots_free(slots: &window::Slots) -> u64 {
    slots.free() as u64
}

/// Gives the page at `frame_paddr` a free slot of the UINTR window and
/// returns the slot's address. Only the hardware path maps it: on the
/// fallback the CPU never reads the window and the addresses only name
/// UPIDs in UITT entries, so user address spaces keep mapping nothing but
/// the skim window (older CPUs, which take the fallback, are the ones
/// whose speculative loads could read a supervisor-only page).
pub fn map_into_window(slots: &mut window::Slots, frame_paddr: u64) -> Option<u64> {
    let slot = slots.take()?;
    if switch::hardware() {
        paging::map_uintr_window_slot(slot, frame_paddr);
    }
    Some(paging::uintr_window_slot_vaddr(slot))
}

/// Releases the window slot holding `vaddr`.
fn release_window(slots: &mut window::Slots, vaddr: u64) {
    let slot = ((vaddr - paging::UINTR_WINDOW_BASE) / paging::PAGE_SIZE) as usize;
    paging::unmap_uintr_window_slot(slot);
    slots.release(slot);
}

/// Retype created a receiver or a UITT (zeroed): map it where the CPU
/// will look for it. Retype checked that a window slot is free.
pub fn object_created(slots: &mut window::Slots, cap: &Cap) {
    let mut window_of = |ptr: u64| {
        let page = pptr_to_paddr(ptr) & !(paging::PAGE_SIZE - 1);
        map_into_window(slots, page).expect("retype checks the UINTR window has room") + (ptr & (paging::PAGE_SIZE - 1))
    };
    match cap.view() {
        CapView::UintrReceiver(receiver) => {
            // Safety: retype just made the receiver; nothing else refers to it.
            let r = unsafe { receiver_of(receiver.ptr()) };
            r.window = window_of(receiver.ptr());
            // Nothing posted to an unbound receiver interrupts anyone.
            r.upid.set_sn(true);
        }
        // Safety: retype just made the table; nothing else refers to it.
        CapView::Uitt(uitt) => unsafe { uitt_of(uitt) }.window = window_of(uitt.ptr()),
        _ => unreachable!("object_created is given a receiver or UITT cap"),
    }
}

/// Wakes `t`, which a user interrupt for its receiver `r` arrived for,
/// through the receiver's notification, unless it is running or about to
/// (then it takes the interrupt when it next returns to user mode).
pub fn wake_receiver_thread(r: &Receiver, t: &Tcb) {
    // The wake interrupt may arrive while the kernel idles (no current thread).
    let running = sched::is_current(t) || t.state.is_runnable();
    if running {
        return;
    }
    if let Some(ntfn) = r.wake.cap.as_notification() {
        crate::object::notification::send_signal(ntfn.ptr(), ntfn.badge());
    }
}

/// Deletes the cap in one of the kernel-held slots (a TCB's, a receiver's
/// or a UITT's); these hold caps with nothing to finalise at length.
///
/// # Safety
/// `slot` is a live slot in a consistent MDB.
pub(crate) unsafe fn delete_held(env: &mut KernelEnv<'_>, slot: *mut Cte) {
    // Safety: per the caller's contract.
    unsafe { delete::cte_delete_one(slot, env) };
}

/// A receiver cap left its slot: undo what that copy stood for, and when
/// it was the last cap to the receiver, release the wake notification.
pub fn receiver_cap_deleted(env: &mut KernelEnv<'_>, cap: UintrReceiverCap, is_final: bool) {
    match cap.holder() {
        ReceiverHolder::UittEntry(entry) => {
            // Safety: the copy records the entry of the live UITT that holds it.
            unsafe { (entry as *mut UittEntry).write(UittEntry::INVALID) };
        }
        ReceiverHolder::Tcb(tcb) => {
            // Safety: the deleted cap names a live receiver.
            let r = unsafe { receiver_of(cap.ptr()) };
            // Safety: the copy records the live TCB that holds it.
            let t = unsafe { &mut *(tcb as *mut Tcb) };
            switch::detach(t, r);
            if core::ptr::eq(r.tcb, t) {
                r.tcb = core::ptr::null_mut();
            }
            t.uintr = UintrState::default();
        }
        ReceiverHolder::User => {}
    }
    if is_final {
        // Safety: as above.
        let r = unsafe { receiver_of(cap.ptr()) };
        // Safety: the receiver's own wake slot.
        unsafe { delete_held(env, &mut r.wake) };
        release_window(&mut env.global.uintr_window, r.window);
    }
}

/// A UITT cap left its slot. Whichever copy it was (revocation removes
/// the one a TCB holds without asking the TCB), a thread that has the
/// table loaded loads again; when it was the last cap, the entries' caps
/// go with the table.
pub fn uitt_cap_deleted(env: &mut KernelEnv<'_>, cap: UittCap, is_final: bool) {
    // Safety: the deleted cap names a live UITT; the entries' receivers
    // are other objects.
    let table = unsafe { uitt_of(cap) };
    switch::uitt_going(table.window);
    if !is_final {
        return;
    }
    for slot in table.slots.iter_mut() {
        // Safety: a slot of the live table.
        unsafe { delete_held(env, slot) };
    }
    release_window(&mut env.global.uintr_window, table.window);
}
