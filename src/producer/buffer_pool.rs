//! The bounded buffer pool: `buffer.memory` bytes, handed out as batch buffers.
//!
//! Buffers of exactly `batch.size` bytes are recycled through a free list (Java's
//! `BufferPool`); other sizes are allocated and freed. When the pool cannot serve a request,
//! the caller blocks for at most `max.block.ms`; waiters are served in arrival order, and a
//! request never allocates past the bound.
//!
//! Waking with slack: a freed buffer wakes the first waiter only once it could take its
//! request plus [`BufferPool::slack`] bytes (or the whole pool is free), so that a thread
//! filling a full pool blocks once per several batches rather than once per batch; a waiter
//! also looks again on its own every [`RECHECK`], so memory that is enough but stays short of
//! the slack is never waited for longer than that.
//!
//! Waking after the sender's writes: the sender thread frees memory while it reads responses,
//! before it writes the next requests. A thread it wakes then tends to run on the sender's own
//! core (the kernel wakes a thread where its waker runs) and preempt it, for as long as it
//! takes to fill the slack, while the broker, its requests all answered, sits idle. So the
//! sender thread's frees only note the wake-up ([`BufferPool::defer_wakes_on_this_thread`]),
//! and the sender makes it once its turn's requests are written
//! ([`BufferPool::wake_deferred`]).
//!
//! Threads: application threads allocate (inside `send`); the sender thread frees when a
//! batch completes. Locks: `state` (guards: free list, unpooled byte count, waiter queue,
//! closed flag) is held for bookkeeping only; the allocation itself happens outside it.

use crate::error::{Error, ErrorKind, Result};
use parking_lot::{Condvar, Mutex};
use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How often a blocked caller looks at the pool without being woken.
const RECHECK: Duration = Duration::from_millis(5);

thread_local! {
    /// On a sender thread: the address of its producer's pool, whose wake-ups it defers; 0
    /// elsewhere.
    static DEFERS_WAKES_OF: Cell<usize> = const { Cell::new(0) };
}

struct State {
    // guards: everything below
    free: Vec<Vec<u8>>,
    /// Bytes not held by any buffer (neither lent out nor on the free list).
    unpooled_available: usize,
    /// Tickets of blocked callers and the bytes each asks for, in arrival order.
    waiters: VecDeque<(u64, usize)>,
    next_ticket: u64,
    closed: bool,
}

impl State {
    /// Bytes a request could take now: unpooled memory plus the recycled buffers.
    fn available(&self, poolable: usize) -> usize {
        self.unpooled_available + self.free.len() * poolable
    }
}

/// `buffer.memory` accounting and batch-buffer recycling.
pub(crate) struct BufferPool {
    total: usize,
    poolable: usize,
    /// Bytes beyond its request that must be free before a freed buffer wakes the first
    /// waiter: an eighth of the pool, at most 64 batches. (16 batches woke each of two
    /// threads filling a full pool every 0.4 ms or so, and each wake-up preempted the sender
    /// thread; an eighth of the default pool, 256 batches, made a single filling thread run
    /// in bursts of several milliseconds, long enough to crowd the sender thread and the
    /// broker onto one core.)
    slack: usize,
    state: Mutex<State>,
    changed: Condvar,
    waiting: AtomicUsize,
    /// Nanoseconds callers spent blocked for memory, all together (`bufferpool-wait-ratio`).
    waited_ns: AtomicU64,
    /// A free on the deferring thread would have woken the first waiter; `wake_deferred` does.
    wake_due: AtomicBool,
}

impl BufferPool {
    /// A pool of `total` bytes that recycles buffers of `poolable` bytes.
    pub(crate) fn new(total: usize, poolable: usize) -> Self {
        BufferPool {
            total,
            poolable,
            slack: (total / 8).min(poolable.saturating_mul(64)),
            state: Mutex::new(State {
                free: Vec::new(),
                unpooled_available: total,
                waiters: VecDeque::new(),
                next_ticket: 0,
                closed: false,
            }),
            changed: Condvar::new(),
            waiting: AtomicUsize::new(0),
            waited_ns: AtomicU64::new(0),
            wake_due: AtomicBool::new(false),
        }
    }

    /// Runs on: sender thread, once at its start. From now on, this thread's frees that would
    /// wake a blocked caller leave the wake-up to [`wake_deferred`](Self::wake_deferred).
    pub(crate) fn defer_wakes_on_this_thread(&self) {
        DEFERS_WAKES_OF.with(|c| c.set(self as *const Self as usize));
    }

    /// Runs on: sender thread, after each turn's writes. Wakes the callers that its frees
    /// since the last call would have woken.
    pub(crate) fn wake_deferred(&self) {
        if self.wake_due.load(Ordering::Relaxed) && self.wake_due.swap(false, Ordering::AcqRel) {
            self.changed.notify_all();
        }
    }

    /// A free made enough memory for the first waiter: wake it now, or note the wake-up when
    /// this thread defers them (the state it freed is already visible under the lock).
    fn wake_after_free(&self) {
        if DEFERS_WAKES_OF.with(Cell::get) == self as *const Self as usize {
            self.wake_due.store(true, Ordering::Release);
        } else {
            self.changed.notify_all();
        }
    }

    /// Runs on: application threads. Returns an empty buffer with capacity for `size` bytes,
    /// blocking until `deadline` for memory. `max_block` is only used in the error message.
    #[cfg(test)]
    pub(crate) fn allocate(&self, size: usize, deadline: Instant, max_block: Duration) -> Result<Vec<u8>> {
        self.allocate_charged(size, 0, deadline, max_block)
    }

    /// Runs on: application threads. [`allocate`](Self::allocate), also charging `extra` bytes
    /// of other memory (a batch's callback entries), given back with [`release`](Self::release).
    pub(crate) fn allocate_charged(
        &self,
        size: usize,
        extra: usize,
        deadline: Instant,
        max_block: Duration,
    ) -> Result<Vec<u8>> {
        if size > self.total {
            return Err(Error::new(
                ErrorKind::RecordTooLarge,
                format!("a batch of {size} bytes exceeds buffer.memory={}", self.total),
            ));
        }
        if size + extra > self.total {
            return Err(Error::new(
                ErrorKind::RecordTooLarge,
                format!(
                    "a batch of {size} bytes and its callback entries ({extra} bytes) exceed buffer.memory={}",
                    self.total
                ),
            ));
        }
        let mut st = self.state.lock();
        if st.closed {
            return Err(closed());
        }
        if st.waiters.is_empty() {
            if let Some(buf) = self.try_take(&mut st, size, extra) {
                return Ok(self.materialize(buf, size));
            }
        }
        let ticket = st.next_ticket;
        st.next_ticket += 1;
        st.waiters.push_back((ticket, size + extra));
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let blocked_at = Instant::now();
        let outcome = loop {
            if st.closed {
                break Err(closed());
            }
            if st.waiters.front().map(|w| w.0) == Some(ticket) {
                if let Some(buf) = self.try_take(&mut st, size, extra) {
                    break Ok(buf);
                }
            }
            let now = Instant::now();
            if now >= deadline {
                break Err(Error::new(
                    ErrorKind::BufferExhausted,
                    format!(
                        "failed to allocate {size} bytes within {} ms (max.block.ms): buffer.memory={} is full; \
                         records are produced faster than they can be sent",
                        max_block.as_millis(),
                        self.total
                    ),
                ));
            }
            self.changed.wait_until(&mut st, deadline.min(now + RECHECK));
        };
        st.waiters.retain(|w| w.0 != ticket);
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        self.waited_ns.fetch_add(blocked_at.elapsed().as_nanos() as u64, Ordering::Relaxed);
        // The next waiter may now be at the front and able to go.
        self.changed.notify_all();
        drop(st);
        outcome.map(|buf| self.materialize(buf, size))
    }

    /// Takes `size + extra` bytes from the accounting: a recycled buffer when the size is
    /// poolable, or a claim on unpooled memory (freeing recycled buffers if needed), and
    /// `extra` unpooled bytes. `Some(vec)` with capacity 0 means "allocate outside the lock".
    fn try_take(&self, st: &mut State, size: usize, extra: usize) -> Option<Vec<u8>> {
        if st.available(self.poolable) < size + extra {
            return None;
        }
        if size == self.poolable {
            if let Some(buf) = st.free.pop() {
                self.take_unpooled(st, extra);
                return Some(buf);
            }
        }
        self.take_unpooled(st, size + extra);
        Some(Vec::new())
    }

    /// Claims `bytes` of unpooled memory, freeing recycled buffers as needed (the caller
    /// checked that `available` covers it).
    fn take_unpooled(&self, st: &mut State, bytes: usize) {
        while st.unpooled_available < bytes {
            st.free.pop();
            st.unpooled_available += self.poolable;
        }
        st.unpooled_available -= bytes;
    }

    /// Runs on: application threads, under a partition lock (the pool's lock is taken last).
    /// Charges `bytes` of other memory (more callback entries for an open batch) if the pool
    /// has them now and nobody is waiting; never blocks. Given back with
    /// [`release`](Self::release).
    pub(crate) fn try_charge(&self, bytes: usize) -> bool {
        let mut st = self.state.lock();
        if st.closed || !st.waiters.is_empty() || st.available(self.poolable) < bytes {
            return false;
        }
        self.take_unpooled(&mut st, bytes);
        true
    }

    /// Runs on: sender thread (or an application thread giving back an unused charge). Gives
    /// back `bytes` charged by
    /// [`allocate_charged`](Self::allocate_charged) or [`try_charge`](Self::try_charge).
    pub(crate) fn release(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let mut st = self.state.lock();
        st.unpooled_available += bytes;
        if self.wakes_first_waiter(&st) {
            self.wake_after_free();
        }
    }

    fn materialize(&self, mut buf: Vec<u8>, size: usize) -> Vec<u8> {
        if buf.capacity() == 0 && size > 0 {
            buf = Vec::with_capacity(size);
        }
        buf.clear();
        buf
    }

    /// Runs on: sender thread (or an application thread giving back an unused buffer).
    /// Returns `reserved` bytes, with the buffer that held them.
    pub(crate) fn deallocate(&self, buf: Vec<u8>, reserved: usize) {
        let mut st = self.state.lock();
        if reserved == self.poolable && buf.capacity() >= self.poolable && buf.capacity() <= self.poolable * 2
        {
            st.free.push(buf);
        } else {
            st.unpooled_available += reserved;
            drop(buf);
        }
        if self.wakes_first_waiter(&st) {
            self.wake_after_free();
        }
    }

    /// Whether the first waiter can have its request and the slack (or the whole pool).
    fn wakes_first_waiter(&self, st: &State) -> bool {
        st.waiters.front().is_some_and(|&(_, want)| {
            st.available(self.poolable) >= want.saturating_add(self.slack).min(self.total)
        })
    }

    /// `buffer.memory`: the bytes the pool accounts in all.
    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// Whether an application thread is blocked waiting for memory (batches are then sent
    /// without waiting for `linger.ms`, as in Java).
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiting.load(Ordering::Relaxed) > 0
    }

    /// Bytes neither lent out nor waiting on the free list, plus the free list.
    pub(crate) fn available_memory(&self) -> usize {
        let st = self.state.lock();
        st.available(self.poolable)
    }

    /// `(buffer.memory, bytes available, threads blocked now, nanoseconds blocked so far)`.
    pub(crate) fn stats(&self) -> (usize, usize, usize, u64) {
        (
            self.total,
            self.available_memory(),
            self.waiting.load(Ordering::Relaxed),
            self.waited_ns.load(Ordering::Relaxed),
        )
    }

    /// Wakes every waiter with a `Closed` error and refuses further requests.
    pub(crate) fn close(&self) {
        let mut st = self.state.lock();
        st.closed = true;
        self.changed.notify_all();
    }
}

fn closed() -> Error {
    Error::new(ErrorKind::Closed, "producer is closed; no more buffer memory is handed out")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const NO_WAIT: Duration = Duration::ZERO;

    /// A thread blocked in `allocate(size)` on `p` for up to `secs` seconds (returned once it
    /// waits), which returns its result and how long it waited.
    fn blocked_waiter(
        p: &Arc<BufferPool>,
        size: usize,
        secs: u64,
    ) -> std::thread::JoinHandle<Result<(Vec<u8>, Duration)>> {
        let p2 = p.clone();
        let h = std::thread::spawn(move || {
            let t = Instant::now();
            p2.allocate(size, t + Duration::from_secs(secs), Duration::from_secs(secs))
                .map(|b| (b, t.elapsed()))
        });
        while !p.has_waiters() {
            std::thread::yield_now();
        }
        h
    }

    #[test]
    fn recycles_poolable_buffers_and_accounts_others() {
        let p = BufferPool::new(1000, 100);
        let a = p.allocate(100, Instant::now(), NO_WAIT).unwrap();
        assert!(a.capacity() >= 100);
        let b = p.allocate(300, Instant::now(), NO_WAIT).unwrap();
        assert_eq!(p.available_memory(), 600);
        let ptr = a.as_ptr();
        p.deallocate(a, 100);
        p.deallocate(b, 300);
        assert_eq!(p.available_memory(), 1000);
        let c = p.allocate(100, Instant::now(), NO_WAIT).unwrap();
        assert_eq!(c.as_ptr(), ptr, "the poolable buffer is reused");
    }

    #[test]
    fn charged_memory_counts_against_the_pool_until_released() {
        let p = BufferPool::new(1000, 100);
        let a = p.allocate_charged(100, 250, Instant::now(), NO_WAIT).unwrap();
        assert!(a.capacity() >= 100 && a.capacity() < 350, "the buffer is the batch's alone");
        assert_eq!(p.available_memory(), 650);
        assert!(p.try_charge(600));
        assert_eq!(p.available_memory(), 50);
        assert!(!p.try_charge(51), "more than is free");
        let e = p.allocate_charged(100, 0, Instant::now(), NO_WAIT).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BufferExhausted, "charged bytes are not handed out twice");
        p.release(600);
        p.release(250);
        p.deallocate(a, 100);
        assert_eq!(p.available_memory(), 1000);
        // A recycled buffer and the charge beside it: the charge comes from unpooled memory.
        let b = p.allocate_charged(100, 900, Instant::now(), NO_WAIT).unwrap();
        assert_eq!(p.available_memory(), 0);
        p.release(900);
        p.deallocate(b, 100);
        assert_eq!(p.available_memory(), 1000);
        // A buffer and a charge that together exceed the pool fail at once, and take nothing.
        let e = p.allocate_charged(400, 601, Instant::now(), NO_WAIT).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::RecordTooLarge);
        assert!(e.to_string().contains("callback entries (601 bytes)"), "{e}");
        assert_eq!(p.available_memory(), 1000);
        let c = p.allocate_charged(400, 600, Instant::now(), NO_WAIT).unwrap();
        assert_eq!(p.available_memory(), 0);
        p.release(600);
        p.deallocate(c, 400);
        assert_eq!(p.available_memory(), 1000);
    }

    #[test]
    fn try_charge_never_jumps_the_queue_of_waiters() {
        let p = Arc::new(BufferPool::new(300, 100));
        let held: Vec<_> = (0..3).map(|_| p.allocate(100, Instant::now(), NO_WAIT).unwrap()).collect();
        let waiter = blocked_waiter(&p, 200, 10);
        let mut held = held.into_iter();
        p.deallocate(held.next().unwrap(), 100);
        assert!(!p.try_charge(50), "a thread waits for memory: a charge that does not wait is refused");
        p.deallocate(held.next().unwrap(), 100);
        let (b, _) = waiter.join().unwrap().unwrap();
        assert!(!p.has_waiters());
        p.deallocate(b, 200);
        assert!(p.try_charge(200));
        p.close();
        assert!(!p.try_charge(1), "a closed pool charges nothing");
    }

    #[test]
    fn exhausted_pool_times_out_with_buffer_full_error() {
        let p = BufferPool::new(200, 100);
        let _a = p.allocate(100, Instant::now(), NO_WAIT).unwrap();
        let _b = p.allocate(100, Instant::now(), NO_WAIT).unwrap();
        let t = Instant::now();
        let e = p
            .allocate(100, Instant::now() + Duration::from_millis(50), Duration::from_millis(50))
            .unwrap_err();
        assert!(t.elapsed() >= Duration::from_millis(45));
        assert_eq!(e.kind(), ErrorKind::BufferExhausted);
        assert!(e.to_string().contains("buffer.memory=200") && e.to_string().contains("50 ms"), "{e}");
        assert!(!p.has_waiters());
    }

    #[test]
    fn too_large_for_pool_fails_at_once() {
        let p = BufferPool::new(200, 100);
        let e =
            p.allocate(201, Instant::now() + Duration::from_secs(10), Duration::from_secs(10)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::RecordTooLarge);
    }

    #[test]
    fn waiters_are_served_in_arrival_order() {
        let p = Arc::new(BufferPool::new(100, 100));
        let held = p.allocate(100, Instant::now(), NO_WAIT).unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut hs = Vec::new();
        for i in 0..3 {
            let (p2, order) = (p.clone(), order.clone());
            hs.push(std::thread::spawn(move || {
                let b = p2
                    .allocate(100, Instant::now() + Duration::from_secs(10), Duration::from_secs(10))
                    .unwrap();
                order.lock().push(i);
                std::thread::sleep(Duration::from_millis(5));
                p2.deallocate(b, 100);
            }));
            // Let thread i queue before thread i+1.
            while p.state.lock().waiters.len() < i + 1 {
                std::thread::yield_now();
            }
        }
        assert!(p.has_waiters());
        p.deallocate(held, 100);
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*order.lock(), vec![0, 1, 2]);
        assert_eq!(p.available_memory(), 100);
    }

    #[test]
    fn a_freed_buffer_wakes_the_first_waiter_once_its_request_and_the_slack_are_free() {
        // 32 batches of 100 bytes: the slack is an eighth, 400 bytes.
        let p = BufferPool::new(3200, 100);
        assert_eq!(p.slack, 400);
        // The defaults (32 MiB of 16 KiB batches): 64 batches, less than an eighth.
        assert_eq!(BufferPool::new(32 << 20, 16 << 10).slack, 64 * (16 << 10));
        let mut st = p.state.lock();
        st.unpooled_available = 0;
        assert!(!p.wakes_first_waiter(&st), "no waiter");
        st.waiters.push_back((7, 100));
        st.free = (0..4).map(|_| Vec::new()).collect();
        assert!(!p.wakes_first_waiter(&st), "400 bytes free: enough, but short of 100 + 400");
        st.unpooled_available = 100;
        assert!(p.wakes_first_waiter(&st));
        st.waiters[0].1 = 3100;
        assert!(!p.wakes_first_waiter(&st));
        st.unpooled_available = 2700;
        assert!(!p.wakes_first_waiter(&st), "enough, but 100 bytes are still lent out");
        st.unpooled_available = 2800;
        assert!(p.wakes_first_waiter(&st), "the whole pool is free: short of the slack, still woken");
    }

    #[test]
    fn a_waiter_short_of_the_slack_takes_its_memory_by_looking_again() {
        let p = Arc::new(BufferPool::new(3200, 100));
        let mut held: Vec<_> = (0..32).map(|_| p.allocate(100, Instant::now(), NO_WAIT).unwrap()).collect();
        let waiter = blocked_waiter(&p, 100, 10);
        p.deallocate(held.pop().unwrap(), 100); // no wake-up: 100 bytes free, short of 500
        let (_, waited) = waiter.join().unwrap().unwrap();
        assert!(waited < Duration::from_secs(5), "took its memory after {waited:?}, not at max.block.ms");
        assert_eq!(p.available_memory(), 0);
        assert!(!p.has_waiters());
    }

    #[test]
    fn non_poolable_request_frees_recycled_buffers() {
        let p = BufferPool::new(300, 100);
        let bufs: Vec<_> = (0..3).map(|_| p.allocate(100, Instant::now(), NO_WAIT).unwrap()).collect();
        for b in bufs {
            p.deallocate(b, 100);
        }
        let big = p.allocate(250, Instant::now(), NO_WAIT).unwrap();
        assert_eq!(p.available_memory(), 50);
        p.deallocate(big, 250);
        assert_eq!(p.available_memory(), 300);
    }

    #[test]
    fn the_sender_threads_frees_wake_a_waiter_only_when_it_says_so() {
        let p = Arc::new(BufferPool::new(100, 100));
        let held = p.allocate(100, Instant::now(), NO_WAIT).unwrap();
        let h = blocked_waiter(&p, 100, 30);
        // The deferring thread's free only notes the wake-up...
        p.defer_wakes_on_this_thread();
        p.deallocate(held, 100);
        assert!(p.wake_due.load(Ordering::Acquire), "the wake-up is left for wake_deferred");
        // ...which makes it (the waiter would also find the memory on its own within RECHECK).
        p.wake_deferred();
        assert!(!p.wake_due.load(Ordering::Acquire));
        let (buf, _) = h.join().unwrap().expect("the waiter gets the freed buffer");
        assert_eq!(buf.capacity(), 100);
        // A second pool on this thread wakes at once: only the pool named defers.
        let other = BufferPool::new(100, 100);
        let b = other.allocate(100, Instant::now(), NO_WAIT).unwrap();
        other.state.lock().waiters.push_back((0, 100));
        other.deallocate(b, 100);
        assert!(!other.wake_due.load(Ordering::Acquire));
    }

    #[test]
    fn close_wakes_waiters() {
        let p = Arc::new(BufferPool::new(100, 100));
        let _held = p.allocate(100, Instant::now(), NO_WAIT).unwrap();
        let h = blocked_waiter(&p, 100, 30);
        p.close();
        assert_eq!(h.join().unwrap().unwrap_err().kind(), ErrorKind::Closed);
    }
}
