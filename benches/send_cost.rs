//! What one `send` costs the application thread, with a broker draining the batches: thread CPU
//! time per send (CLOCK_THREAD_CPUTIME_ID around the send loop alone), heap allocations per
//! record on the sending threads (a counting global allocator), and records/s, for 1, 2, 4 and 8
//! threads sending to one shared partition or each to its own.
//!
//! `KB_BENCH_BOOTSTRAP=host:port cargo bench --bench send_cost` (a topic `send-cost` with at
//! least 8 partitions must exist, or be auto-created with them; `KB_BENCH_THREADS=1,2` picks the
//! thread counts, `KB_BENCH_RECORDS` the records per thread). `scripts/bench.sh --send-cost`
//! starts the mock cluster and runs it.

use kafka_blocking::{Producer, ProducerConfig, Record};
use std::time::{Duration, Instant};

#[path = "../tests/common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations;

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid timespec out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

struct Sample {
    cpu: Duration,
    allocations: u64,
}

/// Each of `threads` threads sends `per_thread` 100-byte records; returns records/s and, per
/// thread, its send-loop CPU and allocations.
fn run(
    p: &Producer,
    topic: &str,
    threads: usize,
    same_partition: bool,
    per_thread: u64,
) -> (f64, Vec<Sample>) {
    let value = [b'x'; 100];
    let start = Instant::now();
    let samples = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let p = p.clone();
                s.spawn(move || {
                    let partition = if same_partition { 0 } else { t as i32 };
                    let (a0, c0) = (allocations(), thread_cpu());
                    for _ in 0..per_thread {
                        let f = p.send(Record::new(topic).partition(partition).value(&value[..]));
                        drop(f.expect("send"));
                    }
                    Sample { cpu: thread_cpu() - c0, allocations: allocations() - a0 }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
    });
    p.flush().expect("flush");
    let rate = (threads as u64 * per_thread) as f64 / start.elapsed().as_secs_f64();
    (rate, samples)
}

fn main() {
    // `cargo test --all-targets` also runs bench targets; measure only under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("send_cost: a benchmark; run it with `KB_BENCH_BOOTSTRAP=host:port cargo bench --bench send_cost`");
        return;
    }
    let Ok(bootstrap) = std::env::var("KB_BENCH_BOOTSTRAP") else {
        eprintln!("send_cost: set KB_BENCH_BOOTSTRAP to a broker (scripts/bench.sh --send-cost does)");
        std::process::exit(2);
    };
    let topic = std::env::var("KB_BENCH_TOPIC").unwrap_or_else(|_| "send-cost".into());
    let per_thread: u64 =
        std::env::var("KB_BENCH_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let p = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(&bootstrap)
            .set("acks", "1")
            .set("linger.ms", "5")
            .set("batch.size", "16384")
            .set("enable.idempotence", "false"),
    )
    .expect("producer");
    run(&p, &topic, 8, false, 20_000); // warm up: metadata, connections, pool buffers
    let counts: Vec<usize> = std::env::var("KB_BENCH_THREADS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 4, 8]);
    println!("threads,partitions,records_per_s,cpu_ns_per_send,allocations_per_record");
    for threads in counts {
        for same in [false, true] {
            if threads == 1 && same {
                continue;
            }
            let (rate, samples) = run(&p, &topic, threads, same, per_thread);
            let records = threads as u64 * per_thread;
            let cpu: Duration = samples.iter().map(|s| s.cpu).sum();
            let allocs: u64 = samples.iter().map(|s| s.allocations).sum();
            println!(
                "{threads},{},{rate:.0},{:.0},{:.4}",
                if same { "one shared" } else { "one each" },
                cpu.as_nanos() as f64 / records as f64,
                allocs as f64 / records as f64
            );
        }
    }
    p.close(Duration::from_secs(10)).expect("close");
}
