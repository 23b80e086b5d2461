//! TxnOffsetCommit (key 28): commit consumer offsets as part of the open transaction
//! (`sendOffsetsToTransaction`), sent to the group coordinator after AddOffsetsToTxn.
//!
//! Follows `TxnOffsetCommitRequest.json` and `TxnOffsetCommitResponse.json` in
//! `clients/src/main/resources/common/message/` of apache/kafka (valid versions 0-5 as of
//! Kafka 4.x, flexible from 3). The stored apache/kafka trunk snapshot (October 2024) stops at
//! v4; v5 was checked against code generated from the Kafka 4.3.1 JSON
//! (scholzj/go-kafka-protocol, `api/txnoffsetcommit`), with the same fields as v4.
//!
//! # Versions: 0 to 5
//!
//! - KIP-896 left every version valid, so the range starts at v0 (Kafka 0.11).
//! - v1 is v0 (the broker answers before throttling). v2 adds `committed_leader_epoch`, which
//!   the schema marks `ignorable`: below v2 it is dropped, as Java's writer drops it.
//! - v3 (KIP-447, Kafka 2.5) adds the consumer group metadata `generation_id`, `member_id`
//!   and `group_instance_id`, so that the coordinator can fence zombie consumers; it is also
//!   the first flexible version. These are not ignorable: encoding v0-v2 with any of them set
//!   to other than its default (-1, "", null) is an error, as in Java's
//!   `TxnOffsetCommitRequest.Builder` ("Broker doesn't support group metadata commit API on
//!   version ...").
//! - v4 lets the broker answer TRANSACTION_ABORTABLE (KIP-890).
//! - v5 (KIP-890 part 2, transaction version 2): the request also adds the group to the
//!   transaction, replacing AddOffsetsToTxn. A client without transaction version 2 stays at
//!   [`LAST_VERSION_BEFORE_TXN_V2`]; capping is the caller's choice, the bytes are v4's.
//!
//! Request fields: `transactional_id` STRING, `group_id` STRING, `producer_id` INT64,
//! `producer_epoch` INT16, `generation_id` INT32 (v3+), `member_id` STRING (v3+),
//! `group_instance_id` NULLABLE_STRING (v3+), `topics` [`name` STRING, `partitions`
//! [`partition_index` INT32, `committed_offset` INT64, `committed_leader_epoch` INT32 (v2+),
//! `committed_metadata` NULLABLE_STRING]].
//!
//! Response fields: `throttle_time_ms` INT32, `topics` [`name` STRING, `partitions`
//! [`partition_index` INT32, `error_code` INT16]]. No tagged fields are defined; unknown ones
//! are skipped.
//!
//! Runs on: any thread (pure functions).

use super::header::{check_version, read_array};
use super::primitives::{Encoder, Reader};
use super::{check_string_len, field_not_in_version, ApiKey, Request, Response};
use crate::error::Result;
use std::ops::RangeInclusive;

/// The last TxnOffsetCommit version for a client without transaction version 2 (KIP-890
/// part 2).
pub const LAST_VERSION_BEFORE_TXN_V2: i16 = 4;
/// The first version that carries the consumer group metadata (KIP-447).
pub const FIRST_VERSION_WITH_GROUP_METADATA: i16 = 3;

/// A TxnOffsetCommit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitRequest {
    /// The transactional id.
    pub transactional_id: String,
    /// The consumer group.
    pub group_id: String,
    /// The producer id in use with the transactional id.
    pub producer_id: i64,
    /// The producer epoch in use.
    pub producer_epoch: i16,
    /// The consumer's generation (v3+); -1 when unknown (the default).
    pub generation_id: i32,
    /// The consumer's member id (v3+); empty when unknown (the default).
    pub member_id: String,
    /// The consumer's `group.instance.id` (v3+), if static membership is used.
    pub group_instance_id: Option<String>,
    /// The offsets, per topic.
    pub topics: Vec<TxnOffsetCommitTopic>,
}

/// One topic's offsets in a TxnOffsetCommit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitTopic {
    /// The topic name.
    pub name: String,
    /// The offsets, per partition.
    pub partitions: Vec<TxnOffsetCommitPartition>,
}

/// One partition's offset in a TxnOffsetCommit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitPartition {
    /// The partition number.
    pub partition_index: i32,
    /// The offset to commit (the next record the group will consume).
    pub committed_offset: i64,
    /// The leader epoch of the last consumed record (v2+; dropped below); -1 if unknown.
    pub committed_leader_epoch: i32,
    /// Metadata kept with the offset.
    pub committed_metadata: Option<String>,
}

/// A TxnOffsetCommit response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitResponse {
    /// Throttle time.
    pub throttle_time_ms: i32,
    /// Results, per topic.
    pub topics: Vec<TxnOffsetCommitResponseTopic>,
}

/// One topic's results in a TxnOffsetCommit response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitResponseTopic {
    /// The topic name.
    pub name: String,
    /// Results, per partition.
    pub partitions: Vec<TxnOffsetCommitResponsePartition>,
}

/// One partition's result in a TxnOffsetCommit response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnOffsetCommitResponsePartition {
    /// The partition number.
    pub partition_index: i32,
    /// 0, or the Kafka error code.
    pub error_code: i16,
}

// Lower bounds on encoded element sizes, to reject impossible array lengths before allocating.
/// name (>= 1 compact) + partitions (>= 1) + tags 1.
const MIN_TOPIC_SIZE: usize = 3;
/// partition_index 4 + error_code 2.
const MIN_PARTITION_SIZE: usize = 6;

impl TxnOffsetCommitRequest {
    fn has_group_metadata(&self) -> bool {
        self.generation_id != -1 || !self.member_id.is_empty() || self.group_instance_id.is_some()
    }
}

impl Request for TxnOffsetCommitRequest {
    const API_KEY: ApiKey = ApiKey::TxnOffsetCommit;
    const VERSIONS: RangeInclusive<i16> = 0..=5;
    const FLEXIBLE_FROM: i16 = 3;
    type Response = TxnOffsetCommitResponse;

    fn encode(&self, version: i16, buf: &mut Vec<u8>) -> Result<()> {
        check_version::<Self>(version)?;
        let flexible = Self::is_flexible(version);
        if version < FIRST_VERSION_WITH_GROUP_METADATA && self.has_group_metadata() {
            return Err(field_not_in_version(
                Self::API_KEY,
                version,
                &format!(
                    "group metadata (generation_id {}, member_id '{}', group_instance_id {:?})",
                    self.generation_id, self.member_id, self.group_instance_id
                ),
                "v3+, Kafka 2.5+",
            ));
        }
        check_string_len("transactional id", &self.transactional_id)?;
        check_string_len("group id", &self.group_id)?;
        check_string_len("member id", &self.member_id)?;
        if let Some(id) = &self.group_instance_id {
            check_string_len("group instance id", id)?;
        }
        for topic in &self.topics {
            check_string_len("topic name", &topic.name)?;
            for p in &topic.partitions {
                if let Some(m) = &p.committed_metadata {
                    check_string_len("offset metadata", m)?;
                }
            }
        }
        buf.put_str_v(Some(&self.transactional_id), flexible);
        buf.put_str_v(Some(&self.group_id), flexible);
        buf.put_i64(self.producer_id);
        buf.put_i16(self.producer_epoch);
        if version >= FIRST_VERSION_WITH_GROUP_METADATA {
            buf.put_i32(self.generation_id);
            buf.put_str_v(Some(&self.member_id), flexible);
            buf.put_str_v(self.group_instance_id.as_deref(), flexible);
        }
        buf.put_array_len(Some(self.topics.len()), flexible);
        for topic in &self.topics {
            buf.put_str_v(Some(&topic.name), flexible);
            buf.put_array_len(Some(topic.partitions.len()), flexible);
            for p in &topic.partitions {
                buf.put_i32(p.partition_index);
                buf.put_i64(p.committed_offset);
                if version >= 2 {
                    buf.put_i32(p.committed_leader_epoch);
                }
                buf.put_str_v(p.committed_metadata.as_deref(), flexible);
                if flexible {
                    buf.put_empty_tagged_fields();
                }
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

fn decode_partition(r: &mut Reader<'_>, flexible: bool) -> Result<TxnOffsetCommitResponsePartition> {
    let partition_index = r.i32()?;
    let error_code = r.i16()?;
    if flexible {
        r.skip_tagged_fields()?;
    }
    Ok(TxnOffsetCommitResponsePartition { partition_index, error_code })
}

fn decode_topic(r: &mut Reader<'_>, flexible: bool) -> Result<TxnOffsetCommitResponseTopic> {
    let name = r.str_v(flexible)?.to_owned();
    let partitions = read_array(r, flexible, MIN_PARTITION_SIZE, |r| decode_partition(r, flexible))?;
    if flexible {
        r.skip_tagged_fields()?;
    }
    Ok(TxnOffsetCommitResponseTopic { name, partitions })
}

impl Response for TxnOffsetCommitResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        let flexible = TxnOffsetCommitRequest::is_flexible(version);
        let throttle_time_ms = r.i32()?;
        let topics = read_array(r, flexible, MIN_TOPIC_SIZE, |r| decode_topic(r, flexible))?;
        if flexible {
            r.skip_tagged_fields()?;
        }
        Ok(TxnOffsetCommitResponse { throttle_time_ms, topics })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(req: &TxnOffsetCommitRequest, version: i16) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        req.encode(version, &mut buf)?;
        Ok(buf)
    }

    fn decode(bytes: &[u8], version: i16) -> Result<TxnOffsetCommitResponse> {
        TxnOffsetCommitResponse::decode(&mut Reader::new(bytes), version)
    }

    /// No group metadata (encodable at every version).
    fn request() -> TxnOffsetCommitRequest {
        TxnOffsetCommitRequest {
            transactional_id: "tx".into(),
            group_id: "g".into(),
            producer_id: 42,
            producer_epoch: 5,
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            topics: vec![TxnOffsetCommitTopic {
                name: "t".into(),
                partitions: vec![TxnOffsetCommitPartition {
                    partition_index: 0,
                    committed_offset: 100,
                    committed_leader_epoch: 3,
                    committed_metadata: None,
                }],
            }],
        }
    }

    fn with_group_metadata() -> TxnOffsetCommitRequest {
        let mut req = request();
        req.generation_id = 7;
        req.member_id = "m".into();
        req.topics[0].partitions[0].committed_metadata = Some("md".into());
        req
    }

    #[test]
    fn golden_request_v0() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x00, 0x02, b't', b'x', // transactional_id: STRING "tx"
            0x00, 0x01, b'g',       // group_id: STRING "g"
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // producer_id 42
            0x00, 0x05,             // producer_epoch 5
                                    // (no group metadata below v3)
            0x00, 0x00, 0x00, 0x01, // topics: ARRAY length 1
            0x00, 0x01, b't',       //   name: STRING "t"
            0x00, 0x00, 0x00, 0x01, //   partitions: ARRAY length 1
            0x00, 0x00, 0x00, 0x00, //     partition_index 0
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64, // committed_offset 100
                                    //     (committed_leader_epoch 3 dropped below v2)
            0xff, 0xff,             //     committed_metadata: null NULLABLE_STRING
        ];
        assert_eq!(enc(&request(), 0).unwrap(), want);
        assert_eq!(enc(&request(), 1).unwrap(), want);
    }

    #[test]
    fn golden_request_v2_adds_leader_epoch() {
        let v0 = enc(&request(), 0).unwrap();
        let v2 = enc(&request(), 2).unwrap();
        // Everything up to committed_offset is the same; then the epoch, then metadata.
        let at = v0.len() - 2;
        assert_eq!(&v2[..at], &v0[..at]);
        assert_eq!(&v2[at..], &[0x00, 0x00, 0x00, 0x03, 0xff, 0xff]); // epoch 3, null metadata
    }

    #[test]
    fn golden_request_v3() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x03, b't', b'x',       // transactional_id: COMPACT_STRING (2+1) "tx"
            0x02, b'g',             // group_id: COMPACT_STRING "g"
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // producer_id 42
            0x00, 0x05,             // producer_epoch 5
            0x00, 0x00, 0x00, 0x07, // generation_id 7
            0x02, b'm',             // member_id: COMPACT_STRING "m"
            0x00,                   // group_instance_id: null COMPACT_NULLABLE_STRING
            0x02,                   // topics: COMPACT_ARRAY 1+1
            0x02, b't',             //   name "t"
            0x02,                   //   partitions: COMPACT_ARRAY 1+1
            0x00, 0x00, 0x00, 0x00, //     partition_index 0
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64, // committed_offset 100
            0x00, 0x00, 0x00, 0x03, //     committed_leader_epoch 3
            0x03, b'm', b'd',       //     committed_metadata: COMPACT_NULLABLE_STRING "md"
            0x00,                   //     partition tagged fields
            0x00,                   //   topic tagged fields
            0x00,                   // tagged fields
        ];
        assert_eq!(enc(&with_group_metadata(), 3).unwrap(), want);
        // v4 and v5 are v3 on the wire.
        assert_eq!(enc(&with_group_metadata(), 5).unwrap(), want);
    }

    #[test]
    fn group_metadata_below_v3_is_an_error() {
        let e = enc(&with_group_metadata(), 2).unwrap_err();
        assert!(e.to_string().contains("TxnOffsetCommit v2 cannot carry group metadata"), "{e}");
        let mut req = request();
        req.group_instance_id = Some("i".into());
        assert!(enc(&req, 0).is_err());
        assert!(enc(&req, 3).is_ok());
    }

    #[test]
    fn every_version_encodes() {
        for v in TxnOffsetCommitRequest::VERSIONS {
            assert!(!enc(&request(), v).unwrap().is_empty(), "v{v}");
        }
        for v in FIRST_VERSION_WITH_GROUP_METADATA..=*TxnOffsetCommitRequest::VERSIONS.end() {
            assert!(!enc(&with_group_metadata(), v).unwrap().is_empty(), "v{v}");
        }
        assert!(enc(&request(), 6).is_err());
        let mut long = request();
        long.topics[0].partitions[0].committed_metadata = Some("m".repeat(40_000));
        assert!(enc(&long, 3).unwrap_err().to_string().contains("offset metadata of 40000 bytes"));
    }

    #[rustfmt::skip]
    const V0_RESPONSE: &[u8] = &[
        0x00, 0x00, 0x00, 0x00, // throttle_time_ms 0
        0x00, 0x00, 0x00, 0x01, // topics: 1
        0x00, 0x01, b't',       //   name "t"
        0x00, 0x00, 0x00, 0x02, //   partitions: 2
        0x00, 0x00, 0x00, 0x00, //     partition_index 0
        0x00, 0x00,             //     error_code 0
        0x00, 0x00, 0x00, 0x01, //     partition_index 1
        0x00, 0x10,             //     error_code 16 NOT_COORDINATOR
    ];

    #[test]
    fn decodes_v0_response() {
        let mut r = Reader::new(V0_RESPONSE);
        assert_eq!(
            TxnOffsetCommitResponse::decode(&mut r, 0).unwrap(),
            TxnOffsetCommitResponse {
                throttle_time_ms: 0,
                topics: vec![TxnOffsetCommitResponseTopic {
                    name: "t".into(),
                    partitions: vec![
                        TxnOffsetCommitResponsePartition { partition_index: 0, error_code: 0 },
                        TxnOffsetCommitResponsePartition { partition_index: 1, error_code: 16 },
                    ],
                }],
            }
        );
        assert!(r.is_empty());
    }

    #[rustfmt::skip]
    const V3_RESPONSE: &[u8] = &[
        0x00, 0x00, 0x00, 0x02, // throttle_time_ms 2
        0x02,                   // topics: COMPACT_ARRAY 1+1
        0x02, b't',             //   name: COMPACT_STRING "t"
        0x02,                   //   partitions: 1
        0x00, 0x00, 0x00, 0x04, //     partition_index 4
        0x00, 0x16,             //     error_code 22 ILLEGAL_GENERATION
        0x00,                   //     partition tagged fields
        0x00,                   //   topic tagged fields
        0x00,                   // tagged fields
    ];

    #[test]
    fn decodes_v3_response() {
        let mut r = Reader::new(V3_RESPONSE);
        assert_eq!(
            TxnOffsetCommitResponse::decode(&mut r, 3).unwrap(),
            TxnOffsetCommitResponse {
                throttle_time_ms: 2,
                topics: vec![TxnOffsetCommitResponseTopic {
                    name: "t".into(),
                    partitions: vec![TxnOffsetCommitResponsePartition { partition_index: 4, error_code: 22 }],
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
        // topics: i32::MAX
        let e = decode(&[0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff], 0).unwrap_err();
        assert!(e.to_string().contains("cannot fit"), "{e}");
        // partitions: i32::MAX, inside the topic.
        let mut b = V0_RESPONSE[..11].to_vec();
        b.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff]);
        assert!(decode(&b, 0).unwrap_err().to_string().contains("cannot fit"));
        // compact topics: u32::MAX - 1
        assert!(decode(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f], 3).is_err());
    }
}
