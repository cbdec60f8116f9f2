#!/usr/bin/env python3
# Loads mledit's exports with Hugging Face transformers and PEFT, as a user would, and prints one
# JSON line of what they compute; the tests (Tests/MLEditCLITests/TransformersLoadTests.swift) judge
# it. Runs in the venv scripts/setup-transformers creates. It compares nothing with mledit itself.
#
#   check-hf-export.py load MODEL_DIR PROMPT TARGET [--greedy N]
#       AutoModelForCausalLM + AutoTokenizer from MODEL_DIR: prompt ids, the first id of " " + TARGET,
#       top-5 next ids, the last position's logits, and N greedy tokens.
#   check-hf-export.py lora BASE_DIR ADAPTER_DIR FULL_DIR PROMPT
#       BASE_DIR with the adapter applied (PeftModel), then merged (merge_and_unload), against the
#       full export FULL_DIR: largest |Δ logit| over every position, and how much the adapter moves them.
import argparse
import json
import sys

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer


def load(folder):
    model = AutoModelForCausalLM.from_pretrained(folder)
    model.eval()
    return model


def logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float()


def largest(a, b):
    return float((a - b).abs().max())


def check_load(args):
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = load(args.model)
    ids = tokenizer(args.prompt, add_special_tokens=False)["input_ids"]
    last = logits(model, ids)[-1]
    greedy = list(ids)
    for _ in range(args.greedy):
        greedy.append(int(logits(model, greedy)[-1].argmax()))
    return {
        "class": type(model).__name__,
        "tokenizer": type(tokenizer).__name__,
        "dtype": str(model.dtype).removeprefix("torch."),
        "prompt_ids": ids,
        "target_id": tokenizer(" " + args.target, add_special_tokens=False)["input_ids"][0],
        "top_ids": last.topk(5).indices.tolist(),
        "greedy_ids": greedy[len(ids):],
        "logits": last.tolist(),
    }


def check_lora(args):
    tokenizer = AutoTokenizer.from_pretrained(args.full)
    ids = tokenizer(args.prompt, add_special_tokens=False)["input_ids"]
    full = logits(load(args.full), ids)
    base = load(args.base)
    unedited = logits(base, ids)
    adapted = PeftModel.from_pretrained(base, args.adapter)
    wrapped = sorted(name for name, module in adapted.named_modules() if hasattr(module, "lora_A") and len(module.lora_A) > 0)
    with_adapter = logits(adapted, ids)
    merged = logits(adapted.merge_and_unload(), ids)
    return {
        "class": type(adapted).__name__,
        "lora_modules": wrapped,
        "prompt_ids": ids,
        "adapter_vs_full": largest(with_adapter, full),
        "merged_vs_full": largest(merged, full),
        "base_vs_full": largest(unedited, full),
        "top_id_adapter": int(with_adapter[-1].argmax()),
        "top_id_full": int(full[-1].argmax()),
    }


def main():
    parser = argparse.ArgumentParser(description="Load mledit exports with transformers and PEFT.")
    modes = parser.add_subparsers(dest="mode", required=True)
    one = modes.add_parser("load")
    one.add_argument("model")
    one.add_argument("prompt")
    one.add_argument("target")
    one.add_argument("--greedy", type=int, default=4)
    adapter = modes.add_parser("lora")
    adapter.add_argument("base")
    adapter.add_argument("adapter")
    adapter.add_argument("full")
    adapter.add_argument("prompt")
    args = parser.parse_args()
    torch.set_num_threads(1)
    result = check_load(args) if args.mode == "load" else check_lora(args)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
