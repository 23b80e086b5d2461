//! Produces a few records and prints where each landed, as `topic/partition@offset`.
//!
//! ```text
//! cargo run --example quickstart -- --bootstrap-servers localhost:9092 [--topic quickstart]
//! KAFKA_BOOTSTRAP_SERVERS=localhost:9092 cargo run --example quickstart
//! ```
//! `scripts/quickstart.sh` starts a local Tansu broker and runs this example against it.

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
    let bootstrap = bootstrap.ok_or(
        "no broker given: pass --bootstrap-servers or set KAFKA_BOOTSTRAP_SERVERS \
         (scripts/quickstart.sh starts a local broker and does this for you)",
    )?;

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
