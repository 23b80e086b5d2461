//! The cluster view: brokers, topics, partitions and their leaders.
//!
//! Threads: the sender thread alone fetches metadata and publishes each new view as an
//! immutable `Arc<Cluster>`. Application threads read the current view without blocking the
//! sender, and wait on a condition variable when a topic they send to is not known yet.
//!
//! Locks: `Metadata::current` (RwLock) holds the published view for lock-free-ish reads;
//! `Metadata::state` guards the published view, the set of topics application threads
//! asked for, and the last error seen per topic. It is held only to swap or read those fields,
//! never across I/O.

use crate::error::{Error, ErrorKind, KafkaCode, Result};
use crate::protocol::metadata::MetadataResponse;
use crate::protocol::primitives::Uuid;
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A broker as metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// Node id.
    pub id: i32,
    /// `host:port` to connect to.
    pub addr: String,
    /// Rack, if the broker has one.
    pub rack: Option<String>,
}

/// One partition of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The leader's node id, or -1 when there is none right now.
    pub leader: i32,
    /// The leader epoch (-1 when the broker does not say).
    pub leader_epoch: i32,
}

/// One topic's partitions.
#[derive(Debug, Clone)]
pub struct TopicInfo {
    /// The topic id (zero when the broker does not give one).
    pub id: Uuid,
    /// Partitions, indexed by partition number.
    pub partitions: Vec<PartitionInfo>,
    /// Partition numbers whose leader is known, for the sticky partitioner.
    pub available: Vec<i32>,
}

/// An immutable snapshot of the cluster.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    /// Brokers by node id.
    pub brokers: HashMap<i32, BrokerInfo>,
    /// Topics by name.
    pub topics: HashMap<String, Arc<TopicInfo>>,
}

impl Cluster {
    /// The topic's info, if metadata has it.
    pub fn topic(&self, name: &str) -> Option<&Arc<TopicInfo>> {
        self.topics.get(name)
    }

    /// The leader of a partition, if known.
    pub fn leader_for(&self, topic: &str, partition: i32) -> Option<i32> {
        let p = self.topics.get(topic)?.partitions.get(usize::try_from(partition).ok()?)?;
        (p.leader >= 0).then_some(p.leader)
    }

    /// Builds a new view from a Metadata response, keeping topics the response did not mention
    /// from `previous` (a request lists only some topics). A partition whose leader epoch went
    /// backwards (the answering broker is behind) keeps its previous leader, as in Java; the
    /// third value says that happened, so that metadata is fetched again.
    pub fn from_response(
        previous: &Cluster,
        resp: &MetadataResponse,
    ) -> (Cluster, HashMap<String, KafkaCode>, bool) {
        let mut brokers = HashMap::with_capacity(resp.brokers.len());
        for b in &resp.brokers {
            brokers.insert(
                b.node_id,
                BrokerInfo { id: b.node_id, addr: format!("{}:{}", b.host, b.port), rack: b.rack.clone() },
            );
        }
        let mut topics = previous.topics.clone();
        let mut errors = HashMap::new();
        let mut stale = false;
        for t in &resp.topics {
            let Some(name) = t.name.clone() else { continue };
            let code = KafkaCode(t.error_code);
            if !code.is_ok() {
                errors.insert(name.clone(), code);
                if code != KafkaCode::LEADER_NOT_AVAILABLE || t.partitions.is_empty() {
                    topics.remove(&name);
                    continue;
                }
            }
            // Partition numbers are dense from 0: one past the listed count is bogus, and is
            // ignored rather than allocated for.
            let listed = t.partitions.len() as i64;
            let in_range = |i: i32| (0..listed).contains(&(i as i64));
            let count = t
                .partitions
                .iter()
                .filter(|p| in_range(p.partition_index))
                .map(|p| p.partition_index as usize + 1)
                .max()
                .unwrap_or(0);
            let mut partitions = vec![PartitionInfo { leader: -1, leader_epoch: -1 }; count];
            for p in &t.partitions {
                if !in_range(p.partition_index) {
                    log::warn!(
                        "metadata lists partition {} of topic '{name}' among {listed}: ignored",
                        p.partition_index
                    );
                    continue;
                }
                let ok =
                    KafkaCode(p.error_code).is_ok() || p.error_code == KafkaCode::REPLICA_NOT_AVAILABLE.0;
                let leader = if ok && brokers.contains_key(&p.leader_id) { p.leader_id } else { -1 };
                let mut info = PartitionInfo { leader, leader_epoch: p.leader_epoch };
                let old = previous
                    .topics
                    .get(&name)
                    .filter(|o| o.id == t.topic_id || o.id == [0; 16] || t.topic_id == [0; 16])
                    .and_then(|o| o.partitions.get(p.partition_index as usize));
                if let Some(old) = old {
                    if p.leader_epoch >= 0
                        && old.leader_epoch > p.leader_epoch
                        && brokers.contains_key(&old.leader)
                    {
                        info = *old;
                        stale = true;
                    }
                }
                partitions[p.partition_index as usize] = info;
            }
            let available = (0..count as i32).filter(|&i| partitions[i as usize].leader >= 0).collect();
            topics.insert(name, Arc::new(TopicInfo { id: t.topic_id, partitions, available }));
        }
        (Cluster { brokers, topics }, errors, stale)
    }

    /// A copy with one partition's leader changed (a Produce response named the new leader,
    /// KIP-951), when `leader_epoch` is newer than what the view has. `endpoint` gives the
    /// leader's address when the view does not know the broker.
    pub fn with_leader(
        &self,
        topic: &str,
        partition: i32,
        leader: i32,
        leader_epoch: i32,
        endpoint: Option<BrokerInfo>,
    ) -> Option<Cluster> {
        let t = self.topics.get(topic)?;
        let old = t.partitions.get(usize::try_from(partition).ok()?)?;
        if leader < 0 || (leader_epoch <= old.leader_epoch && old.leader >= 0) {
            return None;
        }
        let mut c = self.clone();
        if let std::collections::hash_map::Entry::Vacant(slot) = c.brokers.entry(leader) {
            slot.insert(endpoint.filter(|e| e.id == leader)?);
        }
        let mut info = (**t).clone();
        info.partitions[partition as usize] = PartitionInfo { leader, leader_epoch };
        info.available =
            (0..info.partitions.len() as i32).filter(|&i| info.partitions[i as usize].leader >= 0).collect();
        c.topics.insert(topic.to_owned(), Arc::new(info));
        Some(c)
    }
}

struct State {
    // guards: the published view, wanted topics, per-topic errors, update bookkeeping
    cluster: Arc<Cluster>,
    wanted: HashSet<String>,
    errors: HashMap<String, KafkaCode>,
    need_update: bool,
    last_update: Option<Instant>,
    fatal: Option<Error>,
    /// Why the last connection was dropped since the last good update, for timeout messages.
    last_error: Option<Error>,
    /// An authentication failure since the last good update: waits fail with it at once.
    auth_error: Option<Error>,
    /// When each known topic was last produced to (or first became known), for
    /// `metadata.max.idle.ms`.
    last_used: HashMap<String, Instant>,
}

/// Shared metadata: published by the sender thread, read and awaited by application threads.
pub struct Metadata {
    state: Mutex<State>,
    changed: Condvar,
    // guards: a copy of `State::cluster`, replaced together with it; read without taking
    // `state`, so that sends to known topics never queue on the metadata mutex.
    current: RwLock<Arc<Cluster>>,
    /// Bumped after every change of `current`: application threads' cached topic views
    /// (`producer/topic_cache.rs`) are valid while it stays the same.
    generation: AtomicU64,
    /// Topics first wanted so far (bumped under `state` when one joins `wanted`): a Metadata
    /// request built after reading `n` lacks the topics wanted since.
    wanted_version: AtomicU64,
}

impl Default for Metadata {
    fn default() -> Self {
        Self::new()
    }
}

impl Metadata {
    /// An empty view that needs an update.
    pub fn new() -> Self {
        Metadata {
            state: Mutex::new(State {
                cluster: Arc::new(Cluster::default()),
                wanted: HashSet::new(),
                errors: HashMap::new(),
                need_update: true,
                last_update: None,
                fatal: None,
                last_error: None,
                auth_error: None,
                last_used: HashMap::new(),
            }),
            changed: Condvar::new(),
            current: RwLock::new(Arc::new(Cluster::default())),
            generation: AtomicU64::new(0),
            wanted_version: AtomicU64::new(0),
        }
    }

    /// Adds `topic` to `wanted`. A topic joining it counts as new (see
    /// [`wanted_version`](Self::wanted_version)) unless a broker already answered about it: a
    /// topic that does not exist, asked for again by every `send` after its `max.block.ms` ran
    /// out, keeps to the backoff instead of a request per `send`.
    fn add_wanted(&self, st: &mut State, topic: &str) {
        if st.wanted.contains(topic) {
            return;
        }
        st.wanted.insert(topic.to_owned());
        if !st.errors.contains_key(topic) {
            self.wanted_version.fetch_add(1, Ordering::Release);
        }
    }

    /// Runs on: sender thread. How many times a topic was first wanted so far; read it before
    /// [`topics_to_request`](Self::topics_to_request), and a later change means a topic is
    /// wanted that the request did not ask for.
    pub(crate) fn wanted_version(&self) -> u64 {
        self.wanted_version.load(Ordering::Acquire)
    }

    /// The number of changes of the view so far (read before the view it validates).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn publish(&self, cluster: Arc<Cluster>) {
        *self.current.write() = cluster;
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The current view.
    pub fn cluster(&self) -> Arc<Cluster> {
        self.current.read().clone()
    }

    /// Runs on: application threads. Waits until `topic` is known (and, for an explicit
    /// partition, until it has that partition) or `deadline` passes. `wake` asks the sender
    /// thread to fetch metadata.
    pub fn wait_for_topic(
        &self,
        topic: &str,
        partition: Option<i32>,
        deadline: Instant,
        max_block: Duration,
        wake: impl Fn(),
    ) -> Result<Arc<Cluster>> {
        {
            let current = self.current.read();
            if let Some(t) = current.topics.get(topic).filter(|t| !t.partitions.is_empty()) {
                if partition.is_none_or(|p| p >= 0 && (p as usize) < t.partitions.len()) {
                    return Ok(current.clone());
                }
            }
        }
        let mut st = self.state.lock();
        let mut asked = false;
        loop {
            if let Some(e) = st.fatal.as_ref().or(st.auth_error.as_ref()) {
                return Err(e.clone());
            }
            if let Some(t) = st.cluster.topics.get(topic).filter(|t| !t.partitions.is_empty()) {
                match partition {
                    None => return Ok(st.cluster.clone()),
                    Some(p) if p >= 0 && (p as usize) < t.partitions.len() => return Ok(st.cluster.clone()),
                    Some(_) => {}
                }
            }
            if let Some(code) = st.errors.get(topic) {
                if !code.is_retriable() {
                    return Err(Error::broker(*code, format!("metadata for topic '{topic}'")));
                }
            }
            if !asked || !st.wanted.contains(topic) {
                self.add_wanted(&mut st, topic);
                st.need_update = true;
                asked = true;
                wake();
            }
            if self.changed.wait_until(&mut st, deadline).timed_out() {
                // Stop asking for a topic nobody waits for any more (it may not exist).
                if !st.cluster.topics.contains_key(topic) {
                    st.wanted.remove(topic);
                }
                let count = st.cluster.topics.get(topic).map(|t| t.partitions.len());
                let last = match (st.errors.get(topic), &st.last_error) {
                    (Some(c), _) => format!("; last broker answer: {}", c.name()),
                    (None, Some(e)) => format!("; last error: {e}"),
                    (None, None) => String::new(),
                };
                let ms = max_block.as_millis();
                return Err(match (partition, count) {
                    (Some(p), Some(n)) => Error::new(
                        ErrorKind::InvalidRecord,
                        format!("partition {p} of topic '{topic}' with partition count {n} is not present in metadata after {ms} ms (max.block.ms)"),
                    ),
                    _ if st.errors.get(topic) == Some(&KafkaCode::UNKNOWN_TOPIC_OR_PARTITION) => Error::new(
                        ErrorKind::UnknownTopicOrPartition,
                        format!("topic '{topic}' not present in metadata after {ms} ms (max.block.ms){last}"),
                    ),
                    _ => Error::timeout(format!("topic '{topic}' not present in metadata after {ms} ms (max.block.ms){last}")),
                });
            }
        }
    }

    /// Asks for `topic` in the next fetch, as a first `send` to it does (for tests that drive
    /// the sender without the send path).
    #[cfg(test)]
    pub(crate) fn want(&self, topic: &str) {
        let mut st = self.state.lock();
        self.add_wanted(&mut st, topic);
        st.need_update = true;
    }

    /// Runs on: sender thread. Topics to ask for: those wanted plus those known.
    pub fn topics_to_request(&self) -> Vec<String> {
        let st = self.state.lock();
        let mut v: Vec<String> = st.wanted.iter().cloned().collect();
        for t in st.cluster.topics.keys() {
            if !st.wanted.contains(t) {
                v.push(t.clone());
            }
        }
        v
    }

    /// Runs on: sender thread. Whether a fetch is due: asked for, a wanted topic is unknown,
    /// or the view is older than `max_age`.
    pub fn update_due(&self, now: Instant, max_age: Duration) -> bool {
        let st = self.state.lock();
        st.need_update
            || st.last_update.is_none_or(|t| now.duration_since(t) >= max_age)
            || st.wanted.iter().any(|t| !st.cluster.topics.contains_key(t))
    }

    /// Runs on: any thread. Asks for a fetch soon (leader moved, unknown partition, ...).
    pub fn request_update(&self) {
        self.state.lock().need_update = true;
    }

    /// Runs on: sender thread. Publishes a new view built from a response.
    pub fn update(&self, resp: &MetadataResponse, now: Instant) {
        let mut st = self.state.lock();
        let (cluster, errors, stale) = Cluster::from_response(&st.cluster, resp);
        // A partition without a leader is fetched again only when it has records to send (the
        // sender asks then, Java's rule); a stale answer is fetched again at once.
        for (t, c) in &errors {
            st.errors.insert(t.clone(), *c);
        }
        for t in cluster.topics.keys() {
            st.errors.remove(t);
        }
        for t in cluster.topics.keys() {
            if !st.last_used.contains_key(t) {
                st.last_used.insert(t.clone(), now);
            }
        }
        st.cluster = Arc::new(cluster);
        self.publish(st.cluster.clone());
        // A topic that was wanted and is now known stays in the request set via `topics`.
        let known: Vec<String> =
            st.wanted.iter().filter(|t| st.cluster.topics.contains_key(*t)).cloned().collect();
        for t in known {
            st.wanted.remove(&t);
        }
        st.need_update = stale || !errors.is_empty() && !st.wanted.is_empty();
        st.last_update = Some(now);
        st.last_error = None;
        st.auth_error = None;
        self.changed.notify_all();
    }

    /// Runs on: sender thread. `topics` were just produced to.
    pub(crate) fn touch<'a>(&self, topics: impl Iterator<Item = &'a str>, now: Instant) {
        let mut st = self.state.lock();
        for t in topics {
            match st.last_used.get_mut(t) {
                Some(at) => *at = now,
                None => {
                    st.last_used.insert(t.to_owned(), now);
                }
            }
        }
    }

    /// Runs on: sender thread. Forgets topics not produced to for `max_idle`
    /// (`metadata.max.idle.ms`, Java's rule) unless `keep` says they still have records to send
    /// or a caller waits for them: they leave the view and the next metadata request, and the
    /// next send to one fetches its metadata again. Returns the topics forgotten.
    pub(crate) fn forget_idle(
        &self,
        now: Instant,
        max_idle: Duration,
        keep: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let mut st = self.state.lock();
        let idle: Vec<String> = st
            .cluster
            .topics
            .keys()
            .filter(|t| {
                !st.wanted.contains(*t)
                    && st.last_used.get(*t).is_some_and(|at| now.saturating_duration_since(*at) >= max_idle)
                    && !keep(t)
            })
            .cloned()
            .collect();
        if idle.is_empty() {
            return idle;
        }
        let mut cluster = (*st.cluster).clone();
        for t in &idle {
            cluster.topics.remove(t);
            st.last_used.remove(t);
            st.errors.remove(t);
        }
        st.cluster = Arc::new(cluster);
        self.publish(st.cluster.clone());
        idle
    }

    /// Runs on: sender thread. Records why a connection was dropped (a malformed response, a
    /// reset, ...), so that a `max.block.ms` timeout can name it; a good update clears it.
    pub fn note_error(&self, error: &Error) {
        self.state.lock().last_error = Some(error.clone());
    }

    /// Runs on: sender thread. Applies a leader named in a Produce response (KIP-951) when it is
    /// newer than the view's; returns whether it did.
    pub fn update_leader(
        &self,
        topic: &str,
        partition: i32,
        leader: i32,
        epoch: i32,
        endpoint: Option<BrokerInfo>,
    ) -> bool {
        let mut st = self.state.lock();
        match st.cluster.with_leader(topic, partition, leader, epoch, endpoint) {
            Some(c) => {
                st.cluster = Arc::new(c);
                self.publish(st.cluster.clone());
                self.changed.notify_all();
                true
            }
            None => false,
        }
    }

    /// Runs on: sender thread. Wakes waiters after a failed fetch, so they re-check.
    pub fn failed_update(&self) {
        self.changed.notify_all();
    }

    /// Runs on: sender thread. A connection failed to authenticate: current and future waits
    /// fail with `err` until an update succeeds (Java's `Metadata.fatalError`).
    pub fn authentication_failed(&self, err: Error) {
        let mut st = self.state.lock();
        st.last_error = Some(err.clone());
        st.auth_error = Some(err);
        self.changed.notify_all();
    }

    /// Fails every current and future wait with `err` (the producer is closing or broken).
    pub fn fail_all(&self, err: Error) {
        let mut st = self.state.lock();
        st.fatal = Some(err);
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::metadata::{MetadataBroker, MetadataPartition, MetadataTopic};

    fn resp(topics: Vec<MetadataTopic>) -> MetadataResponse {
        MetadataResponse {
            throttle_time_ms: 0,
            error_code: 0,
            brokers: vec![
                MetadataBroker { node_id: 1, host: "h1".into(), port: 9092, rack: None },
                MetadataBroker { node_id: 2, host: "h2".into(), port: 9093, rack: None },
            ],
            cluster_id: None,
            controller_id: 1,
            topics,
        }
    }

    fn part(i: i32, leader: i32) -> MetadataPartition {
        MetadataPartition {
            error_code: 0,
            partition_index: i,
            leader_id: leader,
            leader_epoch: 3,
            replica_nodes: vec![leader],
            isr_nodes: vec![leader],
            offline_replicas: vec![],
        }
    }

    fn topic(name: &str, code: i16, parts: Vec<MetadataPartition>) -> MetadataTopic {
        MetadataTopic {
            error_code: code,
            name: Some(name.into()),
            topic_id: [0; 16],
            is_internal: false,
            partitions: parts,
        }
    }

    #[test]
    fn builds_view_with_leaders_and_available_partitions() {
        let r = resp(vec![topic("a", 0, vec![part(1, 2), part(0, 1), part(2, 7)])]);
        let (c, errs, stale) = Cluster::from_response(&Cluster::default(), &r);
        assert!(!stale);
        assert!(errs.is_empty());
        assert_eq!(c.brokers[&2].addr, "h2:9093");
        assert_eq!(c.leader_for("a", 0), Some(1));
        assert_eq!(c.leader_for("a", 1), Some(2));
        assert_eq!(c.leader_for("a", 2), None, "leader 7 is not a known broker");
        assert_eq!(c.topic("a").unwrap().available, vec![0, 1]);
        assert_eq!(c.leader_for("a", 9), None);
        assert_eq!(c.leader_for("a", -1), None);
    }

    #[test]
    fn an_older_leader_epoch_does_not_replace_a_newer_one() {
        let (c1, _, _) =
            Cluster::from_response(&Cluster::default(), &resp(vec![topic("a", 0, vec![part(0, 2)])]));
        let mut older = part(0, 1);
        older.leader_epoch = 2;
        let (c2, _, stale) = Cluster::from_response(&c1, &resp(vec![topic("a", 0, vec![older])]));
        assert!(stale);
        assert_eq!(c2.leader_for("a", 0), Some(2), "epoch 3 beats epoch 2");
        let mut newer = part(0, 1);
        newer.leader_epoch = 4;
        let (c3, _, stale) = Cluster::from_response(&c2, &resp(vec![topic("a", 0, vec![newer])]));
        assert!(!stale);
        assert_eq!(c3.leader_for("a", 0), Some(1));
    }

    #[test]
    fn produce_response_leader_hint_applies_only_when_newer() {
        let (c, _, _) =
            Cluster::from_response(&Cluster::default(), &resp(vec![topic("a", 0, vec![part(0, 1)])]));
        assert!(c.with_leader("a", 0, 2, 3, None).is_none(), "same epoch");
        let c2 = c.with_leader("a", 0, 2, 4, None).unwrap();
        assert_eq!(c2.leader_for("a", 0), Some(2));
        assert!(c.with_leader("a", 0, 9, 5, None).is_none(), "unknown broker without an endpoint");
        let ep = BrokerInfo { id: 9, addr: "h9:1".into(), rack: None };
        let c3 = c.with_leader("a", 0, 9, 5, Some(ep)).unwrap();
        assert_eq!(c3.brokers[&9].addr, "h9:1");
        assert_eq!(c3.leader_for("a", 0), Some(9));
    }

    #[test]
    fn unknown_topic_is_reported_and_wait_times_out_with_its_name() {
        let m = Metadata::new();
        m.update(&resp(vec![topic("nope", 3, vec![])]), Instant::now());
        let e = m
            .wait_for_topic(
                "nope",
                None,
                Instant::now() + Duration::from_millis(20),
                Duration::from_millis(20),
                || {},
            )
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnknownTopicOrPartition);
        assert!(e.to_string().contains("'nope'") && e.to_string().contains("20 ms"), "{e}");
        // The broker answered about it: asking again is not a new topic (no request at once).
        assert_eq!(m.wanted_version(), 0);
        let _ = m.wait_for_topic("nope", None, Instant::now(), Duration::ZERO, || {});
        assert_eq!(m.wanted_version(), 0);
        let _ = m.wait_for_topic("other", None, Instant::now(), Duration::ZERO, || {});
        assert_eq!(m.wanted_version(), 1, "a topic nobody answered about yet is new");
    }

    #[test]
    fn metadata_timeout_names_the_last_network_error() {
        let m = Metadata::new();
        m.note_error(&Error::new(ErrorKind::Io, "connecting to 127.0.0.1:1: connection refused"));
        let e = m
            .wait_for_topic(
                "t",
                None,
                Instant::now() + Duration::from_millis(5),
                Duration::from_millis(5),
                || {},
            )
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(e.to_string().contains("last error: connecting to 127.0.0.1:1: connection refused"), "{e}");
    }

    #[test]
    fn non_retriable_topic_error_fails_at_once() {
        let m = Metadata::new();
        m.update(&resp(vec![topic("bad name", 17, vec![])]), Instant::now());
        let e = m
            .wait_for_topic(
                "bad name",
                None,
                Instant::now() + Duration::from_secs(5),
                Duration::from_secs(5),
                || {},
            )
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Broker(KafkaCode(17)));
    }

    #[test]
    fn explicit_partition_beyond_count_waits_then_names_both() {
        let m = Metadata::new();
        m.update(&resp(vec![topic("t", 0, vec![part(0, 1)])]), Instant::now());
        assert!(m.wait_for_topic("t", Some(0), Instant::now(), Duration::ZERO, || {}).is_ok());
        let e = m
            .wait_for_topic(
                "t",
                Some(5),
                Instant::now() + Duration::from_millis(10),
                Duration::from_millis(10),
                || {},
            )
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRecord);
        assert!(e.to_string().contains("partition 5") && e.to_string().contains("count 1"), "{e}");
    }

    #[test]
    fn wanted_topics_are_requested_until_known() {
        let m = Arc::new(Metadata::new());
        let m2 = m.clone();
        let waiter = std::thread::spawn(move || {
            let far = Instant::now() + Duration::from_secs(10);
            m2.wait_for_topic("x", None, far, Duration::from_secs(10), || {}).map(|_| ())
        });
        while m.topics_to_request().is_empty() {
            std::thread::yield_now();
        }
        assert_eq!(m.topics_to_request(), vec!["x".to_string()]);
        assert_eq!(m.wanted_version(), 1, "a topic first wanted counts once");
        m.update(&resp(vec![topic("x", 0, vec![part(0, 1)])]), Instant::now());
        waiter.join().unwrap().unwrap();
        m.wait_for_topic("x", None, Instant::now(), Duration::ZERO, || {}).unwrap();
        assert_eq!(m.wanted_version(), 1, "a known topic is not new");
        assert_eq!(m.topics_to_request(), vec!["x".to_string()], "known topics stay requested");
        assert!(!m.update_due(Instant::now(), Duration::from_secs(300)));
    }

    #[test]
    fn a_topic_nobody_waits_for_any_more_is_not_requested() {
        let m = Metadata::new();
        let _ = m.wait_for_topic("ghost", None, Instant::now(), Duration::ZERO, || {});
        assert!(m.topics_to_request().is_empty());
    }

    #[test]
    fn bogus_partition_numbers_are_ignored_not_allocated() {
        let mut far = part(0, 1);
        far.partition_index = i32::MAX;
        let (c, _, _) =
            Cluster::from_response(&Cluster::default(), &resp(vec![topic("a", 0, vec![part(0, 1), far])]));
        assert_eq!(c.topic("a").unwrap().partitions.len(), 1);
    }
}
