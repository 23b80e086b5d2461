//! One broker connection: a non-blocking TCP socket (socket2) framed as Kafka frames (int32
//! big-endian size, then the message), driven by the sender thread's poll(2) loop.
//!
//! Threads: the sender thread alone owns every `Connection`. Nothing here blocks: a connect
//! is started and finished when the socket turns writable, requests are queued and written as
//! far as the socket takes them (a gathering `writev` of several queued frames), responses are
//! read as far as they have arrived and cut into frames. A slow connect, a slow broker or a full
//! socket buffer holds up only its own connection. Host names are resolved when the connection
//! starts (`getaddrinfo`, on the sender thread; loopback and IP addresses resolve at once).
//!
//! With TLS (`security.protocol` SSL or SASL_SSL) a rustls client session sits between the
//! frames and the socket, driven in the same non-blocking way: ciphertext is read with
//! `read_tls` and written with `write_tls` when poll says the socket is ready, and the
//! connection counts as connecting until the TLS handshake is done, under the same deadline
//! (`socket.connection.setup.timeout.ms`) as the TCP connect.

use super::frame::Frame;
use crate::error::{Error, ErrorKind, Result};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::collections::VecDeque;
use std::io::{IoSlice, Read};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::io::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// Largest response frame we accept; a bigger size prefix is a protocol error, not an allocation.
pub const MAX_RESPONSE_SIZE: usize = 128 * 1024 * 1024;

/// At most this many queued frames go into one `writev`.
const MAX_IOVECS: usize = 64;
/// One read call's buffer.
const READ_CHUNK: usize = 64 * 1024;
/// At most this much is read from one connection per turn of the loop (fairness).
const READ_BUDGET: usize = 4 * 1024 * 1024;

#[cfg(target_os = "linux")]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(target_os = "linux"))]
const SEND_FLAGS: libc::c_int = 0;

/// How the bootstrap/broker host names are turned into addresses (`client.dns.lookup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsLookup {
    /// Try every address the name resolves to, in order (`use_all_dns_ips`, the default).
    UseAllDnsIps,
    /// Use the first address only (`resolve_canonical_bootstrap_servers_only` is treated the
    /// same for plaintext connections: there is no canonical-name step without SASL/GSSAPI).
    FirstIpOnly,
}

/// Socket settings from the producer configuration.
#[derive(Debug, Clone)]
pub struct SocketOptions {
    /// Connect timeout per address (`socket.connection.setup.timeout.ms`).
    pub connect_timeout: Duration,
    /// `send.buffer.bytes`; -1 keeps the OS default.
    pub send_buffer_bytes: i32,
    /// `receive.buffer.bytes`; -1 keeps the OS default.
    pub receive_buffer_bytes: i32,
    /// `client.dns.lookup`.
    pub dns_lookup: DnsLookup,
    /// TLS for every connection (`security.protocol` SSL or SASL_SSL).
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::security::tls::TlsConnector>,
}

/// Resolves `host:port` into socket addresses.
pub fn resolve(addr: &str, lookup: DnsLookup) -> Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| Error::io(format!("resolving broker address {addr}"), e))?
        .collect();
    if addrs.is_empty() {
        return Err(Error::new(ErrorKind::Io, format!("broker address {addr} resolved to no IP address")));
    }
    Ok(match lookup {
        DnsLookup::UseAllDnsIps => addrs,
        DnsLookup::FirstIpOnly => addrs.into_iter().take(1).collect(),
    })
}

/// A connection to one broker address.
#[derive(Debug)]
pub(crate) struct Connection {
    addr: String,
    opts: SocketOptions,
    /// Resolved addresses not tried yet.
    remaining: VecDeque<SocketAddr>,
    socket: Socket,
    /// The address being connected to, or connected.
    peer: SocketAddr,
    /// `Some` while the connect is under way: when it gives up on this address.
    connecting_until: Option<Instant>,
    /// Frames not (completely) written yet; `out_pos` bytes of the first are.
    out: VecDeque<Frame>,
    out_pos: usize,
    frames_written: u64,
    /// Bytes read and not yet cut into frames.
    input: Vec<u8>,
    chunk: Vec<u8>,
    /// The TCP connect finished (a TLS handshake may still be under way).
    tcp_connected: bool,
    /// The TLS session, when the connection uses TLS.
    #[cfg(feature = "tls")]
    tls: Option<Box<rustls::ClientConnection>>,
}

/// `send(2)` with MSG_NOSIGNAL, for rustls' `write_tls` (a closed peer must not raise SIGPIPE).
#[cfg(feature = "tls")]
struct NoSigPipe<'a>(&'a Socket);

#[cfg(feature = "tls")]
impl std::io::Write for NoSigPipe<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.send_with_flags(buf, SEND_FLAGS)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        self.0.send_vectored_with_flags(bufs, SEND_FLAGS)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The host part of `host:port` (`[v6]:port` too), for the TLS server name.
#[cfg(feature = "tls")]
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host)
}

impl Connection {
    /// Resolves `addr` and starts a non-blocking connect to its first address that takes one.
    pub(crate) fn connect(addr: &str, opts: &SocketOptions, now: Instant) -> Result<Connection> {
        let mut remaining: VecDeque<SocketAddr> = resolve(addr, opts.dns_lookup)?.into();
        #[cfg(feature = "tls")]
        let tls = match &opts.tls {
            Some(t) => Some(Box::new(t.session(host_of(addr))?)),
            None => None,
        };
        let mut last = None;
        while let Some(sa) = remaining.pop_front() {
            match start_connect(sa, opts) {
                Ok(socket) => {
                    return Ok(Connection {
                        addr: addr.to_owned(),
                        opts: opts.clone(),
                        remaining,
                        socket,
                        peer: sa,
                        connecting_until: Some(now + opts.connect_timeout),
                        out: VecDeque::new(),
                        out_pos: 0,
                        frames_written: 0,
                        input: Vec::new(),
                        chunk: vec![0; READ_CHUNK],
                        tcp_connected: false,
                        #[cfg(feature = "tls")]
                        tls,
                    })
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::protocol(format!("no address to connect to for {addr}"))))
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// The poll(2) events this connection waits for.
    pub(crate) fn interest(&self) -> libc::c_short {
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_deref().filter(|_| self.tcp_connected) {
            let mut events = 0;
            if tls.wants_read() || self.connecting_until.is_none() {
                events |= libc::POLLIN;
            }
            if tls.wants_write() || (self.connecting_until.is_none() && !self.out.is_empty()) {
                events |= libc::POLLOUT;
            }
            return events;
        }
        if self.connecting_until.is_some() {
            libc::POLLOUT
        } else if self.out.is_empty() {
            libc::POLLIN
        } else {
            libc::POLLIN | libc::POLLOUT
        }
    }

    pub(crate) fn is_connecting(&self) -> bool {
        self.connecting_until.is_some()
    }

    /// When the connect under way gives up on its address.
    pub(crate) fn connect_deadline(&self) -> Option<Instant> {
        self.connecting_until
    }

    /// Moves a connect on after poll reported the socket (or `now` passed its deadline):
    /// `Ok(true)` once connected, `Ok(false)` while under way (possibly on the next address),
    /// `Err` when every address failed.
    pub(crate) fn finish_connect(&mut self, now: Instant) -> Result<bool> {
        let Some(until) = self.connecting_until else { return Ok(true) };
        if self.tcp_connected {
            return self.continue_tls_handshake(now, until);
        }
        let failure = match self.socket.take_error() {
            Ok(Some(e)) | Err(e) => {
                Some(Error::io(format!("connecting to {} ({})", self.addr, self.peer), e))
            }
            Ok(None) => match self.socket.peer_addr() {
                Ok(_) => None,
                Err(_) if now < until => return Ok(false), // not yet
                Err(_) => Some(Error::new(
                    ErrorKind::Io,
                    format!(
                        "connecting to {} ({}) timed out after {} ms (socket.connection.setup.timeout.ms)",
                        self.addr,
                        self.peer,
                        self.opts.connect_timeout.as_millis()
                    ),
                )),
            },
        };
        let Some(mut error) = failure else {
            self.tcp_connected = true;
            return self.continue_tls_handshake(now, until);
        };
        while let Some(sa) = self.remaining.pop_front() {
            match start_connect(sa, &self.opts) {
                Ok(socket) => {
                    log::debug!("{error}; trying {sa}");
                    #[cfg(feature = "tls")]
                    if let Some(t) = &self.opts.tls {
                        self.tls = Some(Box::new(t.session(host_of(&self.addr))?));
                    }
                    self.socket = socket;
                    self.peer = sa;
                    self.connecting_until = Some(now + self.opts.connect_timeout);
                    return Ok(false);
                }
                Err(e) => error = e,
            }
        }
        Err(error)
    }

    /// After the TCP connect: moves the TLS handshake on as far as the socket allows (without
    /// TLS there is none: connected). `Ok(true)` once done.
    fn continue_tls_handshake(&mut self, now: Instant, until: Instant) -> Result<bool> {
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_deref_mut() {
            let addr = &self.addr;
            let mut reader = &self.socket;
            loop {
                if tls.wants_write() {
                    match tls.write_tls(&mut NoSigPipe(&self.socket)) {
                        Ok(_) => continue,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(Error::io(format!("TLS handshake with {addr}: writing"), e)),
                    }
                }
                if !tls.is_handshaking() {
                    break;
                }
                if !tls.wants_read() {
                    break;
                }
                match tls.read_tls(&mut reader) {
                    Ok(0) => {
                        return Err(Error::new(
                            ErrorKind::Authentication,
                            format!(
                                "TLS handshake with {addr} failed: the broker closed the connection \
                                 (is this listener TLS? check security.protocol and the port)"
                            ),
                        ))
                    }
                    Ok(_) => {
                        tls.process_new_packets().map_err(|e| {
                            // Tell the broker why, as far as the socket takes it.
                            let _ = tls.write_tls(&mut NoSigPipe(&self.socket));
                            crate::security::tls::handshake_error(addr, &e)
                        })?;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Error::io(format!("TLS handshake with {addr}: reading"), e)),
                }
            }
            if tls.is_handshaking() {
                if now >= until {
                    return Err(Error::timeout(format!(
                        "TLS handshake with {addr} did not complete within {} ms (socket.connection.setup.timeout.ms)",
                        self.opts.connect_timeout.as_millis()
                    )));
                }
                return Ok(false);
            }
            log::debug!(
                "TLS with {addr}: {:?}, {:?}",
                tls.protocol_version(),
                tls.negotiated_cipher_suite().map(|s| s.suite())
            );
        }
        let _ = (now, until);
        self.connecting_until = None;
        Ok(true)
    }

    /// Queues a whole request frame (size prefix included); returns its number, counted from 0.
    pub(crate) fn queue(&mut self, frame: Frame) -> u64 {
        self.out.push_back(frame);
        self.frames_written + self.out.len() as u64 - 1
    }

    /// Frames completely written to the socket so far.
    pub(crate) fn frames_written(&self) -> u64 {
        self.frames_written
    }

    /// Whether queued bytes (or TLS records) wait for the socket.
    pub(crate) fn has_unwritten(&self) -> bool {
        #[cfg(feature = "tls")]
        if self.tls.as_deref().is_some_and(|t| t.wants_write()) {
            return true;
        }
        !self.out.is_empty()
    }

    /// The first frame of `out` is completely taken: count it and hand it back.
    fn frame_done(&mut self, spent: &mut Vec<Frame>) {
        self.out_pos = 0;
        self.frames_written += 1;
        spent.push(self.out.pop_front().expect("a frame was written"));
    }

    /// The frames not completely written (the connection is being dropped): their lent
    /// buffers go back to their batches.
    pub(crate) fn take_unwritten(&mut self) -> Vec<Frame> {
        self.out_pos = 0;
        self.out.drain(..).collect()
    }

    /// TLS: hands queued frames to the session (a frame counts as written once the session
    /// took all of it) and writes its records while the socket takes them.
    #[cfg(feature = "tls")]
    fn flush_tls(&mut self, spent: &mut Vec<Frame>) -> Result<()> {
        let mut tls = self.tls.take().expect("a TLS connection");
        let result = self.flush_through(&mut tls, spent);
        self.tls = Some(tls);
        result
    }

    #[cfg(feature = "tls")]
    fn flush_through(&mut self, tls: &mut rustls::ClientConnection, spent: &mut Vec<Frame>) -> Result<()> {
        use std::io::Write;
        loop {
            while let Some(f) = self.out.front() {
                let piece = f.piece_at(self.out_pos);
                let n = if piece.is_empty() {
                    0
                } else {
                    tls.writer()
                        .write(piece)
                        .map_err(|e| Error::io(format!("writing to {} (TLS)", self.addr), e))?
                };
                if n == 0 && !piece.is_empty() {
                    break; // the session's buffer is full: write its records first
                }
                self.out_pos += n;
                if self.out_pos >= self.out[0].len() {
                    self.frame_done(spent);
                }
            }
            if !tls.wants_write() {
                return Ok(());
            }
            match tls.write_tls(&mut NoSigPipe(&self.socket)) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(format!("writing to {}", self.addr), e)),
            }
        }
    }

    /// TLS: reads records while they arrive (up to `budget` bytes) into `self.input` as
    /// plaintext.
    #[cfg(feature = "tls")]
    fn read_tls(&mut self, budget: usize) -> Result<()> {
        let mut tls = self.tls.take().expect("a TLS connection");
        let result = self.read_through(&mut tls, budget);
        self.tls = Some(tls);
        result
    }

    #[cfg(feature = "tls")]
    fn read_through(&mut self, tls: &mut rustls::ClientConnection, mut budget: usize) -> Result<()> {
        use std::io::Read as _;
        let closed =
            |addr: &str| Error::new(ErrorKind::Io, format!("broker at {addr} closed the connection"));
        while budget > 0 {
            let mut reader = &self.socket;
            match tls.read_tls(&mut reader) {
                Ok(0) => return Err(closed(&self.addr)),
                Ok(n) => budget = budget.saturating_sub(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(format!("reading from {}", self.addr), e)),
            }
            let state = tls.process_new_packets().map_err(|e| {
                let _ = tls.write_tls(&mut NoSigPipe(&self.socket));
                crate::security::tls::handshake_error(&self.addr, &e)
            })?;
            let mut available = state.plaintext_bytes_to_read();
            let peer_closed = state.peer_has_closed();
            while available > 0 {
                let n = tls
                    .reader()
                    .read(&mut self.chunk)
                    .map_err(|e| Error::io(format!("reading from {}", self.addr), e))?;
                if n == 0 {
                    break;
                }
                self.input.extend_from_slice(&self.chunk[..n]);
                available = available.saturating_sub(n);
            }
            if peer_closed {
                return Err(closed(&self.addr));
            }
        }
        Ok(())
    }

    /// Writes queued frames until they are all out or the socket is full; every completely
    /// written frame's buffer goes into `spent` for reuse.
    pub(crate) fn flush(&mut self, spent: &mut Vec<Frame>) -> Result<()> {
        if self.connecting_until.is_some() {
            return Ok(());
        }
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return self.flush_tls(spent);
        }
        while !self.out.is_empty() {
            let written = {
                // One gathering write over the queued frames, each frame's pieces (request
                // bytes and the batch buffers between them) in order.
                let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(MAX_IOVECS);
                for (i, f) in self.out.iter().enumerate() {
                    if !f.slices(if i == 0 { self.out_pos } else { 0 }, &mut slices, MAX_IOVECS) {
                        break;
                    }
                }
                if slices.is_empty() {
                    // Only empty frames (none are made): count them written.
                    0
                } else {
                    match self.socket.send_vectored_with_flags(&slices, SEND_FLAGS) {
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(Error::io(format!("writing to {}", self.addr), e)),
                    }
                }
            };
            let mut n = written;
            while let Some(f) = self.out.front() {
                let left = f.len() - self.out_pos;
                if n < left {
                    self.out_pos += n;
                    break;
                }
                n -= left;
                self.frame_done(spent);
            }
        }
        Ok(())
    }

    /// Reads what has arrived (up to a budget) and appends each whole response frame (without
    /// its size prefix) to `frames`. `Err` when the broker closed the connection, the socket
    /// failed, or a size prefix is out of bounds; frames read before that are in `frames`.
    pub(crate) fn read_frames(&mut self, frames: &mut Vec<Vec<u8>>) -> Result<()> {
        let mut budget = READ_BUDGET;
        let mut result = Ok(());
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            result = self.read_tls(budget);
            budget = 0;
        }
        while budget > 0 {
            match (&self.socket).read(&mut self.chunk) {
                Ok(0) => {
                    result = Err(Error::new(
                        ErrorKind::Io,
                        format!("broker at {} closed the connection", self.addr),
                    ));
                    break;
                }
                Ok(n) => {
                    self.input.extend_from_slice(&self.chunk[..n]);
                    budget = budget.saturating_sub(n);
                    if n < self.chunk.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    result = Err(Error::io(format!("reading from {}", self.addr), e));
                    break;
                }
            }
        }
        let consumed =
            cut_frames(&self.input, frames).map_err(|e| e.context(format!("reading from {}", self.addr)))?;
        self.input.drain(..consumed);
        if self.input.capacity() > 4 * READ_CHUNK && self.input.len() < READ_CHUNK {
            self.input.shrink_to(READ_CHUNK);
        }
        result
    }
}

/// Appends every whole frame at the start of `input` to `frames`; returns how many bytes they
/// took. A size prefix outside `0..=MAX_RESPONSE_SIZE` is an error (nothing is allocated for it).
pub(crate) fn cut_frames(input: &[u8], frames: &mut Vec<Vec<u8>>) -> Result<usize> {
    let mut pos = 0;
    while input.len() - pos >= 4 {
        let size = i32::from_be_bytes(input[pos..pos + 4].try_into().expect("4 bytes"));
        if size < 0 || size as usize > MAX_RESPONSE_SIZE {
            return Err(Error::protocol(format!(
                "response frame size {size} is outside 0..={MAX_RESPONSE_SIZE}"
            )));
        }
        let end = pos + 4 + size as usize;
        if input.len() < end {
            break;
        }
        frames.push(input[pos + 4..end].to_vec());
        pos = end;
    }
    Ok(pos)
}

fn start_connect(sa: SocketAddr, opts: &SocketOptions) -> Result<Socket> {
    let ctx = |what: &str, e| Error::io(format!("{what} {sa}"), e);
    let socket = Socket::new(Domain::for_address(sa), Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| ctx("creating socket for", e))?;
    socket.set_nodelay(true).map_err(|e| ctx("setting TCP_NODELAY for", e))?;
    if opts.send_buffer_bytes > 0 {
        socket
            .set_send_buffer_size(opts.send_buffer_bytes as usize)
            .map_err(|e| ctx("setting send.buffer.bytes for", e))?;
    }
    if opts.receive_buffer_bytes > 0 {
        socket
            .set_recv_buffer_size(opts.receive_buffer_bytes as usize)
            .map_err(|e| ctx("setting receive.buffer.bytes for", e))?;
    }
    socket.set_nonblocking(true).map_err(|e| ctx("making non-blocking the socket for", e))?;
    match socket.connect(&SockAddr::from(sa)) {
        Ok(()) => Ok(socket),
        Err(e)
            if e.raw_os_error() == Some(libc::EINPROGRESS) || e.kind() == std::io::ErrorKind::WouldBlock =>
        {
            Ok(socket)
        }
        Err(e) => Err(ctx("connecting to", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn opts() -> SocketOptions {
        SocketOptions {
            connect_timeout: Duration::from_secs(2),
            send_buffer_bytes: 131072,
            receive_buffer_bytes: 32768,
            dns_lookup: DnsLookup::UseAllDnsIps,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    fn wait_for(c: &Connection, events: libc::c_short) {
        let mut p = libc::pollfd { fd: c.fd(), events, revents: 0 };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, 2000) };
    }

    #[test]
    fn cuts_whole_frames_and_keeps_a_partial_one() {
        let bytes = [0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 2, 9];
        let mut frames = Vec::new();
        let used = cut_frames(&bytes, &mut frames).unwrap();
        assert_eq!(frames, vec![vec![1, 2, 3], vec![]]);
        assert_eq!(used, 11, "the 2-byte frame with 1 byte so far waits");
    }

    #[test]
    fn hostile_sizes_fail_without_allocating() {
        for bytes in [[0x7f, 0xff, 0xff, 0xff], [0xff, 0xff, 0xff, 0xff]] {
            let e = cut_frames(&bytes, &mut Vec::new()).unwrap_err();
            assert!(e.to_string().contains("outside"), "{e}");
        }
        assert_eq!(cut_frames(&[0, 0], &mut Vec::new()).unwrap(), 0);
    }

    #[test]
    fn connect_to_closed_port_reports_address() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let now = Instant::now();
        let e = match Connection::connect(&addr, &opts(), now) {
            Err(e) => e,
            Ok(mut c) => loop {
                wait_for(&c, libc::POLLOUT);
                match c.finish_connect(Instant::now()) {
                    Err(e) => break e,
                    Ok(true) => panic!("connected to a closed port"),
                    Ok(false) => {}
                }
            },
        };
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(e.to_string().contains(&addr), "{e}");
    }

    /// A connection to a listener on loopback, connected, and the listener's side of it.
    fn connected() -> (Connection, std::net::TcpStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let mut c = Connection::connect(&addr, &opts(), Instant::now()).unwrap();
        let (server, _) = l.accept().unwrap();
        while !c.finish_connect(Instant::now()).unwrap() {
            wait_for(&c, libc::POLLOUT);
        }
        (c, server)
    }

    #[test]
    fn writes_queued_frames_and_reads_framed_answers() {
        let (mut c, mut server) = connected();
        assert_eq!(c.queue(Frame::whole(vec![0, 0, 0, 1, 7], 1)), 0);
        // A frame whose middle bytes are lent: written from their own buffer.
        assert_eq!(c.queue(Frame::gathered(vec![0, 0, 0, 2, 9], vec![4], vec![vec![8]], 2)), 1);
        let mut spent = Vec::new();
        c.flush(&mut spent).unwrap();
        assert_eq!((c.frames_written(), spent.len(), c.has_unwritten()), (2, 2, false));
        let mut got = [0u8; 11];
        server.read_exact(&mut got).unwrap();
        assert_eq!(got, [0, 0, 0, 1, 7, 0, 0, 0, 2, 8, 9]);
        let (head, lent) = spent.pop().unwrap().into_parts();
        assert_eq!((head, lent), (vec![0, 0, 0, 2, 9], vec![vec![8]]), "the lent buffer comes back");

        // An answer in two pieces: nothing until the frame is whole.
        server.write_all(&[0, 0, 0, 3, 1]).unwrap();
        wait_for(&c, libc::POLLIN);
        let mut frames = Vec::new();
        c.read_frames(&mut frames).unwrap();
        assert!(frames.is_empty());
        server.write_all(&[2, 3]).unwrap();
        wait_for(&c, libc::POLLIN);
        c.read_frames(&mut frames).unwrap();
        assert_eq!(frames, vec![vec![1, 2, 3]]);

        drop(server);
        wait_for(&c, libc::POLLIN);
        let e = c.read_frames(&mut frames).unwrap_err();
        assert!(e.to_string().contains("closed the connection"), "{e}");
    }

    #[test]
    fn gathered_frames_larger_than_the_socket_buffer_are_written_in_order_across_partial_writes() {
        let (mut c, mut server) = connected();
        // Three frames of about 2 MiB, each a head cut three times around lent buffers.
        let mut expected = Vec::new();
        for f in 0..3u8 {
            let head: Vec<u8> = (0..1000u32).map(|i| (i as u8) ^ f).collect();
            let lent: Vec<Vec<u8>> = (0..3u32).map(|k| vec![f.wrapping_mul(31) ^ k as u8; 700_000]).collect();
            let cuts = vec![10, 500, 1000];
            let frame = Frame::gathered(head.clone(), cuts.clone(), lent.clone(), f as i32);
            let mut from = 0;
            for (cut, l) in cuts.iter().zip(&lent) {
                expected.extend_from_slice(&head[from..*cut]);
                expected.extend_from_slice(l);
                from = *cut;
            }
            expected.extend_from_slice(&head[from..]);
            c.queue(frame);
        }
        let total = expected.len();
        let reader = std::thread::spawn(move || {
            let mut got = vec![0u8; total];
            server.read_exact(&mut got).unwrap();
            got
        });
        let mut spent = Vec::new();
        while c.has_unwritten() {
            c.flush(&mut spent).unwrap();
            if c.has_unwritten() {
                wait_for(&c, libc::POLLOUT);
            }
        }
        assert!(reader.join().unwrap() == expected, "the bytes arrive in frame order");
        assert_eq!(spent.iter().map(|f| f.corr).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(c.frames_written(), 3);
    }

    #[test]
    fn unwritten_frames_are_taken_back_whole() {
        let (mut c, _server) = connected();
        c.queue(Frame::gathered(vec![1, 2], vec![1], vec![vec![9; 10]], 5));
        let back = c.take_unwritten();
        assert!(!c.has_unwritten());
        assert_eq!(back.len(), 1);
        assert_eq!(back.into_iter().next().unwrap().into_parts().1, vec![vec![9; 10]]);
    }

    #[test]
    fn a_connect_that_never_completes_times_out_naming_the_setting() {
        // A listener whose backlog is full does not complete new connects on Linux; an address
        // in TEST-NET-1 (192.0.2.0/24) is not routed. Either way the deadline decides.
        let o = SocketOptions { connect_timeout: Duration::from_millis(1), ..opts() };
        let mut c = match Connection::connect("192.0.2.1:9092", &o, Instant::now()) {
            Ok(c) => c,
            // No route at all: refused at once, naming the address.
            Err(e) => {
                return assert!(e.kind() == ErrorKind::Io && e.to_string().contains("192.0.2.1"), "{e}")
            }
        };
        std::thread::sleep(Duration::from_millis(5));
        match c.finish_connect(Instant::now()) {
            Err(e) => assert!(
                e.to_string().contains("socket.connection.setup.timeout.ms")
                    || e.to_string().contains("192.0.2.1"),
                "{e}"
            ),
            Ok(done) => panic!("an unrouted address connected (done={done})"),
        }
    }
}
