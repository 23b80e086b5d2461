//! A console producer: sends each line of stdin (or a file) as a record, like `kcat -P` or
//! Kafka's `kafka-console-producer.sh`. Run `--help` for the options.
//!
//! ```text
//! cargo run --example console_producer -- -b localhost:9092 -t demo -K : -H source=cli < lines.txt
//! cargo run --example console_producer -- -b localhost:9092 -t demo --jsonl -f events.jsonl -v
//! ```
//! Waits for every delivery, prints a summary, and exits 0 when every record was delivered,
//! 1 when some failed, 2 on bad arguments or settings, 3 when the input cannot be read.

use kafka_blocking::{Producer, ProducerConfig, Record, SendFuture};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

const HELP: &str = "\
console_producer: send lines as Kafka records

usage: console_producer -b HOST:PORT[,...] -t TOPIC [options] [< input]

  -b, --bootstrap-servers LIST  brokers to start from (or KAFKA_BOOTSTRAP_SERVERS)
  -t, --topic NAME              topic to send to
  -f, --file PATH               read records from PATH instead of stdin
  -K, --key-separator SEP       split each line at the first SEP into key and value
                                (a line without SEP is sent with a null key, with a warning)
  -H, --header KEY=VALUE        add this header to every record (repeatable)
  -p, --partition N             send every record to partition N (default: the partitioner)
      --jsonl                   JSON Lines input: one object per line with \"value\" and
                                optionally \"key\", \"headers\" ({\"name\": \"value\"}),
                                \"partition\" and \"timestamp\" (ms); strings or null
  -X, --property KEY=VALUE      a producer property, Java's names (repeatable),
                                e.g. -X compression.type=zstd -X acks=1
  -v, --verbose                 print topic/partition@offset for every record
  -q, --quiet                   no progress line
  -h, --help                    this text

Exit status: 0 all delivered; 1 some records failed (each is reported with its line
number); 2 bad arguments or producer settings; 3 the input could not be read.";

struct Args {
    bootstrap: Option<String>,
    topic: Option<String>,
    file: Option<String>,
    key_separator: Option<String>,
    headers: Vec<(String, String)>,
    partition: Option<i32>,
    jsonl: bool,
    properties: Vec<(String, String)>,
    verbose: bool,
    quiet: bool,
}

fn key_value(flag: &str, kv: &str) -> Result<(String, String), String> {
    let (k, v) = kv.split_once('=').ok_or(format!("{flag} expects KEY=VALUE, got '{kv}'"))?;
    Ok((k.trim().to_string(), v.to_string()))
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        bootstrap: std::env::var("KAFKA_BOOTSTRAP_SERVERS").ok(),
        topic: None,
        file: None,
        key_separator: None,
        headers: Vec::new(),
        partition: None,
        jsonl: false,
        properties: Vec::new(),
        verbose: std::env::var_os("CONSOLE_PRODUCER_VERBOSE").is_some(),
        quiet: false,
    };
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "-b" | "--bootstrap-servers" => a.bootstrap = Some(value(&arg)?),
            "-t" | "--topic" => a.topic = Some(value(&arg)?),
            "-f" | "--file" => a.file = Some(value(&arg)?),
            "-K" | "--key-separator" => a.key_separator = Some(value(&arg)?),
            "-H" | "--header" => a.headers.push(key_value(&arg, &value(&arg)?)?),
            "-p" | "--partition" => {
                let v = value(&arg)?;
                a.partition =
                    Some(v.parse().map_err(|_| format!("{arg} expects a partition number, got '{v}'"))?);
            }
            "--jsonl" => a.jsonl = true,
            "-X" | "--property" => {
                let (k, v) = key_value(&arg, &value(&arg)?)?;
                a.properties.push((k, v.trim().to_string()));
            }
            "-v" | "--verbose" => a.verbose = true,
            "-q" | "--quiet" => a.quiet = true,
            "-h" | "--help" => {
                println!("{HELP}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument '{other}' (see --help)")),
        }
    }
    if a.jsonl && a.key_separator.is_some() {
        return Err("--jsonl and --key-separator do not go together (JSON lines carry their key)".into());
    }
    Ok(a)
}

/// One input line as a record's parts.
#[derive(Debug, Default, PartialEq)]
struct Parsed {
    key: Option<String>,
    value: Option<String>,
    headers: Vec<(String, Option<String>)>,
    partition: Option<i32>,
    timestamp: Option<i64>,
}

fn parse_line(line: &str, args: &Args) -> Result<(Parsed, Option<String>), String> {
    if args.jsonl {
        return json::record(line).map(|p| (p, None));
    }
    let mut warning = None;
    let (key, value) = match &args.key_separator {
        Some(sep) => match line.split_once(sep.as_str()) {
            Some((k, v)) => (Some(k.to_string()), v.to_string()),
            None => {
                warning = Some(format!("no key separator '{sep}'; sent with a null key"));
                (None, line.to_string())
            }
        },
        None => (None, line.to_string()),
    };
    Ok((Parsed { key, value: Some(value), ..Parsed::default() }, warning))
}

fn main() {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("console_producer: {e}");
            std::process::exit(2);
        }
    };
    let (Some(bootstrap), Some(topic)) = (args.bootstrap.clone(), args.topic.clone()) else {
        eprintln!("console_producer: --bootstrap-servers (or KAFKA_BOOTSTRAP_SERVERS) and --topic are required (see --help)");
        std::process::exit(2);
    };
    let input: Box<dyn BufRead> = match &args.file {
        Some(path) => match std::fs::File::open(path) {
            Ok(f) => Box::new(BufReader::new(f)),
            Err(e) => {
                eprintln!("console_producer: cannot open {path}: {e}");
                std::process::exit(3);
            }
        },
        None => Box::new(BufReader::new(std::io::stdin())),
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

    let mut t = Tally::default();
    let mut read_error = false;
    let mut pending: VecDeque<(usize, SendFuture)> = VecDeque::new();
    let started = Instant::now();
    let mut next_progress = started + Duration::from_secs(2);
    for (n, line) in input.lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("console_producer: reading the input at line {}: {e}", n + 1);
                read_error = true;
                break;
            }
        };
        let lines = n + 1;
        if args.jsonl && line.trim().is_empty() {
            continue;
        }
        let (parsed, warning) = match parse_line(&line, &args) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("line {}: {e}; not sent", n + 1);
                t.failed += 1;
                continue;
            }
        };
        if let Some(w) = warning {
            eprintln!("line {}: {w}", n + 1);
        }
        let mut record = Record::new(&topic);
        if let Some(v) = &parsed.value {
            record = record.value(v);
        }
        if let Some(k) = &parsed.key {
            record = record.key(k);
        }
        for (k, v) in &args.headers {
            record = record.header(k, v);
        }
        for (k, v) in &parsed.headers {
            record = match v {
                Some(v) => record.header(k, v),
                None => record.header_null(k),
            };
        }
        if let Some(p) = parsed.partition.or(args.partition) {
            record = record.partition(p);
        }
        if let Some(ts) = parsed.timestamp {
            record = record.timestamp(ts);
        }
        match producer.send(record) {
            Ok(f) => pending.push_back((n + 1, f)),
            Err(e) => {
                eprintln!("line {}: {e}", n + 1);
                t.failed += 1;
            }
        }
        settle(&mut pending, false, args.verbose, &mut t);
        if !args.quiet && Instant::now() >= next_progress {
            next_progress += Duration::from_secs(2);
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "console_producer: {lines} lines read, {} delivered, {} failed ({:.0} lines/s)",
                t.delivered,
                t.failed,
                lines as f64 / secs
            );
        }
    }
    settle(&mut pending, true, args.verbose, &mut t);
    if let Err(e) = producer.close(Duration::from_secs(30)) {
        eprintln!("console_producer: close: {e}");
    }
    println!("{} record(s) delivered, {} failed", t.delivered, t.failed);
    std::process::exit(if read_error {
        3
    } else if t.failed > 0 {
        1
    } else {
        0
    });
}

#[derive(Default)]
struct Tally {
    delivered: usize,
    failed: usize,
}

/// Reports the records whose result is in, oldest first (all of them when `all`); keeps at
/// most 100,000 waiting so memory stays bounded.
fn settle(pending: &mut VecDeque<(usize, SendFuture)>, all: bool, verbose: bool, t: &mut Tally) {
    while let Some((_, f)) = pending.front() {
        if !(all || f.is_done() || pending.len() > 100_000) {
            break;
        }
        let (line, f) = pending.pop_front().expect("checked");
        match f.wait() {
            Ok(meta) => {
                t.delivered += 1;
                if verbose {
                    println!("line {line}: {meta}");
                }
            }
            Err(e) => {
                eprintln!("line {line}: {e}");
                t.failed += 1;
            }
        }
    }
}

/// Just enough JSON for `--jsonl`: one object per line; strings, numbers, null, booleans,
/// and a nested object for `headers`.
mod json {
    use super::Parsed;

    #[derive(Debug, PartialEq)]
    enum Value {
        Null,
        Bool(bool),
        Number(f64),
        Str(String),
        Object(Vec<(String, Value)>),
    }

    struct P<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl P<'_> {
        fn ws(&mut self) {
            while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
                self.i += 1;
            }
        }
        fn eat(&mut self, c: u8) -> Result<(), String> {
            self.ws();
            if self.s.get(self.i) == Some(&c) {
                self.i += 1;
                Ok(())
            } else {
                Err(format!("JSON: expected '{}' at column {}", c as char, self.i + 1))
            }
        }
        fn string(&mut self) -> Result<String, String> {
            self.eat(b'"')?;
            let mut out = Vec::new();
            while let Some(&c) = self.s.get(self.i) {
                self.i += 1;
                match c {
                    b'"' => {
                        return String::from_utf8(out).map_err(|_| "JSON: a string is not UTF-8".to_string())
                    }
                    b'\\' => {
                        let e = *self.s.get(self.i).ok_or("JSON: unfinished escape")?;
                        self.i += 1;
                        match e {
                            b'n' => out.push(b'\n'),
                            b't' => out.push(b'\t'),
                            b'r' => out.push(b'\r'),
                            b'b' => out.push(8),
                            b'f' => out.push(12),
                            b'u' => {
                                let hex = self.s.get(self.i..self.i + 4).ok_or("JSON: short \\u escape")?;
                                let code = u32::from_str_radix(std::str::from_utf8(hex).unwrap_or("x"), 16)
                                    .map_err(|_| "JSON: bad \\u escape")?;
                                self.i += 4;
                                let ch = char::from_u32(code).unwrap_or('\u{fffd}');
                                out.extend_from_slice(ch.to_string().as_bytes());
                            }
                            other => out.push(other),
                        }
                    }
                    c => out.push(c),
                }
            }
            Err("JSON: unterminated string".into())
        }
        fn value(&mut self) -> Result<Value, String> {
            self.ws();
            match self.s.get(self.i) {
                Some(b'"') => self.string().map(Value::Str),
                Some(b'{') => self.object(),
                Some(b'n') if self.s[self.i..].starts_with(b"null") => {
                    self.i += 4;
                    Ok(Value::Null)
                }
                Some(b't') if self.s[self.i..].starts_with(b"true") => {
                    self.i += 4;
                    Ok(Value::Bool(true))
                }
                Some(b'f') if self.s[self.i..].starts_with(b"false") => {
                    self.i += 5;
                    Ok(Value::Bool(false))
                }
                Some(c) if c.is_ascii_digit() || *c == b'-' => {
                    let start = self.i;
                    while self.i < self.s.len() && b"+-.eE0123456789".contains(&self.s[self.i]) {
                        self.i += 1;
                    }
                    let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                    text.parse().map(Value::Number).map_err(|_| format!("JSON: bad number '{text}'"))
                }
                _ => Err(format!("JSON: unexpected input at column {}", self.i + 1)),
            }
        }
        fn object(&mut self) -> Result<Value, String> {
            self.eat(b'{')?;
            let mut fields = Vec::new();
            self.ws();
            if self.s.get(self.i) == Some(&b'}') {
                self.i += 1;
                return Ok(Value::Object(fields));
            }
            loop {
                let k = self.string()?;
                self.eat(b':')?;
                fields.push((k, self.value()?));
                self.ws();
                match self.s.get(self.i) {
                    Some(b',') => self.i += 1,
                    Some(b'}') => {
                        self.i += 1;
                        return Ok(Value::Object(fields));
                    }
                    _ => return Err(format!("JSON: expected ',' or '}}' at column {}", self.i + 1)),
                }
            }
        }
    }

    fn text(v: Value, field: &str) -> Result<Option<String>, String> {
        match v {
            Value::Null => Ok(None),
            Value::Str(s) => Ok(Some(s)),
            Value::Number(n) => Ok(Some(n.to_string())),
            Value::Bool(b) => Ok(Some(b.to_string())),
            Value::Object(_) => Err(format!("\"{field}\" must be a string or null")),
        }
    }

    /// One JSON Lines record.
    pub(super) fn record(line: &str) -> Result<Parsed, String> {
        let mut p = P { s: line.as_bytes(), i: 0 };
        let Value::Object(fields) = p.object()? else { unreachable!("object() returns objects") };
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("JSON: text after the object at column {}", p.i + 1));
        }
        let mut out = Parsed::default();
        for (k, v) in fields {
            match k.as_str() {
                "key" => out.key = text(v, "key")?,
                "value" => out.value = text(v, "value")?,
                "partition" => match v {
                    Value::Number(n) if n.fract() == 0.0 && n >= 0.0 => out.partition = Some(n as i32),
                    _ => return Err("\"partition\" must be a non-negative whole number".into()),
                },
                "timestamp" => match v {
                    Value::Number(n) if n.fract() == 0.0 && n >= 0.0 => out.timestamp = Some(n as i64),
                    _ => return Err("\"timestamp\" must be a non-negative whole number (ms)".into()),
                },
                "headers" => match v {
                    Value::Object(h) => {
                        for (hk, hv) in h {
                            let hv = text(hv, &format!("headers.{hk}"))?;
                            out.headers.push((hk, hv));
                        }
                    }
                    _ => return Err("\"headers\" must be an object of name: value".into()),
                },
                other => {
                    return Err(format!(
                        "unknown field \"{other}\" (key, value, headers, partition, timestamp)"
                    ))
                }
            }
        }
        Ok(out)
    }
}
