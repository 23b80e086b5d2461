//! OAUTHBEARER (RFC 7628, KIP-255): the client sends a bearer token it got from somewhere;
//! the broker validates it. Where tokens come from is the application's business: implement
//! [`OAuthBearerTokenProvider`] (an identity provider's client-credentials flow, a file a
//! sidecar refreshes, ...) and give it to
//! [`ProducerConfig::sasl_oauthbearer_token_provider`](crate::ProducerConfig::sasl_oauthbearer_token_provider).
//! [`UnsecuredJwt`] makes the unsigned tokens that Kafka's default (test-only) validator accepts,
//! as Java's `OAuthBearerUnsecuredLoginCallbackHandler` does.
//!
//! The provider is asked for a token at every authentication (a new connection, and every
//! re-authentication before the broker's session lifetime ends; the broker sets that lifetime
//! no later than the token's expiry), so a provider that refreshes its token keeps the
//! producer connected. A token already expired is refused before it is sent.

use super::base64;
use crate::error::{Error, ErrorKind, Result};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A bearer token and when it expires.
#[derive(Clone)]
pub struct OAuthBearerToken {
    /// The compact serialization (for a JWT: `header.payload.signature`).
    pub value: String,
    /// When it expires, in milliseconds since the Unix epoch.
    pub expires_at_ms: i64,
    /// Who it names (for messages only).
    pub principal: String,
}

impl std::fmt::Debug for OAuthBearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthBearerToken")
            .field("value", &"[hidden]")
            .field("expires_at_ms", &self.expires_at_ms)
            .field("principal", &self.principal)
            .finish()
    }
}

/// Gives the producer a token each time it authenticates a connection.
///
/// Runs on: the producer's sender thread, so it should be quick (return a cached token and
/// refresh it elsewhere, or fetch with a short timeout): the thread serves every broker.
pub trait OAuthBearerTokenProvider: Send + Sync {
    /// The token to send now. An `Err` fails this authentication attempt (the connection is
    /// retried after `reconnect.backoff.ms`), and its message is reported.
    fn token(&self) -> Result<OAuthBearerToken>;
}

/// Unsecured JWTs (`{"alg":"none"}`, no signature) for Kafka's default OAUTHBEARER validator,
/// which only test clusters should use. Each call makes a fresh token.
#[derive(Debug, Clone)]
pub struct UnsecuredJwt {
    principal: String,
    lifetime: Duration,
    scope: Vec<String>,
}

impl UnsecuredJwt {
    /// Tokens for `principal` (the `sub` claim), valid for an hour.
    pub fn new(principal: impl Into<String>) -> UnsecuredJwt {
        UnsecuredJwt { principal: principal.into(), lifetime: Duration::from_secs(3600), scope: Vec::new() }
    }

    /// How long each token is valid (Java's `unsecuredLoginLifetimeSeconds`).
    pub fn lifetime(mut self, lifetime: Duration) -> UnsecuredJwt {
        self.lifetime = lifetime;
        self
    }

    /// The `scope` claim (Java's `unsecuredLoginListClaim_scope`).
    pub fn scope(mut self, scope: impl IntoIterator<Item = impl Into<String>>) -> UnsecuredJwt {
        self.scope = scope.into_iter().map(Into::into).collect();
        self
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl OAuthBearerTokenProvider for UnsecuredJwt {
    fn token(&self) -> Result<OAuthBearerToken> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let (iat, exp) = (now.as_secs_f64(), (now + self.lifetime).as_secs_f64());
        let mut claims =
            format!("{{\"sub\":{},\"iat\":{iat:.3},\"exp\":{exp:.3}", json_string(&self.principal));
        if !self.scope.is_empty() {
            let scope: Vec<String> = self.scope.iter().map(|s| json_string(s)).collect();
            claims.push_str(&format!(",\"scope\":[{}]", scope.join(",")));
        }
        claims.push('}');
        let value = format!(
            "{}.{}.",
            base64::encode_url(br#"{"alg":"none"}"#),
            base64::encode_url(claims.as_bytes())
        );
        Ok(OAuthBearerToken {
            value,
            expires_at_ms: (now + self.lifetime).as_millis() as i64,
            principal: self.principal.clone(),
        })
    }
}

/// The client's initial response (RFC 7628 section 3.1): `n,,\x01auth=Bearer <token>\x01\x01`.
pub(crate) fn initial_response(token: &OAuthBearerToken, now_ms: i64) -> Result<Vec<u8>> {
    if token.expires_at_ms <= now_ms {
        return Err(Error::new(
            ErrorKind::Authentication,
            format!(
                "OAUTHBEARER authentication failed: the token provider gave a token for {} that expired {} ms ago",
                token.principal,
                now_ms - token.expires_at_ms
            ),
        ));
    }
    if token.value.is_empty() || token.value.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
        return Err(Error::new(
            ErrorKind::Authentication,
            "OAUTHBEARER authentication failed: the token is empty or holds characters a bearer token cannot",
        ));
    }
    Ok(format!("n,,\x01auth=Bearer {}\x01\x01", token.value).into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsecured_tokens_are_unsigned_jwts_naming_the_principal() {
        let t =
            UnsecuredJwt::new("alice").lifetime(Duration::from_secs(60)).scope(["write"]).token().unwrap();
        let parts: Vec<&str> = t.value.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "eyJhbGciOiJub25lIn0", "base64url of {{\"alg\":\"none\"}}");
        assert_eq!(parts[2], "", "no signature");
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
        assert!((t.expires_at_ms - now_ms - 60_000).abs() < 5_000);
        let first = initial_response(&t, now_ms).unwrap();
        assert!(first.starts_with(b"n,,\x01auth=Bearer eyJ"));
        assert!(first.ends_with(b".\x01\x01"));
        assert!(!format!("{t:?}").contains("eyJ"), "the token is not shown: {t:?}");
    }

    #[test]
    fn expired_or_malformed_tokens_are_refused_before_sending() {
        let mut t = UnsecuredJwt::new("bob").token().unwrap();
        let e = initial_response(&t, t.expires_at_ms + 5).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert!(e.to_string().contains("expired 5 ms ago"), "{e}");
        t.value = "has space".into();
        assert!(initial_response(&t, 0).is_err());
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
