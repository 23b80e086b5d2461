//! The Kafka error code table: one row per code, as in the Java client's `Errors` enum
//! (clients/src/main/java/org/apache/kafka/common/protocol/Errors.java).
//!
//! Each row gives the code, its Java name, whether the Java client marks the exception
//! retriable (`RetriableException` subclass), whether a producer must treat it as fatal
//! (it can do no further work: fencing, authorization of the producer itself, unsupported
//! protocol features), and a one-line description.

use std::fmt;

/// A Kafka protocol error code as a broker sends it. Known codes have associated constants
/// (`KafkaCode::NOT_LEADER_OR_FOLLOWER`); an unknown code is kept as is and reported by number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KafkaCode(pub i16);

struct Row {
    code: i16,
    name: &'static str,
    retriable: bool,
    fatal: bool,
    description: &'static str,
}

macro_rules! kafka_codes {
    ($( $code:literal $name:ident retriable=$retriable:literal fatal=$fatal:literal $desc:literal; )*) => {
        impl KafkaCode {
            $(
                #[doc = $desc]
                pub const $name: KafkaCode = KafkaCode($code);
            )*
        }
        const TABLE: &[Row] = &[
            $( Row { code: $code, name: stringify!($name), retriable: $retriable, fatal: $fatal, description: $desc }, )*
        ];
    };
}

kafka_codes! {
    -1 UNKNOWN_SERVER_ERROR retriable=false fatal=false "The server experienced an unexpected error when processing the request.";
    0 NONE retriable=false fatal=false "No error.";
    3 UNKNOWN_TOPIC_OR_PARTITION retriable=true fatal=false "This server does not host this topic-partition.";
    6 NOT_LEADER_OR_FOLLOWER retriable=true fatal=false "For requests intended only for the leader, this error indicates that the broker is not the current leader. For requests intended for any replica, this error indicates that the broker is not a replica of the topic partition.";
    90 PRODUCER_FENCED retriable=false fatal=true "There is a newer producer with the same transactionalId which fences the current one.";
}

impl KafkaCode {
    fn row(self) -> Option<&'static Row> {
        TABLE.binary_search_by_key(&self.0, |r| r.code).ok().map(|i| &TABLE[i])
    }

    /// The code as sent on the wire.
    pub fn code(self) -> i16 {
        self.0
    }

    /// Whether the code means success.
    pub fn is_ok(self) -> bool {
        self.0 == 0
    }

    /// The Java name of the code (`NOT_LEADER_OR_FOLLOWER`), or `UNKNOWN` for a code this
    /// table does not list.
    pub fn name(self) -> &'static str {
        self.row().map_or("UNKNOWN", |r| r.name)
    }

    /// The Java client's description of the code.
    pub fn description(self) -> &'static str {
        self.row().map_or("An error code this client does not know.", |r| r.description)
    }

    /// Whether the Java client retries this error.
    pub fn is_retriable(self) -> bool {
        self.row().is_some_and(|r| r.retriable)
    }

    /// Whether a producer that sees this error can do no more work.
    pub fn is_fatal(self) -> bool {
        self.row().is_some_and(|r| r.fatal)
    }
}

impl fmt::Debug for KafkaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for KafkaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for w in TABLE.windows(2) {
            assert!(w[0].code < w[1].code, "{} then {}", w[0].code, w[1].code);
        }
    }

    #[test]
    fn unknown_code_is_kept() {
        let c = KafkaCode(30000);
        assert_eq!(c.name(), "UNKNOWN");
        assert!(!c.is_retriable());
        assert_eq!(format!("{c}"), "UNKNOWN(30000)");
    }
}
