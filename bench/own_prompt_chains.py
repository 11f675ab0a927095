"""Which questions read as chains does AUTO keep from the walk as one relation's question?

    KME_MULTIHOP__RELATION_LABELS=../shared/data/wikidata/relation-labels.json \
    HF_HUB_OFFLINE=1 .venv/bin/python bench/own_prompt_chains.py [--examples 8]

AUTO walks a question read as two or more hops unless the question, its start entity aside, is
word for word the cloze or question of a relation the catalogue knows (MultiHop.asks_one_relation),
or opens with the cloze of the chain's outermost relation about the start entity itself
(MultiHop.opens_with_outer_hop). Stored and read as `kme eval` stores and reads them
(CounterFact validation with every edit stored and the catalogue the service builds from the
store; MQuAKE-CF dev with its relation templates, edits only and edits plus world facts), this
counts the questions read as chains and those the two rules keep from the walk. MQuAKE's
questions are real chains: any question counted there is a case whose answer the rules change.
No model is loaded.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any, Sequence

from _checkout import ROOT  # sets sys.path before the project imports


def count(store: Any, settings: Any, questions: Sequence[str]) -> tuple[int, list[str]]:
    """(questions read as chains, those among them that AUTO does not walk as chains)."""
    from kme_server.multihop import MultiHop

    multihop = MultiHop(store, None, store.embedder, settings)
    chains, own = 0, []
    for question in questions:
        parse = multihop.parse(question)
        if multihop.is_multi_hop(parse):
            chains += 1
            if not multihop.is_multi_hop(parse, question):
                own.append(f"{question} -> {' / '.join(r.label for r in parse.relations)}")
    return chains, own


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--examples", type=int, default=8)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from _question_sets import question_sets

    from kme_server.settings import Settings

    rows = [(name, len(questions), *count(store, mh_settings, questions))
            for name, store, mh_settings, questions, _ in question_sets(args.data_dir, Settings())]
    print("| questions | asked | read as chains | of those, asking one relation |")
    print("|---|---:|---:|---:|")
    for name, asked, chains, own in rows:
        print(f"| {name} | {asked} | {chains} | {len(own)} |")
    for name, _, _, own in rows:
        for line in own[:args.examples]:
            print(f"  {name}: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
