//! The two example programs, run as a user runs them, against both third-party brokers; what they
//! wrote is read back with the independent consumer.
//!
//! The example binaries are built by `cargo test --all-targets` (what `scripts/test.sh` runs).

mod common;

use common::ConsumeOptions;
use common::*;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn example(name: &str) -> PathBuf {
    // Build it now, so that a run of this file alone never uses a stale binary.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status =
        Command::new(cargo).args(["build", "--quiet", "--example", name]).status().expect("run cargo build");
    assert!(status.success(), "cargo build --example {name} failed");
    // target/<profile>/deps/examples-<hash> -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().expect("test binary path");
    let path = exe.parent().and_then(|d| d.parent()).expect("target dir").join("examples").join(name);
    assert!(
        path.exists(),
        "{} is not built: run the tests with `cargo test --all-targets` (scripts/test.sh does)",
        path.display()
    );
    path
}

#[test]
fn quickstart_prints_where_each_record_landed() {
    for b in all_brokers() {
        let topic = unique_topic("quickstart");
        create_topic(&b, &topic, 3);
        let out = Command::new(example("quickstart"))
            .args(["--bootstrap-servers", &b.bootstrap, "--topic", &topic])
            .output()
            .expect("run quickstart");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "[{}] quickstart failed: {stdout}{}",
            b.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 5, "[{}] {stdout}", b.name);
        let got = consume(&b, &topic, 3, 5);
        for (i, line) in lines.iter().enumerate() {
            // topic/partition@offset
            let (tp, offset) = line.rsplit_once('@').expect("topic/partition@offset");
            let (t, partition) = tp.rsplit_once('/').expect("topic/partition");
            assert_eq!(t, topic);
            let (partition, offset): (i32, i64) = (partition.parse().unwrap(), offset.parse().unwrap());
            let r =
                got.iter().find(|r| r.partition == partition && r.offset == offset).unwrap_or_else(|| {
                    panic!("[{}] the consumer has nothing at {partition}@{offset}: {got:?}", b.name)
                });
            assert_eq!(r.key.as_deref(), Some(format!("key-{i}").as_bytes()), "[{}]", b.name);
            assert_eq!(
                r.value.as_deref(),
                Some(format!("hello from kafka-blocking #{i}").as_bytes()),
                "[{}]",
                b.name
            );
        }
    }
}

#[test]
fn quickstart_without_a_broker_produces_to_an_embedded_mock_cluster() {
    let out = Command::new(example("quickstart")).env_remove("KAFKA_BOOTSTRAP_SERVERS").output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("embedded mock cluster") && stderr.contains("--bootstrap-servers"), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    for l in lines {
        let (tp, offset) = l.split_once('@').expect("topic/partition@offset");
        let (topic, partition) = tp.split_once('/').unwrap();
        assert_eq!(topic, "quickstart");
        assert!(partition.parse::<i32>().unwrap() < 3 && offset.parse::<i64>().unwrap() >= 0, "{l}");
    }
}

fn console_producer(b: &Broker, topic: &str, input: &str, extra: &[&str]) -> (bool, String, String) {
    let mut child = Command::new(example("console_producer"))
        .args(["--bootstrap-servers", &b.bootstrap, "--topic", topic])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run console_producer");
    // A producer that exits early (bad settings) closes its stdin: that is not a test failure.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn console_producer_sends_each_line_with_key_and_settings() {
    for b in all_brokers() {
        let topic = unique_topic("console");
        create_topic(&b, &topic, 2);
        let input: String = (0..300).map(|i| format!("user-{}|line {i}\n", i % 7)).collect();
        let (ok, stdout, stderr) = console_producer(
            &b,
            &topic,
            &input,
            &["--key-separator", "|", "--property", "compression.type=lz4", "--property", "linger.ms=20"],
        );
        assert!(ok, "[{}] {stdout}{stderr}", b.name);
        assert!(stdout.contains("300 record(s) delivered, 0 failed"), "[{}] {stdout}", b.name);
        let got = consume(&b, &topic, 2, 300);
        // Same key -> same partition, and within a partition the lines keep their order.
        for p in 0..2 {
            let lines: Vec<usize> = got
                .iter()
                .filter(|r| r.partition == p)
                .map(|r| {
                    let v = String::from_utf8(r.value.clone().unwrap()).unwrap();
                    let i: usize = v.strip_prefix("line ").unwrap().parse().unwrap();
                    assert_eq!(r.key.as_deref(), Some(format!("user-{}", i % 7).as_bytes()));
                    i
                })
                .collect();
            assert!(lines.windows(2).all(|w| w[0] < w[1]), "[{}] partition {p} order: {lines:?}", b.name);
        }
        for p in 0..2 {
            assert!(batch_codecs(&b, &topic, p).iter().all(|c| c == "lz4"), "[{}] codec", b.name);
        }
    }
}

#[test]
fn console_producer_rejects_a_bad_property_naming_it() {
    let b = tansu();
    let (ok, _, stderr) = console_producer(&b, "unused", "x\n", &["--property", "linger.ms=soon"]);
    assert!(!ok);
    assert!(stderr.contains("linger.ms"), "{stderr}");
    let (ok, _, stderr) = console_producer(&b, "unused", "x\n", &["--property", "no.such.key=1"]);
    assert!(!ok);
    assert!(stderr.contains("no.such.key"), "{stderr}");
}

#[test]
fn console_producer_exits_non_zero_when_a_record_fails() {
    let b = tansu();
    let topic = unique_topic("console-fail");
    create_topic(&b, &topic, 1);
    let big = "x".repeat(2000);
    let input = format!("small\n{big}\n");
    let (ok, stdout, stderr) = console_producer(&b, &topic, &input, &["--property", "max.request.size=1000"]);
    assert!(!ok, "{stdout}");
    assert!(stdout.contains("1 record(s) delivered, 1 failed"), "{stdout}");
    assert!(stderr.contains("line 2") && stderr.contains("max.request.size=1000"), "{stderr}");
}

#[test]
fn console_producer_reads_json_lines_with_headers_partitions_and_timestamps() {
    let b = common::kafka();
    let topic = unique_topic("console-jsonl");
    create_topic(&b, &topic, 2);
    let input = concat!(
        "{\"key\": \"u1\", \"value\": \"hello\", \"headers\": {\"a\": \"1\", \"b\": null}, \"partition\": 1}\n",
        "\n",
        "{\"value\": null, \"partition\": 0, \"timestamp\": 1700000000000}\n",
        "{\"value\": \"not sent\", \"oops\": 1}\n",
        "{\"value\": \"esc \\\" \\u00e9\", \"partition\": 1}\n",
    );
    let (ok, stdout, stderr) = console_producer(&b, &topic, input, &["--jsonl", "-v", "-H", "src=cli", "-q"]);
    assert!(!ok, "a bad line makes the exit status 1: {stdout}{stderr}");
    assert!(stdout.contains("3 record(s) delivered, 1 failed"), "{stdout}");
    assert!(stdout.contains(&format!("line 1: {topic}/1@0")), "-v prints where each landed: {stdout}");
    assert!(stderr.contains("line 4: unknown field \"oops\""), "{stderr}");
    let got = consume(&b, &topic, 2, 3);
    let p1: Vec<_> = got.iter().filter(|r| r.partition == 1).collect();
    assert_eq!(p1[0].key.as_deref(), Some(&b"u1"[..]));
    assert_eq!(
        p1[0].headers,
        vec![("src".into(), Some(b"cli".to_vec())), ("a".into(), Some(b"1".to_vec())), ("b".into(), None)]
    );
    assert_eq!(p1[1].value.as_deref(), Some("esc \" é".as_bytes()));
    let p0: Vec<_> = got.iter().filter(|r| r.partition == 0).collect();
    assert_eq!((p0[0].value.as_ref(), p0[0].timestamp), (None, 1_700_000_000_000));
}

#[test]
fn console_producer_exit_codes_and_help() {
    let b = common::kafka();
    let out = Command::new(example("console_producer")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && help.contains("--jsonl") && help.contains("Exit status"), "{help}");
    let run = |args: &[&str]| Command::new(example("console_producer")).args(args).output().unwrap();
    let out = run(&["-b", &b.bootstrap, "-t", "x", "-f", "/nonexistent/input.txt"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["-b", &b.bootstrap, "-t", "x", "--frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown argument '--frobnicate'"));
    let out = run(&["-b", &b.bootstrap, "-t", "x", "-X", "acks=most"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("acks"));
}

#[test]
fn transactions_example_commits_good_batches_and_aborts_bad_ones() {
    for b in all_brokers() {
        let (input, valid, audit) =
            (unique_topic("tx-input"), unique_topic("tx-valid"), unique_topic("tx-audit"));
        for t in [&input, &valid, &audit] {
            create_topic(&b, t, 1);
        }
        let mut child = Command::new(example("transactions"))
            .args([
                "--bootstrap-servers",
                &b.bootstrap,
                "--input",
                &input,
                "--valid",
                &valid,
                "--audit",
                &audit,
            ])
            .args(["--batch", "2"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"10\n20\n30\noops\n40\n50\n").unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "[{}] {stdout}{}", b.name, String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            stdout.lines().collect::<Vec<_>>(),
            ["committed offsets 0..2", "aborted offsets 2..4: bad order \"oops\"", "committed offsets 4..6"],
            "[{}]",
            b.name
        );
        // The two committed batches (4 records per topic) are readable, with commit markers
        // around them; the aborted batch wrote nothing (it aborted before sending).
        let opts = ConsumeOptions { exact: false, check_crcs: !b.is_mock(), ..Default::default() };
        for topic in [&valid, &audit] {
            let got = try_consume(&b, topic, 1, 4, &opts).unwrap_or_else(|e| panic!("[{}] {e}", b.name));
            let keys: Vec<String> =
                got.iter().map(|r| String::from_utf8(r.key.clone().unwrap()).unwrap()).collect();
            assert_eq!(keys, ["order-0", "order-1", "order-4", "order-5"], "[{}] {topic}", b.name);
            let kinds: Vec<String> =
                batches(&b, topic, 0).into_iter().filter_map(|x| x.control_type).collect();
            assert_eq!(kinds, ["commit", "commit"], "[{}] {topic}", b.name);
        }
    }
}
