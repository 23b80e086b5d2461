//! `send` copies a byte-slice record straight into a batch buffer: no heap allocation per record.
//! A counting global allocator counts the allocations made by the sending thread alone; what
//! remains is per batch (a buffer from the pool until recycling kicks in, the batch's completion
//! handle), far fewer than one per record.

mod common;

use common::{create_topic, tansu, unique_topic};
use kafka_blocking::{Producer, ProducerConfig, Record};
use std::time::Duration;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations;

#[test]
fn sending_byte_slice_records_allocates_per_batch_not_per_record() {
    let b = tansu();
    let topic = unique_topic("allocations");
    create_topic(&b, &topic, 3);
    let p =
        Producer::new(ProducerConfig::new().bootstrap_servers(&b.bootstrap).set("linger.ms", "5")).unwrap();
    let key = *b"key-0001";
    let value = [7u8; 100];
    // Warm up: metadata, connections, the first batches.
    for _ in 0..2_000 {
        p.send(Record::new(&topic).key(&key).value(&value)).unwrap();
    }
    p.flush().unwrap();

    const RECORDS: u64 = 50_000;
    let mut futures = Vec::with_capacity(RECORDS as usize);
    let before = allocations();
    for _ in 0..RECORDS {
        futures.push(p.send(Record::new(&topic).key(&key).value(&value)).unwrap());
    }
    let during = allocations() - before;
    for f in &futures {
        f.wait().unwrap();
    }
    p.close(Duration::from_secs(10)).unwrap();
    // 16 KiB batches hold about 130 of these records.
    let batches = RECORDS / 100;
    assert!(
        during <= batches * 4,
        "{during} allocations on the sending thread for {RECORDS} records: more than per-batch overhead"
    );
    println!("{during} allocations for {RECORDS} records");
}
