//! A reference-counted pointer, like `Arc`, whose owner can pay for references in advance.
//!
//! Every record's [`SendFuture`](super::future::SendFuture) holds a reference to its batch's
//! shared completion state. With `Arc`, handing out each one is a locked increment on the
//! application thread, under the partition lock, on every `send`. A batch instead owns a
//! [`PrepaidRefs`]: it takes references in blocks (one atomic add of `block`) and hands them out
//! one by one without touching the count ([`PrepaidRefs::take`]); the references it did not hand
//! out go back with one subtraction when it is dropped.
//!
//! Dropping a reference is cheap the same way: a thread keeps the references it drops to one
//! block in a pending run and subtracts them together when it next drops a reference to another
//! block, or when it ends (see `deferred`). A thread that drops each record's future, batch after
//! batch, pays one atomic subtraction per batch.
//!
//! The count is the number of live `SharedRef`s plus the prepaid references not handed out
//! plus the dropped ones still pending in some thread's run.
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
        deferred::release(self.ptr.cast(), release_n::<T>);
    }
}

/// Subtracts `n` references from the block at `ptr`, freeing it when they were the last.
///
/// # Safety
/// `ptr` is a `Counted<T>` block of this module, and the caller gives up `n` references to it
/// that it owns (it will not use them again).
unsafe fn release_n<T>(ptr: NonNull<()>, n: usize) {
    let ptr = ptr.cast::<Counted<T>>();
    // SAFETY: the caller's references keep the block alive until this subtraction.
    if unsafe { ptr.as_ref() }.refs.fetch_sub(n, Ordering::Release) != n {
        return;
    }
    // The last references: every other one's uses happen before this free (the Release
    // subtractions above, this Acquire fence), as in `Arc`.
    fence(Ordering::Acquire);
    // SAFETY: the block came from `Box::leak` in `new`, and no reference to it is left.
    drop(unsafe { Box::from_raw(ptr.as_ptr()) });
}

/// Dropped references are subtracted in runs: each thread holds the references it dropped to
/// one block (the last one it dropped a reference to) and subtracts them all at once when it
/// drops a reference to another block, or when the thread ends. A thread that drops the future
/// of every record it sends, batch after batch, pays one atomic subtraction per batch instead
/// of one per `send`; the price is that the last block a thread touched is freed only at its
/// next drop of another block's reference (or its exit).
mod deferred {
    use std::cell::Cell;
    use std::ptr::NonNull;

    /// References to one block that this thread dropped and has not subtracted yet.
    #[derive(Clone, Copy)]
    struct Run {
        block: NonNull<()>,
        count: usize,
        release: unsafe fn(NonNull<()>, usize),
    }

    impl Run {
        /// # Safety
        /// The run's references are owned by the caller and not used again.
        unsafe fn release(self) {
            // SAFETY: `release` is `release_n` of the block's type, which the caller's
            // references to the block satisfy.
            unsafe { (self.release)(self.block, self.count) }
        }
    }

    struct Slot(Cell<Option<Run>>);

    impl Drop for Slot {
        fn drop(&mut self) {
            if let Some(run) = self.0.take() {
                // SAFETY: the slot owned the run's references.
                unsafe { run.release() }
            }
        }
    }

    thread_local! {
        static PENDING: Slot = const { Slot(Cell::new(None)) };
    }

    /// Gives up one reference to `block`, now or in a later run.
    pub(super) fn release(block: NonNull<()>, release: unsafe fn(NonNull<()>, usize)) {
        let one = Run { block, count: 1, release };
        // The slot is updated before a replaced run is released: releasing may drop the value,
        // and with it references to other blocks, which come back here.
        let replaced = PENDING.try_with(|slot| match slot.0.get() {
            Some(mut run) if run.block == block => {
                run.count += 1;
                slot.0.set(Some(run));
                None
            }
            other => {
                slot.0.set(Some(one));
                other
            }
        });
        match replaced {
            Ok(None) => {}
            // SAFETY: the run's references were the slot's, and it holds them no more.
            Ok(Some(run)) => unsafe { run.release() },
            // The thread is ending and its slot is gone: at once.
            // SAFETY: the caller gives up this reference.
            Err(_) => unsafe { one.release() },
        }
    }

    /// Subtracts this thread's pending references now; for tests that count them.
    #[cfg(test)]
    pub(crate) fn flush() {
        if let Some(run) = PENDING.with(|slot| slot.0.take()) {
            // SAFETY: as in `release`.
            unsafe { run.release() }
        }
    }
}

#[cfg(test)]
pub(crate) use deferred::flush as flush_deferred;

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
        assert_eq!(clone.count(), 7, "the owner's three unused references went back with it");
        flush_deferred();
        assert_eq!(clone.count(), 6, "and its own reference with the pending run");
        drop(taken);
        drop(more);
        flush_deferred();
        assert!(!dropped.load(Ordering::SeqCst), "a clone is still alive");
        assert_eq!(clone.count(), 1);
        drop(clone);
        flush_deferred();
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
        // Each thread's pending run was subtracted when it ended.
        assert!(!dropped.load(Ordering::SeqCst));
        assert_eq!(owner.count(), 1);
        drop(owner);
        flush_deferred();
        assert!(dropped.load(Ordering::SeqCst));
    }

    /// References dropped to one block wait in this thread's run; dropping a reference to
    /// another block subtracts them in one go and starts a run for that block.
    #[test]
    fn dropped_references_are_subtracted_in_runs() {
        flush_deferred();
        let (a_dropped, b_dropped) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let a = SharedRef::new(Flag(a_dropped.clone()));
        let b = SharedRef::new(Flag(b_dropped.clone()));
        let a_refs: Vec<_> = (0..5).map(|_| a.clone()).collect();
        assert_eq!(a.count(), 6);
        drop(a_refs);
        assert_eq!(a.count(), 6, "five drops pending in this thread's run");
        drop(b.clone());
        assert_eq!(a.count(), 1, "a reference to another block ended the run");
        assert_eq!(b.count(), 2, "and started one of its own");
        drop(a);
        assert_eq!(b.count(), 1);
        assert!(!a_dropped.load(Ordering::SeqCst), "a's last reference is pending");
        drop(b);
        assert!(a_dropped.load(Ordering::SeqCst), "freed when the run ended");
        assert!(!b_dropped.load(Ordering::SeqCst));
        flush_deferred();
        assert!(b_dropped.load(Ordering::SeqCst));
    }

    /// A value that holds references to other blocks: freeing it at the end of a run drops
    /// those, which re-enter the run machinery; nothing is lost or freed twice.
    #[test]
    fn freeing_a_value_that_holds_references_ends_runs_correctly() {
        flush_deferred();
        // Held only to be dropped with the holder.
        #[allow(dead_code)]
        struct Holder(Flag, Vec<SharedRef<Flag>>);
        let flags: Vec<_> = (0..3).map(|_| Arc::new(AtomicBool::new(false))).collect();
        let inner: Vec<_> = flags[1..].iter().map(|f| SharedRef::new(Flag(f.clone()))).collect();
        let probes: Vec<_> = inner.iter().map(SharedRef::clone).collect();
        let outer = SharedRef::new(Holder(Flag(flags[0].clone()), inner));
        drop(outer); // pending
        drop(probes[0].clone()); // ends the outer run: the holder and its references go
        assert!(flags[0].load(Ordering::SeqCst));
        flush_deferred();
        assert_eq!((probes[0].count(), probes[1].count()), (1, 1));
        drop(probes);
        flush_deferred();
        assert!(flags.iter().all(|f| f.load(Ordering::SeqCst)), "every value freed once");
    }

    /// A thread's pending run is subtracted when the thread ends.
    #[test]
    fn a_thread_that_ends_gives_back_its_pending_references() {
        let dropped = Arc::new(AtomicBool::new(false));
        let value = SharedRef::new(Flag(dropped.clone()));
        let theirs: Vec<_> = (0..3).map(|_| value.clone()).collect();
        std::thread::spawn(move || drop(theirs)).join().unwrap();
        assert_eq!(value.count(), 1);
        drop(value);
        flush_deferred();
        assert!(dropped.load(Ordering::SeqCst));
    }
}
