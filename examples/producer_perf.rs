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

use kafka_blocking::{Producer, ProducerConfig, Record};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../benches/peers/perf_common.rs"]
mod perf_common;

use perf_common::{parse_args, payloads, Rng, Stats};

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let payloads = Arc::new(payloads(&a));
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
    let stats = Arc::new(Stats::new(a.num_records));
    let per_thread = a.num_records / a.threads as u64;
    let extra = a.num_records % a.threads as u64;
    let rate_per_thread = if a.throughput > 0.0 { a.throughput / a.threads as f64 } else { -1.0 };
    let start = Instant::now();
    let senders: Vec<_> = (0..a.threads)
        .map(|t| {
            let (producer, stats, payloads, topic) =
                (producer.clone(), stats.clone(), payloads.clone(), a.topic.clone());
            let n = per_thread + u64::from((t as u64) < extra);
            std::thread::spawn(move || {
                let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ (t as u64 + 1));
                for i in 0..n {
                    if let Some(due) = perf_common::due(start, i, rate_per_thread) {
                        let now = Instant::now();
                        if due > now {
                            std::thread::sleep(due - now);
                        }
                    }
                    let payload = &payloads[(rng.next() % payloads.len() as u64) as usize];
                    let sent_at = Instant::now();
                    let len = payload.len();
                    let iteration = i; // each thread's every `sampling`-th record is sampled
                    let s = stats.clone();
                    let result =
                        producer.send_with_callback(Record::new(&topic).value(payload), move |r| match r {
                            Ok(_) => s.record(iteration, sent_at.elapsed(), len),
                            Err(e) => s.error(e.to_string()),
                        });
                    if let Err(e) = result {
                        stats.error(e.to_string());
                    }
                }
            })
        })
        .collect();
    let reporter = {
        let stats = stats.clone();
        let total = a.num_records;
        std::thread::spawn(move || stats.report_until(total))
    };
    for s in senders {
        let _ = s.join();
    }
    if let Err(e) = producer.flush() {
        eprintln!("flush: {e}");
    }
    let _ = reporter.join();
    stats.print_total(start.elapsed());
    if let Err(e) = producer.close(Duration::from_secs(30)) {
        eprintln!("close: {e}");
    }
    std::process::exit(if stats.failed() > 0 { 1 } else { 0 });
}
