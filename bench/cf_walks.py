"""How AUTO's multi-hop route reads single-hop edit sets, without a model: which prompts it would walk.

    KME_MULTIHOP__RELATION_LABELS=../shared/data/wikidata/relation-labels.json \
    HF_HUB_OFFLINE=1 .venv/bin/python bench/cf_walks.py --out .bench/cf-walks.jsonl \
        [--compare .bench/cf-walks-before.jsonl] [--form zsre]

Every edit of CounterFact validation (or zsRE dev, `--form zsre`) is stored at once (as `kme
eval` stores them); each
prompt a case asks (edit prompt, rephrasing, locality prompt, same-subject probe) is parsed by the
chain extractor, put to AUTO's tests (MultiHop.is_multi_hop, is_bridged) and, where AUTO would
try a walk, walked over the store alone (no model hops). These prompts are single-hop, so a prompt
read as a chain is at risk: walked to a wrong answer, or sent past SERAC.

Run once per version of the code (a checkout each) and compare: `--compare` prints how many
prompts of each kind are read differently, are walked where they were not (or the reverse), or
end at another store answer, with examples. It measures a change to the extractor on these sets before
a model run does.
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

from kme_server.evaluation.cases import load_cases, sample_cases, without_empty_targets  # noqa: E402
from kme_server.multihop import MultiHop  # noqa: E402
from kme_server.settings import Settings  # noqa: E402

KINDS = ("prompt", "rephrase", "locality", "probe")


SETS = {"counterfact": ("counterfact", "counterfact-val.json"), "zsre": ("zsre", "zsre-dev.json")}


def readings(cases_path: Path, form: str) -> list[dict]:
    cases = load_cases(cases_path, form)
    cases, _ = without_empty_targets(sample_cases(cases, 0, 0))  # with the probes kme_score.py asks
    rows = []
    with tempfile.TemporaryDirectory() as tmp, KnowledgeStore(Path(tmp) / "store", StoreSettings()) as store:
        store.add([c.edit for c in cases])
        # The catalogue `kme eval` builds for these sets: the relation labels the environment names
        # (KME_MULTIHOP__RELATION_LABELS), MQuAKE's templates only where KME_MULTIHOP__TEMPLATES_DIR says.
        multihop = MultiHop(store, None, store.embedder, Settings().multihop)
        for case in cases:
            asked = zip(KINDS, (case.prompt, case.rephrases[0], case.locality[0], case.subject_probe))
            for kind, text in asked:
                parse = multihop.parse(text)
                chained, bridged = multihop.is_multi_hop(parse, text), multihop.is_bridged(parse)
                answer = None
                if chained or bridged:
                    walk = multihop.walker.walk(parse.entity.name, parse.relations, ask_model=False)
                    answer = walk.answer if walk.complete else None
                rows.append({"case_id": case.case_id, "kind": kind, "text": text,
                             "keys": None if parse is None else parse.keys,
                             "chained": chained, "bridged": bridged, "store_answer": answer})
    return rows


def compare(before: list[dict], after: list[dict], examples: int) -> None:
    keyed = {(r["case_id"], r["kind"]): r for r in before}
    changes: Counter = Counter()
    shown = 0
    for row in after:
        old = keyed.get((row["case_id"], row["kind"]))
        if old is None:
            continue
        tried_old, tried_new = old["chained"] or old["bridged"], row["chained"] or row["bridged"]
        if tried_old != tried_new:
            what = "now tried as a chain" if tried_new else "no longer tried"
        elif tried_new and old["keys"] != row["keys"]:
            what = "tried, read differently"
        elif old["store_answer"] != row["store_answer"]:
            what = "another store answer"
        else:
            continue
        changes[(row["kind"], what)] += 1
        if shown < examples:
            shown += 1
            print(f"  {row['kind']}: {what}: {old['keys']} -> {row['keys']} "
                  f"({old['store_answer']!r} -> {row['store_answer']!r}) | {row['text']}")
    print("| prompt kind | change | prompts |")
    print("|---|---|---:|")
    for (kind, what), n in sorted(changes.items()):
        print(f"| {kind} | {what} | {n} |")
    if not changes:
        print("| - | none | 0 |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, required=True, help="JSONL of every prompt's reading")
    ap.add_argument("--compare", type=Path, help="an earlier --out to compare with")
    ap.add_argument("--examples", type=int, default=20)
    ap.add_argument("--form", choices=sorted(SETS), default="counterfact")
    args = ap.parse_args()
    folder, name = SETS[args.form]
    rows = readings(args.data_dir / folder / name, args.form)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tried = Counter(r["kind"] for r in rows if r["chained"] or r["bridged"])
    print(f"{len(rows)} prompts; tried as chains by AUTO: "
          + ", ".join(f"{k} {tried[k]}" for k in KINDS))
    if args.compare:
        before = [json.loads(line) for line in args.compare.read_text().splitlines()]
        compare(before, rows, args.examples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
