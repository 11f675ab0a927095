"""Where a single-hop evaluation's failures go: each failed question counted by the route AUTO took.

    .venv/bin/python bench/cf_failures.py .bench/quality/cf-full.jsonl [--system auto]

Reads the per-case JSONL of `kme eval <counterfact|zsre|...> --cases FILE`. A case's `modes` lists
the route of each question in the order the evaluation asks them (edit prompt, rephrasings,
locality prompts, same-subject probe, portability questions); a question fails when its own
verdict does (efficacy: the answer lacks the new target; generalization: the rephrase's answer
lacks it; locality and same-subject: the answer differs from the one before editing). Prints one
table row per measure.

With --probes, a second table counts the failed same-subject probes by the relation the probe
asks (kme_score.py's OTHER_RELATIONS keywords: it picks a probe whose keyword the edit prompt
lacks) and by whether the edit prompt asks that very relation in other words ("passed away at"
for "died in the city of"): such a probe is in the edit's scope, though the metric counts its
change as a failure. The wordings are listed in SAME_RELATION_WORDS, read off CounterFact's
prompt templates.
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
# kme_score.py's probe keywords and templates, and edit-prompt wordings of CounterFact that ask
# the same relation.
PROBES = (("born", "{} was born in the city of"), ("died", "{} died in the city of"),
          ("citizen", "{} is a citizen of"), ("occupation", "The occupation of {} is"),
          ("founded", "{} was founded in the year"), ("located", "{} is located in the country of"),
          ("language", "The official language of {} is"), ("sport", "{} is associated with the sport of"),
          ("employ", "{} is employed by"), ("religion", "The religion of {} is"))
SAME_RELATION_WORDS = {"died": ("passed away", "life ended", "expired at", "succumbed at"),
                       "occupation": ("profession is",), "language": ("they understand",)}


def questions(row: dict[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(measure, route, right) of each question of one case, in the order `kme eval` asks them."""
    modes = iter(row.get("modes", []))
    target = [row["target_new"]]
    yield "efficacy", next(modes, "?"), bool(row["efficacy"])
    for answer in row.get("rephrase_answers", []):
        yield "generalization", next(modes, "?"), contains(answer, target)
    for answer, before in zip(row.get("locality_answers", []), row.get("locality_before", [])):
        yield "locality", next(modes, "?"), answer == before
    if "subject_probe" in row:
        yield "subject_locality", next(modes, "?"), row["probe_answer"] == row["probe_before"]


def asked(row: dict[str, Any], record: dict[str, Any]) -> Iterator[tuple[str, str, bool, str | None]]:
    """(measure, route, right, question text) of each question of one case, as `questions` walks
    them; the text from the case row, else from its CounterFact `record` (None where neither has it)."""
    texts = {"efficacy": [row.get("prompt") or record["prompt"]],
             "generalization": _listed(record["rephrase_prompt"]), "locality": _listed(record["locality_prompt"]),
             "subject_locality": [row.get("subject_probe")]}
    seen: Counter[str] = Counter()
    for measure, route, right in questions(row):
        i = seen[measure]
        seen[measure] += 1
        listed = texts[measure]
        yield measure, route, right, listed[i] if i < len(listed) else None


def _listed(prompts: str | list[str]) -> list[str]:
    return [prompts] if isinstance(prompts, str) else list(prompts)


def failures(row: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(measure, route) of each failed question of one case."""
    return ((measure, route) for measure, route, right in questions(row) if not right)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", type=Path, help="per-case JSONL written by kme eval --cases")
    ap.add_argument("--system", default="auto")
    ap.add_argument("--probes", action="store_true", help="also the failed same-subject probes by relation")
    args = ap.parse_args()
    counts: dict[str, Counter[str]] = {m: Counter() for m in MEASURES}
    probes: Counter[tuple[str, bool]] = Counter()
    for line in args.cases.read_text().splitlines():
        row = json.loads(line)
        if row.get("system") == args.system:
            for measure, route in failures(row):
                counts[measure][route] += 1
                if measure == "subject_locality":
                    probes[probe_relation(row)] += 1
    routes = sorted({r for c in counts.values() for r in c})
    print(f"failed questions of {args.system} in {args.cases}, by the route taken")
    print("| failed | " + " | ".join(f"routed to {r}" for r in routes) + " |")
    print("|---|" + "---:|" * len(routes))
    for measure in MEASURES:
        total = sum(counts[measure].values())
        print(f"| {measure} ({total}) | " + " | ".join(str(counts[measure][r]) for r in routes) + " |")
    if args.probes:
        print("\nfailed same-subject probes by the relation they ask")
        print("| probe keyword | failed | edit prompt asks the same relation in other words |")
        print("|---|---:|---:|")
        for key, _ in PROBES:
            same, other = probes[(key, True)], probes[(key, False)]
            print(f"| {key} | {same + other} | {same} |")
        print(f"| all | {sum(probes.values())} | {sum(n for (_, same), n in probes.items() if same)} |")
    return 0


def probe_keyword(probe: str) -> str:
    """The keyword of a same-subject probe, by the template it was built from ("?": none)."""
    return next((k for k, t in PROBES if probe.startswith(t.split("{}")[0]) and probe.endswith(t.split("{}")[1])),
                "?")


def probe_relation(row: dict[str, Any]) -> tuple[str, bool]:
    """The probe's keyword (by its template) and whether the edit prompt asks that relation."""
    key = probe_keyword(row["subject_probe"])
    prompt = row["prompt"].lower()
    return key, any(words in prompt for words in SAME_RELATION_WORDS.get(key, ()))


if __name__ == "__main__":
    raise SystemExit(main())
