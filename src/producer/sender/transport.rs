//! The sender's boundary with the outside world: a clock, a way to open links to brokers, and
//! a way to wait until one of them (or the waker) has something to do.
//!
//! The sender's decisions (`mod.rs`, `txn.rs`) and its connection bookkeeping (`io.rs`) only
//! ever go through [`Transport`] and [`Link`]. The producer runs them over [`PollTransport`]
//! (non-blocking sockets and poll(2), the real clock); the sender's unit tests run them over a
//! scripted broker with a clock they move by hand (`tests.rs`), so every branch can be driven
//! without sockets or sleeps, as Java's `SenderTest` drives its `Sender` over a `MockClient`.
//!
//! Runs on: sender thread (everything in this file).

use crate::error::Result;
use crate::network::connection::{Connection, SocketOptions};
use crate::network::frame::Frame;
use crate::network::waker::Waker;
use std::time::{Duration, Instant};

/// One connection to a broker, as the sender sees it.
pub(crate) trait Link {
    /// Tells this link from a later one to the same node (poll results are matched by it).
    fn token(&self) -> u64;
    /// Whether the connect is still under way.
    fn is_connecting(&self) -> bool;
    /// When the connect under way gives up on its current address.
    fn connect_deadline(&self) -> Option<Instant>;
    /// Moves a connect on: `Ok(true)` once connected, `Ok(false)` while under way, `Err` when
    /// every address failed.
    fn finish_connect(&mut self, now: Instant) -> Result<bool>;
    /// Queues a whole frame (size prefix included); returns its number (0, 1, 2, ...).
    fn queue(&mut self, frame: Frame) -> u64;
    /// How many queued frames are completely written.
    fn frames_written(&self) -> u64;
    /// Whether queued bytes are not written yet.
    fn has_unwritten(&self) -> bool;
    /// Writes what the peer takes now; written frames go to `spent` (their lent buffers back to
    /// their batches, their own buffer for reuse).
    fn flush(&mut self, spent: &mut Vec<Frame>) -> Result<()>;
    /// The frames not completely written, taken out (the link is being dropped).
    fn take_unwritten(&mut self) -> Vec<Frame>;
    /// Reads what has arrived and appends the whole frames (without size prefix) to `frames`.
    fn read_frames(&mut self, frames: &mut Vec<Vec<u8>>) -> Result<()>;
}

/// A link became ready: read when `readable`, write (or finish the connect) when `writable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Readiness {
    pub(crate) node: i32,
    pub(crate) token: u64,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
}

/// The clock and the links of one sender.
pub(crate) trait Transport {
    type Link: Link + 'static;
    /// The sender's clock: every decision is made against this instant.
    fn now(&self) -> Instant;
    /// Starts connecting to broker `node` at `addr`.
    fn connect(&mut self, node: i32, addr: &str, opts: &SocketOptions, now: Instant) -> Result<Self::Link>;
    /// Waits up to `timeout` for the waker or any of `links`, and appends the links that are
    /// ready to `ready`. Returns whether anything happened (then the next turn does not sleep).
    fn wait(
        &mut self,
        links: &mut dyn Iterator<Item = (i32, &Self::Link)>,
        timeout: Duration,
        ready: &mut Vec<Readiness>,
    ) -> bool;
    /// Waits up to `timeout` until one of `links` can take more bytes (closing: nothing is read).
    fn wait_writable(&mut self, links: &mut dyn Iterator<Item = &Self::Link>, timeout: Duration);
}

impl Link for Connection {
    fn token(&self) -> u64 {
        self.fd() as u64
    }
    fn is_connecting(&self) -> bool {
        Connection::is_connecting(self)
    }
    fn connect_deadline(&self) -> Option<Instant> {
        Connection::connect_deadline(self)
    }
    fn finish_connect(&mut self, now: Instant) -> Result<bool> {
        Connection::finish_connect(self, now)
    }
    fn queue(&mut self, frame: Frame) -> u64 {
        Connection::queue(self, frame)
    }
    fn frames_written(&self) -> u64 {
        Connection::frames_written(self)
    }
    fn has_unwritten(&self) -> bool {
        Connection::has_unwritten(self)
    }
    fn flush(&mut self, spent: &mut Vec<Frame>) -> Result<()> {
        Connection::flush(self, spent)
    }
    fn take_unwritten(&mut self) -> Vec<Frame> {
        Connection::take_unwritten(self)
    }
    fn read_frames(&mut self, frames: &mut Vec<Vec<u8>>) -> Result<()> {
        Connection::read_frames(self, frames)
    }
}

/// Non-blocking TCP sockets, poll(2) over them and the waker, and the real clock.
pub(crate) struct PollTransport {
    waker: Waker,
    /// The poll set of one turn (the waker first), and the node of each socket entry.
    pollfds: Vec<libc::pollfd>,
    poll_nodes: Vec<i32>,
}

impl PollTransport {
    pub(crate) fn new(waker: Waker) -> PollTransport {
        PollTransport { waker, pollfds: Vec::new(), poll_nodes: Vec::new() }
    }
}

/// poll(2)'s timeout for `timeout`, rounded up: a 0.3 ms linger must not become a busy loop
/// of zero timeouts.
fn poll_ms(timeout: Duration) -> i32 {
    if timeout.is_zero() {
        0
    } else {
        timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
    }
}

impl Transport for PollTransport {
    type Link = Connection;

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn connect(&mut self, _node: i32, addr: &str, opts: &SocketOptions, now: Instant) -> Result<Connection> {
        Connection::connect(addr, opts, now)
    }

    fn wait(
        &mut self,
        links: &mut dyn Iterator<Item = (i32, &Connection)>,
        timeout: Duration,
        ready: &mut Vec<Readiness>,
    ) -> bool {
        self.pollfds.clear();
        self.poll_nodes.clear();
        self.pollfds.push(libc::pollfd { fd: self.waker.fd(), events: libc::POLLIN, revents: 0 });
        for (node, c) in links {
            self.pollfds.push(libc::pollfd { fd: c.fd(), events: c.interest(), revents: 0 });
            self.poll_nodes.push(node);
        }
        let ms = poll_ms(timeout);
        // Application threads skip the wake-up for a new batch whose linger ends later.
        self.waker.sleeping_until(Instant::now() + Duration::from_millis(ms as u64));
        // SAFETY: `pollfds` is a valid, exclusively borrowed array of `len` pollfd structs.
        let n = unsafe { libc::poll(self.pollfds.as_mut_ptr(), self.pollfds.len() as libc::nfds_t, ms) };
        self.waker.awake();
        if n <= 0 {
            // 0: timed out; -1: EINTR (or EINVAL, which cannot happen with these arguments).
            return false;
        }
        if self.pollfds[0].revents != 0 {
            self.waker.reset();
        }
        for (p, &node) in self.pollfds[1..].iter().zip(&self.poll_nodes) {
            if p.revents != 0 {
                ready.push(Readiness {
                    node,
                    token: p.fd as u64,
                    readable: p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0,
                    writable: p.revents & libc::POLLOUT != 0,
                });
            }
        }
        true
    }

    fn wait_writable(&mut self, links: &mut dyn Iterator<Item = &Connection>, timeout: Duration) {
        let mut fds: Vec<libc::pollfd> =
            links.map(|c| libc::pollfd { fd: c.fd(), events: libc::POLLOUT, revents: 0 }).collect();
        if fds.is_empty() {
            return;
        }
        // SAFETY: `fds` is a valid, exclusively borrowed array of `len` pollfd structs.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, poll_ms(timeout)) };
    }
}
