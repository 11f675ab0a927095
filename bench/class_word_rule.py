"""What a class-word scope rule would do to a CounterFact run, read off its per-case answers.

    .venv/bin/python bench/class_word_rule.py ../shared/data/counterfact/counterfact-val.json \
        .bench/quality/cf-full.jsonl [--system auto] [--none CASES]

The rule measured (not built): a question that names the class of its answer ("located in the
country of", "the occupation of") is not in the scope of an edit whose own prompt names another
class ("belongs to the continent of", "worked in the city of"). `editing/answer_kind.py` ships
the narrow form of it, numbers only; this script asks whether the wider form would pay.

For every question of the run that AUTO sent to SERAC and that the rule would refuse, the
question would be answered by the untouched model instead: its verdict becomes the one the `none`
system's run gave the same question (in the cases file itself, or in the file --none names).
Prints, per measure, the questions the rule refuses, how many of them the run has right now, and
how many the untouched model has right.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from cf_failures import asked, questions

CLASS_WORDS = {"city": r"\b(?:city|town)\b", "country": r"\bcountry\b", "continent": r"\bcontinent\b",
               "language": r"\blanguages?\b", "sport": r"\bsport\b", "religion": r"\breligion\b",
               "genre": r"\bgenre\b", "instrument": r"\binstrument\b", "position": r"\bposition\b",
               "occupation": r"\b(?:occupation|profession)\b"}
# cf_failures.questions' measures (it walks a case's questions in the order `kme eval` asked them),
# with their names in the table.
MEASURES = {"efficacy": "efficacy", "generalization": "generalization", "locality": "locality",
            "subject_locality": "same-subject locality"}


def classes(text: str) -> set[str]:
    return {name for name, pattern in CLASS_WORDS.items() if re.search(pattern, text, re.IGNORECASE)}


def refuses(question: str, edit_prompt: str) -> bool:
    asked, edited = classes(question), classes(edit_prompt)
    return bool(asked) and bool(edited) and not asked & edited


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="counterfact-val.json (flat form)")
    ap.add_argument("cases", type=Path, help="per-case JSONL of `kme eval counterfact --cases`")
    ap.add_argument("--system", default="auto")
    ap.add_argument("--none", type=Path, help="cases file holding the none system's run (default: CASES)")
    args = ap.parse_args()
    records = {str(r["case_id"]): r for r in json.loads(args.data.read_text())}
    runs = _cases(args.cases)
    untouched = _cases(args.none or args.cases)["none"]
    counts = {measure: [0, 0, 0] for measure in MEASURES}  # refused, right now, right untouched
    for case_id, case in runs[args.system].items():
        for (measure, route, right, question), (_, _, base) in zip(asked(case, records[case_id]),
                                                                   questions(untouched[case_id])):
            if route == "serac" and question is not None and refuses(question, case["prompt"]):
                counts[measure][0] += 1
                counts[measure][1] += right
                counts[measure][2] += base
    print(f"class-word rule on {args.system} in {args.cases}")
    print("| measure | refused (were SERAC's) | right now | right untouched | change if built |")
    print("|---|---:|---:|---:|---:|")
    for measure, name in MEASURES.items():
        refused, right, base = counts[measure]
        print(f"| {name} | {refused} | {right} | {base} | {base - right:+d} |")
    return 0


def _cases(path: Path) -> dict[str, dict[str, dict]]:
    """system -> case id -> case, from a per-case JSONL."""
    out: dict[str, dict[str, dict]] = {}
    for line in path.read_text().splitlines():
        case = json.loads(line)
        out.setdefault(case["system"], {})[str(case["case_id"])] = case
    return out


if __name__ == "__main__":
    raise SystemExit(main())
