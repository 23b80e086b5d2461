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
    // Every code from -1 to 133 (the highest in Errors.java), in order, with no gaps.
    // retriable: the Java exception class extends RetriableException (directly or through
    // InvalidMetadataException / RefreshRetriableException). fatal: what the Java producer's
    // TransactionManager/Sender treats as fatal (ProducerFenced, the producer's own authorization,
    // UnsupportedVersion, UnsupportedForMessageFormat, InvalidTxnState); everything else is at worst
    // abortable. Descriptions are Java's default messages.
    -1 UNKNOWN_SERVER_ERROR retriable=false fatal=false "The server experienced an unexpected error when processing the request.";
    // Java gives NONE no message (null); this table says "No error.".
    0 NONE retriable=false fatal=false "No error.";
    1 OFFSET_OUT_OF_RANGE retriable=false fatal=false "The requested offset is not within the range of offsets maintained by the server.";
    2 CORRUPT_MESSAGE retriable=true fatal=false "This message has failed its CRC checksum, exceeds the valid size, has a null key for a compacted topic, or is otherwise corrupt.";
    3 UNKNOWN_TOPIC_OR_PARTITION retriable=true fatal=false "This server does not host this topic-partition.";
    4 INVALID_FETCH_SIZE retriable=false fatal=false "The requested fetch size is invalid.";
    5 LEADER_NOT_AVAILABLE retriable=true fatal=false "There is no leader for this topic-partition as we are in the middle of a leadership election.";
    6 NOT_LEADER_OR_FOLLOWER retriable=true fatal=false "For requests intended only for the leader, this error indicates that the broker is not the current leader. For requests intended for any replica, this error indicates that the broker is not a replica of the topic partition.";
    7 REQUEST_TIMED_OUT retriable=true fatal=false "The request timed out.";
    8 BROKER_NOT_AVAILABLE retriable=false fatal=false "The broker is not available.";
    9 REPLICA_NOT_AVAILABLE retriable=true fatal=false "The replica is not available for the requested topic-partition. Produce/Fetch requests and other requests intended only for the leader or follower return NOT_LEADER_OR_FOLLOWER if the broker is not a replica of the topic-partition.";
    // Not retriable, but the Java Sender splits a multi-record batch that gets this and resends it.
    10 MESSAGE_TOO_LARGE retriable=false fatal=false "The request included a message larger than the max message size the server will accept.";
    11 STALE_CONTROLLER_EPOCH retriable=false fatal=false "The controller moved to another broker.";
    12 OFFSET_METADATA_TOO_LARGE retriable=false fatal=false "The metadata field of the offset request was too large.";
    13 NETWORK_EXCEPTION retriable=true fatal=false "The server disconnected before a response was received.";
    14 COORDINATOR_LOAD_IN_PROGRESS retriable=true fatal=false "The coordinator is loading and hence can't process requests.";
    15 COORDINATOR_NOT_AVAILABLE retriable=true fatal=false "The coordinator is not available.";
    16 NOT_COORDINATOR retriable=true fatal=false "This is not the correct coordinator.";
    17 INVALID_TOPIC_EXCEPTION retriable=false fatal=false "The request attempted to perform an operation on an invalid topic.";
    18 RECORD_LIST_TOO_LARGE retriable=false fatal=false "The request included message batch larger than the configured segment size on the server.";
    19 NOT_ENOUGH_REPLICAS retriable=true fatal=false "Messages are rejected since there are fewer in-sync replicas than required.";
    20 NOT_ENOUGH_REPLICAS_AFTER_APPEND retriable=true fatal=false "Messages are written to the log, but to fewer in-sync replicas than required.";
    21 INVALID_REQUIRED_ACKS retriable=false fatal=false "Produce request specified an invalid value for required acks.";
    22 ILLEGAL_GENERATION retriable=false fatal=false "Specified group generation id is not valid.";
    23 INCONSISTENT_GROUP_PROTOCOL retriable=false fatal=false "The group member's supported protocols are incompatible with those of existing members or first group member tried to join with empty protocol type or empty protocol list.";
    24 INVALID_GROUP_ID retriable=false fatal=false "The group id is invalid.";
    25 UNKNOWN_MEMBER_ID retriable=false fatal=false "The coordinator is not aware of this member.";
    26 INVALID_SESSION_TIMEOUT retriable=false fatal=false "The session timeout is not within the range allowed by the broker (as configured by group.min.session.timeout.ms and group.max.session.timeout.ms).";
    27 REBALANCE_IN_PROGRESS retriable=false fatal=false "The group is rebalancing, so a rejoin is needed.";
    28 INVALID_COMMIT_OFFSET_SIZE retriable=false fatal=false "The committing offset data size is not valid.";
    29 TOPIC_AUTHORIZATION_FAILED retriable=false fatal=false "Topic authorization failed.";
    30 GROUP_AUTHORIZATION_FAILED retriable=false fatal=false "Group authorization failed.";
    // 31 and 53 are fatal on the produce and coordinator-lookup paths (TransactionManager
    // maybeTransitionToErrorState, FindCoordinator). In an InitProducerId response Java makes them
    // abortable instead (KAFKA-13668: init_transactions may be called again).
    31 CLUSTER_AUTHORIZATION_FAILED retriable=false fatal=true "Cluster authorization failed.";
    32 INVALID_TIMESTAMP retriable=false fatal=false "The timestamp of the message is out of acceptable range.";
    33 UNSUPPORTED_SASL_MECHANISM retriable=false fatal=false "The broker does not support the requested SASL mechanism.";
    34 ILLEGAL_SASL_STATE retriable=false fatal=false "Request is not valid given the current SASL state.";
    // 35 and 43: fatal in TransactionManager (maybeTransitionToErrorState; TxnOffsetCommit handler).
    35 UNSUPPORTED_VERSION retriable=false fatal=true "The version of API is not supported.";
    36 TOPIC_ALREADY_EXISTS retriable=false fatal=false "Topic with this name already exists.";
    37 INVALID_PARTITIONS retriable=false fatal=false "Number of partitions is below 1.";
    38 INVALID_REPLICATION_FACTOR retriable=false fatal=false "Replication factor is below 1 or larger than the number of available brokers.";
    39 INVALID_REPLICA_ASSIGNMENT retriable=false fatal=false "Replica assignment is invalid.";
    40 INVALID_CONFIG retriable=false fatal=false "Configuration is invalid.";
    41 NOT_CONTROLLER retriable=true fatal=false "This is not the correct controller for this cluster.";
    42 INVALID_REQUEST retriable=false fatal=false "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details.";
    43 UNSUPPORTED_FOR_MESSAGE_FORMAT retriable=false fatal=true "The message format version on the broker does not support the request.";
    44 POLICY_VIOLATION retriable=false fatal=false "Request parameters do not satisfy the configured policy.";
    // 45 and 59 are not RetriableException subclasses, but TransactionManager.canRetry retries them
    // in some cases (always for the idempotent, non-transactional producer, bumping the epoch).
    45 OUT_OF_ORDER_SEQUENCE_NUMBER retriable=false fatal=false "The broker received an out of order sequence number.";
    // The Java Sender completes a batch that gets 46 as a success with no offset.
    46 DUPLICATE_SEQUENCE_NUMBER retriable=false fatal=false "The broker received a duplicate sequence number.";
    // fatal=false on purpose: Java maps INVALID_PRODUCER_EPOCH to PRODUCER_FENCED (fatal) in every
    // transactional coordinator response (InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
    // TxnOffsetCommit), but in a produce response it is an abortable error. The producer decides by path.
    47 INVALID_PRODUCER_EPOCH retriable=false fatal=false "Producer attempted to produce with an old epoch.";
    // Fatal: the Java AddPartitionsToTxn/AddOffsetsToTxn/EndTxn/TxnOffsetCommit handlers call fatalError.
    48 INVALID_TXN_STATE retriable=false fatal=true "The producer attempted a transactional operation in an invalid state.";
    49 INVALID_PRODUCER_ID_MAPPING retriable=false fatal=false "The producer attempted to use a producer id which is not currently assigned to its transactional id.";
    50 INVALID_TRANSACTION_TIMEOUT retriable=false fatal=false "The transaction timeout is larger than the maximum value allowed by the broker (as configured by transaction.max.timeout.ms).";
    51 CONCURRENT_TRANSACTIONS retriable=true fatal=false "The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing.";
    52 TRANSACTION_COORDINATOR_FENCED retriable=false fatal=false "Indicates that the transaction coordinator sending a WriteTxnMarker is no longer the current coordinator for a given producer.";
    53 TRANSACTIONAL_ID_AUTHORIZATION_FAILED retriable=false fatal=true "Transactional Id authorization failed.";
    54 SECURITY_DISABLED retriable=false fatal=false "Security features are disabled.";
    55 OPERATION_NOT_ATTEMPTED retriable=false fatal=false "The broker did not attempt to execute this operation. This may happen for batched RPCs where some operations in the batch failed, causing the broker to respond without trying the rest.";
    56 KAFKA_STORAGE_ERROR retriable=true fatal=false "Disk error when trying to access log file on the disk.";
    57 LOG_DIR_NOT_FOUND retriable=false fatal=false "The user-specified log directory is not found in the broker config.";
    58 SASL_AUTHENTICATION_FAILED retriable=false fatal=false "SASL Authentication failed.";
    59 UNKNOWN_PRODUCER_ID retriable=false fatal=false "This exception is raised by the broker if it could not locate the producer metadata associated with the producerId in question. This could happen if, for instance, the producer's records were deleted because their retention time had elapsed. Once the last records of the producerId are removed, the producer's metadata is removed from the broker, and future appends by the producer will return this exception.";
    60 REASSIGNMENT_IN_PROGRESS retriable=false fatal=false "A partition reassignment is in progress.";
    61 DELEGATION_TOKEN_AUTH_DISABLED retriable=false fatal=false "Delegation Token feature is not enabled.";
    62 DELEGATION_TOKEN_NOT_FOUND retriable=false fatal=false "Delegation Token is not found on server.";
    63 DELEGATION_TOKEN_OWNER_MISMATCH retriable=false fatal=false "Specified Principal is not valid Owner/Renewer.";
    64 DELEGATION_TOKEN_REQUEST_NOT_ALLOWED retriable=false fatal=false "Delegation Token requests are not allowed on PLAINTEXT/1-way SSL channels and on delegation token authenticated channels.";
    65 DELEGATION_TOKEN_AUTHORIZATION_FAILED retriable=false fatal=false "Delegation Token authorization failed.";
    66 DELEGATION_TOKEN_EXPIRED retriable=false fatal=false "Delegation Token is expired.";
    67 INVALID_PRINCIPAL_TYPE retriable=false fatal=false "Supplied principalType is not supported.";
    68 NON_EMPTY_GROUP retriable=false fatal=false "The group is not empty.";
    69 GROUP_ID_NOT_FOUND retriable=false fatal=false "The group id does not exist.";
    70 FETCH_SESSION_ID_NOT_FOUND retriable=true fatal=false "The fetch session ID was not found.";
    71 INVALID_FETCH_SESSION_EPOCH retriable=true fatal=false "The fetch session epoch is invalid.";
    72 LISTENER_NOT_FOUND retriable=true fatal=false "There is no listener on the leader broker that matches the listener on which metadata request was processed.";
    73 TOPIC_DELETION_DISABLED retriable=false fatal=false "Topic deletion is disabled.";
    74 FENCED_LEADER_EPOCH retriable=true fatal=false "The leader epoch in the request is older than the epoch on the broker.";
    75 UNKNOWN_LEADER_EPOCH retriable=true fatal=false "The leader epoch in the request is newer than the epoch on the broker.";
    76 UNSUPPORTED_COMPRESSION_TYPE retriable=false fatal=false "The requesting client does not support the compression type of given partition.";
    77 STALE_BROKER_EPOCH retriable=false fatal=false "Broker epoch has changed.";
    78 OFFSET_NOT_AVAILABLE retriable=true fatal=false "The leader high watermark has not caught up from a recent leader election so the offsets cannot be guaranteed to be monotonically increasing.";
    79 MEMBER_ID_REQUIRED retriable=false fatal=false "The group member needs to have a valid member id before actually entering a consumer group.";
    80 PREFERRED_LEADER_NOT_AVAILABLE retriable=true fatal=false "The preferred leader was not available.";
    81 GROUP_MAX_SIZE_REACHED retriable=false fatal=false "The group has reached its maximum size.";
    82 FENCED_INSTANCE_ID retriable=false fatal=false "The broker rejected this static consumer since another consumer with the same group.instance.id has registered with a different member.id.";
    83 ELIGIBLE_LEADERS_NOT_AVAILABLE retriable=true fatal=false "Eligible topic partition leaders are not available.";
    84 ELECTION_NOT_NEEDED retriable=true fatal=false "Leader election not needed for topic partition.";
    85 NO_REASSIGNMENT_IN_PROGRESS retriable=false fatal=false "No partition reassignment is in progress.";
    86 GROUP_SUBSCRIBED_TO_TOPIC retriable=false fatal=false "Deleting offsets of a topic is forbidden while the consumer group is actively subscribed to it.";
    87 INVALID_RECORD retriable=false fatal=false "This record has failed the validation on broker and hence will be rejected.";
    88 UNSTABLE_OFFSET_COMMIT retriable=true fatal=false "There are unstable offsets that need to be cleared.";
    89 THROTTLING_QUOTA_EXCEEDED retriable=true fatal=false "The throttling quota has been exceeded.";
    90 PRODUCER_FENCED retriable=false fatal=true "There is a newer producer with the same transactionalId which fences the current one.";
    91 RESOURCE_NOT_FOUND retriable=false fatal=false "A request illegally referred to a resource that does not exist.";
    92 DUPLICATE_RESOURCE retriable=false fatal=false "A request illegally referred to the same resource twice.";
    93 UNACCEPTABLE_CREDENTIAL retriable=false fatal=false "Requested credential would not meet criteria for acceptability.";
    94 INCONSISTENT_VOTER_SET retriable=false fatal=false "Indicates that the either the sender or recipient of a voter-only request is not one of the expected voters.";
    95 INVALID_UPDATE_VERSION retriable=false fatal=false "The given update version was invalid.";
    96 FEATURE_UPDATE_FAILED retriable=false fatal=false "Unable to update finalized features due to an unexpected server error.";
    97 PRINCIPAL_DESERIALIZATION_FAILURE retriable=false fatal=false "Request principal deserialization failed during forwarding. This indicates an internal error on the broker cluster security setup.";
    98 SNAPSHOT_NOT_FOUND retriable=false fatal=false "Requested snapshot was not found.";
    99 POSITION_OUT_OF_RANGE retriable=false fatal=false "Requested position is not greater than or equal to zero, and less than the size of the snapshot.";
    100 UNKNOWN_TOPIC_ID retriable=true fatal=false "This server does not host this topic ID.";
    101 DUPLICATE_BROKER_REGISTRATION retriable=false fatal=false "This broker ID is already in use.";
    102 BROKER_ID_NOT_REGISTERED retriable=false fatal=false "The given broker ID was not registered.";
    103 INCONSISTENT_TOPIC_ID retriable=true fatal=false "The log's topic ID did not match the topic ID in the request.";
    104 INCONSISTENT_CLUSTER_ID retriable=false fatal=false "The clusterId in the request does not match that found on the server.";
    // Returned only to admin calls (DescribeTransactions, FenceProducers); the producer never sees it.
    105 TRANSACTIONAL_ID_NOT_FOUND retriable=false fatal=false "The transactionalId could not be found.";
    106 FETCH_SESSION_TOPIC_ID_ERROR retriable=true fatal=false "The fetch session encountered inconsistent topic ID usage.";
    107 INELIGIBLE_REPLICA retriable=false fatal=false "The new ISR contains at least one ineligible replica.";
    108 NEW_LEADER_ELECTED retriable=false fatal=false "The AlterPartition request successfully updated the partition state but the leader has changed.";
    109 OFFSET_MOVED_TO_TIERED_STORAGE retriable=false fatal=false "The requested offset is moved to tiered storage.";
    110 FENCED_MEMBER_EPOCH retriable=false fatal=false "The member epoch is fenced by the group coordinator. The member must abandon all its partitions and rejoin.";
    111 UNRELEASED_INSTANCE_ID retriable=false fatal=false "The instance ID is still used by another member in the consumer group. That member must leave first.";
    112 UNSUPPORTED_ASSIGNOR retriable=false fatal=false "The assignor or its version range is not supported by the consumer group.";
    113 STALE_MEMBER_EPOCH retriable=false fatal=false "The member epoch is stale. The member must retry after receiving its updated member epoch via the ConsumerGroupHeartbeat API.";
    114 MISMATCHED_ENDPOINT_TYPE retriable=false fatal=false "The request was sent to an endpoint of the wrong type.";
    115 UNSUPPORTED_ENDPOINT_TYPE retriable=false fatal=false "This endpoint type is not supported yet.";
    116 UNKNOWN_CONTROLLER_ID retriable=false fatal=false "This controller ID is not known.";
    117 UNKNOWN_SUBSCRIPTION_ID retriable=false fatal=false "Client sent a push telemetry request with an invalid or outdated subscription ID.";
    118 TELEMETRY_TOO_LARGE retriable=false fatal=false "Client sent a push telemetry request larger than the maximum size the broker will accept.";
    119 INVALID_REGISTRATION retriable=false fatal=false "The controller has considered the broker registration to be invalid.";
    // Abortable, not fatal: the transaction can be aborted and the transactional id reused.
    120 TRANSACTION_ABORTABLE retriable=false fatal=false "The server encountered an error with the transaction. The client can abort the transaction to continue using this transactional ID.";
    121 INVALID_RECORD_STATE retriable=false fatal=false "The record state is invalid. The acknowledgement of delivery could not be completed.";
    122 SHARE_SESSION_NOT_FOUND retriable=true fatal=false "The share session was not found.";
    123 INVALID_SHARE_SESSION_EPOCH retriable=true fatal=false "The share session epoch is invalid.";
    124 FENCED_STATE_EPOCH retriable=false fatal=false "The share coordinator rejected the request because the share-group state epoch did not match.";
    125 INVALID_VOTER_KEY retriable=false fatal=false "The voter key doesn't match the receiving replica's key.";
    126 DUPLICATE_VOTER retriable=false fatal=false "The voter is already part of the set of voters.";
    127 VOTER_NOT_FOUND retriable=false fatal=false "The voter is not part of the set of voters.";
    128 INVALID_REGULAR_EXPRESSION retriable=false fatal=false "The regular expression is not valid.";
    // 129-133 are newer than the apache/kafka snapshot read here (Oct 2024, ends at 128); rows taken
    // from Errors.java as of Kafka 4.3, retriable from the 4.x javadoc class hierarchy.
    129 REBOOTSTRAP_REQUIRED retriable=false fatal=false "Client metadata is stale. The client should rebootstrap to obtain new metadata.";
    130 STREAMS_INVALID_TOPOLOGY retriable=false fatal=false "The supplied topology is invalid.";
    131 STREAMS_INVALID_TOPOLOGY_EPOCH retriable=false fatal=false "The supplied topology epoch is invalid.";
    132 STREAMS_TOPOLOGY_FENCED retriable=false fatal=false "The supplied topology epoch is outdated.";
    133 SHARE_SESSION_LIMIT_REACHED retriable=true fatal=false "The limit of share sessions has been reached.";
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

    /// Codes between -1 and the highest that the table leaves out on purpose. None today.
    const INTENTIONALLY_ABSENT: &[i16] = &[];

    #[test]
    fn table_has_no_gaps() {
        assert_eq!(TABLE.first().map(|r| r.code), Some(-1));
        let last = TABLE.last().map(|r| (r.code, r.name));
        assert_eq!(last, Some((133, "SHARE_SESSION_LIMIT_REACHED")));
        let mut expected = (-1..=133).filter(|c| !INTENTIONALLY_ABSENT.contains(c));
        for r in TABLE {
            assert_eq!(Some(r.code), expected.next(), "unexpected row {} {}", r.code, r.name);
        }
        assert_eq!(expected.next(), None);
    }

    #[test]
    fn every_row_has_a_name_and_description() {
        for r in TABLE {
            assert!(!r.name.is_empty() && !r.description.is_empty(), "row {}", r.code);
            assert!(r.description.ends_with('.'), "{} {:?}", r.name, r.description);
            assert!(!(r.retriable && r.fatal), "{} is both retriable and fatal", r.name);
        }
    }

    #[test]
    fn spot_checks() {
        // (code, name, retriable, fatal)
        let cases: &[(i16, &str, bool, bool)] = &[
            (-1, "UNKNOWN_SERVER_ERROR", false, false),
            (0, "NONE", false, false),
            (2, "CORRUPT_MESSAGE", true, false),
            (3, "UNKNOWN_TOPIC_OR_PARTITION", true, false),
            (6, "NOT_LEADER_OR_FOLLOWER", true, false),
            (7, "REQUEST_TIMED_OUT", true, false),
            (8, "BROKER_NOT_AVAILABLE", false, false),
            (10, "MESSAGE_TOO_LARGE", false, false),
            (13, "NETWORK_EXCEPTION", true, false),
            (14, "COORDINATOR_LOAD_IN_PROGRESS", true, false),
            (19, "NOT_ENOUGH_REPLICAS", true, false),
            (20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", true, false),
            (27, "REBALANCE_IN_PROGRESS", false, false),
            (29, "TOPIC_AUTHORIZATION_FAILED", false, false),
            (31, "CLUSTER_AUTHORIZATION_FAILED", false, true),
            (35, "UNSUPPORTED_VERSION", false, true),
            (43, "UNSUPPORTED_FOR_MESSAGE_FORMAT", false, true),
            (45, "OUT_OF_ORDER_SEQUENCE_NUMBER", false, false),
            (46, "DUPLICATE_SEQUENCE_NUMBER", false, false),
            (47, "INVALID_PRODUCER_EPOCH", false, false),
            (48, "INVALID_TXN_STATE", false, true),
            (51, "CONCURRENT_TRANSACTIONS", true, false),
            (53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", false, true),
            (56, "KAFKA_STORAGE_ERROR", true, false),
            (59, "UNKNOWN_PRODUCER_ID", false, false),
            (74, "FENCED_LEADER_EPOCH", true, false),
            (75, "UNKNOWN_LEADER_EPOCH", true, false),
            (78, "OFFSET_NOT_AVAILABLE", true, false),
            (89, "THROTTLING_QUOTA_EXCEEDED", true, false),
            (90, "PRODUCER_FENCED", false, true),
            (105, "TRANSACTIONAL_ID_NOT_FOUND", false, false),
            (120, "TRANSACTION_ABORTABLE", false, false),
            (129, "REBOOTSTRAP_REQUIRED", false, false),
            (133, "SHARE_SESSION_LIMIT_REACHED", true, false),
        ];
        for &(code, name, retriable, fatal) in cases {
            let c = KafkaCode(code);
            assert_eq!(c.name(), name, "code {code}");
            assert_eq!(c.is_retriable(), retriable, "{name} retriable");
            assert_eq!(c.is_fatal(), fatal, "{name} fatal");
        }
    }

    #[test]
    fn constants_and_descriptions() {
        assert_eq!(KafkaCode::MESSAGE_TOO_LARGE, KafkaCode(10));
        assert_eq!(KafkaCode::REQUEST_TIMED_OUT.code(), 7);
        assert!(KafkaCode::NONE.is_ok());
        assert!(!KafkaCode::UNKNOWN_SERVER_ERROR.is_ok());
        assert_eq!(KafkaCode::REQUEST_TIMED_OUT.description(), "The request timed out.");
        assert_eq!(
            KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER.description(),
            "The broker received an out of order sequence number."
        );
        assert_eq!(format!("{:?}", KafkaCode::PRODUCER_FENCED), "PRODUCER_FENCED(90)");
        assert_eq!(KafkaCode(134).name(), "UNKNOWN");
        assert_eq!(KafkaCode(-2).name(), "UNKNOWN");
    }

    #[test]
    fn unknown_code_is_kept() {
        let c = KafkaCode(30000);
        assert_eq!(c.name(), "UNKNOWN");
        assert!(!c.is_retriable());
        assert_eq!(format!("{c}"), "UNKNOWN(30000)");
    }
}
