//! Sends records for a while and prints the producer's metrics (Java's names) every second.
//!
//! ```text
//! cargo run --example metrics                      # against an embedded mock cluster
//! cargo run --example metrics -- --bootstrap-servers localhost:9092 [--topic metrics] [--seconds 5]
//! ```

use kafka_blocking::mock::MockCluster;
use kafka_blocking::{Producer, ProducerConfig, Record};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut bootstrap, mut topic, mut seconds) = (None, "metrics".to_string(), 5u64);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bootstrap-servers" => bootstrap = args.next(),
            "--topic" => topic = args.next().ok_or("--topic needs a value")?,
            "--seconds" => seconds = args.next().ok_or("--seconds needs a value")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let mut _embedded = None;
    let bootstrap = match bootstrap {
        Some(b) => b,
        None => {
            let c = MockCluster::new(3)?;
            c.create_topic(&topic, 6);
            let b = c.bootstrap_servers();
            _embedded = Some(c);
            b
        }
    };
    let producer = Producer::new(
        ProducerConfig::new().bootstrap_servers(bootstrap).set("client.id", "metrics-example"),
    )?;
    let start = Instant::now();
    let mut next_print = start + Duration::from_secs(1);
    let mut i = 0u64;
    while start.elapsed() < Duration::from_secs(seconds) {
        producer.send(Record::new(&topic).value(&format!("record {i}")))?;
        i += 1;
        if Instant::now() >= next_print {
            next_print += Duration::from_secs(1);
            let m = producer.metrics();
            let get = |n: &str| m.get(n).unwrap_or(f64::NAN);
            println!(
                "{:>3} s: record-send-rate {:.0}/s, record-send-total {:.0}, request-latency-avg {:.2} ms, \
                 batch-size-avg {:.0} B, records-per-request-avg {:.0}, buffer-available-bytes {:.0}",
                start.elapsed().as_secs(),
                get("record-send-rate"),
                get("record-send-total"),
                get("request-latency-avg"),
                get("batch-size-avg"),
                get("records-per-request-avg"),
                get("buffer-available-bytes"),
            );
        }
    }
    producer.flush()?;
    println!("all metrics:\n{}", producer.metrics());
    producer.close(Duration::from_secs(10))?;
    Ok(())
}
