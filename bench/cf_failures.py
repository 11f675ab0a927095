"""Where a single-hop evaluation's failures go: each failed question counted by the route AUTO took.

    .venv/bin/python bench/cf_failures.py .bench/quality/cf-full.jsonl [--system auto]

Reads the per-case JSONL of `kme eval <counterfact|zsre|...> --cases FILE`. A case's `modes` lists
the route of each question in the order the evaluation asks them (edit prompt, rephrasings,
locality prompts, same-subject probe, portability questions); a question fails when its own
verdict does (efficacy: the answer lacks the new target; generalization: the rephrase's answer
lacks it; locality and same-subject: the answer differs from the one before editing). Prints one
table row per measure.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import _checkout  # noqa: F401  (sets sys.path before the project imports)

from kme_server.matching import contains  # noqa: E402

MEASURES = ("efficacy", "generalization", "locality", "subject_locality")


def failures(row: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(measure, route) of each failed question of one case."""
    modes = iter(row.get("modes", []))
    target = [row["target_new"]]
    route = next(modes, "?")
    if not row["efficacy"]:
        yield "efficacy", route
    for answer in row.get("rephrase_answers", []):
        route = next(modes, "?")
        if not contains(answer, target):
            yield "generalization", route
    for answer, before in zip(row.get("locality_answers", []), row.get("locality_before", [])):
        route = next(modes, "?")
        if answer != before:
            yield "locality", route
    if "subject_probe" in row:
        route = next(modes, "?")
        if row["probe_answer"] != row["probe_before"]:
            yield "subject_locality", route


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", type=Path, help="per-case JSONL written by kme eval --cases")
    ap.add_argument("--system", default="auto")
    args = ap.parse_args()
    counts: dict[str, Counter[str]] = {m: Counter() for m in MEASURES}
    for line in args.cases.read_text().splitlines():
        row = json.loads(line)
        if row.get("system") == args.system:
            for measure, route in failures(row):
                counts[measure][route] += 1
    routes = sorted({r for c in counts.values() for r in c})
    print(f"failed questions of {args.system} in {args.cases}, by the route taken")
    print("| failed | " + " | ".join(f"routed to {r}" for r in routes) + " |")
    print("|---|" + "---:|" * len(routes))
    for measure in MEASURES:
        total = sum(counts[measure].values())
        print(f"| {measure} ({total}) | " + " | ".join(str(counts[measure][r]) for r in routes) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
