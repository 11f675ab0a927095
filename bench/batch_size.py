"""Generation throughput of the default model by generate_batch size, on the prompts AUTO builds.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/batch_size.py --n 100 --sizes 32 64 128 256

The prompts are those of bench/model_dtype.py: a seeded sample of CounterFact validation records
stored at once, every question of those cases routed by AUTO, the distinct prompts the model would
complete kept by route. Each batch size completes every route's prompts with generate_batch, in
the model's default dtype; the sizes run in turn `--repeats` times so that a noisy machine shows
in the spread. Prints per size and route milliseconds per prompt (best and worst repeat) and how
many answers (cut as the service cuts them) equal the first size's.
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from _checkout import ROOT  # sets sys.path before the project imports
from model_dtype import auto_prompts

from kme_server.answering import clean_answer  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--n", type=int, default=100, help="CounterFact validation records")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sizes", nargs="+", type=int, default=[32, 64, 128, 256])
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    if any(size < 1 for size in args.sizes):
        ap.error("--sizes: every batch size must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from kme_server.answering import AnsweringSettings
    from kme_server.answers import GenerationOptions
    from kme_server.models import ModelSettings, load_model
    from kme_server.models.hf import HFLanguageModel

    prompts = auto_prompts(args.data_dir, args.n, args.seed)
    answering = AnsweringSettings()
    options = GenerationOptions(max_new_tokens=answering.max_new_tokens, stop=tuple(answering.stop))
    loaded = load_model(ModelSettings())
    loaded.generate_batch(["Hello"], options)  # first-call allocations out of the timing
    # one set of weights, one wrapper per size
    models = {size: HFLanguageModel(loaded.model, loaded.tokenizer, name=loaded.name, generate_batch_size=size)
              for size in args.sizes}
    times: dict[tuple[int, str], list[float]] = {}
    same: dict[tuple[int, str], int] = {}
    first: dict[str, list[str]] = {}
    for _ in range(args.repeats):
        for size, model in models.items():
            for route, ps in sorted(prompts.items()):
                start = time.perf_counter()
                answers = [clean_answer(raw, options.stop) for raw in model.generate_batch(ps, options)]
                times.setdefault((size, route), []).append(1000 * (time.perf_counter() - start) / len(ps))
                reference = first.setdefault(route, answers)
                same[(size, route)] = sum(a == b for a, b in zip(answers, reference))
    print(f"\nCounterFact val, {args.n} records (seed {args.seed}): AUTO's prompts completed by generate_batch, "
          f"{args.repeats} repeats")
    print(f"| batch size | route | prompts | ms per prompt (best / worst) | answers equal to size {args.sizes[0]}'s |")
    print("|---:|---|---:|---:|---:|")
    for (size, route), ms in times.items():
        n = len(prompts[route])
        print(f"| {size} | {route} | {n} | {min(ms):.0f} / {max(ms):.0f} | {same[(size, route)]} / {n} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
