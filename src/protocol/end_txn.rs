//! EndTxn (key 26): commit or abort the open transaction.
//!
//! Follows `EndTxnRequest.json` and `EndTxnResponse.json` in
//! `clients/src/main/resources/common/message/` of apache/kafka (valid versions 0-5 as of
//! Kafka 4.x, flexible from 3), as of the apache/kafka trunk snapshot of October 2024, where
//! v5 was still `"latestVersionUnstable": true`; checked against code generated from the Kafka
//! 4.3.1 JSON (scholzj/go-kafka-protocol, `api/endtxn`), which has the same fields.
//!
//! # Versions: 0 to 5
//!
//! - KIP-896 left every version valid, so the range starts at v0 (Kafka 0.11).
//! - v1 is v0 (the broker answers before throttling); v2 lets the broker answer
//!   PRODUCER_FENCED; v3 is the first flexible version; v4 lets it answer
//!   TRANSACTION_ABORTABLE (KIP-890).
//! - v5 (KIP-890 part 2, transaction version 2): the coordinator bumps the producer epoch at
//!   the end of every transaction, and the response carries the `producer_id` and
//!   `producer_epoch` to use next. A client that does not run transaction version 2 stays at
//!   [`LAST_VERSION_BEFORE_TXN_V2`] (as Java's `EndTxnRequest.Builder` does when
//!   `isTransactionV2Enabled` is false); capping is the caller's choice, the request bytes are
//!   the same.
//!
//! Request fields: `transactional_id` STRING, `producer_id` INT64, `producer_epoch` INT16,
//! `committed` BOOLEAN. Response fields: `throttle_time_ms` INT32, `error_code` INT16,
//! `producer_id` INT64 (v5+, default -1), `producer_epoch` INT16 (v5+, default -1). No tagged
//! fields are defined; unknown ones are skipped.
//!
//! Runs on: any thread (pure functions).

use super::header::check_version;
use super::primitives::{Encoder, Reader};
use super::{check_string_len, ApiKey, Request, Response};
use crate::error::Result;
use std::ops::RangeInclusive;

/// The last EndTxn version for a client without transaction version 2 (KIP-890 part 2).
pub const LAST_VERSION_BEFORE_TXN_V2: i16 = 4;

/// An EndTxn request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndTxnRequest {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id in use with it.
    pub producer_id: i64,
    /// The producer epoch in use.
    pub producer_epoch: i16,
    /// True to commit, false to abort.
    pub committed: bool,
}

/// An EndTxn response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTxnResponse {
    /// Throttle time.
    pub throttle_time_ms: i32,
    /// 0, or the Kafka error code.
    pub error_code: i16,
    /// The producer id to use next (v5+; -1 below).
    pub producer_id: i64,
    /// The producer epoch to use next (v5+; -1 below).
    pub producer_epoch: i16,
}

impl Request for EndTxnRequest {
    const API_KEY: ApiKey = ApiKey::EndTxn;
    const VERSIONS: RangeInclusive<i16> = 0..=5;
    const FLEXIBLE_FROM: i16 = 3;
    type Response = EndTxnResponse;

    fn encode(&self, version: i16, buf: &mut Vec<u8>) -> Result<()> {
        check_version::<Self>(version)?;
        let flexible = Self::is_flexible(version);
        check_string_len("transactional id", &self.transactional_id)?;
        buf.put_str_v(Some(&self.transactional_id), flexible);
        buf.put_i64(self.producer_id);
        buf.put_i16(self.producer_epoch);
        buf.put_bool(self.committed);
        if flexible {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }
}

impl Response for EndTxnResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?;
        let (producer_id, producer_epoch) = if version >= 5 { (r.i64()?, r.i16()?) } else { (-1, -1) };
        if EndTxnRequest::is_flexible(version) {
            r.skip_tagged_fields()?;
        }
        Ok(EndTxnResponse { throttle_time_ms, error_code, producer_id, producer_epoch })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(req: &EndTxnRequest, version: i16) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        req.encode(version, &mut buf)?;
        Ok(buf)
    }

    fn decode(bytes: &[u8], version: i16) -> Result<EndTxnResponse> {
        EndTxnResponse::decode(&mut Reader::new(bytes), version)
    }

    fn request(committed: bool) -> EndTxnRequest {
        EndTxnRequest { transactional_id: "tx".into(), producer_id: 42, producer_epoch: 5, committed }
    }

    #[test]
    fn golden_request_v0() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x00, 0x02, b't', b'x', // transactional_id: STRING "tx"
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // producer_id 42
            0x00, 0x05,             // producer_epoch 5
            0x01,                   // committed: true
        ];
        assert_eq!(enc(&request(true), 0).unwrap(), want);
        assert_eq!(enc(&request(true), 2).unwrap(), want);
    }

    #[test]
    fn golden_request_v3() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x03, b't', b'x',       // transactional_id: COMPACT_STRING (2+1) "tx"
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // producer_id 42
            0x00, 0x05,             // producer_epoch 5
            0x00,                   // committed: false (abort)
            0x00,                   // tagged fields
        ];
        assert_eq!(enc(&request(false), 3).unwrap(), want);
        // v4 and v5 requests are v3 on the wire.
        assert_eq!(enc(&request(false), 5).unwrap(), want);
    }

    #[test]
    fn every_version_encodes() {
        for v in EndTxnRequest::VERSIONS {
            assert!(!enc(&request(true), v).unwrap().is_empty(), "v{v}");
        }
        assert!(enc(&request(true), 6).is_err());
        assert!(LAST_VERSION_BEFORE_TXN_V2 < *EndTxnRequest::VERSIONS.end());
    }

    #[rustfmt::skip]
    const V0_RESPONSE: &[u8] = &[
        0x00, 0x00, 0x00, 0x00, // throttle_time_ms 0
        0x00, 0x00,             // error_code 0
    ];

    #[rustfmt::skip]
    const V3_RESPONSE: &[u8] = &[
        0x00, 0x00, 0x00, 0x0a, // throttle_time_ms 10
        0x00, 0x5a,             // error_code 90 PRODUCER_FENCED
        0x00,                   // tagged fields
    ];

    #[rustfmt::skip]
    const V5_RESPONSE: &[u8] = &[
        0x00, 0x00, 0x00, 0x00, // throttle_time_ms 0
        0x00, 0x00,             // error_code 0
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // producer_id 42
        0x00, 0x06,             // producer_epoch 6 (bumped)
        0x00,                   // tagged fields
    ];

    #[test]
    fn decodes_v0_v3_and_v5_responses() {
        assert_eq!(
            decode(V0_RESPONSE, 0).unwrap(),
            EndTxnResponse { throttle_time_ms: 0, error_code: 0, producer_id: -1, producer_epoch: -1 }
        );
        let mut r = Reader::new(V3_RESPONSE);
        assert_eq!(
            EndTxnResponse::decode(&mut r, 3).unwrap(),
            EndTxnResponse { throttle_time_ms: 10, error_code: 90, producer_id: -1, producer_epoch: -1 }
        );
        assert!(r.is_empty());
        let mut r = Reader::new(V5_RESPONSE);
        assert_eq!(
            EndTxnResponse::decode(&mut r, 5).unwrap(),
            EndTxnResponse { throttle_time_ms: 0, error_code: 0, producer_id: 42, producer_epoch: 6 }
        );
        assert!(r.is_empty());
    }

    #[test]
    fn every_truncation_is_an_error() {
        for (bytes, v) in [(V0_RESPONSE, 0), (V3_RESPONSE, 3), (V5_RESPONSE, 5)] {
            for n in 0..bytes.len() {
                assert!(decode(&bytes[..n], v).is_err(), "v{v} prefix {n}");
            }
        }
    }

    #[test]
    fn huge_tagged_field_fails_without_allocating() {
        // No arrays here; the only length on the wire is a tagged field's size (u32::MAX).
        let b = [0, 0, 0, 0, 0, 0, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(decode(&b, 3).unwrap_err().to_string().contains("truncated tagged field"));
    }
}
