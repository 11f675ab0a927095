"""How the walker should ask the base model for a hop the store cannot answer: cloze or few-shot.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/hop_prompts.py --n 300 --seed 0 [--dtype float32]

A seeded sample of MQuAKE-CF dev's unedited single hops (`single_hops`, aligned with
`orig.triples` for the relation id) is put to the default model the way the walker puts a model
hop (Walker.hop_prompt, then normalize_answer). A hop is known when the normalized answer contains
the gold answer or an alias; "entity-like" counts answers of at most four words, the form the next
hop's store lookup can start from. Prints one table row per prompt style.
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import time
from pathlib import Path

from _checkout import ROOT  # sets sys.path before the project imports

from kme_server.answers import GenerationOptions  # noqa: E402
from kme_server.matching import contains  # noqa: E402
from kme_server.multihop import MultiHopSettings, RelationCatalogue, Walker, normalize_answer  # noqa: E402

log = logging.getLogger("hop_prompts")


def sample_hops(cases: list[dict], n: int, seed: int) -> list[tuple[str, str, list[str]]]:
    """Distinct (subject, relation id, answers) of the cases' unedited chains, seeded."""
    hops = {}
    for case in cases:
        for (_, rid, _), (subject, _, _), hop in zip(case["orig"]["triples"], case["orig"]["triples_labeled"],
                                                    case["single_hops"]):
            hops[(subject, rid)] = [hop["answer"], *hop["answer_alias"]]
    keys = sorted(hops)
    chosen = random.Random(seed).sample(keys, min(n, len(keys)))
    return [(s, r, hops[(s, r)]) for s, r in chosen]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", default="auto", help="the model's dtype (ModelSettings.dtype)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from kme_server.models import ModelSettings, load_model

    cases = json.loads((args.data_dir / "mquake" / "mquake-cf-dev.json").read_text())
    hops = sample_hops(cases, args.n, args.seed)
    model = load_model(ModelSettings(dtype=args.dtype))
    rows = []
    for style in ("cloze", "few_shot"):
        settings = MultiHopSettings(templates_dir=args.data_dir / "mquake", hop_prompt=style)
        catalogue = RelationCatalogue.from_settings(settings)
        walker = Walker(None, model, settings)  # type: ignore[arg-type]  # only hop_prompt is used
        asked = [(walker.hop_prompt(s, catalogue.get(r)), answers) for s, r, answers in hops if catalogue.get(r)]
        options = GenerationOptions(max_new_tokens=settings.max_new_tokens, stop=("\n",))
        start = time.perf_counter()
        raws = model.generate_batch([p for p, _ in asked], options)
        seconds = time.perf_counter() - start
        answers = [normalize_answer(r) for r in raws]
        known = sum(contains(a, gold) for a, (_, gold) in zip(answers, asked))
        entity = sum(0 < len(a.split()) <= 4 for a in answers)
        rows.append((style, len(asked), known / len(asked), entity / len(asked), seconds))
        for (p, gold), a in list(zip(asked, answers))[:3]:
            log.info("%s: %r -> %r (gold %r)", style, p[-80:], a, gold[0])
    print(f"\nMQuAKE-CF dev single hops, seed {args.seed}, {model.name} ({args.dtype})")
    print("| hop prompt | hops | known | entity-like answers | seconds |")
    print("|---|---:|---:|---:|---:|")
    for style, n, known, entity, seconds in rows:
        print(f"| {style} | {n} | {known:.1%} | {entity:.1%} | {seconds:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
