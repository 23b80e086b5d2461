//! Encoding speed of the hot path without a broker: copying 100-byte records into a record batch
//! v2 buffer, and sealing batches with each codec. Prints records/s and MB/s.
//!
//! `cargo bench --bench record_batch`. Broker-backed benchmarks against librdkafka come with the
//! performance work; these numbers only bound what the encoder can do on one core.

use kafka_blocking::compression::CompressionType;
use kafka_blocking::protocol::record_batch::{ProducerState, RecordBatchBuilder};
use std::hint::black_box;
use std::time::{Duration, Instant};

const BATCH_SIZE: usize = 16384;

fn fill(buf: Vec<u8>, key: &[u8], value: &[u8]) -> RecordBatchBuilder {
    let mut b = RecordBatchBuilder::new(buf, 1_700_000_000_000);
    let mut ts = 1_700_000_000_000;
    loop {
        if b.size_in_bytes() + b.record_size(ts, Some(key), Some(value), &[]) > BATCH_SIZE {
            return b;
        }
        b.append(ts, Some(key), Some(value), &[]);
        ts += 1;
    }
}

fn run(name: &str, compression: CompressionType) {
    let key = b"key-0000";
    let value: Vec<u8> = (0..100u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut records = 0u64;
    let mut bytes = 0u64;
    let start = Instant::now();
    let mut buf = Vec::with_capacity(BATCH_SIZE);
    while start.elapsed() < Duration::from_secs(2) {
        let b = fill(buf, key, &value);
        records += b.record_count() as u64;
        bytes += b.record_count() as u64 * (key.len() + value.len()) as u64;
        let sealed = b.seal(compression, compression.default_level(), ProducerState::NONE).expect("seal");
        black_box(sealed.bytes());
        buf = sealed.into_buffer();
        buf.reserve(BATCH_SIZE);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{name:>8}: {:>12.0} records/s {:>8.1} MB/s of record payload (100-byte values, 16 KiB batches)",
        records as f64 / secs,
        bytes as f64 / secs / 1e6
    );
}

fn main() {
    // `cargo test --all-targets` also runs bench targets; measure only under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("record_batch: a benchmark; run it with `cargo bench --bench record_batch`");
        return;
    }
    for c in CompressionType::ALL {
        if c.is_available() {
            run(c.name(), c);
        }
    }
}
