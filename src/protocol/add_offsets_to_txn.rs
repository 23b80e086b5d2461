//! AddOffsetsToTxn (key 25): add a consumer group's offsets partition to the open
//! transaction, before committing offsets with TxnOffsetCommit (`sendOffsetsToTransaction`).
//!
//! Follows `AddOffsetsToTxnRequest.json` and `AddOffsetsToTxnResponse.json` in
//! `clients/src/main/resources/common/message/` of apache/kafka (valid versions 0-4 as of
//! Kafka 4.x, flexible from 3), as of the apache/kafka trunk snapshot of October 2024 (checked
//! against code generated from the Kafka 4.3.1 JSON: scholzj/go-kafka-protocol,
//! `api/addoffsetstotxn`, which has the same range).
//!
//! # Versions: 0 to 4
//!
//! - KIP-896 left every version valid, so the range starts at v0 (Kafka 0.11).
//! - v1 is v0 (the broker answers before throttling); v2 lets the broker answer
//!   PRODUCER_FENCED; v3 is the first flexible version; v4 lets it answer
//!   TRANSACTION_ABORTABLE (KIP-890). The fields never change.
//! - With transaction version 2 (KIP-890 part 2) a producer skips this request: TxnOffsetCommit
//!   v5+ adds the group to the transaction itself.
//!
//! Request fields: `transactional_id` STRING, `producer_id` INT64, `producer_epoch` INT16,
//! `group_id` STRING. Response fields: `throttle_time_ms` INT32, `error_code` INT16. No tagged
//! fields are defined; unknown ones are skipped.
//!
//! Runs on: any thread (pure functions).

use super::header::check_version;
use super::primitives::{Encoder, Reader};
use super::{check_string_len, ApiKey, Request, Response};
use crate::error::Result;
use std::ops::RangeInclusive;

/// An AddOffsetsToTxn request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddOffsetsToTxnRequest {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id in use with it.
    pub producer_id: i64,
    /// The producer epoch in use.
    pub producer_epoch: i16,
    /// The consumer group whose offsets the transaction will commit.
    pub group_id: String,
}

/// An AddOffsetsToTxn response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddOffsetsToTxnResponse {
    /// Throttle time.
    pub throttle_time_ms: i32,
    /// 0, or the Kafka error code.
    pub error_code: i16,
}

impl Request for AddOffsetsToTxnRequest {
    const API_KEY: ApiKey = ApiKey::AddOffsetsToTxn;
    const VERSIONS: RangeInclusive<i16> = 0..=4;
    const FLEXIBLE_FROM: i16 = 3;
    type Response = AddOffsetsToTxnResponse;

    fn encode(&self, version: i16, buf: &mut Vec<u8>) -> Result<()> {
        check_version::<Self>(version)?;
        let flexible = Self::is_flexible(version);
        check_string_len("transactional id", &self.transactional_id)?;
        check_string_len("group id", &self.group_id)?;
        buf.put_str_v(Some(&self.transactional_id), flexible);
        buf.put_i64(self.producer_id);
        buf.put_i16(self.producer_epoch);
        buf.put_str_v(Some(&self.group_id), flexible);
        if flexible {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }
}

impl Response for AddOffsetsToTxnResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?;
        if AddOffsetsToTxnRequest::is_flexible(version) {
            r.skip_tagged_fields()?;
        }
        Ok(AddOffsetsToTxnResponse { throttle_time_ms, error_code })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(req: &AddOffsetsToTxnRequest, version: i16) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        req.encode(version, &mut buf)?;
        Ok(buf)
    }

    fn decode(bytes: &[u8], version: i16) -> Result<AddOffsetsToTxnResponse> {
        AddOffsetsToTxnResponse::decode(&mut Reader::new(bytes), version)
    }

    fn request() -> AddOffsetsToTxnRequest {
        AddOffsetsToTxnRequest {
            transactional_id: "tx".into(),
            producer_id: 42,
            producer_epoch: 5,
            group_id: "g".into(),
        }
    }

    #[test]
    fn golden_request_v0() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x00, 0x02, b't', b'x', // transactional_id: STRING "tx"
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // producer_id 42
            0x00, 0x05,             // producer_epoch 5
            0x00, 0x01, b'g',       // group_id: STRING "g"
        ];
        assert_eq!(enc(&request(), 0).unwrap(), want);
        assert_eq!(enc(&request(), 2).unwrap(), want);
    }

    #[test]
    fn golden_request_v3() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x03, b't', b'x',       // transactional_id: COMPACT_STRING (2+1) "tx"
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // producer_id 42
            0x00, 0x05,             // producer_epoch 5
            0x02, b'g',             // group_id: COMPACT_STRING (1+1) "g"
            0x00,                   // tagged fields
        ];
        assert_eq!(enc(&request(), 3).unwrap(), want);
        assert_eq!(enc(&request(), 4).unwrap(), want);
    }

    #[test]
    fn every_version_encodes() {
        for v in AddOffsetsToTxnRequest::VERSIONS {
            assert!(!enc(&request(), v).unwrap().is_empty(), "v{v}");
        }
        assert!(enc(&request(), 5).is_err());
        let long = AddOffsetsToTxnRequest { group_id: "g".repeat(40_000), ..request() };
        assert!(enc(&long, 0).unwrap_err().to_string().contains("group id of 40000 bytes"));
    }

    #[rustfmt::skip]
    const V0_RESPONSE: &[u8] = &[
        0x00, 0x00, 0x00, 0x00, // throttle_time_ms 0
        0x00, 0x2f,             // error_code 47 INVALID_PRODUCER_EPOCH
    ];

    #[rustfmt::skip]
    const V3_RESPONSE: &[u8] = &[
        0x00, 0x00, 0x00, 0x64, // throttle_time_ms 100
        0x00, 0x00,             // error_code 0
        0x01, 0x02, 0x01, 0xee, // tags: 1; tag 2 (unknown), 1 byte
    ];

    #[test]
    fn decodes_v0_and_v3_responses() {
        assert_eq!(
            decode(V0_RESPONSE, 0).unwrap(),
            AddOffsetsToTxnResponse { throttle_time_ms: 0, error_code: 47 }
        );
        let mut r = Reader::new(V3_RESPONSE);
        assert_eq!(
            AddOffsetsToTxnResponse::decode(&mut r, 3).unwrap(),
            AddOffsetsToTxnResponse { throttle_time_ms: 100, error_code: 0 }
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
    fn huge_tagged_field_fails_without_allocating() {
        // No arrays here; the only length on the wire is a tagged field's size (u32::MAX).
        let b = [0, 0, 0, 0, 0, 0, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(decode(&b, 3).unwrap_err().to_string().contains("truncated tagged field"));
    }
}
