use super::*;
use crate::network::metadata::{BrokerInfo, PartitionInfo, TopicInfo};
use crate::producer::record::RecordMetadata;

fn acc(batch_size: usize, memory: usize, linger_ms: u64) -> (Accumulator, Waker) {
    let waker = Waker::new().unwrap();
    let cfg = AccumulatorConfig {
        batch_size,
        linger: Duration::from_millis(linger_ms),
        max_block: Duration::from_millis(20),
        adaptive: true,
        compression: CompressionType::None,
        compression_level: None,
        transactional: false,
    };
    (Accumulator::new(cfg, memory, waker.clone(), Vec::new()), waker)
}

fn cluster(parts: usize) -> Cluster {
    let mut c = Cluster::default();
    c.brokers.insert(1, BrokerInfo { id: 1, addr: "h:1".into(), rack: None });
    c.topics.insert(
        "t".into(),
        Arc::new(TopicInfo {
            id: [0; 16],
            partitions: vec![PartitionInfo { leader: 1, leader_epoch: 0 }; parts],
            available: (0..parts as i32).collect(),
        }),
    );
    c
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

#[test]
fn a_batch_filled_while_the_sender_is_behind_is_compressed_by_its_filler() {
    let waker = Waker::new().unwrap();
    let cfg = AccumulatorConfig {
        batch_size: 2048,
        linger: Duration::from_secs(60),
        max_block: Duration::from_millis(20),
        adaptive: true,
        compression: CompressionType::Lz4,
        compression_level: None,
        transactional: false,
    };
    let a = Accumulator::new(cfg, 1 << 20, waker.clone(), Vec::new());
    let text = b"{\"level\":\"INFO\",\"msg\":\"order shipped to the west region\"}";
    // Nothing drains: three batches, the first two full.
    while a.topic("t").partitions.read().first().is_none_or(|q| q.batches.lock().len() < 3) {
        a.append("t", 0, 1, None, Some(&text[..]), &[], far(), None, None).unwrap();
    }
    let t = a.topic("t");
    let q = t.partitions.read()[0].clone();
    let mut dq = q.batches.lock();
    assert!(dq[0].full && dq[1].full, "a batch with no room for another record is full: sent without linger");
    // The first filled up with nothing ahead of it: the sender compresses it.
    assert!(matches!(dq[0].body, Body::Open(_)), "the sender keeps up: it compresses the first batch");
    // The second filled up while the first still waited: its filler compressed it.
    let Body::Sealed(sealed) = &dq[1].body else {
        panic!("the second full batch was not compressed by its filler")
    };
    assert!(sealed.len() < 2048 / 2, "lz4 shrinks repetitive text: {} bytes", sealed.len());
    let records = dq[1].record_count();
    // The sender only stamps it (no second compression), and it decodes to every record.
    let stamp = ProducerState { producer_id: 7, producer_epoch: 1, base_sequence: 0, transactional: false };
    dq[1].seal(CompressionType::Lz4, None, stamp, &mut Vec::new()).unwrap();
    let decoded = decode_batches(dq[1].bytes()).unwrap();
    assert_eq!(decoded.len(), 1);
    assert_eq!(decoded[0].records.len() as u32, records);
    assert!(decoded[0].records.iter().all(|r| r.value.as_deref() == Some(&text[..])));
    assert_eq!(decoded[0].producer_id, 7);
    drop(dq);
}

#[test]
fn keyless_records_fill_each_batch_before_the_sticky_partition_moves() {
    // Java's KIP-794 rule: the sticky partition moves when its batch is full, counted in the
    // bytes really appended, so batches leave full (they used to leave ~81% full).
    let (a, _wake) = acc(1024, 1 << 20, 60_000);
    let avail = [0, 1, 2, 3];
    let v = [b'x'; 100];
    for _ in 0..200 {
        let p = a.sticky_partition("t", &avail, 4);
        a.append("t", p, 1, None, Some(&v), &[], far(), Some((&avail, 4)), None).unwrap();
    }
    let t = a.topic("t");
    let mut full = 0;
    for q in t.partitions.read().iter() {
        let dq = q.batches.lock();
        // Every batch but the open one of each partition has no room for one more record.
        for batch in dq.iter().take(dq.len().saturating_sub(1)) {
            let Body::Open(b) = &batch.body else { panic!("unsealed batches expected") };
            let need = b.record_size(1, None, Some(&v), &[]);
            assert!(
                b.size_in_bytes() + need > batch.reserved,
                "a batch of {} bytes left with room",
                b.size_in_bytes()
            );
            full += 1;
        }
    }
    assert!(full >= 15, "200 records of ~110 bytes make ~22 full 1024-byte batches, saw {full}");
}

#[test]
fn appends_share_a_batch_until_full() {
    let (a, wake) = acc(200, 10_000, 1000);
    let v = [7u8; 40];
    let f1 = a.append("t", 0, 1, None, Some(&v), &[], far(), None, None).unwrap();
    assert!(wake.is_notified(), "a new batch wakes the sender");
    let mut n = 1;
    while a.topic("t").partitions.read()[0].batches.lock().len() == 1 {
        a.append("t", 0, 1, None, Some(&v), &[], far(), None, None).unwrap();
        n += 1;
    }
    assert!(n >= 3, "several records share the 200-byte batch (got {n})");
    assert_eq!(f1.partition(), 0);
    let r = a.ready(&cluster(1), Instant::now(), false, |_, _| true);
    assert!(r.nodes.contains_key(&1), "a full batch is ready before linger");
}

#[test]
fn linger_controls_readiness_and_next_check() {
    let (a, _w) = acc(16384, 100_000, 50);
    a.append("t", 0, 1, Some(b"k"), Some(b"v"), &[], far(), None, None).unwrap();
    let now = Instant::now();
    let r = a.ready(&cluster(1), now, false, |_, _| true);
    assert!(r.nodes.is_empty());
    assert!(r.next_check.unwrap() <= Duration::from_millis(50));
    let r = a.ready(&cluster(1), now + Duration::from_millis(60), false, |_, _| true);
    assert_eq!(r.nodes[&1].len(), 1);
    let r = a.ready(&cluster(1), now, true, |_, _| true);
    assert_eq!(r.nodes[&1].len(), 1, "closing makes batches ready at once");
}

#[test]
fn unknown_leader_is_reported() {
    let (a, _w) = acc(16384, 100_000, 0);
    a.append("t", 3, 1, None, Some(b"v"), &[], far(), None, None).unwrap();
    let r = a.ready(&cluster(1), Instant::now(), false, |_, _| true);
    assert!(r.unknown_leader);
    assert!(r.nodes.is_empty());
}

#[test]
fn drain_respects_max_bytes_and_rotates() {
    let (a, _w) = acc(100, 100_000, 0);
    for p in 0..3 {
        a.append("t", p, 1, None, Some(&[1u8; 50]), &[], far(), None, None).unwrap();
    }
    let r = a.ready(&cluster(3), Instant::now(), false, |_, _| true);
    let mut qs = r.nodes[&1].clone();
    qs.sort_by_key(|q| q.partition);
    let (batches, next) = a.drain(&qs, 1, 250, Instant::now(), |_, _| true);
    assert_eq!(batches.iter().map(|b| b.partition).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(next, 0);
    let (batches, _) = a.drain(&qs, next, 1, Instant::now(), |_, _| true);
    assert_eq!(batches.len(), 1, "the first batch is always taken");
}

#[test]
fn completion_frees_memory_and_resolves_futures() {
    let (a, _w) = acc(100, 1000, 0);
    let f = a.append("t", 0, 7, Some(b"k"), Some(b"v"), &[], far(), None, None).unwrap();
    assert_eq!(a.pool().available_memory(), 900);
    let (mut bs, _) = a.drain(&[a.queue(&a.topic("t"), 0)], 0, 1 << 20, Instant::now(), |_, _| true);
    let mut b = bs.pop().unwrap();
    b.seal(CompressionType::None, None, ProducerState::NONE, &mut Vec::new()).unwrap();
    assert!(b.bytes().len() > BATCH_HEADER_LEN);
    a.complete(b, Ok(BatchAck { base_offset: 10, log_append_time: -1 }));
    assert_eq!(f.wait().unwrap().offset(), 10);
    assert_eq!(a.pool().available_memory(), 1000);
    assert!(!a.has_incomplete());
}

#[test]
fn callbacks_are_charged_to_the_pool_and_a_batch_without_room_for_more_closes() {
    let cb = || Callback::new(|_: Result<RecordMetadata>| {});
    let send = |a: &Accumulator, value: &[u8]| {
        let soon = Instant::now() + Duration::from_millis(20);
        a.append("t", 0, 1, None, Some(value), &[], soon, None, Some(cb()))
    };
    let entry = CALLBACK_ENTRY_BYTES;
    let big = [1u8; 200];
    // The first record's size sets the batch's room: 1000 / its size bound, at least 4 entries.
    let room = callback_room_for(1000, record_size_bound(None, Some(&big), &[]));
    assert_eq!(room, 4);
    // Room in the pool for one batch and four callback entries, no more.
    let (a, _w) = acc(1000, 1000 + room * entry, 0);
    send(&a, &big).unwrap();
    assert_eq!(a.pool().available_memory(), 0, "the batch buffer and its callback entries are charged");
    for _ in 1..room {
        send(&a, b"small").unwrap();
    }
    // A fifth record would fit the buffer, but its callback entry does not fit the pool: the
    // batch closes, and the record waits for memory (here: until its deadline).
    let e = send(&a, b"small").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BufferExhausted);
    let q = a.queue(&a.topic("t"), 0);
    assert!(q.batches.lock()[0].full, "a batch that cannot hold another callback is sent as full");
    let (mut bs, _) = a.drain(std::slice::from_ref(&q), 0, 1 << 20, Instant::now(), |_, _| true);
    let b = bs.pop().unwrap();
    assert_eq!(b.record_count(), room as u32);
    a.complete(b, Ok(BatchAck { base_offset: 0, log_append_time: -1 }));
    assert_eq!(a.pool().available_memory(), 1000 + room * entry, "completion gives the charge back");

    // With memory to spare, the batch charges more entries and keeps filling.
    let (a, _w) = acc(1000, 10_000, 0);
    send(&a, &big).unwrap();
    for _ in 1..=room {
        send(&a, b"small").unwrap();
    }
    let q = a.queue(&a.topic("t"), 0);
    assert_eq!(q.batches.lock().len(), 1, "five records, one batch");
    let charged = 10_000 - 1000 - a.pool().available_memory();
    assert!(charged > room * entry && charged % entry == 0, "more entries charged: {charged} bytes");
    // A pool with room for fewer entries than a batch would take: the batch charges what fits,
    // and gives back exactly that.
    let (a, _w) = acc(1000, 1000 + 2 * entry, 0);
    send(&a, &big).unwrap();
    assert_eq!(a.pool().available_memory(), 0);
    let q = a.queue(&a.topic("t"), 0);
    let (mut bs, _) = a.drain(std::slice::from_ref(&q), 0, 1 << 20, Instant::now(), |_, _| true);
    a.complete(bs.pop().unwrap(), Ok(BatchAck { base_offset: 0, log_append_time: -1 }));
    assert_eq!(a.pool().available_memory(), 1000 + 2 * entry, "no more given back than was charged");
    // No room even for the record's own entry: refused, naming the cause, nothing taken.
    let (a, _w) = acc(1000, 1000, 0);
    let e = send(&a, &big).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RecordTooLarge);
    assert!(e.to_string().contains("callback entries"), "{e}");
    assert_eq!(a.pool().available_memory(), 1000);
    // Records without a callback charge nothing.
    let (a, _w) = acc(1000, 10_000, 0);
    a.append("t", 0, 1, None, Some(&big), &[], far(), None, None).unwrap();
    assert_eq!(a.pool().available_memory(), 9000);
}

#[test]
fn full_pool_blocks_then_fails_with_buffer_error() {
    let (a, _w) = acc(100, 100, 0);
    a.append("t", 0, 1, None, Some(b"v"), &[], far(), None, None).unwrap();
    let e = a
        .append("t", 1, 1, None, Some(b"v"), &[], Instant::now() + Duration::from_millis(20), None, None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BufferExhausted);
}

#[test]
fn expired_batches_are_removed_and_closed_refuses() {
    let (a, _w) = acc(100, 1000, 0);
    a.append("t", 0, 1, None, Some(b"v"), &[], far(), None, None).unwrap();
    assert!(a.expired(Instant::now(), Duration::from_secs(60)).is_empty());
    let ex = a.expired(Instant::now() + Duration::from_secs(61), Duration::from_secs(60));
    assert_eq!(ex.len(), 1);
    a.close();
    assert_eq!(
        a.append("t", 0, 1, None, None, &[], far(), None, None).unwrap_err().kind(),
        ErrorKind::Closed
    );
}

#[test]
fn expiry_is_not_missed_when_a_retry_brings_back_a_batch_older_than_every_queued_one() {
    let (a, _w) = acc(100, 10_000, 0);
    let dt = Duration::from_secs(60);
    let q = a.queue(&a.topic("t"), 0);
    a.append("t", 0, 1, None, Some(&[1u8; 80]), &[], far(), None, None).unwrap();
    let (mut sent, _) = a.drain(std::slice::from_ref(&q), 0, 1 << 20, Instant::now(), |_, _| true);
    let old = sent.pop().expect("the first batch drained");
    std::thread::sleep(Duration::from_millis(5));
    a.append("t", 0, 1, None, Some(&[2u8; 80]), &[], far(), None, None).unwrap();
    let newer = q.batches.lock()[0].created;
    assert!(newer >= old.created + Duration::from_millis(5));
    // This look sees only the newer batch: nothing can expire before newer + dt.
    assert!(a.expired(old.created + Duration::from_secs(1), dt).is_empty());
    // The older batch comes back for a retry; it expires on its own time, not the newer one's.
    let old_created = old.created;
    a.reenqueue(old, Instant::now());
    let at = old_created + dt + Duration::from_millis(1);
    assert!(at < newer + dt);
    let ex = a.expired(at, dt);
    assert_eq!(ex.iter().map(|b| b.created).collect::<Vec<_>>(), vec![old_created]);
    assert!(a.expired(at, dt).is_empty(), "the newer batch has time left");
    assert_eq!(a.expired(newer + dt, dt).len(), 1, "and expires when it runs out");
}

#[test]
fn reenqueued_batch_waits_for_backoff_and_goes_first() {
    let (a, _w) = acc(100, 10_000, 0);
    a.append("t", 0, 1, None, Some(&[1u8; 80]), &[], far(), None, None).unwrap();
    a.append("t", 0, 1, None, Some(&[2u8; 80]), &[], far(), None, None).unwrap();
    let q = a.queue(&a.topic("t"), 0);
    let (mut bs, _) = a.drain(std::slice::from_ref(&q), 0, 1 << 20, Instant::now(), |_, _| true);
    let first_id = bs[0].id;
    let now = Instant::now();
    a.reenqueue(bs.pop().unwrap(), now + Duration::from_millis(100));
    let r = a.ready(&cluster(1), now, false, |_, _| true);
    assert!(r.nodes.is_empty(), "the retry waits for its backoff");
    assert!(r.next_check.unwrap() <= Duration::from_millis(100));
    let (bs, _) = a.drain(&[q], 0, 1 << 20, now + Duration::from_millis(101), |_, _| true);
    assert_eq!(bs[0].id, first_id);
}

#[test]
fn a_split_batch_keeps_records_callbacks_and_memory_accounting() {
    let (a, _w) = acc(16384, 100_000, 0);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut futures = Vec::new();
    for i in 0..5u8 {
        let seen = seen.clone();
        let cb =
            Callback::new(move |r: Result<RecordMetadata>| seen.lock().push((i, r.map(|m| m.offset()).ok())));
        futures.push(
            a.append("t", 0, 1000 + i as i64, None, Some(&[i; 10]), &[], far(), None, Some(cb)).unwrap(),
        );
    }
    let before = a.pool().available_memory();
    let (mut bs, _) = a.drain(&[a.queue(&a.topic("t"), 0)], 0, 1 << 20, Instant::now(), |_, _| true);
    let mut b = bs.pop().unwrap();
    b.seal(CompressionType::Lz4, None, ProducerState::NONE, &mut Vec::new()).unwrap();
    b.sequence = Some(7);
    let mut parts = a.split(b).map_err(|b| b.1).unwrap();
    assert_eq!(parts.iter().map(|p| p.record_count()).collect::<Vec<_>>(), [3, 2]);
    assert_eq!(parts.iter().map(|p| p.sequence).collect::<Vec<_>>(), [Some(7), Some(10)]);
    // A part can be split again; its records keep their place.
    let second = parts.pop().unwrap();
    let mut first = parts.pop().unwrap();
    first.seal(CompressionType::None, None, ProducerState::NONE, &mut Vec::new()).unwrap();
    let decoded = decode_batches(first.bytes()).unwrap();
    let values: Vec<u8> = decoded[0].records.iter().map(|r| r.value.as_ref().unwrap()[0]).collect();
    assert_eq!(values, [0, 1, 2]);
    assert_eq!(decoded[0].base_timestamp, 1000);
    let sub = a.split(first).map_err(|b| b.1).unwrap();
    assert_eq!(sub.iter().map(|p| p.record_count()).collect::<Vec<_>>(), [2, 1]);
    let acks = [10, 20, 30];
    for (p, base) in sub.into_iter().chain(std::iter::once(second)).zip(acks) {
        assert_eq!(a.pool().available_memory(), before, "the original buffer stays reserved");
        a.complete(p, Ok(BatchAck { base_offset: base, log_append_time: -1 }));
    }
    let offsets: Vec<i64> = futures.iter().map(|f| f.wait().unwrap().offset()).collect();
    assert_eq!(offsets, [10, 11, 20, 30, 31]);
    let mut seen = seen.lock().clone();
    seen.sort();
    assert_eq!(seen, [(0, Some(10)), (1, Some(11)), (2, Some(20)), (3, Some(30)), (4, Some(31))]);
    assert_eq!(a.pool().available_memory(), 100_000, "memory returns after the last part");
    assert!(!a.has_incomplete());
}

#[test]
fn a_compressed_batch_gives_its_pooled_buffer_back() {
    let (a, _w) = acc(16384, 100_000, 0);
    let mut scratch = Vec::new();
    let mut ptrs = Vec::new();
    for round in 0..3 {
        for i in 0..50u8 {
            a.append("t", 0, 1, None, Some(&[i; 100]), &[], far(), None, None).unwrap();
        }
        let (mut bs, _) = a.drain(&[a.queue(&a.topic("t"), 0)], 0, 1 << 20, Instant::now(), |_, _| true);
        let mut b = bs.pop().unwrap();
        b.seal(CompressionType::Zstd, None, ProducerState::NONE, &mut scratch).unwrap();
        ptrs.push(b.bytes().as_ptr());
        assert_eq!(decode_batches(b.bytes()).unwrap()[0].records.len(), 50, "round {round}");
        a.complete(b, Ok(BatchAck { base_offset: 0, log_append_time: -1 }));
        assert_eq!(a.pool().available_memory(), 100_000);
    }
    assert_eq!(ptrs[1], ptrs[2], "the same pooled buffer carries every batch");
}

#[test]
fn a_new_batch_wakes_the_sender_only_when_its_poll_outlasts_the_linger_unless_transactional() {
    for (linger_ms, transactional, wakes) in [(60_000, false, false), (0, false, true), (60_000, true, true)]
    {
        let (mut a, waker) = acc(1024, 1 << 20, linger_ms);
        a.config.transactional = transactional;
        waker.sleeping_until(Instant::now() + Duration::from_secs(1));
        a.append("t", 0, 1, None, Some(b"v"), &[], far(), None, None).unwrap();
        assert_eq!(waker.is_notified(), wakes, "linger {linger_ms} ms, transactional {transactional}");
        // A second record joins the batch: no new batch, no wake-up.
        waker.reset();
        waker.sleeping_until(Instant::now() + Duration::from_secs(1));
        a.append("t", 0, 1, None, Some(b"w"), &[], far(), None, None).unwrap();
        assert!(!waker.is_notified());
    }
}
