//! A reference-counted pointer, like `Arc`, whose owner can pay for references in advance.
//!
//! Every record's [`SendFuture`](super::future::SendFuture) holds a reference to its batch's
//! shared completion state. With `Arc`, handing out each one is a locked increment on the
//! application thread, under the partition lock, on every `send`. A batch instead owns a
//! [`PrepaidRefs`]: it takes references in blocks (one atomic add of `block`) and hands them out
//! one by one without touching the count ([`PrepaidRefs::take`]); the references it did not hand
//! out go back with one subtraction when it is dropped.
//!
//! The count is the number of live `SharedRef`s plus the prepaid references not handed out.
//! It reaches zero only when the last `SharedRef` drops, which frees the value, as `Arc` does:
//! a prepaying owner holds a `SharedRef` of its own, so its prepaid and refunded references
//! never take the count to zero.
//!
//! Threads: any; the count is atomic. A `PrepaidRefs` is used by one thread at a time (`&mut`).

use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicUsize, Ordering};

/// The heap block: the count beside the value.
struct Counted<T> {
    refs: AtomicUsize,
    value: T,
}

/// One counted reference to a `T` on the heap.
pub(crate) struct SharedRef<T> {
    ptr: NonNull<Counted<T>>,
}

// SAFETY: a SharedRef gives shared access to `T` from any thread holding one, and the last one
// drops `T` on whichever thread drops it: exactly `Arc<T>`'s requirements.
unsafe impl<T: Send + Sync> Send for SharedRef<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for SharedRef<T> {}

/// More references than this and the count could overflow (as `Arc`, abort instead).
const MAX_REFS: usize = isize::MAX as usize;

impl<T> SharedRef<T> {
    /// `value` on the heap, with this one reference to it.
    pub(crate) fn new(value: T) -> SharedRef<T> {
        let block = Box::new(Counted { refs: AtomicUsize::new(1), value });
        SharedRef { ptr: NonNull::from(Box::leak(block)) }
    }

    fn counted(&self) -> &Counted<T> {
        // SAFETY: the block lives while any reference to it does, and `self` is one.
        unsafe { self.ptr.as_ref() }
    }

    /// Adds `n` references for the caller to hand out with [`take_prepaid`](Self::take_prepaid)
    /// or give back with [`refund`](Self::refund).
    fn prepay(&self, n: usize) {
        if self.counted().refs.fetch_add(n, Ordering::Relaxed) > MAX_REFS - n {
            std::process::abort();
        }
    }

    /// A new reference paid for by an earlier [`prepay`](Self::prepay); the count is not
    /// touched.
    ///
    /// # Safety
    /// The caller must have prepaid at least one reference through `self` (or a reference to
    /// the same value) that it has neither taken nor refunded yet, and counts this one as taken.
    unsafe fn take_prepaid(&self) -> SharedRef<T> {
        SharedRef { ptr: self.ptr }
    }

    /// Gives back `n` prepaid references that were not handed out. `self` is a live reference,
    /// so the count stays above zero.
    fn refund(&self, n: usize) {
        if n > 0 {
            let before = self.counted().refs.fetch_sub(n, Ordering::Release);
            debug_assert!(before > n, "a refund took the count to zero while a reference is alive");
        }
    }

    /// The current count (live references plus prepaid ones not handed out); for tests.
    #[cfg(test)]
    pub(crate) fn count(&self) -> usize {
        self.counted().refs.load(Ordering::Acquire)
    }
}

/// A reference that hands out more references to the same value from prepaid blocks, and
/// gives back the ones it did not hand out when dropped.
pub(crate) struct PrepaidRefs<T> {
    own: SharedRef<T>,
    /// References prepaid through `own` and not handed out yet.
    left: usize,
    /// How many to prepay when none is left.
    block: usize,
}

impl<T> PrepaidRefs<T> {
    /// `value` on the heap; references are prepaid `block` at a time (at least one).
    pub(crate) fn new(value: T, block: usize) -> PrepaidRefs<T> {
        PrepaidRefs { own: SharedRef::new(value), left: 0, block: block.max(1) }
    }

    /// Another reference to the value; touches the count only when a new block is prepaid.
    pub(crate) fn take(&mut self) -> SharedRef<T> {
        if self.left == 0 {
            self.own.prepay(self.block);
            self.left = self.block;
        }
        self.left -= 1;
        // SAFETY: one of the references prepaid through `own` and neither taken nor refunded;
        // it is counted as taken just above.
        unsafe { self.own.take_prepaid() }
    }

    /// The current count (see [`SharedRef::count`]); for tests.
    #[cfg(test)]
    pub(crate) fn count(&self) -> usize {
        self.own.count()
    }
}

impl<T> Drop for PrepaidRefs<T> {
    fn drop(&mut self) {
        // `own` drops after this, with its own reference.
        self.own.refund(std::mem::take(&mut self.left));
    }
}

impl<T> Deref for PrepaidRefs<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.own
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for PrepaidRefs<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl<T> Clone for SharedRef<T> {
    fn clone(&self) -> SharedRef<T> {
        self.prepay(1);
        SharedRef { ptr: self.ptr }
    }
}

impl<T> Drop for SharedRef<T> {
    fn drop(&mut self) {
        if self.counted().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // The last reference: every other one's uses happen before this free (the Release
        // decrements above, this Acquire fence), as in `Arc`.
        fence(Ordering::Acquire);
        // SAFETY: the block came from `Box::leak` in `new`, and no reference to it is left.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

impl<T> Deref for SharedRef<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.counted().value
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for SharedRef<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    /// Sets its flag when dropped.
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn prepaid_references_are_counted_and_the_value_freed_with_the_last_one() {
        let dropped = Arc::new(AtomicBool::new(false));
        let mut owner = PrepaidRefs::new(Flag(dropped.clone()), 4);
        assert_eq!(owner.count(), 1);
        let taken: Vec<_> = (0..3).map(|_| owner.take()).collect();
        assert_eq!(owner.count(), 5, "one block of four prepaid, three of them taken");
        let more: Vec<_> = (0..2).map(|_| owner.take()).collect();
        assert_eq!(owner.count(), 9, "the fifth reference prepaid a second block");
        let clone = taken[0].clone();
        assert_eq!(owner.count(), 10);
        drop(owner);
        assert_eq!(clone.count(), 6, "the owner's three unused references went back with it");
        drop(taken);
        drop(more);
        assert!(!dropped.load(Ordering::SeqCst), "a clone is still alive");
        assert_eq!(clone.count(), 1);
        drop(clone);
        assert!(dropped.load(Ordering::SeqCst));
    }

    #[test]
    fn references_dropped_on_other_threads_free_the_value_once() {
        let dropped = Arc::new(AtomicBool::new(false));
        let mut owner = PrepaidRefs::new(Flag(dropped.clone()), 64);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let refs: Vec<_> = (0..16).map(|_| owner.take()).collect();
                std::thread::spawn(move || {
                    for r in refs {
                        let c = r.clone();
                        drop(r);
                        drop(c);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(!dropped.load(Ordering::SeqCst));
        assert_eq!(owner.count(), 1);
        drop(owner);
        assert!(dropped.load(Ordering::SeqCst));
    }
}
