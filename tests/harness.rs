//! Proves the test harness itself, with no kafka-blocking code involved: records produced by
//! confluent-kafka on each third-party broker are read back exactly by `common::consume`, and
//! `common::batch_codecs` names the codec confluent-kafka compressed with.

mod common;

use common::{
    all_brokers, batch_codecs, batches, consume, create_topic, mock, mock_control, produce_sample,
    try_consume, unique_topic, ConsumeOptions,
};

fn sample_value(i: usize) -> Vec<u8> {
    format!("value-{i}-{}", "abcd".repeat(60)).into_bytes()
}

#[test]
fn consume_reads_back_keys_values_headers_and_timestamps_confluent_kafka_wrote() {
    for b in all_brokers() {
        let topic = unique_topic("harness-readback");
        create_topic(&b, &topic, 3);
        let delivered = produce_sample(&b, &topic, 50, Some(2), "none");
        assert_eq!(delivered.len(), 50, "[{}]", b.name);

        let got = consume(&b, &topic, 3, 50);
        for (i, r) in got.iter().enumerate() {
            assert_eq!(r.partition, 2, "[{}] record {i}", b.name);
            assert_eq!(r.offset, i as i64, "[{}] record {i}", b.name);
            assert_eq!(r.key.as_deref(), Some(format!("key-{i}").as_bytes()), "[{}] record {i}", b.name);
            assert_eq!(r.value.as_deref(), Some(&sample_value(i)[..]), "[{}] record {i}", b.name);
            assert_eq!(
                r.headers,
                vec![
                    ("h1".to_string(), Some(format!("a{i}").into_bytes())),
                    ("h2".to_string(), None),
                    ("h1".to_string(), Some(b"b".to_vec())),
                ],
                "[{}] record {i}",
                b.name
            );
            assert_eq!(r.timestamp, 1_700_000_000_000 + i as i64, "[{}] record {i}", b.name);
            assert_eq!(r.timestamp_type, "create_time", "[{}] record {i}", b.name);
        }
        let offsets: Vec<i64> = delivered.iter().map(|d| d.offset).collect();
        assert_eq!(offsets, (0..50).collect::<Vec<_>>(), "[{}] delivery reports", b.name);
    }
}

#[test]
fn batch_codecs_names_the_codec_each_batch_was_compressed_with() {
    for b in all_brokers() {
        for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
            let topic = unique_topic(&format!("harness-codec-{codec}"));
            create_topic(&b, &topic, 3);
            produce_sample(&b, &topic, 300, Some(1), codec);
            let stored = batches(&b, &topic, 1);
            assert!(!stored.is_empty(), "[{}] {codec}: no batches", b.name);
            assert_eq!(
                stored.iter().map(|s| s.records as usize).sum::<usize>(),
                300,
                "[{}] {codec}: {stored:?}",
                b.name
            );
            assert!(stored.iter().all(|s| s.codec == codec), "[{}] {codec}: {stored:?}", b.name);
            assert!(batch_codecs(&b, &topic, 0).is_empty(), "[{}] partition 0 should be empty", b.name);
            assert_eq!(consume(&b, &topic, 3, 300).len(), 300, "[{}] {codec}", b.name);
        }
    }
}

#[test]
fn consume_fails_when_fewer_records_arrive_than_expected() {
    for b in all_brokers() {
        let topic = unique_topic("harness-short");
        create_topic(&b, &topic, 1);
        produce_sample(&b, &topic, 3, Some(0), "none");
        let opts = ConsumeOptions { timeout_s: 2.0, ..ConsumeOptions::default() };
        let err = try_consume(&b, &topic, 1, 4, &opts).expect_err("4 of 3 records cannot be read");
        assert!(err.contains("read 3 of 4"), "[{}] {err}", b.name);
    }
}

#[test]
fn consume_fails_when_the_topic_holds_more_records_than_expected() {
    for b in all_brokers() {
        let topic = unique_topic("harness-extra");
        create_topic(&b, &topic, 2);
        produce_sample(&b, &topic, 5, Some(1), "none");
        let err =
            try_consume(&b, &topic, 2, 4, &ConsumeOptions::default()).expect_err("a fifth record exists");
        assert!(err.contains("1 more offsets"), "[{}] {err}", b.name);
        let lenient = ConsumeOptions { exact: false, ..ConsumeOptions::default() };
        assert_eq!(try_consume(&b, &topic, 2, 4, &lenient).unwrap().len(), 4, "[{}]", b.name);
    }
}

#[test]
fn create_topic_twice_is_fine_and_keeps_the_partition_count() {
    for b in all_brokers() {
        let topic = unique_topic("harness-twice");
        create_topic(&b, &topic, 4);
        create_topic(&b, &topic, 4);
        produce_sample(&b, &topic, 1, Some(3), "none");
        assert_eq!(consume(&b, &topic, 4, 1)[0].partition, 3, "[{}]", b.name);
    }
}

#[test]
fn mock_control_answers_commands() {
    let m = mock();
    assert_eq!(mock_control(&m, "ping"), "pong");
    assert_eq!(mock_control(&m, "bootstrap"), m.bootstrap);
    let topic = unique_topic("harness-control");
    assert_eq!(mock_control(&m, &format!("topic {topic} 2 3")), "0");
    assert_eq!(mock_control(&m, &format!("topic {topic} 2 3")), "36", "TOPIC_ALREADY_EXISTS");
    assert_eq!(mock_control(&m, &format!("leader {topic} 0 2")), "0");
    assert_eq!(mock_control(&m, "no-such-command"), "unknown");
}

#[test]
fn unique_topic_differs_between_calls() {
    let a = unique_topic("same");
    let b = unique_topic("same");
    assert_ne!(a, b);
    assert!(a.starts_with("same-"));
    assert!(unique_topic("a b/c").starts_with("a-b-c-"), "illegal topic characters are replaced");
}

#[test]
fn json_reader_parses_kafka_check_output() {
    use common::json::{parse, unhex};
    let v = parse(r#"{"a": [1, -2, null], "s": "x\"\u00e9\ud83d\ude00", "t": true, "o": {}}"#).unwrap();
    assert_eq!(v.get("a").unwrap().as_array().unwrap()[1].as_i64(), Some(-2));
    assert!(v.get("a").unwrap().as_array().unwrap()[2].is_null());
    assert_eq!(v.get("s").unwrap().as_str(), Some("x\"é😀"));
    assert_eq!(v.get("t").unwrap().as_bool(), Some(true));
    assert!(parse("{\"a\": 1} x").is_err());
    assert_eq!(unhex("00ff7f").unwrap(), vec![0, 255, 127]);
}

#[test]
fn reference_partitions_follow_javas_murmur2_rule() {
    // murmur2 values from Kafka's UtilsTest; partition = (murmur2 & 0x7fffffff) % partitions.
    let cases: [(&[u8], i32); 6] = [
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ];
    for b in all_brokers() {
        let topic = unique_topic("harness-murmur2");
        create_topic(&b, &topic, 7);
        let keys: Vec<Vec<u8>> = cases.iter().map(|(k, _)| k.to_vec()).collect();
        let got = common::reference_partitions(&b, &topic, &keys);
        let want: Vec<i32> = cases.iter().map(|&(_, h)| ((h as u32 & 0x7fff_ffff) % 7) as i32).collect();
        assert_eq!(got, want, "[{}]", b.name);
    }
}

#[test]
fn consume_decodes_a_hand_built_batch() {
    for b in all_brokers() {
        let topic = unique_topic("harness-raw");
        create_topic(&b, &topic, 2);
        assert_eq!(common::produce_raw(&b, &topic, 1, 3, false), 0, "[{}]", b.name);
        let got = consume(&b, &topic, 2, 3);
        for (i, r) in got.iter().enumerate() {
            assert_eq!((r.partition, r.offset), (1, i as i64), "[{}]", b.name);
            assert_eq!(r.key.as_deref(), Some(format!("raw-{i}").as_bytes()), "[{}]", b.name);
            assert_eq!(r.value.as_deref(), Some(format!("raw-value-{i}").as_bytes()), "[{}]", b.name);
            assert_eq!(r.timestamp, 1_700_000_000_000 + i as i64, "[{}]", b.name);
        }
        assert_eq!(batch_codecs(&b, &topic, 1), vec!["none"], "[{}]", b.name);
    }
}

#[test]
fn consume_fails_on_a_batch_with_a_bad_crc() {
    // Neither stand-in checks CRCs on produce; the read-back (check.crcs=true) must.
    for b in [common::tansu(), common::mock()] {
        let topic = unique_topic("harness-badcrc");
        create_topic(&b, &topic, 1);
        common::produce_raw(&b, &topic, 0, 2, true);
        let opts = ConsumeOptions { timeout_s: 10.0, ..ConsumeOptions::default() };
        let err = try_consume(&b, &topic, 1, 2, &opts).expect_err("a corrupt batch must not read back");
        assert!(err.contains("CRC"), "[{}] {err}", b.name);
    }
}

#[test]
fn apache_kafka_refuses_a_batch_with_a_bad_crc() {
    // Apache Kafka checks every batch's CRC-32C on produce: CORRUPT_MESSAGE (2), nothing stored.
    let b = common::kafka();
    let topic = unique_topic("harness-badcrc-kafka");
    create_topic(&b, &topic, 1);
    let (_, code) = common::produce_raw_answer(&b, &topic, 0, 2, true);
    assert_eq!(code, 2, "[kafka] a batch with a flipped CRC bit must be refused with CORRUPT_MESSAGE");
    // The same batch with its CRC intact is stored and reads back.
    assert_eq!(common::produce_raw(&b, &topic, 0, 2, false), 0, "[kafka] base offset");
    assert_eq!(consume(&b, &topic, 1, 2).len(), 2);
}
