"""SERAC's counterfactual model: its training examples, batches and fine-tuning, on a tiny model."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kme_store.facts import Fact

from kme_server.editing.serac.counterfactual import (CounterfactualSettings, Example, _batch, abstentions_from,
                                                     answer_loss, chosen, examples_from, is_trained, length_batches, main,
                                                     train)
from kme_server.editing.serac.data import (EDIT_PROMPT, OTHER_SUBJECT, REPHRASE, SAME_SUBJECT, UNRELATED, ScopePair,
                                           sample)
from kme_server.editing.serac.prompt import ABSTAIN, edit_prompt
from test_models import _byte_tokenizer, _tiny_model

DARRIEUX = Fact(subject="Danielle Darrieux", relation="mother tongue", object="English",
                template="The mother tongue of {} is")


def test_examples_answer_in_scope_pairs_with_the_edits_object_and_hard_negatives_with_abstain() -> None:
    pairs = [
        ScopePair("The mother tongue of Danielle Darrieux is", DARRIEUX, 1, EDIT_PROMPT, "danielle darrieux", "cf"),
        ScopePair("Danielle Darrieux, a native speaker of", DARRIEUX, 1, REPHRASE, "danielle darrieux", "cf"),
        ScopePair("The mother tongue of Léon Blum is", DARRIEUX, 0, OTHER_SUBJECT, "danielle darrieux", "cf"),
        ScopePair("Danielle Darrieux was born in", DARRIEUX, 0, SAME_SUBJECT, "danielle darrieux", "cf"),
        ScopePair("The capital of Peru is", DARRIEUX, 0, UNRELATED, "danielle darrieux", "cf"),
    ]
    # Hard negatives teach the model to abstain; an unrelated question rarely passes the classifier.
    assert abstentions_from(pairs) == [
        Example(edit_prompt("The mother tongue of Léon Blum is", DARRIEUX.sentence()), ABSTAIN),
        Example(edit_prompt("Danielle Darrieux was born in", DARRIEUX.sentence()), ABSTAIN),
    ]
    examples = examples_from(pairs)
    assert examples == [
        Example("New Fact: The mother tongue of Danielle Darrieux is English.\n"
                "Prompt: The mother tongue of Danielle Darrieux is", "English"),
        Example(edit_prompt("Danielle Darrieux, a native speaker of", DARRIEUX.sentence()), "English"),
    ]


def test_batches_are_left_padded_and_label_only_the_answer_and_its_newline() -> None:
    tokenizer = _byte_tokenizer(with_bos=True)
    examples = [Example("New Fact: A is B.\nPrompt: A is", "B"), Example("New Fact: C is long.\nPrompt: C is", "long")]
    ids, mask, labels = _batch(tokenizer, examples, pad_id=0)
    assert ids.shape == mask.shape and labels.shape == (2, len(" long\n"))
    for row, ex in enumerate(examples):
        answer = tokenizer(" " + ex.answer + "\n", add_special_tokens=False)["input_ids"]
        n = len(answer)
        assert labels[row, -n:].tolist() == answer  # the labels are the answer tokens ...
        assert (labels[row, :-n] == -100).all()  # ... and nothing before them
        assert ids[row, -n:].tolist() == answer  # which end the sequence (left padding)
        assert tokenizer.decode(ids[row][mask[row].bool()], skip_special_tokens=True) == ex.prompt + " " + ex.answer + "\n"
    assert mask[0, 0] == 0  # the shorter sequence is padded on the left


def test_fine_tuning_teaches_the_answers_and_leaves_the_embeddings() -> None:
    tokenizer = _byte_tokenizer(with_bos=True)
    model = _tiny_model("gemma3", len(tokenizer))
    examples = [Example(edit_prompt("The capital of Xy is", "The capital of Xy is Qo."), "Qo"),
                Example(edit_prompt("Zed was born in", "Zed was born in Vum."), "Vum")]
    embeddings = model.get_input_embeddings().weight.detach().clone()
    before = answer_loss(model, tokenizer, examples, pad_id=0).item()
    losses = train(model, tokenizer, examples * 40, CounterfactualSettings(lr=3e-3, batch_size=2, warmup=0.1))
    after = answer_loss(model, tokenizer, examples, pad_id=0).item()
    assert len(losses) == 40
    assert after < before / 4
    assert torch.equal(model.get_input_embeddings().weight, embeddings)
    assert not model.training


def test_length_windows_keep_every_example_once_and_pad_less() -> None:
    import random

    rng = random.Random(3)
    lengths = [rng.randint(5, 80) for _ in range(203)]
    examples = [Example(f"prompt {i}", "x") for i in range(len(lengths))]
    length_of = {ex: n for ex, n in zip(examples, lengths)}

    plain = length_batches(examples, None, 8, 1, seed=0)
    shuffled = list(examples)
    random.Random(0).shuffle(shuffled)  # window 1: the schedule of a plain seeded shuffle
    assert plain == [shuffled[at:at + 8] for at in range(0, len(shuffled), 8)]

    windowed = length_batches(examples, lengths, 8, 5, seed=0)
    assert sorted(ex.prompt for b in windowed for ex in b) == sorted(ex.prompt for ex in examples)
    assert all(len(b) <= 8 for b in windowed) and len(windowed) == len(plain)

    def padded(batches: list[list[Example]]) -> int:
        return sum(max(length_of[ex] for ex in b) * len(b) for b in batches)

    assert padded(windowed) < 0.8 * padded(plain)
    assert windowed == length_batches(examples, lengths, 8, 5, seed=0)  # seeded
    # the batches do not come in order of length
    longest = [max(length_of[ex] for ex in b) for b in windowed]
    assert longest != sorted(longest)
    with pytest.raises(ValueError, match="one length per example"):
        length_batches(examples, lengths[:-1], 8, 5, seed=0)


def test_only_a_finished_run_counts_as_trained(tmp_path: Path) -> None:
    assert not is_trained(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    assert not is_trained(tmp_path)  # weights may be half written: the metrics file comes last
    (tmp_path / "kme-counterfactual.json").write_text("{}")
    assert is_trained(tmp_path)


def test_the_engine_loads_the_counterfactual_model_only_where_serac_can_use_it(tmp_path: Path) -> None:
    from kme_server.answering import AnsweringSettings
    from kme_server.engine import load_counterfactual
    from kme_server.models.settings import ModelSettings
    from kme_server.settings import Settings

    def settings(**answering: object) -> Settings:
        return Settings(model=ModelSettings(dtype="float32"),
                        answering=AnsweringSettings(serac_dir=tmp_path, **answering))

    tokenizer = _byte_tokenizer(with_bos=True)
    model_dir = tmp_path / "counterfactual"
    _tiny_model("gemma3", len(tokenizer)).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    (model_dir / "kme-counterfactual.json").write_text("{}")
    assert load_counterfactual(settings()) is None  # no scope classifier: SERAC is off
    (tmp_path / "scope.json").write_text("{}")
    assert load_counterfactual(settings(counterfactual="base")) is None
    loaded = load_counterfactual(settings())
    assert loaded is not None and loaded.name == "counterfactual"
    (model_dir / "kme-counterfactual.json").unlink()
    assert load_counterfactual(settings()) is None  # an unfinished training run


def test_zsre_examples_come_on_top_of_the_other_sources_which_stay_as_without_zsre() -> None:
    other = [ScopePair(f"q{i}", DARRIEUX, 1, REPHRASE, f"g{i}", "counterfact") for i in range(300)]
    zsre = [ScopePair(f"z{i}", DARRIEUX, 1, EDIT_PROMPT, f"z{i}", "zsre") for i in range(80)]
    settings = CounterfactualSettings(zsre_share=0.2)
    taken = chosen(other + zsre, 100, settings, seed=4)
    assert taken[:100] == sample(other, 100, seed=4) == chosen(other, 100, settings, seed=4)
    assert len(taken) == 120 and all(p.source == "zsre" for p in taken[100:])  # at most a fifth of 100
    assert len(chosen(other + zsre[:7], 100, settings, seed=4)) == 107  # fewer than that: every one
    assert chosen(other + zsre, 100, CounterfactualSettings(zsre_share=0.0), seed=4) == taken[:100]  # a zero share: none
    # The negatives' own share (zsre_negative_share) overrides it: 0 trains zsRE's answers alone.
    assert len(chosen(other + zsre, 100, settings, seed=4, share=0.05)) == 105
    assert chosen(other + zsre, 100, settings, seed=4, share=0.0) == taken[:100]


@pytest.mark.parametrize("argv, field", [(["--zsre-negative-share", "-0.1"], "--zsre-negative-share"),
                                         (["--zsre", "some"], "--zsre"),
                                         (["--length-window", "0"], "--length-window")])
def test_the_training_command_names_a_bad_argument_before_loading_anything(tmp_path: Path, capsys, argv, field):
    with pytest.raises(SystemExit):
        main(["--data-dir", str(tmp_path), "--out", str(tmp_path / "out"), *argv])
    assert field in capsys.readouterr().err and not (tmp_path / "out").exists()
