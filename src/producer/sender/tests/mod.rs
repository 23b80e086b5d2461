//! The sender's decisions, driven turn by turn over a scripted broker and a clock moved by hand
//! (the shape of Java's `SenderTest` over `MockClient` and `MockTime`): no sockets, no threads,
//! no sleeps. Each test appends records straight into the accumulator, runs the sender's
//! turns, looks at the requests the brokers received, and answers them.

use super::produce::invalidates_metadata;
use super::transport::{Link, Readiness, Transport};
use super::*;
use crate::config::ProducerConfig;
use crate::network::frame::Frame;
use crate::producer::future::SendFuture;
use crate::protocol::primitives::{Encoder, Reader};
use crate::protocol::record_batch::{decode_batches, DecodedBatch};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

// ----- the scripted cluster -------------------------------------------------------------

/// A request a broker received: its header and its body bytes.
#[derive(Debug, Clone)]
struct Captured {
    /// The broker that received it, and the connection it came on.
    node: i32,
    token: u64,
    api_key: i16,
    version: i16,
    corr: i32,
    body: Vec<u8>,
}

/// One partition's data in a Produce request.
#[derive(Debug)]
struct ProducedPartition {
    topic: String,
    partition: i32,
    batches: Vec<DecodedBatch>,
}

impl Captured {
    /// Reads a Produce v3..=v8 body (what the scripted brokers offer).
    fn produce(&self) -> (i16, Vec<ProducedPartition>) {
        assert_eq!(self.api_key, ApiKey::Produce.code(), "not a Produce request: {self:?}");
        let mut r = Reader::new(&self.body);
        let _transactional_id = r.nullable_string().unwrap();
        let acks = r.i16().unwrap();
        let _timeout = r.i32().unwrap();
        let mut out = Vec::new();
        for _ in 0..r.i32().unwrap() {
            let topic = r.string().unwrap().to_owned();
            for _ in 0..r.i32().unwrap() {
                let partition = r.i32().unwrap();
                let records = r.nullable_bytes().unwrap().unwrap_or_default();
                let batches = decode_batches(records).expect("a valid record batch");
                out.push(ProducedPartition { topic: topic.clone(), partition, batches });
            }
        }
        (acks, out)
    }
}

/// A connection as the broker side sees it.
#[derive(Default)]
struct Wire {
    /// The broker behind it, and the node id the sender gave the connection (-1, -2, ...
    /// for bootstrap addresses).
    broker: i32,
    node: i32,
    /// Frames the client queued and the "socket" has not taken yet.
    out: VecDeque<Frame>,
    written: u64,
    queued: u64,
    /// Response frames (without size prefix) the client has not read yet.
    inbox: VecDeque<Vec<u8>>,
    /// The socket takes nothing (a full TCP window).
    stalled: bool,
    /// The next read fails with this (the broker closed the connection).
    broken: bool,
}

struct Script {
    now: Instant,
    /// Node id to (address, up).
    brokers: BTreeMap<i32, (String, bool)>,
    /// Topic to the leader of each partition.
    topics: BTreeMap<String, Vec<i32>>,
    wires: HashMap<u64, Wire>,
    next_token: u64,
    /// Every request the brokers received, in order.
    requests: Vec<Captured>,
    /// Produce requests not answered yet (answer them with [`Harness::answer`]); when false
    /// they are acknowledged at once.
    hold_produce: bool,
    held: VecDeque<Captured>,
    next_offset: HashMap<(String, i32), i64>,
    next_producer_id: i64,
    connects: Vec<i32>,
    /// Brokers that accept connections and read requests but never answer.
    silent: Vec<i32>,
    /// `throttle_time_ms` in Produce responses.
    throttle_ms: i32,
    /// SASL the brokers ask for: PLAIN with this `\0user\0password` token, and the session
    /// lifetime they give (KIP-368); `None` accepts any connection without SASL.
    sasl_plain: Option<(Vec<u8>, i64)>,
    /// KIP-714: the brokers offer client telemetry with this subscription.
    telemetry: Option<TelemetryScript>,
}

/// What the scripted brokers answer to GetTelemetrySubscriptions and PushTelemetry.
#[derive(Debug, Clone, Default)]
struct TelemetryScript {
    subscription_id: i32,
    interval_ms: i32,
    requested: Vec<String>,
    accepted_compression: Vec<i8>,
    /// Error codes for the next pushes, oldest first (then 0).
    push_errors: VecDeque<i16>,
}

impl Script {
    fn addr_node(&self, addr: &str) -> Option<i32> {
        self.brokers.iter().find(|(_, (a, _))| a == addr).map(|(&n, _)| n)
    }

    /// A request was written to broker `node`: record it and answer it.
    fn receive(&mut self, token: u64, node: i32, frame: &[u8]) {
        let mut r = Reader::new(&frame[4..]);
        let api_key = r.i16().unwrap();
        let version = r.i16().unwrap();
        let corr = r.i32().unwrap();
        let _client_id = r.nullable_string().unwrap();
        if (api_key == ApiKey::ApiVersions.code() && version >= 3)
            || (api_key == ApiKey::SaslAuthenticate.code() && version >= 2)
            || api_key == ApiKey::GetTelemetrySubscriptions.code()
            || api_key == ApiKey::PushTelemetry.code()
        {
            r.skip_tagged_fields().unwrap();
        }
        let body = frame[4 + r.position()..].to_vec();
        let req = Captured { node, token, api_key, version, corr, body };
        self.requests.push(req.clone());
        if self.silent.contains(&node) {
            return;
        }
        let answer = match api_key {
            18 => Some(api_versions_response(corr, self.telemetry.is_some())),
            71 => Some(self.telemetry_subscriptions_response(&req)),
            72 => Some(self.push_telemetry_response(&req)),
            3 => Some(self.metadata_response(&req)),
            22 => Some(self.init_producer_id_response(corr)),
            17 => Some(self.sasl_handshake_response(&req)),
            36 => Some(self.sasl_authenticate_response(&req)),
            0 => {
                let (acks, _) = req.produce();
                if acks == 0 {
                    None
                } else if self.hold_produce {
                    self.held.push_back(req);
                    None
                } else {
                    Some(self.produce_response(&req, |_, _| 0))
                }
            }
            other => panic!("the scripted broker does not answer API {other}"),
        };
        if let Some(a) = answer {
            self.wires.get_mut(&token).expect("open wire").inbox.push_back(a);
        }
    }

    fn metadata_response(&self, req: &Captured) -> Vec<u8> {
        let mut r = Reader::new(&req.body);
        let n = r.i32().unwrap();
        let asked: Vec<String> = (0..n.max(0)).map(|_| r.string().unwrap().to_owned()).collect();
        let mut b = Vec::new();
        b.put_i32(req.corr);
        b.put_i32(0); // throttle
        b.put_i32(self.brokers.len() as i32);
        for (&id, (addr, _)) in &self.brokers {
            let (host, port) = addr.split_once(':').unwrap();
            b.put_i32(id);
            b.put_string(Some(host));
            b.put_i32(port.parse().unwrap());
            b.put_string(None); // rack
        }
        b.put_string(Some("scripted"));
        b.put_i32(1); // controller
        b.put_i32(asked.len() as i32);
        for t in &asked {
            match self.topics.get(t) {
                Some(leaders) => {
                    b.put_i16(0);
                    b.put_string(Some(t));
                    b.put_bool(false);
                    b.put_i32(leaders.len() as i32);
                    for (p, &leader) in leaders.iter().enumerate() {
                        b.put_i16(0);
                        b.put_i32(p as i32);
                        b.put_i32(leader);
                        for _ in 0..2 {
                            b.put_i32(1); // replicas, then isr: the leader alone
                            b.put_i32(leader);
                        }
                    }
                }
                None => {
                    b.put_i16(KafkaCode::UNKNOWN_TOPIC_OR_PARTITION.0);
                    b.put_string(Some(t));
                    b.put_bool(false);
                    b.put_i32(0);
                }
            }
        }
        b
    }

    /// GetTelemetrySubscriptions v0: the scripted subscription; a new instance id for a
    /// client that sends zeros.
    fn telemetry_subscriptions_response(&self, req: &Captured) -> Vec<u8> {
        let t = self.telemetry.as_ref().expect("telemetry is scripted");
        let asked: [u8; 16] = req.body[..16].try_into().unwrap();
        let mut b = Vec::new();
        b.put_i32(req.corr);
        b.put_empty_tagged_fields();
        b.put_i32(0); // throttle
        b.put_i16(0);
        b.put_uuid(&if asked == [0; 16] { TELEMETRY_ID } else { [0; 16] });
        b.put_i32(t.subscription_id);
        b.put_array_len(Some(t.accepted_compression.len()), true);
        for &c in &t.accepted_compression {
            b.put_i8(c);
        }
        b.put_i32(t.interval_ms);
        b.put_i32(1 << 20);
        b.put_bool(false);
        b.put_array_len(Some(t.requested.len()), true);
        for m in &t.requested {
            b.put_compact_string(Some(m));
        }
        b.put_empty_tagged_fields();
        b
    }

    fn push_telemetry_response(&mut self, req: &Captured) -> Vec<u8> {
        let t = self.telemetry.as_mut().expect("telemetry is scripted");
        let code = t.push_errors.pop_front().unwrap_or(0);
        let mut b = Vec::new();
        b.put_i32(req.corr);
        b.put_empty_tagged_fields();
        b.put_i32(0);
        b.put_i16(code);
        b.put_empty_tagged_fields();
        b
    }

    /// SaslHandshake v1: PLAIN is the only mechanism enabled.
    fn sasl_handshake_response(&self, req: &Captured) -> Vec<u8> {
        assert_eq!(req.version, 1, "the client sends SaslHandshake v1");
        let mut r = Reader::new(&req.body);
        let mechanism = r.string().unwrap();
        let mut b = Vec::new();
        b.put_i32(req.corr);
        b.put_i16(if mechanism == "PLAIN" { 0 } else { KafkaCode::UNSUPPORTED_SASL_MECHANISM.0 });
        b.put_i32(1);
        b.put_string(Some("PLAIN"));
        b
    }

    /// SaslAuthenticate v2 (flexible: response header v1).
    fn sasl_authenticate_response(&self, req: &Captured) -> Vec<u8> {
        assert_eq!(req.version, 2, "the scripted brokers offer SaslAuthenticate up to v2");
        let mut r = Reader::new(&req.body);
        let token = r.compact_nullable_bytes().unwrap().unwrap_or_default();
        let (want, lifetime) = self.sasl_plain.clone().expect("SASL is scripted");
        let ok = token == want.as_slice();
        let mut b = Vec::new();
        b.put_i32(req.corr);
        b.put_empty_tagged_fields();
        b.put_i16(if ok { 0 } else { KafkaCode::SASL_AUTHENTICATION_FAILED.0 });
        b.put_compact_string((!ok).then_some("Authentication failed: Invalid username or password"));
        b.put_compact_bytes(Some(&[]));
        b.put_i64(if ok { lifetime } else { 0 });
        b.put_empty_tagged_fields();
        b
    }

    fn init_producer_id_response(&mut self, corr: i32) -> Vec<u8> {
        let mut b = Vec::new();
        b.put_i32(corr);
        b.put_i32(0); // throttle
        b.put_i16(0);
        b.put_i64(self.next_producer_id);
        b.put_i16(0); // epoch
        self.next_producer_id += 1;
        b
    }

    /// A Produce v8 response with `code(topic, partition)` for each partition; offsets are
    /// handed out for the records acknowledged.
    fn produce_response(&mut self, req: &Captured, code: impl Fn(&str, i32) -> i16) -> Vec<u8> {
        assert_eq!(req.version, 8, "the scripted brokers offer Produce up to v8");
        let (_, parts) = req.produce();
        let mut b = Vec::new();
        b.put_i32(req.corr);
        b.put_i32(parts.len() as i32); // one topic entry per partition: valid on the wire
        for p in &parts {
            let c = code(&p.topic, p.partition);
            let records: i64 = p.batches.iter().map(|b| b.records.len() as i64).sum();
            let next = self.next_offset.entry((p.topic.clone(), p.partition)).or_insert(0);
            let base = if c == 0 { *next } else { -1 };
            if c == 0 {
                *next += records;
            }
            b.put_string(Some(&p.topic));
            b.put_i32(1);
            b.put_i32(p.partition);
            b.put_i16(c);
            b.put_i64(base);
            b.put_i64(-1); // log append time
            b.put_i64(0); // log start offset
            b.put_i32(0); // record errors
            b.put_string(None); // error message
        }
        b.put_i32(self.throttle_ms);
        b
    }
}

/// The client instance id the scripted brokers assign.
const TELEMETRY_ID: [u8; 16] = [7; 16];

fn api_versions_response(corr: i32, telemetry: bool) -> Vec<u8> {
    let mut b = Vec::new();
    b.put_i32(corr); // response header v0, always, for ApiVersions
    b.put_i16(0);
    let mut keys: Vec<(ApiKey, i16, i16)> = vec![
        (ApiKey::Produce, 3, 8),
        (ApiKey::Metadata, 4, 4),
        (ApiKey::ApiVersions, 0, 4),
        (ApiKey::InitProducerId, 0, 1),
        (ApiKey::SaslHandshake, 0, 1),
        (ApiKey::SaslAuthenticate, 0, 2),
    ];
    if telemetry {
        keys.extend([(ApiKey::GetTelemetrySubscriptions, 0, 0), (ApiKey::PushTelemetry, 0, 0)]);
    }
    b.put_uvarint(keys.len() as u32 + 1);
    for (k, lo, hi) in keys {
        b.put_i16(k.code());
        b.put_i16(lo);
        b.put_i16(hi);
        b.put_empty_tagged_fields();
    }
    b.put_i32(0); // throttle
    b.put_empty_tagged_fields();
    b
}

struct ScriptedLink {
    token: u64,
    connecting: bool,
    script: Rc<RefCell<Script>>,
}

impl Link for ScriptedLink {
    fn token(&self) -> u64 {
        self.token
    }
    fn is_connecting(&self) -> bool {
        self.connecting
    }
    fn connect_deadline(&self) -> Option<Instant> {
        None
    }
    fn finish_connect(&mut self, _now: Instant) -> Result<bool> {
        let sc = self.script.borrow();
        let node = sc.wires[&self.token].broker;
        if !sc.brokers.get(&node).is_some_and(|b| b.1) {
            return Err(Error::new(
                ErrorKind::Io,
                format!("connecting to broker {node}: connection refused"),
            ));
        }
        self.connecting = false;
        Ok(true)
    }
    fn queue(&mut self, frame: Frame) -> u64 {
        let mut sc = self.script.borrow_mut();
        let w = sc.wires.get_mut(&self.token).expect("open wire");
        w.out.push_back(frame);
        w.queued += 1;
        w.queued - 1
    }
    fn frames_written(&self) -> u64 {
        self.script.borrow().wires[&self.token].written
    }
    fn has_unwritten(&self) -> bool {
        !self.script.borrow().wires[&self.token].out.is_empty()
    }
    fn flush(&mut self, spent: &mut Vec<Frame>) -> Result<()> {
        let mut sc = self.script.borrow_mut();
        loop {
            let w = sc.wires.get_mut(&self.token).expect("open wire");
            if w.stalled {
                return Ok(());
            }
            let Some(frame) = w.out.pop_front() else { return Ok(()) };
            w.written += 1;
            let broker = w.broker;
            sc.receive(self.token, broker, &frame.to_vec());
            spent.push(frame);
        }
    }
    fn take_unwritten(&mut self) -> Vec<Frame> {
        let mut sc = self.script.borrow_mut();
        sc.wires.get_mut(&self.token).map(|w| w.out.drain(..).collect()).unwrap_or_default()
    }
    fn read_frames(&mut self, frames: &mut Vec<Vec<u8>>) -> Result<()> {
        let mut sc = self.script.borrow_mut();
        let w = sc.wires.get_mut(&self.token).expect("open wire");
        frames.extend(w.inbox.drain(..));
        if w.broken {
            return Err(Error::new(ErrorKind::Io, "broker closed the connection"));
        }
        Ok(())
    }
}

impl Drop for ScriptedLink {
    fn drop(&mut self) {
        self.script.borrow_mut().wires.remove(&self.token);
    }
}

struct ScriptedTransport {
    script: Rc<RefCell<Script>>,
}

impl Transport for ScriptedTransport {
    type Link = ScriptedLink;

    fn now(&self) -> Instant {
        self.script.borrow().now
    }

    fn connect(
        &mut self,
        node: i32,
        addr: &str,
        _opts: &SocketOptions,
        _now: Instant,
    ) -> Result<ScriptedLink> {
        let mut sc = self.script.borrow_mut();
        sc.connects.push(node);
        let Some(id) = sc.addr_node(addr) else {
            return Err(Error::new(ErrorKind::Io, format!("resolving {addr}: unknown host")));
        };
        sc.next_token += 1;
        let token = sc.next_token;
        sc.wires.insert(token, Wire { broker: id, node, ..Wire::default() });
        Ok(ScriptedLink { token, connecting: true, script: self.script.clone() })
    }

    fn wait(
        &mut self,
        links: &mut dyn Iterator<Item = (i32, &ScriptedLink)>,
        _timeout: Duration,
        ready: &mut Vec<Readiness>,
    ) -> bool {
        let sc = self.script.borrow();
        for (node, l) in links {
            let w = &sc.wires[&l.token];
            let readable = !w.inbox.is_empty() || w.broken;
            let writable = l.connecting || (!w.out.is_empty() && !w.stalled);
            if readable || writable {
                ready.push(Readiness { node, token: l.token, readable, writable });
            }
        }
        !ready.is_empty()
    }

    fn wait_writable(&mut self, _links: &mut dyn Iterator<Item = &ScriptedLink>, _timeout: Duration) {}
}

// ----- the harness ------------------------------------------------------------------------

struct Harness {
    s: SenderLoop<ScriptedTransport>,
    script: Rc<RefCell<Script>>,
}

/// A sender for a producer with `props`, over brokers 1..=`brokers` (`b1:9092`, ...) and topic
/// `t` with `partitions` partitions led round robin.
fn harness(brokers: i32, partitions: i32, props: &[(&str, &str)]) -> Harness {
    let mut cfg = ProducerConfig::new().bootstrap_servers("b1:9092").set("linger.ms", "0");
    for (k, v) in props {
        cfg = cfg.set(k, v);
    }
    let cfg = cfg.resolved().expect("valid test configuration");
    let (shared, txn_commands) = crate::producer::shared_state(&cfg, "test").unwrap();
    let script = Rc::new(RefCell::new(Script {
        now: Instant::now(),
        brokers: (1..=brokers).map(|n| (n, (format!("b{n}:9092"), true))).collect(),
        topics: [("t".to_owned(), (0..partitions).map(|p| 1 + p % brokers).collect())].into(),
        wires: HashMap::new(),
        next_token: 0,
        requests: Vec::new(),
        hold_produce: false,
        held: VecDeque::new(),
        next_offset: HashMap::new(),
        next_producer_id: 1000,
        connects: Vec::new(),
        silent: Vec::new(),
        throttle_ms: 0,
        sasl_plain: None,
        telemetry: None,
    }));
    shared.metadata.want("t");
    let transport = ScriptedTransport { script: script.clone() };
    Harness { s: SenderLoop::new(shared, txn_commands, transport), script }
}

impl Harness {
    fn send(&self, partition: i32, value: &str) -> SendFuture {
        let far = self.script.borrow().now + Duration::from_secs(60);
        self.s
            .shared
            .accumulator
            .append("t", partition, 1, None, Some(value.as_bytes()), &[], far, None, None)
            .expect("appended")
    }

    /// Runs `n` turns of the sender: decide, then handle what the links have.
    fn turns(&mut self, n: usize) {
        for _ in 0..n {
            let _ = self.s.decide(false);
            self.s.poll_once(Duration::ZERO);
        }
    }

    fn advance(&mut self, d: Duration) {
        self.script.borrow_mut().now += d;
    }

    fn hold_produce(&self) {
        self.script.borrow_mut().hold_produce = true;
    }

    /// The Produce requests received so far.
    fn produces(&self) -> Vec<Captured> {
        self.script.borrow().requests.iter().filter(|r| r.api_key == 0).cloned().collect()
    }

    fn api_keys(&self) -> Vec<i16> {
        self.script.borrow().requests.iter().map(|r| r.api_key).collect()
    }

    fn held(&self) -> usize {
        self.script.borrow().held.len()
    }

    /// Answers the oldest held Produce request with `code` for every partition.
    fn answer(&mut self, code: KafkaCode) {
        self.answer_from(None, code)
    }

    /// Answers the `i`th oldest held Produce request with `code`.
    fn answer_at(&mut self, i: usize, code: KafkaCode) {
        let mut sc = self.script.borrow_mut();
        let req = sc.held.remove(i).expect("a held Produce request");
        let frame = sc.produce_response(&req, |_, _| code.0);
        if let Some(w) = sc.wires.get_mut(&req.token) {
            w.inbox.push_back(frame);
        }
    }

    /// Answers the oldest held Produce request (to broker `node`, when given) with `code`.
    fn answer_from(&mut self, node: Option<i32>, code: KafkaCode) {
        let mut sc = self.script.borrow_mut();
        let at =
            sc.held.iter().position(|r| node.is_none_or(|n| r.node == n)).expect("a held Produce request");
        let req = sc.held.remove(at).unwrap();
        let frame = sc.produce_response(&req, |_, _| code.0);
        if let Some(w) = sc.wires.get_mut(&req.token) {
            w.inbox.push_back(frame);
        }
    }

    /// Answers the oldest held Produce request with raw bytes after its correlation id.
    fn answer_raw(&mut self, body: &[u8]) {
        let mut sc = self.script.borrow_mut();
        let req = sc.held.pop_front().expect("a held Produce request");
        let mut frame = req.corr.to_be_bytes().to_vec();
        frame.extend_from_slice(body);
        sc.wires.get_mut(&req.token).expect("connection still open").inbox.push_back(frame);
    }

    fn wire(&self, node: i32, f: impl FnOnce(&mut Wire)) {
        let mut sc = self.script.borrow_mut();
        let w = sc.wires.values_mut().find(|w| w.node == node).expect("a connection to the node");
        f(w);
    }

    fn set_broker_up(&self, node: i32, up: bool) {
        self.script.borrow_mut().brokers.get_mut(&node).unwrap().1 = up;
    }
}

fn done(f: &SendFuture) -> Result<crate::RecordMetadata> {
    assert!(f.is_done(), "the record is not resolved yet");
    f.wait()
}

mod cases;
mod telemetry;
