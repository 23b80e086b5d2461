//! The lock of one partition's batch queue: a mutex whose unlock is a plain store.
//!
//! Every `send` takes its partition's lock once. With `parking_lot::Mutex` that is two locked
//! instructions per record (a compare-exchange to lock, another to unlock), and on x86 each one
//! waits for the record's bytes, just written, to leave the store buffer. Here only the lock is
//! a compare-exchange; the unlock reads the state (the holder owns the cache line) and stores
//! `FREE`, which costs what any store does.
//!
//! The price: a waiter that goes to sleep marks the state `SLEEPING` so the unlock wakes it,
//! and an unlock that read `LOCKED` just before that mark overwrites it with `FREE` and wakes no
//! one. So a sleeping waiter also wakes by itself after [`NAP`] and looks again: in that narrow
//! race a waiter may take the lock up to [`NAP`] late, never later, and mutual exclusion is not
//! affected (only the holder moves the state to `FREE`, and only from `FREE` is it taken).
//! Waiters spin and yield first (`SpinWait`, as parking_lot does), and the lock is held only
//! to copy one record or move a batch, so sleeping is rare. Like `std::sync::Mutex`, it is not
//! fair and not poisoned (code under it does not panic; if it did, the guard still unlocks).
//!
//! Threads: any. A guard may be dropped on another thread than the one that locked.

use parking_lot_core::{park, unpark_one, SpinWait, DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN};
use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

const FREE: u8 = 0;
const LOCKED: u8 = 1;
/// Locked, and some thread may be asleep waiting for it.
const SLEEPING: u8 = 2;

/// The longest a waiter sleeps before it looks at the lock again (the bound on a lost wake).
const NAP: Duration = Duration::from_millis(1);

pub(crate) struct QueueLock<T> {
    state: AtomicU8,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out `&mut T` to one thread at a time, so `T: Send` is all it needs,
// as `std::sync::Mutex`.
unsafe impl<T: Send> Send for QueueLock<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for QueueLock<T> {}

pub(crate) struct QueueGuard<'a, T> {
    lock: &'a QueueLock<T>,
}

impl<T> QueueLock<T> {
    pub(crate) fn new(value: T) -> QueueLock<T> {
        QueueLock { state: AtomicU8::new(FREE), value: UnsafeCell::new(value) }
    }

    #[inline]
    pub(crate) fn lock(&self) -> QueueGuard<'_, T> {
        if self.state.compare_exchange_weak(FREE, LOCKED, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.lock_contended();
        }
        QueueGuard { lock: self }
    }

    /// The key parking_lot_core files this lock's sleepers under: the state's address.
    fn key(&self) -> usize {
        &self.state as *const AtomicU8 as usize
    }

    #[cold]
    fn lock_contended(&self) {
        let mut spin = SpinWait::new();
        // After a sleep, others may still be asleep: take the lock as SLEEPING so that its
        // unlock wakes the next one.
        let mut take_as = LOCKED;
        loop {
            let state = self.state.load(Ordering::Relaxed);
            if state == FREE {
                if self
                    .state
                    .compare_exchange_weak(FREE, take_as, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
                continue;
            }
            if state == LOCKED {
                if spin.spin() {
                    continue;
                }
                if self
                    .state
                    .compare_exchange_weak(LOCKED, SLEEPING, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
                {
                    continue;
                }
            }
            // SAFETY: the key is this lock's own address, used by no other primitive; the
            // callbacks neither panic nor call into parking_lot_core.
            unsafe {
                park(
                    self.key(),
                    || self.state.load(Ordering::Relaxed) == SLEEPING,
                    || {},
                    |_, _| {},
                    DEFAULT_PARK_TOKEN,
                    Some(Instant::now() + NAP),
                );
            }
            take_as = SLEEPING;
            spin.reset();
        }
    }

    #[inline]
    fn unlock(&self) {
        // Only the holder changes the state away from LOCKED or SLEEPING, so this load and
        // store need no read-modify-write (see the module comment for the one race left).
        let state = self.state.load(Ordering::Relaxed);
        self.state.store(FREE, Ordering::Release);
        if state == SLEEPING {
            self.wake_one();
        }
    }

    #[cold]
    fn wake_one(&self) {
        // SAFETY: as in `lock_contended`; the callback only returns the token.
        unsafe {
            unpark_one(self.key(), |_| DEFAULT_UNPARK_TOKEN);
        }
    }
}

impl<T> Deref for QueueGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard's existence means this thread holds the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for QueueGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only borrow through the guard.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for QueueGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn locks_and_unlocks() {
        let lock = QueueLock::new(vec![1]);
        lock.lock().push(2);
        assert_eq!(*lock.lock(), [1, 2]);
        assert_eq!(lock.state.load(Ordering::Relaxed), FREE);
    }

    /// Threads increment a plain counter under the lock: no increment is lost, and nobody
    /// waits forever (the test would hang).
    #[test]
    fn excludes_across_threads() {
        let (threads, each) = if cfg!(miri) { (3, 50) } else { (4, 20_000) };
        let lock = Arc::new(QueueLock::new(0u64));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for _ in 0..each {
                        let mut n = lock.lock();
                        let seen = *n;
                        std::hint::spin_loop();
                        *n = seen + 1;
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*lock.lock(), threads * each);
    }

    /// A holder that keeps the lock long enough for the waiter to go to sleep: the unlock
    /// wakes it (well before a NAP-bounded retry loop could explain the timing), and the
    /// waiter sees what the holder wrote.
    #[test]
    fn a_sleeping_waiter_is_woken_and_sees_the_holders_writes() {
        let lock = Arc::new(QueueLock::new(0u32));
        let guard = lock.lock();
        let waiter = {
            let lock = lock.clone();
            std::thread::spawn(move || *lock.lock())
        };
        let asleep = Instant::now();
        while lock.state.load(Ordering::Relaxed) != SLEEPING {
            assert!(asleep.elapsed() < Duration::from_secs(10), "the waiter never went to sleep");
            std::thread::yield_now();
        }
        let mut guard = guard;
        *guard = 7;
        drop(guard);
        assert_eq!(waiter.join().unwrap(), 7);
        assert_eq!(lock.state.load(Ordering::Relaxed), FREE);
    }

    /// The lost wake the module comment describes: the state says FREE while a waiter sleeps.
    /// The waiter still takes the lock, after at most about a NAP.
    #[test]
    fn a_lost_wake_costs_at_most_a_nap() {
        let lock = Arc::new(QueueLock::new(()));
        let guard = lock.lock();
        let waiter = {
            let lock = lock.clone();
            std::thread::spawn(move || {
                drop(lock.lock());
                Instant::now()
            })
        };
        while lock.state.load(Ordering::Relaxed) != SLEEPING {
            std::thread::yield_now();
        }
        // Release as an unlock that read LOCKED before the waiter marked SLEEPING would.
        std::mem::forget(guard);
        let released = Instant::now();
        lock.state.store(FREE, Ordering::Release);
        let took = waiter.join().unwrap();
        assert!(took >= released);
        if !cfg!(miri) {
            assert!(took - released < Duration::from_secs(1), "took {:?}", took - released);
        }
        assert_eq!(lock.state.load(Ordering::Relaxed), FREE);
    }
}
