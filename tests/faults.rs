//! Broker faults on librdkafka's 3-broker mock cluster (its control port injects them): leaders
//! moving, brokers going down and coming back, retriable and non-retriable Produce errors, slow
//! brokers and request timeouts. Every acknowledged record is read back by the independent
//! consumer; nothing is lost, and with `max.in.flight.requests.per.connection=1` each partition
//! keeps send order (Java's ordering guarantee without idempotence).
//!
//! Duplicates: without idempotence a retry after a lost response can store a batch twice. The
//! mock cluster answers injected errors WITHOUT storing the batch, so scenarios driven by
//! injected errors or leader moves must store every record exactly once. When a broker is taken
//! down, or answers after `request.timeout.ms`, the batch may already be stored; those tests
//! assert no loss and the order of first occurrences, and count duplicates.
//!
//! Faults are cluster-wide, so the tests here run one at a time (a static lock) and undo their
//! faults on the way out, even when they fail.

mod common;

use std::time::{Duration, Instant};

use common::delivery::{self, send_stream, wait_all, SentRecords};
use common::{consume, mock_control, Broker};
use kafka_blocking::{ErrorKind, KafkaCode, Producer, ProducerConfig, Record, SendFuture};

use common::faults::PARTITIONS;

use common::faults::MockFaults as Faults;

fn producer(b: &Broker, props: &[(&str, &str)]) -> Producer {
    let mut config = ProducerConfig::new().bootstrap_servers(&b.bootstrap);
    for (k, v) in props {
        config = config.set(k, v);
    }
    Producer::new(config).unwrap_or_else(|e| panic!("Producer::new: {e}"))
}

#[test]
fn leader_moves_mid_stream_lose_nothing_and_keep_partition_order_with_one_in_flight() {
    let f = Faults::take();
    let topic = f.topic("leader-moves");
    let p = producer(&f.b, &[("max.in.flight.requests.per.connection", "1"), ("linger.ms", "2")]);
    // Each move makes the old leader answer NOT_LEADER_OR_FOLLOWER for batches already on their
    // way; the producer must refresh metadata and resend them, before later batches, to the new
    // leader.
    let moves = [(300, 0, 2), (600, 1, 3), (900, 2, 1), (1200, 0, 3), (1500, 1, 1)];
    let futures = send_stream(&p, &topic, 0, 0..1800, |seq| {
        for &(at, partition, leader) in &moves {
            if seq == at {
                f.ctl(&format!("leader {topic} {partition} {leader}"));
            }
        }
    });
    let sent = wait_all("leader moves", 0, futures);
    p.close(Duration::from_secs(10)).expect("close");
    let got = consume(&f.b, &topic, PARTITIONS, sent.len());
    delivery::check("leader moves", &sent, &got, false);
}

/// The case the partition mute exists for: partition 0's old leader (broker 1) is slow, so a
/// batch it rejects with NOT_LEADER_OR_FOLLOWER is answered 800 ms later; meanwhile partition 1's
/// fast old leader answers NOT_LEADER_OR_FOLLOWER at once, and the metadata refresh that follows
/// already names partition 0's new leader while the rejected batch is still in flight. Unless the sender keeps partition 0 muted while its
/// batch is in flight, the next batch goes to the new leader and is stored before the rejected
/// one is retried: out of order.
#[test]
fn partition_stays_muted_while_its_batch_is_in_flight_on_a_slow_old_leader() {
    let f = Faults::take();
    let topic = f.topic("mute");
    let p = producer(&f.b, &[("max.in.flight.requests.per.connection", "1"), ("linger.ms", "2")]);
    let warm = send_stream(&p, &topic, 0, 0..30, |_| {});
    let mut sent = wait_all("warm-up", 0, warm);
    f.ctl("rtt 1 800");
    let futures = send_stream(&p, &topic, 1, 0..600, |seq| {
        if seq == 300 {
            // Broker 1 answers the request it already holds (stored) within 800 ms; the next
            // partition-0 batch it gets is rejected, and that answer takes 800 ms too.
            f.ctl(&format!("leader {topic} 0 3"));
            std::thread::sleep(Duration::from_millis(1000));
            // Partition 1's NOT_LEADER_OR_FOLLOWER comes back at once: metadata refreshes.
            f.ctl(&format!("leader {topic} 1 3"));
        }
    });
    sent.extend(wait_all("mute", 1, futures));
    p.close(Duration::from_secs(10)).expect("close");
    f.ctl("rtt 1 0");
    let got = consume(&f.b, &topic, PARTITIONS, sent.len());
    delivery::check("mute while in flight", &sent, &got, false);
}

#[test]
fn leader_moves_with_five_in_flight_lose_and_duplicate_nothing() {
    // With 5 requests in flight per connection (no idempotence) Java does not promise order
    // across a retry; it still must not lose or duplicate anything here (NOT_LEADER stores nothing).
    let f = Faults::take();
    let topic = f.topic("leader-moves-5");
    let p = producer(&f.b, &[("linger.ms", "0"), ("batch.size", "512")]);
    let moves = [(200, 0, 3), (400, 1, 1), (600, 2, 2), (800, 0, 1)];
    let futures = send_stream(&p, &topic, 0, 0..1000, |seq| {
        for &(at, partition, leader) in &moves {
            if seq == at {
                f.ctl(&format!("leader {topic} {partition} {leader}"));
            }
        }
    });
    let sent = wait_all("leader moves, 5 in flight", 0, futures);
    p.close(Duration::from_secs(10)).expect("close");
    let got = consume(&f.b, &topic, PARTITIONS, sent.len());
    // Order is not checked: the exactly-once set of records is.
    let mut read: Vec<String> =
        got.iter().map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap()).into_owned()).collect();
    read.sort();
    let mut expected: Vec<String> = sent.iter().map(|&(_, w, s)| delivery::value(w, s)).collect();
    expected.sort();
    assert_eq!(read, expected, "leader moves, 5 in flight: stored records differ from acknowledged ones");
    for r in &got {
        let (_, seq) = delivery::parse(r.value.as_deref());
        assert_eq!(r.partition, (seq % PARTITIONS as u32) as i32, "record {seq} on the wrong partition");
    }
}

/// Broker 2 (leader of partition 1) goes down while records stream and comes back 1.5 s later.
#[test]
fn broker_down_then_up_mid_stream_delivers_every_record() {
    let f = Faults::take();
    let topic = f.topic("down-up");
    let p = producer(&f.b, &[("max.in.flight.requests.per.connection", "1"), ("linger.ms", "2")]);
    let mut down_at = None;
    let mut futures = send_stream(&p, &topic, 0, 0..1200, |seq| {
        if seq == 300 {
            f.ctl("brokerdown 2");
            down_at = Some(Instant::now());
        }
    });
    // Keep it down for a while after the last records were queued behind it.
    std::thread::sleep(Duration::from_millis(1500).saturating_sub(down_at.unwrap().elapsed()));
    // The outage took effect: partition 1's last record is still waiting.
    let (last_p, last_seq, last) = futures.iter().rev().find(|(p, _, _)| *p == 1).unwrap();
    assert!(!last.is_done(), "record {last_seq} (partition {last_p}) resolved while its leader was down");
    f.ctl("brokerup 2");
    futures.extend(send_stream(&p, &topic, 0, 1200..1500, |_| {}));
    let sent = wait_all("broker down/up", 0, futures);
    p.close(Duration::from_secs(10)).expect("close");
    // Taking a broker down drops its connections, possibly after it stored a request whose
    // response is lost: the retry may store that batch again (no idempotence). So: read what is
    // stored, and require every record, in first-occurrence order.
    let stored = delivery::stored_records(&f.b, &topic, PARTITIONS);
    let got = consume(&f.b, &topic, PARTITIONS, stored);
    let v = delivery::check("broker down/up", &sent, &got, true);
    eprintln!(
        "broker down/up: {} records, {} duplicate(s) from retries after dropped connections",
        sent.len(),
        v.duplicates
    );
}

/// Broker 3 (leader of partition 2) goes down; the partition's leadership moves to broker 1
/// while it is down. The records queued for it go to the new leader.
#[test]
fn leader_moves_away_from_a_down_broker_and_records_follow_it() {
    let f = Faults::take();
    let topic = f.topic("down-move");
    let p = producer(&f.b, &[("max.in.flight.requests.per.connection", "1"), ("linger.ms", "2")]);
    let mut futures = send_stream(&p, &topic, 0, 0..600, |seq| {
        if seq == 200 {
            f.ctl("brokerdown 3");
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    // The outage took effect: partition 2's last record is still waiting.
    let (_, last_seq, last) = futures.iter().rev().find(|(p, _, _)| *p == 2).unwrap();
    assert!(!last.is_done(), "record {last_seq} (partition 2) resolved while its leader was down");
    f.ctl(&format!("leader {topic} 2 1"));
    futures.extend(send_stream(&p, &topic, 0, 600..900, |_| {}));
    let sent = wait_all("leader moves from a down broker", 0, futures);
    p.close(Duration::from_secs(10)).expect("close");
    let stored = delivery::stored_records(&f.b, &topic, PARTITIONS);
    let got = consume(&f.b, &topic, PARTITIONS, stored);
    let v = delivery::check("leader moves from a down broker", &sent, &got, true);
    eprintln!("leader moves from a down broker: {} records, {} duplicate(s)", sent.len(), v.duplicates);
}

#[test]
fn injected_retriable_produce_errors_are_retried_and_store_each_record_once() {
    let f = Faults::take();
    let topic = f.topic("retriable");

    // The injection reaches our Produce requests: with retries=0 the first error surfaces.
    let p0 = producer(&f.b, &[("retries", "0"), ("enable.idempotence", "false")]);
    p0.send(Record::new(&topic).value("warm-up").partition(0)).unwrap().wait().expect("warm-up");
    f.ctl("err 0 6");
    let e = p0.send(Record::new(&topic).value("not retried").partition(0)).unwrap().wait().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Broker(KafkaCode(6)), "{e:?}");
    assert!(e.to_string().contains("NOT_LEADER_OR_FOLLOWER"), "{e}");
    p0.close(Duration::from_secs(5)).expect("close");

    // With retries: NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS, REQUEST_TIMED_OUT, twice over.
    let p = producer(&f.b, &[("max.in.flight.requests.per.connection", "1"), ("linger.ms", "2")]);
    f.ctl("err 0 6 19 7 6 19 7");
    let first = p.send(Record::new(&topic).value(&delivery::value(1, 0)).partition(0)).unwrap();
    let md = first.wait().expect("the first record is retried past 6 injected errors");
    assert_eq!(md.partition(), 0);
    let mut sent: SentRecords = vec![(0, 1, 0)];
    f.ctl("err 0 6 19 7 6 19 7");
    let futures = send_stream(&p, &topic, 2, 0..600, |_| {});
    sent.extend(wait_all("retriable errors", 2, futures));
    p.close(Duration::from_secs(10)).expect("close");

    // "warm-up" was stored too; the record that failed with retries=0 was not.
    let got = consume(&f.b, &topic, PARTITIONS, sent.len() + 1);
    let warm: Vec<_> = got.iter().filter(|r| r.value.as_deref() == Some(&b"warm-up"[..])).collect();
    assert_eq!(warm.len(), 1, "warm-up stored once");
    assert_eq!((warm[0].partition, warm[0].offset), (0, 0), "warm-up first on partition 0");
    let rest: Vec<_> = got.into_iter().filter(|r| r.value.as_deref() != Some(&b"warm-up"[..])).collect();
    delivery::check("retriable errors", &sent, &rest, false);
}

#[test]
fn slow_broker_within_request_timeout_delivers_every_record_once() {
    let f = Faults::take();
    let topic = f.topic("slow");
    let p = producer(
        &f.b,
        &[("max.in.flight.requests.per.connection", "1"), ("linger.ms", "5"), ("request.timeout.ms", "5000")],
    );
    for id in 1..=3 {
        f.ctl(&format!("rtt {id} 500"));
    }
    let futures = send_stream(&p, &topic, 0, 0..300, |_| {});
    let sent = wait_all("slow broker", 0, futures);
    p.close(Duration::from_secs(10)).expect("close");
    for id in 1..=3 {
        f.ctl(&format!("rtt {id} 0"));
    }
    let got = consume(&f.b, &topic, PARTITIONS, sent.len());
    delivery::check("slow broker", &sent, &got, false);
}

#[test]
fn requests_past_request_timeout_are_retried_and_delivered_once_the_broker_is_fast_again() {
    let f = Faults::take();
    let topic = f.topic("timeout");
    let p = producer(
        &f.b,
        &[
            ("max.in.flight.requests.per.connection", "1"),
            ("linger.ms", "5"),
            ("request.timeout.ms", "300"),
            ("delivery.timeout.ms", "30000"),
        ],
    );
    // Metadata and connections first, while the brokers are fast.
    let warm = send_stream(&p, &topic, 0, 0..3, |_| {});
    let mut sent = wait_all("warm-up", 0, warm);
    for id in 1..=3 {
        f.ctl(&format!("rtt {id} 1000"));
    }
    let t = Instant::now();
    let futures = send_stream(&p, &topic, 1, 0..300, |_| {});
    let resetter = {
        let b = f.b.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(2000));
            for id in 1..=3 {
                assert_eq!(mock_control(&b, &format!("rtt {id} 0")), "0");
            }
        })
    };
    sent.extend(wait_all("request timeouts", 1, futures));
    resetter.join().expect("rtt reset");
    assert!(
        t.elapsed() >= Duration::from_millis(1900),
        "records were acknowledged while every response took 1 s > request.timeout.ms"
    );
    assert!(
        t.elapsed() < Duration::from_secs(25),
        "did not recover after the brokers became fast: {:?}",
        t.elapsed()
    );
    p.close(Duration::from_secs(10)).expect("close");
    // The mock stores a batch and then delays its response past request.timeout.ms; the retry
    // stores it again (no idempotence: at-least-once, as Java). No loss, first occurrences in order.
    let stored = delivery::stored_records(&f.b, &topic, PARTITIONS);
    let got = consume(&f.b, &topic, PARTITIONS, stored);
    let v = delivery::check("request timeouts", &sent, &got, true);
    assert!(
        v.duplicates > 0,
        "expected the timed-out (but stored) requests to be stored again by their retries"
    );
    eprintln!(
        "request timeouts: {} records, {} duplicate(s) from retries of timed-out requests",
        sent.len(),
        v.duplicates
    );
}

#[test]
fn non_retriable_error_fails_only_its_batch_naming_code_and_partition() {
    let f = Faults::take();
    let topic = f.topic("invalid-record");
    let p = producer(&f.b, &[("linger.ms", "50")]);
    p.send(Record::new(&topic).value(&delivery::value(0, 0)).partition(1)).unwrap().wait().expect("warm-up");
    f.ctl("err 0 87");
    // Five records to partition 0 within linger.ms: one batch, one request, rejected as a whole.
    let failed: Vec<SendFuture> = (0..5)
        .map(|i| p.send(Record::new(&topic).value(&format!("rejected-{i}")).partition(0)).unwrap())
        .collect();
    for (i, fut) in failed.iter().enumerate() {
        let e = fut.wait().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Broker(KafkaCode(87)), "rejected-{i}: {e:?}");
        assert_eq!(e.code(), Some(KafkaCode::INVALID_RECORD));
        assert!(!e.is_retriable());
        let msg = e.to_string();
        assert!(msg.contains("INVALID_RECORD"), "rejected-{i}: {msg}");
        assert!(msg.contains(&format!("{topic}-0")), "rejected-{i}: {msg}");
    }
    let mut sent: SentRecords = vec![(1, 0, 0)];
    let futures = send_stream(&p, &topic, 1, 0..30, |_| {});
    sent.extend(wait_all("after INVALID_RECORD", 1, futures));
    p.close(Duration::from_secs(10)).expect("close");
    let got = consume(&f.b, &topic, PARTITIONS, sent.len());
    delivery::check("after INVALID_RECORD", &sent, &got, false);
}

// ---------------------------------------------------------------- Apache Kafka: acks=all below min.insync.replicas

/// Apache Kafka, replication factor 3, `min.insync.replicas=2`: with both followers of a
/// partition shut down (each leaves the ISR in its controlled shutdown), the leader answers
/// acks=all Produce requests with NOT_ENOUGH_REPLICAS. The producer retries them: a record
/// whose `delivery.timeout.ms` runs out first fails with a timeout that names the partition and
/// the broker's error, while records with time left are delivered, once each and in order, when
/// one follower returns and the ISR has two replicas again.
#[test]
fn acks_all_below_min_insync_replicas_is_retried_until_a_node_returns_or_the_delivery_timeout() {
    let outage = common::faults::KafkaOutage::take();
    let b = outage.b.clone();
    let topic = outage.topic("not-enough-replicas", 1);
    let patient = producer(&b, &[("linger.ms", "1"), ("request.timeout.ms", "3000")]);
    let hasty =
        producer(&b, &[("linger.ms", "0"), ("request.timeout.ms", "2000"), ("delivery.timeout.ms", "6000")]);
    for p in [&patient, &hasty] {
        p.send(Record::new(&topic).value("warm-up")).unwrap().wait().expect("warm-up with three nodes");
    }
    let leader = common::leader(&b, &topic, 0);
    let followers: Vec<i32> = (1..=3).filter(|&n| n != leader).collect();
    for &n in &followers {
        outage.stop(n);
    }
    let down_at = Instant::now();

    // Past one request timeout and the whole delivery timeout: the hasty record gives up.
    let hasty_f = hasty.send(Record::new(&topic).value("hasty")).unwrap();
    let patient_fs: Vec<(i32, u32, SendFuture)> = (0..20)
        .map(|seq| {
            let f = patient.send(Record::new(&topic).value(&delivery::value(0, seq))).unwrap();
            (0, seq, f)
        })
        .collect();
    let e = hasty_f.wait().expect_err("no record can be acknowledged by acks=all below min.insync.replicas");
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&format!("{topic}-0")), "the timeout names the partition: {msg}");
    assert!(msg.contains("NOT_ENOUGH_REPLICAS"), "the timeout names the broker's answer: {msg}");
    assert!(
        patient_fs.iter().all(|(_, _, f)| !f.is_done()),
        "nothing is acknowledged while the ISR is short"
    );

    outage.start(followers[0]);
    let sent = wait_all("acks=all after a follower returned", 0, patient_fs);
    let recovered = down_at.elapsed();
    hasty.close(Duration::from_secs(5)).unwrap();
    patient.close(Duration::from_secs(5)).unwrap();
    drop(outage); // every node back before reading

    let got: Vec<common::Consumed> = consume(&b, &topic, 1, 22)
        .into_iter()
        .filter(|r| r.value.as_deref() != Some(&b"warm-up"[..]))
        .collect();
    delivery::check("acks=all after a follower returned", &sent, &got, false);
    eprintln!(
        "NOT_ENOUGH_REPLICAS: 20 records delivered {} ms after two of three nodes stopped",
        recovered.as_millis()
    );
}

/// Fault matrix, produce quota: Apache Kafka holds this client.id to 256 KiB/s
/// (`producer_byte_rate`). The broker answers at once with `throttle_time_ms` and expects the
/// client to hold off (KIP-219); the producer does, so throughput settles near the quota with
/// every record delivered once, in order, and no request timing out.
#[test]
fn a_produce_quota_on_apache_kafka_slows_the_producer_to_the_quota_without_timeouts_or_duplicates() {
    let outage = common::faults::KafkaOutage::take(); // no node is stopped meanwhile
    let b = outage.b.clone();
    let topic = common::unique_topic("faults-quota");
    common::create_topic(&b, &topic, 1); // one leader: quotas hold per broker
    let client_id = common::unique_topic("quota-client");
    const QUOTA: u64 = 256 * 1024;
    common::kafka_client_quota(&b, &client_id, QUOTA);
    std::thread::sleep(Duration::from_secs(1)); // the quota reaches every broker
    let p = producer(&b, &[("client.id", &client_id), ("linger.ms", "5"), ("request.timeout.ms", "10000")]);
    let pad = vec![b'q'; 1000];
    let started = Instant::now();
    let futures: Vec<(i32, u32, SendFuture)> = (0..1500u32)
        .map(|seq| {
            let partition = 0;
            let v = delivery::value(0, seq);
            let r = Record::new(&topic).key(&pad[..]).value(&v).partition(partition);
            (partition, seq, p.send(r).unwrap_or_else(|e| panic!("send {seq}: {e}")))
        })
        .collect();
    let sent = wait_all("under a produce quota", 0, futures);
    let took = started.elapsed();
    p.close(Duration::from_secs(10)).unwrap();
    let bytes = 1500 * 1000;
    let rate = bytes as f64 / took.as_secs_f64();
    eprintln!("produce quota {QUOTA} B/s: 1500 records of ~1 KB in {took:?}, {rate:.0} B/s");
    // The broker measures over its last 2 s (quota.window.*), so about 512 KiB go through before
    // throttling starts: at least 2.5 s for 1.5 MB, and not much slower than the quota.
    assert!(took >= Duration::from_millis(2500), "not throttled: {took:?}");
    assert!(rate >= QUOTA as f64 * 0.6, "far below the quota: {rate:.0} B/s");
    let got = consume(&b, &topic, 1, 1500);
    delivery::check("under a produce quota", &sent, &got, false);
}

// ---------------------------------------------------------------- the fault matrix, through proxies

/// One proxy in front of each Apache Kafka node (exclusive use of the cluster), and a producer
/// that talks to the cluster through them.
struct Proxied {
    _outage: common::faults::KafkaOutage,
    b: Broker,
    proxies: Vec<common::proxy::Proxy>,
}

impl Proxied {
    fn take() -> Proxied {
        let outage = common::faults::KafkaOutage::take();
        let b = outage.b.clone();
        let proxies = common::proxy::Proxy::cluster(&b.bootstrap);
        Proxied { _outage: outage, b, proxies }
    }
    fn producer(&self, props: &[(&str, &str)]) -> Producer {
        let via = Broker { bootstrap: common::proxy::cluster_bootstrap(&self.proxies), ..self.b.clone() };
        producer(&via, props)
    }
    fn proxy_of_leader(&self, topic: &str, partition: i32) -> &common::proxy::Proxy {
        &self.proxies[(common::leader(&self.b, topic, partition) - 1) as usize]
    }

    /// A fresh topic of `PARTITIONS` partitions and a producer through the proxies with `props`,
    /// one record acknowledged on every partition (connections up, producer id known).
    fn warmed(&self, what: &str, props: &[(&str, &str)]) -> (String, Producer) {
        let topic = common::unique_topic(what);
        common::create_topic(&self.b, &topic, PARTITIONS);
        let p = self.producer(props);
        for part in 0..PARTITIONS {
            p.send(Record::new(&topic).value("warm-up").partition(part)).unwrap().wait().unwrap();
        }
        (topic, p)
    }

    /// Streams 300 records of writer 0, calls `start` at record 100 and `heal` `lasting` later,
    /// then checks the independent reader's copy (nothing lost or reordered) and reports the row.
    fn stream_through_fault(
        &self,
        fault: &str,
        p: Producer,
        topic: &str,
        lasting: Duration,
        start: impl Fn(),
        heal: impl Fn(),
    ) {
        let futures = send_stream(&p, topic, 0, 0..300, |seq| {
            if seq == 100 {
                start();
            }
        });
        std::thread::sleep(lasting);
        heal();
        let healed = Instant::now();
        let sent = wait_all(fault, 0, futures);
        let recovery = healed.elapsed();
        p.close(Duration::from_secs(10)).unwrap();
        let got: Vec<common::Consumed> = consume(&self.b, topic, PARTITIONS, 303)
            .into_iter()
            .filter(|r| r.value.as_deref() != Some(&b"warm-up"[..]))
            .collect();
        let v = delivery::check(fault, &sent, &got, false);
        report(fault, sent.len(), v.duplicates, recovery);
    }
}

/// One line per fault for docs/reliability.md: `FAULT-MATRIX | fault | records | lost | dup |
/// reordered | recovery ms` (the check above passed, so lost and reordered are 0).
fn report(fault: &str, records: usize, duplicates: usize, recovery: Duration) {
    eprintln!("FAULT-MATRIX | {fault} | {records} | 0 | {duplicates} | 0 | {}", recovery.as_millis());
}

/// Fault matrix, slow broker: every response held 1.5 s, past `request.timeout.ms=1000`. The
/// producer times requests out, reconnects and retries under the same sequence numbers (the
/// broker stored most of the first attempts); once the delay ends every record is there once, in
/// order.
#[test]
fn a_broker_slower_than_request_timeout_loses_and_duplicates_nothing() {
    let px = Proxied::take();
    let props = [("request.timeout.ms", "1000"), ("delivery.timeout.ms", "60000"), ("linger.ms", "2")];
    let (topic, p) = px.warmed("faults-slow", &props);
    px.stream_through_fault(
        "broker slower than request.timeout.ms (1.5 s vs 1 s), 4 s",
        p,
        &topic,
        Duration::from_secs(4),
        || px.proxies.iter().for_each(|x| x.delay_responses(Duration::from_millis(1500))),
        || px.proxies.iter().for_each(|x| x.delay_responses(Duration::ZERO)),
    );
}

/// Fault matrix, network partition: the path to partition 0's leader black-holes everything (no
/// RST, no answer, new connections accepted and never answered) for 3 s, past
/// `request.timeout.ms`. Nothing is lost, duplicated or reordered once it heals.
#[test]
fn a_network_partition_to_a_leader_loses_and_duplicates_nothing() {
    let px = Proxied::take();
    let props = [
        ("request.timeout.ms", "1000"),
        ("socket.connection.setup.timeout.ms", "1000"),
        ("delivery.timeout.ms", "60000"),
        ("linger.ms", "2"),
    ];
    let (topic, p) = px.warmed("faults-partition", &props);
    let cut = px.proxy_of_leader(&topic, 0);
    px.stream_through_fault(
        "network partition to one leader (black hole), 3 s",
        p,
        &topic,
        Duration::from_secs(3),
        || cut.blackhole(true),
        || cut.blackhole(false),
    );
}

/// Fault matrix, every node unreachable past `delivery.timeout.ms`: every pending record fails
/// with a Timeout naming its partition, none hangs, and the producer delivers again once the
/// cluster is back.
#[test]
fn every_node_unreachable_past_the_delivery_timeout_fails_each_pending_record_and_recovers() {
    let px = Proxied::take();
    let (topic, p) = px.warmed(
        "faults-all-down",
        &[
            ("request.timeout.ms", "1000"),
            ("socket.connection.setup.timeout.ms", "1000"),
            ("delivery.timeout.ms", "3000"),
            ("linger.ms", "0"),
        ],
    );
    px.proxies.iter().for_each(|x| x.blackhole(true));
    let started = Instant::now();
    let futures = send_stream(&p, &topic, 0, 0..60, |_| {});
    for (part, seq, f) in &futures {
        let e = f.wait_timeout(Duration::from_secs(15)).expect_err("nothing can be delivered");
        assert_eq!(e.kind(), ErrorKind::Timeout, "record {seq}: {e}");
        assert!(e.to_string().contains(&format!("{topic}-{part}")), "record {seq}: {e}");
    }
    let failed_after = started.elapsed();
    assert!(failed_after < Duration::from_secs(10), "the last record failed after {failed_after:?}");
    px.proxies.iter().for_each(|x| x.blackhole(false));
    let healed = Instant::now();
    let md = p
        .send(Record::new(&topic).value(&delivery::value(1, 0)).partition(1))
        .unwrap()
        .wait_timeout(Duration::from_secs(30))
        .expect("delivered once the cluster is reachable again");
    let recovery = healed.elapsed();
    assert_eq!(md.partition(), 1);
    p.close(Duration::from_secs(10)).unwrap();
    eprintln!("FAULT-MATRIX | every node unreachable past delivery.timeout.ms (3 s) | 60 | 0 (each failed with a Timeout naming its partition, after {} ms at most) | 0 | 0 | {}", failed_after.as_millis(), recovery.as_millis());
}

/// Fault matrix, exhausted pool: 16 threads send behind a cluster that answers nothing, with a
/// 256 KiB `buffer.memory`. Each thread's `send` that finds no memory fails with BufferExhausted
/// after `max.block.ms` (not later), and every record accepted before resolves (here: a
/// delivery Timeout), none hangs.
#[test]
fn sixteen_threads_blocked_on_an_exhausted_pool_each_fail_after_max_block_and_lose_nothing() {
    let px = Proxied::take();
    let (topic, p) = px.warmed(
        "faults-pool",
        &[
            ("buffer.memory", "262144"),
            ("batch.size", "16384"),
            ("max.block.ms", "2000"),
            ("request.timeout.ms", "1000"),
            ("socket.connection.setup.timeout.ms", "1000"),
            ("delivery.timeout.ms", "8000"),
            ("linger.ms", "0"),
        ],
    );
    px.proxies.iter().for_each(|x| x.blackhole(true));
    let results: Vec<(Vec<SendFuture>, ErrorKind, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|t| {
                let (p, topic) = (p.clone(), topic.clone());
                s.spawn(move || {
                    let value = vec![b'p'; 1000];
                    let mut accepted = Vec::new();
                    loop {
                        let started = Instant::now();
                        match p.send(Record::new(&topic).partition(t % PARTITIONS).value(&value[..])) {
                            Ok(f) => accepted.push(f),
                            Err(e) => return (accepted, e.kind(), started.elapsed()),
                        }
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut accepted = 0;
    for (futures, kind, blocked) in &results {
        assert_eq!(*kind, ErrorKind::BufferExhausted);
        assert!(
            *blocked >= Duration::from_millis(1900) && *blocked < Duration::from_secs(4),
            "a send blocked {blocked:?} with max.block.ms=2000"
        );
        for f in futures {
            let e = f.wait_timeout(Duration::from_secs(20)).expect_err("nothing can be delivered");
            assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
            accepted += 1;
        }
    }
    px.proxies.iter().for_each(|x| x.blackhole(false));
    let healed = Instant::now();
    p.send(Record::new(&topic).value("after").partition(0))
        .unwrap()
        .wait()
        .expect("delivered after the outage");
    let recovery = healed.elapsed();
    p.close(Duration::from_secs(10)).unwrap();
    eprintln!("FAULT-MATRIX | 16 threads on an exhausted pool behind an unreachable cluster | {accepted} accepted | 0 (each failed with a delivery Timeout; every blocked send failed after max.block.ms) | 0 | 0 | {}", recovery.as_millis());
}
