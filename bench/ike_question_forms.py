"""Which last line lets IKE's prompt answer a question: compared on training data.

    .venv/bin/python bench/ike_question_forms.py ../shared/data/mquake/scope-questions.json [--n 100] [--seed 0]

IKE's demonstrations are cloze lines ("New Fact: ...\\nPrompt: <cloze> <answer>"), and after
"Prompt: <question>?" a base model may start a new block instead of answering: cut at the line
break, the answer is empty. This takes a seeded sample of MQuAKE's scope-training records (an edit
sentence and questions it answers; training data, never evaluated on), puts one of each record's
questions after its edit and the demonstrations IKE chooses for it, and counts, per form of the
last line, the answers the edit sentence ends with (the edit's object: these sentences end with
it) and the empty ones. The default model, IKE's settings and the question frame are the
service's (KME_ variables).
"""
from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path
from typing import Callable

import _checkout  # noqa: F401  (sets sys.path before the project imports)

from kme_server.answering import clean_answer  # noqa: E402
from kme_server.answers import GenerationOptions  # noqa: E402
from kme_server.editing.ike import InContextEditor  # noqa: E402
from kme_server.models.loading import load_model  # noqa: E402
from kme_server.settings import Settings  # noqa: E402

STOP = ("\n",)


def _norm(text: str) -> str:
    return re.sub(r"[^\w ]", "", text.lower()).strip()


def hit(answer: str, edit: str) -> bool:
    """Whether `answer` names the edit's object: the edit sentence ends with it."""
    a = _norm(answer)
    return bool(a) and _norm(edit).endswith(a)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("questions", type=Path, help="mquake/scope-questions.json")
    parser.add_argument("--n", type=int, default=100, help="records sampled")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    records = rng.sample(json.loads(args.questions.read_text()), args.n)
    settings = Settings()
    model = load_model(settings.model)
    ike = InContextEditor(settings.answering.ike)
    frame = settings.answering.question_frame
    opts = GenerationOptions(max_new_tokens=settings.answering.max_new_tokens, stop=STOP)
    fact_label, prompt_label = ike.settings.fact_label, ike.settings.prompt_label
    forms: dict[str, Callable[[str], str]] = {
        f"`{prompt_label} <question>` (IKE's form)": lambda q: f"{prompt_label} {q}",
        f"`{frame.format('<question>')}` (the question frame)".replace("\n", "\\n"): lambda q: frame.format(q),
        f"`{prompt_label} <question>\\nAnswer:`": lambda q: f"{prompt_label} {q}\nAnswer:",
    }
    counts = {name: [0, 0] for name in [*forms, "IKE's form, then the question frame when empty"]}
    for record in records:
        question, edit = rng.choice(record["questions"]), record["edit"]
        demos = ike.select_demos(question)
        # InContextEditor.render's layout, with the edit sentence as it stands for the fact (render
        # would write a Fact's own sentence, and these records have none).
        blocks = "".join(f"{fact_label} {d.fact}\n{prompt_label} {d.prompt} {d.answer}\n\n" for d in demos)
        head = f"{blocks}{fact_label} {edit}\n"
        answers = {name: clean_answer(model.generate(head + last(question), opts), STOP)
                   for name, last in forms.items()}
        first, framed = list(answers.values())[:2]
        answers["IKE's form, then the question frame when empty"] = first or framed  # what Answerer does
        for name, answer in answers.items():
            counts[name][0] += hit(answer, edit)
            counts[name][1] += not answer
    print(f"{args.n} records of {args.questions.name} (seed {args.seed}), {model.name}, "
          f"{ike.settings.demos} demonstrations")
    print("| last line of a question | hit | empty |")
    print("|---|---:|---:|")
    for name, (hits, empty) in counts.items():
        print(f"| {name} | {hits} | {empty} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
