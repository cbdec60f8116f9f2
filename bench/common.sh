# What the end-to-end benchmark scripts share; sourced by commit-speed.sh, history-cost.sh and
# long-history.sh after `cd` to the repository root. Sets model, facts (the CounterFact file,
# MLEDIT_FACTS to override) and work (a temporary folder removed on exit).
model="$(scripts/fetch-model | tail -n1)"
facts="${MLEDIT_FACTS:-../shared/data/counterfact-partial.json}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# A command as a user runs it: no BLAS or thread variables set.
as_user() { env -u OPENBLAS_NUM_THREADS -u OPENBLAS_CORETYPE -u MLEDIT_BLAS_CORETYPE -u MLEDIT_THREADS "$@"; }

# write_records NAME FIRST END: CounterFact records FIRST..<END as $work/NAME.jsonl.
write_records() {
  python3 - "$facts" "$work/$1.jsonl" "$2" "$3" <<'PY'
import json, sys
records = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as out:
    for r in records[int(sys.argv[3]):int(sys.argv[4])]: out.write(json.dumps(r) + "\n")
PY
}
