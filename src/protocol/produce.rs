//! Produce (key 0): write record batches to partition leaders.
//!
//! Follows `ProduceRequest.json` and `ProduceResponse.json` in
//! `clients/src/main/resources/common/message/` of apache/kafka (valid versions 3-13 on
//! trunk, flexible from 9).
//!
//! # Versions: 3 to 13
//!
//! - v3 is the first with record batch v2 (magic 2) and `transactional_id`; this crate never
//!   writes older message formats. KIP-896 removed v0-v2 in Kafka 4.0 ("version 3 is the new
//!   baseline"; an early 4.0 draft had moved the floor to 7, which was walked back because
//!   librdkafka and other clients still send v3-v6), so v3 works with every broker from 0.11
//!   through 4.x.
//! - v5 adds `log_start_offset` to the response, v8 `record_errors` and `error_message`,
//!   v9 is the first flexible version, v10 adds the tagged `current_leader` (partition tag 0)
//!   and `node_endpoints` (response tag 0) of KIP-951, v11 the TRANSACTION_ABORTABLE error.
//! - v12 (KIP-890 part 2): when the cluster finalizes `transaction.version` 2, a
//!   transactional Produce of v12+ also adds its partitions to the transaction, and a client
//!   that still sends AddPartitionsToTxn itself must not go above v11 inside a transaction
//!   (the spec: "If V2 is disabled, the client can't use produce request version higher than
//!   11 within a transaction"). Capping is the caller's choice; the bytes are the same as v11.
//! - v13 (KIP-516, Kafka 4.1) names topics by `topic_id` instead of `name`, in the request and
//!   the response. Encoding v13+ fails for a topic whose [`ProduceTopicData::topic_id`] is zero;
//!   cap the version at [`LAST_VERSION_WITH_TOPIC_NAMES`] when ids are unknown.
//!
//! Request fields: `transactional_id` NULLABLE_STRING, `acks` INT16, `timeout_ms` INT32,
//! `topic_data` [`name` STRING (v3-v12) | `topic_id` UUID (v13+), `partition_data` [`index`
//! INT32, `records` NULLABLE RECORDS]]. The record bytes are written straight from the
//! caller's sealed batch into the frame, with no intermediate copy; a retry re-encodes the
//! same bytes.
//!
//! With `acks = 0` the broker sends **no response at all**: the caller must not wait for one
//! (nothing in this module changes).
//!
//! Runs on: any thread (pure functions).

use super::header::{check_version, read_array};
use super::primitives::{Encoder, Reader, Uuid};
use super::{ApiKey, Request, Response};
use crate::error::{Error, Result};
use std::ops::RangeInclusive;

/// The last Produce version that names topics by name (v13+ uses topic ids).
pub const LAST_VERSION_WITH_TOPIC_NAMES: i16 = 12;

/// A Produce request that borrows its topic names and record batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceRequest<'a> {
    /// The transactional id, or `None` when not transactional.
    pub transactional_id: Option<&'a str>,
    /// 0 (no response), 1 (leader) or -1 (all in-sync replicas).
    pub acks: i16,
    /// How long the broker may wait for replication.
    pub timeout_ms: i32,
    /// The data, per topic.
    pub topics: Vec<ProduceTopicData<'a>>,
}

/// One topic's data in a Produce request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceTopicData<'a> {
    /// The topic name (written in v3-v12).
    pub name: &'a str,
    /// The topic id (written in v13+; must not be zero there).
    pub topic_id: Uuid,
    /// The data, per partition.
    pub partitions: Vec<ProducePartitionData<'a>>,
}

/// One partition's data in a Produce request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducePartitionData<'a> {
    /// The partition number.
    pub index: i32,
    /// One or more encoded record batches (v2 format), or `None` for null.
    pub records: Option<&'a [u8]>,
}

/// A Produce response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceResponse {
    /// Results, per topic.
    pub topics: Vec<ProduceTopicResponse>,
    /// Throttle time.
    pub throttle_time_ms: i32,
    /// Endpoints of the new leaders named in `current_leader` (v10+, tagged; else empty).
    pub node_endpoints: Vec<NodeEndpoint>,
}

/// One topic's results in a Produce response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceTopicResponse {
    /// The topic name; empty in v13+, which carry only `topic_id`.
    pub name: String,
    /// The topic id (v13+; zero below).
    pub topic_id: Uuid,
    /// Results, per partition.
    pub partitions: Vec<ProducePartitionResponse>,
}

/// One partition's result in a Produce response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducePartitionResponse {
    /// The partition number.
    pub index: i32,
    /// 0, or the Kafka error code.
    pub error_code: i16,
    /// Offset of the first record written.
    pub base_offset: i64,
    /// The broker's append time when the topic uses LogAppendTime, else -1.
    pub log_append_time_ms: i64,
    /// The partition's log start offset (v5+; -1 below).
    pub log_start_offset: i64,
    /// Records that caused the batch to be dropped (v8+).
    pub record_errors: Vec<BatchIndexAndErrorMessage>,
    /// Summary of why the batch was dropped (v8+).
    pub error_message: Option<String>,
    /// The leader to use from now on, sent with NOT_LEADER_OR_FOLLOWER (v10+, tagged).
    pub current_leader: Option<LeaderIdAndEpoch>,
}

/// A record that caused its batch to be dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchIndexAndErrorMessage {
    /// Index of the record in the batch.
    pub batch_index: i32,
    /// Why it was rejected.
    pub message: Option<String>,
}

/// A partition's current leader, as a Produce response reports it (KIP-951).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderIdAndEpoch {
    /// The leader's broker id, or -1 if unknown.
    pub leader_id: i32,
    /// The leader epoch, or -1 if unknown.
    pub leader_epoch: i32,
}

/// A broker's endpoint, as a Produce response reports it (KIP-951).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEndpoint {
    /// The broker id.
    pub node_id: i32,
    /// Host name.
    pub host: String,
    /// Port.
    pub port: i32,
    /// Rack, if assigned.
    pub rack: Option<String>,
}

// Lower bounds on encoded element sizes over every version we read (to reject impossible
// array lengths before allocating).
/// name (>= 1 compact) + partitions (>= 1) + tags 1.
const MIN_TOPIC_SIZE: usize = 3;
/// index 4 + error_code 2 + base_offset 8 + log_append_time_ms 8.
const MIN_PARTITION_SIZE: usize = 22;
/// batch_index 4 + message (>= 1) + tags (>= 1), or classic message 2.
const MIN_RECORD_ERROR_SIZE: usize = 6;
/// node_id 4 + host 1 + port 4 + rack 1 + tags 1.
const MIN_NODE_ENDPOINT_SIZE: usize = 11;

fn check_string_len(what: &str, s: &str) -> Result<()> {
    if s.len() > i16::MAX as usize {
        return Err(Error::protocol(format!(
            "{what} of {} bytes is longer than a Kafka string allows",
            s.len()
        )));
    }
    Ok(())
}

impl Request for ProduceRequest<'_> {
    const API_KEY: ApiKey = ApiKey::Produce;
    const VERSIONS: RangeInclusive<i16> = 3..=13;
    const FLEXIBLE_FROM: i16 = 9;
    type Response = ProduceResponse;

    fn encode(&self, version: i16, buf: &mut Vec<u8>) -> Result<()> {
        self.encode_body(version, buf, None).map(|_| ())
    }
}

fn decode_leader(data: &[u8]) -> Result<LeaderIdAndEpoch> {
    let mut r = Reader::new(data);
    let leader = LeaderIdAndEpoch { leader_id: r.i32()?, leader_epoch: r.i32()? };
    r.skip_tagged_fields()?;
    Ok(leader)
}

fn decode_node_endpoints(data: &[u8]) -> Result<Vec<NodeEndpoint>> {
    let mut r = Reader::new(data);
    read_array(&mut r, true, MIN_NODE_ENDPOINT_SIZE, |r| {
        let node_id = r.i32()?;
        let host = r.compact_string()?.to_owned();
        let port = r.i32()?;
        let rack = r.compact_nullable_string()?.map(str::to_owned);
        r.skip_tagged_fields()?;
        Ok(NodeEndpoint { node_id, host, port, rack })
    })
}

fn decode_partition(r: &mut Reader<'_>, version: i16, flexible: bool) -> Result<ProducePartitionResponse> {
    let index = r.i32()?;
    let error_code = r.i16()?;
    let base_offset = r.i64()?;
    let log_append_time_ms = r.i64()?; // v2+
    let log_start_offset = if version >= 5 { r.i64()? } else { -1 };
    let (record_errors, error_message) = if version >= 8 {
        let record_errors = read_array(r, flexible, MIN_RECORD_ERROR_SIZE, |r| {
            let batch_index = r.i32()?;
            let message = r.nullable_str_v(flexible)?.map(str::to_owned);
            if flexible {
                r.skip_tagged_fields()?;
            }
            Ok(BatchIndexAndErrorMessage { batch_index, message })
        })?;
        (record_errors, r.nullable_str_v(flexible)?.map(str::to_owned))
    } else {
        (Vec::new(), None)
    };
    let mut current_leader = None;
    if flexible {
        r.tagged_fields(|tag, data| {
            if version >= 10 && tag == 0 {
                current_leader = Some(decode_leader(data).map_err(|e| e.context("current_leader"))?);
            }
            Ok(())
        })?;
    }
    Ok(ProducePartitionResponse {
        index,
        error_code,
        base_offset,
        log_append_time_ms,
        log_start_offset,
        record_errors,
        error_message,
        current_leader,
    })
}

impl Response for ProduceResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        let flexible = ProduceRequest::is_flexible(version);
        let topics = read_array(r, flexible, MIN_TOPIC_SIZE, |r| {
            let (name, topic_id) = if version > LAST_VERSION_WITH_TOPIC_NAMES {
                (String::new(), r.uuid()?)
            } else {
                (r.str_v(flexible)?.to_owned(), [0; 16])
            };
            let partitions =
                read_array(r, flexible, MIN_PARTITION_SIZE, |r| decode_partition(r, version, flexible))?;
            if flexible {
                r.skip_tagged_fields()?;
            }
            Ok(ProduceTopicResponse { name, topic_id, partitions })
        })?;
        let throttle_time_ms = r.i32()?; // v1+
        let mut node_endpoints = Vec::new();
        if flexible {
            r.tagged_fields(|tag, data| {
                if version >= 10 && tag == 0 {
                    node_endpoints = decode_node_endpoints(data).map_err(|e| e.context("node_endpoints"))?;
                }
                Ok(())
            })?;
        }
        Ok(ProduceResponse { topics, throttle_time_ms, node_endpoints })
    }
}

impl ProduceRequest<'_> {
    /// The body, as [`Request::encode`] writes it; with `cuts`, each partition's records are
    /// left out after their length and the position where they go is pushed to `cuts` (the
    /// caller writes them from the batch buffers). Returns the bytes left out.
    pub(crate) fn encode_body(
        &self,
        version: i16,
        buf: &mut Vec<u8>,
        mut cuts: Option<&mut Vec<usize>>,
    ) -> Result<usize> {
        check_version::<Self>(version)?;
        let mut left_out = 0;
        let flexible = Self::is_flexible(version);
        if let Some(id) = self.transactional_id {
            check_string_len("transactional id", id)?;
        }
        buf.put_str_v(self.transactional_id, flexible);
        buf.put_i16(self.acks);
        buf.put_i32(self.timeout_ms);
        buf.put_array_len(Some(self.topics.len()), flexible);
        for topic in &self.topics {
            if version > LAST_VERSION_WITH_TOPIC_NAMES {
                if topic.topic_id == [0; 16] {
                    return Err(Error::protocol(format!(
                        "Produce v{version} names topics by id, and topic '{}' has none \
                         (use v{LAST_VERSION_WITH_TOPIC_NAMES} or learn the id from Metadata)",
                        topic.name
                    )));
                }
                buf.put_uuid(&topic.topic_id);
            } else {
                check_string_len("topic name", topic.name)?;
                buf.put_str_v(Some(topic.name), flexible);
            }
            buf.put_array_len(Some(topic.partitions.len()), flexible);
            for p in &topic.partitions {
                if let Some(records) = p.records {
                    if records.len() > i32::MAX as usize - 1 {
                        return Err(Error::protocol(format!(
                            "records of {} bytes for {}-{} do not fit a Kafka length",
                            records.len(),
                            topic.name,
                            p.index
                        )));
                    }
                }
                buf.put_i32(p.index);
                match (p.records, cuts.as_deref_mut()) {
                    (Some(records), Some(cuts)) => {
                        // Only the length: the batch goes in at this point of the frame.
                        if flexible {
                            buf.put_uvarint(records.len() as u32 + 1);
                        } else {
                            buf.put_i32(records.len() as i32);
                        }
                        cuts.push(buf.len());
                        left_out += records.len();
                    }
                    (records, _) => buf.put_bytes_v(records, flexible),
                }
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
        Ok(left_out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BATCH: &[u8] = &[0xaa, 0xbb, 0xcc]; // stands for an encoded record batch
    const ID: Uuid = [0x11; 16];

    fn request(
        transactional_id: Option<&'static str>,
        acks: i16,
        timeout_ms: i32,
    ) -> ProduceRequest<'static> {
        ProduceRequest {
            transactional_id,
            acks,
            timeout_ms,
            topics: vec![ProduceTopicData {
                name: "t",
                topic_id: ID,
                partitions: vec![ProducePartitionData { index: 2, records: Some(BATCH) }],
            }],
        }
    }

    fn enc(req: &ProduceRequest<'_>, version: i16) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        req.encode(version, &mut buf)?;
        Ok(buf)
    }

    fn decode(bytes: &[u8], version: i16) -> Result<ProduceResponse> {
        ProduceResponse::decode(&mut Reader::new(bytes), version)
    }

    #[test]
    fn golden_request_v3() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0xff, 0xff,             // transactional_id: null NULLABLE_STRING
            0xff, 0xff,             // acks -1
            0x00, 0x00, 0x75, 0x30, // timeout_ms 30000
            0x00, 0x00, 0x00, 0x01, // topic_data: ARRAY length 1
            0x00, 0x01, b't',       //   name: STRING "t"
            0x00, 0x00, 0x00, 0x01, //   partition_data: ARRAY length 1
            0x00, 0x00, 0x00, 0x02, //     index 2
            0x00, 0x00, 0x00, 0x03, //     records: NULLABLE_BYTES length 3
            0xaa, 0xbb, 0xcc,       //       the batch bytes, as given
        ];
        assert_eq!(enc(&request(None, -1, 30_000), 3).unwrap(), want);
    }

    #[test]
    fn golden_request_v9() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x03, b't', b'x',       // transactional_id: COMPACT_NULLABLE_STRING "tx"
            0x00, 0x01,             // acks 1
            0x00, 0x00, 0x03, 0xe8, // timeout_ms 1000
            0x02,                   // topic_data: COMPACT_ARRAY 1+1
            0x02, b't',             //   name: COMPACT_STRING "t"
            0x02,                   //   partition_data: COMPACT_ARRAY 1+1
            0x00, 0x00, 0x00, 0x02, //     index 2
            0x04, 0xaa, 0xbb, 0xcc, //     records: COMPACT_NULLABLE_RECORDS 3+1, bytes
            0x00,                   //     partition tagged fields
            0x00,                   //   topic tagged fields
            0x00,                   // tagged fields
        ];
        assert_eq!(enc(&request(Some("tx"), 1, 1000), 9).unwrap(), want);
        // v12 is byte-for-byte v9.
        assert_eq!(enc(&request(Some("tx"), 1, 1000), 12).unwrap(), want);
    }

    #[test]
    fn golden_request_v13_uses_topic_id() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x00,                   // transactional_id: null
            0xff, 0xff,             // acks -1
            0x00, 0x00, 0x75, 0x30, // timeout_ms 30000
            0x02,                   // topic_data: 1
            0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
            0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, // topic_id (no name in v13)
            0x02,                   //   partition_data: 1
            0x00, 0x00, 0x00, 0x02, //     index 2
            0x04, 0xaa, 0xbb, 0xcc, //     records
            0x00, 0x00, 0x00,       //     partition, topic, top-level tagged fields
        ];
        assert_eq!(enc(&request(None, -1, 30_000), 13).unwrap(), want);
    }

    #[test]
    fn v13_without_topic_id_is_an_error() {
        let mut req = request(None, -1, 30_000);
        req.topics[0].topic_id = [0; 16];
        let e = enc(&req, 13).unwrap_err();
        assert!(e.to_string().contains("topic 't' has none"), "{e}");
        assert!(enc(&req, 12).is_ok());
    }

    #[test]
    fn null_records_encode_as_null() {
        let mut req = request(None, 1, 5);
        req.topics[0].partitions[0].records = None;
        let v3 = enc(&req, 3).unwrap();
        assert_eq!(&v3[v3.len() - 4..], &[0xff, 0xff, 0xff, 0xff]);
        let v9 = enc(&req, 9).unwrap();
        assert_eq!(&v9[v9.len() - 4..], &[0x00, 0x00, 0x00, 0x00]); // null, 3 x tags
    }

    #[test]
    fn every_version_encodes_and_carries_the_batch_verbatim() {
        for v in ProduceRequest::VERSIONS {
            let buf = enc(&request(Some("tx"), -1, 30_000), v).unwrap();
            assert!(buf.windows(BATCH.len()).any(|w| w == BATCH), "v{v}");
        }
        assert!(enc(&request(None, 1, 1), 2).is_err());
        assert!(enc(&request(None, 1, 1), 14).is_err());
    }

    #[rustfmt::skip]
    const V3_RESPONSE: &[u8] = &[
        0x00, 0x00, 0x00, 0x01,                         // responses: 1
        0x00, 0x01, b't',                               //   name "t"
        0x00, 0x00, 0x00, 0x01,                         //   partition_responses: 1
        0x00, 0x00, 0x00, 0x02,                         //     index 2
        0x00, 0x00,                                     //     error_code 0
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, //     base_offset 42
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //     log_append_time_ms -1
        0x00, 0x00, 0x00, 0x00,                         // throttle_time_ms 0
    ];

    #[test]
    fn decodes_v3_response() {
        assert_eq!(
            decode(V3_RESPONSE, 3).unwrap(),
            ProduceResponse {
                topics: vec![ProduceTopicResponse {
                    name: "t".into(),
                    topic_id: [0; 16],
                    partitions: vec![ProducePartitionResponse {
                        index: 2,
                        error_code: 0,
                        base_offset: 42,
                        log_append_time_ms: -1,
                        log_start_offset: -1,
                        record_errors: vec![],
                        error_message: None,
                        current_leader: None,
                    }],
                }],
                throttle_time_ms: 0,
                node_endpoints: vec![],
            }
        );
    }

    #[rustfmt::skip]
    const V9_RESPONSE: &[u8] = &[
        0x02,                                           // responses: COMPACT_ARRAY 1
        0x02, b't',                                     //   name "t"
        0x02,                                           //   partition_responses: 1
        0x00, 0x00, 0x00, 0x02,                         //     index 2
        0x00, 0x12,                                     //     error_code 18 RECORD_LIST_TOO_LARGE
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //     base_offset -1
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //     log_append_time_ms -1
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, //     log_start_offset 7
        0x02,                                           //     record_errors: 1
        0x00, 0x00, 0x00, 0x01,                         //       batch_index 1
        0x02, b'x',                                     //       batch_index_error_message "x"
        0x00,                                           //       tagged fields
        0x03, b'b', b'd',                               //     error_message "bd"
        0x01, 0x00, 0x09,                               //     tags: 1; tag 0, 9 bytes: unknown
        0, 0, 0, 1, 0, 0, 0, 1, 0,                      //       in v9, so ignored
        0x00,                                           //   topic tagged fields
        0x00, 0x00, 0x00, 0x64,                         // throttle_time_ms 100
        0x00,                                           // tagged fields
    ];

    #[test]
    fn decodes_v9_response_and_ignores_tag_0_before_v10() {
        let mut r = Reader::new(V9_RESPONSE);
        let resp = ProduceResponse::decode(&mut r, 9).unwrap();
        assert!(r.is_empty());
        assert_eq!(resp.throttle_time_ms, 100);
        let p = &resp.topics[0].partitions[0];
        assert_eq!((p.index, p.error_code, p.base_offset, p.log_start_offset), (2, 18, -1, 7));
        assert_eq!(
            p.record_errors,
            vec![BatchIndexAndErrorMessage { batch_index: 1, message: Some("x".into()) }]
        );
        assert_eq!(p.error_message.as_deref(), Some("bd"));
        assert_eq!(p.current_leader, None);
    }

    #[rustfmt::skip]
    const V10_RESPONSE: &[u8] = &[
        0x02,                                           // responses: 1
        0x02, b't',                                     //   name "t"
        0x02,                                           //   partition_responses: 1
        0x00, 0x00, 0x00, 0x00,                         //     index 0
        0x00, 0x06,                                     //     error_code 6 NOT_LEADER_OR_FOLLOWER
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //     base_offset -1
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //     log_append_time_ms -1
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //     log_start_offset -1
        0x01,                                           //     record_errors: []
        0x00,                                           //     error_message: null
        0x02,                                           //     tags: 2
        0x00, 0x09,                                     //       tag 0 current_leader, 9 bytes
        0x00, 0x00, 0x00, 0x03,                         //         leader_id 3
        0x00, 0x00, 0x00, 0x05,                         //         leader_epoch 5
        0x00,                                           //         tagged fields
        0x07, 0x01, 0xee,                               //       tag 7 (unknown), 1 byte
        0x00,                                           //   topic tagged fields
        0x00, 0x00, 0x00, 0x00,                         // throttle_time_ms 0
        0x01,                                           // tags: 1
        0x00, 0x0e,                                     //   tag 0 node_endpoints, 14 bytes
        0x02,                                           //     COMPACT_ARRAY 1
        0x00, 0x00, 0x00, 0x03,                         //       node_id 3
        0x03, b'h', b'3',                               //       host "h3"
        0x00, 0x00, 0x23, 0x86,                         //       port 9094
        0x00,                                           //       rack null
        0x00,                                           //       tagged fields
    ];

    #[test]
    fn decodes_v10_tagged_current_leader_and_node_endpoints() {
        let resp = decode(V10_RESPONSE, 10).unwrap();
        let p = &resp.topics[0].partitions[0];
        assert_eq!(p.error_code, 6);
        assert_eq!(p.current_leader, Some(LeaderIdAndEpoch { leader_id: 3, leader_epoch: 5 }));
        assert_eq!(
            resp.node_endpoints,
            vec![NodeEndpoint { node_id: 3, host: "h3".into(), port: 9094, rack: None }]
        );
    }

    #[test]
    fn decodes_v13_topic_id() {
        #[rustfmt::skip]
        let b: &[u8] = &[
            0x02,                                       // responses: 1
            0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
            0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, // topic_id (no name)
            0x02,                                       //   partition_responses: 1
            0x00, 0x00, 0x00, 0x02,                     //     index 2
            0x00, 0x00,                                 //     error_code 0
            0, 0, 0, 0, 0, 0, 0, 0x05,                  //     base_offset 5
            0, 0, 0, 0, 0, 0, 0x03, 0xe8,               //     log_append_time_ms 1000
            0, 0, 0, 0, 0, 0, 0, 0,                     //     log_start_offset 0
            0x01, 0x00, 0x00,                           //     record_errors [], null, tags
            0x00,                                       //   topic tags
            0x00, 0x00, 0x00, 0x00,                     // throttle
            0x00,                                       // tags
        ];
        let resp = decode(b, 13).unwrap();
        assert_eq!(resp.topics[0].name, "");
        assert_eq!(resp.topics[0].topic_id, ID);
        let p = &resp.topics[0].partitions[0];
        assert_eq!((p.base_offset, p.log_append_time_ms, p.log_start_offset), (5, 1000, 0));
    }

    #[test]
    fn every_truncation_is_an_error() {
        for (bytes, v) in [(V3_RESPONSE, 3), (V9_RESPONSE, 9), (V10_RESPONSE, 10)] {
            for n in 0..bytes.len() {
                assert!(decode(&bytes[..n], v).is_err(), "v{v} prefix {n}");
            }
        }
    }

    #[test]
    fn malformed_tagged_struct_is_an_error() {
        // current_leader tag of 4 bytes: too short for leader_id + leader_epoch.
        let mut b = V10_RESPONSE.to_vec();
        let at = b.windows(2).position(|w| w == [0x00, 0x09]).unwrap();
        b[at + 1] = 0x04;
        b.drain(at + 2 + 4..at + 2 + 9);
        let e = decode(&b, 10).unwrap_err();
        assert!(e.to_string().contains("current_leader"), "{e}");
    }

    #[test]
    fn huge_array_lengths_fail_without_allocating() {
        let e = decode(&[0x7f, 0xff, 0xff, 0xff], 3).unwrap_err();
        assert!(e.to_string().contains("cannot fit"), "{e}");
        // partition_responses: i32::MAX
        let b = [0, 0, 0, 1, 0, 1, b't', 0x7f, 0xff, 0xff, 0xff];
        assert!(decode(&b, 3).is_err());
        // compact responses: u32::MAX - 1
        assert!(decode(&[0xff, 0xff, 0xff, 0xff, 0x0f], 9).is_err());
    }
}
