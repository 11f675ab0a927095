"""`kme eval`: dataset readers, matching, the single-hop and multi-hop scoring, on fakes."""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pytest

from kme_store.errors import FieldError

from kme_server.evaluation import multi_hop, single_hop
from kme_server.evaluation.cases import (OTHER_RELATIONS, load_cases, sample_cases, subject_probe,
                                         without_empty_targets)
from kme_server.matching import contains, normalize
from kme_server.evaluation.report import multi_hop_table, single_hop_table


def test_contains_matches_whole_normalized_words() -> None:
    assert contains("It is Paris, France.", ["paris"])
    assert not contains("Parisian cafés", ["Paris"])
    assert contains("the U.S.A.", ["u s a"])
    assert not contains("anything", [""])
    assert normalize("  São-Paulo!! ") == "são paulo"


def test_subject_probe_avoids_the_edited_relation_and_is_seeded() -> None:
    for seed in range(30):
        probe = subject_probe("Anna is a citizen of", "Anna", seed)
        assert probe.startswith("Anna") or "Anna" in probe
        assert "citizen" not in probe
    assert subject_probe("X died in", "X", 3) == subject_probe("X died in", "X", 3)
    assert {t for _, t in OTHER_RELATIONS} >= {subject_probe("X plays", "X", s).replace("X", "{}") for s in range(50)}


def _cf_rows(n: int) -> list[dict]:
    return [{"case_id": i, "prompt": f"Person{i} is a citizen of", "subject": f"Person{i}", "target_new": "Canada",
             "ground_truth": "Peru", "rephrase_prompt": f"Noise. Person{i} holds a passport of",
             "locality_prompt": f"Other{i} is a citizen of", "locality_ground_truth": "Chile"} for i in range(n)]


def test_readers_of_every_form(tmp_path: Path) -> None:
    cf = tmp_path / "cf.json"
    cf.write_text(json.dumps(_cf_rows(3)))
    cases = load_cases(cf, "counterfact")
    assert [c.case_id for c in cases] == ["0", "1", "2"]
    assert cases[1].edit == {"prompt": "Person1 is a citizen of", "subject": "Person1", "target_new": "Canada",
                             "ground_truth": "Peru"}
    assert cases[1].rephrases == ("Noise. Person1 holds a passport of",) and cases[1].locality_answer == "Chile"

    zsre = tmp_path / "zsre.json"
    zsre.write_text(json.dumps([{"subject": "Delta", "src": "Which river is Delta on?", "rephrase": "Delta lies on?",
                                 "alt": "Nile", "answers": ["Rhine"], "loc": "nq question: who", "loc_ans": "Bob"}]))
    (z,) = load_cases(zsre, "zsre")
    assert (z.prompt, z.target_new, z.target_old, z.locality, z.locality_answer) == \
        ("Which river is Delta on?", "Nile", "Rhine", ("nq question: who",), "Bob")

    mq = tmp_path / "mq.json"
    mq.write_text(json.dumps([_mquake_case(0)]))
    (m,) = load_cases(mq, "mquake")
    assert m.prompt == "Song0 is performed by" and m.rephrases == ("Who performs Song0?",)
    assert m.locality == ("Singer0 is a citizen of",)  # the unedited hop
    assert m.portability[0].answers == ("Spanish", "Castilian")

    own = tmp_path / "own.jsonl"
    own.write_text(json.dumps({"subject": "Acme", "prompt": "The CEO of Acme is", "target_new": "Ann",
                               "rephrase_prompts": ["Acme is led by"], "locality_prompts": ["The CEO of Globex is"],
                               "portability": [{"prompt": "Acme's CEO was born in", "answers": ["Oslo"]}]}) + "\n\n")
    (o,) = load_cases(own, "jsonl")
    assert o.rephrases == ("Acme is led by",) and o.portability[0].prompt == "Acme's CEO was born in"


def test_records_without_a_new_target_are_set_aside_after_sampling(tmp_path: Path) -> None:
    zsre = tmp_path / "zsre.json"
    rows = [{"subject": f"S{i}", "src": f"What gender is S{i}?", "rephrase": f"Which sex is S{i}?",
             "alt": "" if i == 2 else "male", "answers": ["female"], "loc": "nq question: who", "loc_ans": "Bob"}
            for i in range(4)]
    zsre.write_text(json.dumps(rows))
    sampled = sample_cases(load_cases(zsre, "zsre"), 3, 1)
    kept, aside = without_empty_targets(sampled)
    assert [c.subject for c in aside] == ["S2"]
    assert [c.subject for c in kept] == [c.subject for c in sampled if c.subject != "S2"]
    assert all(c.subject_probe for c in kept)  # the probes were drawn with the sample, not after


def test_bad_records_name_the_line_and_field(tmp_path: Path) -> None:
    own = tmp_path / "own.jsonl"
    own.write_text('{"subject": "A", "prompt": "A is in", "target_new": "B"}\n{"subject": "A", "prompt": ""}\n')
    with pytest.raises(FieldError) as e:
        load_cases(own, "jsonl")
    assert e.value.field == "line 2.prompt"
    own.write_text('{"subject": "A", "prompt": "A is in", "target_new": "B", "rephrase_prompts": [3]}\n')
    with pytest.raises(FieldError) as e:
        load_cases(own, "jsonl")
    assert e.value.field == "line 1.rephrase_prompts"
    own.write_text("not json\n")
    with pytest.raises(FieldError, match="not JSON"):
        load_cases(own, "jsonl")
    cf = tmp_path / "cf.json"
    cf.write_text(json.dumps([{"prompt": "x"}]))
    with pytest.raises(FieldError) as e:
        load_cases(cf, "counterfact")
    assert e.value.field == "record 0.subject"


def test_sample_draws_as_the_outside_scorer_does(tmp_path: Path) -> None:
    cf = tmp_path / "cf.json"
    rows = _cf_rows(20)
    cf.write_text(json.dumps(rows))
    cases = sample_cases(load_cases(cf, "counterfact"), 5, seed=7)
    expected = random.Random(7).sample(rows, 5)
    assert [c.prompt for c in cases] == [r["prompt"] for r in expected]
    assert [c.subject_probe for c in cases] == [subject_probe(r["prompt"], r["subject"], i)
                                                for i, r in enumerate(expected)]


@dataclass
class FakeResult:
    answer: str
    mode: str = "auto"
    chain: list = field(default_factory=list)


class FakeBackend:
    """A model that knows stored edits by subject: edit modes answer the new target for any prompt
    naming an edited subject (so a same-subject probe changes too), "none" answers "base <prompt>".
    """

    def __init__(self) -> None:
        self.edits: dict[int, dict] = {}
        self.next_id = 1
        self.asked: list[tuple[str, str]] = []

    def modes(self) -> set[str]:
        return {"none", "in_context", "auto"}

    def add(self, edits: Sequence[dict[str, Any]]) -> list[int]:
        ids = []
        for e in edits:
            self.edits[self.next_id] = e
            ids.append(self.next_id)
            self.next_id += 1
        return ids

    def delete(self, ids: Sequence[int]) -> None:
        for i in ids:
            del self.edits[i]

    def _answer(self, text: str, mode: str) -> str:
        if mode != "none":
            for e in self.edits.values():
                if e["subject"] in text:
                    return f"{e['target_new']} indeed"
        return f"base {text.splitlines()[-1]}"

    def ask(self, texts: Sequence[str], mode: str) -> list[str]:
        self.asked += [(t, mode) for t in texts]
        return [self._answer(t, mode) for t in texts]

    def ask_results(self, texts: Sequence[str], mode: str) -> list[FakeResult]:
        return [FakeResult(a, mode) for a in self.ask(texts, mode)]

    def score(self, prompt: str, candidates: Sequence[str], mode: str) -> list[float]:
        answer = self._answer(prompt, mode)
        return [0.0 if c.strip() in answer else -1.0 for c in candidates]

    def retrieve(self, text: str) -> list[str]:
        return [f"{e['prompt']} {e['target_new']}." for e in self.edits.values() if e["subject"] in text]


def _cases(tmp_path: Path, n: int = 4) -> list:
    cf = tmp_path / "cf.json"
    cf.write_text(json.dumps(_cf_rows(n)))
    return sample_cases(load_cases(cf, "counterfact"), 0, 0)


@pytest.mark.parametrize("one_at_a_time", [False, True])
def test_single_hop_metrics(tmp_path: Path, one_at_a_time: bool) -> None:
    backend = FakeBackend()
    settings = single_hop.EvalSettings(systems=("none", "facts", "in_context", "serac"), one_at_a_time=one_at_a_time)
    report = single_hop.evaluate(_cases(tmp_path), backend, settings, progress=lambda _: None)
    by = {s.system: s for s in report.systems}
    assert set(by) == {"none", "facts", "in_context"}  # serac is not served by this backend
    # No edit applied: nothing takes, everything stays.
    assert by["none"].metrics["efficacy"] == 0.0 and by["none"].metrics["locality"] == 1.0
    assert by["none"].metrics["subject_locality"] == 1.0
    # The fake edits by subject: efficacy and rephrases take, other subjects stay, the probe changes.
    m = by["in_context"].metrics
    assert (m["efficacy"], m["generalization"], m["locality"], m["subject_locality"]) == (1.0, 1.0, 1.0, 0.0)
    assert (m["efficacy_prob"], m["generalization_prob"]) == (1.0, 1.0)
    # The facts baseline answers in mode none with the retrieved sentences before the prompt.
    assert any(t.startswith("Person0 is a citizen of Canada.\n") and mode == "none" for t, mode in backend.asked)
    assert by["facts"].metrics["efficacy"] == 0.0  # the fake "none" ignores pasted facts
    assert report.setting == ("one at a time" if one_at_a_time else "all at once")
    assert backend.edits == ({} if one_at_a_time else backend.edits)
    rows = [r for r in report.per_case if r["system"] == "in_context"]
    assert rows[0]["probe_before"].startswith("base ") and rows[0]["probe_answer"] == "Canada indeed"
    table = single_hop_table({"dataset": "counterfact", "file": "cf.json", "backend": "fake",
                              **report.to_json()})
    assert "in_context" in table and "100.0" in table


def test_locality_is_judged_against_answers_before_any_edit(tmp_path: Path) -> None:
    backend = FakeBackend()
    cases = _cases(tmp_path, 2)
    single_hop.evaluate(cases, backend, single_hop.EvalSettings(systems=("none",), scores=False),
                        progress=lambda _: None)
    first = backend.asked[: 2 * len(cases)]
    assert all(mode == "none" for _, mode in first)
    assert {t for t, _ in first} == {q for c in cases for q in (*c.locality, c.subject_probe)}


def test_a_fold_stores_every_edit_and_scores_only_its_cases(tmp_path: Path) -> None:
    from kme_server.editing.serac.folds import Fold

    cases = _cases(tmp_path, 12)
    fold = Fold(0, 2)
    mine = [c for c in cases if fold.holds(c.subject)]
    assert 0 < len(mine) < len(cases)
    backend = FakeBackend()
    report = single_hop.evaluate(cases, backend, single_hop.EvalSettings(systems=("in_context",), scores=False,
                                                                         fold=fold), progress=lambda _: None)
    assert len(backend.edits) == len(cases)  # the other fold's edits are stored beside them
    assert report.cases == len(mine) and report.stored == len(cases) and report.to_json()["fold"] == "0/2"
    assert {r["case_id"] for r in report.per_case} == {c.case_id for c in mine}
    asked = {t for t, _ in backend.asked}
    assert not asked & {c.prompt for c in cases if c not in mine}
    table = single_hop_table({"dataset": "counterfact", "file": "cf.json", "backend": "fake", **report.to_json()})
    assert f"{len(mine)} cases (0/2; 12 edits stored)" in table


def test_fold_reports_merge_into_the_whole_set(tmp_path: Path) -> None:
    from kme_server.evaluation.report import merge_folds

    cases = _cases(tmp_path, 12)
    reports = []
    for k in range(2):
        backend = FakeBackend()
        settings = single_hop.EvalSettings(systems=("none", "in_context"), fold=single_hop.Fold(k, 2))
        r = single_hop.evaluate(cases, backend, settings, progress=lambda _: None)
        reports.append({"dataset": "counterfact", "file": "cf.json", "backend": "fake", **r.to_json()})
    merged = merge_folds(reports)
    whole = single_hop.evaluate(cases, FakeBackend(), single_hop.EvalSettings(systems=("none", "in_context")),
                                progress=lambda _: None)
    assert merged["cases"] == whole.cases == 12
    for s in whole.systems:
        assert merged["systems"][s.system]["counts"] == s.counts
        for metric, value in s.metrics.items():
            assert merged["systems"][s.system]["metrics"][metric] == pytest.approx(value)
    with pytest.raises(ValueError, match="folds"):
        merge_folds(reports[:1])


def _mquake_case(i: int) -> dict:
    return {"case_id": i,
            "requested_rewrite": [{"prompt": "{} is performed by", "relation_id": "P175", "subject": f"Song{i}",
                                   "target_new": {"str": f"Singer{i}"}, "target_true": {"str": "Old"},
                                   "question": f"Who performs Song{i}?"}],
            "questions": [f"What language does the performer of Song{i} speak?"] * 3,
            "answer": "English", "answer_alias": [], "new_answer": "Spanish", "new_answer_alias": ["Castilian"],
            "single_hops": [{"cloze": f"Song{i} is performed by", "answer": "Old", "answer_alias": []},
                            {"cloze": f"Singer{i} is a citizen of", "answer": "Spain", "answer_alias": []}],
            "new_single_hops": [{"cloze": f"Song{i} is performed by", "answer": f"Singer{i}", "answer_alias": []},
                                {"cloze": f"Singer{i} speaks", "answer": "Spanish", "answer_alias": []}],
            "orig": {"triples": [["Q1", "P175", "Q2"], ["Q3", "P27", "Q4"]],
                     "triples_labeled": [[f"Song{i}", "performer", "Old"], [f"Singer{i}", "citizen", "Spain"]]}}


def test_multi_hop_scoring_by_case_question_hops_and_hop_wise() -> None:
    class Backend(FakeBackend):
        def ask_results(self, texts: Sequence[str], mode: str) -> list[FakeResult]:
            # Case 0 right on its second question only; case 1 never.
            # The single-hop clozes (hop-wise): the performer right, the language wrong.
            out = []
            for t in texts:
                if t.startswith(("Song", "Singer")):
                    out.append(FakeResult(f"Singer{t[4]}" if "performed" in t else "no", "serac", []))
                    continue
                self.asked.append((t, mode))
                right = "Song0" in t and sum(1 for q, _ in self.asked if q == t) == 2
                out.append(FakeResult("Castilian" if right else "English", mode, []))
            return out

    cases = [_mquake_case(0), _mquake_case(1)]
    row, per_case = multi_hop.evaluate(Backend(), cases, progress=lambda _: None)
    assert row["case_accuracy"] == 0.5 and row["question_accuracy"] == pytest.approx(1 / 6)
    assert row["hop_accuracy"] == 0.5  # the performer hops right, the language hops wrong
    assert row["by_hops"]["2"] == {"cases": 2, "case_accuracy": 0.5, "question_accuracy": pytest.approx(1 / 6)}
    assert per_case[0]["right"] and not per_case[1]["right"] and per_case[0]["hop_wise"] == [True, False]
    assert per_case[1]["hop_wise_answers"] == [{"cloze": "Song1 is performed by", "answer": "Singer1", "mode": "serac"},
                                               {"cloze": "Singer1 speaks", "answer": "no", "mode": "serac"}]
    assert multi_hop.world_facts(cases)[1] == {"subject": "Singer0", "relation": "citizen", "relation_id": "P27",
                                               "object": "Spain"}
    assert multi_hop.edit_requests(cases)[0]["prompt"] == "Song0 is performed by"
    # world facts beneath the edits, so that the edits supersede them; no empty batch
    assert multi_hop.stored_batches(cases, world=True) == [multi_hop.world_facts(cases), multi_hop.edit_requests(cases)]
    assert multi_hop.stored_batches(cases, world=False) == [multi_hop.edit_requests(cases)]
    table = multi_hop_table({"file": "mq.json", "backend": "fake", "settings": {"edits/auto": row}})
    assert "edits/auto" in table and "50.0" in table
    # AUTO's row on the cases a slower baseline ran on: counted from those cases alone
    assert all(isinstance(q["ms"], float) for r in per_case for q in r["questions"])
    only_first = multi_hop.restricted(per_case, {0})
    assert (only_first["cases"], only_first["case_accuracy"]) == (1, 1.0)
    assert only_first["question_accuracy"] == pytest.approx(1 / 3) and only_first["hop_accuracy"] is None
    assert multi_hop.restricted(per_case, {1})["case_accuracy"] == 0.0


def test_client_backend_finds_the_modes_the_service_serves() -> None:
    from kme_client import InvalidArgument

    from kme_server.evaluation.backends import ClientBackend

    class Client:
        def score(self, prompt: str, candidates: list[str], mode: str) -> list:
            if mode in ("serac", "weights"):
                raise InvalidArgument("bad", code="INVALID_ARGUMENT", violations=[("mode", "not available")])
            return []

    assert ClientBackend(Client()).modes() == {"none", "in_context", "multi_hop", "auto"}

    class Broken(Client):
        def score(self, prompt: str, candidates: list[str], mode: str) -> list:
            raise InvalidArgument("bad", code="INVALID_ARGUMENT", violations=[("prompt", "is empty")])

    with pytest.raises(InvalidArgument):
        ClientBackend(Broken()).modes()


def test_cli_names_the_bad_line_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kme_server.evaluation.cli import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"subject": "A", "prompt": "A is in", "target_new": "B"}\n{"subject": "A"}\n')
    assert main(["jsonl", str(bad)]) == 2
    assert "line 2.prompt: is missing or empty" in capsys.readouterr().err
    good = tmp_path / "cf.json"
    good.write_text(json.dumps(_cf_rows(2)))
    assert main(["counterfact", str(good), "--fold", "2/2"]) == 2
    assert "--fold: '2/2': need N >= 2 and 0 <= K < N" in capsys.readouterr().err


def test_eval_warns_when_the_classifier_trained_on_the_evaluated_records(tmp_path: Path) -> None:
    from kme_server.evaluation.cli import training_overlap

    serac = tmp_path / "serac"
    serac.mkdir()
    data = tmp_path / "zsre-dev.json"

    def trained(zsre: str | None) -> None:
        settings = {"seed": 0} if zsre is None else {"seed": 0, "zsre": zsre}
        (serac / "metrics.json").write_text(json.dumps({"train_settings": settings}))

    trained("all")
    assert "trained on zsre/zsre-dev.json (every record)" in training_overlap(serac, data, None)
    assert training_overlap(serac, data, "0/2") is not None  # every record includes fold 0
    assert training_overlap(serac, tmp_path / "counterfact-val.json", None) is None
    trained("1/2")  # all but fold 1 of 2
    assert training_overlap(serac, data, "1/2") is None  # the fold it never saw
    assert "(all records but fold 1/2)" in training_overlap(serac, data, "0/2")
    assert training_overlap(serac, data, None) is not None
    for without_zsre in ("none", None):  # a classifier trained before zsRE was a source
        trained(without_zsre)
        assert training_overlap(serac, data, None) is None
    assert training_overlap(tmp_path / "absent", data, None) is None and training_overlap(None, data, None) is None
