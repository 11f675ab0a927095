"""How the walker should ask the base model for a hop the store cannot answer: cloze or few-shot.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/hop_prompts.py --n 300 --seed 0 [--dtype float32]

A seeded sample of MQuAKE-CF dev's unedited single hops (`single_hops`, aligned with
`orig.triples` for the relation id) is put to the default model the way the walker puts a model
hop (Walker.hop_prompt, then normalize_answer). A hop is known when the normalized answer contains
the gold answer or an alias; "entity-like" counts answers of at most four words, the form the next
hop's store lookup can start from. Prints one table row per prompt style, then two rows that
combine them: "either" (an oracle: the hop is known when either style's answer is right) and
"rerank" (of the two answers, the one with the higher sum of per-token mean log-probabilities
under both prompts; a candidate for asking the model twice). With --hop-styles (the file `make
hop-styles` measured on ROME's known_1000, not on this set), one more row: per relation the
style that file names, i.e. what the walker's default `per_relation` asks.
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
from kme_server.multihop.hop_styles import HopStyles  # noqa: E402

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
    ap.add_argument("--hop-styles", type=Path, help="per-relation styles (make hop-styles: .cache/hop-styles.json)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from kme_server.models import ModelSettings, load_model

    cases = json.loads((args.data_dir / "mquake" / "mquake-cf-dev.json").read_text())
    hops = sample_hops(cases, args.n, args.seed)
    model = load_model(ModelSettings(dtype=args.dtype))
    rows = []
    asked_by: dict[str, list[tuple[str, list[str]]]] = {}
    answers_by: dict[str, list[str]] = {}
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
        rows.append(_row(style, answers, [gold for _, gold in asked], seconds))
        asked_by[style], answers_by[style] = asked, answers
        for (p, gold), a in list(zip(asked, answers))[:3]:
            log.info("%s: %r -> %r (gold %r)", style, p[-80:], a, gold[0])
    rows.extend(_combined(model, asked_by, answers_by))
    if args.hop_styles:
        styles = HopStyles.load(args.hop_styles)
        catalogue = RelationCatalogue.from_settings(MultiHopSettings(templates_dir=args.data_dir / "mquake"))
        keys = [r for _, r, _ in hops if catalogue.get(r)]  # the hops both styles asked, in order
        picked = [answers_by[styles.style(key)][i] for i, key in enumerate(keys)]
        rows.append(_row(f"per_relation ({args.hop_styles.name}, {styles.model})", picked,
                         [gold for _, gold in asked_by["cloze"]], 0.0))
    print(f"\nMQuAKE-CF dev single hops, seed {args.seed}, {model.name} ({args.dtype})")
    print("| hop prompt | hops | known | entity-like answers | seconds |")
    print("|---|---:|---:|---:|---:|")
    for style, n, known, entity, seconds in rows:
        shown = "–" if entity != entity else f"{entity:.1%}"  # NaN: not one answer
        print(f"| {style} | {n} | {known:.1%} | {shown} | {seconds:.0f} |")
    return 0


def _combined(model, asked_by: dict, answers_by: dict) -> list[tuple]:
    """The "either" and "rerank" rows of the two styles' answers to the same hops."""
    cloze, few = answers_by["cloze"], answers_by["few_shot"]
    golds = [gold for _, gold in asked_by["cloze"]]
    either = sum(contains(a, g) or contains(b, g) for a, b, g in zip(cloze, few, golds))
    start = time.perf_counter()
    picked = []
    for i, (a, b) in enumerate(zip(cloze, few)):
        candidates = [c for c in dict.fromkeys([a, b]) if c]
        if len(candidates) < 2:
            picked.append(b or a)
            continue
        total = dict.fromkeys(candidates, 0.0)
        for style in ("cloze", "few_shot"):
            for scored in model.score(asked_by[style][i][0], [" " + c for c in candidates]):
                total[scored.candidate[1:]] += scored.logprob / max(scored.tokens, 1)
        picked.append(max(candidates, key=total.__getitem__))
    seconds = time.perf_counter() - start
    return [("either (oracle)", len(golds), either / len(golds), float("nan"), 0.0),
            _row("rerank (both prompts scored)", picked, golds, seconds)]


def _row(style: str, answers: list[str], golds: list[list[str]], seconds: float) -> tuple:
    """One table row: hops, share known, share of entity-like answers (at most four words), seconds."""
    n = len(answers)
    known = sum(contains(a, gold) for a, gold in zip(answers, golds))
    entity = sum(0 < len(a.split()) <= 4 for a in answers)
    return style, n, known / n, entity / n, seconds


if __name__ == "__main__":
    raise SystemExit(main())
