//! The record accumulator: per-partition queues of batches, striped by partition.
//!
//! Threads: application threads append (inside `send`); the sender thread checks readiness,
//! drains, re-enqueues retries and expires batches.
//!
//! Locks:
//! - `topics` (RwLock, guards: the topic map) is written only when a topic is first seen.
//! - `TopicQueues::partitions` (RwLock, guards: the partition vector) is written only when a
//!   partition is first seen.
//! - `PartitionQueue::batches` (Mutex, guards: that partition's deque) is the lock appends
//!   take; two threads contend only when they append to the same partition. It is held to
//!   copy one record into a buffer or to move a batch in or out, never across I/O, pool waits
//!   or compression.
//! - `incomplete` (Mutex, guards: ids of batches not yet resolved) serves `flush`.

mod batch;

use super::buffer_pool::BufferPool;
use super::callback::Callback;
use super::future::{BatchAck, BatchCompletion, BatchResult, RecordStamp, SendFuture};
use super::idempotence::Restamp;
use super::interceptor::{self, ProducerInterceptor};
use super::partitioner::{StickyPartition, UNAVAILABLE};
use crate::compression::CompressionType;
use crate::error::{Error, ErrorKind, Result};
use crate::network::metadata::Cluster;
use crate::network::waker::Waker;
use crate::protocol::record_batch::{
    decode_batches, Header, ProducerState, RecordBatchBuilder, BATCH_HEADER_LEN,
};
pub(crate) use batch::ProducerBatch;
use batch::{callback_room_for, Appended, Body, Completion, SplitParent, SplitState, CALLBACK_ENTRY_BYTES};
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest number of bytes a record can add to a batch beyond its key, value and headers'
/// own bytes: length, attributes, timestamp delta, offset delta and the varint lengths.
fn record_overhead_bound(headers: usize) -> usize {
    5 + 1 + 10 + 5 + 5 + 5 + 5 + headers * 10
}

/// `max.block.ms` from the first time it is asked for: the send path reads the clock for it only
/// when a record has to wait (for metadata or pool memory).
pub(crate) struct Deadline {
    max_block: Duration,
    at: std::cell::Cell<Option<Instant>>,
}

impl Deadline {
    pub(crate) fn after(max_block: Duration) -> Deadline {
        Deadline { max_block, at: std::cell::Cell::new(None) }
    }

    #[cfg(test)]
    pub(crate) fn at(at: Instant) -> Deadline {
        Deadline { max_block: Duration::ZERO, at: std::cell::Cell::new(Some(at)) }
    }

    pub(crate) fn get(&self) -> Instant {
        match self.at.get() {
            Some(at) => at,
            None => {
                let at = Instant::now() + self.max_block;
                self.at.set(Some(at));
                at
            }
        }
    }
}

/// Writes zeros over the first `size` bytes of a fresh batch buffer (and leaves it empty),
/// outside the partition lock. A pooled buffer was last read by the sender thread (CRC, socket
/// write), so its cache lines sit in another core's cache; filled record by record, each new
/// line's first store waits for the line, and the next locked instruction (the next `send`'s
/// partition lock, a dropped future's reference) waits for that store. One memset per batch
/// claims every line at once: pinned `send_cost`, 8 alternating pairs, median 113 -> 108 ns.
fn claim_cache_lines(buf: &mut Vec<u8>, size: usize) {
    buf.clear();
    buf.resize(size, 0);
    buf.clear();
}

/// An upper bound of the bytes one record takes in a batch of its own (header included).
pub(crate) fn record_size_bound(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header<'_>]) -> usize {
    let hdr_bytes: usize =
        headers.iter().map(|h| h.key.len() + h.value.as_deref().map_or(0, <[u8]>::len)).sum();
    BATCH_HEADER_LEN
        + record_overhead_bound(headers.len())
        + key.map_or(0, <[u8]>::len)
        + value.map_or(0, <[u8]>::len)
        + hdr_bytes
}

/// One partition's queue of batches.
pub(crate) struct PartitionQueue {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    // guards: this partition's batches, oldest first
    batches: Mutex<VecDeque<ProducerBatch>>,
    /// Batches queued when the sender last looked (its `ready` pass): the load that adaptive
    /// partitioning weighs (Java's `queueSizes`).
    queued: std::sync::atomic::AtomicU32,
    /// Its leader has had batches ready but not drained for longer than
    /// `partitioner.availability.timeout.ms`: adaptive partitioning leaves it out.
    unavailable: AtomicBool,
}

pub(crate) struct TopicQueues {
    name: Arc<str>,
    // guards: queues by partition number
    partitions: RwLock<Vec<Arc<PartitionQueue>>>,
    sticky: StickyPartition,
    /// `partitioner.adaptive.partitioning.enable`.
    adaptive: bool,
}

impl TopicQueues {
    /// Runs on: application threads. The partition for a keyless record (uniform sticky).
    pub(crate) fn sticky_partition(&self, available: &[i32], num_partitions: i32) -> i32 {
        self.sticky.partition(available, num_partitions, &|p| self.load(p))
    }

    /// Batches queued for `partition` at the sender's last look; `None` when adaptive
    /// partitioning is off (every partition then weighs the same).
    fn load(&self, partition: i32) -> Option<u32> {
        if !self.adaptive {
            return None;
        }
        let parts = self.partitions.read();
        Some(parts.get(partition as usize).map_or(0, |q| {
            if q.unavailable.load(Ordering::Relaxed) {
                UNAVAILABLE
            } else {
                q.queued.load(Ordering::Relaxed)
            }
        }))
    }
}

/// The outcome of a readiness check.
#[derive(Default)]
pub(crate) struct Readiness {
    /// Nodes with at least one batch to send now, with every queue they lead that has a
    /// sendable first batch.
    pub(crate) nodes: HashMap<i32, Vec<Arc<PartitionQueue>>>,
    /// When the next batch becomes ready (linger or backoff), if any is waiting.
    pub(crate) next_check: Option<Duration>,
    /// Some queue has batches but its partition's leader is unknown.
    pub(crate) unknown_leader: bool,
    /// Some queue had batches (sendable or not) when it was looked at.
    pub(crate) queued: bool,
}

/// Batch settings the accumulator needs.
#[derive(Debug, Clone)]
pub(crate) struct AccumulatorConfig {
    pub(crate) batch_size: usize,
    pub(crate) linger: Duration,
    pub(crate) max_block: Duration,
    /// `partitioner.adaptive.partitioning.enable`.
    pub(crate) adaptive: bool,
    /// `compression.type` and its level: full batches are compressed by the application
    /// thread that filled them.
    pub(crate) compression: CompressionType,
    pub(crate) compression_level: Option<i32>,
    /// A transactional producer: a new batch wakes the sender at once, so that it adds the
    /// partition to the transaction while the batch lingers (as Java's sender is woken).
    pub(crate) transactional: bool,
}

/// Per-partition batches plus the buffer pool behind them.
pub(crate) struct Accumulator {
    config: AccumulatorConfig,
    // guards: topic map
    topics: RwLock<HashMap<Arc<str>, Arc<TopicQueues>>>,
    next_batch_id: AtomicU64,
    /// The pool, the unresolved batches and the interceptors, shared with every batch so that
    /// a batch dropped without a result (a panic on the sender thread) resolves and frees itself.
    ledger: Arc<Ledger>,
    flushes: AtomicUsize,
    closed: AtomicBool,
    wake: Waker,
    // guards: the nodes the sender found unavailable (`partitioner.availability.timeout.ms`)
    unavailable_nodes: Mutex<Vec<i32>>,
    // guards: when [`expired`](Self::expired) must look at the queues again (sender thread
    // only): the oldest first batch it saw plus the timeout; `None` to look every time.
    expiry_scan_at: Mutex<Option<Instant>>,
}

impl Accumulator {
    pub(crate) fn new(
        config: AccumulatorConfig,
        buffer_memory: usize,
        wake: Waker,
        interceptors: Vec<Arc<dyn ProducerInterceptor>>,
    ) -> Self {
        Accumulator {
            ledger: Arc::new(Ledger {
                interceptors,
                pool: BufferPool::new(buffer_memory, config.batch_size),
                incomplete: Mutex::new(BTreeSet::new()),
                completed: Condvar::new(),
            }),
            config,
            topics: RwLock::new(HashMap::new()),
            next_batch_id: AtomicU64::new(0),
            flushes: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            wake,
            unavailable_nodes: Mutex::new(Vec::new()),
            expiry_scan_at: Mutex::new(None),
        }
    }

    /// This accumulator's identity for [`future::is_sender_thread_of`](super::future).
    pub(crate) fn owner_id(&self) -> usize {
        self as *const Accumulator as usize
    }

    pub(crate) fn pool(&self) -> &BufferPool {
        &self.ledger.pool
    }

    /// Batches are ready without waiting for `linger.ms`: a flush is under way or a thread
    /// waits for pool memory (as in Java).
    fn skips_linger(&self) -> bool {
        self.flushes.load(Ordering::Acquire) > 0 || self.ledger.pool.has_waiters()
    }

    fn wake_sender(&self) {
        self.wake.wake();
    }

    fn topic(&self, topic: &str) -> Arc<TopicQueues> {
        if let Some(t) = self.topics.read().get(topic) {
            return t.clone();
        }
        let mut map = self.topics.write();
        map.entry(Arc::from(topic))
            .or_insert_with_key(|name| {
                Arc::new(TopicQueues {
                    name: name.clone(),
                    partitions: RwLock::new(Vec::new()),
                    sticky: StickyPartition::new(),
                    adaptive: self.config.adaptive,
                })
            })
            .clone()
    }

    fn queue(&self, t: &TopicQueues, partition: i32) -> Arc<PartitionQueue> {
        let idx = partition as usize;
        if let Some(q) = t.partitions.read().get(idx) {
            return q.clone();
        }
        let mut parts = t.partitions.write();
        while parts.len() <= idx {
            let p = parts.len() as i32;
            parts.push(Arc::new(PartitionQueue {
                topic: t.name.clone(),
                partition: p,
                batches: Mutex::new(VecDeque::new()),
                queued: Default::default(),
                unavailable: Default::default(),
            }));
        }
        parts[idx].clone()
    }

    /// Runs on: application threads. The partition for a keyless record (uniform sticky).
    #[cfg(test)]
    pub(crate) fn sticky_partition(&self, topic: &str, available: &[i32], num_partitions: i32) -> i32 {
        self.topic(topic).sticky_partition(available, num_partitions)
    }

    /// Runs on: application threads, under the partition lock. A batch that just filled up is
    /// taken out for compression by this thread (the sender would compress every partition's
    /// batches on one core), unless compression is off.
    fn take_for_compression(&self, batch: &mut ProducerBatch) -> Option<(u64, RecordBatchBuilder)> {
        if self.config.compression == CompressionType::None || !matches!(batch.body, Body::Open(_)) {
            return None;
        }
        match std::mem::replace(&mut batch.body, Body::Compressing) {
            Body::Open(b) => Some((batch.id, b)),
            other => {
                batch.body = other;
                None
            }
        }
    }

    /// Runs on: application threads, without the partition lock. Compresses (with a
    /// placeholder stamp: the sender stamps the sealed bytes when it sends them) and puts the
    /// sealed batch back, or, if the batch was failed meanwhile (close, abort, expiry), drops it.
    fn compress_outside_lock(&self, q: &PartitionQueue, (id, builder): (u64, RecordBatchBuilder)) {
        thread_local! {
            static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let (compression, level) = (self.config.compression, self.config.compression_level);
        let sealed = SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let (sealed, pooled) =
                builder.seal_into(std::mem::take(&mut *scratch), compression, level, ProducerState::NONE)?;
            let (sealed, spare) = sealed.relocate(pooled);
            *scratch = spare;
            Ok::<_, Error>(sealed)
        });
        let mut dq = q.batches.lock();
        // From the back: the batch was the newest when it filled, and with a full pool the queue
        // can be thousands of batches deep (this runs under the partition lock).
        let Some(batch) = dq.iter_mut().rev().find(|b| b.id == id && b.is_compressing()) else { return };
        match sealed {
            Ok(sealed) => batch.body = Body::Sealed(sealed),
            // Not seen in practice (the codec was checked when the producer was made, and the
            // batch fit its buffer): the batch is never sent, and delivery.timeout.ms fails it
            // naming this error.
            Err(e) => batch.last_error = Some(e.context("compressing a full batch")),
        }
        drop(dq);
        self.wake_sender();
    }

    /// Runs on: application threads. `topic`'s queues, created on first use (a handle the
    /// send path caches, see `producer/topic_cache.rs`).
    pub(crate) fn topic_queues(&self, topic: &str) -> Arc<TopicQueues> {
        self.topic(topic)
    }

    /// Runs on: application threads. `partition`'s queue of `t`, created on first use.
    pub(crate) fn partition_queue(&self, t: &TopicQueues, partition: i32) -> Arc<PartitionQueue> {
        self.queue(t, partition)
    }

    /// Runs on: application threads. Copies the record into the partition's open batch,
    /// starting a new batch (memory from the pool, waiting up to `deadline`) if needed.
    #[cfg(test)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn append(
        &self,
        topic: &str,
        partition: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
        deadline: Instant,
        sticky: Option<(&[i32], i32)>,
        callback: Option<Callback>,
    ) -> Result<SendFuture> {
        let t = self.topic(topic);
        let q = self.queue(&t, partition);
        let bound = record_size_bound(key, value, headers);
        let deadline = Deadline::at(deadline);
        self.append_to(&t, &q, timestamp, key, value, headers, bound, &deadline, sticky, &mut { callback })
    }

    /// Runs on: application threads. [`append`](Self::append) for a record whose topic and
    /// partition queues were looked up already, with its size bound computed; `deadline` is read
    /// only when the record waits for pool memory. `callback` is taken (into the batch) once the
    /// record is appended, and left where it is when the append fails.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn append_to(
        &self,
        t: &TopicQueues,
        q: &PartitionQueue,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
        bound: usize,
        deadline: &Deadline,
        sticky: Option<(&[i32], i32)>,
        callback: &mut Option<Callback>,
    ) -> Result<SendFuture> {
        if self.closed.load(Ordering::Acquire) {
            return Err(closed_error());
        }
        let partition = q.partition;
        let note_sticky = |a: Appended| {
            if let Some((available, n)) = sticky {
                let load = |p| t.load(p);
                t.sticky.on_append(
                    partition,
                    a.bytes,
                    a.now_full,
                    self.config.batch_size,
                    available,
                    n,
                    &load,
                );
            }
            a.future
        };
        {
            let mut dq = q.batches.lock();
            let first = dq.len() == 1;
            if let Some(last) = dq.back_mut() {
                if let Some(a) = last.try_append(timestamp, key, value, headers, callback) {
                    // The sender compresses while it keeps up; when a full batch is still
                    // queued ahead of this one, the filling thread compresses it itself.
                    let filled = (a.now_full && !first).then(|| self.take_for_compression(last)).flatten();
                    drop(dq);
                    if let Some(job) = filled {
                        self.compress_outside_lock(q, job);
                    }
                    if a.now_full && first {
                        self.wake_sender(); // the first batch just filled up
                    }
                    return Ok(note_sticky(a));
                }
                if last.full && dq.len() == 1 {
                    // The first batch just filled up: tell the sender.
                    self.wake_sender();
                }
            }
        }
        let size = self.config.batch_size.max(bound);
        let pool = &self.ledger.pool;
        // Callback entries the pool can hold beside the buffer (at least the record's own).
        let callback_room = if callback.is_some() {
            let fits = pool.total().saturating_sub(size) / CALLBACK_ENTRY_BYTES;
            callback_room_for(size, bound).min(fits).max(1)
        } else {
            0
        };
        let charge = callback_room * CALLBACK_ENTRY_BYTES;
        let mut buf = pool.allocate_charged(size, charge, deadline.get(), self.config.max_block)?;
        claim_cache_lines(&mut buf, size);
        let give_back = |buf| {
            pool.deallocate(buf, size);
            pool.release(charge);
        };
        let mut dq = q.batches.lock();
        if self.closed.load(Ordering::Acquire) {
            drop(dq);
            give_back(buf);
            return Err(closed_error());
        }
        if let Some(last) = dq.back_mut() {
            if let Some(a) = last.try_append(timestamp, key, value, headers, callback) {
                drop(dq);
                give_back(buf);
                return Ok(note_sticky(a));
            }
        }
        let id = self.next_batch_id.fetch_add(1, Ordering::Relaxed);
        let mut batch = ProducerBatch {
            topic: q.topic.clone(),
            partition,
            body: Body::Open(RecordBatchBuilder::new(buf, timestamp)),
            completion: Some(Completion::Own(BatchCompletion::new(
                q.topic.clone(),
                partition,
                self.owner_id(),
            ))),
            created: Instant::now(),
            reserved: size,
            record_count: 0,
            attempts: 0,
            ledger: self.ledger.clone(),
            retry_at: None,
            sent_to: None,
            last_error: None,
            full: false,
            id,
            callbacks: Vec::with_capacity(callback_room),
            callback_room,
            timestamps: (!self.ledger.interceptors.is_empty()).then(Vec::new),
            sequence: None,
            outcome_unknown: false,
        };
        let a = batch.try_append(timestamp, key, value, headers, callback).ok_or_else(|| {
            Error::new(ErrorKind::IllegalState, format!("a record did not fit a fresh batch of {size} bytes"))
        })?;
        self.ledger.incomplete.lock().insert(id);
        let created = batch.created;
        dq.push_back(batch);
        let only = dq.len() == 1;
        drop(dq);
        if only {
            // The sender learns of a batch behind another when it drains that one; this one it
            // must see by the time its linger ends (at once when a flush or a pool wait is on,
            // or when a transaction must take the partition in first).
            let urgent = self.config.transactional || self.skips_linger();
            self.wake.wake_by(if urgent { created } else { created + self.config.linger });
        }
        Ok(note_sticky(a))
    }

    fn for_each_queue(&self, mut f: impl FnMut(&Arc<PartitionQueue>)) {
        let topics: Vec<Arc<TopicQueues>> = self.topics.read().values().cloned().collect();
        for t in topics {
            for q in t.partitions.read().iter() {
                f(q);
            }
        }
    }

    /// Runs on: sender thread. Which nodes have batches to send now, and when to look again.
    /// `can_send(queue, first_batch)` tells whether a partition may send its first batch now
    /// (ordering and idempotence rules).
    pub(crate) fn ready(
        &self,
        cluster: &Cluster,
        now: Instant,
        closing: bool,
        can_send: impl Fn(&PartitionQueue, &ProducerBatch) -> bool,
    ) -> Readiness {
        let mut r = Readiness::default();
        let urgent = closing || self.skips_linger();
        let linger = self.config.linger;
        let mut candidates: HashMap<i32, (bool, Vec<Arc<PartitionQueue>>)> = HashMap::new();
        let unavailable = self.unavailable_nodes.lock().clone();
        self.for_each_queue(|q| {
            let mut dq = q.batches.lock();
            q.queued.store(dq.len() as u32, Ordering::Relaxed);
            r.queued |= !dq.is_empty();
            let leader = cluster.leader_for(&q.topic, q.partition);
            if let Some(b) = dq.front_mut() {
                // Java's rule (KIP-951): the retry of a batch whose leader changed since its
                // last attempt does not wait for the backoff; the new leader has not seen it.
                if b.retry_at.is_some_and(|at| at > now) && b.sent_to.is_some_and(|n| Some(n) != leader) {
                    b.retry_at = Some(now);
                }
            }
            if self.config.adaptive {
                // As Java: only a partition with batches waiting is left out, so one whose
                // queue emptied (sent or expired) is picked again.
                let out = !dq.is_empty() && leader.is_some_and(|l| unavailable.contains(&l));
                q.unavailable.store(out, Ordering::Relaxed);
            }
            let Some(first) = dq.front().filter(|b| !b.is_compressing()) else { return };
            let Some(leader) = leader else {
                r.unknown_leader = true;
                return;
            };
            if !can_send(q, first) {
                return;
            }
            if let Some(at) = first.retry_at {
                if at > now {
                    r.next_check = min_opt(r.next_check, at - now);
                    return;
                }
            }
            let full = dq.len() > 1 || first.full || first.retry_at.is_some();
            let waited = now.saturating_duration_since(first.created);
            let ready = full || urgent || waited >= linger;
            if !ready {
                r.next_check = min_opt(r.next_check, linger - waited);
            }
            let e = candidates.entry(leader).or_default();
            e.0 |= ready;
            e.1.push(q.clone());
        });
        r.nodes =
            candidates.into_iter().filter(|(_, (ready, _))| *ready).map(|(n, (_, qs))| (n, qs)).collect();
        r
    }

    /// Whether adaptive partitioning leaves `topic`'s `partition` out at the moment.
    #[cfg(test)]
    pub(crate) fn is_unavailable(&self, topic: &str, partition: i32) -> bool {
        self.queue(&self.topic(topic), partition).unavailable.load(Ordering::Relaxed)
    }

    /// Runs on: sender thread. The nodes whose partitions adaptive partitioning leaves out from
    /// the next `ready` pass on (`partitioner.availability.timeout.ms`).
    pub(crate) fn set_unavailable_nodes(&self, nodes: Vec<i32>) {
        *self.unavailable_nodes.lock() = nodes;
    }

    /// Runs on: sender thread. Takes at most one batch per queue, starting at `start` and
    /// going round, until `max_bytes` would be exceeded (the first batch is always taken).
    /// Returns the batches (not sealed yet) and the index to start from next time.
    pub(crate) fn drain(
        &self,
        queues: &[Arc<PartitionQueue>],
        start: usize,
        max_bytes: usize,
        now: Instant,
        can_send: impl Fn(&PartitionQueue, &ProducerBatch) -> bool,
    ) -> (Vec<ProducerBatch>, usize) {
        let mut out: Vec<ProducerBatch> = Vec::new();
        let mut size = 0;
        let n = queues.len();
        let mut next = start;
        for i in 0..n {
            let idx = (start + i) % n;
            let q = &queues[idx];
            let mut dq = q.batches.lock();
            let Some(first) = dq.front().filter(|b| !b.is_compressing()) else { continue };
            if first.retry_at.is_some_and(|at| at > now) || !can_send(q, first) {
                continue;
            }
            let bsize = first.size();
            if !out.is_empty() && size + bsize > max_bytes {
                next = idx;
                break;
            }
            let b = dq.pop_front().expect("front exists");
            drop(dq);
            size += bsize;
            out.push(b);
            next = (idx + 1) % n.max(1);
        }
        (out, next)
    }

    /// Runs on: sender thread. Puts a batch back at the front of its queue for a retry; a
    /// batch with a sequence goes before every batch with a higher or no sequence, so retries
    /// keep sequence order.
    pub(crate) fn reenqueue(&self, mut batch: ProducerBatch, retry_at: Instant) {
        batch.retry_at = Some(retry_at);
        // The batch may be older than every first batch the last expiry scan saw.
        *self.expiry_scan_at.lock() = None;
        let t = self.topic(&batch.topic);
        let q = self.queue(&t, batch.partition);
        let mut dq = q.batches.lock();
        let at = match batch.sequence {
            Some(seq) => dq.iter().position(|b| b.sequence.is_none_or(|s| s > seq)).unwrap_or(dq.len()),
            None => 0,
        };
        dq.insert(at, batch);
    }

    /// Runs on: sender thread. Forgets the sequences of queued batches (of every partition, or
    /// of those named) after a new epoch or producer id; they are stamped anew, in queue order,
    /// when sent.
    pub(crate) fn reset_sequences(&self, which: &Restamp) {
        self.for_each_queue(|q| {
            if let Restamp::Partitions(set) = which {
                if !set.contains(&(q.topic.clone(), q.partition)) {
                    return;
                }
            }
            for b in q.batches.lock().iter_mut() {
                b.sequence = None;
                b.outcome_unknown = false;
            }
        });
    }

    /// Whether a queued batch may already be stored by the broker (its response was lost).
    pub(crate) fn has_unknown_outcome(&self) -> bool {
        let mut any = false;
        self.for_each_queue(|q| any |= q.batches.lock().iter().any(|b| b.outcome_unknown));
        any
    }

    /// Every partition queue (tests).
    #[cfg(test)]
    pub(crate) fn queues(&self) -> Vec<Arc<PartitionQueue>> {
        let mut v = Vec::new();
        self.for_each_queue(|q| v.push(q.clone()));
        v
    }

    /// Runs on: sender thread. Resolves a batch (futures first, then interceptors, then
    /// callbacks, in record order) and gives its memory back.
    pub(crate) fn complete(&self, mut batch: ProducerBatch, result: Result<BatchAck>) {
        self.ledger.settle(&mut batch, result);
    }

    /// Runs on: sender thread. Splits a sealed batch the broker refused as too large into two
    /// halves (Java splits and retries too). The halves keep the records' order, timestamps,
    /// callbacks and (for an idempotent producer) the batch's sequence range, and resolve the
    /// original futures. Fails for a batch of one record.
    pub(crate) fn split(
        &self,
        mut batch: ProducerBatch,
    ) -> std::result::Result<Vec<ProducerBatch>, Box<(ProducerBatch, Error)>> {
        let decoded = match &batch.body {
            Body::Sealed(sealed) if batch.record_count > 1 => decode_batches(sealed.bytes()),
            _ => {
                return Err(Box::new((
                    batch,
                    Error::protocol("only a sealed batch of several records can be split"),
                )))
            }
        };
        let db = match decoded.map(|mut v| v.pop()) {
            Ok(Some(db)) if db.records.len() == batch.record_count as usize => db,
            Ok(_) => {
                return Err(Box::new((
                    batch,
                    Error::protocol("a sealed batch did not decode to its own records"),
                )))
            }
            Err(e) => return Err(Box::new((batch, e))),
        };
        let n = db.records.len();
        let halves = [(0, n.div_ceil(2)), (n.div_ceil(2), n)];
        let (parent, base) = match batch.completion.take() {
            Some(Completion::Own(c)) => {
                let buffer = match std::mem::replace(&mut batch.body, Body::Empty) {
                    Body::Sealed(s) => Some(s.into_buffer()),
                    _ => None,
                };
                let state = SplitState { completion: Some(c), parts: Vec::new(), remaining: 2, buffer };
                (
                    Arc::new(SplitParent {
                        id: batch.id,
                        reserved: batch.reserved,
                        callback_room: std::mem::take(&mut batch.callback_room),
                        state: Mutex::new(state),
                    }),
                    0,
                )
            }
            Some(Completion::Part { parent, first_delta }) => {
                parent.state.lock().remaining += 1; // this part becomes two
                (parent, first_delta)
            }
            None => {
                return Err(Box::new((
                    batch,
                    Error::protocol("a batch without a completion cannot be split"),
                )))
            }
        };
        let mut callbacks = std::mem::take(&mut batch.callbacks);
        let mut out = Vec::with_capacity(2);
        for (start, end) in halves {
            let first_ts = db.base_timestamp + db.records[start].timestamp_delta;
            let mut builder = RecordBatchBuilder::new(Vec::new(), first_ts);
            for r in &db.records[start..end] {
                let headers: Vec<Header<'_>> =
                    r.headers.iter().map(|(k, v)| Header::new(k, v.as_deref())).collect();
                builder.append(
                    db.base_timestamp + r.timestamp_delta,
                    r.key.as_deref(),
                    r.value.as_deref(),
                    &headers,
                );
            }
            let range = start as u32..end as u32;
            let (mine, rest): (Vec<_>, Vec<_>) =
                callbacks.into_iter().partition(|(d, _, _)| range.contains(d));
            callbacks = rest;
            out.push(ProducerBatch {
                topic: batch.topic.clone(),
                partition: batch.partition,
                body: Body::Open(builder),
                completion: Some(Completion::Part {
                    parent: parent.clone(),
                    first_delta: base + start as u32,
                }),
                created: batch.created,
                reserved: 0,
                record_count: (end - start) as u32,
                attempts: batch.attempts,
                ledger: batch.ledger.clone(),
                retry_at: None,
                sent_to: None,
                last_error: batch.last_error.clone(),
                // Appends go to new batches, never to a part.
                full: true,
                id: batch.id,
                sequence: batch.sequence.map(|s| ((s as i64 + start as i64) % (i32::MAX as i64 + 1)) as i32),
                outcome_unknown: false,
                callbacks: mine.into_iter().map(|(d, ts, cb)| (d - start as u32, ts, cb)).collect(),
                // The parts' callbacks stay charged to the parent.
                callback_room: 0,
                timestamps: batch.timestamps.as_ref().map(|t| t[start..end].to_vec()),
            });
        }
        Ok(out)
    }

    /// Runs on: sender thread. Removes batches that have waited `delivery_timeout` since
    /// they were created.
    ///
    /// A queue's first batch is its oldest, and a batch queued later is newer than every first
    /// batch seen (only a retry brings an older one back, and it resets this), so nothing can
    /// expire before the oldest first batch of the last scan does: until then the queues (and
    /// their locks, which the application threads take to append) are left alone. (A batch
    /// queued into a queue the scan had already passed can be older than a first batch seen
    /// after it, by at most the scan's own few microseconds.)
    pub(crate) fn expired(&self, now: Instant, delivery_timeout: Duration) -> Vec<ProducerBatch> {
        let mut scan_at = self.expiry_scan_at.lock();
        let mut out = Vec::new();
        if scan_at.is_some_and(|at| now < at) {
            return out;
        }
        let mut oldest: Option<Instant> = None;
        self.for_each_queue(|q| {
            let mut dq = q.batches.lock();
            while dq.front().is_some_and(|b| now.saturating_duration_since(b.created) >= delivery_timeout) {
                out.push(dq.pop_front().expect("front exists"));
            }
            if let Some(b) = dq.front() {
                oldest = Some(oldest.map_or(b.created, |o| o.min(b.created)));
            }
        });
        *scan_at = oldest.map(|o| o + delivery_timeout);
        out
    }

    /// Runs on: sender thread. Removes every queued batch (forced close).
    pub(crate) fn drain_all(&self) -> Vec<ProducerBatch> {
        let mut out = Vec::new();
        self.for_each_queue(|q| out.extend(q.batches.lock().drain(..)));
        out
    }

    /// Runs on: sender thread. Calls `f(topic, partition)` for each partition with queued batches.
    pub(crate) fn for_each_nonempty_queue(&self, mut f: impl FnMut(&Arc<str>, i32)) {
        self.for_each_queue(|q| {
            if !q.batches.lock().is_empty() {
                f(&q.topic, q.partition);
            }
        });
    }

    /// Whether any batch is queued (not counting batches in flight).
    pub(crate) fn has_queued(&self) -> bool {
        let mut any = false;
        self.for_each_queue(|q| any |= !q.batches.lock().is_empty());
        any
    }

    /// Runs on: sender thread. Whether `topic` has batches waiting to be sent.
    pub(crate) fn has_queued_for(&self, topic: &str) -> bool {
        let t = self.topics.read().get(topic).cloned();
        t.is_some_and(|t| t.partitions.read().iter().any(|q| !q.batches.lock().is_empty()))
    }

    /// Whether any batch is unresolved (queued or in flight).
    pub(crate) fn has_incomplete(&self) -> bool {
        !self.ledger.incomplete.lock().is_empty()
    }

    /// Runs on: application threads. Makes every batch ready now and waits until every
    /// batch that existed when it was called is resolved (or `deadline`).
    pub(crate) fn flush(&self, deadline: Option<Instant>) -> Result<()> {
        self.flushes.fetch_add(1, Ordering::AcqRel);
        self.wake_sender();
        let upto = self.next_batch_id.load(Ordering::Acquire);
        let mut inc = self.ledger.incomplete.lock();
        let mut result = Ok(());
        while inc.first().is_some_and(|&id| id < upto) {
            match deadline {
                Some(d) => {
                    if self.ledger.completed.wait_until(&mut inc, d).timed_out() {
                        result = Err(Error::timeout("flush did not complete in time"));
                        break;
                    }
                }
                None => self.ledger.completed.wait(&mut inc),
            }
        }
        drop(inc);
        self.flushes.fetch_sub(1, Ordering::AcqRel);
        result
    }

    /// Stops accepting records; threads waiting for buffer memory fail with `Closed` at once.
    /// Queued batches stay to be sent.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.ledger.pool.close();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

fn min_opt(a: Option<Duration>, b: Duration) -> Option<Duration> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// What a batch needs to resolve itself: the pool its buffer came from, the set of unresolved
/// batches that `flush` waits on, and the interceptors.
pub(crate) struct Ledger {
    pool: BufferPool,
    // guards: ids of unresolved batches
    incomplete: Mutex<BTreeSet<u64>>,
    completed: Condvar,
    interceptors: Vec<Arc<dyn ProducerInterceptor>>,
}

impl Ledger {
    /// Resolves `batch` (futures first, then interceptors, then callbacks), returns its memory
    /// and marks it done; afterwards the batch holds nothing and its drop does nothing.
    fn settle(&self, batch: &mut ProducerBatch, result: Result<BatchAck>) {
        let part = match batch.completion.take() {
            Some(Completion::Own(c)) => {
                c.complete(result.clone());
                None
            }
            Some(Completion::Part { parent, first_delta }) => Some((parent, first_delta)),
            None => None,
        };
        let meta = |ack: &BatchAck, delta: u32, ts: RecordStamp| {
            ack.metadata(&batch.topic, batch.partition, delta, ts)
        };
        if let Some(timestamps) = &batch.timestamps {
            for (delta, &ts) in timestamps.iter().enumerate() {
                let r = result.as_ref().map(|ack| meta(ack, delta as u32, ts));
                interceptor::each(&self.interceptors, "on_acknowledgement", |i| {
                    i.on_acknowledgement(r.as_ref().map_err(|e| *e));
                    Ok(())
                });
            }
        }
        for (delta, ts, cb) in std::mem::take(&mut batch.callbacks) {
            let r = result.as_ref().map(|ack| meta(ack, delta, ts)).map_err(Error::clone);
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb.call(r))).is_err() {
                log::error!("a send callback for {} panicked; the producer goes on", batch.tp());
            }
        }
        let buf = match std::mem::replace(&mut batch.body, Body::Empty) {
            Body::Open(b) => b.into_buffer(),
            Body::Sealed(s) => s.into_buffer(),
            // Compressing: the compressing thread holds the buffer and drops it when it finds
            // the batch gone; the memory is accounted free from here.
            Body::Empty | Body::Compressing => Vec::new(),
        };
        self.pool.deallocate(buf, batch.reserved);
        self.pool.release(std::mem::take(&mut batch.callback_room) * CALLBACK_ENTRY_BYTES);
        match part {
            None => self.batch_done(batch.id),
            Some((parent, first_delta)) => {
                let mut st = parent.state.lock();
                st.parts.push((first_delta, batch.record_count, result));
                st.remaining -= 1;
                if st.remaining == 0 {
                    let parts = std::mem::take(&mut st.parts);
                    if let Some(c) = st.completion.take() {
                        c.complete_with(BatchResult::Parts(parts));
                    }
                    if let Some(buf) = st.buffer.take() {
                        self.pool.deallocate(buf, parent.reserved);
                    }
                    self.pool.release(parent.callback_room * CALLBACK_ENTRY_BYTES);
                    drop(st);
                    self.batch_done(parent.id);
                }
            }
        }
    }

    fn batch_done(&self, id: u64) {
        let mut inc = self.incomplete.lock();
        inc.remove(&id);
        self.completed.notify_all();
    }
}

pub(crate) fn closed_error() -> Error {
    Error::new(ErrorKind::Closed, "producer is closed: send() after close() is refused")
}

#[cfg(test)]
mod tests;
