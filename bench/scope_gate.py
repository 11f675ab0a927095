"""What AUTO's scope gate claims: questions read as chains that the classifier puts in one edit's scope.

    KME_MULTIHOP__RELATION_LABELS=../shared/data/wikidata/relation-labels.json \
    HF_HUB_OFFLINE=1 .venv/bin/python bench/scope_gate.py --model .cache/serac

AUTO reads every question for a relation chain; one read as two or more hops is first put to the
scope classifier (editing/serac/route.py, scope_gate) and answered by SERAC when the classifier
puts it in the scope of a retrieved fact, else walked. On CounterFact validation (all 1,919
edits stored) every question of every case is single-hop, so the gate should claim all that are
read as chains; on MQuAKE-CF dev (edits stored, and edits plus world facts) the questions are
real chains, so it should claim none. Prints, per set, how many questions are read as chains and
how many of those the gate claims.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any, Sequence

from _checkout import ROOT  # sets sys.path before the project imports

log = logging.getLogger("scope_gate")


def count(store: Any, classifier: Any, settings: Any, questions: Sequence[str]) -> tuple[int, int]:
    """(read as chains, claimed by the gate) among `questions`, against the facts in `store`."""
    from kme_server.multihop import MultiHop

    multihop = MultiHop(store, None, store.embedder, settings)
    chains = claimed = 0
    for question in questions:
        if not multihop.is_multi_hop(multihop.parse(question)):
            continue
        chains += 1
        hits = store.retrieve(question)
        match = classifier.best(question, [h.fact for h in hits]) if hits else None
        claimed += bool(match and match.in_scope)
    return chains, claimed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=Path(".cache/serac"), help="a trained classifier directory")
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from _question_sets import question_sets

    from kme_server.editing.serac.scope import ScopeClassifier
    from kme_server.settings import Settings

    classifier = ScopeClassifier.load(args.model)
    rows = []
    for name, store, mh_settings, questions, single_hop in question_sets(args.data_dir, Settings()):
        label = f"{name} ({'all single-hop' if single_hop else 'all chains'})"
        rows.append((label, len(questions), *count(store, classifier, mh_settings, questions),
                     "all" if single_hop else "none"))
    print(f"\nscope gate of {args.model} (threshold {classifier.settings.threshold})")
    print("| questions | asked | read as chains | claimed by the gate | should claim |")
    print("|---|---:|---:|---:|---|")
    for name, asked, chains, claimed, should in rows:
        print(f"| {name} | {asked} | {chains} | {claimed} | {should} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
