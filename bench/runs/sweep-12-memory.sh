#!/bin/bash
# The key a commit leaves in the memory of later commits (memory_bare_weight) and the bare
# prompt's share of a fact's key (key_bare_weight), chosen on a wider choosing slice of issue 12:
# the 128 CounterFact records first used for choosing (the 301st to the 428th) proved too easy
# to tell settings apart (top-1 0.98–0.99 at the end for all), so these runs take the next 256
# records with distinct subjects after the 428th, still apart from the held-out slice (after the
# 2,000th). Every batch verified as `mledit commit --allow-partial` does.
# Usage: sweep-12-memory.sh BINARY NAME HPARAMS-JSON RUNS FACTS
BIN=$1; name=$2; hp=$3; runs=$4; facts=$5
cd /work/main
M=~/.cache/mledit/SmolLM2-135M-Instruct.Q4_1.gguf
D=/work/shared/data/counterfact-partial.json
echo "$(date -u +%H:%M:%S) start $name $hp $runs $facts load $(cut -d' ' -f1 /proc/loadavg)" >> bench/runs/sweep-12-memory.log
env -u OPENBLAS_CORETYPE MLEDIT_THREADS=1 MLEDIT_BENCH_QUALITY_FACTS=$facts MLEDIT_BENCH_QUALITY_SKIP=428 \
  MLEDIT_BENCH_QUALITY_VERIFY=1 MLEDIT_BENCH_QUALITY_RUNS=$runs MLEDIT_BENCH_REUSE_STATISTICS=1 \
  MLEDIT_BENCH_HPARAMS="$hp" \
  $BIN edit-quality $M $D > bench/runs/sweep-12-memory-$name.json 2> bench/runs/sweep-12-memory-$name.err
echo "$(date -u +%H:%M:%S) end $name rc $? load $(cut -d' ' -f1 /proc/loadavg)" >> bench/runs/sweep-12-memory.log
