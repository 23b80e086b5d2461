//! A producer benchmark shaped like Kafka's `kafka-producer-perf-test`
//! (`org.apache.kafka.tools.ProducerPerformance`): same options, same payload, same output.
//!
//! ```text
//! cargo run --release --example producer_perf -- --bootstrap-servers localhost:9092 \
//!     --topic perf --num-records 1000000 --record-size 100 --throughput -1 \
//!     [--threads 1] [--payload-file FILE] [--producer-props acks=1 linger.ms=5 ...]
//! ```
//!
//! Each record's value is the same payload of `--record-size` random upper-case letters (as the
//! Java tool makes it), or, with `--payload-file`, one of the file's lines picked at random per
//! record. `--throughput` caps records/s over all threads (-1: no cap). A progress line comes
//! every 5 seconds; the last line is the Java tool's:
//! `N records sent, X records/sec (Y MB/sec), A ms avg latency, B ms max latency, C ms 50th,
//! D ms 95th, E ms 99th, F ms 99.9th.` Latency is measured from `send` to the record's callback.

#[path = "../benches/peers/perf_common.rs"]
mod perf_common;

use kafka_blocking::{Producer, ProducerConfig, Record};
use perf_common::{payloads, Stats};
use std::time::{Duration, Instant};

fn main() {
    let a = perf_common::args_or_exit();
    let mut config = ProducerConfig::new().bootstrap_servers(&a.bootstrap);
    for (k, v) in &a.props {
        config = config.set(k, v);
    }
    let producer = match Producer::new(config) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let stats = Stats::leak(a.num_records);
    let states: Vec<_> = (0..a.threads).map(|_| (producer.clone(), stats, a.topic.clone())).collect();
    let send = |(producer, stats, topic): &mut (Producer, &'static Stats, String), i: u64, payload: &[u8]| {
        let (sent_at, len, s) = (Instant::now(), payload.len(), *stats);
        // Each thread's every `sampling`-th record is sampled for the percentiles.
        let result = producer.send_with_callback(Record::new(topic).value(payload), move |r| match r {
            Ok(_) => s.record(i, sent_at.elapsed(), len),
            Err(e) => s.error(e.to_string()),
        });
        if let Err(e) = result {
            stats.error(e.to_string());
        }
    };
    let wait_until = |_: &(Producer, &'static Stats, String), due: Instant| {
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    };
    let flush = || {
        if let Err(e) = producer.flush() {
            eprintln!("flush: {e}");
        }
    };
    let elapsed = perf_common::run(&a, stats, payloads(&a), states, send, wait_until, flush);
    stats.print_total(elapsed);
    if let Err(e) = producer.close(Duration::from_secs(30)) {
        eprintln!("close: {e}");
    }
    std::process::exit(if stats.failed() > 0 { 1 } else { 0 });
}
