//! The fault-injecting proxy of `tests/common/proxy.rs`, proven on its own before it is used to
//! prove idempotence:
//!
//! - its Metadata rewriting keeps a client on the proxy (every Produce request goes through it),
//!   and what goes through arrives intact (read back directly from Tansu with confluent-kafka);
//! - cutting the connection instead of passing on a Produce response makes a non-idempotent
//!   producer store a batch twice: the exact situation an idempotent producer must survive.
//!
//! Run with `scripts/test.sh --test proxy_harness` (it starts the brokers).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::proxy::{rewrite_metadata_response, Proxy};
use common::{consume, create_topic, tansu, unique_topic, Broker, Consumed};
use kafka_blocking::protocol::header::decode_response;
use kafka_blocking::protocol::metadata::MetadataRequest;
use kafka_blocking::protocol::primitives::Encoder;
use kafka_blocking::{Producer, ProducerConfig, Record};

fn producer_via(proxy: &Proxy, props: &[(&str, &str)]) -> Producer {
    let mut config = ProducerConfig::new().bootstrap_servers(proxy.addr()).set("linger.ms", "0");
    for (k, v) in props {
        config = config.set(k, v);
    }
    Producer::new(config).unwrap_or_else(|e| panic!("Producer::new via the proxy: {e}"))
}

fn send_one_at_a_time(producer: &Producer, topic: &str, values: &[String]) {
    for v in values {
        producer
            .send(Record::new(topic).partition(0).value(v.as_bytes()))
            .unwrap_or_else(|e| panic!("send {v}: {e}"))
            .wait()
            .unwrap_or_else(|e| panic!("delivery of {v}: {e}"));
    }
}

fn value_counts(got: &[Consumed]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in got {
        let v = String::from_utf8_lossy(r.value.as_deref().unwrap_or(b"<null>")).into_owned();
        *counts.entry(v).or_insert(0) += 1;
    }
    counts
}

fn assert_no_proxy_errors(proxy: &Proxy) {
    let errors = proxy.errors();
    assert!(errors.is_empty(), "the proxy ran into problems: {errors:?}");
}

#[test]
fn metadata_rewriting_keeps_the_producer_on_the_proxy() {
    let b: Broker = tansu();
    let proxy = Proxy::start(&b.bootstrap);
    let topic = unique_topic("proxy-passthrough");
    create_topic(&b, &topic, 3);

    let producer = producer_via(&proxy, &[]);
    let values: Vec<String> = (0..10).map(|i| format!("one-at-a-time-{i}")).collect();
    send_one_at_a_time(&producer, &topic, &values);
    // And a burst over all partitions, batched.
    let burst: Vec<String> = (0..300).map(|i| format!("burst-{i}")).collect();
    let futures: Vec<_> = burst
        .iter()
        .map(|v| producer.send(Record::new(&topic).key(v.as_bytes()).value(v.as_bytes())).expect("send"))
        .collect();
    for f in futures {
        f.wait().expect("delivery through the proxy");
    }
    producer.close(Duration::from_secs(10)).expect("close");

    assert!(proxy.metadata_rewritten() > 0, "no Metadata response went through the proxy");
    // Each waited-for record was its own Produce request; had the client left the proxy after
    // bootstrap, the proxy would have seen none of them.
    assert!(
        proxy.produce_requests() > values.len(),
        "only {} Produce requests went through the proxy",
        proxy.produce_requests()
    );
    assert_eq!(proxy.produce_responses(), proxy.produce_requests());
    assert_eq!(proxy.dropped(), 0);

    // Read back directly from Tansu, exactly (no more records than sent).
    let got = consume(&b, &topic, 3, values.len() + burst.len());
    let counts = value_counts(&got);
    for v in values.iter().chain(&burst) {
        assert_eq!(counts.get(v), Some(&1), "{v} read back {:?} times", counts.get(v));
    }
    let p0: Vec<&str> = got
        .iter()
        .filter(|r| r.partition == 0)
        .filter_map(|r| r.value.as_deref())
        .map(|v| std::str::from_utf8(v).unwrap())
        .filter(|v| v.starts_with("one-at-a-time-"))
        .collect();
    assert_eq!(p0, values.iter().map(String::as_str).collect::<Vec<_>>(), "partition 0 order");
    assert_no_proxy_errors(&proxy);
}

#[test]
fn a_dropped_produce_response_makes_a_non_idempotent_producer_store_a_duplicate() {
    let b = tansu();
    let proxy = Proxy::start(&b.bootstrap);
    let topic = unique_topic("proxy-duplicate");
    create_topic(&b, &topic, 1);

    // Idempotence off explicitly, so this stays a proof of the proxy once the producer is
    // idempotent by default.
    let producer = producer_via(&proxy, &[("enable.idempotence", "false"), ("acks", "all")]);
    let values: Vec<String> = (0..20).map(|i| format!("value-{i:02}")).collect();
    send_one_at_a_time(&producer, &topic, &values[..5]);
    let before = proxy.produce_requests();
    proxy.drop_produce_responses(1);
    send_one_at_a_time(&producer, &topic, &values[5..]);
    producer.close(Duration::from_secs(10)).expect("close");

    assert_eq!(proxy.dropped(), 1, "exactly one Produce response should have been swallowed");
    assert!(proxy.connections() >= 2, "the client should have reconnected after the cut");
    // 15 records after the fault, one at a time, plus the retry of the one whose answer was lost.
    assert_eq!(proxy.produce_requests() - before, 16, "Produce requests after arming the fault");

    // The broker stored the batch whose answer was lost, and then its retry.
    let got = consume(&b, &topic, 1, values.len() + 1);
    let counts = value_counts(&got);
    for v in &values {
        assert!(counts.contains_key(v), "{v} is missing from the read-back");
    }
    let duplicates: Vec<(&String, &usize)> = counts.iter().filter(|(_, n)| **n > 1).collect();
    let extra: usize = counts.values().map(|n| n - 1).sum();
    eprintln!("duplicates after one dropped Produce response: {duplicates:?}");
    assert_eq!(duplicates.len(), 1, "one batch stored twice: {duplicates:?}");
    assert!(extra >= 1);
    assert_eq!(duplicates[0].0, &values[5], "the first record sent after arming the fault is doubled");
    // Stored twice in a row: the retry went out before the next record.
    let order: Vec<&str> =
        got.iter().map(|r| std::str::from_utf8(r.value.as_deref().unwrap()).unwrap()).collect();
    let mut want: Vec<&str> = values.iter().map(String::as_str).collect();
    want.insert(6, &values[5]);
    assert_eq!(order, want);
    assert_no_proxy_errors(&proxy);
}

#[test]
fn every_nth_produce_response_can_be_dropped() {
    let b = tansu();
    let proxy = Proxy::start(&b.bootstrap);
    let topic = unique_topic("proxy-every-nth");
    create_topic(&b, &topic, 1);

    let producer = producer_via(&proxy, &[("enable.idempotence", "false")]);
    proxy.drop_every_nth_produce_response(4, 3);
    let values: Vec<String> = (0..20).map(|i| format!("nth-{i:02}")).collect();
    send_one_at_a_time(&producer, &topic, &values);
    producer.close(Duration::from_secs(10)).expect("close");

    assert_eq!(proxy.dropped(), 3);
    let got = consume(&b, &topic, 1, values.len() + 3);
    let counts = value_counts(&got);
    assert_eq!(counts.len(), values.len());
    assert_eq!(counts.values().filter(|n| **n == 2).count(), 3, "{counts:?}");
    assert_no_proxy_errors(&proxy);
}

// ---------------------------------------------------------------- the rewriting itself, no broker

/// A Metadata response frame (header + body) with two brokers and one topic, as a broker sends it.
fn metadata_frame(version: i16) -> Vec<u8> {
    let flexible = version >= 9;
    let mut f = Vec::new();
    f.put_i32(77); // correlation id
    if flexible {
        f.put_empty_tagged_fields();
    }
    f.put_i32(5); // throttle_time_ms
    f.put_array_len(Some(2), flexible);
    for (id, host, port, rack) in [(1, "broker-one.example", 9092, Some("r1")), (2, "b2", 19092, None)] {
        f.put_i32(id);
        f.put_str_v(Some(host), flexible);
        f.put_i32(port);
        f.put_str_v(rack, flexible);
        if flexible {
            // one unknown tagged field, to be carried over
            f.put_uvarint(1);
            f.put_uvarint(9);
            f.put_uvarint(2);
            f.extend_from_slice(&[0xab, 0xcd]);
        }
    }
    f.put_str_v(Some("cluster-x"), flexible);
    f.put_i32(1); // controller
    f.put_array_len(Some(1), flexible);
    f.put_i16(0);
    f.put_str_v(Some("topic-a"), flexible);
    if version >= 10 {
        f.put_uuid(&[7; 16]);
    }
    f.put_bool(false);
    f.put_array_len(Some(1), flexible);
    f.put_i16(0);
    f.put_i32(0); // partition
    f.put_i32(2); // leader
    if version >= 7 {
        f.put_i32(3); // leader epoch
    }
    for _ in 0..2 {
        f.put_array_len(Some(1), flexible);
        f.put_i32(2);
    }
    if version >= 5 {
        f.put_array_len(Some(0), flexible);
    }
    if flexible {
        f.put_empty_tagged_fields();
    }
    if version >= 8 {
        f.put_i32(-2147483648); // topic_authorized_operations
    }
    if flexible {
        f.put_empty_tagged_fields();
    }
    if (8..=10).contains(&version) {
        f.put_i32(-2147483648);
    }
    if version >= 13 {
        f.put_i16(0);
    }
    if flexible {
        f.put_empty_tagged_fields();
    }
    f
}

#[test]
fn metadata_responses_of_every_version_are_rewritten() {
    for version in 4..=13 {
        let frame = metadata_frame(version);
        let (_, before) =
            decode_response::<MetadataRequest>(&frame, version).expect("hand-built frame decodes");
        let rewritten = rewrite_metadata_response(&frame, version, |node| {
            (if node == 1 { "127.0.0.1".to_string() } else { format!("proxy-{node}.local") }, 40000 + node)
        })
        .unwrap_or_else(|e| panic!("v{version}: {e}"));
        let (corr, after) = decode_response::<MetadataRequest>(&rewritten, version)
            .unwrap_or_else(|e| panic!("v{version}: the rewritten frame does not decode: {e}"));
        assert_eq!(corr, 77);
        let addrs: Vec<(i32, &str, i32, Option<&str>)> =
            after.brokers.iter().map(|b| (b.node_id, b.host.as_str(), b.port, b.rack.as_deref())).collect();
        assert_eq!(
            addrs,
            [(1, "127.0.0.1", 40001, Some("r1")), (2, "proxy-2.local", 40002, None)],
            "v{version}"
        );
        assert_eq!(after.topics, before.topics, "v{version}");
        assert_eq!(after.cluster_id, before.cluster_id);
        assert_eq!(after.controller_id, before.controller_id);
        assert_eq!(after.throttle_time_ms, 5);
        // The same addresses back give the same bytes back: nothing else moved.
        let back = rewrite_metadata_response(&rewritten, version, |node| match node {
            1 => ("broker-one.example".into(), 9092),
            _ => ("b2".into(), 19092),
        })
        .unwrap();
        assert_eq!(back, frame, "v{version}");
    }
}
