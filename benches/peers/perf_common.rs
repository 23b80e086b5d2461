//! What the perf tools share (kafka-blocking's `examples/producer_perf.rs` and
//! `benches/peers/rdkafka_perf`): the `kafka-producer-perf-test` command line, the payload, and
//! the statistics with the Java tool's output lines. Included with `#[path]` by both.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Args {
    pub bootstrap: String,
    pub topic: String,
    pub num_records: u64,
    pub record_size: usize,
    pub throughput: f64,
    pub threads: usize,
    pub payload_file: Option<String>,
    pub props: Vec<(String, String)>,
}

pub const USAGE: &str = "usage: producer_perf --bootstrap-servers HOST:PORT --topic TOPIC --num-records N \
--record-size BYTES --throughput RECORDS_PER_SEC(-1 = unlimited) [--threads N] [--payload-file FILE] \
[--producer-props KEY=VALUE ...]";

pub fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        bootstrap: std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_default(),
        topic: String::new(),
        num_records: 0,
        record_size: 0,
        throughput: -1.0,
        threads: 1,
        payload_file: None,
        props: Vec::new(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    let num = |v: Option<&String>, name: &str| -> Result<f64, String> {
        v.ok_or(format!("{name} needs a value"))?.parse::<f64>().map_err(|e| format!("{name}: {e}"))
    };
    while i < args.len() {
        let v = args.get(i + 1);
        match args[i].as_str() {
            "--bootstrap-servers" => a.bootstrap = v.ok_or("--bootstrap-servers needs a value")?.clone(),
            "--topic" => a.topic = v.ok_or("--topic needs a value")?.clone(),
            "--num-records" => a.num_records = num(v, "--num-records")? as u64,
            "--record-size" => a.record_size = num(v, "--record-size")? as usize,
            "--throughput" => a.throughput = num(v, "--throughput")?,
            "--threads" => a.threads = (num(v, "--threads")? as usize).max(1),
            "--payload-file" => a.payload_file = Some(v.ok_or("--payload-file needs a value")?.clone()),
            "--producer-props" => {
                // Every following KEY=VALUE word, as the Java tool takes them.
                i += 1;
                while i < args.len() && !args[i].starts_with("--") {
                    let (k, val) = args[i]
                        .split_once('=')
                        .ok_or(format!("--producer-props expects KEY=VALUE, got {}", args[i]))?;
                    a.props.push((k.to_string(), val.to_string()));
                    i += 1;
                }
                continue;
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
        i += 2;
    }
    if a.bootstrap.is_empty() || a.topic.is_empty() || a.num_records == 0 {
        return Err(format!("--bootstrap-servers, --topic and --num-records are required\n{USAGE}"));
    }
    if a.record_size == 0 && a.payload_file.is_none() {
        return Err(format!("--record-size or --payload-file is required\n{USAGE}"));
    }
    Ok(a)
}

/// [`parse_args`], or the message and exit status 2.
pub fn args_or_exit() -> Args {
    parse_args().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    })
}

/// A small xorshift generator: the payload needs letters, not cryptography.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Latencies and counts, fed by the callbacks (which run on the producer's sender thread).
pub struct Stats {
    pub start: Instant,
    pub sampling: u64,
    // guards: everything below; only callbacks and the reporter take it.
    pub inner: Mutex<StatsInner>,
    pub completed: AtomicU64,
}

#[derive(Default)]
pub struct StatsInner {
    count: u64,
    bytes: u64,
    latency_sum: u128,
    max_ms: u64,
    samples: Vec<u32>,
    window_start: Option<Instant>,
    window_count: u64,
    window_bytes: u64,
    window_latency_sum: u128,
    window_max_ms: u64,
    pub errors: u64,
    first_error: Option<String>,
}

impl Stats {
    pub fn record(&self, iteration: u64, latency: Duration, bytes: usize) {
        let ms = latency.as_millis() as u64;
        let mut s = self.inner.lock().unwrap();
        s.count += 1;
        s.bytes += bytes as u64;
        s.latency_sum += latency.as_micros();
        s.max_ms = s.max_ms.max(ms);
        s.window_count += 1;
        s.window_bytes += bytes as u64;
        s.window_latency_sum += latency.as_micros();
        s.window_max_ms = s.window_max_ms.max(ms);
        if iteration % self.sampling == 0 {
            s.samples.push(ms.min(u32::MAX as u64) as u32);
        }
        // Written under the lock: a plain store, not a second read-modify-write per record.
        self.completed.store(s.count + s.errors, Ordering::Release);
    }

    pub fn error(&self, e: String) {
        let mut s = self.inner.lock().unwrap();
        s.errors += 1;
        s.first_error.get_or_insert(e);
        self.completed.store(s.count + s.errors, Ordering::Release);
    }

    pub fn print_window(&self) {
        let mut s = self.inner.lock().unwrap();
        let now = Instant::now();
        let start = *s.window_start.get_or_insert(self.start);
        let secs = now.duration_since(start).as_secs_f64().max(1e-9);
        if s.window_count > 0 {
            println!(
                "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
                s.window_count,
                s.window_count as f64 / secs,
                s.window_bytes as f64 / secs / (1024.0 * 1024.0),
                s.window_latency_sum as f64 / 1000.0 / s.window_count as f64,
                s.window_max_ms as f64
            );
        }
        s.window_start = Some(now);
        s.window_count = 0;
        s.window_bytes = 0;
        s.window_latency_sum = 0;
        s.window_max_ms = 0;
    }

    pub fn print_total(&self, elapsed: Duration) {
        let mut s = self.inner.lock().unwrap();
        let secs = elapsed.as_secs_f64().max(1e-9);
        s.samples.sort_unstable();
        let pct = |p: f64| -> u32 {
            if s.samples.is_empty() {
                0
            } else {
                s.samples[((p * s.samples.len() as f64) as usize).min(s.samples.len() - 1)]
            }
        };
        let (p50, p95, p99, p999) = (pct(0.5), pct(0.95), pct(0.99), pct(0.999));
        println!(
            "{} records sent, {:.6} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, \
             {p50} ms 50th, {p95} ms 95th, {p99} ms 99th, {p999} ms 99.9th.",
            s.count,
            s.count as f64 / secs,
            s.bytes as f64 / secs / (1024.0 * 1024.0),
            if s.count == 0 { 0.0 } else { s.latency_sum as f64 / 1000.0 / s.count as f64 },
            s.max_ms as f64
        );
        if s.errors > 0 {
            eprintln!("{} records failed; the first: {}", s.errors, s.first_error.as_deref().unwrap_or("?"));
        }
    }
}

impl Stats {
    /// The statistics of a whole run, alive until the process exits: callbacks borrow them
    /// without a reference count.
    pub fn leak(num_records: u64) -> &'static Stats {
        Box::leak(Box::new(Stats::new(num_records)))
    }

    pub fn new(num_records: u64) -> Stats {
        Stats {
            start: Instant::now(),
            sampling: (num_records / num_records.min(500_000)).max(1),
            inner: Mutex::new(StatsInner::default()),
            completed: AtomicU64::new(0),
        }
    }

    /// Prints a progress line every 5 s until `total` records completed.
    pub fn report_until(&self, total: u64) {
        let mut next = Instant::now() + Duration::from_secs(5);
        while self.completed.load(Ordering::Acquire) < total {
            std::thread::sleep(Duration::from_millis(50));
            if Instant::now() >= next {
                self.print_window();
                next += Duration::from_secs(5);
            }
        }
    }

    pub fn failed(&self) -> u64 {
        self.inner.lock().unwrap().errors
    }
}

/// The values to send: one payload of `record_size` random upper-case letters (the Java tool's),
/// or the non-empty lines of `payload_file`. Exits with a message on a bad file.
pub fn payloads(a: &Args) -> Vec<Vec<u8>> {
    let payloads: Vec<Vec<u8>> = match &a.payload_file {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => text.lines().filter(|l| !l.is_empty()).map(|l| l.as_bytes().to_vec()).collect(),
            Err(e) => {
                eprintln!("cannot read --payload-file {path}: {e}");
                std::process::exit(2);
            }
        },
        None => {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
            vec![(0..a.record_size).map(|_| b'A' + (rng.next() % 26) as u8).collect()]
        }
    };
    if payloads.is_empty() {
        eprintln!("--payload-file has no non-empty line");
        std::process::exit(2);
    }
    payloads
}

/// When record `i` of a thread sending `rate` records/s from `start` is due (Java's
/// ThroughputThrottler); `None` without a cap.
pub fn due(start: Instant, i: u64, rate: f64) -> Option<Instant> {
    (rate > 0.0).then(|| start + Duration::from_secs_f64(i as f64 / rate))
}

/// CPU time the calling thread has used (`CLOCK_THREAD_CPUTIME_ID`).
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs the benchmark: one thread per element of `states` sends its share of `a.num_records`
/// (throttled to `--throughput`, each record's payload picked at random from `payloads`) by
/// calling `send(state, i, payload)`; `wait_until(state, t)` is called instead of sleeping when a
/// thread is ahead of its schedule. A reporter prints a line every 5 s. When every thread is
/// done, `finish` (a flush) runs and the reporter ends with the last record. Returns the time
/// from the first send to the last completion. Prints (to stderr, so that stdout ends with the
/// Java tool's line) the sending threads' CPU time per record: what `send` costs the caller,
/// the tool's own per-record work (a callback, a timestamp) included.
pub fn run<S: Send + 'static>(
    a: &Args,
    stats: &'static Stats,
    payloads: Vec<Vec<u8>>,
    states: Vec<S>,
    send: impl Fn(&mut S, u64, &[u8]) + Send + Sync + 'static,
    wait_until: impl Fn(&S, Instant) + Send + Sync + 'static,
    finish: impl FnOnce(),
) -> Duration {
    use std::sync::Arc;
    let threads = states.len().max(1) as u64;
    let (per_thread, extra) = (a.num_records / threads, a.num_records % threads);
    let rate = if a.throughput > 0.0 { a.throughput / threads as f64 } else { -1.0 };
    let (payloads, send, wait_until) = (Arc::new(payloads), Arc::new(send), Arc::new(wait_until));
    let reporter = {
        let total = a.num_records;
        std::thread::spawn(move || stats.report_until(total))
    };
    let start = Instant::now();
    let senders: Vec<_> = states
        .into_iter()
        .enumerate()
        .map(|(t, mut state)| {
            let (payloads, send, wait_until) = (payloads.clone(), send.clone(), wait_until.clone());
            let n = per_thread + u64::from((t as u64) < extra);
            std::thread::spawn(move || {
                let cpu_at_start = thread_cpu();
                let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ (t as u64 + 1));
                for i in 0..n {
                    if let Some(due) = due(start, i, rate) {
                        if due > Instant::now() {
                            wait_until(&state, due);
                        }
                    }
                    let payload = &payloads[(rng.next() % payloads.len() as u64) as usize];
                    send(&mut state, i, payload);
                }
                thread_cpu().saturating_sub(cpu_at_start)
            })
        })
        .collect();
    let cpu: Duration = senders.into_iter().map(|s| s.join().unwrap_or_default()).sum();
    if a.throughput <= 0.0 {
        eprintln!(
            "sending threads' CPU: {:.0} ns per record (thread CPU clock, {} thread(s))",
            cpu.as_nanos() as f64 / a.num_records.max(1) as f64,
            threads
        );
    }
    finish();
    // As the Java tool: the clock stops when flush returns (every record acknowledged), not
    // when the reporter next looks (it sleeps 50 ms at a time, which rounded the time up).
    let elapsed = start.elapsed();
    let _ = reporter.join();
    elapsed
}
