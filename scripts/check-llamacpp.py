#!/usr/bin/env python3
# Loads a GGUF file that mledit exported with llama.cpp itself (through llama-cpp-python), as a
# user would, and prints one JSON line of what llama.cpp computes for each prompt; the tests
# (Tests/MLEditCLITests/LlamaCppTests.swift) judge it against mledit's own run. Runs in the venv
# scripts/setup-llamacpp creates. It compares nothing with mledit itself.
#
#   check-llamacpp.py GGUF PROMPT [PROMPT ...] [--top K] [--greedy N]
#       for every prompt: llama.cpp's prompt ids (BOS as the file's metadata asks), the K most
#       likely next ids with their log-probabilities (log-softmax of the last position's logits,
#       in float64), N greedy ids (argmax of the logits) and the text create_completion returns at
#       temperature 0 for N tokens.
import argparse
import json

import llama_cpp
import numpy as np


def last_logits(model, ids):
    model.reset()
    model.eval(ids)
    return np.asarray(model.scores[len(ids) - 1], dtype=np.float64)


def top_logprobs(logits, top):
    shifted = logits - logits.max()
    logprobs = shifted - np.log(np.exp(shifted).sum())
    order = np.argsort(-logprobs, kind="stable")[:top]
    return [{"id": int(i), "logprob": float(logprobs[i])} for i in order]


def greedy_ids(model, ids, count):
    """Argmax of llama.cpp's logits, one token at a time."""
    out = []
    for _ in range(count):
        out.append(int(last_logits(model, ids + out).argmax()))
    return out


def completion_text(model, prompt, count):
    """What a user gets from the high-level API with greedy sampling."""
    model.reset()
    completion = model.create_completion(prompt, max_tokens=count, temperature=0.0, top_k=1, seed=0)
    return completion["choices"][0]["text"]


def main():
    parser = argparse.ArgumentParser(description="Run a GGUF file with llama.cpp (llama-cpp-python).")
    parser.add_argument("gguf")
    parser.add_argument("prompts", nargs="+")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--greedy", type=int, default=4)
    args = parser.parse_args()

    # logits_all keeps every position's logits in `scores`; one thread keeps the sums in one order.
    model = llama_cpp.Llama(model_path=args.gguf, n_ctx=256, n_batch=256, n_threads=1, n_threads_batch=1,
                  logits_all=True, seed=0, verbose=False)
    results = []
    for prompt in args.prompts:
        ids = model.tokenize(prompt.encode("utf-8"), add_bos=True)
        results.append({
            "prompt": prompt,
            "prompt_ids": ids,
            "top_logprobs": top_logprobs(last_logits(model, ids), args.top),
            "greedy_ids": greedy_ids(model, ids, args.greedy),
            "completion": completion_text(model, prompt, args.greedy),
        })
    print(json.dumps({"llama_cpp_python": llama_cpp.__version__, "n_vocab": model.n_vocab(), "results": results}))


if __name__ == "__main__":
    main()
