"""Locality with every edit stored at once: which locality prompts another stored edit governs.

    .venv/bin/python bench/cf_conflicts.py ../shared/data/counterfact/counterfact-val.json \
        .bench/quality/cf-full.jsonl [--system auto]

CounterFact's locality prompt of a record asks about a neighbour (another subject, the same
relation) and must keep its answer. With the whole set stored at once, the neighbour may be the
subject of another record's edit ("The twin city of Riga is" is record A's locality prompt while
record B edits "Riga is a twin city of" to Athens): then the right answer after editing is B's
new object, and the locality verdict (answer unchanged) counts the service wrong for applying B.

A locality prompt is called governed when another evaluated record's subject appears in it as
whole words (the record's own subject excluded). The grouping looks at the data only, never at
an answer. Prints locality over all prompts (kme_score.py's measure), over the prompts no other
edit governs, and how many failures fall in each group; then the failed governed prompts whose
answer holds a governing record's new object (the service applied that edit), to be read: where
that edit changes the very relation the prompt asks, the answer follows the edit as it should.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import _checkout  # noqa: F401  (sets sys.path before the project imports)

from kme_server.matching import contains, normalize  # noqa: E402


def governed_prompts(rows: list[dict]) -> dict[str, list[dict]]:
    """case_id -> the other records whose subject appears in the record's locality prompt."""
    by_subject: dict[str, list[dict]] = {}
    for r in rows:
        by_subject.setdefault(normalize(r["subject"]), []).append(r)
    subjects = {s for s in by_subject if s}
    # One alternation of all subjects, longest first, matched on normalized whole words.
    pattern = re.compile(r"(?<!\S)(" + "|".join(re.escape(s) for s in sorted(subjects, key=len, reverse=True))
                         + r")(?!\S)")
    out = {}
    for r in rows:
        own = normalize(r["subject"])
        text = normalize(r["locality_prompt"])
        found = {m.group(1) for i in range(len(text)) if (m := pattern.match(text, i))}
        out[str(r["case_id"])] = [g for s in sorted(found - {own}) for g in by_subject[s]]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="the CounterFact file evaluated")
    ap.add_argument("cases", type=Path, help="the per-case JSONL of `kme eval counterfact --cases`")
    ap.add_argument("--system", default="auto")
    args = ap.parse_args(argv)
    records = json.loads(args.data.read_text())
    governed = governed_prompts(records)
    prompts = {str(r["case_id"]): r["locality_prompt"] for r in records}
    counts = {True: [0, 0], False: [0, 0]}  # governed -> [prompts, failures]
    applied = []  # failed governed prompts answered with a governing record's new object
    for line in args.cases.read_text().splitlines():
        row = json.loads(line)
        if row["system"] != args.system or str(row["case_id"]) not in governed:
            continue
        governing = governed[str(row["case_id"])]
        g = bool(governing)
        prompt = prompts[str(row["case_id"])]
        for answer, before in zip(row["locality_answers"], row["locality_before"]):
            counts[g][0] += 1
            counts[g][1] += answer != before
            if answer != before and any(contains(answer, [o["target_new"]]) for o in governing):
                applied.append((prompt, answer, [f"{o['prompt']} -> {o['target_new']}" for o in governing]))
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
    print(f"\nfailed prompts of the second group answered with that edit's new object: {len(applied)}")
    for prompt, answer, edits in applied:
        print(f"  {prompt!r} -> {answer!r}; stored: {'; '.join(edits)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
