"""MQuAKE multi-hop evaluation: do the consequences of the stored edits reach the answers?

Scoring as published: a case is right when the answer to any of its three questions contains
`new_answer` or one of its aliases. Also per question, by number of hops, and hop-wise (each
single-hop cloze of the edited chain, `new_single_hops`, answered with its answer). Every case of
the file is stored at once (the set is conflict-free, so all gold answers hold together), in one
of two settings: the edits only (unedited hops come from the model, the MeLLo setting), or the
edits plus the world facts (`orig.triples_labeled`) of the cases, and optionally of a distractor
file. Gold chains and hop counts serve the report only, never the answering.
"""
from __future__ import annotations

import logging
import random
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from kme_server.evaluation.backends import Backend
from kme_server.evaluation.cases import rewrite_request
from kme_server.matching import contains

log = logging.getLogger(__name__)


def world_facts(cases: Sequence[dict]) -> list[dict[str, Any]]:
    """The original chains of `cases` as facts (subject, relation label, Wikidata id, object)."""
    return [{"subject": sl, "relation": pl, "relation_id": p, "object": ol}
            for c in cases for (_, p, _), (sl, pl, ol) in zip(c["orig"]["triples"], c["orig"]["triples_labeled"])]


def edit_requests(cases: Sequence[dict]) -> list[dict[str, Any]]:
    """The requested rewrites of `cases` as edit requests."""
    return [rewrite_request(r) for c in cases for r in c["requested_rewrite"]]


def stored_batches(cases: Sequence[dict], world: bool,
                   distractors: Sequence[dict] = ()) -> list[list[dict[str, Any]]]:
    """What a setting stores, batch by batch in order: with `world` the world facts of the cases
    (and of the distractor cases) first, then the cases' edits. The store keeps the later fact of
    a (subject, relation) current, so the edits supersede the world facts they contradict."""
    facts = world_facts(cases) + world_facts(distractors) if world else []
    return [batch for batch in (facts, edit_requests(cases)) if batch]


def sample(cases: Sequence[dict], limit: int, seed: int) -> list[dict]:
    """The asked cases, drawn as kme_score.py draws them for the same --limit and --seed."""
    return random.Random(seed).sample(list(cases), limit) if limit else list(cases)


@dataclass(slots=True)
class Tally:
    """Counts of one system in one setting."""

    cases: int = 0
    cases_right: int = 0
    questions: int = 0
    questions_right: int = 0
    hops: int = 0
    hops_right: int = 0
    by_hops: dict[int, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0]))
    latencies_ms: list[float] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    modes: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add_case(self, hits: Sequence[bool], hops: int) -> None:
        """Count one case: `hits` says which of its questions were answered right."""
        self.cases += 1
        self.cases_right += any(hits)
        self.questions += len(hits)
        self.questions_right += sum(hits)
        slot = self.by_hops[hops]
        slot[0] += any(hits)
        slot[1] += 1
        slot[2] += sum(hits)
        slot[3] += len(hits)

    def row(self) -> dict[str, Any]:
        return {"cases": self.cases, "case_accuracy": self.cases_right / max(self.cases, 1),
                "question_accuracy": self.questions_right / max(self.questions, 1),
                "hop_accuracy": self.hops_right / self.hops if self.hops else None,
                "p50_ms": statistics.median(self.latencies_ms) if self.latencies_ms else None,
                "by_hops": {str(h): {"cases": v[1], "case_accuracy": v[0] / max(v[1], 1),
                                     "question_accuracy": v[2] / max(v[3], 1)}
                            for h, v in sorted(self.by_hops.items())},
                "hop_sources": dict(self.sources), "modes": dict(self.modes)}


@dataclass(frozen=True, slots=True)
class MultiHopSettings:
    mode: str = "auto"  # the mode the questions are asked in
    hop_wise: bool = True  # also ask each single-hop cloze of the edited chains


@dataclass(frozen=True, slots=True)
class AskedCase:
    """One case's questions put to a system: its answers, which were right, how long each took."""

    case: dict
    gold: list[str]
    hops: int
    results: list[Any]
    hits: list[bool]
    took_ms: list[float]


def ask_cases(asked: Sequence[dict], ask: Callable[[str], Any], answer_of: Callable[[Any], str], tally: Tally,
              label: str, every: int, progress: Callable[[str], None] | None = None) -> list[AskedCase]:
    """Ask every question of `asked` one at a time through `ask` and count it in `tally`.

    MQuAKE scoring as published: a case is right when the answer (`answer_of` its result) to any of
    its questions names the new answer or an alias. The latency is per question. `label` and
    `every` say how progress is logged.
    """
    say = progress or log.info
    done = []
    for n, case in enumerate(asked, start=1):
        gold = [case["new_answer"], *case["new_answer_alias"]]
        hops = len(case["orig"]["triples"])
        results, took = [], []
        for q in case["questions"]:
            start = time.perf_counter()
            results.append(ask(q))
            took.append((time.perf_counter() - start) * 1000.0)
        hits = [contains(answer_of(r), gold) for r in results]
        tally.add_case(hits, hops)
        tally.latencies_ms += took
        done.append(AskedCase(case, gold, hops, results, hits, took))
        if n % every == 0:
            say(f"{label}: {n}/{len(asked)} cases: {tally.cases_right / tally.cases:.1%}")
    return done


def evaluate(backend: Backend, asked: Sequence[dict], settings: MultiHopSettings = MultiHopSettings(),
             progress: Callable[[str], None] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Ask the asked cases' questions one at a time (the latency is per question); the row and the
    per-case results. The backend must already hold the edits (and world facts) of the setting."""
    t = Tally()
    per_case = []
    done = ask_cases(asked, lambda q: backend.ask_results([q], settings.mode)[0], lambda r: r.answer, t,
                     settings.mode, every=25, progress=progress)
    for a in done:
        for r in a.results:
            t.modes[str(getattr(r.mode, "value", r.mode))] += 1
            for hop in r.chain:
                t.sources[hop.source] += 1
        per_case.append({"case_id": a.case["case_id"], "hops": a.hops, "right": any(a.hits), "gold": a.gold,
                         "questions": [{"question": q, "answer": r.answer, "right": h, "ms": round(ms, 1),
                                        "mode": str(getattr(r.mode, "value", r.mode)),
                                        "chain": [[x.subject, x.relation, x.object, x.source] for x in r.chain]}
                                       for q, r, h, ms in zip(a.case["questions"], a.results, a.hits, a.took_ms)]})
    if settings.hop_wise:
        clozes = [(c["case_id"], h) for c in asked for h in c["new_single_hops"]]
        results = backend.ask_results([h["cloze"] for _, h in clozes], settings.mode)
        by_case: dict[Any, list[bool]] = defaultdict(list)
        asked_hops: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for (case_id, hop), result in zip(clozes, results):
            right = contains(result.answer, [hop["answer"], *hop["answer_alias"]])
            t.hops += 1
            t.hops_right += right
            by_case[case_id].append(right)
            # the route of each cloze, so that a failed hop can be traced to SERAC's scope
            # decision, the walk or the base model
            asked_hops[case_id].append({"cloze": hop["cloze"], "answer": result.answer,
                                        "mode": str(getattr(result.mode, "value", result.mode))})
        for row in per_case:
            row["hop_wise"] = by_case.get(row["case_id"], [])
            row["hop_wise_answers"] = asked_hops.get(row["case_id"], [])
    return t.row(), per_case


def restricted(per_case: Sequence[dict[str, Any]], case_ids: set[Any]) -> dict[str, Any]:
    """The row of `evaluate`'s per-case results for the cases in `case_ids` alone (no hop-wise
    figures): a system's accuracy on exactly the cases a slower baseline was run on, so that the
    two are compared case for case rather than a sample against the whole set."""
    t = Tally()
    for row in per_case:
        if row["case_id"] in case_ids:
            t.add_case([q["right"] for q in row["questions"]], row["hops"])
            t.latencies_ms += [q["ms"] for q in row["questions"]]
    return t.row()


def mello_evaluate(answer: Callable[[str], str], asked: Sequence[dict],
                   progress: Callable[[str], None] | None = None) -> tuple[dict[str, Any], list[dict]]:
    """The MeLLo-style baseline: `answer(question)` runs its iterative prompting; scored as above."""
    t = Tally()
    # about 40 s a case on a 2-core CPU: say where it is every 10 cases
    done = ask_cases(asked, answer, lambda a: a, t, "MeLLo-style baseline", every=10, progress=progress)
    per_case = [{"case_id": a.case["case_id"], "hops": a.hops, "right": any(a.hits), "answers": a.results}
                for a in done]
    return t.row(), per_case


__all__ = ["AskedCase", "MultiHopSettings", "Tally", "ask_cases", "edit_requests", "evaluate", "mello_evaluate",
           "restricted", "sample", "stored_batches", "world_facts"]
