//! The one table of producer properties.
//!
//! Every property the producer knows is one [`PropertyDef`] row in [`PROPERTIES`]. The table
//! drives [`ProducerConfig::set`](super::ProducerConfig::set) (is the key known, does the
//! value parse and lie in range), [`ProducerConfig::validate`](super::ProducerConfig::validate)
//! (the same checks for values written through the typed builder),
//! [`ProducerConfig::get`](super::ProducerConfig::get), and docs/configuration.md (see
//! [`configuration_markdown`]). Names, types, ranges and defaults are the Java client's
//! (Kafka 4.x `ProducerConfig` and `CommonClientConfigs`).

const I32_MAX: i64 = i32::MAX as i64;

/// The type of a property's value, with its range where it has one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PropertyKind {
    /// `true` or `false` (any letter case).
    Bool,
    /// A whole number in `min..=max` (a Java INT, or a LONG with an upper bound).
    Int {
        /// The smallest accepted value.
        min: i64,
        /// The largest accepted value.
        max: i64,
    },
    /// A whole number of at least `min` (a Java LONG).
    Long {
        /// The smallest accepted value.
        min: i64,
    },
    /// A decimal number in `min..=max` (a Java DOUBLE).
    Double {
        /// The smallest accepted value.
        min: f64,
        /// The largest accepted value.
        max: f64,
    },
    /// A time in whole milliseconds, in `min..=max`.
    DurationMs {
        /// The smallest accepted value, in milliseconds.
        min: u64,
        /// The largest accepted value, in milliseconds.
        max: u64,
    },
    /// Any string.
    String,
    /// A secret string; [`ProducerConfig`](super::ProducerConfig)'s `Debug` hides it.
    Password,
    /// A comma-separated list.
    List,
    /// One of the given strings, letter case significant.
    Enum(&'static [&'static str]),
    /// One of the given strings, any letter case.
    EnumIgnoreCase(&'static [&'static str]),
    /// A Java class name; accepted for compatibility, never loaded.
    Class,
}

/// One producer property: its Java name, type, default and documentation.
#[derive(Clone, Copy, Debug)]
pub struct PropertyDef {
    /// The Java property name, e.g. `linger.ms`.
    pub name: &'static str,
    /// The type and range of its value.
    pub kind: PropertyKind,
    /// The default as the Java client writes it; empty means "no value" (Java's `null`).
    pub default: &'static str,
    /// What the property does.
    pub doc: &'static str,
    /// `false`: accepted (and validated) for Java compatibility, but not acted on yet.
    pub supported: bool,
}

/// Upper bound of a Java LONG millisecond value we can hold as a `Duration`.
const MS_MAX: u64 = i64::MAX as u64;

const fn ms(min: u64) -> PropertyKind {
    PropertyKind::DurationMs { min, max: MS_MAX }
}

const fn ms_int(min: u64) -> PropertyKind {
    PropertyKind::DurationMs { min, max: I32_MAX as u64 }
}

const fn int(min: i64) -> PropertyKind {
    PropertyKind::Int { min, max: I32_MAX }
}

const fn p(
    name: &'static str,
    kind: PropertyKind,
    default: &'static str,
    supported: bool,
    doc: &'static str,
) -> PropertyDef {
    PropertyDef { name, kind, default, doc, supported }
}

/// The `compression.type` names.
pub const COMPRESSION_TYPES: &[&str] = &["none", "gzip", "snappy", "lz4", "zstd"];
/// The `acks` values.
pub const ACKS_VALUES: &[&str] = &["all", "-1", "0", "1"];
/// The `security.protocol` names.
pub const SECURITY_PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];
/// The `client.dns.lookup` values.
pub const CLIENT_DNS_LOOKUPS: &[&str] = &["use_all_dns_ips", "resolve_canonical_bootstrap_servers_only"];

/// Every producer property, in documentation order: the supported ones first.
#[rustfmt::skip]
pub static PROPERTIES: &[PropertyDef] = &[
    // ---- supported: read by the producer ----
    p("bootstrap.servers", PropertyKind::List, "", true,
      "Required. Comma-separated host:port pairs the producer contacts first to learn the cluster. One reachable broker is enough; list several for resilience."),
    p("client.id", PropertyKind::String, "", true,
      "Name sent to brokers with every request, for their logs and quotas. Empty means producer-N, or producer- followed by the transactional.id when one is set."),
    p("client.dns.lookup", PropertyKind::Enum(CLIENT_DNS_LOOKUPS), "use_all_dns_ips", true,
      "use_all_dns_ips: try every address a host name resolves to, in turn. resolve_canonical_bootstrap_servers_only: expand each bootstrap host to its canonical names first."),
    p("acks", PropertyKind::Enum(ACKS_VALUES), "all", true,
      "Acknowledgements the leader must gather before a write counts: 0 (none, fire and forget), 1 (leader only) or all/-1 (every in-sync replica). Idempotence needs all."),
    p("linger.ms", ms(0), "5", true,
      "How long a partition's batch waits for more records before it is sent, unless batch.size fills it first."),
    p("batch.size", int(0), "16384", true,
      "Target size in bytes of one partition's batch. 0 disables batching. A record larger than this gets a batch of its own."),
    p("buffer.memory", PropertyKind::Long { min: 0 }, "33554432", true,
      "Bytes of memory for records waiting to be sent. When full, send blocks up to max.block.ms and then fails."),
    p("max.block.ms", ms(0), "60000", true,
      "Longest time send may block waiting for metadata or buffer memory; also bounds partitions_for and the transaction calls."),
    p("compression.type", PropertyKind::Enum(COMPRESSION_TYPES), "none", true,
      "Codec for whole batches: none, gzip, snappy, lz4 or zstd."),
    p("compression.gzip.level", PropertyKind::Int { min: -1, max: 9 }, "-1", true,
      "gzip level when compression.type=gzip: 1 to 9, or -1 for the codec's default."),
    p("compression.lz4.level", PropertyKind::Int { min: 1, max: 17 }, "9", true,
      "lz4 level when compression.type=lz4."),
    p("compression.zstd.level", PropertyKind::Int { min: -131072, max: 22 }, "3", true,
      "zstd level when compression.type=zstd."),
    p("request.timeout.ms", ms_int(1), "30000", true,
      "How long to wait for a broker's answer to one request before retrying it or failing it."),
    p("delivery.timeout.ms", ms_int(0), "120000", true,
      "Upper bound on the time from send returning to the record's result, retries included. Must be at least linger.ms + request.timeout.ms."),
    p("max.request.size", int(0), "1048576", true,
      "Largest request in bytes; also the largest record (uncompressed batch) the producer accepts."),
    p("send.buffer.bytes", int(-1), "131072", true,
      "TCP send buffer (SO_SNDBUF) in bytes; -1 keeps the operating system's default."),
    p("receive.buffer.bytes", int(-1), "32768", true,
      "TCP receive buffer (SO_RCVBUF) in bytes; -1 keeps the operating system's default."),
    p("retries", int(0), "2147483647", true,
      "How many times a batch that failed with a retriable error is sent again, within delivery.timeout.ms. 0 disables retries (and, unless set explicitly, idempotence)."),
    p("retry.backoff.ms", ms(0), "100", true,
      "First wait before retrying a failed request; doubles with each failure up to retry.backoff.max.ms, with 20% jitter."),
    p("retry.backoff.max.ms", ms(0), "1000", true,
      "Largest wait between retries. If retry.backoff.ms is larger, retry.backoff.max.ms is used as a constant backoff."),
    p("max.in.flight.requests.per.connection", int(1), "5", true,
      "Requests sent on one connection without an answer yet. Idempotence needs at most 5."),
    p("enable.idempotence", PropertyKind::Bool, "true", true,
      "Write each record exactly once per partition even across retries. Needs acks=all, retries > 0 and at most 5 in-flight requests. Left at its default, acks 0/1 or retries=0 turn it off; set explicitly, they are errors. More than 5 in flight is an error either way."),
    p("transactional.id", PropertyKind::String, "", true,
      "Identity for transactions, stable across restarts. Setting it implies enable.idempotence. Must not be empty when set."),
    p("transaction.timeout.ms", ms_int(0), "60000", true,
      "How long the coordinator lets a transaction stay open before aborting it. Must not exceed the broker's transaction.max.timeout.ms."),
    p("metadata.max.age.ms", ms(0), "300000", true,
      "Refresh the cluster metadata at least this often, even without errors, to find new brokers and partitions."),
    p("metadata.max.idle.ms", ms(5000), "300000", true,
      "Forget the metadata of a topic not produced to for this long (and with no records waiting); the next send to it fetches it again."),
    p("reconnect.backoff.ms", ms(0), "50", true,
      "First wait before reconnecting to a broker; grows exponentially up to reconnect.backoff.max.ms. If set without reconnect.backoff.max.ms, the backoff stays constant."),
    p("reconnect.backoff.max.ms", ms(0), "1000", true,
      "Largest wait before reconnecting to a broker that keeps failing."),
    p("connections.max.idle.ms", ms(0), "540000", true,
      "Close connections idle for this long (0: as soon as nothing is in flight and nothing waits to be sent)."),
    p("socket.connection.setup.timeout.ms", ms(1), "10000", true,
      "How long to wait for a TCP connection to be established; grows exponentially up to socket.connection.setup.timeout.max.ms."),
    p("socket.connection.setup.timeout.max.ms", ms(0), "30000", false,
      "Largest connection setup timeout."),
    p("partitioner.ignore.keys", PropertyKind::Bool, "false", true,
      "If true, keys do not choose the partition; records go to the sticky partition."),
    p("partitioner.adaptive.partitioning.enable", PropertyKind::Bool, "true", true,
      "If true, the sticky partitioner favours partitions whose queues are shorter (brokers that drain faster)."),
    p("partitioner.availability.timeout.ms", ms(0), "0", true,
      "With adaptive partitioning, keyless records avoid partitions whose leader has had batches ready but taken none for this long; 0 disables."),
    p("security.protocol", PropertyKind::EnumIgnoreCase(SECURITY_PROTOCOLS), "PLAINTEXT", true,
      "Protocol to talk to brokers: PLAINTEXT, SSL (TLS), SASL_PLAINTEXT (SASL without TLS) or SASL_SSL (SASL over TLS). See docs/security.md."),
    p("ssl.ca.location", PropertyKind::String, "", true,
      "librdkafka's name: a PEM file (or a folder of PEM files) of CA certificates to trust for broker certificates. Unset (and no trust store): the system's roots."),
    p("ssl.ca.pem", PropertyKind::String, "", true,
      "librdkafka's name: CA certificates to trust, as PEM text."),
    p("ssl.certificate.location", PropertyKind::String, "", true,
      "librdkafka's name: this client's certificate chain (PEM file) for mutual TLS; with ssl.key.location."),
    p("ssl.certificate.pem", PropertyKind::String, "", true,
      "librdkafka's name: this client's certificate chain as PEM text; with ssl.key.pem."),
    p("ssl.key.location", PropertyKind::String, "", true,
      "librdkafka's name: this client's private key (PEM file: PKCS#8, PKCS#1 or SEC1; encrypted PKCS#8 with ssl.key.password)."),
    p("ssl.key.pem", PropertyKind::Password, "", true,
      "librdkafka's name: this client's private key as PEM text."),
    p("ssl.key.password", PropertyKind::Password, "", true,
      "Password of an encrypted PKCS#8 private key (ssl.key.location, ssl.key.pem, or a PEM key store)."),
    p("ssl.keystore.type", PropertyKind::String, "JKS", true,
      "Format of the key store. Only PEM is readable here (JKS and PKCS12 are refused with a hint)."),
    p("ssl.keystore.location", PropertyKind::String, "", true,
      "With ssl.keystore.type=PEM: one PEM file holding this client's private key and certificate chain."),
    p("ssl.keystore.key", PropertyKind::Password, "", true,
      "With ssl.keystore.type=PEM: this client's private key as PEM text."),
    p("ssl.keystore.certificate.chain", PropertyKind::Password, "", true,
      "With ssl.keystore.type=PEM: this client's certificate chain as PEM text."),
    p("ssl.truststore.type", PropertyKind::String, "JKS", true,
      "Format of the trust store. Only PEM is readable here."),
    p("ssl.truststore.location", PropertyKind::String, "", true,
      "With ssl.truststore.type=PEM: a PEM file of CA certificates to trust."),
    p("ssl.truststore.certificates", PropertyKind::Password, "", true,
      "With ssl.truststore.type=PEM: CA certificates to trust, as PEM text."),
    p("ssl.enabled.protocols", PropertyKind::List, "TLSv1.2,TLSv1.3", true,
      "TLS versions offered: TLSv1.2 and/or TLSv1.3 (older ones are not offered)."),
    p("ssl.endpoint.identification.algorithm", PropertyKind::String, "https", true,
      "https: check that the broker's certificate names the host connected to. Empty: do not (the chain is still verified); logged at warn."),
    p("sasl.mechanism", PropertyKind::String, "GSSAPI", true,
      "SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER. GSSAPI (Kerberos, Java's default) is not supported, so set it with SASL_*."),
    p("sasl.jaas.config", PropertyKind::Password, "", true,
      "Java's login module line, e.g. org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p\"; (PLAIN, SCRAM; OAuthBearerLoginModule with unsecuredLoginStringClaim_sub for unsecured test tokens)."),
    p("sasl.username", PropertyKind::String, "", true,
      "librdkafka's name: the user name for PLAIN and SCRAM (instead of sasl.jaas.config)."),
    p("sasl.password", PropertyKind::Password, "", true,
      "librdkafka's name: the password for PLAIN and SCRAM (instead of sasl.jaas.config)."),
    // ---- accepted for Java compatibility, not acted on ----
    p("key.serializer", PropertyKind::Class, "", false,
      "Java serializer class for keys; has no effect here. Send bytes, or use TypedProducer with a Serializer."),
    p("value.serializer", PropertyKind::Class, "", false,
      "Java serializer class for values; has no effect here. Send bytes, or use TypedProducer with a Serializer."),
    p("partitioner.class", PropertyKind::Class, "", false,
      "Java partitioner class; has no effect here. Use ProducerConfig::partitioner with a Partitioner implementation."),
    p("interceptor.classes", PropertyKind::List, "", false,
      "Java producer interceptor classes; have no effect here. Use ProducerConfig::interceptor with a ProducerInterceptor implementation."),
    p("metric.reporters", PropertyKind::List, "org.apache.kafka.common.metrics.JmxReporter", false,
      "Java metrics reporter classes."),
    p("metrics.sample.window.ms", ms(0), "30000", true,
      "Window over which a metric sample is computed (Producer::metrics)."),
    p("metrics.num.samples", int(1), "2", true,
      "Number of samples kept per metric: rates, averages and maxima cover this many windows."),
    p("metrics.recording.level", PropertyKind::Enum(&["INFO", "DEBUG", "TRACE"]), "INFO", false,
      "Highest metrics recording level."),
    p("enable.metrics.push", PropertyKind::Bool, "true", true,
      "Push client metrics to the cluster when it subscribes to them (KIP-714 client telemetry; Producer::client_instance_id)."),
    p("metadata.recovery.strategy", PropertyKind::EnumIgnoreCase(&["none", "rebootstrap"]), "rebootstrap", false,
      "What to do when no known broker is reachable: none (fail) or rebootstrap (start again from bootstrap.servers)."),
    p("metadata.recovery.rebootstrap.trigger.ms", ms(0), "300000", false,
      "Rebootstrap after this long without any reachable broker."),
    p("transaction.two.phase.commit.enable", PropertyKind::Bool, "false", false,
      "Take part in an external two-phase commit: transactions never expire. Cannot be combined with an explicit transaction.timeout.ms."),
    p("security.providers", PropertyKind::String, "", false,
      "Java security provider creator classes."),
    p("config.providers", PropertyKind::List, "", false,
      "Java configuration providers for indirect values."),
    p("ssl.protocol", PropertyKind::String, "TLSv1.3", false, "TLS protocol for the SSL context."),
    p("ssl.provider", PropertyKind::String, "", false, "Java security provider for TLS."),
    p("ssl.cipher.suites", PropertyKind::List, "", false, "Cipher suites allowed; empty means all."),
    p("ssl.keystore.password", PropertyKind::Password, "", false, "Password of the key store file."),
    p("ssl.truststore.password", PropertyKind::Password, "", false, "Password of the trust store file."),
    p("ssl.keymanager.algorithm", PropertyKind::String, "SunX509", false, "Key manager factory algorithm."),
    p("ssl.trustmanager.algorithm", PropertyKind::String, "PKIX", false, "Trust manager factory algorithm."),
    p("ssl.secure.random.implementation", PropertyKind::String, "", false, "SecureRandom implementation for TLS."),
    p("ssl.engine.factory.class", PropertyKind::Class, "", false, "Java SSLEngine factory class."),
    p("sasl.client.callback.handler.class", PropertyKind::Class, "", false, "Java SASL client callback handler class."),
    p("sasl.login.callback.handler.class", PropertyKind::Class, "", false, "Java SASL login callback handler class."),
    p("sasl.login.class", PropertyKind::Class, "", false, "Java SASL login class."),
    p("sasl.kerberos.service.name", PropertyKind::String, "", false, "Kerberos principal name Kafka runs as."),
    p("sasl.kerberos.kinit.cmd", PropertyKind::String, "/usr/bin/kinit", false, "Path of the kinit command."),
    p("sasl.kerberos.ticket.renew.window.factor", PropertyKind::Double { min: 0.0, max: f64::MAX }, "0.8", false,
      "Renew the Kerberos ticket after this fraction of its lifetime."),
    p("sasl.kerberos.ticket.renew.jitter", PropertyKind::Double { min: 0.0, max: f64::MAX }, "0.05", false,
      "Random jitter added to the renewal time."),
    p("sasl.kerberos.min.time.before.relogin", PropertyKind::Long { min: 0 }, "60000", false,
      "Milliseconds between refresh attempts of the login thread."),
    p("sasl.login.refresh.window.factor", PropertyKind::Double { min: 0.5, max: 1.0 }, "0.8", false,
      "Refresh the login credential after this fraction of its lifetime (OAUTHBEARER)."),
    p("sasl.login.refresh.window.jitter", PropertyKind::Double { min: 0.0, max: 0.25 }, "0.05", false,
      "Random jitter added to the refresh time (OAUTHBEARER)."),
    p("sasl.login.refresh.min.period.seconds", PropertyKind::Int { min: 0, max: 900 }, "60", false,
      "Least seconds between credential refreshes (OAUTHBEARER)."),
    p("sasl.login.refresh.buffer.seconds", PropertyKind::Int { min: 0, max: 3600 }, "300", false,
      "Seconds before expiry to keep when refreshing (OAUTHBEARER)."),
    p("sasl.login.connect.timeout.ms", int(0), "", false, "Connect timeout to the identity provider (OAUTHBEARER)."),
    p("sasl.login.read.timeout.ms", int(0), "", false, "Read timeout from the identity provider (OAUTHBEARER)."),
    p("sasl.login.retry.backoff.ms", PropertyKind::Long { min: 0 }, "100", false,
      "First wait between login attempts (OAUTHBEARER)."),
    p("sasl.login.retry.backoff.max.ms", PropertyKind::Long { min: 0 }, "10000", false,
      "Largest wait between login attempts (OAUTHBEARER)."),
    p("sasl.oauthbearer.scope.claim.name", PropertyKind::String, "scope", false, "Name of the scope claim in the token."),
    p("sasl.oauthbearer.sub.claim.name", PropertyKind::String, "sub", false, "Name of the subject claim in the token."),
    p("sasl.oauthbearer.token.endpoint.url", PropertyKind::String, "", false, "URL of the identity provider's token endpoint, or a token file."),
    p("sasl.oauthbearer.jwks.endpoint.url", PropertyKind::String, "", false, "URL of the provider's JSON Web Key Set."),
    p("sasl.oauthbearer.jwks.endpoint.refresh.ms", PropertyKind::Long { min: 0 }, "3600000", false, "How often to refresh the key set."),
    p("sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", PropertyKind::Long { min: 0 }, "100", false, "First wait between key set retrievals."),
    p("sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", PropertyKind::Long { min: 0 }, "10000", false, "Largest wait between key set retrievals."),
    p("sasl.oauthbearer.clock.skew.seconds", int(0), "30", false, "Allowed clock difference with the identity provider."),
    p("sasl.oauthbearer.expected.audience", PropertyKind::List, "", false, "Audiences the token must name."),
    p("sasl.oauthbearer.expected.issuer", PropertyKind::String, "", false, "Issuer the token must name."),
    p("sasl.oauthbearer.header.urlencode", PropertyKind::Bool, "false", false, "URL-encode the client id and secret in the authorization header."),
];

/// The row for `name`, if it is a known property.
pub fn lookup(name: &str) -> Option<&'static PropertyDef> {
    PROPERTIES.iter().find(|d| d.name == name)
}

/// The known property closest to `name` within edit distance 2, for "did you mean".
pub(crate) fn closest_key(name: &str) -> Option<&'static str> {
    PROPERTIES
        .iter()
        .map(|d| (edit_distance(name, d.name), d.name))
        .filter(|(dist, _)| *dist <= 2)
        .min_by_key(|(dist, _)| *dist)
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Parses a whole number the way Java does (surrounding blanks allowed).
pub(crate) fn parse_i64(value: &str) -> Option<i64> {
    value.trim().parse::<i64>().ok()
}

/// Parses a boolean the way Java does (`true`/`false`, any letter case).
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("true") {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Splits a list value on commas, trimming blanks and dropping empty entries.
pub(crate) fn parse_list(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

impl PropertyDef {
    /// Checks `value` against this property's type, range and any rule of its own.
    /// `None` means "no value" (only accepted where the property needs none).
    /// The error says what is accepted, without naming the key.
    pub(crate) fn check(&self, value: Option<&str>) -> Result<(), String> {
        let Some(value) = value else {
            if self.name == "bootstrap.servers" {
                return Err("is required: give at least one host:port".into());
            }
            return Ok(());
        };
        match self.kind {
            PropertyKind::Bool => {
                parse_bool(value).ok_or_else(|| "accepted: true or false".to_string())?;
            }
            PropertyKind::Int { min, max } => check_range(value, min, max)?,
            PropertyKind::Long { min } => check_range(value, min, i64::MAX)?,
            PropertyKind::DurationMs { min, max } => check_range(value, min as i64, max.min(MS_MAX) as i64)?,
            PropertyKind::Double { min, max } => {
                let v: f64 = value
                    .trim()
                    .parse()
                    .map_err(|_| format!("accepted: a number {}", self.valid_values()))?;
                if !(min..=max).contains(&v) {
                    return Err(format!("accepted: {}", self.valid_values()));
                }
            }
            PropertyKind::Enum(options) => {
                if !options.contains(&value.trim()) {
                    return Err(format!("accepted: {}", options.join(", ")));
                }
            }
            PropertyKind::EnumIgnoreCase(options) => {
                if !options.iter().any(|o| o.eq_ignore_ascii_case(value.trim())) {
                    return Err(format!("accepted (any letter case): {}", options.join(", ")));
                }
            }
            PropertyKind::Class => {
                if value.trim().is_empty() {
                    return Err("accepted: a non-empty class name".into());
                }
            }
            PropertyKind::String | PropertyKind::Password | PropertyKind::List => {}
        }
        self.check_own_rule(value)
    }

    /// Rules a type and range cannot express.
    fn check_own_rule(&self, value: &str) -> Result<(), String> {
        match self.name {
            "bootstrap.servers" => check_bootstrap(value),
            "compression.gzip.level" => match parse_i64(value) {
                Some(0) => Err("accepted: 1 to 9, or -1 for the gzip default".into()),
                _ => Ok(()),
            },
            "transactional.id" if value.is_empty() => {
                Err("accepted: a non-empty string (leave it unset for no transactions)".into())
            }
            _ => Ok(()),
        }
    }

    /// The Java-style type name, for docs.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            PropertyKind::Bool => "boolean",
            PropertyKind::Int { .. } => "int",
            PropertyKind::Long { .. } => "long",
            PropertyKind::Double { .. } => "double",
            PropertyKind::DurationMs { .. } => "duration (ms)",
            PropertyKind::String => "string",
            PropertyKind::Password => "password",
            PropertyKind::List => "list",
            PropertyKind::Enum(_) | PropertyKind::EnumIgnoreCase(_) => "string",
            PropertyKind::Class => "class",
        }
    }

    /// What values are accepted, in words.
    pub fn valid_values(&self) -> String {
        fn bound(v: i64) -> String {
            match v {
                v if v == i64::MAX || v == MS_MAX as i64 => "…".into(),
                v => v.to_string(),
            }
        }
        match self.name {
            "bootstrap.servers" => return "non-empty list of host:port".into(),
            "compression.gzip.level" => return "-1, or 1 to 9".into(),
            "transactional.id" => return "non-empty string".into(),
            _ => {}
        }
        match self.kind {
            PropertyKind::Bool => "true, false".into(),
            PropertyKind::Int { min, max } => format!("[{}, {}]", bound(min), bound(max)),
            PropertyKind::Long { min } => format!("[{}, …]", bound(min)),
            PropertyKind::DurationMs { min, max } => {
                format!("[{}, {}]", bound(min as i64), bound(max as i64))
            }
            PropertyKind::Double { min, max } => {
                if max == f64::MAX {
                    format!("[{min}, …]")
                } else {
                    format!("[{min}, {max}]")
                }
            }
            PropertyKind::Enum(o) => o.join(", "),
            PropertyKind::EnumIgnoreCase(o) => format!("{} (any case)", o.join(", ")),
            PropertyKind::Class => "class name".into(),
            PropertyKind::String | PropertyKind::Password | PropertyKind::List => String::new(),
        }
    }
}

fn check_range(value: &str, min: i64, max: i64) -> Result<(), String> {
    let accepted = || {
        if max == i64::MAX || max == MS_MAX as i64 {
            format!("a whole number >= {min}")
        } else {
            format!("a whole number from {min} to {max}")
        }
    };
    match parse_i64(value) {
        Some(v) if (min..=max).contains(&v) => Ok(()),
        _ => Err(format!("accepted: {}", accepted())),
    }
}

fn check_bootstrap(value: &str) -> Result<(), String> {
    let entries = parse_list(value);
    if entries.is_empty() {
        return Err("is required: give at least one host:port".into());
    }
    for (i, entry) in entries.iter().enumerate() {
        let ok = match entry.rsplit_once(':') {
            Some((host, port)) => {
                let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
                !host.is_empty()
                    && !host.contains(char::is_whitespace)
                    && matches!(port.parse::<u16>(), Ok(p) if p > 0)
            }
            None => false,
        };
        if !ok {
            return Err(format!("entry '{entry}' is not host:port with a port from 1 to 65535"));
        }
        if entries[..i].contains(entry) {
            return Err(format!("entry '{entry}' is listed twice"));
        }
    }
    Ok(())
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// Renders docs/configuration.md from [`PROPERTIES`].
pub fn configuration_markdown() -> String {
    let mut out = String::new();
    out.push_str("# Producer configuration\n\n");
    out.push_str(
        "<!-- Generated from src/config/properties.rs (PROPERTIES) by configuration_markdown(). \
Do not edit by hand: run `KB_WRITE_DOCS=1 cargo test --lib config` to regenerate. -->\n\n",
    );
    out.push_str(
        "`ProducerConfig` takes the Java producer's property names, through `set(key, value)` or \
`from_properties(iter)`, or the typed builder methods (`linger(Duration)`, `acks(Acks)`, ...), \
which write the same fields. Defaults are those of the Java client 4.x. `validate()` (run when \
the producer is built) reports every bad key at once.\n\n",
    );
    out.push_str(
        "Properties marked *no* under Supported are accepted and checked for Java compatibility \
but not acted on yet. A key not in this table is an error.\n\n",
    );
    out.push_str(
        "Rules across properties (as in Java): idempotence needs `acks=all`, `retries` > 0 and \
`max.in.flight.requests.per.connection` <= 5. If `enable.idempotence` is left at its default, \
`acks` 0/1 or `retries=0` turn idempotence off; if it is set to true explicitly they are errors. \
More than 5 in-flight requests with idempotence on (default or explicit) is an error. \
`transactional.id` needs idempotence. `delivery.timeout.ms` must be at least `linger.ms` + \
`request.timeout.ms` when set explicitly; when left at its default it is raised to that sum.\n\n",
    );
    out.push_str("| Property | Type | Default | Valid values | Supported | Description |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for d in PROPERTIES {
        let default = if d.default.is_empty() {
            if d.name == "client.id" {
                "\"\"".to_string()
            } else {
                "(none)".to_string()
            }
        } else {
            format!("`{}`", d.default)
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            d.name,
            d.type_name(),
            md_cell(&default),
            md_cell(&d.valid_values()),
            if d.supported { "yes" } else { "no" },
            md_cell(d.doc),
        ));
    }
    out
}
