//! SASL on the sender's connections: after ApiVersions, a SaslHandshake v1 names the mechanism
//! and SaslAuthenticate requests carry its tokens until the exchange is done; only then is the
//! connection ready. When the broker gives the session a lifetime (KIP-368,
//! `connections.max.reauth.ms` or a token's expiry), the connection re-authenticates on its own
//! before then, as Java's client does at 85-95% of the lifetime: no new request is sent on it
//! meanwhile, responses to those in flight are still read.
//!
//! An authentication failure is final for the attempt: the connection is dropped with an
//! [`ErrorKind::Authentication`](crate::ErrorKind) error naming the cause, and `send` calls
//! waiting for metadata fail with it at once (`io.rs`, `disconnect`).
//!
//! Runs on: sender thread (everything in this file).

use super::transport::Transport;
use super::{ConnState, Pending, SenderLoop};
use crate::error::{Error, ErrorKind, KafkaCode, Result};
use crate::protocol::header::decode_response;
use crate::protocol::sasl::{SaslAuthenticateRequest, SaslHandshakeRequest};
use crate::protocol::ApiKey;
use crate::security::sasl::Step;
use std::time::{Duration, Instant};

impl<T: Transport> SenderLoop<T> {
    /// Starts (or, on a ready connection, restarts) SASL authentication on `node`'s
    /// connection. Returns false when SASL is not configured.
    pub(super) fn start_authentication(&mut self, node: i32, now: Instant) -> bool {
        let Some(sasl) = self.cfg().sasl.clone() else { return false };
        let setup_timeout = self.cfg().socket.connect_timeout;
        let Some(c) = self.conns.get_mut(&node) else { return true };
        c.state = ConnState::Handshaking;
        c.handshake_until = Some(now + setup_timeout);
        c.reauth_at = None;
        let mechanism = sasl.mechanism.name().to_owned();
        match c.versions.get(&ApiKey::SaslHandshake.code()) {
            Some(&(_, hi)) if hi >= 1 => {}
            _ => {
                let e = Error::new(
                    ErrorKind::Authentication,
                    format!("broker {node} does not offer SaslHandshake v1 (SASL inside Kafka frames, Kafka 1.0+)"),
                );
                self.disconnect(node, e, now);
                return true;
            }
        }
        self.send_request(node, &SaslHandshakeRequest { mechanism }, 1, Pending::SaslHandshake, now);
        true
    }

    pub(super) fn on_sasl_handshake(
        &mut self,
        node: i32,
        frame: &[u8],
        version: i16,
        now: Instant,
    ) -> Result<()> {
        let (_, resp) = decode_response::<SaslHandshakeRequest>(frame, version)
            .map_err(|e| e.context(format!("decoding SaslHandshake v{version} from broker {node}")))?;
        let sasl = self.cfg().sasl.clone().expect("SASL is configured");
        let code = KafkaCode(resp.error_code);
        if code == KafkaCode::UNSUPPORTED_SASL_MECHANISM {
            return Err(Error::new(
                ErrorKind::Authentication,
                format!(
                    "broker {node} does not enable SASL mechanism {} on this listener (it offers {}): check sasl.mechanism",
                    sasl.mechanism.name(),
                    resp.mechanisms.join(", ")
                ),
            ));
        }
        if !code.is_ok() {
            return Err(Error::new(
                ErrorKind::Authentication,
                format!("SaslHandshake with broker {node} failed: {}", code.name()),
            ));
        }
        let (exchange, first) = sasl.start()?;
        if let Some(c) = self.conns.get_mut(&node) {
            c.sasl = Some(exchange);
        }
        self.send_sasl_token(node, first, now)
    }

    fn send_sasl_token(&mut self, node: i32, token: Vec<u8>, now: Instant) -> Result<()> {
        let version = self.version_for::<SaslAuthenticateRequest>(node).map_err(|e| {
            Error::new(
                ErrorKind::Authentication,
                format!("broker {node} cannot authenticate this client: {e}"),
            )
        })?;
        let req = SaslAuthenticateRequest { auth_bytes: token };
        self.send_request(node, &req, version, Pending::SaslAuthenticate, now);
        Ok(())
    }

    pub(super) fn on_sasl_authenticate(
        &mut self,
        node: i32,
        frame: &[u8],
        version: i16,
        now: Instant,
    ) -> Result<()> {
        let (_, resp) = decode_response::<SaslAuthenticateRequest>(frame, version)
            .map_err(|e| e.context(format!("decoding SaslAuthenticate v{version} from broker {node}")))?;
        let who = self.cfg().sasl.as_ref().map(|s| s.who()).unwrap_or_default();
        let c = self.conns.get_mut(&node).expect("checked by caller");
        let Some(exchange) = c.sasl.as_mut() else {
            return Err(Error::protocol(format!(
                "broker {node} answered a SaslAuthenticate that was not sent"
            )));
        };
        let code = KafkaCode(resp.error_code);
        if !code.is_ok() {
            let message = resp.error_message.clone().unwrap_or_else(|| code.name().to_owned());
            return Err(
                exchange.failure(&format!("broker {node} refused {who}: {message} ({})", code.name()))
            );
        }
        match exchange.next(&resp.auth_bytes)? {
            Step::Send(token) => self.send_sasl_token(node, token, now),
            Step::Done => {
                self.authenticated(node, resp.session_lifetime_ms, now);
                Ok(())
            }
        }
    }

    /// The exchange succeeded: the connection is ready, and re-authenticates at 85-95% of a
    /// session lifetime the broker set.
    fn authenticated(&mut self, node: i32, lifetime_ms: i64, now: Instant) {
        let mechanism = self.cfg().sasl.as_ref().map_or("", |s| s.mechanism.name());
        let Some(c) = self.conns.get_mut(&node) else { return };
        let again = c.state == ConnState::Ready || c.authenticated_once;
        c.sasl = None;
        c.state = ConnState::Ready;
        c.handshake_until = None;
        c.authenticated_once = true;
        c.reauth_at = (lifetime_ms > 0).then(|| {
            let lifetime = Duration::from_millis(lifetime_ms as u64);
            // 85% plus up to 10% more, so that a producer's connections spread out.
            let seed =
                (self.next_correlation_id as u64).wrapping_mul(7919) ^ (node as u64).wrapping_mul(104_729);
            let jitter = seed % 1000;
            now + lifetime.mul_f64(0.85 + 0.10 * jitter as f64 / 1000.0)
        });
        let lifetime =
            if lifetime_ms > 0 { format!("; session lifetime {lifetime_ms} ms") } else { String::new() };
        if again {
            log::debug!("re-authenticated with broker {node}{lifetime}");
        } else {
            log::info!("connected to broker {node} at {} (SASL {mechanism}){lifetime}", c.addr);
        }
        self.backoff.remove(&node);
    }

    /// Connections whose session is near its end start re-authenticating.
    pub(super) fn check_reauthentication(&mut self, now: Instant) {
        let due: Vec<i32> = self
            .conns
            .iter()
            .filter(|(_, c)| c.state == ConnState::Ready && c.reauth_at.is_some_and(|t| t <= now))
            .map(|(&n, _)| n)
            .collect();
        for node in due {
            log::debug!("re-authenticating with broker {node} before its session lifetime ends");
            self.start_authentication(node, now);
        }
    }

    /// When the next re-authentication is due.
    pub(super) fn next_reauthentication(&self, now: Instant) -> Option<Duration> {
        self.conns.values().filter_map(|c| c.reauth_at).map(|t| t.saturating_duration_since(now)).min()
    }
}
