//! A bounded soak: steady sending for some minutes, optionally with the nodes of the test
//! cluster stopped and started in turn, printing resident memory, threads and open descriptors
//! as it goes. Every record must be acknowledged; the process's footprint must stay flat.
//!
//! ```text
//! cargo run --release --example soak -- --bootstrap-servers HOST:PORT[,...] --topic TOPIC \
//!     [--minutes 3] [--rate 20000] [--threads 4] [--bounce-control PORT] [--buffer-memory BYTES]
//! ```
//!
//! `--bounce-control` is the control port of `scripts/kafka_cluster.py`: every 30 s one node is
//! stopped (controlled shutdown) and started again 10 s later, nodes in turn. The topic must
//! exist (replication factor 3 on the 3-node cluster, so one node down loses no availability).
//! Prints one line every 10 s and a summary; exits 1 if any record failed or if resident memory
//! grew past `buffer.memory` + 64 MiB over the first sample.

use kafka_blocking::{Producer, ProducerConfig, Record};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    bootstrap: String,
    topic: String,
    minutes: f64,
    rate: u64,
    threads: usize,
    control: Option<u16>,
    buffer_memory: u64,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        bootstrap: String::new(),
        topic: String::new(),
        minutes: 3.0,
        rate: 20_000,
        threads: 4,
        control: None,
        buffer_memory: 32 * 1024 * 1024,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(k) = it.next() {
        let mut v = || it.next().cloned().ok_or(format!("{k} needs a value"));
        match k.as_str() {
            "--bootstrap-servers" => a.bootstrap = v()?,
            "--topic" => a.topic = v()?,
            "--minutes" => a.minutes = v()?.parse().map_err(|e| format!("--minutes: {e}"))?,
            "--rate" => a.rate = v()?.parse().map_err(|e| format!("--rate: {e}"))?,
            "--threads" => a.threads = v()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--bounce-control" => {
                a.control = Some(v()?.parse().map_err(|e| format!("--bounce-control: {e}"))?)
            }
            "--buffer-memory" => {
                a.buffer_memory = v()?.parse().map_err(|e| format!("--buffer-memory: {e}"))?
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.bootstrap.is_empty() || a.topic.is_empty() {
        return Err("--bootstrap-servers and --topic are required".into());
    }
    Ok(a)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn control(port: u16, cmd: &str) -> String {
    let run = || -> std::io::Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        writeln!(s, "{cmd}")?;
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line)?;
        Ok(line.trim().to_string())
    };
    run().unwrap_or_else(|e| format!("error: {e}"))
}

fn main() {
    let a = parse().unwrap_or_else(|e| {
        eprintln!("soak: {e}");
        std::process::exit(2)
    });
    let p = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(&a.bootstrap)
            .set("linger.ms", "5")
            .set("buffer.memory", a.buffer_memory.to_string()),
    )
    .unwrap_or_else(|e| {
        eprintln!("soak: {e}");
        std::process::exit(2)
    });
    let (sent, acked, failed) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(a.minutes * 60.0);
    let per_thread = (a.rate / a.threads as u64).max(1);
    let workers: Vec<_> = (0..a.threads)
        .map(|t| {
            let (p, topic) = (p.clone(), a.topic.clone());
            let (sent, acked, failed, stop) = (sent.clone(), acked.clone(), failed.clone(), stop.clone());
            std::thread::spawn(move || {
                let value = [b's'; 100];
                let mut n = 0u64;
                let t0 = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    // Pace: n records by now at per_thread records/s.
                    let due = Duration::from_secs_f64(n as f64 / per_thread as f64);
                    if let Some(wait) = due.checked_sub(t0.elapsed()) {
                        std::thread::sleep(wait);
                    }
                    let key = format!("t{t}-{}", n % 1000);
                    let (a2, f2) = (acked.clone(), failed.clone());
                    let r = p.send_with_callback(Record::new(&topic).key(&key).value(&value[..]), move |r| {
                        match r {
                            Ok(_) => a2.fetch_add(1, Ordering::Relaxed),
                            Err(e) => {
                                eprintln!("soak: a record failed: {e}");
                                f2.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                    });
                    match r {
                        Ok(_) => sent.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            eprintln!("soak: send refused: {e}");
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                    n += 1;
                }
            })
        })
        .collect();
    let mut first_rss = None;
    let mut max_rss = 0;
    let mut samples = Vec::new();
    let mut next_sample = started + Duration::from_secs(10);
    let mut next_bounce = started + Duration::from_secs(30);
    let mut down: Option<(u32, Instant)> = None;
    let mut node = 1;
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(200));
        let now = Instant::now();
        if let Some(port) = a.control {
            if down.is_none() && now >= next_bounce {
                eprintln!(
                    "soak: {:>5.0} s: stop {node}: {}",
                    started.elapsed().as_secs_f64(),
                    control(port, &format!("stop {node}"))
                );
                down = Some((node, now + Duration::from_secs(10)));
            }
            if let Some((n, back)) = down.filter(|(_, back)| now >= *back) {
                let _ = back;
                eprintln!(
                    "soak: {:>5.0} s: start {n}: {}",
                    started.elapsed().as_secs_f64(),
                    control(port, &format!("start {n}"))
                );
                down = None;
                node = node % 3 + 1;
                next_bounce = Instant::now() + Duration::from_secs(20);
            }
        }
        if now >= next_sample {
            next_sample += Duration::from_secs(10);
            let rss = rss_kib();
            first_rss.get_or_insert(rss);
            max_rss = max_rss.max(rss);
            let line = format!(
                "{:>5.0} s: sent {} acked {} failed {} | RSS {} MiB, threads {}, fds {}",
                started.elapsed().as_secs_f64(),
                sent.load(Ordering::Relaxed),
                acked.load(Ordering::Relaxed),
                failed.load(Ordering::Relaxed),
                rss / 1024,
                count("/proc/self/task"),
                count("/proc/self/fd")
            );
            println!("{line}");
            samples.push(line);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    if let (Some(port), Some((n, _))) = (a.control, down) {
        eprintln!("soak: start {n}: {}", control(port, &format!("start {n}")));
    }
    p.flush().unwrap_or_else(|e| eprintln!("soak: flush: {e}"));
    p.close(Duration::from_secs(30)).unwrap_or_else(|e| eprintln!("soak: close: {e}"));
    let (s, ac, f) =
        (sent.load(Ordering::Relaxed), acked.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    let first = first_rss.unwrap_or(0);
    let growth_limit = a.buffer_memory / 1024 + 64 * 1024;
    println!(
        "soak: {:.1} min, {s} sent, {ac} acknowledged, {f} failed; RSS first {} MiB, max {} MiB (buffer.memory {} MiB)",
        started.elapsed().as_secs_f64() / 60.0,
        first / 1024,
        max_rss / 1024,
        a.buffer_memory >> 20
    );
    if f > 0 || ac != s || max_rss > first + growth_limit {
        std::process::exit(1);
    }
}
