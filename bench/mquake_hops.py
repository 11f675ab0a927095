"""MQuAKE's hop-wise accuracy by the route AUTO took: which route answers the single-hop clozes wrong.

    KME_MULTIHOP__RELATION_LABELS=../shared/data/wikidata/relation-labels.json \
    HF_HUB_OFFLINE=1 .venv/bin/python bench/mquake_hops.py --setting world

Stores what `kme eval mquake` stores for the setting, in its order (with `world` the cases' world
facts first, then every case's edits, which supersede them), asks every single-hop cloze of the edited chains
(`new_single_hops`) in AUTO through Answerer.ask_many, and counts right and wrong answers by the
route each cloze took. The engine's settings come from the environment as the service's do
(KME_MODEL__DTYPE, KME_ANSWERING__SERAC_DIR, ...), so that two configurations can be compared.
"""
from __future__ import annotations

import argparse
import json
import logging
import tempfile
from collections import Counter
from pathlib import Path

from _checkout import ROOT  # sets sys.path before the project imports

from kme_server.matching import contains  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--setting", choices=["edits", "world"], default="world")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from kme_store.store import KnowledgeStore

    from kme_server.engine import build_engine
    from kme_server.evaluation.multi_hop import stored_batches
    from kme_server.settings import Settings

    cases = json.loads((args.data_dir / "mquake" / "mquake-cf-dev.json").read_text())
    settings = Settings()
    if settings.multihop.templates_dir is None:  # as kme eval mquake does
        settings.multihop.templates_dir = args.data_dir / "mquake"
    hops = [h for c in cases for h in c["new_single_hops"]]
    with tempfile.TemporaryDirectory(prefix="kme-hops-") as tmp, \
            KnowledgeStore(Path(tmp) / "store", settings.store) as store:
        answerer = build_engine(settings, store)
        for batch in stored_batches(cases, args.setting == "world"):
            store.add(batch)
        results = answerer.ask_many([h["cloze"] for h in hops], "auto")
    tally: Counter[tuple[str, bool]] = Counter()
    for hop, result in zip(hops, results):
        tally[(result.mode.value, contains(result.answer, [hop["answer"], *hop["answer_alias"]]))] += 1
    right = sum(n for (_, ok), n in tally.items() if ok)
    print(f"\nMQuAKE-CF dev, {args.setting}: {len(hops)} single-hop clozes, {right / len(hops):.1%} right "
          f"({settings.model.name_or_path}, dtype {settings.model.dtype}, classifier {settings.answering.serac_dir})")
    print("| route | clozes | right | wrong |")
    print("|---|---:|---:|---:|")
    for route in sorted({r for r, _ in tally}):
        ok, bad = tally[(route, True)], tally[(route, False)]
        print(f"| {route} | {ok + bad} | {ok} | {bad} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
