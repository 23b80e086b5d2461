//! The producer's plug-in points, proven against the third-party brokers and read back with the
//! independent consumer: callbacks, interceptors, a custom partitioner, and serializers.

mod common;

use common::{all_brokers, consume, create_topic, unique_topic, Broker};
use kafka_blocking::partitioner::{partition_for_key, Partitioner, PartitionerContext};
use kafka_blocking::producer::interceptor::ProducerInterceptor;
use kafka_blocking::producer::record::Header;
use kafka_blocking::producer::serializer::{I64Serializer, StringSerializer, TypedProducer, TypedRecord};
use kafka_blocking::{Error, ErrorKind, Producer, ProducerConfig, Record, RecordMetadata};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn config(b: &Broker) -> ProducerConfig {
    ProducerConfig::new().bootstrap_servers(&b.bootstrap).set("linger.ms", "5")
}

fn topic(b: &Broker, what: &str, partitions: i32) -> String {
    let t = unique_topic(&format!("api-{what}-{}", b.name));
    create_topic(b, &t, partitions);
    t
}

#[test]
fn callbacks_get_each_records_metadata_in_send_order_and_a_panic_does_not_stop_the_producer() {
    for b in all_brokers() {
        let t = topic(&b, "callbacks", 2);
        let p = Producer::new(config(&b)).unwrap();
        let seen: Arc<Mutex<Vec<(usize, RecordMetadata, String)>>> = Arc::default();
        let mut futures = Vec::new();
        for i in 0..200usize {
            let seen = seen.clone();
            let value = format!("v{i}");
            let f = p
                .send_with_callback(Record::new(&t).partition((i % 2) as i32).value(&value), move |r| {
                    let md = r.expect("delivered");
                    let thread = std::thread::current().name().unwrap_or("").to_string();
                    seen.lock().unwrap().push((i, md, thread));
                    if i == 3 {
                        panic!("a callback that panics (on purpose)");
                    }
                })
                .unwrap();
            futures.push(f);
        }
        for f in &futures {
            f.wait().unwrap();
        }
        // The record sent after the panicking callback's batch is still delivered.
        let after = p.send(Record::new(&t).partition(0).value("after")).unwrap().wait();
        assert!(after.is_ok(), "[{}] {after:?}", b.name);
        p.close(Duration::from_secs(10)).unwrap();

        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 200, "[{}] every callback ran once", b.name);
        for (i, md, thread) in seen.iter() {
            assert_eq!(Some(md), futures[*i].wait().ok().as_ref(), "[{}] callback and future agree", b.name);
            assert!(thread.starts_with("kafka-producer-network-thread"), "[{}] ran on {thread}", b.name);
        }
        for part in 0..2 {
            let order: Vec<usize> = seen.iter().filter(|(i, ..)| i % 2 == part).map(|(i, ..)| *i).collect();
            assert!(
                order.windows(2).all(|w| w[0] < w[1]),
                "[{}] partition {part} callbacks in send order",
                b.name
            );
        }
        let got = consume(&b, &t, 2, 201);
        assert_eq!(got.len(), 201);
    }
}

#[derive(Default)]
struct Tracing {
    sent: AtomicUsize,
    acked: AtomicUsize,
    failed: AtomicUsize,
}

struct TracingHandle(Arc<Tracing>);

impl ProducerInterceptor for TracingHandle {
    fn on_send(&self, record: &mut Record<'_>) -> Result<(), Error> {
        let n = self.0.sent.fetch_add(1, Ordering::SeqCst);
        record.push_header(Header::owned("trace-id", Some(format!("trace-{n}").into_bytes())));
        Ok(())
    }
    fn on_acknowledgement(&self, result: Result<&RecordMetadata, &Error>) {
        match result {
            Ok(_) => self.0.acked.fetch_add(1, Ordering::SeqCst),
            Err(_) => self.0.failed.fetch_add(1, Ordering::SeqCst),
        };
    }
}

struct Failing;
impl ProducerInterceptor for Failing {
    fn on_send(&self, _: &mut Record<'_>) -> Result<(), Error> {
        Err(Error::new(ErrorKind::InvalidRecord, "this interceptor always fails (on purpose)"))
    }
    fn on_acknowledgement(&self, _: Result<&RecordMetadata, &Error>) {
        panic!("this interceptor panics (on purpose)");
    }
}

#[test]
fn interceptors_add_headers_and_see_every_result_and_their_errors_are_only_logged() {
    for b in all_brokers() {
        let t = topic(&b, "interceptors", 1);
        let state = Arc::new(Tracing::default());
        let p = Producer::new(
            config(&b)
                .interceptor(Failing)
                .interceptor(TracingHandle(state.clone()))
                .set("max.request.size", "2000"),
        )
        .unwrap();
        for i in 0..50 {
            p.send(Record::new(&t).value(format!("v{i}").as_bytes()).header("app", "test")).unwrap();
        }
        let big = vec![0u8; 5000];
        let e = p.send(Record::new(&t).value(&big)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::RecordTooLarge);
        p.flush().unwrap();
        p.close(Duration::from_secs(10)).unwrap();
        assert_eq!(state.sent.load(Ordering::SeqCst), 51, "[{}]", b.name);
        assert_eq!(state.acked.load(Ordering::SeqCst), 50, "[{}]", b.name);
        assert_eq!(state.failed.load(Ordering::SeqCst), 1, "[{}] the refused send is reported", b.name);

        let got = consume(&b, &t, 1, 50);
        for (n, r) in got.iter().enumerate() {
            assert_eq!(
                r.headers,
                vec![
                    ("app".to_string(), Some(b"test".to_vec())),
                    ("trace-id".to_string(), Some(format!("trace-{n}").into_bytes()))
                ],
                "[{}] offset {}",
                b.name,
                r.offset
            );
        }
    }
}

/// The seed example: records of European customers go to partition 0, the rest are spread over
/// the other partitions by key.
struct RegionPartitioner;

impl Partitioner for RegionPartitioner {
    fn partition(&self, ctx: &PartitionerContext<'_>) -> Option<i32> {
        let key = ctx.key?;
        if key.starts_with(b"eu-") {
            Some(0)
        } else {
            Some(1 + partition_for_key(key, ctx.num_partitions - 1))
        }
    }
}

struct OutOfRange;
impl Partitioner for OutOfRange {
    fn partition(&self, ctx: &PartitionerContext<'_>) -> Option<i32> {
        Some(ctx.num_partitions)
    }
}

#[test]
fn a_custom_partitioner_places_records_and_explicit_partitions_still_win() {
    for b in all_brokers() {
        let t = topic(&b, "partitioner", 4);
        let p = Producer::new(config(&b).partitioner(RegionPartitioner)).unwrap();
        let keys: Vec<String> =
            (0..60).map(|i| if i % 3 == 0 { format!("eu-{i}") } else { format!("us-{i}") }).collect();
        let mut expect = Vec::new();
        for k in &keys {
            let md = p.send(Record::new(&t).key(k).value("v")).unwrap().wait().unwrap();
            let want = if k.starts_with("eu-") { 0 } else { 1 + partition_for_key(k.as_bytes(), 3) };
            assert_eq!(md.partition(), want, "[{}] {k}", b.name);
            expect.push((k.clone(), want));
        }
        let md = p.send(Record::new(&t).key("eu-explicit").partition(3).value("v")).unwrap().wait().unwrap();
        assert_eq!(md.partition(), 3, "[{}] an explicit partition wins", b.name);
        // A keyless record: the region partitioner declines and the sticky partitioner decides.
        p.send(Record::new(&t).value("no key")).unwrap().wait().unwrap();
        p.close(Duration::from_secs(10)).unwrap();
        let got = consume(&b, &t, 4, 62);
        for (k, want) in expect {
            let r = got.iter().find(|r| r.key.as_deref() == Some(k.as_bytes())).unwrap();
            assert_eq!(r.partition, want, "[{}] the consumer finds {k} in partition {want}", b.name);
        }

        let bad = Producer::new(config(&b).partitioner(OutOfRange)).unwrap();
        let e = bad.send(Record::new(&t).value("v")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRecord);
        assert!(e.to_string().contains("partition 4") && e.to_string().contains("4 partitions"), "{e}");
        bad.close(Duration::from_secs(5)).unwrap();
    }
}

#[test]
fn typed_producer_serializes_keys_and_values_like_the_java_serializers() {
    for b in all_brokers() {
        let t = topic(&b, "typed", 3);
        let p = Producer::new(config(&b)).unwrap();
        let typed: TypedProducer<i64, str, _, _> = TypedProducer::new(p, I64Serializer, StringSerializer);
        let mut mds = Vec::new();
        for id in [1i64, -2, 1 << 40] {
            let value = format!("{{\"order\":{id}}}");
            mds.push(
                typed.send(TypedRecord::new(&t).key(&id).value(value.as_str()).header("v", "1")).unwrap(),
            );
        }
        let mds: Vec<RecordMetadata> = mds.iter().map(|f| f.wait().unwrap()).collect();
        typed.producer().close(Duration::from_secs(10)).unwrap();
        let got = consume(&b, &t, 3, 3);
        for (id, md) in [1i64, -2, 1 << 40].iter().zip(&mds) {
            let r = got.iter().find(|r| r.partition == md.partition() && r.offset == md.offset()).unwrap();
            assert_eq!(
                r.key.as_deref(),
                Some(&id.to_be_bytes()[..]),
                "[{}] Java LongSerializer bytes",
                b.name
            );
            assert_eq!(r.value.as_deref(), Some(format!("{{\"order\":{id}}}").as_bytes()));
            assert_eq!(
                md.partition(),
                partition_for_key(&id.to_be_bytes(), 3),
                "[{}] keyed on the serialized key",
                b.name
            );
        }
    }
}

/// Callbacks run on the sender thread: `flush` from one is refused (it would wait for itself),
/// and dropping the last producer handle inside one closes the producer without hanging.
#[test]
fn a_callback_cannot_deadlock_the_producer() {
    let b = common::tansu();
    let t = topic(&b, "callback-reentry", 1);
    let p = Producer::new(config(&b)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let inner = p.clone();
    p.send_with_callback(Record::new(&t).value("v1"), move |r| {
        r.unwrap();
        let _ = tx.send(inner.flush().map_err(|e| (e.kind(), e.to_string())));
        // `inner`, a producer handle, is dropped here, on the sender thread.
    })
    .unwrap();
    let flushed = rx.recv_timeout(Duration::from_secs(10)).expect("the callback ran");
    let (kind, msg) = flushed.unwrap_err();
    assert_eq!(kind, ErrorKind::IllegalState);
    assert!(msg.contains("callback"), "{msg}");

    // The last handle goes away inside a callback: the producer finishes on its own.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let last = p.clone();
    drop(p);
    let holder = last.clone();
    let f = last
        .send_with_callback(Record::new(&t).value("v2"), move |r| {
            drop(holder);
            let _ = done_tx.send(r.is_ok());
        })
        .unwrap();
    drop(last);
    assert_eq!(done_rx.recv_timeout(Duration::from_secs(10)), Ok(true));
    assert!(f.wait_timeout(Duration::from_secs(10)).is_ok());
}

/// Nothing that waits can be done from a callback (it runs on the sender thread, which alone
/// resolves records, fetches metadata and frees memory): each such call fails at once with
/// IllegalState naming the reason, and the producer goes on.
#[test]
fn blocking_calls_inside_a_callback_fail_at_once_instead_of_hanging() {
    let b = common::kafka();
    let t = topic(&b, "callback-blocking", 1);
    let p = Producer::new(config(&b).set("max.block.ms", "60000")).unwrap();
    p.send(Record::new(&t).value("warm")).unwrap().wait().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let inner = p.clone();
    let missing = unique_topic("api-callback-never-created");
    let topic_in_callback = t.clone();
    p.send_with_callback(Record::new(&t).value("a"), move |r| {
        let t = topic_in_callback;
        r.unwrap();
        let started = std::time::Instant::now();
        let later = inner.send(Record::new(&t).value("sent from the callback")).expect("a known topic");
        let outcomes: Vec<(&str, std::result::Result<(), Error>)> = vec![
            ("wait", later.wait().map(|_| ())),
            ("wait_timeout", later.wait_timeout(Duration::from_secs(30)).map(|_| ())),
            ("send to an unknown topic", inner.send(Record::new(&missing).value("x")).map(|_| ())),
            ("init_transactions", inner.init_transactions(Duration::from_secs(30))),
            ("abort_transaction", inner.abort_transaction(Duration::from_secs(30))),
        ];
        let _ = tx.send((outcomes, started.elapsed(), later));
    })
    .unwrap();
    let (outcomes, took, later) = rx.recv_timeout(Duration::from_secs(20)).expect("the callback ran");
    for (what, outcome) in outcomes {
        let e = outcome.expect_err(what);
        assert_eq!(e.kind(), ErrorKind::IllegalState, "{what}: {e}");
        assert!(e.to_string().contains("callback"), "{what}: {e}");
    }
    assert!(took < Duration::from_secs(2), "the callback's calls took {took:?}");
    let md =
        later.wait_timeout(Duration::from_secs(20)).expect("the record sent from the callback is delivered");
    assert_eq!(md.offset(), 2);
}

#[test]
fn partitions_for_lists_every_partition_with_its_leader_and_metadata_has_serialized_sizes() {
    let b = common::kafka();
    let topic = unique_topic("api-partitions-for");
    create_topic(&b, &topic, 3);
    let p = Producer::new(ProducerConfig::new().bootstrap_servers(&b.bootstrap).set("max.block.ms", "3000"))
        .unwrap();
    let parts = p.partitions_for(&topic).unwrap();
    assert_eq!(parts.iter().map(|x| x.partition).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert!(
        parts.iter().all(|x| x.topic == topic && x.leader.is_some_and(|l| (1..=3).contains(&l))),
        "{parts:?}"
    );
    let started = std::time::Instant::now();
    let e = p.partitions_for(&unique_topic("api-partitions-for-missing")).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(6), "bounded by max.block.ms");
    assert!(matches!(e.kind(), ErrorKind::Timeout | ErrorKind::UnknownTopicOrPartition), "{e}");
    assert_eq!(
        p.partitions_for("bad topic!").unwrap_err().kind(),
        ErrorKind::Broker(kafka_blocking::KafkaCode::INVALID_TOPIC_EXCEPTION)
    );

    let m = p.send(Record::new(&topic).key("abc").value("hello")).unwrap().wait().unwrap();
    assert_eq!((m.serialized_key_size(), m.serialized_value_size()), (3, 5));
    let (tx, rx) = std::sync::mpsc::channel();
    p.send_with_callback(Record::new(&topic).value(""), move |r| {
        let m = r.unwrap();
        tx.send((m.serialized_key_size(), m.serialized_value_size())).unwrap();
    })
    .unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), (-1, 0), "null key, empty value");
    p.close(Duration::from_secs(5)).unwrap();
}
