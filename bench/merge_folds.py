"""One table from the fold reports of a cross-fitted run (`kme eval ... --fold K/N --json`).

    .venv/bin/python bench/merge_folds.py .bench/quality/zsre-fold0.json .bench/quality/zsre-fold1.json \
        [--json .bench/quality/zsre-crossfit.json]

Each fold's cases were scored by a scope classifier trained without them (editing/serac/folds.py);
the folds partition the set, so the whole set's metric is each fold's mean weighted by the number
of cases that have the metric in that fold. Refuses reports that are not the N folds of one run.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import _checkout  # noqa: F401  (sets sys.path before the project imports)

from kme_server.evaluation.report import merge_folds, single_hop_table  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reports", nargs="+", type=Path)
    ap.add_argument("--json", type=Path, help="write the merged report here")
    args = ap.parse_args(argv)
    try:
        merged = merge_folds([json.loads(p.read_text()) for p in args.reports])
    except (OSError, ValueError, KeyError) as error:
        sys.stderr.write(f"merge_folds: {error}\n")
        return 2
    sys.stdout.write(single_hop_table(merged) + "\n")
    if args.json:
        args.json.write_text(json.dumps(merged, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
