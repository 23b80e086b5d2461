//! ApiVersions (key 18): which versions of which APIs a broker speaks.
//!
//! Follows `ApiVersionsRequest.json` and `ApiVersionsResponse.json` in
//! `clients/src/main/resources/common/message/` of apache/kafka (valid versions 0-4,
//! flexible from 3; Kafka 4.x still accepts all of them).
//!
//! Request: empty in v0-v2; v3+ adds `client_software_name` and `client_software_version`
//! (COMPACT_STRING) and a tagged-field section. Brokers check both strings against
//! `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?` and answer INVALID_REQUEST (42) otherwise.
//!
//! Response: `error_code` INT16, `api_keys` [`api_key` INT16, `min_version` INT16,
//! `max_version` INT16], `throttle_time_ms` INT32 (v1+), and in v3+ tagged fields:
//! SupportedFeatures (tag 0, skipped), FinalizedFeaturesEpoch (tag 1, INT64, default -1),
//! FinalizedFeatures (tag 2, COMPACT_ARRAY of [`name` COMPACT_STRING, `max_version_level`
//! INT16, `min_version_level` INT16, tagged fields]) and ZkMigrationReady (tag 3, skipped).
//! The finalized `transaction.version` tells whether the cluster runs KIP-890's transactions
//! v2. The response header is always v0, even for v3+ (see
//! [`header::response_header_flexible`](super::header::response_header_flexible)).
//!
//! # UNSUPPORTED_VERSION
//!
//! A broker that does not speak the version of our ApiVersions request cannot parse its body,
//! so it answers with `error_code` 35 (UNSUPPORTED_VERSION) in a **v0-format body** (classic
//! int32 array length, no throttle time, no tagged fields), whatever version we asked with.
//! Since KIP-511 (Kafka 2.4) `api_keys` then still lists the broker's ApiVersions range, so
//! the caller can retry at `range(ApiKey::ApiVersions)`'s max (or at v0 when it is absent).
//! Decoding ([`Response::decode`] for [`ApiVersionsResponse`]) therefore looks at
//! `error_code` first and, when it is 35, reads the rest as v0.
//!
//! Runs on: any thread (pure functions).

use super::header::{check_version, read_array};
use super::primitives::{Encoder, Reader};
use super::{ApiKey, Request, Response};
use crate::error::Result;
use std::ops::RangeInclusive;

/// The error code a broker answers with when it does not speak our request's version.
const UNSUPPORTED_VERSION: i16 = 35;

/// An ApiVersions request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersionsRequest {
    /// The client's name (v3+ only), e.g. `kafka-blocking`.
    pub client_software_name: String,
    /// The client's version (v3+ only), e.g. `0.1.0`.
    pub client_software_version: String,
}

impl Default for ApiVersionsRequest {
    /// This crate's name and version.
    fn default() -> Self {
        ApiVersionsRequest {
            client_software_name: env!("CARGO_PKG_NAME").to_owned(),
            client_software_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// One API's version range as the broker reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersionRange {
    /// The API key (may be one this crate does not know).
    pub api_key: i16,
    /// Lowest supported version, inclusive.
    pub min_version: i16,
    /// Highest supported version, inclusive.
    pub max_version: i16,
}

/// An ApiVersions response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersionsResponse {
    /// 0, or 35 (UNSUPPORTED_VERSION) when the broker did not speak our request's version;
    /// see the module docs.
    pub error_code: i16,
    /// The APIs the broker supports.
    pub api_keys: Vec<ApiVersionRange>,
    /// Throttle time (v1+; 0 in a v0 body).
    pub throttle_time_ms: i32,
    /// The epoch of [`finalized_features`](Self::finalized_features) (v3+; -1 when absent):
    /// of two brokers' answers, the one with the higher epoch is the newer.
    pub finalized_features_epoch: i64,
    /// The cluster-wide feature levels finalized by the controller (v3+; empty when absent).
    pub finalized_features: Vec<FinalizedFeature>,
}

/// One finalized feature of the cluster (ApiVersions v3+, tag 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalizedFeature {
    /// The feature's name, e.g. `transaction.version`.
    pub name: String,
    /// The highest finalized level: the one in force.
    pub max_version_level: i16,
    /// The lowest finalized level.
    pub min_version_level: i16,
}

/// The feature whose finalized level 2 or more means transactions v2 (KIP-890 part 2).
pub const TRANSACTION_VERSION: &str = "transaction.version";

impl ApiVersionsResponse {
    /// The broker's `(min, max)` versions of `key`, or `None` when it does not list it.
    pub fn range(&self, key: ApiKey) -> Option<(i16, i16)> {
        self.api_keys.iter().find(|a| a.api_key == key.code()).map(|a| (a.min_version, a.max_version))
    }

    /// The finalized level of feature `name`, or `None` when the broker finalized none.
    pub fn finalized_level(&self, name: &str) -> Option<i16> {
        self.finalized_features.iter().find(|f| f.name == name).map(|f| f.max_version_level)
    }

    /// Reads everything after `error_code` for body `version`.
    fn decode_rest(r: &mut Reader<'_>, version: i16, error_code: i16) -> Result<Self> {
        let flexible = ApiVersionsRequest::is_flexible(version);
        // Each entry: three int16s, plus a tagged-field byte when flexible.
        let api_keys = read_array(r, flexible, 6, |r| {
            let range = ApiVersionRange { api_key: r.i16()?, min_version: r.i16()?, max_version: r.i16()? };
            if flexible {
                r.skip_tagged_fields()?;
            }
            Ok(range)
        })?;
        let throttle_time_ms = if version >= 1 { r.i32()? } else { 0 };
        let mut finalized_features_epoch = -1;
        let mut finalized_features = Vec::new();
        if flexible {
            // SupportedFeatures (0) and ZkMigrationReady (3) are not needed by a producer.
            r.tagged_fields(|tag, data| {
                let mut f = Reader::new(data);
                match tag {
                    1 => finalized_features_epoch = f.i64()?,
                    2 => {
                        // Each entry: a name (at least its length byte), two int16s, tags.
                        finalized_features = read_array(&mut f, true, 6, |f| {
                            let feature = FinalizedFeature {
                                name: f.compact_string()?.to_owned(),
                                max_version_level: f.i16()?,
                                min_version_level: f.i16()?,
                            };
                            f.skip_tagged_fields()?;
                            Ok(feature)
                        })?;
                    }
                    _ => {}
                }
                Ok(())
            })?;
        }
        Ok(ApiVersionsResponse {
            error_code,
            api_keys,
            throttle_time_ms,
            finalized_features_epoch,
            finalized_features,
        })
    }
}

impl Request for ApiVersionsRequest {
    const API_KEY: ApiKey = ApiKey::ApiVersions;
    const VERSIONS: RangeInclusive<i16> = 0..=4;
    const FLEXIBLE_FROM: i16 = 3;
    type Response = ApiVersionsResponse;

    fn encode(&self, version: i16, buf: &mut Vec<u8>) -> Result<()> {
        check_version::<Self>(version)?;
        if Self::is_flexible(version) {
            buf.put_compact_string(Some(&self.client_software_name));
            buf.put_compact_string(Some(&self.client_software_version));
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }
}

impl Response for ApiVersionsResponse {
    /// Decodes a body of `version`, or a v0 body when `error_code` is UNSUPPORTED_VERSION.
    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        let error_code = r.i16()?;
        if error_code != UNSUPPORTED_VERSION {
            return Self::decode_rest(r, version, error_code);
        }
        // Some brokers (librdkafka's mock cluster) do not write a clean v0 body here. The
        // error code alone is enough to retry with a lower version, so a body that does not
        // parse as v0 yields an empty key list instead of an error.
        let mut probe = r.clone();
        match Self::decode_rest(&mut probe, 0, error_code) {
            Ok(resp) => {
                *r = probe;
                Ok(resp)
            }
            Err(_) => Ok(ApiVersionsResponse {
                error_code,
                api_keys: Vec::new(),
                throttle_time_ms: 0,
                finalized_features_epoch: -1,
                finalized_features: Vec::new(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::header::decode_response;

    fn decode(bytes: &[u8], version: i16) -> Result<ApiVersionsResponse> {
        ApiVersionsResponse::decode(&mut Reader::new(bytes), version)
    }

    #[test]
    fn unsupported_version_with_a_malformed_body_still_reports_the_error() {
        // What librdkafka 2.16's mock cluster sends to an ApiVersions v3 request.
        let bytes = [0x00, 0x23, 0x01, 0x00, 0x12, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00];
        let resp = decode(&bytes, 3).unwrap();
        assert_eq!(resp.error_code, 35);
        assert!(resp.api_keys.is_empty());
    }

    #[test]
    fn golden_request_v0_and_v3() {
        let req = ApiVersionsRequest {
            client_software_name: "kafka-blocking".into(),
            client_software_version: "0.1.0".into(),
        };
        let mut buf = Vec::new();
        req.encode(0, &mut buf).unwrap();
        assert!(buf.is_empty(), "v0-v2 bodies are empty");

        req.encode(3, &mut buf).unwrap();
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x0f,                                  // client_software_name: COMPACT_STRING, 14+1
            b'k', b'a', b'f', b'k', b'a', b'-', b'b', b'l', b'o', b'c', b'k', b'i', b'n', b'g',
            0x06, b'0', b'.', b'1', b'.', b'0',    // client_software_version: 5+1, "0.1.0"
            0x00,                                  // tagged fields: none
        ];
        assert_eq!(buf, want);
    }

    #[test]
    fn every_version_encodes() {
        for v in ApiVersionsRequest::VERSIONS {
            let mut buf = Vec::new();
            ApiVersionsRequest::default().encode(v, &mut buf).unwrap();
            assert_eq!(buf.is_empty(), v < 3, "v{v}");
        }
        assert!(ApiVersionsRequest::default().encode(5, &mut Vec::new()).is_err());
    }

    // A Kafka broker's answer to an ApiVersions request of a version it does not speak:
    // error 35 in a v0 body, listing (KIP-511) its ApiVersions range.
    #[rustfmt::skip]
    const V0_UNSUPPORTED: &[u8] = &[
        0x00, 0x23,             // error_code 35 UNSUPPORTED_VERSION
        0x00, 0x00, 0x00, 0x01, // api_keys: classic int32 array length 1
        0x00, 0x12,             //   api_key 18 (ApiVersions)
        0x00, 0x00,             //   min_version 0
        0x00, 0x03,             //   max_version 3
        // v0: no throttle_time_ms, no tagged fields
    ];

    #[rustfmt::skip]
    const V3_OK: &[u8] = &[
        0x00, 0x00,             // error_code 0
        0x04,                   // api_keys: COMPACT_ARRAY, 3+1
        0x00, 0x00, 0x00, 0x03, 0x00, 0x0b, 0x00, // Produce 3..=11, no tags
        0x00, 0x03, 0x00, 0x00, 0x00, 0x0c, 0x00, // Metadata 0..=12, no tags
        0x00, 0x12, 0x00, 0x00, 0x00, 0x04, 0x00, // ApiVersions 0..=4, no tags
        0x00, 0x00, 0x00, 0x0a, // throttle_time_ms 10
        0x02,                   // tagged fields: 2
        0x01, 0x08,             //   tag 1 FinalizedFeaturesEpoch, 8 bytes
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
        0x03, 0x01, 0x01,       //   tag 3 ZkMigrationReady, 1 byte: true
        // (nothing follows)
    ];

    #[test]
    fn decodes_v0_unsupported_version_answer_to_any_version() {
        for v in ApiVersionsRequest::VERSIONS {
            let resp = decode(V0_UNSUPPORTED, v).unwrap();
            assert_eq!(resp.error_code, 35);
            assert_eq!(resp.throttle_time_ms, 0);
            assert_eq!(resp.range(ApiKey::ApiVersions), Some((0, 3)));
            assert_eq!(resp.range(ApiKey::Produce), None);
        }
        // Through the frame decoder: header v0, then the v0 body.
        let mut frame = vec![0x00, 0x00, 0x00, 0x2a]; // correlation id 42
        frame.extend_from_slice(V0_UNSUPPORTED);
        let (corr, resp) = decode_response::<ApiVersionsRequest>(&frame, 4).unwrap();
        assert_eq!((corr, resp.error_code), (42, 35));
    }

    #[test]
    fn decodes_v3_and_skips_tagged_fields() {
        let mut r = Reader::new(V3_OK);
        let resp = ApiVersionsResponse::decode(&mut r, 3).unwrap();
        assert!(r.is_empty());
        assert_eq!(
            resp,
            ApiVersionsResponse {
                error_code: 0,
                api_keys: vec![
                    ApiVersionRange { api_key: 0, min_version: 3, max_version: 11 },
                    ApiVersionRange { api_key: 3, min_version: 0, max_version: 12 },
                    ApiVersionRange { api_key: 18, min_version: 0, max_version: 4 },
                ],
                throttle_time_ms: 10,
                finalized_features_epoch: 5,
                finalized_features: Vec::new(),
            }
        );
        assert_eq!(resp.range(ApiKey::Metadata), Some((0, 12)));
        assert_eq!(resp.finalized_level(TRANSACTION_VERSION), None);
    }

    // The tagged fields of an Apache Kafka 4.4 answer (transaction.version finalized at 2),
    // after an empty api_keys array and the throttle time.
    #[rustfmt::skip]
    const V3_FEATURES: &[u8] = &[
        0x00, 0x00,             // error_code 0
        0x01,                   // api_keys: COMPACT_ARRAY, 0+1
        0x00, 0x00, 0x00, 0x00, // throttle_time_ms 0
        0x03,                   // tagged fields: 3
        0x00, 0x1a,             //   tag 0 SupportedFeatures, 26 bytes
        0x02,                   //     1 entry
        0x14, b't', b'r', b'a', b'n', b's', b'a', b'c', b't', b'i', b'o', b'n', b'.',
              b'v', b'e', b'r', b's', b'i', b'o', b'n', // name, 19+1
        0x00, 0x00, 0x00, 0x02, 0x00, //  min 0, max 2, no tags
        0x01, 0x08,             //   tag 1 FinalizedFeaturesEpoch, 8 bytes
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xd6, // 214
        0x02, 0x1a,             //   tag 2 FinalizedFeatures, 26 bytes
        0x02,                   //     1 entry
        0x14, b't', b'r', b'a', b'n', b's', b'a', b'c', b't', b'i', b'o', b'n', b'.',
              b'v', b'e', b'r', b's', b'i', b'o', b'n', // name, 19+1
        0x00, 0x02,             //     max_version_level 2
        0x00, 0x02,             //     min_version_level 2
        0x00,                   //     no tags
    ];

    #[test]
    fn decodes_finalized_features() {
        let mut r = Reader::new(V3_FEATURES);
        let resp = ApiVersionsResponse::decode(&mut r, 4).unwrap();
        assert!(r.is_empty());
        assert_eq!(resp.finalized_features_epoch, 214);
        assert_eq!(
            resp.finalized_features,
            vec![FinalizedFeature {
                name: "transaction.version".into(),
                max_version_level: 2,
                min_version_level: 2
            }]
        );
        assert_eq!(resp.finalized_level(TRANSACTION_VERSION), Some(2));
        for n in 0..V3_FEATURES.len() {
            assert!(decode(&V3_FEATURES[..n], 4).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn decodes_v1_classic_body() {
        #[rustfmt::skip]
        let b = [
            0x00, 0x00,             // error_code 0
            0x00, 0x00, 0x00, 0x01, // api_keys: 1
            0x00, 0x00, 0x00, 0x00, 0x00, 0x07, // Produce 0..=7
            0x00, 0x00, 0x00, 0x00, // throttle_time_ms 0
        ];
        let resp = decode(&b, 1).unwrap();
        assert_eq!(resp.range(ApiKey::Produce), Some((0, 7)));
    }

    #[test]
    fn every_truncation_is_an_error() {
        for n in 0..V0_UNSUPPORTED.len() {
            for v in ApiVersionsRequest::VERSIONS {
                match decode(&V0_UNSUPPORTED[..n], v) {
                    // Without the error code there is nothing to go on.
                    Err(_) => assert!(n < 2, "v{v} prefix {n}"),
                    // With it, a cut body still says "retry with a lower version".
                    Ok(resp) => assert!(
                        n >= 2 && resp.error_code == 35 && resp.api_keys.is_empty(),
                        "v{v} prefix {n}"
                    ),
                }
            }
        }
        for n in 0..V3_OK.len() {
            assert!(decode(&V3_OK[..n], 3).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn huge_array_length_fails_without_allocating() {
        let b = [0x00, 0x00, 0x7f, 0xff, 0xff, 0xff];
        let e = decode(&b, 2).unwrap_err();
        assert!(e.to_string().contains("cannot fit"), "{e}");
        // Compact form: uvarint 0xffffffff - 1 elements.
        let b = [0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(decode(&b, 3).is_err());
    }
}
