#!/usr/bin/env bash
# Instructions per span in the server's two heaviest ingest steps, counted by valgrind's
# callgrind: decoding an OTLP request into the model (`weft_proto::otlp::decode_batch`) and
# cutting the head into a Parquet block (`weft_store::block::write_block`). Unlike time on a
# shared machine, the counts do not move between runs, so a change to either step can be
# judged from one run of this script before and after it.
#
#   scripts/ingest-instructions.sh
#
# Needs valgrind (Debian: `apt-get install valgrind`) and python3. Each step runs under its
# criterion bench for a few seconds (`--profile-time`); callgrind counts the step's
# instructions and its calls, and the script divides by the spans each call handles (1,000
# per decode, 100,000 per cut: the benches' workloads, `weft bench`'s default traces).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
exe() {
  cargo bench -p "$1" --bench "$2" --no-run --message-format=json 2>/dev/null |
    sed -n "s/.*\"executable\":\"\\([^\"]*$2-[^\"]*\\)\".*/\\1/p" | tail -1
}
measure() { # crate bench function spans-per-call filter
  local bin
  bin=$(exe "$1" "$2")
  [ -x "$bin" ] || { echo "could not build the $2 bench of $1" >&2; exit 1; }
  valgrind --tool=callgrind --callgrind-out-file="$out/$2" "$bin" --bench --profile-time 3 "$5" \
    >/dev/null 2>&1
  callgrind_annotate --threshold=100 --inclusive=yes --tree=caller "$out/$2" >"$out/$2.txt" 2>/dev/null
  python3 - "$out/$2.txt" "$3" "$4" <<'PY'
import re, sys
text = open(sys.argv[1]).read().split("\n")
fn, per_call = sys.argv[2], int(sys.argv[3])
# callgrind lists a function once per source file its inlined code came from: take the entry
# whose callers are listed (a block of "<" lines right above it) with the most calls
best = None
for i, line in enumerate(text):
    m = re.match(r"^\s*([\d,]+) \([^)]*\)\s+\*\s+\S*:" + re.escape(fn) + r"(\s|$)", line)
    if not m:
        continue
    total = int(m.group(1).replace(",", ""))
    calls, j = 0, i - 1
    while j >= 0 and text[j].lstrip().split(" ")[0].replace(",", "").isdigit() and "<" in text[j]:
        c = re.search(r"\(([\d,]+)x\)", text[j])
        if c:
            calls += int(c.group(1).replace(",", ""))
        j -= 1
    if calls and (best is None or calls > best[1]):
        best = (total, calls)
if best is None:
    sys.exit(f"{fn} not found in the profile")
total, calls = best
print(f"{fn:<36} {total / (calls * per_call):>9.0f} instructions per span ({calls} calls)")
PY
}
measure weft-proto decode weft_proto::otlp::decode::decode_batch 1000 decode_batch
measure weft-store cut weft_store::block::write_block 100000 cut
