//! Metadata (key 3): brokers, topics, partitions and their leaders.
//!
//! Follows `MetadataRequest.json` and `MetadataResponse.json` in
//! `clients/src/main/resources/common/message/` of apache/kafka (valid versions 0-13 as of
//! Kafka 4.x, flexible from 9).
//!
//! # Versions: 4 to 13
//!
//! - v0 reads an empty topic list as "all topics"; v1+ uses a null list for that.
//! - v4 is the first with `allow_auto_topic_creation`, which [`MetadataRequest`] carries; below
//!   v4 the broker would silently apply its own `auto.create.topics.enable`. Every broker that
//!   speaks Produce v3 (Kafka 0.11+, the floor of this crate) speaks Metadata v4.
//! - KIP-896 (Kafka 4.0 drops old protocol versions) originally listed Metadata v0-v3 for
//!   removal (marked `"deprecatedVersions": "0-3"` from 3.7); v4 is above that line either way.
//! - v7 adds `leader_epoch`, v10 `topic_id`, v12 nullable topic names in the response, and
//!   v13 (KIP-1102, Kafka 4.0) a top-level `error_code` (e.g. REBOOTSTRAP_REQUIRED).
//!
//! Request fields by version: `topics` [`topic_id` UUID (v10+, always zero here: "versions 10
//! and 11 should not use the topicId field"), `name` STRING], `allow_auto_topic_creation`
//! BOOLEAN (v4+), `include_cluster_authorized_operations` BOOLEAN (v8-v10, false),
//! `include_topic_authorized_operations` BOOLEAN (v8+, false).
//!
//! Response fields by version: `throttle_time_ms` (v3+), `brokers` [`node_id`, `host`, `port`,
//! `rack` (v1+)], `cluster_id` (v2+), `controller_id` (v1+), `topics` [`error_code`, `name`
//! (nullable v12+), `topic_id` (v10+), `is_internal` (v1+), `partitions` [`error_code`,
//! `partition_index`, `leader_id`, `leader_epoch` (v7+), `replica_nodes`, `isr_nodes`,
//! `offline_replicas` (v5+)], `topic_authorized_operations` (v8+)],
//! `cluster_authorized_operations` (v8-v10), `error_code` (v13+). Unknown tagged fields are
//! skipped.
//!
//! Runs on: any thread (pure functions).

use super::header::{check_version, read_array};
use super::primitives::{Encoder, Reader, Uuid};
use super::{ApiKey, Request, Response};
use crate::error::{Error, Result};
use std::ops::RangeInclusive;

/// A Metadata request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataRequest {
    /// The topics to describe; `None` for all topics, `Some(vec![])` for none (brokers only).
    pub topics: Option<Vec<String>>,
    /// Whether the broker may create requested topics that do not exist (if it is configured
    /// to allow it).
    pub allow_auto_topic_creation: bool,
}

/// A broker in a Metadata response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataBroker {
    /// The broker id.
    pub node_id: i32,
    /// Host name.
    pub host: String,
    /// Port.
    pub port: i32,
    /// Rack, if assigned.
    pub rack: Option<String>,
}

/// A topic in a Metadata response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataTopic {
    /// Topic-level error code (0 for none).
    pub error_code: i16,
    /// The name; `None` only in v12+ for a topic asked for by id that does not exist.
    pub name: Option<String>,
    /// The topic id (v10+; zero below, and for a topic asked for by name that does not exist).
    pub topic_id: Uuid,
    /// Whether the topic is internal (e.g. `__consumer_offsets`).
    pub is_internal: bool,
    /// The topic's partitions.
    pub partitions: Vec<MetadataPartition>,
}

/// A partition in a Metadata response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataPartition {
    /// Partition-level error code (0 for none).
    pub error_code: i16,
    /// The partition number.
    pub partition_index: i32,
    /// The leader's broker id, or -1 when there is none.
    pub leader_id: i32,
    /// The leader epoch (v7+; -1 below).
    pub leader_epoch: i32,
    /// All replicas.
    pub replica_nodes: Vec<i32>,
    /// In-sync replicas.
    pub isr_nodes: Vec<i32>,
    /// Offline replicas (v5+; empty below).
    pub offline_replicas: Vec<i32>,
}

/// A Metadata response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataResponse {
    /// Throttle time.
    pub throttle_time_ms: i32,
    /// The live brokers.
    pub brokers: Vec<MetadataBroker>,
    /// The cluster id, if any.
    pub cluster_id: Option<String>,
    /// The controller's broker id, or -1.
    pub controller_id: i32,
    /// The topics asked for (or all).
    pub topics: Vec<MetadataTopic>,
    /// Top-level error code (v13+, KIP-1102; 0 below).
    pub error_code: i16,
}

/// The zero UUID written as `topic_id` in requests (we always ask by name).
const NO_TOPIC_ID: Uuid = [0; 16];

// Lower bounds on encoded element sizes, over every version this crate reads; only used to
// reject array lengths that cannot fit before allocating.
/// node_id 4 + host (>= 1) + port 4 + rack (>= 1).
const MIN_BROKER_SIZE: usize = 10;
/// error_code 2 + name (>= 2 classic) + is_internal 1 + partitions (4 classic); more when flexible.
const MIN_TOPIC_SIZE: usize = 9;
/// error_code 2 + index 4 + leader 4 + two arrays (>= 4 each classic, >= 1 each compact + epoch).
const MIN_PARTITION_SIZE: usize = 18;

impl Request for MetadataRequest {
    const API_KEY: ApiKey = ApiKey::Metadata;
    const VERSIONS: RangeInclusive<i16> = 4..=13;
    const FLEXIBLE_FROM: i16 = 9;
    type Response = MetadataResponse;

    fn encode(&self, version: i16, buf: &mut Vec<u8>) -> Result<()> {
        check_version::<Self>(version)?;
        let flexible = Self::is_flexible(version);
        match &self.topics {
            None => buf.put_array_len(None, flexible),
            Some(topics) => {
                if let Some(t) = topics.iter().find(|t| t.len() > i16::MAX as usize) {
                    return Err(Error::protocol(format!(
                        "topic name of {} bytes is longer than a Kafka string allows",
                        t.len()
                    )));
                }
                buf.put_array_len(Some(topics.len()), flexible);
                for name in topics {
                    if version >= 10 {
                        buf.put_uuid(&NO_TOPIC_ID);
                    }
                    buf.put_str_v(Some(name), flexible);
                    if flexible {
                        buf.put_empty_tagged_fields();
                    }
                }
            }
        }
        buf.put_bool(self.allow_auto_topic_creation); // v4+
        if (8..=10).contains(&version) {
            buf.put_bool(false); // include_cluster_authorized_operations
        }
        if version >= 8 {
            buf.put_bool(false); // include_topic_authorized_operations
        }
        if flexible {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }
}

fn read_i32s(r: &mut Reader<'_>, flexible: bool) -> Result<Vec<i32>> {
    read_array(r, flexible, 4, |r| r.i32())
}

fn decode_broker(r: &mut Reader<'_>, version: i16, flexible: bool) -> Result<MetadataBroker> {
    let node_id = r.i32()?;
    let host = r.str_v(flexible)?.to_owned();
    let port = r.i32()?;
    let rack = if version >= 1 { r.nullable_str_v(flexible)?.map(str::to_owned) } else { None };
    if flexible {
        r.skip_tagged_fields()?;
    }
    Ok(MetadataBroker { node_id, host, port, rack })
}

fn decode_partition(r: &mut Reader<'_>, version: i16, flexible: bool) -> Result<MetadataPartition> {
    let error_code = r.i16()?;
    let partition_index = r.i32()?;
    let leader_id = r.i32()?;
    let leader_epoch = if version >= 7 { r.i32()? } else { -1 };
    let replica_nodes = read_i32s(r, flexible)?;
    let isr_nodes = read_i32s(r, flexible)?;
    let offline_replicas = if version >= 5 { read_i32s(r, flexible)? } else { Vec::new() };
    if flexible {
        r.skip_tagged_fields()?;
    }
    Ok(MetadataPartition {
        error_code,
        partition_index,
        leader_id,
        leader_epoch,
        replica_nodes,
        isr_nodes,
        offline_replicas,
    })
}

fn decode_topic(r: &mut Reader<'_>, version: i16, flexible: bool) -> Result<MetadataTopic> {
    let error_code = r.i16()?;
    let name = if version >= 12 {
        r.nullable_str_v(flexible)?.map(str::to_owned)
    } else {
        Some(r.str_v(flexible)?.to_owned())
    };
    let topic_id = if version >= 10 { r.uuid()? } else { NO_TOPIC_ID };
    let is_internal = if version >= 1 { r.bool()? } else { false };
    let partitions = read_array(r, flexible, MIN_PARTITION_SIZE, |r| decode_partition(r, version, flexible))?;
    if version >= 8 {
        let _topic_authorized_operations = r.i32()?;
    }
    if flexible {
        r.skip_tagged_fields()?;
    }
    Ok(MetadataTopic { error_code, name, topic_id, is_internal, partitions })
}

impl Response for MetadataResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        let flexible = MetadataRequest::is_flexible(version);
        let throttle_time_ms = if version >= 3 { r.i32()? } else { 0 };
        let brokers = read_array(r, flexible, MIN_BROKER_SIZE, |r| decode_broker(r, version, flexible))?;
        let cluster_id = if version >= 2 { r.nullable_str_v(flexible)?.map(str::to_owned) } else { None };
        let controller_id = if version >= 1 { r.i32()? } else { -1 };
        let topics = read_array(r, flexible, MIN_TOPIC_SIZE, |r| decode_topic(r, version, flexible))?;
        if (8..=10).contains(&version) {
            let _cluster_authorized_operations = r.i32()?;
        }
        let error_code = if version >= 13 { r.i16()? } else { 0 };
        if flexible {
            r.skip_tagged_fields()?;
        }
        Ok(MetadataResponse { throttle_time_ms, brokers, cluster_id, controller_id, topics, error_code })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(req: &MetadataRequest, version: i16) -> Vec<u8> {
        let mut buf = Vec::new();
        req.encode(version, &mut buf).unwrap();
        buf
    }

    fn decode(bytes: &[u8], version: i16) -> Result<MetadataResponse> {
        MetadataResponse::decode(&mut Reader::new(bytes), version)
    }

    fn one_topic() -> MetadataRequest {
        MetadataRequest { topics: Some(vec!["t".into()]), allow_auto_topic_creation: true }
    }

    #[test]
    fn golden_request_v4() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x00, 0x00, 0x00, 0x01, // topics: ARRAY length 1
            0x00, 0x01, b't',       //   name: STRING "t"
            0x01,                   // allow_auto_topic_creation: true
        ];
        assert_eq!(enc(&one_topic(), 4), want);
        let all = MetadataRequest { topics: None, allow_auto_topic_creation: false };
        #[rustfmt::skip]
        let want: &[u8] = &[
            0xff, 0xff, 0xff, 0xff, // topics: null array = all topics
            0x00,                   // allow_auto_topic_creation: false
        ];
        assert_eq!(enc(&all, 4), want);
    }

    #[test]
    fn golden_request_v8_and_v10() {
        #[rustfmt::skip]
        let want_v8: &[u8] = &[
            0x00, 0x00, 0x00, 0x01, // topics: 1
            0x00, 0x01, b't',       //   name "t"
            0x01,                   // allow_auto_topic_creation
            0x00,                   // include_cluster_authorized_operations (v8-10)
            0x00,                   // include_topic_authorized_operations (v8+)
        ];
        assert_eq!(enc(&one_topic(), 8), want_v8);
        #[rustfmt::skip]
        let want_v10: &[u8] = &[
            0x02,                   // topics: COMPACT_ARRAY 1+1
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // topic_id: zero UUID
            0x02, b't',             //   name: COMPACT_STRING "t"
            0x00,                   //   topic tagged fields
            0x01,                   // allow_auto_topic_creation
            0x00,                   // include_cluster_authorized_operations (v8-10)
            0x00,                   // include_topic_authorized_operations
            0x00,                   // tagged fields
        ];
        assert_eq!(enc(&one_topic(), 10), want_v10);
    }

    #[test]
    fn golden_request_v12() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x02,                   // topics: COMPACT_ARRAY 1+1
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // topic_id: zero UUID (v10+)
            0x02, b't',             //   name: COMPACT_NULLABLE_STRING "t"
            0x00,                   //   topic tagged fields
            0x01,                   // allow_auto_topic_creation
                                    // (no include_cluster_authorized_operations after v10)
            0x00,                   // include_topic_authorized_operations
            0x00,                   // tagged fields
        ];
        assert_eq!(enc(&one_topic(), 12), want);
        let all = MetadataRequest { topics: None, allow_auto_topic_creation: true };
        // null COMPACT_ARRAY, auto-create, topic ops, tags
        assert_eq!(enc(&all, 12), [0x00, 0x01, 0x00, 0x00]);
        let none = MetadataRequest { topics: Some(vec![]), allow_auto_topic_creation: true };
        // empty COMPACT_ARRAY (0+1), auto-create, topic ops, tags
        assert_eq!(enc(&none, 12), [0x01, 0x01, 0x00, 0x00]);
    }

    #[test]
    fn every_version_encodes() {
        for v in MetadataRequest::VERSIONS {
            let mut buf = Vec::new();
            one_topic().encode(v, &mut buf).unwrap();
            assert!(!buf.is_empty());
        }
        assert!(one_topic().encode(3, &mut Vec::new()).is_err());
        assert!(one_topic().encode(14, &mut Vec::new()).is_err());
    }

    // Hand-written v4 response: one broker, one topic with two partitions.
    #[rustfmt::skip]
    const V4_RESPONSE: &[u8] = &[
        0x00, 0x00, 0x00, 0x00,             // throttle_time_ms 0
        0x00, 0x00, 0x00, 0x01,             // brokers: 1
        0x00, 0x00, 0x00, 0x01,             //   node_id 1
        0x00, 0x02, b'h', b'1',             //   host "h1"
        0x00, 0x00, 0x23, 0x84,             //   port 9092
        0xff, 0xff,                         //   rack: null
        0x00, 0x03, b'c', b'i', b'd',       // cluster_id "cid"
        0x00, 0x00, 0x00, 0x01,             // controller_id 1
        0x00, 0x00, 0x00, 0x01,             // topics: 1
        0x00, 0x00,                         //   error_code 0
        0x00, 0x01, b't',                   //   name "t"
        0x00,                               //   is_internal false
        0x00, 0x00, 0x00, 0x02,             //   partitions: 2
        0x00, 0x00,                         //     error_code 0
        0x00, 0x00, 0x00, 0x00,             //     partition_index 0
        0x00, 0x00, 0x00, 0x01,             //     leader_id 1
                                            //     (no leader_epoch below v7)
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, // replica_nodes [1]
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, // isr_nodes [1]
                                            //     (no offline_replicas below v5)
        0x00, 0x05,                         //     error_code 5 LEADER_NOT_AVAILABLE
        0x00, 0x00, 0x00, 0x01,             //     partition_index 1
        0xff, 0xff, 0xff, 0xff,             //     leader_id -1
        0x00, 0x00, 0x00, 0x00,             //     replica_nodes []
        0xff, 0xff, 0xff, 0xff,             //     isr_nodes: null -> []
    ];

    #[test]
    fn decodes_v4_response() {
        let resp = decode(V4_RESPONSE, 4).unwrap();
        assert_eq!(
            resp,
            MetadataResponse {
                throttle_time_ms: 0,
                brokers: vec![MetadataBroker { node_id: 1, host: "h1".into(), port: 9092, rack: None }],
                cluster_id: Some("cid".into()),
                controller_id: 1,
                topics: vec![MetadataTopic {
                    error_code: 0,
                    name: Some("t".into()),
                    topic_id: [0; 16],
                    is_internal: false,
                    partitions: vec![
                        MetadataPartition {
                            error_code: 0,
                            partition_index: 0,
                            leader_id: 1,
                            leader_epoch: -1,
                            replica_nodes: vec![1],
                            isr_nodes: vec![1],
                            offline_replicas: vec![],
                        },
                        MetadataPartition {
                            error_code: 5,
                            partition_index: 1,
                            leader_id: -1,
                            leader_epoch: -1,
                            replica_nodes: vec![],
                            isr_nodes: vec![],
                            offline_replicas: vec![],
                        },
                    ],
                }],
                error_code: 0,
            }
        );
    }

    // Hand-written v12 response: one broker with a rack, one topic with an id, one partition,
    // an unknown tagged field on the partition.
    #[rustfmt::skip]
    const V12_RESPONSE: &[u8] = &[
        0x00, 0x00, 0x00, 0x05,             // throttle_time_ms 5
        0x02,                               // brokers: COMPACT_ARRAY 1+1
        0x00, 0x00, 0x00, 0x02,             //   node_id 2
        0x03, b'h', b'2',                   //   host: COMPACT_STRING "h2"
        0x00, 0x00, 0x23, 0x85,             //   port 9093
        0x02, b'r',                         //   rack: COMPACT_NULLABLE_STRING "r"
        0x00,                               //   broker tagged fields
        0x00,                               // cluster_id: null
        0x00, 0x00, 0x00, 0x02,             // controller_id 2
        0x02,                               // topics: 1
        0x00, 0x00,                         //   error_code 0
        0x02, b't',                         //   name "t"
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
        0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, // topic_id
        0x01,                               //   is_internal true
        0x02,                               //   partitions: 1
        0x00, 0x00,                         //     error_code 0
        0x00, 0x00, 0x00, 0x03,             //     partition_index 3
        0x00, 0x00, 0x00, 0x02,             //     leader_id 2
        0x00, 0x00, 0x00, 0x07,             //     leader_epoch 7
        0x03, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, // replica_nodes [2, 1]
        0x02, 0x00, 0x00, 0x00, 0x02,       //     isr_nodes [2]
        0x02, 0x00, 0x00, 0x00, 0x01,       //     offline_replicas [1]
        0x01, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0x01, 0x00, // partition tags: tag 0, 8 bytes (ignored)
        0x80, 0x00, 0x00, 0x00,             //   topic_authorized_operations i32::MIN
        0x00,                               //   topic tagged fields
                                            // (no cluster_authorized_operations after v10)
        0x00,                               // tagged fields
    ];

    fn v12_expected() -> MetadataResponse {
        MetadataResponse {
            throttle_time_ms: 5,
            brokers: vec![MetadataBroker {
                node_id: 2,
                host: "h2".into(),
                port: 9093,
                rack: Some("r".into()),
            }],
            cluster_id: None,
            controller_id: 2,
            topics: vec![MetadataTopic {
                error_code: 0,
                name: Some("t".into()),
                topic_id: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
                is_internal: true,
                partitions: vec![MetadataPartition {
                    error_code: 0,
                    partition_index: 3,
                    leader_id: 2,
                    leader_epoch: 7,
                    replica_nodes: vec![2, 1],
                    isr_nodes: vec![2],
                    offline_replicas: vec![1],
                }],
            }],
            error_code: 0,
        }
    }

    #[test]
    fn decodes_v12_response() {
        let mut r = Reader::new(V12_RESPONSE);
        assert_eq!(MetadataResponse::decode(&mut r, 12).unwrap(), v12_expected());
        assert!(r.is_empty());
    }

    #[test]
    fn decodes_v13_top_level_error_code() {
        // v13 = v12 plus error_code before the final tagged fields.
        let mut b = V12_RESPONSE[..V12_RESPONSE.len() - 1].to_vec();
        b.extend_from_slice(&[0x00, 0x81]); // error_code 129 REBOOTSTRAP_REQUIRED (KIP-1102)
        b.push(0x00); // tagged fields
        let mut want = v12_expected();
        want.error_code = 129;
        assert_eq!(decode(&b, 13).unwrap(), want);
    }

    #[test]
    fn decodes_v12_null_topic_name() {
        #[rustfmt::skip]
        let b = [
            0x00, 0x00, 0x00, 0x00, // throttle
            0x01,                   // brokers: []
            0x00,                   // cluster_id null
            0xff, 0xff, 0xff, 0xff, // controller_id -1
            0x02,                   // topics: 1
            0x00, 0x64,             //   error_code 100 UNKNOWN_TOPIC_ID
            0x00,                   //   name: null
            0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
            0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, // topic_id
            0x00,                   //   is_internal
            0x00,                   //   partitions: null -> []
            0x80, 0x00, 0x00, 0x00, //   topic_authorized_operations
            0x00,                   //   tags
            0x00,                   // tags
        ];
        let resp = decode(&b, 12).unwrap();
        assert_eq!(resp.topics[0].name, None);
        assert_eq!(resp.topics[0].error_code, 100);
        assert!(resp.topics[0].partitions.is_empty());
        // Below v12 a null name is malformed.
        assert!(decode(&b, 11).is_err());
    }

    #[test]
    fn every_truncation_is_an_error() {
        for n in 0..V4_RESPONSE.len() {
            assert!(decode(&V4_RESPONSE[..n], 4).is_err(), "v4 prefix {n}");
        }
        for n in 0..V12_RESPONSE.len() {
            assert!(decode(&V12_RESPONSE[..n], 12).is_err(), "v12 prefix {n}");
        }
    }

    #[test]
    fn huge_array_lengths_fail_without_allocating() {
        // brokers: i32::MAX
        let b = [0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff];
        let e = decode(&b, 4).unwrap_err();
        assert!(e.to_string().contains("cannot fit"), "{e}");
        // replica_nodes: i32::MAX, deep inside a topic.
        // Drop the second partition (18 bytes) and the first one's two arrays (16 bytes).
        let mut b = V4_RESPONSE[..V4_RESPONSE.len() - 18 - 16].to_vec();
        b.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff]);
        assert!(decode(&b, 4).is_err());
        // compact: brokers length u32::MAX - 1
        let b = [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(decode(&b, 9).is_err());
    }
}
