#!/usr/bin/env bash
# The everyday commands on a history of 1,000 commits (10 synthetic facts each, SmolLM2-shaped,
# written by MLEditBench grow-history on one real commit): wall seconds of log, show, status,
# diff across the whole history, generate (which materialises HEAD after verifying all 1,000
# commit ids) and fsck, as a user runs them. Prints one JSON object.
# Usage: MLEDIT=path/to/mledit bench/long-history.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mledit="${MLEDIT:?set MLEDIT to the built mledit binary}"
bench="$(dirname "$mledit")/MLEditBench"
commits="${MLEDIT_BENCH_HISTORY_COMMITS:-1000}"
. bench/common.sh
write_records warm 20 21

seconds() {
  local TIMEFORMAT="%R" t
  t=$( { time as_user "$mledit" "$@" >"$work/out" 2>"$work/err" ; } 2>&1 ) || { echo "bench: mledit $*: $(cat "$work/err")" >&2; exit 1; }
  echo "$t"
}

cd "$work" && mkdir repo && cd repo
"$mledit" init --model "$model" >/dev/null
as_user "$mledit" commit "$work/warm.jsonl" -m warm --no-health --no-verify >/dev/null
"$bench" grow-history "$work/repo" $((commits * 10)) 10 >/dev/null
json="{\"commits\": $((commits + 1)), "
add() { json+="\"$1\": $2, "; }
add log_oneline_seconds "$(seconds log --oneline)"
add log_oneline_lines "$(wc -l < "$work/out")"
add log_20_seconds "$(seconds log -n 20)"
add log_json_20_seconds "$(seconds log --json -n 20)"
add show_head_seconds "$(seconds show HEAD)"
add status_seconds "$(seconds status)"
add diff_whole_history_seconds "$(seconds diff "HEAD~$commits" HEAD)"
add diff_last_commit_seconds "$(seconds diff HEAD~1 HEAD)"
add generate_one_token_seconds "$(seconds generate "The Eiffel Tower is located in" --max-tokens 1)"
add fsck_seconds "$(seconds fsck)"
add ledger_bytes "$(stat -c %s .mledit/ledger.sqlite)"
blas=$(as_user "$mledit" --version | sed -n 's/^BLAS: //p')
printf '%s"blas": "%s"}\n' "$json" "$blas"
