//! Produces a few records and prints where each landed, as `topic/partition@offset`.
//!
//! ```text
//! cargo run --example quickstart                       # an embedded mock cluster, nothing to install
//! cargo run --example quickstart -- --bootstrap-servers localhost:9092 [--topic quickstart]
//! KAFKA_BOOTSTRAP_SERVERS=localhost:9092 cargo run --example quickstart
//! ```
//! With no broker given it starts `kafka_blocking::mock::MockCluster` (in-process, 3 brokers)
//! and produces to it. `scripts/quickstart.sh` runs it against a local Tansu broker instead.

use kafka_blocking::mock::MockCluster;
use kafka_blocking::{Producer, ProducerConfig, Record};
use std::time::Duration;

fn main() {
    if let Err(e) = run() {
        eprintln!("quickstart failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut bootstrap = std::env::var("KAFKA_BOOTSTRAP_SERVERS").ok();
    let mut topic = "quickstart".to_string();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bootstrap-servers" => bootstrap = args.next(),
            "--topic" => topic = args.next().ok_or("--topic needs a value")?,
            "-h" | "--help" => {
                println!("usage: quickstart [--bootstrap-servers HOST:PORT,...] [--topic NAME]");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    // No broker given: an in-process mock cluster (kept alive until the end of `run`).
    let mut _embedded = None;
    let bootstrap = match bootstrap {
        Some(b) => b,
        None => {
            let cluster = MockCluster::new(3)?;
            cluster.create_topic(&topic, 3);
            eprintln!(
                "no broker given (--bootstrap-servers or KAFKA_BOOTSTRAP_SERVERS): using an embedded mock cluster at {}",
                cluster.bootstrap_servers()
            );
            let b = cluster.bootstrap_servers();
            _embedded = Some(cluster);
            b
        }
    };

    let producer =
        Producer::new(ProducerConfig::new().bootstrap_servers(bootstrap).set("client.id", "quickstart"))?;
    let mut futures = Vec::new();
    for i in 0..5 {
        let key = format!("key-{i}");
        let value = format!("hello from kafka-blocking #{i}");
        futures.push(
            producer.send(Record::new(&topic).key(&key).value(&value).header("example", "quickstart"))?,
        );
    }
    for f in futures {
        let meta = f.wait()?;
        println!("{}/{}@{}", meta.topic(), meta.partition(), meta.offset());
    }
    producer.close(Duration::from_secs(10))?;
    Ok(())
}
