#!/bin/bash
# Second part of the defaults sweep (same slice and shape as sweep-12.sh), run after it.
cd /work/main
while pgrep -f 'bench/runs/sweep-12.sh' > /dev/null; do sleep 10; done
M=~/.cache/mledit/SmolLM2-135M-Instruct.Q4_1.gguf
D=/work/shared/data/counterfact-partial.json
run() {
  name=$1; hp=$2
  echo "$(date -u +%H:%M:%S) start $name $hp load $(cut -d' ' -f1 /proc/loadavg)" >> bench/runs/sweep-12.log
  env -u OPENBLAS_CORETYPE MLEDIT_THREADS=1 MLEDIT_BENCH_QUALITY_FACTS=128 MLEDIT_BENCH_QUALITY_SKIP=300 \
    MLEDIT_BENCH_QUALITY_RUNS=memit-32 MLEDIT_BENCH_REUSE_STATISTICS=1 MLEDIT_BENCH_HPARAMS="$hp" \
    /tmp/bench-bin/MLEditBench edit-quality $M $D > bench/runs/sweep-12-$name.json 2> bench/runs/sweep-12-$name.err
  echo "$(date -u +%H:%M:%S) end $name rc $? load $(cut -d' ' -f1 /proc/loadavg)" >> bench/runs/sweep-12.log
}
run H-margin02 '{"v_top1_max_nll": 0.2}'
run I-clamp2-margin01-steps40 '{"clamp_norm_factor": 2, "v_top1_max_nll": 0.1, "v_num_grad_steps": 40}'
