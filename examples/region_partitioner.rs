//! A custom partitioner: records of European customers (keys starting with "eu-") go to
//! partition 0, every other key is spread over the remaining partitions with the Java rule.
//!
//! ```text
//! cargo run --example region_partitioner -- --bootstrap-servers localhost:9092 --topic customers
//! ```
//! The topic needs at least two partitions.

use kafka_blocking::partitioner::{partition_for_key, Partitioner, PartitionerContext};
use kafka_blocking::{Producer, ProducerConfig, Record};
use std::time::Duration;

struct RegionPartitioner;

impl Partitioner for RegionPartitioner {
    fn partition(&self, ctx: &PartitionerContext<'_>) -> Option<i32> {
        let key = ctx.key?; // no key: let the built-in sticky partitioner choose
        if key.starts_with(b"eu-") || ctx.num_partitions < 2 {
            Some(0)
        } else {
            Some(1 + partition_for_key(key, ctx.num_partitions - 1))
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut bootstrap = std::env::var("KAFKA_BOOTSTRAP_SERVERS").ok();
    let mut topic = "customers".to_string();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bootstrap-servers" => bootstrap = args.next(),
            "--topic" => topic = args.next().unwrap_or(topic),
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let Some(bootstrap) = bootstrap else {
        eprintln!("pass --bootstrap-servers or set KAFKA_BOOTSTRAP_SERVERS");
        std::process::exit(2);
    };
    let producer =
        Producer::new(ProducerConfig::new().bootstrap_servers(bootstrap).partitioner(RegionPartitioner))
            .unwrap_or_else(|e| {
                eprintln!("{e}");
                std::process::exit(2)
            });
    let mut failed = false;
    for customer in ["eu-anna", "us-bob", "eu-carl", "ap-dana", "us-erin"] {
        match producer.send(Record::new(&topic).key(customer).value("signed up")).and_then(|f| f.wait()) {
            Ok(meta) => println!("{customer} -> {meta}"),
            Err(e) => {
                eprintln!("{customer}: {e}");
                failed = true;
            }
        }
    }
    let _ = producer.close(Duration::from_secs(10));
    std::process::exit(failed as i32);
}
