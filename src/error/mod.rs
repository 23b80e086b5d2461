//! The crate's one error type.
//!
//! Every fallible call returns [`Error`]. A caller matches on [`Error::kind`] (a small,
//! `#[non_exhaustive]` enum) and asks the three questions librdkafka's errors answer:
//! [`Error::is_retriable`], [`Error::is_fatal`] and [`Error::txn_requires_abort`].
//! The message always names the cause and the values involved, e.g.
//! `record of 2000000 bytes exceeds max.request.size=1048576`.
//!
//! Broker error codes live in one table (`codes.rs`), one row per Kafka error code (as the
//! Java client's `Errors` enum and franz-go's `kerr` do). A code the table does not know
//! is still carried as a [`KafkaCode`] and reported as `UNKNOWN(<code>)`.
//!
//! Errors are cheap to clone (the source is shared), because one broker error fails every
//! record of a batch.

mod codes;

pub use codes::KafkaCode;

use std::fmt;
use std::sync::Arc;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is. Match on it; new kinds may be added.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A configuration key is unknown or has a bad value. The message names every bad key.
    Config,
    /// An operation did not finish in time (`max.block.ms`, `delivery.timeout.ms`,
    /// `request.timeout.ms`, a `wait_timeout`, ...). The message says which bound.
    Timeout,
    /// `buffer.memory` stayed exhausted for `max.block.ms`.
    BufferExhausted,
    /// A record is larger than `max.request.size` or `buffer.memory`.
    RecordTooLarge,
    /// The record itself is invalid (e.g. an explicit partition that does not exist).
    InvalidRecord,
    /// The topic does not exist (or its metadata never arrived within `max.block.ms`).
    UnknownTopicOrPartition,
    /// A broker answered with this Kafka error code.
    Broker(KafkaCode),
    /// The producer is closed (or closing) and accepts no more work.
    Closed,
    /// A network error talking to a broker.
    Io,
    /// The broker refused who we are, or we refused the broker: a TLS handshake failure
    /// (certificate not trusted, wrong host name, expired, client certificate refused) or a
    /// SASL failure (wrong password, unknown user, mechanism not enabled). Not retried: Java's
    /// `AuthenticationException` (`SslAuthenticationException`, `SaslAuthenticationException`).
    Authentication,
    /// The broker sent bytes that do not parse, or the peer speaks a protocol we do not.
    Protocol,
    /// Compressing or decompressing a batch failed.
    Compression,
    /// Serializing a key or value failed.
    Serialization,
    /// Another producer with the same `transactional.id` (or a newer epoch) took over.
    Fenced,
    /// The operation is not allowed in the producer's current state.
    IllegalState,
    /// The record's transaction was aborted before the record was sent.
    TransactionAborted,
}

/// The error type of every fallible call in this crate.
///
/// One pointer wide (the details are boxed), so that `Result<T>` stays small on the send path,
/// where every call returns one.
#[derive(Clone)]
pub struct Error(Box<Repr>);

#[derive(Clone)]
struct Repr {
    kind: ErrorKind,
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// Makes an error of `kind` with a message that names the cause.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Box::new(Repr { kind, message: message.into(), source: None }))
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.0.source = Some(Arc::new(source));
        self
    }

    /// A configuration error.
    pub fn config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config, message)
    }

    /// A wire-format error: truncated or malformed bytes from a peer.
    pub fn protocol(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Protocol, message)
    }

    /// A timeout; the message says which bound expired.
    pub fn timeout(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Timeout, message)
    }

    /// An error a broker returned as `code`, with what we were doing.
    pub fn broker(code: KafkaCode, context: impl fmt::Display) -> Self {
        let kind = match code {
            KafkaCode::PRODUCER_FENCED => ErrorKind::Fenced,
            _ => ErrorKind::Broker(code),
        };
        Error::new(kind, format!("{context}: {} ({})", code.name(), code.description()))
    }

    /// An I/O error, with what we were doing.
    pub fn io(context: impl fmt::Display, err: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, format!("{context}: {err}")).with_source(err)
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The message, without the source chain.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The broker error code, if a broker returned one.
    pub fn code(&self) -> Option<KafkaCode> {
        match self.0.kind {
            ErrorKind::Broker(code) => Some(code),
            ErrorKind::Fenced => Some(KafkaCode::PRODUCER_FENCED),
            _ => None,
        }
    }

    /// Whether trying the same operation again may succeed (the producer retries these itself
    /// within `delivery.timeout.ms`; an error that reaches the caller has run out of time).
    pub fn is_retriable(&self) -> bool {
        match self.0.kind {
            ErrorKind::Broker(code) => code.is_retriable(),
            ErrorKind::Io | ErrorKind::Timeout | ErrorKind::BufferExhausted => true,
            _ => false,
        }
    }

    /// Whether the producer can do no more useful work and must be closed.
    pub fn is_fatal(&self) -> bool {
        match self.0.kind {
            ErrorKind::Fenced => true,
            ErrorKind::Broker(code) => code.is_fatal(),
            _ => false,
        }
    }

    /// Whether the current transaction must be aborted (it can then go on with a new one).
    pub fn txn_requires_abort(&self) -> bool {
        !self.is_fatal() && matches!(self.0.kind, ErrorKind::Broker(_) | ErrorKind::Timeout | ErrorKind::Io)
    }

    /// The same error with `context: ` put in front of its message.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.0.message = format!("{context}: {}", self.0.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.0.kind).field("message", &self.0.message);
        if let Some(s) = &self.0.source {
            d.field("source", &s.to_string());
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source.as_deref().map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// Runs user code (a partitioner, a serializer) on the calling thread and turns a panic in it
/// into an error of `kind` that says `what` panicked and with which message, as Java turns an
/// exception thrown there into the matching exception class.
pub(crate) fn catch_user_panic<T>(
    kind: ErrorKind,
    what: impl fmt::Display,
    f: impl FnOnce() -> T,
) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string panic payload".into());
        Error::new(kind, format!("{what} panicked: {msg}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_one_pointer_so_results_on_the_send_path_stay_small() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
        let e = Error::timeout("t").with_source(std::io::Error::other("inner")).context("outer");
        let copy = e.clone();
        assert_eq!((copy.kind(), copy.message()), (ErrorKind::Timeout, "outer: t"));
        assert_eq!(std::error::Error::source(&copy).map(|s| s.to_string()), Some("inner".to_string()));
    }

    #[test]
    fn broker_error_names_code_and_context() {
        let e = Error::broker(KafkaCode::NOT_LEADER_OR_FOLLOWER, "produce to orders-3");
        assert_eq!(e.kind(), ErrorKind::Broker(KafkaCode::NOT_LEADER_OR_FOLLOWER));
        assert!(e.to_string().starts_with("produce to orders-3: NOT_LEADER_OR_FOLLOWER"), "{e}");
        assert!(e.is_retriable());
        assert!(!e.is_fatal());
        assert!(e.txn_requires_abort());
    }

    #[test]
    fn fenced_is_fatal_and_not_retriable() {
        let e = Error::broker(KafkaCode::PRODUCER_FENCED, "end transaction");
        assert_eq!(e.kind(), ErrorKind::Fenced);
        assert!(e.is_fatal());
        assert!(!e.is_retriable());
        assert!(!e.txn_requires_abort());
        assert_eq!(e.code(), Some(KafkaCode::PRODUCER_FENCED));
    }

    #[test]
    fn io_error_keeps_source() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let e = Error::io("reading from broker 1 at 127.0.0.1:9092", io);
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(std::error::Error::source(&e).is_some());
        assert!(e.to_string().contains("reset by peer"));
        assert!(e.is_retriable());
    }

    #[test]
    fn error_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Error>();
    }

    #[test]
    fn a_panic_in_user_code_becomes_an_error_naming_it() {
        let e = catch_user_panic(ErrorKind::Serialization, "the value serializer", || -> i32 {
            panic!("bad {}", 7)
        })
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Serialization);
        assert_eq!(e.to_string(), "the value serializer panicked: bad 7");
        assert_eq!(catch_user_panic(ErrorKind::InvalidRecord, "x", || 5).unwrap(), 5);
    }
}
