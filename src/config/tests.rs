use super::*;
use crate::ErrorKind;

fn valid() -> ProducerConfig {
    ProducerConfig::new().bootstrap_servers("localhost:9092")
}

fn err_of(c: &ProducerConfig) -> String {
    let e = c.validate().expect_err("expected a configuration error");
    assert_eq!(e.kind(), ErrorKind::Config);
    e.to_string()
}

#[test]
fn defaults_are_java_4x() {
    let c = ProducerConfig::new();
    let expect = [
        ("acks", "all"),
        ("linger.ms", "5"),
        ("batch.size", "16384"),
        ("buffer.memory", "33554432"),
        ("max.block.ms", "60000"),
        ("request.timeout.ms", "30000"),
        ("delivery.timeout.ms", "120000"),
        ("max.request.size", "1048576"),
        ("retries", "2147483647"),
        ("retry.backoff.ms", "100"),
        ("retry.backoff.max.ms", "1000"),
        ("max.in.flight.requests.per.connection", "5"),
        ("enable.idempotence", "true"),
        ("metadata.max.age.ms", "300000"),
        ("metadata.max.idle.ms", "300000"),
        ("compression.type", "none"),
        ("compression.gzip.level", "-1"),
        ("compression.lz4.level", "9"),
        ("compression.zstd.level", "3"),
        ("send.buffer.bytes", "131072"),
        ("receive.buffer.bytes", "32768"),
        ("transaction.timeout.ms", "60000"),
        ("reconnect.backoff.ms", "50"),
        ("reconnect.backoff.max.ms", "1000"),
        ("connections.max.idle.ms", "540000"),
        ("socket.connection.setup.timeout.ms", "10000"),
        ("socket.connection.setup.timeout.max.ms", "30000"),
        ("partitioner.ignore.keys", "false"),
        ("partitioner.adaptive.partitioning.enable", "true"),
        ("partitioner.availability.timeout.ms", "0"),
        ("client.dns.lookup", "use_all_dns_ips"),
        ("security.protocol", "PLAINTEXT"),
        ("client.id", ""),
        ("metadata.recovery.strategy", "rebootstrap"),
    ];
    for (key, value) in expect {
        assert_eq!(c.get(key).as_deref(), Some(value), "{key}");
        assert_eq!(lookup(key).unwrap().default, value, "table default of {key}");
    }
    assert_eq!(c.get("bootstrap.servers"), None);
    assert_eq!(c.get("transactional.id"), None);
    assert_eq!(c.acks, Acks::All);
    assert_eq!(c.linger, Duration::from_millis(5));
    assert_eq!(c.retries, i32::MAX);
    assert_eq!(c.transactional_id, None);
    assert!(c.idempotence_enabled());
    assert!(!c.is_set("acks"));
}

#[test]
fn every_table_default_is_valid_and_round_trips() {
    let c = ProducerConfig::new();
    for def in PROPERTIES {
        if def.default.is_empty() {
            continue;
        }
        assert_eq!(def.check(Some(def.default)), Ok(()), "default of {}", def.name);
        let set = ProducerConfig::new().set(def.name, def.default);
        assert!(set.errors.is_empty(), "{}: {:?}", def.name, set.errors);
        assert_eq!(set.get(def.name), c.get(def.name), "{}", def.name);
        assert!(set.is_set(def.name));
    }
}

#[test]
fn every_supported_key_has_a_field() {
    // apply() and get() must know every supported key; a set value must come back.
    let samples: &[(&str, &str)] = &[
        ("bootstrap.servers", "a:1,b:2"),
        ("client.id", "me"),
        ("client.dns.lookup", "resolve_canonical_bootstrap_servers_only"),
        ("acks", "1"),
        ("security.protocol", "PLAINTEXT"),
        ("compression.type", "zstd"),
        ("transactional.id", "tx"),
    ];
    for def in PROPERTIES.iter().filter(|d| d.supported) {
        let value = match samples.iter().find(|(k, _)| *k == def.name) {
            Some((_, v)) => v.to_string(),
            None => match def.kind {
                PropertyKind::Bool => (def.default != "true").to_string(),
                PropertyKind::Int { min, .. } | PropertyKind::Long { min } => (min + 7).to_string(),
                PropertyKind::DurationMs { min, .. } => (min + 7).to_string(),
                _ if def.name.starts_with("ssl.") || def.name.starts_with("sasl.") => "TLSv1.2".to_string(),
                _ => panic!("add a sample value for {}", def.name),
            },
        };
        let c = ProducerConfig::new().set(def.name, &value);
        assert!(c.errors.is_empty(), "{}: {:?}", def.name, c.errors);
        assert_eq!(c.get(def.name).as_deref(), Some(value.as_str()), "{}", def.name);
        // The security settings are read from `other` when the producer is made.
        assert!(c.other.is_empty() || read_from_other(def.name), "{} went to `other`", def.name);
    }
}

#[test]
fn builder_and_set_write_the_same_fields() {
    let typed = ProducerConfig::new()
        .bootstrap_servers("k1:9092, k2:9093")
        .client_id("app")
        .acks(Acks::All)
        .linger(Duration::from_millis(20))
        .batch_size(65536)
        .buffer_memory(1 << 26)
        .max_block(Duration::from_secs(5))
        .compression_type("lz4")
        .compression_lz4_level(3)
        .request_timeout(Duration::from_secs(10))
        .delivery_timeout(Duration::from_secs(60))
        .max_request_size(2_000_000)
        .retries(10)
        .retry_backoff(Duration::from_millis(200))
        .retry_backoff_max(Duration::from_secs(2))
        .max_in_flight_requests_per_connection(3)
        .enable_idempotence(true)
        .transactional_id("tx-1")
        .metadata_max_age(Duration::from_secs(60))
        .client_dns_lookup(ClientDnsLookup::ResolveCanonicalBootstrapServersOnly);
    let named = ProducerConfig::from_properties([
        ("bootstrap.servers", "k1:9092, k2:9093"),
        ("client.id", "app"),
        ("acks", "-1"),
        ("linger.ms", "20"),
        ("batch.size", "65536"),
        ("buffer.memory", "67108864"),
        ("max.block.ms", "5000"),
        ("compression.type", "lz4"),
        ("compression.lz4.level", "3"),
        ("request.timeout.ms", "10000"),
        ("delivery.timeout.ms", "60000"),
        ("max.request.size", "2000000"),
        ("retries", "10"),
        ("retry.backoff.ms", "200"),
        ("retry.backoff.max.ms", "2000"),
        ("max.in.flight.requests.per.connection", "3"),
        ("enable.idempotence", "TRUE"),
        ("transactional.id", "tx-1"),
        ("metadata.max.age.ms", "60000"),
        ("client.dns.lookup", "resolve_canonical_bootstrap_servers_only"),
    ]);
    typed.validate().unwrap();
    named.validate().unwrap();
    assert_eq!(format!("{typed:?}"), format!("{named:?}"));
    for def in PROPERTIES {
        assert_eq!(typed.get(def.name), named.get(def.name), "{}", def.name);
        assert_eq!(typed.is_set(def.name), named.is_set(def.name), "{}", def.name);
    }
    assert_eq!(named.bootstrap_servers, vec!["k1:9092".to_string(), "k2:9093".to_string()]);
    assert_eq!(named.acks, Acks::All);
    assert_eq!(named.linger, Duration::from_millis(20));
    assert_eq!(named.buffer_memory, 1 << 26);
    assert_eq!(named.compression_type, "lz4");
    assert_eq!(named.transactional_id.as_deref(), Some("tx-1"));
    assert_eq!(named.client_dns_lookup, ClientDnsLookup::ResolveCanonicalBootstrapServersOnly);
}

#[test]
fn acks_values() {
    for (v, acks, wire) in
        [("all", Acks::All, -1), ("-1", Acks::All, -1), ("0", Acks::None, 0), ("1", Acks::Leader, 1)]
    {
        let c = valid().enable_idempotence(false).set("acks", v);
        assert_eq!(c.acks, acks);
        assert_eq!(c.acks.as_i16(), wire);
        c.validate().unwrap();
    }
    let msg = err_of(&valid().set("acks", "2"));
    assert!(msg.contains("acks=\"2\"") && msg.contains("all, -1, 0, 1"), "{msg}");
}

#[test]
fn unknown_key_is_named_with_a_suggestion() {
    let msg = err_of(&valid().set("linger.mss", "5"));
    assert!(msg.contains("unknown configuration key 'linger.mss'"), "{msg}");
    assert!(msg.contains("did you mean 'linger.ms'"), "{msg}");
    let msg = err_of(&valid().set("no.such.thing", "1"));
    assert!(msg.contains("'no.such.thing'") && !msg.contains("did you mean"), "{msg}");
}

#[test]
fn every_bad_key_is_reported_at_once() {
    let c = ProducerConfig::new()
        .set("batch.size", "-1")
        .set("linger.ms", "soon")
        .set("compression.type", "brotli")
        .set("bogus.key", "x")
        .set("enable.idempotence", "yes")
        .compression_zstd_level(23)
        .max_in_flight_requests_per_connection(0);
    let msg = err_of(&c);
    for needle in [
        "batch.size=\"-1\"",
        "linger.ms=\"soon\"",
        "compression.type=\"brotli\"",
        "none, gzip, snappy, lz4, zstd",
        "'bogus.key'",
        "enable.idempotence=\"yes\"",
        "true or false",
        "compression.zstd.level=\"23\"",
        "-131072 to 22",
        "max.in.flight.requests.per.connection=\"0\"",
        "bootstrap.servers is required",
        "8 problems",
    ] {
        assert!(msg.contains(needle), "missing {needle:?} in: {msg}");
    }
    // The bad values did not replace the defaults.
    assert_eq!(c.batch_size, 16384);
    assert_eq!(c.compression_type, "none");
}

#[test]
fn setting_a_key_again_clears_its_problem() {
    let c = valid().set("batch.size", "big").set("batch.size", "100");
    c.validate().unwrap();
    assert_eq!(c.batch_size, 100);
}

#[test]
fn ranges_match_java() {
    let ok = |k: &str, v: &str| valid().enable_idempotence(false).set(k, v).validate().is_ok();
    assert!(ok("batch.size", "0"));
    assert!(!ok("batch.size", "2147483648"));
    assert!(ok("max.request.size", "0"));
    assert!(ok("buffer.memory", "0"));
    assert!(!ok("buffer.memory", "-1"));
    assert!(ok("linger.ms", "0"));
    assert!(!ok("linger.ms", "-1"));
    assert!(ok("retries", "0"));
    assert!(!ok("retries", "-1"));
    assert!(!ok("max.in.flight.requests.per.connection", "0"));
    assert!(ok("max.in.flight.requests.per.connection", "100"));
    assert!(ok("send.buffer.bytes", "-1"));
    assert!(!ok("send.buffer.bytes", "-2"));
    assert!(!ok("metadata.max.idle.ms", "4999"));
    assert!(ok("compression.gzip.level", "-1"));
    assert!(ok("compression.gzip.level", "9"));
    assert!(!ok("compression.gzip.level", "0"));
    assert!(!ok("compression.gzip.level", "10"));
    assert!(ok("compression.lz4.level", "17"));
    assert!(!ok("compression.lz4.level", "0"));
    assert!(ok("compression.zstd.level", "-131072"));
    assert!(!ok("compression.zstd.level", "23"));
    assert!(!ok("transactional.id", ""));
    assert!(!ok("client.dns.lookup", "default"));
    assert!(!ok("metrics.num.samples", "0"));
    assert!(ok("metrics.recording.level", "DEBUG"));
    assert!(!ok("metrics.recording.level", "debug"));
    assert!(valid().retries(u32::MAX).validate().is_err());
}

#[test]
fn timeouts_that_can_never_be_met_are_refused_naming_the_key() {
    // Java accepts 0 for these; no request or connect could ever complete with it.
    for key in ["request.timeout.ms", "socket.connection.setup.timeout.ms"] {
        let e = valid().set(key, "0").validate().unwrap_err();
        assert!(e.to_string().contains(key), "{e}");
        assert!(valid().set(key, "1").set("delivery.timeout.ms", "120000").validate().is_ok(), "{key}=1");
    }
    assert!(
        valid().set("connections.max.idle.ms", "0").validate().is_ok(),
        "0 closes idle connections at once"
    );
}

#[test]
fn bootstrap_servers_are_checked() {
    let msg = err_of(&ProducerConfig::new());
    assert!(msg.contains("bootstrap.servers is required"), "{msg}");
    for bad in ["", " , ", "localhost", "localhost:", "localhost:0", "localhost:70000", ":9092", "a:1,a:1"] {
        let msg = err_of(&ProducerConfig::new().set("bootstrap.servers", bad));
        assert!(msg.contains("bootstrap.servers"), "{bad:?}: {msg}");
    }
    let c = ProducerConfig::new().set("bootstrap.servers", " a:1 ,[::1]:9092,b.example.com:9093,");
    c.validate().unwrap();
    assert_eq!(c.bootstrap_servers, vec!["a:1", "[::1]:9092", "b.example.com:9093"]);
}

#[test]
fn security_protocols_and_their_sasl_settings() {
    valid().set("security.protocol", "plaintext").validate().unwrap();
    valid().set("security.protocol", "ssl").validate().unwrap();
    let msg = err_of(&valid().set("security.protocol", "SASL_SSL"));
    assert!(msg.contains("GSSAPI") && msg.contains("not supported"), "Java's default mechanism: {msg}");
    let msg = err_of(&valid().set("security.protocol", "SASL_PLAINTEXT").set("sasl.mechanism", "PLAIN"));
    assert!(msg.contains("needs a user name and password"), "{msg}");
    valid()
        .security_protocol("SASL_SSL")
        .sasl_mechanism(crate::security::SaslMechanism::ScramSha512)
        .sasl_credentials("alice", "alice-secret")
        .validate()
        .unwrap();
    let msg = err_of(&valid().set("security.protocol", "QUIC"));
    assert!(msg.contains("PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"), "{msg}");
}

#[test]
fn java_only_keys_are_kept_but_unsupported() {
    let c = valid()
        .set("key.serializer", "org.apache.kafka.common.serialization.StringSerializer")
        .set("ssl.truststore.password", "s3cret")
        .set("interceptor.classes", "");
    c.validate().unwrap();
    assert_eq!(
        c.get("key.serializer").as_deref(),
        Some("org.apache.kafka.common.serialization.StringSerializer")
    );
    assert!(!lookup("key.serializer").unwrap().supported);
    assert_eq!(c.get("sasl.mechanism").as_deref(), Some("GSSAPI"));
    assert_eq!(c.get("partitioner.class"), None);
    let debug = format!("{c:?}");
    assert!(!debug.contains("s3cret") && debug.contains("[hidden]"), "{debug}");
    let msg = err_of(
        &valid().set("sasl.jaas.config", "x").set("ssl.keystore.password", "pw").set("key.serializer", " "),
    );
    assert!(msg.contains("key.serializer") && !msg.contains("\"pw\""), "{msg}");
}

#[test]
fn default_idempotence_yields_to_explicit_acks_or_retries() {
    let c = valid().acks(Acks::Leader);
    c.validate().unwrap();
    assert!(!c.idempotence_enabled());
    assert!(c.enable_idempotence, "the configured value is kept");
    assert!(!c.resolved().unwrap().enable_idempotence);

    let c = valid().set("acks", "0");
    c.validate().unwrap();
    assert!(!c.idempotence_enabled());

    let c = valid().retries(0);
    c.validate().unwrap();
    assert!(!c.idempotence_enabled());

    assert!(valid().idempotence_enabled());
    assert!(valid().resolved().unwrap().enable_idempotence);
}

#[test]
fn explicit_idempotence_conflicts_are_errors() {
    let msg = err_of(&valid().enable_idempotence(true).acks(Acks::Leader));
    assert!(msg.contains("enable.idempotence=true requires acks=all, but acks=1"), "{msg}");
    let msg = err_of(&valid().set("enable.idempotence", "true").set("retries", "0"));
    assert!(msg.contains("enable.idempotence=true requires retries > 0, but retries=0"), "{msg}");
    let msg = err_of(&valid().enable_idempotence(true).max_in_flight_requests_per_connection(6));
    assert!(msg.contains("max.in.flight.requests.per.connection <= 5, but it is 6"), "{msg}");
    // Java rejects > 5 in flight even with idempotence only on by default.
    let msg = err_of(&valid().max_in_flight_requests_per_connection(6));
    assert!(msg.contains("enable.idempotence=true (the default) requires max.in.flight"), "{msg}");
    // Explicitly off: anything goes.
    valid()
        .enable_idempotence(false)
        .acks(Acks::None)
        .retries(0)
        .max_in_flight_requests_per_connection(50)
        .validate()
        .unwrap();
}

#[test]
fn transactions_need_idempotence() {
    let c = valid().transactional_id("orders");
    c.validate().unwrap();
    assert!(c.idempotence_enabled());
    let msg = err_of(&valid().transactional_id("orders").enable_idempotence(false));
    assert!(
        msg.contains("transactional.id=\"orders\" requires idempotence, but enable.idempotence=false"),
        "{msg}"
    );
    let msg = err_of(&valid().transactional_id("orders").acks(Acks::Leader));
    assert!(msg.contains("transactional.id=\"orders\" requires idempotence"), "{msg}");
    let msg = err_of(
        &valid()
            .transactional_id("orders")
            .set("transaction.two.phase.commit.enable", "true")
            .transaction_timeout(Duration::from_secs(10)),
    );
    assert!(msg.contains("transaction.two.phase.commit.enable=true"), "{msg}");
}

#[test]
fn delivery_timeout_must_cover_linger_and_request_timeout() {
    let msg = err_of(
        &valid()
            .linger(Duration::from_millis(100))
            .request_timeout(Duration::from_millis(1000))
            .delivery_timeout(Duration::from_millis(1099)),
    );
    assert!(
        msg.contains(
            "delivery.timeout.ms=1099 must be >= linger.ms (100) + request.timeout.ms (1000) = 1100"
        ),
        "{msg}"
    );
    valid()
        .linger(Duration::from_millis(100))
        .request_timeout(Duration::from_millis(1000))
        .delivery_timeout(Duration::from_millis(1100))
        .validate()
        .unwrap();
    // Left at its default, it is raised instead (Java's backward-compatible behaviour).
    let c = valid().request_timeout(Duration::from_secs(200));
    c.validate().unwrap();
    assert_eq!(c.resolved().unwrap().delivery_timeout, Duration::from_millis(200_005));
    assert_eq!(c.delivery_timeout, Duration::from_secs(120));
}

#[test]
fn backoff_adjustments_follow_java() {
    let c = valid().reconnect_backoff(Duration::from_millis(300));
    assert_eq!(c.resolved().unwrap().reconnect_backoff_max, Duration::from_millis(300));
    let c =
        valid().reconnect_backoff(Duration::from_millis(300)).reconnect_backoff_max(Duration::from_secs(5));
    assert_eq!(c.resolved().unwrap().reconnect_backoff_max, Duration::from_secs(5));
    // retry.backoff.ms above its max is allowed (constant backoff), as in Java.
    valid().retry_backoff(Duration::from_secs(5)).validate().unwrap();
}

#[test]
fn durations_are_whole_milliseconds() {
    let c = valid().linger(Duration::from_micros(2500));
    assert_eq!(c.linger, Duration::from_millis(2));
    assert_eq!(c.get("linger.ms").as_deref(), Some("2"));
    let msg = err_of(&valid().max_block(Duration::MAX));
    assert!(msg.contains("max.block.ms="), "{msg}");
}

#[test]
fn get_and_is_set() {
    let c = valid().set("compression.type", "gzip");
    assert!(c.is_set("compression.type"));
    assert!(c.is_set("bootstrap.servers"));
    assert!(!c.is_set("linger.ms"));
    assert_eq!(c.get("compression.type").as_deref(), Some("gzip"));
    assert_eq!(c.get("nope"), None);
}

#[test]
fn docs_are_up_to_date() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
    let want = configuration_markdown();
    if std::env::var_os("KB_WRITE_DOCS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is stale or missing; regenerate it with `KB_WRITE_DOCS=1 cargo test --lib config`",
        path.display()
    );
}

#[test]
fn markdown_lists_every_property() {
    let md = configuration_markdown();
    for def in PROPERTIES {
        assert!(md.contains(&format!("| `{}` |", def.name)), "{}", def.name);
    }
    let names: HashSet<&str> = PROPERTIES.iter().map(|d| d.name).collect();
    assert_eq!(names.len(), PROPERTIES.len(), "duplicate row in PROPERTIES");
}
