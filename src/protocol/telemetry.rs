//! GetTelemetrySubscriptions (key 71) and PushTelemetry (key 72): client metrics pushed to the
//! cluster (KIP-714).
//!
//! Follows `GetTelemetrySubscriptionsRequest.json`, `GetTelemetrySubscriptionsResponse.json`,
//! `PushTelemetryRequest.json` and `PushTelemetryResponse.json` in
//! `clients/src/main/resources/common/message/` of apache/kafka.
//!
//! # Versions
//!
//! Both APIs have only v0, flexible (compact strings and arrays, tagged fields, header v2).
//! A broker offers them only when it has a client-telemetry plugin configured.
//!
//! - GetTelemetrySubscriptions request: `client_instance_id` UUID (all zeros on the first call:
//!   the broker assigns one). Response: `throttle_time_ms` INT32, `error_code` INT16,
//!   `client_instance_id` UUID (the assigned one, when the request had zeros), `subscription_id`
//!   INT32, `accepted_compression_types` ARRAY(INT8), `push_interval_ms` INT32,
//!   `telemetry_max_bytes` INT32, `delta_temporality` BOOLEAN, `requested_metrics`
//!   ARRAY(STRING) (metric-name prefixes; empty: none; one empty string: all).
//! - PushTelemetry request: `client_instance_id` UUID, `subscription_id` INT32, `terminating`
//!   BOOLEAN, `compression_type` INT8, `metrics` BYTES (OpenTelemetry `MetricsData`, protobuf,
//!   compressed with `compression_type`). Response: `throttle_time_ms` INT32, `error_code` INT16.
//!
//! Runs on: any thread (pure functions).

use super::header::check_version;
use super::primitives::{Encoder, Reader, Uuid};
use super::{ApiKey, Request, Response};
use crate::error::Result;
use std::ops::RangeInclusive;

/// A GetTelemetrySubscriptions request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetTelemetrySubscriptionsRequest {
    /// The client's instance id, or all zeros to have the broker assign one.
    pub client_instance_id: Uuid,
}

/// A GetTelemetrySubscriptions response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetTelemetrySubscriptionsResponse {
    /// KIP-219 throttle.
    pub throttle_time_ms: i32,
    /// 0, or e.g. INVALID_REQUEST / UNKNOWN_SUBSCRIPTION_ID / THROTTLING_QUOTA_EXCEEDED.
    pub error_code: i16,
    /// The assigned instance id (when the request carried zeros), else zeros.
    pub client_instance_id: Uuid,
    /// Identifies the subscription set; sent back with every push.
    pub subscription_id: i32,
    /// Compression codes (record-batch ids) the broker accepts for pushes, in its preference.
    pub accepted_compression_types: Vec<i8>,
    /// How often to push.
    pub push_interval_ms: i32,
    /// The largest push the broker accepts, in bytes.
    pub telemetry_max_bytes: i32,
    /// Counters as deltas (true) or cumulative values.
    pub delta_temporality: bool,
    /// Metric-name prefixes wanted: empty means none, a single empty string means all.
    pub requested_metrics: Vec<String>,
}

impl Request for GetTelemetrySubscriptionsRequest {
    const API_KEY: ApiKey = ApiKey::GetTelemetrySubscriptions;
    const VERSIONS: RangeInclusive<i16> = 0..=0;
    const FLEXIBLE_FROM: i16 = 0;
    type Response = GetTelemetrySubscriptionsResponse;

    fn encode(&self, version: i16, buf: &mut Vec<u8>) -> Result<()> {
        check_version::<Self>(version)?;
        buf.put_uuid(&self.client_instance_id);
        buf.put_empty_tagged_fields();
        Ok(())
    }
}

impl Response for GetTelemetrySubscriptionsResponse {
    fn decode(r: &mut Reader<'_>, _version: i16) -> Result<Self> {
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?;
        let client_instance_id = r.uuid()?;
        let subscription_id = r.i32()?;
        let n = r.array_len(true, 1)?.unwrap_or(0);
        let mut accepted_compression_types = Vec::with_capacity(n);
        for _ in 0..n {
            accepted_compression_types.push(r.i8()?);
        }
        let push_interval_ms = r.i32()?;
        let telemetry_max_bytes = r.i32()?;
        let delta_temporality = r.bool()?;
        let n = r.array_len(true, 1)?.unwrap_or(0);
        let mut requested_metrics = Vec::with_capacity(n);
        for _ in 0..n {
            requested_metrics.push(r.compact_string()?.to_owned());
        }
        r.skip_tagged_fields()?;
        Ok(GetTelemetrySubscriptionsResponse {
            throttle_time_ms,
            error_code,
            client_instance_id,
            subscription_id,
            accepted_compression_types,
            push_interval_ms,
            telemetry_max_bytes,
            delta_temporality,
            requested_metrics,
        })
    }
}

/// A PushTelemetry request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTelemetryRequest {
    /// The instance id the broker assigned.
    pub client_instance_id: Uuid,
    /// The subscription the metrics answer.
    pub subscription_id: i32,
    /// The last push of a closing client.
    pub terminating: bool,
    /// The record-batch compression id `metrics` is compressed with (0: none).
    pub compression_type: i8,
    /// OpenTelemetry `MetricsData` (protobuf), compressed.
    pub metrics: Vec<u8>,
}

/// A PushTelemetry response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PushTelemetryResponse {
    /// KIP-219 throttle.
    pub throttle_time_ms: i32,
    /// 0, or e.g. UNKNOWN_SUBSCRIPTION_ID / TELEMETRY_TOO_LARGE / THROTTLING_QUOTA_EXCEEDED.
    pub error_code: i16,
}

impl Request for PushTelemetryRequest {
    const API_KEY: ApiKey = ApiKey::PushTelemetry;
    const VERSIONS: RangeInclusive<i16> = 0..=0;
    const FLEXIBLE_FROM: i16 = 0;
    type Response = PushTelemetryResponse;

    fn encode(&self, version: i16, buf: &mut Vec<u8>) -> Result<()> {
        check_version::<Self>(version)?;
        buf.put_uuid(&self.client_instance_id);
        buf.put_i32(self.subscription_id);
        buf.put_bool(self.terminating);
        buf.put_i8(self.compression_type);
        buf.put_compact_bytes(Some(&self.metrics));
        buf.put_empty_tagged_fields();
        Ok(())
    }
}

impl Response for PushTelemetryResponse {
    fn decode(r: &mut Reader<'_>, _version: i16) -> Result<Self> {
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?;
        r.skip_tagged_fields()?;
        Ok(PushTelemetryResponse { throttle_time_ms, error_code })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: Uuid = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];

    #[test]
    fn golden_get_subscriptions() {
        let mut buf = Vec::new();
        GetTelemetrySubscriptionsRequest { client_instance_id: [0; 16] }.encode(0, &mut buf).unwrap();
        assert_eq!(buf, [[0u8; 16].as_slice(), &[0]].concat(), "uuid, tagged fields");
        #[rustfmt::skip]
        let resp: Vec<u8> = [
            &[0, 0, 0, 0][..],          // throttle_time_ms
            &[0, 0],                    // error_code
            &ID,                        // client_instance_id
            &[0, 0, 0, 7],              // subscription_id 7
            &[3, 4, 3],                 // accepted compression: [zstd, lz4]
            &[0, 0, 0x03, 0xe8],        // push_interval_ms 1000
            &[0, 0x10, 0, 0],           // telemetry_max_bytes 1 MiB
            &[1],                       // delta_temporality
            &[2, 0x1b],                 // requested_metrics: one string of 26 bytes
            b"org.apache.kafka.producer.",
            &[0],                       // tagged fields
        ]
        .concat();
        let r = GetTelemetrySubscriptionsResponse::decode(&mut Reader::new(&resp), 0).unwrap();
        assert_eq!(r.client_instance_id, ID);
        assert_eq!(r.subscription_id, 7);
        assert_eq!(r.accepted_compression_types, [4, 3]);
        assert_eq!((r.push_interval_ms, r.telemetry_max_bytes, r.delta_temporality), (1000, 1 << 20, true));
        assert_eq!(r.requested_metrics, ["org.apache.kafka.producer."]);
    }

    #[test]
    fn golden_push() {
        let req = PushTelemetryRequest {
            client_instance_id: ID,
            subscription_id: -2,
            terminating: true,
            compression_type: 0,
            metrics: vec![0x0a, 0x00],
        };
        let mut buf = Vec::new();
        req.encode(0, &mut buf).unwrap();
        let want = [&ID[..], &[0xff, 0xff, 0xff, 0xfe], &[1], &[0], &[3, 0x0a, 0x00], &[0]].concat();
        assert_eq!(buf, want);
        let r = PushTelemetryResponse::decode(&mut Reader::new(&[0, 0, 0, 5, 0, 117, 0]), 0).unwrap();
        assert_eq!(r, PushTelemetryResponse { throttle_time_ms: 5, error_code: 117 });
    }

    #[test]
    fn truncated_responses_are_errors_not_panics() {
        let bytes = [0u8; 40];
        for n in 0..bytes.len() {
            let _ = GetTelemetrySubscriptionsResponse::decode(&mut Reader::new(&bytes[..n]), 0);
            let _ = PushTelemetryResponse::decode(&mut Reader::new(&bytes[..n]), 0);
        }
        // A huge array length is refused before allocating.
        let mut big = vec![0u8; 26];
        big.extend_from_slice(&[0xff, 0xff, 0xff, 0x0f]);
        assert!(GetTelemetrySubscriptionsResponse::decode(&mut Reader::new(&big), 0).is_err());
    }
}
