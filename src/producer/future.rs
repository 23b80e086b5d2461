//! [`SendFuture`]: the handle `send` returns, resolved by the sender thread through a channel.
//!
//! One completion is shared by all records of a batch: the sender thread stores the batch's
//! result once and then drops the batch's end of a crossbeam channel. Every future of that
//! batch is blocked in `recv` on the other end and wakes on the disconnect, so resolving a
//! batch of any size is one store and one drop, and a record costs no allocation of its own.
//! If a batch were ever dropped without a result, its futures wake too and report that,
//! instead of hanging.
//!
//! Threads: the sender thread completes; application threads wait.

use super::record::{RecordMetadata, TopicName};
use super::shared_ref::{PrepaidRefs, SharedRef};
use crate::error::{Error, ErrorKind, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::cell::Cell;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

thread_local! {
    /// On a producer's sender thread: the identity of that producer's accumulator (its
    /// address); 0 elsewhere.
    static SENDER_OF: Cell<usize> = const { Cell::new(0) };
}

/// Runs on: sender thread, once at its start. Futures of batches from accumulator `owner`
/// refuse to wait on this thread: only it can resolve them.
pub(crate) fn mark_sender_thread(owner: usize) {
    SENDER_OF.with(|c| c.set(owner));
}

/// Whether the calling thread is the sender thread of accumulator `owner`.
pub(crate) fn is_sender_thread_of(owner: usize) -> bool {
    owner != 0 && SENDER_OF.with(|c| c.get()) == owner
}

/// Where a batch landed, as the broker acknowledged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchAck {
    pub(crate) base_offset: i64,
    /// The broker's LogAppendTime, or -1 when the topic uses CreateTime.
    pub(crate) log_append_time: i64,
}

impl BatchAck {
    /// The metadata of the record at `offset_delta` appended with `stamp`.
    pub(crate) fn metadata(
        &self,
        topic: &Arc<str>,
        partition: i32,
        offset_delta: u32,
        stamp: RecordStamp,
    ) -> RecordMetadata {
        RecordMetadata {
            topic: TopicName::new(topic),
            partition,
            offset: if self.base_offset < 0 { -1 } else { self.base_offset + offset_delta as i64 },
            timestamp: if self.log_append_time >= 0 { self.log_append_time } else { stamp.timestamp },
            serialized_key_size: stamp.key_size,
            serialized_value_size: stamp.value_size,
        }
    }
}

/// The outcome of a batch: one result for all its records, or, after the batch was split
/// (the broker refused it as too large), one per part: `(first offset delta, records, result)`.
#[derive(Debug)]
pub(crate) enum BatchResult {
    Whole(Result<BatchAck>),
    Parts(Vec<(u32, u32, Result<BatchAck>)>),
}

impl BatchResult {
    /// The result of the record at `offset_delta`, and its offset delta within its part.
    fn for_record(&self, offset_delta: u32) -> Option<(&Result<BatchAck>, u32)> {
        match self {
            BatchResult::Whole(r) => Some((r, offset_delta)),
            BatchResult::Parts(parts) => parts
                .iter()
                .find(|(first, count, _)| (*first..first + count).contains(&offset_delta))
                .map(|(first, _, r)| (r, offset_delta - first)),
        }
    }
}

/// Aligned to two cache lines: the reference count beside it (see `SharedRef`) is written by the
/// application threads (a future dropped, references prepaid), and a neighbour in the same line
/// (memory the sender thread frees or writes) made each write a cache-line transfer between
/// cores (measured, when every `send` bumped the count: about half the cost of an append).
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct BatchShared {
    result: OnceLock<BatchResult>,
    done: Receiver<()>,
    topic: Arc<str>,
    partition: i32,
    /// The accumulator the batch belongs to (see [`is_sender_thread_of`]).
    owner: usize,
}

/// References to a batch's shared state taken at a time: a batch of this many records or fewer
/// touches the reference count twice (the prepayment and the refund of what it did not use),
/// instead of once per `send`.
const PREPAID_FUTURES: usize = 256;

/// The sender thread's side of a batch's completion (filled in by the application threads,
/// under the partition lock, while the batch is open).
#[derive(Debug)]
pub(crate) struct BatchCompletion {
    shared: PrepaidRefs<BatchShared>,
    done: Sender<()>,
}

impl BatchCompletion {
    pub(crate) fn new(topic: Arc<str>, partition: i32, owner: usize) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(0);
        let shared = BatchShared { result: OnceLock::new(), done: rx, topic, partition, owner };
        BatchCompletion { shared: PrepaidRefs::new(shared, PREPAID_FUTURES), done: tx }
    }

    /// A future for the record at `offset_delta` in this batch.
    pub(crate) fn future(&mut self, offset_delta: u32, stamp: RecordStamp) -> SendFuture {
        SendFuture { shared: self.shared.take(), offset_delta, stamp }
    }

    /// Resolves every future of the batch.
    pub(crate) fn complete(self, result: Result<BatchAck>) {
        self.complete_with(BatchResult::Whole(result));
    }

    /// Resolves every future of the batch, each with its own part's result.
    pub(crate) fn complete_with(self, result: BatchResult) {
        let _ = self.shared.result.set(result);
        drop(self.done);
    }
}

/// The pending result of one `send`. Call [`wait`](SendFuture::wait) to block until the
/// broker acknowledged the record (or it failed).
///
/// A future may be waited on from any thread, more than once, and cloned.
#[derive(Debug, Clone)]
pub struct SendFuture {
    shared: SharedRef<BatchShared>,
    offset_delta: u32,
    stamp: RecordStamp,
}

/// What a record's metadata needs from its append: CreateTime and the serialized key and
/// value sizes (-1 for null).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordStamp {
    pub(crate) timestamp: i64,
    pub(crate) key_size: i32,
    pub(crate) value_size: i32,
}

impl RecordStamp {
    pub(crate) fn new(timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> RecordStamp {
        let size = |b: Option<&[u8]>| b.map_or(-1, |b| b.len().min(i32::MAX as usize) as i32);
        RecordStamp { timestamp, key_size: size(key), value_size: size(value) }
    }
}

impl SendFuture {
    /// Blocks until the record is acknowledged or fails. Every accepted record is resolved
    /// within `delivery.timeout.ms`.
    ///
    /// From a send callback or interceptor of the same producer (they run on its sender
    /// thread, the only thread that can resolve the record) a record not resolved yet fails
    /// at once with `IllegalState` instead of waiting forever.
    pub fn wait(&self) -> Result<RecordMetadata> {
        self.refuse_on_sender_thread("wait")?;
        let _ = self.shared.done.recv();
        self.resolved()
    }

    /// Like [`wait`](SendFuture::wait), but gives up after `timeout` with a `Timeout` error;
    /// the record is still in flight and the future can be waited on again.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<RecordMetadata> {
        self.refuse_on_sender_thread("wait_timeout")?;
        match self.shared.done.recv_timeout(timeout) {
            Err(RecvTimeoutError::Timeout) => Err(Error::timeout(format!(
                "record for {}-{} not acknowledged within {} ms (wait_timeout); it is still in flight",
                self.shared.topic,
                self.shared.partition,
                timeout.as_millis()
            ))),
            _ => self.resolved(),
        }
    }

    /// Whether the result is in (then `wait` returns at once).
    pub fn is_done(&self) -> bool {
        matches!(self.shared.done.try_recv(), Err(TryRecvError::Disconnected))
    }

    /// The topic the record was sent to.
    pub fn topic(&self) -> &str {
        &self.shared.topic
    }

    /// The partition chosen for the record.
    pub fn partition(&self) -> i32 {
        self.shared.partition
    }

    fn refuse_on_sender_thread(&self, op: &str) -> Result<()> {
        if is_sender_thread_of(self.shared.owner) && !self.is_done() {
            return Err(Error::new(
                ErrorKind::IllegalState,
                format!(
                    "SendFuture::{op} for a record to {}-{} cannot be called from a send callback or \
                     interceptor of the same producer before the record is resolved: they run on its \
                     sender thread, which alone can resolve it",
                    self.shared.topic, self.shared.partition
                ),
            ));
        }
        Ok(())
    }

    fn resolved(&self) -> Result<RecordMetadata> {
        match self.shared.result.get().and_then(|r| r.for_record(self.offset_delta)) {
            Some((Ok(ack), delta)) => {
                Ok(ack.metadata(&self.shared.topic, self.shared.partition, delta, self.stamp))
            }
            Some((Err(e), _)) => Err(e.clone()),
            None => Err(Error::new(
                ErrorKind::IllegalState,
                format!(
                    "the batch for {}-{} was dropped without a result (internal error)",
                    self.shared.topic, self.shared.partition
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_futures_of_a_batch_resolve_with_their_offsets() {
        let mut c = BatchCompletion::new("t".into(), 2, 0);
        let f0 = c.future(0, RecordStamp::new(100, None, None));
        let f1 = c.future(1, RecordStamp::new(101, None, None));
        assert!(!f0.is_done());
        let h = std::thread::spawn(move || f1.wait().unwrap());
        c.complete(Ok(BatchAck { base_offset: 40, log_append_time: -1 }));
        let m1 = h.join().unwrap();
        assert_eq!((m1.partition(), m1.offset(), m1.timestamp()), (2, 41, 101));
        assert!(f0.is_done());
        assert_eq!(f0.wait().unwrap().offset(), 40);
        assert_eq!(f0.wait().unwrap().to_string(), "t/2@40");
    }

    #[test]
    fn futures_past_one_prepayment_share_the_state_and_unused_references_are_refunded() {
        let mut c = BatchCompletion::new("t".into(), 0, 0);
        let n = PREPAID_FUTURES + 44;
        let fs: Vec<SendFuture> =
            (0..n as u32).map(|i| c.future(i, RecordStamp::new(0, None, None))).collect();
        // Two prepayments: the completion's own reference, the futures and the unused rest.
        assert_eq!(c.shared.count(), 1 + 2 * PREPAID_FUTURES);
        let probe = fs[0].shared.clone();
        c.complete(Ok(BatchAck { base_offset: 1000, log_append_time: -1 }));
        super::super::shared_ref::flush_deferred(); // the completion's own reference
        assert_eq!(probe.count(), n + 1, "the refund leaves exactly the live references");
        assert_eq!(fs[n - 1].wait().unwrap().offset(), 1000 + n as i64 - 1);
        drop(fs);
        super::super::shared_ref::flush_deferred(); // the futures' references
        assert_eq!(probe.count(), 1);
    }

    #[test]
    fn log_append_time_and_acks0_offsets() {
        let mut c = BatchCompletion::new("t".into(), 0, 0);
        let f = c.future(3, RecordStamp::new(5, None, None));
        c.complete(Ok(BatchAck { base_offset: -1, log_append_time: 999 }));
        let m = f.wait().unwrap();
        assert_eq!((m.offset(), m.timestamp()), (-1, 999));
    }

    #[test]
    fn error_reaches_every_future_and_timeout_is_retryable() {
        let mut c = BatchCompletion::new("t".into(), 0, 0);
        let f = c.future(0, RecordStamp::new(0, None, None));
        let e = f.wait_timeout(Duration::from_millis(5)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        c.complete(Err(Error::timeout("expired")));
        assert_eq!(f.wait().unwrap_err().to_string(), "expired");
    }

    #[test]
    fn a_split_batch_resolves_each_record_from_its_part() {
        let mut c = BatchCompletion::new("t".into(), 1, 0);
        let fs: Vec<SendFuture> =
            (0..5).map(|i| c.future(i, RecordStamp::new(100 + i as i64, None, None))).collect();
        c.complete_with(BatchResult::Parts(vec![
            (0, 2, Ok(BatchAck { base_offset: 10, log_append_time: -1 })),
            (2, 1, Err(Error::timeout("part failed"))),
            (3, 2, Ok(BatchAck { base_offset: 50, log_append_time: -1 })),
        ]));
        let offsets: Vec<Result<i64>> = fs.iter().map(|f| f.wait().map(|m| m.offset())).collect();
        assert_eq!(offsets[0].as_ref().unwrap(), &10);
        assert_eq!(offsets[1].as_ref().unwrap(), &11);
        assert!(offsets[2].is_err());
        assert_eq!(offsets[3].as_ref().unwrap(), &50);
        assert_eq!(offsets[4].as_ref().unwrap(), &51);
        assert_eq!(fs[4].wait().unwrap().timestamp(), 104);
    }

    #[test]
    fn dropped_batch_does_not_hang() {
        let mut c = BatchCompletion::new("t".into(), 0, 0);
        let f = c.future(0, RecordStamp::new(0, None, None));
        drop(c);
        assert_eq!(f.wait().unwrap_err().kind(), ErrorKind::IllegalState);
    }

    #[test]
    fn waiting_on_the_sender_thread_of_the_batch_fails_at_once_until_resolved() {
        let owner = 0x1000;
        let mut c = BatchCompletion::new("t".into(), 3, owner);
        let f = c.future(0, RecordStamp::new(0, None, None));
        let mut other_batch = BatchCompletion::new("t".into(), 3, 0x2000);
        let other = other_batch.future(0, RecordStamp::new(0, None, None));
        std::thread::spawn(move || {
            let _keep = other_batch;
            mark_sender_thread(owner);
            let e = f.wait().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::IllegalState);
            assert!(e.to_string().contains("t-3") && e.to_string().contains("callback"), "{e}");
            assert_eq!(f.wait_timeout(Duration::from_secs(60)).unwrap_err().kind(), ErrorKind::IllegalState);
            // Another producer's record may be waited for (here it times out normally).
            assert_eq!(other.wait_timeout(Duration::from_millis(1)).unwrap_err().kind(), ErrorKind::Timeout);
            c.complete(Ok(BatchAck { base_offset: 7, log_append_time: -1 }));
            assert_eq!(f.wait().unwrap().offset(), 7, "a resolved record is returned as usual");
        })
        .join()
        .unwrap();
    }
}
