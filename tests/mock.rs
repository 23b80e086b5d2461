//! `kafka_blocking::mock::MockCluster`, the in-process cluster: what it stores is what was
//! sent, it checks what a broker checks (CRC, sequences), its failure injection does what it
//! says, and a third-party client (confluent-kafka, `check.crcs=true`) produces to it and reads
//! back from it. Every behaviour of the producer shown here is also proven on Apache Kafka in
//! the other test files; this file tests the mock.

mod common;

use common::{consume, produce_raw_answer, produce_sample, try_consume, Broker, ConsumeOptions};
use kafka_blocking::mock::MockCluster;
use kafka_blocking::ApiKey;
use kafka_blocking::{
    ConsumerGroupMetadata, ErrorKind, KafkaCode, OffsetToCommit, Producer, ProducerConfig, Record,
};
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
fn transactions_commit_and_abort_with_markers_and_read_committed_sees_only_commits() {
    let c = MockCluster::new(3).unwrap();
    c.create_topic("tx", 1);
    let p = producer(&c, &[("transactional.id", "mock-tx"), ("max.block.ms", "5000")]);
    p.init_transactions(Duration::from_secs(5)).unwrap();
    p.begin_transaction().unwrap();
    for i in 0..3 {
        p.send(Record::new("tx").value(&format!("committed {i}"))).unwrap();
    }
    p.send_offsets_to_transaction(
        &[OffsetToCommit::new("input", 0, 42)],
        &ConsumerGroupMetadata::new("mock-group"),
        Duration::from_secs(5),
    )
    .unwrap();
    p.commit_transaction(Duration::from_secs(5)).unwrap();
    p.begin_transaction().unwrap();
    for i in 0..2 {
        p.send(Record::new("tx").value(&format!("aborted {i}"))).unwrap();
    }
    p.flush().unwrap();
    p.abort_transaction(Duration::from_secs(5)).unwrap();
    p.close(Duration::from_secs(5)).unwrap();

    let committed: Vec<_> = c.committed_records("tx", 0).into_iter().map(|r| r.value.unwrap()).collect();
    assert_eq!(committed, vec![b"committed 0".to_vec(), b"committed 1".to_vec(), b"committed 2".to_vec()]);
    assert_eq!(c.records("tx", 0).len(), 5, "read_uncommitted sees the aborted records too");
    assert_eq!(c.batch_count("tx", 0), 4, "two data batches and two markers");
    assert_eq!(c.committed_offset("mock-group", "input", 0), Some(42));
    // A third-party read_committed consumer agrees (it reads the markers and the aborted list).
    let opts = ConsumeOptions { isolation: "read_committed", exact: false, ..ConsumeOptions::default() };
    let got = try_consume(&as_broker(&c), "tx", 1, 3, &opts).unwrap();
    let values: Vec<_> = got.iter().map(|r| r.value.clone().unwrap()).collect();
    assert_eq!(values, committed);
    let opts = ConsumeOptions { exact: false, ..ConsumeOptions::default() };
    assert_eq!(try_consume(&as_broker(&c), "tx", 1, 5, &opts).unwrap().len(), 5);
}

#[test]
fn a_new_instance_of_a_transactional_id_fences_the_old_one_and_aborts_its_transaction() {
    let c = MockCluster::new(1).unwrap();
    c.create_topic("fence", 1);
    let old = producer(&c, &[("transactional.id", "mock-fence"), ("max.block.ms", "5000")]);
    old.init_transactions(Duration::from_secs(5)).unwrap();
    old.begin_transaction().unwrap();
    old.send(Record::new("fence").value("left open")).unwrap().wait().unwrap();
    let new = producer(&c, &[("transactional.id", "mock-fence"), ("max.block.ms", "5000")]);
    new.init_transactions(Duration::from_secs(5)).unwrap();
    assert!(c.committed_records("fence", 0).is_empty(), "the open transaction was aborted");
    let e = old.commit_transaction(Duration::from_secs(5)).unwrap_err();
    assert!(e.is_fatal(), "{e}");
    new.begin_transaction().unwrap();
    new.send(Record::new("fence").value("from the new one")).unwrap();
    new.commit_transaction(Duration::from_secs(5)).unwrap();
    let committed: Vec<_> = c.committed_records("fence", 0).into_iter().map(|r| r.value.unwrap()).collect();
    assert_eq!(committed, vec![b"from the new one".to_vec()]);
}
