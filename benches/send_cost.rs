//! What one `send` costs the application thread, with a broker draining the batches: thread CPU
//! time per send (CLOCK_THREAD_CPUTIME_ID around the send loop alone), heap allocations per
//! record on the sending threads (a counting global allocator), and records/s, for 1, 2, 4 and 8
//! threads sending to one shared partition or each to its own, and how often the sending
//! threads blocked (voluntary context switches: waiting for buffer memory) per 1,000 records.
//!
//! `KB_BENCH_BOOTSTRAP=host:port cargo bench --bench send_cost` (a topic `send-cost` with at
//! least 8 partitions must exist, or be auto-created with them; `KB_BENCH_THREADS=1,2` picks the
//! thread counts, `KB_BENCH_RECORDS` the records per thread, `KB_BENCH_PARTITIONS=each` or
//! `shared` one layout of partitions, `KB_BENCH_PIN=1` pins the sender thread to CPU 0 and the
//! sending threads to the others). `scripts/bench.sh --send-cost` starts
//! the mock cluster and runs it.

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

/// Pins the calling thread to `cpu` (`KB_BENCH_PIN=1`: the producer's sender thread, created
/// by the pinned main thread, runs on CPU 0 and the sending threads on the others, so that
/// the CPU per send is not blurred by the sender preempting the measured thread).
fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn pinning() -> Option<usize> {
    let on = std::env::var("KB_BENCH_PIN").is_ok_and(|v| v == "1");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (on && cpus > 1).then_some(cpus)
}

/// The calling thread's voluntary context switches so far (it blocked: for buffer memory).
fn thread_blocks() -> u64 {
    // SAFETY: a zeroed rusage is a valid out-parameter.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_THREAD with a valid rusage pointer.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    ru.ru_nvcsw as u64
}

struct Sample {
    cpu: Duration,
    allocations: u64,
    blocks: u64,
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
                    if let Some(cpus) = pinning() {
                        pin(1 + t % (cpus - 1));
                    }
                    let partition = if same_partition { 0 } else { t as i32 };
                    let (a0, c0, b0) = (allocations(), thread_cpu(), thread_blocks());
                    for _ in 0..per_thread {
                        let f = p.send(Record::new(topic).partition(partition).value(&value[..]));
                        drop(f.expect("send"));
                    }
                    Sample {
                        cpu: thread_cpu() - c0,
                        allocations: allocations() - a0,
                        blocks: thread_blocks() - b0,
                    }
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
    if pinning().is_some() {
        pin(0); // the sender thread inherits this
    }
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
    // `KB_BENCH_PARTITIONS=each` or `shared` runs only that layout (both by default).
    let layouts = std::env::var("KB_BENCH_PARTITIONS").unwrap_or_default();
    println!("threads,partitions,records_per_s,cpu_ns_per_send,allocations_per_record,blocks_per_1k_records");
    for threads in counts {
        for same in [false, true] {
            if (threads == 1 && same) || layouts == if same { "each" } else { "shared" } {
                continue;
            }
            let (rate, samples) = run(&p, &topic, threads, same, per_thread);
            let records = threads as u64 * per_thread;
            let cpu: Duration = samples.iter().map(|s| s.cpu).sum();
            let allocs: u64 = samples.iter().map(|s| s.allocations).sum();
            let blocks: u64 = samples.iter().map(|s| s.blocks).sum();
            println!(
                "{threads},{},{rate:.0},{:.0},{:.4},{:.2}",
                if same { "one shared" } else { "one each" },
                cpu.as_nanos() as f64 / records as f64,
                allocs as f64 / records as f64,
                blocks as f64 * 1000.0 / records as f64
            );
        }
    }
    p.close(Duration::from_secs(10)).expect("close");
}
