//! The kernel's one intrusive list: doubly linked through a [`Links`]
//! field inside each node, so that joining and leaving a list allocate
//! nothing and take constant time. A node type has one such field per
//! list it can be on (a TCB: the ready queue, an endpoint or notification
//! queue, the debug list, the UINTR sleepers), told apart by a tag type
//! (see [`linked_through!`]); a node is on at most one list per tag.
//!
//! Where a list keeps its first and last nodes is left to an [`Ends`]:
//! a plain pair ([`HeadTail`]), or the two words of an seL4 endpoint or
//! notification ([`PackedEnds`]), whose layout seL4 fixes.
//!
//! Nodes are raw pointers (they are kernel objects the list does not own),
//! so the operations that follow them are `unsafe fn`s.

use core::marker::PhantomData;

/// A node's links in one list: null at the list's ends, and both null
/// while the node is on no list (zeroed memory is an unlinked node).
pub struct Links<T> {
    prev: *mut T,
    next: *mut T,
}

impl<T> Links<T> {
    pub const UNLINKED: Self = Self { prev: core::ptr::null_mut(), next: core::ptr::null_mut() };

    pub fn prev(&self) -> *mut T {
        self.prev
    }

    pub fn next(&self) -> *mut T {
        self.next
    }
}

/// A node type that can be on a list of kind `Tag`.
///
/// # Safety
/// `links` returns a pointer into `*node` (the same field on every call),
/// and no two tags of one node type share a field.
pub unsafe trait Linked<Tag>: Sized {
    /// The node's links for lists of kind `Tag`.
    ///
    /// # Safety
    /// `node` points at a live node.
    unsafe fn links(node: *mut Self) -> *mut Links<Self>;
}

/// Implements [`Linked`]`<$tag>` for `$node` through its `$field`, of
/// type [`Links`]`<$node>`.
// The kernel's lists are all in modules built only for the bare-metal target.
#[cfg_attr(not(any(test, target_os = "none")), allow(unused_macros))]
macro_rules! linked_through {
    ($node:ty, $tag:ty, $field:ident) => {
        // Safety: the field is inside the node, one per tag (the caller
        // names a different field for each tag).
        unsafe impl $crate::list::Linked<$tag> for $node {
            #[inline(always)]
            unsafe fn links(node: *mut Self) -> *mut $crate::list::Links<Self> {
                // Safety: `node` is live (the caller's contract); no
                // reference is made.
                unsafe { &raw mut (*node).$field }
            }
        }
    };
}
#[cfg_attr(not(any(test, target_os = "none")), allow(unused_imports))]
pub(crate) use linked_through;

/// Where a list keeps its first and last nodes (both null when empty).
pub trait Ends<T> {
    fn head(&self) -> *mut T;
    fn tail(&self) -> *mut T;
    fn set_head(&mut self, head: *mut T);
    fn set_tail(&mut self, tail: *mut T);
}

/// The ends as two pointers.
pub struct HeadTail<T> {
    head: *mut T,
    tail: *mut T,
}

impl<T> Ends<T> for HeadTail<T> {
    #[inline(always)]
    fn head(&self) -> *mut T {
        self.head
    }
    #[inline(always)]
    fn tail(&self) -> *mut T {
        self.tail
    }
    #[inline(always)]
    fn set_head(&mut self, head: *mut T) {
        self.head = head;
    }
    #[inline(always)]
    fn set_tail(&mut self, tail: *mut T) {
        self.tail = tail;
    }
}

/// The ends of an seL4 endpoint's or notification's queue, in the
/// object's own words: the head, and the tail with the object's 2-bit
/// state in its low bits (nodes are aligned, so those bits of a node
/// pointer are zero).
///
/// Both objects encode idle as 0 and are idle exactly when a change
/// empties their queue, so emptying the list writes an idle tail word;
/// a non-empty list's tail word carries `busy_state`, the state the
/// object has while threads are queued (so that joining a queue stores
/// the tail and the state in one write, as seL4 does).
pub struct PackedEnds<'a, T> {
    head: &'a mut u64,
    tail_and_state: &'a mut u64,
    busy_state: u64,
    node: PhantomData<*mut T>,
}

/// The state bits of a packed tail word.
pub const PACKED_STATE_MASK: u64 = 3;

impl<'a, T> PackedEnds<'a, T> {
    #[inline(always)]
    pub fn new(head: &'a mut u64, tail_and_state: &'a mut u64, busy_state: u64) -> Self {
        debug_assert!(busy_state & !PACKED_STATE_MASK == 0);
        const { assert!(core::mem::align_of::<T>() > PACKED_STATE_MASK as usize) };
        Self { head, tail_and_state, busy_state, node: PhantomData }
    }
}

impl<T> Ends<T> for PackedEnds<'_, T> {
    #[inline(always)]
    fn head(&self) -> *mut T {
        *self.head as *mut T
    }
    #[inline(always)]
    fn tail(&self) -> *mut T {
        (*self.tail_and_state & !PACKED_STATE_MASK) as *mut T
    }
    #[inline(always)]
    fn set_head(&mut self, head: *mut T) {
        *self.head = head as u64;
    }
    #[inline(always)]
    fn set_tail(&mut self, tail: *mut T) {
        *self.tail_and_state = if tail.is_null() { 0 } else { tail as u64 | self.busy_state };
    }
}

/// A list of `T`s linked through their `Tag` links, its ends kept in `E`.
pub struct List<T, Tag, E = HeadTail<T>> {
    ends: E,
    node: PhantomData<*mut T>,
    tag: PhantomData<fn() -> Tag>,
}

impl<T, Tag> List<T, Tag> {
    pub const fn new() -> Self {
        Self::from_ends(HeadTail { head: core::ptr::null_mut(), tail: core::ptr::null_mut() })
    }
}

impl<T, Tag> Default for List<T, Tag> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, Tag, E> List<T, Tag, E> {
    /// The list whose ends `ends` holds.
    #[inline(always)]
    pub const fn from_ends(ends: E) -> Self {
        Self { ends, node: PhantomData, tag: PhantomData }
    }
}

impl<T: Linked<Tag>, Tag, E: Ends<T>> List<T, Tag, E> {
    /// The first node, or null.
    #[inline(always)]
    pub fn front(&self) -> *mut T {
        self.ends.head()
    }

    /// The last node, or null.
    #[inline(always)]
    pub fn back(&self) -> *mut T {
        self.ends.tail()
    }

    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.ends.head().is_null()
    }

    /// Puts `node` first.
    ///
    /// # Safety
    /// `node` and the listed nodes are live, and `node` is on no list of
    /// this tag.
    #[inline(always)]
    pub unsafe fn push_front(&mut self, node: *mut T) {
        let head = self.ends.head();
        // Safety: per the contract, all nodes touched are live.
        unsafe {
            *T::links(node) = Links { prev: core::ptr::null_mut(), next: head };
            if head.is_null() {
                self.ends.set_tail(node);
            } else {
                (*T::links(head)).prev = node;
            }
        }
        self.ends.set_head(node);
    }

    /// Puts `node` last.
    ///
    /// # Safety
    /// As for [`List::push_front`].
    #[inline(always)]
    pub unsafe fn push_back(&mut self, node: *mut T) {
        let tail = self.ends.tail();
        // Safety: per the contract, all nodes touched are live.
        unsafe {
            *T::links(node) = Links { prev: tail, next: core::ptr::null_mut() };
            if tail.is_null() {
                self.ends.set_head(node);
            } else {
                (*T::links(tail)).next = node;
            }
        }
        self.ends.set_tail(node);
    }

    /// Takes `node` off the list.
    ///
    /// # Safety
    /// The listed nodes are live and `node` is one of them.
    #[inline(always)]
    pub unsafe fn remove(&mut self, node: *mut T) {
        // Safety: per the contract, `node` and its neighbours are live.
        unsafe {
            let links = T::links(node);
            let Links { prev, next } = *links;
            if prev.is_null() {
                self.ends.set_head(next);
            } else {
                (*T::links(prev)).next = next;
            }
            if next.is_null() {
                self.ends.set_tail(prev);
            } else {
                (*T::links(next)).prev = prev;
            }
            *links = Links::UNLINKED;
        }
    }

    /// Takes `first`, the list's first node, off it: [`List::remove`]
    /// knowing that there is no previous node.
    ///
    /// # Safety
    /// The listed nodes are live and `first` is the first of them.
    #[inline(always)]
    pub unsafe fn remove_first(&mut self, first: *mut T) {
        debug_assert!(self.ends.head() == first);
        // Safety: per the contract, `first` and its successor are live;
        // the first node's `prev` is already null.
        unsafe {
            let next = (*T::links(first)).next;
            self.ends.set_head(next);
            if next.is_null() {
                self.ends.set_tail(core::ptr::null_mut());
            } else {
                (*T::links(next)).prev = core::ptr::null_mut();
            }
            (*T::links(first)).next = core::ptr::null_mut();
        }
    }

    /// Takes the first node off the list and returns it, or null if the
    /// list is empty.
    ///
    /// # Safety
    /// The listed nodes are live.
    #[inline(always)]
    pub unsafe fn pop_front(&mut self) -> *mut T {
        let first = self.ends.head();
        if !first.is_null() {
            // Safety: per the contract.
            unsafe { self.remove_first(first) };
        }
        first
    }

    /// The nodes, first to last. Each node's successor is read before the
    /// node is yielded, so the caller may take the yielded node off the
    /// list (and no other).
    ///
    /// # Safety
    /// The listed nodes are live while the iterator is used.
    #[inline(always)]
    pub unsafe fn iter(&self) -> Iter<T, Tag> {
        Iter { next: self.ends.head(), marker: PhantomData }
    }

    /// Whether `node` is on this list.
    ///
    /// # Safety
    /// The listed nodes are live.
    pub unsafe fn contains(&self, node: *const T) -> bool {
        // Safety: per the contract.
        unsafe { self.iter() }.any(|n| core::ptr::eq(n, node))
    }

    /// Empties the list, yielding its nodes first to last, each unlinked
    /// as it is yielded.
    ///
    /// # Safety
    /// The listed nodes are live while the iterator is used.
    #[inline(always)]
    pub unsafe fn drain(&mut self) -> Drain<T, Tag> {
        let next = self.ends.head();
        self.ends.set_head(core::ptr::null_mut());
        self.ends.set_tail(core::ptr::null_mut());
        Drain { next, marker: PhantomData }
    }
}

/// See [`List::iter`].
pub struct Iter<T, Tag> {
    next: *mut T,
    marker: PhantomData<fn() -> Tag>,
}

impl<T: Linked<Tag>, Tag> Iterator for Iter<T, Tag> {
    type Item = *mut T;

    #[inline(always)]
    fn next(&mut self) -> Option<*mut T> {
        let node = self.next;
        if node.is_null() {
            return None;
        }
        // Safety: listed nodes are live (`List::iter`'s contract).
        self.next = unsafe { (*T::links(node)).next };
        Some(node)
    }
}

/// See [`List::drain`].
pub struct Drain<T, Tag> {
    next: *mut T,
    marker: PhantomData<fn() -> Tag>,
}

impl<T: Linked<Tag>, Tag> Iterator for Drain<T, Tag> {
    type Item = *mut T;

    #[inline(always)]
    fn next(&mut self) -> Option<*mut T> {
        let node = self.next;
        if node.is_null() {
            return None;
        }
        // Safety: the drained nodes are live (`List::drain`'s contract)
        // and no list refers to them any more.
        unsafe {
            let links = T::links(node);
            self.next = (*links).next;
            *links = Links::UNLINKED;
        }
        Some(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    /// Two kinds of list, so that one node is on two lists at once.
    struct TagA;
    struct TagB;

    #[repr(align(8))]
    struct Node {
        a: Links<Node>,
        b: Links<Node>,
    }
    crate::list::linked_through!(Node, TagA, a);
    crate::list::linked_through!(Node, TagB, b);

    const NODES: usize = 8;
    /// Lists per tag; list 0 of each tag keeps its ends packed.
    const LISTS: usize = 3;

    #[derive(Clone, Debug)]
    enum Op {
        PushFront {
            tag: usize,
            list: usize,
            node: usize,
        },
        PushBack {
            tag: usize,
            list: usize,
            node: usize,
        },
        Remove {
            tag: usize,
            node: usize,
        },
        RemoveFirst {
            tag: usize,
            list: usize,
        },
        PopFront {
            tag: usize,
            list: usize,
        },
        Drain {
            tag: usize,
            list: usize,
        },
        /// Removes every node with an odd index while iterating.
        RemoveOddWhileIterating {
            tag: usize,
            list: usize,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        let (t, l, n) = (0..2usize, 0..LISTS, 0..NODES);
        prop_oneof![
            4 => (t.clone(), l.clone(), n.clone()).prop_map(|(tag, list, node)| Op::PushFront { tag, list, node }),
            4 => (t.clone(), l.clone(), n.clone()).prop_map(|(tag, list, node)| Op::PushBack { tag, list, node }),
            3 => (t.clone(), n).prop_map(|(tag, node)| Op::Remove { tag, node }),
            1 => (t.clone(), l.clone()).prop_map(|(tag, list)| Op::RemoveFirst { tag, list }),
            1 => (t.clone(), l.clone()).prop_map(|(tag, list)| Op::PopFront { tag, list }),
            1 => (t.clone(), l.clone()).prop_map(|(tag, list)| Op::Drain { tag, list }),
            1 => (t, l).prop_map(|(tag, list)| Op::RemoveOddWhileIterating { tag, list }),
        ]
    }

    /// The lists of one tag, their ends as plain pairs or packed words.
    struct Lists<Tag> {
        plain: [List<Node, Tag>; LISTS],
        /// The packed ends of list 0: head, tail and state.
        words: (u64, u64),
    }

    const BUSY: u64 = 2;

    impl<Tag> Lists<Tag>
    where
        Node: Linked<Tag>,
    {
        fn new() -> Self {
            Self { plain: [List::new(), List::new(), List::new()], words: (0, 0) }
        }

        /// Runs `f` on list `i`.
        fn with<R>(&mut self, i: usize, f: impl FnOnce(&mut dyn AnyList) -> R) -> R {
            if i == 0 {
                let (head, tail) = (&mut self.words.0, &mut self.words.1);
                f(&mut List::<Node, Tag, _>::from_ends(PackedEnds::new(head, tail, BUSY)))
            } else {
                f(&mut self.plain[i])
            }
        }
    }

    /// The operations, object-safe, so that both kinds of ends run the
    /// same test code.
    trait AnyList {
        fn front(&self) -> *mut Node;
        fn back(&self) -> *mut Node;
        fn is_empty(&self) -> bool;
        fn push_front(&mut self, n: *mut Node);
        fn push_back(&mut self, n: *mut Node);
        fn remove(&mut self, n: *mut Node);
        fn remove_first(&mut self, n: *mut Node);
        fn pop_front(&mut self) -> *mut Node;
        fn drain(&mut self) -> Vec<*mut Node>;
        fn iter(&self) -> Vec<*mut Node>;
        fn remove_while_iterating(&mut self, pick: &dyn Fn(*mut Node) -> bool) -> Vec<*mut Node>;
        fn contains(&self, n: *mut Node) -> bool;
        fn links(&self, n: *mut Node) -> (*mut Node, *mut Node);
    }

    impl<Tag, E: Ends<Node>> AnyList for List<Node, Tag, E>
    where
        Node: Linked<Tag>,
    {
        fn front(&self) -> *mut Node {
            List::front(self)
        }
        fn back(&self) -> *mut Node {
            List::back(self)
        }
        fn is_empty(&self) -> bool {
            List::is_empty(self)
        }
        fn push_front(&mut self, n: *mut Node) {
            // Safety: the nodes are `run`'s, live for the whole test.
            unsafe { List::push_front(self, n) }
        }
        fn push_back(&mut self, n: *mut Node) {
            // Safety: the nodes are `run`'s, live for the whole test.
            unsafe { List::push_back(self, n) }
        }
        fn remove(&mut self, n: *mut Node) {
            // Safety: the nodes are `run`'s, live for the whole test.
            unsafe { List::remove(self, n) }
        }
        fn remove_first(&mut self, n: *mut Node) {
            // Safety: the nodes are `run`'s, live for the whole test.
            unsafe { List::remove_first(self, n) }
        }
        fn pop_front(&mut self) -> *mut Node {
            // Safety: the nodes are `run`'s, live for the whole test.
            unsafe { List::pop_front(self) }
        }
        fn drain(&mut self) -> Vec<*mut Node> {
            // Safety: the nodes are `run`'s, live for the whole test.
            unsafe { List::drain(self) }.collect()
        }
        fn iter(&self) -> Vec<*mut Node> {
            // Safety: the nodes are `run`'s, live for the whole test.
            unsafe { List::iter(self) }.collect()
        }
        fn remove_while_iterating(&mut self, pick: &dyn Fn(*mut Node) -> bool) -> Vec<*mut Node> {
            let mut seen = Vec::new();
            // Safety: the nodes are `run`'s, live for the whole test.
            for n in unsafe { List::iter(self) } {
                seen.push(n);
                if pick(n) {
                    // Safety: the nodes are `run`'s, live for the whole test.
                    unsafe { List::remove(self, n) };
                }
            }
            seen
        }
        fn contains(&self, n: *mut Node) -> bool {
            // Safety: the nodes are `run`'s, live for the whole test.
            unsafe { List::contains(self, n) }
        }
        fn links(&self, n: *mut Node) -> (*mut Node, *mut Node) {
            // Safety: the nodes are `run`'s, live for the whole test.
            let l = unsafe { &*Node::links(n) };
            (l.prev(), l.next())
        }
    }

    struct Model {
        /// Per tag: each list's nodes in order.
        lists: [[VecDeque<usize>; LISTS]; 2],
    }

    impl Model {
        fn list_of(&self, tag: usize, node: usize) -> Option<usize> {
            self.lists[tag].iter().position(|l| l.contains(&node))
        }
    }

    fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
        let mut nodes: Vec<Node> = (0..NODES).map(|_| Node { a: Links::UNLINKED, b: Links::UNLINKED }).collect();
        let base = nodes.as_mut_ptr();
        let ptr = |i: usize| base.wrapping_add(i);
        let index = |p: *mut Node| (p as usize - base as usize) / core::mem::size_of::<Node>();
        let mut a = Lists::<TagA>::new();
        let mut b = Lists::<TagB>::new();
        let mut model = Model { lists: Default::default() };
        for op in ops {
            let with = |tag: usize, list: usize, a: &mut Lists<TagA>, b: &mut Lists<TagB>, f: &mut dyn FnMut(&mut dyn AnyList)| {
                if tag == 0 {
                    a.with(list, |l| f(l))
                } else {
                    b.with(list, |l| f(l))
                }
            };
            match op {
                Op::PushFront { tag, list, node } | Op::PushBack { tag, list, node } => {
                    if model.list_of(tag, node).is_some() {
                        continue;
                    }
                    let front = matches!(op, Op::PushFront { .. });
                    with(tag, list, &mut a, &mut b, &mut |l| if front { l.push_front(ptr(node)) } else { l.push_back(ptr(node)) });
                    if front {
                        model.lists[tag][list].push_front(node);
                    } else {
                        model.lists[tag][list].push_back(node);
                    }
                }
                Op::Remove { tag, node } => {
                    let Some(list) = model.list_of(tag, node) else { continue };
                    with(tag, list, &mut a, &mut b, &mut |l| l.remove(ptr(node)));
                    model.lists[tag][list].retain(|&n| n != node);
                }
                Op::RemoveFirst { tag, list } => {
                    let Some(&first) = model.lists[tag][list].front() else { continue };
                    with(tag, list, &mut a, &mut b, &mut |l| l.remove_first(ptr(first)));
                    model.lists[tag][list].pop_front();
                }
                Op::PopFront { tag, list } => {
                    let mut got = core::ptr::null_mut();
                    with(tag, list, &mut a, &mut b, &mut |l| got = l.pop_front());
                    let want = model.lists[tag][list].pop_front();
                    prop_assert_eq!(want.map(ptr).unwrap_or(core::ptr::null_mut()), got);
                }
                Op::Drain { tag, list } => {
                    let mut got = Vec::new();
                    with(tag, list, &mut a, &mut b, &mut |l| got = l.drain());
                    let want: Vec<_> = model.lists[tag][list].drain(..).map(ptr).collect();
                    prop_assert_eq!(want, got);
                }
                Op::RemoveOddWhileIterating { tag, list } => {
                    let mut seen = Vec::new();
                    let odd = |p: *mut Node| index(p) % 2 == 1;
                    with(tag, list, &mut a, &mut b, &mut |l| seen = l.remove_while_iterating(&odd));
                    let want: Vec<_> = model.lists[tag][list].iter().copied().map(ptr).collect();
                    prop_assert_eq!(want, seen);
                    model.lists[tag][list].retain(|&n| n % 2 == 0);
                }
            }
            // Every list agrees with the model, both ways, and every
            // node's links with its place.
            for tag in 0..2 {
                for list in 0..LISTS {
                    let want: Vec<*mut Node> = model.lists[tag][list].iter().copied().map(ptr).collect();
                    let mut result = Ok(());
                    with(tag, list, &mut a, &mut b, &mut |l| {
                        result = (|| {
                            prop_assert_eq!(&l.iter(), &want);
                            prop_assert_eq!(l.is_empty(), want.is_empty());
                            prop_assert_eq!(l.front(), want.first().copied().unwrap_or(core::ptr::null_mut()));
                            prop_assert_eq!(l.back(), want.last().copied().unwrap_or(core::ptr::null_mut()));
                            for (i, &n) in want.iter().enumerate() {
                                let prev = if i == 0 { core::ptr::null_mut() } else { want[i - 1] };
                                let next = want.get(i + 1).copied().unwrap_or(core::ptr::null_mut());
                                prop_assert_eq!(l.links(n), (prev, next));
                                prop_assert!(l.contains(n));
                            }
                            Ok(())
                        })();
                    });
                    result?;
                }
                // Unlisted nodes have null links.
                for node in 0..NODES {
                    if model.list_of(tag, node).is_none() {
                        let mut links = (core::ptr::null_mut(), core::ptr::null_mut());
                        let mut listed = false;
                        with(tag, 1, &mut a, &mut b, &mut |l| {
                            links = l.links(ptr(node));
                            listed = l.contains(ptr(node));
                        });
                        prop_assert_eq!(links, (core::ptr::null_mut(), core::ptr::null_mut()));
                        prop_assert!(!listed);
                    }
                }
            }
            // The packed lists' words: the head, and the tail with the
            // busy state, or zero when empty.
            for (tag, words) in [a.words, b.words].into_iter().enumerate() {
                let l = &model.lists[tag][0];
                let head = l.front().map(|&n| ptr(n) as u64).unwrap_or(0);
                let tail = l.back().map(|&n| ptr(n) as u64 | BUSY).unwrap_or(0);
                prop_assert_eq!(words, (head, tail));
            }
        }
        drop(nodes);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn lists_match_a_model(ops in proptest::collection::vec(op(), 0..80)) {
            run(ops)?;
        }
    }
}
