//! The sender thread's sockets: the poll(2) turn over the waker and every connection,
//! connecting (with per-address timeouts), reading responses into [`handle_frame`](SenderLoop),
//! writing queued requests, dropping connections (their requests are retried) and flushing on
//! close. What to send and how to answer it is decided in `mod.rs` and `txn.rs`.
//!
//! Runs on: sender thread (everything in this file).

use super::transport::{Link, Transport};
use super::{exp_backoff, in_flight_lost, Backoff, Conn, ConnState, InFlight, Pending, SenderLoop};
use crate::error::{Error, ErrorKind};
use crate::producer::future::BatchAck;
use crate::protocol::api_versions::ApiVersionsRequest;
use crate::protocol::{ApiKey, Request};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

impl<T: Transport> SenderLoop<T> {
    /// Waits up to `timeout` for the waker or any connection, then handles every connection
    /// that is ready. Returns whether anything happened (the next turn then does not sleep).
    pub(super) fn poll_once(&mut self, timeout: Duration) -> bool {
        let mut ready = std::mem::take(&mut self.ready);
        ready.clear();
        let mut links = self.conns.iter().map(|(&node, c)| (node, &c.io));
        let any = self.transport.wait(&mut links, timeout, &mut ready);
        let now = self.transport.now();
        for r in &ready {
            // Only for the link that was polled: handling an earlier one may have replaced
            // this node's connection.
            if self.conns.get(&r.node).is_some_and(|c| c.io.token() == r.token) {
                self.on_link_ready(r.node, r.readable, r.writable, now);
            }
        }
        self.ready = ready;
        if any {
            let in_flight = self.conns.values().map(|c| c.in_flight.len() + c.unwritten_acks0.len()).sum();
            self.shared.metrics.set_requests_in_flight(in_flight);
        }
        any
    }

    /// The connection to `node` if it is ready; starts connecting when there is none and the
    /// reconnect backoff allows.
    pub(super) fn ensure_connection(&mut self, node: i32, addr: &str, now: Instant) -> Option<ConnState> {
        if let Some(c) = self.conns.get(&node) {
            return Some(c.state);
        }
        if let Some(b) = self.backoff.get(&node) {
            if b.next_attempt.is_some_and(|t| t > now) {
                return None;
            }
        }
        let opts = self.cfg().socket.clone();
        match self.transport.connect(node, addr, &opts, now) {
            Ok(io) => {
                self.conns.insert(
                    node,
                    Conn {
                        addr: addr.to_owned(),
                        state: ConnState::Connecting,
                        io,
                        unwritten_acks0: VecDeque::new(),
                        in_flight: HashMap::new(),
                        versions: HashMap::new(),
                        last_used: now,
                        handshake_until: None,
                        throttled_until: None,
                        sasl: None,
                        reauth_at: None,
                        authenticated_once: false,
                    },
                );
                Some(ConnState::Connecting)
            }
            Err(e) => {
                log::warn!("cannot connect to broker {node} at {addr}: {e}");
                self.note_failure(node, now);
                self.shared.metadata.note_error(&e);
                None
            }
        }
    }

    pub(super) fn note_failure(&mut self, node: i32, now: Instant) {
        let (base, max) = (self.cfg().reconnect_backoff, self.cfg().reconnect_backoff_max);
        let b = self.backoff.entry(node).or_default();
        b.failures += 1;
        b.next_attempt = Some(now + exp_backoff(base, max, b.failures - 1));
    }

    /// `node`'s link is ready: finish its connect, read its responses, write what is queued.
    pub(super) fn on_link_ready(&mut self, node: i32, readable: bool, writable: bool, now: Instant) {
        let Some(c) = self.conns.get_mut(&node) else { return };
        if c.io.is_connecting() {
            match c.io.finish_connect(now) {
                Ok(true) => self.on_connected(node, now),
                Ok(false) => {}
                Err(e) => self.disconnect(node, e, now),
            }
            return;
        }
        if readable {
            let mut frames = std::mem::take(&mut self.frames_read);
            let read = c.io.read_frames(&mut frames);
            if !frames.is_empty() {
                c.last_used = now;
            }
            for frame in frames.drain(..) {
                if !self.conns.contains_key(&node) {
                    break; // a response made us drop the connection
                }
                if let Err(e) = self.handle_frame(node, &frame, now) {
                    self.disconnect(node, e, now);
                }
            }
            self.frames_read = frames;
            if let Err(e) = read {
                self.disconnect(node, e, now);
                return;
            }
        }
        if writable {
            self.flush_connection(node, now);
        }
    }

    /// The socket connected: ask for the broker's API versions first.
    pub(super) fn on_connected(&mut self, node: i32, now: Instant) {
        let setup_timeout = self.cfg().socket.connect_timeout;
        if let Some(c) = self.conns.get_mut(&node) {
            c.state = ConnState::Handshaking;
            c.last_used = now;
            c.handshake_until = Some(now + setup_timeout);
        }
        let req = ApiVersionsRequest {
            client_software_name: "kafka-blocking".into(),
            client_software_version: env!("CARGO_PKG_VERSION").into(),
        };
        let v = *ApiVersionsRequest::VERSIONS.end();
        self.send_request(node, &req, v, Pending::ApiVersions, now);
    }

    /// Writes what the socket takes of `node`'s queued frames; acks=0 batches whose frame is
    /// out are complete. A write error drops the connection.
    pub(super) fn flush_connection(&mut self, node: i32, now: Instant) {
        let Some(c) = self.conns.get_mut(&node) else { return };
        let result = c.io.flush(&mut self.spent_frames);
        for f in self.spent_frames.drain(..) {
            let mut head = c.give_back(f);
            if self.spare_frames.len() < 8 {
                head.clear();
                self.spare_frames.push(head);
            }
        }
        if let Err(e) = result {
            self.disconnect(node, e, now);
            return;
        }
        let written = c.io.frames_written();
        let mut done = Vec::new();
        while c.unwritten_acks0.front().is_some_and(|(frame, _, _)| *frame < written) {
            done.extend(c.unwritten_acks0.pop_front().expect("checked").2);
        }
        for b in done {
            self.end_in_flight(&b);
            self.shared.accumulator.complete(b, Ok(BatchAck { base_offset: -1, log_append_time: -1 }));
        }
    }

    /// Connects that ran past `socket.connection.setup.timeout.ms` move to their next address
    /// or fail.
    pub(super) fn check_connect_timeouts(&mut self, now: Instant) {
        let late: Vec<i32> = self
            .conns
            .iter()
            .filter(|(_, c)| c.io.connect_deadline().is_some_and(|d| d <= now))
            .map(|(&n, _)| n)
            .collect();
        for node in late {
            if let Some(c) = self.conns.get_mut(&node) {
                match c.io.finish_connect(now) {
                    Ok(true) => self.on_connected(node, now),
                    Ok(false) => {}
                    Err(e) => self.disconnect(node, e, now),
                }
            }
        }
        let silent: Vec<(i32, String)> = self
            .conns
            .iter()
            .filter(|(_, c)| c.handshake_until.is_some_and(|d| d <= now))
            .map(|(&n, c)| (n, c.addr.clone()))
            .collect();
        for (node, addr) in silent {
            let ms = self.cfg().socket.connect_timeout.as_millis();
            let e = Error::timeout(format!(
                "broker {node} at {addr} accepted the connection but did not finish the handshake (ApiVersions, SASL) within {ms} ms \
                 (socket.connection.setup.timeout.ms)"
            ));
            self.disconnect(node, e, now);
        }
    }

    pub(super) fn next_connect_deadline(&self, now: Instant) -> Option<Duration> {
        self.conns
            .values()
            .filter_map(|c| c.io.connect_deadline().or(c.handshake_until))
            .map(|d| d.saturating_duration_since(now))
            .min()
    }

    /// Drops the connection to `node`: requests in flight are retried (or failed), metadata
    /// is refreshed, and the next connect waits for the reconnect backoff.
    pub(super) fn disconnect(&mut self, node: i32, error: Error, now: Instant) {
        let Some(mut conn) = self.conns.remove(&node) else { return };
        conn.reclaim_unwritten();
        if error.kind() == ErrorKind::Authentication {
            log::error!("authentication with broker {node} at {} failed: {error}", conn.addr);
            // Waiting sends fail now rather than at max.block.ms; a later successful metadata
            // update clears it (Java's Metadata.fatalError for an AuthenticationException).
            self.shared.metadata.authentication_failed(error.clone());
        } else {
            log::info!("disconnected from broker {node} at {}: {error}", conn.addr);
        }
        if conn.state == ConnState::Ready {
            // A working connection that broke: reconnect after the base backoff only.
            let next_attempt = Some(now + self.cfg().reconnect_backoff);
            self.backoff.insert(node, Backoff { failures: 1, next_attempt });
        } else {
            self.note_failure(node, now);
        }
        let mut entries: Vec<(i32, InFlight)> = conn.in_flight.into_iter().collect();
        entries.sort_by_key(|(corr, _)| std::cmp::Reverse(*corr));
        // acks=0 batches not written yet: as good as in flight (newest last, so first here).
        let unwritten = conn.unwritten_acks0.into_iter().rev().map(|(_, _, batches)| {
            (
                0,
                InFlight {
                    pending: Pending::Produce(batches),
                    api_key: ApiKey::Produce,
                    version: 0,
                    deadline: now,
                },
            )
        });
        let entries: Vec<(i32, InFlight)> = unwritten.chain(entries).collect();
        for (_, f) in entries {
            match f.pending {
                Pending::Metadata => {
                    self.metadata_in_flight = false;
                    self.shared.metadata.failed_update();
                }
                Pending::ApiVersions | Pending::SaslHandshake | Pending::SaslAuthenticate => {}
                Pending::InitProducerId => {
                    self.init_pid_in_flight = false;
                }
                Pending::Txn(t) => self.txn_request_lost(t, now),
                Pending::Telemetry(_) => self.telemetry_request_lost(now),
                Pending::Produce(batches) => {
                    // Newest request first, each pushed to the front: the oldest ends up first.
                    for mut b in batches.into_iter().rev() {
                        self.end_in_flight(&b);
                        // The broker may have stored it: retry under the same stamp.
                        b.outcome_unknown = true;
                        let e = in_flight_lost(&error, node, &b.tp());
                        self.retry_or_fail(b, e, now);
                    }
                }
            }
        }
        self.shared.metadata.note_error(&error);
        self.shared.metadata.request_update();
    }

    pub(super) fn close_idle_connections(&mut self, now: Instant) {
        let max_idle = self.cfg().connections_max_idle;
        let idle: Vec<i32> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                c.state == ConnState::Ready
                    && c.in_flight.is_empty()
                    && c.unwritten_acks0.is_empty()
                    && now.duration_since(c.last_used) >= max_idle
            })
            .map(|(&n, _)| n)
            .collect();
        for node in idle {
            if let Some(c) = self.conns.remove(&node) {
                log::debug!("closing connection to broker {node} at {}: idle for {max_idle:?}", c.addr);
            }
        }
    }

    /// Writes out every connection's queued frames, waiting for room, until all are out or
    /// `deadline` passes (graceful close).
    pub(super) fn flush_sockets(&mut self, deadline: Instant) {
        loop {
            let now = self.transport.now();
            let nodes: Vec<i32> = self.conns.keys().copied().collect();
            for node in nodes {
                self.flush_connection(node, now);
            }
            let pending = self.conns.values().any(|c| c.io.has_unwritten() && !c.io.is_connecting());
            // A close whose timeout ran out forces the sender: stop writing then.
            let forced = self.shared.force_close.load(std::sync::atomic::Ordering::Acquire);
            if !pending || now >= deadline || forced {
                return;
            }
            let wait = deadline
                .saturating_duration_since(now)
                .clamp(Duration::from_millis(1), Duration::from_millis(100));
            let mut links =
                self.conns.values().map(|c| &c.io).filter(|io| io.has_unwritten() && !io.is_connecting());
            self.transport.wait_writable(&mut links, wait);
        }
    }
}
