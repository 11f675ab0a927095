"""Generation speed and answers of the default model in each dtype, on the prompts AUTO builds.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/model_dtype.py --n 200 --dtypes float32 bfloat16

A seeded sample of CounterFact validation records is stored (all at once) in a fresh store, and
every question of those cases (edit prompt, rephrasings, locality and same-subject prompts) is
routed by AUTO; the distinct prompts the model would complete are then completed by
generate_batch in each dtype, timed, and split by route (SERAC prompts carry IKE demonstrations
and the edit; NONE prompts are the bare question). Prints per dtype and route the prompts, their
mean length in tokens, milliseconds per prompt, and how many answers (cut as the service cuts
them) equal the first dtype's.
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from _checkout import ROOT  # sets sys.path before the project imports

from kme_server.answering import clean_answer  # noqa: E402

log = logging.getLogger("model_dtype")


def auto_prompts(data_dir: Path, n: int, seed: int) -> dict[str, list[str]]:
    """The distinct prompts AUTO would complete for a sample of CounterFact val, by route."""
    from kme_store.store import KnowledgeStore

    from kme_server.engine import build_engine
    from kme_server.evaluation.cases import load_cases, sample_cases
    from kme_server.evaluation.single_hop import _questions
    from kme_server.models.loading import load_model
    from kme_server.settings import Settings

    settings = Settings()
    cases = sample_cases(load_cases(data_dir / "counterfact" / "counterfact-val.json", "counterfact"), n, seed)
    model = load_model(settings.model)
    by_route: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="kme-dtype-") as tmp, \
            KnowledgeStore(Path(tmp) / "store", settings.store) as store:
        answerer = build_engine(settings, store, model=model)
        store.add([c.edit for c in cases])
        for question in (q for c in cases for q in _questions(c)):
            plan = answerer.plan(question, "auto")
            if plan.answer is None:
                by_route.setdefault(plan.mode.value, []).append(plan.prompt)
    return {route: sorted(set(prompts), key=len) for route, prompts in by_route.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--n", type=int, default=200, help="CounterFact validation records")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from kme_server.answering import AnsweringSettings
    from kme_server.answers import GenerationOptions
    from kme_server.models import ModelSettings, load_model

    prompts = auto_prompts(args.data_dir, args.n, args.seed)
    answering = AnsweringSettings()
    options = GenerationOptions(max_new_tokens=answering.max_new_tokens, stop=tuple(answering.stop))
    rows, first = [], {}
    for dtype in args.dtypes:
        model = load_model(ModelSettings(dtype=dtype))
        for route, ps in sorted(prompts.items()):
            start = time.perf_counter()
            answers = [clean_answer(raw, options.stop) for raw in model.generate_batch(ps, options)]
            seconds = time.perf_counter() - start
            first.setdefault(route, answers)
            same = sum(a == b for a, b in zip(answers, first[route]))
            tokens = sum(model.count_tokens(p) for p in ps) / len(ps)
            rows.append((dtype, route, len(ps), tokens, 1000 * seconds / len(ps), same))
    print(f"\nCounterFact val, {args.n} records (seed {args.seed}): AUTO's prompts completed by generate_batch")
    print(f"| dtype | route | prompts | tokens (mean) | ms per prompt | answers equal to {args.dtypes[0]}'s |")
    print("|---|---|---:|---:|---:|---:|")
    for dtype, route, n, tokens, ms, same in rows:
        print(f"| {dtype} | {route} | {n} | {tokens:.0f} | {ms:.0f} | {same} / {n} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
