"""How much a scope classifier's threshold depends on which validation pairs choose it.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/scope_threshold.py .cache/serac .cache/serac-zsre-fold0

For each classifier directory (written by kme_server.editing.serac.train), rebuild the pairs and the
subject split of its own training settings, score every held-out pair once, and choose the
threshold (worst-kind accuracy, scope.choose_threshold_by_kind):
- on the sample the training command drew (`val_pairs`; it must give the threshold saved with the
  classifier, which checks that the rebuilt split is the trained one);
- on `--draws` other seeded samples of `--sample` pairs (3,000, the size trained before session 18),
  to show the spread that sampling alone causes;
- on every held-out pair.
Then each kind's accuracy at the saved threshold and at the one all pairs choose.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import _checkout  # noqa: F401  (sets sys.path before the project imports)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path, help="directories written by kme_server.editing.serac.train")
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--draws", type=int, default=20, help="other seeded validation samples")
    ap.add_argument("--sample", type=int, default=3000, help="pairs in each of those samples")
    args = ap.parse_args()

    from kme_server.editing.serac.data import build_pairs, split_pairs, with_every_zsre
    from kme_server.editing.serac.folds import records_to_train
    from kme_server.editing.serac.scope import ScopeClassifier, choose_threshold_by_kind, fact_text
    from kme_server.editing.serac.train import kind_accuracies

    results = []
    for directory in args.models:
        saved = json.loads((directory / "scope.json").read_text())
        ts = saved["train_settings"]
        if ts.get("near_negatives", 0):
            raise SystemExit(f"{directory}: near_negatives > 0 needs the encoder's embeddings; not supported here")
        pairs = build_pairs(args.data_dir, seed=ts["seed"], zsre=records_to_train(ts["zsre"]))
        _, val_all = split_pairs(pairs, ts["val_fraction"], ts["seed"])
        model = ScopeClassifier.load(directory)
        probs = model.pair_scores([p.query for p in val_all], [fact_text(p.fact) for p in val_all])
        prob_of = {id(p): q for p, q in zip(val_all, probs)}

        def choose(subset) -> tuple[float, float]:
            return choose_threshold_by_kind([prob_of[id(p)] for p in subset], [p.label for p in subset],
                                            [p.kind for p in subset])

        n, m = ts["val_pairs"], args.sample
        full, full_worst = choose(val_all)
        results.append({
            "directory": directory, "saved": saved["settings"]["threshold"],
            "trained": choose(with_every_zsre(val_all, n, n // 10, ts["seed"] + 1)),
            "draws": [choose(with_every_zsre(val_all, m, m // 10, ts["seed"] + 1000 + i))[0]
                      for i in range(args.draws)],
            "full": full, "full_worst": full_worst, "pairs": len(val_all),
            "kinds": (kind_accuracies(val_all, probs, saved["settings"]["threshold"]),
                      kind_accuracies(val_all, probs, full))})

    print("| classifier | saved | its training's validation pairs (worst kind) | "
          f"{args.draws} samples of {args.sample}: min / median / max | all held-out pairs | threshold (worst kind) |")
    print("|---|---:|---:|---|---:|---:|")
    for r in results:
        draws = r["draws"]
        spread = f"{min(draws):.2f} / {statistics.median(draws):.2f} / {max(draws):.2f}" if draws else "-"
        trained, worst = r["trained"]
        print(f"| {r['directory']} | {r['saved']:.2f} | {trained:.2f} ({worst:.1%}) | {spread} | {r['pairs']} | "
              f"{r['full']:.2f} ({r['full_worst']:.1%}) |")
    for r in results:
        at_saved, at_full = r["kinds"]
        print(f"\n{r['directory']}: each kind's accuracy on all held-out pairs (positives accepted, negatives refused)\n")
        print(f"| kind | pairs | at {r['saved']:.2f} (saved) | at {r['full']:.2f} (all pairs) |")
        print("|---|---:|---:|---:|")
        for kind, row in at_saved.items():
            print(f"| {kind} | {row['pairs']} | {row['correct']:.1%} | {at_full[kind]['correct']:.1%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
