"""Per relation, how the walker asks the base model a hop: the relation's cloze or its few-shot prompt.

Measured, not assumed. Over MQuAKE-CF dev's hops the few-shot prompt is the better one on
average (bench/hop_prompts.py), but not for every relation: Gemma 3 270M completes "Confucius
worked in the city of" with "Lu" and answers the few-shot question with "London". The
calibration asks the model facts of a calibration set both ways and keeps few-shot (its answers
are names) unless, for a relation, the cloze answered significantly more of them (calibrate):

    python -m kme_server.multihop.hop_styles --known ../shared/data/rome_known/known_1000.json \
        --templates-dir ../shared/data/mquake --out .cache/hop-styles.json

The calibration set is ROME's known_1000.json (subject, Wikidata relation id, attribute); the
evaluated sets never take part. The file names the model it was measured on: a walker with
another model does not use it.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import random
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, Sequence

from kme_store.errors import FieldError

from kme_server.answers import GenerationOptions
from kme_server.matching import contains
from kme_server.models.base import LanguageModel, generate_all
from kme_server.multihop.relations import Relation, RelationCatalogue
from kme_server.multihop.settings import MultiHopSettings

log = logging.getLogger(__name__)

Style = Literal["cloze", "few_shot"]
STYLES: tuple[Style, ...] = ("cloze", "few_shot")


def hop_prompt(entity: str, rel: Relation, style: Style, demos: Sequence[tuple[str, str]] = ()) -> str:
    """The prompt for one hop in `style`; a relation without examples is asked by its cloze.

    `demos` (subject, object) are more examples of the relation, written as its own examples are
    and put after them, closest to the question; a few-shot prompt may consist of them alone.
    The walker passes none: stored facts as demonstrations were measured and not built
    (bench/hop_demos.py, docs/BENCHMARKS.md).
    """
    lines = [rel.examples] if rel.examples else []
    lines += [f"Q: {rel.question.format(subject)} A: {obj}" for subject, obj in demos]
    if style == "few_shot" and lines:
        return "\n".join([*lines, f"Q: {rel.question.format(entity)} A:"])
    return rel.cloze.format(entity)


@dataclass(frozen=True, slots=True)
class HopStyles:
    """The style per relation key, the model it was measured on, and the tally behind it."""

    model: str
    styles: dict[str, Style]
    tally: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # key -> style -> [right, asked]
    source: str = ""

    def style(self, key: str, default: Style = "few_shot") -> Style:
        return self.styles.get(key, default)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1, sort_keys=True))

    @classmethod
    def load(cls, path: str | Path) -> HopStyles:
        """The styles saved at `path`; FieldError names a bad field, FileNotFoundError a missing file."""
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as e:
            raise FieldError(str(path), f"is not JSON ({e})") from None
        if not isinstance(data, dict) or not isinstance(data.get("model"), str):
            raise FieldError(f"{path}: model", "is missing or not a string")
        styles = data.get("styles")
        if not isinstance(styles, dict):
            raise FieldError(f"{path}: styles", "is missing or not an object")
        for key, style in styles.items():
            if style not in STYLES:
                raise FieldError(f"{path}: styles.{key}", f"is {style!r}, not one of {', '.join(STYLES)}")
        return cls(data["model"], dict(styles), data.get("tally", {}), data.get("source", ""))


def calibrate(model: LanguageModel, catalogue: RelationCatalogue, records: Sequence[dict], per_relation: int,
              seed: int = 0, max_new_tokens: int = 8, source: str = "", alpha: float = 0.05) -> HopStyles:
    """Ask up to `per_relation` records of each relation both ways (right: the normalized answer
    contains the attribute). Few-shot, the better style on average, stays unless the cloze is
    significantly better for the relation: an exact one-sided sign test (McNemar's) on the facts
    only one style answered, at level `alpha`. Counting right answers alone let one fact decide:
    headquarters location went to the cloze on 21 against 20 of 47 facts in one run and stayed
    few-shot on 20 against 20 in another. Relations without few-shot examples are left out: both
    styles would ask the same cloze."""
    from kme_server.multihop.walker import normalize_answer  # the walker's own reading of an answer

    grouped: dict[str, list[dict]] = defaultdict(list)
    for i, r in enumerate(records):
        missing = [k for k in ("subject", "relation_id", "attribute") if not r.get(k)]
        if missing:
            raise FieldError(f"record {i}.{missing[0]}", "is missing")
        grouped[r["relation_id"]].append(r)
    rng = random.Random(seed)
    asked: list[tuple[str, dict]] = []
    for key in sorted(grouped):
        rel = catalogue.get(key)
        if rel is None or not rel.examples:
            continue
        rows = grouped[key]
        asked += [(key, r) for r in rng.sample(rows, min(per_relation, len(rows)))]
    options = GenerationOptions(max_new_tokens=max_new_tokens, stop=("\n",))
    right: dict[Style, list[bool]] = {}
    for style in STYLES:
        prompts = [hop_prompt(r["subject"], catalogue.get(key), style) for key, r in asked]
        right[style] = [contains(normalize_answer(raw), [r["attribute"]])
                        for (_, r), raw in zip(asked, generate_all(model, prompts, options))]
        log.info("%s: %d hops asked", style, len(prompts))
    # key -> style -> [right, asked], and "only" -> [cloze alone right, few-shot alone right]
    tally: dict[str, dict[str, list[int]]] = defaultdict(lambda: {"cloze": [0, 0], "few_shot": [0, 0], "only": [0, 0]})
    for i, (key, _) in enumerate(asked):
        t = tally[key]
        for style in STYLES:
            t[style][0] += right[style][i]
            t[style][1] += 1
        t["only"][0] += right["cloze"][i] and not right["few_shot"][i]
        t["only"][1] += right["few_shot"][i] and not right["cloze"][i]
    styles: dict[str, Style] = {key: "cloze" if sign_test(*t["only"]) <= alpha else "few_shot"
                                for key, t in tally.items()}
    return HopStyles(model.name, styles, dict(tally), source)


def sign_test(wins: int, losses: int) -> float:
    """One-sided p-value of `wins` or more among `wins + losses` fair coin tosses (1.0 for none)."""
    n = wins + losses
    return sum(math.comb(n, k) for k in range(wins, n + 1)) / 2 ** n if n else 1.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--known", type=Path, required=True, help="ROME's known_1000.json (the calibration set)")
    ap.add_argument("--templates-dir", type=Path, required=True, help="MQuAKE's templates (../shared/data/mquake)")
    ap.add_argument("--out", type=Path, default=MultiHopSettings().hop_styles)
    ap.add_argument("--per-relation", type=int, default=50, help="records asked per relation (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--alpha", type=float, default=0.05,
                    help="level of the sign test the cloze must pass to replace few-shot (default %(default)s)")
    ap.add_argument("--model", default=None, help="model preset or directory (default: the server's default)")
    args = ap.parse_args(argv)
    if args.per_relation < 1:
        ap.error("--per-relation must be at least 1")
    if not 0.0 < args.alpha < 1.0:
        ap.error(f"--alpha: {args.alpha} is not a level between 0 and 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from kme_server.models import ModelSettings, load_model

    records = json.loads(args.known.read_text())
    if not isinstance(records, list):
        ap.error(f"--known {args.known} is not a JSON list of records")
    settings = MultiHopSettings(templates_dir=args.templates_dir)
    model = load_model(ModelSettings(**({"name_or_path": args.model} if args.model else {})))
    styles = calibrate(model, RelationCatalogue.from_settings(settings), records, args.per_relation, args.seed,
                       settings.max_new_tokens, source=args.known.name, alpha=args.alpha)
    styles.save(args.out)
    cloze = sorted(k for k, s in styles.styles.items() if s == "cloze")
    log.info("%d relations, cloze for %s; saved to %s", len(styles.styles), ", ".join(cloze) or "none", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
