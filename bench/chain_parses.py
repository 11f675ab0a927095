"""Every chain reading of the question sets, written out and compared with an earlier run's.

    HF_HUB_OFFLINE=1 KME_MULTIHOP__RELATION_LABELS=../shared/data/wikidata/relation-labels.json \
        .venv/bin/python bench/chain_parses.py --out .bench/parses-after.jsonl --compare .bench/parses-before.jsonl

For a change meant to read every question as before (a faster beam, a refactor), run it on the
code before the change with --out, then after it with --compare: the questions of
bench/_question_sets.py (CounterFact validation with every edit stored, MQuAKE-CF dev with its
edits, then with its edits and world facts), each parsed as AUTO parses it (MultiHop.parse). A
line per question holds its start entity, chain, score, store hops and runner-up chains; the
comparison prints how many lines differ per set, the first few, and the seconds each run spent
parsing.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

from _checkout import ROOT  # sets sys.path before the project imports


def reading(parse: Any) -> dict[str, Any] | None:
    if parse is None:
        return None
    return {"entity": [parse.entity.name, parse.entity.start, parse.entity.end], "chain": parse.keys,
            "score": round(float(parse.score), 6), "store_hops": parse.store_hops,
            "alternatives": [[keys, round(float(score), 6)] for keys, score in parse.alternatives]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, required=True, help="JSONL of this run's readings")
    ap.add_argument("--compare", type=Path, help="an earlier run's --out")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from _question_sets import question_sets

    from kme_server.multihop import MultiHop
    from kme_server.settings import Settings

    lines, seconds = [], {}
    for name, store, settings, questions, _ in question_sets(args.data_dir, Settings()):
        multihop = MultiHop(store, None, store.embedder, settings)
        start = time.perf_counter()
        for question in questions:
            lines.append({"set": name, "question": question, "reading": reading(multihop.parse(question))})
        seconds[name] = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w") as out:
        for line in lines:
            out.write(json.dumps(line) + "\n")
        out.write(json.dumps({"seconds": seconds}) + "\n")
    print("| set | questions | parse s (this run) | parse s (compared) | readings differing |")
    print("|---|---:|---:|---:|---:|")
    earlier: list[dict[str, Any]] = []
    earlier_seconds: dict[str, float] = {}
    if args.compare:
        *earlier, tail = [json.loads(line) for line in args.compare.open()]
        earlier_seconds = tail["seconds"]
        if [(e["set"], e["question"]) for e in earlier] != [(l["set"], l["question"]) for l in lines]:
            raise SystemExit(f"{args.compare}: not the same questions in the same order; nothing to compare")
    shown = 0
    for name, spent in seconds.items():
        mine = [(i, l) for i, l in enumerate(lines) if l["set"] == name]
        differing = [(l, earlier[i]) for i, l in mine if earlier and earlier[i]["reading"] != l["reading"]]
        before = f"{earlier_seconds[name]:.0f}" if name in earlier_seconds else "-"
        print(f"| {name} | {len(mine)} | {spent:.0f} | {before} | {len(differing) if earlier else '-'} |")
        for now, then in differing[:max(0, 10 - shown)]:
            shown += 1
            print(f"  {now['question']!r}: {then['reading']} -> {now['reading']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
