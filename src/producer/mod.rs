//! The producer: the public handle, `send`/`flush`/`close`.
//!
//! Threads: `send` runs on the calling application thread and touches only the metadata view
//! and the accumulator (which may block up to `max.block.ms` for metadata or buffer memory).
//! One sender thread per producer does all network I/O (see `sender.rs`); it resolves every
//! [`SendFuture`] through a channel.

pub(crate) mod accumulator;
pub(crate) mod buffer_pool;
mod callback;
pub mod future;
pub(crate) mod idempotence;
pub mod interceptor;
pub mod metrics;
pub mod partitioner;
pub mod record;
pub(crate) mod sender;
pub mod serializer;
mod shared_ref;
pub(crate) mod telemetry;
mod topic_cache;
pub mod transaction;
mod wall_clock;

pub use future::SendFuture;
pub use record::{Record, RecordMetadata};
pub use telemetry::ClientInstanceId;
pub use transaction::{ConsumerGroupMetadata, OffsetToCommit, TxnState};

use crate::compression::CompressionType;
use crate::config::{ClientDnsLookup, ProducerConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::network::connection::{DnsLookup, SocketOptions};
use crate::network::metadata::{Metadata, TopicInfo};
use accumulator::{
    closed_error, record_size_bound, Accumulator, AccumulatorConfig, Deadline, PartitionQueue, TopicQueues,
};
use callback::Callback;
use interceptor::ProducerInterceptor;
use parking_lot::Mutex;
use partitioner::{Partitioner, PartitionerContext};
use sender::{SenderConfig, Shared};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A Kafka producer. Cheap to clone; every clone is a handle on the same producer, and it
/// can be shared across threads. The producer closes when the last handle is dropped
/// (delivering what was accepted, waiting at most `delivery.timeout.ms`) or when
/// [`close`](Producer::close) is called.
///
/// ```no_run
/// use kafka_blocking::{Producer, ProducerConfig, Record};
///
/// let producer = Producer::new(ProducerConfig::new().bootstrap_servers("localhost:9092"))?;
/// let meta = producer.send(Record::new("orders").key("order-123").value("{\"qty\":1}"))?.wait()?;
/// println!("written to {}/{}@{}", meta.topic(), meta.partition(), meta.offset());
/// producer.close(std::time::Duration::from_secs(5))?;
/// # Ok::<(), kafka_blocking::Error>(())
/// ```
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

struct Inner {
    /// Unique among this process's producers (names its entries in `topic_cache`).
    id: u64,
    shared: Arc<Shared>,
    // guards: the sender thread's handle, taken by the close that joins it
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Set by the sender thread as it ends: how many pending records it failed.
    stopped: Arc<Stopped>,
    /// The first `close` begins the shutdown (aborts an open transaction); later calls wait.
    close_started: std::sync::atomic::AtomicBool,
    /// What the first close's transaction abort failed with, reported by every close.
    abort_failure: Mutex<Option<Error>>,
    max_block: Duration,
    max_request_size: usize,
    buffer_memory: usize,
    batch_size: usize,
    ignore_keys: bool,
    client_id: String,
    partitioner: Option<Arc<dyn Partitioner>>,
    interceptors: Vec<Arc<dyn ProducerInterceptor>>,
}

static PRODUCER_SEQ: AtomicU64 = AtomicU64::new(1);
static PRODUCER_IDS: AtomicU64 = AtomicU64::new(1);

impl Producer {
    /// Validates `config` and starts the producer's sender thread. No connection is made
    /// until the first record is sent.
    pub fn new(config: ProducerConfig) -> Result<Producer> {
        let cfg = config.resolved()?;
        let client_id = if cfg.client_id.is_empty() {
            match &cfg.transactional_id {
                Some(t) => format!("producer-{t}"),
                None => format!("producer-{}", PRODUCER_SEQ.fetch_add(1, Ordering::Relaxed)),
            }
        } else {
            cfg.client_id.clone()
        };
        let (shared, txn_commands) = shared_state(&cfg, &client_id)?;
        // The sender thread reports, when it ends, how many records it failed as pending.
        let stopped = Arc::new(Stopped::default());
        let stopped_by_sender = stopped.clone();
        let thread_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name(format!("kafka-producer-network-thread | {client_id}"))
            .spawn(move || {
                let aborted = sender::run(thread_shared, txn_commands);
                stopped_by_sender.set(aborted);
            })
            .map_err(|e| Error::io("starting the producer's sender thread", e))?;
        Ok(Producer {
            inner: Arc::new(Inner {
                id: PRODUCER_IDS.fetch_add(1, Ordering::Relaxed),
                shared,
                thread: Mutex::new(Some(handle)),
                stopped,
                close_started: Default::default(),
                abort_failure: Mutex::new(None),
                max_block: cfg.max_block,
                max_request_size: cfg.max_request_size,
                buffer_memory: cfg.buffer_memory,
                batch_size: cfg.batch_size,
                ignore_keys: cfg.partitioner_ignore_keys,
                client_id,
                partitioner: cfg.partitioner.clone(),
                interceptors: cfg.interceptors.clone(),
            }),
        })
    }

    /// The client id this producer uses (`client.id`, or the generated `producer-N`).
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// Queues `record` for sending and returns a future for its result.
    ///
    /// Blocks for at most `max.block.ms` in total while the topic's metadata is fetched and
    /// while `buffer.memory` is full. Fails at once when the record is larger than
    /// `max.request.size` or `buffer.memory`, or the producer is closed.
    pub fn send(&self, record: Record<'_>) -> Result<SendFuture> {
        self.send_inner(record, None)
    }

    /// Like [`send`](Producer::send), and also calls `callback` with the record's result.
    ///
    /// The callback runs on the producer's sender thread, after the record's future resolved
    /// and after the interceptors; callbacks of one partition run in send order. Keep it short:
    /// the sender thread waits for it. A callback that panics is logged; the producer goes on.
    /// When `send_with_callback` itself returns `Err`, the callback is not called.
    pub fn send_with_callback(
        &self,
        record: Record<'_>,
        callback: impl FnOnce(Result<RecordMetadata>) + Send + 'static,
    ) -> Result<SendFuture> {
        self.send_inner(record, Some(Callback::new(callback)))
    }

    fn send_inner(&self, mut record: Record<'_>, mut callback: Option<Callback>) -> Result<SendFuture> {
        let interceptors = &self.inner.interceptors;
        if !interceptors.is_empty() {
            interceptor::each(interceptors, "on_send", |i| i.on_send(&mut record));
        }
        // Mapped in place: a `Result` held in a local and inspected would be copied to the
        // caller in wider loads than the callee's stores, a store-forwarding stall per send.
        self.append(&record, &mut callback).map_err(|e| self.refused(e))
    }

    /// What `send` returns when the record was not accepted; the interceptors hear of it.
    #[cold]
    fn refused(&self, e: Error) -> Error {
        let e = if matches!(e.kind(), ErrorKind::Timeout | ErrorKind::BufferExhausted)
            && self.inner.on_sender_thread()
        {
            // From a callback or interceptor no wait is possible: only this thread fetches
            // metadata and frees buffer memory.
            Error::new(
                ErrorKind::IllegalState,
                format!(
                    "send from a send callback or interceptor cannot wait for metadata or buffer \
                     memory (they run on the producer's sender thread, which provides both): {e}"
                ),
            )
        } else {
            e
        };
        interceptor::each(&self.inner.interceptors, "on_acknowledgement", |i| {
            i.on_acknowledgement(Err(&e));
            Ok(())
        });
        e
    }

    /// `callback` is taken (moved into the batch) when the record is appended; it is passed by
    /// reference so that its six words are not copied through every layer of the send path.
    fn append(&self, record: &Record<'_>, callback: &mut Option<Callback>) -> Result<SendFuture> {
        let inner = &*self.inner;
        let shared = &*inner.shared;
        if shared.accumulator.is_closed() {
            return Err(closed_error());
        }
        if let Some(e) = shared.fatal.get() {
            return Err(e.clone());
        }
        if let Some(t) = &shared.txn {
            t.check_send()?;
        }
        let topic: &str = &record.topic;
        let (key, value) = (record.key.as_deref(), record.value.as_deref());
        let size = record_size_bound(key, value, &record.headers);
        for (limit, name) in
            [(inner.max_request_size, "max.request.size"), (inner.buffer_memory, "buffer.memory")]
        {
            if size > limit {
                return Err(Error::new(
                    ErrorKind::RecordTooLarge,
                    format!(
                        "the record is {size} bytes when serialized, which is larger than {name}={limit}"
                    ),
                ));
            }
        }
        if let Some(ts) = record.timestamp.filter(|ts| *ts < 0) {
            return Err(Error::new(
                ErrorKind::InvalidRecord,
                format!("invalid timestamp {ts}: a record's timestamp must be non-negative (or unset)"),
            ));
        }
        if let Some(p) = record.partition.filter(|p| *p < 0) {
            return Err(Error::new(
                ErrorKind::InvalidRecord,
                format!("invalid partition {p} for topic '{topic}'"),
            ));
        }
        // On the sender thread (a callback or interceptor sending) nothing may wait.
        let max_block = if inner.on_sender_thread() { Duration::ZERO } else { inner.max_block };
        let deadline = Deadline::after(max_block);
        let acc = &shared.accumulator;
        // A partition the cached view does not have yet: wait for metadata that has it.
        let needs_partition =
            |info: &TopicInfo| record.partition.is_some_and(|p| p as usize >= info.partitions.len());
        let resolve = || -> Result<(Arc<TopicInfo>, Arc<TopicQueues>)> {
            check_topic_name(topic)?;
            let cluster =
                shared
                    .metadata
                    .wait_for_topic(topic, record.partition, deadline.get(), max_block, || shared.wake())?;
            let info = cluster.topic(topic).expect("wait_for_topic returned with the topic known").clone();
            Ok((info, acc.topic_queues(topic)))
        };
        let generation = shared.metadata.generation();
        let fill = || -> Result<topic_cache::Entry> {
            let (info, queues) = resolve()?;
            Ok(topic_cache::Entry::new(inner.id, generation, topic, info, queues))
        };
        let append = |info: &TopicInfo,
                      queues: &TopicQueues,
                      q: &PartitionQueue,
                      sticky: bool,
                      callback: &mut Option<Callback>| {
            let sticky = sticky.then_some((&info.available[..], info.partitions.len() as i32));
            let timestamp = record.timestamp.unwrap_or_else(wall_clock::now_millis);
            acc.append_to(
                queues,
                q,
                timestamp,
                key,
                value,
                &record.headers,
                size,
                &deadline,
                sticky,
                callback,
            )
        };
        topic_cache::with_entry(inner.id, generation, topic, fill, |entry| match entry {
            Some(e) if !needs_partition(&e.info) => {
                let (partition, sticky) = self.choose_partition(record, key, value, &e.info, &e.queues)?;
                let (info, queues, q) = e.parts(acc, partition);
                append(info, queues, q, sticky, callback)
            }
            _ => {
                // Reentrant (from a custom partitioner), or a partition not known yet.
                let (info, queues) = resolve()?;
                let (partition, sticky) = self.choose_partition(record, key, value, &info, &queues)?;
                append(&info, &queues, &acc.partition_queue(&queues, partition), sticky, callback)
            }
        })
    }

    /// The record's partition: explicit, the custom partitioner's, `murmur2(key)`, or the
    /// uniform sticky one (then `.1` is true: the partitioner wants to hear of the append).
    fn choose_partition(
        &self,
        record: &Record<'_>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        info: &TopicInfo,
        queues: &TopicQueues,
    ) -> Result<(i32, bool)> {
        let inner = &*self.inner;
        let topic: &str = &record.topic;
        let n = info.partitions.len() as i32;
        let custom = match (record.partition, &inner.partitioner) {
            (None, Some(p)) => {
                let ctx = PartitionerContext {
                    topic,
                    key,
                    value,
                    num_partitions: n,
                    available_partitions: &info.available,
                };
                crate::error::catch_user_panic(
                    ErrorKind::InvalidRecord,
                    format_args!("the custom partitioner for topic '{topic}'"),
                    || p.partition(&ctx),
                )?
            }
            _ => None,
        };
        match (record.partition.or(custom), key) {
            (Some(p), _) if p < 0 || p >= n => Err(Error::new(
                ErrorKind::InvalidRecord,
                format!("the partitioner chose partition {p} for topic '{topic}', which has {n} partitions"),
            )),
            (Some(p), _) => Ok((p, false)),
            (None, Some(k)) if !inner.ignore_keys => Ok((partitioner::partition_for_key(k, n), false)),
            _ => Ok((queues.sticky_partition(&info.available, n), true)),
        }
    }

    /// The partitions of `topic` and their leaders, from the cluster's metadata (fetched if
    /// this producer has none for it yet, waiting up to `max.block.ms`, as Java's
    /// `partitionsFor`). An unknown topic fails as a `send` to it would.
    pub fn partitions_for(&self, topic: &str) -> Result<Vec<PartitionMetadata>> {
        let inner = &*self.inner;
        let shared = &*inner.shared;
        if shared.accumulator.is_closed() {
            return Err(closed_error());
        }
        check_topic_name(topic)?;
        let max_block = if inner.on_sender_thread() { Duration::ZERO } else { inner.max_block };
        let deadline = Instant::now() + max_block;
        let cluster = shared.metadata.wait_for_topic(topic, None, deadline, max_block, || shared.wake())?;
        let info = cluster.topic(topic).expect("wait_for_topic returned with the topic known");
        Ok(info
            .partitions
            .iter()
            .enumerate()
            .map(|(p, pi)| PartitionMetadata {
                topic: topic.to_owned(),
                partition: p as i32,
                leader: (pi.leader >= 0).then_some(pi.leader),
                leader_epoch: pi.leader_epoch,
            })
            .collect())
    }

    /// A snapshot of the producer's metrics, with the Java producer's names
    /// (`record-send-rate`, `request-latency-avg`, `buffer-available-bytes`, ... and per topic and
    /// per node); see docs/metrics.md. Cheap: nothing on the send path records into them.
    pub fn metrics(&self) -> metrics::Metrics {
        let shared = &self.inner.shared;
        shared.metrics.snapshot(shared.accumulator.pool().stats(), Instant::now())
    }

    /// The id the cluster assigned this producer instance for client telemetry (KIP-714;
    /// Java's `KafkaProducer.clientInstanceId`), waiting up to `timeout` for the first
    /// GetTelemetrySubscriptions answer. Fails with `IllegalState` when `enable.metrics.push`
    /// is false, when the cluster offers no client telemetry (no telemetry plugin on the
    /// brokers) or after close, and with `Timeout` when no answer came within `timeout`.
    pub fn client_instance_id(&self, timeout: Duration) -> Result<ClientInstanceId> {
        self.inner.refuse_on_sender_thread("client_instance_id")?;
        self.inner.shared.instance_id.wait(timeout)
    }

    /// Sends every queued record at once (ignoring `linger.ms`) and blocks until each record
    /// sent before this call is acknowledged or failed. Failures are reported through the
    /// records' futures, not here.
    pub fn flush(&self) -> Result<()> {
        self.inner.refuse_on_sender_thread("flush")?;
        if self.inner.shared.accumulator.is_closed() {
            return Err(closed_error());
        }
        self.inner.shared.accumulator.flush(None)
    }

    /// Stops accepting records, delivers what was accepted, stops the sender thread and
    /// waits for it. If that takes longer than `timeout`, the records still pending fail with
    /// a `Closed` error and `close` returns a `Timeout` error saying how many failed.
    /// `close(Duration::ZERO)` fails pending records at once (and returns `Ok` when there were
    /// none). Every caller waits at most its own `timeout` (plus a short grace for the sender
    /// to stop once forced), also while another thread's close is under way; a close after the
    /// producer stopped returns at once with the same outcome.
    pub fn close(&self, timeout: Duration) -> Result<()> {
        self.inner.close(timeout)
    }

    fn transactions(&self, op: &str) -> Result<&transaction::Transactions> {
        self.inner.shared.txn.as_ref().ok_or_else(|| {
            Error::new(ErrorKind::IllegalState, format!("cannot {op}: the producer has no transactional.id"))
        })
    }

    /// Registers the `transactional.id` with its coordinator, fences older producers with the
    /// same id, and finishes (aborts) any transaction they left open. Call once, before the
    /// first transaction. A call that times out can be repeated to keep waiting.
    pub fn init_transactions(&self, timeout: Duration) -> Result<()> {
        self.inner.refuse_on_sender_thread("init_transactions")?;
        let shared = &self.inner.shared;
        self.transactions("init_transactions")?.init(timeout, &|| shared.wake())
    }

    /// Starts a transaction: records sent from now on are committed or aborted together.
    pub fn begin_transaction(&self) -> Result<()> {
        self.transactions("begin_transaction")?.begin()
    }

    /// Adds consumed offsets to the transaction, so that they are committed for `group` if and
    /// only if the transaction commits (the read-process-write pattern).
    pub fn send_offsets_to_transaction(
        &self,
        offsets: &[OffsetToCommit],
        group: &ConsumerGroupMetadata,
        timeout: Duration,
    ) -> Result<()> {
        self.inner.refuse_on_sender_thread("send_offsets_to_transaction")?;
        let shared = &self.inner.shared;
        let t = self.transactions("send_offsets_to_transaction")?;
        t.send_offsets(offsets.to_vec(), group.clone(), timeout, &|| shared.wake())
    }

    /// Sends every record of the transaction, then commits it. If a record failed, nothing is
    /// committed: the call fails and the transaction must be aborted. A call that times out
    /// can be repeated.
    pub fn commit_transaction(&self, timeout: Duration) -> Result<()> {
        self.inner.refuse_on_sender_thread("commit_transaction")?;
        let shared = &self.inner.shared;
        let t = self.transactions("commit_transaction")?;
        let flush = |timeout: Duration| shared.accumulator.flush(Instant::now().checked_add(timeout));
        t.commit(timeout, &|| shared.wake(), &flush)
    }

    /// Aborts the transaction: records not sent yet fail with `TransactionAborted`, records
    /// already written are marked aborted (read_committed consumers skip them).
    pub fn abort_transaction(&self, timeout: Duration) -> Result<()> {
        self.inner.refuse_on_sender_thread("abort_transaction")?;
        let shared = &self.inner.shared;
        self.transactions("abort_transaction")?.abort(timeout, &|| shared.wake(), &|| {})
    }

    /// The transaction state (`None` without a `transactional.id`).
    pub fn transaction_state(&self) -> Option<TxnState> {
        self.inner.shared.txn.as_ref().map(|t| t.state())
    }

    /// The `batch.size` in effect.
    pub fn batch_size(&self) -> usize {
        self.inner.batch_size
    }
}

impl Inner {
    fn on_sender_thread(&self) -> bool {
        future::is_sender_thread_of(self.shared.accumulator.owner_id())
    }

    /// A callback or interceptor (they run on the sender thread) must not wait for the sender.
    fn refuse_on_sender_thread(&self, op: &str) -> Result<()> {
        if self.on_sender_thread() {
            return Err(Error::new(
                ErrorKind::IllegalState,
                format!(
                    "{op} cannot be called from a send callback or interceptor: it would wait for itself"
                ),
            ));
        }
        Ok(())
    }

    fn close(&self, timeout: Duration) -> Result<()> {
        if self.on_sender_thread() {
            // From a callback (or the last handle dropped in one): ask the sender to finish
            // what is queued and stop; it cannot be waited for from its own thread.
            self.shared.accumulator.close();
            self.shared.closing.store(true, Ordering::Release);
            self.shared.wake();
            return Ok(());
        }
        let shared = &self.shared;
        let started = Instant::now();
        let first = !self.close_started.swap(true, Ordering::AcqRel);
        if first {
            if let Some(t) = shared.txn.as_ref().filter(|_| !timeout.is_zero()) {
                // As Java does: a transaction left open is aborted before the producer stops,
                // so that read_committed consumers need not wait for transaction.timeout.ms.
                if matches!(t.state(), TxnState::InTransaction | TxnState::AbortableError) {
                    if let Err(e) = t.abort(timeout, &|| shared.wake(), &|| {}) {
                        log::warn!(
                            "producer {}: aborting the open transaction on close: {e}",
                            self.client_id
                        );
                        *self.abort_failure.lock() = Some(e);
                    }
                }
            }
            shared.accumulator.close();
            shared.closing.store(true, Ordering::Release);
        }
        // Each caller waits its own timeout (a second close does not queue behind the first).
        let remaining = timeout.saturating_sub(started.elapsed());
        if remaining.is_zero() {
            shared.force_close.store(true, Ordering::Release);
        }
        shared.wake();
        let mut failed = self.stopped.wait(remaining);
        if failed.is_none() {
            if !remaining.is_zero() {
                log::warn!(
                    "producer {}: close timed out after {timeout:?}; failing pending records",
                    self.client_id
                );
            }
            shared.force_close.store(true, Ordering::Release);
            shared.wake();
            // A forced sender stops within one turn, unless it is inside a callback.
            failed = self.stopped.wait(CLOSE_FORCE_GRACE);
        }
        let Some(failed) = failed else {
            return Err(Error::timeout(format!(
                "close did not finish within {} ms: the sender thread is still busy (in a send callback?); \
                 its pending records fail when it stops",
                timeout.as_millis()
            )));
        };
        let handle = self.thread.lock().take();
        if let Some(h) = handle {
            if h.join().is_err() {
                return Err(Error::new(ErrorKind::IllegalState, "the producer's sender thread panicked"));
            }
        }
        if let Some(e) = self.abort_failure.lock().clone() {
            return Err(e.context("close could not abort the open transaction"));
        }
        // Only records that were really failed make close an error: a forced close (or one
        // that timed out) with nothing left pending did all it was asked to.
        match failed {
            0 => Ok(()),
            n => Err(Error::timeout(format!(
                "close did not deliver every record within {} ms; {n} pending record(s) failed",
                timeout.as_millis()
            ))),
        }
    }
}

/// How long a close waits for a sender it forced to stop before it gives up on it.
const CLOSE_FORCE_GRACE: Duration = Duration::from_millis(500);

/// The sender thread's end, which every `close` waits for with its own timeout.
#[derive(Default)]
struct Stopped {
    // guards: `Some(records failed)` once the sender thread has ended
    failed: Mutex<Option<usize>>,
    ended: parking_lot::Condvar,
}

impl Stopped {
    fn set(&self, failed: usize) {
        *self.failed.lock() = Some(failed);
        self.ended.notify_all();
    }

    /// The number of records the sender failed, once it has ended, waiting up to `timeout`.
    fn wait(&self, timeout: Duration) -> Option<usize> {
        let mut st = self.failed.lock();
        if st.is_none() && !timeout.is_zero() {
            let deadline = Instant::now() + timeout;
            while st.is_none() && !self.ended.wait_until(&mut st, deadline).timed_out() {}
        }
        *st
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let wait = self.shared.config.delivery_timeout;
        if let Err(e) = self.close(wait) {
            log::warn!("producer {} dropped: {e}", self.client_id);
        }
        topic_cache::forget(self.id);
    }
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("client_id", &self.inner.client_id).finish_non_exhaustive()
    }
}

/// Java's rules for a topic name (`org.apache.kafka.common.internals.Topic.validate`), checked
/// before a topic's first metadata fetch: the broker would refuse the name with
/// INVALID_TOPIC_EXCEPTION, which is the error here too, at once.
fn check_topic_name(topic: &str) -> Result<()> {
    const MAX: usize = 249;
    let problem = if topic.is_empty() {
        Some("it is empty".to_string())
    } else if topic == "." || topic == ".." {
        Some("'.' and '..' are not allowed".to_string())
    } else if topic.len() > MAX {
        Some(format!("it is {} characters long, more than the {MAX} allowed", topic.chars().count()))
    } else {
        topic
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
            .map(|c| format!("it contains {c:?}; only ASCII letters, digits, '.', '_' and '-' are allowed"))
    };
    match problem {
        None => Ok(()),
        Some(why) => Err(Error::new(
            ErrorKind::Broker(crate::error::KafkaCode::INVALID_TOPIC_EXCEPTION),
            format!("invalid topic name '{topic}': {why}"),
        )),
    }
}

/// A partition as the cluster's metadata describes it ([`Producer::partitions_for`]; Java's
/// `PartitionInfo`, without the replica lists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// The topic.
    pub topic: String,
    /// The partition number.
    pub partition: i32,
    /// The leader's node id, or `None` while it has none.
    pub leader: Option<i32>,
    /// The leader epoch, or -1 when the broker does not say.
    pub leader_epoch: i32,
}

/// The state the producer handle, application threads and the sender thread share, built
/// from a validated configuration; also the transaction command channel's receiving end (the
/// sender's), for a transactional producer.
pub(crate) fn shared_state(
    cfg: &ProducerConfig,
    client_id: &str,
) -> Result<(Arc<Shared>, Option<crossbeam_channel::Receiver<transaction::TxnCommand>>)> {
    let compression: CompressionType = cfg.compression_type.parse()?;
    let compression_level = match compression {
        CompressionType::Gzip => Some(cfg.compression_gzip_level),
        CompressionType::Lz4 => Some(cfg.compression_lz4_level),
        CompressionType::Zstd => Some(cfg.compression_zstd_level),
        _ => None,
    };
    let acks = cfg.acks.as_i16();
    let security = crate::security::Security::from_config(cfg)?;
    let sender_cfg = SenderConfig {
        bootstrap: cfg.bootstrap_servers.clone(),
        client_id: client_id.to_owned(),
        acks,
        request_timeout: cfg.request_timeout,
        delivery_timeout: cfg.delivery_timeout,
        max_request_size: cfg.max_request_size,
        max_in_flight: cfg.max_in_flight_requests_per_connection.max(1),
        retries: cfg.retries.max(0) as u32,
        retry_backoff: cfg.retry_backoff,
        retry_backoff_max: cfg.retry_backoff_max,
        reconnect_backoff: cfg.reconnect_backoff,
        reconnect_backoff_max: cfg.reconnect_backoff_max,
        metadata_max_age: cfg.metadata_max_age,
        metadata_max_idle: cfg.metadata_max_idle,
        connections_max_idle: cfg.connections_max_idle,
        idempotent: cfg.idempotence_enabled(),
        transaction_timeout: cfg.transaction_timeout,
        compression,
        compression_level,
        availability_timeout: if cfg.partitioner_adaptive_partitioning_enable {
            cfg.partitioner_availability_timeout
        } else {
            Duration::ZERO
        },
        socket: SocketOptions {
            connect_timeout: cfg.socket_connection_setup_timeout,
            send_buffer_bytes: cfg.send_buffer_bytes,
            receive_buffer_bytes: cfg.receive_buffer_bytes,
            dns_lookup: match cfg.client_dns_lookup {
                ClientDnsLookup::UseAllDnsIps => DnsLookup::UseAllDnsIps,
                ClientDnsLookup::ResolveCanonicalBootstrapServersOnly => DnsLookup::FirstIpOnly,
            },
            #[cfg(feature = "tls")]
            tls: security.tls,
        },
        sasl: security.sasl,
        metrics_push: cfg.enable_metrics_push,
    };
    let waker = crate::network::waker::Waker::new()
        .map_err(|e| Error::io("creating the sender thread's waker (a socket pair)", e))?;
    let (txn, txn_commands) = match &cfg.transactional_id {
        Some(id) => {
            let (t, rx) = transaction::Transactions::new(id.clone());
            (Some(t), Some(rx))
        }
        None => (None, None),
    };
    let acc_cfg = AccumulatorConfig {
        batch_size: cfg.batch_size,
        linger: cfg.linger,
        max_block: cfg.max_block,
        adaptive: cfg.partitioner_adaptive_partitioning_enable,
        compression,
        compression_level,
        transactional: txn.is_some(),
    };
    let shared = Arc::new(Shared {
        config: sender_cfg,
        accumulator: Accumulator::new(acc_cfg, cfg.buffer_memory, waker.clone(), cfg.interceptors.clone()),
        metadata: Metadata::new(),
        closing: Default::default(),
        force_close: Default::default(),
        fatal: Default::default(),
        txn,
        waker,
        instance_id: Arc::new(telemetry::InstanceIdCell::new(cfg.enable_metrics_push)),
        metrics: metrics::SenderMetrics::new(
            client_id,
            Duration::from_millis(
                cfg.get("metrics.sample.window.ms").and_then(|v| v.parse().ok()).unwrap_or(30_000),
            ),
            cfg.get("metrics.num.samples").and_then(|v| v.parse().ok()).unwrap_or(2),
        ),
    });
    Ok((shared, txn_commands))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_javas_rules() {
        for ok in ["orders", "a.b_c-D9", &"x".repeat(249)] {
            assert!(check_topic_name(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            (".", "'.'"),
            ("..", "'..'"),
            ("bad topic", "' '"),
            ("ümlaut", "'ü'"),
            ("a/b", "'/'"),
            (&"x".repeat(250), "250 characters"),
        ] {
            let e = check_topic_name(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Broker(crate::error::KafkaCode::INVALID_TOPIC_EXCEPTION));
            assert!(e.to_string().contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn producer_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone>() {}
        check::<Producer>();
        check::<SendFuture>();
    }

    #[test]
    fn bad_config_is_rejected_with_the_key() {
        let e =
            Producer::new(ProducerConfig::new().bootstrap_servers("localhost:9092").set("linger.ms", "soon"))
                .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains("linger.ms"), "{e}");
    }

    #[test]
    fn oversized_record_fails_at_once_naming_the_limit() {
        let p = Producer::new(
            ProducerConfig::new().bootstrap_servers("127.0.0.1:1").set("max.request.size", "1000"),
        )
        .unwrap();
        let big = vec![0u8; 2000];
        let e = p.send(Record::new("t").value(&big)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::RecordTooLarge);
        assert!(e.to_string().contains("max.request.size=1000"), "{e}");
        p.close(Duration::ZERO).unwrap();
    }

    #[test]
    fn negative_timestamp_is_refused_as_java_does() {
        let p = Producer::new(ProducerConfig::new().bootstrap_servers("127.0.0.1:1")).unwrap();
        let e = p.send(Record::new("t").value("v").timestamp(-5)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRecord);
        assert!(e.to_string().contains("-5"), "{e}");
        p.close(Duration::ZERO).unwrap();
    }

    #[test]
    fn send_after_close_is_refused_without_hanging() {
        let p = Producer::new(ProducerConfig::new().bootstrap_servers("127.0.0.1:1")).unwrap();
        p.close(Duration::from_secs(1)).unwrap();
        let e = p.send(Record::new("t").value("v")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Closed);
        assert_eq!(p.flush().unwrap_err().kind(), ErrorKind::Closed);
        p.close(Duration::from_secs(1)).unwrap();
    }

    #[test]
    fn unreachable_broker_times_out_metadata_after_max_block() {
        let p =
            Producer::new(ProducerConfig::new().bootstrap_servers("127.0.0.1:1").set("max.block.ms", "300"))
                .unwrap();
        let t = Instant::now();
        let e = p.send(Record::new("t").value("v")).unwrap_err();
        assert!(t.elapsed() >= Duration::from_millis(290));
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(e.to_string().contains("max.block.ms"), "{e}");
    }
}
