"""Which questions read as chains are one relation's own prompt (MultiHop.asks_one_relation)?

    KME_MULTIHOP__RELATION_LABELS=../shared/data/wikidata/relation-labels.json \
    HF_HUB_OFFLINE=1 .venv/bin/python bench/own_prompt_chains.py [--examples 8]

AUTO walks a question read as two or more hops unless the question, its start entity aside, is
word for word the cloze or question of a relation the catalogue knows. Stored and read as `kme
eval` stores and reads them (CounterFact validation with every edit stored and the catalogue the
service builds from the store; MQuAKE-CF dev with its relation templates, edits only and edits
plus world facts), this counts the questions read as chains and those the rule keeps from the
walk. MQuAKE's questions are real chains: any question counted there is a case whose answer the
rule changes. No model is loaded.
"""
from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path
from typing import Any, Sequence

from _checkout import ROOT  # sets sys.path before the project imports


def count(store: Any, settings: Any, questions: Sequence[str]) -> tuple[int, list[str]]:
    """(questions read as chains, those among them that are one relation's own prompt)."""
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
    from kme_store.store import KnowledgeStore

    from kme_server.evaluation.cases import load_cases, sample_cases
    from kme_server.evaluation.multi_hop import stored_batches
    from kme_server.evaluation.single_hop import _questions
    from kme_server.settings import Settings

    settings = Settings()
    rows = []
    with tempfile.TemporaryDirectory(prefix="kme-own-") as tmp:
        mquake = json.loads((args.data_dir / "mquake" / "mquake-cf-dev.json").read_text())
        mh_settings = settings.multihop.model_copy(update={"templates_dir": args.data_dir / "mquake"})
        questions = [q for case in mquake for q in case["questions"]]
        for setting in ("edits", "edits + world"):
            with KnowledgeStore(Path(tmp) / setting.replace(" ", ""), settings.store) as store:
                for batch in stored_batches(mquake, setting != "edits"):
                    store.add(batch)
                rows.append((f"mquake-cf-dev, {setting}", len(questions), *count(store, mh_settings, questions)))
        cases = sample_cases(load_cases(args.data_dir / "counterfact" / "counterfact-val.json", "counterfact"), 0, 0)
        with KnowledgeStore(Path(tmp) / "cf", settings.store) as store:
            store.add([c.edit for c in cases])
            questions = [q for c in cases for q in _questions(c)]
            rows.append(("counterfact-val, every edit", len(questions), *count(store, settings.multihop, questions)))
    print("| questions | asked | read as chains | of those, one relation's own prompt |")
    print("|---|---:|---:|---:|")
    for name, asked, chains, own in rows:
        print(f"| {name} | {asked} | {chains} | {len(own)} |")
    for name, _, _, own in rows:
        for line in own[:args.examples]:
            print(f"  {name}: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
