//! Client telemetry (KIP-714, `enable.metrics.push`): the producer asks the cluster which of
//! its metrics it wants (GetTelemetrySubscriptions), then pushes them every push interval
//! (PushTelemetry) as OpenTelemetry metrics, and once more, marked terminating, when it
//! closes. The broker's answer to the first request also names this client instance
//! ([`ClientInstanceId`], Java's `KafkaProducer.clientInstanceId`).
//!
//! [`TelemetryClient`] is the state machine of Java's `ClientTelemetryReporter` sender, with
//! no I/O: the sender thread asks it for the next request ([`TelemetryClient::poll`]) and hands
//! it the responses. A broker offers the two APIs only with a client-telemetry plugin
//! configured; against other brokers the producer sends nothing and
//! [`Producer::client_instance_id`](crate::Producer::client_instance_id) says telemetry is
//! unavailable.
//!
//! Runs on: sender thread (the state machine); any thread ([`InstanceIdCell::wait`]).

pub(crate) mod otlp;

use crate::compression::{self, CompressionType};
use crate::error::{Error, ErrorKind, KafkaCode, Result};
use crate::producer::metrics::Metrics;
use crate::protocol::primitives::Uuid;
use crate::protocol::telemetry::{
    GetTelemetrySubscriptionsRequest, GetTelemetrySubscriptionsResponse, PushTelemetryRequest,
    PushTelemetryResponse,
};
use otlp::{Kind, Point, Temporality};
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The id the cluster gave this producer instance for its telemetry (KIP-714). Shown, as
/// Java's `Uuid.toString`, in URL-safe base64 without padding: the form broker logs and
/// telemetry back ends use.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientInstanceId([u8; 16]);

impl ClientInstanceId {
    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl std::fmt::Display for ClientInstanceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::security::base64::encode_url(&self.0))
    }
}

impl std::fmt::Debug for ClientInstanceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientInstanceId({self})")
    }
}

#[derive(Debug, Clone)]
enum IdState {
    Waiting,
    Known(ClientInstanceId),
    Unavailable(String),
}

/// Where application threads wait for the client instance id the sender learns.
#[derive(Debug)]
pub(crate) struct InstanceIdCell {
    state: Mutex<IdState>,
    changed: Condvar,
}

impl InstanceIdCell {
    pub(crate) fn new(enabled: bool) -> InstanceIdCell {
        let state = if enabled {
            IdState::Waiting
        } else {
            IdState::Unavailable("enable.metrics.push is false".into())
        };
        InstanceIdCell { state: Mutex::new(state), changed: Condvar::new() }
    }

    fn set(&self, s: IdState) {
        let mut st = self.state.lock();
        if matches!(*st, IdState::Waiting) || matches!(s, IdState::Known(_)) {
            *st = s;
            self.changed.notify_all();
        }
    }

    /// The id, waiting up to `timeout` for the cluster to assign it.
    pub(crate) fn wait(&self, timeout: Duration) -> Result<ClientInstanceId> {
        let deadline = Instant::now().checked_add(timeout);
        let mut st = self.state.lock();
        loop {
            match &*st {
                IdState::Known(id) => return Ok(*id),
                IdState::Unavailable(why) => {
                    return Err(Error::new(
                        ErrorKind::IllegalState,
                        format!("the client instance id is not available: {why}"),
                    ))
                }
                IdState::Waiting => {}
            }
            match deadline {
                Some(d) => {
                    if self.changed.wait_until(&mut st, d).timed_out() && matches!(*st, IdState::Waiting) {
                        return Err(Error::timeout(format!(
                            "the cluster did not assign a client instance id within {} ms",
                            timeout.as_millis()
                        )));
                    }
                }
                None => self.changed.wait(&mut st),
            }
        }
    }
}

/// Which metrics a subscription wants.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Selector {
    None,
    All,
    Prefixes(Vec<String>),
}

impl Selector {
    /// Java's rule: no entry selects nothing; `*` (what Kafka sends for a subscription of
    /// `*`) or an empty prefix selects everything; otherwise name prefixes.
    fn from_requested(requested: &[String]) -> Selector {
        if requested.is_empty() {
            Selector::None
        } else if requested.iter().any(|p| p.is_empty() || p == "*") {
            Selector::All
        } else {
            Selector::Prefixes(requested.to_vec())
        }
    }

    fn wants(&self, name: &str) -> bool {
        match self {
            Selector::None => false,
            Selector::All => true,
            Selector::Prefixes(p) => p.iter().any(|p| name.starts_with(p.as_str())),
        }
    }
}

#[derive(Debug, Clone)]
struct Subscription {
    id: i32,
    compression: CompressionType,
    push_interval: Duration,
    max_bytes: usize,
    delta: bool,
    selector: Selector,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    SubscriptionNeeded,
    SubscriptionInFlight,
    PushNeeded,
    PushInFlight,
    TerminatingPushNeeded,
    TerminatingPushInFlight,
    Terminated,
}

/// The telemetry request to send now.
#[derive(Debug)]
pub(crate) enum Step {
    /// A GetTelemetrySubscriptions request.
    GetSubscriptions(GetTelemetrySubscriptionsRequest),
    /// A PushTelemetry request with the current metrics; build it with
    /// [`TelemetryClient::push_request`].
    Push,
}

/// The push interval the client uses until the cluster names one, and when it names none
/// (Java's `ClientTelemetryReporter.DEFAULT_PUSH_INTERVAL_MS`, 5 minutes).
const DEFAULT_PUSH_INTERVAL: Duration = Duration::from_secs(300);

/// The OpenTelemetry instrumentation scope the producer's metrics are reported under.
const SCOPE: &str = "org.apache.kafka";

/// KIP-714's client state machine; see the module documentation.
pub(crate) struct TelemetryClient {
    state: State,
    instance_id: Uuid,
    sub: Option<Subscription>,
    /// When the next request is due.
    due: Instant,
    retry_backoff: Duration,
    retry_backoff_max: Duration,
    failures: u32,
    cell: std::sync::Arc<InstanceIdCell>,
    /// Resource attributes of every push.
    resource: Vec<(String, String)>,
    /// For delta temporality: each sum's value at the previous push, and when that was.
    last_sums: HashMap<String, f64>,
    started_unix_nanos: u64,
    last_push_unix_nanos: u64,
}

impl TelemetryClient {
    pub(crate) fn new(
        now: Instant,
        now_unix_nanos: u64,
        retry_backoff: Duration,
        retry_backoff_max: Duration,
        resource: Vec<(String, String)>,
        cell: std::sync::Arc<InstanceIdCell>,
    ) -> TelemetryClient {
        TelemetryClient {
            state: State::SubscriptionNeeded,
            instance_id: [0; 16],
            sub: None,
            due: now,
            retry_backoff,
            retry_backoff_max,
            failures: 0,
            cell,
            resource,
            last_sums: HashMap::new(),
            started_unix_nanos: now_unix_nanos,
            last_push_unix_nanos: now_unix_nanos,
        }
    }

    /// How long until a request is due: `None` when nothing is (a request is in flight, or
    /// telemetry is over), zero when one is due now ([`TelemetryClient::start`] it).
    pub(crate) fn wait_time(&self, now: Instant) -> Option<Duration> {
        match self.state {
            State::SubscriptionNeeded | State::PushNeeded => Some(self.due.saturating_duration_since(now)),
            State::TerminatingPushNeeded => Some(Duration::ZERO),
            _ => None,
        }
    }

    /// The request that is due (call when [`wait_time`](Self::wait_time) is zero and a broker
    /// is ready to take it); `None` when none is.
    pub(crate) fn start(&mut self, now: Instant) -> Option<Step> {
        if self.wait_time(now) != Some(Duration::ZERO) {
            return None;
        }
        Some(match self.state {
            State::SubscriptionNeeded => {
                self.state = State::SubscriptionInFlight;
                Step::GetSubscriptions(GetTelemetrySubscriptionsRequest {
                    client_instance_id: self.instance_id,
                })
            }
            State::PushNeeded => {
                self.state = State::PushInFlight;
                Step::Push
            }
            _ => {
                self.state = State::TerminatingPushInFlight;
                Step::Push
            }
        })
    }

    /// A due request could not be sent (no broker ready): the terminating push is given up,
    /// anything else waits for the next turn.
    pub(crate) fn no_broker(&mut self) {
        if self.state == State::TerminatingPushNeeded {
            self.state = State::Terminated;
        }
    }

    /// Whether a push under way is the terminating one.
    fn terminating(&self) -> bool {
        matches!(self.state, State::TerminatingPushNeeded | State::TerminatingPushInFlight)
    }

    /// The PushTelemetry request for [`Step::Push`]: the subscribed metrics of `metrics`,
    /// compressed as the broker accepts. `None` (and the step is over) when the payload would
    /// be larger than the broker takes.
    pub(crate) fn push_request(
        &mut self,
        metrics: &Metrics,
        now: Instant,
        now_unix_nanos: u64,
    ) -> Option<PushTelemetryRequest> {
        let Some(sub) = self.sub.clone() else {
            self.state = if self.terminating() { State::Terminated } else { State::SubscriptionNeeded };
            return None;
        };
        let payload = self.payload(metrics, &sub, now_unix_nanos);
        let (compression_type, bytes) = match sub.compression {
            CompressionType::None => (0, payload),
            c => {
                let mut out = Vec::new();
                match compression::compress(c, None, &payload, &mut out) {
                    Ok(()) => (c.id() as i8, out),
                    Err(e) => {
                        log::debug!("telemetry: {} compression failed ({e}); pushing uncompressed", c.name());
                        (0, payload)
                    }
                }
            }
        };
        if bytes.len() > sub.max_bytes {
            log::warn!(
                "telemetry: {} bytes of metrics exceed the broker's limit of {} (telemetry_max_bytes); skipping this push",
                bytes.len(),
                sub.max_bytes
            );
            self.push_done(now);
            return None;
        }
        self.last_push_unix_nanos = now_unix_nanos;
        Some(PushTelemetryRequest {
            client_instance_id: self.instance_id,
            subscription_id: sub.id,
            terminating: self.terminating(),
            compression_type,
            metrics: bytes,
        })
    }

    /// The OpenTelemetry payload: every metric of `metrics` the subscription selects, named
    /// as Java names them (`org.apache.kafka.producer.record.send.rate`, tags as attributes
    /// with `_` for `-`); totals as monotonic sums, everything else as gauges.
    fn payload(&mut self, metrics: &Metrics, sub: &Subscription, now_unix_nanos: u64) -> Vec<u8> {
        struct Owned {
            name: String,
            kind: Kind,
            attributes: Vec<(String, String)>,
            start: u64,
            value: f64,
        }
        let mut owned = Vec::new();
        for m in metrics.iter() {
            let name = telemetry_name(m.group, m.name);
            if !sub.selector.wants(&name) || !m.value.is_finite() {
                continue;
            }
            let attributes: Vec<(String, String)> = m
                .tags
                .iter()
                .filter(|(k, _)| *k != "client-id")
                .map(|(k, v)| (k.replace('-', "_"), v.clone()))
                .collect();
            let (kind, start, value) = if m.name.ends_with("-total") {
                if sub.delta {
                    let key = format!("{name}{attributes:?}");
                    let previous = self.last_sums.insert(key, m.value).unwrap_or(0.0);
                    (Kind::Sum(Temporality::Delta), self.last_push_unix_nanos, m.value - previous)
                } else {
                    (Kind::Sum(Temporality::Cumulative), self.started_unix_nanos, m.value)
                }
            } else {
                (Kind::Gauge, 0, m.value)
            };
            owned.push(Owned { name, kind, attributes, start, value });
        }
        let attrs: Vec<Vec<(&str, &str)>> = owned
            .iter()
            .map(|o| o.attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
            .collect();
        let points: Vec<Point<'_>> = owned
            .iter()
            .zip(&attrs)
            .map(|(o, a)| Point {
                name: &o.name,
                description: "",
                kind: o.kind,
                attributes: a,
                start_unix_nanos: o.start,
                time_unix_nanos: now_unix_nanos,
                value: o.value,
            })
            .collect();
        let resource: Vec<(&str, &str)> =
            self.resource.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        otlp::metrics_data(&resource, SCOPE, env!("CARGO_PKG_VERSION"), &points)
    }

    /// The GetTelemetrySubscriptions response.
    pub(crate) fn on_subscriptions(&mut self, resp: &GetTelemetrySubscriptionsResponse, now: Instant) {
        if self.state != State::SubscriptionInFlight {
            return;
        }
        let code = KafkaCode(resp.error_code);
        if !code.is_ok() {
            self.on_error("GetTelemetrySubscriptions", code, now);
            return;
        }
        if resp.client_instance_id != [0; 16] {
            self.instance_id = resp.client_instance_id;
            self.cell.set(IdState::Known(ClientInstanceId(resp.client_instance_id)));
        }
        if self.instance_id == [0; 16] {
            self.stop("the broker assigned no client instance id".into());
            return;
        }
        self.failures = 0;
        let interval = if resp.push_interval_ms > 0 {
            Duration::from_millis(resp.push_interval_ms as u64)
        } else {
            DEFAULT_PUSH_INTERVAL
        };
        let compression = resp
            .accepted_compression_types
            .iter()
            .filter_map(|&c| CompressionType::from_id(i16::from(c)).ok())
            .find(|c| c.is_available())
            .unwrap_or(CompressionType::None);
        let selector = Selector::from_requested(&resp.requested_metrics);
        let first = self.sub.is_none();
        let wants_metrics = selector != Selector::None;
        self.sub = Some(Subscription {
            id: resp.subscription_id,
            compression,
            push_interval: interval,
            max_bytes: resp.telemetry_max_bytes.max(0) as usize,
            delta: resp.delta_temporality,
            selector,
        });
        if wants_metrics {
            // The first push comes at a random point of the first interval (0.5 to 1.5 of it),
            // so that clients started together do not push together.
            let first_wait =
                if first { interval.mul_f64(0.5 + crate::producer::sender::jitter_unit()) } else { interval };
            self.state = State::PushNeeded;
            self.due = now + first_wait;
        } else {
            // Nothing subscribed: ask again after the interval.
            self.state = State::SubscriptionNeeded;
            self.due = now + interval;
        }
    }

    /// The PushTelemetry response.
    pub(crate) fn on_push(&mut self, resp: &PushTelemetryResponse, now: Instant) {
        let terminating = self.state == State::TerminatingPushInFlight;
        if !matches!(self.state, State::PushInFlight | State::TerminatingPushInFlight) {
            return;
        }
        if terminating {
            self.state = State::Terminated;
            return;
        }
        let code = KafkaCode(resp.error_code);
        if code.is_ok() {
            self.failures = 0;
            self.push_done(now);
            return;
        }
        self.on_error("PushTelemetry", code, now);
    }

    /// An error answer to either request, handled as Java's `maybeFetchErrorIntervalMs`: a
    /// changed subscription or codec means subscribing again at once; a push that was too
    /// large or too early (or a throttled request) waits one push interval and subscribes
    /// again; anything else (INVALID_REQUEST, INVALID_RECORD, UNSUPPORTED_VERSION, codes
    /// with no meaning here) turns telemetry off.
    fn on_error(&mut self, api: &str, code: KafkaCode, now: Instant) {
        log::debug!("telemetry: {api}: {code}");
        self.state = State::SubscriptionNeeded;
        match code {
            KafkaCode::UNKNOWN_SUBSCRIPTION_ID | KafkaCode::UNSUPPORTED_COMPRESSION_TYPE => self.due = now,
            KafkaCode::TELEMETRY_TOO_LARGE | KafkaCode::THROTTLING_QUOTA_EXCEEDED => {
                self.due = now + self.sub.as_ref().map_or(DEFAULT_PUSH_INTERVAL, |s| s.push_interval);
            }
            _ => self.stop(format!("the broker refused {api}: {code}")),
        }
    }

    /// A telemetry request was lost (connection dropped, request timed out, bad response).
    pub(crate) fn on_request_lost(&mut self, now: Instant) {
        match self.state {
            State::SubscriptionInFlight => self.retry_later(State::SubscriptionNeeded, now),
            State::PushInFlight => self.retry_later(State::PushNeeded, now),
            State::TerminatingPushInFlight => self.state = State::Terminated,
            _ => {}
        }
    }

    /// No connected broker offers the telemetry APIs: the cluster has no telemetry plugin.
    pub(crate) fn unsupported(&mut self) {
        self.stop("the cluster does not offer client telemetry (GetTelemetrySubscriptions)".into());
    }

    /// The producer is closing: one last push, marked terminating, when there is a
    /// subscription; else nothing more.
    pub(crate) fn begin_close(&mut self) {
        match self.state {
            State::PushNeeded if self.sub.is_some() => self.state = State::TerminatingPushNeeded,
            // A push under way counts as the last one.
            State::PushInFlight => self.state = State::TerminatingPushInFlight,
            State::TerminatingPushNeeded | State::TerminatingPushInFlight => {}
            _ => self.state = State::Terminated,
        }
        self.cell.set(IdState::Unavailable("the producer is closed".into()));
    }

    /// Whether nothing more will be sent.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Terminated
    }

    fn push_done(&mut self, now: Instant) {
        if self.terminating() {
            self.state = State::Terminated;
            return;
        }
        let interval = self.sub.as_ref().map_or(DEFAULT_PUSH_INTERVAL, |s| s.push_interval);
        self.state = State::PushNeeded;
        self.due = now + interval;
    }

    fn retry_later(&mut self, state: State, now: Instant) {
        self.failures += 1;
        self.state = state;
        self.due = now
            + crate::producer::sender::exp_backoff(
                self.retry_backoff,
                self.retry_backoff_max,
                self.failures - 1,
            );
    }

    fn stop(&mut self, why: String) {
        log::info!("client telemetry off: {why}");
        self.state = State::Terminated;
        self.cell.set(IdState::Unavailable(why));
    }
}

/// Java's telemetry name of a metric (`ClientTelemetryUtils`/`KafkaMetricsCollector`): the
/// `org.apache.kafka.` prefix, the group without `-metrics`, then the name, with `.` for `-`.
/// `producer-node-metrics`/`request-latency-avg` becomes
/// `org.apache.kafka.producer.node.request.latency.avg`.
pub(crate) fn telemetry_name(group: &str, name: &str) -> String {
    let group = group.strip_suffix("-metrics").unwrap_or(group);
    format!("org.apache.kafka.{}.{}", group.replace('-', "."), name.replace('-', "."))
}

#[cfg(test)]
mod tests;
