"""Locality with every edit stored at once: which locality prompts another stored edit governs.

    .venv/bin/python bench/cf_conflicts.py ../shared/data/counterfact/counterfact-val.json \
        .bench/quality/cf-full.jsonl [--system auto]

CounterFact's locality prompt of a record asks about a neighbour (another subject, the same
relation) and must keep its answer. With the whole set stored at once, the neighbour may be the
subject of another record's edit ("The twin city of Riga is" is record A's locality prompt while
record B edits "Riga is a twin city of" to Athens): then the right answer after editing is B's
new object, and the locality verdict (answer unchanged) counts the service wrong for applying B.

A locality prompt is called governed when another evaluated record's subject appears in it as
whole words (the record's own subject excluded). This looks at the data only, never at an
answer. Prints locality over all prompts (kme_score.py's measure), over the prompts no other
edit governs, and how many failures fall in each group.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import _checkout  # noqa: F401  (sets sys.path before the project imports)

from kme_server.matching import normalize  # noqa: E402


def governed_prompts(rows: list[dict]) -> dict[str, bool]:
    """case_id -> whether another record's subject appears in the record's locality prompt."""
    subjects = {normalize(r["subject"]) for r in rows if normalize(r["subject"])}
    # One alternation of all subjects, longest first, matched on normalized whole words.
    pattern = re.compile(r"(?<!\S)(" + "|".join(re.escape(s) for s in sorted(subjects, key=len, reverse=True))
                         + r")(?!\S)")
    out = {}
    for r in rows:
        own = normalize(r["subject"])
        text = normalize(r["locality_prompt"])
        found = {m.group(1) for i in range(len(text)) if (m := pattern.match(text, i))}
        out[str(r["case_id"])] = bool(found - {own})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="the CounterFact file evaluated")
    ap.add_argument("cases", type=Path, help="the per-case JSONL of `kme eval counterfact --cases`")
    ap.add_argument("--system", default="auto")
    args = ap.parse_args(argv)
    governed = governed_prompts(json.loads(args.data.read_text()))
    counts = {True: [0, 0], False: [0, 0]}  # governed -> [prompts, failures]
    for line in args.cases.read_text().splitlines():
        row = json.loads(line)
        if row["system"] != args.system or str(row["case_id"]) not in governed:
            continue
        g = governed[str(row["case_id"])]
        for answer, before in zip(row["locality_answers"], row["locality_before"]):
            counts[g][0] += 1
            counts[g][1] += answer != before
    total = [counts[True][i] + counts[False][i] for i in (0, 1)]

    def pct(n: int, fails: int) -> str:
        return f"{100.0 * (n - fails) / n:.1f}%" if n else "-"

    print(f"locality of {args.system} in {args.cases}")
    print("| locality prompts | prompts | failed | locality |")
    print("|---|---:|---:|---:|")
    print(f"| all (kme_score.py's measure) | {total[0]} | {total[1]} | {pct(*total)} |")
    print(f"| no other evaluated edit's subject in the prompt | {counts[False][0]} | {counts[False][1]} | "
          f"{pct(*counts[False])} |")
    print(f"| another evaluated edit's subject in the prompt | {counts[True][0]} | {counts[True][1]} | "
          f"{pct(*counts[True])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
