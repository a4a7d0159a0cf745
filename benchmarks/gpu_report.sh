#!/usr/bin/env bash
# Every GPU measurement of issue 15 in one run (under 6 minutes on one H200):
# the gpu-marked tests (exact CUDA vs CPU, the bilm-tf fixture within 1e-6 on
# CUDA, CUDA graphs vs eager), inference of the published `original` shape
# (exact fp32 and the bf16 fast mode, batch 64 / 256, WikiText-2 test; CUDA
# graphs and the eager loop; token cache off / on; exact CUDA vs CPU), the
# cuDNN nn.LSTM(proj_size) anchors, pretraining steps of bilm_full (batch 128 /
# 512, bf16 / fp32, graphs / eager) and bilm_small (batch 128 / 512 bf16), and
# the input pipeline alone, and the char CNN's backward (ConvMax vs autograd).
# Prints the table last.
#
#   bash ../shared/gpu/bundle.sh                 # here: builds .gpu/
#   source .gpu/activate.sh && bash benchmarks/gpu_report.sh   # on the GPU machine
#
# GPU_ID (default 0) picks the device; OUT (if set) receives the logs and
# rows.jsonl; BUDGET (default 340) caps the seconds of all rows together (a row
# that would not fit is cut short or skipped); SMOKE=1 shrinks every row to
# seconds (to check the script itself, e.g. on a CPU with GPU_ID=-1).
set -uo pipefail
cd "$(dirname "$0")/.."
GPU="${GPU_ID:-0}"
LOG="${OUT:-/tmp/gpu_report}"
mkdir -p "$LOG"
ROWS="$LOG/rows.jsonl"
: > "$ROWS"
SMOKE="${SMOKE:-0}"
if [ "$SMOKE" = 1 ]; then
  TOKENS=300; SHAPE=default; STEPS=2; FULL=configs/bilm_tiny.cfg; SMALL=configs/bilm_tiny.cfg
  BASE=4; BIG=8; ANCHOR=8x10; CHECK=4; LINES=2000; BATCHES=8,32
else
  TOKENS=80000; SHAPE=original; STEPS=20; FULL=configs/bilm_full.cfg; SMALL=configs/bilm_small.cfg
  BASE=128; BIG=512; ANCHOR=256x40; CHECK=64; LINES=20000; BATCHES=64,256
fi
START=$SECONDS

BUDGET="${BUDGET:-340}"  # seconds for all rows together: the script ends within 6 minutes
row() {  # row NAME SECONDS COMMAND...: run with a time limit (and within BUDGET), log its output
  local name="$1" limit="$2"; shift 2
  local left=$((BUDGET - (SECONDS - START)))
  if [ "$left" -lt 15 ]; then
    echo "!! $name skipped: the ${BUDGET}s budget is spent" | tee -a "$LOG/gpu_report.log"; return
  fi
  [ "$limit" -le "$left" ] || limit=$left
  echo "== $name (limit ${limit}s): $*" | tee -a "$LOG/gpu_report.log"
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$LOG/gpu_report.log"
  local rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] || echo "!! $name exited with $rc" | tee -a "$LOG/gpu_report.log"
  echo "   ($((SECONDS - START)) s so far)" | tee -a "$LOG/gpu_report.log"
}

{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv || true
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } \
  2>&1 | tee "$LOG/gpu_report.log"

EMBED="python3 benchmarks/bench_embed.py --gpu-id $GPU --jsonl $ROWS --threads 16"
PRETRAIN="python3 benchmarks/bench_pretrain.py --gpu-id $GPU --jsonl $ROWS --threads 16 --lines $LINES"
if [ "$GPU" -ge 0 ]; then  # correctness first: exact CUDA vs CPU, the fixture, graphs vs eager
  row "gpu-marked tests" 100 python3 -m pytest -q -m gpu -p no:cacheprovider tests
fi
row "inference, exact fp32, tf32 and bf16, cuDNN anchors, CUDA vs CPU" 150 \
  $EMBED --shape $SHAPE --tokens $TOKENS --batch-size $BATCHES --precision fp32,tf32,bf16 \
  --no-baseline --anchor --anchor-shape $ANCHOR --check-cpu $CHECK --global-tf32
row "inference, eager loop (CUDA graphs off)" 50 \
  $EMBED --shape $SHAPE --tokens $TOKENS --batch-size $BATCHES --precision fp32 --no-baseline --eager
row "inference, token cache off / on (exact fp32, batch ${BATCHES##*,})" 50 \
  $EMBED --shape $SHAPE --tokens $TOKENS --batch-size ${BATCHES##*,} --precision fp32 --no-baseline \
  --token-cache 0,50000
row "char CNN forward + backward, ConvMax vs autograd's conv1d + amax, $FULL filters, a batch-$BASE window" 30 \
  python3 benchmarks/bench_char_cnn.py --gpu-id $GPU --jsonl $ROWS --threads 16 --config $FULL --tokens $((BASE * 20))
row "pretraining bilm_full, batch $BASE / $BIG, bf16 / fp32, graphs / eager, anchors, input pipeline" 100 \
  $PRETRAIN --config $FULL --batch-size $BASE,$BIG --precision bf16,fp32 --modes graphs,eager \
  --steps $STEPS --anchor --data
row "pretraining bilm_small, batch $BASE / $BIG, bf16, graphs / eager / windows cut in the loop, anchors" 60 \
  $PRETRAIN --config $SMALL --batch-size $BASE,$BIG --precision bf16 --modes graphs,eager,live \
  --steps $STEPS --anchor

python3 - "$ROWS" <<'PY' | tee "$LOG/table.md"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("\n| workload | result | per step | memory |\n| --- | ---: | ---: | --- |")
for r in rows:
    if "captures" in r:
        name, value, step = f"embed {r.get('shape', '')}: CUDA graphs", f"{r['captures']} captured", f"{r['replays']} replays"
        value += f" (off: {r['disabled']})" if r.get("disabled") else ""
    elif "max_abs" in r:
        name, value, step = f"{r['bench']} {r.get('shape', '')}: {r['row']}", f"{r['max_abs']:.2e}", ""
    elif "windows_per_s" in r:
        name = f"input pipeline, batch {r['batch']}"
        value, step = f"{r['tokens_per_s']:,.0f} tok/s", f"{r['windows_per_s']:,.1f} windows/s"
    elif r["bench"] == "char_cnn":
        name = f"char CNN {r['config']} ({r['tokens']:,} distinct tokens): {r['row']}"
        value, step = f"{r['tokens_per_s']:,.0f} tok/s", f"{r['ms']:,.1f} ms"
    elif r["bench"] == "pretrain":
        name = f"pretrain {r['config']} batch {r['batch']}: {r['row']}"
        value, step = f"{r['tokens_per_s']:,.0f} tok/s", f"{r['ms_per_step']:,.1f} ms"
    else:
        name = f"embed {r.get('shape', '')} ({r.get('tokens', 0):,} tokens): {r['row']}"
        value, step = f"{r['tokens_per_s']:,.0f} tok/s", ""
    print(f"| {name} | {value} | {step} | {r.get('memory', '')} |")
PY
echo "total $((SECONDS - START)) s; logs in $LOG"
