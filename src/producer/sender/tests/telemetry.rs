//! Client telemetry (KIP-714) through the sender over the scripted cluster: subscription,
//! instance id, pushes at the interval, re-subscription, the terminating push on close, and
//! brokers without the APIs.

use super::*;

fn with_telemetry(requested: &[&str]) -> Harness {
    let h = harness(1, 1, &[("enable.idempotence", "false"), ("acks", "1")]);
    h.script.borrow_mut().telemetry = Some(TelemetryScript {
        subscription_id: 42,
        interval_ms: 1000,
        requested: requested.iter().map(|s| s.to_string()).collect(),
        ..TelemetryScript::default()
    });
    h
}

/// The PushTelemetry requests so far: (subscription id, terminating, compression, metrics).
fn pushes(h: &Harness) -> Vec<(i32, bool, i8, Vec<u8>)> {
    h.script
        .borrow()
        .requests
        .iter()
        .filter(|r| r.api_key == ApiKey::PushTelemetry.code())
        .map(|r| {
            let mut rd = Reader::new(&r.body);
            assert_eq!(rd.uuid().unwrap(), TELEMETRY_ID, "pushes carry the assigned instance id");
            let sub = rd.i32().unwrap();
            let terminating = rd.bool().unwrap();
            let compression = rd.i8().unwrap();
            let metrics = rd.compact_nullable_bytes().unwrap().unwrap().to_vec();
            (sub, terminating, compression, metrics)
        })
        .collect()
}

fn count(h: &Harness, api: ApiKey) -> usize {
    h.api_keys().iter().filter(|&&k| k == api.code()).count()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn subscribes_learns_its_instance_id_and_pushes_every_interval_then_once_terminating() {
    let mut h = with_telemetry(&["org.apache.kafka.producer."]);
    let f = h.send(0, "v");
    h.turns(8);
    done(&f).unwrap();
    assert_eq!(count(&h, ApiKey::GetTelemetrySubscriptions), 1);
    let id = h.s.shared.instance_id.wait(Duration::ZERO).expect("the assigned id");
    assert_eq!(id.as_bytes(), &TELEMETRY_ID);
    assert_eq!(id.to_string(), "BwcHBwcHBwcHBwcHBwcHBw", "Java's Uuid.toString: URL-safe base64");

    // The first push comes 0.5 to 1.5 intervals after the subscription.
    h.advance(Duration::from_millis(499));
    h.turns(3);
    assert!(pushes(&h).is_empty(), "no push before half an interval");
    h.advance(Duration::from_millis(1002));
    h.turns(3);
    let p = pushes(&h);
    assert_eq!(p.len(), 1, "one push by 1.5 intervals");
    let (sub, terminating, compression, metrics) = &p[0];
    assert_eq!((*sub, *terminating, *compression), (42, false, 0));
    assert!(contains(metrics, "org.apache.kafka.producer.record.send.total"));
    assert!(contains(metrics, "org.apache.kafka.producer.topic.record.send.total"));
    assert!(contains(metrics, "org.apache.kafka.producer.node.request.latency.avg"));
    assert!(contains(metrics, "client_software_name") && contains(metrics, "kafka-blocking"));

    // Then one per interval.
    h.turns(3);
    assert_eq!(pushes(&h).len(), 1, "not again before the interval");
    h.advance(Duration::from_millis(1000));
    h.turns(3);
    assert_eq!(pushes(&h).len(), 2);

    // A graceful close sends one last push, marked terminating, and then stops.
    h.s.shared.closing.store(true, Ordering::Release);
    h.turns(3);
    let p = pushes(&h);
    assert_eq!(p.len(), 3);
    assert!(p[2].1, "the last push is terminating");
    assert!(h.s.decide(false).is_none(), "the sender stops after the terminating push");
    assert_eq!(h.s.shared.instance_id.wait(Duration::ZERO).unwrap(), id, "the id outlives the close");
}

#[test]
fn only_the_requested_prefixes_are_pushed() {
    let mut h = with_telemetry(&["org.apache.kafka.producer.node."]);
    let f = h.send(0, "v");
    h.turns(8);
    done(&f).unwrap();
    h.advance(Duration::from_millis(1600));
    h.turns(3);
    let (_, _, _, metrics) = pushes(&h).pop().expect("a push");
    assert!(contains(&metrics, "org.apache.kafka.producer.node.request.total"));
    assert!(!contains(&metrics, "org.apache.kafka.producer.record.send.total"));
}

#[test]
fn an_unknown_subscription_id_makes_it_subscribe_again_at_once() {
    let mut h = with_telemetry(&[""]);
    h.script
        .borrow_mut()
        .telemetry
        .as_mut()
        .unwrap()
        .push_errors
        .push_back(KafkaCode::UNKNOWN_SUBSCRIPTION_ID.0);
    h.turns(8);
    h.advance(Duration::from_millis(1600));
    h.turns(3);
    assert_eq!(pushes(&h).len(), 1);
    h.turns(3);
    assert_eq!(count(&h, ApiKey::GetTelemetrySubscriptions), 2, "subscribed again without waiting");
    let asked = h.script.borrow().requests.iter().rev().find(|r| r.api_key == 71).unwrap().body.clone();
    assert_eq!(asked[..16], TELEMETRY_ID, "with the instance id it already has");
    // The new subscription is not the first: its push comes one whole interval later.
    h.advance(Duration::from_millis(999));
    h.turns(3);
    assert_eq!(pushes(&h).len(), 1);
    h.advance(Duration::from_millis(1));
    h.turns(3);
    assert_eq!(pushes(&h).len(), 2);
}

#[test]
fn nothing_subscribed_means_no_push_and_a_new_look_after_the_interval() {
    let mut h = with_telemetry(&[]);
    h.turns(8);
    assert_eq!(count(&h, ApiKey::GetTelemetrySubscriptions), 1);
    assert!(h.s.shared.instance_id.wait(Duration::ZERO).is_ok(), "the id is assigned all the same");
    h.advance(Duration::from_millis(999));
    h.turns(3);
    assert_eq!(count(&h, ApiKey::GetTelemetrySubscriptions), 1);
    h.advance(Duration::from_millis(1));
    h.turns(3);
    assert_eq!(count(&h, ApiKey::GetTelemetrySubscriptions), 2);
    assert!(pushes(&h).is_empty());
    // Closing with nothing subscribed sends no terminating push.
    h.s.shared.closing.store(true, Ordering::Release);
    assert!(h.s.decide(false).is_none());
    assert!(pushes(&h).is_empty());
}

#[test]
fn a_cluster_without_telemetry_gets_no_telemetry_requests() {
    let mut h = harness(1, 1, &[("enable.idempotence", "false"), ("acks", "1")]);
    let f = h.send(0, "v");
    h.turns(8);
    done(&f).unwrap();
    assert_eq!(count(&h, ApiKey::GetTelemetrySubscriptions), 0);
    let e = h.s.shared.instance_id.wait(Duration::from_secs(5)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::IllegalState);
    assert!(e.to_string().contains("does not offer client telemetry"), "{e}");
}

#[test]
fn enable_metrics_push_false_sends_nothing() {
    let mut h = harness(1, 1, &[("enable.idempotence", "false"), ("enable.metrics.push", "false")]);
    h.script.borrow_mut().telemetry = Some(TelemetryScript { interval_ms: 1000, ..Default::default() });
    h.turns(8);
    assert_eq!(count(&h, ApiKey::GetTelemetrySubscriptions), 0);
    let e = h.s.shared.instance_id.wait(Duration::ZERO).unwrap_err();
    assert!(e.to_string().contains("enable.metrics.push is false"), "{e}");
}

#[test]
fn a_lost_push_is_retried_after_a_backoff_on_a_new_connection() {
    let mut h = with_telemetry(&[""]);
    h.turns(8);
    h.script.borrow_mut().silent.push(1);
    h.advance(Duration::from_millis(1600));
    h.turns(3);
    assert_eq!(pushes(&h).len(), 1, "sent, never answered");
    h.script.borrow_mut().silent.clear();
    h.advance(Duration::from_secs(31)); // request.timeout.ms
    h.turns(10);
    h.advance(Duration::from_secs(2));
    h.turns(10);
    assert_eq!(pushes(&h).len(), 2, "pushed again after the lost one");
}
