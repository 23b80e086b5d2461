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

use std::io::{Read, Write};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A cheap, cloneable handle that wakes the sender thread.
#[derive(Clone, Debug)]
pub(crate) struct Waker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    // guards: nothing; `notified` is set by any thread, cleared by the sender thread only.
    notified: AtomicBool,
    tx: UnixStream,
    rx: UnixStream,
}

impl Waker {
    pub(crate) fn new() -> std::io::Result<Waker> {
        let (tx, rx) = UnixStream::pair()?;
        tx.set_nonblocking(true)?;
        rx.set_nonblocking(true)?;
        Ok(Waker { inner: Arc::new(Inner { notified: AtomicBool::new(false), tx, rx }) })
    }

    /// Makes the sender's current or next poll return. Costs one atomic swap, plus one write
    /// the first time after each [`reset`](Self::reset).
    pub(crate) fn wake(&self) {
        if !self.inner.notified.swap(true, Ordering::AcqRel) {
            // A full socket buffer means a wake-up is pending already.
            let _ = (&self.inner.tx).write(&[1]);
        }
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
