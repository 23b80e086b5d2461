#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz (every decoder of bytes a broker sends: responses of
# each API and version, the frame reader, record batches) for a while each, on a nightly
# toolchain with cargo-fuzz (`cargo install cargo-fuzz`). A crash stops the run and leaves the
# input under tests/fuzz/artifacts/<target>/; make it a regression test in src/fuzz.rs.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
secs=${1:-60}
for t in response frames record_batches; do
  echo "fuzz: $t for $secs s" >&2
  # -rss_limit_mb: an input that makes a decoder allocate by a length it cannot back fails;
  # -timeout: one input taking over 5 s (an endless loop) fails.
  cargo +nightly fuzz run --fuzz-dir tests/fuzz "$t" -- \
    -max_total_time="$secs" -rss_limit_mb=512 -timeout=5 -print_final_stats=1 2>&1 |
    grep -E '^(#[0-9]+.*(DONE|pulse)|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|artifact)' || true
  if ls tests/fuzz/artifacts/"$t"/crash-* tests/fuzz/artifacts/"$t"/oom-* tests/fuzz/artifacts/"$t"/timeout-* >/dev/null 2>&1; then
    echo "fuzz: $t found a failing input; see tests/fuzz/artifacts/$t" >&2
    exit 1
  fi
done
echo "fuzz: no crash, leak of memory or hang in any target" >&2
