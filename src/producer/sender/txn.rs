//! The sender thread's side of transactions: it finds the transaction coordinator, adds
//! partitions to the transaction before their first batch goes out, and carries out the
//! requests the application's transaction calls queue ([`TxnCommand`]s), one at a time.
//!
//! Transactions v2 (KIP-890 part 2) is used when the cluster finalized `transaction.version`
//! 2 or more (ApiVersions' finalized features, the newest epoch any broker reported), read as
//! Java does when `init_transactions` succeeds and again when a transaction ends: Produce
//! v12+ makes the partition leader add its partition to the transaction (no
//! AddPartitionsToTxn), TxnOffsetCommit v5 adds the group (no AddOffsetsToTxn), and EndTxn
//! v5 answers with the bumped epoch the next transaction uses (a new producer id when the
//! epoch ran out). Without it (Kafka 3.x, a cluster formatted with `transaction.version=1`,
//! Tansu, librdkafka's mock) Produce stays at v11, EndTxn and TxnOffsetCommit at v4, and the
//! producer adds partitions and groups itself. Switching on v2 between two transactions bumps
//! the epoch first, as Java does, so nothing of the v1 epoch can follow.
//!
//! Runs on: sender thread.
//!
//! Retried (after `retry.backoff.ms`): COORDINATOR_LOAD_IN_PROGRESS, CONCURRENT_TRANSACTIONS
//! and every other retriable code; NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE and lost
//! connections look the coordinator up again. Fencing (PRODUCER_FENCED, and
//! INVALID_PRODUCER_EPOCH on this path) and authorization of the transactional id are fatal;
//! anything else fails the transaction (abortable).

use super::transport::Transport;
use super::{ConnState, Pending, SenderLoop};
use crate::error::{Error, ErrorKind, KafkaCode, Result};
use crate::producer::idempotence::Restamp;
use crate::producer::transaction::{ConsumerGroupMetadata, OffsetToCommit, TxnCommand, TxnRequest};
use crate::protocol::add_offsets_to_txn::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use crate::protocol::add_partitions_to_txn::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, AddPartitionsToTxnTopic,
};
use crate::protocol::end_txn::{EndTxnRequest, EndTxnResponse};
use crate::protocol::find_coordinator::{
    FindCoordinatorRequest, FindCoordinatorResponse, KEY_TYPE_GROUP, KEY_TYPE_TRANSACTION,
};
use crate::protocol::header::decode_response;
use crate::protocol::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use crate::protocol::txn_offset_commit::{
    TxnOffsetCommitPartition, TxnOffsetCommitRequest, TxnOffsetCommitResponse, TxnOffsetCommitTopic,
};
use crate::protocol::Request;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Highest EndTxn and TxnOffsetCommit versions before KIP-890's "transactions v2": the caps
/// without it.
const END_TXN_MAX_V1: i16 = crate::protocol::end_txn::LAST_VERSION_BEFORE_TXN_V2;
const TXN_OFFSET_COMMIT_MAX_V1: i16 = crate::protocol::txn_offset_commit::LAST_VERSION_BEFORE_TXN_V2;
/// Produce v12 means "the broker adds partitions itself" (KIP-890); without v2 stay below it.
pub(super) const PRODUCE_MAX_IN_TXN_V1: i16 = 11;

/// A transactional request the sender thread is waiting on.
#[derive(Debug, Clone)]
pub(super) enum TxnPending {
    FindTxnCoordinator,
    FindGroupCoordinator,
    InitProducerId,
    AddPartitions(Vec<(Arc<str>, i32)>),
    AddOffsets,
    CommitOffsets,
    EndTxn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    InitProducerId,
    AddOffsets,
    FindGroupCoordinator,
    CommitOffsets,
    /// Wait until nothing of the transaction is queued or in flight.
    Drain,
    EndTxn,
    /// Bump the epoch after an abort left a sequence gap.
    BumpEpoch,
}

struct Op {
    request: TxnRequest,
    reply: crossbeam_channel::Sender<Result<()>>,
    step: Step,
    in_flight: bool,
    next_at: Option<Instant>,
    group_coordinator: Option<(i32, String)>,
}

/// Transaction state the sender thread owns.
pub(super) struct TxnDriver {
    commands: crossbeam_channel::Receiver<TxnCommand>,
    op: Option<Op>,
    coordinator: Option<(i32, String)>,
    finding: bool,
    next_find_at: Option<Instant>,
    /// Partitions added to the current transaction.
    added: HashSet<(Arc<str>, i32)>,
    adding: bool,
    next_add_at: Option<Instant>,
    /// Partitions or offsets reached the coordinator: EndTxn is needed.
    started: bool,
    /// Transactions v2 is in use (see the module docs).
    v2: bool,
}

impl TxnDriver {
    pub(super) fn new(commands: crossbeam_channel::Receiver<TxnCommand>) -> Self {
        TxnDriver {
            commands,
            op: None,
            coordinator: None,
            finding: false,
            next_find_at: None,
            added: HashSet::new(),
            adding: false,
            next_add_at: None,
            started: false,
            v2: false,
        }
    }

    /// Whether this partition's batches may go out: under transactions v2 always (the leader
    /// adds the partition), else once AddPartitionsToTxn added it.
    pub(super) fn is_added(&self, topic: &Arc<str>, partition: i32) -> bool {
        self.v2 || self.added.contains(&(topic.clone(), partition))
    }

    /// Whether transactions v2 is in use.
    /// A batch of the transaction went out: under transactions v2 that starts the transaction
    /// on the coordinator (under v1, AddPartitionsToTxn did, before any batch could go).
    pub(super) fn mark_started(&mut self) {
        if self.v2 {
            self.started = true;
        }
    }

    pub(super) fn v2(&self) -> bool {
        self.v2
    }
}

fn fenced_or(code: KafkaCode, context: String) -> Error {
    match code {
        KafkaCode::INVALID_PRODUCER_EPOCH | KafkaCode::PRODUCER_FENCED => Error::new(
            ErrorKind::Fenced,
            format!("{context}: {} (another producer with the same transactional.id took over)", code.name()),
        ),
        _ => Error::broker(code, context),
    }
}

/// How a transactional request's error is handled.
enum Handling {
    Retry,
    FindCoordinator,
    Fail(Error),
}

fn classify(code: KafkaCode, context: String) -> Handling {
    match code {
        KafkaCode::NOT_COORDINATOR | KafkaCode::COORDINATOR_NOT_AVAILABLE => Handling::FindCoordinator,
        KafkaCode::COORDINATOR_LOAD_IN_PROGRESS | KafkaCode::CONCURRENT_TRANSACTIONS => Handling::Retry,
        c if c.is_retriable() => Handling::Retry,
        c => Handling::Fail(fenced_or(c, context)),
    }
}

impl<T: Transport> SenderLoop<T> {
    /// Whether the cluster finalized transactions v2, from the newest ApiVersions answer.
    fn cluster_has_txn_v2(&self) -> bool {
        self.transaction_version.is_some_and(|level| level >= 2)
    }

    fn txn_id(&self) -> String {
        self.shared.txn.as_ref().map(|t| t.transactional_id.clone()).unwrap_or_default()
    }

    /// The coordinator's node when its connection is ready; otherwise starts what gets there
    /// (a lookup, a connection) and returns `None`.
    fn txn_coordinator(&mut self, now: Instant) -> Option<i32> {
        let driver = self.txn.as_mut()?;
        if let Some((node, addr)) = driver.coordinator.clone() {
            return match self.ensure_connection(node, &addr, now) {
                Some(ConnState::Ready) => Some(node),
                Some(_) => None, // connecting
                None => {
                    // Its connection failed: the coordinator may have moved, ask again.
                    if let Some(d) = self.txn.as_mut() {
                        d.coordinator = None;
                    }
                    None
                }
            };
        }
        if driver.finding || driver.next_find_at.is_some_and(|t| t > now) {
            return None;
        }
        let Some(node) = self.least_loaded_ready_node() else {
            self.shared.metadata.request_update(); // brings up a connection
            return None;
        };
        let req = FindCoordinatorRequest { key_type: KEY_TYPE_TRANSACTION, keys: vec![self.txn_id()] };
        let sent = self.send_txn(node, &req, None, TxnPending::FindTxnCoordinator, now);
        let next = now + self.cfg().retry_backoff;
        if let Some(d) = self.txn.as_mut() {
            d.finding = sent;
            d.next_find_at = Some(next);
        }
        None
    }

    /// Sends a transactional request at the highest common version (at most `cap`).
    fn send_txn<R: Request>(
        &mut self,
        node: i32,
        req: &R,
        cap: Option<i16>,
        pending: TxnPending,
        now: Instant,
    ) -> bool {
        let version = match self.version_for::<R>(node) {
            Ok(v) => cap.map_or(v, |c| v.min(c)),
            Err(e) => {
                self.txn_fatal(e.context("transactions need this API"));
                return false;
            }
        };
        self.send_request(node, req, version, Pending::Txn(pending), now)
    }

    fn txn_fatal(&mut self, e: Error) {
        if let Some(t) = &self.shared.txn {
            t.fatal(&e);
        }
        if let Some(op) = self.txn.as_mut().and_then(|d| d.op.take()) {
            let _ = op.reply.send(Err(e.clone()));
        }
        self.fail_fatally(e);
    }

    /// Runs each loop: starts the next command, moves the current one on, and adds new
    /// partitions to the transaction. Returns when to look again.
    pub(super) fn drive_transactions(&mut self, now: Instant) -> Option<Duration> {
        self.txn.as_ref()?;
        if let Some(cause) = self.shared.txn.as_ref().and_then(|t| t.abortable_error()) {
            // Java's Sender: once the transaction must be aborted, the records not sent yet
            // fail at once (they could only be aborted), so that commit fails fast with the
            // cause instead of waiting for them until delivery.timeout.ms.
            if self.shared.accumulator.has_queued() {
                self.abort_queued_batches(Some(&cause));
            }
        }
        let driver = self.txn.as_mut()?;
        if driver.op.is_none() {
            if let Ok(cmd) = driver.commands.try_recv() {
                let step = match &cmd.request {
                    TxnRequest::Init => Step::InitProducerId,
                    // TxnOffsetCommit v5 adds the group to the transaction itself.
                    TxnRequest::SendOffsets { .. } if driver.v2 => {
                        driver.started = true;
                        Step::FindGroupCoordinator
                    }
                    TxnRequest::SendOffsets { .. } => Step::AddOffsets,
                    TxnRequest::End { .. } => Step::Drain,
                };
                if let TxnRequest::End { commit: false } = cmd.request {
                    self.abort_queued_batches(None);
                }
                let driver = self.txn.as_mut().expect("checked");
                driver.op = Some(Op {
                    request: cmd.request,
                    reply: cmd.reply,
                    step,
                    in_flight: false,
                    next_at: None,
                    group_coordinator: None,
                });
            }
        }
        self.add_partitions(now);
        self.advance_op(now);
        Some(Duration::from_millis(20))
            .filter(|_| self.txn.as_ref().is_some_and(|d| d.op.is_some() || d.adding))
    }

    /// Fails every queued batch of the transaction being aborted, or that must be aborted
    /// because of `cause`.
    fn abort_queued_batches(&mut self, cause: Option<&Error>) {
        let txn = self.txn_id();
        for b in self.shared.accumulator.drain_all() {
            let e = match cause {
                None => Error::new(
                    ErrorKind::TransactionAborted,
                    format!(
                        "the transaction of '{txn}' was aborted before this record to {} was sent",
                        b.tp()
                    ),
                ),
                Some(cause) => Error::new(
                    ErrorKind::TransactionAborted,
                    format!(
                        "the transaction of '{txn}' must be aborted, so this record to {} was not sent: \
                         an earlier one failed: {cause}",
                        b.tp()
                    ),
                )
                .with_source(cause.clone()),
            };
            if b.sequence.is_some() {
                if let Some(i) = &mut self.idem {
                    i.require_bump();
                }
            }
            self.shared.accumulator.complete(b, Err(e));
        }
    }

    fn add_partitions(&mut self, now: Instant) {
        let Some(driver) = self.txn.as_ref() else { return };
        if driver.adding || driver.next_add_at.is_some_and(|t| t > now) {
            return;
        }
        let Some((producer_id, producer_epoch)) = self.idem.as_ref().and_then(|i| i.producer()) else {
            return;
        };
        if driver.v2 {
            // The leaders add the partitions; a record queued means there is a transaction
            // to end.
            if !driver.started {
                let mut any = false;
                self.shared.accumulator.for_each_nonempty_queue(|_, _| any = true);
                if let (true, Some(d)) = (any, self.txn.as_mut()) {
                    d.started = true;
                }
            }
            return;
        }
        let mut new: Vec<(Arc<str>, i32)> = Vec::new();
        self.shared.accumulator.for_each_nonempty_queue(|topic, partition| {
            if !driver.is_added(topic, partition) {
                new.push((topic.clone(), partition));
            }
        });
        if new.is_empty() {
            return;
        }
        let Some(node) = self.txn_coordinator(now) else { return };
        new.sort();
        let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
        for (t, p) in &new {
            match topics.iter_mut().find(|x| x.name == **t) {
                Some(x) => x.partitions.push(*p),
                None => topics.push(AddPartitionsToTxnTopic { name: t.to_string(), partitions: vec![*p] }),
            }
        }
        let req = AddPartitionsToTxnRequest {
            transactional_id: self.txn_id(),
            producer_id,
            producer_epoch,
            topics,
        };
        let sent = self.send_txn(node, &req, None, TxnPending::AddPartitions(new), now);
        if let Some(d) = self.txn.as_mut() {
            d.adding = sent;
        }
    }

    fn advance_op(&mut self, now: Instant) {
        let Some(op) = self.txn.as_ref().and_then(|d| d.op.as_ref()) else { return };
        if op.in_flight || op.next_at.is_some_and(|t| t > now) {
            return;
        }
        let step = op.step;
        let producer = self.idem.as_ref().and_then(|i| i.producer());
        let txn = self.txn_id();
        let sent = match step {
            Step::Drain => {
                if matches!(
                    self.txn.as_ref().and_then(|d| d.op.as_ref()).map(|o| &o.request),
                    Some(TxnRequest::End { commit: false })
                ) {
                    // Batches that came back for a retry after the abort began fail too.
                    self.abort_queued_batches(None);
                }
                let busy = self.shared.accumulator.has_queued()
                    || self.idem.as_ref().is_some_and(|i| i.in_flight() > 0)
                    || self.txn.as_ref().is_some_and(|d| d.adding);
                if busy {
                    return;
                }
                let started = self.txn.as_ref().is_some_and(|d| d.started);
                if !started {
                    // Nothing reached the coordinator: there is nothing to end.
                    self.finish_end(now);
                    return;
                }
                self.set_step(Step::EndTxn);
                return self.advance_op(now);
            }
            Step::InitProducerId | Step::BumpEpoch => {
                let Some(node) = self.txn_coordinator(now) else { return };
                let (producer_id, producer_epoch) = match (step, producer) {
                    (Step::BumpEpoch, Some((id, epoch))) => (id, epoch),
                    _ => (-1, -1),
                };
                let req = InitProducerIdRequest {
                    transactional_id: Some(txn),
                    transaction_timeout_ms: self.cfg().transaction_timeout.as_millis().min(i32::MAX as u128)
                        as i32,
                    producer_id,
                    producer_epoch,
                };
                self.send_txn(node, &req, None, TxnPending::InitProducerId, now)
            }
            Step::AddOffsets => {
                let Some(node) = self.txn_coordinator(now) else { return };
                let Some((producer_id, producer_epoch)) = producer else { return };
                let Some(TxnRequest::SendOffsets { group, .. }) =
                    self.txn.as_ref().and_then(|d| d.op.as_ref()).map(|o| &o.request)
                else {
                    return;
                };
                let req = AddOffsetsToTxnRequest {
                    transactional_id: txn,
                    producer_id,
                    producer_epoch,
                    group_id: group.group_id.clone(),
                };
                self.send_txn(node, &req, None, TxnPending::AddOffsets, now)
            }
            Step::FindGroupCoordinator => {
                let Some(node) = self.least_loaded_ready_node() else { return };
                let Some(TxnRequest::SendOffsets { group, .. }) =
                    self.txn.as_ref().and_then(|d| d.op.as_ref()).map(|o| &o.request)
                else {
                    return;
                };
                let req =
                    FindCoordinatorRequest { key_type: KEY_TYPE_GROUP, keys: vec![group.group_id.clone()] };
                self.send_txn(node, &req, None, TxnPending::FindGroupCoordinator, now)
            }
            Step::CommitOffsets => {
                let Some((producer_id, producer_epoch)) = producer else { return };
                let op = self.txn.as_ref().and_then(|d| d.op.as_ref()).expect("checked");
                let Some((node, addr)) = op.group_coordinator.clone() else {
                    self.set_step(Step::FindGroupCoordinator);
                    return;
                };
                let Some(TxnRequest::SendOffsets { group, offsets }) = Some(&op.request) else { return };
                let req = txn_offset_commit(txn, producer_id, producer_epoch, group, offsets);
                if self.ensure_connection(node, &addr, now) != Some(ConnState::Ready) {
                    return;
                }
                let cap = (!self.txn.as_ref().is_some_and(|d| d.v2)).then_some(TXN_OFFSET_COMMIT_MAX_V1);
                self.send_txn(node, &req, cap, TxnPending::CommitOffsets, now)
            }
            Step::EndTxn => {
                let Some(node) = self.txn_coordinator(now) else { return };
                let Some((producer_id, producer_epoch)) = producer else { return };
                let Some(TxnRequest::End { commit }) =
                    self.txn.as_ref().and_then(|d| d.op.as_ref()).map(|o| &o.request)
                else {
                    return;
                };
                let req =
                    EndTxnRequest { transactional_id: txn, producer_id, producer_epoch, committed: *commit };
                let cap = (!self.txn.as_ref().is_some_and(|d| d.v2)).then_some(END_TXN_MAX_V1);
                self.send_txn(node, &req, cap, TxnPending::EndTxn, now)
            }
        };
        if let Some(op) = self.txn.as_mut().and_then(|d| d.op.as_mut()) {
            op.in_flight = sent;
            if !sent {
                op.next_at = Some(now + self.shared.config.retry_backoff);
            }
        }
    }

    fn set_step(&mut self, step: Step) {
        if let Some(op) = self.txn.as_mut().and_then(|d| d.op.as_mut()) {
            op.step = step;
            op.in_flight = false;
            op.next_at = None;
        }
    }

    fn retry_later(&mut self, now: Instant) {
        let backoff = self.cfg().retry_backoff;
        if let Some(op) = self.txn.as_mut().and_then(|d| d.op.as_mut()) {
            op.in_flight = false;
            op.next_at = Some(now + backoff);
        }
    }

    fn reply(&mut self, result: Result<()>) {
        if let Err(e) = &result {
            if let Some(t) = &self.shared.txn {
                if e.is_fatal() {
                    t.fatal(e);
                }
            }
        }
        if let Some(op) = self.txn.as_mut().and_then(|d| d.op.take()) {
            let _ = op.reply.send(result);
        }
    }

    /// EndTxn is done (or was not needed): a new transaction starts from nothing.
    fn finish_end(&mut self, now: Instant) {
        let v2 = self.cluster_has_txn_v2();
        let mut upgraded = false;
        if let Some(d) = self.txn.as_mut() {
            d.added.clear();
            d.started = false;
            // The next transaction runs the protocol the cluster has now (Java's
            // maybeUpdateTransactionV2Enabled); moving to v2 fences the v1 epoch first.
            upgraded = v2 && !d.v2;
            d.v2 = v2;
        }
        if upgraded {
            if let Some(i) = &mut self.idem {
                i.require_bump();
            }
        }
        let aborted = matches!(
            self.txn.as_ref().and_then(|d| d.op.as_ref()).map(|o| &o.request),
            Some(TxnRequest::End { commit: false })
        );
        if (aborted || upgraded) && self.idem.as_ref().is_some_and(|i| i.bump_needed()) {
            self.set_step(Step::BumpEpoch);
            self.advance_op(now);
            return;
        }
        self.reply(Ok(()));
    }

    /// A transactional request was lost with its connection.
    pub(super) fn txn_request_lost(&mut self, pending: TxnPending, now: Instant) {
        let Some(d) = self.txn.as_mut() else { return };
        match pending {
            TxnPending::FindTxnCoordinator => d.finding = false,
            TxnPending::AddPartitions(_) => {
                d.adding = false;
                d.coordinator = None;
            }
            _ => {
                d.coordinator = None;
                self.retry_later(now);
            }
        }
    }

    /// Handles a transactional response.
    pub(super) fn on_txn_response(
        &mut self,
        node: i32,
        pending: TxnPending,
        frame: &[u8],
        version: i16,
        now: Instant,
    ) -> Result<()> {
        let ctx = |what: &str| format!("{what} from broker {node}");
        match pending {
            TxnPending::FindTxnCoordinator => {
                let (_, resp) = decode_response::<FindCoordinatorRequest>(frame, version)?;
                let Some(d) = self.txn.as_mut() else { return Ok(()) };
                d.finding = false;
                match coordinator_of(&resp) {
                    Ok(c) => {
                        d.coordinator = Some(c);
                        d.next_find_at = None;
                    }
                    Err(code) => match classify(code, ctx("FindCoordinator(TRANSACTION)")) {
                        Handling::Fail(e) => self.txn_fatal(e),
                        _ => d.next_find_at = Some(now + self.shared.config.retry_backoff),
                    },
                }
            }
            TxnPending::FindGroupCoordinator => {
                let (_, resp) = decode_response::<FindCoordinatorRequest>(frame, version)?;
                match coordinator_of(&resp) {
                    Ok(c) => {
                        if let Some(op) = self.txn.as_mut().and_then(|d| d.op.as_mut()) {
                            op.group_coordinator = Some(c);
                        }
                        self.set_step(Step::CommitOffsets);
                    }
                    Err(code) => match classify(code, ctx("FindCoordinator(GROUP)")) {
                        Handling::Fail(e) => self.reply(Err(e)),
                        _ => self.retry_later(now),
                    },
                }
            }
            TxnPending::InitProducerId => {
                let (_, resp): (_, InitProducerIdResponse) =
                    decode_response::<InitProducerIdRequest>(frame, version)?;
                let code = KafkaCode(resp.error_code);
                if code.is_ok() {
                    if let Some(i) = &mut self.idem {
                        let _ = i.set_producer(resp.producer_id, resp.producer_epoch);
                    }
                    self.shared.accumulator.reset_sequences(&Restamp::All);
                    let v2 = self.cluster_has_txn_v2();
                    let initializing = matches!(self.txn.as_ref().and_then(|d| d.op.as_ref()), Some(o) if o.step == Step::InitProducerId);
                    if let (true, Some(d)) = (initializing, self.txn.as_mut()) {
                        d.v2 = v2;
                    }
                    log::info!(
                        "transactional producer id {} epoch {} (transactions v{})",
                        resp.producer_id,
                        resp.producer_epoch,
                        if self.txn.as_ref().is_some_and(|d| d.v2) { 2 } else { 1 }
                    );
                    self.reply(Ok(()));
                } else {
                    self.handle_op_error(code, ctx("InitProducerId"), now);
                }
            }
            TxnPending::AddPartitions(parts) => {
                let (_, resp): (_, AddPartitionsToTxnResponse) =
                    decode_response::<AddPartitionsToTxnRequest>(frame, version)?;
                self.on_add_partitions(parts, resp, node, now);
            }
            TxnPending::AddOffsets => {
                let (_, resp): (_, AddOffsetsToTxnResponse) =
                    decode_response::<AddOffsetsToTxnRequest>(frame, version)?;
                let code = KafkaCode(resp.error_code);
                if code.is_ok() {
                    if let Some(d) = self.txn.as_mut() {
                        d.started = true;
                    }
                    self.set_step(Step::FindGroupCoordinator);
                } else {
                    self.handle_op_error(code, ctx("AddOffsetsToTxn"), now);
                }
            }
            TxnPending::CommitOffsets => {
                let (_, resp): (_, TxnOffsetCommitResponse) =
                    decode_response::<TxnOffsetCommitRequest>(frame, version)?;
                let worst = resp
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(move |p| (t, p)))
                    .find(|(_, p)| p.error_code != 0);
                match worst {
                    None => self.reply(Ok(())),
                    Some((t, p)) => {
                        let code = KafkaCode(p.error_code);
                        let what = format!(
                            "TxnOffsetCommit for {}-{} from broker {node}",
                            t.name, p.partition_index
                        );
                        match classify(code, what) {
                            Handling::Retry => self.retry_later(now),
                            Handling::FindCoordinator => {
                                if let Some(op) = self.txn.as_mut().and_then(|d| d.op.as_mut()) {
                                    op.group_coordinator = None;
                                }
                                self.set_step(Step::FindGroupCoordinator);
                                self.retry_later(now);
                            }
                            Handling::Fail(e) => self.reply(Err(e)),
                        }
                    }
                }
            }
            TxnPending::EndTxn => {
                let (_, resp): (_, EndTxnResponse) = decode_response::<EndTxnRequest>(frame, version)?;
                let code = KafkaCode(resp.error_code);
                if code.is_ok() {
                    if resp.producer_id >= 0 && resp.producer_epoch >= 0 {
                        // EndTxn v5 (transactions v2): the coordinator bumped the epoch (or,
                        // when it ran out, gave a new producer id); sequences restart.
                        if let Some(i) = &mut self.idem {
                            let _ = i.set_producer(resp.producer_id, resp.producer_epoch);
                        }
                        self.shared.accumulator.reset_sequences(&Restamp::All);
                        log::debug!(
                            "transaction ended; producer id {} epoch {} from now on",
                            resp.producer_id,
                            resp.producer_epoch
                        );
                    }
                    self.finish_end(now);
                } else {
                    self.handle_op_error(code, ctx("EndTxn"), now);
                }
            }
        }
        Ok(())
    }

    fn handle_op_error(&mut self, code: KafkaCode, context: String, now: Instant) {
        match classify(code, context) {
            Handling::Retry => self.retry_later(now),
            Handling::FindCoordinator => {
                if let Some(d) = self.txn.as_mut() {
                    d.coordinator = None;
                }
                self.retry_later(now);
            }
            Handling::Fail(e) => self.reply(Err(e)),
        }
    }

    fn on_add_partitions(
        &mut self,
        parts: Vec<(Arc<str>, i32)>,
        resp: AddPartitionsToTxnResponse,
        node: i32,
        now: Instant,
    ) {
        let backoff = self.cfg().retry_backoff;
        let Some(d) = self.txn.as_mut() else { return };
        d.adding = false;
        let mut failure: Option<Error> = None;
        let mut retry = false;
        for (topic, partition) in parts {
            let code = resp
                .results_by_topic
                .iter()
                .filter(|t| t.name == *topic)
                .flat_map(|t| t.results_by_partition.iter())
                .find(|p| p.partition_index == partition)
                .map_or(KafkaCode::OPERATION_NOT_ATTEMPTED, |p| KafkaCode(p.partition_error_code));
            if code.is_ok() {
                d.added.insert((topic, partition));
                d.started = true;
                continue;
            }
            match classify(code, format!("AddPartitionsToTxn for {topic}-{partition} from broker {node}")) {
                Handling::Retry => retry = true,
                Handling::FindCoordinator => {
                    d.coordinator = None;
                    retry = true;
                }
                // OPERATION_NOT_ATTEMPTED (another partition of the request failed) or no answer
                // for this partition: ask again.
                Handling::Fail(_) if code == KafkaCode::OPERATION_NOT_ATTEMPTED => retry = true,
                Handling::Fail(e) => failure = failure.or(Some(e)),
            }
        }
        if retry {
            d.next_add_at = Some(now + backoff);
        }
        if let Some(e) = failure {
            if e.is_fatal() {
                self.txn_fatal(e);
            } else {
                if let Some(t) = &self.shared.txn {
                    t.fail(&e);
                }
                // The records of this transaction cannot be sent: fail what is queued.
                let txn = self.txn_id();
                for b in self.shared.accumulator.drain_all() {
                    let err = e.clone().context(format!("transaction of '{txn}', record for {}", b.tp()));
                    self.shared.accumulator.complete(b, Err(err));
                }
            }
        }
    }
}

fn coordinator_of(resp: &FindCoordinatorResponse) -> std::result::Result<(i32, String), KafkaCode> {
    let c = resp.coordinators.first().ok_or(KafkaCode::COORDINATOR_NOT_AVAILABLE)?;
    if c.error_code != 0 {
        return Err(KafkaCode(c.error_code));
    }
    Ok((c.node_id, format!("{}:{}", c.host, c.port)))
}

fn txn_offset_commit(
    transactional_id: String,
    producer_id: i64,
    producer_epoch: i16,
    group: &ConsumerGroupMetadata,
    offsets: &[OffsetToCommit],
) -> TxnOffsetCommitRequest {
    let mut topics: Vec<TxnOffsetCommitTopic> = Vec::new();
    for o in offsets {
        let p = TxnOffsetCommitPartition {
            partition_index: o.partition,
            committed_offset: o.offset,
            committed_leader_epoch: -1,
            committed_metadata: o.metadata.clone(),
        };
        match topics.iter_mut().find(|t| t.name == o.topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(TxnOffsetCommitTopic { name: o.topic.clone(), partitions: vec![p] }),
        }
    }
    TxnOffsetCommitRequest {
        transactional_id,
        group_id: group.group_id.clone(),
        producer_id,
        producer_epoch,
        generation_id: group.generation_id,
        member_id: group.member_id.clone(),
        group_instance_id: group.group_instance_id.clone(),
        topics,
    }
}
