"""Per-relation hop prompt styles: calibrated on a calibration set, saved, loaded, used by the walker."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kme_store.errors import FieldError

from kme_server.multihop import MultiHop, MultiHopSettings, RelationCatalogue
from kme_server.multihop.hop_styles import HopStyles, calibrate, hop_prompt, sign_test

from test_multihop import CannedModel

CLOZE = {"P937": "[X] worked in the city of __", "P27": "[X] is a citizen of __", "P36": "The capital of [X] is __",
         "P50": "The author of [X] is __"}
QUESTIONS = {"P937": "Which city did [X] work in?", "P27": "What is the country of citizenship of [X]?",
             "P36": "What is the capital of [X]?", "P50": "Who is the author of [X]?"}
EXAMPLES = {"P937": "Q: Which city did Bill Clinton work in? A: Washington",
            "P27": "Q: What is the country of citizenship of Bill Clinton? A: United States of America",
            "P36": "Q: What is the capital of France? A: Paris"}  # no examples for P50

# Work locations the model completes as a cloze and misses few-shot (five: a significant lead).
WORKED = {"Confucius": "Lu", "Kant": "Königsberg", "Darwin": "Cambridge", "Goethe": "Weimar", "Bach": "Leipzig"}
KNOWN = [
    *({"subject": s, "relation_id": "P937", "attribute": a} for s, a in WORKED.items()),
    {"subject": "Marc Cherry", "relation_id": "P27", "attribute": "United States of America"},
    {"subject": "Bulgaria", "relation_id": "P36", "attribute": "Sofia"},
    {"subject": "Hamlet", "relation_id": "P50", "attribute": "Shakespeare"},
]


@pytest.fixture
def settings(tmp_path: Path) -> MultiHopSettings:
    for name, data in (("cloze_templates", CLOZE), ("question_templates", QUESTIONS), ("rel-prompts", EXAMPLES)):
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    return MultiHopSettings(templates_dir=tmp_path, hop_styles=tmp_path / "hop-styles.json")


def _model(catalogue: RelationCatalogue) -> CannedModel:
    """Knows work locations only from the cloze, citizenship only few-shot, the capital both ways."""
    get = catalogue.get
    return CannedModel({
        **{hop_prompt(s, get("P937"), "cloze"): f" {a}, where he worked" for s, a in WORKED.items()},
        hop_prompt("Confucius", get("P937"), "few_shot"): " London",
        hop_prompt("Marc Cherry", get("P27"), "cloze"): " a small town",
        hop_prompt("Marc Cherry", get("P27"), "few_shot"): " United States of America",
        hop_prompt("Bulgaria", get("P36"), "cloze"): " Sofia",
        hop_prompt("Bulgaria", get("P36"), "few_shot"): " Sofia",
    })


def test_calibration_takes_the_cloze_only_where_it_is_significantly_better(settings):
    catalogue = RelationCatalogue.from_settings(settings)
    styles = calibrate(_model(catalogue), catalogue, KNOWN, per_relation=5, source="known")
    assert styles.model == "canned"
    assert styles.styles == {"P937": "cloze", "P27": "few_shot", "P36": "few_shot"}  # P50: no examples
    assert styles.tally["P937"] == {"cloze": [5, 5], "few_shot": [0, 5], "only": [5, 0]}
    assert styles.tally["P36"]["only"] == [0, 0]  # a tie: few-shot
    # Two facts ahead is not evidence (sign test p = 0.25): few-shot stays.
    two = calibrate(_model(catalogue), catalogue, KNOWN, per_relation=2)
    assert two.tally["P937"]["only"] == [2, 0] and two.styles["P937"] == "few_shot"
    assert calibrate(_model(catalogue), catalogue, KNOWN, per_relation=2, alpha=0.3).styles["P937"] == "cloze"


def test_added_examples_follow_the_relations_own_and_never_turn_a_cloze_few_shot(settings):
    get = RelationCatalogue.from_settings(settings).get
    demos = [("Germany", "Berlin"), ("Austria", "Vienna")]
    assert hop_prompt("Bulgaria", get("P36"), "few_shot", demos) == (
        "Q: What is the capital of France? A: Paris\n"
        "Q: What is the capital of Germany? A: Berlin\nQ: What is the capital of Austria? A: Vienna\n"
        "Q: What is the capital of Bulgaria? A:")
    assert hop_prompt("Bulgaria", get("P36"), "cloze", demos) == "The capital of Bulgaria is"
    # A relation without examples of its own is asked few-shot once it has some, else by its cloze.
    assert hop_prompt("Hamlet", get("P50"), "few_shot", [("Faust", "Goethe")]) == (
        "Q: Who is the author of Faust? A: Goethe\nQ: Who is the author of Hamlet? A:")
    assert hop_prompt("Hamlet", get("P50"), "few_shot") == "The author of Hamlet is"


def test_sign_test():
    assert sign_test(0, 0) == 1.0
    assert sign_test(5, 0) == 1 / 32
    assert sign_test(21 - 20, 0) == 0.5  # one fact of difference decides nothing
    assert sign_test(4, 1) == 6 / 32


def test_calibration_names_the_record_with_a_missing_field(settings):
    catalogue = RelationCatalogue.from_settings(settings)
    with pytest.raises(FieldError, match=r"record 1\.attribute"):
        calibrate(_model(catalogue), catalogue, [KNOWN[0], {"subject": "X", "relation_id": "P27"}], 5)


def test_styles_round_trip_and_a_bad_file_is_named(tmp_path: Path):
    path = tmp_path / "styles.json"
    HopStyles("canned", {"P937": "cloze"}, {"P937": {"cloze": [1, 1], "few_shot": [0, 1]}}).save(path)
    loaded = HopStyles.load(path)
    assert loaded.style("P937") == "cloze" and loaded.style("P27") == "few_shot"
    path.write_text(json.dumps({"model": "canned", "styles": {"P937": "chat"}}))
    with pytest.raises(FieldError, match=r"styles\.P937"):
        HopStyles.load(path)
    path.write_text("{not json")
    with pytest.raises(FieldError, match="not JSON"):
        HopStyles.load(path)


def test_the_walker_asks_each_relation_in_its_measured_style(store, embedder, settings):
    catalogue = RelationCatalogue.from_settings(settings)
    model = _model(catalogue)
    HopStyles("canned", {"P937": "cloze", "P27": "few_shot"}).save(settings.hop_styles)
    walker = MultiHop(store, model, embedder, settings).walker
    assert walker.hop_prompt("Confucius", catalogue.get("P937")) == "Confucius worked in the city of"
    assert walker.hop_prompt("Marc Cherry", catalogue.get("P27")).startswith(EXAMPLES["P27"])
    assert walker.walk("Confucius", [catalogue.get("P937")]).answer == "Lu"


def test_styles_measured_on_another_model_are_not_used(store, embedder, settings):
    catalogue = RelationCatalogue.from_settings(settings)
    HopStyles("another-model", {"P937": "cloze"}).save(settings.hop_styles)
    walker = MultiHop(store, _model(catalogue), embedder, settings).walker
    assert walker.hop_prompt("Confucius", catalogue.get("P937")).startswith(EXAMPLES["P937"])


def test_a_missing_styles_file_falls_back_to_few_shot(store, embedder, settings):
    catalogue = RelationCatalogue.from_settings(settings)
    walker = MultiHop(store, _model(catalogue), embedder, settings).walker
    assert walker.hop_style(catalogue.get("P937")) == "few_shot"
