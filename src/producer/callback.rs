//! A send callback, stored in the batch without a heap allocation when the closure is small.
//!
//! `send_with_callback` takes any `FnOnce(Result<RecordMetadata>) + Send`. Boxing each one
//! costs a `malloc` on the application thread and a `free` on the sender thread for every
//! record, and a producer-consumer pattern across threads is the slow path of most allocators.
//! A closure of up to six words (48 bytes on 64-bit targets: a timestamp, a counter, a
//! length and an `Arc`, say) is kept in
//! place instead; a larger one is boxed and the box kept in place.
//!
//! Threads: built on the sending application thread, called or dropped on the sender thread
//! (or wherever the batch is resolved).

use super::record::RecordMetadata;
use crate::error::Result;
use std::mem::{align_of, size_of, ManuallyDrop, MaybeUninit};

const WORDS: usize = 6;

type Storage = [MaybeUninit<usize>; WORDS];

/// One record's completion callback.
pub(crate) struct Callback {
    storage: Storage,
    /// Moves the closure out of `storage` and calls it.
    call: unsafe fn(*mut Storage, Result<RecordMetadata>),
    /// Drops the closure in `storage` without calling it.
    drop: unsafe fn(*mut Storage),
}

// SAFETY: a Callback is only built from a closure that is `Send` (see `new`), and it owns that
// closure exclusively.
unsafe impl Send for Callback {}

const fn fits<S>() -> bool {
    size_of::<S>() <= size_of::<Storage>() && align_of::<S>() <= align_of::<Storage>()
}

impl Callback {
    pub(crate) fn new<F>(f: F) -> Callback
    where
        F: FnOnce(Result<RecordMetadata>) + Send + 'static,
    {
        if fits::<F>() {
            Callback::in_place(f)
        } else {
            Callback::in_place(Box::new(f))
        }
    }

    fn in_place<S>(s: S) -> Callback
    where
        S: FnOnce(Result<RecordMetadata>) + Send + 'static,
    {
        assert!(fits::<S>(), "a callback stored in place must fit its storage");
        let mut storage: Storage = [MaybeUninit::uninit(); WORDS];
        // SAFETY: `S` fits `storage` in size and alignment (asserted above), and `storage` is
        // uninitialised memory this Callback owns.
        unsafe { storage.as_mut_ptr().cast::<S>().write(s) };
        Callback { storage, call: call_in_place::<S>, drop: drop_in_place::<S> }
    }

    /// Calls the closure with the record's result, consuming it.
    pub(crate) fn call(self, result: Result<RecordMetadata>) {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: the closure in `storage` is live (a Callback is called or dropped once), and
        // `ManuallyDrop` keeps `Drop` from touching it after `call` moved it out.
        unsafe { (this.call)(&mut this.storage, result) }
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        // SAFETY: the closure is live: `call` consumes the Callback without running `Drop`.
        unsafe { (self.drop)(&mut self.storage) }
    }
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Callback")
    }
}

/// SAFETY: `p` holds a live `S`, which the caller must not use again.
unsafe fn call_in_place<S: FnOnce(Result<RecordMetadata>)>(p: *mut Storage, r: Result<RecordMetadata>) {
    // SAFETY: as the function's contract says; a panic in `s` drops it while unwinding.
    let s = unsafe { p.cast::<S>().read() };
    s(r)
}

/// SAFETY: `p` holds a live `S`, which the caller must not use again.
unsafe fn drop_in_place<S>(p: *mut Storage) {
    // SAFETY: as the function's contract says.
    unsafe { std::ptr::drop_in_place(p.cast::<S>()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, ErrorKind};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    const INLINE_BYTES: usize = WORDS * size_of::<usize>();

    fn metadata() -> RecordMetadata {
        RecordMetadata {
            topic: crate::producer::record::TopicName::new(&"t".into()),
            partition: 3,
            offset: 42,
            timestamp: 7,
            serialized_key_size: -1,
            serialized_value_size: 1,
        }
    }

    #[test]
    fn a_small_closure_is_called_with_the_result() {
        let seen = Arc::new(AtomicUsize::new(0));
        let s = seen.clone();
        assert!(fits::<[u64; 4]>());
        let big_enough = [1u64, 2, 3, 4];
        let cb = Callback::new(move |r: Result<RecordMetadata>| {
            s.store(r.unwrap().offset() as usize + big_enough[3] as usize, Ordering::SeqCst)
        });
        cb.call(Ok(metadata()));
        assert_eq!(seen.load(Ordering::SeqCst), 46);
        assert_eq!(Arc::strong_count(&seen), 1, "the closure's captures are dropped after the call");
    }

    #[test]
    fn a_large_closure_is_boxed_and_called() {
        let seen = Arc::new(AtomicUsize::new(0));
        let s = seen.clone();
        let payload = [9u8; 3 * INLINE_BYTES];
        assert!(!fits::<[u8; 3 * INLINE_BYTES]>());
        let cb = Callback::new(move |r: Result<RecordMetadata>| {
            assert!(r.is_err());
            s.store(payload.iter().map(|&b| b as usize).sum(), Ordering::SeqCst)
        });
        cb.call(Err(Error::new(ErrorKind::Timeout, "expired")));
        assert_eq!(seen.load(Ordering::SeqCst), 9 * 3 * INLINE_BYTES);
        assert_eq!(Arc::strong_count(&seen), 1);
    }

    #[test]
    fn a_callback_dropped_uncalled_drops_its_captures_once() {
        let small = Arc::new(());
        let large = Arc::new(());
        let (s, l, pad) = (small.clone(), large.clone(), [0u64; 16]);
        let a = Callback::new(move |_: Result<RecordMetadata>| drop(s));
        let b = Callback::new(move |_: Result<RecordMetadata>| drop((l, pad)));
        assert_eq!((Arc::strong_count(&small), Arc::strong_count(&large)), (2, 2));
        let moved = vec![a, b];
        drop(moved);
        assert_eq!((Arc::strong_count(&small), Arc::strong_count(&large)), (1, 1));
    }

    #[test]
    fn a_panicking_callback_drops_its_captures_and_nothing_twice() {
        let held = Arc::new(());
        let h = held.clone();
        let cb = Callback::new(move |_: Result<RecordMetadata>| {
            let _keep = &h;
            panic!("callback panics");
        });
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb.call(Ok(metadata()))));
        assert!(r.is_err());
        assert_eq!(Arc::strong_count(&held), 1);
    }
}
