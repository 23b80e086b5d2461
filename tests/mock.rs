//! `kafka_blocking::mock::MockCluster`, the in-process cluster: what it stores is what was
//! sent, it checks what a broker checks (CRC, sequences), its failure injection does what it
//! says, and a third-party client (confluent-kafka, `check.crcs=true`) produces to it and reads
//! back from it. Every behaviour of the producer shown here is also proven on Apache Kafka in
//! the other test files; this file tests the mock.

mod common;

use common::{consume, produce_raw_answer, produce_sample, Broker};
use kafka_blocking::mock::MockCluster;
use kafka_blocking::ApiKey;
use kafka_blocking::{ErrorKind, KafkaCode, Producer, ProducerConfig, Record};
use std::time::{Duration, Instant};

fn producer(c: &MockCluster, extra: &[(&str, &str)]) -> Producer {
    let mut cfg = ProducerConfig::new()
        .bootstrap_servers(c.bootstrap_servers())
        .set("request.timeout.ms", "2000")
        .set("delivery.timeout.ms", "20000")
        .set("retry.backoff.ms", "20");
    for (k, v) in extra {
        cfg = cfg.set(k, v);
    }
    Producer::new(cfg).unwrap()
}

/// The mock as a `Broker` for the independent client's helpers.
fn as_broker(c: &MockCluster) -> Broker {
    Broker {
        name: "embedded-mock",
        bootstrap: c.bootstrap_servers(),
        mock_control: None,
        kafka_control: None,
        replication: 1,
    }
}

#[test]
fn stores_exactly_what_was_sent_and_a_third_party_client_reads_it_back() {
    let c = MockCluster::new(3).unwrap();
    c.create_topic("t", 3);
    let p = producer(&c, &[]);
    let mut sent = Vec::new();
    for i in 0..30 {
        let key = format!("k{i}");
        let meta = p
            .send(Record::new("t").key(&key).value(&format!("v{i}")).header("h", &format!("{i}")))
            .unwrap()
            .wait()
            .unwrap();
        sent.push((meta.partition(), meta.offset(), key));
    }
    p.close(Duration::from_secs(5)).unwrap();
    let mut total = 0;
    for part in 0..3 {
        let stored = c.records("t", part);
        total += stored.len();
        for r in &stored {
            let (_, _, key) =
                sent.iter().find(|(p, o, _)| *p == part && *o == r.offset).expect("a record we sent");
            assert_eq!(r.key.as_deref(), Some(key.as_bytes()));
            let i = &key[1..];
            assert_eq!(r.value.as_deref(), Some(format!("v{i}").as_bytes()));
            assert_eq!(r.headers, vec![("h".to_owned(), Some(i.as_bytes().to_vec()))]);
            assert!(r.producer_id >= 0 && r.sequence >= 0, "idempotent by default: {r:?}");
        }
    }
    assert_eq!(total, 30);
    // confluent-kafka reads the same records, CRCs checked.
    let got = consume(&as_broker(&c), "t", 3, 30);
    assert_eq!(got.len(), 30);
    for g in &got {
        let stored = c.records("t", g.partition);
        let s = stored.iter().find(|r| r.offset == g.offset).unwrap();
        assert_eq!((&g.key, &g.value), (&s.key, &s.value));
    }
}

#[test]
fn a_third_party_producer_is_stored_and_a_bad_crc_is_refused() {
    let c = MockCluster::new(1).unwrap();
    c.create_topic("third", 1);
    let delivered = produce_sample(&as_broker(&c), "third", 20, Some(0), "lz4");
    assert_eq!(delivered.len(), 20);
    assert_eq!(c.records("third", 0).len(), 20);
    let (_, code) = produce_raw_answer(&as_broker(&c), "third", 0, 3, true);
    assert_eq!(code, KafkaCode::CORRUPT_MESSAGE.0, "a batch with a bad CRC is refused");
    assert_eq!(c.records("third", 0).len(), 20, "and not stored");
}

#[test]
fn a_dropped_response_is_retried_and_the_duplicate_is_not_stored_twice() {
    let c = MockCluster::new(1).unwrap();
    c.create_topic("dup", 1);
    let p = producer(&c, &[("request.timeout.ms", "1000")]);
    p.send(Record::new("dup").value("warm-up")).unwrap().wait().unwrap();
    c.drop_responses(ApiKey::Produce, 1);
    let meta = p.send(Record::new("dup").value("once")).unwrap().wait().unwrap();
    assert_eq!(meta.offset(), 1);
    assert!(c.request_count(ApiKey::Produce) >= 3, "the batch was sent again");
    let values: Vec<_> = c.records("dup", 0).into_iter().map(|r| r.value.unwrap()).collect();
    assert_eq!(values, vec![b"warm-up".to_vec(), b"once".to_vec()]);
}

#[test]
fn records_without_idempotence_carry_no_sequence_and_are_not_checked() {
    // (Sequence gaps, duplicates and stale epochs: `mock::wire` unit tests.)
    let c = MockCluster::new(1).unwrap();
    c.create_topic("plain", 1);
    let p = producer(&c, &[("enable.idempotence", "false"), ("acks", "1")]);
    p.send(Record::new("plain").value("x")).unwrap().wait().unwrap();
    assert_eq!(c.records("plain", 0)[0].sequence, -1);
    // Raw batches from the independent client carry producer id -1 too, and are stored.
    let (offset, code) = produce_raw_answer(&as_broker(&c), "plain", 0, 2, false);
    assert_eq!((offset, code), (1, 0));
}

#[test]
fn injected_errors_are_answered_in_order_and_retriable_ones_are_retried() {
    let c = MockCluster::new(1).unwrap();
    c.create_topic("inj", 1);
    let p = producer(&c, &[]);
    p.send(Record::new("inj").value("warm-up")).unwrap().wait().unwrap();
    c.push_errors(ApiKey::Produce, &[KafkaCode::NOT_LEADER_OR_FOLLOWER, KafkaCode::REQUEST_TIMED_OUT]);
    let meta = p.send(Record::new("inj").value("after two errors")).unwrap().wait().unwrap();
    assert_eq!(meta.offset(), 1);
    c.push_errors(ApiKey::Produce, &[KafkaCode::INVALID_RECORD]);
    let e = p.send(Record::new("inj").value("refused")).unwrap().wait().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Broker(KafkaCode::INVALID_RECORD), "{e}");
    assert_eq!(c.records("inj", 0).len(), 2);
}

#[test]
fn leaders_move_and_brokers_go_down_and_come_back() {
    let c = MockCluster::new(3).unwrap();
    c.create_topic("moves", 1);
    let p = producer(&c, &[]);
    p.send(Record::new("moves").value("a")).unwrap().wait().unwrap();
    let first = c.leader("moves", 0).unwrap();
    let next = first % 3 + 1;
    c.set_leader("moves", 0, next);
    p.send(Record::new("moves").value("b")).unwrap().wait().unwrap();
    c.set_broker_up(next, false);
    c.set_leader("moves", 0, first);
    let f = p.send(Record::new("moves").value("c")).unwrap();
    f.wait().unwrap();
    c.set_broker_up(next, true);
    c.set_leader("moves", 0, next);
    p.send(Record::new("moves").value("d")).unwrap().wait().unwrap();
    let values: Vec<_> = c.records("moves", 0).into_iter().map(|r| r.value.unwrap()).collect();
    assert_eq!(values, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]);
    p.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_delay_slows_answers_past_the_request_timeout_and_unknown_topics_need_auto_creation() {
    let c = MockCluster::new(1).unwrap();
    c.create_topic("slow", 1);
    let p =
        producer(&c, &[("request.timeout.ms", "300"), ("delivery.timeout.ms", "1500"), ("linger.ms", "0")]);
    p.send(Record::new("slow").value("fast")).unwrap().wait().unwrap();
    c.set_delay(1, Duration::from_millis(800));
    let started = Instant::now();
    let e = p.send(Record::new("slow").value("late")).unwrap().wait().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
    c.set_delay(1, Duration::ZERO);
    let _ = p.close(Duration::from_secs(2));

    c.auto_create_topics(0);
    let strict = producer(&c, &[("max.block.ms", "500")]);
    let e = strict.send(Record::new("never-created").value("x")).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Timeout | ErrorKind::UnknownTopicOrPartition), "{e}");
    c.auto_create_topics(2);
    let meta = strict.send(Record::new("auto").value("x")).unwrap().wait().unwrap();
    assert!(meta.partition() < 2);
}

#[test]
fn transactions_are_refused_clearly() {
    let c = MockCluster::new(1).unwrap();
    let p = producer(&c, &[("transactional.id", "tx"), ("max.block.ms", "3000")]);
    let started = Instant::now();
    let e = p.init_transactions(Duration::from_secs(3)).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(e.to_string().contains("FindCoordinator"), "{e}");
}
