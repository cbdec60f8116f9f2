#!/bin/bash
# Defaults sweep for issue 12: MEMIT in batches of 32 over 128 CounterFact facts (distinct subjects 300-427)
cd /work/main
M=~/.cache/mledit/SmolLM2-135M-Instruct.Q4_1.gguf
D=/work/shared/data/counterfact-partial.json
run() {
  name=$1; hp=$2
  echo "$(date -u +%H:%M:%S) start $name $hp load $(cut -d' ' -f1 /proc/loadavg)" >> bench/runs/sweep-12.log
  env -u OPENBLAS_CORETYPE MLEDIT_THREADS=1 MLEDIT_BENCH_QUALITY_FACTS=128 MLEDIT_BENCH_QUALITY_SKIP=300 \
    MLEDIT_BENCH_QUALITY_RUNS=memit-32 MLEDIT_BENCH_REUSE_STATISTICS=1 MLEDIT_BENCH_HPARAMS="$hp" \
    .build/release/MLEditBench edit-quality $M $D > bench/runs/sweep-12-$name.json 2> bench/runs/sweep-12-$name.err
  echo "$(date -u +%H:%M:%S) end $name rc $? load $(cut -d' ' -f1 /proc/loadavg)" >> bench/runs/sweep-12.log
}
run A-current '{}'
run B-clamp2 '{"clamp_norm_factor": 2}'
run C-clamp4 '{"clamp_norm_factor": 4}'
run D-clamp4-lambda1 '{"clamp_norm_factor": 4, "mom2_update_weight": 1}'
run E-clamp2-margin '{"clamp_norm_factor": 2, "v_top1_max_nll": 0.2}'
run F-clamp2-prefix10 '{"clamp_norm_factor": 2, "prefix_count": 10}'
run G-clamp2-prefix10x5 '{"clamp_norm_factor": 2, "prefix_count": 10, "prefix_length": 5}'
