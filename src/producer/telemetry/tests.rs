//! The telemetry state machine on its own, with a clock moved by hand.

use super::*;
use crate::producer::metrics::SenderMetrics;
use std::sync::Arc;

const ID: Uuid = [9; 16];

fn client(now: Instant) -> (TelemetryClient, Arc<InstanceIdCell>) {
    let cell = Arc::new(InstanceIdCell::new(true));
    let c = TelemetryClient::new(
        now,
        1_000,
        Duration::from_millis(100),
        Duration::from_millis(1000),
        vec![("client_id".into(), "app".into())],
        cell.clone(),
    );
    (c, cell)
}

fn subscription(requested: &[&str], compression: &[i8]) -> GetTelemetrySubscriptionsResponse {
    GetTelemetrySubscriptionsResponse {
        client_instance_id: ID,
        subscription_id: 5,
        accepted_compression_types: compression.to_vec(),
        push_interval_ms: 2000,
        telemetry_max_bytes: 1 << 20,
        requested_metrics: requested.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// A client with a subscription, its first push due.
fn subscribed(
    now: Instant,
    sub: GetTelemetrySubscriptionsResponse,
) -> (TelemetryClient, Arc<InstanceIdCell>) {
    let (mut c, cell) = client(now);
    assert!(matches!(c.start(now), Some(Step::GetSubscriptions(r)) if r.client_instance_id == [0; 16]));
    c.on_subscriptions(&sub, now);
    (c, cell)
}

fn metrics(records: u32) -> Metrics {
    let m = SenderMetrics::new("app", Duration::from_secs(30), 2);
    let now = Instant::now();
    let b = crate::producer::metrics::SentBatch {
        topic: "t",
        records,
        bytes: 100,
        uncompressed: 100,
        queue_time: Duration::from_millis(1),
    };
    m.produce_sent(1, 120, &[b], now);
    m.snapshot((1000, 1000, 0, 0), now)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn names_follow_javas_telemetry_naming() {
    assert_eq!(
        telemetry_name("producer-metrics", "record-send-rate"),
        "org.apache.kafka.producer.record.send.rate"
    );
    assert_eq!(
        telemetry_name("producer-node-metrics", "request-latency-avg"),
        "org.apache.kafka.producer.node.request.latency.avg"
    );
    assert_eq!(
        telemetry_name("producer-topic-metrics", "byte-total"),
        "org.apache.kafka.producer.topic.byte.total"
    );
}

#[test]
fn requested_metrics_select_by_prefix_empty_string_means_all() {
    assert!(!Selector::from_requested(&[]).wants("org.apache.kafka.producer.x"));
    assert!(Selector::from_requested(&["".into()]).wants("anything"));
    assert!(Selector::from_requested(&["*".into()]).wants("anything"), "Kafka sends * for a * subscription");
    let s = Selector::from_requested(&["org.apache.kafka.producer.node.".into(), "a.b".into()]);
    assert!(s.wants("org.apache.kafka.producer.node.request.rate"));
    assert!(s.wants("a.b.c"));
    assert!(!s.wants("org.apache.kafka.producer.record.send.rate"));
}

#[test]
fn the_instance_id_reaches_waiting_threads() {
    let now = Instant::now();
    let (mut c, cell) = client(now);
    let e = cell.wait(Duration::from_millis(10)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    let waiter = {
        let cell = cell.clone();
        std::thread::spawn(move || cell.wait(Duration::from_secs(30)))
    };
    c.start(now);
    c.on_subscriptions(&subscription(&[""], &[]), now);
    assert_eq!(waiter.join().unwrap().unwrap().as_bytes(), &ID);
    assert_eq!(
        format!("{:?}", cell.wait(Duration::ZERO).unwrap()),
        "ClientInstanceId(CQkJCQkJCQkJCQkJCQkJCQ)"
    );
}

#[test]
fn the_first_accepted_codec_this_build_has_is_used() {
    let now = Instant::now();
    // 9 is no codec: skipped; zstd (4) next.
    let (mut c, _) = subscribed(now, subscription(&[""], &[9, 4, 1]));
    let later = now + Duration::from_secs(3);
    assert!(matches!(c.start(later), Some(Step::Push)));
    let req = c.push_request(&metrics(3), later, 2_000).unwrap();
    let want = if CompressionType::Zstd.is_available() { 4 } else { 1 };
    assert_eq!(req.compression_type, want);
    let mut plain = Vec::new();
    compression::decompress(CompressionType::from_id(i16::from(want)).unwrap(), &req.metrics, &mut plain)
        .unwrap();
    assert!(contains(&plain, "org.apache.kafka.producer.record.send.total"));
    // None accepted: uncompressed.
    let (mut c, _) = subscribed(now, subscription(&[""], &[]));
    c.start(later);
    let req = c.push_request(&metrics(3), later, 2_000).unwrap();
    assert_eq!(req.compression_type, 0);
    assert!(contains(&req.metrics, "org.apache.kafka.producer.record.send.total"));
}

#[test]
fn delta_temporality_sends_the_change_since_the_last_push() {
    let now = Instant::now();
    let mut sub = subscription(&["org.apache.kafka.producer.record.send.total"], &[]);
    sub.delta_temporality = true;
    let (mut c, _) = subscribed(now, sub);
    let s = c.sub.clone().unwrap();
    let first = c.payload(&metrics(10), &s, 2_000);
    assert!(contains(&first, "org.apache.kafka.producer.record.send.total"));
    assert!(first.windows(8).any(|w| w == 10.0f64.to_bits().to_le_bytes()), "first delta: 10");
    c.last_push_unix_nanos = 2_000;
    let second = c.payload(&metrics(25), &s, 3_000);
    assert!(second.windows(8).any(|w| w == 15.0f64.to_bits().to_le_bytes()), "second delta: 25 - 10");
    // Delta (1) temporality.
    assert!(second.windows(4).any(|w| w == [0x10, 0x01, 0x18, 0x01]));
}

#[test]
fn a_payload_over_the_brokers_limit_is_skipped_not_sent() {
    let now = Instant::now();
    let mut sub = subscription(&[""], &[]);
    sub.telemetry_max_bytes = 10;
    let (mut c, _) = subscribed(now, sub);
    let later = now + Duration::from_secs(3);
    c.start(later);
    assert!(c.push_request(&metrics(1), later, 2_000).is_none());
    assert_eq!(c.wait_time(later), Some(Duration::from_millis(2000)), "the next push at the interval");
}

#[test]
fn invalid_request_turns_telemetry_off_for_good() {
    let now = Instant::now();
    let (mut c, cell) = subscribed(now, subscription(&[""], &[]));
    let later = now + Duration::from_secs(3);
    c.start(later);
    c.on_push(&PushTelemetryResponse { throttle_time_ms: 0, error_code: KafkaCode::INVALID_RECORD.0 }, later);
    assert!(c.is_done());
    assert_eq!(c.wait_time(later + Duration::from_secs(600)), None);
    assert!(cell.wait(Duration::ZERO).is_ok(), "the id stays known");
}

#[test]
fn lost_subscription_requests_back_off_exponentially() {
    let now = Instant::now();
    let (mut c, _) = client(now);
    let mut waits = Vec::new();
    for _ in 0..5 {
        assert!(c.start(now + Duration::from_secs(100)).is_some());
        c.on_request_lost(now);
        waits.push(c.wait_time(now).unwrap());
    }
    assert!(waits[0] >= Duration::from_millis(79) && waits[0] <= Duration::from_millis(120), "{waits:?}");
    assert!(waits[3] >= Duration::from_millis(640), "{waits:?}");
    assert!(waits.iter().all(|w| *w <= Duration::from_millis(1000)), "capped: {waits:?}");
}

#[test]
fn too_large_and_throttled_pushes_subscribe_again_after_the_interval() {
    let now = Instant::now();
    for code in [KafkaCode::TELEMETRY_TOO_LARGE, KafkaCode::THROTTLING_QUOTA_EXCEEDED] {
        let (mut c, _) = subscribed(now, subscription(&[""], &[]));
        let later = now + Duration::from_secs(3);
        c.start(later);
        c.on_push(&PushTelemetryResponse { throttle_time_ms: 0, error_code: code.0 }, later);
        assert_eq!(c.wait_time(later), Some(Duration::from_millis(2000)), "{code}");
        let next = later + Duration::from_millis(2000);
        assert!(
            matches!(c.start(next), Some(Step::GetSubscriptions(r)) if r.client_instance_id == ID),
            "{code}"
        );
    }
}

#[test]
fn a_throttled_subscription_request_waits_and_an_unknown_error_turns_telemetry_off() {
    let now = Instant::now();
    let (mut c, _) = client(now);
    c.start(now);
    let throttled = GetTelemetrySubscriptionsResponse {
        error_code: KafkaCode::THROTTLING_QUOTA_EXCEEDED.0,
        ..Default::default()
    };
    c.on_subscriptions(&throttled, now);
    assert_eq!(c.wait_time(now), Some(DEFAULT_PUSH_INTERVAL), "no subscription yet: the default interval");
    c.start(now + DEFAULT_PUSH_INTERVAL);
    let odd = GetTelemetrySubscriptionsResponse {
        error_code: KafkaCode::UNSUPPORTED_VERSION.0,
        ..Default::default()
    };
    c.on_subscriptions(&odd, now);
    assert!(c.is_done());
}

#[test]
fn closing_during_a_push_makes_that_push_the_last() {
    let now = Instant::now();
    let (mut c, _) = subscribed(now, subscription(&[""], &[]));
    let later = now + Duration::from_secs(3);
    c.start(later);
    c.begin_close();
    assert!(!c.is_done());
    c.on_push(&PushTelemetryResponse::default(), later);
    assert!(c.is_done());
    // Closing before any subscription: nothing more.
    let (mut c, _) = client(now);
    c.begin_close();
    assert!(c.is_done());
}
