#!/bin/bash
# Held-out table of issue 12: one side (before = the first wave's defaults, one unverified round;
# after = today's defaults, each batch verified as `mledit commit --allow-partial`).
# Usage: heldout-12.sh before|after BINARY [PART [NAME]]: PART all (default), cf256, rest, or one
# of cf256-64, cf256-10, zsre64-memit, zsre64-emmet, cf64-batch1 to run side by side; NAME (default: the
# side) names the output files heldout-12-NAME-PART.{json,err}.
side=$1; BIN=$2; part=${3:-all}; name=${4:-$side}
cd /work/main
M=~/.cache/mledit/SmolLM2-135M-Instruct.Q4_1.gguf
CF=/work/shared/data/counterfact-partial.json
ZS=/work/shared/data/zsre-sample.json
if [ "$side" = before ]; then
  verify=0; hp='{"clamp_norm_factor": 0.75, "v_top1_max_nll": null, "v_num_grad_steps": 25}'
else
  verify=1; hp='{}'
fi
run() {  # part file facts skip runs
  echo "$(date -u +%H:%M:%S) start $name-$1 load $(cut -d' ' -f1 /proc/loadavg)" >> bench/runs/heldout-12.log
  env -u OPENBLAS_CORETYPE MLEDIT_THREADS=1 MLEDIT_BENCH_QUALITY_FACTS=$3 MLEDIT_BENCH_QUALITY_SKIP=$4 \
    MLEDIT_BENCH_QUALITY_VERIFY=$verify MLEDIT_BENCH_QUALITY_RUNS=$5 MLEDIT_BENCH_REUSE_STATISTICS=1 \
    MLEDIT_BENCH_HPARAMS="$hp" $BIN edit-quality $M $2 > bench/runs/heldout-12-$name-$1.json 2> bench/runs/heldout-12-$name-$1.err
  echo "$(date -u +%H:%M:%S) end $name-$1 rc $? load $(cut -d' ' -f1 /proc/loadavg)" >> bench/runs/heldout-12.log
}
case $part in
  all|cf256) run cf256 $CF 256 2000 memit-64,emmet-64,memit-10,emmet-10 ;;&
  all|rest) run zsre64 $ZS 64 0 memit-64,memit-10,rome-1,emmet-64,emmet-10; run cf64-batch1 $CF 64 2000 memit-1,rome-1,emmet-1 ;;
  cf256-64) run cf256-64 $CF 256 2000 memit-64,emmet-64 ;;
  cf256-10) run cf256-10 $CF 256 2000 memit-10,emmet-10 ;;
  zsre64-memit) run zsre64-memit $ZS 64 0 memit-64,memit-10,rome-1 ;;
  zsre64-emmet) run zsre64-emmet $ZS 64 0 emmet-64,emmet-10 ;;
  cf64-batch1) run cf64-batch1 $CF 64 2000 memit-1,rome-1,emmet-1 ;;
esac
