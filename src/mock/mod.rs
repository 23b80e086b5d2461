//! An in-process Kafka cluster for tests and for the quickstart: `MockCluster` starts N brokers
//! on loopback (plain threads, blocking sockets; no async runtime, no dependency beyond the
//! crate's own), creates topics, and stores what producers send, checking it as a broker would:
//! every record batch's CRC-32C, sequence numbers per producer and partition (a duplicate is
//! answered with the original offset, a gap with OUT_OF_ORDER_SEQUENCE_NUMBER, a stale epoch
//! with INVALID_PRODUCER_EPOCH). A test points its producer at
//! [`bootstrap_servers`](MockCluster::bootstrap_servers), injects failures (error codes per API,
//! leaders moved, brokers taken down and up, responses dropped after the batch was stored,
//! delays), and reads back what was stored with [`records`](MockCluster::records). Third-party
//! clients can read it too (Fetch v4, ListOffsets v1).
//!
//! Transactions work as on a broker (transactions v1: FindCoordinator, InitProducerId with a
//! transactional id, which fences the previous epoch and aborts its open transaction,
//! AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn writing commit or abort markers);
//! [`committed_records`](MockCluster::committed_records) and Fetch with read_committed show only
//! what was committed.
//!
//! Behind the `mock` feature. What it does not do: replication, consumer groups (beyond the
//! offsets a transaction commits), transactions v2, TLS/SASL.
//!
//! ```
//! use kafka_blocking::mock::MockCluster;
//! use kafka_blocking::{Producer, ProducerConfig, Record};
//! use std::time::Duration;
//!
//! let cluster = MockCluster::new(3)?;
//! cluster.create_topic("events", 4);
//! let producer = Producer::new(ProducerConfig::new().bootstrap_servers(cluster.bootstrap_servers()))?;
//! let meta = producer.send(Record::new("events").key("k").value("hello"))?.wait()?;
//! producer.close(Duration::from_secs(5))?;
//! let stored = cluster.records("events", meta.partition());
//! assert_eq!(stored[0].value.as_deref(), Some(&b"hello"[..]));
//! # Ok::<(), kafka_blocking::Error>(())
//! ```
//!
//! Threads: one acceptor thread per broker and one thread per client connection; all share one
//! mutex-guarded cluster state. Dropping the `MockCluster` stops them.

mod server;
mod wire;

use crate::error::{Error, KafkaCode, Result};
use crate::protocol::ApiKey;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// One record as the mock stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Its offset in the partition.
    pub offset: i64,
    /// CreateTime (or the producer's explicit timestamp), in ms.
    pub timestamp: i64,
    /// The key.
    pub key: Option<Vec<u8>>,
    /// The value.
    pub value: Option<Vec<u8>>,
    /// The headers, in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// The producer id of its batch (-1 without idempotence).
    pub producer_id: i64,
    /// Its sequence number (-1 without idempotence).
    pub sequence: i32,
}

/// Where a transactional batch's transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxnOutcome {
    /// Not transactional.
    None,
    Open,
    Committed,
    Aborted,
}

/// A batch as stored: its bytes with the assigned base offset written in.
#[derive(Debug, Clone)]
struct StoredBatch {
    base_offset: i64,
    /// Offsets it takes (a control batch takes one and has no data records).
    count: i64,
    bytes: Vec<u8>,
    records: Vec<StoredRecord>,
    producer_id: i64,
    txn: TxnOutcome,
}

/// A transactional id's state at the coordinator.
#[derive(Debug, Clone, Default)]
struct TxnState {
    producer_id: i64,
    epoch: i16,
    /// Partitions added to the ongoing transaction.
    partitions: std::collections::BTreeSet<(String, i32)>,
    /// Offsets sent to the ongoing transaction: (group, topic, partition) -> offset.
    offsets: BTreeMap<(String, String, i32), i64>,
}

/// Per producer id on one partition: the epoch and the last batches' sequence ranges (for
/// duplicate detection, as Kafka keeps the last five).
#[derive(Debug, Clone, Default)]
struct ProducerEntry {
    epoch: i16,
    /// (first sequence, last sequence, base offset) of recent batches, oldest first.
    recent: VecDeque<(i32, i32, i64)>,
}

#[derive(Debug, Default)]
struct PartitionLog {
    leader: i32,
    batches: Vec<StoredBatch>,
    next_offset: i64,
    producers: HashMap<i64, ProducerEntry>,
    /// Aborted transactions: (producer id, first offset), for read_committed fetches.
    aborted: Vec<(i64, i64)>,
}

impl PartitionLog {
    /// The last stable offset: the first offset of the oldest open transaction, else the end.
    fn last_stable_offset(&self) -> i64 {
        self.batches.iter().find(|b| b.txn == TxnOutcome::Open).map_or(self.next_offset, |b| b.base_offset)
    }
}

#[derive(Debug)]
struct BrokerState {
    id: i32,
    port: u16,
    up: bool,
    delay: Duration,
}

#[derive(Debug, Default)]
struct State {
    brokers: Vec<BrokerState>,
    topics: BTreeMap<String, Vec<PartitionLog>>,
    /// Error codes to answer, per API key, in order (each consumed once).
    errors: HashMap<i16, VecDeque<KafkaCode>>,
    /// Responses to drop (after acting on the request), per API key.
    drop_responses: HashMap<i16, usize>,
    next_producer_id: i64,
    /// Partitions a Metadata request creates for an unknown topic; 0 = no auto-creation.
    auto_create_partitions: i32,
    /// Live client connections, per broker (shut down when the broker goes down).
    connections: Vec<(i32, TcpStream)>,
    requests: Vec<(i32, ApiKey)>,
    /// Transactional ids at the (one) coordinator.
    txns: HashMap<String, TxnState>,
    /// Committed group offsets: (group, topic, partition) -> offset.
    group_offsets: BTreeMap<(String, String, i32), i64>,
}

pub(crate) struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
}

/// An in-process Kafka cluster on loopback; see the module documentation.
pub struct MockCluster {
    shared: Arc<Shared>,
    acceptors: Vec<JoinHandle<()>>,
    bootstrap: String,
}

impl std::fmt::Debug for MockCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockCluster").field("bootstrap", &self.bootstrap).finish()
    }
}

impl MockCluster {
    /// Starts `brokers` brokers (ids 1..=N) on free loopback ports. Topics asked for in
    /// Metadata that do not exist are created with 4 partitions, as librdkafka's mock does;
    /// [`auto_create_topics`](Self::auto_create_topics) changes that.
    pub fn new(brokers: usize) -> Result<MockCluster> {
        if brokers == 0 {
            return Err(Error::config("a mock cluster needs at least one broker"));
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                next_producer_id: 1000,
                auto_create_partitions: 4,
                ..State::default()
            }),
            stop: AtomicBool::new(false),
        });
        let mut acceptors = Vec::new();
        let mut addrs = Vec::new();
        for i in 0..brokers {
            let id = i as i32 + 1;
            let listener = std::net::TcpListener::bind("127.0.0.1:0")
                .map_err(|e| Error::io("binding a mock broker to a loopback port", e))?;
            let port = listener.local_addr().map_err(|e| Error::io("mock broker address", e))?.port();
            shared.state.lock().brokers.push(BrokerState { id, port, up: true, delay: Duration::ZERO });
            addrs.push(format!("127.0.0.1:{port}"));
            let s = shared.clone();
            let handle = std::thread::Builder::new()
                .name(format!("mock-broker-{id}"))
                .spawn(move || server::accept(s, id, listener))
                .map_err(|e| Error::io("starting a mock broker thread", e))?;
            acceptors.push(handle);
        }
        Ok(MockCluster { shared, acceptors, bootstrap: addrs.join(",") })
    }

    /// `bootstrap.servers` for the cluster.
    pub fn bootstrap_servers(&self) -> String {
        self.bootstrap.clone()
    }

    /// Creates `topic` with `partitions` partitions, led round robin; no-op if it exists.
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        self.shared.state.lock().create_topic(topic, partitions);
    }

    /// Partitions for topics first named in a Metadata request; 0 turns auto-creation off
    /// (such topics are UNKNOWN_TOPIC_OR_PARTITION).
    pub fn auto_create_topics(&self, partitions: i32) {
        self.shared.state.lock().auto_create_partitions = partitions.max(0);
    }

    /// What partition `partition` of `topic` holds, in offset order, as a read_uncommitted
    /// consumer sees it: every data record, whatever its transaction's outcome (transaction
    /// markers left out); empty if there is no such partition.
    pub fn records(&self, topic: &str, partition: i32) -> Vec<StoredRecord> {
        self.stored(topic, partition, |_| true)
    }

    /// What a read_committed consumer sees of the partition: non-transactional records and
    /// those of committed transactions (not those of open or aborted ones).
    pub fn committed_records(&self, topic: &str, partition: i32) -> Vec<StoredRecord> {
        self.stored(topic, partition, |t| matches!(t, TxnOutcome::None | TxnOutcome::Committed))
    }

    fn stored(&self, topic: &str, partition: i32, keep: impl Fn(TxnOutcome) -> bool) -> Vec<StoredRecord> {
        let st = self.shared.state.lock();
        st.log(topic, partition)
            .map(|log| {
                log.batches.iter().filter(|b| keep(b.txn)).flat_map(|b| b.records.iter().cloned()).collect()
            })
            .unwrap_or_default()
    }

    /// The offset `group` committed for `topic`-`partition` through a transaction
    /// (`send_offsets_to_transaction` and a commit), if any.
    pub fn committed_offset(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        self.shared.state.lock().group_offsets.get(&(group.to_owned(), topic.to_owned(), partition)).copied()
    }

    /// How many record batches partition `partition` of `topic` holds.
    pub fn batch_count(&self, topic: &str, partition: i32) -> usize {
        self.shared.state.lock().log(topic, partition).map_or(0, |l| l.batches.len())
    }

    /// The next requests of `api` are answered with these error codes, one each, in order
    /// (for Produce: on every partition of the request, and nothing is stored).
    pub fn push_errors(&self, api: ApiKey, codes: &[KafkaCode]) {
        self.shared.state.lock().errors.entry(api.code()).or_default().extend(codes.iter().copied());
    }

    /// The next `n` responses to `api` are dropped after the request took effect (a Produce
    /// is stored but not acknowledged): the client sees a request timeout.
    pub fn drop_responses(&self, api: ApiKey, n: usize) {
        *self.shared.state.lock().drop_responses.entry(api.code()).or_default() += n;
    }

    /// Moves the leadership of `topic`-`partition` to broker `broker`; the old leader answers
    /// NOT_LEADER_OR_FOLLOWER from now on.
    pub fn set_leader(&self, topic: &str, partition: i32, broker: i32) {
        if let Some(log) = self.shared.state.lock().log_mut(topic, partition) {
            log.leader = broker;
        }
    }

    /// The leader of `topic`-`partition`.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        self.shared.state.lock().log(topic, partition).map(|l| l.leader)
    }

    /// Takes broker `id` down (its connections are closed, new ones are closed at once, it
    /// leaves Metadata) or brings it back up.
    pub fn set_broker_up(&self, id: i32, up: bool) {
        let mut st = self.shared.state.lock();
        if let Some(b) = st.brokers.iter_mut().find(|b| b.id == id) {
            b.up = up;
        }
        if !up {
            st.connections.retain(|(b, s)| {
                if *b == id {
                    let _ = s.shutdown(std::net::Shutdown::Both);
                }
                *b != id
            });
        }
    }

    /// Every response broker `id` sends waits `delay` first.
    pub fn set_delay(&self, id: i32, delay: Duration) {
        if let Some(b) = self.shared.state.lock().brokers.iter_mut().find(|b| b.id == id) {
            b.delay = delay;
        }
    }

    /// How many requests of `api` the brokers received.
    pub fn request_count(&self, api: ApiKey) -> usize {
        self.shared.state.lock().requests.iter().filter(|(_, k)| *k == api).count()
    }
}

impl Drop for MockCluster {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let ports: Vec<u16> = {
            let mut st = self.shared.state.lock();
            for (_, s) in st.connections.drain(..) {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            st.brokers.iter().map(|b| b.port).collect()
        };
        // Wake each acceptor so it sees `stop`.
        for port in ports {
            let _ = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200));
        }
        for h in self.acceptors.drain(..) {
            let _ = h.join();
        }
    }
}

impl State {
    fn create_topic(&mut self, topic: &str, partitions: i32) {
        if self.topics.contains_key(topic) || partitions <= 0 {
            return;
        }
        let ids: Vec<i32> = self.brokers.iter().map(|b| b.id).collect();
        let logs = (0..partitions)
            .map(|p| PartitionLog { leader: ids[p as usize % ids.len()], ..PartitionLog::default() })
            .collect();
        self.topics.insert(topic.to_owned(), logs);
    }

    fn log(&self, topic: &str, partition: i32) -> Option<&PartitionLog> {
        self.topics.get(topic)?.get(usize::try_from(partition).ok()?)
    }

    fn log_mut(&mut self, topic: &str, partition: i32) -> Option<&mut PartitionLog> {
        self.topics.get_mut(topic)?.get_mut(usize::try_from(partition).ok()?)
    }

    fn broker_up(&self, id: i32) -> bool {
        self.brokers.iter().any(|b| b.id == id && b.up)
    }

    fn injected(&mut self, api: ApiKey) -> Option<KafkaCode> {
        self.errors.get_mut(&api.code()).and_then(VecDeque::pop_front)
    }

    fn take_drop(&mut self, api: ApiKey) -> bool {
        match self.drop_responses.get_mut(&api.code()) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }
}
