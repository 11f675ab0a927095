"""The MeLLo-style baseline (Zhong et al., MQuAKE): the model decomposes the question itself.

MeLLo's few-shot prompt makes the model write a subquestion and a tentative answer; the store's top
fact for the subquestion is inserted as "Retrieved fact:", and the model decides whether it
contradicts its answer, until it writes "Final answer:". The store is only read.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from kme_server.answers import GenerationOptions

_STEP = GenerationOptions(max_new_tokens=64, stop=("Retrieved fact:", "\n\n", "Question:"))
_FINAL = GenerationOptions(max_new_tokens=12, stop=("\n",))


class MeLLo:
    """Answers with MeLLo's prompt (../shared/data/mquake/MeLLo-prompt.txt) and a store."""

    def __init__(self, model: Any, store: Any, prompt_file: str | Path, max_steps: int = 4) -> None:
        self.model = model
        self.store = store
        self.prompt = Path(prompt_file).read_text(encoding="utf-8").rstrip()
        self.max_steps = max_steps

    def answer(self, question: str) -> str:
        text = f"{self.prompt}\n\nQuestion: {question}\n"
        for _ in range(self.max_steps):
            out = self.model.generate(text, _STEP)
            text += out
            if "Final answer:" in out:
                return out.split("Final answer:", 1)[1].strip().split("\n")[0]
            asked = [line for line in out.splitlines() if line.startswith("Subquestion:")]
            if not asked:
                break
            hits = self.store.retrieve(asked[-1].removeprefix("Subquestion:").strip(), k=1, threshold=0.0)
            text += f"Retrieved fact: {hits[0].fact.sentence() if hits else 'none.'}\n"
        return self.model.generate(text + "Final answer:", _FINAL).strip()


__all__ = ["MeLLo"]
