//! Choosing a partition: the Java client's murmur2 rule for keyed records and the uniform
//! sticky partitioner (KIP-794) for records without a key.
//!
//! Runs on: application threads (inside `send`). The sticky state is a pair of atomics per
//! topic, so concurrent senders never take a lock here.

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

/// What a custom [`Partitioner`] sees of a record and its topic.
#[derive(Debug, Clone, Copy)]
pub struct PartitionerContext<'a> {
    /// The record's topic.
    pub topic: &'a str,
    /// The record's key, if any.
    pub key: Option<&'a [u8]>,
    /// The record's value, if any.
    pub value: Option<&'a [u8]>,
    /// How many partitions the topic has.
    pub num_partitions: i32,
    /// The partitions that have a leader right now.
    pub available_partitions: &'a [i32],
}

/// A custom partitioner (Java's `partitioner.class`), set with
/// [`ProducerConfig::partitioner`](crate::ProducerConfig::partitioner).
///
/// Runs on: the application thread that calls `send`, for records without an explicit
/// partition. Return `None` to fall back to the built-in rule (murmur2 for keys, uniform sticky
/// otherwise). A partition outside `0..num_partitions` fails the `send` with `InvalidRecord`.
///
/// ```
/// use kafka_blocking::partitioner::{Partitioner, PartitionerContext};
///
/// /// Records whose key starts with "eu-" go to partition 0, the rest to the others.
/// struct RegionPartitioner;
/// impl Partitioner for RegionPartitioner {
///     fn partition(&self, ctx: &PartitionerContext<'_>) -> Option<i32> {
///         let key = ctx.key?;
///         if key.starts_with(b"eu-") || ctx.num_partitions == 1 {
///             Some(0)
///         } else {
///             let rest = ctx.num_partitions - 1;
///             Some(1 + kafka_blocking::partitioner::partition_for_key(key, rest))
///         }
///     }
/// }
/// ```
pub trait Partitioner: Send + Sync {
    /// The partition for a record, or `None` for the built-in choice.
    fn partition(&self, ctx: &PartitionerContext<'_>) -> Option<i32>;
}

/// The 32-bit murmur2 hash exactly as the Java client computes it
/// (`org.apache.kafka.common.utils.Utils.murmur2`), seed `0x9747b28c`.
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = 0x9747_b28c ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() == 3 {
        h ^= (tail[2] as u32) << 16;
    }
    if tail.len() >= 2 {
        h ^= (tail[1] as u32) << 8;
    }
    if !tail.is_empty() {
        h ^= tail[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Java's `Utils.toPositive`: clears the sign bit.
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition the Java client's default partitioner picks for `key` among
/// `num_partitions` partitions: `toPositive(murmur2(key)) % numPartitions`.
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> i32 {
    debug_assert!(num_partitions > 0);
    to_positive(murmur2(key)) % num_partitions.max(1)
}

/// A record batch's header, which counts towards `batch.size` but not towards a record's bytes.
const BATCH_OVERHEAD: usize = crate::protocol::record_batch::BATCH_HEADER_LEN;

/// Per-topic state of the uniform sticky partitioner: stay on one partition until its batch
/// is full (see [`StickyPartition::on_append`]), then move to another partition chosen at
/// random among those with a leader.
#[derive(Debug)]
pub(crate) struct StickyPartition {
    current: AtomicI32,
    produced: AtomicUsize,
}

impl StickyPartition {
    pub(crate) fn new() -> Self {
        StickyPartition { current: AtomicI32::new(-1), produced: AtomicUsize::new(0) }
    }

    /// The partition for the next keyless record. `available` lists partitions with a leader;
    /// when empty, any of `num_partitions` may be chosen. `load(p)` is partition `p`'s queue
    /// length for adaptive partitioning (`None`: off).
    pub(crate) fn partition(
        &self,
        available: &[i32],
        num_partitions: i32,
        load: &dyn Fn(i32) -> Option<u32>,
    ) -> i32 {
        let cur = self.current.load(Ordering::Relaxed);
        let valid = cur >= 0 && cur < num_partitions && (available.is_empty() || available.contains(&cur));
        if valid {
            return cur;
        }
        self.switch(cur, available, num_partitions, load)
    }

    /// Records that `bytes` went to `partition`'s open batch, which is now full or not. As Java's
    /// `BuiltInPartitioner` (KIP-794): moves on when the batch is full and the bytes sent here
    /// since the last switch fill a batch (its header included), or after twice `batch_size`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_append(
        &self,
        partition: i32,
        bytes: usize,
        batch_full: bool,
        batch_size: usize,
        available: &[i32],
        num_partitions: i32,
        load: &dyn Fn(i32) -> Option<u32>,
    ) {
        if self.current.load(Ordering::Relaxed) != partition {
            return;
        }
        let total = self.produced.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let batch_size = batch_size.max(1);
        let filled = batch_full && total + BATCH_OVERHEAD + bytes > batch_size;
        if filled || total >= 2 * batch_size {
            self.switch(partition, available, num_partitions, load);
        }
    }

    /// Moves to another partition: at random among the available others, each weighed (with
    /// adaptive partitioning, Java's KIP-794 rule) by how much shorter its queue is than the
    /// longest: weight = longest + 1 - its own, so idle partitions of slow brokers are avoided.
    fn switch(
        &self,
        from: i32,
        available: &[i32],
        num_partitions: i32,
        load: &dyn Fn(i32) -> Option<u32>,
    ) -> i32 {
        let next = match available.len() {
            0 => (random_u32() % num_partitions.max(1) as u32) as i32,
            1 => available[0],
            _ => weighted_pick(available, from, load),
        };
        if self.current.compare_exchange(from, next, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            self.produced.store(0, Ordering::Relaxed);
            next
        } else {
            self.current.load(Ordering::Relaxed)
        }
    }
}

/// The load of a partition whose leader has not taken its batches for longer than
/// `partitioner.availability.timeout.ms`: adaptive partitioning does not pick it.
pub(crate) const UNAVAILABLE: u32 = u32::MAX;

/// A random partition of `available` other than `from`, weighed by queue lengths when `load`
/// gives them (see [`StickyPartition::switch`]); partitions whose load is [`UNAVAILABLE`] are
/// left out while any other remains.
fn weighted_pick(available: &[i32], from: i32, load: &dyn Fn(i32) -> Option<u32>) -> i32 {
    let others = available.iter().copied().filter(|&p| p != from);
    let mut loads: Vec<(i32, Option<u32>)> = others.map(|p| (p, load(p))).collect();
    if loads.iter().any(|(_, l)| *l != Some(UNAVAILABLE)) {
        loads.retain(|(_, l)| *l != Some(UNAVAILABLE));
    } else {
        // Every other partition is unavailable: pick among them, unweighted.
        loads.iter_mut().for_each(|(_, l)| *l = None);
    }
    if loads.is_empty() {
        return from;
    }
    let longest = loads.iter().filter_map(|(_, l)| *l).max();
    let weight = |l: Option<u32>| match (l, longest) {
        (Some(l), Some(max)) => u64::from(max - l) + 1,
        _ => 1,
    };
    let total: u64 = loads.iter().map(|(_, l)| weight(*l)).sum();
    let mut r = u64::from(random_u32()) % total;
    for (p, l) in &loads {
        let w = weight(*l);
        if r < w {
            return *p;
        }
        r -= w;
    }
    loads[loads.len() - 1].0
}

/// A small per-thread xorshift generator: good enough to spread partitions, no locking.
fn random_u32() -> u32 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
            let addr = &t as *const u64 as u64;
            (t ^ addr.rotate_left(32)) | 1
        });
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 32) as u32
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from the Java client's UtilsTest.testMurmur2.
    #[test]
    fn murmur2_matches_java_vectors() {
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
            (b"abc", 479470107),
        ];
        for (input, want) in cases {
            assert_eq!(murmur2(input), *want, "murmur2({:?})", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn key_partition_is_positive_modulo() {
        for n in 1..20 {
            for k in 0..200 {
                let key = format!("key-{k}");
                let p = partition_for_key(key.as_bytes(), n);
                assert!((0..n).contains(&p));
                assert_eq!(p, (murmur2(key.as_bytes()) & 0x7fffffff) % n);
            }
        }
    }

    #[test]
    fn sticky_stays_then_switches_after_batch_size() {
        let s = StickyPartition::new();
        let avail = [0, 1, 2, 3];
        let first = s.partition(&avail, 4, &|_| None);
        // A 1000-byte batch holds 9 records of 100 bytes after its header.
        for _ in 0..8 {
            assert_eq!(s.partition(&avail, 4, &|_| None), first);
            s.on_append(first, 100, false, 1000, &avail, 4, &|_| None);
        }
        s.on_append(first, 100, true, 1000, &avail, 4, &|_| None);
        let second = s.partition(&avail, 4, &|_| None);
        assert_ne!(first, second, "switches when the batch is full");
    }

    #[test]
    fn a_batch_that_was_nearly_full_before_the_switch_does_not_end_the_stint() {
        let s = StickyPartition::new();
        let avail = [0, 1, 2, 3];
        let p = s.partition(&avail, 4, &|_| None);
        // The partition's open batch filled up after one record of this stint (keyed records
        // had filled it before): the stint goes on into the next batch.
        s.on_append(p, 100, true, 1000, &avail, 4, &|_| None);
        assert_eq!(s.partition(&avail, 4, &|_| None), p);
        // Batches that never report full (a record larger than the rest) end it at 2x batch.size.
        for _ in 0..19 {
            s.on_append(p, 100, false, 1000, &avail, 4, &|_| None);
        }
        assert_ne!(s.partition(&avail, 4, &|_| None), p, "switches after twice batch.size");
    }

    #[test]
    fn adaptive_switches_favour_partitions_with_shorter_queues() {
        // Partition 3's broker is slow: 9 batches wait there, none elsewhere. Leaving 0, the
        // weights of 1, 2 and 3 are 10, 10 and 1: partition 3 gets about 1 switch in 21.
        let load = |p: i32| Some(if p == 3 { 9 } else { 0 });
        let mut to_slow = 0;
        for _ in 0..3100 {
            if weighted_pick(&[0, 1, 2, 3], 0, &load) == 3 {
                to_slow += 1;
            }
        }
        assert!(
            (80..=230).contains(&to_slow),
            "{to_slow} of 3100 switches went to the slow partition (~148 expected)"
        );
        // Equal queues (or adaptive off): uniform over the others, never the one left.
        let mut seen = [0u32; 4];
        for _ in 0..3000 {
            seen[weighted_pick(&[0, 1, 2, 3], 2, &|_| Some(4)) as usize] += 1;
            seen[weighted_pick(&[0, 1, 2, 3], 2, &|_| None) as usize] += 1;
        }
        assert_eq!(seen[2], 0, "a switch moves");
        assert!(
            seen.iter().enumerate().filter(|(p, _)| *p != 2).all(|(_, n)| (1700..=2300).contains(n)),
            "{seen:?}"
        );
    }

    #[test]
    fn sticky_avoids_partitions_without_leader() {
        let s = StickyPartition::new();
        for _ in 0..50 {
            let p = s.partition(&[2], 4, &|_| None);
            assert_eq!(p, 2);
            s.on_append(p, 10_000, true, 100, &[2], 4, &|_| None);
        }
    }

    #[test]
    fn switching_leaves_out_unavailable_partitions_unless_all_are() {
        let load = |p: i32| Some(if p == 1 || p == 2 { UNAVAILABLE } else { 0 });
        for _ in 0..200 {
            assert_eq!(weighted_pick(&[0, 1, 2, 3], 0, &load), 3);
        }
        let all_out = |_: i32| Some(UNAVAILABLE);
        let picks: std::collections::HashSet<i32> =
            (0..200).map(|_| weighted_pick(&[0, 1, 2], 0, &all_out)).collect();
        assert_eq!(picks, [1, 2].into(), "all unavailable: any other partition, unweighted");
    }
}
