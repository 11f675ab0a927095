"""Scope classifier of SERAC: training pairs, split, training, persistence and threshold, on tiny models."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from kme_server.editing.serac import data  # noqa: E402
from kme_server.editing.serac.scope import (ScopeClassifier, ScopeSettings, choose_threshold,  # noqa: E402
                                            metrics_at)
from kme_server.editing.serac.train import TrainSettings, train_classifier  # noqa: E402
from kme_store.facts import Fact  # noqa: E402

RELATIONS = {
    "home": ["{} lives in", "{} resides in", "The home of {} is"],
    "employer": ["{} works for", "{} is employed by", "The employer of {} is"],
    "language": ["{} speaks", "The language of {} is", "{} writes in"],
}
OBJECTS = {"home": ["Paris", "Rome", "Oslo"], "employer": ["Acme", "Globex", "Initech"],
           "language": ["French", "Dutch", "Greek"]}
SUBJECTS = [f"Person{n}" for n in range(24)]


def write_fixture(root: Path) -> Path:
    """A miniature of the benchmark data directory: CounterFact train, scope-questions, cloze templates."""
    rows = []
    for i, subject in enumerate(SUBJECTS):
        rel = list(RELATIONS)[i % 3]
        ts, k = RELATIONS[rel], i // 3
        rows.append({"case_id": i, "prompt": ts[k % 3].format(subject), "subject": subject,
                     "target_new": OBJECTS[rel][k % 3], "ground_truth": OBJECTS[rel][(k + 1) % 3],
                     "rephrase_prompt": f"Some words before. {ts[(k + 1) % 3].format(subject)}",
                     "locality_prompt": ts[(k + 2) % 3].format(f"Other{i}"),
                     "locality_ground_truth": OBJECTS[rel][(i + 1) % 3]})
    (root / "counterfact").mkdir(parents=True)
    (root / "counterfact" / "counterfact-train.json").write_text(json.dumps(rows))
    cloze = {"P551": "[X] lives in the city of __", "P108": "[X] is employed by the firm __"}
    questions = {"P551": ["Where does {} live?", "In which city does {} live?", "What is the home town of {}?"],
                 "P108": ["Who employs {}?", "Which firm does {} work for?", "Who is the employer of {}?"]}
    scope = []
    for i in range(12):
        rid = "P551" if i % 2 else "P108"
        subject = f"Member{i}"
        edit = cloze[rid].replace("[X]", subject).replace("__", "Zed")
        scope.append({"edit": edit, "questions": [q.format(subject) for q in questions[rid]]})
    (root / "mquake").mkdir()
    (root / "mquake" / "scope-questions.json").write_text(json.dumps(scope))
    (root / "mquake" / "cloze_templates.json").write_text(json.dumps(cloze))
    (root / "mquake" / "question_templates.json").write_text(json.dumps(
        {"P551": "What is the residence of [X]?", "P108": "Who is the employer of [X]?"}))
    return root


def tiny_classifier(tmp_path: Path, words: list[str]) -> ScopeClassifier:
    """A 2-layer BERT with a WordPiece vocabulary of `words`, built here without any download."""
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = special + sorted({w.lower() for w in words} | set(".,?'"))
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab=str(path), do_lower_case=True)
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    return ScopeClassifier(transformers.BertModel(config), tokenizer, ScopeSettings(max_length=32, batch_size=8))


def toy_pairs(n: int, seed: int) -> list[data.ScopePair]:
    """In scope exactly when the query names the fact's subject: a task a tiny BERT can learn."""
    import random

    rng = random.Random(seed)
    names = ["alpha", "beta", "gamma"]
    out = []
    for i in range(n):
        subject = rng.choice(names)
        asked = subject if i % 2 else rng.choice([x for x in names if x != subject])
        fact = Fact(subject=subject, relation="home", object="paris", template="{} lives in")
        out.append(data.ScopePair(f"{asked} lives in", fact, int(asked == subject), "toy", subject, "toy"))
    return out


TOY_WORDS = ["alpha", "beta", "gamma", "lives", "in", "paris"]


def test_pairs_contain_every_kind(tmp_path: Path) -> None:
    pairs = data.build_pairs(write_fixture(tmp_path / "data"), seed=0)
    kinds = {p.kind for p in pairs}
    assert set(data.POSITIVE_KINDS) <= kinds
    # Near-relation negatives need a sentence encoder (test_serac_near.py).
    assert set(data.NEGATIVE_KINDS) - {data.NEAR_RELATION} <= kinds
    assert data.NEAR_RELATION not in kinds
    assert all(p.label == 1 for p in pairs if p.kind in data.POSITIVE_KINDS)
    assert all(p.label == 0 for p in pairs if p.kind in data.NEGATIVE_KINDS)
    for p in pairs:
        if p.kind == data.SAME_SUBJECT:
            # Same subject, and a template of another relation than the fact's own.
            assert p.fact.subject in p.query
            assert p.fact.template is None or p.query != p.fact.template.format(p.fact.subject)
        if p.kind in (data.OTHER_SUBJECT, data.UNRELATED):
            assert p.fact.subject not in p.query
        if p.kind == data.THROUGH_OBJECT:
            # The other relation asked of the fact's own relation of the subject, never the fact's question.
            inner = "residence" if p.fact.relation_id == "P551" else "employer"
            outer = "employer" if inner == "residence" else "residence"
            assert p.fact.subject in p.query and inner in p.query
            assert outer in p.query or "employed" in p.query or "lives" in p.query


def test_some_scope_question_facts_are_stated_from_their_relation_label(tmp_path: Path) -> None:
    """Facts stored without a template read "The <label> of X is Y."; the classifier must see them."""
    pairs = [p for p in data.build_pairs(write_fixture(tmp_path / "data"), seed=0) if p.source == "scope-questions"]
    labelled = [p for p in pairs if p.fact.template is None]
    assert labelled and len(labelled) < len(pairs)
    for p in labelled:
        assert p.fact.sentence() == f"The {p.fact.relation} of {p.fact.subject} is {p.fact.object}."
        assert p.fact.relation in ("residence", "employer")
    assert {p.label for p in labelled} == {0, 1}


def test_same_subject_negatives_avoid_the_facts_relation(tmp_path: Path) -> None:
    root = write_fixture(tmp_path / "data")
    rows = json.loads((root / "counterfact" / "counterfact-train.json").read_text())
    relation_of = data.counterfact_relations(rows)
    # The locality prompts tie each relation's three templates together.
    assert len(set(relation_of.values())) == len(RELATIONS)
    for p in data.build_pairs(root, seed=0):
        if p.kind == data.SAME_SUBJECT and p.source == "counterfact":
            own = next(ts for ts in RELATIONS.values() if p.fact.template in ts)
            assert all(t.format(p.fact.subject) != p.query for t in own)


def test_split_is_seeded_and_by_subject(tmp_path: Path) -> None:
    root = write_fixture(tmp_path / "data")
    a = data.split_pairs(data.build_pairs(root, seed=3), 0.25, seed=3)
    b = data.split_pairs(data.build_pairs(root, seed=3), 0.25, seed=3)
    assert a == b
    train, val = a
    assert val and train
    assert not {p.group for p in train} & {p.group for p in val}
    other = data.split_pairs(data.build_pairs(root, seed=3), 0.25, seed=4)
    assert {p.group for p in other[1]} != {p.group for p in val}
    assert data.sample(train, 5, seed=1) == data.sample(train, 5, seed=1)


def test_tiny_model_learns_a_toy_task(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    model = tiny_classifier(tmp_path, TOY_WORDS)
    model.head.dropout.p = 0.0  # a 32-wide model on 96 pairs has no capacity to spare for dropout
    settings = TrainSettings(seed=0, epochs=20, batch_size=16, lr=3e-3, warmup=0.05, freeze_embeddings=False,
                             freeze_layers=0)
    losses = train_classifier(model, toy_pairs(96, seed=0), settings)
    assert losses[-1] < losses[0]
    test = toy_pairs(64, seed=1)
    probs = model.pair_scores([p.query for p in test], [p.fact.sentence() for p in test])
    pos = [p for p, t in zip(probs, test) if t.label]
    neg = [p for p, t in zip(probs, test) if not t.label]
    assert sum(pos) / len(pos) > sum(neg) / len(neg) + 0.3
    assert metrics_at(probs, [t.label for t in test], 0.5)["accuracy"] >= 0.9


def test_save_load_round_trip(tmp_path: Path) -> None:
    model = tiny_classifier(tmp_path, TOY_WORDS).with_threshold(0.37)
    facts = [Fact(subject=n, relation="home", object="paris", template="{} lives in") for n in ("alpha", "beta")]
    before = model.scores("alpha lives in", facts)
    model.save(tmp_path / "saved")
    loaded = ScopeClassifier.load(tmp_path / "saved")
    assert loaded.settings.threshold == pytest.approx(0.37)
    assert loaded.scores("alpha lives in", facts) == before
    match = loaded.best("alpha lives in", facts)
    assert match is not None and match.probability == max(before)
    assert match.in_scope == (max(before) >= 0.37)
    assert loaded.best("alpha lives in", []) is None


def test_load_refuses_an_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ScopeClassifier.load(tmp_path)


def test_threshold_maximizes_balanced_accuracy() -> None:
    probs = [0.1, 0.2, 0.35, 0.4, 0.42, 0.6, 0.7, 0.8, 0.9]
    labels = [0, 0, 0, 1, 1, 0, 1, 1, 1]
    grid = [i / 100 for i in range(1, 100)]

    def balanced(t: float) -> float:
        return metrics_at(probs, labels, t)["balanced_accuracy"]

    t, value = choose_threshold(probs, labels)
    assert value == pytest.approx(max(balanced(g) for g in grid))
    assert balanced(t) == pytest.approx(value)
    # Among equally good thresholds the strictest is kept: fewer queries leave the base model.
    assert t == max(g for g in grid if balanced(g) == pytest.approx(value))
    assert t == pytest.approx(0.4)


def write_zsre(root: Path, n: int = 16) -> list[dict]:
    """zsRE records (MEND form) beside the fixture: a question, its rephrase, a locality question."""
    rows = [{"subject": f"Work{i}", "src": f"Which show is Work{i} in?",
             "rephrase": f"In which fictional work does Work{i} appear?", "alt": f"Show{i}",
             "answers": [f"Old{i}"], "loc": f"nq question: how many moons does planet {i} have",
             "loc_ans": "two"} for i in range(n)]
    rows.append({"subject": "Nowhere", "src": "Which show is it in?", "rephrase": "Where?", "alt": "X",
                 "answers": ["Y"], "loc": "nq question: q", "loc_ans": "a"})  # no subject: skipped
    (root / "zsre").mkdir(parents=True, exist_ok=True)
    (root / "zsre" / "zsre-dev.json").write_text(json.dumps(rows))
    return rows


def test_zsre_records_add_pairs_and_change_no_other_pair(tmp_path: Path) -> None:
    root = write_fixture(tmp_path / "data")
    without = data.build_pairs(root, seed=0)
    write_zsre(root)
    with_zsre = data.build_pairs(root, seed=0, zsre=True)
    zsre = [p for p in with_zsre if p.source == "zsre"]
    # The counterfactual model trains on the other pairs: adding zsRE must leave them as they were.
    assert [p for p in with_zsre if p.source != "zsre"] == without
    assert data.build_pairs(root, seed=0) == without  # zsre=False reads no zsRE record
    assert {p.fact.subject for p in zsre} == {f"Work{i}" for i in range(16)}
    by_kind = {k: [p for p in zsre if p.kind == k] for k in {p.kind for p in zsre}}
    assert {q.query for q in by_kind[data.EDIT_PROMPT]} == {f"Which show is Work{i} in?" for i in range(16)}
    # Rephrase against the stored question, and the question against the rephrase stored.
    assert len(by_kind[data.QUESTION_FORM]) == 32
    assert all(p.label == 1 for k in (data.EDIT_PROMPT, data.QUESTION_FORM) for p in by_kind[k])
    for p in by_kind[data.SAME_SUBJECT]:
        assert p.label == 0 and p.fact.subject in p.query and "show" not in p.query.lower()
    for k in (data.OTHER_SUBJECT, data.UNRELATED):
        assert by_kind[k] and all(p.label == 0 and p.fact.subject not in p.query for p in by_kind[k])
    assert all(p.query.startswith("nq question") for p in by_kind[data.UNRELATED])


def test_a_zsre_fold_left_out_is_never_trained_on(tmp_path: Path) -> None:
    from kme_server.editing.serac.folds import Fold, fold_of

    root = write_fixture(tmp_path / "data")
    write_zsre(root)
    held = Fold(1, 2)
    subjects = {p.fact.subject for p in data.build_pairs(root, seed=0, zsre=held) if p.source == "zsre"}
    expected = {f"Work{i}" for i in range(16) if fold_of(f"Work{i}", 2) == 0}
    assert subjects == expected and 0 < len(subjects) < 16
    # Without the file, "all" trains on the other sources; a fold asked for must exist.
    bare = write_fixture(tmp_path / "bare")
    assert data.build_pairs(bare, seed=0, zsre=True) == data.build_pairs(bare, seed=0)
    with pytest.raises(FileNotFoundError):
        data.build_pairs(bare, seed=0, zsre=held)


def test_folds_follow_the_subject_and_parse_with_errors_that_name_the_field() -> None:
    from kme_server.editing.serac.folds import Fold, fold_of
    from kme_store.errors import FieldError

    assert fold_of("Delta Serpentis", 2) == fold_of("  delta serpentis ", 2)  # normalized name
    counts = [sum(fold_of(f"S{i}", 3) == k for i in range(300)) for k in range(3)]
    assert all(70 < c < 130 for c in counts)  # a hash spreads subjects over the folds
    assert Fold.parse("1/2") == Fold(1, 2) and str(Fold(1, 2)) == "1/2"
    for bad in ("2/2", "1", "a/b", "0/1", "-1/2"):
        with pytest.raises(FieldError, match="--fold"):
            Fold.parse(bad, "--fold")


def test_training_takes_every_zsre_pair_up_to_a_cap() -> None:
    from kme_server.editing.serac.data import sample, with_every_zsre

    fact = Fact(subject="s", relation="r", object="o")
    pairs = [data.ScopePair(f"q{i}", fact, 1, "k", f"g{i}", "zsre" if i < 30 else "counterfact") for i in range(500)]
    taken = with_every_zsre(pairs, 400, 40, seed=0)
    assert len(taken) == 400 and sum(p.source == "zsre" for p in taken) == 30
    small = with_every_zsre(pairs, 100, 10, seed=0)
    assert len(small) == 100 and sum(p.source == "zsre" for p in small) == 10
    assert with_every_zsre(pairs, 0, 10, seed=0) == pairs
    # Without zsRE pairs it is the plain sample: a trainer that reads no zsRE trains as before.
    others = pairs[30:]
    assert with_every_zsre(others, 100, 20, seed=3) == sample(others, 100, seed=3)
    # Repeated, each zsRE pair is there `repeat` times, still within n.
    tripled = with_every_zsre(pairs, 400, 40, seed=0, repeat=3)
    assert len(tripled) == 400 and sum(p.source == "zsre" for p in tripled) == 90
    assert {tripled.count(p) for p in tripled if p.source == "zsre"} == {3}
    with pytest.raises(ValueError, match="repeat"):
        with_every_zsre(pairs, 400, 40, seed=0, repeat=0)


def test_the_trainer_refuses_a_zsre_repeat_below_one(capsys) -> None:
    from kme_server.editing.serac.train import main

    with pytest.raises(SystemExit):
        main(["--data-dir", "/nonexistent", "--zsre-repeat", "0"])
    assert "--zsre-repeat" in capsys.readouterr().err
    for flag in ("--near-negatives", "--train-pairs", "--val-pairs"):
        with pytest.raises(SystemExit):
            main(["--data-dir", "/nonexistent", flag, "-1"])
        assert flag in capsys.readouterr().err


def test_a_trainers_zsre_setting_names_the_field_when_bad() -> None:
    from kme_server.editing.serac.folds import Fold, records_to_train
    from kme_store.errors import FieldError

    assert records_to_train("all") is True and records_to_train("none") is False
    assert records_to_train("1/2") == Fold(1, 2)
    with pytest.raises(FieldError, match="--zsre"):
        records_to_train("some", "--zsre")


def test_both_trainers_name_the_zsre_records_they_read() -> None:
    from kme_server.editing.serac.data import training_sources

    base = ["counterfact/counterfact-train.json", "mquake/scope-questions.json"]
    assert training_sources("none") == base
    assert training_sources("all") == [*base, "zsre/zsre-dev.json (every record)"]
    assert training_sources("1/2") == [*base, "zsre/zsre-dev.json (all but fold 1/2)"]


def test_kind_accuracies_count_positives_accepted_and_negatives_refused_per_kind() -> None:
    from kme_server.editing.serac.train import kind_accuracies

    fact = Fact(subject="Paris", relation="capital of", object="France")
    pairs = [data.ScopePair("q", fact, label, kind, "g", "counterfact")
             for label, kind in ((1, "rephrase"), (1, "rephrase"), (0, "unrelated"), (0, "unrelated"), (0, "unrelated"))]
    probs = [0.95, 0.5, 0.1, 0.92, 0.3]
    out = kind_accuracies(pairs, probs, 0.9)
    assert list(out) == ["rephrase", "unrelated"]  # sorted
    assert out["rephrase"] == {"pairs": 2, "correct": 0.5}
    assert out["unrelated"] == {"pairs": 3, "correct": 2 / 3}
    # At the threshold itself a pair is in scope.
    assert kind_accuracies(pairs[:1], [0.9], 0.9)["rephrase"]["correct"] == 1.0
