//! Criterion micro-benchmarks of the hot path without a broker: copying a record into a record
//! batch v2 buffer, sealing a full 16 KiB batch (header, CRC-32C, and each codec) of realistic
//! text, and the key partitioner.
//!
//! `cargo bench --bench micro` (add `-- seal` etc. to pick a group). What `send` costs on an
//! application thread, with a broker draining, is measured by `benches/send_cost.rs`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kafka_blocking::compression::CompressionType;
use kafka_blocking::producer::partitioner::partition_for_key;
use kafka_blocking::protocol::record_batch::{ProducerState, RecordBatchBuilder};
use std::hint::black_box;

const BATCH_SIZE: usize = 16384;
const TS: i64 = 1_700_000_000_000;

/// Log-line-like JSON records of about `len` bytes from a fixed vocabulary (compressible the way
/// real text is, unlike random letters or one repeated byte).
fn text_records(n: usize, len: usize) -> Vec<Vec<u8>> {
    const WORDS: [&str; 24] = [
        "order",
        "created",
        "shipped",
        "user",
        "checkout",
        "payment",
        "accepted",
        "warehouse",
        "eu-west-1",
        "retry",
        "latency_ms",
        "status",
        "ok",
        "error",
        "timeout",
        "item",
        "quantity",
        "price",
        "EUR",
        "session",
        "mobile",
        "web",
        "cart",
        "discount",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..n)
        .map(|i| {
            let mut s = format!("{{\"id\":{i},\"ts\":{},\"msg\":\"", TS + i as i64);
            while s.len() < len - 2 {
                s.push_str(WORDS[(next() % WORDS.len() as u64) as usize]);
                s.push(' ');
            }
            s.truncate(len - 2);
            s.push_str("\"}");
            s.into_bytes()
        })
        .collect()
}

/// A batch filled to `BATCH_SIZE` with `records`, cycling.
fn full_batch(records: &[Vec<u8>]) -> RecordBatchBuilder {
    let mut b = RecordBatchBuilder::new(Vec::with_capacity(BATCH_SIZE), TS);
    for (i, v) in records.iter().cycle().enumerate() {
        let ts = TS + i as i64;
        if b.size_in_bytes() + b.record_size(ts, None, Some(v), &[]) > BATCH_SIZE {
            break;
        }
        b.append(ts, None, Some(v), &[]);
    }
    b
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    let key = b"key-0001";
    for size in [100usize, 1000] {
        let value = &text_records(1, size)[0];
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("{size}B"), |bench| {
            let mut b = RecordBatchBuilder::new(Vec::with_capacity(BATCH_SIZE), TS);
            let mut ts = TS;
            bench.iter(|| {
                if b.size_in_bytes() + b.record_size(ts, Some(key), Some(value), &[]) > BATCH_SIZE {
                    let buf =
                        std::mem::replace(&mut b, RecordBatchBuilder::new(Vec::new(), TS)).into_buffer();
                    b = RecordBatchBuilder::new(buf, ts);
                }
                b.append(ts, Some(key), Some(black_box(value)), &[]);
                ts += 1;
            })
        });
    }
    g.finish();
}

fn seal(c: &mut Criterion) {
    let mut g = c.benchmark_group("seal");
    let records = text_records(400, 100);
    let template = full_batch(&records);
    g.throughput(Throughput::Bytes(template.size_in_bytes() as u64));
    for codec in CompressionType::ALL.into_iter().filter(|c| c.is_available()) {
        g.bench_function(codec.name(), |bench| {
            bench.iter_batched(
                || full_batch(&records),
                |b| {
                    let sealed = b.seal(codec, codec.default_level(), ProducerState::NONE).expect("seal");
                    black_box(sealed.len())
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn partitioner(c: &mut Criterion) {
    let mut g = c.benchmark_group("partitioner");
    g.throughput(Throughput::Elements(1));
    for key in [&b"key-0001"[..], &b"customer-3f2504e0-4f89-11d3-9a0c-0305e82c3301"[..]] {
        g.bench_function(format!("murmur2 {}B key", key.len()), |bench| {
            bench.iter(|| partition_for_key(black_box(key), 12))
        });
    }
    g.finish();
}

criterion_group!(benches, append, seal, partitioner);
criterion_main!(benches);
