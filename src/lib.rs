//! kafka-blocking: an Apache Kafka producer for plain threaded Rust programs.
#![warn(missing_docs)]

pub mod compression;
pub mod config;
pub mod error;
pub mod network;
pub mod producer;
pub mod protocol;

pub use config::{Acks, ProducerConfig};
pub use error::{Error, ErrorKind, KafkaCode, Result};
pub use producer::partitioner;
pub use producer::{Producer, Record, RecordMetadata, SendFuture};
