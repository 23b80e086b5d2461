//! The Kafka wire protocol: bytes on the wire, no I/O, no threads. Not part of the supported
//! API (hidden from the docs; public for the crate's own tests, benchmarks and fuzz targets).
//!
//! One module per API, each mirroring the Java client's JSON message definition
//! (`clients/src/main/resources/common/message/*.json`) field by field, with its version
//! range and first flexible version as data: `VERSIONS` and `FLEXIBLE_FROM` on `Request`.
//! Requests encode into a caller's `Vec<u8>`; responses decode from `&[u8]` through
//! [`primitives::Reader`] and fail with a `Protocol` error, never a panic, on bad bytes.

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod api_versions;
pub mod end_txn;
pub mod find_coordinator;
pub mod header;
pub mod init_producer_id;
pub mod metadata;
pub mod primitives;
pub mod produce;
pub mod record_batch;
pub mod sasl;
pub mod telemetry;
pub mod txn_offset_commit;

use crate::error::{Error, Result};
use primitives::Reader;
use std::ops::RangeInclusive;

/// Kafka API keys this crate speaks (numbers from the protocol guide).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i16)]
pub enum ApiKey {
    /// Produce (0).
    Produce = 0,
    /// Fetch (1): only the mock cluster answers it.
    Fetch = 1,
    /// ListOffsets (2): only the mock cluster answers it.
    ListOffsets = 2,
    /// Metadata (3).
    Metadata = 3,
    /// FindCoordinator (10).
    FindCoordinator = 10,
    /// SaslHandshake (17).
    SaslHandshake = 17,
    /// ApiVersions (18).
    ApiVersions = 18,
    /// InitProducerId (22).
    InitProducerId = 22,
    /// AddPartitionsToTxn (24).
    AddPartitionsToTxn = 24,
    /// AddOffsetsToTxn (25).
    AddOffsetsToTxn = 25,
    /// EndTxn (26).
    EndTxn = 26,
    /// TxnOffsetCommit (28).
    TxnOffsetCommit = 28,
    /// SaslAuthenticate (36).
    SaslAuthenticate = 36,
    /// GetTelemetrySubscriptions (71, KIP-714).
    GetTelemetrySubscriptions = 71,
    /// PushTelemetry (72, KIP-714).
    PushTelemetry = 72,
}

impl ApiKey {
    /// The key's number on the wire.
    pub fn code(self) -> i16 {
        self as i16
    }

    /// The Java name of the API.
    pub fn name(self) -> &'static str {
        match self {
            ApiKey::Produce => "Produce",
            ApiKey::Fetch => "Fetch",
            ApiKey::ListOffsets => "ListOffsets",
            ApiKey::Metadata => "Metadata",
            ApiKey::FindCoordinator => "FindCoordinator",
            ApiKey::ApiVersions => "ApiVersions",
            ApiKey::InitProducerId => "InitProducerId",
            ApiKey::AddPartitionsToTxn => "AddPartitionsToTxn",
            ApiKey::AddOffsetsToTxn => "AddOffsetsToTxn",
            ApiKey::EndTxn => "EndTxn",
            ApiKey::TxnOffsetCommit => "TxnOffsetCommit",
            ApiKey::SaslHandshake => "SaslHandshake",
            ApiKey::SaslAuthenticate => "SaslAuthenticate",
            ApiKey::GetTelemetrySubscriptions => "GetTelemetrySubscriptions",
            ApiKey::PushTelemetry => "PushTelemetry",
        }
    }
}

/// A request message body for one API.
pub trait Request {
    /// The API this request belongs to.
    const API_KEY: ApiKey;
    /// The versions this crate can encode and decode, lowest to highest.
    const VERSIONS: RangeInclusive<i16>;
    /// The first flexible version (compact strings, tagged fields, header v2);
    /// `i16::MAX` when the API has none.
    const FLEXIBLE_FROM: i16;
    /// The matching response body.
    type Response: Response;

    /// Appends the body (no header, no size prefix) for `version` to `buf`.
    fn encode(&self, version: i16, buf: &mut Vec<u8>) -> Result<()>;

    /// Whether `version` is flexible.
    fn is_flexible(version: i16) -> bool {
        version >= Self::FLEXIBLE_FROM
    }
}

/// A response message body.
pub trait Response: Sized {
    /// Decodes the body (after the response header) of `version`.
    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self>;
}

/// Fails when `s`, written as a STRING (int16 length), would not fit; `what` names the field.
pub(crate) fn check_string_len(what: &str, s: &str) -> Result<()> {
    if s.len() > i16::MAX as usize {
        return Err(Error::protocol(format!(
            "{what} of {} bytes is longer than a Kafka string allows",
            s.len()
        )));
    }
    Ok(())
}

/// The error for a field that `version` of `api` lacks but that holds a value other than its
/// default. Java's generated writers refuse such a request (UnsupportedVersionException)
/// rather than drop the field, unless the schema marks it `ignorable`; the modules here do the
/// same.
pub(crate) fn field_not_in_version(api: ApiKey, version: i16, field: &str, need: &str) -> Error {
    Error::protocol(format!(
        "{} v{version} cannot carry {field} (it needs {need}); negotiate a higher version",
        api.name()
    ))
}

/// The highest version both we (`ours`) and the broker (`broker_min..=broker_max`) support,
/// or `None` when the ranges do not meet.
pub fn negotiate(ours: &RangeInclusive<i16>, broker_min: i16, broker_max: i16) -> Option<i16> {
    let hi = (*ours.end()).min(broker_max);
    let lo = (*ours.start()).max(broker_min);
    (lo <= hi).then_some(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_picks_highest_common_version() {
        assert_eq!(negotiate(&(3..=12), 0, 9), Some(9));
        assert_eq!(negotiate(&(3..=12), 0, 13), Some(12));
        assert_eq!(negotiate(&(3..=12), 0, 2), None);
        assert_eq!(negotiate(&(3..=12), 13, 14), None);
    }

    #[test]
    fn api_keys_have_their_protocol_numbers_and_java_names() {
        for (key, code, name) in [
            (ApiKey::FindCoordinator, 10, "FindCoordinator"),
            (ApiKey::InitProducerId, 22, "InitProducerId"),
            (ApiKey::AddPartitionsToTxn, 24, "AddPartitionsToTxn"),
            (ApiKey::AddOffsetsToTxn, 25, "AddOffsetsToTxn"),
            (ApiKey::EndTxn, 26, "EndTxn"),
            (ApiKey::TxnOffsetCommit, 28, "TxnOffsetCommit"),
            (ApiKey::Fetch, 1, "Fetch"),
            (ApiKey::ListOffsets, 2, "ListOffsets"),
            (ApiKey::SaslHandshake, 17, "SaslHandshake"),
            (ApiKey::SaslAuthenticate, 36, "SaslAuthenticate"),
            (ApiKey::GetTelemetrySubscriptions, 71, "GetTelemetrySubscriptions"),
            (ApiKey::PushTelemetry, 72, "PushTelemetry"),
        ] {
            assert_eq!((key.code(), key.name()), (code, name));
        }
    }

    #[test]
    fn string_length_limit() {
        assert!(check_string_len("x", &"a".repeat(i16::MAX as usize)).is_ok());
        let e = check_string_len("group id", &"a".repeat(i16::MAX as usize + 1)).unwrap_err();
        assert!(e.to_string().contains("group id of 32768 bytes"), "{e}");
    }
}
