//! librdkafka's producer (rdkafka's `BaseProducer`, polled by the sending thread, as librdkafka's
//! own `rdkafka_performance` does) with kafka-blocking's perf command line and output. Latency is
//! measured from `send` to the delivery report.

#[path = "../../perf_common.rs"]
mod perf_common;

use perf_common::{payloads, Stats};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Ctx {
    stats: &'static Stats,
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
    let a = perf_common::args_or_exit();
    let stats = Stats::leak(a.num_records);
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &a.bootstrap);
    for (k, v) in &a.props {
        config.set(k, v);
    }
    let producer: Arc<BaseProducer<Ctx>> = match config.create_with_context(Ctx { stats }) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let states: Vec<_> = (0..a.threads).map(|_| (producer.clone(), stats, a.topic.clone())).collect();
    type State = (Arc<BaseProducer<Ctx>>, &'static Stats, String);
    let send = |(producer, stats, topic): &mut State, i: u64, payload: &[u8]| {
        let mut opaque = Box::new((Instant::now(), i, payload.len()));
        loop {
            let record: BaseRecord<'_, (), [u8], _> = BaseRecord::with_opaque_to(topic, opaque).payload(payload);
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
    };
    // Delivery reports come only through poll: keep polling while ahead of schedule.
    let wait_until = |(producer, _, _): &State, due: Instant| {
        while Instant::now() < due {
            producer.poll(Duration::ZERO);
            std::thread::sleep(due.saturating_duration_since(Instant::now()).min(Duration::from_millis(1)));
        }
    };
    let flush = || {
        if let Err(e) = producer.flush(Duration::from_secs(120)) {
            eprintln!("flush: {e}");
        }
    };
    let elapsed = perf_common::run(&a, stats, payloads(&a), states, send, wait_until, flush);
    stats.print_total(elapsed);
    std::process::exit(if stats.failed() > 0 { 1 } else { 0 });
}
