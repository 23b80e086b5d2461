//! AddPartitionsToTxn (key 24): tell the transaction coordinator which partitions the open
//! transaction is about to write to, before the first Produce to each.
//!
//! Follows `AddPartitionsToTxnRequest.json` and `AddPartitionsToTxnResponse.json` in
//! `clients/src/main/resources/common/message/` of apache/kafka (valid versions 0-5 as of
//! Kafka 4.x, flexible from 3), as of the apache/kafka trunk snapshot of October 2024 (checked
//! against code generated from the Kafka 4.3.1 JSON: scholzj/go-kafka-protocol,
//! `api/addpartitionstotxn`).
//!
//! # Versions: 0 to 3 (the client versions)
//!
//! - KIP-896 left every version valid, so the range starts at v0 (Kafka 0.11).
//! - v1 is v0 (the broker answers before throttling), v2 lets the broker answer
//!   PRODUCER_FENCED, v3 is the first flexible version.
//! - v4 and v5 are **broker-to-broker** (KIP-890 part 1): a batch of transactions, each with
//!   `verify_only`, and a top-level `error_code` in the response. The JSON says so ("Versions 3
//!   and below will be exclusively used by clients and versions 4 and above will be used by
//!   brokers"), Java's `AddPartitionsToTxnRequest.Builder.forClient` stops at
//!   `LAST_CLIENT_VERSION = 3`, and the broker demands CLUSTER_ACTION on the cluster for v4+
//!   (`KafkaApis.handleAddPartitionsToTxnRequest`), which a producer's principal should not
//!   have. So this module speaks v0-v3 only, and [`negotiate`](super::negotiate) picks at most
//!   v3 against any broker.
//! - With transaction version 2 (KIP-890 part 2) a producer does not send this request at
//!   all: Produce v12+ adds the partition itself.
//!
//! Request fields (v0-v3, the `V3AndBelow*` fields of the JSON): `transactional_id` STRING,
//! `producer_id` INT64, `producer_epoch` INT16, `topics` [`name` STRING, `partitions` \[INT32\]].
//!
//! Response fields (v0-v3): `throttle_time_ms` INT32, `results_by_topic_v3_and_below`
//! [`name` STRING, `results_by_partition` [`partition_index` INT32, `partition_error_code`
//! INT16]]. No tagged fields are defined; unknown ones are skipped.
//!
//! Runs on: any thread (pure functions).

use super::header::{check_version, read_array};
use super::primitives::{Encoder, Reader};
use super::{check_string_len, ApiKey, Request, Response};
use crate::error::Result;
use std::ops::RangeInclusive;

/// An AddPartitionsToTxn request (client versions, v0-v3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnRequest {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id in use with it.
    pub producer_id: i64,
    /// The producer epoch in use.
    pub producer_epoch: i16,
    /// The partitions to add, per topic.
    pub topics: Vec<AddPartitionsToTxnTopic>,
}

/// One topic's partitions in an AddPartitionsToTxn request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnTopic {
    /// The topic name.
    pub name: String,
    /// The partition numbers.
    pub partitions: Vec<i32>,
}

/// An AddPartitionsToTxn response (v0-v3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnResponse {
    /// Throttle time.
    pub throttle_time_ms: i32,
    /// Results, per topic (`results_by_topic_v3_and_below` in the JSON).
    pub results_by_topic: Vec<AddPartitionsToTxnTopicResult>,
}

/// One topic's results in an AddPartitionsToTxn response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnTopicResult {
    /// The topic name.
    pub name: String,
    /// Results, per partition.
    pub results_by_partition: Vec<AddPartitionsToTxnPartitionResult>,
}

/// One partition's result in an AddPartitionsToTxn response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddPartitionsToTxnPartitionResult {
    /// The partition number.
    pub partition_index: i32,
    /// 0, or the Kafka error code (OPERATION_NOT_ATTEMPTED for partitions held back because
    /// another one failed).
    pub partition_error_code: i16,
}

// Lower bounds on encoded element sizes, to reject impossible array lengths before allocating.
/// name (>= 1 compact) + results_by_partition (>= 1) + tags 1.
const MIN_TOPIC_RESULT_SIZE: usize = 3;
/// partition_index 4 + partition_error_code 2.
const MIN_PARTITION_RESULT_SIZE: usize = 6;

impl Request for AddPartitionsToTxnRequest {
    const API_KEY: ApiKey = ApiKey::AddPartitionsToTxn;
    const VERSIONS: RangeInclusive<i16> = 0..=3;
    const FLEXIBLE_FROM: i16 = 3;
    type Response = AddPartitionsToTxnResponse;

    fn encode(&self, version: i16, buf: &mut Vec<u8>) -> Result<()> {
        check_version::<Self>(version)?;
        let flexible = Self::is_flexible(version);
        check_string_len("transactional id", &self.transactional_id)?;
        for topic in &self.topics {
            check_string_len("topic name", &topic.name)?;
        }
        buf.put_str_v(Some(&self.transactional_id), flexible);
        buf.put_i64(self.producer_id);
        buf.put_i16(self.producer_epoch);
        buf.put_array_len(Some(self.topics.len()), flexible);
        for topic in &self.topics {
            buf.put_str_v(Some(&topic.name), flexible);
            buf.put_array_len(Some(topic.partitions.len()), flexible);
            for &p in &topic.partitions {
                buf.put_i32(p);
            }
            if flexible {
                buf.put_empty_tagged_fields();
            }
        }
        if flexible {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }
}

fn decode_partition_result(r: &mut Reader<'_>, flexible: bool) -> Result<AddPartitionsToTxnPartitionResult> {
    let partition_index = r.i32()?;
    let partition_error_code = r.i16()?;
    if flexible {
        r.skip_tagged_fields()?;
    }
    Ok(AddPartitionsToTxnPartitionResult { partition_index, partition_error_code })
}

fn decode_topic_result(r: &mut Reader<'_>, flexible: bool) -> Result<AddPartitionsToTxnTopicResult> {
    let name = r.str_v(flexible)?.to_owned();
    let results_by_partition =
        read_array(r, flexible, MIN_PARTITION_RESULT_SIZE, |r| decode_partition_result(r, flexible))?;
    if flexible {
        r.skip_tagged_fields()?;
    }
    Ok(AddPartitionsToTxnTopicResult { name, results_by_partition })
}

impl Response for AddPartitionsToTxnResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        let flexible = AddPartitionsToTxnRequest::is_flexible(version);
        let throttle_time_ms = r.i32()?;
        let results_by_topic =
            read_array(r, flexible, MIN_TOPIC_RESULT_SIZE, |r| decode_topic_result(r, flexible))?;
        if flexible {
            r.skip_tagged_fields()?;
        }
        Ok(AddPartitionsToTxnResponse { throttle_time_ms, results_by_topic })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(req: &AddPartitionsToTxnRequest, version: i16) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        req.encode(version, &mut buf)?;
        Ok(buf)
    }

    fn decode(bytes: &[u8], version: i16) -> Result<AddPartitionsToTxnResponse> {
        AddPartitionsToTxnResponse::decode(&mut Reader::new(bytes), version)
    }

    fn request() -> AddPartitionsToTxnRequest {
        AddPartitionsToTxnRequest {
            transactional_id: "tx".into(),
            producer_id: 42,
            producer_epoch: 5,
            topics: vec![AddPartitionsToTxnTopic { name: "t".into(), partitions: vec![0, 1] }],
        }
    }

    #[test]
    fn golden_request_v0() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x00, 0x02, b't', b'x', // v3_and_below_transactional_id: STRING "tx"
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // v3_and_below_producer_id 42
            0x00, 0x05,             // v3_and_below_producer_epoch 5
            0x00, 0x00, 0x00, 0x01, // v3_and_below_topics: ARRAY length 1
            0x00, 0x01, b't',       //   name: STRING "t"
            0x00, 0x00, 0x00, 0x02, //   partitions: ARRAY length 2
            0x00, 0x00, 0x00, 0x00, //     0
            0x00, 0x00, 0x00, 0x01, //     1
        ];
        assert_eq!(enc(&request(), 0).unwrap(), want);
        // v1 and v2 only change broker behaviour.
        assert_eq!(enc(&request(), 2).unwrap(), want);
    }

    #[test]
    fn golden_request_v3() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x03, b't', b'x',       // v3_and_below_transactional_id: COMPACT_STRING "tx"
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // v3_and_below_producer_id 42
            0x00, 0x05,             // v3_and_below_producer_epoch 5
            0x02,                   // v3_and_below_topics: COMPACT_ARRAY 1+1
            0x02, b't',             //   name: COMPACT_STRING "t"
            0x03,                   //   partitions: COMPACT_ARRAY 2+1
            0x00, 0x00, 0x00, 0x00, //     0
            0x00, 0x00, 0x00, 0x01, //     1
            0x00,                   //   topic tagged fields
            0x00,                   // tagged fields
        ];
        assert_eq!(enc(&request(), 3).unwrap(), want);
    }

    #[test]
    fn every_version_encodes_and_broker_versions_are_refused() {
        for v in AddPartitionsToTxnRequest::VERSIONS {
            assert!(!enc(&request(), v).unwrap().is_empty(), "v{v}");
        }
        let e = enc(&request(), 4).unwrap_err();
        assert!(e.to_string().contains("AddPartitionsToTxn v4 is outside"), "{e}");
        let long = AddPartitionsToTxnRequest { transactional_id: "x".repeat(40_000), ..request() };
        assert!(enc(&long, 3).is_err());
    }

    #[rustfmt::skip]
    const V0_RESPONSE: &[u8] = &[
        0x00, 0x00, 0x00, 0x00, // throttle_time_ms 0
        0x00, 0x00, 0x00, 0x01, // results_by_topic_v3_and_below: 1
        0x00, 0x01, b't',       //   name "t"
        0x00, 0x00, 0x00, 0x02, //   results_by_partition: 2
        0x00, 0x00, 0x00, 0x00, //     partition_index 0
        0x00, 0x00,             //     partition_error_code 0
        0x00, 0x00, 0x00, 0x01, //     partition_index 1
        0x00, 0x1d,             //     partition_error_code 29 TOPIC_AUTHORIZATION_FAILED
    ];

    #[test]
    fn decodes_v0_response() {
        let mut r = Reader::new(V0_RESPONSE);
        assert_eq!(
            AddPartitionsToTxnResponse::decode(&mut r, 0).unwrap(),
            AddPartitionsToTxnResponse {
                throttle_time_ms: 0,
                results_by_topic: vec![AddPartitionsToTxnTopicResult {
                    name: "t".into(),
                    results_by_partition: vec![
                        AddPartitionsToTxnPartitionResult { partition_index: 0, partition_error_code: 0 },
                        AddPartitionsToTxnPartitionResult { partition_index: 1, partition_error_code: 29 },
                    ],
                }],
            }
        );
        assert!(r.is_empty());
    }

    #[rustfmt::skip]
    const V3_RESPONSE: &[u8] = &[
        0x00, 0x00, 0x00, 0x07, // throttle_time_ms 7
        0x02,                   // results_by_topic_v3_and_below: COMPACT_ARRAY 1+1
        0x02, b't',             //   name: COMPACT_STRING "t"
        0x02,                   //   results_by_partition: 1
        0x00, 0x00, 0x00, 0x03, //     partition_index 3
        0x00, 0x33,             //     partition_error_code 51 CONCURRENT_TRANSACTIONS
        0x00,                   //     partition tagged fields
        0x00,                   //   topic tagged fields
        0x00,                   // tagged fields
    ];

    #[test]
    fn decodes_v3_response() {
        let mut r = Reader::new(V3_RESPONSE);
        assert_eq!(
            AddPartitionsToTxnResponse::decode(&mut r, 3).unwrap(),
            AddPartitionsToTxnResponse {
                throttle_time_ms: 7,
                results_by_topic: vec![AddPartitionsToTxnTopicResult {
                    name: "t".into(),
                    results_by_partition: vec![AddPartitionsToTxnPartitionResult {
                        partition_index: 3,
                        partition_error_code: 51,
                    }],
                }],
            }
        );
        assert!(r.is_empty());
    }

    #[test]
    fn every_truncation_is_an_error() {
        for (bytes, v) in [(V0_RESPONSE, 0), (V3_RESPONSE, 3)] {
            for n in 0..bytes.len() {
                assert!(decode(&bytes[..n], v).is_err(), "v{v} prefix {n}");
            }
        }
    }

    #[test]
    fn huge_array_lengths_fail_without_allocating() {
        // results_by_topic: i32::MAX
        let e = decode(&[0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff], 0).unwrap_err();
        assert!(e.to_string().contains("cannot fit"), "{e}");
        // results_by_partition: i32::MAX, inside the topic.
        let mut b = V0_RESPONSE[..11].to_vec();
        b.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff]);
        assert!(decode(&b, 0).unwrap_err().to_string().contains("cannot fit"));
        // compact results_by_topic: u32::MAX - 1
        assert!(decode(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f], 3).is_err());
    }
}
