#!/usr/bin/env bash
# Instructions per request that weft's axum layer adds, counted by valgrind's callgrind: a
# figure that, unlike time on a shared machine, does not move between runs. Each variant runs
# beside the no-layer baseline (`ONLY=`), and the no-op layer's count is subtracted, so what is
# left is weft's own work (its span, its headers, its request id), not axum's layer plumbing.
#
#   scripts/axum-instructions.sh            # noop_layer, weft_sampled, weft_unsampled
#   HEADERS=0 scripts/axum-instructions.sh  # requests without Host and User-Agent
#
# Needs valgrind (Debian: `apt-get install valgrind`). Wall-clock figures come from
# `cargo bench -p weft --bench axum_overhead`.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=$(cargo bench -p weft --bench axum_overhead --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*axum_overhead[^"]*\)".*/\1/p' | tail -1)
[ -x "$bench" ] || { echo "could not build the axum_overhead bench" >&2; exit 1; }
rounds=2 iters=5000
requests=$(( (rounds + 1) * iters ))
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {
  ROUNDS=$rounds ITERS=$iters ONLY=$1 valgrind --tool=callgrind --separate-threads=yes \
    --callgrind-out-file="$out/$1" "$bench" --bench >/dev/null 2>&1
  # thread 1 is the one serving the requests
  awk '/^summary:/ {print $2}' "$out/$1-01"
}
noop=$(count noop_layer)
printf '%-16s %s\n' variant "instructions per request over noop_layer"
for v in weft_sampled weft_unsampled bare_sdk_layer; do
  n=$(count "$v")
  printf '%-16s %d\n' "$v" $(( (n - noop) / requests ))
done
