//! Client telemetry (KIP-714) on Apache Kafka 4.4: the brokers of the main cluster run a
//! client-telemetry plugin (`scripts/telemetry/KbTelemetryReceiver.java`, started by
//! `scripts/kafka_cluster.py --telemetry`) that decodes every push with Kafka's own
//! OpenTelemetry classes and writes it to `telemetry-node<ID>.jsonl` in
//! `KB_KAFKA_TELEMETRY_DIR`; a `client-metrics` subscription asks clients whose `client.id`
//! matches `kb-telemetry.*` for `org.apache.kafka.producer.*` every second.

mod common;

use common::{create_topic, unique_topic};
use kafka_blocking::{ErrorKind, Producer, ProducerConfig, Record};
use std::process::Command;
use std::time::{Duration, Instant};

/// What the brokers received from client instance `id`, summarised by Python's json module:
/// `pushes terminating record_send_total topic_points node_points kinds`.
fn received(id: &str) -> Vec<String> {
    let dir = std::env::var("KB_KAFKA_TELEMETRY_DIR")
        .expect("KB_KAFKA_TELEMETRY_DIR is not set: run scripts/test.sh, which starts the brokers");
    let python = std::env::var("KB_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import glob, json, sys
d, want = sys.argv[1], sys.argv[2]
pushes = terminating = topic_points = node_points = 0
send_total = -1.0
kinds = set()
errors = []
for path in glob.glob(d + "/telemetry-node*.jsonl"):
    for line in open(path):
        p = json.loads(line)
        if p.get("client_instance_id") != want:
            continue
        if "error" in p:
            errors.append(p["error"])
            continue
        pushes += 1
        terminating += bool(p.get("terminating"))
        for m in p.get("metrics", []):
            kinds.add(m["name"] + ":" + m["kind"] + ":" + str(m.get("temporality", "")))
            for pt in m.get("points", []):
                if m["name"] == "org.apache.kafka.producer.record.send.total":
                    v = float(pt["value"])
                    # Deltas add up to the total; cumulative points are the total so far.
                    if m.get("temporality") == "delta":
                        send_total = max(send_total, 0.0) + v
                    else:
                        send_total = max(send_total, v)
                if "topic" in pt.get("attributes", {}):
                    topic_points += 1
                if "node_id" in pt.get("attributes", {}):
                    node_points += 1
print(pushes, terminating, send_total, topic_points, node_points, len(errors))
for e in errors:
    print("error", e)
for k in sorted(kinds):
    print(k)
"#;
    let out = Command::new(python).args(["-c", script, &dir, id]).output().expect("running python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

fn counts(lines: &[String]) -> Vec<f64> {
    lines[0].split(' ').map(|v| v.parse().unwrap()).collect()
}

#[test]
fn pushes_reach_apache_kafka_with_javas_names_and_a_terminating_push_on_close() {
    let b = common::kafka();
    let topic = unique_topic("telemetry");
    create_topic(&b, &topic, 2);
    let client_id = format!("kb-telemetry-{}", std::process::id());
    let p = Producer::new(ProducerConfig::new().bootstrap_servers(&b.bootstrap).set("client.id", &client_id))
        .unwrap();
    let id = p.client_instance_id(Duration::from_secs(15)).expect("the cluster assigns an instance id");
    let id_text = id.to_string();
    assert_eq!(id_text.len(), 22, "Kafka's Uuid text form: {id_text}");
    for i in 0..300 {
        p.send(Record::new(&topic).value(&format!("telemetry {i}"))).unwrap();
    }
    p.flush().unwrap();
    // The subscription's interval is 1 s: the first push comes within 1.5 s, then one a second.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let c = counts(&received(&id_text));
        if c[0] >= 2.0 && c[2] >= 300.0 {
            break;
        }
        assert!(Instant::now() < deadline, "no pushes with the records counted: {:?}", received(&id_text));
        std::thread::sleep(Duration::from_millis(250));
    }
    p.close(Duration::from_secs(10)).unwrap();
    let lines = received(&id_text);
    let c = counts(&lines);
    assert_eq!(c[5], 0.0, "the broker's decoder failed: {lines:?}");
    assert_eq!(c[1], 1.0, "exactly one terminating push, the last: {lines:?}");
    assert_eq!(c[2], 300.0, "record.send.total counts the 300 records, once each: {lines:?}");
    assert!(c[3] > 0.0 && c[4] > 0.0, "per-topic and per-node points: {lines:?}");
    let kinds = &lines[1..];
    // Kafka's client-metrics subscriptions ask for delta temporality.
    for want in [
        "org.apache.kafka.producer.record.send.total:sum:delta",
        "org.apache.kafka.producer.record.send.rate:gauge:",
        "org.apache.kafka.producer.node.request.latency.avg:gauge:",
        "org.apache.kafka.producer.topic.byte.total:sum:delta",
    ] {
        assert!(kinds.iter().any(|k| k == want), "{want} missing from {kinds:?}");
    }
    assert!(kinds.iter().all(|k| k.starts_with("org.apache.kafka.producer.")), "only the subscribed prefix");
}

#[test]
fn a_client_outside_the_subscription_gets_an_id_and_pushes_nothing() {
    let b = common::kafka();
    let p = Producer::new(
        ProducerConfig::new().bootstrap_servers(&b.bootstrap).set("client.id", "not-subscribed"),
    )
    .unwrap();
    let id = p.client_instance_id(Duration::from_secs(15)).unwrap().to_string();
    std::thread::sleep(Duration::from_secs(2));
    p.close(Duration::from_secs(10)).unwrap();
    assert_eq!(counts(&received(&id))[0], 0.0, "no subscription, no push");
}

#[test]
fn brokers_without_a_telemetry_plugin_make_client_instance_id_fail_fast() {
    // The transactions-v1 node runs no telemetry plugin.
    let b = common::kafka_tv1();
    let p = Producer::new(ProducerConfig::new().bootstrap_servers(&b.bootstrap)).unwrap();
    let started = Instant::now();
    let e = p.client_instance_id(Duration::from_secs(20)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::IllegalState, "{e}");
    assert!(e.to_string().contains("does not offer client telemetry"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10), "known once a broker is connected");
    // Telemetry off: refused at once.
    let p = Producer::new(ProducerConfig::new().bootstrap_servers(&b.bootstrap).enable_metrics_push(false))
        .unwrap();
    let e = p.client_instance_id(Duration::from_secs(20)).unwrap_err();
    assert!(e.to_string().contains("enable.metrics.push is false"), "{e}");
}
