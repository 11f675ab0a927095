"""Why SERAC's generalization failures went to the base model: classifier rejection or abstention.

    .venv/bin/python bench/serac_failures.py zsre ../shared/data/zsre/zsre-dev.json \
        .bench/quality/zsre-fold0.jsonl=.cache/serac-zsre-fold0 .bench/quality/zsre-fold1.jsonl=.cache/serac-zsre-fold1

A failed rephrasing answered in mode none either never reached the counterfactual model (the scope
classifier rejected every retrieved edit) or reached it and the model abstained. The per-case file
does not say which, so each such question is routed again here as the service routes it: every
edit of the set stored, the store's retrieval, the classifier's best match among the hits (the
classifier that scored that file, given after "="), and, when in scope, the completion of its
prompt by the counterfactual model of that same SERAC directory (the one that ran the file).
Prints one line per question and the counts.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path

import _checkout  # noqa: F401  (sets sys.path before the project imports)

from kme_store.store import KnowledgeStore  # noqa: E402

from kme_server.editing.serac.prompt import ABSTAIN, edit_prompt  # noqa: E402
from kme_server.editing.serac.scope import ScopeClassifier, fact_text  # noqa: E402
from kme_server.engine import load_counterfactual  # noqa: E402
from kme_server.evaluation.cases import load_cases, without_empty_targets  # noqa: E402
from kme_server.settings import Settings  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("form", choices=["counterfact", "zsre"])
    ap.add_argument("data", type=Path)
    ap.add_argument("runs", nargs="+",
                    help="CASES.jsonl=SERAC_DIR: a --cases file and the SERAC directory (classifier and "
                         "counterfactual model) that ran it; without =SERAC_DIR, the service's")
    ap.add_argument("--system", default="auto")
    args = ap.parse_args()
    cases = {c.case_id: c for c in without_empty_targets(load_cases(args.data, args.form))[0]}
    settings = Settings()
    counts: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as tmp, KnowledgeStore(Path(tmp) / "store", settings.store) as store:
        store.add([c.edit for c in cases.values()])
        for run in args.runs:
            cases_file, _, serac_dir = run.partition("=")
            run_settings = settings.model_copy(update={"answering": settings.answering.model_copy(
                update={"serac_dir": Path(serac_dir) if serac_dir else settings.answering.serac_dir})})
            classifier = ScopeClassifier.load(run_settings.answering.serac_dir)
            counterfactual = load_counterfactual(run_settings)
            if counterfactual is None:
                ap.error(f"no trained counterfactual model under {run_settings.answering.serac_dir}")
            for line in Path(cases_file).read_text().splitlines():
                row = json.loads(line)
                if row["system"] != args.system or row.get("generalization", 1.0) >= 1.0:
                    continue
                case = cases[row["case_id"]]
                # The rephrasings follow the prompt in `modes` (single_hop._questions' order).
                for i, question in enumerate(case.rephrases):
                    if row["modes"][1 + i] != "none":
                        counts[f"answered in mode {row['modes'][1 + i]}, without the target"] += 1
                        continue
                    hits = store.retrieve(question, k=settings.answering.k, threshold=settings.answering.min_score)
                    match = classifier.best(question, [h.fact for h in hits]) if hits else None
                    if match is None:
                        verdict, detail = "nothing retrieved", ""
                    elif not match.in_scope:
                        verdict, detail = "rejected by the classifier", f"p={match.probability:.3f}"
                    else:
                        said = counterfactual.generate(edit_prompt(question, fact_text(match.fact))).strip()
                        verdict = "in scope, the counterfactual model abstained" if said.startswith(ABSTAIN) \
                            else "in scope, the counterfactual model answered"
                        detail = f"p={match.probability:.3f} said={said[:30]!r}"
                    counts[verdict] += 1
                    print(f"{Path(cases_file).name}\t{verdict}\t{detail}\t{question}")
    for verdict, n in counts.most_common():
        print(f"{n:5d}  {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
