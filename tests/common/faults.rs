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
