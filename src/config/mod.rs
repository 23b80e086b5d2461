//! Producer configuration, with the Java client's property names and defaults.
//!
//! Two doors, one room: the typed builder (`ProducerConfig::new().linger(..).acks(..)`) and
//! the Java names (`.set("linger.ms", "5")`, [`ProducerConfig::from_properties`]) write the
//! same typed fields. A bad key or value does not fail at once: it is remembered, and
//! [`ProducerConfig::validate`] (run when the producer is built) reports every problem in
//! one [`Error`] of kind [`ErrorKind::Config`](crate::ErrorKind::Config).
//!
//! Every property is one row of [`PROPERTIES`]; that table drives parsing, validation,
//! [`ProducerConfig::get`] and docs/configuration.md ([`configuration_markdown`]).
//!
//! The config remembers which keys the user set. As in Java (and librdkafka), a default that
//! conflicts with an explicit setting is adjusted (e.g. `acks=1` turns the default
//! idempotence off), while two conflicting explicit settings are an error.
//!
//! ```
//! use kafka_blocking::config::{Acks, ProducerConfig};
//! use std::time::Duration;
//!
//! let config = ProducerConfig::new()
//!     .bootstrap_servers("localhost:9092")
//!     .acks(Acks::All)
//!     .linger(Duration::from_millis(10))
//!     .set("compression.type", "lz4");
//! config.validate().unwrap();
//! assert_eq!(config.get("linger.ms").as_deref(), Some("10"));
//! ```

mod properties;

pub use properties::{configuration_markdown, lookup, PropertyDef, PropertyKind, PROPERTIES};

use crate::error::{Error, Result};
use crate::producer::interceptor::ProducerInterceptor;
use crate::producer::partitioner::Partitioner;
use crate::security::OAuthBearerTokenProvider;
use properties::{parse_bool, parse_i64, parse_list};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Largest `max.in.flight.requests.per.connection` the idempotent producer allows
/// (a broker keeps the state of the last 5 batches per producer).
pub const MAX_IN_FLIGHT_FOR_IDEMPOTENCE: usize = 5;

/// How many acknowledgements the leader gathers before a write counts (`acks`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Acks {
    /// `acks=0`: the producer does not wait for any answer.
    None,
    /// `acks=1`: the leader has written the record to its log.
    Leader,
    /// `acks=all` (or `-1`): every in-sync replica has the record. The default.
    All,
}

impl Acks {
    /// The value sent in a produce request: 0, 1 or -1.
    pub fn as_i16(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }

    /// The property value: `0`, `1` or `all`.
    pub fn as_str(self) -> &'static str {
        match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        }
    }

    fn parse(value: &str) -> Option<Acks> {
        match value.trim() {
            "all" | "-1" => Some(Acks::All),
            "0" => Some(Acks::None),
            "1" => Some(Acks::Leader),
            _ => None,
        }
    }
}

/// How host names are resolved (`client.dns.lookup`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ClientDnsLookup {
    /// Try every address a name resolves to, in turn. The default.
    #[default]
    UseAllDnsIps,
    /// Expand each bootstrap host to its canonical names first.
    ResolveCanonicalBootstrapServersOnly,
}

impl ClientDnsLookup {
    /// The property value.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientDnsLookup::UseAllDnsIps => "use_all_dns_ips",
            ClientDnsLookup::ResolveCanonicalBootstrapServersOnly => {
                "resolve_canonical_bootstrap_servers_only"
            }
        }
    }
}

/// The producer's configuration. See the [module documentation](self) and
/// docs/configuration.md for every property.
#[derive(Clone)]
pub struct ProducerConfig {
    /// `bootstrap.servers`, split on commas and trimmed. Required; no default.
    pub(crate) bootstrap_servers: Vec<String>,
    /// `client.id`. Defaults to "" meaning "generate producer-N".
    pub(crate) client_id: String,
    /// `acks`. Defaults to all.
    pub(crate) acks: Acks,
    /// `linger.ms`. Defaults to 5 ms.
    pub(crate) linger: Duration,
    /// `batch.size`. Defaults to 16384.
    pub(crate) batch_size: usize,
    /// `buffer.memory`. Defaults to 33554432 (32 MiB).
    pub(crate) buffer_memory: usize,
    /// `max.block.ms`. Defaults to 60 s.
    pub(crate) max_block: Duration,
    /// `compression.type`, validated lower-case name. Defaults to "none".
    pub(crate) compression_type: String,
    /// `compression.gzip.level`. Defaults to -1 (codec default).
    pub(crate) compression_gzip_level: i32,
    /// `compression.lz4.level`. Defaults to 9.
    pub(crate) compression_lz4_level: i32,
    /// `compression.zstd.level`. Defaults to 3.
    pub(crate) compression_zstd_level: i32,
    /// `request.timeout.ms`. Defaults to 30 s.
    pub(crate) request_timeout: Duration,
    /// `delivery.timeout.ms`. Defaults to 120 s.
    pub(crate) delivery_timeout: Duration,
    /// `max.request.size`. Defaults to 1048576.
    pub(crate) max_request_size: usize,
    /// `send.buffer.bytes`; -1 = OS default. Defaults to 131072.
    pub(crate) send_buffer_bytes: i32,
    /// `receive.buffer.bytes`; -1 = OS default. Defaults to 32768.
    pub(crate) receive_buffer_bytes: i32,
    /// `retries`. Defaults to i32::MAX.
    pub(crate) retries: i32,
    /// `retry.backoff.ms`. Defaults to 100 ms.
    pub(crate) retry_backoff: Duration,
    /// `retry.backoff.max.ms`. Defaults to 1 s.
    pub(crate) retry_backoff_max: Duration,
    /// `max.in.flight.requests.per.connection`. Defaults to 5.
    pub(crate) max_in_flight_requests_per_connection: usize,
    /// `enable.idempotence` as configured; see [`ProducerConfig::idempotence_enabled`].
    pub(crate) enable_idempotence: bool,
    /// `transactional.id`. Defaults to none.
    pub(crate) transactional_id: Option<String>,
    /// `transaction.timeout.ms`. Defaults to 60 s.
    pub(crate) transaction_timeout: Duration,
    /// `metadata.max.age.ms`. Defaults to 5 min.
    pub(crate) metadata_max_age: Duration,
    /// `metadata.max.idle.ms`. Defaults to 5 min.
    pub(crate) metadata_max_idle: Duration,
    /// `reconnect.backoff.ms`. Defaults to 50 ms.
    pub(crate) reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms`. Defaults to 1 s.
    pub(crate) reconnect_backoff_max: Duration,
    /// `connections.max.idle.ms`. Defaults to 9 min.
    pub(crate) connections_max_idle: Duration,
    /// `socket.connection.setup.timeout.ms`. Defaults to 10 s.
    pub(crate) socket_connection_setup_timeout: Duration,
    /// `socket.connection.setup.timeout.max.ms`. Defaults to 30 s.
    pub(crate) socket_connection_setup_timeout_max: Duration,
    /// `partitioner.ignore.keys`. Defaults to false.
    pub(crate) partitioner_ignore_keys: bool,
    /// `partitioner.adaptive.partitioning.enable`. Defaults to true.
    pub(crate) partitioner_adaptive_partitioning_enable: bool,
    pub(crate) enable_metrics_push: bool,
    /// `partitioner.availability.timeout.ms`; zero disables. Defaults to 0.
    pub(crate) partitioner_availability_timeout: Duration,
    /// `client.dns.lookup`. Defaults to use_all_dns_ips.
    pub(crate) client_dns_lookup: ClientDnsLookup,
    /// `security.protocol`, upper case.
    pub(crate) security_protocol: String,
    /// Known Java properties this client accepts but does not act on (trimmed values).
    pub(crate) other: BTreeMap<String, String>,
    /// A custom partitioner (the Rust side of `partitioner.class`).
    pub(crate) partitioner: Option<Arc<dyn Partitioner>>,
    /// Interceptors, in order (the Rust side of `interceptor.classes`).
    pub(crate) interceptors: Vec<Arc<dyn ProducerInterceptor>>,
    /// Where OAUTHBEARER tokens come from (no property: set through the builder).
    pub(crate) oauthbearer_token_provider: Option<Arc<dyn OAuthBearerTokenProvider>>,
    /// (key, message) for every bad key or value given so far.
    errors: Vec<(String, String)>,
    /// The properties the user set, by either door.
    explicitly_set: HashSet<&'static str>,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig::new()
    }
}

/// Supported properties without a field of their own: read with `get` where they are used.
fn read_from_other(name: &str) -> bool {
    name.starts_with("ssl.") || name.starts_with("sasl.") || name.starts_with("metrics.")
}

fn millis(d: Duration) -> String {
    d.as_millis().to_string()
}

fn from_millis(value: &str) -> Duration {
    Duration::from_millis(parse_i64(value).unwrap_or(0).max(0) as u64)
}

fn int_of(value: &str) -> i64 {
    parse_i64(value).unwrap_or(0)
}

impl ProducerConfig {
    /// A configuration with every property at the Java 4.x default (and no bootstrap servers).
    pub fn new() -> Self {
        ProducerConfig {
            bootstrap_servers: Vec::new(),
            client_id: String::new(),
            acks: Acks::All,
            linger: Duration::from_millis(5),
            batch_size: 16384,
            buffer_memory: 32 * 1024 * 1024,
            max_block: Duration::from_secs(60),
            compression_type: "none".to_string(),
            compression_gzip_level: -1,
            compression_lz4_level: 9,
            compression_zstd_level: 3,
            request_timeout: Duration::from_secs(30),
            delivery_timeout: Duration::from_secs(120),
            max_request_size: 1024 * 1024,
            send_buffer_bytes: 128 * 1024,
            receive_buffer_bytes: 32 * 1024,
            retries: i32::MAX,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1000),
            max_in_flight_requests_per_connection: 5,
            enable_idempotence: true,
            transactional_id: None,
            transaction_timeout: Duration::from_secs(60),
            metadata_max_age: Duration::from_secs(300),
            metadata_max_idle: Duration::from_secs(300),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_millis(1000),
            connections_max_idle: Duration::from_secs(540),
            socket_connection_setup_timeout: Duration::from_secs(10),
            socket_connection_setup_timeout_max: Duration::from_secs(30),
            partitioner_ignore_keys: false,
            partitioner_adaptive_partitioning_enable: true,
            enable_metrics_push: true,
            partitioner_availability_timeout: Duration::ZERO,
            client_dns_lookup: ClientDnsLookup::UseAllDnsIps,
            security_protocol: "PLAINTEXT".to_string(),
            other: BTreeMap::new(),
            partitioner: None,
            interceptors: Vec::new(),
            oauthbearer_token_provider: None,
            errors: Vec::new(),
            explicitly_set: HashSet::new(),
        }
    }

    /// Sets a property by its Java name, e.g. `.set("linger.ms", "5")`.
    ///
    /// An unknown key or a bad value leaves the property unchanged and is reported (with all
    /// other problems) by [`validate`](Self::validate). Setting a key again replaces both its
    /// value and any problem recorded for it.
    pub fn set(mut self, key: &str, value: impl AsRef<str>) -> Self {
        let value = value.as_ref();
        self.errors.retain(|(k, _)| k != key);
        let Some(def) = properties::lookup(key) else {
            let hint = match properties::closest_key(key) {
                Some(near) => format!(" (did you mean '{near}'?)"),
                None => String::new(),
            };
            self.errors.push((key.to_string(), format!("unknown configuration key '{key}'{hint}")));
            return self;
        };
        if let Err(why) = def.check(Some(value)) {
            let shown = if matches!(def.kind, PropertyKind::Password) { "[hidden]" } else { value };
            self.errors.push((key.to_string(), format!("{key}={shown:?}: {why}")));
            return self;
        }
        self.explicitly_set.insert(def.name);
        self.apply(def, value);
        self
    }

    /// Sets every `(key, value)` pair with [`set`](Self::set), starting from the defaults,
    /// e.g. from a parsed Java `.properties` file.
    pub fn from_properties<I, K, V>(iter: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        iter.into_iter().fold(ProducerConfig::new(), |c, (k, v)| c.set(k.as_ref(), v))
    }

    /// Writes a value that `def.check` accepted into its field.
    fn apply(&mut self, def: &'static PropertyDef, value: &str) {
        let v = value.trim();
        match def.name {
            "bootstrap.servers" => self.bootstrap_servers = parse_list(v),
            "client.id" => self.client_id = value.to_string(),
            "client.dns.lookup" => {
                self.client_dns_lookup = if v == ClientDnsLookup::UseAllDnsIps.as_str() {
                    ClientDnsLookup::UseAllDnsIps
                } else {
                    ClientDnsLookup::ResolveCanonicalBootstrapServersOnly
                }
            }
            "acks" => self.acks = Acks::parse(v).unwrap_or(Acks::All),
            "linger.ms" => self.linger = from_millis(v),
            "batch.size" => self.batch_size = int_of(v) as usize,
            "buffer.memory" => self.buffer_memory = usize::try_from(int_of(v)).unwrap_or(usize::MAX),
            "max.block.ms" => self.max_block = from_millis(v),
            "compression.type" => self.compression_type = v.to_string(),
            "compression.gzip.level" => self.compression_gzip_level = int_of(v) as i32,
            "compression.lz4.level" => self.compression_lz4_level = int_of(v) as i32,
            "compression.zstd.level" => self.compression_zstd_level = int_of(v) as i32,
            "request.timeout.ms" => self.request_timeout = from_millis(v),
            "delivery.timeout.ms" => self.delivery_timeout = from_millis(v),
            "max.request.size" => self.max_request_size = int_of(v) as usize,
            "send.buffer.bytes" => self.send_buffer_bytes = int_of(v) as i32,
            "receive.buffer.bytes" => self.receive_buffer_bytes = int_of(v) as i32,
            "retries" => self.retries = int_of(v) as i32,
            "retry.backoff.ms" => self.retry_backoff = from_millis(v),
            "retry.backoff.max.ms" => self.retry_backoff_max = from_millis(v),
            "max.in.flight.requests.per.connection" => {
                self.max_in_flight_requests_per_connection = int_of(v) as usize
            }
            "enable.idempotence" => self.enable_idempotence = parse_bool(v).unwrap_or(true),
            "transactional.id" => self.transactional_id = Some(value.to_string()),
            "transaction.timeout.ms" => self.transaction_timeout = from_millis(v),
            "metadata.max.age.ms" => self.metadata_max_age = from_millis(v),
            "metadata.max.idle.ms" => self.metadata_max_idle = from_millis(v),
            "reconnect.backoff.ms" => self.reconnect_backoff = from_millis(v),
            "reconnect.backoff.max.ms" => self.reconnect_backoff_max = from_millis(v),
            "connections.max.idle.ms" => self.connections_max_idle = from_millis(v),
            "socket.connection.setup.timeout.ms" => self.socket_connection_setup_timeout = from_millis(v),
            "socket.connection.setup.timeout.max.ms" => {
                self.socket_connection_setup_timeout_max = from_millis(v)
            }
            "partitioner.ignore.keys" => self.partitioner_ignore_keys = parse_bool(v).unwrap_or(false),
            "partitioner.adaptive.partitioning.enable" => {
                self.partitioner_adaptive_partitioning_enable = parse_bool(v).unwrap_or(true)
            }
            "enable.metrics.push" => self.enable_metrics_push = parse_bool(v).unwrap_or(true),
            "partitioner.availability.timeout.ms" => self.partitioner_availability_timeout = from_millis(v),
            "security.protocol" => self.security_protocol = v.to_ascii_uppercase(),
            _ => {
                // The ssl.*, sasl.* and metrics.* values are read from here (`security::Security`,
                // `producer::metrics`).
                debug_assert!(
                    !def.supported || read_from_other(def.name),
                    "supported property {} has no field",
                    def.name
                );
                self.other.insert(def.name.to_string(), v.to_string());
            }
        }
    }

    /// The current value of a property as its Java string form (durations in whole
    /// milliseconds, lists comma-separated), or `None` for an unknown key or a property
    /// with no value (e.g. `transactional.id` when unset).
    pub fn get(&self, key: &str) -> Option<String> {
        let def = properties::lookup(key)?;
        let value = match def.name {
            "bootstrap.servers" if self.bootstrap_servers.is_empty() => return None,
            "bootstrap.servers" => self.bootstrap_servers.join(","),
            "client.id" => self.client_id.clone(),
            "client.dns.lookup" => self.client_dns_lookup.as_str().to_string(),
            "acks" => self.acks.as_str().to_string(),
            "linger.ms" => millis(self.linger),
            "batch.size" => self.batch_size.to_string(),
            "buffer.memory" => self.buffer_memory.to_string(),
            "max.block.ms" => millis(self.max_block),
            "compression.type" => self.compression_type.clone(),
            "compression.gzip.level" => self.compression_gzip_level.to_string(),
            "compression.lz4.level" => self.compression_lz4_level.to_string(),
            "compression.zstd.level" => self.compression_zstd_level.to_string(),
            "request.timeout.ms" => millis(self.request_timeout),
            "delivery.timeout.ms" => millis(self.delivery_timeout),
            "max.request.size" => self.max_request_size.to_string(),
            "send.buffer.bytes" => self.send_buffer_bytes.to_string(),
            "receive.buffer.bytes" => self.receive_buffer_bytes.to_string(),
            "retries" => self.retries.to_string(),
            "retry.backoff.ms" => millis(self.retry_backoff),
            "retry.backoff.max.ms" => millis(self.retry_backoff_max),
            "max.in.flight.requests.per.connection" => self.max_in_flight_requests_per_connection.to_string(),
            "enable.idempotence" => self.enable_idempotence.to_string(),
            "transactional.id" => return self.transactional_id.clone(),
            "transaction.timeout.ms" => millis(self.transaction_timeout),
            "metadata.max.age.ms" => millis(self.metadata_max_age),
            "metadata.max.idle.ms" => millis(self.metadata_max_idle),
            "reconnect.backoff.ms" => millis(self.reconnect_backoff),
            "reconnect.backoff.max.ms" => millis(self.reconnect_backoff_max),
            "connections.max.idle.ms" => millis(self.connections_max_idle),
            "socket.connection.setup.timeout.ms" => millis(self.socket_connection_setup_timeout),
            "socket.connection.setup.timeout.max.ms" => millis(self.socket_connection_setup_timeout_max),
            "partitioner.ignore.keys" => self.partitioner_ignore_keys.to_string(),
            "partitioner.adaptive.partitioning.enable" => {
                self.partitioner_adaptive_partitioning_enable.to_string()
            }
            "partitioner.availability.timeout.ms" => millis(self.partitioner_availability_timeout),
            "enable.metrics.push" => self.enable_metrics_push.to_string(),
            "security.protocol" => self.security_protocol.clone(),
            name => match self.other.get(name) {
                Some(v) => v.clone(),
                None if def.default.is_empty() => return None,
                None => def.default.to_string(),
            },
        };
        Some(value)
    }

    /// Whether the user set `key` (through `set`, `from_properties` or a builder method).
    pub fn is_set(&self, key: &str) -> bool {
        self.explicitly_set.contains(key)
    }

    /// Checks the whole configuration: every key and value given so far, every value's
    /// range, and the rules across properties (idempotence, transactions, delivery timeout).
    /// The one error names every bad key, its value and what is accepted.
    pub fn validate(&self) -> Result<()> {
        let mut problems: Vec<String> = self.errors.iter().map(|(_, m)| m.clone()).collect();
        for def in PROPERTIES.iter().filter(|d| d.supported) {
            if self.errors.iter().any(|(k, _)| k == def.name) {
                continue;
            }
            let value = self.get(def.name);
            if let Err(why) = def.check(value.as_deref()) {
                problems.push(match value {
                    Some(v) => format!("{}={v:?}: {why}", def.name),
                    None => format!("{} {why}", def.name),
                });
            }
        }
        problems.extend(self.resolve().1);
        if let Some(e) = self.sasl_problem() {
            problems.push(e.to_string());
        }
        match problems.len() {
            0 => Ok(()),
            1 => Err(Error::config(format!("invalid producer configuration: {}", problems[0]))),
            n => Err(Error::config(format!(
                "invalid producer configuration ({n} problems): {}",
                problems.join("; ")
            ))),
        }
    }

    /// With a SASL `security.protocol`: what is wrong with the mechanism and credentials.
    fn sasl_problem(&self) -> Option<Error> {
        let protocol = crate::security::SecurityProtocol::parse(&self.security_protocol)?;
        if !protocol.uses_sasl() {
            return None;
        }
        crate::security::sasl::SaslSettings::from_config(self).err()
    }

    /// Whether the producer is idempotent, after Java's rules: with `enable.idempotence`
    /// left at its default, `acks` 0/1 or `retries=0` turn it off; a `transactional.id`
    /// needs it on. (Conflicts with an explicit setting are [`validate`](Self::validate)
    /// errors.)
    #[allow(dead_code)] // read by the producer
    pub(crate) fn idempotence_enabled(&self) -> bool {
        self.resolve().0.enable_idempotence
    }

    /// Validates, then returns the configuration the producer runs with: defaults that
    /// conflict with explicit settings adjusted as Java does (idempotence, a
    /// `delivery.timeout.ms` below `linger.ms + request.timeout.ms`, a constant reconnect
    /// backoff when only `reconnect.backoff.ms` is set).
    #[allow(dead_code)] // read by the producer
    pub(crate) fn resolved(&self) -> Result<ProducerConfig> {
        self.validate()?;
        Ok(self.resolve().0)
    }

    /// Applies the rules across properties: the adjusted copy, and the conflicts that are
    /// errors because both sides were set explicitly.
    fn resolve(&self) -> (ProducerConfig, Vec<String>) {
        let mut out = self.clone();
        let mut problems = Vec::new();

        // Idempotence (Java's ProducerConfig.postProcessAndValidateIdempotenceConfigs).
        let explicit = self.is_set("enable.idempotence");
        if self.enable_idempotence {
            let mut disable = false;
            if self.retries == 0 {
                if explicit {
                    problems.push(
                        "enable.idempotence=true requires retries > 0, but retries=0; \
                         set retries > 0 or enable.idempotence=false"
                            .to_string(),
                    );
                }
                disable = true;
            }
            if self.acks != Acks::All {
                if explicit {
                    problems.push(format!(
                        "enable.idempotence=true requires acks=all, but acks={}; \
                         set acks=all or enable.idempotence=false",
                        self.acks.as_str()
                    ));
                }
                disable = true;
            }
            // As in Java, this one is an error even when idempotence is only the default.
            let in_flight = self.max_in_flight_requests_per_connection;
            if in_flight > MAX_IN_FLIGHT_FOR_IDEMPOTENCE {
                problems.push(format!(
                    "enable.idempotence={}{} requires max.in.flight.requests.per.connection <= {}, \
                     but it is {in_flight}; lower it or set enable.idempotence=false",
                    self.enable_idempotence,
                    if explicit { "" } else { " (the default)" },
                    MAX_IN_FLIGHT_FOR_IDEMPOTENCE
                ));
            }
            if disable {
                out.enable_idempotence = false;
            }
        }
        if let Some(id) = &self.transactional_id {
            if !out.enable_idempotence {
                let why = if self.enable_idempotence {
                    format!(
                        "idempotence is off because acks={} / retries={}",
                        self.acks.as_str(),
                        self.retries
                    )
                } else {
                    "enable.idempotence=false".to_string()
                };
                problems.push(format!("transactional.id={id:?} requires idempotence, but {why}"));
            }
        }
        if self.other.get("transaction.two.phase.commit.enable").map(String::as_str) == Some("true")
            && self.is_set("transaction.timeout.ms")
        {
            problems.push(format!(
                "transaction.timeout.ms={} cannot be set when transaction.two.phase.commit.enable=true \
                 (such transactions never expire)",
                millis(self.transaction_timeout)
            ));
        }

        // delivery.timeout.ms >= linger.ms + request.timeout.ms (Java's KafkaProducer).
        let linger_ms = self.linger.as_millis().min(i32::MAX as u128);
        let request_ms = self.request_timeout.as_millis();
        let floor = (linger_ms + request_ms).min(i32::MAX as u128);
        if self.delivery_timeout.as_millis() < floor {
            if self.is_set("delivery.timeout.ms") {
                problems.push(format!(
                    "delivery.timeout.ms={} must be >= linger.ms ({linger_ms}) + \
                     request.timeout.ms ({request_ms}) = {floor}",
                    self.delivery_timeout.as_millis()
                ));
            } else {
                out.delivery_timeout = Duration::from_millis(floor as u64);
            }
        }

        // Reconnect backoff (CommonClientConfigs.postProcessReconnectBackoffConfigs).
        if self.is_set("reconnect.backoff.ms") && !self.is_set("reconnect.backoff.max.ms") {
            out.reconnect_backoff_max = self.reconnect_backoff;
        }
        // retry.backoff.ms > retry.backoff.max.ms is allowed: the backoff is then a constant
        // retry.backoff.max.ms (Java only logs a warning). Same for the setup timeouts.
        (out, problems)
    }

    fn set_ms(self, key: &'static str, d: Duration) -> Self {
        self.set(key, millis(d))
    }

    /// A custom partitioner for records without an explicit partition (Java's
    /// `partitioner.class`). See [`Partitioner`].
    pub fn partitioner(mut self, partitioner: impl Partitioner + 'static) -> Self {
        self.partitioner = Some(Arc::new(partitioner));
        self
    }

    /// Adds an interceptor; interceptors run in the order added (Java's `interceptor.classes`).
    /// See [`ProducerInterceptor`].
    pub fn interceptor(mut self, interceptor: impl ProducerInterceptor + 'static) -> Self {
        self.interceptors.push(Arc::new(interceptor));
        self
    }

    /// `bootstrap.servers`: comma-separated `host:port` list. Required.
    pub fn bootstrap_servers(self, servers: impl Into<String>) -> Self {
        self.set("bootstrap.servers", servers.into())
    }

    /// `client.id`. Defaults to "" (the producer names itself producer-N).
    pub fn client_id(self, id: impl Into<String>) -> Self {
        self.set("client.id", id.into())
    }

    /// `acks`. Defaults to [`Acks::All`].
    pub fn acks(self, acks: Acks) -> Self {
        self.set("acks", acks.as_str())
    }

    /// `linger.ms` (whole milliseconds). Defaults to 5 ms.
    pub fn linger(self, d: Duration) -> Self {
        self.set_ms("linger.ms", d)
    }

    /// `batch.size` in bytes. Defaults to 16384.
    pub fn batch_size(self, bytes: usize) -> Self {
        self.set("batch.size", bytes.to_string())
    }

    /// `buffer.memory` in bytes. Defaults to 33554432.
    pub fn buffer_memory(self, bytes: usize) -> Self {
        self.set("buffer.memory", bytes.to_string())
    }

    /// `max.block.ms`. Defaults to 60 s.
    pub fn max_block(self, d: Duration) -> Self {
        self.set_ms("max.block.ms", d)
    }

    /// `compression.type`: none, gzip, snappy, lz4 or zstd. Defaults to none.
    pub fn compression_type(self, name: &str) -> Self {
        self.set("compression.type", name)
    }

    /// `compression.gzip.level`: 1 to 9, or -1. Defaults to -1.
    pub fn compression_gzip_level(self, level: i32) -> Self {
        self.set("compression.gzip.level", level.to_string())
    }

    /// `compression.lz4.level`: 1 to 17. Defaults to 9.
    pub fn compression_lz4_level(self, level: i32) -> Self {
        self.set("compression.lz4.level", level.to_string())
    }

    /// `compression.zstd.level`: -131072 to 22. Defaults to 3.
    pub fn compression_zstd_level(self, level: i32) -> Self {
        self.set("compression.zstd.level", level.to_string())
    }

    /// `request.timeout.ms`. Defaults to 30 s.
    pub fn request_timeout(self, d: Duration) -> Self {
        self.set_ms("request.timeout.ms", d)
    }

    /// `delivery.timeout.ms`. Defaults to 120 s.
    pub fn delivery_timeout(self, d: Duration) -> Self {
        self.set_ms("delivery.timeout.ms", d)
    }

    /// `max.request.size` in bytes. Defaults to 1048576.
    pub fn max_request_size(self, bytes: usize) -> Self {
        self.set("max.request.size", bytes.to_string())
    }

    /// `send.buffer.bytes`; -1 keeps the OS default. Defaults to 131072.
    pub fn send_buffer_bytes(self, bytes: i32) -> Self {
        self.set("send.buffer.bytes", bytes.to_string())
    }

    /// `receive.buffer.bytes`; -1 keeps the OS default. Defaults to 32768.
    pub fn receive_buffer_bytes(self, bytes: i32) -> Self {
        self.set("receive.buffer.bytes", bytes.to_string())
    }

    /// `retries` (at most i32::MAX). Defaults to 2147483647.
    pub fn retries(self, n: u32) -> Self {
        self.set("retries", n.to_string())
    }

    /// `retry.backoff.ms`. Defaults to 100 ms.
    pub fn retry_backoff(self, d: Duration) -> Self {
        self.set_ms("retry.backoff.ms", d)
    }

    /// `retry.backoff.max.ms`. Defaults to 1 s.
    pub fn retry_backoff_max(self, d: Duration) -> Self {
        self.set_ms("retry.backoff.max.ms", d)
    }

    /// `max.in.flight.requests.per.connection`. Defaults to 5.
    pub fn max_in_flight_requests_per_connection(self, n: usize) -> Self {
        self.set("max.in.flight.requests.per.connection", n.to_string())
    }

    /// `enable.idempotence`. Defaults to true.
    pub fn enable_idempotence(self, on: bool) -> Self {
        self.set("enable.idempotence", on.to_string())
    }

    /// `transactional.id` (non-empty). Defaults to none.
    pub fn transactional_id(self, id: impl Into<String>) -> Self {
        self.set("transactional.id", id.into())
    }

    /// `transaction.timeout.ms`. Defaults to 60 s.
    pub fn transaction_timeout(self, d: Duration) -> Self {
        self.set_ms("transaction.timeout.ms", d)
    }

    /// `metadata.max.age.ms`. Defaults to 5 min.
    pub fn metadata_max_age(self, d: Duration) -> Self {
        self.set_ms("metadata.max.age.ms", d)
    }

    /// `metadata.max.idle.ms` (at least 5 s). Defaults to 5 min.
    pub fn metadata_max_idle(self, d: Duration) -> Self {
        self.set_ms("metadata.max.idle.ms", d)
    }

    /// `reconnect.backoff.ms`. Defaults to 50 ms.
    pub fn reconnect_backoff(self, d: Duration) -> Self {
        self.set_ms("reconnect.backoff.ms", d)
    }

    /// `reconnect.backoff.max.ms`. Defaults to 1 s.
    pub fn reconnect_backoff_max(self, d: Duration) -> Self {
        self.set_ms("reconnect.backoff.max.ms", d)
    }

    /// `connections.max.idle.ms`. Defaults to 9 min.
    pub fn connections_max_idle(self, d: Duration) -> Self {
        self.set_ms("connections.max.idle.ms", d)
    }

    /// `socket.connection.setup.timeout.ms`. Defaults to 10 s.
    pub fn socket_connection_setup_timeout(self, d: Duration) -> Self {
        self.set_ms("socket.connection.setup.timeout.ms", d)
    }

    /// `socket.connection.setup.timeout.max.ms`. Defaults to 30 s.
    pub fn socket_connection_setup_timeout_max(self, d: Duration) -> Self {
        self.set_ms("socket.connection.setup.timeout.max.ms", d)
    }

    /// `partitioner.ignore.keys`. Defaults to false.
    pub fn partitioner_ignore_keys(self, on: bool) -> Self {
        self.set("partitioner.ignore.keys", on.to_string())
    }

    /// `partitioner.adaptive.partitioning.enable`. Defaults to true.
    pub fn partitioner_adaptive_partitioning_enable(self, on: bool) -> Self {
        self.set("partitioner.adaptive.partitioning.enable", on.to_string())
    }

    /// `enable.metrics.push`: KIP-714 client telemetry to clusters that subscribe to it.
    /// Defaults to true.
    pub fn enable_metrics_push(self, on: bool) -> Self {
        self.set("enable.metrics.push", on.to_string())
    }

    /// `partitioner.availability.timeout.ms`; zero disables. Defaults to 0.
    pub fn partitioner_availability_timeout(self, d: Duration) -> Self {
        self.set_ms("partitioner.availability.timeout.ms", d)
    }

    /// `client.dns.lookup`. Defaults to [`ClientDnsLookup::UseAllDnsIps`].
    pub fn client_dns_lookup(self, lookup: ClientDnsLookup) -> Self {
        self.set("client.dns.lookup", lookup.as_str())
    }

    /// `security.protocol`: PLAINTEXT (the default), SSL, SASL_PLAINTEXT or SASL_SSL.
    pub fn security_protocol(self, protocol: &str) -> Self {
        self.set("security.protocol", protocol)
    }

    /// `ssl.ca.location`: a PEM file (or folder) of CA certificates to trust.
    pub fn ssl_ca_location(self, path: impl AsRef<std::path::Path>) -> Self {
        let path = path.as_ref().to_string_lossy().into_owned();
        self.set("ssl.ca.location", path)
    }

    /// `ssl.certificate.location` and `ssl.key.location`: this client's certificate chain and
    /// private key (PEM files) for mutual TLS.
    pub fn ssl_client_certificate(
        self,
        certificate: impl AsRef<std::path::Path>,
        key: impl AsRef<std::path::Path>,
    ) -> Self {
        let (c, k) = (
            certificate.as_ref().to_string_lossy().into_owned(),
            key.as_ref().to_string_lossy().into_owned(),
        );
        self.set("ssl.certificate.location", c).set("ssl.key.location", k)
    }

    /// `sasl.mechanism`.
    pub fn sasl_mechanism(self, mechanism: crate::security::SaslMechanism) -> Self {
        self.set("sasl.mechanism", mechanism.name())
    }

    /// `sasl.username` and `sasl.password` (PLAIN and SCRAM).
    pub fn sasl_credentials(self, username: &str, password: &str) -> Self {
        self.set("sasl.username", username).set("sasl.password", password)
    }

    /// Where OAUTHBEARER tokens come from (with `sasl.mechanism=OAUTHBEARER`); it is asked at
    /// every authentication. Replaces the unsecured tokens of an `OAuthBearerLoginModule`
    /// `sasl.jaas.config`.
    pub fn sasl_oauthbearer_token_provider(mut self, provider: Arc<dyn OAuthBearerTokenProvider>) -> Self {
        self.oauthbearer_token_provider = Some(provider);
        self
    }
}

impl fmt::Debug for ProducerConfig {
    /// Lists every property that differs from its default or was set; secrets are hidden.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for def in PROPERTIES {
            let value = self.get(def.name);
            if !self.is_set(def.name) && value.as_deref().unwrap_or("") == def.default {
                continue;
            }
            match (def.kind, value) {
                (PropertyKind::Password, Some(_)) => m.entry(&def.name, &"[hidden]"),
                (_, v) => m.entry(&def.name, &v),
            };
        }
        if !self.errors.is_empty() {
            let errs: Vec<&str> = self.errors.iter().map(|(_, e)| e.as_str()).collect();
            m.entry(&"errors", &errs);
        }
        m.finish()
    }
}

#[cfg(test)]
mod tests;
