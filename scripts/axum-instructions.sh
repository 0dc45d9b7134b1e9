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
  # thread 1 is the one serving the requests; the others export
  local main other=0 f
  main=$(awk '/^summary:/ {print $2}' "$out/$1-01")
  for f in "$out/$1"-*; do
    [ "$f" = "$out/$1-01" ] || other=$(( other + $(awk '/^summary:/ {print $2}' "$f") ))
  done
  echo "$main $other"
}
read -r noop noop_other <<<"$(count noop_layer)"
printf '%-16s %12s %14s\n' variant "request thread" "other threads"
for v in weft_sampled weft_unsampled bare_sdk_layer; do
  read -r n o <<<"$(count "$v")"
  printf '%-16s %12d %14d\n' "$v" $(( (n - noop) / requests )) $(( (o - noop_other) / requests ))
done
