// A client-telemetry plugin for the test brokers (KIP-714): scripts/kafka_cluster.py --telemetry
// compiles it against Kafka's jars and names it in `metric.reporters`. A broker only offers
// GetTelemetrySubscriptions/PushTelemetry when a metrics reporter is a
// ClientTelemetryExporterProvider, so this class is what turns client telemetry on.
//
// Every PushTelemetry the broker accepts reaches exportMetrics with the payload already
// decompressed (PushTelemetryRequest.metricsData undoes the client's compression before the
// exporters are called). It is decoded with Kafka's own (shaded) OpenTelemetry classes and appended
// as one JSON line to the file named by the broker property `kb.telemetry.file`:
//
//   {"client_instance_id":"...","terminating":false,"content_type":"...","client_id":"...",
//    "push_interval_ms":1000,"resource":{"k":"v"},"scopes":["..."],   (distinct scope names)
//    "metrics":[{"name":"...","kind":"sum","temporality":"delta","monotonic":true,
//                "points":[{"value":3,"attributes":{"k":"v"},"start_time_unix_nano":1,
//                           "time_unix_nano":2}]}]}
//
// kind: "gauge", "sum", or the lower-cased OpenTelemetry data case of anything else ("histogram",
// "exponential_histogram", "summary"; their points are not decoded: "points":[]). value: an
// integer for as_int points, a decimal number for as_double ones (null if not finite). Attribute
// values are written as strings. A payload that does not decode gives
// {"client_instance_id":"...", ..., "error":"..."} instead of resource/scopes/metrics.
// tests/telemetry.rs reads these files.
package kb;

import java.io.IOException;
import java.io.Writer;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.metrics.KafkaMetric;
import org.apache.kafka.common.metrics.MetricsReporter;
import org.apache.kafka.server.telemetry.ClientTelemetryContext;
import org.apache.kafka.server.telemetry.ClientTelemetryExporter;
import org.apache.kafka.server.telemetry.ClientTelemetryExporterProvider;
import org.apache.kafka.server.telemetry.ClientTelemetryPayload;
import org.apache.kafka.shaded.io.opentelemetry.proto.common.v1.AnyValue;
import org.apache.kafka.shaded.io.opentelemetry.proto.common.v1.KeyValue;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.AggregationTemporality;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.Metric;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.MetricsData;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.NumberDataPoint;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.ResourceMetrics;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.ScopeMetrics;

public class KbTelemetryReceiver implements MetricsReporter, ClientTelemetryExporterProvider {
    /** Property naming the JSON-lines file; without it the plugin accepts pushes and writes nothing. */
    public static final String FILE_CONFIG = "kb.telemetry.file";

    // A combined broker+controller node may make more than one instance of a metrics reporter;
    // one lock for all of them keeps every line whole.
    private static final Object WRITE_LOCK = new Object();

    private volatile String file;

    @Override
    public void configure(Map<String, ?> configs) {
        Object f = configs.get(FILE_CONFIG);
        file = f == null || f.toString().isEmpty() ? null : f.toString();
    }

    @Override public void init(List<KafkaMetric> metrics) {}
    @Override public void metricChange(KafkaMetric metric) {}
    @Override public void metricRemoval(KafkaMetric metric) {}
    @Override public void close() {}

    @Override
    public ClientTelemetryExporter clientTelemetryExporter() {
        return this::export;
    }

    private void export(ClientTelemetryContext ctx, ClientTelemetryPayload payload) {
        String path = file;
        if (path == null) {
            return;
        }
        StringBuilder line = new StringBuilder(4096).append('{');
        field(line, "client_instance_id", String.valueOf(payload.clientInstanceId())).append(',');
        line.append("\"terminating\":").append(payload.isTerminating()).append(',');
        field(line, "content_type", payload.contentType()).append(',');
        String clientId = ctx.authorizableRequestContext() == null ? null : ctx.authorizableRequestContext().clientId();
        field(line, "client_id", clientId).append(',');
        line.append("\"push_interval_ms\":").append(ctx.pushIntervalMs()).append(',');
        try {
            ByteBuffer data = payload.data().duplicate();
            byte[] bytes = new byte[data.remaining()];
            data.get(bytes);
            // Built apart, so that a failure half-way leaves nothing half-written in the line.
            line.append(decode(MetricsData.parseFrom(bytes)));
        } catch (Exception | LinkageError e) {
            field(line, "error", e.toString());
        }
        line.append("}\n");
        synchronized (WRITE_LOCK) {
            try (Writer w = Files.newBufferedWriter(Paths.get(path), StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
                w.write(line.toString());
                w.flush();
            } catch (IOException e) {
                System.err.println("KbTelemetryReceiver: cannot append to " + path + ": " + e);
            }
        }
    }

    /** `"resource":{...},"scopes":[...],"metrics":[...]` of one payload. */
    private static String decode(MetricsData data) {
        StringBuilder resource = new StringBuilder();
        Set<String> scopeNames = new LinkedHashSet<>();
        StringBuilder metrics = new StringBuilder();
        for (ResourceMetrics rm : data.getResourceMetricsList()) {
            attributes(resource, rm.getResource().getAttributesList());
            for (ScopeMetrics sm : rm.getScopeMetricsList()) {
                scopeNames.add(sm.getScope().getName());
                for (Metric m : sm.getMetricsList()) {
                    comma(metrics);
                    metric(metrics, m);
                }
            }
        }
        StringBuilder scopes = new StringBuilder();
        for (String name : scopeNames) {
            comma(scopes);
            quote(scopes, name);
        }
        return "\"resource\":{" + resource + "},\"scopes\":[" + scopes + "],\"metrics\":[" + metrics + "]";
    }

    private static void metric(StringBuilder out, Metric m) {
        out.append('{');
        field(out, "name", m.getName()).append(',');
        List<NumberDataPoint> points = List.of();
        switch (m.getDataCase()) {
            case GAUGE:
                field(out, "kind", "gauge");
                points = m.getGauge().getDataPointsList();
                break;
            case SUM:
                field(out, "kind", "sum").append(',');
                field(out, "temporality", temporality(m.getSum().getAggregationTemporality())).append(',');
                out.append("\"monotonic\":").append(m.getSum().getIsMonotonic());
                points = m.getSum().getDataPointsList();
                break;
            default:
                field(out, "kind", m.getDataCase().name().toLowerCase(java.util.Locale.ROOT));
        }
        out.append(",\"points\":[");
        StringBuilder list = new StringBuilder();
        for (NumberDataPoint p : points) {
            comma(list);
            list.append("{\"value\":");
            if (p.getValueCase() == NumberDataPoint.ValueCase.AS_INT) {
                list.append(p.getAsInt());
            } else {
                double v = p.getAsDouble();
                list.append(Double.isFinite(v) ? Double.toString(v) : "null");
            }
            list.append(",\"attributes\":{");
            attributes(list, p.getAttributesList());
            list.append("},\"start_time_unix_nano\":").append(Long.toUnsignedString(p.getStartTimeUnixNano()));
            list.append(",\"time_unix_nano\":").append(Long.toUnsignedString(p.getTimeUnixNano())).append('}');
        }
        out.append(list).append("]}");
    }

    private static String temporality(AggregationTemporality t) {
        switch (t) {
            case AGGREGATION_TEMPORALITY_DELTA: return "delta";
            case AGGREGATION_TEMPORALITY_CUMULATIVE: return "cumulative";
            default: return "unspecified";
        }
    }

    /** `"k":"v",...` appended to out (after a comma if out is not empty). */
    private static void attributes(StringBuilder out, List<KeyValue> kvs) {
        for (KeyValue kv : kvs) {
            comma(out);
            field(out, kv.getKey(), text(kv.getValue()));
        }
    }

    private static String text(AnyValue v) {
        switch (v.getValueCase()) {
            case STRING_VALUE: return v.getStringValue();
            case INT_VALUE: return Long.toString(v.getIntValue());
            case DOUBLE_VALUE: return Double.toString(v.getDoubleValue());
            case BOOL_VALUE: return Boolean.toString(v.getBoolValue());
            case VALUE_NOT_SET: return "";
            default: return v.toString().trim(); // arrays, maps, bytes: protobuf's text form
        }
    }

    private static void comma(StringBuilder b) {
        if (b.length() > 0 && b.charAt(b.length() - 1) != '{' && b.charAt(b.length() - 1) != '[') {
            b.append(',');
        }
    }

    private static StringBuilder field(StringBuilder b, String key, String value) {
        quote(b, key).append(':');
        return quote(b, value);
    }

    /** A JSON string (RFC 8259: quote, backslash and control characters escaped), or null. */
    private static StringBuilder quote(StringBuilder b, String s) {
        if (s == null) {
            return b.append("null");
        }
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                case '\b': b.append("\\b"); break;
                case '\f': b.append("\\f"); break;
                default:
                    // Control characters, and U+2028/U+2029 (valid JSON, but line breaks to some readers).
                    if (c < 0x20 || c == '\u2028' || c == '\u2029') {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
            }
        }
        return b.append('"');
    }
}
