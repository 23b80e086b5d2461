//! Producers give back what they take: 200 producers created, used against the 3-node Apache
//! Kafka cluster (a connection to every leader) and closed in a row leave the process's threads
//! and file descriptors where they were. (Alone in this test binary, so that nothing else opens
//! threads or descriptors meanwhile.)

mod common;

use common::{create_topic, kafka, unique_topic};
use kafka_blocking::{Producer, ProducerConfig, Record};
use std::time::{Duration, Instant};

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir}: {e}")).count()
}

#[test]
fn two_hundred_producers_opened_and_closed_leave_threads_and_descriptors_where_they_were() {
    let b = kafka();
    let topic = unique_topic("resources");
    create_topic(&b, &topic, 3);
    let config = || ProducerConfig::new().bootstrap_servers(&b.bootstrap).set("linger.ms", "0");
    let use_once = |p: &Producer| {
        for partition in 0..3 {
            p.send(Record::new(&topic).partition(partition).value("x")).unwrap().wait().unwrap();
        }
    };
    // Warm up whatever the process sets up once (the resolver, the allocator's arenas).
    let p = Producer::new(config()).unwrap();
    use_once(&p);
    p.close(Duration::from_secs(5)).unwrap();
    drop(p);
    let (threads, fds) = (count("/proc/self/task"), count("/proc/self/fd"));
    let started = Instant::now();
    for _ in 0..200 {
        let p = Producer::new(config()).unwrap();
        use_once(&p);
        p.close(Duration::from_secs(5)).unwrap();
    }
    let took = started.elapsed();
    assert_eq!(count("/proc/self/task"), threads, "threads before and after 200 producers");
    assert_eq!(count("/proc/self/fd"), fds, "file descriptors before and after 200 producers");
    eprintln!("200 producers opened, used and closed in {took:?}: {threads} threads and {fds} descriptors before and after");
}
