"""Where AUTO's routing time goes: every CounterFact edit stored, the first N cases' questions planned.

    .venv/bin/python bench/plan_timing.py ../shared/data/counterfact/counterfact-val.json \
        [--cases 300] [--search-threads 1]

Routing (Answerer.plan) is what AUTO does before any decoding: retrieval, the scope classifier,
the chain reader. `kme eval` plans every question one by one and then decodes in batches, so on a
CPU this part does not batch and shows up whole in the run's time. The script builds the engine
as the server does (KME_ settings apply), stores every record's edit, plans the questions of the
first N cases in AUTO (the prompt, rephrasings, locality prompts and same-subject probe), and
prints the time per question and the wall time spent in each component (a component called
inside another counts in both). `--search-threads` overrides KME_STORE__INDEX__SEARCH_THREADS,
so that runs with 0 (FAISS's default: every core) and 1 can be set side by side.
"""
from __future__ import annotations

import argparse
import collections
import functools
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import _checkout  # noqa: F401  (sets sys.path before the project imports)

from kme_store.index import faiss_cpu  # noqa: E402
from kme_store.onnx_embedder import OnnxEmbedder  # noqa: E402
from kme_store.retrieval import Retriever  # noqa: E402
from kme_store.store import KnowledgeStore  # noqa: E402

from kme_server.answers import Mode  # noqa: E402
from kme_server.editing.serac.scope import ScopeClassifier  # noqa: E402
from kme_server.engine import build_engine, load_counterfactual  # noqa: E402
from kme_server.evaluation.cases import load_cases, sample_cases  # noqa: E402
from kme_server.evaluation.single_hop import _questions  # noqa: E402
from kme_server.models.loading import load_model  # noqa: E402
from kme_server.multihop.beam import BeamExtractor  # noqa: E402
from kme_server.settings import Settings  # noqa: E402

# (owner, method, label) of the components timed
COMPONENTS: list[tuple[Any, str, str]] = [
    (Retriever, "retrieve", "retrieval (all of it)"),
    (OnnxEmbedder, "encode", "  embedding (retrieval and chain reader)"),
    (faiss_cpu.FaissIndex, "search", "  FAISS search"),
    (ScopeClassifier, "best", "scope classifier"),
    (BeamExtractor, "extract", "chain reader"),
]


def _timed(fn: Callable[..., Any], label: str, spent: collections.Counter) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[label] += time.perf_counter() - start
    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="CounterFact records (flat form)")
    parser.add_argument("--cases", type=int, default=300, help="cases whose questions are planned")
    parser.add_argument("--search-threads", type=int, default=None, help="FAISS threads per search")
    args = parser.parse_args()

    spent: collections.Counter = collections.Counter()
    for owner, name, label in COMPONENTS:
        setattr(owner, name, _timed(getattr(owner, name), label, spent))
    settings = Settings()
    if args.search_threads is not None:
        settings.store.index.search_threads = args.search_threads
    model = load_model(settings.model)
    counterfactual = load_counterfactual(settings)
    cases = sample_cases(load_cases(args.file, "counterfact"), 0, 0)  # every case, probes as kme eval sets them
    with tempfile.TemporaryDirectory(prefix="kme-plan-") as tmp, \
            KnowledgeStore(Path(tmp) / "store", settings.store) as store:
        answerer = build_engine(settings, store, model=model, counterfactual=counterfactual)
        answerer.warm_up()
        store.add([c.edit for c in cases])
        questions = [q for c in cases[: args.cases] for q in _questions(c)]
        spent.clear()
        modes: collections.Counter = collections.Counter()
        start = time.perf_counter()
        for question in questions:
            modes[answerer.plan(question, Mode.AUTO).mode.value] += 1
        total = time.perf_counter() - start

    threads = settings.store.index.search_threads
    print(f"{len(questions)} questions of {min(args.cases, len(cases))} cases, {len(cases)} edits stored, "
          f"FAISS search threads {threads or 'default'}")
    print(f"{'component':42s} {'s':>7s} {'ms/question':>12s}")
    print("-" * 63)
    print(f"{'routing, all of it':42s} {total:7.1f} {1000 * total / len(questions):12.1f}")
    for _, _, label in COMPONENTS:
        print(f"{label:42s} {spent[label]:7.1f} {1000 * spent[label] / len(questions):12.1f}")
    print("routes: " + ", ".join(f"{m} {n}" for m, n in modes.most_common()))


if __name__ == "__main__":
    main()
