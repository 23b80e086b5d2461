//! One broker connection: a blocking TCP socket (socket2), framed as Kafka frames
//! (int32 big-endian size, then the message).
//!
//! Threads: the sender thread owns every connection: it encodes every request and decides
//! everything. Each connection also has two helper threads that only move bytes, so that no
//! socket call ever blocks the sender thread:
//! - a *reader thread* that first connects (a slow connect never stalls the sender), then reads
//!   whole response frames and hands them to the sender thread as [`NetEvent`]s;
//! - a *writer thread* ([`spawn_writer`]) that writes the frames the sender queues to it, in
//!   order, and hands each buffer back for reuse. A broker that stops reading holds up only its
//!   own writer; the sender's request timeout then drops the connection.
//!
//! Both end when the socket is shut down or fails, after reporting why.

use crate::error::{Error, Result};
use crossbeam_channel::Sender;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Largest response frame we accept; a bigger size prefix is a protocol error, not an allocation.
pub const MAX_RESPONSE_SIZE: usize = 128 * 1024 * 1024;

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
    /// Connect timeout (`socket.connection.setup.timeout.ms`).
    pub connect_timeout: Duration,
    /// `send.buffer.bytes`; -1 keeps the OS default.
    pub send_buffer_bytes: i32,
    /// `receive.buffer.bytes`; -1 keeps the OS default.
    pub receive_buffer_bytes: i32,
    /// Bound on one blocking write (`request.timeout.ms`).
    pub write_timeout: Duration,
    /// `client.dns.lookup`.
    pub dns_lookup: DnsLookup,
}

/// What a connection's reader thread reports to the sender thread.
#[derive(Debug)]
pub enum NetEvent {
    /// The socket connected; the stream is the write half for the sender.
    Connected {
        /// Broker node id (negative for bootstrap addresses).
        node: i32,
        /// Which connection attempt this is.
        conn_id: u64,
        /// A handle on the socket for writing.
        stream: TcpStream,
    },
    /// A whole response frame (without the size prefix).
    Frame {
        /// Broker node id.
        node: i32,
        /// Which connection attempt this is.
        conn_id: u64,
        /// The response bytes after the size prefix.
        frame: Vec<u8>,
    },
    /// The connection failed (connect error, read error, EOF, or a local shutdown).
    Closed {
        /// Broker node id.
        node: i32,
        /// Which connection attempt this is.
        conn_id: u64,
        /// Why.
        error: Error,
    },
}

/// Resolves `host:port` into socket addresses.
pub fn resolve(addr: &str, lookup: DnsLookup) -> Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| Error::io(format!("resolving broker address {addr}"), e))?
        .collect();
    if addrs.is_empty() {
        return Err(Error::new(
            crate::ErrorKind::Io,
            format!("broker address {addr} resolved to no IP address"),
        ));
    }
    Ok(match lookup {
        DnsLookup::UseAllDnsIps => addrs,
        DnsLookup::FirstIpOnly => addrs.into_iter().take(1).collect(),
    })
}

/// Connects to `addr` with the configured options, trying each resolved address in turn.
pub fn connect(addr: &str, opts: &SocketOptions) -> Result<TcpStream> {
    let mut last_err = None;
    for sa in resolve(addr, opts.dns_lookup)? {
        match connect_one(sa, opts) {
            Ok(s) => return Ok(s),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| Error::protocol(format!("no address to connect to for {addr}"))))
}

fn connect_one(sa: SocketAddr, opts: &SocketOptions) -> Result<TcpStream> {
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
    socket.connect_timeout(&SockAddr::from(sa), opts.connect_timeout).map_err(|e| ctx("connecting to", e))?;
    socket.set_write_timeout(Some(opts.write_timeout)).map_err(|e| ctx("setting write timeout for", e))?;
    Ok(socket.into())
}

/// Starts the reader thread of a new connection attempt to `addr`. It connects, reports
/// [`NetEvent::Connected`] with a write handle, then reports each frame until the socket
/// closes, and finally [`NetEvent::Closed`].
pub fn spawn_reader(
    node: i32,
    conn_id: u64,
    addr: String,
    opts: SocketOptions,
    events: Sender<NetEvent>,
) -> Result<()> {
    std::thread::Builder::new()
        .name(format!("kafka-reader-{node}"))
        .spawn(move || {
            let error = match run_reader(node, conn_id, &addr, &opts, &events) {
                Ok(()) => {
                    Error::new(crate::ErrorKind::Io, format!("broker {node} at {addr} closed the connection"))
                }
                Err(e) => e,
            };
            let _ = events.send(NetEvent::Closed { node, conn_id, error });
        })
        .map(|_| ())
        .map_err(|e| Error::io("spawning a connection reader thread", e))
}

fn run_reader(
    node: i32,
    conn_id: u64,
    addr: &str,
    opts: &SocketOptions,
    events: &Sender<NetEvent>,
) -> Result<()> {
    let stream = connect(addr, opts)?;
    let writer = stream.try_clone().map_err(|e| Error::io(format!("cloning socket to {addr}"), e))?;
    if events.send(NetEvent::Connected { node, conn_id, stream: writer }).is_err() {
        return Ok(()); // the sender thread is gone
    }
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, stream);
    loop {
        let frame = match read_frame(&mut reader) {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(()),
            Err(e) => return Err(e.context(format!("reading from broker {node} at {addr}"))),
        };
        if events.send(NetEvent::Frame { node, conn_id, frame }).is_err() {
            return Ok(());
        }
    }
}

/// Starts the writer thread of a connection. Frames sent to the returned channel are written in
/// order; each buffer then goes back through `recycle` (when it has room). A failed write is
/// reported as [`NetEvent::Closed`] and ends the thread; dropping the returned sender ends it
/// once the frames already queued are written (join the handle to wait for that).
pub fn spawn_writer(
    node: i32,
    conn_id: u64,
    mut stream: TcpStream,
    events: Sender<NetEvent>,
    recycle: Sender<Vec<u8>>,
) -> Result<(Sender<Vec<u8>>, std::thread::JoinHandle<()>)> {
    let (tx, rx) = crossbeam_channel::unbounded::<Vec<u8>>();
    let handle = std::thread::Builder::new()
        .name(format!("kafka-writer-{node}"))
        .spawn(move || {
            for mut frame in rx {
                if let Err(e) = write_frame(&mut stream, &frame) {
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                    let _ = events.send(NetEvent::Closed {
                        node,
                        conn_id,
                        error: e.context(format!("broker {node}")),
                    });
                    return;
                }
                frame.clear();
                let _ = recycle.try_send(frame);
            }
        })
        .map_err(|e| Error::io("spawning a connection writer thread", e))?;
    Ok((tx, handle))
}

/// Reads one frame; `Ok(None)` on a clean EOF before the size prefix.
pub fn read_frame(r: &mut impl Read) -> Result<Option<Vec<u8>>> {
    let mut size = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut size[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(Error::protocol("connection closed inside a frame size prefix")),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("reading a frame size", e)),
        }
    }
    let size = i32::from_be_bytes(size);
    if size < 0 || size as usize > MAX_RESPONSE_SIZE {
        return Err(Error::protocol(format!(
            "response frame size {size} is outside 0..={MAX_RESPONSE_SIZE}"
        )));
    }
    let mut frame = vec![0u8; size as usize];
    r.read_exact(&mut frame).map_err(|e| Error::io(format!("reading a {size}-byte frame"), e))?;
    Ok(Some(frame))
}

/// Writes a whole request frame (already size-prefixed).
pub fn write_frame(stream: &mut TcpStream, frame: &[u8]) -> Result<()> {
    stream.write_all(frame).map_err(|e| Error::io("writing a request", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_frames_and_clean_eof() {
        let bytes = [0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 0];
        let mut r = &bytes[..];
        assert_eq!(read_frame(&mut r).unwrap(), Some(vec![1, 2, 3]));
        assert_eq!(read_frame(&mut r).unwrap(), Some(vec![]));
        assert_eq!(read_frame(&mut r).unwrap(), None);
    }

    #[test]
    fn hostile_sizes_fail_without_allocating() {
        let mut r = &[0x7f, 0xff, 0xff, 0xff][..];
        assert!(read_frame(&mut r).unwrap_err().to_string().contains("outside"));
        let mut r = &[0xff, 0xff, 0xff, 0xff][..];
        assert!(read_frame(&mut r).is_err());
        let mut r = &[0, 0, 0, 9, 1][..];
        assert!(read_frame(&mut r).is_err());
        let mut r = &[0, 0][..];
        assert!(read_frame(&mut r).is_err());
    }

    #[test]
    fn connect_to_closed_port_reports_address() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let opts = SocketOptions {
            connect_timeout: Duration::from_secs(2),
            send_buffer_bytes: 131072,
            receive_buffer_bytes: 32768,
            write_timeout: Duration::from_secs(2),
            dns_lookup: DnsLookup::UseAllDnsIps,
        };
        let e = connect(&addr, &opts).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Io);
        assert!(e.to_string().contains(&addr), "{e}");
    }
}
