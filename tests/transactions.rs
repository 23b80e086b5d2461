//! The transactional producer against both third-party brokers, read back with the
//! independent consumer and the stored batch headers (commit/abort markers).
//!
//! Neither broker hides aborted records from read_committed consumers (see the harness notes),
//! so aborts are proven by the abort marker that follows the aborted records.

mod common;

use common::{all_brokers, batches, create_topic, try_consume, unique_topic, Broker, ConsumeOptions};
use kafka_blocking::{
    ConsumerGroupMetadata, ErrorKind, OffsetToCommit, Producer, ProducerConfig, Record, TxnState,
};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// Tests here inject errors into the shared mock cluster (`err API CODE`, which hits the next
/// request of any client): they run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn txn_producer(b: &Broker, txn_id: &str) -> Producer {
    Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(&b.bootstrap)
            .transactional_id(txn_id)
            .set("linger.ms", "5")
            .set("transaction.timeout.ms", "30000"),
    )
    .unwrap_or_else(|e| panic!("[{}] Producer::new: {e}", b.name))
}

/// (records, control batches as (base_offset, "commit"/"abort")) of one partition.
fn markers(b: &Broker, topic: &str, partition: i32) -> Vec<(i64, String)> {
    batches(b, topic, partition)
        .into_iter()
        .filter(|x| x.control)
        .map(|x| (x.base_offset, x.control_type.unwrap_or_default()))
        .collect()
}

#[test]
fn committed_and_aborted_transactions_are_marked_and_read_back() {
    let _serial = serial();
    for b in all_brokers() {
        let topic = unique_topic(&format!("txn-{}", b.name));
        create_topic(&b, &topic, 2);
        let p = txn_producer(&b, &unique_topic("txn-id"));
        assert_eq!(p.transaction_state(), Some(TxnState::Uninitialized));
        p.init_transactions(T).unwrap_or_else(|e| panic!("[{}] init_transactions: {e}", b.name));
        assert_eq!(p.transaction_state(), Some(TxnState::Ready));

        // Committed: 10 records over both partitions.
        p.begin_transaction().unwrap();
        let mut committed = Vec::new();
        for i in 0..10 {
            let v = format!("committed-{i}");
            committed.push(p.send(Record::new(&topic).partition(i % 2).value(&v)).unwrap());
        }
        p.commit_transaction(T).unwrap_or_else(|e| panic!("[{}] commit: {e}", b.name));
        for f in &committed {
            assert!(f.is_done(), "[{}] commit waits for every record", b.name);
            f.wait().unwrap();
        }

        // Aborted: 6 records, written, then aborted.
        p.begin_transaction().unwrap();
        let mut aborted = Vec::new();
        for i in 0..6 {
            let v = format!("aborted-{i}");
            aborted.push(p.send(Record::new(&topic).partition(i % 2).value(&v)).unwrap());
        }
        for f in &aborted {
            f.wait().unwrap(); // written to the log before the abort
        }
        p.abort_transaction(T).unwrap_or_else(|e| panic!("[{}] abort: {e}", b.name));
        assert_eq!(p.transaction_state(), Some(TxnState::Ready));

        // A third, committed again.
        p.begin_transaction().unwrap();
        p.send(Record::new(&topic).partition(0).value("after-abort")).unwrap();
        p.commit_transaction(T).unwrap();
        p.close(Duration::from_secs(10)).unwrap();

        // librdkafka's mock cluster writes its own commit/abort markers with CRC 0, which a
        // CRC-checking reader refuses; our batches' CRCs are checked in the Tansu round.
        let opts = ConsumeOptions { exact: false, check_crcs: !b.is_mock(), ..Default::default() };
        let got = try_consume(&b, &topic, 2, 17, &opts).unwrap_or_else(|e| panic!("[{}] {e}", b.name));
        let values: Vec<String> =
            got.iter().map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap()).collect();
        for i in 0..10 {
            assert!(values.contains(&format!("committed-{i}")), "[{}] committed-{i} readable", b.name);
        }
        assert!(values.contains(&"after-abort".to_string()));

        for part in 0..2 {
            let m = markers(&b, &topic, part);
            let kinds: Vec<&str> = m.iter().map(|(_, k)| k.as_str()).collect();
            let want: &[&str] = if part == 0 { &["commit", "abort", "commit"] } else { &["commit", "abort"] };
            assert_eq!(kinds, want, "[{}] partition {part} markers {m:?}", b.name);
            // Every aborted record sits between the first commit marker and the abort marker.
            let (commit_at, abort_at) = (m[0].0, m[1].0);
            for r in got.iter().filter(|r| r.partition == part) {
                let v = String::from_utf8(r.value.clone().unwrap()).unwrap();
                if v.starts_with("aborted-") {
                    assert!(r.offset > commit_at && r.offset < abort_at, "[{}] {v} at {}", b.name, r.offset);
                }
            }
        }
    }
}

#[test]
fn misuse_returns_illegal_state_and_send_outside_a_transaction_fails() {
    let _serial = serial();
    let b = common::tansu();
    let topic = unique_topic("txn-misuse");
    create_topic(&b, &topic, 1);
    let p = txn_producer(&b, &unique_topic("txn-misuse-id"));
    let e = p.begin_transaction().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::IllegalState, "begin before init: {e}");
    let e = p.send(Record::new(&topic).value("x")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::IllegalState, "send before init: {e}");
    p.init_transactions(T).unwrap();
    let e = p.send(Record::new(&topic).value("x")).unwrap_err();
    assert!(e.to_string().contains("begin_transaction"), "send outside a transaction: {e}");
    assert_eq!(p.commit_transaction(T).unwrap_err().kind(), ErrorKind::IllegalState);
    assert_eq!(p.abort_transaction(T).unwrap_err().kind(), ErrorKind::IllegalState);
    p.begin_transaction().unwrap();
    assert_eq!(p.begin_transaction().unwrap_err().kind(), ErrorKind::IllegalState);
    p.commit_transaction(T).unwrap(); // empty transaction
    assert_eq!(p.commit_transaction(T).unwrap_err().kind(), ErrorKind::IllegalState, "commit twice");
    p.close(Duration::from_secs(5)).unwrap();

    let plain = Producer::new(ProducerConfig::new().bootstrap_servers(&b.bootstrap)).unwrap();
    assert_eq!(plain.init_transactions(T).unwrap_err().kind(), ErrorKind::IllegalState);
    assert_eq!(plain.transaction_state(), None);
}

/// Tansu only: librdkafka's mock cluster hands a second producer with the same transactional.id
/// a new producer id and fences nobody. Tansu fences: it answers the old producer's Produce with
/// PRODUCER_FENCED (its EndTxn it answers by closing the connection, so the record comes first).
#[test]
fn a_second_producer_with_the_same_transactional_id_fences_the_first() {
    let _serial = serial();
    let b = common::tansu();
    let topic = unique_topic("txn-fence");
    create_topic(&b, &topic, 1);
    let id = unique_topic("txn-fence-id");
    let old = txn_producer(&b, &id);
    old.init_transactions(T).unwrap();
    old.begin_transaction().unwrap();
    old.send(Record::new(&topic).value("old-1")).unwrap().wait().unwrap();

    let new = txn_producer(&b, &id);
    new.init_transactions(T).unwrap_or_else(|e| panic!("new init: {e}"));

    // The old producer's next record is refused: fatal, and it stays so.
    let e = old.send(Record::new(&topic).value("old-2")).unwrap().wait().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Fenced, "{e}");
    assert!(e.is_fatal() && e.to_string().contains("PRODUCER_FENCED"), "{e}");
    assert_eq!(old.transaction_state(), Some(TxnState::FatalError));
    assert_eq!(old.commit_transaction(T).unwrap_err().kind(), ErrorKind::Fenced);
    assert_eq!(old.abort_transaction(T).unwrap_err().kind(), ErrorKind::Fenced);
    assert_eq!(old.begin_transaction().unwrap_err().kind(), ErrorKind::Fenced);
    assert_eq!(old.send(Record::new(&topic).value("old-3")).unwrap_err().kind(), ErrorKind::Fenced);
    let _ = old.close(Duration::from_secs(5));

    new.begin_transaction().unwrap();
    new.send(Record::new(&topic).value("new-1")).unwrap();
    new.commit_transaction(T).unwrap();
    new.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn offsets_are_sent_to_the_transaction() {
    let _serial = serial();
    for b in all_brokers() {
        let topic = unique_topic(&format!("txn-offsets-{}", b.name));
        create_topic(&b, &topic, 1);
        let p = txn_producer(&b, &unique_topic("txn-offsets-id"));
        p.init_transactions(T).unwrap();
        p.begin_transaction().unwrap();
        p.send(Record::new(&topic).value("out")).unwrap();
        let group = ConsumerGroupMetadata::new(unique_topic("group"));
        p.send_offsets_to_transaction(&[OffsetToCommit::new(&topic, 0, 42)], &group, T)
            .unwrap_or_else(|e| panic!("[{}] send_offsets_to_transaction: {e}", b.name));
        p.commit_transaction(T).unwrap_or_else(|e| panic!("[{}] commit: {e}", b.name));
        p.close(Duration::from_secs(5)).unwrap();
    }
}

/// librdkafka's mock cluster: coordinator errors injected into the transactional requests are
/// retried (COORDINATOR_LOAD_IN_PROGRESS, CONCURRENT_TRANSACTIONS) or make the producer look
/// the coordinator up again (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE); the transaction
/// still commits and its records are readable.
#[test]
fn coordinator_errors_are_retried_and_the_transaction_commits() {
    let _serial = serial();
    let b = common::mock();
    let topic = unique_topic("txn-coord-errors");
    create_topic(&b, &topic, 2);
    let p = txn_producer(&b, &unique_topic("txn-coord-id"));
    // FindCoordinator (10), InitProducerId (22), AddPartitionsToTxn (24), EndTxn (26).
    common::mock_control(&b, "err 22 14 51");
    p.init_transactions(T).unwrap_or_else(|e| panic!("init: {e}"));
    p.begin_transaction().unwrap();
    common::mock_control(&b, "err 24 51 15 14");
    common::mock_control(&b, "err 26 16 51 14");
    for i in 0..20 {
        p.send(Record::new(&topic).partition(i % 2).value(format!("v{i}").as_bytes())).unwrap();
    }
    let result = p.commit_transaction(T);
    for api in [22, 24, 26] {
        common::mock_control(&b, &format!("clear {api}"));
    }
    result.unwrap_or_else(|e| panic!("commit: {e}"));
    p.close(Duration::from_secs(5)).unwrap();
    let opts = ConsumeOptions { exact: false, check_crcs: false, ..Default::default() };
    let got = try_consume(&b, &topic, 2, 20, &opts).unwrap();
    assert_eq!(got.len(), 20);
    for part in 0..2 {
        assert_eq!(markers(&b, &topic, part).iter().map(|(_, k)| k.as_str()).collect::<Vec<_>>(), ["commit"]);
    }
}

/// A commit the coordinator refuses (an injected INVALID_RECORD on EndTxn, which is neither
/// retriable nor fatal) fails, leaves the transaction abortable, and abort then works.
#[test]
fn a_refused_commit_fails_and_abort_then_succeeds() {
    let _serial = serial();
    let b = common::mock();
    let topic = unique_topic("txn-refused-commit");
    create_topic(&b, &topic, 1);
    let p = txn_producer(&b, &unique_topic("txn-refused-id"));
    p.init_transactions(T).unwrap();
    p.begin_transaction().unwrap();
    p.send(Record::new(&topic).value("v")).unwrap().wait().unwrap();
    common::mock_control(&b, "err 26 87");
    let e = p.commit_transaction(T).unwrap_err();
    common::mock_control(&b, "clear 26");
    assert_eq!(e.kind(), ErrorKind::Broker(kafka_blocking::KafkaCode::INVALID_RECORD), "{e}");
    assert!(e.to_string().contains("EndTxn"), "{e}");
    assert_eq!(p.transaction_state(), Some(TxnState::AbortableError));
    assert!(p.send(Record::new(&topic).value("x")).unwrap_err().to_string().contains("abort_transaction"));
    p.abort_transaction(T).unwrap_or_else(|e| panic!("abort after a failed commit: {e}"));
    assert_eq!(p.transaction_state(), Some(TxnState::Ready));
    p.begin_transaction().unwrap();
    p.send(Record::new(&topic).value("next")).unwrap();
    p.commit_transaction(T).unwrap();
    p.close(Duration::from_secs(5)).unwrap();
    let kinds: Vec<String> = markers(&b, &topic, 0).into_iter().map(|(_, k)| k).collect();
    assert_eq!(kinds, ["abort", "commit"]);
}

/// As in Java, closing a producer with a transaction open aborts it (instead of leaving it for
/// the coordinator to time out).
#[test]
fn close_aborts_an_open_transaction() {
    let _serial = serial();
    for b in all_brokers() {
        let topic = unique_topic(&format!("txn-close-{}", b.name));
        create_topic(&b, &topic, 1);
        let p = txn_producer(&b, &unique_topic("txn-close-id"));
        p.init_transactions(T).unwrap();
        p.begin_transaction().unwrap();
        p.send(Record::new(&topic).value("left open")).unwrap().wait().unwrap();
        p.close(T).unwrap();
        let kinds: Vec<String> = markers(&b, &topic, 0).into_iter().map(|(_, k)| k).collect();
        assert_eq!(kinds, ["abort"], "[{}]", b.name);
    }
}

// ---------------------------------------------------------------- what only Apache Kafka shows
//
// Both Apache Kafka clusters: "kafka" finalized transaction.version=2 (KIP-890 part 2: the
// leaders add partitions, EndTxn v5 bumps the epoch after every transaction), "kafka-tv1" was
// formatted with transaction.version=1 (AddPartitionsToTxn, one epoch for the producer's life).

fn kafka_clusters() -> [Broker; 2] {
    [common::kafka(), common::kafka_tv1()]
}

fn values(records: &[common::Consumed]) -> Vec<String> {
    records.iter().map(|r| String::from_utf8(r.value.clone().unwrap_or_default()).unwrap()).collect()
}

/// The producer epochs of the data (not control) batches of one partition, in offset order.
fn data_epochs(b: &Broker, topic: &str, partition: i32) -> Vec<i16> {
    batches(b, topic, partition).into_iter().filter(|x| !x.control).map(|x| x.producer_epoch).collect()
}

#[test]
fn read_committed_readers_see_committed_records_only_on_apache_kafka() {
    let _serial = serial();
    for b in kafka_clusters() {
        let topic = unique_topic(&format!("txn-rc-{}", b.name));
        create_topic(&b, &topic, 2);
        let p = txn_producer(&b, &unique_topic("txn-rc-id"));
        p.init_transactions(T).unwrap_or_else(|e| panic!("[{}] init_transactions: {e}", b.name));
        let round = |prefix: &str, n: i32, commit: bool| {
            p.begin_transaction().unwrap();
            let fs: Vec<_> = (0..n)
                .map(|i| {
                    p.send(Record::new(&topic).partition(i % 2).value(&format!("{prefix}-{i}"))).unwrap()
                })
                .collect();
            for f in &fs {
                f.wait().unwrap_or_else(|e| panic!("[{}] {prefix}: {e}", b.name));
            }
            if commit {
                p.commit_transaction(T).unwrap_or_else(|e| panic!("[{}] commit {prefix}: {e}", b.name));
            } else {
                p.abort_transaction(T).unwrap_or_else(|e| panic!("[{}] abort {prefix}: {e}", b.name));
            }
        };
        round("first", 10, true);
        round("aborted", 6, false);
        round("last", 4, true);
        p.close(Duration::from_secs(10)).unwrap();

        let committed = ConsumeOptions { exact: false, isolation: "read_committed", ..Default::default() };
        let got = try_consume(&b, &topic, 2, 14, &committed).unwrap_or_else(|e| panic!("[{}] {e}", b.name));
        let v = values(&got);
        assert!(v.iter().all(|x| !x.starts_with("aborted-")), "[{}] read_committed saw {v:?}", b.name);
        assert_eq!(v.iter().filter(|x| x.starts_with("first-")).count(), 10, "[{}] {v:?}", b.name);
        assert_eq!(v.iter().filter(|x| x.starts_with("last-")).count(), 4, "[{}] {v:?}", b.name);
        // A read_uncommitted reader sees the aborted records too: they are in the log.
        let all = ConsumeOptions { exact: false, ..Default::default() };
        let got = try_consume(&b, &topic, 2, 20, &all).unwrap_or_else(|e| panic!("[{}] {e}", b.name));
        assert_eq!(values(&got).iter().filter(|x| x.starts_with("aborted-")).count(), 6, "[{}]", b.name);

        // Transactions v2 bumps the epoch at the end of every transaction; v1 keeps it.
        let epochs = data_epochs(&b, &topic, 0);
        let (first, last) = (epochs[0], *epochs.last().unwrap());
        if b.name == "kafka" {
            assert_eq!(last, first + 2, "[kafka] three transactions, two bumps before the last: {epochs:?}");
        } else {
            assert_eq!(last, first, "[kafka-tv1] one epoch throughout: {epochs:?}");
        }
    }
}

#[test]
fn committed_group_offsets_are_visible_to_the_group_on_apache_kafka() {
    let _serial = serial();
    for b in kafka_clusters() {
        let topic = unique_topic(&format!("txn-group-{}", b.name));
        create_topic(&b, &topic, 2);
        let p = txn_producer(&b, &unique_topic("txn-group-id"));
        p.init_transactions(T).unwrap();
        let group_id = unique_topic("txn-group");
        let group = ConsumerGroupMetadata::new(&group_id);
        let committed = || common::committed_offsets(&b, &group_id, &topic, 2);

        p.begin_transaction().unwrap();
        p.send(Record::new(&topic).partition(0).value("out-1")).unwrap();
        let offsets = [OffsetToCommit::new(&topic, 0, 42), OffsetToCommit::new(&topic, 1, 7)];
        p.send_offsets_to_transaction(&offsets, &group, T)
            .unwrap_or_else(|e| panic!("[{}] send_offsets_to_transaction: {e}", b.name));
        p.commit_transaction(T).unwrap_or_else(|e| panic!("[{}] commit: {e}", b.name));
        assert_eq!(committed(), vec![Some(42), Some(7)], "[{}]", b.name);

        // Offsets of an aborted transaction never become visible.
        p.begin_transaction().unwrap();
        p.send_offsets_to_transaction(&[OffsetToCommit::new(&topic, 0, 99)], &group, T).unwrap();
        p.abort_transaction(T).unwrap();
        assert_eq!(committed(), vec![Some(42), Some(7)], "[{}]", b.name);

        // Offsets alone, no record: still a transaction that commits.
        p.begin_transaction().unwrap();
        p.send_offsets_to_transaction(&[OffsetToCommit::new(&topic, 1, 8)], &group, T).unwrap();
        p.commit_transaction(T).unwrap();
        assert_eq!(committed(), vec![Some(42), Some(8)], "[{}]", b.name);
        p.close(Duration::from_secs(10)).unwrap();
    }
}

#[test]
fn a_second_producer_with_the_same_transactional_id_fences_the_first_on_apache_kafka() {
    let _serial = serial();
    for b in kafka_clusters() {
        let topic = unique_topic(&format!("txn-fence-{}", b.name));
        create_topic(&b, &topic, 1);
        let id = unique_topic("txn-fence-kafka-id");
        let old = txn_producer(&b, &id);
        old.init_transactions(T).unwrap();
        old.begin_transaction().unwrap();
        old.send(Record::new(&topic).value("old-1")).unwrap().wait().unwrap();

        // The newcomer's InitProducerId aborts the old transaction and bumps the epoch.
        let new = txn_producer(&b, &id);
        new.init_transactions(T).unwrap_or_else(|e| panic!("[{}] new init: {e}", b.name));

        // The old producer's next record is refused (INVALID_PRODUCER_EPOCH, abortable, as in
        // Java since KIP-588), its commit fails with that cause, and its abort is answered
        // PRODUCER_FENCED: fatal, and it stays so.
        let e = old.send(Record::new(&topic).value("old-2")).unwrap().wait().unwrap_err();
        assert!(
            e.to_string().contains("INVALID_PRODUCER_EPOCH") || e.kind() == ErrorKind::Fenced,
            "[{}] {e}",
            b.name
        );
        let e = old.commit_transaction(T).unwrap_err();
        assert!(e.to_string().contains("must be aborted"), "[{}] commit: {e}", b.name);
        let e = old.abort_transaction(T).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Fenced, "[{}] abort: {e}", b.name);
        assert!(e.is_fatal() && e.to_string().contains("PRODUCER_FENCED"), "[{}] {e}", b.name);
        assert_eq!(old.transaction_state(), Some(TxnState::FatalError), "[{}]", b.name);
        assert_eq!(old.begin_transaction().unwrap_err().kind(), ErrorKind::Fenced, "[{}]", b.name);
        let _ = old.close(Duration::from_secs(5));

        new.begin_transaction().unwrap();
        new.send(Record::new(&topic).value("new-1")).unwrap();
        new.commit_transaction(T).unwrap_or_else(|e| panic!("[{}] new commit: {e}", b.name));
        new.close(Duration::from_secs(5)).unwrap();
        let committed = ConsumeOptions { exact: false, isolation: "read_committed", ..Default::default() };
        let got = try_consume(&b, &topic, 1, 1, &committed).unwrap_or_else(|e| panic!("[{}] {e}", b.name));
        assert_eq!(values(&got), vec!["new-1"], "[{}] only the new producer's commit is visible", b.name);
    }
}

/// KIP-588: the coordinator aborts a transaction older than `transaction.timeout.ms` and bumps
/// the epoch; the producer's next call fails abortably. Under transactions v2 the abort's EndTxn
/// v5 hands back the bumped epoch and the same producer goes on; under v1 the coordinator
/// answers the abort with PRODUCER_FENCED (Kafka's TransactionCoordinator fences any epoch but
/// the current one), which is fatal, as it is for Java's producer.
#[test]
fn an_expired_transaction_fails_abortably_and_the_producer_goes_on_on_apache_kafka() {
    let _serial = serial();
    for b in kafka_clusters() {
        let topic = unique_topic(&format!("txn-expire-{}", b.name));
        create_topic(&b, &topic, 1);
        let p = Producer::new(
            ProducerConfig::new()
                .bootstrap_servers(&b.bootstrap)
                .transactional_id(unique_topic("txn-expire-id"))
                .set("linger.ms", "0")
                .set("transaction.timeout.ms", "1500"),
        )
        .unwrap();
        p.init_transactions(T).unwrap();
        p.begin_transaction().unwrap();
        p.send(Record::new(&topic).value("expired-1")).unwrap().wait().unwrap();
        // The coordinator looks for expired transactions every second (the test clusters'
        // transaction.abort.timed.out.transaction.cleanup.interval.ms).
        std::thread::sleep(Duration::from_millis(4000));
        let sent = p.send(Record::new(&topic).value("expired-2")).map(|f| f.wait());
        let commit = p.commit_transaction(T);
        let e = commit.expect_err("a transaction the coordinator aborted cannot commit");
        assert!(!e.is_fatal(), "[{}] must be abortable, not fatal: {e} (send: {sent:?})", b.name);
        assert_eq!(p.transaction_state(), Some(TxnState::AbortableError), "[{}] {e}", b.name);
        if b.name == "kafka-tv1" {
            let e = p.abort_transaction(T).expect_err("v1: the coordinator fenced the old epoch");
            assert_eq!(e.kind(), ErrorKind::Fenced, "[kafka-tv1] {e}");
            assert_eq!(p.transaction_state(), Some(TxnState::FatalError));
            let _ = p.close(Duration::from_secs(5));
            continue;
        }
        p.abort_transaction(T).unwrap_or_else(|e| panic!("[{}] abort after expiry: {e}", b.name));

        p.begin_transaction().unwrap();
        p.send(Record::new(&topic).value("after-expiry")).unwrap().wait().unwrap();
        p.commit_transaction(T).unwrap_or_else(|e| panic!("[{}] commit after expiry: {e}", b.name));
        p.close(Duration::from_secs(10)).unwrap();
        let committed = ConsumeOptions { exact: false, isolation: "read_committed", ..Default::default() };
        let got = try_consume(&b, &topic, 1, 1, &committed).unwrap_or_else(|e| panic!("[{}] {e}", b.name));
        assert_eq!(values(&got), vec!["after-expiry"], "[{}]", b.name);
    }
}

/// A record that fails for good makes the transaction abortable. As Java's Sender does, the
/// records queued behind it fail at once (they could only be aborted), so `commit_transaction`
/// fails fast with the cause instead of waiting for them until `delivery.timeout.ms`; after an
/// abort the next transaction commits.
#[test]
fn a_failed_record_fails_the_queued_ones_at_once_and_commit_fails_fast_with_the_cause() {
    let _serial = serial();
    let b = common::mock();
    let topic = unique_topic("txn-failed-record");
    create_topic(&b, &topic, 1);
    let p = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(&b.bootstrap)
            .transactional_id(unique_topic("txn-failed-record-id"))
            .set("linger.ms", "0")
            .set("max.in.flight.requests.per.connection", "1"),
    )
    .unwrap();
    p.init_transactions(T).unwrap();
    p.begin_transaction().unwrap();
    p.send(Record::new(&topic).value("first")).unwrap().wait().unwrap();
    // Slow answers, so that the records after the doomed one queue behind it.
    for id in 1..=3 {
        common::mock_control(&b, &format!("rtt {id} 300"));
    }
    common::mock_control(&b, "err 0 87");
    let doomed = p.send(Record::new(&topic).value("doomed")).unwrap();
    std::thread::sleep(Duration::from_millis(100)); // in flight, in a batch of its own
    let queued: Vec<_> =
        (0..20).map(|i| p.send(Record::new(&topic).value(&format!("queued-{i}"))).unwrap()).collect();
    let started = std::time::Instant::now();
    let commit = p.commit_transaction(T);
    let took = started.elapsed();
    for id in 1..=3 {
        common::mock_control(&b, &format!("rtt {id} 0"));
    }
    common::mock_control(&b, "clear 0");
    let e = doomed.wait().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Broker(kafka_blocking::KafkaCode::INVALID_RECORD), "{e}");
    let e = commit.unwrap_err();
    assert!(took < Duration::from_secs(5), "commit took {took:?}");
    assert!(e.to_string().contains("INVALID_RECORD"), "commit names the cause: {e}");
    for f in &queued {
        let e =
            f.wait_timeout(Duration::from_secs(1)).expect_err("a queued record of the doomed transaction");
        assert_eq!(e.kind(), ErrorKind::TransactionAborted, "{e}");
        assert!(e.to_string().contains("INVALID_RECORD"), "{e}");
    }
    p.abort_transaction(T).unwrap();
    p.begin_transaction().unwrap();
    p.send(Record::new(&topic).value("next")).unwrap();
    p.commit_transaction(T).unwrap();
    p.close(Duration::from_secs(5)).unwrap();
}

/// Kafka's coordinator for `id`: the leader of `__transaction_state` partition
/// `abs(javaHashCode(id)) % 3` (the test cluster has 3 such partitions).
fn coordinator_node(b: &Broker, id: &str) -> i32 {
    let hash = id.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32));
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    common::leader(b, "__transaction_state", abs % 3)
}

/// Fault matrix, coordinator failure: the transaction coordinator is SIGKILLed between the sends
/// and `commit_transaction`. The commit completes on the new coordinator (or fails abortably and
/// the abort completes); a read_committed reader sees all of the transaction or none of it.
#[test]
fn killing_the_transaction_coordinator_before_commit_leaves_all_or_nothing_visible() {
    let _serial = serial();
    let outage = common::faults::KafkaOutage::take();
    let b = outage.b.clone();
    let topic = unique_topic("txn-coordinator-kill");
    create_topic(&b, &topic, 3);
    let id = unique_topic("txn-coordinator-kill-id");
    let p = txn_producer(&b, &id);
    p.init_transactions(T).unwrap();
    p.begin_transaction().unwrap();
    let fs: Vec<_> = (0..90)
        .map(|i| p.send(Record::new(&topic).partition(i % 3).value(&format!("doomed-or-not-{i}"))).unwrap())
        .collect();
    for f in &fs {
        f.wait().expect("acknowledged before the kill");
    }
    let coordinator = coordinator_node(&b, &id);
    outage.kill(coordinator);
    let killed = std::time::Instant::now();
    let committed = match p.commit_transaction(Duration::from_secs(90)) {
        Ok(()) => true,
        Err(e) => {
            assert!(e.txn_requires_abort(), "a commit that fails must be abortable: {e}");
            p.abort_transaction(Duration::from_secs(90)).expect("the abort completes on the new coordinator");
            false
        }
    };
    let ended = killed.elapsed();
    p.begin_transaction().unwrap();
    p.send(Record::new(&topic).partition(0).value("after")).unwrap();
    p.commit_transaction(T).expect("the next transaction commits");
    p.close(Duration::from_secs(10)).unwrap();
    outage.start(coordinator);
    let expected = if committed { 91 } else { 1 };
    let opts = ConsumeOptions { exact: false, isolation: "read_committed", ..Default::default() };
    let got = try_consume(&b, &topic, 3, expected, &opts).unwrap();
    let v = values(&got);
    assert_eq!(v.len(), expected, "all or nothing: {v:?}");
    assert_eq!(v.iter().filter(|x| x.starts_with("doomed-or-not-")).count(), expected - 1);
    eprintln!(
        "FAULT-MATRIX | transaction coordinator (node {coordinator}) SIGKILLed before commit | 90 | 0 | 0 | 0 | {} ms to {}",
        ended.as_millis(),
        if committed { "commit" } else { "abort" }
    );
}
