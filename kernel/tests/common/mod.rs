//! A small world for host tests of the capability system: a root CNode
//! and one 4 MiB untyped region in host memory, invoked through the same decode
//! and perform code the kernel runs.

#![allow(dead_code)]

use kernel::cspace::cte::{Cte, MdbNode};
use kernel::object::cap::Cap;
use kernel::object::cap_rules::{cap_ptr, cap_size_bits};
use kernel::object::env::{ObjectEnv, Preempted};
use kernel::object::invocation::{Invocation, InvocationError, SyscallError};
use kernel::object::{cnode, untyped};
use std::alloc::{alloc_zeroed, dealloc, Layout};

pub const ROOT_RADIX: u32 = 8;
pub const ROOT_SLOTS: usize = 1 << ROOT_RADIX;
pub const UT_BITS: u32 = 22;
/// Fixed slots of the test world.
pub const ROOT_CNODE_SLOT: u64 = 1;
pub const UNTYPED_SLOT: u64 = 2;

/// Records side effects and can stop long operations.
#[derive(Default)]
pub struct TestEnv {
    pub finalised: Vec<(Cap, bool)>,
    pub cleaned_up: Vec<Cap>,
    pub cancelled: Vec<(u64, u64)>,
    pub created: Vec<Cap>,
    /// Preempt at every n-th preemption point (0: never).
    pub preempt_every: u64,
    pub units: u64,
}

impl ObjectEnv for TestEnv {
    fn preemption_point(&mut self) -> Result<(), Preempted> {
        self.units += 1;
        if self.preempt_every != 0 && self.units.is_multiple_of(self.preempt_every) {
            Err(Preempted)
        } else {
            Ok(())
        }
    }
    fn finalise(&mut self, cap: &Cap, is_final: bool) {
        self.finalised.push((*cap, is_final));
    }
    fn post_cap_deletion(&mut self, cleanup: &Cap) {
        self.cleaned_up.push(*cleanup);
    }
    fn init_object(&mut self, cap: &Cap) {
        self.created.push(*cap);
    }
    fn cancel_badged_sends(&mut self, ep: u64, badge: u64) {
        self.cancelled.push((ep, badge));
    }
    fn work_units(&self) -> u64 {
        self.units
    }
}

pub struct World {
    pub cnode: Box<[Cte; ROOT_SLOTS]>,
    pub ut_mem: *mut u8,
    pub env: TestEnv,
}

fn ut_layout() -> Layout {
    Layout::from_size_align(1 << UT_BITS, 1 << UT_BITS).unwrap()
}

impl Drop for World {
    fn drop(&mut self) {
        // Safety: allocated in `new` with the same layout.
        unsafe { dealloc(self.ut_mem, ut_layout()) };
    }
}

impl World {
    /// A root CNode of 256 slots (guard 56 bits of zero so a pointer is the
    /// slot index at depth 64) holding a cap to itself and a 4 MiB untyped,
    /// both written as seL4's boot writes caps.
    pub fn new() -> World {
        // Safety: non-zero size.
        let ut_mem = unsafe { alloc_zeroed(ut_layout()) };
        assert!(!ut_mem.is_null());
        // Fill the untyped with garbage: the first retype must clear it.
        // Safety: the allocation is 2^UT_BITS bytes.
        unsafe { core::ptr::write_bytes(ut_mem, 0xa5, 1 << UT_BITS) };
        let mut w = World { cnode: Box::new([Cte::default(); ROOT_SLOTS]), ut_mem, env: TestEnv::default() };
        let root = w.root_cap();
        let ut = Cap::untyped(ut_mem as u64, UT_BITS, false, untyped::max_free_index(UT_BITS));
        for (slot, cap) in [(ROOT_CNODE_SLOT, root), (UNTYPED_SLOT, ut)] {
            w.cnode[slot as usize] = Cte { cap, mdb: MdbNode::new(core::ptr::null_mut(), true, true, core::ptr::null_mut()) };
        }
        w
    }

    pub fn root_cap(&self) -> Cap {
        Cap::cnode(self.cnode.as_ptr() as u64, ROOT_RADIX, 64 - ROOT_RADIX, 0)
    }

    pub fn slot(&mut self, i: u64) -> *mut Cte {
        &mut self.cnode[i as usize] as *mut Cte
    }

    pub fn cap(&self, i: u64) -> Cap {
        self.cnode[i as usize].cap
    }

    fn invocation<'a>(&mut self, label: u64, args: &[u64], extra: &[u64], buffer: &'a mut [u64; 120]) -> Invocation<'a> {
        for (i, a) in args.iter().enumerate() {
            buffer[i] = *a;
        }
        let mut regs = [0; 4];
        for (i, a) in args.iter().take(4).enumerate() {
            regs[i] = *a;
        }
        let extra_caps = extra.iter().map(|&s| self.slot(s)).collect();
        Invocation { label, length: args.len(), regs, buffer: Some(buffer), extra_caps }
    }

    /// Invokes the root CNode (or `cnode_cap`) with `label` and `args`;
    /// `extra` names extra caps by root slot.
    pub fn cnode_with(&mut self, cnode_cap: Cap, label: u64, args: &[u64], extra: &[u64]) -> Result<(), InvocationError> {
        let mut buffer = [0u64; 120];
        let inv = self.invocation(label, args, extra, &mut buffer);
        let env = &mut self.env as *mut TestEnv;
        // Safety: every slot is in the world; `env` is not aliased while used.
        unsafe { cnode::invoke(cnode_cap.as_cnode().expect("a CNode cap to invoke"), &inv, core::ptr::null_mut(), &mut *env) }
    }

    pub fn cnode(&mut self, label: u64, args: &[u64], extra: &[u64]) -> Result<(), InvocationError> {
        let root = self.root_cap();
        self.cnode_with(root, label, args, extra)
    }

    /// Retries a preempted operation as a restarted syscall would.
    pub fn cnode_to_completion(&mut self, label: u64, args: &[u64], extra: &[u64]) -> Result<(), InvocationError> {
        loop {
            match self.cnode(label, args, extra) {
                Err(InvocationError::Preempted) => continue,
                other => return other,
            }
        }
    }

    pub fn untyped_raw(&mut self, ut_slot: u64, label: u64, args: &[u64], extra: &[u64]) -> Result<(), InvocationError> {
        let mut buffer = [0u64; 120];
        let inv = self.invocation(label, args, extra, &mut buffer);
        // The kernel dispatches any other cap to its own type's invocations;
        // here (random operations name any slot) it is simply refused.
        let Some(cap) = self.cap(ut_slot).as_untyped() else {
            return Err(InvocationError::Syscall(SyscallError::InvalidCapability { number: 0 }));
        };
        let slot = self.slot(ut_slot);
        let env = &mut self.env as *mut TestEnv;
        // Safety: as above.
        unsafe { untyped::invoke(slot, cap, &inv, &mut *env) }
    }

    /// Untyped_Retype into the root CNode at `offset..offset+count`.
    pub fn retype(&mut self, ut_slot: u64, object_type: u64, size: u64, offset: u64, count: u64) -> Result<(), InvocationError> {
        loop {
            let r = self.untyped_raw(ut_slot, sel4_compat::invocation::UNTYPED_RETYPE, &[object_type, size, 0, 0, offset, count], &[ROOT_CNODE_SLOT]);
            if r != Err(InvocationError::Preempted) {
                return r;
            }
        }
    }

    /// Checks the MDB list: links are mutual, every non-null slot of the
    /// root CNode is linked consistently, empty slots have null links.
    pub fn check_mdb(&self) {
        for (i, c) in self.cnode.iter().enumerate() {
            if c.cap.is_null() {
                assert_eq!(c.mdb, MdbNode::NULL, "empty slot {i} still linked");
                continue;
            }
            let me = c as *const Cte as *mut Cte;
            if !c.mdb.next().is_null() {
                // Safety: links of a consistent MDB point at slots of the world.
                assert_eq!(unsafe { (*c.mdb.next()).mdb.prev() }, me, "slot {i}: next's prev is not me");
            }
            if !c.mdb.prev().is_null() {
                // Safety: as above.
                assert_eq!(unsafe { (*c.mdb.prev()).mdb.next() }, me, "slot {i}: prev's next is not me");
            }
        }
    }

    /// Slots (root indices) of the descendants of slot `i` per the MDB.
    pub fn descendants(&mut self, i: u64) -> Vec<u64> {
        let base = self.cnode.as_ptr() as u64;
        let me = self.slot(i);
        let mut out = Vec::new();
        // Safety: slots of the world.
        let mut next = unsafe { (*me).mdb.next() };
        // Safety: as above.
        while !next.is_null() && unsafe { kernel::cspace::cte::is_mdb_parent_of(me, next) } {
            let off = next as u64 - base;
            if off < (ROOT_SLOTS as u64) * 32 {
                out.push(off / 32);
            }
            // Safety: as above.
            next = unsafe { (*next).mdb.next() };
        }
        out
    }

    /// Memory is conserved: every cap to memory lies inside the world's
    /// untyped region; everything derived from an untyped lies inside it
    /// and below its free index; and any two objects are the same, nested
    /// (an untyped and what was made from it) or disjoint.
    pub fn check_memory(&mut self) {
        let lo = self.ut_mem as u64;
        let hi = lo + (1 << UT_BITS);
        let region = |cap: &Cap| {
            let start = cap_ptr(cap);
            (start, start + (1u64 << cap_size_bits(cap)))
        };
        let own_cnode = self.cnode.as_ptr() as u64;
        let physical: Vec<(u64, u64)> = self
            .cnode
            .iter()
            .map(|c| c.cap)
            .filter(|c| kernel::object::cap_rules::cap_is_physical(c) && c.as_cnode().is_none_or(|c| c.ptr() != own_cnode))
            .map(|c| region(&c))
            .collect();
        for &(start, end) in &physical {
            assert!(lo <= start && end <= hi, "object {start:#x}..{end:#x} outside the untyped");
        }
        for (i, &a) in physical.iter().enumerate() {
            for &b in &physical[i + 1..] {
                let nested = (a.0 <= b.0 && b.1 <= a.1) || (b.0 <= a.0 && a.1 <= b.1);
                let disjoint = a.1 <= b.0 || b.1 <= a.0;
                assert!(nested || disjoint, "objects {a:x?} and {b:x?} overlap");
            }
        }
        for u in 0..ROOT_SLOTS as u64 {
            let Some(ut) = self.cap(u).as_untyped() else {
                continue;
            };
            let (start, end) = region(&ut.cap());
            let watermark = start + untyped::free_index_to_offset(ut.free_index());
            for d in self.descendants(u) {
                let (ds, de) = region(&self.cap(d));
                assert!(start <= ds && de <= end, "descendant {d} outside its untyped");
                assert!(de <= watermark, "descendant {d} ({ds:#x}..{de:#x}) beyond the free index {watermark:#x}");
            }
        }
    }
}
