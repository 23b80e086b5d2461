//! Bad input gets a typed error that names the cause, at once where the cause is certain (or
//! after `max.block.ms` where only time can tell), and loses nothing accepted before it: a good
//! record sent first is delivered after every refusal. On Apache Kafka (auto topic creation off,
//! as in production). docs/errors.md lists each row with its test.

mod common;

use common::{create_topic, unique_topic, Broker};
use kafka_blocking::partitioner::{Partitioner, PartitionerContext};
use kafka_blocking::producer::serializer::{Serializer, StringSerializer, TypedProducer, TypedRecord};
use kafka_blocking::{Error, ErrorKind, KafkaCode, Producer, ProducerConfig, Record};
use std::time::{Duration, Instant};

fn config(b: &Broker) -> ProducerConfig {
    ProducerConfig::new().bootstrap_servers(&b.bootstrap).set("max.block.ms", "3000")
}

/// `e` is of `kind`, its message contains every one of `words`, and it came within `within`.
fn check(
    what: &str,
    r: kafka_blocking::Result<impl std::fmt::Debug>,
    kind: ErrorKind,
    words: &[&str],
    took: Duration,
    within: Duration,
) {
    let e = r.expect_err(what);
    assert_eq!(e.kind(), kind, "{what}: {e}");
    for w in words {
        assert!(e.to_string().contains(w), "{what}: {e:?} does not name {w:?}");
    }
    assert!(took < within, "{what}: took {took:?}");
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

/// Well below `max.block.ms` (3 s): nothing waited.
const AT_ONCE: Duration = Duration::from_secs(1);

#[test]
fn every_bad_record_is_refused_with_a_typed_error_naming_the_cause_and_nothing_accepted_is_lost() {
    let b = common::kafka();
    let topic = unique_topic("bad-input");
    create_topic(&b, &topic, 3);
    let p =
        Producer::new(config(&b).set("max.request.size", "10000").set("buffer.memory", "1000000")).unwrap();
    let good = p.send(Record::new(&topic).partition(1).value("accepted before the bad input")).unwrap();

    let big = vec![7u8; 20_000];
    let (r, t) = timed(|| p.send(Record::new(&topic).value(&big)));
    check(
        "larger than max.request.size",
        r,
        ErrorKind::RecordTooLarge,
        &["max.request.size=10000", "20"],
        t,
        AT_ONCE,
    );

    let huge = vec![7u8; 2_000_000];
    let p2 =
        Producer::new(config(&b).set("buffer.memory", "1000000").set("max.request.size", "4000000")).unwrap();
    let (r, t) = timed(|| p2.send(Record::new(&topic).value(&huge)));
    check("larger than buffer.memory", r, ErrorKind::RecordTooLarge, &["buffer.memory=1000000"], t, AT_ONCE);
    p2.close(Duration::from_secs(5)).unwrap();

    let long = "t".repeat(250);
    for (name, why) in
        [("", "empty"), ("..", "'..'"), ("bad topic!", "' '"), (long.as_str(), "250 characters")]
    {
        let (r, t) = timed(|| p.send(Record::new(name).value("v")));
        let what = format!("topic name {name:.20?}");
        check(
            &what,
            r,
            ErrorKind::Broker(KafkaCode::INVALID_TOPIC_EXCEPTION),
            &["invalid topic name", why],
            t,
            AT_ONCE,
        );
    }

    let (r, t) = timed(|| p.send(Record::new(&topic).partition(-1).value("v")));
    check("negative partition", r, ErrorKind::InvalidRecord, &["partition -1"], t, AT_ONCE);
    let (r, t) = timed(|| p.send(Record::new(&topic).timestamp(-5).value("v")));
    check("negative timestamp", r, ErrorKind::InvalidRecord, &["-5"], t, AT_ONCE);

    let (r, t) = timed(|| p.send(Record::new(&topic).partition(7).value("v")));
    check(
        "partition out of range",
        r,
        ErrorKind::InvalidRecord,
        &["partition 7", "partition count 3", "max.block.ms"],
        t,
        Duration::from_secs(6),
    );
    assert!(t >= Duration::from_millis(2900), "waited max.block.ms for the partition to appear: {t:?}");

    let missing = unique_topic("bad-input-never-created");
    let (r, t) = timed(|| p.send(Record::new(&missing).value("v")));
    check(
        "unknown topic",
        r,
        ErrorKind::UnknownTopicOrPartition,
        &[missing.as_str(), "max.block.ms", "UNKNOWN_TOPIC_OR_PARTITION"],
        t,
        Duration::from_secs(6),
    );

    let md = good.wait().expect("the record accepted before the bad input is delivered");
    assert_eq!(md.partition(), 1);
    p.close(Duration::from_secs(5)).unwrap();
    let (r, t) = timed(|| p.send(Record::new(&topic).value("v")));
    check("send after close", r, ErrorKind::Closed, &["closed"], t, AT_ONCE);
}

struct PanickingPartitioner;
impl Partitioner for PanickingPartitioner {
    fn partition(&self, ctx: &PartitionerContext<'_>) -> Option<i32> {
        if ctx.key == Some(b"boom") {
            panic!("no partition for boom");
        }
        if ctx.key == Some(b"far") {
            return Some(99);
        }
        None
    }
}

struct PickySerializer;
impl Serializer<str> for PickySerializer {
    fn serialize(&self, _topic: &str, data: &str, out: &mut Vec<u8>) -> kafka_blocking::Result<()> {
        match data {
            "panic" => panic!("cannot serialize {data:?}"),
            "err" => Err(Error::new(ErrorKind::InvalidRecord, "refusing \"err\"")),
            _ => {
                out.extend_from_slice(data.as_bytes());
                Ok(())
            }
        }
    }
}

#[test]
fn a_partitioner_or_serializer_that_panics_or_errs_gives_a_typed_error_and_the_producer_goes_on() {
    let b = common::kafka();
    let topic = unique_topic("bad-plugins");
    create_topic(&b, &topic, 3);
    // A panic costs the default hook's message and backtrace (hundreds of ms when symbolized):
    // "at once" is judged against a max.block.ms far above that.
    let p = Producer::new(config(&b).set("max.block.ms", "20000").partitioner(PanickingPartitioner)).unwrap();
    const PANIC_AT_ONCE: Duration = Duration::from_secs(5);
    let good = p.send(Record::new(&topic).key("fine").value("accepted first")).unwrap();
    let (r, t) = timed(|| p.send(Record::new(&topic).key("boom").value("v")));
    check(
        "partitioner panics",
        r,
        ErrorKind::InvalidRecord,
        &["custom partitioner", "panicked", "no partition for boom"],
        t,
        PANIC_AT_ONCE,
    );
    let (r, t) = timed(|| p.send(Record::new(&topic).key("far").value("v")));
    check(
        "partitioner out of range",
        r,
        ErrorKind::InvalidRecord,
        &["partition 99", "3 partitions"],
        t,
        AT_ONCE,
    );

    let typed: TypedProducer<str, str, _, _> =
        TypedProducer::new(p.clone(), StringSerializer, PickySerializer);
    let (r, t) = timed(|| typed.send(TypedRecord::new(&topic).key("k").value("panic")));
    check(
        "serializer panics",
        r,
        ErrorKind::Serialization,
        &["value serializer", "panicked", "cannot serialize"],
        t,
        PANIC_AT_ONCE,
    );
    let (r, t) = timed(|| typed.send(TypedRecord::new(&topic).key("k").value("err")));
    check("serializer errs", r, ErrorKind::Serialization, &["serializing the value", "refusing"], t, AT_ONCE);
    let after = typed.send(TypedRecord::new(&topic).key("k").value("fine")).unwrap();

    good.wait().expect("accepted before the failures");
    after.wait().expect("the producer goes on after them");
    p.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn bad_configuration_is_refused_naming_every_bad_key() {
    let e = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers("localhost:9092")
            .set("linger.ms", "-1")
            .set("acks", "most")
            .set("compression.type", "brotli")
            .set("retires", "3"),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    for key in ["linger.ms", "acks", "compression.type", "retires", "retries"] {
        assert!(e.to_string().contains(key), "{key} not named in {e}");
    }
    let e = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers("localhost:9092")
            .set("enable.idempotence", "true")
            .set("acks", "1"),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("enable.idempotence") && e.to_string().contains("acks"), "{e}");
}
