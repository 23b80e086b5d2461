//! The idempotent producer's bookkeeping: producer id and epoch, per-partition sequence
//! numbers, and when the epoch must be bumped (KIP-360).
//!
//! Runs on: sender thread only (no locks).
//!
//! Rules, as the Java producer's `TransactionManager` applies them:
//! - A batch gets its base sequence when it is first sent and keeps it (and its producer id
//!   and epoch) on every retry, so the broker can drop a retried batch it already stored.
//! - At most [`MAX_IN_FLIGHT_PER_PARTITION`] batches of a partition are in flight. A retried
//!   batch is sent only when nothing else of its partition is in flight, so batches reach the
//!   log in sequence order.
//! - OUT_OF_ORDER_SEQUENCE_NUMBER for a batch behind one that is still being retried is just
//!   retried in order: the broker refuses it until the earlier batch is in.
//! - OUT_OF_ORDER_SEQUENCE_NUMBER for the batch the broker should expect next,
//!   UNKNOWN_PRODUCER_ID and INVALID_PRODUCER_EPOCH, a batch
//!   that fails for good after it was sent, and a sent batch that expires all leave a gap the
//!   broker would refuse to skip. Then the epoch is bumped (KIP-360), and only the partitions
//!   with a gap wait for it: once nothing of theirs is in flight and every batch whose fate is
//!   unknown (its response was lost) has been retried under its old stamp, InitProducerId is
//!   sent with the current id and epoch. The new epoch restarts those partitions' sequences at 0
//!   and their queued batches are stamped anew, in order. Every other partition goes on under
//!   the old epoch meanwhile (its leader has not seen the new one) and moves to the new epoch,
//!   at sequence 0, the next time it has nothing in flight, as Java's `TransactionManager`
//!   does. A broker that will not bump the epoch (older brokers, librdkafka's mock cluster) is
//!   asked for a new producer id instead, which is just as safe: partitions move to it the same
//!   way. A transactional producer bumps at an abort, and every partition restarts then.

use super::accumulator::ProducerBatch;
use crate::error::KafkaCode;
use crate::protocol::record_batch::ProducerState;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Java's limit: the broker caches the last five batches per producer and partition.
pub(crate) const MAX_IN_FLIGHT_PER_PARTITION: u32 = 5;

#[derive(Debug, Default, Clone, Copy)]
struct PartitionState {
    next_sequence: i32,
    in_flight: u32,
    /// The broker the batches in flight went to (meaningful while `in_flight > 0`).
    in_flight_node: i32,
    /// The sequence after the last acknowledged batch: what the broker expects next.
    acked_next: i32,
    /// A batch of the current producer id and epoch was acknowledged here: the leader now
    /// holds this producer's state and checks its sequences.
    acked_any: bool,
    /// The producer id and epoch these sequences count under; older than the producer's after
    /// an epoch bump until the partition moves over (with nothing in flight).
    producer: Option<(i64, i16)>,
}

impl PartitionState {
    /// Starts this partition's sequences at 0 under `producer`.
    fn restart(&mut self, producer: Option<(i64, i16)>) {
        self.next_sequence = 0;
        self.acked_next = 0;
        self.acked_any = false;
        self.producer = producer;
    }
}

/// Whose queued batches must be stamped anew after a new producer id or epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Restamp {
    All,
    Partitions(HashSet<(Arc<str>, i32)>),
}

/// What to do with a batch after its Produce response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Stored (or a duplicate of a stored batch): complete it.
    Done,
    /// Send it again with the same stamp.
    Retry,
    /// Send it again after the epoch bump, stamped anew.
    RetryAfterBump,
}

/// Producer id, epoch and sequences of an idempotent producer.
#[derive(Debug, Default)]
pub(crate) struct Idempotence {
    producer: Option<(i64, i16)>,
    partitions: HashMap<(Arc<str>, i32), PartitionState>,
    bump_needed: bool,
    /// The partitions whose sequence gap asks for the bump; every partition when `gap_all`.
    gaps: HashSet<(Arc<str>, i32)>,
    gap_all: bool,
    transactional: bool,
}

impl Idempotence {
    pub(crate) fn new(transactional: bool) -> Self {
        Idempotence { transactional, ..Default::default() }
    }

    /// The current producer id and epoch, once InitProducerId answered.
    pub(crate) fn producer(&self) -> Option<(i64, i16)> {
        self.producer
    }

    /// Whether the epoch must be bumped before new batches go out.
    pub(crate) fn bump_needed(&self) -> bool {
        self.bump_needed
    }

    /// Asks for an epoch bump that restarts every partition (an abort, a producer-wide error).
    pub(crate) fn require_bump(&mut self) {
        if self.producer.is_some() {
            self.bump_needed = true;
            self.gap_all = true;
        }
    }

    /// Asks for an epoch bump for `batch`'s partition, where a sequence gap was left behind;
    /// the other partitions go on meanwhile (a transactional producer holds them all).
    pub(crate) fn require_bump_for(&mut self, batch: &ProducerBatch) {
        if self.producer.is_some() {
            self.bump_needed = true;
            if self.transactional {
                self.gap_all = true;
            } else {
                self.gaps.insert((batch.topic.clone(), batch.partition));
            }
        }
    }

    fn is_gap(&self, key: &(Arc<str>, i32)) -> bool {
        self.bump_needed && (self.gap_all || self.gaps.contains(key))
    }

    /// Whether InitProducerId may bump the epoch now: nothing of the partitions with a gap is
    /// in flight (nothing at all when every partition waits).
    pub(crate) fn bump_ready(&self) -> bool {
        self.bump_needed
            && self
                .partitions
                .iter()
                .all(|(k, p)| p.in_flight == 0 || !(self.gap_all || self.gaps.contains(k)))
    }

    /// Takes a new producer id and epoch. The first one, and every one of a transactional
    /// producer or after a producer-wide bump, restarts every partition's sequence at 0;
    /// otherwise only the partitions with a gap restart now, and the others move over when
    /// next they have nothing in flight (see [`stamp`](Self::stamp)). Returns whose queued
    /// batches must be stamped anew.
    pub(crate) fn set_producer(&mut self, producer_id: i64, epoch: i16) -> Restamp {
        let current = Some((producer_id, epoch));
        let everything = self.producer.is_none() || self.transactional || self.gap_all;
        let gaps = std::mem::take(&mut self.gaps);
        for (k, p) in self.partitions.iter_mut() {
            if everything || gaps.contains(k) {
                p.restart(current);
            }
        }
        self.producer = current;
        self.bump_needed = false;
        self.gap_all = false;
        if everything {
            Restamp::All
        } else {
            Restamp::Partitions(gaps)
        }
    }

    fn part(&self, topic: &Arc<str>, partition: i32) -> PartitionState {
        self.partitions.get(&(topic.clone(), partition)).copied().unwrap_or_default()
    }

    /// Batches in flight, all partitions together.
    pub(crate) fn in_flight(&self) -> u32 {
        self.partitions.values().map(|p| p.in_flight).sum()
    }

    /// Whether `batch`, first in its partition's queue, may be sent now.
    /// `unknown_pending`: some queued batch's fate is unknown (its response was lost).
    /// `leader`: the broker the batch would go to now. While batches of its partition are in
    /// flight to another broker (the leader moved), nothing more goes out: a batch sent to the
    /// new leader could be stored before an earlier one still on its way to the old leader,
    /// which the new leader would then refuse as out of order.
    pub(crate) fn can_send(&self, batch: &ProducerBatch, unknown_pending: bool, leader: i32) -> bool {
        if self.producer.is_none() {
            return false;
        }
        let key = (batch.topic.clone(), batch.partition);
        let p = self.partitions.get(&key).copied().unwrap_or_default();
        if p.in_flight > 0 && p.in_flight_node != leader {
            return false;
        }
        if self.is_gap(&key) {
            // Before the bump, batches of unknown fate must be settled under their old stamp;
            // batches already stamped that queue ahead of them go first, in order, one at a
            // time. Nothing new is stamped here.
            return unknown_pending && batch.sequence.is_some() && p.in_flight == 0;
        }
        let stale = p.producer.is_some_and(|pp| Some(pp) != self.producer);
        match batch.sequence {
            Some(_) => p.in_flight == 0,
            // The partition still counts under an older epoch: it moves to the current one
            // (sequence 0) once nothing of it is in flight under the old one.
            None if stale => p.in_flight == 0,
            // Until the leader has acknowledged a first batch of this producer id and epoch it
            // has no state for it and would take any sequence as the first: a batch sent behind
            // a first one that then fails (e.g. NOT_LEADER_OR_FOLLOWER on a new topic) would be
            // stored first, and the first refused as out of order. So one at a time until then.
            None if !p.acked_any => p.in_flight == 0,
            None => p.in_flight < MAX_IN_FLIGHT_PER_PARTITION,
        }
    }

    /// The stamp for `batch` as it is sent: its own if it has one, else the next sequence of
    /// its partition. Counts the batch as in flight.
    pub(crate) fn stamp(&mut self, batch: &mut ProducerBatch, node: i32) -> ProducerState {
        let current = self.producer.expect("can_send checked the producer id");
        let p = self.partitions.entry((batch.topic.clone(), batch.partition)).or_default();
        if batch.sequence.is_none() && p.producer != Some(current) {
            // New to this partition, or its first batch since an epoch bump (nothing in flight:
            // can_send checked): its sequences start over under the current id and epoch.
            p.restart(Some(current));
        }
        // A batch keeps the id and epoch its sequence was given under.
        let (producer_id, producer_epoch) = p.producer.unwrap_or(current);
        p.in_flight += 1;
        p.in_flight_node = node;
        let base_sequence = match batch.sequence {
            Some(s) => s,
            None => {
                let s = p.next_sequence;
                // Sequences wrap to 0 after i32::MAX, as the broker expects.
                p.next_sequence = ((s as i64 + batch.record_count() as i64) % (i32::MAX as i64 + 1)) as i32;
                batch.sequence = Some(s);
                s
            }
        };
        ProducerState { producer_id, producer_epoch, base_sequence, transactional: self.transactional }
    }

    /// The batch's request is over (answered, lost, or timed out).
    pub(crate) fn done_in_flight(&mut self, batch: &ProducerBatch) {
        if let Some(p) = self.partitions.get_mut(&(batch.topic.clone(), batch.partition)) {
            p.in_flight = p.in_flight.saturating_sub(1);
        }
    }

    /// The broker stored `batch` (or had it already).
    pub(crate) fn acked(&mut self, batch: &ProducerBatch) {
        let key = (batch.topic.clone(), batch.partition);
        if let (Some(seq), Some(p)) = (batch.sequence, self.partitions.get_mut(&key)) {
            p.acked_next = ((seq as i64 + batch.record_count() as i64) % (i32::MAX as i64 + 1)) as i32;
            p.acked_any = true;
        }
    }

    /// Classifies a Produce error for an idempotent batch. `retriable` is whether the error
    /// (or a network failure) is one the producer retries.
    pub(crate) fn on_error(
        &mut self,
        code: Option<KafkaCode>,
        retriable: bool,
        batch: &ProducerBatch,
    ) -> Option<Outcome> {
        let expected = self.part(&batch.topic, batch.partition).acked_next;
        match code {
            Some(KafkaCode::NONE) | Some(KafkaCode::DUPLICATE_SEQUENCE_NUMBER) => {
                self.acked(batch);
                Some(Outcome::Done)
            }
            // A batch behind one that is being retried: the broker refuses it until the earlier
            // one is in, so retrying it in order is enough (Java does the same).
            Some(KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER) if batch.sequence != Some(expected) => {
                Some(Outcome::Retry)
            }
            Some(KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
            | Some(KafkaCode::UNKNOWN_PRODUCER_ID)
            | Some(KafkaCode::INVALID_PRODUCER_EPOCH)
                if !self.transactional =>
            {
                self.require_bump_for(batch);
                Some(Outcome::RetryAfterBump)
            }
            _ if retriable => Some(Outcome::Retry),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::metadata::Cluster;
    use crate::producer::accumulator::{Accumulator, AccumulatorConfig};
    use std::time::{Duration, Instant};

    fn batches(n: usize, records_each: usize) -> (Accumulator, Vec<ProducerBatch>) {
        let tx = crate::network::waker::Waker::new().unwrap();
        let cfg = AccumulatorConfig {
            batch_size: 100,
            linger: Duration::ZERO,
            max_block: Duration::ZERO,
            adaptive: true,
            compression: crate::compression::CompressionType::None,
            compression_level: None,
            transactional: false,
        };
        let a = Accumulator::new(cfg, 1 << 20, tx, Vec::new());
        let far = Instant::now() + Duration::from_secs(5);
        for i in 0..n * records_each {
            a.append("t", 0, 1, None, Some(&[i as u8; 60]), &[], far, None, None).unwrap();
        }
        let mut out = Vec::new();
        loop {
            let r = a.ready(&Cluster::default(), Instant::now(), true, |_, _| true);
            let _ = r;
            let qs = a.queues();
            let (mut bs, _) = a.drain(&qs, 0, 1 << 20, Instant::now(), |_, _| true);
            if bs.is_empty() {
                break;
            }
            out.append(&mut bs);
        }
        (a, out)
    }

    /// Sends `b` alone and has it acknowledged: the leader then knows the producer.
    fn acknowledge_alone(st: &mut Idempotence, b: &mut ProducerBatch) {
        st.stamp(b, 1);
        st.done_in_flight(b);
        st.acked(b);
    }

    #[test]
    fn a_partition_pipelines_only_after_its_first_batch_is_acknowledged() {
        let (_a, mut bs) = batches(3, 2);
        let mut st = Idempotence::new(false);
        st.set_producer(1, 0);
        st.stamp(&mut bs[0], 1);
        assert!(!st.can_send(&bs[1], false, 1), "the leader has no state for this producer yet");
        st.done_in_flight(&bs[0]);
        st.acked(&bs[0]);
        st.stamp(&mut bs[1], 1);
        assert!(st.can_send(&bs[2], false, 1), "after the first acknowledgement, up to five in flight");
        st.set_producer(1, 1);
        st.done_in_flight(&bs[1]);
        let mut fresh = bs.split_off(2);
        fresh[0].sequence = None;
        st.stamp(&mut fresh[0], 1);
        assert!(!st.can_send(&fresh[1], false, 1), "a new epoch starts one at a time again");
    }

    #[test]
    fn nothing_overtakes_batches_in_flight_to_a_leader_that_moved() {
        let (_a, mut bs) = batches(3, 2);
        let mut st = Idempotence::new(false);
        st.set_producer(1, 0);
        acknowledge_alone(&mut st, &mut bs[0]);
        let mut bs = bs.split_off(1);
        st.stamp(&mut bs[0], 1); // in flight to broker 1
        assert!(st.can_send(&bs[1], false, 1), "more may follow to the same leader");
        assert!(!st.can_send(&bs[1], false, 2), "not to a new leader while broker 1 has not answered");
        st.done_in_flight(&bs[0]);
        assert!(st.can_send(&bs[1], false, 2), "once answered (or lost), the new leader gets it");
    }

    #[test]
    fn sequences_follow_record_counts_and_survive_retries() {
        let (_a, mut bs) = batches(3, 1);
        let mut st = Idempotence::new(false);
        assert!(!st.can_send(&bs[0], false, 1), "no producer id yet");
        st.set_producer(7, 0);
        let s0 = st.stamp(&mut bs[0], 1);
        let s1 = st.stamp(&mut bs[1], 1);
        assert_eq!((s0.producer_id, s0.producer_epoch, s0.base_sequence), (7, 0, 0));
        assert_eq!(s1.base_sequence, bs[0].record_count() as i32);
        assert_eq!(st.in_flight(), 2);
        // The first batch is retried: it keeps its sequence and waits for the partition to drain.
        st.done_in_flight(&bs[0]);
        assert!(
            !st.can_send(&bs[0], false, 1),
            "a retry waits while another batch of the partition is in flight"
        );
        st.done_in_flight(&bs[1]);
        assert!(st.can_send(&bs[0], false, 1));
        assert_eq!(st.stamp(&mut bs[0], 1).base_sequence, 0);
    }

    #[test]
    fn acknowledged_batches_move_the_expected_sequence() {
        let (_a, mut bs) = batches(2, 1);
        let mut st = Idempotence::new(false);
        st.set_producer(1, 0);
        st.stamp(&mut bs[0], 1);
        st.stamp(&mut bs[1], 1);
        let dup = Some(KafkaCode::DUPLICATE_SEQUENCE_NUMBER);
        assert_eq!(st.on_error(dup, false, &bs[0]), Some(Outcome::Done));
        // Now the second batch is the one the broker expects: its refusal needs a bump.
        let oosn = Some(KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
        assert_eq!(st.on_error(oosn, false, &bs[1]), Some(Outcome::RetryAfterBump));
    }

    #[test]
    fn at_most_five_new_batches_in_flight_per_partition() {
        let (_a, mut bs) = batches(7, 1);
        let mut st = Idempotence::new(false);
        st.set_producer(1, 0);
        // The first batch is acknowledged alone (the leader then knows this producer).
        acknowledge_alone(&mut st, &mut bs[0]);
        for b in bs.iter_mut().skip(1).take(5) {
            assert!(st.can_send(b, false, 1));
            st.stamp(b, 1);
        }
        assert!(!st.can_send(&bs[6], false, 1));
    }

    #[test]
    fn sequence_errors_require_a_bump_that_restarts_sequences() {
        let (_a, mut bs) = batches(2, 1);
        let mut st = Idempotence::new(false);
        st.set_producer(1, 0);
        st.stamp(&mut bs[0], 1);
        st.stamp(&mut bs[1], 1);
        assert_eq!(st.on_error(Some(KafkaCode::NOT_LEADER_OR_FOLLOWER), true, &bs[0]), Some(Outcome::Retry));
        assert_eq!(st.on_error(Some(KafkaCode::MESSAGE_TOO_LARGE), false, &bs[0]), None);
        assert!(!st.bump_needed());
        // The second batch is refused because the first is not in yet: retry it, no bump.
        let oosn = Some(KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
        assert_eq!(st.on_error(oosn, false, &bs[1]), Some(Outcome::Retry));
        assert!(!st.bump_needed());
        // The first unacknowledged batch itself is refused: the broker lost track, bump.
        assert_eq!(st.on_error(oosn, false, &bs[0]), Some(Outcome::RetryAfterBump));
        assert!(st.bump_needed());
        st.done_in_flight(&bs[0]);
        st.done_in_flight(&bs[1]);
        bs[1].sequence = None;
        assert!(!st.can_send(&bs[1], false, 1), "new stamps wait for the bump");
        bs[0].outcome_unknown = true;
        assert!(st.can_send(&bs[0], true, 1), "a batch of unknown fate goes first, under its old stamp");
        st.set_producer(1, 1);
        assert!(!st.bump_needed());
        let s = st.stamp(&mut bs[1], 1);
        assert_eq!((s.producer_epoch, s.base_sequence), (1, 0));
    }

    #[test]
    fn sequences_wrap_after_i32_max() {
        let (_a, mut bs) = batches(2, 1);
        let mut st = Idempotence::new(false);
        st.set_producer(1, 0);
        st.partitions.insert(
            (bs[0].topic.clone(), 0),
            PartitionState {
                next_sequence: i32::MAX,
                in_flight: 0,
                in_flight_node: 0,
                acked_next: 0,
                acked_any: true,
                producer: Some((1, 0)),
            },
        );
        assert_eq!(st.stamp(&mut bs[0], 1).base_sequence, i32::MAX);
        assert_eq!(st.stamp(&mut bs[1], 1).base_sequence, bs[0].record_count() as i32 - 1);
    }
}
