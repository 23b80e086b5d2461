//! Where records go: keyed records on the Java client's `murmur2(key) % partitions`, checked
//! for 2000 keys and several partition counts against an independent reference (librdkafka's
//! Java-compatible `murmur2_random` partitioner, through confluent-kafka) and against where the
//! independent consumer finds each record; keyless records on the uniform sticky partitioner
//! (runs of records on one partition, many partitions over many batches); and
//! `partitioner.ignore.keys=true` treating keyed records like keyless ones.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{
    all_brokers, consume, create_topic, mock, reference_partitions, unique_topic, Broker, Consumed,
};
use kafka_blocking::partitioner::partition_for_key;
use kafka_blocking::{Producer, ProducerConfig, Record, RecordMetadata};

fn producer(b: &Broker, props: &[(&str, &str)]) -> Producer {
    let mut config = ProducerConfig::new().bootstrap_servers(&b.bootstrap);
    for (k, v) in props {
        config = config.set(k, v);
    }
    Producer::new(config).unwrap_or_else(|e| panic!("[{}] Producer::new: {e}", b.name))
}

/// 2000 non-empty keys: text keys and binary keys of every length from 1 to 40 bytes (so every
/// murmur2 tail length and block count is covered).
fn keys() -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = (0..1000).map(|i| format!("user-{i}").into_bytes()).collect();
    for i in 0..1000u32 {
        let len = 1 + (i % 40) as usize;
        keys.push(
            (0..len).map(|j| (i.wrapping_mul(31).wrapping_add(j as u32 * 97) >> (j % 3)) as u8).collect(),
        );
    }
    keys
}

/// Sends one record per key (value = the key's index) and returns the metadata, in key order.
/// Sends record i with key `keys[i]` (or, unkeyed, with `keys[i]` as its value, which must be
/// the index in decimal, zero-padded as it likes); keyed values are the index.
fn send_all(b: &Broker, p: &Producer, topic: &str, keys: &[Vec<u8>], keyed: bool) -> Vec<RecordMetadata> {
    let futures: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let value = i.to_string();
            let r = if keyed { Record::new(topic).key(k).value(&value) } else { Record::new(topic).value(k) };
            p.send(r).unwrap_or_else(|e| panic!("[{}] send {i}: {e}", b.name))
        })
        .collect();
    futures.into_iter().map(|f| f.wait().unwrap_or_else(|e| panic!("[{}] delivery: {e}", b.name))).collect()
}

/// The partition the consumer found each record (by value = index) on, in index order.
fn where_read(got: &[Consumed], count: usize) -> Vec<i32> {
    let mut at = vec![-1; count];
    for r in got {
        let i: usize = std::str::from_utf8(r.value.as_deref().unwrap()).unwrap().parse().unwrap();
        assert_eq!(at[i], -1, "record {i} read twice");
        at[i] = r.partition;
    }
    at
}

#[test]
fn keyed_partitions_match_java_murmur2_reference_and_the_consumer_for_many_partition_counts() {
    let keys = keys();
    let brokers = all_brokers();
    for n in [1, 2, 3, 7, 12, 32] {
        // The independent reference, once per partition count.
        let reference_topic = unique_topic(&format!("partitioning-reference-{n}"));
        let m = mock();
        create_topic(&m, &reference_topic, n);
        let reference = reference_partitions(&m, &reference_topic, &keys);
        assert_eq!(reference.len(), keys.len());
        let ours: Vec<i32> = keys.iter().map(|k| partition_for_key(k, n)).collect();
        assert_eq!(
            ours, reference,
            "{n} partitions: partition_for_key differs from librdkafka's murmur2_random"
        );
        if n > 1 {
            let used: BTreeSet<i32> = reference.iter().copied().collect();
            assert_eq!(used.len(), n as usize, "{n} partitions: 2000 keys should cover every partition");
        }

        for b in &brokers {
            let topic = unique_topic(&format!("partitioning-keyed-{n}-{}", b.name));
            create_topic(b, &topic, n);
            let p = producer(b, &[("linger.ms", "5")]);
            let sent = send_all(b, &p, &topic, &keys, true);
            p.close(Duration::from_secs(10)).expect("close");
            let acked: Vec<i32> = sent.iter().map(RecordMetadata::partition).collect();
            assert_eq!(
                acked, reference,
                "[{}] {n} partitions: RecordMetadata partitions vs reference",
                b.name
            );
            let got = consume(b, &topic, n, keys.len());
            assert_eq!(
                where_read(&got, keys.len()),
                reference,
                "[{}] {n} partitions: where the consumer read",
                b.name
            );
        }
    }
}

/// Partition changes between consecutive records (in send order).
fn switches(partitions: &[i32]) -> usize {
    partitions.windows(2).filter(|w| w[0] != w[1]).count()
}

#[test]
fn keyless_records_stick_to_a_partition_per_batch_and_spread_over_many_batches() {
    for b in all_brokers() {
        let topic = unique_topic(&format!("partitioning-keyless-{}", b.name));
        create_topic(&b, &topic, 6);
        let p = producer(&b, &[("batch.size", "1024"), ("linger.ms", "0")]);
        let values: Vec<Vec<u8>> = (0..600).map(|i| format!("{i:0>100}").into_bytes()).collect();
        let sent = send_all(&b, &p, &topic, &values, false);
        p.close(Duration::from_secs(10)).expect("close");
        let parts: Vec<i32> = sent.iter().map(RecordMetadata::partition).collect();
        let used: BTreeSet<i32> = parts.iter().copied().collect();
        // ~60 batch.size worth of data (100-byte values): the sticky partition moves when a batch
        // is full (Java's KIP-794 rule), about 60 times, at random.
        assert!(used.len() >= 4, "[{}] keyless records used only partitions {used:?}", b.name);
        let s = switches(&parts);
        assert!(s >= 10, "[{}] the sticky partition moved only {s} times over ~60 batches", b.name);
        assert!(s <= 600 / 5, "[{}] {s} partition changes in 600 records: not sticky", b.name);
        let got = consume(&b, &topic, 6, values.len());
        assert_eq!(where_read(&got, values.len()), parts, "[{}] where the consumer read", b.name);
    }
}

#[test]
fn ignore_keys_makes_keyed_records_sticky() {
    let keys = keys();
    for b in all_brokers() {
        let topic = unique_topic(&format!("partitioning-ignore-keys-{}", b.name));
        create_topic(&b, &topic, 6);

        // 20 small records, well under one batch.size: all on one partition, though murmur2
        // would spread their keys.
        let few = &keys[..20];
        assert!(few.iter().map(|k| partition_for_key(k, 6)).collect::<BTreeSet<_>>().len() > 1);
        let p = producer(&b, &[("partitioner.ignore.keys", "true"), ("linger.ms", "50")]);
        let sent = send_all(&b, &p, &topic, few, true);
        let used: BTreeSet<i32> = sent.iter().map(RecordMetadata::partition).collect();
        assert_eq!(used.len(), 1, "[{}] ignore.keys: 20 small keyed records went to {used:?}", b.name);
        p.close(Duration::from_secs(10)).expect("close");
        let few_parts: Vec<i32> = sent.iter().map(RecordMetadata::partition).collect();
        let got = consume(&b, &topic, 6, few.len());
        assert_eq!(where_read(&got, few.len()), few_parts, "[{}] where the consumer read", b.name);

        // Many batches: sticky runs (not one partition per key), spread over partitions.
        let topic2 = unique_topic(&format!("partitioning-ignore-keys-many-{}", b.name));
        create_topic(&b, &topic2, 6);
        let p =
            producer(&b, &[("partitioner.ignore.keys", "true"), ("batch.size", "1024"), ("linger.ms", "0")]);
        let many = &keys[..600];
        let sent = send_all(&b, &p, &topic2, many, true);
        p.close(Duration::from_secs(10)).expect("close");
        let parts: Vec<i32> = sent.iter().map(RecordMetadata::partition).collect();
        let by_key: Vec<i32> = many.iter().map(|k| partition_for_key(k, 6)).collect();
        assert!(switches(&by_key) > 400, "precondition: murmur2 spreads these keys");
        let s = switches(&parts);
        assert!(
            s <= 600 / 5,
            "[{}] ignore.keys: {s} partition changes in 600 records: keys were used",
            b.name
        );
        assert!(
            parts.iter().copied().collect::<BTreeSet<_>>().len() >= 4,
            "[{}] ignore.keys: no spread",
            b.name
        );
        let got = consume(&b, &topic2, 6, many.len());
        assert_eq!(where_read(&got, many.len()), parts, "[{}] where the consumer read", b.name);
    }
}
