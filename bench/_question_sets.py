"""The question sets that AUTO's chain reading is checked on, each beside a store holding its facts.

CounterFact validation with every edit stored (its questions are all single-hop), and MQuAKE-CF
dev with its edits, then its edits and world facts (its questions are all chains), stored and
asked as `kme eval` stores and asks them. Used by bench/scope_gate.py and bench/own_prompt_chains.py.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Iterator


def question_sets(data_dir: Path, settings: Any) -> Iterator[tuple[str, Any, Any, list[str], bool]]:
    """(name, store, multi-hop settings, questions, all single-hop?) per set; each store is open
    only until the next set is drawn."""
    from kme_store.store import KnowledgeStore

    from kme_server.evaluation.cases import load_cases, sample_cases
    from kme_server.evaluation.multi_hop import stored_batches
    from kme_server.evaluation.single_hop import _questions

    with tempfile.TemporaryDirectory(prefix="kme-sets-") as tmp:
        # every record, with the same-subject probes the evaluation asks (seed 0)
        cases = sample_cases(load_cases(data_dir / "counterfact" / "counterfact-val.json", "counterfact"), 0, 0)
        with KnowledgeStore(Path(tmp) / "cf", settings.store) as store:
            store.add([c.edit for c in cases])
            yield ("counterfact-val, every edit", store, settings.multihop,
                   [q for c in cases for q in _questions(c)], True)
        mquake = json.loads((data_dir / "mquake" / "mquake-cf-dev.json").read_text())
        # The evaluation reads MQuAKE's relation templates from beside its cases, as here.
        mh_settings = settings.multihop.model_copy(update={"templates_dir": data_dir / "mquake"})
        questions = [q for case in mquake for q in case["questions"]]
        for setting in ("edits", "edits + world"):
            with KnowledgeStore(Path(tmp) / setting.replace(" ", ""), settings.store) as store:
                for batch in stored_batches(mquake, setting != "edits"):  # as kme eval stores them
                    store.add(batch)
                yield f"mquake-cf-dev, {setting}", store, mh_settings, questions, False
