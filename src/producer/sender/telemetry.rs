//! The sender's side of client telemetry (KIP-714): picks the broker for each
//! GetTelemetrySubscriptions and PushTelemetry request the [`TelemetryClient`] wants, and
//! hands it the answers. The decisions are the client's (`producer/telemetry`).
//!
//! Runs on: sender thread.

use super::transport::Transport;
use super::{ConnState, Pending, SenderLoop};
use crate::error::{Error, Result};
use crate::producer::telemetry::Step;
use crate::protocol::header::decode_response;
use crate::protocol::telemetry::{GetTelemetrySubscriptionsRequest, PushTelemetryRequest};
use crate::protocol::ApiKey;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Which telemetry request is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TelemetryPending {
    Subscriptions,
    Push,
}

/// The wall clock in nanoseconds since the epoch (OpenTelemetry timestamps).
pub(super) fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

impl<T: Transport> SenderLoop<T> {
    /// Sends the telemetry request that is due; returns when to look again.
    pub(super) fn drive_telemetry(&mut self, now: Instant) -> Option<Duration> {
        let wait = self.telemetry.as_ref()?.wait_time(now)?;
        if !wait.is_zero() {
            return Some(wait);
        }
        let node = match self.telemetry_node(now) {
            Ok(Some(node)) => node,
            Ok(None) => {
                self.telemetry.as_mut()?.no_broker();
                self.shared.metadata.request_update(); // brings up a connection
                return Some(Duration::from_millis(100));
            }
            Err(()) => {
                self.telemetry.as_mut()?.unsupported();
                return None;
            }
        };
        let tel = self.telemetry.as_mut()?;
        match tel.start(now)? {
            Step::GetSubscriptions(req) => {
                let pending = Pending::Telemetry(TelemetryPending::Subscriptions);
                self.send_request(node, &req, 0, pending, now);
            }
            Step::Push => {
                let metrics = self.shared.metrics.snapshot(self.shared.accumulator.pool().stats(), now);
                let tel = self.telemetry.as_mut()?;
                if let Some(req) = tel.push_request(&metrics, now, unix_nanos()) {
                    self.send_request(node, &req, 0, Pending::Telemetry(TelemetryPending::Push), now);
                }
            }
        }
        Some(Duration::ZERO)
    }

    /// The least loaded ready broker that offers both telemetry APIs; `Ok(None)` when no
    /// broker is ready, `Err` when brokers are ready and none offers them.
    fn telemetry_node(&self, now: Instant) -> std::result::Result<Option<i32>, ()> {
        let offers = |versions: &std::collections::HashMap<i16, (i16, i16)>| {
            [ApiKey::GetTelemetrySubscriptions, ApiKey::PushTelemetry]
                .iter()
                .all(|k| versions.get(&k.code()).is_some_and(|&(lo, _)| lo <= 0))
        };
        let ready: Vec<&super::Conn<T::Link>> =
            self.conns.values().filter(|c| c.state == ConnState::Ready).collect();
        if ready.is_empty() {
            return Ok(None);
        }
        if !ready.iter().any(|c| offers(&c.versions)) {
            return Err(());
        }
        Ok(self.least_loaded_ready_node_where(now, |c| offers(&c.versions)))
    }

    /// The answer to a telemetry request.
    pub(super) fn on_telemetry_response(
        &mut self,
        node: i32,
        kind: TelemetryPending,
        frame: &[u8],
        version: i16,
        now: Instant,
    ) -> Result<()> {
        let lost = |s: &mut Self, e: Error| {
            if let Some(t) = s.telemetry.as_mut() {
                t.on_request_lost(now);
            }
            Err(e.context(format!("decoding a telemetry response v{version} from broker {node}")))
        };
        match kind {
            TelemetryPending::Subscriptions => {
                let resp = match decode_response::<GetTelemetrySubscriptionsRequest>(frame, version) {
                    Ok((_, r)) => r,
                    Err(e) => return lost(self, e),
                };
                self.note_throttle(
                    node,
                    ApiKey::GetTelemetrySubscriptions,
                    version,
                    resp.throttle_time_ms,
                    now,
                );
                if let Some(t) = self.telemetry.as_mut() {
                    t.on_subscriptions(&resp, now);
                }
            }
            TelemetryPending::Push => {
                let resp = match decode_response::<PushTelemetryRequest>(frame, version) {
                    Ok((_, r)) => r,
                    Err(e) => return lost(self, e),
                };
                self.note_throttle(node, ApiKey::PushTelemetry, version, resp.throttle_time_ms, now);
                if let Some(t) = self.telemetry.as_mut() {
                    t.on_push(&resp, now);
                }
            }
        }
        Ok(())
    }

    /// A telemetry request was lost with its connection or timed out.
    pub(super) fn telemetry_request_lost(&mut self, now: Instant) {
        if let Some(t) = self.telemetry.as_mut() {
            t.on_request_lost(now);
        }
    }
}
