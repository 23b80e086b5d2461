//! The OpenTelemetry metrics payload of a PushTelemetry request: `MetricsData` of
//! `opentelemetry/proto/metrics/v1/metrics.proto`, written in protobuf's wire format by hand
//! (no protobuf dependency): only the messages and fields KIP-714 clients use.
//!
//! ```text
//! MetricsData      { repeated ResourceMetrics resource_metrics = 1; }
//! ResourceMetrics  { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; }
//! Resource         { repeated KeyValue attributes = 1; }
//! ScopeMetrics     { InstrumentationScope scope = 1; repeated Metric metrics = 2; }
//! InstrumentationScope { string name = 1; string version = 2; }
//! Metric           { string name = 1; string description = 2; Gauge gauge = 5; Sum sum = 7; }
//! Gauge            { repeated NumberDataPoint data_points = 1; }
//! Sum              { repeated NumberDataPoint data_points = 1;
//!                    AggregationTemporality aggregation_temporality = 2; bool is_monotonic = 3; }
//! NumberDataPoint  { fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
//!                    double as_double = 4; repeated KeyValue attributes = 7; }
//! KeyValue         { string key = 1; AnyValue value = 2; }
//! AnyValue         { string string_value = 1; }
//! ```
//!
//! Runs on: sender thread.

/// How a sum's points relate to each other (`AggregationTemporality`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Temporality {
    /// Each point covers the time since the previous push (1).
    Delta = 1,
    /// Each point covers the time since the producer started (2).
    Cumulative = 2,
}

/// What kind of metric a point belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A value at a moment (rates, averages, maxima, levels).
    Gauge,
    /// A monotonic sum (totals).
    Sum(Temporality),
}

/// One metric with its single data point.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Point<'a> {
    pub(crate) name: &'a str,
    pub(crate) description: &'a str,
    pub(crate) kind: Kind,
    pub(crate) attributes: &'a [(&'a str, &'a str)],
    pub(crate) start_unix_nanos: u64,
    pub(crate) time_unix_nanos: u64,
    pub(crate) value: f64,
}

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_key(out: &mut Vec<u8>, field: u32, wire: u32) {
    put_varint(out, u64::from(field << 3 | wire));
}

fn put_str(out: &mut Vec<u8>, field: u32, s: &str) {
    if s.is_empty() {
        return; // proto3: a default value is not written
    }
    put_key(out, field, LEN);
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_fixed64(out: &mut Vec<u8>, field: u32, v: u64) {
    put_key(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

/// Writes a length-delimited sub-message: `body` fills it.
fn put_message(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    body(&mut inner);
    put_key(out, field, LEN);
    put_varint(out, inner.len() as u64);
    out.extend_from_slice(&inner);
}

fn put_attribute(out: &mut Vec<u8>, field: u32, key: &str, value: &str) {
    put_message(out, field, |kv| {
        put_str(kv, 1, key);
        put_message(kv, 2, |any| put_str(any, 1, value));
    });
}

/// The `MetricsData` message: one resource with `resource` attributes, one instrumentation
/// scope `scope`/`version`, and `points`.
pub(crate) fn metrics_data(
    resource: &[(&str, &str)],
    scope: &str,
    version: &str,
    points: &[Point<'_>],
) -> Vec<u8> {
    let mut out = Vec::new();
    put_message(&mut out, 1, |rm| {
        put_message(rm, 1, |res| {
            for (k, v) in resource {
                put_attribute(res, 1, k, v);
            }
        });
        put_message(rm, 2, |sm| {
            put_message(sm, 1, |s| {
                put_str(s, 1, scope);
                put_str(s, 2, version);
            });
            for p in points {
                put_message(sm, 2, |m| metric(m, p));
            }
        });
    });
    out
}

fn metric(m: &mut Vec<u8>, p: &Point<'_>) {
    put_str(m, 1, p.name);
    put_str(m, 2, p.description);
    let data_point = |dp: &mut Vec<u8>| {
        put_fixed64(dp, 2, p.start_unix_nanos);
        put_fixed64(dp, 3, p.time_unix_nanos);
        put_fixed64(dp, 4, p.value.to_bits());
        for (k, v) in p.attributes {
            put_attribute(dp, 7, k, v);
        }
    };
    match p.kind {
        Kind::Gauge => put_message(m, 5, |g| put_message(g, 1, data_point)),
        Kind::Sum(t) => put_message(m, 7, |s| {
            put_message(s, 1, data_point);
            put_key(s, 2, VARINT);
            put_varint(s, t as u64);
            put_key(s, 3, VARINT);
            put_varint(s, 1);
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_gauge() {
        let p = Point {
            name: "a",
            description: "",
            kind: Kind::Gauge,
            attributes: &[("k", "v")],
            start_unix_nanos: 0,
            time_unix_nanos: 1,
            value: 2.0,
        };
        let got = metrics_data(&[], "s", "", &[p]);
        #[rustfmt::skip]
        let data_point: Vec<u8> = [
            &[0x11][..], &0u64.to_le_bytes(),     // start_time_unix_nano (2, fixed64)
            &[0x19], &1u64.to_le_bytes(),         // time_unix_nano (3, fixed64)
            &[0x21], &2.0f64.to_bits().to_le_bytes(), // as_double (4, fixed64)
            &[0x3a, 0x08, 0x0a, 0x01, b'k', 0x12, 0x03, 0x0a, 0x01, b'v'], // attributes (7)
        ].concat();
        assert_eq!(data_point.len(), 37);
        #[rustfmt::skip]
        let metric: Vec<u8> = [
            &[0x0a, 0x01, b'a'][..],                // name
            &[0x2a, 39, 0x0a, 37], &data_point,      // gauge (5) { data_points (1) }
        ].concat();
        #[rustfmt::skip]
        let want: Vec<u8> = [
            &[0x0a, 55][..],                         // resource_metrics (1)
            &[0x0a, 0x00],                           //   resource (1): no attributes
            &[0x12, 51],                             //   scope_metrics (2)
            &[0x0a, 0x03, 0x0a, 0x01, b's'],         //     scope (1) { name }
            &[0x12, 44], &metric,                    //     metrics (2)
        ].concat();
        assert_eq!(metric.len(), 44);
        assert_eq!(got, want);
    }

    #[test]
    fn a_sum_carries_temporality_and_monotonic_flag() {
        let p = Point {
            name: "t",
            description: "d",
            kind: Kind::Sum(Temporality::Delta),
            attributes: &[],
            start_unix_nanos: 5,
            time_unix_nanos: 6,
            value: 1.5,
        };
        let got = metrics_data(&[("r", "x")], "s", "1", &[p]);
        // The sum's tail: aggregation_temporality (2) = 1 (delta), is_monotonic (3) = true.
        assert!(got.ends_with(&[0x10, 0x01, 0x18, 0x01]), "{got:02x?}");
        // The resource attribute r=x.
        let attr = [0x0a, 0x08, 0x0a, 0x01, b'r', 0x12, 0x03, 0x0a, 0x01, b'x'];
        assert!(got.windows(attr.len()).any(|w| w == attr));
        // Description (2) of the metric.
        assert!(got.windows(3).any(|w| w == [0x12, 0x01, b'd']));
    }

    #[test]
    fn long_messages_use_multi_byte_lengths() {
        let name = "n".repeat(200);
        let p = Point {
            name: &name,
            description: "",
            kind: Kind::Gauge,
            attributes: &[],
            start_unix_nanos: 0,
            time_unix_nanos: 0,
            value: 0.0,
        };
        let got = metrics_data(&[], "", "", &[p]);
        let mut len = Vec::new();
        put_varint(&mut len, 200);
        assert_eq!(len, [0xc8, 0x01]);
        assert!(got.windows(3).any(|w| w == [0x0a, 0xc8, 0x01]), "name with a 2-byte length");
    }
}
