//! Property test: random sequences of CNode and Untyped invocations
//! against a reference model of the derivation tree that keeps explicit
//! parent links (where the kernel keeps seL4's linked list).
//!
//! After every step: a refused invocation changed nothing; the MDB links
//! are consistent; every cap's descendants in the kernel's list are
//! exactly its descendants in the model; revoke removed exactly the
//! model's descendants; every object lies inside the untyped and below
//! its watermark (memory is conserved, no cap dangles).

mod common;

use common::*;
use kernel::object::cap::{Cap, CapView};
use kernel::object::cap_rules::same_region_as;
use kernel::object::invocation::InvocationError;
use proptest::prelude::*;
use sel4_compat::invocation::*;
use sel4_compat::object_type as ty;
use std::collections::{BTreeMap, BTreeSet};

/// Slots the random operations use.
const FIRST: u64 = 3;
const LAST: u64 = 12;

#[derive(Clone, Debug)]
enum Op {
    Retype { ut: u64, kind: u8, dest: u64, count: u64 },
    Copy { src: u64, dest: u64, rights: u64 },
    Mint { src: u64, dest: u64, rights: u64, badge: u64 },
    Move { src: u64, dest: u64 },
    Mutate { src: u64, dest: u64, data: u64 },
    Rotate { src: u64, pivot: u64, dest: u64 },
    Delete { slot: u64 },
    Revoke { slot: u64 },
}

fn slot() -> impl Strategy<Value = u64> {
    prop_oneof![FIRST..=LAST, Just(UNTYPED_SLOT)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (slot(), 0u8..6, FIRST..=LAST, 1u64..4).prop_map(|(ut, kind, dest, count)| Op::Retype { ut, kind, dest, count }),
        3 => (slot(), FIRST..=LAST, 0u64..16).prop_map(|(src, dest, rights)| Op::Copy { src, dest, rights }),
        3 => (slot(), FIRST..=LAST, 0u64..16, 0u64..4).prop_map(|(src, dest, rights, badge)| Op::Mint { src, dest, rights, badge }),
        1 => (slot(), FIRST..=LAST).prop_map(|(src, dest)| Op::Move { src, dest }),
        1 => (slot(), FIRST..=LAST, 0u64..3).prop_map(|(src, dest, data)| Op::Mutate { src, dest, data }),
        1 => (slot(), slot(), FIRST..=LAST).prop_map(|(src, pivot, dest)| Op::Rotate { src, pivot, dest }),
        2 => slot().prop_map(|slot| Op::Delete { slot }),
        2 => slot().prop_map(|slot| Op::Revoke { slot }),
    ]
}

/// A model node: the cap's MDB flags and its parent slot.
#[derive(Clone, Copy, Debug)]
struct Node {
    parent: Option<u64>,
    revocable: bool,
    #[allow(dead_code)]
    first_badged: bool,
}

#[derive(Default)]
struct Model {
    nodes: BTreeMap<u64, Node>,
}

fn badge(c: &Cap) -> Option<u64> {
    match c.view() {
        CapView::Endpoint(ep) => Some(ep.badge()),
        CapView::Notification(ntfn) => Some(ntfn.badge()),
        _ => None,
    }
}

impl Model {
    fn descendants(&self, s: u64) -> BTreeSet<u64> {
        let mut out = BTreeSet::new();
        let mut frontier = vec![s];
        while let Some(p) = frontier.pop() {
            for (&c, n) in &self.nodes {
                if n.parent == Some(p) && out.insert(c) {
                    frontier.push(c);
                }
            }
        }
        out
    }

    /// Removes a node; its children move up to its parent.
    fn remove(&mut self, s: u64) {
        let Some(gone) = self.nodes.remove(&s) else { return };
        for n in self.nodes.values_mut() {
            if n.parent == Some(s) {
                n.parent = gone.parent;
            }
        }
    }

    fn relocate(&mut self, from: u64, to: u64) {
        if let Some(n) = self.nodes.remove(&from) {
            self.nodes.insert(to, n);
            for m in self.nodes.values_mut() {
                if m.parent == Some(from) {
                    m.parent = Some(to);
                }
            }
        }
    }

    /// A copy of the cap in `src` was placed in `dest` (caps as now in the
    /// world): it is `src`'s child when `src` heads a subtree that covers
    /// it, and `src`'s sibling otherwise.
    fn copied(&mut self, w: &World, src: u64, dest: u64) {
        let (src_cap, new_cap) = (w.cap(src), w.cap(dest));
        let s = self.nodes[&src];
        let revocable = kernel::object::cap_rules::is_cap_revocable(&new_cap, &src_cap);
        let child = s.revocable
            && same_region_as(&src_cap, &new_cap)
            && match badge(&src_cap) {
                Some(b) if b != 0 => badge(&new_cap) == Some(b) && !revocable,
                _ => true,
            };
        let parent = if child { Some(src) } else { s.parent };
        self.nodes.insert(dest, Node { parent, revocable, first_badged: revocable });
    }
}

fn snapshot(w: &World) -> Vec<(Cap, kernel::cspace::cte::MdbNode)> {
    w.cnode.iter().map(|c| (c.cap, c.mdb)).collect()
}

fn check(w: &mut World, m: &Model) {
    w.check_mdb();
    w.check_memory();
    let live: BTreeSet<u64> = (0..ROOT_SLOTS as u64).filter(|&i| !w.cap(i).is_null() && i != ROOT_CNODE_SLOT).collect();
    let modelled: BTreeSet<u64> = m.nodes.keys().copied().collect();
    assert_eq!(live, modelled, "slots holding caps differ from the model");
    for &s in &live {
        let real: BTreeSet<u64> = w.descendants(s).into_iter().collect();
        assert_eq!(real, m.descendants(s), "descendants of slot {s} differ (cap {:?})", w.cap(s));
    }
}

fn run(ops: Vec<Op>) {
    let mut w = World::new();
    let mut m = Model::default();
    m.nodes.insert(UNTYPED_SLOT, Node { parent: None, revocable: true, first_badged: true });
    let root = [ROOT_CNODE_SLOT];
    for op in ops {
        let before = snapshot(&w);
        let revoke_victims = if let Op::Revoke { slot } = op { m.descendants(slot) } else { BTreeSet::new() };
        let result = match op {
            Op::Retype { ut, kind, dest, count } => {
                let (t, size) =
                    [(ty::ENDPOINT, 0), (ty::NOTIFICATION, 0), (ty::UNTYPED, 12), (ty::UNTYPED, 14), (ty::CAP_TABLE, 2), (ty::TCB, 0)][kind as usize];
                w.retype(ut, t, size, dest, count.min(LAST + 1 - dest))
            }
            Op::Copy { src, dest, rights } => w.cnode(CNODE_COPY, &[dest, 64, src, 64, rights], &root),
            Op::Mint { src, dest, rights, badge } => w.cnode(CNODE_MINT, &[dest, 64, src, 64, rights, badge], &root),
            Op::Move { src, dest } => w.cnode(CNODE_MOVE, &[dest, 64, src, 64], &root),
            Op::Mutate { src, dest, data } => w.cnode(CNODE_MUTATE, &[dest, 64, src, 64, data], &root),
            Op::Rotate { src, pivot, dest } => w.cnode(CNODE_ROTATE, &[dest, 64, 0, pivot, 64, 0, src, 64], &[ROOT_CNODE_SLOT, ROOT_CNODE_SLOT]),
            Op::Delete { slot } => w.cnode_to_completion(CNODE_DELETE, &[slot, 64], &[]),
            Op::Revoke { slot } => w.cnode_to_completion(CNODE_REVOKE, &[slot, 64], &[]),
        };
        match result {
            Err(InvocationError::Syscall(_)) => {
                assert!(snapshot(&w) == before, "a refused {op:?} changed the CSpace");
                continue;
            }
            Err(InvocationError::Preempted) => unreachable!("retried to completion"),
            Ok(()) => {}
        }
        match op {
            Op::Retype { ut, dest, count, .. } => {
                for d in dest..(dest + count).min(LAST + 1) {
                    m.nodes.insert(d, Node { parent: Some(ut), revocable: true, first_badged: true });
                }
            }
            Op::Copy { src, dest, .. } | Op::Mint { src, dest, .. } => m.copied(&w, src, dest),
            Op::Move { src, dest } | Op::Mutate { src, dest, .. } => m.relocate(src, dest),
            Op::Rotate { src, pivot, dest } => {
                if src == dest {
                    m.relocate(src, u64::MAX);
                    m.relocate(pivot, src);
                    m.relocate(u64::MAX, pivot);
                } else {
                    m.relocate(pivot, dest);
                    m.relocate(src, pivot);
                }
            }
            Op::Delete { slot } => m.remove(slot),
            Op::Revoke { .. } => {
                for v in &revoke_victims {
                    assert!(w.cap(*v).is_null(), "revoke left descendant slot {v}");
                    m.remove(*v);
                }
                let survivors: Vec<u64> = m.nodes.keys().copied().collect();
                for s in survivors {
                    assert!(!w.cap(s).is_null(), "revoke removed non-descendant slot {s}");
                }
            }
        }
        check(&mut w, &m);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn random_invocations_match_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops);
    }
}

#[test]
fn preempted_operations_give_the_same_result() {
    // The same fixed sequence with and without preemption ends in the same
    // capability state.
    let build = |preempt: u64| {
        let mut w = World::new();
        w.env.preempt_every = preempt;
        w.retype(UNTYPED_SLOT, ty::ENDPOINT, 0, 3, 3).unwrap();
        for i in 0..10 {
            w.cnode(CNODE_MINT, &[6 + i, 64, 3, 64, 0xf, i], &[ROOT_CNODE_SLOT]).unwrap();
        }
        w.retype(UNTYPED_SLOT, ty::CAP_TABLE, 3, 20, 2).unwrap();
        w.cnode_to_completion(CNODE_REVOKE, &[3, 64], &[]).unwrap();
        w.cnode_to_completion(CNODE_DELETE, &[20, 64], &[]).unwrap();
        w.cnode_to_completion(CNODE_REVOKE, &[UNTYPED_SLOT, 64], &[]).unwrap();
        w.retype(UNTYPED_SLOT, ty::NOTIFICATION, 0, 3, 2).unwrap();
        (0..ROOT_SLOTS as u64).map(|i| w.cap(i).tag()).collect::<Vec<_>>()
    };
    assert_eq!(build(0), build(2));
}
