//! Bounds the producer promises: `buffer.memory` + `max.block.ms` (send blocks, then fails
//! with BufferExhausted), `delivery.timeout.ms` (pending records fail with a Timeout naming the
//! partition), `acks=0`, and `close` (delivers pending records; `close(ZERO)` fails them; `send`
//! after close is refused without hanging). Accepted records are never dropped silently.
//!
//! Tests that take mock brokers down hold the cluster lock exclusively (and bring the brokers
//! back, even on failure); the others hold it shared, so they never see a broker down.

mod common;

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use common::delivery::{self, SentRecords};
use common::{all_brokers, consume, create_topic, mock, mock_control, unique_topic, Broker};
use kafka_blocking::{ErrorKind, Producer, ProducerConfig, Record, SendFuture};

const PARTITIONS: i32 = 3;

static CLUSTER: RwLock<()> = RwLock::new(());

fn shared_cluster() -> RwLockReadGuard<'static, ()> {
    CLUSTER.read().unwrap_or_else(|e| e.into_inner())
}

/// Exclusive use of the mock cluster; brings brokers 1..3 back up on drop.
struct Outage {
    b: Broker,
    _lock: RwLockWriteGuard<'static, ()>,
}

impl Outage {
    fn take() -> Outage {
        Outage { _lock: CLUSTER.write().unwrap_or_else(|e| e.into_inner()), b: mock() }
    }
    fn ctl(&self, cmd: &str) {
        let reply = mock_control(&self.b, cmd);
        assert_eq!(reply, "0", "mock control `{cmd}`");
    }
    /// 3 partitions, replication 3, partition p led by broker p + 1.
    fn topic(&self, what: &str) -> String {
        let topic = unique_topic(&format!("limits-{what}"));
        self.ctl(&format!("topic {topic} {PARTITIONS} 3"));
        for p in 0..PARTITIONS {
            self.ctl(&format!("leader {topic} {p} {}", p + 1));
        }
        topic
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        for id in 1..=3 {
            let _ = mock_control(&self.b, &format!("brokerup {id}"));
        }
    }
}

fn producer(b: &Broker, props: &[(&str, &str)]) -> Producer {
    let mut config = ProducerConfig::new().bootstrap_servers(&b.bootstrap);
    for (k, v) in props {
        config = config.set(k, v);
    }
    Producer::new(config).unwrap_or_else(|e| panic!("[{}] Producer::new: {e}", b.name))
}

fn fresh_topic(b: &Broker, what: &str) -> String {
    let topic = unique_topic(&format!("limits-{what}-{}", b.name));
    create_topic(b, &topic, PARTITIONS);
    topic
}

#[test]
fn full_buffer_memory_blocks_send_for_max_block_ms_then_fails_and_accepted_records_still_arrive() {
    let o = Outage::take();
    let topic = o.topic("buffer");
    let p = producer(
        &o.b,
        &[
            ("buffer.memory", "32768"),
            ("batch.size", "16384"),
            ("max.block.ms", "500"),
            ("linger.ms", "0"),
            ("delivery.timeout.ms", "30000"),
        ],
    );
    p.send(Record::new(&topic).value(&delivery::value(0, 0)).partition(0)).unwrap().wait().expect("warm-up");
    let mut sent: SentRecords = vec![(0, 0, 0)];
    // Partition 0's leader stops answering: its batches hold their memory.
    o.ctl("brokerdown 1");
    let payload = "x".repeat(4000);
    let mut accepted: Vec<(u32, SendFuture)> = Vec::new();
    let mut refused = None;
    for seq in 0..20u32 {
        let value = format!("{}:{payload}", delivery::value(1, seq));
        let t = Instant::now();
        match p.send(Record::new(&topic).value(&value).partition(0)) {
            Ok(f) => accepted.push((seq, f)),
            Err(e) => {
                refused = Some((seq, e, t.elapsed()));
                break;
            }
        }
    }
    let (seq, e, blocked) =
        refused.expect("20 records of 4 KB fit in buffer.memory=32768 while the leader is down");
    assert!(seq >= 4, "only {seq} records accepted before the buffer filled");
    assert_eq!(e.kind(), ErrorKind::BufferExhausted, "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("buffer.memory=32768") && msg.contains("max.block.ms"), "{msg}");
    assert!(blocked >= Duration::from_millis(450), "send gave up after {blocked:?}, before max.block.ms=500");
    assert!(blocked < Duration::from_secs(5), "send blocked {blocked:?}, far past max.block.ms=500");

    // The leader comes back: everything accepted before the refusal is delivered.
    o.ctl("brokerup 1");
    for (seq, f) in accepted {
        let md = f.wait().unwrap_or_else(|e| panic!("accepted record {seq} was not delivered: {e:?}"));
        assert_eq!(md.partition(), 0);
        sent.push((0, 1, seq));
    }
    p.close(Duration::from_secs(10)).expect("close");
    // The consumer sees the values with the payload after ':'; strip it before checking.
    let mut got = consume(&o.b, &topic, PARTITIONS, sent.len());
    for r in &mut got {
        let v = r.value.take().unwrap();
        let end = v.iter().position(|&c| c == b':').unwrap_or(v.len());
        r.value = Some(v[..end].to_vec());
    }
    // Records were acknowledged after a dropped connection: duplicates are possible in principle,
    // but the broker was down before they were sent, so none can have been stored twice.
    delivery::check("buffer exhaustion", &sent, &got, false);
}

#[test]
fn delivery_timeout_fails_pending_records_naming_the_partition_while_all_brokers_are_down() {
    let o = Outage::take();
    let topic = o.topic("delivery-timeout");
    let p = producer(
        &o.b,
        &[("delivery.timeout.ms", "3000"), ("request.timeout.ms", "1000"), ("linger.ms", "0")],
    );
    for part in 0..PARTITIONS {
        p.send(Record::new(&topic).value("warm-up").partition(part)).unwrap().wait().expect("warm-up");
    }
    for id in 1..=3 {
        o.ctl(&format!("brokerdown {id}"));
    }
    let t = Instant::now();
    let futures: Vec<(i32, SendFuture)> = (0..30)
        .map(|i| {
            let part = i % PARTITIONS;
            (part, p.send(Record::new(&topic).value(&format!("doomed-{i}")).partition(part)).expect("send"))
        })
        .collect();
    for (part, f) in &futures {
        let e = f.wait().expect_err("a record was acknowledged while every broker was down");
        assert_eq!(e.kind(), ErrorKind::Timeout, "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains(&format!("{topic}-{part}")), "{msg}");
        assert!(msg.contains("delivery.timeout.ms=3000"), "{msg}");
    }
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(2900),
        "records expired after {waited:?}, before delivery.timeout.ms"
    );
    assert!(waited < Duration::from_secs(15), "records took {waited:?} to expire (delivery.timeout.ms=3000)");
    for id in 1..=3 {
        o.ctl(&format!("brokerup {id}"));
    }
    // The producer recovers once the brokers are back.
    let md =
        p.send(Record::new(&topic).value("after").partition(1)).unwrap().wait().expect("after the outage");
    assert_eq!(md.partition(), 1);
    p.close(Duration::from_secs(10)).expect("close");
    let got = consume(&o.b, &topic, PARTITIONS, 4);
    assert!(
        got.iter().all(|r| !r.value.as_deref().unwrap().starts_with(b"doomed")),
        "an expired record was stored"
    );
}

#[test]
fn acks_zero_resolves_with_offset_minus_one_and_the_consumer_sees_every_record() {
    let _c = shared_cluster();
    for b in all_brokers() {
        let topic = fresh_topic(&b, "acks0");
        let p = producer(&b, &[("acks", "0"), ("enable.idempotence", "false"), ("linger.ms", "2")]);
        let futures: Vec<(i32, u32, SendFuture)> = (0..300u32)
            .map(|seq| {
                let part = (seq % PARTITIONS as u32) as i32;
                let value = delivery::value(0, seq);
                (part, seq, p.send(Record::new(&topic).value(&value).partition(part)).expect("send"))
            })
            .collect();
        let sent: SentRecords = futures
            .into_iter()
            .map(|(part, seq, f)| {
                let md = f.wait().unwrap_or_else(|e| panic!("[{}] acks=0 record {seq}: {e}", b.name));
                assert_eq!(md.offset(), -1, "[{}] acks=0 has no offset", b.name);
                assert_eq!(md.partition(), part);
                (part, 0, seq)
            })
            .collect();
        p.close(Duration::from_secs(10)).expect("close");
        let got = consume(&b, &topic, PARTITIONS, sent.len());
        delivery::check(&format!("[{}] acks=0", b.name), &sent, &got, false);
    }
}

#[test]
fn close_delivers_pending_records_without_waiting_for_linger() {
    let _c = shared_cluster();
    for b in all_brokers() {
        let topic = fresh_topic(&b, "close-delivers");
        let p = producer(&b, &[("linger.ms", "30000"), ("delivery.timeout.ms", "60000")]);
        let futures: Vec<(i32, u32, SendFuture)> = (0..50u32)
            .map(|seq| {
                let part = (seq % PARTITIONS as u32) as i32;
                (
                    part,
                    seq,
                    p.send(Record::new(&topic).value(&delivery::value(0, seq)).partition(part))
                        .expect("send"),
                )
            })
            .collect();
        assert!(futures.iter().all(|(_, _, f)| !f.is_done()), "[{}] sent before linger.ms or close", b.name);
        let t = Instant::now();
        p.close(Duration::from_secs(10)).unwrap_or_else(|e| panic!("[{}] close: {e}", b.name));
        assert!(t.elapsed() < Duration::from_secs(10), "[{}] close waited for linger.ms", b.name);
        let sent: SentRecords = futures
            .into_iter()
            .map(|(part, seq, f)| {
                assert!(f.is_done(), "[{}] record {seq} unresolved after close returned", b.name);
                f.wait().unwrap_or_else(|e| panic!("[{}] record {seq}: {e}", b.name));
                (part, 0, seq)
            })
            .collect();
        let got = consume(&b, &topic, PARTITIONS, sent.len());
        delivery::check(&format!("[{}] close", b.name), &sent, &got, false);
    }
}

#[test]
fn close_zero_fails_pending_records_as_closed_and_writes_nothing() {
    let _c = shared_cluster();
    for b in all_brokers() {
        let topic = fresh_topic(&b, "close-zero");
        let p = producer(&b, &[("linger.ms", "30000"), ("delivery.timeout.ms", "60000")]);
        let futures: Vec<SendFuture> = (0..20)
            .map(|i| {
                p.send(Record::new(&topic).value(&format!("pending-{i}")).partition(i % PARTITIONS))
                    .expect("send")
            })
            .collect();
        let t = Instant::now();
        let closed = p.close(Duration::ZERO);
        assert!(t.elapsed() < Duration::from_secs(5), "[{}] close(ZERO) took {:?}", b.name, t.elapsed());
        let e = closed.expect_err("close(ZERO) with 20 pending records reports that they failed");
        assert_eq!(e.kind(), ErrorKind::Timeout, "{e:?}");
        assert!(e.to_string().contains("20 pending record(s) failed"), "{e}");
        for (i, f) in futures.iter().enumerate() {
            let e = f.wait().expect_err("a pending record survived close(ZERO)");
            assert_eq!(e.kind(), ErrorKind::Closed, "[{}] pending-{i}: {e:?}", b.name);
            assert!(e.to_string().contains(&format!("{topic}-{}", i as i32 % PARTITIONS)), "{e}");
        }
        consume(&b, &topic, PARTITIONS, 0);
    }
}

#[test]
fn send_and_flush_after_close_fail_as_closed_without_hanging_on_any_handle() {
    let _c = shared_cluster();
    for b in all_brokers() {
        let topic = fresh_topic(&b, "after-close");
        let p = producer(&b, &[]);
        let other = p.clone();
        p.send(Record::new(&topic).value(&delivery::value(0, 0)).partition(0))
            .unwrap()
            .wait()
            .expect("before close");
        p.close(Duration::from_secs(10)).expect("close");
        let t = Instant::now();
        for handle in [&p, &other] {
            let e =
                handle.send(Record::new(&topic).value("late").partition(0)).expect_err("send after close");
            assert_eq!(e.kind(), ErrorKind::Closed, "{e:?}");
            // A topic the producer never saw must not make it wait for metadata either.
            let e = handle.send(Record::new("never-seen-topic").value("late")).expect_err("send after close");
            assert_eq!(e.kind(), ErrorKind::Closed, "{e:?}");
            assert_eq!(handle.flush().expect_err("flush after close").kind(), ErrorKind::Closed);
            handle.close(Duration::from_secs(10)).expect("a second close returns at once");
        }
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "[{}] calls after close took {:?}",
            b.name,
            t.elapsed()
        );
        let got = consume(&b, &topic, PARTITIONS, 1);
        delivery::check(&format!("[{}] after close", b.name), &vec![(0, 0, 0)], &got, false);
    }
}

/// While one thread's `close(6 s)` waits on a broker that never answers, another thread's
/// `close(1 s)` returns after its own second (forcing the shutdown, so both report the failed
/// records), and a thread blocked in `send` on full buffer memory is woken by the first close at
/// once with `Closed`, not after `max.block.ms`. Every accepted record is resolved.
#[test]
fn each_close_waits_only_its_own_timeout_and_close_wakes_threads_blocked_on_memory() {
    let _cluster = shared_cluster();
    let b = common::kafka();
    let topic = fresh_topic(&b, "close-bounded");
    let proxies = common::proxy::Proxy::cluster(&b.bootstrap);
    let stalled = Broker { bootstrap: common::proxy::cluster_bootstrap(&proxies), ..b.clone() };
    let p = producer(
        &stalled,
        &[
            ("buffer.memory", "65536"),
            ("batch.size", "16384"),
            ("linger.ms", "0"),
            ("request.timeout.ms", "60000"),
            ("delivery.timeout.ms", "120000"),
            ("max.block.ms", "60000"),
        ],
    );
    p.send(Record::new(&topic).partition(0).value("warm")).unwrap().wait().unwrap();
    for px in &proxies {
        px.drop_produce_responses(1_000_000); // stored by the broker, never answered
    }
    let sender = {
        let (p, topic) = (p.clone(), topic.clone());
        std::thread::spawn(move || {
            let value = vec![b'x'; 1000];
            let mut futures = Vec::new();
            for _ in 0..1000 {
                match p.send(Record::new(&topic).partition(0).value(&value[..])) {
                    Ok(f) => futures.push(f),
                    Err(e) => return (futures, Some((e.kind(), Instant::now()))),
                }
            }
            (futures, None)
        })
    };
    std::thread::sleep(Duration::from_secs(1)); // the sending thread is blocked on memory by now
    let first = {
        let p = p.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            (started, p.close(Duration::from_secs(6)), started.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let second = p.close(Duration::from_secs(1));
    let second_took = started.elapsed();
    let (first_started, first_result, first_took) = first.join().unwrap();
    let (futures, blocked) = sender.join().unwrap();

    let (kind, woken_at) = blocked.expect("the sending thread was blocked on buffer memory");
    assert_eq!(kind, ErrorKind::Closed);
    assert!(
        woken_at - first_started < Duration::from_secs(1),
        "woken {:?} after close",
        woken_at - first_started
    );
    assert!(second_took < Duration::from_millis(1800), "close(1 s) took {second_took:?}");
    let e = second.expect_err("records failed: the second close says so");
    assert!(e.to_string().contains("pending record(s) failed"), "{e}");
    assert!(
        first_took < Duration::from_secs(3),
        "the first close ended when the second forced it: {first_took:?}"
    );
    assert!(first_result.is_err(), "the first close reports the failed records too");
    assert!(!futures.is_empty());
    for f in &futures {
        let e = f.wait_timeout(Duration::from_secs(5)).expect_err("failed by the forced close");
        assert_eq!(e.kind(), ErrorKind::Closed, "{e}");
    }
}

/// Closing with a transaction open aborts it first; when the abort cannot complete (every
/// broker down), close says so instead of returning `Ok`.
#[test]
fn close_reports_an_open_transaction_it_could_not_abort() {
    let o = Outage::take();
    let topic = o.topic("close-txn");
    let p = producer(
        &o.b,
        &[("transactional.id", &unique_topic("limits-close-txn")), ("request.timeout.ms", "1000")],
    );
    p.init_transactions(Duration::from_secs(30)).expect("init_transactions");
    p.begin_transaction().unwrap();
    p.send(Record::new(&topic).value("in the transaction").partition(0)).unwrap().wait().expect("sent");
    for id in 1..=3 {
        o.ctl(&format!("brokerdown {id}"));
    }
    let started = Instant::now();
    let e = p.close(Duration::from_secs(2)).expect_err("the abort could not complete");
    assert!(started.elapsed() < Duration::from_secs(4), "close(2 s) took {:?}", started.elapsed());
    assert!(e.to_string().contains("abort"), "{e}");
}
