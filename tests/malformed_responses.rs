//! Nothing panics on a malformed broker response: each ends in a typed error that names the cause.
//!
//! Real brokers do not send garbage, so each test talks to a tiny scripted fake broker (below):
//! a `TcpListener` on 127.0.0.1:0, one thread per connection, that reads Kafka request frames and
//! answers each through a closure. The fake offers only non-flexible versions (ApiVersions 0..=2,
//! Metadata 4..=8, Produce 3..=8), so every response here is a classic body behind a v0 header.
//! The helpers `api_versions`, `metadata` and `produce` write VALID answers for the steps before
//! the faulty one; each test breaks one step.
//!
//! After every scenario the producer is closed, and the close must return `Ok` or a `Timeout`
//! error: an `IllegalState` error would mean the sender thread died from a panic.
//!
//! No external broker is needed: `cargo test --test malformed_responses`.

use kafka_blocking::protocol::primitives::Encoder;
use kafka_blocking::{ErrorKind, KafkaCode, Producer, ProducerConfig, Record};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOPIC: &str = "t";
const PRODUCE: i16 = 0;
const METADATA: i16 = 3;
const API_VERSIONS: i16 = 18;
const INIT_PRODUCER_ID: i16 = 22;

// ----- the fake broker -----------------------------------------------------------------------

/// One request as the fake read it.
struct Req {
    api_key: i16,
    version: i16,
    corr: i32,
    /// The body, after the request header.
    #[allow(dead_code)]
    body: Vec<u8>,
    /// The fake's own port, for the Metadata answer.
    port: u16,
}

enum Reply {
    /// A response frame: the fake puts the int32 size in front.
    Bytes(Vec<u8>),
    /// Bytes written as they are (to lie in the size prefix).
    Raw(Vec<u8>),
    /// Close the connection without answering.
    Close,
    /// Answer nothing.
    Nothing,
}

struct FakeBroker {
    addr: String,
    /// (api_key, version) of every request seen, in order.
    seen: Arc<Mutex<Vec<(i16, i16)>>>,
}

impl FakeBroker {
    fn start(script: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> FakeBroker {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (script, log) = (Arc::new(script), seen.clone());
        // Threads end when the producer closes its sockets; the listener lives as long as the
        // test binary.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (script, log) = (script.clone(), log.clone());
                std::thread::spawn(move || serve(stream, port, &*script, &log));
            }
        });
        FakeBroker { addr: format!("127.0.0.1:{port}"), seen }
    }

    fn count(&self, api_key: i16) -> usize {
        self.seen.lock().unwrap().iter().filter(|(k, _)| *k == api_key).count()
    }
}

fn serve(
    mut s: TcpStream,
    port: u16,
    script: &(dyn Fn(&Req) -> Reply + Send + Sync),
    seen: &Mutex<Vec<(i16, i16)>>,
) {
    loop {
        let mut size = [0u8; 4];
        if s.read_exact(&mut size).is_err() {
            return;
        }
        let mut frame = vec![0u8; i32::from_be_bytes(size) as usize];
        if s.read_exact(&mut frame).is_err() {
            return;
        }
        let i16_at = |i: usize| i16::from_be_bytes([frame[i], frame[i + 1]]);
        let client_id_len = i16_at(8).max(0) as usize;
        let req = Req {
            api_key: i16_at(0),
            version: i16_at(2),
            corr: i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]),
            body: frame[10 + client_id_len..].to_vec(),
            port,
        };
        seen.lock().unwrap().push((req.api_key, req.version));
        let out = match script(&req) {
            Reply::Bytes(b) => [&(b.len() as i32).to_be_bytes()[..], &b].concat(),
            Reply::Raw(b) => b,
            Reply::Close => return,
            Reply::Nothing => continue,
        };
        if s.write_all(&out).is_err() {
            return;
        }
    }
}

// ----- valid answers -------------------------------------------------------------------------

/// The fake's ApiVersions answer: UNSUPPORTED_VERSION (v0 body, listing ApiVersions 0..=2) to a
/// version above 2, else the three APIs at non-flexible versions.
fn api_versions(req: &Req) -> Vec<u8> {
    let mut b = Vec::new();
    b.put_i32(req.corr);
    if req.version > 2 {
        b.put_i16(35);
        b.put_i32(1);
        for v in [API_VERSIONS, 0, 2] {
            b.put_i16(v);
        }
        return b;
    }
    b.put_i16(0);
    b.put_i32(4);
    for (key, lo, hi) in [(PRODUCE, 3, 8), (METADATA, 4, 8), (API_VERSIONS, 0, 2), (INIT_PRODUCER_ID, 0, 1)] {
        b.put_i16(key);
        b.put_i16(lo);
        b.put_i16(hi);
    }
    if req.version >= 1 {
        b.put_i32(0); // throttle_time_ms
    }
    b
}

/// A Metadata answer (v4..=8): broker 1 is this fake; topic `t` has one partition, led by 1.
fn metadata(req: &Req) -> Vec<u8> {
    let v = req.version;
    let mut b = Vec::new();
    b.put_i32(req.corr);
    b.put_i32(0); // throttle_time_ms
    b.put_i32(1); // brokers
    b.put_i32(1);
    b.put_string(Some("127.0.0.1"));
    b.put_i32(req.port as i32);
    b.put_string(None); // rack
    b.put_string(Some("fake")); // cluster_id
    b.put_i32(1); // controller_id
    b.put_i32(1); // topics
    b.put_i16(0);
    b.put_string(Some(TOPIC));
    b.put_bool(false); // is_internal
    b.put_i32(1); // partitions
    b.put_i16(0);
    b.put_i32(0); // partition_index
    b.put_i32(1); // leader_id
    if v >= 7 {
        b.put_i32(0); // leader_epoch
    }
    for _ in 0..2 {
        b.put_i32(1); // replica_nodes, then isr_nodes: [1]
        b.put_i32(1);
    }
    if v >= 5 {
        b.put_i32(0); // offline_replicas: []
    }
    if v >= 8 {
        b.put_i32(i32::MIN); // topic_authorized_operations
        b.put_i32(i32::MIN); // cluster_authorized_operations
    }
    b
}

/// A Produce answer (v3..=8) for `t-0` with `error_code` and `base_offset`.
fn produce(req: &Req, error_code: i16, base_offset: i64, message: Option<&str>) -> Vec<u8> {
    let mut b = Vec::new();
    b.put_i32(req.corr);
    b.put_i32(1); // responses
    b.put_string(Some(TOPIC));
    b.put_i32(1); // partition_responses
    b.put_i32(0); // index
    b.put_i16(error_code);
    b.put_i64(base_offset);
    b.put_i64(-1); // log_append_time_ms
    if req.version >= 5 {
        b.put_i64(0); // log_start_offset
    }
    if req.version >= 8 {
        b.put_i32(0); // record_errors: []
        b.put_string(message);
    }
    b.put_i32(0); // throttle_time_ms
    b
}

/// An InitProducerId answer (v0/v1): producer id 1000, epoch 0, for the idempotent producer.
fn init_producer_id(req: &Req) -> Vec<u8> {
    let mut b = Vec::new();
    b.put_i32(req.corr);
    b.put_i32(0); // throttle_time_ms
    b.put_i16(0); // error_code
    b.put_i64(1000); // producer_id
    b.put_i16(0); // producer_epoch
    b
}

/// Valid answers to everything, with `produce_reply` for Produce.
fn valid_except_produce(produce_reply: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> FakeBroker {
    FakeBroker::start(move |req| match req.api_key {
        API_VERSIONS => Reply::Bytes(api_versions(req)),
        METADATA => Reply::Bytes(metadata(req)),
        INIT_PRODUCER_ID => Reply::Bytes(init_producer_id(req)),
        _ => produce_reply(req),
    })
}

// ----- the producer side ---------------------------------------------------------------------

fn producer(broker: &FakeBroker) -> Producer {
    let config = ProducerConfig::new()
        .bootstrap_servers(&broker.addr)
        .set("linger.ms", "0")
        .set("max.block.ms", "600")
        .set("request.timeout.ms", "500")
        .set("delivery.timeout.ms", "1500")
        .set("retry.backoff.ms", "20")
        .set("retry.backoff.max.ms", "100")
        .set("reconnect.backoff.ms", "20")
        .set("reconnect.backoff.max.ms", "100");
    Producer::new(config).unwrap()
}

/// `send` fails after max.block.ms with a Timeout that says so and names the `cause`, and the
/// producer keeps working (it closes cleanly).
fn assert_send_times_out(broker: &FakeBroker, cause: &str) {
    let p = producer(broker);
    let t = Instant::now();
    let e = p.send(Record::new(TOPIC).value("v")).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(3), "send took {:?}", t.elapsed());
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains("max.block.ms"), "{e}");
    let last = e.to_string().split_once("; last error: ").map(|(_, l)| l.to_owned());
    assert!(last.is_some_and(|l| l.contains(cause)), "{e}");
    close_cleanly(p);
}

/// The sender thread is alive (no panic) and stops promptly.
fn close_cleanly(p: Producer) {
    let t = Instant::now();
    if let Err(e) = p.close(Duration::from_secs(2)) {
        assert_eq!(e.kind(), ErrorKind::Timeout, "close: {e}");
    }
    assert!(t.elapsed() < Duration::from_secs(3), "close took {:?}", t.elapsed());
}

/// Sends one record and waits for its result, bounded well past delivery.timeout.ms so that a
/// hang fails the test instead of blocking it.
fn send_one(p: &Producer) -> kafka_blocking::Result<kafka_blocking::RecordMetadata> {
    let f = p.send(Record::new(TOPIC).value("v")).expect("metadata is valid, send must be accepted");
    let r = f.wait_timeout(Duration::from_secs(5));
    if let Err(e) = &r {
        assert!(!e.to_string().contains("wait_timeout"), "the record hung: {e}");
    }
    r
}

// ----- ApiVersions ---------------------------------------------------------------------------

#[test]
fn truncated_api_versions_body_times_out_send_without_panic() {
    // error 0, then bytes that end before the api_keys array does (the client asks at v4 on every new connection).
    let broker = FakeBroker::start(|req| {
        let mut b = Vec::new();
        b.put_i32(req.corr);
        b.extend_from_slice(&[0, 0, 0, 0, 0, 5, 0, 1]);
        Reply::Bytes(b)
    });
    assert_send_times_out(
        &broker,
        "decoding ApiVersions v4 from broker -1: ApiVersions v4 response: truncated",
    );
    assert!(broker.count(API_VERSIONS) >= 2, "the client reconnects and asks again");
}

#[test]
fn random_bytes_for_api_versions_time_out_send_without_panic() {
    let broker = FakeBroker::start(|_| Reply::Bytes(vec![0xde, 0xad, 0xbe, 0xef, 0x13, 0x37, 0x00]));
    assert_send_times_out(&broker, "broker -1 answered unknown correlation id");
    // A 2-byte frame cannot even hold a correlation id.
    let broker = FakeBroker::start(|_| Reply::Bytes(vec![0x01, 0x02]));
    assert_send_times_out(&broker, "reading a response from broker -1: response header: truncated");
}

// ----- Metadata ------------------------------------------------------------------------------

#[test]
fn metadata_truncated_inside_topics_array_times_out_send_without_panic() {
    let broker = FakeBroker::start(|req| match req.api_key {
        API_VERSIONS => Reply::Bytes(api_versions(req)),
        _ => {
            let mut b = metadata(req);
            b.truncate(b.len() - 12); // cut inside partition 0 of topic `t`
            Reply::Bytes(b)
        }
    });
    assert_send_times_out(&broker, "decoding Metadata v8 from broker -1: Metadata v8 response: truncated");
    assert!(broker.count(METADATA) >= 2, "the client asks again");
}

#[test]
fn metadata_claiming_i32_max_brokers_fails_fast_without_allocating() {
    let broker = FakeBroker::start(|req| match req.api_key {
        API_VERSIONS => Reply::Bytes(api_versions(req)),
        _ => {
            let mut b = Vec::new();
            b.put_i32(req.corr);
            b.put_i32(0); // throttle_time_ms
            b.put_i32(i32::MAX); // brokers: 2^31-1 entries of >= 10 bytes each
            b.extend_from_slice(&[0; 16]);
            Reply::Bytes(b)
        }
    });
    assert_send_times_out(
        &broker,
        "decoding Metadata v8 from broker -1: Metadata v8 response: array of 2147483647 elements cannot fit",
    );
    assert!(broker.count(METADATA) >= 2, "the client asks again");
}

// ----- Produce -------------------------------------------------------------------------------

#[test]
fn garbage_produce_response_is_retried_then_expires_with_timeout() {
    let broker = valid_except_produce(|req| {
        let mut b = Vec::new();
        b.put_i32(req.corr);
        b.extend_from_slice(&[0, 0, 0, 1, 0, 1, b't', 0xff]); // topic `t`, then a cut partition array
        Reply::Bytes(b)
    });
    let p = producer(&broker);
    let t = Instant::now();
    let e = send_one(&p).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(4), "took {:?}", t.elapsed());
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    let msg = e.to_string();
    assert!(msg.contains("t-0") && msg.contains("delivery.timeout.ms"), "{msg}");
    assert!(msg.contains("last error: ") && msg.contains("decoding Produce v8 from broker 1"), "{msg}");
    assert!(broker.count(PRODUCE) >= 2, "the batch was retried");
    close_cleanly(p);
}

#[test]
fn produce_response_without_the_partition_fails_the_record_naming_it() {
    let broker = valid_except_produce(|req| {
        let mut b = Vec::new();
        b.put_i32(req.corr);
        b.put_i32(1); // responses: topic `t` with no partitions
        b.put_string(Some(TOPIC));
        b.put_i32(0);
        b.put_i32(0); // throttle_time_ms
        Reply::Bytes(b)
    });
    let p = producer(&broker);
    let e = send_one(&p).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    assert!(e.to_string().contains("did not answer for t-0"), "{e}");
    close_cleanly(p);
}

#[test]
fn hostile_frame_size_drops_the_connection_without_allocating() {
    // Before anything is known: send times out.
    for size in [-2i32, i32::MAX, 128 * 1024 * 1024 + 1] {
        let broker = FakeBroker::start(move |_| Reply::Raw(size.to_be_bytes().to_vec()));
        assert_send_times_out(&broker, &format!("response frame size {size} is outside 0..=134217728"));
        assert!(broker.count(API_VERSIONS) >= 2, "the client reconnects");
    }
    // On a Produce: the record is retried, then expires naming the partition.
    let broker = valid_except_produce(|_| Reply::Raw(i32::MIN.to_be_bytes().to_vec()));
    let p = producer(&broker);
    let e = send_one(&p).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains("t-0"), "{e}");
    assert!(e.to_string().contains("last error: ") && e.to_string().contains("is outside 0..="), "{e}");
    assert!(broker.count(PRODUCE) >= 2, "the batch was retried");
    close_cleanly(p);
}

#[test]
fn produce_response_with_unknown_correlation_id_reconnects_and_retries() {
    let produces = AtomicUsize::new(0);
    let broker = valid_except_produce(move |req| {
        let n = produces.fetch_add(1, Ordering::SeqCst);
        let mut b = produce(req, 0, 7, None);
        if n == 0 {
            b[..4].copy_from_slice(&(req.corr + 1000).to_be_bytes());
        }
        Reply::Bytes(b)
    });
    let p = producer(&broker);
    let m = send_one(&p).expect("delivered by the retry");
    assert_eq!((m.topic(), m.partition(), m.offset()), (TOPIC, 0, 7));
    assert_eq!(broker.count(PRODUCE), 2);
    close_cleanly(p);
}

#[test]
fn non_retriable_produce_error_fails_the_record_with_the_code() {
    for (code, name, message) in [(10, "MESSAGE_TOO_LARGE", None), (87, "INVALID_RECORD", Some("bad record"))]
    {
        let broker = valid_except_produce(move |req| Reply::Bytes(produce(req, code, -1, message)));
        let p = producer(&broker);
        let e = send_one(&p).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Broker(KafkaCode(code)), "{e}");
        assert_eq!(e.code(), Some(KafkaCode(code)));
        let msg = e.to_string();
        assert!(msg.contains(name) && msg.contains("t-0"), "{msg}");
        if let Some(m) = message {
            assert!(msg.contains(&format!("broker says: {m}")), "{msg}");
        }
        assert_eq!(broker.count(PRODUCE), 1, "not retried");
        close_cleanly(p);
    }
}

#[test]
fn retriable_produce_error_is_retried_and_the_second_answer_wins() {
    let produces = AtomicUsize::new(0);
    let broker = valid_except_produce(move |req| match produces.fetch_add(1, Ordering::SeqCst) {
        0 => Reply::Bytes(produce(req, 6, -1, None)), // NOT_LEADER_OR_FOLLOWER
        _ => Reply::Bytes(produce(req, 0, 42, None)),
    });
    let p = producer(&broker);
    let m = send_one(&p).expect("delivered by the retry");
    assert_eq!((m.partition(), m.offset()), (0, 42));
    assert_eq!(broker.count(PRODUCE), 2);
    // The refresh is asked for, but the retry need not wait for it.
    let t = Instant::now();
    while broker.count(METADATA) < 2 && t.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(broker.count(METADATA) >= 2, "NOT_LEADER_OR_FOLLOWER refreshes metadata");
    close_cleanly(p);
}

#[test]
fn silent_broker_times_out_the_request_then_the_record() {
    // Not malformed, but the other way a response can be wrong: it never comes.
    let broker = valid_except_produce(|_| Reply::Nothing);
    let p = producer(&broker);
    let e = send_one(&p).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(
        e.to_string().contains("t-0")
            && e.to_string().contains("timed out after 500 ms (request.timeout.ms)"),
        "{e}"
    );
    close_cleanly(p);
}

#[test]
fn broker_closing_on_produce_is_retried_then_expires() {
    let broker = valid_except_produce(|_| Reply::Close);
    let p = producer(&broker);
    let e = send_one(&p).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains("t-0") && e.to_string().contains("closed the connection"), "{e}");
    assert!(broker.count(PRODUCE) >= 2, "the batch was retried");
    close_cleanly(p);
}

/// MESSAGE_TOO_LARGE for a batch of several records: the batch is split in halves (again and
/// again if needed), every record is delivered, in order, and each future reports the offset of
/// the part that carried it. A single record that is too large still fails (tested above).
#[test]
fn a_batch_refused_as_too_large_is_split_and_every_record_delivered() {
    let produces = Arc::new(AtomicUsize::new(0));
    let counter = produces.clone();
    let broker = valid_except_produce(move |req| match counter.fetch_add(1, Ordering::SeqCst) {
        // The first two requests carry the 8-record batch, then its first half: refused.
        0 | 1 => Reply::Bytes(produce(req, 10, -1, None)),
        n => Reply::Bytes(produce(req, 0, 100 * n as i64, None)),
    });
    let config = ProducerConfig::new()
        .bootstrap_servers(&broker.addr)
        .set("linger.ms", "200")
        .set("request.timeout.ms", "2000")
        .set("delivery.timeout.ms", "5000")
        .set("max.in.flight.requests.per.connection", "1");
    let p = Producer::new(config).unwrap();
    let futures: Vec<_> =
        (0..8).map(|i| p.send(Record::new(TOPIC).value(format!("v{i}").as_bytes())).unwrap()).collect();
    let offsets: Vec<i64> = futures
        .iter()
        .map(|f| {
            f.wait_timeout(Duration::from_secs(5)).unwrap_or_else(|e| panic!("not delivered: {e}")).offset()
        })
        .collect();
    // 8 -> refused; halves of 4: the first refused again -> halves of 2; so the parts are
    // [0,1], [2,3], [4..8) sent in that order as requests 2, 3 and 4.
    assert_eq!(offsets, [200, 201, 300, 301, 400, 401, 402, 403]);
    assert_eq!(produces.load(Ordering::SeqCst), 5);
    close_cleanly(p);
}

/// Idempotence, Java's rule: a batch the broker refuses with OUT_OF_ORDER_SEQUENCE_NUMBER only
/// because the batch before it was refused (and is being retried) is retried too, in order,
/// without an epoch bump; both records are delivered.
#[test]
fn a_batch_refused_as_out_of_order_behind_a_retried_one_is_retried_without_a_bump() {
    let produces = Arc::new(AtomicUsize::new(0));
    let counter = produces.clone();
    let broker = valid_except_produce(move |req| match counter.fetch_add(1, Ordering::SeqCst) {
        1 => {
            // Hold this answer so that the next batch is sent behind it.
            std::thread::sleep(Duration::from_millis(300));
            Reply::Bytes(produce(req, 19, -1, None)) // NOT_ENOUGH_REPLICAS
        }
        2 => Reply::Bytes(produce(req, 45, -1, None)), // OUT_OF_ORDER_SEQUENCE_NUMBER
        n => Reply::Bytes(produce(req, 0, 10 * n as i64, None)),
    });
    let p = producer(&broker);
    // A first batch acknowledged: the leader knows the producer, so batches may pipeline.
    p.send(Record::new(TOPIC).value("warm-up")).unwrap().wait_timeout(Duration::from_secs(5)).unwrap();
    let first = p.send(Record::new(TOPIC).value("first")).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let second = p.send(Record::new(TOPIC).value("second")).unwrap();
    let first = first.wait_timeout(Duration::from_secs(5)).unwrap_or_else(|e| panic!("first: {e}"));
    let second = second.wait_timeout(Duration::from_secs(5)).unwrap_or_else(|e| panic!("second: {e}"));
    assert!(first.offset() < second.offset(), "order kept: {} then {}", first.offset(), second.offset());
    assert_eq!(broker.count(INIT_PRODUCER_ID), 1, "no epoch bump");
    close_cleanly(p);
}
