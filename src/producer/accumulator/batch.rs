//! One partition's batch from its first append to its result: its body (open, compressing,
//! sealed), what resolves its futures, and the parts of a batch that was split.
//!
//! Threads: application threads append (under the partition lock); the sender thread seals,
//! sends, retries and completes it.

use super::Ledger;
use crate::compression::CompressionType;
use crate::error::{Error, ErrorKind, Result};
use crate::producer::callback::Callback;
use crate::producer::future::{BatchAck, BatchCompletion, RecordStamp, SendFuture};
use crate::protocol::record_batch::{Header, ProducerState, RecordBatchBuilder, SealedBatch};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Instant;

pub(super) enum Body {
    Open(RecordBatchBuilder),
    Sealed(SealedBatch),
    /// Transitional, while sealing.
    Empty,
    /// Full, and being compressed by the application thread whose record filled it (outside
    /// the partition lock); neither ready nor drained until it is `Sealed`.
    Compressing,
}

/// What resolves a batch's futures: its own completion, or, for a part of a batch that was
/// split, the original batch's shared state.
pub(super) enum Completion {
    Own(BatchCompletion),
    Part { parent: Arc<SplitParent>, first_delta: u32 },
}

/// A batch the broker refused as too large (MESSAGE_TOO_LARGE), split into parts that are sent
/// on their own. The original futures resolve once every part has its result.
pub(super) struct SplitParent {
    pub(super) id: u64,
    pub(super) reserved: usize,
    /// The original batch's callback entries charged to the pool (its parts hold them now).
    pub(super) callback_room: usize,
    // guards: the original completion, the parts' results, parts still out, the pool buffer
    pub(super) state: Mutex<SplitState>,
}

pub(super) struct SplitState {
    pub(super) completion: Option<BatchCompletion>,
    pub(super) parts: Vec<(u32, u32, Result<BatchAck>)>,
    pub(super) remaining: usize,
    pub(super) buffer: Option<Vec<u8>>,
}

/// A batch of records for one partition, from its first append to its result.
pub(crate) struct ProducerBatch {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(super) body: Body,
    pub(super) completion: Option<Completion>,
    pub(crate) created: Instant,
    /// Bytes reserved from the pool for this batch's buffer.
    pub(super) reserved: usize,
    pub(super) record_count: u32,
    /// Produce attempts so far.
    pub(crate) attempts: u32,
    /// Where it resolves itself if it is dropped without a result.
    pub(super) ledger: Arc<Ledger>,
    /// Not to be sent again before this instant (retry backoff).
    pub(crate) retry_at: Option<Instant>,
    /// The node its last attempt went to: a retry to another (new) leader skips the backoff.
    pub(crate) sent_to: Option<i32>,
    /// Why the last attempt failed (a retriable error), named when the batch expires.
    pub(crate) last_error: Option<Error>,
    pub(super) full: bool,
    pub(super) id: u64,
    /// The base sequence, once an idempotent producer sent the batch (kept across retries).
    pub(crate) sequence: Option<i32>,
    /// The batch was in flight when its connection failed or timed out: the broker may have
    /// stored it, so it must be retried under its old stamp before any epoch bump.
    pub(crate) outcome_unknown: bool,
    /// Callbacks with their record's offset delta and timestamp (usually empty).
    pub(super) callbacks: Vec<CallbackEntry>,
    /// Callback entries charged to the pool for this batch (`callbacks` holds at most these).
    pub(super) callback_room: usize,
    /// Each record's timestamp, kept only when interceptors need per-record metadata.
    pub(super) timestamps: Option<Vec<RecordStamp>>,
}

/// A record's callback in its batch, with the record's offset delta and timestamp.
pub(super) type CallbackEntry = (u32, RecordStamp, Callback);

/// The pool bytes one callback entry is charged (`buffer.memory` bounds callbacks too).
pub(super) const CALLBACK_ENTRY_BYTES: usize = std::mem::size_of::<CallbackEntry>();

/// Callback entries to charge for a batch of `room` bytes whose records take `record` bytes:
/// room for a batch of records like this one, so that one charge (and one allocation) serves
/// the batch rather than a doubling series of them.
pub(super) fn callback_room_for(room: usize, record: usize) -> usize {
    (room / record.max(1)).clamp(4, 1024)
}

/// One record appended to a batch.
pub(crate) struct Appended {
    pub(super) future: SendFuture,
    /// The record's bytes in the batch.
    pub(super) bytes: usize,
    /// The batch has no room for another record of this size.
    pub(super) now_full: bool,
}

impl ProducerBatch {
    /// Records in the batch.
    pub(crate) fn record_count(&self) -> u32 {
        self.record_count
    }

    /// The wire bytes (sealed batches only).
    pub(crate) fn bytes(&self) -> &[u8] {
        match &self.body {
            Body::Sealed(s) => s.bytes(),
            _ => &[],
        }
    }

    /// Lends the sealed bytes to the request frame that writes them (empty if not sealed).
    pub(crate) fn lend_bytes(&mut self) -> Vec<u8> {
        match &mut self.body {
            Body::Sealed(s) => s.lend(),
            _ => Vec::new(),
        }
    }

    /// Takes back the bytes [`lend_bytes`](Self::lend_bytes) lent.
    pub(crate) fn give_back_bytes(&mut self, bytes: Vec<u8>) {
        if let Body::Sealed(s) = &mut self.body {
            s.give_back(bytes);
        }
    }

    /// Size used to fit batches into a request: the sealed size, or the open size.
    pub(crate) fn size(&self) -> usize {
        match &self.body {
            Body::Open(b) => b.size_in_bytes(),
            Body::Sealed(s) => s.bytes().len(),
            Body::Empty | Body::Compressing => 0,
        }
    }

    /// Whether an application thread is compressing it right now.
    pub(crate) fn is_compressing(&self) -> bool {
        matches!(self.body, Body::Compressing)
    }

    #[inline(always)]
    pub(super) fn try_append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
        callback: &mut Option<Callback>,
    ) -> Option<Appended> {
        if self.full {
            return None;
        }
        let Body::Open(b) = &mut self.body else { return None };
        let size = b.measure(timestamp, key, value, headers);
        let need = size.bytes();
        if b.record_count() > 0 && b.size_in_bytes() + need > self.reserved {
            self.full = true;
            return None;
        }
        if callback.is_some() && self.callbacks.len() == self.callback_room {
            // More callback entries: charged to the pool if it has the memory now; otherwise the
            // batch takes no more records and the next one waits for memory as any new batch.
            let more = callback_room_for(self.reserved, need);
            if !self.ledger.pool.try_charge(more * CALLBACK_ENTRY_BYTES) {
                self.full = true;
                return None;
            }
            self.callbacks.reserve_exact(more);
            self.callback_room += more;
        }
        let delta = b.append_measured(size, timestamp, key, value, headers);
        // Full (as Java's MemoryRecordsBuilder.isFull): another record like this one will not
        // fit. The sender sends it without waiting for linger.ms; the sticky partitioner moves on.
        let now_full = b.size_in_bytes() + need > self.reserved;
        self.full |= now_full;
        self.record_count += 1;
        let stamp = RecordStamp::new(timestamp, key, value);
        if let Some(ts) = &mut self.timestamps {
            ts.push(stamp);
        }
        if let Some(cb) = callback.take() {
            self.callbacks.push((delta, stamp, cb));
        }
        match &mut self.completion {
            Some(Completion::Own(c)) => {
                Some(Appended { future: c.future(delta, stamp), bytes: need, now_full })
            }
            _ => None,
        }
    }

    /// Runs on: sender thread. Compresses and closes the batch with `producer`'s id, epoch
    /// and sequence; a sealed batch only gets the new stamp (its bytes are re-sent as they are).
    /// `scratch` is the sender's compression buffer: the compressed bytes are copied back into
    /// the batch's own (pooled) buffer, so both buffers are reused and memory stays accounted.
    pub(crate) fn seal(
        &mut self,
        compression: CompressionType,
        level: Option<i32>,
        producer: ProducerState,
        scratch: &mut Vec<u8>,
    ) -> Result<()> {
        match std::mem::replace(&mut self.body, Body::Empty) {
            Body::Open(b) if compression == CompressionType::None => {
                self.body = Body::Sealed(b.seal(compression, level, producer)?)
            }
            Body::Open(b) => {
                let (sealed, pooled) = b.seal_into(std::mem::take(scratch), compression, level, producer)?;
                let (sealed, spare) = sealed.relocate(pooled);
                *scratch = spare;
                self.body = Body::Sealed(sealed);
            }
            Body::Sealed(sealed) if sealed.is_lent() => {
                self.body = Body::Sealed(sealed);
                return Err(Error::new(
                    ErrorKind::IllegalState,
                    format!(
                        "the batch for {} is sent again while its last request is still being written \
                         (the broker answered a request it had not fully received)",
                        self.tp()
                    ),
                ));
            }
            Body::Sealed(mut sealed) => {
                if sealed.producer_state() != producer {
                    sealed.set_producer_state(producer);
                }
                self.body = Body::Sealed(sealed);
            }
            Body::Empty | Body::Compressing => {}
        }
        Ok(())
    }

    /// The partition as `topic-partition`, for messages.
    pub(crate) fn tp(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }
}

impl Drop for ProducerBatch {
    /// A batch dropped without a result (only a panic on the sender thread does that) still
    /// resolves its futures, returns its memory and leaves the set `flush` waits on.
    fn drop(&mut self) {
        if self.completion.is_some() {
            let e = Error::new(
                ErrorKind::IllegalState,
                format!(
                    "the batch for {} was dropped without a result (the producer's sender thread failed)",
                    self.tp()
                ),
            );
            let ledger = self.ledger.clone();
            ledger.settle(self, Err(e));
        }
    }
}
