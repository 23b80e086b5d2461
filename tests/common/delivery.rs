//! Checking what an independent consumer read against what a test sent: nothing lost, nothing
//! duplicated (or duplicates counted where the scenario allows them), and, per partition, each
//! writer's records in the order it sent them.
//!
//! Records carry their identity in the value: `w<writer>-<seq>` (see [`value`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{batches, Broker, Consumed};

/// The value of writer `writer`'s record number `seq`.
pub fn value(writer: u32, seq: u32) -> String {
    format!("w{writer}-{seq:07}")
}

/// Parses a value made by [`value`]; panics on anything else (an unexpected record).
pub fn parse(v: Option<&[u8]>) -> (u32, u32) {
    let s = std::str::from_utf8(v.expect("a record without a value")).expect("a non-UTF-8 value");
    let (w, seq) = s
        .strip_prefix('w')
        .and_then(|r| r.split_once('-'))
        .unwrap_or_else(|| panic!("unexpected value {s:?}: not w<writer>-<seq>"));
    (w.parse().expect("writer number"), seq.parse().expect("sequence number"))
}

/// What a test sent: `(partition, writer, seq)` for every record whose future resolved Ok.
pub type SentRecords = Vec<(i32, u32, u32)>;

/// What the consumer read, compared with what was sent.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Records read more than once (counting each extra copy).
    pub duplicates: usize,
}

/// Checks `got` (in per-partition offset order, as `consume` returns it) against `sent`:
/// - every sent record is read, on the partition its future named (nothing lost, nothing misrouted);
/// - nothing is read that was not sent;
/// - per partition and writer, the first occurrences appear in increasing sequence (send order);
/// - when `allow_duplicates` is false, no record is read twice.
///
/// `what` prefixes every message.
pub fn check(what: &str, sent: &SentRecords, got: &[Consumed], allow_duplicates: bool) -> Verdict {
    let expected: HashMap<(u32, u32), i32> = sent.iter().map(|&(p, w, s)| ((w, s), p)).collect();
    assert_eq!(expected.len(), sent.len(), "{what}: the test sent a record identity twice");
    let mut seen: HashSet<(u32, u32)> = HashSet::new();
    let mut last: BTreeMap<(i32, u32), u32> = BTreeMap::new();
    let mut duplicates = Vec::new();
    for r in got {
        let (w, s) = parse(r.value.as_deref());
        let p = *expected
            .get(&(w, s))
            .unwrap_or_else(|| panic!("{what}: read {} which was never acknowledged", value(w, s)));
        assert_eq!(
            r.partition,
            p,
            "{what}: {} read from partition {} but acknowledged on {p}",
            value(w, s),
            r.partition
        );
        if !seen.insert((w, s)) {
            duplicates.push((r.partition, r.offset, value(w, s)));
            continue;
        }
        if let Some(prev) = last.insert((p, w), s) {
            assert!(
                prev < s,
                "{what}: partition {p}: writer {w}'s record {s} (offset {}) was stored after its record {prev}: \
                 send order not kept",
                r.offset
            );
        }
    }
    let missing: Vec<String> = sent
        .iter()
        .filter(|(_, w, s)| !seen.contains(&(*w, *s)))
        .map(|(_, w, s)| value(*w, *s))
        .take(10)
        .collect();
    assert!(missing.is_empty(), "{what}: acknowledged but never read (first 10): {missing:?}");
    if !allow_duplicates {
        assert!(
            duplicates.is_empty(),
            "{what}: records stored more than once: {:?}",
            &duplicates[..duplicates.len().min(10)]
        );
    }
    Verdict { duplicates: duplicates.len() }
}

/// The number of records stored in partitions `0..partitions` of `topic` (from the stored batch
/// headers, read with a raw Fetch from each leader), for scenarios where retries may have stored
/// duplicates and so the count to read is not known in advance.
pub fn stored_records(b: &Broker, topic: &str, partitions: i32) -> usize {
    (0..partitions)
        .map(|p| {
            batches(b, topic, p).iter().filter(|x| !x.control).map(|x| x.records as usize).sum::<usize>()
        })
        .sum()
}

/// Sends records `seqs` of `writer`, record `seq` to partition `seq % 3`, calling `during(seq)`
/// before each send and pausing 1 ms every 20 records, so that faults injected by `during` land
/// while batches are queued and in flight.
pub fn send_stream(
    p: &kafka_blocking::Producer,
    topic: &str,
    writer: u32,
    seqs: std::ops::Range<u32>,
    mut during: impl FnMut(u32),
) -> Vec<(i32, u32, kafka_blocking::SendFuture)> {
    seqs.map(|seq| {
        during(seq);
        if seq % 20 == 19 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let partition = (seq % super::faults::PARTITIONS as u32) as i32;
        let f = p
            .send(kafka_blocking::Record::new(topic).value(&value(writer, seq)).partition(partition))
            .unwrap_or_else(|e| panic!("send {seq}: {e}"));
        (partition, seq, f)
    })
    .collect()
}

/// Waits for every future; each must succeed on the partition it was sent to. Returns what was
/// acknowledged.
pub fn wait_all(
    what: &str,
    writer: u32,
    futures: Vec<(i32, u32, kafka_blocking::SendFuture)>,
) -> SentRecords {
    futures
        .into_iter()
        .map(|(p, seq, f)| {
            let md = f.wait().unwrap_or_else(|e| {
                panic!("{what}: writer {writer} record {seq} (partition {p}) failed: {e:?}")
            });
            assert_eq!(md.partition(), p, "{what}: writer {writer} record {seq}");
            (p, writer, seq)
        })
        .collect()
}
