//! Each application thread's cache of the topics it sends to, so that `send` to a known topic
//! touches nothing shared but the partition's own batch queue: no metadata lock, no hash map of
//! the producer's, no reference count (Java resolves a topic once per send; this resolves it
//! once per metadata change).
//!
//! An entry holds the topic's metadata (`TopicInfo`), its accumulator queues and the partition
//! queues looked up so far; it is valid while the producer's metadata generation is the one it
//! was made at. Entries name their producer by a number no other producer gets, so a producer
//! made at the address of a dropped one never sees its entries. A thread keeps at most
//! [`ENTRIES`] topics, the least recently used going first.
//!
//! Threads: application threads, each its own cache (thread-local). A send made while the
//! cache is in use on the same thread (from a custom partitioner) looks the topic up directly.

use super::accumulator::{Accumulator, PartitionQueue, TopicQueues};
use crate::network::metadata::TopicInfo;
use std::cell::RefCell;
use std::sync::Arc;

/// Topics one thread keeps.
const ENTRIES: usize = 8;

pub(crate) struct Entry {
    producer: u64,
    generation: u64,
    name: Box<str>,
    pub(crate) info: Arc<TopicInfo>,
    pub(crate) queues: Arc<TopicQueues>,
    partitions: Vec<Option<Arc<PartitionQueue>>>,
    last_used: u64,
}

impl Entry {
    pub(crate) fn new(
        producer: u64,
        generation: u64,
        name: &str,
        info: Arc<TopicInfo>,
        queues: Arc<TopicQueues>,
    ) -> Entry {
        Entry { producer, generation, name: name.into(), info, queues, partitions: Vec::new(), last_used: 0 }
    }

    /// The topic's metadata and queues, and the queue of `partition` (looked up in the
    /// accumulator the first time).
    pub(crate) fn parts(
        &mut self,
        acc: &Accumulator,
        partition: i32,
    ) -> (&TopicInfo, &TopicQueues, &PartitionQueue) {
        let idx = partition as usize;
        if self.partitions.len() <= idx {
            self.partitions.resize(idx + 1, None);
        }
        let queues = &self.queues;
        let q = self.partitions[idx].get_or_insert_with(|| acc.partition_queue(queues, partition));
        (&self.info, &self.queues, q)
    }
}

#[derive(Default)]
struct Cache {
    entries: Vec<Entry>,
    clock: u64,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// Runs `f` with the calling thread's entry for `topic` of `producer`, refreshed with `fill`
/// when missing or made before metadata `generation`; `f` gets `None` when the cache is in use
/// on this thread already (a reentrant send), and must then look the topic up itself.
#[inline(always)]
pub(crate) fn with_entry<R>(
    producer: u64,
    generation: u64,
    topic: &str,
    fill: impl FnOnce() -> crate::error::Result<Entry>,
    f: impl FnOnce(Option<&mut Entry>) -> crate::error::Result<R>,
) -> crate::error::Result<R> {
    CACHE.with(|cell| {
        let Ok(mut cache) = cell.try_borrow_mut() else { return f(None) };
        cache.clock += 1;
        let clock = cache.clock;
        let found = cache.entries.iter().position(|e| e.producer == producer && &*e.name == topic);
        let idx = match found {
            Some(i) if cache.entries[i].generation == generation => i,
            found => {
                let entry = fill()?;
                match found {
                    Some(i) => {
                        cache.entries[i] = entry;
                        i
                    }
                    None if cache.entries.len() < ENTRIES => {
                        cache.entries.push(entry);
                        cache.entries.len() - 1
                    }
                    None => {
                        let oldest = (0..cache.entries.len())
                            .min_by_key(|&i| cache.entries[i].last_used)
                            .expect("the cache is full");
                        cache.entries[oldest] = entry;
                        oldest
                    }
                }
            }
        };
        let entry = &mut cache.entries[idx];
        entry.last_used = clock;
        f(Some(entry))
    })
}

/// Forgets this thread's entries of `producer` (it is closing), so their queues are freed.
pub(crate) fn forget(producer: u64) {
    CACHE.with(|cell| {
        if let Ok(mut cache) = cell.try_borrow_mut() {
            cache.entries.retain(|e| e.producer != producer);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::waker::Waker;
    use crate::producer::accumulator::AccumulatorConfig;
    use std::cell::Cell;
    use std::time::Duration;

    fn acc() -> Accumulator {
        let cfg = AccumulatorConfig {
            batch_size: 1024,
            linger: Duration::ZERO,
            max_block: Duration::ZERO,
            adaptive: true,
            compression: crate::compression::CompressionType::None,
            compression_level: None,
            transactional: false,
        };
        Accumulator::new(cfg, 1 << 20, Waker::new().unwrap(), Vec::new())
    }

    fn info(partitions: usize) -> Arc<TopicInfo> {
        Arc::new(TopicInfo {
            id: [0; 16],
            partitions: vec![
                crate::network::metadata::PartitionInfo { leader: 1, leader_epoch: 0 };
                partitions
            ],
            available: vec![],
        })
    }

    /// Looks `topic` up for `producer` at `generation`; returns how many times it was filled.
    fn lookup(a: &Accumulator, producer: u64, generation: u64, topic: &str, fills: &Cell<u32>) -> usize {
        with_entry(
            producer,
            generation,
            topic,
            || {
                fills.set(fills.get() + 1);
                Ok(Entry::new(producer, generation, topic, info(3), a.topic_queues(topic)))
            },
            |e| Ok(e.expect("not reentrant").info.partitions.len()),
        )
        .unwrap()
    }

    #[test]
    fn an_entry_serves_until_the_metadata_changes_and_only_its_producer() {
        let a = acc();
        let fills = Cell::new(0);
        assert_eq!(lookup(&a, 901, 1, "t", &fills), 3);
        assert_eq!(lookup(&a, 901, 1, "t", &fills), 3);
        assert_eq!(fills.get(), 1, "the second send to the topic is served from the cache");
        lookup(&a, 901, 2, "t", &fills);
        assert_eq!(fills.get(), 2, "a metadata change refreshes the entry");
        lookup(&a, 902, 2, "t", &fills);
        assert_eq!(fills.get(), 3, "another producer has entries of its own");
        forget(901);
        lookup(&a, 901, 2, "t", &fills);
        assert_eq!(fills.get(), 4, "forgotten with its producer");
        forget(901);
        forget(902);
    }

    #[test]
    fn a_thread_keeps_the_most_recently_used_topics() {
        let a = acc();
        let fills = Cell::new(0);
        for i in 0..ENTRIES + 1 {
            lookup(&a, 903, 1, &format!("t{i}"), &fills);
        }
        assert_eq!(fills.get() as usize, ENTRIES + 1);
        // t0 was the least recently used: evicted by the ninth; t8 stays.
        lookup(&a, 903, 1, &format!("t{ENTRIES}"), &fills);
        assert_eq!(fills.get() as usize, ENTRIES + 1);
        lookup(&a, 903, 1, "t0", &fills);
        assert_eq!(fills.get() as usize, ENTRIES + 2);
        forget(903);
    }

    #[test]
    fn a_reentrant_lookup_gets_no_entry() {
        let a = acc();
        let inner = with_entry(
            904,
            1,
            "t",
            || Ok(Entry::new(904, 1, "t", info(1), a.topic_queues("t"))),
            |outer| {
                assert!(outer.is_some());
                // A send from inside (a custom partitioner): the cache is busy.
                with_entry(904, 1, "u", || unreachable!("no fill while busy"), |e| Ok(e.is_none()))
            },
        )
        .unwrap();
        assert!(inner, "the inner lookup must do without the cache");
        forget(904);
    }
}
