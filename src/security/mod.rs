//! Security: TLS (`security.protocol` SSL and SASL_SSL, the `tls` feature) and SASL
//! (SASL_PLAINTEXT and SASL_SSL): PLAIN, SCRAM-SHA-256/512 and OAUTHBEARER.
//!
//! What a connection does is decided once, when the producer is made: a TLS
//! client configuration (files read, keys decrypted) and the SASL settings. Every connection
//! then runs TLS inside the sender's poll loop (`network::connection`) and SASL as requests
//! after ApiVersions (the sender's handshake), and re-authenticates before the session
//! lifetime the broker gives (KIP-368) ends. See docs/security.md.

pub(crate) mod base64;
mod jaas;
pub mod oauth;
pub mod sasl;
mod scram;
#[cfg(feature = "tls")]
pub(crate) mod tls;

pub use oauth::{OAuthBearerToken, OAuthBearerTokenProvider, UnsecuredJwt};
pub use sasl::SaslMechanism;

#[cfg(not(feature = "tls"))]
use crate::error::Error;
use crate::error::Result;

/// A secret string (a password): `Debug` shows `[hidden]`.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Secret(pub(crate) String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "[hidden]" })
    }
}

/// `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// No TLS, no authentication (the default).
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL without TLS.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Parses a `security.protocol` value (any case).
    pub fn parse(s: &str) -> Option<SecurityProtocol> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }

    /// Whether connections use TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether connections authenticate with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }
}

/// What every connection of one producer does for security.
#[derive(Debug, Clone, Default)]
pub(crate) struct Security {
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<tls::TlsConnector>,
    pub(crate) sasl: Option<sasl::SaslSettings>,
}

impl Security {
    /// From the configuration: reads certificate and key files now, so that a bad path or
    /// password fails the producer's constructor with a message naming the property.
    pub(crate) fn from_config(cfg: &crate::config::ProducerConfig) -> Result<Security> {
        let protocol = SecurityProtocol::parse(&cfg.security_protocol).unwrap_or(SecurityProtocol::Plaintext);
        let sasl = if protocol.uses_sasl() { Some(sasl::SaslSettings::from_config(cfg)?) } else { None };
        #[cfg(feature = "tls")]
        {
            struct Source<'a>(&'a crate::config::ProducerConfig);
            impl tls::TlsSource for Source<'_> {
                fn value(&self, key: &str) -> String {
                    self.0.get(key).map(|v| v.trim().to_owned()).unwrap_or_default()
                }
            }
            let tls = if protocol.uses_tls() { Some(tls::TlsConnector::new(&Source(cfg))?) } else { None };
            Ok(Security { tls, sasl })
        }
        #[cfg(not(feature = "tls"))]
        {
            if protocol.uses_tls() {
                return Err(Error::config(format!(
                    "security.protocol={}: this build of kafka-blocking has no TLS (enable the `tls` feature)",
                    cfg.security_protocol
                )));
            }
            Ok(Security { sasl })
        }
    }
}
