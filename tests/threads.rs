//! A producer runs exactly one thread of its own, the sender thread, whatever the number of
//! brokers it talks to: every socket is multiplexed there with poll(2). Proven on the 3-node
//! Apache Kafka cluster with six partitions spread over the nodes, so the producer holds a
//! connection to each of their leaders. (Alone in this test binary: other tests' threads would
//! blur the count.)

mod common;

use common::{create_topic, kafka, leader, unique_topic};
use kafka_blocking::{Producer, ProducerConfig, Record};
use std::collections::BTreeSet;
use std::time::Duration;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").expect("/proc/self/task").count()
}

#[test]
fn one_io_thread_per_producer_whatever_the_number_of_brokers() {
    let b = kafka();
    let topic = unique_topic("threads");
    create_topic(&b, &topic, 6);
    let leaders: BTreeSet<i32> = (0..6).map(|p| leader(&b, &topic, p)).collect();
    let before = threads();
    let p = Producer::new(ProducerConfig::new().bootstrap_servers(&b.bootstrap)).unwrap();
    for partition in 0..6 {
        p.send(Record::new(&topic).partition(partition).value("x")).unwrap().wait().unwrap();
    }
    let during = threads();
    assert_eq!(
        during,
        before + 1,
        "one sender thread while connected to the leaders {leaders:?} (threads before {before}, during {during})"
    );
    p.close(Duration::from_secs(10)).unwrap();
    drop(p);
    // The sender thread has been joined by close.
    assert_eq!(threads(), before, "close leaves no thread behind");
    assert!(leaders.len() >= 2, "the partitions are spread over the nodes: {leaders:?}");
}
