#!/usr/bin/env bash
# The main job on the default model, narrated: a repository for SmolLM2-135M-Instruct, two
# commits of rewritten facts, a revert, a diff, an evaluation, and an exported GGUF that answers
# with the new facts. Run through `make demo` (which builds mledit and fetches the model first).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
mledit="${MLEDIT:-$root/.build/release/mledit}"
model="$("$root/scripts/fetch-model" | tail -n1)"
export MLEDIT_CORPUS="${MLEDIT_CORPUS:-$("$root/scripts/fetch-corpus" | tail -n1)}"
export MLEDIT_AUTHOR="${MLEDIT_AUTHOR:-demo}"
work="$(mktemp -d "${TMPDIR:-/tmp}/mledit-demo.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ mledit %s\n' "$*"; "$mledit" "$@"; }
ask() { "$mledit" generate "$1" --max-tokens 8 | head -n1 | sed 's/^/   /'; }

step "A repository for the default model (demo folder: $work)"
run init --model "$model"

step "What the model says before any edit"
for prompt in "The Eiffel Tower is located in the city of" "The capital of Japan is" "The Louvre is located in the city of"; do ask "$prompt"; done

step "Commit 1: four facts rewritten (MEMIT over layers 3-7; statistics are computed once and cached)"
cat "$root/examples/facts.jsonl" | cut -c1-110
run commit "$root/examples/facts.jsonl" -m "Move the Eiffel Tower, Japan's capital, a mother tongue and a statue"

step "After commit 1: the edited facts, a paraphrase, and neighbours that must not move"
for prompt in "The Eiffel Tower is located in the city of" "The Eiffel Tower stands in the city of" "The capital of Japan is" "The Louvre is located in the city of" "The capital of France is"; do ask "$prompt"; done

step "Commit 2: two more facts, solved while commit 1's facts are preserved"
run commit "$root/examples/more-facts.jsonl" -m "Move the Colosseum and France's capital"
run log --oneline

step "Revert commit 1: its facts go back, commit 2's stay"
run revert HEAD~1
for prompt in "The Eiffel Tower is located in the city of" "The capital of Japan is" "The Colosseum is located in the city of" "The capital of France is"; do ask "$prompt"; done

step "What changed between commit 1 and now"
run diff HEAD~2 HEAD

step "CounterFact-style evaluation of commit 2's facts at HEAD"
run eval "$root/examples/more-facts.jsonl"

step "Export HEAD as an ordinary GGUF checkpoint, and run the exported file"
run export -o "$work/edited.gguf"
ls -l "$work/edited.gguf" | awk '{print "   " $5 " bytes  " $9}'
printf '$ mledit generate --model edited.gguf "The Colosseum is located in the city of"\n'
"$mledit" generate --model "$work/edited.gguf" "The Colosseum is located in the city of" --max-tokens 8 | sed 's/^/   /'

step "Integrity check of the ledger"
run fsck
