#!/bin/bash
# Defaults sweep of issue 12: MEMIT in batches of 32 over 128 CounterFact records (distinct
# subjects, the 301st to the 428th), one process per setting, rows in sweep-12-NAME.json.
# Settings A–G ran first, H and I after them (same slice, same binary).
cd /work/main
M=~/.cache/mledit/SmolLM2-135M-Instruct.Q4_1.gguf
D=/work/shared/data/counterfact-partial.json
BIN=${MLEDITBENCH:-.build/release/MLEditBench}
run() {
  name=$1; hp=$2
  echo "$(date -u +%H:%M:%S) start $name $hp load $(cut -d' ' -f1 /proc/loadavg)" >> bench/runs/sweep-12.log
  env -u OPENBLAS_CORETYPE MLEDIT_THREADS=1 MLEDIT_BENCH_QUALITY_FACTS=128 MLEDIT_BENCH_QUALITY_SKIP=300 \
    MLEDIT_BENCH_QUALITY_RUNS=memit-32 MLEDIT_BENCH_REUSE_STATISTICS=1 MLEDIT_BENCH_HPARAMS="$hp" \
    $BIN edit-quality $M $D > bench/runs/sweep-12-$name.json 2> bench/runs/sweep-12-$name.err
  echo "$(date -u +%H:%M:%S) end $name rc $? load $(cut -d' ' -f1 /proc/loadavg)" >> bench/runs/sweep-12.log
}
# Each setting in full: clamp, the top-1 stop's NLL bound (null: none), steps, then anything else.
setting() { echo "{\"clamp_norm_factor\": $1, \"v_top1_max_nll\": $2, \"v_num_grad_steps\": $3$4}"; }
run A-current "$(setting 0.75 null 25)"
run B-clamp2 "$(setting 2 null 25)"
run C-clamp4 "$(setting 4 null 25)"
run D-clamp4-lambda1 "$(setting 4 null 25 ', "mom2_update_weight": 1')"
run E-clamp2-margin "$(setting 2 0.2 25)"
run F-clamp2-prefix10 "$(setting 2 null 25 ', "prefix_count": 10')"
run G-clamp2-prefix10x5 "$(setting 2 null 25 ', "prefix_count": 10, "prefix_length": 5')"
run H-margin02 "$(setting 0.75 0.2 25)"
run I-clamp2-margin01-steps40 "$(setting 2 0.1 40)"
