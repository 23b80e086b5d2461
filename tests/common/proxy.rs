//! A fault-injecting Kafka TCP proxy for tests: it sits between a client and one broker, forwards
//! every frame, and can cut the connection right after the broker answered a Produce request
//! instead of passing that answer on. The broker has then stored the batch, but the client never
//! learns it: it retries a batch that is already stored, and only an idempotent producer avoids
//! the duplicate (see `/work/shared/brokers/README.md`, the last paragraphs).
//!
//! How it stays in the path: Metadata responses name the broker's own address, so a client would
//! leave the proxy after bootstrap. The proxy parses each request header (api key, version,
//! correlation id) and, for Metadata responses (v4..=13, the versions kafka-blocking speaks; v1+
//! parse too), rewrites every broker entry's host and port to the proxy's own listener (or to the
//! address given with [`Proxy::advertise_node`]); the rest of the response is copied byte for byte.
//! This works with any broker, without a second broker advertising the proxy's port.
//!
//! Threads: one acceptor; per client connection one client→broker thread (records
//! correlation id → (api key, version) before forwarding each request) and one broker→client thread
//! (reads whole frames, rewrites Metadata, applies the drop rules). Cutting a connection shuts down
//! both sockets, which ends both threads. Dropping the [`Proxy`] stops the acceptor and cuts every
//! open connection.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use kafka_blocking::protocol::primitives::{Encoder, Reader};

/// Produce's API key.
const PRODUCE: i16 = 0;
/// Metadata's API key.
const METADATA: i16 = 3;
/// The first flexible Metadata version (compact strings, tagged fields, response header v1).
const METADATA_FLEXIBLE_FROM: i16 = 9;
/// Frames larger than this are treated as garbage (the connection is cut).
const MAX_FRAME: usize = 256 << 20;

#[derive(Debug, Default)]
struct Faults {
    /// Drop the next this-many Produce responses.
    drop_next: usize,
    /// Drop every `nth` Produce response (counted from when it was set), at most `nth_max` times.
    nth: usize,
    nth_max: usize,
    nth_seen: usize,
    nth_dropped: usize,
}

impl Faults {
    /// Decides for one Produce response whether to drop it.
    fn take_drop(&mut self) -> bool {
        if self.drop_next > 0 {
            self.drop_next -= 1;
            return true;
        }
        if self.nth > 0 && self.nth_dropped < self.nth_max {
            self.nth_seen += 1;
            if self.nth_seen % self.nth == 0 {
                self.nth_dropped += 1;
                return true;
            }
        }
        false
    }
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    /// The proxy's listener as (host, port): what Metadata responses advertise by default.
    host: String,
    port: i32,
    /// Per-node overrides of the advertised address.
    advertised: Mutex<HashMap<i32, (String, i32)>>,
    faults: Mutex<Faults>,
    produce_requests: AtomicUsize,
    produce_responses: AtomicUsize,
    dropped: AtomicUsize,
    metadata_rewritten: AtomicUsize,
    connections: AtomicUsize,
    errors: Mutex<Vec<String>>,
    stopping: AtomicBool,
    /// A network partition: frames in either direction are read and thrown away (no RST, no
    /// answer), new connections are accepted and then hear nothing.
    blackhole: AtomicBool,
    /// A slow broker: every response is held this long before it is passed on.
    delay_ms: std::sync::atomic::AtomicU64,
    /// The sockets (client, upstream) of each open connection, to cut them when the proxy is dropped.
    open: Mutex<HashMap<usize, (TcpStream, TcpStream)>>,
}

impl Shared {
    fn error(&self, e: String) {
        self.errors.lock().unwrap().push(e);
    }
}

/// A TCP proxy in front of one broker; see the module documentation.
pub struct Proxy {
    shared: Arc<Shared>,
    addr: String,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl Proxy {
    /// Starts a proxy on `127.0.0.1:<free port>` that forwards to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy: bind 127.0.0.1:0");
        let local = listener.local_addr().expect("proxy: local_addr");
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            host: local.ip().to_string(),
            port: i32::from(local.port()),
            advertised: Mutex::new(HashMap::new()),
            faults: Mutex::new(Faults::default()),
            produce_requests: AtomicUsize::new(0),
            produce_responses: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
            metadata_rewritten: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            errors: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
            blackhole: AtomicBool::new(false),
            delay_ms: std::sync::atomic::AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
        });
        let s = shared.clone();
        let acceptor = thread::Builder::new()
            .name("proxy-accept".into())
            .spawn(move || accept_loop(listener, s))
            .expect("proxy: spawn acceptor");
        Proxy { shared, addr: local.to_string(), acceptor: Some(acceptor) }
    }

    /// Starts (true) or ends (false) a network partition between clients and this broker:
    /// nothing gets through in either direction, and nothing is closed or reset.
    pub fn blackhole(&self, on: bool) {
        self.shared.blackhole.store(on, Ordering::SeqCst);
    }

    /// Holds every response this long before passing it on (0 ends the delay).
    pub fn delay_responses(&self, d: std::time::Duration) {
        self.shared.delay_ms.store(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// One proxy in front of each node of a cluster whose bootstrap list names node 1, 2, ... in
    /// order (as `scripts/kafka_cluster.py` prints it); each proxy's Metadata answers name the
    /// proxies, so a client talks to every node through its proxy. Bootstrap through
    /// [`cluster_bootstrap`].
    pub fn cluster(bootstrap: &str) -> Vec<Proxy> {
        let proxies: Vec<Proxy> = bootstrap.split(',').map(|node| Proxy::start(node.trim())).collect();
        for p in &proxies {
            for (i, other) in proxies.iter().enumerate() {
                p.advertise_node(i as i32 + 1, &other.addr());
            }
        }
        proxies
    }

    /// `host:port` of the proxy: the `bootstrap.servers` for a client that should go through it.
    pub fn addr(&self) -> String {
        self.addr.clone()
    }

    /// The broker this proxy forwards to.
    pub fn upstream(&self) -> &str {
        &self.shared.upstream
    }

    /// Metadata responses name `host_port` for broker `node_id` instead of this proxy (e.g. another
    /// proxy in front of that broker, when several proxies front a cluster).
    pub fn advertise_node(&self, node_id: i32, host_port: &str) {
        let (host, port) =
            host_port.rsplit_once(':').unwrap_or_else(|| panic!("{host_port:?} is not host:port"));
        let port: i32 = port.parse().unwrap_or_else(|_| panic!("{host_port:?}: bad port"));
        self.shared.advertised.lock().unwrap().insert(node_id, (host.to_string(), port));
    }

    /// The next `n` Produce responses are swallowed: as each arrives from the broker (which has
    /// therefore handled the request), both sockets of that connection are closed instead.
    pub fn drop_produce_responses(&self, n: usize) {
        self.shared.faults.lock().unwrap().drop_next += n;
    }

    /// From now on every `nth` Produce response (the nth, 2nth, ... seen from here) is swallowed
    /// and its connection cut, at most `max` times. `nth == 0` turns this off.
    pub fn drop_every_nth_produce_response(&self, nth: usize, max: usize) {
        let mut f = self.shared.faults.lock().unwrap();
        f.nth = nth;
        f.nth_max = max;
        f.nth_seen = 0;
        f.nth_dropped = 0;
    }

    /// Produce requests forwarded to the broker so far.
    pub fn produce_requests(&self) -> usize {
        self.shared.produce_requests.load(Ordering::SeqCst)
    }

    /// Produce responses received from the broker so far (forwarded or dropped).
    pub fn produce_responses(&self) -> usize {
        self.shared.produce_responses.load(Ordering::SeqCst)
    }

    /// Produce responses swallowed so far (each cut one connection).
    pub fn dropped(&self) -> usize {
        self.shared.dropped.load(Ordering::SeqCst)
    }

    /// Metadata responses whose broker addresses were rewritten so far.
    pub fn metadata_rewritten(&self) -> usize {
        self.shared.metadata_rewritten.load(Ordering::SeqCst)
    }

    /// Client connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Problems the proxy ran into (an unparsable frame, an unreachable broker); empty when all went
    /// well. Connections cut on purpose are not problems.
    pub fn errors(&self) -> Vec<String> {
        self.shared.errors.lock().unwrap().clone()
    }
}

/// The `bootstrap.servers` list of a [`Proxy::cluster`].
pub fn cluster_bootstrap(proxies: &[Proxy]) -> String {
    proxies.iter().map(Proxy::addr).collect::<Vec<_>>().join(",")
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Unblock accept().
        let _ = TcpStream::connect(&self.addr);
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
        for (_, (a, b)) in self.shared.open.lock().unwrap().drain() {
            cut(&a, &b);
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let client = match client {
            Ok(c) => c,
            Err(e) => {
                shared.error(format!("accept: {e}"));
                continue;
            }
        };
        let id = shared.connections.fetch_add(1, Ordering::SeqCst);
        let broker = match TcpStream::connect(&shared.upstream) {
            Ok(b) => b,
            Err(e) => {
                shared.error(format!("connecting to {}: {e}", shared.upstream));
                let _ = client.shutdown(Shutdown::Both);
                continue;
            }
        };
        let _ = client.set_nodelay(true);
        let _ = broker.set_nodelay(true);
        if let Err(e) = spawn_pair(id, client, broker, &shared) {
            shared.error(format!("starting a connection: {e}"));
        }
    }
}

/// (api key, version) of each request in flight on one connection, by correlation id.
type InFlight = Arc<Mutex<HashMap<i32, (i16, i16)>>>;

fn spawn_pair(id: usize, client: TcpStream, broker: TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    shared.open.lock().unwrap().insert(id, (client.try_clone()?, broker.try_clone()?));
    let in_flight: InFlight = Arc::new(Mutex::new(HashMap::new()));
    let (c_read, b_write) = (client.try_clone()?, broker.try_clone()?);
    let (b_read, c_write) = (broker, client);
    let (s1, s2) = (shared.clone(), shared.clone());
    let (f1, f2) = (in_flight.clone(), in_flight);
    thread::Builder::new()
        .name("proxy-c2b".into())
        .spawn(move || client_to_broker(id, c_read, b_write, f1, s1))?;
    thread::Builder::new()
        .name("proxy-b2c".into())
        .spawn(move || broker_to_client(id, b_read, c_write, f2, s2))?;
    Ok(())
}

/// Reads one frame (the bytes after the INT32 size); `Ok(None)` on a clean end of stream.
fn read_frame(r: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut size = [0u8; 4];
    match r.read_exact(&mut size) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let size = i32::from_be_bytes(size);
    if size < 0 || size as usize > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame size {size}")));
    }
    let mut frame = vec![0u8; size as usize];
    r.read_exact(&mut frame)?;
    Ok(Some(frame))
}

fn write_frame(w: &mut TcpStream, frame: &[u8]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(frame.len() + 4);
    buf.extend_from_slice(&(frame.len() as i32).to_be_bytes());
    buf.extend_from_slice(frame);
    w.write_all(&buf)
}

fn cut(a: &TcpStream, b: &TcpStream) {
    let _ = a.shutdown(Shutdown::Both);
    let _ = b.shutdown(Shutdown::Both);
}

fn client_to_broker(
    id: usize,
    mut client: TcpStream,
    mut broker: TcpStream,
    in_flight: InFlight,
    shared: Arc<Shared>,
) {
    while let Ok(Some(frame)) = read_frame(&mut client) {
        if frame.len() < 8 {
            shared.error(format!("request frame of {} bytes has no header", frame.len()));
            break;
        }
        let api_key = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
        // Recorded before forwarding, so the response always finds it.
        in_flight.lock().unwrap().insert(correlation_id, (api_key, version));
        if api_key == PRODUCE {
            shared.produce_requests.fetch_add(1, Ordering::SeqCst);
        }
        if shared.blackhole.load(Ordering::SeqCst) {
            continue; // lost in the partition; the broker never sees it
        }
        if write_frame(&mut broker, &frame).is_err() {
            break;
        }
    }
    cut(&client, &broker);
    shared.open.lock().unwrap().remove(&id);
}

fn broker_to_client(
    id: usize,
    mut broker: TcpStream,
    mut client: TcpStream,
    in_flight: InFlight,
    shared: Arc<Shared>,
) {
    while let Ok(Some(mut frame)) = read_frame(&mut broker) {
        if frame.len() < 4 {
            shared.error(format!("response frame of {} bytes has no correlation id", frame.len()));
            break;
        }
        let correlation_id = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let request = in_flight.lock().unwrap().remove(&correlation_id);
        match request {
            Some((PRODUCE, _)) => {
                shared.produce_responses.fetch_add(1, Ordering::SeqCst);
                if shared.faults.lock().unwrap().take_drop() {
                    shared.dropped.fetch_add(1, Ordering::SeqCst);
                    break; // the broker has answered (and stored the batch); the client never hears it
                }
            }
            Some((METADATA, version)) => {
                let advertised = shared.advertised.lock().unwrap().clone();
                match rewrite_metadata_response(&frame, version, |node| {
                    advertised.get(&node).cloned().unwrap_or_else(|| (shared.host.clone(), shared.port))
                }) {
                    Ok(rewritten) => {
                        frame = rewritten;
                        shared.metadata_rewritten.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => shared.error(format!("Metadata v{version} response not rewritten: {e}")),
                }
            }
            Some(_) => {}
            None => shared.error(format!("response with unknown correlation id {correlation_id}")),
        }
        let delay = shared.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            thread::sleep(std::time::Duration::from_millis(delay));
        }
        if shared.blackhole.load(Ordering::SeqCst) {
            continue; // lost in the partition; the client never hears it
        }
        if write_frame(&mut client, &frame).is_err() {
            break;
        }
    }
    cut(&broker, &client);
    shared.open.lock().unwrap().remove(&id);
}

/// Rewrites a Metadata response `frame` (the bytes after the size prefix: header and body) of
/// `version` (1..=13): every broker entry's host and port become `address(node_id)`; everything
/// else, tagged fields included, is copied unchanged.
///
/// Layout (MetadataResponse.json): header `correlation_id` (+ tagged fields from v9), then
/// `throttle_time_ms` (v3+), `brokers` [`node_id` INT32, `host` STRING, `port` INT32, `rack`
/// NULLABLE_STRING (v1+), tagged fields (v9+)], then the rest, which is not touched.
pub fn rewrite_metadata_response(
    frame: &[u8],
    version: i16,
    mut address: impl FnMut(i32) -> (String, i32),
) -> Result<Vec<u8>, String> {
    if !(1..=13).contains(&version) {
        return Err(format!("Metadata v{version} is not supported by the proxy"));
    }
    let flexible = version >= METADATA_FLEXIBLE_FROM;
    let e = |e: kafka_blocking::Error| e.to_string();
    let mut r = Reader::new(frame);
    let mut out = Vec::with_capacity(frame.len() + 64);

    // Header: correlation id, tagged fields (v1 header when flexible). Copied as is.
    r.i32().map_err(e)?;
    if flexible {
        r.skip_tagged_fields().map_err(e)?;
    }
    if version >= 3 {
        r.i32().map_err(e)?; // throttle_time_ms
    }
    out.extend_from_slice(&frame[..r.position()]);

    let n = r.array_len(flexible, 10).map_err(e)?;
    out.put_array_len(n, flexible);
    for _ in 0..n.unwrap_or(0) {
        let node_id = r.i32().map_err(e)?;
        let _host = r.str_v(flexible).map_err(e)?;
        let _port = r.i32().map_err(e)?;
        let (host, port) = address(node_id);
        out.put_i32(node_id);
        out.put_str_v(Some(&host), flexible);
        out.put_i32(port);
        // rack, then (flexible) the broker's tagged fields: copied byte for byte.
        let rest_start = r.position();
        r.nullable_str_v(flexible).map_err(e)?;
        if flexible {
            r.skip_tagged_fields().map_err(e)?;
        }
        out.extend_from_slice(&frame[rest_start..r.position()]);
    }
    // cluster_id, controller_id, topics, ...: unchanged.
    out.extend_from_slice(&frame[r.position()..]);
    Ok(out)
}
