//! Exclusive use of librdkafka's mock cluster for tests that inject faults into it.
//!
//! Faults (`brokerdown`, `rtt`, `err API CODE...`) are cluster-wide, so such tests hold
//! [`MockFaults`], which serializes them within a test binary (cargo runs binaries one after
//! another) and, when dropped (pass or fail), brings every broker up, removes delays and forgets
//! queued errors of the APIs the producer uses.

use super::{mock, mock_control, unique_topic, Broker};
use std::sync::{Mutex, MutexGuard};

/// Topics made by [`MockFaults::topic`] have this many partitions.
pub const PARTITIONS: i32 = 3;

static CLUSTER: Mutex<()> = Mutex::new(());

/// The mock cluster, held for one test.
pub struct MockFaults {
    pub b: Broker,
    _lock: MutexGuard<'static, ()>,
}

impl MockFaults {
    pub fn take() -> MockFaults {
        let lock = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
        MockFaults { b: mock(), _lock: lock }
    }

    /// Sends a control command and requires it to succeed.
    pub fn ctl(&self, cmd: &str) {
        let reply = mock_control(&self.b, cmd);
        assert!(reply == "0" || reply == "ok", "mock control `{cmd}` answered {reply:?}");
    }

    /// A fresh topic with 3 partitions, replication 3, partition p led by broker p + 1.
    pub fn topic(&self, what: &str) -> String {
        let topic = unique_topic(what);
        self.ctl(&format!("topic {topic} {PARTITIONS} 3"));
        for p in 0..PARTITIONS {
            self.ctl(&format!("leader {topic} {p} {}", p + 1));
        }
        topic
    }
}

impl Drop for MockFaults {
    fn drop(&mut self) {
        for id in 1..=3 {
            let _ = mock_control(&self.b, &format!("brokerup {id}"));
            let _ = mock_control(&self.b, &format!("rtt {id} 0"));
        }
        // Produce, InitProducerId, AddPartitionsToTxn, EndTxn.
        for api in [0, 22, 24, 26] {
            let _ = mock_control(&self.b, &format!("clear {api}"));
        }
    }
}

/// Exclusive use of the 3-node Apache Kafka cluster for tests that stop or kill its nodes.
/// Dropping it (pass or fail) starts every node again and waits until each is back, so the
/// next test finds all three.
pub struct KafkaOutage {
    pub b: Broker,
    _lock: MutexGuard<'static, ()>,
}

static KAFKA: Mutex<()> = Mutex::new(());

impl KafkaOutage {
    pub fn take() -> KafkaOutage {
        let lock = KAFKA.lock().unwrap_or_else(|e| e.into_inner());
        KafkaOutage { b: super::kafka(), _lock: lock }
    }

    /// SIGKILL: no controlled shutdown, the node's connections just die.
    pub fn kill(&self, node: i32) {
        super::kafka_control(&self.b, &format!("kill {node}"));
    }

    /// SIGTERM: a controlled shutdown (the node leaves every ISR first), waited for.
    pub fn stop(&self, node: i32) {
        super::kafka_control(&self.b, &format!("stop {node}"));
    }

    /// Starts the node again from its data directory and waits until Metadata lists it.
    pub fn start(&self, node: i32) {
        super::kafka_control(&self.b, &format!("start {node}"));
    }

    /// A fresh topic on the cluster, replication factor 3.
    pub fn topic(&self, what: &str, partitions: i32) -> String {
        let topic = unique_topic(what);
        super::create_topic(&self.b, &topic, partitions);
        topic
    }
}

impl Drop for KafkaOutage {
    fn drop(&mut self) {
        for id in 1..=3 {
            let _ = std::panic::catch_unwind(|| super::kafka_control(&self.b, &format!("start {id}")));
        }
    }
}
