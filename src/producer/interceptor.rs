//! Producer interceptors (Java's `interceptor.classes`): see a record before it is sent, and
//! every record's result.
//!
//! Set with [`ProducerConfig::interceptor`](crate::ProducerConfig::interceptor); several run in
//! the order they were added. An interceptor's error or panic is logged and otherwise ignored,
//! as in Java: it never fails the `send` or the delivery.

use super::record::{Record, RecordMetadata};
use crate::error::{Error, Result};

/// Hooks around every record.
///
/// ```
/// use kafka_blocking::producer::interceptor::ProducerInterceptor;
/// use kafka_blocking::{Error, Record, RecordMetadata};
///
/// /// Adds a trace header to every record.
/// struct Tracing;
/// impl ProducerInterceptor for Tracing {
///     fn on_send(&self, record: &mut Record<'_>) -> Result<(), Error> {
///         record.push_header(kafka_blocking::producer::record::Header::owned("trace-id", Some(b"42".to_vec())));
///         Ok(())
///     }
/// }
/// ```
pub trait ProducerInterceptor: Send + Sync {
    /// Runs on: the application thread in `send`, before the partition is chosen. May change
    /// the record (topic, key, value, headers, partition, timestamp). An error is logged and the
    /// record goes on as it is.
    fn on_send(&self, record: &mut Record<'_>) -> Result<(), Error> {
        let _ = record;
        Ok(())
    }

    /// Runs on: the sender thread when a record is acknowledged or fails (before the record's
    /// callback), or on the application thread when `send` fails after `on_send` ran. Keep it
    /// quick: the sender thread waits for it.
    fn on_acknowledgement(&self, result: Result<&RecordMetadata, &Error>) {
        let _ = result;
    }
}

/// Runs `f` for each interceptor, logging errors and panics instead of propagating them.
pub(crate) fn each<T: ?Sized + ProducerInterceptor>(
    interceptors: &[std::sync::Arc<T>],
    what: &str,
    mut f: impl FnMut(&T) -> Result<()>,
) {
    for i in interceptors {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(i))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::warn!("producer interceptor {what} failed: {e}"),
            Err(_) => log::warn!("producer interceptor {what} panicked"),
        }
    }
}
