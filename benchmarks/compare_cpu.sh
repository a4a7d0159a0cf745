#!/usr/bin/env bash
# CPU speed of this checkout against another one (e.g. a worktree of main at an
# earlier commit), side by side: the same bench_embed.py runs each code base in
# turn, REPS times, interleaved; prints the best (fastest) and median tokens/s
# per row.
#
#   git worktree add ../base <commit> && bash benchmarks/compare_cpu.sh ../base [REPS]
#
# SHAPES (default "default:8000 small:1500 original:300" = shape:tokens),
# PRECISIONS (default fp32,bf16; the original shape runs fp32 only) and
# THREADS (default 1: on a shared machine 2 OpenMP threads can stall behind other
# processes) and OUT (default /tmp/compare_cpu) can be set.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE="$(cd "$1" && pwd)"; REPS="${2:-5}"
OUT="${OUT:-/tmp/compare_cpu}"; mkdir -p "$OUT"; rm -f "$OUT"/*.jsonl
SHAPES="${SHAPES:-default:8000 small:1500 original:300}"
lscpu | grep -E "Model name|^CPU\(s\)|Flags" | sed 's/Flags:.*\(avx512_bf16\).*/Flags: ... \1 .../' | tee "$OUT/machine.txt"
for rep in $(seq "$REPS"); do
  for spec in $SHAPES; do
    shape="${spec%%:*}"; tokens="${spec##*:}"
    precisions="${PRECISIONS:-fp32,bf16}"; [ "$shape" = original ] && precisions=fp32
    for code in new base; do
      src="$PWD"; [ "$code" = base ] && src="$BASE"
      echo "rep $rep $shape $code (load $(cut -d' ' -f1 /proc/loadavg))"
      OMP_NUM_THREADS="${THREADS:-1}" PYTHONPATH="$src" python benchmarks/bench_embed.py --shape "$shape" --tokens "$tokens" \
        --batch-size 32,64 --precision "$precisions" --component --no-baseline --threads "${THREADS:-1}" \
        --jsonl "$OUT/$code.jsonl" > "$OUT/last_$code.txt" 2>&1 || { cat "$OUT/last_$code.txt"; exit 1; }
    done
  done
done
echo "runs per row: $REPS"
python - "$OUT" <<'PY'
import json, statistics, sys
from collections import defaultdict
out = sys.argv[1]
rows = {code: defaultdict(list) for code in ("new", "base")}
for code in rows:
    for line in open(f"{out}/{code}.jsonl"):
        r = json.loads(line)
        if "tokens_per_s" in r:
            rows[code][(r["shape"], r["row"])].append(r["tokens_per_s"])
print("| shape | row | base best / median tok/s | new best / median tok/s | new / base (best) | new / base (median) |")
print("| --- | --- | ---: | ---: | ---: | ---: |")
for key in rows["new"]:
    a, b = rows["base"].get(key, []), rows["new"][key]
    if not a:
        continue
    print(f"| {key[0]} | {key[1]} | {max(a):,.0f} / {statistics.median(a):,.0f} | {max(b):,.0f} / "
          f"{statistics.median(b):,.0f} | {max(b) / max(a):.2f} | {statistics.median(b) / statistics.median(a):.2f} |")
PY
