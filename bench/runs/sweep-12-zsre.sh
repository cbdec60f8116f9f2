#!/bin/bash
# Settings for multi-token answers, chosen on a zsRE choosing slice of issue 12: the zsRE records
# after the 64 of the held-out table (from the 65th by default, SKIP=64), never reported as held-out.
# Every batch verified as `mledit commit --allow-partial` does.
# Usage: sweep-12-zsre.sh BINARY NAME HPARAMS-JSON RUNS FACTS [SKIP]
BIN=$1; name=$2; hp=$3; runs=$4; facts=$5; skip=${6:-64}
[ "$skip" -ge 64 ] || { echo "SKIP must be at least 64: the first 64 records are held out" >&2; exit 1; }
cd /work/main
M=~/.cache/mledit/SmolLM2-135M-Instruct.Q4_1.gguf
D=/work/shared/data/zsre-sample.json
echo "$(date -u +%H:%M:%S) start $name $hp $runs $facts skip $skip load $(cut -d' ' -f1 /proc/loadavg)" >> bench/runs/sweep-12-zsre.log
env -u OPENBLAS_CORETYPE MLEDIT_THREADS=1 MLEDIT_BENCH_QUALITY_FACTS=$facts MLEDIT_BENCH_QUALITY_SKIP=$skip \
  MLEDIT_BENCH_QUALITY_VERIFY=1 MLEDIT_BENCH_QUALITY_RUNS=$runs MLEDIT_BENCH_REUSE_STATISTICS=1 \
  MLEDIT_BENCH_HPARAMS="$hp" \
  $BIN edit-quality $M $D > bench/runs/sweep-12-zsre-$name.json 2> bench/runs/sweep-12-zsre-$name.err
echo "$(date -u +%H:%M:%S) end $name rc $? load $(cut -d' ' -f1 /proc/loadavg)" >> bench/runs/sweep-12-zsre.log
