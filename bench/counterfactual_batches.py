"""What batching by length saves in training SERAC's counterfactual model.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/counterfactual_batches.py --steps 40 --windows 1 50

The examples are exactly those `make serac` trains on (counterfactual.training_examples, the
default settings). For each length window (CounterfactualSettings.length_window; 1 cuts the
shuffled order as it is) it prints how many token positions the batches hold against the
examples' own tokens, then times the first `--steps` optimizer steps of the real training from a
freshly loaded base model, float32, on the settings' threads, after one untimed step. The steps
of one window are its run's first ones, a random sample of its batches; so the time per step
times the run's number of steps estimates the training loop of the whole run.
"""
from __future__ import annotations

import argparse
import logging
import time
from dataclasses import replace
from pathlib import Path

from _checkout import ROOT  # sets sys.path before the project imports


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--base", default="gemma3-270m", help="preset or Hugging Face directory")
    ap.add_argument("--steps", type=int, default=40, help="optimizer steps timed per window")
    ap.add_argument("--windows", nargs="+", type=int, default=[1, 50])
    args = ap.parse_args()
    if args.steps < 1 or any(w < 1 for w in args.windows):
        ap.error("--steps and every --windows value must be at least 1")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from kme_server.editing.serac.counterfactual import (CounterfactualSettings, length_batches, token_lengths,
                                                         train, training_examples)
    from kme_server.models.loading import model_dir
    from kme_server.models.settings import ModelSettings

    base = model_dir(ModelSettings(name_or_path=args.base))
    defaults = CounterfactualSettings()
    torch.set_num_threads(defaults.threads)
    examples, _, _ = training_examples(args.data_dir, defaults)
    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    lengths = token_lengths(tokenizer, examples)
    length_of = dict(zip(map(id, examples), lengths))
    steps_in_run = -(-len(examples) // defaults.batch_size)
    rows = []
    for window in args.windows:
        settings = replace(defaults, length_window=window)
        batches = length_batches(examples, lengths, settings.batch_size, window, settings.seed)
        held = sum(max(length_of[id(ex)] for ex in b) * len(b) for b in batches)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, local_files_only=True)
        # one untimed step (first-call allocations), then the timed ones from the run's start
        train(model, tokenizer, examples, settings, max_steps=1)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, local_files_only=True)
        start = time.perf_counter()
        train(model, tokenizer, examples, settings, max_steps=args.steps)
        per_step = (time.perf_counter() - start) / args.steps
        rows.append((window, held / sum(lengths), per_step, per_step * steps_in_run))
        del model
    print(f"\n{len(examples)} training examples, {sum(lengths)} tokens, {steps_in_run} steps of "
          f"{defaults.batch_size}; the first {args.steps} steps timed, float32, {defaults.threads} threads\n")
    print("| length window | positions held / tokens | s per step | training loop, whole run (est.) |")
    print("|---:|---:|---:|---:|")
    for window, ratio, per_step, whole in rows:
        print(f"| {window} | {ratio:.2f}x | {per_step:.2f} | {whole:.0f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
