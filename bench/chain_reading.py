"""How often the chain extractor reads an MQuAKE question as its gold relation chain (a diagnostic).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/chain_reading.py [--variants session10,width8,default,noframe]

Every case's edits and the original chains of every case are stored (the world setting of
`kme eval mquake`), then each of the 933 questions is parsed once per variant of the extractor's
settings. A question counts when its chain is exactly the case's `orig.triples` relations; a case
when any of its three questions does. The gold chains are read only here, to score the reading:
the service never sees them. Questions that skip a hop the graph bridges (AUTO walks them) count as
misread, so the shares are a lower bound on what the walker can use. No language model is loaded.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

from _checkout import ROOT  # sets sys.path before the project imports

from kme_store import StoreSettings  # noqa: E402
from kme_store.store import KnowledgeStore  # noqa: E402

from kme_server.evaluation.multi_hop import stored_batches  # noqa: E402
from kme_server.multihop import MultiHop, MultiHopSettings  # noqa: E402

# name -> settings changed from the shipped ones (4 phrases a hop, beam width 48). Variants that
# compare the two settings name both, so their meaning stays when the defaults move.
VARIANTS = {"default": {}, "noclause": {"read_clauses": False}, "noframe": {"read_frame": False},
            "session10": {"phrases_per_hop": 2, "beam_width": 8},
            **{f"phrases{p}-width8": {"phrases_per_hop": p, "beam_width": 8} for p in (3, 6)},
            "phrases6": {"phrases_per_hop": 6},
            **{f"width{w}": {"beam_width": w} for w in (5, 8, 12, 16, 24, 32, 64)}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args()
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        ap.error(f"--variants: unknown {', '.join(unknown)} (known: {', '.join(VARIANTS)})")
    cases = json.loads((args.data_dir / "mquake" / "mquake-cf-dev.json").read_text())
    rows = []
    with tempfile.TemporaryDirectory() as tmp, KnowledgeStore(Path(tmp) / "store", StoreSettings()) as store:
        for batch in stored_batches(cases, True):
            store.add(batch)
        for name in names:
            settings = MultiHopSettings(templates_dir=args.data_dir / "mquake",
                                        relation_labels=args.data_dir / "wikidata" / "relation-labels.json",
                                        **VARIANTS[name])
            multihop = MultiHop(store, None, store.embedder, settings)
            right, by_hops, cases_right = 0, Counter(), 0
            start = time.perf_counter()
            for case in cases:
                gold = [rid for _, rid, _ in case["orig"]["triples"]]
                hits = 0
                for question in case["questions"]:
                    parse = multihop.parse(question)
                    hits += parse is not None and parse.keys == gold
                right += hits
                by_hops[len(gold)] += hits
                cases_right += hits > 0
            ms = (time.perf_counter() - start) * 1000 / (3 * len(cases))
            rows.append((name, VARIANTS[name], right, cases_right, by_hops, ms))
    n = 3 * len(cases)
    hops = Counter(len(c["orig"]["triples"]) for c in cases)
    print(f"\nMQuAKE-CF dev, {len(cases)} cases, {n} questions read as their gold chains (world facts stored)")
    print("| variant | settings | questions | cases | " + " | ".join(f"{h}-hop ({3 * hops[h]})" for h in sorted(hops))
          + " | ms per question |")
    print("|---|---|---:|---:|" + "---:|" * len(hops) + "---:|")
    for name, changed, right, cases_right, by_hops, ms in rows:
        shown = ", ".join(f"{k}={v}" for k, v in changed.items()) or "shipped"
        print(f"| {name} | {shown} | {right} ({right / n:.1%}) | {cases_right} ({cases_right / len(cases):.1%}) | "
              + " | ".join(str(by_hops[h]) for h in sorted(hops)) + f" | {ms:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
