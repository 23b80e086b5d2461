//! kafka-blocking: an Apache Kafka producer for plain threaded Rust programs.
//!
//! No async runtime: application threads call [`Producer::send`] and get a [`SendFuture`];
//! [`SendFuture::wait`] blocks until the broker acknowledges the record.
//!
//! ```no_run
//! use kafka_blocking::{Producer, ProducerConfig, Record};
//! use std::time::Duration;
//!
//! let producer = Producer::new(
//!     ProducerConfig::new().bootstrap_servers("localhost:9092").set("linger.ms", "5"),
//! )?;
//! let meta = producer.send(Record::new("orders").key("order-123").value("{\"qty\":1}"))?.wait()?;
//! println!("{}/{}@{}", meta.topic(), meta.partition(), meta.offset());
//! producer.close(Duration::from_secs(5))?;
//! # Ok::<(), kafka_blocking::Error>(())
//! ```
//!
//! # A tour
//! - [`config`]: [`ProducerConfig`], the Java producer's property names (`set("acks", "all")`)
//!   and a typed builder writing the same fields; Java 4.x defaults; every bad key reported.
//! - [`producer`]: the [`Producer`] handle. `send` copies the record straight into a batch in
//!   the accumulator (per-partition queues, one lock per partition),
//!   whose memory comes from a pool bounded by `buffer.memory`. One sender thread per producer
//!   drains ready batches, owns every socket, retries, and resolves the futures through
//!   channels. [`partitioner::murmur2`] is the Java client's key hash.
//!   Idempotence is on by default (producer ids, sequences, epoch bumps); with a
//!   `transactional.id` the producer also runs transactions ([`Producer::init_transactions`],
//!   `begin_transaction`, `send_offsets_to_transaction`, `commit_transaction`,
//!   `abort_transaction`).
//! - [`security`]: TLS (rustls) and SASL (PLAIN, SCRAM, OAUTHBEARER), and the OAUTHBEARER token
//!   provider trait; see docs/security.md.
//! - [`mock`] (feature `mock`, on by default): [`mock::MockCluster`], an in-process cluster for
//!   tests.
//! - [`producer::metrics`]: [`Producer::metrics`] with the Java producer's metric names.
//! - [`compression`]: the codecs (gzip, snappy, lz4, zstd). The wire protocol and the sockets
//!   are internal; [`ApiKey`] names the APIs for the mock cluster's failure injection.
//! - [`error`]: one [`Error`] type with [`ErrorKind`], `is_retriable`, `is_fatal`, and the
//!   Kafka error code table ([`KafkaCode`]).
//!
//! Behaviour follows the Java `KafkaProducer`; the differences are listed in
//! `docs/java-compatibility.md`.
#![warn(missing_docs)]

pub mod compression;
pub mod config;
pub mod error;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzz;
#[cfg(all(test, not(fuzzing)))]
mod fuzz;
#[cfg(feature = "mock")]
pub mod mock;
pub(crate) mod network;
pub mod producer;
// The wire protocol: not part of the supported API (hidden; public for the crate's own
// integration tests, benchmarks and fuzz targets). `ApiKey` is re-exported below.
#[doc(hidden)]
pub mod protocol;
pub mod security;

pub use config::{Acks, ProducerConfig};
pub use error::{Error, ErrorKind, KafkaCode, Result};
pub use producer::partitioner;
pub use producer::{
    ClientInstanceId, ConsumerGroupMetadata, OffsetToCommit, PartitionMetadata, Producer, Record,
    RecordMetadata, SendFuture, TxnState,
};
pub use protocol::ApiKey;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
