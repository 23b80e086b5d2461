//! SASL for Kafka connections (KIP-43, KIP-152): the mechanism and credentials from the
//! configuration, and one authentication exchange as a sans-I/O state machine that the sender
//! drives with SaslHandshake v1 and SaslAuthenticate requests.
//!
//! Mechanisms: PLAIN (RFC 4616), SCRAM-SHA-256 and SCRAM-SHA-512 (`scram.rs`), OAUTHBEARER
//! (`oauth.rs`). GSSAPI (Kerberos), Java's default `sasl.mechanism`, is not offered.
//!
//! Runs on: the sender thread (exchanges); the producer's constructor (settings).

use super::oauth::{self, OAuthBearerTokenProvider, UnsecuredJwt};
use super::scram::{Scram, ScramHash};
use super::{jaas, Secret};
use crate::error::{Error, ErrorKind, Result};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A SASL mechanism this client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    /// PLAIN: user name and password in the clear (use it over TLS).
    Plain,
    /// SCRAM-SHA-256 (salted challenge-response; the password never crosses the wire).
    ScramSha256,
    /// SCRAM-SHA-512.
    ScramSha512,
    /// OAUTHBEARER: a bearer token from a [`OAuthBearerTokenProvider`].
    OAuthBearer,
}

impl SaslMechanism {
    /// The mechanism's name as brokers and `sasl.mechanism` spell it.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// Parses a `sasl.mechanism` value (any case).
    pub fn parse(name: &str) -> Option<SaslMechanism> {
        match name.trim().to_ascii_uppercase().as_str() {
            "PLAIN" => Some(SaslMechanism::Plain),
            "SCRAM-SHA-256" => Some(SaslMechanism::ScramSha256),
            "SCRAM-SHA-512" => Some(SaslMechanism::ScramSha512),
            "OAUTHBEARER" => Some(SaslMechanism::OAuthBearer),
            _ => None,
        }
    }
}

/// What a connection authenticates with.
#[derive(Clone)]
pub(crate) struct SaslSettings {
    pub(crate) mechanism: SaslMechanism,
    username: String,
    password: Secret,
    token_provider: Option<Arc<dyn OAuthBearerTokenProvider>>,
}

impl std::fmt::Debug for SaslSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslSettings")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("token_provider", &self.token_provider.as_ref().map(|_| "..."))
            .finish()
    }
}

const PLAIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
const SCRAM_MODULE: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";
const OAUTH_MODULE: &str = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule";

impl SaslSettings {
    /// From `sasl.mechanism`, `sasl.username` / `sasl.password` or `sasl.jaas.config`, and the
    /// token provider set through the builder. Errors name the property at fault (never a
    /// secret).
    pub(crate) fn new(
        mechanism: &str,
        username: &str,
        password: &str,
        jaas_config: &str,
        token_provider: Option<Arc<dyn OAuthBearerTokenProvider>>,
    ) -> Result<SaslSettings> {
        let mech =
            match SaslMechanism::parse(mechanism) {
                Some(m) => m,
                None if mechanism.trim().eq_ignore_ascii_case("GSSAPI") => return Err(Error::config(
                    "sasl.mechanism=GSSAPI (Kerberos, Java's default) is not supported by kafka-blocking; \
                     set sasl.mechanism to PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER",
                )),
                None => {
                    return Err(Error::config(format!(
                    "sasl.mechanism={mechanism:?}: accepted: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER"
                )))
                }
            };
        let (mut user, mut pass) = (username.to_owned(), password.to_owned());
        let mut provider = token_provider;
        if !jaas_config.trim().is_empty() {
            let entry = jaas::parse(jaas_config)?;
            let expected = match mech {
                SaslMechanism::Plain => PLAIN_MODULE,
                SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => SCRAM_MODULE,
                SaslMechanism::OAuthBearer => OAUTH_MODULE,
            };
            let short = |m: &str| m.rsplit('.').next().unwrap_or(m).to_owned();
            if short(&entry.module) != short(expected) {
                return Err(Error::config(format!(
                    "sasl.jaas.config names {} but sasl.mechanism={} needs {expected}",
                    entry.module,
                    mech.name()
                )));
            }
            if mech == SaslMechanism::OAuthBearer {
                if provider.is_none() {
                    provider = Some(unsecured_from_jaas(&entry)?);
                }
            } else {
                if let Some(u) = entry.options.get("username") {
                    user = u.clone();
                }
                if let Some(p) = entry.options.get("password") {
                    pass = p.clone();
                }
            }
        }
        match mech {
            SaslMechanism::OAuthBearer if provider.is_none() => {
                return Err(Error::config(
                    "sasl.mechanism=OAUTHBEARER needs a token provider (ProducerConfig::sasl_oauthbearer_token_provider) \
                     or, for test clusters, sasl.jaas.config with OAuthBearerLoginModule and unsecuredLoginStringClaim_sub",
                ))
            }
            SaslMechanism::OAuthBearer => {}
            _ if user.is_empty() || pass.is_empty() => {
                return Err(Error::config(format!(
                    "sasl.mechanism={} needs a user name and password: set sasl.username and sasl.password, \
                     or sasl.jaas.config with username=\"...\" password=\"...\"",
                    mech.name()
                )))
            }
            _ => {}
        }
        Ok(SaslSettings { mechanism: mech, username: user, password: Secret(pass), token_provider: provider })
    }

    /// From a configuration's `sasl.*` properties and token provider (the one place both
    /// `ProducerConfig::validate` and the producer's constructor read them).
    pub(crate) fn from_config(cfg: &crate::config::ProducerConfig) -> Result<SaslSettings> {
        let value = |k: &str| cfg.get(k).unwrap_or_default();
        SaslSettings::new(
            value("sasl.mechanism").trim(),
            value("sasl.username").trim(),
            &value("sasl.password"),
            value("sasl.jaas.config").trim(),
            cfg.oauthbearer_token_provider.clone(),
        )
    }

    /// Starts one authentication: the exchange and the first token to send.
    pub(crate) fn start(&self) -> Result<(Exchange, Vec<u8>)> {
        match self.mechanism {
            SaslMechanism::Plain => {
                let mut token = Vec::with_capacity(self.username.len() + self.password.0.len() + 2);
                token.push(0);
                token.extend_from_slice(self.username.as_bytes());
                token.push(0);
                token.extend_from_slice(self.password.0.as_bytes());
                Ok((Exchange { state: State::Plain, mechanism: self.mechanism }, token))
            }
            SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
                let hash = if self.mechanism == SaslMechanism::ScramSha256 {
                    ScramHash::Sha256
                } else {
                    ScramHash::Sha512
                };
                let scram = Scram::new(hash, &self.username, &self.password.0)?;
                let first = scram.first();
                Ok((Exchange { state: State::ScramFirst(Box::new(scram)), mechanism: self.mechanism }, first))
            }
            SaslMechanism::OAuthBearer => {
                let provider = self.token_provider.as_ref().expect("checked when the settings were made");
                let token = provider.token().map_err(|e| {
                    Error::new(ErrorKind::Authentication, format!("OAUTHBEARER token provider failed: {e}"))
                })?;
                let now_ms =
                    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64;
                let first = oauth::initial_response(&token, now_ms)?;
                Ok((Exchange { state: State::OAuth, mechanism: self.mechanism }, first))
            }
        }
    }

    /// Who authenticates (for messages).
    pub(crate) fn who(&self) -> String {
        match self.mechanism {
            SaslMechanism::OAuthBearer => "the OAUTHBEARER token".to_owned(),
            m => format!("user {:?} ({})", self.username, m.name()),
        }
    }
}

fn unsecured_from_jaas(entry: &jaas::JaasEntry) -> Result<Arc<dyn OAuthBearerTokenProvider>> {
    let sub = entry.options.get("unsecuredLoginStringClaim_sub").ok_or_else(|| {
        Error::config(
            "sasl.jaas.config: OAuthBearerLoginModule without a token provider needs unsecuredLoginStringClaim_sub \
             (unsecured tokens, for test clusters) or set ProducerConfig::sasl_oauthbearer_token_provider",
        )
    })?;
    let mut jwt = UnsecuredJwt::new(sub.clone());
    if let Some(secs) = entry.options.get("unsecuredLoginLifetimeSeconds") {
        let secs: u64 = secs.parse().map_err(|_| {
            Error::config(format!(
                "sasl.jaas.config: unsecuredLoginLifetimeSeconds={secs:?} is not a whole number"
            ))
        })?;
        jwt = jwt.lifetime(Duration::from_secs(secs));
    }
    if let Some(scope) = entry.options.get("unsecuredLoginListClaim_scope") {
        // Java's list claim: the first character is the separator.
        let mut chars = scope.chars();
        if let Some(sep) = chars.next() {
            jwt = jwt.scope(chars.as_str().split(sep).filter(|s| !s.is_empty()).map(str::to_owned));
        }
    }
    Ok(Arc::new(jwt))
}

enum State {
    Plain,
    ScramFirst(Box<Scram>),
    ScramFinal(Box<Scram>),
    OAuth,
    /// OAUTHBEARER: the broker sent an error challenge; its reason follows as an error.
    OAuthFailed(String),
    Done,
}

/// One authentication exchange on one connection.
pub(crate) struct Exchange {
    state: State,
    mechanism: SaslMechanism,
}

/// What to do after a broker's SaslAuthenticate answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Send this token next.
    Send(Vec<u8>),
    /// Authenticated.
    Done,
}

impl Exchange {
    /// The broker answered with `token` (error code 0): the next step.
    pub(crate) fn next(&mut self, token: &[u8]) -> Result<Step> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Plain | State::OAuth if token.is_empty() => Ok(Step::Done),
            State::Plain => Ok(Step::Done),
            State::OAuth => {
                // RFC 7628 3.2.2: an error challenge (JSON); the client answers with a lone
                // \x01 and the broker then fails the exchange.
                self.state = State::OAuthFailed(String::from_utf8_lossy(token).into_owned());
                Ok(Step::Send(vec![0x01]))
            }
            State::ScramFirst(mut scram) => {
                let fin = scram.answer(token)?;
                self.state = State::ScramFinal(scram);
                Ok(Step::Send(fin))
            }
            State::ScramFinal(scram) => {
                scram.verify(token)?;
                Ok(Step::Done)
            }
            State::OAuthFailed(why) => Err(self.failure(&why)),
            State::Done => Err(Error::protocol(format!(
                "{} exchange: the broker sent a token after authentication completed",
                self.mechanism.name()
            ))),
        }
    }

    /// The broker failed the exchange with `message`: the error to report, with the
    /// OAUTHBEARER challenge's reason when there was one.
    pub(crate) fn failure(&self, message: &str) -> Error {
        let detail = match &self.state {
            State::OAuthFailed(json) if !json.is_empty() => format!(" (broker's challenge: {json})"),
            _ => String::new(),
        };
        Error::new(
            ErrorKind::Authentication,
            format!("{} authentication failed: {message}{detail}", self.mechanism.name()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(mech: &str, user: &str, pass: &str, jaas: &str) -> Result<SaslSettings> {
        SaslSettings::new(mech, user, pass, jaas, None)
    }

    #[test]
    fn plain_sends_user_and_password_once() {
        let s = settings("plain", "alice", "alice-secret", "").unwrap();
        let (mut ex, first) = s.start().unwrap();
        assert_eq!(first, b"\0alice\0alice-secret");
        assert_eq!(ex.next(b"").unwrap(), Step::Done);
        assert!(!format!("{s:?}").contains("alice-secret"), "{s:?}");
    }

    #[test]
    fn credentials_come_from_the_jaas_config_in_java_form() {
        let jaas = r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="bob" password="bob-secret";"#;
        let s = settings("SCRAM-SHA-512", "", "", jaas).unwrap();
        let (_, first) = s.start().unwrap();
        assert!(first.starts_with(b"n,,n=bob,r="), "{:?}", String::from_utf8_lossy(&first));
        let e = settings("PLAIN", "", "", jaas).unwrap_err();
        assert!(
            e.to_string().contains("needs org.apache.kafka.common.security.plain.PlainLoginModule"),
            "{e}"
        );
    }

    #[test]
    fn missing_or_unsupported_settings_are_config_errors() {
        for (mech, user, pass, want) in [
            ("GSSAPI", "u", "p", "Kerberos"),
            ("DIGEST-MD5", "u", "p", "accepted: PLAIN"),
            ("PLAIN", "", "p", "needs a user name and password"),
            ("SCRAM-SHA-256", "u", "", "needs a user name and password"),
            ("OAUTHBEARER", "", "", "needs a token provider"),
        ] {
            let e = settings(mech, user, pass, "").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config);
            assert!(e.to_string().contains(want), "{mech}: {e}");
        }
    }

    #[test]
    fn oauthbearer_from_jaas_sends_an_unsecured_token_and_reports_a_challenge() {
        let jaas = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
                    unsecuredLoginStringClaim_sub=\"alice\" unsecuredLoginLifetimeSeconds=\"120\";";
        let s = settings("OAUTHBEARER", "", "", jaas).unwrap();
        let (mut ex, first) = s.start().unwrap();
        assert!(first.starts_with(b"n,,\x01auth=Bearer "));
        assert_eq!(ex.next(br#"{"status":"invalid_token"}"#).unwrap(), Step::Send(vec![1]));
        let e = ex.failure("Authentication failed: invalid token");
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert!(e.to_string().contains("invalid_token"), "{e}");
        let (mut ok, _) = s.start().unwrap();
        assert_eq!(ok.next(b"").unwrap(), Step::Done);
    }

    #[test]
    fn a_token_after_completion_is_a_protocol_error() {
        let s = settings("PLAIN", "u", "p", "").unwrap();
        let (mut ex, _) = s.start().unwrap();
        ex.next(b"").unwrap();
        assert_eq!(ex.next(b"more").unwrap_err().kind(), ErrorKind::Protocol);
    }
}
