//! InitProducerId (key 22): get a producer id and epoch (idempotence), or fence the previous
//! instance of a transactional id and bump its epoch (transactions).
//!
//! Follows `InitProducerIdRequest.json` and `InitProducerIdResponse.json` in
//! `clients/src/main/resources/common/message/` of apache/kafka (valid versions 0-6 as of
//! Kafka 4.3, flexible from 2). The stored apache/kafka trunk snapshot (October 2024) stops at
//! v5; v6 (KIP-939) was checked against code generated from the Kafka 4.3.1 JSON
//! (scholzj/go-kafka-protocol, `api/initproducerid`).
//!
//! # Versions: 0 to 6
//!
//! - KIP-896 (Kafka 4.0 drops old protocol versions) left InitProducerId alone: every version
//!   from v0 (Kafka 0.11) is still valid, so the range starts at 0.
//! - v1 is v0 (the broker answers before throttling). v2 is the first flexible version.
//! - v3 adds `producer_id` and `producer_epoch`, so that a producer can ask to bump the epoch
//!   of the id it has (KIP-360) instead of getting a new one. Both default to -1 ("none").
//!   Below v3 they cannot be sent: encoding v0-v2 with either set is an error, as Java's
//!   generated writer makes it (the fields are not `ignorable`), since silently dropping them
//!   would turn an epoch bump into a fresh id.
//! - v4 lets the broker answer PRODUCER_FENCED, v5 TRANSACTION_ABORTABLE (KIP-890); the bytes
//!   are v3's.
//! - v6 (KIP-939, two-phase commit) adds `enable_2pc` and `keep_prepared_txn` to the request,
//!   which this client always sends as false, and `ongoing_txn_producer_id` /
//!   `ongoing_txn_producer_epoch` to the response, which are only meaningful with
//!   `keep_prepared_txn` and are read and dropped.
//!
//! Request fields: `transactional_id` NULLABLE_STRING, `transaction_timeout_ms` INT32,
//! `producer_id` INT64 (v3+), `producer_epoch` INT16 (v3+), `enable_2pc` BOOLEAN (v6+),
//! `keep_prepared_txn` BOOLEAN (v6+).
//!
//! Response fields: `throttle_time_ms` INT32, `error_code` INT16, `producer_id` INT64,
//! `producer_epoch` INT16, `ongoing_txn_producer_id` INT64 (v6+), `ongoing_txn_producer_epoch`
//! INT16 (v6+). No tagged fields are defined; unknown ones are skipped.
//!
//! Runs on: any thread (pure functions).

use super::header::check_version;
use super::primitives::{Encoder, Reader};
use super::{check_string_len, field_not_in_version, ApiKey, Request, Response};
use crate::error::Result;
use std::ops::RangeInclusive;

/// The first version that carries the producer's current id and epoch.
pub const FIRST_VERSION_WITH_PRODUCER_ID: i16 = 3;

/// An InitProducerId request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerIdRequest {
    /// The transactional id, or `None` for an idempotent (non-transactional) producer.
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`: how long the coordinator lets a transaction stay open before
    /// aborting it. Only used with a transactional id.
    pub transaction_timeout_ms: i32,
    /// The producer id in use, to bump its epoch (v3+); -1 for none (the default).
    pub producer_id: i64,
    /// The epoch in use with `producer_id` (v3+); -1 for none (the default).
    pub producer_epoch: i16,
}

impl InitProducerIdRequest {
    /// A request for a fresh producer id: `producer_id` and `producer_epoch` are -1.
    pub fn new(transactional_id: Option<String>, transaction_timeout_ms: i32) -> Self {
        InitProducerIdRequest {
            transactional_id,
            transaction_timeout_ms,
            producer_id: -1,
            producer_epoch: -1,
        }
    }
}

/// An InitProducerId response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitProducerIdResponse {
    /// Throttle time.
    pub throttle_time_ms: i32,
    /// 0, or the Kafka error code.
    pub error_code: i16,
    /// The producer id to use (-1 on error).
    pub producer_id: i64,
    /// The epoch to use with it.
    pub producer_epoch: i16,
}

impl Request for InitProducerIdRequest {
    const API_KEY: ApiKey = ApiKey::InitProducerId;
    const VERSIONS: RangeInclusive<i16> = 0..=6;
    const FLEXIBLE_FROM: i16 = 2;
    type Response = InitProducerIdResponse;

    fn encode(&self, version: i16, buf: &mut Vec<u8>) -> Result<()> {
        check_version::<Self>(version)?;
        let flexible = Self::is_flexible(version);
        if let Some(id) = &self.transactional_id {
            check_string_len("transactional id", id)?;
        }
        if version < FIRST_VERSION_WITH_PRODUCER_ID && (self.producer_id != -1 || self.producer_epoch != -1) {
            return Err(field_not_in_version(
                Self::API_KEY,
                version,
                &format!("producer_id {} / producer_epoch {}", self.producer_id, self.producer_epoch),
                "v3+",
            ));
        }
        buf.put_str_v(self.transactional_id.as_deref(), flexible);
        buf.put_i32(self.transaction_timeout_ms);
        if version >= FIRST_VERSION_WITH_PRODUCER_ID {
            buf.put_i64(self.producer_id);
            buf.put_i16(self.producer_epoch);
        }
        if version >= 6 {
            buf.put_bool(false); // enable_2pc
            buf.put_bool(false); // keep_prepared_txn
        }
        if flexible {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }
}

impl Response for InitProducerIdResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        if version >= 6 {
            let _ongoing_txn_producer_id = r.i64()?;
            let _ongoing_txn_producer_epoch = r.i16()?;
        }
        if InitProducerIdRequest::is_flexible(version) {
            r.skip_tagged_fields()?;
        }
        Ok(InitProducerIdResponse { throttle_time_ms, error_code, producer_id, producer_epoch })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(req: &InitProducerIdRequest, version: i16) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        req.encode(version, &mut buf)?;
        Ok(buf)
    }

    fn decode(bytes: &[u8], version: i16) -> Result<InitProducerIdResponse> {
        InitProducerIdResponse::decode(&mut Reader::new(bytes), version)
    }

    fn bump(producer_id: i64, producer_epoch: i16) -> InitProducerIdRequest {
        InitProducerIdRequest {
            producer_id,
            producer_epoch,
            ..InitProducerIdRequest::new(Some("tx".into()), 60_000)
        }
    }

    #[test]
    fn golden_request_v0() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x00, 0x02, b't', b'x', // transactional_id: NULLABLE_STRING "tx"
            0x00, 0x00, 0xea, 0x60, // transaction_timeout_ms 60000
        ];
        assert_eq!(enc(&InitProducerIdRequest::new(Some("tx".into()), 60_000), 0).unwrap(), want);
        #[rustfmt::skip]
        let idempotent: &[u8] = &[
            0xff, 0xff,             // transactional_id: null (idempotent producer)
            0x7f, 0xff, 0xff, 0xff, // transaction_timeout_ms i32::MAX
        ];
        assert_eq!(enc(&InitProducerIdRequest::new(None, i32::MAX), 1).unwrap(), idempotent);
    }

    #[test]
    fn golden_request_v2_null_id() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x00,                   // transactional_id: COMPACT_NULLABLE_STRING null
            0x00, 0x00, 0x03, 0xe8, // transaction_timeout_ms 1000
                                    // (no producer_id / producer_epoch below v3)
            0x00,                   // tagged fields
        ];
        assert_eq!(enc(&InitProducerIdRequest::new(None, 1000), 2).unwrap(), want);
    }

    #[test]
    fn golden_request_v3() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x03, b't', b'x',       // transactional_id: COMPACT_NULLABLE_STRING (2+1) "tx"
            0x00, 0x00, 0xea, 0x60, // transaction_timeout_ms 60000
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // producer_id 42
            0x00, 0x05,             // producer_epoch 5
            0x00,                   // tagged fields
        ];
        assert_eq!(enc(&bump(42, 5), 3).unwrap(), want);
        // v4 and v5 only add error codes: same bytes.
        assert_eq!(enc(&bump(42, 5), 5).unwrap(), want);
    }

    #[test]
    fn golden_request_v6() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x03, b't', b'x',       // transactional_id "tx"
            0x00, 0x00, 0xea, 0x60, // transaction_timeout_ms 60000
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // producer_id -1 (default)
            0xff, 0xff,             // producer_epoch -1 (default)
            0x00,                   // enable_2pc: false
            0x00,                   // keep_prepared_txn: false
            0x00,                   // tagged fields
        ];
        assert_eq!(enc(&InitProducerIdRequest::new(Some("tx".into()), 60_000), 6).unwrap(), want);
    }

    #[test]
    fn producer_id_below_v3_is_an_error() {
        let e = enc(&bump(42, 5), 2).unwrap_err();
        assert!(e.to_string().contains("InitProducerId v2 cannot carry producer_id 42"), "{e}");
        assert!(enc(&bump(-1, 0), 0).is_err());
        assert!(enc(&bump(-1, -1), 2).is_ok());
    }

    #[test]
    fn every_version_encodes() {
        for v in InitProducerIdRequest::VERSIONS {
            let req = if v < 3 { bump(-1, -1) } else { bump(7, 1) };
            assert!(!enc(&req, v).unwrap().is_empty(), "v{v}");
        }
        assert!(enc(&bump(-1, -1), -1).is_err());
        assert!(enc(&bump(-1, -1), 7).is_err());
        let long = InitProducerIdRequest::new(Some("x".repeat(40_000)), 1);
        assert!(enc(&long, 3).unwrap_err().to_string().contains("transactional id of 40000 bytes"));
    }

    #[rustfmt::skip]
    const V0_RESPONSE: &[u8] = &[
        0x00, 0x00, 0x00, 0x00,                         // throttle_time_ms 0
        0x00, 0x00,                                     // error_code 0
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, // producer_id 4096
        0x00, 0x00,                                     // producer_epoch 0
    ];

    #[test]
    fn decodes_v0_response() {
        let mut r = Reader::new(V0_RESPONSE);
        assert_eq!(
            InitProducerIdResponse::decode(&mut r, 0).unwrap(),
            InitProducerIdResponse {
                throttle_time_ms: 0,
                error_code: 0,
                producer_id: 4096,
                producer_epoch: 0
            }
        );
        assert!(r.is_empty());
    }

    #[rustfmt::skip]
    const V2_RESPONSE: &[u8] = &[
        0x00, 0x00, 0x00, 0x0a,                         // throttle_time_ms 10
        0x00, 0x33,                                     // error_code 51 CONCURRENT_TRANSACTIONS
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // producer_id -1
        0xff, 0xff,                                     // producer_epoch -1
        0x01, 0x03, 0x02, 0xab, 0xcd,                   // tags: 1; tag 3 (unknown), 2 bytes
    ];

    #[test]
    fn decodes_v2_response_skipping_unknown_tags() {
        let mut r = Reader::new(V2_RESPONSE);
        assert_eq!(
            InitProducerIdResponse::decode(&mut r, 2).unwrap(),
            InitProducerIdResponse {
                throttle_time_ms: 10,
                error_code: 51,
                producer_id: -1,
                producer_epoch: -1
            }
        );
        assert!(r.is_empty());
    }

    #[rustfmt::skip]
    const V6_RESPONSE: &[u8] = &[
        0x00, 0x00, 0x00, 0x00,                         // throttle_time_ms 0
        0x00, 0x00,                                     // error_code 0
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, // producer_id 7
        0x00, 0x03,                                     // producer_epoch 3
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // ongoing_txn_producer_id -1 (ignored)
        0xff, 0xff,                                     // ongoing_txn_producer_epoch -1 (ignored)
        0x00,                                           // tagged fields
    ];

    #[test]
    fn decodes_v6_response_and_drops_ongoing_txn_fields() {
        let mut r = Reader::new(V6_RESPONSE);
        assert_eq!(
            InitProducerIdResponse::decode(&mut r, 6).unwrap(),
            InitProducerIdResponse { throttle_time_ms: 0, error_code: 0, producer_id: 7, producer_epoch: 3 }
        );
        assert!(r.is_empty());
    }

    #[test]
    fn every_truncation_is_an_error() {
        for (bytes, v) in [(V0_RESPONSE, 0), (V2_RESPONSE, 2), (V6_RESPONSE, 6)] {
            for n in 0..bytes.len() {
                assert!(decode(&bytes[..n], v).is_err(), "v{v} prefix {n}");
            }
        }
    }

    #[test]
    fn huge_tagged_field_fails_without_allocating() {
        // There are no arrays here; the only length on the wire is a tagged field's size.
        let mut b = V2_RESPONSE[..16].to_vec();
        b.extend_from_slice(&[0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f]); // 1 tag, size u32::MAX
        assert!(decode(&b, 2).unwrap_err().to_string().contains("truncated tagged field"));
        // A tag count of u32::MAX with nothing behind it.
        let mut b = V2_RESPONSE[..16].to_vec();
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(decode(&b, 2).is_err());
    }
}
