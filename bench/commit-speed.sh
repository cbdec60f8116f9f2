#!/usr/bin/env bash
# End-to-end speed of `mledit commit` as a user runs it (no BLAS variables set), with cached
# preservation statistics: 10 CounterFact facts as a repository's first commit and as its second,
# with 1 and 2 worker threads; then the revert of the 5th of 10 commits of 8 facts. With
# MLEDIT_BASELINE set to another mledit binary, the commits are also made with it for comparison
# (and the revert too with MLEDIT_BENCH_BASELINE_REVERT=1).
# Prints one JSON object (bench/out/commit-speed.json when run by bench/run.sh).
# Usage: MLEDIT=path/to/mledit [MLEDIT_BASELINE=path/to/old/mledit] bench/commit-speed.sh
set -euo pipefail
cd "$(dirname "$0")/.."
new="${MLEDIT:?set MLEDIT to the built mledit binary}"
baseline="${MLEDIT_BASELINE:-}"
. bench/common.sh
write_records first 0 10; write_records second 10 20; write_records warm 20 21
for i in 0 1 2 3 4 5 6 7 8 9; do write_records "c$i" $((100 + 8 * i)) $((108 + 8 * i)); done

# "wall-seconds cpu-seconds" of a command (user + sys of it and its children); output to $work/log
timed() {
  local TIMEFORMAT="%R %U %S" times
  times=$( { time "$@" >>"$work/log" 2>&1 ; } 2>&1 )
  python3 -c "import sys; r,u,s=map(float,sys.argv[1:4]); print(f'{r:.2f} {u+s:.2f}')" $times
}

json="{"
add() { json+="\"$1\": $2, "; }
for label in new baseline; do
  bin="$new"; [ "$label" = baseline ] && bin="$baseline"
  [ -n "$bin" ] || continue
  # A binary that verifies commits refuses one whose facts do not all land; record the rest, as
  # the older binary (which does not verify) records them all.
  partial=""; "$bin" help commit 2>/dev/null | grep -q -- --allow-partial && partial="--allow-partial"
  # Statistics into the shared cache first, so that every timed commit finds them there.
  rm -rf "$work/warm-repo" && mkdir "$work/warm-repo"
  (cd "$work/warm-repo" && "$bin" init --model "$model" >/dev/null && { "$bin" commit "$work/warm.jsonl" --no-health >/dev/null 2>&1 || true; })
  for threads in user 1 2; do
    rm -rf "$work/r" && mkdir "$work/r" && cd "$work/r"
    "$bin" init --model "$model" >/dev/null
    # The baseline has no worker threads of its own: its N threads are OpenBLAS's.
    if [ "$threads" = user ]; then run=(as_user "$bin")
    elif [ "$label" = baseline ]; then run=(env -u OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS=$threads "$bin")
    else run=(env -u OPENBLAS_CORETYPE MLEDIT_THREADS=$threads OPENBLAS_NUM_THREADS=1 "$bin"); fi
    read -r wall cpu <<<"$(timed "${run[@]}" commit "$work/first.jsonl" $partial)"
    add "${label}_${threads}_first_commit_10_seconds" "$wall"; add "${label}_${threads}_first_commit_10_cpu_seconds" "$cpu"
    read -r wall cpu <<<"$(timed "${run[@]}" commit "$work/second.jsonl" $partial)"
    add "${label}_${threads}_second_commit_10_seconds" "$wall"; add "${label}_${threads}_second_commit_10_cpu_seconds" "$cpu"
    cd - >/dev/null
  done
  if [ "$label" = new ] || [ "${MLEDIT_BENCH_BASELINE_REVERT:-0}" = 1 ]; then
    rm -rf "$work/rv" && mkdir "$work/rv" && cd "$work/rv"
    "$bin" init --model "$model" >/dev/null
    read -r wall cpu <<<"$(timed bash -c "for i in 0 1 2 3 4 5 6 7 8 9; do as_user() { env -u OPENBLAS_NUM_THREADS \"\$@\"; }; as_user '$bin' commit '$work'/c\$i.jsonl --no-health $partial || exit 1; done")"
    add "${label}_user_ten_commits_of_8_seconds" "$wall"
    read -r wall cpu <<<"$(timed as_user "$bin" revert HEAD~5)"
    add "${label}_user_revert_5th_of_10_seconds" "$wall"; add "${label}_user_revert_5th_of_10_cpu_seconds" "$cpu"
    # A commit of 10 facts with the 72 facts left in force (beside the first commit's 0).
    read -r wall cpu <<<"$(timed as_user "$bin" commit "$work/second.jsonl" $partial)"
    add "${label}_user_commit_10_with_72_in_force_seconds" "$wall"; add "${label}_user_commit_10_with_72_in_force_cpu_seconds" "$cpu"
    cd - >/dev/null
  fi
done
add blas "\"$("$new" --version | sed -n 's/^BLAS: //p')\""
add load_before "\"$(cut -d' ' -f1-3 /proc/loadavg)\""
add date "\"$(date -u +%Y-%m-%dT%H:%MZ)\""
json="${json%, }}"
echo "$json"
