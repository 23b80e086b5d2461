//! TLS and SASL against Apache Kafka's own listeners, authenticator and authorizer
//! (`scripts/kafka_cluster.py --security` on the one-node cluster): every protocol and
//! mechanism delivers records an independent client reads back (over the PLAINTEXT listener),
//! every misconfiguration fails fast with an error naming the cause, a principal without
//! Write gets a final authorization error, and a session with a lifetime re-authenticates.

mod common;

use common::{consume, create_topic, kafka_listener, security_file, unique_topic, Broker};
use kafka_blocking::security::{OAuthBearerToken, OAuthBearerTokenProvider, UnsecuredJwt};
use kafka_blocking::{ErrorKind, KafkaCode, Producer, ProducerConfig, Record};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

/// Every log line of this test binary, at every level (the secrets check reads them).
static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;
impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        LOG.lock().unwrap().push(format!("{} {}: {}", r.level(), r.target(), r.args()));
    }
    fn flush(&self) {}
}

fn capture_logs() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        static CAPTURE: Capture = Capture;
        log::set_logger(&CAPTURE).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
    });
}

const MAX_BLOCK_MS: &str = "20000";
/// "Fails fast": well under max.block.ms (20 s) where the cause is certain.
const FAST: Duration = Duration::from_secs(8);

fn config(bootstrap: &str, protocol: &str) -> ProducerConfig {
    capture_logs();
    ProducerConfig::new()
        .bootstrap_servers(bootstrap)
        .security_protocol(protocol)
        .set("max.block.ms", MAX_BLOCK_MS)
        .set("delivery.timeout.ms", "30000")
        .set("request.timeout.ms", "10000")
}

fn tls(bootstrap: &str) -> ProducerConfig {
    config(bootstrap, "SSL").ssl_ca_location(security_file("ca.pem"))
}

fn sasl(bootstrap: &str, over_tls: bool, mechanism: &str, user: &str, password: &str) -> ProducerConfig {
    let c = if over_tls {
        config(bootstrap, "SASL_SSL").ssl_ca_location(security_file("ca.pem"))
    } else {
        config(bootstrap, "SASL_PLAINTEXT")
    };
    c.set("sasl.mechanism", mechanism).set("sasl.username", user).set("sasl.password", password)
}

/// Sends `n` records through a producer made from `cfg` and reads them back over PLAINTEXT.
fn delivers(what: &str, cfg: ProducerConfig, n: usize) {
    let b = common::kafka_tv1();
    let topic = unique_topic("security");
    create_topic(&b, &topic, 1);
    let p = Producer::new(cfg).unwrap_or_else(|e| panic!("{what}: {e}"));
    let futures: Vec<_> = (0..n)
        .map(|i| {
            p.send(Record::new(&topic).value(&format!("{what} {i}")))
                .unwrap_or_else(|e| panic!("{what}: {e}"))
        })
        .collect();
    for f in futures {
        f.wait().unwrap_or_else(|e| panic!("{what}: {e}"));
    }
    p.close(Duration::from_secs(10)).unwrap();
    let got = consume(&b, &topic, 1, n);
    let values: Vec<String> =
        got.iter().map(|c| String::from_utf8(c.value.clone().unwrap()).unwrap()).collect();
    let want: Vec<String> = (0..n).map(|i| format!("{what} {i}")).collect();
    assert_eq!(values, want, "{what}");
}

/// A producer made from `cfg` fails its first send quickly with an error of `kind` naming
/// every one of `words`; returns the message.
fn fails_fast(what: &str, cfg: ProducerConfig, kind: ErrorKind, words: &[&str]) -> String {
    let b: Broker = common::kafka_tv1();
    let topic = unique_topic("security-refused");
    create_topic(&b, &topic, 1);
    let p = Producer::new(cfg).unwrap_or_else(|e| panic!("{what}: {e}"));
    let started = Instant::now();
    let r = p.send(Record::new(&topic).value("refused")).and_then(|f| f.wait());
    let took = started.elapsed();
    let e = r.expect_err(what);
    eprintln!("{what} ({took:?}): {e}");
    assert_eq!(e.kind(), kind, "{what}: {e}");
    for w in words {
        assert!(e.to_string().contains(w), "{what}: {e} does not name {w:?}");
    }
    assert!(!e.is_retriable(), "{what}: {e}");
    assert!(took < FAST, "{what}: took {took:?} (max.block.ms {MAX_BLOCK_MS} ms)");
    let _ = p.close(Duration::from_secs(2));
    e.to_string()
}

#[test]
fn tls_delivers_and_the_records_read_back() {
    delivers("SSL", tls(&kafka_listener("SSL")), 50);
    // Java's property names for a PEM trust store.
    let java = config(&kafka_listener("SSL"), "SSL")
        .set("ssl.truststore.type", "PEM")
        .set("ssl.truststore.location", security_file("ca.pem"));
    delivers("SSL truststore", java, 5);
    let inline = std::fs::read_to_string(security_file("ca.pem")).unwrap();
    delivers("SSL inline CA", config(&kafka_listener("SSL"), "SSL").set("ssl.ca.pem", inline), 5);
    delivers("TLS 1.2 only", tls(&kafka_listener("SSL")).set("ssl.enabled.protocols", "TLSv1.2"), 5);
    // A folder of PEM files (the test PKI's: its CA among them; key files are skipped).
    let dir = std::path::Path::new(&security_file("ca.pem")).parent().unwrap().to_path_buf();
    delivers("SSL CA folder", config(&kafka_listener("SSL"), "SSL").ssl_ca_location(dir), 5);
}

#[test]
fn tls_writes_large_requests_of_several_batches_whole_and_in_order() {
    // Requests of several 256 KiB batches: each frame is written through the TLS session piece
    // by piece (the request bytes and the batch buffers between them), over many partial writes.
    let b = common::kafka_tv1();
    let topic = unique_topic("security-large");
    create_topic(&b, &topic, 3);
    let cfg = tls(&kafka_listener("SSL"))
        .set("batch.size", "262144")
        .set("linger.ms", "20")
        .set("compression.type", "none");
    let p = Producer::new(cfg).unwrap();
    let n = 3000;
    let value = |i: usize| format!("{i:06}-{}", "x".repeat(1000 + i % 97));
    let futures: Vec<_> = (0..n)
        .map(|i| p.send(Record::new(&topic).partition((i % 3) as i32).value(&value(i))).unwrap())
        .collect();
    for f in &futures {
        f.wait().unwrap();
    }
    p.close(Duration::from_secs(10)).unwrap();
    let got = consume(&b, &topic, 3, n);
    for partition in 0..3 {
        let values: Vec<String> = got
            .iter()
            .filter(|c| c.partition == partition)
            .map(|c| String::from_utf8(c.value.clone().unwrap()).unwrap())
            .collect();
        let want: Vec<String> = (0..n).filter(|i| i % 3 == partition as usize).map(value).collect();
        assert!(
            values == want,
            "partition {partition}: {} records read back, {} sent",
            values.len(),
            want.len()
        );
    }
}

#[test]
fn mutual_tls_with_a_client_certificate_delivers_as_its_principal() {
    let cfg = tls(&kafka_listener("MTLS"))
        .ssl_client_certificate(security_file("client.pem"), security_file("client.key"));
    delivers("mTLS", cfg, 20);
    let encrypted = tls(&kafka_listener("MTLS"))
        .ssl_client_certificate(security_file("client.pem"), security_file("client-encrypted.key"))
        .set("ssl.key.password", "client-key-secret");
    delivers("mTLS encrypted key", encrypted, 5);
    // Java's PEM key store: the key and the chain in one file.
    let keystore = std::env::temp_dir().join(format!("kb-keystore-{}.pem", std::process::id()));
    let pem = std::fs::read_to_string(security_file("client.key")).unwrap()
        + &std::fs::read_to_string(security_file("client.pem")).unwrap();
    std::fs::write(&keystore, pem).unwrap();
    let java = tls(&kafka_listener("MTLS"))
        .set("ssl.keystore.type", "PEM")
        .set("ssl.keystore.location", keystore.to_string_lossy());
    delivers("mTLS PEM key store", java, 5);
    let _ = std::fs::remove_file(keystore);
}

#[test]
fn tls_failures_are_fast_and_name_the_cause() {
    fails_fast(
        "no client certificate",
        tls(&kafka_listener("MTLS")),
        ErrorKind::Authentication,
        &["TLS handshake", "client certificate"],
    );
    // The system's roots do not hold the test CA (a machine without any readable roots refuses
    // the configuration instead, naming ssl.ca.location).
    match Producer::new(config(&kafka_listener("SSL"), "SSL")) {
        Err(e) => assert!(e.kind() == ErrorKind::Config && e.to_string().contains("ssl.ca.location"), "{e}"),
        Ok(p) => {
            drop(p);
            fails_fast(
                "system roots",
                config(&kafka_listener("SSL"), "SSL"),
                ErrorKind::Authentication,
                &["not signed by a trusted CA"],
            );
        }
    }
    fails_fast(
        "wrong CA",
        config(&kafka_listener("SSL"), "SSL").ssl_ca_location(security_file("other-ca.pem")),
        ErrorKind::Authentication,
        &["TLS handshake", "not signed by a trusted CA", "ssl.ca.location"],
    );
    fails_fast(
        "wrong host name",
        tls(&kafka_listener("SSL_BADNAME")),
        ErrorKind::Authentication,
        &["TLS handshake", "does not name this host"],
    );
    fails_fast(
        "expired certificate",
        tls(&kafka_listener("SSL_EXPIRED")),
        ErrorKind::Authentication,
        &["expired"],
    );
    fails_fast(
        "TLS to a SASL_PLAINTEXT listener",
        tls(&kafka_listener("SASL")),
        ErrorKind::Authentication,
        &["TLS handshake", "security.protocol"],
    );
}

#[test]
fn host_name_verification_can_be_turned_off_but_the_chain_is_still_checked() {
    let off = tls(&kafka_listener("SSL_BADNAME")).set("ssl.endpoint.identification.algorithm", "");
    delivers("no host name check", off, 5);
    fails_fast(
        "no host name check, wrong CA",
        config(&kafka_listener("SSL_BADNAME"), "SSL")
            .ssl_ca_location(security_file("other-ca.pem"))
            .set("ssl.endpoint.identification.algorithm", ""),
        ErrorKind::Authentication,
        &["not signed by a trusted CA"],
    );
}

#[test]
fn every_sasl_mechanism_delivers_over_plaintext_and_tls() {
    for over_tls in [false, true] {
        let listener = kafka_listener(if over_tls { "SASL_SSL" } else { "SASL" });
        for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
            let what = format!("{mechanism} tls={over_tls}");
            delivers(&what, sasl(&listener, over_tls, mechanism, "alice", "alice-secret"), 10);
        }
        let base = if over_tls {
            config(&listener, "SASL_SSL").ssl_ca_location(security_file("ca.pem"))
        } else {
            config(&listener, "SASL_PLAINTEXT")
        };
        let oauth = base.set("sasl.mechanism", "OAUTHBEARER").sasl_oauthbearer_token_provider(Arc::new(
            UnsecuredJwt::new("alice").lifetime(Duration::from_secs(600)),
        ));
        delivers(&format!("OAUTHBEARER tls={over_tls}"), oauth, 10);
    }
}

#[test]
fn java_jaas_config_lines_work() {
    let listener = kafka_listener("SASL");
    let plain = config(&listener, "SASL_PLAINTEXT").set("sasl.mechanism", "PLAIN").set(
        "sasl.jaas.config",
        r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="alice-secret";"#,
    );
    delivers("PLAIN jaas", plain, 5);
    let scram = config(&listener, "SASL_PLAINTEXT").set("sasl.mechanism", "SCRAM-SHA-512").set(
        "sasl.jaas.config",
        r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="alice-secret";"#,
    );
    delivers("SCRAM jaas", scram, 5);
    let oauth = config(&listener, "SASL_PLAINTEXT").set("sasl.mechanism", "OAUTHBEARER").set(
        "sasl.jaas.config",
        r#"org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="alice";"#,
    );
    delivers("OAUTHBEARER jaas", oauth, 5);
}

#[test]
fn sasl_failures_are_fast_name_the_cause_and_never_show_the_password() {
    let listener = kafka_listener("SASL");
    let secret = "Sup3r-Secret-Pw";
    let mut messages = Vec::new();
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        messages.push(fails_fast(
            &format!("{mechanism} wrong password"),
            sasl(&listener, false, mechanism, "alice", secret),
            ErrorKind::Authentication,
            &[mechanism, "alice"],
        ));
        messages.push(fails_fast(
            &format!("{mechanism} unknown user"),
            sasl(&listener, false, mechanism, "mallory", secret),
            ErrorKind::Authentication,
            &[mechanism, "mallory"],
        ));
    }
    let cfg = sasl(&listener, false, "PLAIN", "alice", secret)
        .set("sasl.jaas.config", format!("org.apache.kafka.common.security.plain.PlainLoginModule required username=\"alice\" password=\"{secret}\";"))
        .set("ssl.key.password", secret);
    messages.push(format!("{cfg:?}"));
    // A producer that authenticates with a password, at trace level: nothing logs it either.
    delivers("PLAIN logged", sasl(&listener, false, "PLAIN", "alice", "alice-secret"), 3);
    let logs = LOG.lock().unwrap().clone();
    assert!(
        logs.iter().any(|l| l.contains("authenticat")),
        "the logger captured the sender: {} lines",
        logs.len()
    );
    for m in messages.iter().chain(&logs) {
        assert!(!m.contains(secret) && !m.contains("alice-secret"), "a secret shows: {m}");
    }
    // A mechanism the listener does not enable.
    let only_plain = kafka_listener("SASL_REAUTH");
    fails_fast(
        "mechanism not enabled",
        sasl(&only_plain, false, "SCRAM-SHA-512", "alice", "alice-secret"),
        ErrorKind::Authentication,
        &["does not enable SASL mechanism SCRAM-SHA-512", "PLAIN"],
    );
}

#[test]
fn a_principal_without_write_gets_final_authorization_errors() {
    let listener = kafka_listener("SASL");
    let bob = || sasl(&listener, false, "PLAIN", "bob", "bob-secret");
    let e = fails_fast(
        "bob writes (no idempotence)",
        bob().set("enable.idempotence", "false").set("acks", "1"),
        ErrorKind::Broker(KafkaCode::TOPIC_AUTHORIZATION_FAILED),
        &["TOPIC_AUTHORIZATION_FAILED", "security-refused"],
    );
    assert!(e.contains("security-refused"), "names the topic: {e}");
    fails_fast(
        "bob writes (idempotent: no IdempotentWrite)",
        bob(),
        ErrorKind::Broker(KafkaCode::CLUSTER_AUTHORIZATION_FAILED),
        &["CLUSTER_AUTHORIZATION_FAILED"],
    );
    let p = Producer::new(bob().set("transactional.id", "bob-tx").set("max.block.ms", MAX_BLOCK_MS)).unwrap();
    let started = Instant::now();
    let e = p.init_transactions(Duration::from_secs(20)).expect_err("bob has no access to transactional ids");
    assert!(started.elapsed() < FAST, "{:?}", started.elapsed());
    assert_eq!(e.kind(), ErrorKind::Broker(KafkaCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED), "{e}");
}

/// Sends one record every 20 ms for 10 s through a producer made from `cfg` with no retries
/// (a connection the broker closes would fail a record), each waited for; all must succeed.
fn keeps_delivering_for_10_s(what: &str, cfg: ProducerConfig) {
    let b = common::kafka_tv1();
    let topic = unique_topic("security-reauth");
    create_topic(&b, &topic, 1);
    let cfg =
        cfg.set("retries", "0").set("enable.idempotence", "false").set("acks", "1").set("linger.ms", "0");
    let p = Producer::new(cfg).unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    while Instant::now() < until {
        p.send(Record::new(&topic).value(&format!("{what} {n}")))
            .and_then(|f| f.wait())
            .unwrap_or_else(|e| panic!("{what}: record {n} failed: {e}"));
        n += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    p.close(Duration::from_secs(10)).unwrap();
    assert!(n > 100, "{what}: only {n} records in 10 s");
}

#[test]
fn a_session_with_a_lifetime_re_authenticates_and_keeps_delivering() {
    // The listener's connections.max.reauth.ms is 3 s: the broker closes a connection whose
    // session expired at its next request.
    for mechanism in ["PLAIN", "SCRAM-SHA-256"] {
        keeps_delivering_for_10_s(
            mechanism,
            sasl(&kafka_listener("SASL_REAUTH"), false, mechanism, "alice", "alice-secret"),
        );
    }
}

/// Counts the tokens it hands out; each lives `lifetime`.
struct ShortLived {
    lifetime: Duration,
    issued: AtomicUsize,
}

impl OAuthBearerTokenProvider for ShortLived {
    fn token(&self) -> kafka_blocking::Result<OAuthBearerToken> {
        self.issued.fetch_add(1, Ordering::SeqCst);
        UnsecuredJwt::new("alice").lifetime(self.lifetime).token()
    }
}

#[test]
fn oauthbearer_tokens_are_renewed_before_they_expire() {
    // Tokens live 4 s and the listener re-authenticates every 3 s at most: a connection that kept
    // its first token would be closed (or its expired token refused).
    let provider = Arc::new(ShortLived { lifetime: Duration::from_secs(4), issued: AtomicUsize::new(0) });
    let cfg = config(&kafka_listener("SASL_REAUTH"), "SASL_PLAINTEXT")
        .set("sasl.mechanism", "OAUTHBEARER")
        .sasl_oauthbearer_token_provider(provider.clone());
    keeps_delivering_for_10_s("oauth", cfg);
    let issued = provider.issued.load(Ordering::SeqCst);
    // Two connections (bootstrap, leader) at first, then a fresh token every 2.5-2.9 s on each.
    assert!(issued >= 4, "only {issued} tokens in 10 s");
}
