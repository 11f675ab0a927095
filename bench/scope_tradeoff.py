"""Scope classifiers side by side on CounterFact validation, at a range of thresholds.

    .venv/bin/python bench/scope_tradeoff.py .cache/serac .cache/serac-near1

Each record's rephrasing, locality prompt and same-subject probe (kme_score.py's rule, as
bench/scope_eval.py builds them) is scored against the record's own edit. A classifier is better
than another only if it refuses more probes at the same share of rephrasings accepted; its own
threshold is one point of that curve. The second table counts, at each classifier's own threshold
(or --threshold), the probes it claims by the relation the probe asks.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import _checkout  # noqa: F401  (sets sys.path before the project imports)

from cf_failures import PROBES, probe_keyword  # noqa: E402
from scope_eval import SETS, probes  # noqa: E402

THRESHOLDS = (0.5, 0.62, 0.7, 0.8, 0.84, 0.9, 0.95)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path, help="directories written by kme_server.editing.serac.train")
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--threshold", type=float, help="for the probe table: this threshold for every model")
    args = ap.parse_args()

    from kme_server.editing.serac.scope import ScopeClassifier, fact_text

    rows = json.loads((args.data_dir / SETS["counterfact-val"][0]).read_text())
    facts, queries = probes(rows, SETS["counterfact-val"])
    texts = [fact_text(f) for f in facts]
    keyword = [probe_keyword(probe) for probe in queries["subject_locality"]]
    curve, claimed, own = {}, {}, {}
    for directory in args.models:
        model = ScopeClassifier.load(directory)
        scores = {m: model.pair_scores(queries[m], texts) for m in ("generalization", "locality", "subject_locality")}
        curve[directory] = {t: (sum(p >= t for p in scores["generalization"]) / len(rows),
                                sum(p < t for p in scores["locality"]) / len(rows),
                                sum(p < t for p in scores["subject_locality"]) / len(rows)) for t in THRESHOLDS}
        own[directory] = args.threshold if args.threshold is not None else model.settings.threshold
        claimed[directory] = Counter(keyword[i] for i, p in enumerate(scores["subject_locality"]) if p >= own[directory])

    print(f"CounterFact validation, {len(rows)} records: rephrasings accepted / locality prompts refused / "
          "same-subject probes refused")
    print("| threshold | " + " | ".join(str(d) for d in args.models) + " |")
    print("|---:|" + "---|" * len(args.models))
    for t in THRESHOLDS:
        print(f"| {t:.2f} | " + " | ".join("{:.1f} / {:.1f} / {:.1f}".format(*(100 * x for x in curve[d][t]))
                                           for d in args.models) + " |")
    print()
    print("same-subject probes claimed, by the relation the probe asks (threshold: "
          + ", ".join(f"{d} {own[d]:.2f}" for d in args.models) + ")")
    total = Counter(keyword)
    print("| probe | records | " + " | ".join(str(d) for d in args.models) + " |")
    print("|---|---:|" + "---:|" * len(args.models))
    for k, _ in PROBES:
        print(f"| {k} | {total[k]} | " + " | ".join(str(claimed[d][k]) for d in args.models) + " |")
    print("| all | " + f"{len(rows)} | " + " | ".join(str(sum(claimed[d].values())) for d in args.models) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
