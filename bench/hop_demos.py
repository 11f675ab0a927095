"""Model hops with stored facts as more few-shot examples: measured, not built into the walker.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/hop_demos.py [--n 200] [--k 6] [--walk-cases F] [--pools P,...]

The walker asks the base model for a hop the store cannot answer, few-shot with the relation's
fixed examples (or by its cloze, per `make hop-styles`). Would stored facts of the same
relation, about subjects like the asked one, make better examples? Each hop is asked three ways,
through `hop_prompt` with the per-relation styles (a relation asked by its cloze stays so):

- fixed: the relation's examples (rel-prompts.json) only: what the walker asks;
- retrieved: then the `k` facts of the relation that the store's retrieval ranks highest for
  the hop's question;
- nearest: then the `k` facts of the relation whose subjects are nearest the asked subject
  (cosine of MiniLM embeddings of the names).

Pools, each with a seeded sample of its own facts as the hops:
- known: ROME's known_1000 (the hop-styles calibration set), all of it stored;
- mquake-world: MQuAKE-CF dev's original chains (bench/hop_prompts.py's sample of unedited hops);
- mquake-edits: the same with the cases' edits stored over them, as `kme eval mquake` stores them;
- mquake-walk (with --walk-cases, a `kme eval mquake --cases` file): the distinct hops the model
  answered in that run's world setting on questions read as their gold chain (the gold chain is
  read here only to know each hop's gold answer), world facts stored: the hops that decide
  cases.
No demonstration is about the asked subject: a real model hop has no stored fact of its
(subject, relation), or the walker would not ask the model. A hop is known when the normalized
answer contains the gold answer or an alias.
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np
from _checkout import ROOT  # sets sys.path before the project imports

from hop_prompts import sample_hops  # noqa: E402
from kme_store import StoreSettings  # noqa: E402
from kme_store.facts import normalize_name  # noqa: E402
from kme_store.store import KnowledgeStore  # noqa: E402

from kme_server.answers import GenerationOptions  # noqa: E402
from kme_server.evaluation.multi_hop import stored_batches  # noqa: E402
from kme_server.matching import contains  # noqa: E402
from kme_server.multihop import MultiHopSettings, RelationCatalogue, normalize_answer  # noqa: E402
from kme_server.multihop.hop_styles import HopStyles, hop_prompt  # noqa: E402
from kme_server.multihop.relations import Relation  # noqa: E402

Hop = tuple[str, str, list[str]]  # subject, relation id, gold answers


def known_pool(data_dir: Path, catalogue: RelationCatalogue, n: int, seed: int) -> tuple[list[dict], list[Hop]]:
    """known_1000's facts of catalogued relations as store facts, and a seeded sample of them as hops."""
    records = json.loads((data_dir / "rome_known" / "known_1000.json").read_text())
    facts = {}
    for r in records:
        rel = catalogue.get(r["relation_id"])
        if rel is not None:
            facts[(r["subject"], r["relation_id"])] = {"subject": r["subject"], "relation": rel.label,
                                                      "relation_id": r["relation_id"], "object": r["attribute"]}
    keys = random.Random(seed).sample(sorted(facts), min(n, len(facts)))
    return list(facts.values()), [(s, rid, [facts[(s, rid)]["object"]]) for s, rid in keys]


def walk_hops(cases: list[dict], path: Path) -> list[Hop]:
    """The distinct model hops of a run's world setting on questions read as their gold chain."""
    by_id = {c["case_id"]: c for c in cases}
    label_ids = {label: rid for c in cases
                 for (_, rid, _), (_, label, _) in zip(c["orig"]["triples"], c["orig"]["triples_labeled"])}
    hops: dict[tuple[str, str], list[str]] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row["setting"] != "world":
            continue
        case = by_id[row["case_id"]]
        chain, single = case["orig"]["new_triples_labeled"], case["new_single_hops"]
        gold = [label for _, label, _ in case["orig"]["triples_labeled"]]
        for question in row["questions"]:
            if [hop[1] for hop in question["chain"]] != gold:
                continue
            for i, (subject, label, _, source) in enumerate(question["chain"]):
                if source == "model" and subject == chain[i][0]:
                    hops[(subject, label_ids[label])] = [single[i]["answer"], *single[i]["answer_alias"]]
    return [(s, rid, gold) for (s, rid), gold in hops.items()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--k", type=int, default=6, help="demonstrations added (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hop-styles", type=Path, default=ROOT / ".cache" / "hop-styles.json")
    ap.add_argument("--walk-cases", type=Path, help="a kme eval mquake --cases file: add the mquake-walk pool")
    ap.add_argument("--pools", help="comma-separated pools to ask (default: all)")
    args = ap.parse_args()
    from kme_server.models import ModelSettings, load_model

    model = load_model(ModelSettings())
    styles = HopStyles.load(args.hop_styles)
    settings = MultiHopSettings(templates_dir=args.data_dir / "mquake")
    catalogue = RelationCatalogue.from_settings(settings)
    options = GenerationOptions(max_new_tokens=settings.max_new_tokens, stop=("\n",))
    cases = json.loads((args.data_dir / "mquake" / "mquake-cf-dev.json").read_text())
    mquake_hops = sample_hops(cases, args.n, args.seed)
    known_facts, known_hops = known_pool(args.data_dir, catalogue, args.n, args.seed)
    pools = {"known": ([known_facts], known_hops),
             "mquake-world": (stored_batches(cases, True)[:1], mquake_hops),
             "mquake-edits": (stored_batches(cases, True), mquake_hops)}
    if args.walk_cases:
        pools["mquake-walk"] = (stored_batches(cases, True)[:1], walk_hops(cases, args.walk_cases))
    rows = []
    chosen = args.pools.split(",") if args.pools else list(pools)
    unknown = [p for p in chosen if p not in pools]
    if unknown:
        ap.error(f"--pools: unknown {', '.join(unknown)} (known here: {', '.join(pools)})")
    for name in chosen:
        batches, hops = pools[name]
        hops = [h for h in hops if catalogue.get(h[1]) is not None]
        with tempfile.TemporaryDirectory() as tmp, KnowledgeStore(Path(tmp) / "store", StoreSettings()) as store:
            for batch in batches:
                store.add(batch)
            for way in ("fixed", "retrieved", "nearest"):
                prompts = []
                for subject, rid, _ in hops:
                    rel = catalogue.get(rid)
                    style = styles.style(rid)
                    demos = _demos(store, rel, subject, way, args.k) if style == "few_shot" else []
                    prompts.append(hop_prompt(subject, rel, style, demos))
                start = time.perf_counter()
                answers = [normalize_answer(r) for r in model.generate_batch(prompts, options)]
                seconds = time.perf_counter() - start
                known = sum(contains(a, gold) for a, (_, _, gold) in zip(answers, hops))
                rows.append((name, way, len(hops), known, seconds))
    print(f"\nModel hops with stored facts as examples, {args.k} added, seed {args.seed}, {model.name}")
    print("| pool | examples | hops | known | seconds |")
    print("|---|---|---:|---:|---:|")
    for name, way, n, known, seconds in rows:
        print(f"| {name} | {way} | {n} | {known} ({known / n:.1%}) | {seconds:.0f} |")
    return 0


def _demos(store: KnowledgeStore, rel: Relation, subject: str, way: str, k: int) -> list[tuple[str, str]]:
    """Up to `k` (subject, object) of stored facts of `rel` about other subjects, best last."""
    if way == "fixed":
        return []
    asked = normalize_name(subject)
    if way == "retrieved":
        hits = store.retrieve(rel.question.format(subject), k=8 * k, threshold=0.0)
        facts = [h.fact for h in hits]
    else:
        facts = store.list_facts(relation=rel.key, limit=100_000)
        if facts:
            vecs = store.embedder.encode([subject, *(f.subject for f in facts)])
            order = np.argsort(-(vecs[1:] @ vecs[0]), kind="stable")
            facts = [facts[i] for i in order]
    pairs = [(f.subject, f.object) for f in facts
             if f.relation_key == rel.key and normalize_name(f.subject) != asked]
    return list(dict.fromkeys(pairs))[:k][::-1]


if __name__ == "__main__":
    raise SystemExit(main())
