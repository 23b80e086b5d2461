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
