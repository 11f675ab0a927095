"""Store-only walks on MQuAKE: how the walker's stand-in relations, bridge hops and swapped hops
change what the stored facts alone answer.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/walk_variants.py [--settings world,edits]

Every case's edits are stored (and, in the world setting, the original chains of every case
beneath them, as ../shared/tools/kme_score.py stores them). Each question is parsed by the
service's chain extractor once; AUTO's tests (two or more hops read with confidence, or one
relation the store reaches only through an unnamed hop) decide whether it is walked. The walk runs without a language model, so a hop the store cannot decide ends it: the
numbers isolate the store side of the walker (model hops add to them in the full evaluation).
A case counts when any of its three questions ends at `new_answer` or an alias. Gold chains are
never used.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path

from _checkout import ROOT  # sets sys.path before the project imports

from kme_store import StoreSettings  # noqa: E402
from kme_store.store import KnowledgeStore  # noqa: E402

from kme_server.matching import contains  # noqa: E402
from kme_server.evaluation.multi_hop import stored_batches  # noqa: E402
from kme_server.multihop import MultiHop, MultiHopSettings  # noqa: E402

# (bridge_hops, stand_in_similarity, stand_in_narrower, swap_from_store); a similarity of 1.01
# turns similarity stand-ins off. The last row is the shipped configuration.
VARIANTS = [(0, 1.01, False, False), (2, 1.01, False, False), (0, 0.65, False, False), (2, 0.6, False, False),
            (2, 0.65, False, False), (2, 0.65, True, False), (2, 0.65, False, True), (2, 0.65, True, True)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--settings", default="world,edits")
    args = ap.parse_args()
    data = args.data_dir
    cases = json.loads((data / "mquake" / "mquake-cf-dev.json").read_text())
    base = MultiHopSettings(templates_dir=data / "mquake", relation_labels=data / "wikidata" / "relation-labels.json")
    print(f"MQuAKE-CF dev, {len(cases)} cases, store-only walks (no model hops)")
    print("| setting | bridge hops | stand-in similarity | narrower stands in | swap | cases | questions | 2-hop | 3-hop | 4-hop |")
    print("|---|---:|---:|---|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for setting in args.settings.split(","):
            with KnowledgeStore(Path(tmp) / setting, StoreSettings()) as store:
                for batch in stored_batches(cases, setting == "world"):
                    store.add(batch)
                reader = MultiHop(store, None, store.embedder, base)
                parses = {q: reader.parse(q) for c in cases for q in c["questions"]}
                for bridges, stand_in, narrower, swap in VARIANTS:
                    mh = MultiHop(store, None, store.embedder, base.model_copy(update={
                        "bridge_hops": bridges, "stand_in_similarity": stand_in, "stand_in_narrower": narrower,
                        "swap_from_store": swap}))
                    right, questions, by_hops = 0, 0, Counter()
                    for c in cases:
                        gold = [c["new_answer"], *c["new_answer_alias"]]
                        hits = []
                        for q in c["questions"]:
                            p = parses[q]
                            if not (mh.is_multi_hop(p) or mh.is_bridged(p)):
                                hits.append(False)
                                continue
                            walk = mh.walker.walk(p.entity.name, p.relations)
                            hits.append(walk.complete and contains(walk.answer, gold))
                        right += any(hits)
                        questions += sum(hits)
                        by_hops[len(c["new_single_hops"])] += any(hits)
                    n = len(cases)
                    shown = "off" if stand_in > 1 else f"{stand_in:.2f}"
                    print(f"| {setting} | {bridges} | {shown} | {'yes' if narrower else 'no'} | {'yes' if swap else 'no'} | {right / n:.1%} | {questions / (3 * n):.1%} | "
                          + " | ".join(str(by_hops[h]) for h in (2, 3, 4)) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
