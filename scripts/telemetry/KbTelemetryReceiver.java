// A client-telemetry plugin for the test brokers (KIP-714): scripts/kafka_cluster.py --telemetry
// compiles it against Kafka's jars and names it in `metric.reporters`. Every PushTelemetry the
// broker accepts reaches exportMetrics with the payload already decompressed; it is decoded
// with Kafka's own (shaded) OpenTelemetry classes and appended as one JSON line to the file in
// the broker property `kb.telemetry.file`, for tests/telemetry.rs to read.
package kb;

import java.io.FileWriter;
import java.io.IOException;
import java.io.Writer;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
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
    private String file;

    @Override
    public void configure(Map<String, ?> configs) {
        Object f = configs.get("kb.telemetry.file");
        file = f == null ? null : f.toString();
    }

    @Override public void init(List<KafkaMetric> metrics) {}
    @Override public void metricChange(KafkaMetric metric) {}
    @Override public void metricRemoval(KafkaMetric metric) {}
    @Override public void close() {}

    @Override
    public ClientTelemetryExporter clientTelemetryExporter() {
        return this::export;
    }

    private synchronized void export(ClientTelemetryContext ctx, ClientTelemetryPayload payload) {
        if (file == null) {
            return;
        }
        StringBuilder out = new StringBuilder("{");
        field(out, "client_instance_id", payload.clientInstanceId().toString()).append(',');
        out.append("\"terminating\":").append(payload.isTerminating()).append(',');
        field(out, "content_type", payload.contentType()).append(',');
        field(out, "client_id", ctx.authorizableRequestContext().clientId()).append(',');
        out.append("\"push_interval_ms\":").append(ctx.pushIntervalMs()).append(',');
        try {
            ByteBuffer data = payload.data().duplicate();
            byte[] bytes = new byte[data.remaining()];
            data.get(bytes);
            describe(out, MetricsData.parseFrom(bytes));
        } catch (Exception e) {
            field(out, "error", e.toString());
        }
        out.append("}\n");
        try (Writer w = new FileWriter(file, true)) {
            w.write(out.toString());
        } catch (IOException e) {
            System.err.println("KbTelemetryReceiver: cannot write " + file + ": " + e);
        }
    }

    private static void describe(StringBuilder out, MetricsData data) {
        StringBuilder resource = new StringBuilder();
        StringBuilder scopes = new StringBuilder();
        StringBuilder metrics = new StringBuilder();
        for (ResourceMetrics rm : data.getResourceMetricsList()) {
            for (KeyValue kv : rm.getResource().getAttributesList()) {
                sep(resource);
                field(resource, kv.getKey(), text(kv.getValue()));
            }
            for (ScopeMetrics sm : rm.getScopeMetricsList()) {
                sep(scopes);
                quote(scopes, sm.getScope().getName());
                for (Metric m : sm.getMetricsList()) {
                    sep(metrics);
                    metric(metrics, m);
                }
            }
        }
        out.append("\"resource\":{").append(resource).append("},");
        out.append("\"scopes\":[").append(scopes).append("],");
        out.append("\"metrics\":[").append(metrics).append(']');
    }

    private static void metric(StringBuilder out, Metric m) {
        out.append('{');
        field(out, "name", m.getName()).append(',');
        List<NumberDataPoint> points;
        if (m.hasGauge()) {
            field(out, "kind", "gauge");
            points = m.getGauge().getDataPointsList();
        } else if (m.hasSum()) {
            field(out, "kind", "sum").append(',');
            AggregationTemporality t = m.getSum().getAggregationTemporality();
            String name = t == AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA ? "delta"
                : t == AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE ? "cumulative" : "unspecified";
            field(out, "temporality", name).append(',');
            out.append("\"monotonic\":").append(m.getSum().getIsMonotonic());
            points = m.getSum().getDataPointsList();
        } else {
            field(out, "kind", m.getDataCase().toString().toLowerCase());
            points = List.of();
        }
        out.append(",\"points\":[");
        boolean first = true;
        for (NumberDataPoint p : points) {
            if (!first) {
                out.append(',');
            }
            first = false;
            double v = p.getValueCase() == NumberDataPoint.ValueCase.AS_INT ? p.getAsInt() : p.getAsDouble();
            out.append("{\"value\":").append(Double.isFinite(v) ? Double.toString(v) : "null");
            out.append(",\"start_time_unix_nano\":").append(p.getStartTimeUnixNano());
            out.append(",\"time_unix_nano\":").append(p.getTimeUnixNano());
            out.append(",\"attributes\":{");
            StringBuilder attrs = new StringBuilder();
            for (KeyValue kv : p.getAttributesList()) {
                sep(attrs);
                field(attrs, kv.getKey(), text(kv.getValue()));
            }
            out.append(attrs).append("}}");
        }
        out.append("]}");
    }

    private static String text(AnyValue v) {
        switch (v.getValueCase()) {
            case STRING_VALUE: return v.getStringValue();
            case INT_VALUE: return Long.toString(v.getIntValue());
            case DOUBLE_VALUE: return Double.toString(v.getDoubleValue());
            case BOOL_VALUE: return Boolean.toString(v.getBoolValue());
            default: return v.toString();
        }
    }

    private static void sep(StringBuilder b) {
        if (b.length() > 0) {
            b.append(',');
        }
    }

    private static StringBuilder field(StringBuilder b, String key, String value) {
        quote(b, key).append(':');
        return quote(b, value);
    }

    private static StringBuilder quote(StringBuilder b, String s) {
        if (s == null) {
            return b.append("null");
        }
        b.append('"');
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"');
    }
}
