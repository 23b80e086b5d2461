//! Producer metrics with the Java producer's names and meanings (`producer-metrics`,
//! `producer-topic-metrics`, `producer-node-metrics`): [`Producer::metrics`](crate::Producer::metrics)
//! returns a [`Metrics`] snapshot.
//!
//! Cost: nothing on the send path. The sender thread records what it sends and what comes back
//! into one mutex only it and `metrics()` take; the buffer pool counts waits only on its slow
//! path. Windowed statistics (rates, averages, maxima) cover the last two windows of
//! `metrics.sample.window.ms` (30 s) as Java's do (`metrics.num.samples`, 2); rates are per
//! second. Totals cover the producer's life.
//!
//! Runs on: sender thread (recording); any thread (snapshots).

use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// One metric: Java's `MetricName` (name, group, tags) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The Java name, e.g. `record-send-rate`.
    pub name: &'static str,
    /// `producer-metrics`, `producer-topic-metrics` or `producer-node-metrics`.
    pub group: &'static str,
    /// `client-id`, and `topic` or `node-id` for the per-topic and per-node groups.
    pub tags: Vec<(&'static str, String)>,
    /// The value; `NaN` for an average or maximum with no samples in the window (as Java).
    pub value: f64,
}

/// A snapshot of a producer's metrics.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    metrics: Vec<Metric>,
}

impl Metrics {
    /// Every metric, producer-wide first.
    pub fn iter(&self) -> impl Iterator<Item = &Metric> {
        self.metrics.iter()
    }

    /// A producer-wide metric (`producer-metrics`) by its Java name.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.metrics.iter().find(|m| m.group == "producer-metrics" && m.name == name).map(|m| m.value)
    }

    /// A per-topic (`tag` = "topic") or per-node (`tag` = "node-id") metric.
    pub fn get_tagged(&self, name: &str, tag: &str, value: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|m| m.name == name && m.tags.iter().any(|(k, v)| *k == tag && v == value))
            .map(|m| m.value)
    }
}

impl std::fmt::Display for Metrics {
    /// One metric per line: `group name{tags} value`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for m in &self.metrics {
            let tags: Vec<String> = m.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            writeln!(f, "{} {}{{{}}} {}", m.group, m.name, tags.join(","), m.value)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    start: Instant,
    count: u64,
    sum: f64,
    max: f64,
}

/// A statistic over the last `samples` windows, plus lifetime totals.
#[derive(Debug, Clone)]
struct Sampled {
    samples: VecDeque<Sample>,
    total_count: u64,
    total_sum: f64,
}

impl Default for Sampled {
    fn default() -> Self {
        Sampled { samples: VecDeque::new(), total_count: 0, total_sum: 0.0 }
    }
}

impl Sampled {
    fn record(&mut self, cfg: &Windows, now: Instant, value: f64) {
        self.total_count += 1;
        self.total_sum += value;
        match self.samples.back_mut() {
            Some(s) if now.saturating_duration_since(s.start) < cfg.window => {
                s.count += 1;
                s.sum += value;
                s.max = s.max.max(value);
            }
            _ => self.samples.push_back(Sample { start: now, count: 1, sum: value, max: value }),
        }
        self.purge(cfg, now);
    }

    fn purge(&mut self, cfg: &Windows, now: Instant) {
        let span = cfg.window * cfg.samples as u32;
        while self.samples.front().is_some_and(|s| now.saturating_duration_since(s.start) >= span) {
            self.samples.pop_front();
        }
    }

    fn live(&self, cfg: &Windows, now: Instant) -> impl Iterator<Item = &Sample> {
        let span = cfg.window * cfg.samples as u32;
        self.samples.iter().filter(move |s| now.saturating_duration_since(s.start) < span)
    }

    /// Sum of the values per second over the windows (Java's `Rate`: the elapsed time counts at
    /// least `samples - 1` whole windows, so a young producer is not overstated).
    fn rate(&self, cfg: &Windows, now: Instant) -> f64 {
        let sum = self.live(cfg, now).fold(0.0, |a, s| a + s.sum);
        let oldest = self.live(cfg, now).next().map_or(now, |s| s.start);
        let floor = cfg.window * (cfg.samples.saturating_sub(1)) as u32;
        let elapsed = now.saturating_duration_since(oldest).max(floor).max(Duration::from_millis(1));
        sum / elapsed.as_secs_f64()
    }

    fn avg(&self, cfg: &Windows, now: Instant) -> f64 {
        let (n, sum) = self.live(cfg, now).fold((0u64, 0.0), |(n, s), x| (n + x.count, s + x.sum));
        if n == 0 {
            f64::NAN
        } else {
            sum / n as f64
        }
    }

    fn max(&self, cfg: &Windows, now: Instant) -> f64 {
        self.live(cfg, now).map(|s| s.max).fold(f64::NAN, f64::max)
    }
}

#[derive(Debug, Clone, Copy)]
struct Windows {
    window: Duration,
    samples: usize,
}

#[derive(Debug, Default)]
struct TopicStats {
    records: Sampled,
    bytes: Sampled,
    errors: Sampled,
    retries: Sampled,
    compression: Sampled,
}

#[derive(Debug, Default)]
struct NodeStats {
    latency: Sampled,
    requests: Sampled,
    outgoing_bytes: Sampled,
}

#[derive(Debug)]
struct Inner {
    started: Instant,
    records: Sampled,
    errors: Sampled,
    retries: Sampled,
    latency: Sampled,
    batch_size: Sampled,
    compression: Sampled,
    records_per_request: Sampled,
    queue_time: Sampled,
    throttle: Sampled,
    record_size: Sampled,
    requests_in_flight: usize,
    topics: HashMap<String, TopicStats>,
    nodes: BTreeMap<i32, NodeStats>,
}

/// What the sender records; see the module documentation.
pub(crate) struct SenderMetrics {
    windows: Windows,
    client_id: String,
    inner: Mutex<Inner>,
}

/// One batch as it leaves in a Produce request.
pub(crate) struct SentBatch<'a> {
    pub(crate) topic: &'a str,
    pub(crate) records: u32,
    /// Bytes on the wire (compressed).
    pub(crate) bytes: usize,
    /// Bytes before compression.
    pub(crate) uncompressed: usize,
    pub(crate) queue_time: Duration,
}

impl SenderMetrics {
    pub(crate) fn new(client_id: &str, window: Duration, samples: usize) -> SenderMetrics {
        let now = Instant::now();
        SenderMetrics {
            windows: Windows { window: window.max(Duration::from_millis(1)), samples: samples.max(1) },
            client_id: client_id.to_owned(),
            inner: Mutex::new(Inner {
                started: now,
                records: Sampled::default(),
                errors: Sampled::default(),
                retries: Sampled::default(),
                latency: Sampled::default(),
                batch_size: Sampled::default(),
                compression: Sampled::default(),
                records_per_request: Sampled::default(),
                queue_time: Sampled::default(),
                throttle: Sampled::default(),
                record_size: Sampled::default(),
                requests_in_flight: 0,
                topics: HashMap::new(),
                nodes: BTreeMap::new(),
            }),
        }
    }

    /// A Produce request to `node` of `frame_bytes` with `batches` was written.
    pub(crate) fn produce_sent(
        &self,
        node: i32,
        frame_bytes: usize,
        batches: &[SentBatch<'_>],
        now: Instant,
    ) {
        let w = &self.windows;
        let mut m = self.inner.lock();
        let mut records = 0u32;
        for b in batches {
            records += b.records;
            m.records.record(w, now, f64::from(b.records));
            m.batch_size.record(w, now, b.bytes as f64);
            let ratio = if b.uncompressed > 0 { b.bytes as f64 / b.uncompressed as f64 } else { 1.0 };
            m.compression.record(w, now, ratio);
            m.queue_time.record(w, now, b.queue_time.as_secs_f64() * 1000.0);
            if b.records > 0 {
                m.record_size.record(w, now, b.uncompressed as f64 / f64::from(b.records));
            }
            let t = m.topics.entry(b.topic.to_owned()).or_default();
            t.records.record(w, now, f64::from(b.records));
            t.bytes.record(w, now, b.bytes as f64);
            t.compression.record(w, now, ratio);
        }
        m.records_per_request.record(w, now, f64::from(records));
        let n = m.nodes.entry(node).or_default();
        n.requests.record(w, now, 1.0);
        n.outgoing_bytes.record(w, now, frame_bytes as f64);
    }

    /// A Produce response from `node` came `latency` after its request.
    pub(crate) fn produce_answered(&self, node: i32, latency: Duration, now: Instant) {
        let w = &self.windows;
        let ms = latency.as_secs_f64() * 1000.0;
        let mut m = self.inner.lock();
        m.latency.record(w, now, ms);
        m.nodes.entry(node).or_default().latency.record(w, now, ms);
    }

    /// `records` of `topic` will be sent again.
    pub(crate) fn retried(&self, topic: &str, records: u32, now: Instant) {
        let w = &self.windows;
        let mut m = self.inner.lock();
        m.retries.record(w, now, f64::from(records));
        m.topics.entry(topic.to_owned()).or_default().retries.record(w, now, f64::from(records));
    }

    /// `records` of `topic` failed for good.
    pub(crate) fn failed(&self, topic: &str, records: u32, now: Instant) {
        let w = &self.windows;
        let mut m = self.inner.lock();
        m.errors.record(w, now, f64::from(records));
        m.topics.entry(topic.to_owned()).or_default().errors.record(w, now, f64::from(records));
    }

    pub(crate) fn throttled(&self, ms: i32, now: Instant) {
        self.inner.lock().throttle.record(&self.windows, now, f64::from(ms));
    }

    pub(crate) fn set_requests_in_flight(&self, n: usize) {
        self.inner.lock().requests_in_flight = n;
    }

    /// The snapshot, with the buffer pool's figures: `(total, available, waiting threads,
    /// nanoseconds waited so far)`.
    pub(crate) fn snapshot(&self, pool: (usize, usize, usize, u64), now: Instant) -> Metrics {
        let w = &self.windows;
        let m = self.inner.lock();
        let mut out = Vec::new();
        let id = || vec![("client-id", self.client_id.clone())];
        let mut push = |group: &'static str,
                        name: &'static str,
                        tags: Vec<(&'static str, String)>,
                        value: f64| { out.push(Metric { name, group, tags, value }) };
        let g = "producer-metrics";
        push(g, "record-send-rate", id(), m.records.rate(w, now));
        push(g, "record-send-total", id(), m.records.total_sum);
        push(g, "record-error-rate", id(), m.errors.rate(w, now));
        push(g, "record-error-total", id(), m.errors.total_sum);
        push(g, "record-retry-rate", id(), m.retries.rate(w, now));
        push(g, "record-retry-total", id(), m.retries.total_sum);
        push(g, "request-latency-avg", id(), m.latency.avg(w, now));
        push(g, "request-latency-max", id(), m.latency.max(w, now));
        push(g, "batch-size-avg", id(), m.batch_size.avg(w, now));
        push(g, "batch-size-max", id(), m.batch_size.max(w, now));
        push(g, "compression-rate-avg", id(), m.compression.avg(w, now));
        push(g, "records-per-request-avg", id(), m.records_per_request.avg(w, now));
        push(g, "record-queue-time-avg", id(), m.queue_time.avg(w, now));
        push(g, "record-queue-time-max", id(), m.queue_time.max(w, now));
        push(g, "record-size-avg", id(), m.record_size.avg(w, now));
        push(g, "produce-throttle-time-avg", id(), m.throttle.avg(w, now));
        push(g, "produce-throttle-time-max", id(), m.throttle.max(w, now));
        push(g, "requests-in-flight", id(), m.requests_in_flight as f64);
        let (total, available, waiting, waited_ns) = pool;
        push(g, "buffer-total-bytes", id(), total as f64);
        push(g, "buffer-available-bytes", id(), available as f64);
        push(g, "waiting-threads", id(), waiting as f64);
        let alive = now.saturating_duration_since(m.started).as_nanos().max(1) as f64;
        push(g, "bufferpool-wait-ratio", id(), waited_ns as f64 / alive);
        push(g, "bufferpool-wait-time-ns-total", id(), waited_ns as f64);
        let mut topics: Vec<(&String, &TopicStats)> = m.topics.iter().collect();
        topics.sort_by(|a, b| a.0.cmp(b.0));
        for (topic, t) in topics {
            let tags = || vec![("client-id", self.client_id.clone()), ("topic", topic.clone())];
            let g = "producer-topic-metrics";
            push(g, "record-send-rate", tags(), t.records.rate(w, now));
            push(g, "record-send-total", tags(), t.records.total_sum);
            push(g, "byte-rate", tags(), t.bytes.rate(w, now));
            push(g, "byte-total", tags(), t.bytes.total_sum);
            push(g, "compression-rate", tags(), t.compression.avg(w, now));
            push(g, "record-error-rate", tags(), t.errors.rate(w, now));
            push(g, "record-error-total", tags(), t.errors.total_sum);
            push(g, "record-retry-rate", tags(), t.retries.rate(w, now));
            push(g, "record-retry-total", tags(), t.retries.total_sum);
        }
        for (node, n) in &m.nodes {
            let tags = || vec![("client-id", self.client_id.clone()), ("node-id", format!("node-{node}"))];
            let g = "producer-node-metrics";
            push(g, "request-latency-avg", tags(), n.latency.avg(w, now));
            push(g, "request-latency-max", tags(), n.latency.max(w, now));
            push(g, "request-rate", tags(), n.requests.rate(w, now));
            push(g, "request-total", tags(), n.requests.total_sum);
            push(g, "outgoing-byte-rate", tags(), n.outgoing_bytes.rate(w, now));
            push(g, "outgoing-byte-total", tags(), n.outgoing_bytes.total_sum);
        }
        Metrics { metrics: out }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w() -> Windows {
        Windows { window: Duration::from_secs(30), samples: 2 }
    }

    #[test]
    fn windowed_statistics_follow_javas_rules() {
        let t0 = Instant::now();
        let mut s = Sampled::default();
        assert!(s.avg(&w(), t0).is_nan() && s.max(&w(), t0).is_nan());
        s.record(&w(), t0, 10.0);
        s.record(&w(), t0 + Duration::from_secs(1), 30.0);
        assert_eq!(s.avg(&w(), t0 + Duration::from_secs(2)), 20.0);
        assert_eq!(s.max(&w(), t0 + Duration::from_secs(2)), 30.0);
        // A young statistic: the rate's elapsed time is at least one window (30 s).
        assert!((s.rate(&w(), t0 + Duration::from_secs(2)) - 40.0 / 30.0).abs() < 1e-9);
        // Two windows later the samples are gone; the totals stay.
        let later = t0 + Duration::from_secs(61);
        assert!(s.avg(&w(), later).is_nan());
        assert_eq!(s.rate(&w(), later), 0.0);
        assert_eq!((s.total_count, s.total_sum), (2, 40.0));
        s.record(&w(), later, 5.0);
        assert_eq!(s.samples.len(), 1, "old samples are purged");
    }

    #[test]
    fn a_snapshot_names_every_metric_with_javas_names_and_tags() {
        let m = SenderMetrics::new("app", Duration::from_secs(30), 2);
        let now = Instant::now();
        let b = SentBatch {
            topic: "t",
            records: 10,
            bytes: 500,
            uncompressed: 1000,
            queue_time: Duration::from_millis(4),
        };
        m.produce_sent(3, 600, &[b], now);
        m.produce_answered(3, Duration::from_millis(8), now);
        m.retried("t", 2, now);
        m.failed("t", 1, now);
        m.set_requests_in_flight(1);
        let s = m.snapshot((1000, 400, 1, 5), now);
        assert_eq!(s.get("record-send-total"), Some(10.0));
        assert_eq!(s.get("record-retry-total"), Some(2.0));
        assert_eq!(s.get("record-error-total"), Some(1.0));
        assert_eq!(s.get("compression-rate-avg"), Some(0.5));
        assert_eq!(s.get("batch-size-avg"), Some(500.0));
        assert_eq!(s.get("record-queue-time-avg"), Some(4.0));
        assert_eq!(s.get("request-latency-max"), Some(8.0));
        assert_eq!(s.get("records-per-request-avg"), Some(10.0));
        assert_eq!(s.get("buffer-available-bytes"), Some(400.0));
        assert_eq!(s.get("waiting-threads"), Some(1.0));
        assert_eq!(s.get("requests-in-flight"), Some(1.0));
        assert_eq!(s.get_tagged("byte-total", "topic", "t"), Some(500.0));
        assert_eq!(s.get_tagged("request-latency-avg", "node-id", "node-3"), Some(8.0));
        assert_eq!(s.get_tagged("outgoing-byte-total", "node-id", "node-3"), Some(600.0));
        assert!(s.iter().all(|m| m.tags[0] == ("client-id", "app".to_owned())));
        assert!(s.to_string().contains("producer-topic-metrics record-send-total{client-id=app,topic=t} 10"));
    }
}
