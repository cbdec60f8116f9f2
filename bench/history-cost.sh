#!/usr/bin/env bash
# What one `mledit commit` of 10 CounterFact facts costs as the history under it grows: 0, 100,
# 1,000 and 10,000 synthetic facts in force (MLEditBench grow-history, SmolLM2-shaped, keys drawn
# from the ledger's C₀), as a user runs it (no BLAS variables set). At each length two commits on
# a side branch: the first after the growth (its memory rebuilt from every key, as after an
# upgrade or `fsck --drop-caches`), the second on top of it (its memory extended from the cache,
# as every commit in a history made by mledit), with --allow-partial so that a fact that does not
# land is left out instead of refusing the commit. Stage times from MLEDIT_TIMINGS.
# Prints one JSON object (bench/out/history-cost.json when run by bench/run.sh).
# Usage: MLEDIT=path/to/mledit bench/history-cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mledit="${MLEDIT:?set MLEDIT to the built mledit binary}"
bench="$(dirname "$mledit")/MLEditBench"
lengths="${MLEDIT_BENCH_HISTORY_FACTS:-0 100 1000 10000}"
. bench/common.sh
write_records warm 20 21; write_records first 0 10; write_records second 10 20

# "wall cpu" of one commit; its stage lines (MLEDIT_TIMINGS) appended to $work/stages-$1
commit() {
  local TIMEFORMAT="%R %U %S" times
  times=$( { time as_user env MLEDIT_TIMINGS=1 "$mledit" commit "$work/$2.jsonl" -m "$2" --allow-partial >"$work/out" 2>"$work/err" ; } 2>&1 ) \
    || { cat "$work/err" >&2; exit 1; }
  grep "^timing:" "$work/err" > "$work/stages-$1" || true
  python3 -c "import sys; r,u,s=map(float,sys.argv[1:4]); print(f'{r:.2f} {u+s:.2f}')" $times
}

cd "$work" && mkdir repo && cd repo
"$mledit" init --model "$model" >/dev/null
as_user "$mledit" commit "$work/warm.jsonl" -m warm --no-health --no-verify >/dev/null
rows=()
for n in $lengths; do
  "$bench" grow-history "$work/repo" "$n" >/dev/null
  "$mledit" checkout -b "probe-$n" >/dev/null 2>&1
  read -r first_wall first_cpu <<<"$(commit "$n-first" first)"
  read -r second_wall second_cpu <<<"$(commit "$n-second" second)"
  stages=$(python3 -c "import json,sys; print(json.dumps(open(sys.argv[1]).read().splitlines()))" "$work/stages-$n-second")
  rows+=("{\"facts_in_force\": $n, \"first_commit_seconds\": $first_wall, \"first_commit_cpu_seconds\": $first_cpu, \"next_commit_seconds\": $second_wall, \"next_commit_cpu_seconds\": $second_cpu, \"next_commit_stages\": $stages, \"ledger_bytes\": $(stat -c %s .mledit/ledger.sqlite)}")
  "$mledit" checkout main >/dev/null
  echo "history-cost: $n facts in force: first ${first_wall}s, next ${second_wall}s" >&2
done
blas=$(as_user "$mledit" --version | sed -n 's/^BLAS: //p')
printf '{"blas": "%s", "by_facts_in_force": [%s]}\n' "$blas" "$(IFS=,; echo "${rows[*]}")"
