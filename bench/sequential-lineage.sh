#!/usr/bin/env bash
# Sequential editing through the command line: the first N CounterFact records with distinct
# subjects committed in batches of B into a fresh repository (each commit preserving the facts in
# force and measuring its health), then `mledit report` over the lineage. The benchmark
# `sequential` measures the same in-process for three methods; this shows it as `mledit report`
# draws it. Usage: MLEDIT=path/to/mledit bench/sequential-lineage.sh [N=500] [B=10] [METHOD=memit]
set -euo pipefail
cd "$(dirname "$0")/.."
mledit="${MLEDIT:?set MLEDIT to the built mledit binary}"
total="${1:-500}" batch="${2:-10}" method="${3:-memit}"
facts="${MLEDIT_BENCH_FACTS:-../shared/data/counterfact-partial.json}"
model="$(scripts/fetch-model | tail -n1)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 - "$facts" "$total" "$batch" "$work" <<'PY'
import json, sys
path, total, batch, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
chosen, seen = [], set()
for record in json.load(open(path)):
    subject = record["requested_rewrite"]["subject"].lower()
    if subject not in seen:
        seen.add(subject)
        chosen.append(record)
    if len(chosen) == total:
        break
if len(chosen) < total:
    sys.exit(f"{path}: only {len(chosen)} records with distinct subjects")
for start in range(0, total, batch):
    with open(f"{work}/batch-{start // batch:04d}.jsonl", "w") as out:
        for record in chosen[start:start + batch]:
            out.write(json.dumps(record) + "\n")
PY

"$mledit" init --model "$model" --dir "$work/repo" >/dev/null
for file in "$work"/batch-*.jsonl; do
  start=$(date +%s)
  "$mledit" --repo "$work/repo" commit "$file" --method "$method" -m "$(basename "$file" .jsonl)" >/dev/null
  echo "sequential-lineage: $(basename "$file") committed in $(( $(date +%s) - start )) s" >&2
done
mkdir -p bench/out
"$mledit" --repo "$work/repo" log --health > bench/out/sequential-lineage-log.txt
"$mledit" --repo "$work/repo" report -o bench/out/sequential-report.html
echo "sequential-lineage: wrote bench/out/sequential-report.html" >&2
