//! Request and response headers, and whole request frames.
//!
//! Follows `RequestHeader.json` and `ResponseHeader.json` in
//! `clients/src/main/resources/common/message/` of apache/kafka:
//!
//! - Request header v1 (non-flexible bodies): `request_api_key` INT16, `request_api_version`
//!   INT16, `correlation_id` INT32, `client_id` NULLABLE_STRING.
//! - Request header v2 (flexible bodies): v1, then a tagged-field section. `client_id` stays a
//!   classic NULLABLE_STRING (int16 length) even here (`"flexibleVersions": "none"` on the field),
//!   so that any broker can read the header of an ApiVersions request of any version.
//! - Response header v0: `correlation_id` INT32. Response header v1: v0 plus a tagged-field
//!   section, used when the body is flexible, except for ApiVersions responses, which always
//!   use v0 (a client must be able to read it before it knows what the broker speaks).
//!
//! A frame on the wire is an INT32 size (not counting itself) followed by the header and body.
//! [`encode_request`] writes one; [`decode_response`] reads the bytes after the size.
//!
//! Runs on: any thread (pure functions).

use super::primitives::{Encoder, Reader};
use super::{ApiKey, Request, Response};
use crate::error::{Error, Result};

/// The header in front of every request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader<'a> {
    /// The API of the body.
    pub api_key: ApiKey,
    /// The version of the body.
    pub api_version: i16,
    /// Echoed back in the response header; matches responses to requests.
    pub correlation_id: i32,
    /// `client.id`, or `None` to send a null string.
    pub client_id: Option<&'a str>,
}

impl RequestHeader<'_> {
    /// Appends header v1 or, when `flexible`, v2 (v1 plus an empty tagged-field section).
    pub fn encode(&self, flexible: bool, buf: &mut Vec<u8>) {
        buf.put_i16(self.api_key.code());
        buf.put_i16(self.api_version);
        buf.put_i32(self.correlation_id);
        // Always the classic int16-length form, even in header v2.
        buf.put_string(self.client_id);
        if flexible {
            buf.put_empty_tagged_fields();
        }
    }
}

/// Whether the response header of `api_key` at `version` is v1 (with tagged fields).
///
/// It is iff the body is flexible (`flexible_body`), except for ApiVersions, whose response
/// header is always v0 (see `ApiVersionsResponse.json`: "Tagged fields are only supported in
/// the body but not in the header").
pub fn response_header_flexible(api_key: ApiKey, version: i16, flexible_body: bool) -> bool {
    let _ = version;
    flexible_body && api_key != ApiKey::ApiVersions
}

/// Fails unless `version` is one this crate speaks for `R`.
pub(crate) fn check_version<R: Request>(version: i16) -> Result<()> {
    if R::VERSIONS.contains(&version) {
        Ok(())
    } else {
        Err(Error::protocol(format!(
            "{} v{version} is outside the versions this client speaks ({}..={})",
            R::API_KEY.name(),
            R::VERSIONS.start(),
            R::VERSIONS.end()
        )))
    }
}

/// Appends one whole request frame to `buf`: INT32 size, header, body.
///
/// `buf` is not cleared; the frame starts at `buf.len()`. On error `buf` is left as it was.
pub fn encode_request<R: Request>(
    req: &R,
    version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    buf: &mut Vec<u8>,
) -> Result<()> {
    encode_request_with::<R>(version, correlation_id, client_id, buf, |buf| {
        req.encode(version, buf).map(|()| 0)
    })
}

/// [`encode_request`] with the body written by `body`, which returns how many bytes it left
/// out to be inserted into the frame later (the record batches of a gathered Produce
/// request); the size prefix counts them.
pub(crate) fn encode_request_with<R: Request>(
    version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    buf: &mut Vec<u8>,
    body: impl FnOnce(&mut Vec<u8>) -> Result<usize>,
) -> Result<()> {
    check_version::<R>(version)?;
    let start = buf.len();
    buf.put_i32(0); // size, patched below
    let header = RequestHeader { api_key: R::API_KEY, api_version: version, correlation_id, client_id };
    header.encode(R::is_flexible(version), buf);
    let left_out = match body(buf) {
        Ok(n) => n,
        Err(e) => {
            buf.truncate(start);
            return Err(e);
        }
    };
    let size = buf.len() - start - 4 + left_out;
    let Ok(size) = i32::try_from(size) else {
        buf.truncate(start);
        return Err(Error::protocol(format!(
            "{} v{version} request of {size} bytes does not fit an int32 size",
            R::API_KEY.name()
        )));
    };
    buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

/// The correlation id of a response `frame` (the bytes after the size prefix).
pub fn response_correlation_id(frame: &[u8]) -> Result<i32> {
    Reader::new(frame).i32().map_err(|e| e.context("response header"))
}

/// Decodes a response `frame` (the bytes after the size prefix) to a request of type `R`
/// sent at `version`: returns the correlation id and the body.
///
/// Bytes after the body are ignored (a newer broker may append what we do not know).
pub fn decode_response<R: Request>(frame: &[u8], version: i16) -> Result<(i32, R::Response)> {
    check_version::<R>(version)?;
    let mut r = Reader::new(frame);
    let correlation_id = r.i32().map_err(|e| e.context("response header"))?;
    if response_header_flexible(R::API_KEY, version, R::is_flexible(version)) {
        r.skip_tagged_fields().map_err(|e| e.context("response header"))?;
    }
    let body = R::Response::decode(&mut r, version)
        .map_err(|e| e.context(format!("{} v{version} response", R::API_KEY.name())))?;
    Ok((correlation_id, body))
}

/// Reads an array (classic or compact) whose elements take at least `min_element_size`
/// bytes each; a null array reads as empty. The length is checked against the bytes that
/// remain before anything is allocated.
pub(crate) fn read_array<'a, T>(
    r: &mut Reader<'a>,
    flexible: bool,
    min_element_size: usize,
    mut element: impl FnMut(&mut Reader<'a>) -> Result<T>,
) -> Result<Vec<T>> {
    let Some(n) = r.array_len(flexible, min_element_size)? else {
        return Ok(Vec::new());
    };
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(element(r)?);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::api_versions::{ApiVersionsRequest, ApiVersionsResponse};
    use crate::protocol::metadata::MetadataRequest;

    fn api_versions_v3() -> ApiVersionsRequest {
        ApiVersionsRequest { client_software_name: "kb".into(), client_software_version: "1".into() }
    }

    // Written out by hand from RequestHeader.json (v2) and ApiVersionsRequest.json (v3).
    #[rustfmt::skip]
    const API_VERSIONS_V3_FRAME: [u8; 23] = [
        0x00, 0x00, 0x00, 0x13, // size: 19 bytes follow
        // request header v2
        0x00, 0x12,             // request_api_key: 18 (ApiVersions)
        0x00, 0x03,             // request_api_version: 3
        0x00, 0x00, 0x00, 0x07, // correlation_id: 7
        0x00, 0x02, b'k', b'b', // client_id: NULLABLE_STRING (int16 length 2) "kb"
        0x00,                   // header tagged fields: none
        // ApiVersionsRequest v3 body
        0x03, b'k', b'b',       // client_software_name: COMPACT_STRING (len+1 = 3) "kb"
        0x02, b'1',             // client_software_version: COMPACT_STRING (len+1 = 2) "1"
        0x00,                   // body tagged fields: none
    ];

    #[test]
    fn golden_api_versions_v3_request_frame() {
        let mut buf = Vec::new();
        encode_request(&api_versions_v3(), 3, 7, Some("kb"), &mut buf).unwrap();
        assert_eq!(buf, API_VERSIONS_V3_FRAME);
    }

    #[test]
    fn encode_request_appends_and_does_not_clear() {
        let mut buf = vec![0xde, 0xad];
        encode_request(&api_versions_v3(), 3, 7, Some("kb"), &mut buf).unwrap();
        assert_eq!(&buf[..2], &[0xde, 0xad]);
        assert_eq!(&buf[2..], &API_VERSIONS_V3_FRAME);
        // Two frames back to back.
        encode_request(&api_versions_v3(), 3, 7, Some("kb"), &mut buf).unwrap();
        assert_eq!(&buf[2 + 23..], &API_VERSIONS_V3_FRAME);
    }

    #[test]
    fn golden_header_v1_with_null_client_id() {
        let mut buf = Vec::new();
        encode_request(&ApiVersionsRequest::default(), 2, -1, None, &mut buf).unwrap();
        #[rustfmt::skip]
        let want = [
            0x00, 0x00, 0x00, 0x0a, // size: 10
            0x00, 0x12,             // api key 18
            0x00, 0x02,             // version 2
            0xff, 0xff, 0xff, 0xff, // correlation id -1
            0xff, 0xff,             // client_id: null (int16 -1); no tagged fields in v1
            // ApiVersions v2 body is empty
        ];
        assert_eq!(buf, want);
    }

    #[test]
    fn unsupported_version_is_an_error_and_leaves_buf_alone() {
        let mut buf = vec![1, 2, 3];
        let e = encode_request(&ApiVersionsRequest::default(), 5, 1, None, &mut buf).unwrap_err();
        assert!(e.to_string().contains("ApiVersions v5"), "{e}");
        assert_eq!(buf, [1, 2, 3]);
        let req = MetadataRequest { topics: None, allow_auto_topic_creation: true };
        assert!(encode_request(&req, 0, 1, None, &mut buf).is_err());
        assert_eq!(buf, [1, 2, 3]);
    }

    #[test]
    fn response_header_versions() {
        // ApiVersions: always v0.
        assert!(!response_header_flexible(ApiKey::ApiVersions, 3, true));
        assert!(!response_header_flexible(ApiKey::ApiVersions, 0, false));
        assert!(response_header_flexible(ApiKey::Metadata, 9, true));
        assert!(!response_header_flexible(ApiKey::Metadata, 8, false));
        assert!(response_header_flexible(ApiKey::Produce, 9, true));
    }

    #[rustfmt::skip]
    const API_VERSIONS_V3_RESPONSE_FRAME: [u8; 19] = [
        0x00, 0x00, 0x00, 0x07, // correlation_id 7; header v0: no tagged fields for ApiVersions
        0x00, 0x00,             // error_code 0
        0x02,                   // api_keys: compact array of 1
        0x00, 0x00, 0x00, 0x03, 0x00, 0x0d, 0x00, // key 0 (Produce) 3..=13, no tags
        0x00, 0x00, 0x00, 0x00, // throttle_time_ms 0
        0x00,                   // tagged fields: none
    ];

    #[test]
    fn decode_response_reads_header_and_body() {
        let (corr, resp) = decode_response::<ApiVersionsRequest>(&API_VERSIONS_V3_RESPONSE_FRAME, 3).unwrap();
        assert_eq!(corr, 7);
        assert_eq!(response_correlation_id(&API_VERSIONS_V3_RESPONSE_FRAME).unwrap(), 7);
        assert_eq!(resp.error_code, 0);
        assert_eq!(resp.range(ApiKey::Produce), Some((3, 13)));
        let _: &ApiVersionsResponse = &resp;
    }

    #[test]
    fn decode_response_ignores_trailing_bytes() {
        let mut frame = API_VERSIONS_V3_RESPONSE_FRAME.to_vec();
        frame.extend_from_slice(&[0xff, 0xee]);
        let (corr, resp) = decode_response::<ApiVersionsRequest>(&frame, 3).unwrap();
        assert_eq!(corr, 7);
        assert_eq!(resp.api_keys.len(), 1);
    }

    #[test]
    fn truncated_frames_are_errors() {
        let f = &API_VERSIONS_V3_RESPONSE_FRAME;
        for n in 0..f.len() {
            assert!(decode_response::<ApiVersionsRequest>(&f[..n], 3).is_err(), "prefix {n}");
        }
        for n in 0..4 {
            assert!(response_correlation_id(&f[..n]).is_err());
        }
    }

    #[test]
    fn flexible_response_header_skips_tagged_fields() {
        // Metadata v12 frame: header v1 = correlation id + tagged fields (one unknown tag).
        #[rustfmt::skip]
        let frame = [
            0x00, 0x00, 0x00, 0x09,       // correlation_id 9
            0x01, 0x05, 0x01, 0xaa,       // header tags: 1 field, tag 5, size 1, [aa]
            0x00, 0x00, 0x00, 0x00,       // throttle_time_ms 0
            0x01,                         // brokers: empty compact array
            0x00,                         // cluster_id: null
            0xff, 0xff, 0xff, 0xff,       // controller_id -1
            0x01,                         // topics: empty
            0x00,                         // tagged fields
        ];
        let (corr, resp) = decode_response::<MetadataRequest>(&frame, 12).unwrap();
        assert_eq!(corr, 9);
        assert_eq!(resp.controller_id, -1);
        assert!(resp.brokers.is_empty() && resp.topics.is_empty());
    }
}
