//! Reads lines from stdin and sends each as a record, like Kafka's console producer.
//!
//! ```text
//! cargo run --example console_producer -- --bootstrap-servers localhost:9092 --topic demo \
//!     [--key-separator :] [--property compression.type=zstd] ...
//! ```
//! Waits for every delivery, prints a summary, and exits non-zero if any record failed.

use kafka_blocking::{Producer, ProducerConfig, Record, SendFuture};
use std::io::BufRead;
use std::time::Duration;

struct Args {
    bootstrap: Option<String>,
    topic: Option<String>,
    key_separator: Option<String>,
    properties: Vec<(String, String)>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        bootstrap: std::env::var("KAFKA_BOOTSTRAP_SERVERS").ok(),
        topic: None,
        key_separator: None,
        properties: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--bootstrap-servers" => a.bootstrap = Some(value("--bootstrap-servers")?),
            "--topic" => a.topic = Some(value("--topic")?),
            "--key-separator" => a.key_separator = Some(value("--key-separator")?),
            "--property" => {
                let kv = value("--property")?;
                let (k, v) = kv.split_once('=').ok_or(format!("--property expects key=value, got '{kv}'"))?;
                a.properties.push((k.trim().to_string(), v.trim().to_string()));
            }
            "-h" | "--help" => {
                println!(
                    "usage: console_producer --bootstrap-servers HOST:PORT --topic NAME \
                     [--key-separator SEP] [--property key=value]..."
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("console_producer: {e}");
            std::process::exit(2);
        }
    };
    let (Some(bootstrap), Some(topic)) = (args.bootstrap, args.topic) else {
        eprintln!(
            "console_producer: --bootstrap-servers (or KAFKA_BOOTSTRAP_SERVERS) and --topic are required"
        );
        std::process::exit(2);
    };
    let mut config = ProducerConfig::new().bootstrap_servers(bootstrap);
    for (k, v) in &args.properties {
        config = config.set(k, v);
    }
    let producer = match Producer::new(config) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("console_producer: {e}");
            std::process::exit(2);
        }
    };

    let mut pending: Vec<(usize, SendFuture)> = Vec::new();
    let mut failed = 0usize;
    let mut sent = 0usize;
    let stdin = std::io::stdin();
    for (n, line) in stdin.lock().lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("console_producer: reading stdin: {e}");
                failed += 1;
                break;
            }
        };
        let (key, value) = match &args.key_separator {
            Some(sep) => match line.split_once(sep.as_str()) {
                Some((k, v)) => (Some(k), v),
                None => {
                    eprintln!("line {}: no key separator '{sep}'; sent with a null key", n + 1);
                    (None, line.as_str())
                }
            },
            None => (None, line.as_str()),
        };
        let mut record = Record::new(&topic).value(value);
        if let Some(k) = key {
            record = record.key(k);
        }
        match producer.send(record) {
            Ok(f) => pending.push((n + 1, f)),
            Err(e) => {
                eprintln!("line {}: {e}", n + 1);
                failed += 1;
            }
        }
    }
    for (line, f) in pending {
        match f.wait() {
            Ok(meta) => {
                sent += 1;
                log_delivery(line, &meta);
            }
            Err(e) => {
                eprintln!("line {line}: {e}");
                failed += 1;
            }
        }
    }
    if let Err(e) = producer.close(Duration::from_secs(30)) {
        eprintln!("console_producer: close: {e}");
    }
    println!("{sent} record(s) delivered, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}

fn log_delivery(line: usize, meta: &kafka_blocking::RecordMetadata) {
    if std::env::var_os("CONSOLE_PRODUCER_VERBOSE").is_some() {
        println!("line {line} -> {meta}");
    }
}
