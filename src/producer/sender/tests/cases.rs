//! The sender's cases over the scripted cluster of `tests/mod.rs`: produce, retries, ordering,
//! idempotence, connections, timeouts, throttling, SASL, shutdown.

use super::*;

#[test]
fn backoff_grows_to_max_with_jitter() {
    let base = Duration::from_millis(100);
    let max = Duration::from_millis(1000);
    for attempt in 0..10 {
        let d = exp_backoff(base, max, attempt);
        let ideal = (100.0 * 2f64.powi(attempt as i32)).min(1000.0);
        assert!(d.as_millis() as f64 >= ideal * 0.79, "attempt {attempt}: {d:?}");
        assert!(d <= max, "attempt {attempt}: {d:?}");
    }
    assert_eq!(exp_backoff(Duration::ZERO, max, 3), Duration::ZERO);
}

#[test]
fn produce_lost_on_a_dropped_connection_is_retriable_and_names_the_cause() {
    let e = in_flight_lost(&Error::protocol("broker 1 answered unknown correlation id 9"), 1, "t-0");
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(e.is_retriable());
    assert_eq!(
        e.to_string(),
        "producing to t-0 on broker 1: connection dropped: broker 1 answered unknown correlation id 9"
    );
    let e = in_flight_lost(&Error::timeout("request timed out"), 1, "t-0");
    assert_eq!(
        (e.kind(), e.to_string().as_str()),
        (ErrorKind::Timeout, "producing to t-0 on broker 1: request timed out")
    );
}

#[test]
fn leader_errors_invalidate_metadata() {
    assert!(invalidates_metadata(KafkaCode::NOT_LEADER_OR_FOLLOWER));
    assert!(!invalidates_metadata(KafkaCode::NOT_ENOUGH_REPLICAS));
}

#[test]
fn a_record_goes_out_after_api_versions_and_metadata_and_resolves_with_its_offset() {
    let mut h = harness(1, 1, &[("enable.idempotence", "false"), ("acks", "1")]);
    let f = h.send(0, "v");
    h.turns(6);
    assert_eq!(
        h.api_keys(),
        [18, 3, 18, 0],
        "ApiVersions, Metadata (bootstrap), ApiVersions, Produce (broker 1)"
    );
    let (acks, parts) = h.produces()[0].produce();
    assert_eq!((acks, parts.len()), (1, 1));
    let b = &parts[0].batches[0];
    assert_eq!(b.records[0].value.as_deref(), Some(&b"v"[..]));
    assert_eq!((b.producer_id, b.base_sequence), (-1, -1), "no producer id without idempotence");
    assert_eq!(done(&f).unwrap().offset(), 0);
}

#[test]
fn an_idempotent_producer_gets_an_id_first_and_numbers_batches_per_partition() {
    let mut h = harness(1, 2, &[]);
    let futures: Vec<SendFuture> = (0..3).map(|i| h.send(0, &format!("a{i}"))).collect();
    h.turns(8);
    let more: Vec<SendFuture> = (0..2).map(|i| h.send(0, &format!("b{i}"))).collect();
    let other = h.send(1, "c");
    h.turns(4);
    let keys = h.api_keys();
    let first_produce = keys.iter().position(|&k| k == 0).unwrap();
    assert!(keys[..first_produce].contains(&22), "InitProducerId before any Produce: {keys:?}");
    let stamps: Vec<(i32, i64, i32, usize)> = h
        .produces()
        .iter()
        .flat_map(|r| r.produce().1)
        .flat_map(|p| {
            p.batches.into_iter().map(move |b| (p.partition, b.producer_id, b.base_sequence, b.records.len()))
        })
        .collect();
    assert_eq!(stamps, [(0, 1000, 0, 3), (0, 1000, 3, 2), (1, 1000, 0, 1)]);
    let offsets: Vec<i64> = futures.iter().chain(&more).map(|f| done(f).unwrap().offset()).collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4]);
    assert_eq!(done(&other).unwrap().offset(), 0);
}

#[test]
fn a_retriable_error_is_retried_only_after_the_backoff_on_the_injected_clock() {
    let mut h = harness(1, 1, &[("retry.backoff.ms", "100"), ("retry.backoff.max.ms", "100")]);
    h.hold_produce();
    let f = h.send(0, "v");
    h.turns(8);
    assert_eq!(h.held(), 1);
    h.answer(KafkaCode::NOT_ENOUGH_REPLICAS);
    h.turns(5);
    assert_eq!(h.produces().len(), 1, "no retry before retry.backoff.ms has passed");
    assert!(!f.is_done());
    h.advance(Duration::from_millis(79));
    h.turns(3);
    assert_eq!(h.produces().len(), 1, "backoff jitter is at most 20%: not before 80 ms");
    h.advance(Duration::from_millis(50));
    h.turns(3);
    let produces = h.produces();
    assert_eq!(produces.len(), 2, "retried once the backoff passed");
    let seqs: Vec<i32> = produces.iter().map(|r| r.produce().1[0].batches[0].base_sequence).collect();
    assert_eq!(seqs, [0, 0], "a retry keeps its sequence number");
    h.answer(KafkaCode::NONE);
    h.turns(2);
    assert_eq!(done(&f).unwrap().offset(), 0);
}

#[test]
fn a_non_retriable_error_fails_the_record_with_the_broker_code_and_partition() {
    let mut h = harness(1, 1, &[("enable.idempotence", "false"), ("acks", "1")]);
    h.hold_produce();
    let f = h.send(0, "v");
    h.turns(6);
    h.answer(KafkaCode::INVALID_TOPIC_EXCEPTION);
    h.turns(2);
    let e = done(&f).unwrap_err();
    assert_eq!(e.code(), Some(KafkaCode::INVALID_TOPIC_EXCEPTION), "{e}");
    assert!(!e.is_retriable());
    assert!(e.to_string().contains("t-0"), "{e}");
    assert_eq!(h.produces().len(), 1, "never retried");
}

#[test]
fn not_leader_refreshes_metadata_and_the_retry_goes_to_the_new_leader() {
    let mut h = harness(2, 1, &[("retry.backoff.ms", "10"), ("retry.backoff.max.ms", "10")]);
    h.hold_produce();
    let f = h.send(0, "v");
    h.turns(8);
    assert_eq!(h.produces()[0].node, 1);
    h.script.borrow_mut().topics.get_mut("t").unwrap()[0] = 2;
    let metadata_before = h.api_keys().iter().filter(|&&k| k == 3).count();
    h.advance(Duration::from_millis(15)); // the last metadata fetch is older than its backoff
    h.answer(KafkaCode::NOT_LEADER_OR_FOLLOWER);
    h.turns(3);
    h.advance(Duration::from_millis(20));
    h.turns(8);
    let metadata_after = h.api_keys().iter().filter(|&&k| k == 3).count();
    assert!(metadata_after > metadata_before, "NOT_LEADER_OR_FOLLOWER asks for metadata");
    let nodes: Vec<i32> = h.produces().iter().map(|r| r.node).collect();
    assert_eq!(nodes, [1, 2], "the retry goes to the new leader");
    h.answer(KafkaCode::NONE);
    h.turns(2);
    assert!(done(&f).is_ok());
}

#[test]
fn a_request_without_answer_times_out_drops_the_connection_and_is_retried_under_its_stamp() {
    let mut h = harness(1, 1, &[("request.timeout.ms", "1000"), ("delivery.timeout.ms", "30000")]);
    h.hold_produce();
    let f = h.send(0, "v");
    h.turns(8);
    h.script.borrow_mut().held.clear(); // the broker never answers
    h.advance(Duration::from_millis(999));
    h.turns(2);
    assert_eq!(h.produces().len(), 1);
    let connects = h.script.borrow().connects.len();
    h.advance(Duration::from_millis(2));
    h.turns(2);
    assert!(h.script.borrow().wires.values().all(|w| w.node != 1), "the connection to broker 1 was dropped");
    h.advance(Duration::from_secs(2)); // reconnect and retry backoff
    h.turns(10);
    assert!(h.script.borrow().connects.len() > connects, "reconnected");
    let produces = h.produces();
    assert_eq!(produces.len(), 2, "retried on the new connection");
    let stamp = |r: &Captured| {
        let b = &r.produce().1[0].batches[0];
        (b.producer_id, b.producer_epoch, b.base_sequence)
    };
    assert_eq!(stamp(&produces[0]), stamp(&produces[1]), "same producer id, epoch and sequence");
    h.answer(KafkaCode::NONE);
    h.turns(2);
    assert!(done(&f).is_ok());
}

#[test]
fn a_batch_expires_after_delivery_timeout_when_its_leader_is_unreachable() {
    let mut h =
        harness(1, 1, &[("delivery.timeout.ms", "5000"), ("request.timeout.ms", "1000"), ("linger.ms", "0")]);
    h.set_broker_up(1, false);
    let f = h.send(0, "v");
    for _ in 0..10 {
        h.turns(3);
        h.advance(Duration::from_millis(400));
    }
    assert!(!f.is_done(), "still inside delivery.timeout.ms");
    h.advance(Duration::from_millis(1100));
    h.turns(2);
    let e = done(&f).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains("t-0") && e.to_string().contains("delivery.timeout.ms"), "{e}");
    assert!(h.produces().is_empty());
}

#[test]
fn duplicate_sequence_number_means_the_broker_has_the_batch_and_completes_it() {
    let mut h = harness(1, 1, &[]);
    h.hold_produce();
    let f = h.send(0, "v");
    h.turns(8);
    h.answer(KafkaCode::DUPLICATE_SEQUENCE_NUMBER);
    h.turns(2);
    assert!(done(&f).is_ok(), "a duplicate is a success");
    assert_eq!(h.produces().len(), 1);
}

#[test]
fn max_in_flight_bounds_the_requests_on_one_connection() {
    let mut h = harness(
        1,
        1,
        &[("enable.idempotence", "false"), ("acks", "1"), ("max.in.flight.requests.per.connection", "2")],
    );
    h.hold_produce();
    let futures: Vec<SendFuture> = (0..4)
        .map(|i| {
            let f = h.send(0, &format!("v{i}"));
            h.turns(3);
            f
        })
        .collect();
    assert_eq!(h.produces().len(), 2, "two requests in flight, the rest wait");
    h.answer(KafkaCode::NONE);
    h.turns(3);
    assert_eq!(h.produces().len(), 3, "one answer lets one more go");
    while h.held() > 0 {
        h.answer(KafkaCode::NONE);
        h.turns(3);
    }
    let offsets: Vec<i64> = futures.iter().map(|f| done(f).unwrap().offset()).collect();
    assert_eq!(offsets, [0, 1, 2, 3], "in order");
}

#[test]
fn a_malformed_produce_response_drops_the_connection_and_the_batch_is_retried() {
    let mut h = harness(1, 1, &[("retry.backoff.ms", "10")]);
    h.hold_produce();
    let f = h.send(0, "v");
    h.turns(8);
    h.answer_raw(&[0, 0, 0, 9, 0xff]); // nine topics promised, one byte given
    h.turns(3);
    assert!(!f.is_done(), "not failed: its outcome is unknown, so it is retried");
    h.advance(Duration::from_secs(2));
    h.turns(10);
    assert_eq!(h.produces().len(), 2);
    h.answer(KafkaCode::NONE);
    h.turns(2);
    assert!(done(&f).is_ok());
}

#[test]
fn a_response_with_an_unknown_correlation_id_drops_the_connection() {
    let mut h = harness(1, 1, &[]);
    h.hold_produce();
    let _f = h.send(0, "v");
    h.turns(8);
    let connects = h.script.borrow().connects.len();
    h.wire(1, |w| w.inbox.push_back(vec![0x7f, 0, 0, 0]));
    h.turns(1);
    assert!(h.script.borrow().wires.values().all(|w| w.node != 1), "connection to broker 1 dropped");
    h.advance(Duration::from_secs(1));
    h.turns(6);
    assert!(h.script.borrow().connects.len() > connects);
}

#[test]
fn acks_0_records_complete_when_written_not_when_queued() {
    let mut h = harness(1, 1, &[("acks", "0"), ("enable.idempotence", "false")]);
    let first = h.send(0, "warm");
    h.turns(6);
    assert_eq!(done(&first).unwrap().offset(), -1, "acks=0 has no offset");
    h.wire(1, |w| w.stalled = true);
    let f = h.send(0, "v");
    h.turns(4);
    assert!(!f.is_done(), "queued on a full socket: not complete");
    assert!(h.s.shared.accumulator.has_incomplete(), "and its memory is still held");
    h.wire(1, |w| w.stalled = false);
    h.turns(2);
    assert_eq!(done(&f).unwrap().offset(), -1);
    assert_eq!(h.produces().len(), 2);
}

#[test]
fn a_refused_connect_waits_for_the_reconnect_backoff_before_trying_again() {
    let mut h = harness(1, 1, &[("reconnect.backoff.ms", "500"), ("reconnect.backoff.max.ms", "500")]);
    h.set_broker_up(1, false);
    let _f = h.send(0, "v");
    h.turns(4);
    let first = h.script.borrow().connects.len();
    assert!(first >= 1);
    h.advance(Duration::from_millis(300));
    h.turns(4);
    assert_eq!(h.script.borrow().connects.len(), first, "no new attempt inside the backoff");
    h.advance(Duration::from_millis(400));
    h.turns(4);
    assert!(h.script.borrow().connects.len() > first, "tried again after it");
}

#[test]
fn a_broker_closing_the_connection_retries_what_was_in_flight() {
    let mut h = harness(1, 1, &[("retry.backoff.ms", "10")]);
    h.hold_produce();
    let f = h.send(0, "v");
    h.turns(8);
    h.script.borrow_mut().held.clear();
    h.wire(1, |w| w.broken = true);
    h.turns(2);
    assert!(!f.is_done());
    h.advance(Duration::from_secs(1));
    h.turns(10);
    assert_eq!(h.produces().len(), 2);
    h.answer(KafkaCode::NONE);
    h.turns(2);
    assert_eq!(done(&f).unwrap().offset(), 0);
}

#[test]
fn a_batch_whose_frame_was_not_written_when_the_connection_broke_is_retried_with_its_bytes() {
    // The frame writes the batch from the batch's own buffer: the broken link must give the
    // buffer back, or the retry would have nothing to send.
    let mut h = harness(1, 1, &[("retry.backoff.ms", "10"), ("linger.ms", "0")]);
    let warm = h.send(0, "warm");
    h.turns(8);
    assert!(done(&warm).is_ok());
    h.wire(1, |w| w.stalled = true);
    let f = h.send(0, "lent-bytes");
    h.turns(3);
    let queued = h.script.borrow().wires.values().find(|w| w.node == 1).map(|w| w.out.len()).unwrap();
    assert_eq!(queued, 1, "the Produce frame waits on the stalled socket");
    h.wire(1, |w| w.broken = true);
    h.turns(2);
    assert!(!f.is_done());
    h.advance(Duration::from_secs(1));
    h.turns(10);
    let produces = h.produces();
    assert_eq!(produces.len(), 2, "warm-up and the retry (the unwritten frame never arrived)");
    let retried = &produces[1].produce().1[0].batches[0];
    assert_eq!(retried.records.len(), 1);
    assert_eq!(retried.records[0].value.as_deref(), Some(&b"lent-bytes"[..]));
    assert!(done(&f).is_ok());
}

#[test]
fn batches_of_several_topics_in_one_request_each_land_under_their_own_topic_and_partition() {
    // The request groups partitions by topic, and each batch is written from its own buffer
    // at its place in the frame: interleaved sends must still arrive where they were sent.
    let mut h = harness(1, 2, &[("linger.ms", "50"), ("enable.idempotence", "false"), ("acks", "1")]);
    h.script.borrow_mut().topics.insert("u".to_owned(), vec![1, 1]);
    h.s.shared.metadata.want("u");
    let far = h.script.borrow().now + Duration::from_secs(60);
    let append = |h: &Harness, topic: &str, partition: i32, value: &str| {
        h.s.shared
            .accumulator
            .append(topic, partition, 1, None, Some(value.as_bytes()), &[], far, None, None)
            .expect("appended")
    };
    let before = h.produces().len();
    let futures = [
        append(&h, "t", 0, "t0"),
        append(&h, "u", 1, "u1"),
        append(&h, "t", 1, "t1"),
        append(&h, "u", 0, "u0"),
    ];
    h.turns(6);
    h.advance(Duration::from_millis(60));
    h.turns(6);
    let produces = h.produces();
    assert_eq!(produces.len(), before + 1, "one request for the one broker");
    let mut landed: Vec<(String, i32, Vec<u8>)> = produces[before]
        .produce()
        .1
        .into_iter()
        .flat_map(|p| {
            let (topic, partition) = (p.topic, p.partition);
            p.batches
                .into_iter()
                .flat_map(|b| b.records)
                .map(move |r| (topic.clone(), partition, r.value.unwrap_or_default()))
        })
        .collect();
    landed.sort();
    let want: Vec<(String, i32, Vec<u8>)> = [("t", 0, "t0"), ("t", 1, "t1"), ("u", 0, "u0"), ("u", 1, "u1")]
        .iter()
        .map(|(t, p, v)| (t.to_string(), *p, v.as_bytes().to_vec()))
        .collect();
    assert_eq!(landed, want);
    assert!(futures.iter().all(|f| done(f).is_ok()));
}

#[test]
fn message_too_large_splits_the_batch_and_the_halves_keep_order_and_futures() {
    let mut h = harness(1, 1, &[("enable.idempotence", "false"), ("acks", "1"), ("linger.ms", "10")]);
    h.hold_produce();
    let futures: Vec<SendFuture> = (0..4).map(|i| h.send(0, &format!("v{i}"))).collect();
    h.turns(6);
    h.advance(Duration::from_millis(20));
    h.turns(4);
    assert_eq!(h.produces().len(), 1);
    assert_eq!(h.produces()[0].produce().1[0].batches[0].records.len(), 4);
    h.answer(KafkaCode::MESSAGE_TOO_LARGE);
    h.turns(4);
    while h.held() > 0 {
        h.answer(KafkaCode::NONE);
        h.turns(4);
    }
    let sizes: Vec<usize> = h.produces().iter().map(|r| r.produce().1[0].batches[0].records.len()).collect();
    assert_eq!(sizes, [4, 2, 2], "split in two halves, each sent once");
    let offsets: Vec<i64> = futures.iter().map(|f| done(f).unwrap().offset()).collect();
    assert_eq!(offsets, [0, 1, 2, 3], "records keep their order and their futures");
}

#[test]
fn a_node_that_takes_no_batches_for_the_availability_timeout_is_left_out_by_adaptive_partitioning() {
    let mut h = harness(
        2,
        2,
        &[
            ("enable.idempotence", "false"),
            ("acks", "1"),
            ("max.in.flight.requests.per.connection", "2"),
            ("partitioner.availability.timeout.ms", "100"),
            ("request.timeout.ms", "60000"),
        ],
    );
    h.hold_produce();
    // Broker 2 (partition 1's leader) never answers: after two requests its slots are taken.
    for v in ["a", "b", "c"] {
        let _ = (h.send(0, v), h.send(1, v));
        h.turns(6);
        while h.script.borrow().held.iter().any(|r| r.node == 1) {
            h.answer_from(Some(1), KafkaCode::NONE);
            h.turns(2);
        }
    }
    assert_eq!(
        h.produces().iter().filter(|r| r.node == 2).count(),
        2,
        "two in flight to broker 2, one waiting"
    );
    let acc = h.s.shared.clone();
    let acc = &acc.accumulator;
    for _ in 0..2 {
        let _ = h.send(0, "d");
        h.advance(Duration::from_millis(40));
        h.turns(3);
        h.answer_from(Some(1), KafkaCode::NONE);
    }
    h.turns(2);
    assert!(!acc.is_unavailable("t", 1), "80 ms without taking a batch: still inside the timeout");
    h.advance(Duration::from_millis(40));
    h.turns(3);
    assert!(acc.is_unavailable("t", 1), "partition 1's leader took nothing for 120 ms > 100 ms");
    assert!(!acc.is_unavailable("t", 0), "partition 0's leader keeps taking batches");
    // Broker 2 answers: its waiting batch goes out, the queue empties, the partition is back.
    h.answer_from(Some(2), KafkaCode::NONE);
    h.turns(4);
    h.answer_from(Some(2), KafkaCode::NONE);
    h.turns(4);
    assert!(!acc.is_unavailable("t", 1), "available again once its leader takes batches");
}

#[test]
fn connections_max_idle_zero_still_delivers_and_closes_connections_once_idle() {
    let mut h =
        harness(1, 1, &[("connections.max.idle.ms", "0"), ("enable.idempotence", "false"), ("acks", "1")]);
    let f = h.send(0, "v");
    h.turns(10);
    assert_eq!(done(&f).unwrap().offset(), 0, "delivered although every idle connection closes at once");
    h.turns(2);
    assert!(h.script.borrow().wires.is_empty(), "and the connections are closed once idle");
    let g = h.send(0, "w");
    h.turns(10);
    assert_eq!(done(&g).unwrap().offset(), 1, "the next record reconnects");
}

#[test]
fn a_bootstrap_server_that_accepts_and_never_answers_costs_the_setup_timeout_not_the_request_timeout() {
    let mut first_tried = std::collections::HashSet::new();
    for _ in 0..24 {
        let mut h = harness(
            2,
            1,
            &[
                ("bootstrap.servers", "b1:9092,b2:9092"),
                ("socket.connection.setup.timeout.ms", "1000"),
                ("request.timeout.ms", "30000"),
                ("enable.idempotence", "false"),
                ("acks", "1"),
            ],
        );
        h.script.borrow_mut().topics.insert("t".into(), vec![2]); // led by the broker that answers
        h.script.borrow_mut().silent.push(1);
        let f = h.send(0, "v");
        h.turns(4);
        first_tried.insert(h.script.borrow().connects[0]);
        for _ in 0..11 {
            h.advance(Duration::from_millis(100));
            h.turns(3);
        }
        assert_eq!(done(&f).unwrap().offset(), 0, "delivered 1.1 s in, through the other bootstrap server");
    }
    assert_eq!(first_tried.len(), 2, "bootstrap servers are tried from a random start: {first_tried:?}");
}

#[test]
fn a_retry_to_a_new_leader_does_not_wait_for_the_backoff() {
    let mut h = harness(2, 1, &[("retry.backoff.ms", "1000"), ("retry.backoff.max.ms", "1000")]);
    h.hold_produce();
    let f = h.send(0, "v");
    h.turns(8);
    h.script.borrow_mut().topics.get_mut("t").unwrap()[0] = 2;
    h.advance(Duration::from_millis(1100)); // the last metadata fetch is older than its backoff
    h.answer(KafkaCode::NOT_LEADER_OR_FOLLOWER);
    for _ in 0..5 {
        h.advance(Duration::from_millis(20));
        h.turns(4);
    }
    let nodes: Vec<i32> = h.produces().iter().map(|r| r.node).collect();
    assert_eq!(nodes, [1, 2], "retried to the new leader 100 ms in, not after the 1 s backoff");
    h.answer(KafkaCode::NONE);
    h.turns(2);
    assert!(done(&f).is_ok());
}

#[test]
fn a_retry_to_the_same_leader_still_waits_for_the_backoff() {
    let mut h = harness(2, 1, &[("retry.backoff.ms", "1000"), ("retry.backoff.max.ms", "1000")]);
    h.hold_produce();
    let _f = h.send(0, "v");
    h.turns(8);
    h.advance(Duration::from_millis(1100));
    h.answer(KafkaCode::NOT_LEADER_OR_FOLLOWER); // but the metadata still names broker 1
    for _ in 0..5 {
        h.advance(Duration::from_millis(20));
        h.turns(4);
    }
    assert_eq!(h.produces().len(), 1, "same leader: the backoff holds");
}

#[test]
fn a_throttled_connection_gets_no_request_until_the_throttle_time_has_passed() {
    let mut h = harness(1, 1, &[("enable.idempotence", "false"), ("acks", "1")]);
    h.script.borrow_mut().throttle_ms = 500;
    let f = h.send(0, "over the quota");
    h.turns(8);
    assert!(done(&f).is_ok());
    h.script.borrow_mut().throttle_ms = 0;
    let g = h.send(0, "next");
    for _ in 0..4 {
        h.advance(Duration::from_millis(100));
        h.turns(3);
    }
    assert_eq!(h.produces().len(), 1, "nothing sent while throttled (KIP-219, Produce v6+)");
    assert!(!g.is_done());
    h.advance(Duration::from_millis(101));
    h.turns(3);
    assert_eq!(h.produces().len(), 2, "sent once the 500 ms passed");
    assert!(done(&g).is_ok());
}

#[test]
fn a_panic_on_the_sender_thread_resolves_and_frees_the_batches_it_held() {
    let mut h = harness(1, 1, &[("enable.idempotence", "false"), ("acks", "1")]);
    let total = h.s.shared.accumulator.pool().available_memory();
    let f = h.send(0, "v");
    h.s.panic_after_drain = true;
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.turns(8)));
    assert!(panicked.is_err(), "the injected panic happened");
    // What `run` does after catching the panic.
    h.s.shut_down(Error::new(ErrorKind::IllegalState, "the sender thread panicked"));
    let e = done(&f).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::IllegalState, "{e}");
    assert!(e.to_string().contains("t-0"), "{e}");
    let acc = &h.s.shared.accumulator;
    assert!(!acc.has_incomplete(), "flush has nothing left to wait for");
    assert!(acc.flush(Some(Instant::now() + Duration::from_secs(1))).is_ok());
    assert_eq!(acc.pool().available_memory(), total, "the batch's memory went back to the pool");
}

#[test]
fn acks_0_requests_count_as_in_flight_until_written() {
    let mut h = harness(
        1,
        1,
        &[("acks", "0"), ("enable.idempotence", "false"), ("max.in.flight.requests.per.connection", "2")],
    );
    let warm = h.send(0, "warm");
    h.turns(6);
    assert!(done(&warm).is_ok());
    h.wire(1, |w| w.stalled = true);
    let futures: Vec<SendFuture> = (0..5)
        .map(|i| {
            let f = h.send(0, &format!("v{i}"));
            h.turns(2);
            f
        })
        .collect();
    let queued = h.script.borrow().wires.values().find(|w| w.node == 1).map(|w| w.out.len()).unwrap();
    assert_eq!(queued, 2, "two requests queued on the stalled socket, the rest wait in the accumulator");
    assert!(futures.iter().all(|f| !f.is_done()));
    h.wire(1, |w| w.stalled = false);
    for _ in 0..4 {
        h.turns(2);
    }
    assert!(futures.iter().all(|f| done(f).is_ok()), "all written once the socket drains");
}

/// (partition, producer id, epoch, base sequence) of every batch the brokers received.
fn stamps(h: &Harness) -> Vec<(i32, i64, i16, i32)> {
    h.produces()
        .iter()
        .flat_map(|r| r.produce().1)
        .flat_map(|p| {
            p.batches
                .into_iter()
                .map(move |b| (p.partition, b.producer_id, b.producer_epoch, b.base_sequence))
        })
        .collect()
}

#[test]
fn a_sequence_gap_on_one_partition_does_not_hold_the_others() {
    let mut h = harness(1, 2, &[]);
    h.hold_produce();
    let warm = (h.send(0, "a"), h.send(1, "b"));
    h.turns(8);
    h.answer(KafkaCode::NONE);
    h.turns(2);
    assert!(done(&warm.0).is_ok() && done(&warm.1).is_ok());
    let slow = h.send(1, "c"); // its answer is held for the whole test
    h.turns(3);
    let doomed = h.send(0, "d");
    h.turns(3);
    assert_eq!(h.held(), 2);
    h.answer_at(1, KafkaCode::INVALID_RECORD); // partition 0's batch fails for good: a gap
    h.turns(2);
    assert!(done(&doomed).is_err());
    let after_gap = h.send(0, "e");
    h.turns(8);
    assert!(!slow.is_done(), "partition 1's request is still in flight");
    let keys = h.api_keys();
    assert_eq!(
        keys.iter().filter(|&&k| k == 22).count(),
        2,
        "a second InitProducerId, not waiting for partition 1"
    );
    assert!(
        stamps(&h).contains(&(0, 1001, 0, 0)),
        "partition 0 starts over at sequence 0 under the new producer id: {:?}",
        stamps(&h)
    );
    let behind = h.send(1, "f");
    h.turns(4);
    assert_eq!(
        stamps(&h).iter().filter(|s| s.0 == 1).count(),
        2,
        "partition 1 waits for its old request first"
    );
    h.answer_at(0, KafkaCode::NONE); // partition 1's old-id request
    h.turns(4);
    assert!(done(&slow).is_ok(), "acknowledged under the old producer id");
    assert_eq!(stamps(&h).iter().rfind(|s| s.0 == 1), Some(&(1, 1001, 0, 0)), "then it moves over");
    while h.held() > 0 {
        h.answer(KafkaCode::NONE);
        h.turns(3);
    }
    assert!(done(&after_gap).is_ok() && done(&behind).is_ok());
}

// ----- SASL ------------------------------------------------------------------------------

fn sasl_harness(password: &str, lifetime_ms: i64) -> Harness {
    let h = harness(
        1,
        1,
        &[
            ("acks", "1"),
            ("enable.idempotence", "false"),
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "alice"),
            ("sasl.password", password),
        ],
    );
    h.script.borrow_mut().sasl_plain = Some((b"\0alice\0alice-secret".to_vec(), lifetime_ms));
    h
}

#[test]
fn sasl_authenticates_each_connection_before_any_other_request() {
    let mut h = sasl_harness("alice-secret", 0);
    let f = h.send(0, "v");
    h.turns(14);
    assert!(f.is_done(), "{:?}", h.api_keys());
    assert_eq!(done(&f).unwrap().offset(), 0);
    // The bootstrap connection (metadata), then the leader's (produce): each authenticates
    // first, and once.
    let sc = h.script.borrow();
    let mut tokens: Vec<u64> = sc.requests.iter().map(|r| r.token).collect();
    tokens.dedup();
    assert_eq!(tokens.len(), 2);
    for t in tokens {
        let keys: Vec<i16> = sc.requests.iter().filter(|r| r.token == t).map(|r| r.api_key).collect();
        assert_eq!(&keys[..3], &[18, 17, 36], "ApiVersions, SaslHandshake, SaslAuthenticate first: {keys:?}");
        assert!(
            keys[3..].iter().all(|k| ![17, 36].contains(k)),
            "no re-authentication without a lifetime: {keys:?}"
        );
    }
}

#[test]
fn a_wrong_password_fails_waiting_sends_at_once_with_the_brokers_reason() {
    let mut h = sasl_harness("wrong", 0);
    h.turns(6);
    let started = std::time::Instant::now();
    let far = h.script.borrow().now + Duration::from_secs(60);
    let e = h.s.shared.metadata.wait_for_topic("t", None, far, Duration::from_secs(60), || {}).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "did not wait for max.block.ms");
    assert_eq!(e.kind(), ErrorKind::Authentication);
    let msg = e.to_string();
    assert!(msg.contains("Invalid username or password") && msg.contains("alice"), "{msg}");
    assert!(!msg.contains("wrong"), "the password is not in the message: {msg}");
    assert!(!e.is_retriable());
}

#[test]
fn a_session_with_a_lifetime_re_authenticates_on_the_same_connection_before_it_ends() {
    let mut h = sasl_harness("alice-secret", 10_000);
    let f = h.send(0, "a");
    h.turns(14);
    done(&f).unwrap();
    // On the leader's connection (the one that carried the Produce request).
    let leader = h.produces()[0].token;
    let auths = move |h: &Harness| {
        h.script.borrow().requests.iter().filter(|r| r.token == leader && r.api_key == 36).count()
    };
    let connects = h.script.borrow().connects.len();
    h.advance(Duration::from_millis(8_000));
    h.turns(3);
    assert_eq!(auths(&h), 1, "not before 85% of the lifetime");
    h.advance(Duration::from_millis(1_600));
    let g = h.send(0, "b");
    h.turns(8);
    assert_eq!(auths(&h), 2, "re-authenticated by 96% of the lifetime");
    assert_eq!(done(&g).unwrap().offset(), 1);
    assert_eq!(
        h.script.borrow().connects.len(),
        connects,
        "no new connection: {:?}",
        h.script.borrow().connects
    );
    assert_eq!(h.produces()[1].token, leader);
    // Nothing but SASL between the new handshake and its answer.
    let keys: Vec<i16> =
        h.script.borrow().requests.iter().filter(|r| r.token == leader).map(|r| r.api_key).collect();
    let at = keys.iter().rposition(|&k| k == 17).unwrap();
    assert_eq!(keys[at + 1], 36, "{keys:?}");
}

#[test]
fn metadata_of_a_topic_idle_for_metadata_max_idle_ms_is_forgotten_but_not_while_it_has_records() {
    let mut h = harness(1, 1, &[("metadata.max.idle.ms", "5000"), ("metadata.max.age.ms", "1000")]);
    let f = h.send(0, "a");
    h.turns(14);
    done(&f).unwrap();
    // Still in use: a refresh keeps it.
    h.advance(Duration::from_millis(1500));
    h.turns(4);
    assert!(h.s.shared.metadata.cluster().topic("t").is_some());
    // Records queued for it (its leader is down) keep it too, however long.
    h.set_broker_up(1, false);
    h.wire(1, |w| w.broken = true);
    h.turns(3);
    let g = h.send(0, "b");
    for _ in 0..8 {
        h.advance(Duration::from_millis(1000));
        h.turns(3);
    }
    assert!(
        h.s.shared.metadata.cluster().topic("t").is_some(),
        "queued records keep the topic: queued {} done {} keys {:?}",
        h.s.shared.accumulator.has_queued_for("t"),
        g.is_done(),
        h.api_keys()
    );
    h.set_broker_up(1, true);
    for _ in 0..6 {
        h.advance(Duration::from_millis(200));
        h.turns(4);
    }
    done(&g).unwrap();
    // Idle past metadata.max.idle.ms: forgotten at the next refresh.
    for _ in 0..6 {
        h.advance(Duration::from_millis(1000));
        h.turns(3);
    }
    assert!(h.s.shared.metadata.cluster().topic("t").is_none(), "idle for more than 5 s");
}

#[test]
fn a_topic_first_wanted_after_a_metadata_request_is_fetched_at_once_not_after_the_backoff() {
    let mut h = harness(1, 1, &[("retry.backoff.ms", "1000"), ("retry.backoff.max.ms", "1000")]);
    h.script.borrow_mut().topics.insert("u".to_owned(), vec![1]);
    let f = h.send(0, "a");
    h.turns(8);
    done(&f).unwrap();
    let metadata_asks = |h: &Harness| -> Vec<Vec<String>> {
        let script = h.script.borrow();
        let reqs = script.requests.iter().filter(|r| r.api_key == 3);
        reqs.map(|r| {
            let mut rd = Reader::new(&r.body);
            let n = rd.i32().unwrap();
            (0..n.max(0)).map(|_| rd.string().unwrap().to_owned()).collect()
        })
        .collect()
    };
    let asked = metadata_asks(&h).len();
    // A refresh for `t` goes out once its backoff has passed...
    h.advance(Duration::from_millis(1001));
    h.s.shared.metadata.request_update();
    let _ = h.s.decide(false);
    assert_eq!(metadata_asks(&h).len(), asked + 1);
    assert_eq!(metadata_asks(&h).last().unwrap(), &["t".to_owned()]);
    // ...and a first send to `u` wants it while that request is on its way: the answer cannot
    // hold `u`, so `u` is asked for at once, not a second later.
    h.s.shared.metadata.want("u");
    h.s.poll_once(Duration::ZERO);
    h.turns(2);
    let asks = metadata_asks(&h);
    assert_eq!(asks.len(), asked + 2, "asked for u on the same instant");
    assert!(asks.last().unwrap().contains(&"u".to_owned()), "{asks:?}");
    assert!(h.s.shared.metadata.cluster().topic("u").is_some());
    // The same after an answer, within the backoff: a new topic goes at once...
    h.script.borrow_mut().topics.insert("w".to_owned(), vec![1]);
    h.s.shared.metadata.want("w");
    h.turns(2);
    assert_eq!(metadata_asks(&h).len(), asked + 3);
    assert!(h.s.shared.metadata.cluster().topic("w").is_some());
    // ...while a refresh of known topics still waits for retry.backoff.ms.
    h.s.shared.metadata.request_update();
    h.turns(3);
    assert_eq!(metadata_asks(&h).len(), asked + 3, "no new topic: the backoff holds");
    h.advance(Duration::from_millis(1001));
    h.turns(2);
    assert_eq!(metadata_asks(&h).len(), asked + 4);
}
