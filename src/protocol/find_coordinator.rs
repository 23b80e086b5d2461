//! FindCoordinator (key 10): which broker coordinates a consumer group or a transactional id.
//!
//! Follows `FindCoordinatorRequest.json` and `FindCoordinatorResponse.json` in
//! `clients/src/main/resources/common/message/` of apache/kafka (valid versions 0-6 as of
//! Kafka 4.x, flexible from 3; v0 is marked `"deprecatedVersions": "0"` but still valid after
//! KIP-896). Checked against the apache/kafka trunk snapshot of October 2024 and code
//! generated from the Kafka 4.3.1 JSON (scholzj/go-kafka-protocol, `api/findcoordinator`).
//!
//! # Versions: 0 to 6
//!
//! - v0 has no `key_type` and finds group coordinators only: encoding v0 with any other key
//!   type is an error (Java: "Cannot create a v0 FindCoordinator request").
//! - v1 adds `key_type` (0 = GROUP, 1 = TRANSACTION) and, in the response, `throttle_time_ms`
//!   and `error_message`. v2 is v1 (the broker answers before throttling). v3 is the first
//!   flexible version.
//! - v4 (KIP-699) looks up a batch: `key` gives way to `coordinator_keys`, and the single
//!   result to a `coordinators` array with one entry per key. Below v4 exactly one key must be
//!   given, as Java's `NoBatchedFindCoordinatorsException` demands.
//! - v5 lets the broker answer TRANSACTION_ABORTABLE (KIP-890); v6 adds key type 2 = SHARE
//!   (KIP-932), which is an error to send below v6. The bytes are v4's.
//!
//! [`FindCoordinatorResponse`] always holds a list of [`Coordinator`]s. Below v4 the response
//! carries one result and not the key it answers (a [`Response`] decodes from the version
//! alone), so that one entry's `key` is left **empty**: the caller knows which key it asked
//! for.
//!
//! Request fields: `key` STRING (v0-v3), `key_type` INT8 (v1+), `coordinator_keys` \[STRING\]
//! (v4+). Response fields: `throttle_time_ms` INT32 (v1+), `error_code` INT16 (v0-v3),
//! `error_message` NULLABLE_STRING (v1-v3), `node_id` INT32, `host` STRING, `port` INT32
//! (v0-v3), `coordinators` [`key`, `node_id`, `host`, `port`, `error_code`, `error_message`]
//! (v4+). No tagged fields are defined; unknown ones are skipped.
//!
//! Runs on: any thread (pure functions).

use super::header::{check_version, read_array};
use super::primitives::{Encoder, Reader};
use super::{check_string_len, field_not_in_version, ApiKey, Request, Response};
use crate::error::{Error, Result};
use std::ops::RangeInclusive;

/// `key_type` of a consumer group coordinator (the only kind v0 can find).
pub const KEY_TYPE_GROUP: i8 = 0;
/// `key_type` of a transaction coordinator (v1+).
pub const KEY_TYPE_TRANSACTION: i8 = 1;
/// `key_type` of a share group coordinator (v6+, KIP-932).
pub const KEY_TYPE_SHARE: i8 = 2;
/// The first version that looks up several keys in one request.
pub const FIRST_BATCHED_VERSION: i16 = 4;

/// A FindCoordinator request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindCoordinatorRequest {
    /// What the keys are: [`KEY_TYPE_GROUP`], [`KEY_TYPE_TRANSACTION`] or [`KEY_TYPE_SHARE`].
    pub key_type: i8,
    /// The group or transactional ids to look up; exactly one below v4.
    pub keys: Vec<String>,
}

/// One coordinator in a FindCoordinator response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinator {
    /// The key this entry answers (v4+); empty below v4, where the response does not say.
    pub key: String,
    /// The coordinator's broker id (-1 on error).
    pub node_id: i32,
    /// Its host name.
    pub host: String,
    /// Its port.
    pub port: i32,
    /// 0, or the Kafka error code (e.g. COORDINATOR_NOT_AVAILABLE).
    pub error_code: i16,
    /// Why it failed (v1+), if the broker says.
    pub error_message: Option<String>,
}

/// A FindCoordinator response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindCoordinatorResponse {
    /// Throttle time (v1+; 0 below).
    pub throttle_time_ms: i32,
    /// One entry per key asked for (v4+), or the single result below v4.
    pub coordinators: Vec<Coordinator>,
}

/// key (>= 1 compact) + node_id 4 + host (>= 1) + port 4 + error_code 2 + message 1 + tags 1.
const MIN_COORDINATOR_SIZE: usize = 14;

impl Request for FindCoordinatorRequest {
    const API_KEY: ApiKey = ApiKey::FindCoordinator;
    const VERSIONS: RangeInclusive<i16> = 0..=6;
    const FLEXIBLE_FROM: i16 = 3;
    type Response = FindCoordinatorResponse;

    fn encode(&self, version: i16, buf: &mut Vec<u8>) -> Result<()> {
        check_version::<Self>(version)?;
        let flexible = Self::is_flexible(version);
        if version < 1 && self.key_type != KEY_TYPE_GROUP {
            return Err(field_not_in_version(
                Self::API_KEY,
                version,
                &format!("key_type {}", self.key_type),
                "v1+",
            ));
        }
        if version < 6 && self.key_type == KEY_TYPE_SHARE {
            return Err(field_not_in_version(Self::API_KEY, version, "key_type 2 (share group)", "v6+"));
        }
        for key in &self.keys {
            check_string_len("coordinator key", key)?;
        }
        if version < FIRST_BATCHED_VERSION {
            let [key] = self.keys.as_slice() else {
                return Err(Error::protocol(format!(
                    "FindCoordinator v{version} looks up exactly one key, not {} \
                     (batches need v{FIRST_BATCHED_VERSION}+)",
                    self.keys.len()
                )));
            };
            buf.put_str_v(Some(key), flexible);
            if version >= 1 {
                buf.put_i8(self.key_type);
            }
        } else {
            buf.put_i8(self.key_type);
            buf.put_array_len(Some(self.keys.len()), flexible);
            for key in &self.keys {
                buf.put_str_v(Some(key), flexible);
            }
        }
        if flexible {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }
}

fn decode_coordinator(r: &mut Reader<'_>) -> Result<Coordinator> {
    // v4+ only, so always flexible.
    let key = r.compact_string()?.to_owned();
    let node_id = r.i32()?;
    let host = r.compact_string()?.to_owned();
    let port = r.i32()?;
    let error_code = r.i16()?;
    let error_message = r.compact_nullable_string()?.map(str::to_owned);
    r.skip_tagged_fields()?;
    Ok(Coordinator { key, node_id, host, port, error_code, error_message })
}

impl Response for FindCoordinatorResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        let flexible = FindCoordinatorRequest::is_flexible(version);
        let throttle_time_ms = if version >= 1 { r.i32()? } else { 0 };
        let coordinators = if version >= FIRST_BATCHED_VERSION {
            read_array(r, flexible, MIN_COORDINATOR_SIZE, decode_coordinator)?
        } else {
            let error_code = r.i16()?;
            let error_message =
                if version >= 1 { r.nullable_str_v(flexible)?.map(str::to_owned) } else { None };
            let node_id = r.i32()?;
            let host = r.str_v(flexible)?.to_owned();
            let port = r.i32()?;
            vec![Coordinator { key: String::new(), node_id, host, port, error_code, error_message }]
        };
        if flexible {
            r.skip_tagged_fields()?;
        }
        Ok(FindCoordinatorResponse { throttle_time_ms, coordinators })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(req: &FindCoordinatorRequest, version: i16) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        req.encode(version, &mut buf)?;
        Ok(buf)
    }

    fn decode(bytes: &[u8], version: i16) -> Result<FindCoordinatorResponse> {
        FindCoordinatorResponse::decode(&mut Reader::new(bytes), version)
    }

    fn req(key_type: i8, keys: &[&str]) -> FindCoordinatorRequest {
        FindCoordinatorRequest { key_type, keys: keys.iter().map(|k| k.to_string()).collect() }
    }

    #[test]
    fn golden_request_v0_and_v1() {
        #[rustfmt::skip]
        let v0: &[u8] = &[
            0x00, 0x01, b'g',       // key: STRING "g" (no key_type in v0: a group)
        ];
        assert_eq!(enc(&req(KEY_TYPE_GROUP, &["g"]), 0).unwrap(), v0);
        #[rustfmt::skip]
        let v1: &[u8] = &[
            0x00, 0x02, b't', b'x', // key: STRING "tx"
            0x01,                   // key_type: 1 (TRANSACTION)
        ];
        assert_eq!(enc(&req(KEY_TYPE_TRANSACTION, &["tx"]), 1).unwrap(), v1);
        assert_eq!(enc(&req(KEY_TYPE_TRANSACTION, &["tx"]), 2).unwrap(), v1);
    }

    #[test]
    fn golden_request_v3() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x03, b't', b'x',       // key: COMPACT_STRING (2+1) "tx"
            0x01,                   // key_type: 1 (TRANSACTION)
            0x00,                   // tagged fields
        ];
        assert_eq!(enc(&req(KEY_TYPE_TRANSACTION, &["tx"]), 3).unwrap(), want);
    }

    #[test]
    fn golden_request_v4_batched() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x01,                   // key_type: 1 (TRANSACTION); no single key after v3
            0x03,                   // coordinator_keys: COMPACT_ARRAY 2+1
            0x02, b'a',             //   COMPACT_STRING "a"
            0x03, b'b', b'c',       //   COMPACT_STRING "bc"
            0x00,                   // tagged fields
        ];
        assert_eq!(enc(&req(KEY_TYPE_TRANSACTION, &["a", "bc"]), 4).unwrap(), want);
        // v5 and v6 are v4 on the wire.
        assert_eq!(enc(&req(KEY_TYPE_TRANSACTION, &["a", "bc"]), 6).unwrap(), want);
    }

    #[test]
    fn unsupported_combinations_are_errors() {
        let e = enc(&req(KEY_TYPE_TRANSACTION, &["tx"]), 0).unwrap_err();
        assert!(e.to_string().contains("FindCoordinator v0 cannot carry key_type 1"), "{e}");
        let e = enc(&req(KEY_TYPE_GROUP, &["a", "b"]), 3).unwrap_err();
        assert!(e.to_string().contains("exactly one key, not 2"), "{e}");
        assert!(enc(&req(KEY_TYPE_GROUP, &[]), 1).is_err());
        assert!(enc(&req(KEY_TYPE_SHARE, &["s"]), 5).is_err());
        assert!(enc(&req(KEY_TYPE_SHARE, &["s"]), 6).is_ok());
        assert!(enc(&req(KEY_TYPE_GROUP, &[&"k".repeat(40_000)]), 4).is_err());
    }

    #[test]
    fn every_version_encodes() {
        for v in FindCoordinatorRequest::VERSIONS {
            let key_type = if v == 0 { KEY_TYPE_GROUP } else { KEY_TYPE_TRANSACTION };
            assert!(!enc(&req(key_type, &["tx"]), v).unwrap().is_empty(), "v{v}");
        }
        assert!(enc(&req(KEY_TYPE_GROUP, &["g"]), 7).is_err());
    }

    #[rustfmt::skip]
    const V1_RESPONSE: &[u8] = &[
        0x00, 0x00, 0x00, 0x00, // throttle_time_ms 0
        0x00, 0x00,             // error_code 0
        0xff, 0xff,             // error_message: null
        0x00, 0x00, 0x00, 0x01, // node_id 1
        0x00, 0x02, b'h', b'1', // host "h1"
        0x00, 0x00, 0x23, 0x84, // port 9092
    ];

    #[test]
    fn decodes_v1_response_as_one_entry_with_empty_key() {
        let mut r = Reader::new(V1_RESPONSE);
        assert_eq!(
            FindCoordinatorResponse::decode(&mut r, 1).unwrap(),
            FindCoordinatorResponse {
                throttle_time_ms: 0,
                coordinators: vec![Coordinator {
                    key: String::new(),
                    node_id: 1,
                    host: "h1".into(),
                    port: 9092,
                    error_code: 0,
                    error_message: None,
                }],
            }
        );
        assert!(r.is_empty());
    }

    #[test]
    fn decodes_v0_response() {
        // v0: no throttle_time_ms, no error_message.
        let b = &V1_RESPONSE[4..];
        let b: Vec<u8> = b[..2].iter().chain(&b[4..]).copied().collect();
        let resp = decode(&b, 0).unwrap();
        assert_eq!(resp.coordinators[0].node_id, 1);
        assert_eq!(resp.coordinators[0].host, "h1");
    }

    #[rustfmt::skip]
    const V3_RESPONSE: &[u8] = &[
        0x00, 0x00, 0x00, 0x05, // throttle_time_ms 5
        0x00, 0x0f,             // error_code 15 COORDINATOR_NOT_AVAILABLE
        0x03, b'n', b'a',       // error_message: COMPACT_NULLABLE_STRING "na"
        0xff, 0xff, 0xff, 0xff, // node_id -1
        0x01,                   // host: COMPACT_STRING ""
        0xff, 0xff, 0xff, 0xff, // port -1
        0x00,                   // tagged fields
    ];

    #[test]
    fn decodes_v3_response() {
        let mut r = Reader::new(V3_RESPONSE);
        let resp = FindCoordinatorResponse::decode(&mut r, 3).unwrap();
        assert!(r.is_empty());
        assert_eq!(resp.throttle_time_ms, 5);
        assert_eq!(
            resp.coordinators,
            vec![Coordinator {
                key: String::new(),
                node_id: -1,
                host: String::new(),
                port: -1,
                error_code: 15,
                error_message: Some("na".into()),
            }]
        );
    }

    #[rustfmt::skip]
    const V4_RESPONSE: &[u8] = &[
        0x00, 0x00, 0x00, 0x00, // throttle_time_ms 0
        0x03,                   // coordinators: COMPACT_ARRAY 2+1
        0x02, b'a',             //   key "a"
        0x00, 0x00, 0x00, 0x02, //   node_id 2
        0x02, b'h',             //   host "h"
        0x00, 0x00, 0x23, 0x85, //   port 9093
        0x00, 0x00,             //   error_code 0
        0x00,                   //   error_message: null
        0x00,                   //   tagged fields
        0x03, b'b', b'c',       //   key "bc"
        0xff, 0xff, 0xff, 0xff, //   node_id -1
        0x01,                   //   host ""
        0xff, 0xff, 0xff, 0xff, //   port -1
        0x00, 0x0e,             //   error_code 14 COORDINATOR_LOAD_IN_PROGRESS
        0x00,                   //   error_message: null
        0x00,                   //   tagged fields
        0x00,                   // tagged fields
    ];

    #[test]
    fn decodes_v4_batched_response() {
        let mut r = Reader::new(V4_RESPONSE);
        let resp = FindCoordinatorResponse::decode(&mut r, 4).unwrap();
        assert!(r.is_empty());
        assert_eq!(
            resp.coordinators,
            vec![
                Coordinator {
                    key: "a".into(),
                    node_id: 2,
                    host: "h".into(),
                    port: 9093,
                    error_code: 0,
                    error_message: None,
                },
                Coordinator {
                    key: "bc".into(),
                    node_id: -1,
                    host: String::new(),
                    port: -1,
                    error_code: 14,
                    error_message: None,
                },
            ]
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        for (bytes, v) in [(V1_RESPONSE, 1), (V3_RESPONSE, 3), (V4_RESPONSE, 4)] {
            for n in 0..bytes.len() {
                assert!(decode(&bytes[..n], v).is_err(), "v{v} prefix {n}");
            }
        }
    }

    #[test]
    fn huge_array_lengths_fail_without_allocating() {
        // coordinators: COMPACT_ARRAY of u32::MAX - 1 elements.
        let b = [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f];
        let e = decode(&b, 4).unwrap_err();
        assert!(e.to_string().contains("cannot fit"), "{e}");
        // host: STRING of i16::MAX bytes with nothing behind it.
        let mut b = V1_RESPONSE[..12].to_vec();
        b.extend_from_slice(&[0x7f, 0xff]);
        assert!(decode(&b, 1).is_err());
    }
}
