//! Waking the sender thread out of poll(2): a socket pair whose read end sits in the sender's
//! poll set, and a flag so that only the first wake-up after each reset costs a system call.
//!
//! Threads: application threads (and the sender thread itself) call [`Waker::wake`]; only the
//! sender thread calls [`Waker::reset`] and polls [`Waker::fd`].
//!
//! Ordering: the sender drains the socket, then clears the flag with a swap, then looks at the
//! shared state. A thread that changed state before its `wake` either finds the flag set (the
//! sender's swap then synchronizes with it and sees the change) or sets it and writes a byte
//! (the next poll returns at once). No wake-up is lost.
//!
//! The sender also publishes when its poll will time out at the latest ([`Waker::sleeping_until`]),
//! and marks itself awake as soon as a poll returns, before it looks at the shared state again.
//! [`Waker::wake_by`] skips the wake-up when the sender will wake early enough anyway: a thread
//! that reads a deadline changed the shared state (under a lock the sender takes to look at it)
//! either before the sender's next look, which then sees the change, or after the sender marked
//! itself awake, and then reads "awake" or the deadline computed from that look.

use std::io::{Read, Write};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// `Inner::sleeping_until` while the sender is not in a poll: wake-ups are never skipped.
const AWAKE: u64 = 0;

/// A cheap, cloneable handle that wakes the sender thread.
#[derive(Clone, Debug)]
pub(crate) struct Waker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    // guards: nothing; `notified` is set by any thread, cleared by the sender thread only.
    notified: AtomicBool,
    /// `AWAKE`, or 1 + the nanoseconds after `epoch` at which the sender's current poll times
    /// out at the latest. Written by the sender thread only.
    sleeping_until: AtomicU64,
    epoch: Instant,
    tx: UnixStream,
    rx: UnixStream,
}

impl Waker {
    pub(crate) fn new() -> std::io::Result<Waker> {
        let (tx, rx) = UnixStream::pair()?;
        tx.set_nonblocking(true)?;
        rx.set_nonblocking(true)?;
        Ok(Waker {
            inner: Arc::new(Inner {
                notified: AtomicBool::new(false),
                sleeping_until: AtomicU64::new(AWAKE),
                epoch: Instant::now(),
                tx,
                rx,
            }),
        })
    }

    /// Makes the sender's current or next poll return. Costs one atomic swap, plus one write
    /// the first time after each [`reset`](Self::reset).
    pub(crate) fn wake(&self) {
        if !self.inner.notified.swap(true, Ordering::AcqRel) {
            // A full socket buffer means a wake-up is pending already.
            let _ = (&self.inner.tx).write(&[1]);
        }
    }

    /// Makes sure the sender looks at the shared state by `at`: wakes it only when it is
    /// sleeping in a poll that lasts past `at` (or its state is unknown). For a new batch, whose
    /// linger time the sender cannot know before it sees it.
    pub(crate) fn wake_by(&self, at: Instant) {
        let until = self.inner.sleeping_until.load(Ordering::SeqCst);
        if until == AWAKE || until > self.encode(at) {
            self.wake();
        }
    }

    fn encode(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.inner.epoch).as_nanos();
        1 + nanos.min(u64::MAX as u128 - 1) as u64
    }

    /// Runs on: sender thread, right before a poll that lasts until `until` at the latest.
    pub(crate) fn sleeping_until(&self, until: Instant) {
        self.inner.sleeping_until.store(self.encode(until), Ordering::SeqCst);
    }

    /// Runs on: sender thread, as soon as a poll returned, before it looks at the shared state.
    pub(crate) fn awake(&self) {
        self.inner.sleeping_until.store(AWAKE, Ordering::SeqCst);
    }

    /// The read end, for the sender's poll set.
    pub(crate) fn fd(&self) -> RawFd {
        self.inner.rx.as_raw_fd()
    }

    /// Runs on: sender thread. Consumes pending wake-ups before the sender looks at the
    /// shared state.
    pub(crate) fn reset(&self) {
        let mut buf = [0u8; 64];
        while let Ok(n) = (&self.inner.rx).read(&mut buf) {
            if n < buf.len() {
                break;
            }
        }
        self.inner.notified.swap(false, Ordering::AcqRel);
    }

    /// Whether a wake-up is pending (for tests).
    #[cfg(test)]
    pub(crate) fn is_notified(&self) -> bool {
        self.inner.notified.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn readable(fd: RawFd) -> bool {
        let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, a zero timeout.
        unsafe { libc::poll(&mut p, 1, 0) == 1 }
    }

    #[test]
    fn the_first_wake_makes_the_fd_readable_and_reset_clears_it() {
        let w = Waker::new().unwrap();
        assert!(!readable(w.fd()));
        w.wake();
        w.clone().wake(); // no second byte needed
        assert!(w.is_notified() && readable(w.fd()));
        w.reset();
        assert!(!w.is_notified() && !readable(w.fd()));
        w.wake();
        assert!(readable(w.fd()), "a wake after a reset writes again");
    }

    #[test]
    fn wake_by_skips_only_when_the_sender_sleeps_until_before_the_deadline() {
        let w = Waker::new().unwrap();
        let now = Instant::now();
        w.wake_by(now + Duration::from_secs(1));
        assert!(w.is_notified(), "an awake sender's state is unknown: always wake");
        w.reset();
        w.sleeping_until(now + Duration::from_millis(5));
        w.wake_by(now + Duration::from_millis(10));
        assert!(!w.is_notified() && !readable(w.fd()), "the sender wakes at 5 ms anyway");
        w.wake_by(now + Duration::from_millis(5));
        assert!(!w.is_notified(), "waking exactly at the deadline is early enough");
        w.wake_by(now + Duration::from_millis(4));
        assert!(w.is_notified() && readable(w.fd()), "a poll until 5 ms is too late for 4 ms");
        w.reset();
        w.awake();
        w.wake_by(now + Duration::from_secs(60));
        assert!(w.is_notified());
    }

    #[test]
    fn many_wakes_from_many_threads_never_block() {
        let w = Waker::new().unwrap();
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let w = w.clone();
                std::thread::spawn(move || {
                    for _ in 0..100_000 {
                        w.wake();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert!(readable(w.fd()));
        w.reset();
        assert!(!readable(w.fd()));
    }
}
