//! The sender thread: the one I/O thread of a producer.
//!
//! It owns every broker connection, every request in flight, metadata fetching and retries.
//! Each turn of its loop it fetches metadata when due, expires batches past
//! `delivery.timeout.ms`, times out requests past `request.timeout.ms`, drains ready batches per
//! leader into Produce requests, and then waits in poll(2) over every broker socket and the
//! [`Waker`] until a socket is ready (a connect finished, a response arrived, room to write),
//! an application thread wakes it (new or full batch, flush, close), or the next deadline
//! (linger, backoff, timeout) comes. Sockets are non-blocking: no thread per connection.
//!
//! Runs on: sender thread (everything in this file).

mod auth;
mod io;
mod produce;
mod telemetry;
#[cfg(test)]
mod tests;
mod transport;
mod txn;

use super::accumulator::{Accumulator, ProducerBatch};
use super::idempotence::Idempotence;
use super::transaction::{Transactions, TxnCommand};
use crate::compression::CompressionType;
use crate::error::{Error, ErrorKind, KafkaCode, Result};
use crate::network::connection::SocketOptions;
use crate::network::frame::Frame;
use crate::network::metadata::Metadata;
use crate::network::waker::Waker;
use crate::protocol::api_versions::{ApiVersionsRequest, ApiVersionsResponse, TRANSACTION_VERSION};
use crate::protocol::header::{decode_response, encode_request, response_correlation_id};
use crate::protocol::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use crate::protocol::metadata::MetadataRequest;
use crate::protocol::produce::ProduceRequest;
use crate::protocol::{negotiate, ApiKey, Request};
use crossbeam_channel::Receiver;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use transport::{Link, PollTransport, Readiness, Transport};
use txn::{TxnDriver, TxnPending};

/// Settings the sender thread uses, taken from the validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct SenderConfig {
    pub(crate) bootstrap: Vec<String>,
    pub(crate) client_id: String,
    pub(crate) acks: i16,
    pub(crate) request_timeout: Duration,
    pub(crate) delivery_timeout: Duration,
    pub(crate) max_request_size: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) retries: u32,
    pub(crate) retry_backoff: Duration,
    pub(crate) retry_backoff_max: Duration,
    pub(crate) reconnect_backoff: Duration,
    pub(crate) reconnect_backoff_max: Duration,
    pub(crate) metadata_max_age: Duration,
    /// `metadata.max.idle.ms`.
    pub(crate) metadata_max_idle: Duration,
    pub(crate) connections_max_idle: Duration,
    /// `enable.idempotence` after Java's rules.
    pub(crate) idempotent: bool,
    pub(crate) transaction_timeout: Duration,
    pub(crate) compression: CompressionType,
    pub(crate) compression_level: Option<i32>,
    pub(crate) socket: SocketOptions,
    /// SASL authentication after ApiVersions on every connection (SASL_PLAINTEXT, SASL_SSL).
    pub(crate) sasl: Option<crate::security::sasl::SaslSettings>,
    /// `partitioner.availability.timeout.ms` when adaptive partitioning is on, else zero.
    pub(crate) availability_timeout: Duration,
    /// `enable.metrics.push`: KIP-714 client telemetry.
    pub(crate) metrics_push: bool,
}

/// State shared between the producer handle, application threads and the sender thread.
pub(crate) struct Shared {
    pub(crate) config: SenderConfig,
    pub(crate) accumulator: Accumulator,
    pub(crate) metadata: Metadata,
    /// Graceful close: send what is queued, then stop.
    pub(crate) closing: AtomicBool,
    /// Forced close: fail what is left and stop now.
    pub(crate) force_close: AtomicBool,
    /// The transaction state machine, for a producer with a `transactional.id`.
    pub(crate) txn: Option<Transactions>,
    /// Set when the producer can do no more work; every later `send` fails with it.
    pub(crate) fatal: std::sync::OnceLock<Error>,
    pub(crate) waker: Waker,
    /// What the sender records for `Producer::metrics`.
    pub(crate) metrics: crate::producer::metrics::SenderMetrics,
    /// The client instance id telemetry learns (`Producer::client_instance_id`).
    pub(crate) instance_id: Arc<crate::producer::telemetry::InstanceIdCell>,
}

impl Shared {
    pub(crate) fn wake(&self) {
        self.waker.wake();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnState {
    Connecting,
    Handshaking,
    Ready,
}

enum Pending {
    ApiVersions,
    SaslHandshake,
    SaslAuthenticate,
    Metadata,
    InitProducerId,
    Txn(TxnPending),
    Telemetry(telemetry::TelemetryPending),
    Produce(Vec<ProducerBatch>),
}

/// Batch buffers a request frame writes from instead of copies: where each goes in the
/// encoded bytes, and the buffers (see `network::frame`).
#[derive(Default)]
pub(super) struct Lent {
    cuts: Vec<usize>,
    buffers: Vec<Vec<u8>>,
}

struct InFlight {
    pending: Pending,
    api_key: ApiKey,
    version: i16,
    deadline: Instant,
}

struct Conn<L> {
    addr: String,
    state: ConnState,
    io: L,
    /// acks=0 batches by the number and correlation id of the frame that carries them:
    /// complete once written.
    unwritten_acks0: VecDeque<(u64, i32, Vec<ProducerBatch>)>,
    in_flight: HashMap<i32, InFlight>,
    versions: HashMap<i16, (i16, i16)>,
    /// When a request was last written or a response last read.
    last_used: Instant,
    /// While the ApiVersions handshake is under way: when it counts as a failed connection
    /// setup (`socket.connection.setup.timeout.ms`), so that a broker that accepts and never
    /// answers costs that long, not `request.timeout.ms`.
    handshake_until: Option<Instant>,
    /// The broker asked us to hold off (KIP-219 `throttle_time_ms`): no request until then.
    throttled_until: Option<Instant>,
    /// The SASL exchange under way.
    sasl: Option<crate::security::sasl::Exchange>,
    /// When to re-authenticate (KIP-368), when the broker gave the session a lifetime.
    reauth_at: Option<Instant>,
    /// SASL succeeded on this connection before (a later exchange is a re-authentication).
    authenticated_once: bool,
}

impl<L> Conn<L> {
    fn is_throttled(&self, now: Instant) -> bool {
        self.throttled_until.is_some_and(|t| t > now)
    }

    /// Produce requests in flight, counting acks=0 requests not written out yet (Java counts
    /// them until they are on the socket): a stalled socket stops the draining.
    fn produce_in_flight(&self) -> usize {
        self.in_flight.values().filter(|f| matches!(f.pending, Pending::Produce(_))).count()
            + self.unwritten_acks0.len()
    }

    /// Returns the batch buffers `frame` (written, or taken off a failed link) lent to the
    /// batches of its request, and gives back the frame's own buffer. A request that ended
    /// before its frame was written out (only a broker answering early does that) has its
    /// batches resolved already: their buffers are dropped.
    fn give_back(&mut self, frame: Frame) -> Vec<u8> {
        let corr = frame.corr;
        let (head, lent) = frame.into_parts();
        if lent.is_empty() {
            return head;
        }
        let batches = match self.in_flight.get_mut(&corr) {
            Some(InFlight { pending: Pending::Produce(batches), .. }) => Some(batches),
            _ => self.unwritten_acks0.iter_mut().find(|(_, c, _)| *c == corr).map(|(_, _, b)| b),
        };
        if let Some(batches) = batches {
            for (b, bytes) in batches.iter_mut().zip(lent) {
                b.give_back_bytes(bytes);
            }
        }
        head
    }
}

impl<L: Link> Conn<L> {
    /// The link is being dropped: its unwritten frames give their batch buffers back, so the
    /// batches can be retried (or resolved) with their bytes.
    fn reclaim_unwritten(&mut self) {
        for f in self.io.take_unwritten() {
            self.give_back(f);
        }
    }
}

#[derive(Default)]
struct Backoff {
    failures: u32,
    next_attempt: Option<Instant>,
}

struct SenderLoop<T: Transport> {
    shared: Arc<Shared>,
    /// The clock and the sockets (a scripted broker in the unit tests).
    transport: T,
    conns: HashMap<i32, Conn<T::Link>>,
    backoff: HashMap<i32, Backoff>,
    next_correlation_id: i32,
    drain_index: HashMap<i32, usize>,
    metadata_in_flight: bool,
    next_metadata_at: Option<Instant>,
    /// [`Metadata::wanted_version`] when the last Metadata request was built: a topic first
    /// wanted since then is fetched without waiting for `next_metadata_at`.
    metadata_wanted_version: u64,
    bootstrap_index: usize,
    /// Partitions with a Produce in flight (used to keep order when max.in.flight is 1).
    in_flight_partitions: HashSet<(Arc<str>, i32)>,
    frame_buf: Vec<u8>,
    /// Written frame buffers, for the next requests.
    spare_frames: Vec<Vec<u8>>,
    /// Frames one flush wrote (kept for its allocation).
    spent_frames: Vec<Frame>,
    /// The links that one wait found ready.
    ready: Vec<Readiness>,
    /// Response frames read in one turn.
    frames_read: Vec<Vec<u8>>,
    /// Where batches are compressed before they go back into their own buffers.
    compress_buf: Vec<u8>,
    /// Producer id, epoch and sequences, when `enable.idempotence` is in effect.
    idem: Option<Idempotence>,
    init_pid_in_flight: bool,
    next_init_pid_at: Option<Instant>,
    /// The last epoch bump was refused: the next InitProducerId asks for a new id.
    fresh_id_requested: bool,
    /// Transaction requests and coordinator, for a transactional producer.
    txn: Option<TxnDriver>,
    /// The newest finalized features any broker reported in ApiVersions: their epoch and the
    /// `transaction.version` level (Java's `ApiVersions.maxFinalizedFeaturesEpoch`).
    features_epoch: i64,
    transaction_version: Option<i16>,
    /// Per node: when it last had batches ready, and when it last took them (Java's
    /// `NodeLatencyStats`, for `partitioner.availability.timeout.ms`).
    node_latency: HashMap<i32, (Instant, Instant)>,
    /// KIP-714 client telemetry, with `enable.metrics.push`.
    telemetry: Option<crate::producer::telemetry::TelemetryClient>,
    /// Test hook: panic while drained batches are held in local variables.
    #[cfg(test)]
    panic_after_drain: bool,
}

/// The sender thread's body. Returns how many records were still pending when it stopped
/// (failed with a `Closed` error): none after a graceful close that delivered everything.
pub(crate) fn run(shared: Arc<Shared>, txn_commands: Option<Receiver<TxnCommand>>) -> usize {
    crate::producer::future::mark_sender_thread(shared.accumulator.owner_id());
    shared.accumulator.pool().defer_wakes_on_this_thread();
    let transport = PollTransport::new(shared.waker.clone());
    let mut s = SenderLoop::new(shared.clone(), txn_commands, transport);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.run_loop()));
    let err = match outcome {
        Ok(()) => Error::new(ErrorKind::Closed, "producer is closed"),
        Err(_) => {
            log::error!("kafka-blocking sender thread panicked; failing every pending record");
            Error::new(
                ErrorKind::IllegalState,
                "the producer's sender thread panicked; the producer is unusable",
            )
        }
    };
    s.shut_down(err)
}

impl<T: Transport> SenderLoop<T> {
    fn new(shared: Arc<Shared>, txn_commands: Option<Receiver<TxnCommand>>, transport: T) -> Self {
        let started = transport.now();
        SenderLoop {
            transport,
            conns: HashMap::new(),
            backoff: HashMap::new(),
            next_correlation_id: 0,
            drain_index: HashMap::new(),
            metadata_in_flight: false,
            next_metadata_at: None,
            metadata_wanted_version: 0,
            // As Java: start at a random bootstrap server, so that one that hangs does not
            // hold up every producer's first request.
            bootstrap_index: (jitter_unit() * 65536.0) as usize,
            in_flight_partitions: HashSet::new(),
            frame_buf: Vec::with_capacity(64 * 1024),
            spare_frames: Vec::new(),
            spent_frames: Vec::new(),
            ready: Vec::new(),
            frames_read: Vec::new(),
            compress_buf: Vec::new(),
            idem: shared.config.idempotent.then(|| Idempotence::new(shared.txn.is_some())),
            init_pid_in_flight: false,
            next_init_pid_at: None,
            fresh_id_requested: false,
            txn: txn_commands.map(TxnDriver::new),
            features_epoch: -1,
            transaction_version: None,
            node_latency: HashMap::new(),
            telemetry: shared.config.metrics_push.then(|| {
                crate::producer::telemetry::TelemetryClient::new(
                    started,
                    telemetry::unix_nanos(),
                    shared.config.retry_backoff,
                    shared.config.retry_backoff_max,
                    telemetry_resource(&shared.config),
                    shared.instance_id.clone(),
                )
            }),
            #[cfg(test)]
            panic_after_drain: false,
            shared,
        }
    }

    fn cfg(&self) -> &SenderConfig {
        &self.shared.config
    }

    fn run_loop(&mut self) {
        let mut busy = false;
        while let Some(timeout) = self.decide(busy) {
            // Threads blocked for memory that this turn's completions freed go now, after its
            // requests are written (see buffer_pool's "Waking after the sender's writes").
            self.shared.accumulator.pool().wake_deferred();
            busy = self.poll_once(timeout);
        }
    }

    /// One turn's decisions, without I/O waits: timeouts, expiry, metadata, producer id or
    /// transaction steps, and the Produce requests that are ready. Returns how long the next
    /// wait may sleep (zero after sending or when `busy`), or `None` when the sender should stop.
    fn decide(&mut self, busy: bool) -> Option<Duration> {
        let now = self.transport.now();
        if self.shared.force_close.load(Ordering::Acquire) {
            return None;
        }
        let closing = self.shared.closing.load(Ordering::Acquire);
        if closing && !self.shared.accumulator.has_incomplete() {
            // Everything is delivered: the last telemetry push (terminating), then stop.
            if let Some(t) = self.telemetry.as_mut() {
                t.begin_close();
            }
            if self.telemetry.as_ref().is_none_or(|t| t.is_done()) {
                return None;
            }
        }
        self.check_request_timeouts(now);
        self.check_connect_timeouts(now);
        self.check_reauthentication(now);
        self.expire_batches(now);
        let mut next = self.maybe_update_metadata(now);
        if self.txn.is_some() {
            next = min_opt(next, self.drive_transactions(now));
        } else {
            next = min_opt(next, self.maybe_init_producer_id(now));
        }
        next = min_opt(next, self.drive_telemetry(now));
        let (sent, produce_next, queued) = self.send_ready(now, closing);
        next = min_opt(next, produce_next);
        // After sending: a connection that just became ready is used before it can count as
        // idle (with connections.max.idle.ms=0 it would never be used otherwise).
        self.close_idle_connections(now);
        if let Some(d) = self.next_in_flight_deadline(now) {
            next = min_opt(next, Some(d));
        }
        if let Some(d) = self.next_connect_deadline(now) {
            next = min_opt(next, Some(d));
        }
        if let Some(d) = self.next_reauthentication(now) {
            next = min_opt(next, Some(d));
        }
        // Something is waiting on a connection or a backoff: look again soon.
        if queued || self.metadata_in_flight {
            next = min_opt(next, Some(Duration::from_millis(100)));
        }
        Some(if sent || busy { Duration::ZERO } else { next.unwrap_or(Duration::from_secs(1)) })
    }

    /// The sender stops with `err`: a graceful close writes out what is queued first; what is
    /// left fails. Returns how many records failed.
    fn shut_down(&mut self, err: Error) -> usize {
        let shared = self.shared.clone();
        shared.accumulator.close();
        if !shared.force_close.load(Ordering::Acquire) {
            // A graceful close: write out what is queued on the sockets (acks=0 records are
            // complete once written), bounded by request.timeout.ms.
            self.flush_sockets(self.transport.now() + shared.config.request_timeout);
        }
        let closed = Error::new(
            ErrorKind::Closed,
            "producer was closed before the record was delivered (close timeout expired or the sender stopped)",
        );
        let aborted = self.abort_everything(&closed);
        shared.metadata.fail_all(err);
        shared.accumulator.pool().close();
        aborted
    }

    fn send_request<R: Request>(
        &mut self,
        node: i32,
        req: &R,
        version: i16,
        pending: Pending,
        now: Instant,
    ) -> bool {
        self.frame_buf.clear();
        let corr = self.next_correlation_id;
        let client_id = self.shared.config.client_id.clone();
        if let Err(e) = encode_request(req, version, corr, Some(&client_id), &mut self.frame_buf) {
            self.fail_pending(pending, e.context(format!("encoding {} v{version}", R::API_KEY.name())));
            return false;
        }
        if !self.conns.contains_key(&node) {
            self.fail_pending(pending, Error::new(ErrorKind::Io, format!("no connection to broker {node}")));
            return false;
        }
        self.write_encoded(node, R::API_KEY, version, pending, Lent::default(), now)
    }

    /// A batch's request is over: the partition may send again.
    fn end_in_flight(&mut self, b: &ProducerBatch) {
        self.in_flight_partitions.remove(&(b.topic.clone(), b.partition));
        if let Some(idem) = &mut self.idem {
            idem.done_in_flight(b);
        }
    }

    fn fail_pending(&mut self, pending: Pending, e: Error) {
        match pending {
            Pending::Produce(batches) => {
                for b in batches {
                    self.end_in_flight(&b);
                    self.shared.accumulator.complete(b, Err(e.clone()));
                }
            }
            Pending::Metadata => {
                self.metadata_in_flight = false;
                self.shared.metadata.failed_update();
            }
            Pending::ApiVersions | Pending::SaslHandshake | Pending::SaslAuthenticate => {}
            Pending::InitProducerId => self.init_pid_in_flight = false,
            Pending::Txn(t) => self.txn_request_lost(t, self.transport.now()),
            Pending::Telemetry(_) => self.telemetry_request_lost(self.transport.now()),
        }
    }

    fn handle_frame(&mut self, node: i32, frame: &[u8], now: Instant) -> Result<()> {
        let corr = response_correlation_id(frame)
            .map_err(|e| e.context(format!("reading a response from broker {node}")))?;
        let conn = self.conns.get_mut(&node).expect("checked by caller");
        let Some(f) = conn.in_flight.remove(&corr) else {
            return Err(Error::protocol(format!("broker {node} answered unknown correlation id {corr}")));
        };
        let version = f.version;
        match f.pending {
            Pending::ApiVersions => {
                let (_, resp) = decode_response::<ApiVersionsRequest>(frame, version)
                    .map_err(|e| e.context(format!("decoding ApiVersions v{version} from broker {node}")))?;
                self.note_throttle(node, ApiKey::ApiVersions, version, resp.throttle_time_ms, now);
                self.on_api_versions(node, resp, version, now)
            }
            Pending::SaslHandshake => self.on_sasl_handshake(node, frame, version, now),
            Pending::SaslAuthenticate => self.on_sasl_authenticate(node, frame, version, now),
            Pending::Telemetry(kind) => self.on_telemetry_response(node, kind, frame, version, now),
            Pending::Txn(t) => {
                let lost = t.clone();
                self.on_txn_response(node, t, frame, version, now).map_err(|e| {
                    // The request is over: let the transaction driver send it again.
                    self.txn_request_lost(lost, now);
                    e.context(format!("decoding a transaction response v{version} from broker {node}"))
                })
            }
            Pending::InitProducerId => {
                self.init_pid_in_flight = false;
                let (_, resp) = decode_response::<InitProducerIdRequest>(frame, version).map_err(|e| {
                    e.context(format!("decoding InitProducerId v{version} from broker {node}"))
                })?;
                self.note_throttle(node, ApiKey::InitProducerId, version, resp.throttle_time_ms, now);
                self.on_init_producer_id(node, resp, now);
                Ok(())
            }
            Pending::Metadata => {
                self.metadata_in_flight = false;
                match decode_response::<MetadataRequest>(frame, version) {
                    Ok((_, resp)) => {
                        self.note_throttle(node, ApiKey::Metadata, version, resp.throttle_time_ms, now);
                        self.shared.metadata.update(&resp, now);
                        Ok(())
                    }
                    Err(e) => {
                        self.shared.metadata.failed_update();
                        Err(e.context(format!("decoding Metadata v{version} from broker {node}")))
                    }
                }
            }
            Pending::Produce(batches) => match decode_response::<ProduceRequest<'_>>(frame, version) {
                Ok((_, resp)) => {
                    let sent_at = f.deadline.checked_sub(self.cfg().request_timeout).unwrap_or(now);
                    self.shared.metrics.produce_answered(node, now.saturating_duration_since(sent_at), now);
                    self.note_throttle(node, ApiKey::Produce, version, resp.throttle_time_ms, now);
                    self.on_produce_response(node, batches, resp, now);
                    Ok(())
                }
                Err(e) => {
                    // Put the batches back in flight so that disconnect() retries them.
                    let e = e.context(format!("decoding Produce v{version} from broker {node}"));
                    let conn = self.conns.get_mut(&node).expect("still there");
                    conn.in_flight.insert(
                        corr,
                        InFlight {
                            pending: Pending::Produce(batches),
                            api_key: ApiKey::Produce,
                            version,
                            deadline: now,
                        },
                    );
                    Err(e)
                }
            },
        }
    }

    fn on_api_versions(
        &mut self,
        node: i32,
        resp: ApiVersionsResponse,
        version: i16,
        now: Instant,
    ) -> Result<()> {
        let code = KafkaCode(resp.error_code);
        if code == KafkaCode::UNSUPPORTED_VERSION && version > 0 {
            // The broker does not know our version: ask again with v0 (it listed what it has).
            let v = resp
                .range(ApiKey::ApiVersions)
                .and_then(|(lo, hi)| negotiate(&ApiVersionsRequest::VERSIONS, lo, hi))
                .unwrap_or(0);
            let req = ApiVersionsRequest {
                client_software_name: String::new(),
                client_software_version: String::new(),
            };
            self.send_request(node, &req, v, Pending::ApiVersions, now);
            return Ok(());
        }
        if !code.is_ok() {
            return Err(Error::broker(code, format!("ApiVersions from broker {node}")));
        }
        if resp.finalized_features_epoch > self.features_epoch {
            self.features_epoch = resp.finalized_features_epoch;
            self.transaction_version = resp.finalized_level(TRANSACTION_VERSION);
        }
        let conn = self.conns.get_mut(&node).expect("checked by caller");
        conn.versions = resp.api_keys.iter().map(|k| (k.api_key, (k.min_version, k.max_version))).collect();
        if self.start_authentication(node, now) {
            return Ok(());
        }
        let conn = self.conns.get_mut(&node).expect("checked by caller");
        conn.state = ConnState::Ready;
        conn.handshake_until = None;
        log::info!("connected to broker {node} at {}", conn.addr);
        self.backoff.remove(&node);
        Ok(())
    }

    /// KIP-219: from these versions on, a broker answers a request that broke a quota at once
    /// with `throttle_time_ms` and expects the client to send nothing more on that connection
    /// for that long (older versions delay the answer instead). Java's `shouldClientThrottle`.
    fn note_throttle(&mut self, node: i32, api: ApiKey, version: i16, throttle_ms: i32, now: Instant) {
        let client_throttles_from = match api {
            ApiKey::Produce | ApiKey::Metadata => 6,
            ApiKey::ApiVersions | ApiKey::FindCoordinator => 2,
            _ => 1,
        };
        if throttle_ms <= 0 || version < client_throttles_from {
            return;
        }
        if api == ApiKey::Produce {
            self.shared.metrics.throttled(throttle_ms, now);
        }
        if let Some(c) = self.conns.get_mut(&node) {
            let until = now + Duration::from_millis(throttle_ms as u64);
            log::debug!(
                "broker {node} throttles this client for {throttle_ms} ms ({} v{version})",
                api.name()
            );
            c.throttled_until = Some(c.throttled_until.map_or(until, |t| t.max(until)));
        }
    }

    fn version_for<R: Request>(&self, node: i32) -> Result<i16> {
        let conn = self
            .conns
            .get(&node)
            .ok_or_else(|| Error::new(ErrorKind::Io, format!("no connection to {node}")))?;
        let (lo, hi) = conn.versions.get(&R::API_KEY.code()).copied().ok_or_else(|| {
            Error::broker(
                KafkaCode::UNSUPPORTED_VERSION,
                format!("broker {node} does not offer {}", R::API_KEY.name()),
            )
        })?;
        negotiate(&R::VERSIONS, lo, hi).ok_or_else(|| {
            Error::broker(
                KafkaCode::UNSUPPORTED_VERSION,
                format!(
                    "broker {node} supports {} v{lo}..=v{hi}, this client v{}..=v{}",
                    R::API_KEY.name(),
                    R::VERSIONS.start(),
                    R::VERSIONS.end()
                ),
            )
        })
    }

    fn check_request_timeouts(&mut self, now: Instant) {
        let late: Vec<(i32, String)> =
            self.conns
                .iter()
                .filter_map(|(&node, c)| {
                    c.in_flight.values().find(|f| f.deadline <= now).map(|f| {
                        (node, format!("{} request to broker {node} at {}", f.api_key.name(), c.addr))
                    })
                })
                .collect();
        for (node, what) in late {
            let ms = self.cfg().request_timeout.as_millis();
            self.disconnect(
                node,
                Error::timeout(format!("{what} timed out after {ms} ms (request.timeout.ms)")),
                now,
            );
        }
    }

    /// Closes connections with nothing in flight that were not used for
    /// `connections.max.idle.ms` (Java's selector does the same); the next request reconnects.
    fn next_in_flight_deadline(&self, now: Instant) -> Option<Duration> {
        self.conns
            .values()
            .flat_map(|c| c.in_flight.values())
            .map(|f| f.deadline.saturating_duration_since(now))
            .min()
    }

    /// The ready connection with the fewest requests in flight (for requests any broker can
    /// answer: Metadata, InitProducerId, FindCoordinator).
    fn least_loaded_ready_node(&self) -> Option<i32> {
        self.least_loaded_ready_node_where(self.transport.now(), |_| true)
    }

    /// The ready, unthrottled connection with the fewest requests in flight among those that
    /// `pick` accepts.
    fn least_loaded_ready_node_where(
        &self,
        now: Instant,
        pick: impl Fn(&Conn<T::Link>) -> bool,
    ) -> Option<i32> {
        self.conns
            .iter()
            .filter(|(_, c)| c.state == ConnState::Ready && !c.is_throttled(now) && pick(c))
            .min_by_key(|(_, c)| c.in_flight.len())
            .map(|(&n, _)| n)
    }

    // ----- metadata ----------------------------------------------------------------------

    /// Sends a Metadata request when one is due; returns when to look again.
    fn maybe_update_metadata(&mut self, now: Instant) -> Option<Duration> {
        let max_age = self.cfg().metadata_max_age;
        if self.metadata_in_flight {
            return None;
        }
        if !self.shared.metadata.update_due(now, max_age) {
            return Some(max_age);
        }
        if let Some(at) = self.next_metadata_at {
            // A topic first wanted since the last request goes at once, as Java's
            // `requestUpdateForNewTopics` lets it: a `send` waits for it, and the last answer
            // (or the one on its way) cannot hold it. The backoff still spaces out requests
            // for topics already asked about.
            if at > now && self.shared.metadata.wanted_version() == self.metadata_wanted_version {
                return Some(at - now);
            }
        }
        if let Some(node) = self.least_loaded_ready_node() {
            let version = match self.version_for::<MetadataRequest>(node) {
                Ok(v) => v,
                Err(e) => {
                    self.disconnect(node, e, now);
                    return Some(Duration::ZERO);
                }
            };
            let acc = &self.shared.accumulator;
            let forgotten = self
                .shared
                .metadata
                .forget_idle(now, self.cfg().metadata_max_idle, |t| acc.has_queued_for(t));
            if !forgotten.is_empty() {
                log::debug!("forgetting the metadata of topics idle for metadata.max.idle.ms: {forgotten:?}");
            }
            self.metadata_wanted_version = self.shared.metadata.wanted_version();
            let req = MetadataRequest {
                topics: Some(self.shared.metadata.topics_to_request()),
                allow_auto_topic_creation: true,
            };
            self.metadata_in_flight = self.send_request(node, &req, version, Pending::Metadata, now);
            self.next_metadata_at = Some(now + self.cfg().retry_backoff);
            return None;
        }
        if self.conns.values().any(|c| c.state != ConnState::Ready) {
            return Some(Duration::from_millis(50)); // a connection is on its way
        }
        // Connect to a known broker, else to a bootstrap address, round robin.
        let cluster = self.shared.metadata.cluster();
        let mut candidates: Vec<(i32, String)> =
            cluster.brokers.values().map(|b| (b.id, b.addr.clone())).collect();
        candidates.sort();
        for (i, addr) in self.cfg().bootstrap.iter().enumerate() {
            candidates.push((-1 - i as i32, addr.clone()));
        }
        let n = candidates.len();
        let mut soonest: Option<Duration> = None;
        for k in 0..n {
            let (node, addr) = candidates[(self.bootstrap_index + k) % n].clone();
            if let Some(at) = self.backoff.get(&node).and_then(|b| b.next_attempt) {
                if at > now {
                    soonest = min_opt(soonest, Some(at - now));
                    continue;
                }
            }
            self.bootstrap_index = (self.bootstrap_index + k + 1) % n;
            self.ensure_connection(node, &addr, now);
            return Some(Duration::from_millis(50));
        }
        soonest
    }

    // ----- idempotence -------------------------------------------------------------------

    /// Sends InitProducerId when the idempotent producer has no id yet (and has something to
    /// send) or must bump its epoch; returns when to look again.
    fn maybe_init_producer_id(&mut self, now: Instant) -> Option<Duration> {
        let idem = self.idem.as_ref()?;
        let current = idem.producer();
        let first = current.is_none();
        let bump = idem.bump_ready();
        if self.init_pid_in_flight || !(first || bump) || !self.shared.accumulator.has_queued() {
            return None;
        }
        if bump && self.shared.accumulator.has_unknown_outcome() {
            return None; // those batches go first, under their old stamp
        }
        if let Some(at) = self.next_init_pid_at.filter(|&at| at > now) {
            return Some(at - now);
        }
        let Some(node) = self.least_loaded_ready_node() else {
            self.shared.metadata.request_update(); // brings up a connection
            return Some(Duration::from_millis(50));
        };
        let version = match self.version_for::<InitProducerIdRequest>(node) {
            Ok(v) => v,
            Err(e) => {
                self.fail_fatally(e.context("the idempotent producer needs InitProducerId"));
                return None;
            }
        };
        // Bumping the epoch of an existing id needs v3+; older brokers hand out a new id.
        let (producer_id, producer_epoch) = match current {
            Some((id, epoch)) if version >= 3 && !self.fresh_id_requested => (id, epoch),
            _ => (-1, -1),
        };
        let req = InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: self.cfg().transaction_timeout.as_millis().min(i32::MAX as u128) as i32,
            producer_id,
            producer_epoch,
        };
        self.init_pid_in_flight = self.send_request(node, &req, version, Pending::InitProducerId, now);
        self.next_init_pid_at = Some(now + self.cfg().retry_backoff);
        None
    }

    fn on_init_producer_id(&mut self, node: i32, resp: InitProducerIdResponse, now: Instant) {
        let code = KafkaCode(resp.error_code);
        let Some(idem) = &mut self.idem else { return };
        if code.is_ok() {
            log::info!(
                "producer id {} epoch {} from broker {node}{}",
                resp.producer_id,
                resp.producer_epoch,
                if idem.producer().is_some() { " (epoch bump)" } else { "" }
            );
            let restamp = idem.set_producer(resp.producer_id, resp.producer_epoch);
            self.shared.accumulator.reset_sequences(&restamp);
            self.next_init_pid_at = None;
            self.fresh_id_requested = false;
        } else if code.is_retriable() || code == KafkaCode::COORDINATOR_NOT_AVAILABLE {
            log::debug!("InitProducerId from broker {node}: {code}; trying again");
            self.next_init_pid_at = Some(now + self.cfg().retry_backoff);
        } else if idem.producer().is_some() && idem.bump_needed() && !self.fresh_id_requested {
            // The broker would not bump this id's epoch (older brokers, librdkafka's mock
            // cluster): nothing of the partitions with a gap is in flight and no batch's fate
            // is unknown, so a new id is safe; the other partitions move to it as to a new epoch.
            log::info!(
                "InitProducerId from broker {node}: {code} for an epoch bump; asking for a new producer id"
            );
            self.fresh_id_requested = true;
            self.next_init_pid_at = None;
        } else {
            self.fail_fatally(Error::broker(code, format!("InitProducerId from broker {node}")));
        }
    }

    /// The producer cannot go on (e.g. not allowed to be idempotent): fail what is queued, and
    /// every later send.
    fn fail_fatally(&mut self, error: Error) {
        log::error!("producer failed fatally: {error}");
        let _ = self.shared.fatal.set(error.clone());
        for b in self.shared.accumulator.drain_all() {
            let e = error.clone().context(b.tp());
            self.shared.accumulator.complete(b, Err(e));
        }
    }

    /// Fails everything queued or in flight (forced close or sender shutdown); returns how
    /// many records that failed.
    fn abort_everything(&mut self, error: &Error) -> usize {
        let mut records = 0;
        for b in self.shared.accumulator.drain_all() {
            records += b.record_count() as usize;
            let e = error.clone().context(b.tp());
            self.shared.accumulator.complete(b, Err(e));
        }
        let nodes: Vec<i32> = self.conns.keys().copied().collect();
        for node in nodes {
            if let Some(mut conn) = self.conns.remove(&node) {
                conn.reclaim_unwritten();
                let unwritten = conn.unwritten_acks0.into_iter().map(|(_, _, batches)| batches);
                let in_flight = conn.in_flight.into_values().filter_map(|f| match f.pending {
                    Pending::Produce(batches) => Some(batches),
                    _ => None,
                });
                for b in unwritten.chain(in_flight).flatten() {
                    records += b.record_count() as usize;
                    let e = error.clone().context(b.tp());
                    self.shared.accumulator.complete(b, Err(e));
                }
            }
        }
        records
    }
}

/// The OpenTelemetry resource attributes of this producer's telemetry pushes.
fn telemetry_resource(cfg: &SenderConfig) -> Vec<(String, String)> {
    vec![
        ("client_id".to_owned(), cfg.client_id.clone()),
        ("client_software_name".to_owned(), env!("CARGO_PKG_NAME").to_owned()),
        ("client_software_version".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
    ]
}

/// The error for a Produce request that was in flight on a connection we dropped because of
/// `error`. Whatever the reason (a reset, a request timeout, or a response we could not read or
/// match to a request), the request's outcome is unknown, so, like Java's NetworkException, this
/// is a retriable network error; the cause stays in the message and as the source.
fn in_flight_lost(error: &Error, node: i32, tp: &str) -> Error {
    let context = format!("producing to {tp} on broker {node}");
    if error.is_retriable() {
        error.clone().context(context)
    } else {
        Error::new(ErrorKind::Io, format!("{context}: connection dropped: {error}"))
            .with_source(error.clone())
    }
}

/// `base * 2^attempt`, capped at `max`, with ±20% jitter (Java's ExponentialBackoff).
pub(crate) fn exp_backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    if base.is_zero() {
        return Duration::ZERO;
    }
    let max = max.max(base);
    let exp = base.as_secs_f64() * 2f64.powi(attempt.min(32) as i32);
    let capped = exp.min(max.as_secs_f64());
    let jitter = 0.8 + 0.4 * (jitter_unit());
    Duration::from_secs_f64((capped * jitter).min(max.as_secs_f64()))
}

pub(crate) fn jitter_unit() -> f64 {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let x = (nanos as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn min_opt(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}
