//! The idempotent producer (on by default, as in Java 3.0+), proven against brokers we did not
//! write:
//!
//! - On Tansu, through the fault-injecting proxy of `tests/common/proxy.rs`: Produce responses are
//!   swallowed AFTER Tansu stored the batch, so the producer retries batches that are already
//!   stored. Tansu deduplicates a retried batch by producer id, epoch and sequence; it can only do
//!   so if the retry carries the batch's original stamp. Several threads write to several
//!   partitions; the independent consumer (confluent-kafka, straight from Tansu) reads nothing
//!   lost, nothing twice, and each writer's records in send order per partition. The same
//!   scenario with `enable.idempotence=false` stores duplicates, so the check can tell the two
//!   apart.
//! - On librdkafka's 3-broker mock cluster: injected Produce errors (NOT_LEADER_OR_FOLLOWER,
//!   NOT_ENOUGH_REPLICAS, OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID) and a broker going
//!   down and up are survived with nothing lost. The mock answers an injected error without
//!   storing the batch, so nothing may be duplicated there either, except after a broker outage
//!   (see that test). The mock checks no sequences of a non-transactional producer: it neither
//!   deduplicates a retried batch (so it cannot prove idempotence) nor refuses batches pipelined
//!   behind a refused one, so per-partition order after injected errors is checked with one
//!   request in flight (see `survives`); with five, exactly-once delivery is.
//! - The configuration rules (explicit conflicts are errors; a default idempotence yields to an
//!   explicit `acks=1`).
//! - Producer id, epoch and base sequences as stored in Tansu's batch headers: sequences per
//!   partition are contiguous.
//!
//! Run with `scripts/test.sh --test idempotence` (it starts the brokers).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::delivery::{self, send_stream, wait_all, SentRecords};
use common::proxy::Proxy;
use common::{batches, consume, create_topic, tansu, unique_topic, Consumed};
use kafka_blocking::{ErrorKind, Producer, ProducerConfig, Record, SendFuture};

use common::faults::PARTITIONS;

fn producer_on(bootstrap: &str, props: &[(&str, &str)]) -> Producer {
    let mut config = ProducerConfig::new().bootstrap_servers(bootstrap);
    for (k, v) in props {
        config = config.set(k, v);
    }
    Producer::new(config).unwrap_or_else(|e| panic!("Producer::new({props:?}): {e}"))
}

/// One "warm-up" record to each partition, each waited for: metadata, connections and the
/// producer id come first, before any fault is switched on.
fn warm_up(producer: &Producer, topic: &str, what: &str) {
    for p in 0..PARTITIONS {
        producer
            .send(Record::new(topic).value("warm-up").partition(p))
            .expect("send warm-up")
            .wait()
            .unwrap_or_else(|e| panic!("{what}: warm-up on partition {p}: {e}"));
    }
}

// ---------------------------------------------------------------- Tansu through the proxy

const WRITERS: u32 = 4;
const PER_WRITER: u32 = 400;

/// What one proxied run saw.
struct ProxiedRun {
    topic: String,
    sent: SentRecords,
    got: Vec<Consumed>,
    dropped: usize,
    produce_requests: usize,
}

/// `WRITERS` threads share one producer (through the proxy in front of Tansu) and each send
/// `PER_WRITER` numbered records round robin over `PARTITIONS` partitions, pausing now and then so
/// that many small Produce requests go out; every 7th Produce response (at most 5) is swallowed
/// after Tansu stored the batch. Everything stored is then read back directly from Tansu.
fn proxied_run(what: &str, props: &[(&str, &str)]) -> ProxiedRun {
    let b = tansu();
    let proxy = Proxy::start(&b.bootstrap);
    let topic = unique_topic(&format!("idem-proxy-{what}"));
    create_topic(&b, &topic, PARTITIONS);
    let mut all: Vec<(&str, &str)> = vec![("linger.ms", "1"), ("batch.size", "512")];
    all.extend_from_slice(props);
    let producer = producer_on(&proxy.addr(), &all);

    // Metadata, the connection and (when idempotent) the producer id first, undisturbed.
    warm_up(&producer, &topic, what);
    proxy.drop_every_nth_produce_response(7, 5);

    let start = Arc::new(Barrier::new(WRITERS as usize));
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            let producer = producer.clone();
            let topic = topic.clone();
            let start = start.clone();
            let what = what.to_string();
            std::thread::spawn(move || {
                start.wait();
                let futures: Vec<(i32, u32, SendFuture)> = (0..PER_WRITER)
                    .map(|seq| {
                        if seq % 5 == 4 {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        let partition = ((seq + w) % PARTITIONS as u32) as i32;
                        let f = producer
                            .send(Record::new(&topic).value(&delivery::value(w, seq)).partition(partition))
                            .unwrap_or_else(|e| panic!("{what}: writer {w} send {seq}: {e}"));
                        (partition, seq, f)
                    })
                    .collect();
                wait_all(&what, w, futures)
            })
        })
        .collect();
    let mut sent = SentRecords::new();
    for h in handles {
        sent.extend(h.join().expect("writer thread"));
    }
    producer.close(Duration::from_secs(10)).expect("close");
    let errors = proxy.errors();
    assert!(errors.is_empty(), "{what}: the proxy ran into problems: {errors:?}");

    // Read straight from Tansu, everything that is stored (the warm-up records too).
    let stored = delivery::stored_records(&b, &topic, PARTITIONS);
    let got: Vec<Consumed> = consume(&b, &topic, PARTITIONS, stored)
        .into_iter()
        .filter(|r| r.value.as_deref() != Some(&b"warm-up"[..]))
        .collect();
    ProxiedRun { topic, sent, got, dropped: proxy.dropped(), produce_requests: proxy.produce_requests() }
}

#[test]
fn idempotent_producer_stores_each_record_once_in_order_when_produce_responses_are_lost() {
    let run = proxied_run("idempotent", &[]);
    assert!(
        run.dropped >= 1,
        "the proxy swallowed no Produce response ({} requests): the scenario proves nothing",
        run.produce_requests
    );
    let v = delivery::check("idempotent, responses lost", &run.sent, &run.got, false);
    assert_eq!(v.duplicates, 0);
    assert_eq!(run.got.len(), run.sent.len(), "stored records");
    // On the wire: one producer id and epoch throughout (a lost response needs no epoch bump),
    // and each partition's base sequences contiguous from 0 (the warm-up record first): every
    // retry carried its batch's original sequence, and Tansu kept exactly one copy of it.
    let b = tansu();
    let mut stamps: Vec<(i64, i16)> = Vec::new();
    for part in 0..PARTITIONS {
        let stored = batches(&b, &run.topic, part);
        let mut expect_seq = 0;
        for batch in &stored {
            assert!(batch.producer_id >= 0, "partition {part}: {batch:?} has no producer id");
            assert_eq!(
                batch.base_sequence, expect_seq,
                "partition {part}: batch at offset {} breaks the sequence: {stored:?}",
                batch.base_offset
            );
            expect_seq += batch.records;
            if !stamps.contains(&(batch.producer_id, batch.producer_epoch)) {
                stamps.push((batch.producer_id, batch.producer_epoch));
            }
        }
    }
    assert_eq!(stamps.len(), 1, "producer id and epoch of the stored batches: {stamps:?}");
    eprintln!(
        "idempotent: {} records in {} Produce requests, {} responses swallowed, 0 duplicates",
        run.sent.len(),
        run.produce_requests,
        run.dropped
    );
}

#[test]
fn without_idempotence_the_same_lost_responses_store_duplicates() {
    let run = proxied_run("not-idempotent", &[("enable.idempotence", "false"), ("acks", "all")]);
    assert!(run.dropped >= 1, "the proxy swallowed no Produce response ({} requests)", run.produce_requests);
    // Nothing lost; order is not promised without idempotence (5 requests in flight), so only
    // loss and duplicates are counted here.
    let mut counts: HashMap<(u32, u32), usize> = HashMap::new();
    for r in &run.got {
        *counts.entry(delivery::parse(r.value.as_deref())).or_insert(0) += 1;
    }
    let missing: Vec<String> = run
        .sent
        .iter()
        .filter(|(_, w, s)| !counts.contains_key(&(*w, *s)))
        .map(|(_, w, s)| delivery::value(*w, *s))
        .take(10)
        .collect();
    assert!(missing.is_empty(), "acknowledged but never read (first 10): {missing:?}");
    assert_eq!(counts.len(), run.sent.len(), "read records that were never sent");
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    eprintln!(
        "not idempotent: {} records in {} Produce requests, {} responses swallowed, {duplicates} duplicates",
        run.sent.len(),
        run.produce_requests,
        run.dropped
    );
    assert!(
        duplicates >= 1,
        "{} Produce responses were swallowed after Tansu stored their batches, yet no record was \
         stored twice without idempotence: the idempotence test above would prove nothing",
        run.dropped
    );
}

// ---------------------------------------------------------------- the mock cluster

use common::faults::MockFaults as Faults;

/// Every sent record read exactly once, on its partition; order not checked.
fn check_exactly_once_unordered(what: &str, sent: &SentRecords, got: &[Consumed]) {
    let mut counts: HashMap<(u32, u32), (i32, usize)> = HashMap::new();
    for r in got {
        let e = counts.entry(delivery::parse(r.value.as_deref())).or_insert((r.partition, 0));
        e.1 += 1;
    }
    for &(p, w, s) in sent {
        match counts.remove(&(w, s)) {
            Some((got_p, 1)) => {
                assert_eq!(got_p, p, "{what}: {} read from partition {got_p}", delivery::value(w, s))
            }
            Some((_, n)) => panic!("{what}: {} stored {n} times", delivery::value(w, s)),
            None => panic!("{what}: {} acknowledged but never read", delivery::value(w, s)),
        }
    }
    assert!(counts.is_empty(), "{what}: read records that were never acknowledged: {counts:?}");
}

/// Streams 900 records on an idempotent producer with `in_flight` requests per connection into a
/// fresh topic, runs `inject` once 300 are queued, then, to show the producer recovered, sends 30
/// more one at a time. Checks every record was stored exactly once; with one request in flight,
/// also in send order per partition.
///
/// Why order is only checked with one request in flight here: librdkafka's mock checks producer
/// id, epoch and sequence only for TRANSACTIONAL producers (`rd_kafka_mock_validate_records`
/// returns early without a transactional id). When it refuses batch k with an injected error,
/// batches k+1.. already pipelined behind it on the same connection are stored, and k lands after
/// them when retried. A real broker refuses k+1.. with OUT_OF_ORDER_SEQUENCE_NUMBER, and the
/// producer sends them again after k, which the Tansu test above proves with 5 in flight.
fn survives(f: &Faults, what: &str, inject: &str, in_flight: usize) -> (String, SentRecords) {
    let what = format!("{what}, {in_flight} in flight");
    let topic = f.topic(&what.replace([',', ' '], "-"));
    let in_flight_s = in_flight.to_string();
    let p = producer_on(
        &f.b.bootstrap,
        &[
            ("linger.ms", "2"),
            ("batch.size", "1024"),
            ("max.in.flight.requests.per.connection", &in_flight_s),
        ],
    );
    let warm = send_stream(&p, &topic, 0, 0..30, |_| {});
    let mut sent = wait_all(&what, 0, warm);
    let futures = send_stream(&p, &topic, 1, 0..900, |seq| {
        if seq == 300 {
            f.ctl(inject);
        }
    });
    sent.extend(wait_all(&what, 1, futures));
    // Recovered: the producer goes on producing after the errors, one record at a time too.
    for seq in 900..930 {
        let partition = (seq % PARTITIONS as u32) as i32;
        p.send(Record::new(&topic).value(&delivery::value(1, seq)).partition(partition))
            .unwrap_or_else(|e| panic!("{what}: send {seq} after the errors: {e}"))
            .wait()
            .unwrap_or_else(|e| panic!("{what}: record {seq} after the errors: {e:?}"));
        sent.push((partition, 1, seq));
    }
    p.close(Duration::from_secs(10)).expect("close");
    let got = consume(&f.b, &topic, PARTITIONS, sent.len());
    if in_flight == 1 {
        delivery::check(&what, &sent, &got, false);
    } else {
        check_exactly_once_unordered(&what, &sent, &got);
    }
    (topic, sent)
}

#[test]
fn injected_not_leader_and_not_enough_replicas_lose_and_duplicate_nothing() {
    let f = Faults::take();
    for in_flight in [1, 5] {
        survives(&f, "retriable", "err 0 6 19 6 19 6 19", in_flight);
    }
}

/// OUT_OF_ORDER_SEQUENCE_NUMBER (45) and UNKNOWN_PRODUCER_ID (59) leave the producer's sequences
/// out of step with the broker's: the producer bumps its epoch (the mock refuses that for an
/// idempotent producer with INVALID_PRODUCER_ID_MAPPING, so the producer takes a new producer id)
/// and sends the refused batch, and everything after it, stamped anew.
fn sequence_error_is_recovered(code: i16, what: &str) {
    let f = Faults::take();
    for in_flight in [1, 5] {
        let (topic, _) = survives(&f, what, &format!("err 0 {code}"), in_flight);
        // The stored batches show the new stamp: another producer id or epoch than the first
        // batches'.
        let mut stamps: Vec<(i64, i16)> = Vec::new();
        for part in 0..PARTITIONS {
            for b in batches(&f.b, &topic, part) {
                assert!(b.producer_id >= 0, "{what}: partition {part}: batch {b:?} has no producer id");
                if !stamps.contains(&(b.producer_id, b.producer_epoch)) {
                    stamps.push((b.producer_id, b.producer_epoch));
                }
            }
        }
        assert!(
            stamps.len() >= 2,
            "{what}, {in_flight} in flight: every stored batch has the same producer id and epoch \
             {stamps:?}: no epoch bump and no new id after error {code}"
        );
    }
}

#[test]
fn injected_out_of_order_sequence_is_recovered_with_a_new_epoch_or_id() {
    sequence_error_is_recovered(45, "out-of-order-sequence");
}

#[test]
fn injected_unknown_producer_id_is_recovered_with_a_new_epoch_or_id() {
    sequence_error_is_recovered(59, "unknown-producer-id");
}

/// Broker 2 (leader of partition 1) goes down while records stream and comes back 1.5 s later.
/// Taking a broker down cuts its connections, possibly after it stored a request whose response
/// is then lost; the producer retries that batch under its original stamp, which a real broker
/// (and Tansu, above) recognises as a duplicate, but the mock cluster stores it again. So here:
/// nothing lost, first occurrences in send order, and duplicates only on the partition whose
/// leader went down.
#[test]
fn broker_down_then_up_loses_nothing_and_keeps_order() {
    let f = Faults::take();
    let topic = f.topic("down-up");
    let p = producer_on(&f.b.bootstrap, &[("linger.ms", "2")]);
    let mut down_at = None;
    let mut futures = send_stream(&p, &topic, 0, 0..1200, |seq| {
        if seq == 300 {
            f.ctl("brokerdown 2");
            down_at = Some(Instant::now());
        }
    });
    std::thread::sleep(Duration::from_millis(1500).saturating_sub(down_at.unwrap().elapsed()));
    let (_, last_seq, last) = futures.iter().rev().find(|(p, _, _)| *p == 1).unwrap();
    assert!(!last.is_done(), "record {last_seq} (partition 1) resolved while its leader was down");
    f.ctl("brokerup 2");
    futures.extend(send_stream(&p, &topic, 0, 1200..1500, |_| {}));
    let sent = wait_all("broker down/up", 0, futures);
    p.close(Duration::from_secs(10)).expect("close");
    let stored = delivery::stored_records(&f.b, &topic, PARTITIONS);
    let got = consume(&f.b, &topic, PARTITIONS, stored);
    let v = delivery::check("broker down/up", &sent, &got, true);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in &got {
        let n = seen.entry(String::from_utf8_lossy(r.value.as_deref().unwrap()).into_owned()).or_insert(0);
        *n += 1;
        if *n > 1 {
            assert_eq!(
                r.partition, 1,
                "a duplicate on partition {}, whose leader never went down",
                r.partition
            );
        }
    }
    eprintln!(
        "broker down/up: {} records, {} duplicate(s) stored again by the mock",
        sent.len(),
        v.duplicates
    );
}

// ---------------------------------------------------------------- configuration

#[test]
fn explicit_idempotence_with_acks_1_is_a_configuration_error_naming_both() {
    let config = ProducerConfig::new()
        .bootstrap_servers(&tansu().bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "1");
    let e = Producer::new(config).expect_err("enable.idempotence=true with acks=1 must be refused");
    assert_eq!(e.kind(), ErrorKind::Config, "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("enable.idempotence"), "{msg}");
    assert!(msg.contains("acks"), "{msg}");
}

#[test]
fn explicit_idempotence_with_six_in_flight_is_a_configuration_error() {
    let config = ProducerConfig::new()
        .bootstrap_servers(&tansu().bootstrap)
        .set("enable.idempotence", "true")
        .set("max.in.flight.requests.per.connection", "6");
    let e = Producer::new(config).expect_err("idempotence with 6 requests in flight must be refused");
    assert_eq!(e.kind(), ErrorKind::Config, "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("enable.idempotence"), "{msg}");
    assert!(msg.contains("max.in.flight.requests.per.connection"), "{msg}");
}

#[test]
fn default_idempotence_yields_to_explicit_acks_1_and_records_are_delivered() {
    for b in [common::kafka(), tansu()] {
        let topic = unique_topic("idem-acks1");
        create_topic(&b, &topic, 1);
        let p = producer_on(&b.bootstrap, &[("acks", "1")]);
        let futures: Vec<_> = (0..20)
            .map(|seq| {
                let f =
                    p.send(Record::new(&topic).value(&delivery::value(0, seq)).partition(0)).expect("send");
                (0, seq, f)
            })
            .collect();
        let sent = wait_all("acks=1", 0, futures);
        p.close(Duration::from_secs(10)).expect("close");
        let got = consume(&b, &topic, 1, sent.len());
        delivery::check(&format!("[{}] acks=1", b.name), &sent, &got, false);
        // Idempotence is off: the batches carry no producer id.
        for batch in batches(&b, &topic, 0) {
            assert_eq!((batch.producer_id, batch.base_sequence), (-1, -1), "[{}] {batch:?}", b.name);
        }
    }
}

// ---------------------------------------------------------------- sequences on the wire

#[test]
fn stored_batches_carry_the_producer_id_and_contiguous_sequences() {
    for b in [common::kafka(), tansu()] {
        stored_batches_carry_the_producer_id_and_contiguous_sequences_on(&b);
    }
}

fn stored_batches_carry_the_producer_id_and_contiguous_sequences_on(b: &common::Broker) {
    let topic = unique_topic("idem-sequences");
    create_topic(b, &topic, PARTITIONS);
    // Small batches, so each partition gets many.
    let p = producer_on(&b.bootstrap, &[("linger.ms", "1"), ("batch.size", "512")]);
    let futures = send_stream(&p, &topic, 0, 0..600, |_| {});
    let sent = wait_all("sequences", 0, futures);
    p.close(Duration::from_secs(10)).expect("close");
    let got = consume(b, &topic, PARTITIONS, sent.len());
    delivery::check("sequences", &sent, &got, false);

    let mut ids: BTreeMap<(i64, i16), usize> = BTreeMap::new();
    for part in 0..PARTITIONS {
        let stored = batches(b, &topic, part);
        assert!(stored.len() >= 3, "partition {part}: only {} batch(es): {stored:?}", stored.len());
        let mut expect_seq = 0;
        for batch in &stored {
            assert!(batch.producer_id >= 0, "partition {part}: {batch:?} has no producer id");
            assert!(batch.producer_epoch >= 0, "partition {part}: {batch:?}");
            assert!(!batch.transactional, "partition {part}: {batch:?}");
            assert_eq!(
                batch.base_sequence, expect_seq,
                "partition {part}: batch at offset {} has base sequence {}, expected {expect_seq} \
                 (previous base sequence + record count): {stored:?}",
                batch.base_offset, batch.base_sequence
            );
            expect_seq += batch.records;
            *ids.entry((batch.producer_id, batch.producer_epoch)).or_insert(0) += 1;
        }
        let records: i32 = stored.iter().map(|b| b.records).sum();
        assert_eq!(records as usize, sent.iter().filter(|(p, _, _)| *p == part).count());
    }
    assert_eq!(ids.len(), 1, "one producer id and epoch for the whole run: {ids:?}");
}

/// KIP-360: a batch that was sent and then expired (its requests kept timing out on a slow
/// leader) leaves a sequence gap. The producer must close it with a new epoch (or, on the mock,
/// a new producer id) instead of failing every later record of the partition.
#[test]
fn an_expired_in_flight_batch_does_not_poison_later_sends() {
    let f = Faults::take();
    let topic = f.topic("expired");
    let p = producer_on(
        &f.b.bootstrap,
        &[
            ("linger.ms", "0"),
            ("request.timeout.ms", "300"),
            ("delivery.timeout.ms", "1500"),
            ("retry.backoff.ms", "50"),
        ],
    );
    p.send(Record::new(&topic).partition(0).value("warm-up")).unwrap().wait().unwrap();
    // Partition 0's leader now answers too late: its batch times out, is retried, and expires.
    f.ctl("rtt 1 2000");
    let e = p.send(Record::new(&topic).partition(0).value("lost")).unwrap().wait().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(
        e.to_string().contains(&format!("{topic}-0")) && e.to_string().contains("delivery.timeout.ms"),
        "{e}"
    );
    f.ctl("rtt 1 0");
    // Later records of the same partition are delivered.
    for i in 0..20 {
        let v = format!("after-{i}");
        p.send(Record::new(&topic).partition(0).value(&v))
            .unwrap()
            .wait()
            .unwrap_or_else(|e| panic!("record {i} after the expiry failed: {e}"));
    }
    p.close(std::time::Duration::from_secs(10)).unwrap();
    // The mock does not check sequences itself, so prove the gap was closed: the records after
    // the expiry carry a new (producer id, epoch) (the mock refuses the bump, so a new id).
    let stamps: Vec<(i64, i16)> = batches(&f.b, &topic, 0)
        .iter()
        .filter(|x| !x.control)
        .map(|x| (x.producer_id, x.producer_epoch))
        .collect();
    let (first, last) = (stamps.first().copied().unwrap(), stamps.last().copied().unwrap());
    assert!(first.0 >= 0, "idempotent batches: {stamps:?}");
    assert_ne!(first, last, "a new epoch or producer id after the expired batch: {stamps:?}");
}

// ---------------------------------------------------------------- Apache Kafka: lost responses and a killed leader

/// Apache Kafka 4.4, 3 nodes, replication factor 3, `min.insync.replicas=2`, the producer's
/// defaults (acks=all, idempotence, 5 requests in flight per connection), a proxy in front of
/// every node's client listener. `WRITERS` threads stream numbered records to 3 partitions; the
/// proxies swallow every 7th Produce response after the broker stored the batch (at most 5 per
/// node), and the leader of partition 0 is SIGKILLed a third of the way in and started again at
/// the end. The broker's own sequence checks are in play (a retried stored batch is answered
/// DUPLICATE_SEQUENCE_NUMBER or with its offset; batches pipelined behind a refused one with
/// OUT_OF_ORDER_SEQUENCE_NUMBER). Read back straight from the cluster by confluent-kafka with
/// CRC checks: 0 lost, 0 duplicated, 0 reordered per partition and writer.
#[test]
fn apache_kafka_stores_each_record_once_in_order_with_lost_responses_and_a_killed_leader() {
    let outage = common::faults::KafkaOutage::take();
    let b = outage.b.clone();
    let topic = outage.topic("idem-kafka", PARTITIONS);
    let proxies = Proxy::cluster(&b.bootstrap);
    let producer = producer_on(
        &common::proxy::cluster_bootstrap(&proxies),
        &[("linger.ms", "1"), ("batch.size", "512"), ("request.timeout.ms", "10000")],
    );
    warm_up(&producer, &topic, "apache kafka");
    let victim = common::leader(&b, &topic, 0);
    for proxy in &proxies {
        proxy.drop_every_nth_produce_response(7, 5);
    }

    let started = Instant::now();
    let killed_at = Arc::new(std::sync::Mutex::new(None));
    let start = Arc::new(Barrier::new(WRITERS as usize));
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (producer, topic, start, killed_at) =
                (producer.clone(), topic.clone(), start.clone(), killed_at.clone());
            let control = b.clone();
            std::thread::spawn(move || {
                start.wait();
                let futures = send_stream(&producer, &topic, w, 0..PER_WRITER, |seq| {
                    if w == 0 && seq == PER_WRITER / 3 {
                        common::kafka_control(&control, &format!("kill {victim}"));
                        *killed_at.lock().unwrap() = Some(Instant::now());
                    }
                });
                wait_all("apache kafka, lost responses and a killed leader", w, futures)
            })
        })
        .collect();
    let mut sent = SentRecords::new();
    for h in handles {
        sent.extend(h.join().expect("writer thread"));
    }
    let all_acked = started.elapsed();
    let killed_at = killed_at.lock().unwrap().expect("the leader was killed mid-stream");
    producer.close(Duration::from_secs(10)).expect("close");
    let dropped: usize = proxies.iter().map(Proxy::dropped).sum();
    let produce_requests: usize = proxies.iter().map(Proxy::produce_requests).sum();
    drop(proxies);
    outage.start(victim);

    assert!(dropped >= 1, "no Produce response was swallowed ({produce_requests} requests): proves nothing");
    let stored = delivery::stored_records(&b, &topic, PARTITIONS);
    let got: Vec<Consumed> = consume(&b, &topic, PARTITIONS, stored)
        .into_iter()
        .filter(|r| r.value.as_deref() != Some(&b"warm-up"[..]))
        .collect();
    let v = delivery::check("apache kafka, lost responses and a killed leader", &sent, &got, false);
    assert_eq!(v.duplicates, 0);
    assert_eq!(got.len(), sent.len(), "stored records");
    eprintln!(
        "apache kafka: {} records, {produce_requests} Produce requests, {dropped} responses swallowed, \
         leader {victim} killed {} ms in; all acknowledged {} ms after the kill; 0 lost, 0 duplicated, 0 reordered",
        sent.len(),
        killed_at.duration_since(started).as_millis(),
        all_acked.saturating_sub(killed_at.duration_since(started)).as_millis()
    );
}
