//! One `Producer`, shared (cloned) by many application threads sending at once to many
//! partitions: every future resolves Ok, and the independent consumer reads every record exactly
//! once, on the partition its future named, with each thread's records to a partition in the
//! order that thread sent them. On Tansu and on librdkafka's mock cluster.

mod common;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::delivery::{self, SentRecords};
use common::{all_brokers, consume, create_topic, unique_topic, Broker};
use kafka_blocking::{Producer, ProducerConfig, Record};

const THREADS: u32 = 8;
const PARTITIONS: i32 = 6;
const PER_THREAD: u32 = 300;

/// `THREADS` threads each send `PER_THREAD` records through clones of one producer: even threads
/// with explicit partitions (round robin), odd threads keyed (`t<thread>-k<seq % 10>`, so several
/// keys of one thread share a partition). Returns what was acknowledged.
fn send_from_threads(b: &Broker, topic: &str, producer: &Producer) -> SentRecords {
    let start = Arc::new(Barrier::new(THREADS as usize));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let producer = producer.clone();
            let topic = topic.to_string();
            let start = start.clone();
            let name = b.name;
            std::thread::spawn(move || {
                start.wait();
                let mut futures = Vec::with_capacity(PER_THREAD as usize);
                for seq in 0..PER_THREAD {
                    let value = delivery::value(t, seq);
                    let key = format!("t{t}-k{}", seq % 10);
                    let record = if t % 2 == 0 {
                        Record::new(&topic).value(&value).partition(((seq + t) % PARTITIONS as u32) as i32)
                    } else {
                        Record::new(&topic).key(&key).value(&value)
                    };
                    let f = producer
                        .send(record)
                        .unwrap_or_else(|e| panic!("[{name}] thread {t} send {seq}: {e}"));
                    futures.push((seq, f));
                }
                futures
                    .into_iter()
                    .map(|(seq, f)| {
                        let md = f.wait().unwrap_or_else(|e| panic!("[{name}] thread {t} record {seq}: {e}"));
                        assert_eq!(md.topic(), topic);
                        if t % 2 == 0 {
                            assert_eq!(md.partition(), ((seq + t) % PARTITIONS as u32) as i32);
                        }
                        assert!(md.offset() >= 0, "[{name}] thread {t} record {seq}: offset {}", md.offset());
                        (md.partition(), t, seq, md.offset())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut acked = Vec::new();
    for h in handles {
        acked.extend(h.join().expect("a sending thread panicked"));
    }
    // Two records never get the same (partition, offset).
    let mut slots: Vec<(i32, i64)> = acked.iter().map(|&(p, _, _, o)| (p, o)).collect();
    slots.sort_unstable();
    slots.dedup();
    assert_eq!(
        slots.len(),
        acked.len(),
        "[{}] two records acknowledged at the same partition/offset",
        b.name
    );
    acked.into_iter().map(|(p, t, s, _)| (p, t, s)).collect()
}

fn run(props: &[(&str, &str)], what: &str) {
    for b in all_brokers() {
        let topic = unique_topic(&format!("concurrency-{what}-{}", b.name));
        create_topic(&b, &topic, PARTITIONS);
        let mut config = ProducerConfig::new().bootstrap_servers(&b.bootstrap);
        for (k, v) in props {
            config = config.set(k, v);
        }
        let producer = Producer::new(config).unwrap_or_else(|e| panic!("[{}] Producer::new: {e}", b.name));
        let sent = send_from_threads(&b, &topic, &producer);
        producer.close(Duration::from_secs(10)).unwrap_or_else(|e| panic!("[{}] close: {e}", b.name));
        assert_eq!(sent.len(), (THREADS * PER_THREAD) as usize);

        let got = consume(&b, &topic, PARTITIONS, sent.len());
        delivery::check(&format!("[{}] {what}", b.name), &sent, &got, false);
        // Every partition was used (explicit round robin covers them all).
        for p in 0..PARTITIONS {
            assert!(got.iter().any(|r| r.partition == p), "[{}] {what}: partition {p} got nothing", b.name);
        }
    }
}

#[test]
fn eight_threads_share_one_producer_nothing_lost_duplicated_or_reordered() {
    run(&[], "default");
}

#[test]
fn many_small_requests_in_flight_keep_per_thread_partition_order() {
    // linger.ms=0 and a small batch.size: hundreds of small batches, up to 5 requests in flight
    // per connection while eight threads keep appending.
    run(&[("linger.ms", "0"), ("batch.size", "512")], "small-batches");
}
