"""Single-hop edit evaluation: efficacy, generalization, locality, same-subject locality, portability.

Definitions (the generation-match ones are those of ../shared/tools/kme_score.py):
- efficacy: the answer to the edit's own prompt contains the new target (normalized, whole words);
- generalization: the same for each rephrased prompt (averaged within a case);
- locality: the answer to the locality prompt equals, exactly, its answer in mode NONE before any
  edit was stored;
- subject locality: the same for a prompt about the edited subject on another relation;
- portability: the answer to a consequence question contains one of its answers.
Probability forms, through Score: efficacy and generalization P(new) > P(old) on their prompts;
locality P(the locality prompt's own answer) > P(new target).

Systems: the service's modes, and two baselines run beside them with the same model: "none" (no
edit applied: mode NONE) and "facts" (the retrieved facts pasted before the prompt, without
demonstrations, answered in mode NONE).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from kme_server.editing.serac.folds import Fold
from kme_server.evaluation.backends import Backend
from kme_server.evaluation.cases import EditCase
from kme_server.matching import contains

log = logging.getLogger(__name__)

BASELINE_FACTS = "facts"  # the top retrieved facts pasted before the prompt, no demonstrations
SYSTEMS = ("none", BASELINE_FACTS, "in_context", "serac", "auto")
METRICS = ("efficacy", "generalization", "locality", "subject_locality", "portability",
           "efficacy_prob", "generalization_prob", "locality_prob")


@dataclass(frozen=True, slots=True)
class EvalSettings:
    systems: tuple[str, ...] = SYSTEMS
    scores: bool = True  # the probability metrics (one Score call per prompt and system)
    one_at_a_time: bool = False  # store each edit alone, evaluate it, delete it
    # Store every case's edit, ask and score only the cases of this fold: a classifier cross-fitted
    # on the set is scored on the fold it never saw (editing/serac/folds.py).
    fold: Fold | None = None


@dataclass(slots=True)
class SystemResult:
    """Metrics of one system: the mean of each metric over the cases that have it."""

    system: str
    metrics: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(slots=True)
class Report:
    cases: int  # the cases asked and scored
    systems: list[SystemResult]
    per_case: list[dict[str, Any]]
    setting: str  # "all at once" or "one at a time"
    seconds: float = 0.0
    stored: int = 0  # the edits stored (all at once: every case's, also outside a fold)
    fold: str = ""  # "K/N" when only one fold's cases were scored

    def to_json(self) -> dict[str, Any]:
        return {"cases": self.cases, "stored": self.stored, "fold": self.fold, "setting": self.setting,
                "seconds": round(self.seconds, 1),
                "systems": {s.system: {"metrics": s.metrics, "counts": s.counts, "seconds": round(s.seconds, 1)}
                            for s in self.systems}}


def facts_prompt(facts: Sequence[str], text: str) -> str:
    """The "facts" baseline's prompt: the retrieved facts, one per line, then the prompt."""
    return "".join(f"{f}\n" for f in facts) + text if facts else text


class _Asker:
    """Questions of one system, answered in one batch through the backend."""

    def __init__(self, backend: Backend, system: str) -> None:
        self.backend = backend
        self.system = system

    @property
    def mode(self) -> str:
        return "none" if self.system == BASELINE_FACTS else self.system

    def prompts(self, texts: Sequence[str]) -> list[str]:
        if self.system != BASELINE_FACTS:
            return list(texts)
        return [facts_prompt(self.backend.retrieve(t), t) for t in texts]

    def ask(self, texts: Sequence[str]) -> tuple[list[str], list[str]]:
        """The answers, and the mode each was answered in (the route the service chose)."""
        results = self.backend.ask_results(self.prompts(texts), self.mode)
        return [r.answer for r in results], [str(getattr(r.mode, "value", r.mode)) for r in results]

    def prefers(self, text: str, better: str, worse: str) -> bool:
        prompt = self.prompts([text])[0]
        a, b = self.backend.score(prompt, [" " + better.strip(), " " + worse.strip()], self.mode)
        return a > b


def _questions(case: EditCase) -> list[str]:
    """Every prompt a case asks, in a fixed order (see _case_result)."""
    return [case.prompt, *case.rephrases, *case.locality, *([case.subject_probe] if case.subject_probe else []),
            *(p.prompt for p in case.portability)]


def _baseline_prompts(cases: Sequence[EditCase]) -> list[str]:
    return [q for c in cases for q in (*c.locality, *([c.subject_probe] if c.subject_probe else []))]


def _case_result(case: EditCase, answers: list[str], before: dict[str, str]) -> dict[str, Any]:
    it = iter(answers)
    out: dict[str, Any] = {"case_id": case.case_id, "target_new": case.target_new}
    answer = next(it)
    out["prompt"], out["answer"] = case.prompt, answer
    out["efficacy"] = contains(answer, [case.target_new])
    rephrased = [next(it) for _ in case.rephrases]
    if rephrased:
        out["rephrase_answers"] = rephrased
        out["generalization"] = sum(contains(a, [case.target_new]) for a in rephrased) / len(rephrased)
    local = [next(it) for _ in case.locality]
    if local:
        out["locality_answers"] = local
        out["locality_before"] = [before[q] for q in case.locality]
        out["locality"] = sum(a == before[q] for a, q in zip(local, case.locality)) / len(local)
    if case.subject_probe:
        probe = next(it)
        out["subject_probe"], out["probe_answer"], out["probe_before"] = case.subject_probe, probe, before[case.subject_probe]
        out["subject_locality"] = float(probe == before[case.subject_probe])
    ported = [next(it) for _ in case.portability]
    if ported:
        out["portability_answers"] = ported
        out["portability"] = sum(contains(a, list(p.answers)) for a, p in zip(ported, case.portability)) / len(ported)
    return out


def _probabilities(asker: _Asker, case: EditCase) -> dict[str, float]:
    out: dict[str, float] = {}
    if case.target_old and case.target_old.strip() and case.target_old != case.target_new:
        out["efficacy_prob"] = float(asker.prefers(case.prompt, case.target_new, case.target_old))
        if case.rephrases:
            out["generalization_prob"] = sum(asker.prefers(r, case.target_new, case.target_old)
                                             for r in case.rephrases) / len(case.rephrases)
    if case.locality and case.locality_answer and case.locality_answer != case.target_new:
        out["locality_prob"] = float(asker.prefers(case.locality[0], case.locality_answer, case.target_new))
    return out


def _aggregate(system: str, rows: list[dict[str, Any]], seconds: float) -> SystemResult:
    result = SystemResult(system, seconds=seconds)
    for metric in METRICS:
        values = [r[metric] for r in rows if metric in r]
        if values:
            result.metrics[metric] = sum(values) / len(values)
            result.counts[metric] = len(values)
    return result


def evaluate(cases: Sequence[EditCase], backend: Backend, settings: EvalSettings = EvalSettings(),
             progress: Callable[[str], None] | None = None) -> Report:
    """Store the cases' edits (all at once, or one at a time), ask every system, score the answers."""
    began = time.perf_counter()
    say = progress or log.info
    available = backend.modes()
    systems = [s for s in settings.systems if s == BASELINE_FACTS or s in available]
    skipped = [s for s in settings.systems if s not in systems]
    if skipped:
        say(f"not served here, skipped: {', '.join(skipped)}")
    asked = [c for c in cases if settings.fold is None or settings.fold.holds(c.subject)]
    if settings.fold is not None:
        say(f"fold {settings.fold}: {len(asked)} of {len(cases)} cases asked, every edit stored")
    # Locality is judged against the answers of the untouched model, asked before any edit.
    baseline = list(dict.fromkeys(_baseline_prompts(asked)))
    before = dict(zip(baseline, backend.ask(baseline, "none")))
    say(f"{len(baseline)} locality answers before editing")
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
    seconds = {s: 0.0 for s in systems}
    if settings.one_at_a_time:
        for case in asked:
            ids = backend.add([case.edit])
            for system in systems:
                start = time.perf_counter()
                rows[system] += _run_system(system, [case], backend, before, settings.scores)
                seconds[system] += time.perf_counter() - start
            backend.delete(ids)
    else:
        start = time.perf_counter()
        backend.add([c.edit for c in cases])
        say(f"stored {len(cases)} edits in {time.perf_counter() - start:.1f} s")
        for system in systems:
            start = time.perf_counter()
            rows[system] = _run_system(system, asked, backend, before, settings.scores)
            seconds[system] = time.perf_counter() - start
            say(f"{system}: {len(asked)} cases in {seconds[system]:.0f} s")
    results = [_aggregate(s, rows[s], seconds[s]) for s in systems]
    per_case = [{"system": s, **r} for s in systems for r in rows[s]]
    return Report(len(asked), results, per_case, "one at a time" if settings.one_at_a_time else "all at once",
                  time.perf_counter() - began, stored=len(asked) if settings.one_at_a_time else len(cases),
                  fold=str(settings.fold or ""))


def _run_system(system: str, cases: Sequence[EditCase], backend: Backend, before: dict[str, str],
                scores: bool) -> list[dict[str, Any]]:
    asker = _Asker(backend, system)
    questions = [_questions(c) for c in cases]
    flat, modes = asker.ask([q for qs in questions for q in qs])
    rows, at = [], 0
    for case, qs in zip(cases, questions):
        row = _case_result(case, flat[at:at + len(qs)], before)
        row["modes"] = modes[at:at + len(qs)]
        at += len(qs)
        if scores:
            row.update(_probabilities(asker, case))
        rows.append(row)
    return rows


__all__ = ["BASELINE_FACTS", "EvalSettings", "METRICS", "Report", "SYSTEMS", "SystemResult", "evaluate",
           "facts_prompt"]
