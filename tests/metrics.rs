//! `Producer::metrics`: the Java names, counting what was really sent, retried and failed; on
//! Apache Kafka and, with failure injection, on the embedded mock cluster.

mod common;

use common::{create_topic, unique_topic};
use kafka_blocking::mock::MockCluster;
use kafka_blocking::ApiKey;
use kafka_blocking::{KafkaCode, Producer, ProducerConfig, Record};
use std::time::Duration;

#[test]
fn metrics_count_what_apache_kafka_acknowledged() {
    let b = common::kafka();
    let topic = unique_topic("metrics");
    create_topic(&b, &topic, 2);
    let p = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(&b.bootstrap)
            .set("compression.type", "lz4")
            .set("client.id", "metrics-app"),
    )
    .unwrap();
    let futures: Vec<_> = (0..500)
        .map(|i| p.send(Record::new(&topic).value(&format!("metric record {i} {}", "x".repeat(50)))).unwrap())
        .collect();
    for f in futures {
        f.wait().unwrap();
    }
    let m = p.metrics();
    assert_eq!(m.get("record-send-total"), Some(500.0), "{m}");
    assert_eq!(m.get("record-error-total"), Some(0.0));
    assert_eq!(m.get_tagged("record-send-total", "topic", &topic), Some(500.0));
    let bytes = m.get_tagged("byte-total", "topic", &topic).unwrap();
    assert!(bytes > 0.0 && bytes < 500.0 * 60.0, "lz4 shrinks the batches: {bytes}");
    let ratio = m.get("compression-rate-avg").unwrap();
    assert!(ratio > 0.0 && ratio < 1.0, "{ratio}");
    let latency = m.get("request-latency-avg").unwrap();
    assert!(latency.is_finite() && latency >= 0.0, "{latency}");
    assert!(m.get("request-latency-max").unwrap() >= latency);
    assert!(m.get("record-send-rate").unwrap() > 0.0);
    assert_eq!(m.get("buffer-total-bytes"), Some(32.0 * 1024.0 * 1024.0));
    assert_eq!(m.get("waiting-threads"), Some(0.0));
    assert!(m
        .iter()
        .any(|x| x.group == "producer-node-metrics" && x.name == "request-total" && x.value >= 1.0));
    assert!(m.iter().all(|x| x.tags.iter().any(|(k, v)| *k == "client-id" && v == "metrics-app")));
    p.close(Duration::from_secs(10)).unwrap();
}

#[test]
fn retries_and_failures_are_counted_per_topic() {
    let c = MockCluster::new(1).unwrap();
    c.create_topic("m", 1);
    let p = Producer::new(
        ProducerConfig::new().bootstrap_servers(c.bootstrap_servers()).set("retry.backoff.ms", "10"),
    )
    .unwrap();
    p.send(Record::new("m").value("warm-up")).unwrap().wait().unwrap();
    c.push_errors(ApiKey::Produce, &[KafkaCode::NOT_LEADER_OR_FOLLOWER]);
    p.send(Record::new("m").value("retried once")).unwrap().wait().unwrap();
    c.push_errors(ApiKey::Produce, &[KafkaCode::INVALID_RECORD]);
    p.send(Record::new("m").value("refused")).unwrap().wait().unwrap_err();
    let m = p.metrics();
    assert_eq!(m.get("record-retry-total"), Some(1.0), "{m}");
    assert_eq!(m.get("record-error-total"), Some(1.0));
    assert_eq!(m.get_tagged("record-retry-total", "topic", "m"), Some(1.0));
    assert_eq!(m.get_tagged("record-error-total", "topic", "m"), Some(1.0));
    // Each attempt counts as sent, as in Java (the retried and the refused record too).
    assert_eq!(m.get("record-send-total"), Some(4.0));
    // A gauge as of the sender's last look: it comes down to 0 once nothing is in flight.
    let until = std::time::Instant::now() + Duration::from_secs(2);
    while p.metrics().get("requests-in-flight") != Some(0.0) {
        assert!(std::time::Instant::now() < until, "{}", p.metrics());
        std::thread::sleep(Duration::from_millis(10));
    }
}
