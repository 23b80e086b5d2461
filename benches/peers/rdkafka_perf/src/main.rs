//! librdkafka's producer (rdkafka's `BaseProducer`, polled by the sending thread, as librdkafka's
//! own `rdkafka_performance` does) with kafka-blocking's perf command line and output. Latency is
//! measured from `send` to the delivery report.

#[path = "../../perf_common.rs"]
mod perf_common;

use perf_common::{parse_args, payloads, Rng, Stats};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Ctx {
    stats: Arc<Stats>,
}

impl ClientContext for Ctx {}

impl ProducerContext for Ctx {
    type DeliveryOpaque = Box<(Instant, u64, usize)>;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Self::DeliveryOpaque) {
        let (sent_at, iteration, len) = *opaque;
        match result {
            Ok(_) => self.stats.record(iteration, sent_at.elapsed(), len),
            Err((e, _)) => self.stats.error(e.to_string()),
        }
    }
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let payloads = Arc::new(payloads(&a));
    let stats = Arc::new(Stats::new(a.num_records));
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &a.bootstrap);
    for (k, v) in &a.props {
        config.set(k, v);
    }
    let producer: Arc<BaseProducer<Ctx>> = match config.create_with_context(Ctx { stats: stats.clone() }) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let per_thread = a.num_records / a.threads as u64;
    let extra = a.num_records % a.threads as u64;
    let rate_per_thread = if a.throughput > 0.0 { a.throughput / a.threads as f64 } else { -1.0 };
    let start = Instant::now();
    let senders: Vec<_> = (0..a.threads)
        .map(|t| {
            let (producer, stats, payloads, topic) =
                (producer.clone(), stats.clone(), payloads.clone(), a.topic.clone());
            let n = per_thread + u64::from((t as u64) < extra);
            std::thread::spawn(move || {
                let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ (t as u64 + 1));
                for i in 0..n {
                    if let Some(due) = perf_common::due(start, i, rate_per_thread) {
                        while Instant::now() < due {
                            producer.poll(Duration::ZERO);
                            std::thread::sleep((due - Instant::now()).min(Duration::from_millis(1)));
                        }
                    }
                    let payload = &payloads[(rng.next() % payloads.len() as u64) as usize];
                    let mut opaque = Box::new((Instant::now(), i, payload.len()));
                    loop {
                        let record: BaseRecord<'_, (), [u8], _> = BaseRecord::with_opaque_to(&topic, opaque).payload(payload);
                        match producer.send(record) {
                            Ok(()) => break,
                            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                                opaque = r.delivery_opaque;
                                producer.poll(Duration::from_millis(1));
                            }
                            Err((e, _)) => {
                                stats.error(e.to_string());
                                break;
                            }
                        }
                    }
                    if i % 1024 == 0 {
                        producer.poll(Duration::ZERO);
                    }
                }
            })
        })
        .collect();
    let reporter = {
        let stats = stats.clone();
        let total = a.num_records;
        std::thread::spawn(move || stats.report_until(total))
    };
    for s in senders {
        let _ = s.join();
    }
    if let Err(e) = producer.flush(Duration::from_secs(120)) {
        eprintln!("flush: {e}");
    }
    let _ = reporter.join();
    stats.print_total(start.elapsed());
    std::process::exit(if stats.failed() > 0 { 1 } else { 0 });
}
