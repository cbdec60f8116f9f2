#!/bin/bash
# The bare prompt's share of a fact's key (key_bare_weight) as a first-round default, chosen on
# the choosing slice of issue 12 (128 CounterFact records with distinct subjects, the 301st to
# the 428th), every batch verified as `mledit commit --allow-partial` does. Usage:
# sweep-12-keys.sh BINARY NAME WEIGHT (WEIGHT: null = the mean over bare and prefixed prompts).
BIN=$1; name=$2; weight=$3
cd /work/main
M=~/.cache/mledit/SmolLM2-135M-Instruct.Q4_1.gguf
D=/work/shared/data/counterfact-partial.json
echo "$(date -u +%H:%M:%S) start $name key_bare_weight $weight load $(cut -d' ' -f1 /proc/loadavg)" >> bench/runs/sweep-12-keys.log
env -u OPENBLAS_CORETYPE MLEDIT_THREADS=1 MLEDIT_BENCH_QUALITY_FACTS=128 MLEDIT_BENCH_QUALITY_SKIP=300 \
  MLEDIT_BENCH_QUALITY_VERIFY=1 MLEDIT_BENCH_QUALITY_RUNS=${RUNS:-memit-10,memit-64} MLEDIT_BENCH_REUSE_STATISTICS=1 \
  MLEDIT_BENCH_HPARAMS="{\"key_bare_weight\": $weight}" \
  $BIN edit-quality $M $D > bench/runs/sweep-12-keys-$name.json 2> bench/runs/sweep-12-keys-$name.err
echo "$(date -u +%H:%M:%S) end $name rc $? load $(cut -d' ' -f1 /proc/loadavg)" >> bench/runs/sweep-12-keys.log
