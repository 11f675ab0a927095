"""MQuAKE multi-hop evaluation in-process: chain extraction, walk accuracy, latency.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/mquake_eval.py --limit 50 --seed 0

Every case of the file is stored at once (edits interact; the set is conflict-free), as
../shared/tools/kme_score.py stores them, in two settings: edits only, and edits plus the world
facts (`orig.triples`) of all cases. A seeded sample of `--limit` cases is asked. Metrics: case
accuracy (MQuAKE: any of the three questions answered with `new_answer` or an alias), question
accuracy, accuracy by hop count, chain-extraction accuracy against the gold relation ids (used
for measurement only, never at question time), and p50 latency per question. Gold chains and
hop counts are never given to the extractor or the walker. The MeLLo-style baseline runs in
`kme eval mquake --mello N`, beside AUTO on the same cases.
"""
from __future__ import annotations

import argparse
import logging
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from _checkout import ROOT  # sets sys.path before the project imports
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from kme_store import StoreSettings  # noqa: E402
from kme_store.embedder import SentenceTransformerEmbedder  # noqa: E402
from kme_store.store import KnowledgeStore  # noqa: E402

from kme_server.matching import contains, normalize  # noqa: E402
from kme_server.evaluation.multi_hop import edit_requests as edits, world_facts  # noqa: E402
from kme_server.multihop import MultiHop, MultiHopSettings  # noqa: E402
from kme_server.multihop.chain import ChainExtractor  # noqa: E402

logger = logging.getLogger("mquake_eval")

SHARED = ROOT.parent / "shared" / "data"


@dataclass
class Tally:
    """Counts of one system in one setting."""

    cases: int = 0
    cases_right: int = 0
    questions: int = 0
    questions_right: int = 0
    chains_right: int = 0
    starts_right: int = 0
    by_hops: dict[int, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    latencies: list[float] = field(default_factory=list)
    model_hops: int = 0
    store_hops: int = 0
    fails: list[dict] = field(default_factory=list)

    def row(self) -> dict[str, object]:
        q = max(self.questions, 1)
        return {"cases": self.cases, "case_acc": self.cases_right / max(self.cases, 1),
                "question_acc": self.questions_right / q, "chain_acc": self.chains_right / q,
                "start_acc": self.starts_right / q,
                "p50_ms": statistics.median(self.latencies) if self.latencies else 0.0,
                "by_hops": {h: v[0] / max(v[1], 1) for h, v in sorted(self.by_hops.items())},
                "store_hops": self.store_hops, "model_hops": self.model_hops}


def eval_walk(mh: MultiHop, extractor: ChainExtractor | None, asked: list[dict], answer: bool) -> Tally:
    """Ask every question of the asked cases through extraction and (with `answer`) the walk."""
    t = Tally()
    for case in asked:
        gold_chain = [p for _, p, _ in case["orig"]["triples"]]
        start = case["orig"]["triples_labeled"][0][0]
        gold = [case["new_answer"], *case["new_answer_alias"]]
        hops = len(gold_chain)
        any_right = False
        for q in case["questions"]:
            began = time.perf_counter()
            parse = (extractor or mh.extractor).extract(q)
            walk = mh.walker.walk(parse.entity.name, parse.relations) if (parse and answer) else None
            t.latencies.append((time.perf_counter() - began) * 1000)
            t.questions += 1
            t.chains_right += bool(parse and parse.keys == gold_chain)
            t.starts_right += bool(parse and normalize(parse.entity.name) == normalize(start))
            right = bool(walk and contains(walk.answer, gold))
            if walk:
                t.model_hops += sum(h.source == "model" for h in walk.hops)
                t.store_hops += sum(h.source == "store" for h in walk.hops)
            t.questions_right += right
            t.by_hops[hops][0] += right
            t.by_hops[hops][1] += 1
            any_right |= right
            if not right and len(t.fails) < 400:
                t.fails.append({"case_id": case["case_id"], "q": q, "gold_chain": gold_chain,
                                "chain": parse.keys if parse else None,
                                "start": parse.entity.name if parse else None,
                                "answer": walk.answer if walk else None, "gold": gold[0],
                                "hops": [(h.subject, h.relation, h.object, h.source) for h in walk.hops] if walk else None})
        t.cases += 1
        t.cases_right += any_right
    return t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=SHARED / "mquake" / "mquake-cf-dev.json")
    ap.add_argument("--templates", type=Path, default=SHARED / "mquake")
    ap.add_argument("--labels", type=Path, default=SHARED / "wikidata" / "relation-labels.json")
    ap.add_argument("--limit", type=int, default=0, help="ask a seeded sample of this many cases (0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--settings", default="edits,world", help="comma list of: edits, world")
    ap.add_argument("--extractors", default="beam,lexical", help="comma list of: beam, lexical, model")
    ap.add_argument("--no-model", action="store_true", help="measure chain extraction only; no model hops")
    ap.add_argument("--hop-prompt", choices=["cloze", "few_shot"], default="cloze")
    ap.add_argument("--model-extractor-limit", type=int, default=10,
                    help="cases on which the model-decomposition extractor is measured (it is slow)")
    ap.add_argument("--fails", type=Path, help="write failed questions to this JSON file")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    cases = json.loads(args.data.read_text())
    asked = random.Random(args.seed).sample(cases, args.limit) if args.limit else cases
    model = None
    if not args.no_model:
        model = _load_model()
    embedder = SentenceTransformerEmbedder()
    results: dict[str, dict] = {}
    fails: dict[str, list] = {}
    for setting in args.settings.split(","):
        with tempfile.TemporaryDirectory() as tmp, \
                KnowledgeStore(Path(tmp) / "store", StoreSettings(), embedder=embedder) as store:
            began = time.perf_counter()
            if setting == "world":
                store.add(world_facts(cases))
            store.add(edits(cases))
            logger.warning("%s: stored %d facts in %.1f s", setting, len(store), time.perf_counter() - began)
            for name in args.extractors.split(","):
                settings = MultiHopSettings(templates_dir=args.templates, relation_labels=args.labels,
                                            extractor=name, hop_prompt=args.hop_prompt)
                mh = MultiHop(store, model, embedder, settings)
                sample = asked[: args.model_extractor_limit] if name == "model" else asked
                # Only the main extractor walks (and pays model hops); the others are measured on chains.
                walk = model is not None or setting == "world"
                tally = eval_walk(mh, None, sample, answer=walk and name == "beam")
                results[f"{setting}/{name}"] = tally.row()
                fails[f"{setting}/{name}"] = tally.fails
    _print_table(results)
    if args.fails:
        args.fails.write_text(json.dumps(fails, indent=1, ensure_ascii=False))
    return 0


def _load_model():
    from kme_server.models import ModelSettings, load_model
    from kme_server.models.presets import get_preset
    from kme_server.models.convert import is_converted

    settings = ModelSettings()
    preset = get_preset(settings.name_or_path)
    if preset is not None and not is_converted(preset.name, settings.cache_dir):
        logger.warning("model %s is not converted in %s: model hops are skipped", preset.name, settings.cache_dir)
        return None
    return load_model(settings)


def _print_table(results: dict[str, dict]) -> None:
    head = f"{'setting/system':<16} {'cases':>5} {'case%':>6} {'q%':>6} {'chain%':>7} {'start%':>7} {'p50 ms':>7} {'store':>6} {'model':>6}  by hops (q%)"
    print(head)
    print("-" * len(head))
    for name, r in results.items():
        hops = " ".join(f"{h}:{v * 100:.0f}" for h, v in r["by_hops"].items())
        print(f"{name:<16} {r['cases']:>5} {r['case_acc'] * 100:>6.1f} {r['question_acc'] * 100:>6.1f} "
              f"{r['chain_acc'] * 100:>7.1f} {r['start_acc'] * 100:>7.1f} {r['p50_ms']:>7.0f} "
              f"{r['store_hops']:>6} {r['model_hops']:>6}  {hops}")


if __name__ == "__main__":
    sys.exit(main())
