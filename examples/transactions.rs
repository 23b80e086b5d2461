//! The read-process-write shape with a transactional producer: each batch of input records is
//! processed and written to two topics, and the input position is committed as consumer-group
//! offsets, all in one transaction. A batch with a bad record is aborted: none of its output
//! becomes visible to read_committed consumers and its offsets are not committed.
//!
//! ```text
//! printf '10\n20\noops\n30\n' | cargo run --example transactions -- \
//!     --bootstrap-servers localhost:9092 [--input orders --valid orders-valid --audit orders-audit] [--batch 2]
//! ```
//! Input comes from stdin (one order amount per line) standing in for a consumer of `--input`;
//! line n is that topic's offset n. Prints one line per transaction and exits non-zero if a
//! transaction could not be committed or aborted.

use kafka_blocking::{ConsumerGroupMetadata, Error, OffsetToCommit, Producer, ProducerConfig, Record};
use std::io::BufRead;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);

struct Args {
    bootstrap: String,
    input: String,
    valid: String,
    audit: String,
    batch: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        bootstrap: std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_default(),
        input: "orders".into(),
        valid: "orders-valid".into(),
        audit: "orders-audit".into(),
        batch: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--bootstrap-servers" => a.bootstrap = value()?,
            "--input" => a.input = value()?,
            "--valid" => a.valid = value()?,
            "--audit" => a.audit = value()?,
            "--batch" => a.batch = value()?.parse().map_err(|e| format!("--batch: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.bootstrap.is_empty() {
        return Err("pass --bootstrap-servers or set KAFKA_BOOTSTRAP_SERVERS".into());
    }
    Ok(a)
}

/// The "process" step: an order amount must be a positive integer.
fn process(line: &str) -> Result<u64, String> {
    line.trim().parse::<u64>().ok().filter(|&v| v > 0).ok_or_else(|| format!("bad order {line:?}"))
}

/// Writes one batch in a transaction; aborts it if a record cannot be processed.
fn run_batch(
    p: &Producer,
    a: &Args,
    group: &ConsumerGroupMetadata,
    first_offset: i64,
    lines: &[String],
) -> Result<bool, Error> {
    p.begin_transaction()?;
    for (i, line) in lines.iter().enumerate() {
        let amount = match process(line) {
            Ok(v) => v,
            Err(why) => {
                p.abort_transaction(TIMEOUT)?;
                println!("aborted offsets {first_offset}..{}: {why}", first_offset + lines.len() as i64);
                return Ok(false);
            }
        };
        let key = format!("order-{}", first_offset + i as i64);
        p.send(Record::new(&a.valid).key(&key).value(amount.to_string().as_bytes()))?;
        p.send(Record::new(&a.audit).key(&key).value(format!("validated {amount}").as_bytes()))?;
    }
    let next = first_offset + lines.len() as i64;
    p.send_offsets_to_transaction(&[OffsetToCommit::new(&a.input, 0, next)], group, TIMEOUT)?;
    match p.commit_transaction(TIMEOUT) {
        Ok(()) => {
            println!("committed offsets {first_offset}..{next}");
            Ok(true)
        }
        Err(e) if !e.is_fatal() => {
            // Nothing of this batch is committed: abort, and let the caller decide.
            p.abort_transaction(TIMEOUT)?;
            println!("aborted offsets {first_offset}..{next}: commit failed: {e}");
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("transactions: {e}");
            std::process::exit(2);
        }
    };
    let config =
        ProducerConfig::new().bootstrap_servers(&a.bootstrap).transactional_id("transactions-example");
    let result = (|| -> Result<(), Error> {
        let p = Producer::new(config)?;
        p.init_transactions(TIMEOUT)?;
        let group = ConsumerGroupMetadata::new("transactions-example");
        let lines: Vec<String> = std::io::stdin().lock().lines().map_while(Result::ok).collect();
        let mut offset = 0i64;
        for chunk in lines.chunks(a.batch.max(1)) {
            run_batch(&p, &a, &group, offset, chunk)?;
            offset += chunk.len() as i64;
        }
        p.close(TIMEOUT)
    })();
    if let Err(e) = result {
        eprintln!("transactions: {e}");
        std::process::exit(1);
    }
}
