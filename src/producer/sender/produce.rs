//! The produce pipeline of the sender: which batches are ready and may go (ordering,
//! idempotence and transaction rules, adaptive partitioning's node availability), sealing and
//! writing Produce requests, and what each partition's answer means: success, a split, a retry
//! after backoff (at once to a new leader), or failure; and expiry after `delivery.timeout.ms`.
//!
//! Runs on: sender thread (everything in this file).

use super::transport::Link;
use super::transport::Transport;
use super::txn::PRODUCE_MAX_IN_TXN_V1;
use super::{exp_backoff, min_opt, ConnState, InFlight, Lent, Pending, SenderLoop};
use crate::error::{Error, KafkaCode};
use crate::network::frame::Frame;
use crate::network::metadata::{BrokerInfo, Cluster};
use crate::producer::accumulator::{PartitionQueue, ProducerBatch};
use crate::producer::future::BatchAck;
use crate::producer::idempotence::Outcome;
use crate::producer::metrics::SentBatch;
use crate::protocol::header::encode_request_with;
use crate::protocol::produce::{
    ProducePartitionData, ProduceRequest, ProduceResponse, ProduceTopicData, LAST_VERSION_WITH_TOPIC_NAMES,
};
use crate::protocol::record_batch::ProducerState;
use crate::protocol::ApiKey;
use std::time::{Duration, Instant};

impl<T: Transport> SenderLoop<T> {
    /// Drains ready batches into Produce requests. Returns whether anything was sent, when
    /// batches become ready next, and whether any batch was queued when the queues were read.
    pub(super) fn send_ready(&mut self, now: Instant, closing: bool) -> (bool, Option<Duration>, bool) {
        let cluster = self.shared.metadata.cluster();
        let unknown_pending = self.idem.as_ref().is_some_and(|i| i.bump_needed())
            && self.shared.accumulator.has_unknown_outcome();
        let readiness = self
            .shared
            .accumulator
            .ready(&cluster, now, closing, |q, b| self.may_send(&cluster, q, b, unknown_pending));
        if readiness.unknown_leader {
            self.shared.metadata.request_update();
        }
        let mut sent = false;
        let mut throttled_next = None;
        let track = !self.cfg().availability_timeout.is_zero();
        for (node, mut queues) in readiness.nodes {
            if track {
                self.node_latency.entry(node).or_insert((now, now)).0 = now;
            }
            let Some(addr) = cluster.brokers.get(&node).map(|b| b.addr.clone()) else { continue };
            if self.ensure_connection(node, &addr, now) != Some(ConnState::Ready) {
                continue;
            }
            let conn = &self.conns[&node];
            if let Some(until) = conn.throttled_until.filter(|&t| t > now) {
                throttled_next = min_opt(throttled_next, Some(until - now));
                continue;
            }
            if conn.produce_in_flight() >= self.cfg().max_in_flight {
                continue;
            }
            if track {
                self.node_latency.entry(node).or_insert((now, now)).1 = now;
            }
            queues.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
            let start = self.drain_index.get(&node).copied().unwrap_or(0) % queues.len().max(1);
            let max = self.cfg().max_request_size;
            let (batches, next) = self
                .shared
                .accumulator
                .drain(&queues, start, max, now, |q, b| self.may_send(&cluster, q, b, unknown_pending));
            self.drain_index.insert(node, next);
            if !batches.is_empty() {
                sent |= self.send_produce(node, batches, now);
            }
        }
        if track {
            self.update_availability();
        }
        (sent, min_opt(readiness.next_check, throttled_next), readiness.queued)
    }

    /// Java's rule for `partitioner.availability.timeout.ms`: a node that has had batches ready
    /// but has not taken any for longer than the timeout (its connection is down or every
    /// request slot is in use) is unavailable; adaptive partitioning then sends keyless records
    /// to the partitions other nodes lead.
    pub(super) fn update_availability(&mut self) {
        let timeout = self.cfg().availability_timeout;
        let mut unavailable: Vec<i32> = self
            .node_latency
            .iter()
            .filter(|(_, (ready, drained))| ready.saturating_duration_since(*drained) > timeout)
            .map(|(&n, _)| n)
            .collect();
        unavailable.sort_unstable();
        self.shared.accumulator.set_unavailable_nodes(unavailable);
    }

    /// Whether a partition may send its first batch `b` now: Java's ordering rule for
    /// `max.in.flight.requests.per.connection=1`, the idempotence rules (nothing goes out under
    /// the old stamp while InitProducerId bumps the epoch), and, in a transaction, whether the
    /// partition was added to it.
    pub(super) fn may_send(
        &self,
        cluster: &Cluster,
        q: &PartitionQueue,
        b: &ProducerBatch,
        unknown_pending: bool,
    ) -> bool {
        let muted = self.cfg().max_in_flight == 1
            && self.in_flight_partitions.contains(&(q.topic.clone(), q.partition));
        let leader = cluster.leader_for(&q.topic, q.partition).unwrap_or(-1);
        !(muted || self.init_pid_in_flight)
            && self.idem.as_ref().is_none_or(|i| i.can_send(b, unknown_pending, leader))
            && self.txn.as_ref().is_none_or(|t| t.is_added(&q.topic, q.partition))
    }

    pub(super) fn send_produce(&mut self, node: i32, batches: Vec<ProducerBatch>, now: Instant) -> bool {
        let version = match self.version_for::<ProduceRequest<'_>>(node) {
            Ok(v) => v,
            Err(e) => {
                for b in batches {
                    self.fail_batch(b, e.clone());
                }
                return false;
            }
        };
        let (compression, level) = (self.cfg().compression, self.cfg().compression_level);
        let mut ok = Vec::with_capacity(batches.len());
        let mut open_sizes = Vec::with_capacity(batches.len());
        for mut b in batches {
            let open_size = b.size();
            let stamp = match &mut self.idem {
                Some(i) => i.stamp(&mut b, node),
                None => ProducerState::NONE,
            };
            match b.seal(compression, level, stamp, &mut self.compress_buf) {
                Ok(()) => {
                    open_sizes.push(open_size);
                    ok.push(b)
                }
                Err(e) => {
                    let e = e.context(format!("sealing the batch for {}", b.tp()));
                    if self.idem.is_some() {
                        self.end_in_flight(&b); // stamped above
                    }
                    self.fail_batch(b, e);
                }
            }
        }
        if ok.is_empty() {
            return false;
        }
        #[cfg(test)]
        if self.panic_after_drain {
            panic!("injected panic with {} drained batch(es) in hand", ok.len());
        }
        let cluster = self.shared.metadata.cluster();
        let mut version = version;
        // The request groups partitions by topic; order the batches the same way, so that the
        // buffers they lend to the frame are in frame order.
        group_by_first_appearance(&mut ok, |b| b.topic.clone());
        let mut topics: Vec<ProduceTopicData<'_>> = Vec::new();
        for b in &ok {
            let pd = ProducePartitionData { index: b.partition, records: Some(b.bytes()) };
            match topics.iter_mut().find(|t| t.name == &*b.topic) {
                Some(t) => t.partitions.push(pd),
                None => topics.push(ProduceTopicData {
                    name: &b.topic,
                    topic_id: cluster.topic(&b.topic).map_or([0; 16], |t| t.id),
                    partitions: vec![pd],
                }),
            }
        }
        if topics.iter().any(|t| t.topic_id == [0; 16]) {
            // Produce v13+ names topics by id only; without an id, stay on a version with names.
            version = version.min(LAST_VERSION_WITH_TOPIC_NAMES);
        }
        if self.txn.as_ref().is_some_and(|t| !t.v2()) {
            // Produce v12+ asks the broker to add the partition to the transaction itself.
            version = version.min(PRODUCE_MAX_IN_TXN_V1);
        }
        let transactional_id = self.shared.txn.as_ref().map(|t| t.transactional_id.clone());
        let req = ProduceRequest {
            transactional_id: transactional_id.as_deref(),
            acks: self.cfg().acks,
            timeout_ms: self.cfg().request_timeout.as_millis().min(i32::MAX as u128) as i32,
            topics,
        };
        // Encode now (the request borrows the batches), leaving the batches' bytes out: the
        // frame writes them from the batch buffers, which the batches lend it below.
        self.frame_buf.clear();
        let corr_preview = self.next_correlation_id;
        let client_id = self.cfg().client_id.clone();
        let mut cuts = Vec::with_capacity(ok.len());
        let encoded = encode_request_with::<ProduceRequest<'_>>(
            version,
            corr_preview,
            Some(&client_id),
            &mut self.frame_buf,
            |buf| req.encode_body(version, buf, Some(&mut cuts)),
        );
        if let Err(e) = encoded {
            drop(req);
            for b in ok {
                if self.idem.is_some() {
                    self.end_in_flight(&b); // stamped above
                }
                self.fail_batch(b, e.clone());
            }
            return false;
        }
        drop(req);
        let sent: Vec<SentBatch<'_>> = ok
            .iter()
            .zip(&open_sizes)
            .map(|(b, &open)| SentBatch {
                topic: &b.topic,
                records: b.record_count(),
                bytes: b.size(),
                // A batch sent before keeps its sealed bytes: no new compression to measure.
                uncompressed: if open > 0 { open } else { b.size() },
                queue_time: now.saturating_duration_since(b.created),
            })
            .collect();
        let frame_len = self.frame_buf.len() + sent.iter().map(|b| b.bytes).sum::<usize>();
        self.shared.metrics.produce_sent(node, frame_len, &sent, now);
        self.shared.metadata.touch(sent.iter().map(|b| b.topic), now);
        drop(sent);
        for b in &mut ok {
            b.attempts += 1;
            b.sent_to = Some(node);
            self.in_flight_partitions.insert((b.topic.clone(), b.partition));
        }
        if let Some(d) = self.txn.as_mut() {
            // Transactions v2: the leader adds the partition to the transaction as it stores
            // this batch, so the transaction must be ended with EndTxn, even when the batch was
            // queued and sent between two looks of the transaction driver.
            d.mark_started();
        }
        let lent = Lent { cuts, buffers: ok.iter_mut().map(ProducerBatch::lend_bytes).collect() };
        self.write_encoded(node, ApiKey::Produce, version, Pending::Produce(ok), lent, now)
    }

    /// Writes the request already encoded in `frame_buf` (with the batch buffers in `lent`
    /// between its bytes) with the next correlation id.
    pub(super) fn write_encoded(
        &mut self,
        node: i32,
        api_key: ApiKey,
        version: i16,
        pending: Pending,
        lent: Lent,
        now: Instant,
    ) -> bool {
        let corr = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1) & i32::MAX;
        let deadline = now + self.cfg().request_timeout;
        let acks0 = api_key == ApiKey::Produce && self.cfg().acks == 0;
        let conn = self.conns.get_mut(&node).expect("checked by the caller");
        // Queue the frame on the connection and write what the socket takes now; the next
        // frame is encoded into a buffer already written out.
        let next = self.spare_frames.pop().unwrap_or_else(|| Vec::with_capacity(64 * 1024));
        let head = std::mem::replace(&mut self.frame_buf, next);
        let frame = if lent.buffers.is_empty() {
            Frame::whole(head, corr)
        } else {
            Frame::gathered(head, lent.cuts, lent.buffers, corr)
        };
        let frame_no = conn.io.queue(frame);
        conn.last_used = now;
        if acks0 {
            if let Pending::Produce(batches) = pending {
                conn.unwritten_acks0.push_back((frame_no, corr, batches));
            }
        } else {
            conn.in_flight.insert(corr, InFlight { pending, api_key, version, deadline });
        }
        self.flush_connection(node, now);
        self.conns.contains_key(&node)
    }

    pub(super) fn on_produce_response(
        &mut self,
        node: i32,
        batches: Vec<ProducerBatch>,
        resp: ProduceResponse,
        now: Instant,
    ) {
        let cluster = self.shared.metadata.cluster();
        let mut refresh = false;
        for mut b in batches {
            self.end_in_flight(&b);
            let topic_id = cluster.topic(&b.topic).map(|t| t.id);
            let part = resp
                .topics
                .iter()
                .filter(|t| t.name == *b.topic || (t.name.is_empty() && Some(t.topic_id) == topic_id))
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.index == b.partition);
            let Some(p) = part else {
                let e = Error::protocol(format!(
                    "broker {node} did not answer for {} in its Produce response",
                    b.tp()
                ));
                self.retry_or_fail(b, e, now);
                continue;
            };
            let code = KafkaCode(p.error_code);
            let ack = BatchAck { base_offset: p.base_offset, log_append_time: p.log_append_time_ms };
            if code.is_ok() {
                if let Some(i) = &mut self.idem {
                    i.acked(&b);
                }
                self.shared.accumulator.complete(b, Ok(ack));
                continue;
            }
            if matches!(code, KafkaCode::MESSAGE_TOO_LARGE | KafkaCode::RECORD_LIST_TOO_LARGE)
                && b.record_count() > 1
            {
                // Java's rule: split the batch in two and send the halves (repeatedly, down to
                // single records); the records keep their order and their futures.
                let count = b.record_count();
                match self.shared.accumulator.split(b) {
                    Ok(parts) => {
                        log::info!(
                            "broker {node} refused a batch of {count} records as {}: splitting it",
                            code.name()
                        );
                        for part in parts.into_iter().rev() {
                            self.shared.accumulator.reenqueue(part, now);
                        }
                    }
                    Err(refused) => {
                        let (b, e) = *refused;
                        let context =
                            format!("producing to {} on broker {node} (could not split: {e})", b.tp());
                        self.retry_or_fail_as(b, Error::broker(code, context), false, now);
                    }
                }
                continue;
            }
            if invalidates_metadata(code) {
                refresh = true;
                if let Some(l) = &p.current_leader {
                    // KIP-951: the broker named the new leader; use it for the retry at once.
                    let endpoint =
                        resp.node_endpoints.iter().find(|e| e.node_id == l.leader_id).map(|e| BrokerInfo {
                            id: e.node_id,
                            addr: format!("{}:{}", e.host, e.port),
                            rack: e.rack.clone(),
                        });
                    self.shared.metadata.update_leader(
                        &b.topic,
                        b.partition,
                        l.leader_id,
                        l.leader_epoch,
                        endpoint,
                    );
                }
            }
            let mut context =
                format!("producing {} record(s) to {} on broker {node}", b.record_count(), b.tp());
            if let Some(m) = p.error_message.as_deref().filter(|m| !m.is_empty()) {
                context.push_str(&format!(" (broker says: {m})"));
            }
            let error = if self.txn.is_some() && code == KafkaCode::INVALID_PRODUCER_EPOCH {
                // KIP-588: typically the coordinator aborted the transaction when
                // transaction.timeout.ms ran out and bumped the epoch. Abortable, as in Java:
                // abort, then go on with the same producer (PRODUCER_FENCED is the fatal one).
                Error::broker(
                    code,
                    format!(
                        "{context} (the transaction was probably aborted by its coordinator after \
                         transaction.timeout.ms={} ms; abort it and begin a new one)",
                        self.cfg().transaction_timeout.as_millis()
                    ),
                )
            } else {
                Error::broker(code, context)
            };
            let mut retriable = error.is_retriable();
            if let Some(idem) = &mut self.idem {
                match idem.on_error(Some(code), retriable, &b) {
                    // DUPLICATE_SEQUENCE_NUMBER: the broker has this batch already.
                    Some(Outcome::Done) => {
                        self.shared.accumulator.complete(b, Ok(ack));
                        continue;
                    }
                    Some(Outcome::RetryAfterBump) | Some(Outcome::Retry) => retriable = true,
                    None => {}
                }
                if matches!(
                    code,
                    KafkaCode::REQUEST_TIMED_OUT
                        | KafkaCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND
                        | KafkaCode::NETWORK_EXCEPTION
                ) {
                    // The leader may have appended it: only its old stamp lets the broker tell.
                    b.outcome_unknown = true;
                } else if matches!(
                    code,
                    KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER | KafkaCode::UNKNOWN_PRODUCER_ID
                ) {
                    // A sequence refusal proves this stamp is not in the log.
                    b.outcome_unknown = false;
                }
            }
            self.retry_or_fail_as(b, error, retriable, now);
        }
        if refresh {
            self.shared.metadata.request_update();
        }
    }

    /// Retries a batch after `retry.backoff.ms` (growing to `retry.backoff.max.ms`) when the
    /// error is retriable and `retries` and `delivery.timeout.ms` allow; fails it otherwise.
    pub(super) fn retry_or_fail(&mut self, b: ProducerBatch, error: Error, now: Instant) {
        let retriable = error.is_retriable();
        self.retry_or_fail_as(b, error, retriable, now);
    }

    /// [`retry_or_fail`](Self::retry_or_fail), with the caller deciding whether the error is
    /// retriable (an idempotent producer retries sequence errors after an epoch bump).
    pub(super) fn retry_or_fail_as(
        &mut self,
        mut b: ProducerBatch,
        error: Error,
        retriable: bool,
        now: Instant,
    ) {
        let cfg = self.cfg();
        let age = now.saturating_duration_since(b.created);
        if retriable && b.attempts <= cfg.retries && age < cfg.delivery_timeout {
            let backoff = exp_backoff(cfg.retry_backoff, cfg.retry_backoff_max, b.attempts.saturating_sub(1));
            log::debug!("retrying {} after {:?}: {error}", b.tp(), backoff);
            self.shared.metrics.retried(&b.topic, b.record_count(), now);
            b.last_error = Some(error);
            self.shared.accumulator.reenqueue(b, now + backoff);
            return;
        }
        let cfg = self.cfg();
        let error = if retriable && age >= cfg.delivery_timeout {
            Error::timeout(format!(
                "expiring {} record(s) for {}: {} ms has passed since batch creation (delivery.timeout.ms={}); last error: {error}",
                b.record_count(),
                b.tp(),
                age.as_millis(),
                cfg.delivery_timeout.as_millis()
            ))
        } else {
            error
        };
        self.fail_batch(b, error);
    }

    /// Fails a batch for good. A batch that had a sequence leaves a gap only a new epoch
    /// closes; a transactional batch fails its transaction.
    pub(super) fn fail_batch(&mut self, b: ProducerBatch, error: Error) {
        self.shared.metrics.failed(&b.topic, b.record_count(), self.transport.now());
        if b.sequence.is_some() {
            if let Some(i) = &mut self.idem {
                i.require_bump_for(&b);
            }
        }
        if let Some(t) = &self.shared.txn {
            t.fail(&error);
        }
        self.shared.accumulator.complete(b, Err(error));
    }

    pub(super) fn expire_batches(&mut self, now: Instant) {
        let dt = self.cfg().delivery_timeout;
        for b in self.shared.accumulator.expired(now, dt) {
            let age = now.saturating_duration_since(b.created);
            let last = b.last_error.as_ref().map(|e| format!("; last error: {e}")).unwrap_or_default();
            let e = Error::timeout(format!(
                "expiring {} record(s) for {}: {} ms has passed since batch creation (delivery.timeout.ms={}){last}",
                b.record_count(),
                b.tp(),
                age.as_millis(),
                dt.as_millis()
            ));
            self.fail_batch(b, e);
        }
    }
}

/// Errors after which the partition's leader may have moved (Java: InvalidMetadataException).
pub(super) fn invalidates_metadata(code: KafkaCode) -> bool {
    matches!(
        code,
        KafkaCode::NOT_LEADER_OR_FOLLOWER
            | KafkaCode::UNKNOWN_TOPIC_OR_PARTITION
            | KafkaCode::LEADER_NOT_AVAILABLE
            | KafkaCode::FENCED_LEADER_EPOCH
            | KafkaCode::UNKNOWN_LEADER_EPOCH
            | KafkaCode::KAFKA_STORAGE_ERROR
            | KafkaCode::NOT_CONTROLLER
            | KafkaCode::UNKNOWN_TOPIC_ID
    )
}

/// Reorders `items` so that those with the same key are together, groups in the order their
/// key first appears, each group in its original order (how a Produce request lists
/// partitions by topic).
fn group_by_first_appearance<T, K: PartialEq>(items: &mut [T], key: impl Fn(&T) -> K) {
    let mut firsts: Vec<K> = Vec::new();
    for item in items.iter() {
        let k = key(item);
        if !firsts.contains(&k) {
            firsts.push(k);
        }
    }
    if firsts.len() > 1 {
        // Stable: each group keeps its order.
        items.sort_by_key(|item| {
            let k = key(item);
            firsts.iter().position(|f| *f == k)
        });
    }
}

#[cfg(test)]
mod order_tests {
    use super::group_by_first_appearance;

    #[test]
    fn items_are_grouped_by_key_in_first_appearance_order_keeping_each_groups_order() {
        let mut v = vec![("t", 1), ("u", 0), ("t", 0), ("w", 5), ("u", 1), ("t", 2)];
        group_by_first_appearance(&mut v, |x| x.0);
        assert_eq!(v, vec![("t", 1), ("t", 0), ("t", 2), ("u", 0), ("u", 1), ("w", 5)]);
        let mut one = vec![("t", 3), ("t", 1)];
        group_by_first_appearance(&mut one, |x| x.0);
        assert_eq!(one, vec![("t", 3), ("t", 1)]);
        let mut empty: Vec<(&str, i32)> = Vec::new();
        group_by_first_appearance(&mut empty, |x| x.0);
        // Every permutation shape of three keys over six items comes out grouped.
        for mask in 0..729u32 {
            let mut items: Vec<(u32, usize)> =
                (0..6).map(|i| ((mask / 3u32.pow(i)) % 3, i as usize)).collect();
            let before = items.clone();
            group_by_first_appearance(&mut items, |x| x.0);
            let mut firsts: Vec<u32> = Vec::new();
            for (k, _) in &before {
                if !firsts.contains(k) {
                    firsts.push(*k);
                }
            }
            let want: Vec<(u32, usize)> =
                firsts.iter().flat_map(|k| before.iter().filter(move |x| x.0 == *k).copied()).collect();
            assert_eq!(items, want, "{before:?}");
        }
    }
}
