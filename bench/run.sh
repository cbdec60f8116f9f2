#!/usr/bin/env bash
# Runs every benchmark in its own process (so each peak-memory figure is its own) and rewrites
# the generated part of bench/RESULTS.md. Usage: MLEDIT=path/to/mledit bench/run.sh [benchmark ...]
set -euo pipefail
cd "$(dirname "$0")/.."
bin_dir="$(dirname "${MLEDIT:?set MLEDIT to the built mledit binary}")"
bench="$bin_dir/MLEditBench"
model="$(scripts/fetch-model | tail -n1)"
corpus="$(scripts/fetch-corpus | tail -n1)"
mkdir -p bench/out

if [ $# -gt 0 ]; then names=("$@"); else names=(checkpoint-open tokenizer forward generate delta-step ledger-storage materialize edit-quality export revert rebase-model); fi
for name in "${names[@]}"; do
  case "$name" in
    tokenizer) args=("$model" "$corpus") ;;
    *) args=("$model") ;;
  esac
  echo "bench: $name" >&2
  "$bench" "$name" "${args[@]}" > "bench/out/$name.json"
done

python3 bench/render.py bench/out bench/RESULTS.md "$(uname -srm), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "bench: wrote bench/RESULTS.md" >&2
