//! A reference-counted pointer, like `Arc`, whose owner can pay for references in advance.
//!
//! Every record's [`SendFuture`](super::future::SendFuture) holds a reference to its batch's
//! shared completion state. With `Arc`, handing out each one is a locked increment on the
//! application thread, under the partition lock, on every `send`. A batch instead takes
//! references in blocks ([`SharedRef::prepay`]: one atomic add of `n`) and hands them out one
//! by one without touching the count ([`SharedRef::take_prepaid`]); the references it did not
//! hand out go back with one subtraction when the batch is done ([`SharedRef::refund`]).
//!
//! The count is the number of live `SharedRef`s plus the prepaid references not handed out.
//! It reaches zero only when the last `SharedRef` drops, which frees the value, as `Arc` does:
//! a prepaying owner holds a `SharedRef` of its own, so its prepaid and refunded references
//! never take the count to zero.
//!
//! Threads: any; the count is atomic. The prepaying owner keeps its own tally of references
//! prepaid and not yet taken (see `BatchCompletion`).

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

    /// Adds `n` references that the caller will hand out with [`take_prepaid`](Self::take_prepaid)
    /// or give back with [`refund`](Self::refund).
    pub(crate) fn prepay(&self, n: usize) {
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
    pub(crate) unsafe fn take_prepaid(&self) -> SharedRef<T> {
        SharedRef { ptr: self.ptr }
    }

    /// Gives back `n` prepaid references that were not handed out. `self` is a live reference,
    /// so the count stays above zero.
    pub(crate) fn refund(&self, n: usize) {
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
        let owner = SharedRef::new(Flag(dropped.clone()));
        owner.prepay(4);
        assert_eq!(owner.count(), 5);
        // SAFETY: four were prepaid; three are taken.
        let taken: Vec<_> = (0..3).map(|_| unsafe { owner.take_prepaid() }).collect();
        assert_eq!(owner.count(), 5, "taking a prepaid reference leaves the count alone");
        owner.refund(1);
        assert_eq!(owner.count(), 4);
        let clone = taken[0].clone();
        assert_eq!(owner.count(), 5);
        drop(owner);
        drop(taken);
        assert!(!dropped.load(Ordering::SeqCst), "a clone is still alive");
        assert_eq!(clone.count(), 1);
        drop(clone);
        assert!(dropped.load(Ordering::SeqCst));
    }

    #[test]
    fn references_dropped_on_other_threads_free_the_value_once() {
        let dropped = Arc::new(AtomicBool::new(false));
        let owner = SharedRef::new(Flag(dropped.clone()));
        owner.prepay(64);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                // SAFETY: 64 were prepaid; 4 x 16 are taken.
                let refs: Vec<_> = (0..16).map(|_| unsafe { owner.take_prepaid() }).collect();
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
