//! The mock brokers' side of the protocol: request decoding and response encoding for the APIs
//! the mock offers, answered against the shared state. Only non-flexible versions are offered
//! (ApiVersions aside), which every client negotiates down to:
//!
//! | API | versions |
//! |---|---|
//! | Produce | 3-8 |
//! | Fetch | 4 |
//! | ListOffsets | 1 |
//! | Metadata | 4 |
//! | ApiVersions | 0-3 |
//! | InitProducerId | 0-1 |
//! | FindCoordinator | 0-2 (every group and transactional id: the first broker that is up) |
//! | AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit | 0-2 |
//!
//! Runs on: a mock connection thread, with the state locked.

use super::{PartitionLog, State, StoredBatch, StoredRecord, TxnOutcome, TxnState};
use crate::error::{KafkaCode, Result};
use crate::protocol::primitives::{Encoder, Reader};
use crate::protocol::record_batch::decode_batches;
use crate::protocol::ApiKey;
use std::time::Duration;

const OFFERED: [(i16, i16, i16); 11] = [
    (0, 3, 8),  // Produce
    (1, 4, 4),  // Fetch
    (2, 1, 1),  // ListOffsets
    (3, 4, 4),  // Metadata
    (10, 0, 2), // FindCoordinator
    (18, 0, 3), // ApiVersions
    (22, 0, 1), // InitProducerId
    (24, 0, 2), // AddPartitionsToTxn
    (25, 0, 2), // AddOffsetsToTxn
    (26, 0, 2), // EndTxn
    (28, 0, 2), // TxnOffsetCommit
];

/// Batch attribute bits.
const TRANSACTIONAL: i16 = 0x10;
const CONTROL: i16 = 0x20;

/// What to do with one request frame.
pub(super) enum Answer {
    /// Write this response body (after the response header, which is included).
    Reply(Vec<u8>),
    /// Nothing to send (acks=0, a dropped response, an unparsable request).
    Nothing,
    /// A Fetch found nothing new: ask again after this long (without the lock).
    WaitAndRetry(Duration),
}

/// Answers one request frame on `broker`. `last_try` is set when a Fetch was retried already.
pub(super) fn handle(st: &mut State, broker: i32, frame: &[u8], last_try: bool) -> Answer {
    let mut r = Reader::new(frame);
    let (Ok(api), Ok(version), Ok(corr), Ok(_client)) = (r.i16(), r.i16(), r.i32(), r.nullable_string())
    else {
        return Answer::Nothing;
    };
    if api == 18 && version >= 3 && r.skip_tagged_fields().is_err() {
        return Answer::Nothing;
    }
    let body = &frame[r.position()..];
    let key = match api {
        0 => ApiKey::Produce,
        1 => ApiKey::Fetch,
        2 => ApiKey::ListOffsets,
        3 => ApiKey::Metadata,
        10 => ApiKey::FindCoordinator,
        18 => ApiKey::ApiVersions,
        22 => ApiKey::InitProducerId,
        24 => ApiKey::AddPartitionsToTxn,
        25 => ApiKey::AddOffsetsToTxn,
        26 => ApiKey::EndTxn,
        28 => ApiKey::TxnOffsetCommit,
        _ => return Answer::Nothing, // not offered: a client that sends it anyway gets no answer
    };
    if !last_try {
        st.requests.push((broker, key));
    }
    let offered = OFFERED.iter().find(|(k, _, _)| *k == api).expect("listed");
    if key != ApiKey::ApiVersions && !(offered.1..=offered.2).contains(&version) {
        return Answer::Nothing;
    }
    let mut out = Vec::new();
    out.put_i32(corr);
    let result = match key {
        ApiKey::ApiVersions => {
            api_versions(version, &mut out);
            Ok(true)
        }
        ApiKey::Metadata => metadata(st, body, &mut out).map(|_| true),
        ApiKey::Produce => produce(st, broker, version, body, &mut out),
        ApiKey::Fetch => match fetch(st, broker, body, &mut out, last_try) {
            Ok(None) => Ok(true),
            Ok(Some(wait)) => return Answer::WaitAndRetry(wait),
            Err(e) => Err(e),
        },
        ApiKey::ListOffsets => list_offsets(st, broker, body, &mut out).map(|_| true),
        ApiKey::InitProducerId => init_producer_id(st, body, &mut out).map(|_| true),
        ApiKey::FindCoordinator => find_coordinator(st, version, body, &mut out).map(|_| true),
        ApiKey::AddPartitionsToTxn => add_partitions(st, body, &mut out).map(|_| true),
        ApiKey::AddOffsetsToTxn => add_offsets(st, body, &mut out).map(|_| true),
        ApiKey::EndTxn => end_txn(st, body, &mut out).map(|_| true),
        ApiKey::TxnOffsetCommit => txn_offset_commit(st, version, body, &mut out).map(|_| true),
        _ => unreachable!("filtered above"),
    };
    match result {
        Ok(true) if !st.take_drop(key) => Answer::Reply(out),
        _ => Answer::Nothing,
    }
}

fn api_versions(version: i16, out: &mut Vec<u8>) {
    if version > 3 {
        // Not a version we know: answer in v0 with UNSUPPORTED_VERSION and what we have.
        out.put_i16(KafkaCode::UNSUPPORTED_VERSION.0);
        out.put_i32(OFFERED.len() as i32);
        for (k, lo, hi) in OFFERED {
            out.put_i16(k);
            out.put_i16(lo);
            out.put_i16(hi);
        }
        return;
    }
    let flexible = version >= 3;
    out.put_i16(0);
    out.put_array_len(Some(OFFERED.len()), flexible);
    for (k, lo, hi) in OFFERED {
        out.put_i16(k);
        out.put_i16(lo);
        out.put_i16(hi);
        if flexible {
            out.put_empty_tagged_fields();
        }
    }
    if version >= 1 {
        out.put_i32(0); // throttle_time_ms
    }
    if flexible {
        out.put_empty_tagged_fields();
    }
}

fn metadata(st: &mut State, body: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let mut r = Reader::new(body);
    let topics: Option<Vec<String>> = match r.array_len(false, 2)? {
        None => None,
        Some(n) => Some((0..n).map(|_| r.string().map(str::to_owned)).collect::<Result<_>>()?),
    };
    let allow_create = r.bool().unwrap_or(true);
    let injected = st.injected(ApiKey::Metadata);
    let names: Vec<String> = match topics {
        Some(t) => t,
        None => st.topics.keys().cloned().collect(),
    };
    if allow_create && st.auto_create_partitions > 0 {
        let n = st.auto_create_partitions;
        for t in &names {
            if !t.is_empty() && !t.starts_with("__") {
                st.create_topic(t, n);
            }
        }
    }
    out.put_i32(0); // throttle
    let up: Vec<(i32, u16)> = st.brokers.iter().filter(|b| b.up).map(|b| (b.id, b.port)).collect();
    out.put_i32(up.len() as i32);
    for (id, port) in &up {
        out.put_i32(*id);
        out.put_string(Some("127.0.0.1"));
        out.put_i32(i32::from(*port));
        out.put_string(None); // rack
    }
    out.put_string(Some("kafka-blocking-mock"));
    out.put_i32(up.first().map_or(-1, |b| b.0)); // controller
    out.put_i32(names.len() as i32);
    for t in &names {
        match (injected, st.topics.get(t)) {
            (Some(code), _) => {
                out.put_i16(code.0);
                out.put_string(Some(t));
                out.put_bool(false);
                out.put_i32(0);
            }
            (None, Some(logs)) => {
                out.put_i16(0);
                out.put_string(Some(t));
                out.put_bool(false);
                out.put_i32(logs.len() as i32);
                for (p, log) in logs.iter().enumerate() {
                    let alive = st.broker_up(log.leader);
                    out.put_i16(if alive { 0 } else { KafkaCode::LEADER_NOT_AVAILABLE.0 });
                    out.put_i32(p as i32);
                    out.put_i32(if alive { log.leader } else { -1 });
                    for _ in 0..2 {
                        out.put_i32(1); // replicas, then isr: the leader alone
                        out.put_i32(log.leader);
                    }
                }
            }
            (None, None) => {
                out.put_i16(KafkaCode::UNKNOWN_TOPIC_OR_PARTITION.0);
                out.put_string(Some(t));
                out.put_bool(false);
                out.put_i32(0);
            }
        }
    }
    Ok(())
}

/// Stores `records` (one or more v2 batches) in `log` after the broker's checks; the code and
/// the base offset to answer with. `txn` is the state of the batch's transactional id, when it
/// has one, and whether the partition was added to its transaction.
fn append(log: &mut PartitionLog, records: &[u8], txn: Option<(&TxnState, bool)>) -> (KafkaCode, i64) {
    let Ok(decoded) = decode_batches(records) else { return (KafkaCode::CORRUPT_MESSAGE, -1) };
    if decoded.is_empty() {
        return (KafkaCode::CORRUPT_MESSAGE, -1);
    }
    let transactional = decoded[0].attributes & TRANSACTIONAL != 0;
    if transactional {
        match txn {
            None => return (KafkaCode::INVALID_TXN_STATE, -1),
            Some((t, _)) if t.producer_id != decoded[0].producer_id => {
                return (KafkaCode::INVALID_PRODUCER_ID_MAPPING, -1)
            }
            Some((t, _)) if decoded[0].producer_epoch < t.epoch => return (KafkaCode::PRODUCER_FENCED, -1),
            Some((_, false)) => return (KafkaCode::INVALID_TXN_STATE, -1),
            Some(_) => {}
        }
    }
    // Idempotence: judge the first batch (clients send one batch per partition).
    let first = &decoded[0];
    let count: i32 = decoded.iter().map(|b| b.last_offset_delta + 1).sum();
    if first.producer_id >= 0 && first.base_sequence >= 0 {
        let last_seq = first.base_sequence.wrapping_add(count - 1);
        match log.producers.get(&first.producer_id) {
            Some(p) if first.producer_epoch < p.epoch => return (KafkaCode::INVALID_PRODUCER_EPOCH, -1),
            Some(p) if first.producer_epoch == p.epoch => {
                if let Some(&(_, _, offset)) =
                    p.recent.iter().find(|(s, l, _)| *s == first.base_sequence && *l == last_seq)
                {
                    return (KafkaCode::NONE, offset); // a duplicate: the original's offset
                }
                let expected = p.recent.back().map_or(0, |(_, l, _)| l.wrapping_add(1));
                if first.base_sequence != expected {
                    return (KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER, -1);
                }
            }
            // A new producer, or a new epoch: its sequences start again at 0.
            _ if first.base_sequence != 0 => return (KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER, -1),
            _ => {}
        }
        let entry = log.producers.entry(first.producer_id).or_default();
        if entry.epoch != first.producer_epoch {
            entry.recent.clear();
        }
        entry.epoch = first.producer_epoch;
        entry.recent.push_back((first.base_sequence, last_seq, log.next_offset));
        if entry.recent.len() > 5 {
            entry.recent.pop_front();
        }
    }
    let base = log.next_offset;
    let mut pos = 0;
    for b in &decoded {
        let span = 12 + i32::from_be_bytes(records[pos + 8..pos + 12].try_into().expect("4 bytes")) as usize;
        let mut bytes = records[pos..pos + span].to_vec();
        let base_offset = log.next_offset;
        bytes[..8].copy_from_slice(&base_offset.to_be_bytes());
        let stored = b
            .records
            .iter()
            .map(|r| StoredRecord {
                offset: base_offset + i64::from(r.offset_delta),
                timestamp: b.base_timestamp + r.timestamp_delta,
                key: r.key.clone(),
                value: r.value.clone(),
                headers: r.headers.clone(),
                producer_id: b.producer_id,
                sequence: if b.base_sequence >= 0 {
                    b.base_sequence.wrapping_add(r.offset_delta)
                } else {
                    -1
                },
            })
            .collect();
        let count = i64::from(b.last_offset_delta) + 1;
        log.next_offset += count;
        let txn = if transactional { TxnOutcome::Open } else { TxnOutcome::None };
        log.batches.push(StoredBatch {
            base_offset,
            count,
            bytes,
            records: stored,
            producer_id: b.producer_id,
            txn,
        });
        pos += span;
    }
    (KafkaCode::NONE, base)
}

/// A Produce answer: per topic, (partition, error code, base offset).
type ProduceResults = Vec<(String, Vec<(i32, KafkaCode, i64)>)>;

/// Returns whether to answer (not for acks=0).
fn produce(st: &mut State, broker: i32, version: i16, body: &[u8], out: &mut Vec<u8>) -> Result<bool> {
    let mut r = Reader::new(body);
    let transactional_id = r.nullable_string()?.map(str::to_owned);
    let acks = r.i16()?;
    let _timeout = r.i32()?;
    let injected = st.injected(ApiKey::Produce);
    let n_topics = r.array_len(false, 4)?.unwrap_or(0);
    let mut results: ProduceResults = Vec::with_capacity(n_topics);
    for _ in 0..n_topics {
        let topic = r.string()?.to_owned();
        let n = r.array_len(false, 8)?.unwrap_or(0);
        let mut parts = Vec::with_capacity(n);
        for _ in 0..n {
            let partition = r.i32()?;
            let records = r.nullable_bytes()?.unwrap_or_default();
            let txn = transactional_id.as_ref().and_then(|id| st.txns.get(id)).map(|t| {
                let added = t.partitions.contains(&(topic.clone(), partition));
                (t.clone(), added)
            });
            let (code, base) = match (injected, st.log_mut(&topic, partition)) {
                (Some(code), _) => (code, -1),
                (None, None) => (KafkaCode::UNKNOWN_TOPIC_OR_PARTITION, -1),
                (None, Some(log)) if log.leader != broker => (KafkaCode::NOT_LEADER_OR_FOLLOWER, -1),
                (None, Some(log)) => append(log, records, txn.as_ref().map(|(t, a)| (t, *a))),
            };
            parts.push((partition, code, base));
        }
        results.push((topic, parts));
    }
    if acks == 0 {
        return Ok(false);
    }
    out.put_i32(results.len() as i32);
    for (topic, parts) in &results {
        out.put_string(Some(topic));
        out.put_i32(parts.len() as i32);
        for (partition, code, base) in parts {
            out.put_i32(*partition);
            out.put_i16(code.0);
            out.put_i64(*base);
            out.put_i64(-1); // log_append_time: CreateTime topics
            if version >= 5 {
                out.put_i64(0); // log_start_offset
            }
            if version >= 8 {
                out.put_i32(0); // record_errors
                out.put_string(None); // error_message
            }
        }
    }
    out.put_i32(0); // throttle_time_ms
    Ok(true)
}

/// Fetch v4. `Ok(Some(wait))` when nothing is there yet and the client may wait.
fn fetch(
    st: &State,
    broker: i32,
    body: &[u8],
    out: &mut Vec<u8>,
    last_try: bool,
) -> Result<Option<Duration>> {
    let mut r = Reader::new(body);
    let _replica = r.i32()?;
    let max_wait = r.i32()?;
    let _min_bytes = r.i32()?;
    let _max_bytes = r.i32()?;
    let read_committed = r.i8()? == 1;
    let n_topics = r.array_len(false, 4)?.unwrap_or(0);
    let mut wanted = Vec::new();
    for _ in 0..n_topics {
        let topic = r.string()?.to_owned();
        let n = r.array_len(false, 16)?.unwrap_or(0);
        let mut parts = Vec::with_capacity(n);
        for _ in 0..n {
            parts.push((r.i32()?, r.i64()?, r.i32()?));
        }
        wanted.push((topic, parts));
    }
    let mut any = false;
    let mut body = Vec::new();
    body.put_i32(0); // throttle
    body.put_i32(wanted.len() as i32);
    for (topic, parts) in &wanted {
        body.put_string(Some(topic));
        body.put_i32(parts.len() as i32);
        for &(partition, offset, max_bytes) in parts {
            let (code, high, data) = match st.log(topic, partition) {
                None => (KafkaCode::UNKNOWN_TOPIC_OR_PARTITION, -1, Vec::new()),
                Some(log) if log.leader != broker => (KafkaCode::NOT_LEADER_OR_FOLLOWER, -1, Vec::new()),
                Some(log) if offset < 0 || offset > log.next_offset => {
                    (KafkaCode::OFFSET_OUT_OF_RANGE, log.next_offset, Vec::new())
                }
                Some(log) => {
                    let visible = if read_committed { log.last_stable_offset() } else { log.next_offset };
                    let mut data = Vec::new();
                    for b in log
                        .batches
                        .iter()
                        .filter(|b| b.base_offset + b.count > offset && b.base_offset < visible)
                    {
                        if !data.is_empty() && data.len() + b.bytes.len() > max_bytes.max(0) as usize {
                            break;
                        }
                        data.extend_from_slice(&b.bytes);
                    }
                    (KafkaCode::NONE, log.next_offset, data)
                }
            };
            let (lso, aborted): (i64, Vec<(i64, i64)>) = match st.log(topic, partition) {
                Some(log) if code == KafkaCode::NONE => {
                    (log.last_stable_offset(), if read_committed { log.aborted.clone() } else { Vec::new() })
                }
                _ => (high, Vec::new()),
            };
            any |= !data.is_empty() || code != KafkaCode::NONE;
            body.put_i32(partition);
            body.put_i16(code.0);
            body.put_i64(high);
            body.put_i64(lso);
            if read_committed {
                body.put_i32(aborted.len() as i32);
                for (pid, first) in &aborted {
                    body.put_i64(*pid);
                    body.put_i64(*first);
                }
            } else {
                body.put_i32(-1); // aborted_transactions: null
            }
            body.put_bytes(Some(&data));
        }
    }
    if !any && !last_try && max_wait > 0 {
        return Ok(Some(Duration::from_millis(max_wait.min(500) as u64)));
    }
    out.extend_from_slice(&body);
    Ok(None)
}

fn list_offsets(st: &State, broker: i32, body: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let mut r = Reader::new(body);
    let _replica = r.i32()?;
    let n_topics = r.array_len(false, 4)?.unwrap_or(0);
    out.put_i32(n_topics as i32);
    for _ in 0..n_topics {
        let topic = r.string()?.to_owned();
        let n = r.array_len(false, 12)?.unwrap_or(0);
        out.put_string(Some(&topic));
        out.put_i32(n as i32);
        for _ in 0..n {
            let partition = r.i32()?;
            let ts = r.i64()?;
            let (code, offset) = match st.log(&topic, partition) {
                None => (KafkaCode::UNKNOWN_TOPIC_OR_PARTITION, -1),
                Some(log) if log.leader != broker => (KafkaCode::NOT_LEADER_OR_FOLLOWER, -1),
                Some(log) => match ts {
                    -1 => (KafkaCode::NONE, log.next_offset),
                    -2 => (KafkaCode::NONE, 0),
                    ts => {
                        let at = log.batches.iter().flat_map(|b| &b.records).find(|r| r.timestamp >= ts);
                        (KafkaCode::NONE, at.map_or(log.next_offset, |r| r.offset))
                    }
                },
            };
            out.put_i32(partition);
            out.put_i16(code.0);
            out.put_i64(-1); // timestamp
            out.put_i64(offset);
        }
    }
    Ok(())
}

fn init_producer_id(st: &mut State, body: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let mut r = Reader::new(body);
    let transactional_id = r.nullable_string()?.map(str::to_owned);
    let _timeout = r.i32()?;
    out.put_i32(0); // throttle
    if let Some(code) = st.injected(ApiKey::InitProducerId) {
        out.put_i16(code.0);
        out.put_i64(-1);
        out.put_i16(-1);
        return Ok(());
    }
    let (pid, epoch) = match transactional_id {
        None => {
            st.next_producer_id += 1;
            (st.next_producer_id - 1, 0)
        }
        Some(id) => {
            // A new instance of this id: abort what the previous one left open, fence it.
            if st.txns.contains_key(&id) {
                finish_txn(st, &id, false);
            }
            let next = st.next_producer_id;
            let t = st.txns.entry(id).or_insert_with(|| TxnState {
                producer_id: next,
                epoch: -1,
                ..TxnState::default()
            });
            if t.producer_id == next {
                st.next_producer_id += 1;
            }
            t.epoch += 1;
            (t.producer_id, t.epoch)
        }
    };
    out.put_i16(0);
    out.put_i64(pid);
    out.put_i16(epoch);
    Ok(())
}

fn find_coordinator(st: &mut State, version: i16, body: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let mut r = Reader::new(body);
    let _key = r.string()?;
    if version >= 1 {
        let _key_type = r.i8()?;
        out.put_i32(0); // throttle
    }
    let code = st.injected(ApiKey::FindCoordinator).unwrap_or(KafkaCode::NONE);
    let coordinator = st.brokers.iter().find(|b| b.up).map(|b| (b.id, b.port));
    let (code, (id, port)) = match coordinator {
        Some(c) if code.is_ok() => (code, c),
        Some(_) => (code, (-1, 0)),
        None => (KafkaCode::COORDINATOR_NOT_AVAILABLE, (-1, 0)),
    };
    out.put_i16(code.0);
    if version >= 1 {
        out.put_string(None); // error_message
    }
    out.put_i32(id);
    out.put_string(Some("127.0.0.1"));
    out.put_i32(i32::from(port));
    Ok(())
}

/// Checks a transactional request's id, producer id and epoch against the coordinator's state.
fn txn_check(st: &State, id: &str, pid: i64, epoch: i16) -> KafkaCode {
    match st.txns.get(id) {
        None => KafkaCode::INVALID_PRODUCER_ID_MAPPING,
        Some(t) if t.producer_id != pid => KafkaCode::INVALID_PRODUCER_ID_MAPPING,
        Some(t) if epoch < t.epoch => KafkaCode::PRODUCER_FENCED,
        Some(t) if epoch > t.epoch => KafkaCode::INVALID_PRODUCER_EPOCH,
        Some(_) => KafkaCode::NONE,
    }
}

fn add_partitions(st: &mut State, body: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let mut r = Reader::new(body);
    let id = r.string()?.to_owned();
    let (pid, epoch) = (r.i64()?, r.i16()?);
    let n = r.array_len(false, 4)?.unwrap_or(0);
    let mut wanted = Vec::new();
    for _ in 0..n {
        let topic = r.string()?.to_owned();
        let m = r.array_len(false, 4)?.unwrap_or(0);
        let parts: Vec<i32> = (0..m).map(|_| r.i32()).collect::<Result<_>>()?;
        wanted.push((topic, parts));
    }
    let check = st.injected(ApiKey::AddPartitionsToTxn).unwrap_or_else(|| txn_check(st, &id, pid, epoch));
    out.put_i32(0); // throttle
    out.put_i32(wanted.len() as i32);
    for (topic, parts) in &wanted {
        out.put_string(Some(topic));
        out.put_i32(parts.len() as i32);
        for &p in parts {
            let code = if !check.is_ok() {
                check
            } else if st.log(topic, p).is_none() {
                KafkaCode::UNKNOWN_TOPIC_OR_PARTITION
            } else {
                st.txns.get_mut(&id).expect("checked").partitions.insert((topic.clone(), p));
                KafkaCode::NONE
            };
            out.put_i32(p);
            out.put_i16(code.0);
        }
    }
    Ok(())
}

fn add_offsets(st: &mut State, body: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let mut r = Reader::new(body);
    let id = r.string()?.to_owned();
    let (pid, epoch) = (r.i64()?, r.i16()?);
    let _group = r.string()?;
    let code = st.injected(ApiKey::AddOffsetsToTxn).unwrap_or_else(|| txn_check(st, &id, pid, epoch));
    out.put_i32(0); // throttle
    out.put_i16(code.0);
    Ok(())
}

fn txn_offset_commit(st: &mut State, version: i16, body: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let mut r = Reader::new(body);
    let id = r.string()?.to_owned();
    let group = r.string()?.to_owned();
    let (pid, epoch) = (r.i64()?, r.i16()?);
    let n = r.array_len(false, 4)?.unwrap_or(0);
    let mut offsets = Vec::new();
    for _ in 0..n {
        let topic = r.string()?.to_owned();
        let m = r.array_len(false, 12)?.unwrap_or(0);
        let mut parts = Vec::with_capacity(m);
        for _ in 0..m {
            let partition = r.i32()?;
            let offset = r.i64()?;
            if version >= 2 {
                let _leader_epoch = r.i32()?;
            }
            let _metadata = r.nullable_string()?;
            parts.push((partition, offset));
        }
        offsets.push((topic, parts));
    }
    let code = st.injected(ApiKey::TxnOffsetCommit).unwrap_or_else(|| txn_check(st, &id, pid, epoch));
    out.put_i32(0); // throttle
    out.put_i32(offsets.len() as i32);
    for (topic, parts) in &offsets {
        out.put_string(Some(topic));
        out.put_i32(parts.len() as i32);
        for &(p, offset) in parts {
            if code.is_ok() {
                st.txns
                    .get_mut(&id)
                    .expect("checked")
                    .offsets
                    .insert((group.clone(), topic.clone(), p), offset);
            }
            out.put_i32(p);
            out.put_i16(code.0);
        }
    }
    Ok(())
}

fn end_txn(st: &mut State, body: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let mut r = Reader::new(body);
    let id = r.string()?.to_owned();
    let (pid, epoch) = (r.i64()?, r.i16()?);
    let commit = r.bool()?;
    let code = st.injected(ApiKey::EndTxn).unwrap_or_else(|| txn_check(st, &id, pid, epoch));
    if code.is_ok() {
        finish_txn(st, &id, commit);
    }
    out.put_i32(0); // throttle
    out.put_i16(code.0);
    Ok(())
}

/// Ends `id`'s transaction: a marker in each of its partitions, its batches committed or
/// aborted, its offsets committed with it.
fn finish_txn(st: &mut State, id: &str, commit: bool) {
    let Some(t) = st.txns.get_mut(id) else { return };
    let partitions = std::mem::take(&mut t.partitions);
    let offsets = std::mem::take(&mut t.offsets);
    let (pid, epoch) = (t.producer_id, t.epoch);
    let outcome = if commit { TxnOutcome::Committed } else { TxnOutcome::Aborted };
    for (topic, partition) in partitions {
        let Some(log) = st.log_mut(&topic, partition) else { continue };
        let first = log
            .batches
            .iter()
            .find(|b| b.producer_id == pid && b.txn == TxnOutcome::Open)
            .map(|b| b.base_offset);
        for b in log.batches.iter_mut().filter(|b| b.producer_id == pid && b.txn == TxnOutcome::Open) {
            b.txn = outcome;
        }
        if let (false, Some(first)) = (commit, first) {
            log.aborted.push((pid, first));
        }
        let base_offset = log.next_offset;
        let bytes = control_batch(base_offset, pid, epoch, commit);
        log.next_offset += 1;
        log.batches.push(StoredBatch {
            base_offset,
            count: 1,
            bytes,
            records: Vec::new(),
            producer_id: pid,
            txn: outcome,
        });
    }
    if commit {
        st.group_offsets.extend(offsets);
    }
}

/// A v2 control batch holding one commit or abort marker.
fn control_batch(base_offset: i64, pid: i64, epoch: i16, commit: bool) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut record = Vec::new();
    record.put_i8(0); // attributes
    record.put_varlong(0); // timestamp delta
    record.put_varint(0); // offset delta
    let key = [0u8, 0, 0, u8::from(commit)]; // version 0, type: 0 abort, 1 commit
    record.put_varint(key.len() as i32);
    record.extend_from_slice(&key);
    let value = [0u8, 0, 0, 0, 0, 0]; // version 0, coordinator epoch 0
    record.put_varint(value.len() as i32);
    record.extend_from_slice(&value);
    record.put_varint(0); // headers
    let mut after_crc = Vec::new();
    after_crc.put_i16(TRANSACTIONAL | CONTROL);
    after_crc.put_i32(0); // last offset delta
    after_crc.put_i64(now);
    after_crc.put_i64(now);
    after_crc.put_i64(pid);
    after_crc.put_i16(epoch);
    after_crc.put_i32(-1); // base sequence
    after_crc.put_i32(1); // records
    after_crc.put_varint(record.len() as i32);
    after_crc.extend_from_slice(&record);
    let mut b = Vec::with_capacity(after_crc.len() + 21);
    b.put_i64(base_offset);
    b.put_i32((after_crc.len() + 9) as i32); // batch length: from partition leader epoch on
    b.put_i32(0); // partition leader epoch
    b.put_i8(2); // magic
    b.put_u32(crc32c::crc32c(&after_crc));
    b.extend_from_slice(&after_crc);
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::CompressionType;
    use crate::protocol::record_batch::{ProducerState, RecordBatchBuilder};

    fn batch(pid: i64, epoch: i16, seq: i32, records: usize) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new(Vec::new(), 1000);
        for i in 0..records {
            b.append(1000 + i as i64, None, Some(b"v"), &[]);
        }
        let p = ProducerState {
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            ..ProducerState::NONE
        };
        b.seal(CompressionType::None, None, p).unwrap().bytes().to_vec()
    }

    #[test]
    fn sequences_are_checked_per_producer_and_epoch() {
        let mut log = PartitionLog::default();
        assert_eq!(append(&mut log, &batch(7, 0, 0, 3), None), (KafkaCode::NONE, 0));
        assert_eq!(append(&mut log, &batch(7, 0, 3, 2), None), (KafkaCode::NONE, 3));
        // The same batch again: the original's offset, nothing stored.
        assert_eq!(append(&mut log, &batch(7, 0, 3, 2), None), (KafkaCode::NONE, 3));
        assert_eq!(log.next_offset, 5);
        // A gap, and a sequence that is not 0 for a new producer.
        assert_eq!(append(&mut log, &batch(7, 0, 9, 1), None).0, KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
        assert_eq!(append(&mut log, &batch(8, 0, 4, 1), None).0, KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
        // A bumped epoch starts at 0 again; the old epoch is then stale.
        assert_eq!(append(&mut log, &batch(7, 1, 0, 1), None), (KafkaCode::NONE, 5));
        assert_eq!(append(&mut log, &batch(7, 0, 5, 1), None).0, KafkaCode::INVALID_PRODUCER_EPOCH);
        assert_eq!(log.next_offset, 6);
        // Without a producer id nothing is checked.
        assert_eq!(append(&mut log, &batch(-1, -1, -1, 2), None), (KafkaCode::NONE, 6));
    }

    #[test]
    fn stored_batches_carry_their_assigned_offsets_and_a_bad_crc_is_refused() {
        let mut log = PartitionLog::default();
        append(&mut log, &batch(-1, -1, -1, 2), None);
        append(&mut log, &batch(-1, -1, -1, 1), None);
        let second = &log.batches[1];
        assert_eq!(i64::from_be_bytes(second.bytes[..8].try_into().unwrap()), 2);
        assert_eq!(decode_batches(&second.bytes).unwrap()[0].base_offset, 2, "still a valid batch");
        let mut bad = batch(-1, -1, -1, 1);
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        assert_eq!(append(&mut log, &bad, None).0, KafkaCode::CORRUPT_MESSAGE);
        assert_eq!(append(&mut log, &[], None).0, KafkaCode::CORRUPT_MESSAGE);
    }

    #[test]
    fn markers_are_valid_control_batches() {
        for commit in [false, true] {
            let bytes = control_batch(7, 42, 3, commit);
            let b = &decode_batches(&bytes).expect("CRC and layout check out")[0];
            assert_eq!((b.base_offset, b.producer_id, b.producer_epoch), (7, 42, 3));
            assert_eq!(b.attributes & (TRANSACTIONAL | CONTROL), TRANSACTIONAL | CONTROL);
            assert_eq!(b.records[0].key.as_deref(), Some(&[0, 0, 0, u8::from(commit)][..]));
        }
    }

    #[test]
    fn truncated_requests_get_no_answer_and_no_panic() {
        let mut st = State { next_producer_id: 1, auto_create_partitions: 1, ..State::default() };
        st.brokers.push(super::super::BrokerState { id: 1, port: 1, up: true, delay: Duration::ZERO });
        let mut frame = Vec::new();
        for api in [0i16, 1, 2, 3, 18, 22, 99] {
            for version in [0i16, 1, 3, 4, 8] {
                frame.clear();
                frame.put_i16(api);
                frame.put_i16(version);
                frame.put_i32(1);
                frame.put_string(Some("c"));
                for cut in 0..6 {
                    let mut f = frame.clone();
                    f.extend(std::iter::repeat_n(0x7f, cut));
                    let _ = handle(&mut st, 1, &f, true);
                }
            }
        }
    }
}
