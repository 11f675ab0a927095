"""Probe the preset models: MQuAKE single-hop knowledge, in-context fact following, and decode speed.

    PYTHONPATH=server:. HF_HUB_OFFLINE=1 python bench/model_probe.py --n 100

(a) knowledge: the share of a seeded sample of single-hop cloze prompts ("Marc Cherry is a citizen
of") whose greedy answer contains the answer or an alias; (b) in-context following: a
counterfactual fact is written before the edit's cloze in a few formats, and we count how often
the answer contains the new target (and how often it does with no fact, as a floor); (c) speed:
ms per decoded token (from 1- and 17-token generations) and the p50/p90 latency of
<=16-token answers to (a)'s prompts, one request at a time. Loads each model once.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import time
from pathlib import Path
from typing import Callable

from _checkout import ROOT  # sets sys.path before the project imports

from kme_server.answers import GenerationOptions  # noqa: E402
from kme_server.matching import contains  # noqa: E402
from kme_server.models import ModelSettings, load_model  # noqa: E402
from kme_server.models.hf import HFLanguageModel  # noqa: E402

logger = logging.getLogger("model_probe")

DATA = Path("/work/shared/data/mquake/mquake-cf-dev.json")
ANSWER = GenerationOptions(max_new_tokens=16, stop=("\n",))

# How a counterfactual fact is put before the question; {fact} is a full sentence.
FORMATS: dict[str, Callable[[HFLanguageModel, str, str, str], str]] = {
    "fact-line": lambda lm, fact, cloze, question: f"Fact: {fact}\n{cloze}",
    "new-fact-qa": lambda lm, fact, cloze, question: f"New fact: {fact}\nQuestion: {question}\nAnswer:",
    "sentence": lambda lm, fact, cloze, question: f"{fact} {cloze}",
    "chat": lambda lm, fact, cloze, question: lm.chat_prompt(
        f"Assume this is true: {fact}\nAnswer in a few words. {question}"
    ),
}


def sample_hops(cases: list[dict], n: int, seed: int) -> list[dict]:
    """A seeded sample of distinct single-hop cloze prompts with their answers."""
    hops = {hop["cloze"]: hop for case in cases for hop in case["single_hops"]}
    return random.Random(seed).sample(sorted(hops.values(), key=lambda h: h["cloze"]), min(n, len(hops)))


def sample_edits(cases: list[dict], n: int, seed: int) -> list[dict]:
    """A seeded sample of distinct requested rewrites: cloze, question, new target."""
    edits = {}
    for case in cases:
        for rewrite in case["requested_rewrite"]:
            cloze = rewrite["prompt"].format(rewrite["subject"])
            edits[cloze] = {"cloze": cloze, "question": rewrite["question"], "target": rewrite["target_new"]["str"]}
    return random.Random(seed + 1).sample(sorted(edits.values(), key=lambda e: e["cloze"]), min(n, len(edits)))


def probe(lm: HFLanguageModel, hops: list[dict], edits: list[dict], latency_n: int) -> dict:
    """All measurements of one model.

    Accuracy runs through generate_batch() for throughput; latency is measured on generate(),
    one request at a time, whose answers must agree with the batched ones (reported).
    """
    lm.generate("Warm-up:", GenerationOptions(max_new_tokens=4, stop=()))
    answers = lm.generate_batch([hop["cloze"] for hop in hops], ANSWER)
    hits = [contains(answer, [hop["answer"], *hop["answer_alias"]]) for hop, answer in zip(hops, answers)]
    examples = [f"{hop['cloze']!r} -> {answer!r} ({'ok' if ok else 'want ' + hop['answer']})"
                for hop, answer, ok in list(zip(hops, answers, hits))[:6]]
    latencies, agree = [], 0
    for hop, batched in zip(hops[:latency_n], answers):
        started = time.perf_counter()
        single = lm.generate(hop["cloze"], ANSWER)
        latencies.append((time.perf_counter() - started) * 1000)
        agree += single == batched
    result: dict = {
        "knowledge": sum(hits) / len(hops),
        "p50_ms": statistics.median(latencies),
        "p90_ms": statistics.quantiles(latencies, n=10)[-1],
        "batch_agrees": f"{agree}/{len(latencies)}",
        "examples": examples,
    }
    logger.info("%s knowledge %.2f, p50 %.0f ms", lm.name, result["knowledge"], result["p50_ms"])
    targets = [[edit["target"]] for edit in edits]
    plain = lm.generate_batch([edit["cloze"] for edit in edits], ANSWER)
    result["no_fact"] = sum(map(contains, plain, targets)) / len(edits)
    for name, build in FORMATS.items():
        prompts = [build(lm, f"{e['cloze']} {e['target']}.", e["cloze"], e["question"]) for e in edits]
        answers = lm.generate_batch(prompts, ANSWER)
        result[f"follow:{name}"] = sum(map(contains, answers, targets)) / len(edits)
        result["examples"].append(f"[{name}] {prompts[0]!r} -> {answers[0]!r}")
        logger.info("%s %s: %.2f", lm.name, name, result[f"follow:{name}"])
    result["ms_per_token"] = ms_per_token(lm, [h["cloze"] for h in hops[:5]])
    return result


def ms_per_token(lm: HFLanguageModel, prompts: list[str]) -> float:
    """Decode cost of one token: (17-token time - 1-token time) / 16, prefill cancelling out.

    No stop strings; the tokens counted are those actually generated (EOS may end one early).
    """
    one, many, extra_tokens = 0.0, 0.0, 0
    for prompt in prompts:
        started = time.perf_counter()
        lm.generate(prompt, GenerationOptions(max_new_tokens=1, stop=()))
        one += time.perf_counter() - started
        started = time.perf_counter()
        text = lm.generate(prompt, GenerationOptions(max_new_tokens=17, stop=()))
        many += time.perf_counter() - started
        extra_tokens += max(1, lm.count_tokens(prompt + text) - lm.count_tokens(prompt) - 1)
    return (many - one) * 1000 / extra_tokens


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["gemma3-270m", "smollm2-135m"])
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "models")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 is fastest on a busy machine)")
    parser.add_argument("--latency-n", type=int, default=20, help="prompts timed one at a time")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cases = json.loads(args.data.read_text())
    hops, edits = sample_hops(cases, args.n, args.seed), sample_edits(cases, args.n, args.seed)
    results = {}
    for name in args.models:
        lm = load_model(ModelSettings(name_or_path=name, cache_dir=args.cache_dir, num_threads=args.threads))
        started = time.perf_counter()
        results[name] = probe(lm, hops, edits, args.latency_n)
        logger.info("%s probed in %.0f s", name, time.perf_counter() - started)
        del lm
    columns = ["knowledge", "no_fact", *(f"follow:{name}" for name in FORMATS), "ms_per_token", "p50_ms", "p90_ms"]
    print(f"\nMQuAKE-CF dev: {len(hops)} single-hop clozes, {len(edits)} counterfactual edits, seed {args.seed}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("| model | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, result in results.items():
        cells = [f"{result[c]:.0%}" if c in ("knowledge", "no_fact") or c.startswith("follow") else f"{result[c]:.0f}"
                 for c in columns]
        print(f"| {name} | " + " | ".join(cells) + " |")
    for name, result in results.items():
        print(f"\n{name} (batched answers equal single ones: {result['batch_agrees']}) examples:\n  "
              + "\n  ".join(result["examples"]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
