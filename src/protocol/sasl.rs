//! SaslHandshake (key 17) and SaslAuthenticate (key 36): SASL authentication inside Kafka
//! frames (KIP-43, KIP-152).
//!
//! Follows `SaslHandshakeRequest.json`, `SaslHandshakeResponse.json`,
//! `SaslAuthenticateRequest.json` and `SaslAuthenticateResponse.json` in
//! `clients/src/main/resources/common/message/` of apache/kafka.
//!
//! # Versions
//!
//! - SaslHandshake v0 to v1, never flexible. v0 is followed by raw SASL tokens outside Kafka
//!   frames (the pre-KIP-152 way); this client sends only v1, after which every token travels
//!   in a SaslAuthenticate request. Request: `mechanism` STRING. Response: `error_code` INT16,
//!   `mechanisms` ARRAY(STRING) (what the broker enables; named when ours is refused).
//! - SaslAuthenticate v0 to v2, flexible from v2. Request: `auth_bytes` BYTES. Response:
//!   `error_code` INT16, `error_message` NULLABLE_STRING, `auth_bytes` BYTES,
//!   `session_lifetime_ms` INT64 (v1+, KIP-368: 0 means the session does not expire; otherwise
//!   the client must re-authenticate on the same connection before it does).
//!
//! Runs on: any thread (pure functions).

use super::header::check_version;
use super::primitives::{Encoder, Reader};
use super::{check_string_len, ApiKey, Request, Response};
use crate::error::Result;
use std::ops::RangeInclusive;

/// A SaslHandshake request: the mechanism the client wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslHandshakeRequest {
    /// `PLAIN`, `SCRAM-SHA-256`, ...
    pub mechanism: String,
}

/// A SaslHandshake response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslHandshakeResponse {
    /// 0, or UNSUPPORTED_SASL_MECHANISM / ILLEGAL_SASL_STATE.
    pub error_code: i16,
    /// The mechanisms the broker enables on this listener.
    pub mechanisms: Vec<String>,
}

impl Request for SaslHandshakeRequest {
    const API_KEY: ApiKey = ApiKey::SaslHandshake;
    const VERSIONS: RangeInclusive<i16> = 0..=1;
    const FLEXIBLE_FROM: i16 = i16::MAX;
    type Response = SaslHandshakeResponse;

    fn encode(&self, version: i16, buf: &mut Vec<u8>) -> Result<()> {
        check_version::<Self>(version)?;
        check_string_len("SASL mechanism", &self.mechanism)?;
        buf.put_string(Some(&self.mechanism));
        Ok(())
    }
}

impl Response for SaslHandshakeResponse {
    fn decode(r: &mut Reader<'_>, _version: i16) -> Result<Self> {
        let error_code = r.i16()?;
        let n = r.array_len(false, 2)?.unwrap_or(0);
        let mut mechanisms = Vec::with_capacity(n);
        for _ in 0..n {
            mechanisms.push(r.string()?.to_owned());
        }
        Ok(SaslHandshakeResponse { error_code, mechanisms })
    }
}

/// A SaslAuthenticate request: one SASL token from the client.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslAuthenticateRequest {
    /// The token (it may hold a password: never logged).
    pub auth_bytes: Vec<u8>,
}

impl std::fmt::Debug for SaslAuthenticateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SaslAuthenticateRequest {{ auth_bytes: [{} bytes hidden] }}", self.auth_bytes.len())
    }
}

/// A SaslAuthenticate response.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslAuthenticateResponse {
    /// 0, or SASL_AUTHENTICATION_FAILED / ILLEGAL_SASL_STATE / ...
    pub error_code: i16,
    /// The broker's reason, when it failed.
    pub error_message: Option<String>,
    /// The broker's SASL token (a challenge, or the final server message).
    pub auth_bytes: Vec<u8>,
    /// v1+: how long the session lasts, in ms; 0 = no limit (and always 0 before v1).
    pub session_lifetime_ms: i64,
}

impl std::fmt::Debug for SaslAuthenticateResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslAuthenticateResponse")
            .field("error_code", &self.error_code)
            .field("error_message", &self.error_message)
            .field("auth_bytes", &format_args!("[{} bytes]", self.auth_bytes.len()))
            .field("session_lifetime_ms", &self.session_lifetime_ms)
            .finish()
    }
}

impl Request for SaslAuthenticateRequest {
    const API_KEY: ApiKey = ApiKey::SaslAuthenticate;
    const VERSIONS: RangeInclusive<i16> = 0..=2;
    const FLEXIBLE_FROM: i16 = 2;
    type Response = SaslAuthenticateResponse;

    fn encode(&self, version: i16, buf: &mut Vec<u8>) -> Result<()> {
        check_version::<Self>(version)?;
        let flexible = Self::is_flexible(version);
        buf.put_bytes_v(Some(&self.auth_bytes), flexible);
        if flexible {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }
}

impl Response for SaslAuthenticateResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        let flexible = SaslAuthenticateRequest::is_flexible(version);
        let error_code = r.i16()?;
        let error_message = r.nullable_str_v(flexible)?.map(str::to_owned);
        let auth_bytes = r.nullable_bytes_v(flexible)?.unwrap_or_default().to_vec();
        let session_lifetime_ms = if version >= 1 { r.i64()? } else { 0 };
        if flexible {
            r.skip_tagged_fields()?;
        }
        Ok(SaslAuthenticateResponse { error_code, error_message, auth_bytes, session_lifetime_ms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_handshake_v1() {
        let mut buf = Vec::new();
        SaslHandshakeRequest { mechanism: "PLAIN".into() }.encode(1, &mut buf).unwrap();
        assert_eq!(buf, [0x00, 0x05, b'P', b'L', b'A', b'I', b'N']);
        #[rustfmt::skip]
        let resp: &[u8] = &[
            0x00, 0x21,             // error_code 33 UNSUPPORTED_SASL_MECHANISM
            0x00, 0x00, 0x00, 0x02, // mechanisms: 2
            0x00, 0x05, b'P', b'L', b'A', b'I', b'N',
            0x00, 0x0b, b'O', b'A', b'U', b'T', b'H', b'B', b'E', b'A', b'R', b'E', b'R',
        ];
        let r = SaslHandshakeResponse::decode(&mut Reader::new(resp), 1).unwrap();
        assert_eq!(r.error_code, 33);
        assert_eq!(r.mechanisms, ["PLAIN", "OAUTHBEARER"]);
    }

    #[test]
    fn golden_authenticate_v1_and_v2() {
        let req = SaslAuthenticateRequest { auth_bytes: b"\0u\0p".to_vec() };
        let mut buf = Vec::new();
        req.encode(1, &mut buf).unwrap();
        assert_eq!(buf, [0, 0, 0, 4, 0, b'u', 0, b'p']);
        buf.clear();
        req.encode(2, &mut buf).unwrap();
        assert_eq!(buf, [5, 0, b'u', 0, b'p', 0], "compact bytes (len+1), tagged fields");
        assert!(!format!("{req:?}").contains('p'), "the token is not shown: {req:?}");

        #[rustfmt::skip]
        let v1: &[u8] = &[
            0x00, 0x3a,             // error_code 58 SASL_AUTHENTICATION_FAILED
            0x00, 0x03, b'b', b'a', b'd', // error_message "bad"
            0x00, 0x00, 0x00, 0x00, // auth_bytes: empty
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0b, 0xb8, // session_lifetime_ms 3000
        ];
        let r = SaslAuthenticateResponse::decode(&mut Reader::new(v1), 1).unwrap();
        assert_eq!(
            (r.error_code, r.error_message.as_deref(), r.session_lifetime_ms),
            (58, Some("bad"), 3000)
        );
        #[rustfmt::skip]
        let v2: &[u8] = &[
            0x00, 0x00,             // error_code 0
            0x00,                   // error_message: null
            0x03, b'o', b'k',       // auth_bytes "ok"
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // session_lifetime_ms 0
            0x00,                   // tagged fields
        ];
        let r = SaslAuthenticateResponse::decode(&mut Reader::new(v2), 2).unwrap();
        assert_eq!(
            (r.error_code, r.error_message, r.auth_bytes, r.session_lifetime_ms),
            (0, None, b"ok".to_vec(), 0)
        );
        let r0 =
            SaslAuthenticateResponse::decode(&mut Reader::new(&[0, 0, 0xff, 0xff, 0, 0, 0, 0]), 0).unwrap();
        assert_eq!(r0.session_lifetime_ms, 0, "v0 has no lifetime");
    }

    #[test]
    fn truncated_responses_are_errors_not_panics() {
        for n in 0..10 {
            let bytes = [0u8, 0, 0, 3, b'x'];
            let _ = SaslAuthenticateResponse::decode(&mut Reader::new(&bytes[..n.min(bytes.len())]), 1);
            let _ = SaslHandshakeResponse::decode(&mut Reader::new(&bytes[..n.min(bytes.len())]), 1);
        }
        assert!(SaslHandshakeResponse::decode(&mut Reader::new(&[0, 0, 0x7f, 0, 0, 0]), 1).is_err());
    }
}
