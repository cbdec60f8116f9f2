#!/usr/bin/env bash
# Runs every benchmark in its own process (so each peak-memory figure is its own) and rewrites
# the generated part of bench/RESULTS.md; `sequential` runs only when named, one process per method.
# Usage: MLEDIT=path/to/mledit bench/run.sh [benchmark ...]
#        bench/run.sh --merge-sequential FILE...   (merge per-method `sequential` outputs into
#        bench/out/sequential.json and render; runs nothing)
set -euo pipefail
if [ "${1:-}" = "--merge-sequential" ]; then
  shift
  [ $# -gt 0 ] || { echo "usage: bench/run.sh --merge-sequential FILE..." >&2; exit 64; }
  parts=(); for file in "$@"; do parts+=("$(realpath "$file")"); done
  merge_only=1
fi
cd "$(dirname "$0")/.."
mkdir -p bench/out

# Merges per-method `sequential` outputs: top-level figures of the first, `methods` of all (each
# with its process's peak memory), peak memory the largest.
merge_sequential() {
  python3 - "$@" <<'EOF'
import json, sys
parts = []
for path in sys.argv[1:]:
    try:
        parts.append((path, json.load(open(path))))
    except (OSError, ValueError) as error:
        sys.exit(f"bench: {path}: not a finished sequential output ({error})")
if not parts:
    sys.exit("bench: no sequential outputs to merge")
merged = dict(parts[0][1], methods={})
for path, part in parts:
    if not isinstance(part.get("methods"), dict):
        sys.exit(f"bench: {path}: no 'methods' object")
    for name, table in part["methods"].items():
        merged["methods"][name] = dict(table, peak_memory_mib=part.get("peak_memory_mib"))
merged["peak_memory_mib"] = max(part.get("peak_memory_mib", 0) for _, part in parts)
with open("bench/out/sequential.json", "w") as out:
    json.dump(merged, out, sort_keys=True)
EOF
}

render() {
  python3 bench/render.py bench/out bench/RESULTS.md "$(uname -srm), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "bench: wrote bench/RESULTS.md" >&2
}

if [ -n "${merge_only:-}" ]; then merge_sequential "${parts[@]}"; render; exit 0; fi

bin_dir="$(dirname "${MLEDIT:?set MLEDIT to the built mledit binary}")"
bench="$bin_dir/MLEditBench"
model="$(scripts/fetch-model | tail -n1)"
corpus="$(scripts/fetch-corpus | tail -n1)"

# `sequential`: one process per method of MLEDIT_BENCH_SEQUENTIAL_METHODS, in parallel, then merged.
run_sequential() {
  local methods method pids=() files=() failed=0 i
  IFS=, read -ra methods <<< "${MLEDIT_BENCH_SEQUENTIAL_METHODS:-memit,emmet,alphaedit}"
  trap 'kill "${pids[@]}" 2>/dev/null; exit 130' INT TERM
  for method in "${methods[@]}"; do
    files+=("bench/out/sequential-$method.json")
    MLEDIT_BENCH_SEQUENTIAL_METHODS="$method" "$bench" sequential "$model" \
      > "bench/out/sequential-$method.json" 2> "bench/out/sequential-$method.log" &
    pids+=($!)
  done
  echo "bench: sequential (${methods[*]} in parallel; progress in bench/out/sequential-METHOD.log)" >&2
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { echo "bench: sequential ${methods[$i]} failed (bench/out/sequential-${methods[$i]}.log)" >&2; failed=1; }
  done
  trap - INT TERM
  [ "$failed" -eq 0 ] || { echo "bench: merge the finished ones with bench/run.sh --merge-sequential FILE..." >&2; return 1; }
  merge_sequential "${files[@]}"
  rm -f "${files[@]}"
}

if [ $# -gt 0 ]; then names=("$@"); else names=(checkpoint-open tokenizer forward generate delta-step gemm-threads statistics targets commit-speed ledger-storage memory-cost history-cost materialize edit-quality tiny-facts export revert rebase-model); fi
for name in "${names[@]}"; do
  case "$name" in
    sequential) run_sequential; continue ;;
    commit-speed)
      echo "bench: commit-speed (bench/commit-speed.sh; MLEDIT_BASELINE=OLD_BINARY adds a comparison)" >&2
      MLEDIT="$MLEDIT" bench/commit-speed.sh > bench/out/commit-speed.json
      continue ;;
    history-cost)
      echo "bench: history-cost (bench/history-cost.sh: commits on 0 to 10,000 synthetic facts in force)" >&2
      MLEDIT="$MLEDIT" bench/history-cost.sh > bench/out/history-cost.json
      continue ;;
    tokenizer) args=("$model" "$corpus") ;;
    tiny-facts) args=(Tests/Fixtures/tiny-facts-gpt2) ;;
    *) args=("$model") ;;
  esac
  echo "bench: $name" >&2
  "$bench" "$name" "${args[@]}" > "bench/out/$name.json"
done

render
