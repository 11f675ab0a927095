"""Evaluation records of every supported dataset, read into one typed form: EditCase."""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from kme_store.errors import FieldError

# Prompts about the edited subject on another relation: an edit must leave their answers alone.
# The rule (the relation whose key word the edit prompt does not contain, drawn with the record's
# position in the sample as seed) is the one ../shared/tools/kme_score.py uses, so that both score
# the same probes; nothing is trained on these templates.
OTHER_RELATIONS = (
    ("born", "{} was born in the city of"), ("died", "{} died in the city of"),
    ("citizen", "{} is a citizen of"), ("occupation", "The occupation of {} is"),
    ("founded", "{} was founded in the year"), ("located", "{} is located in the country of"),
    ("language", "The official language of {} is"), ("sport", "{} is associated with the sport of"),
    ("employ", "{} is employed by"), ("religion", "The religion of {} is"),
)

FORMATS = ("counterfact", "zsre", "mquake", "jsonl")


@dataclass(frozen=True, slots=True)
class Portability:
    """A question whose answer must change as a consequence of the edit."""

    prompt: str
    answers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EditCase:
    """One edit with the prompts that test it.

    `edit` is what is stored (the mapping the store and the client accept). `locality_answer` is
    the dataset's answer of the first locality prompt, used by the probability metric only.
    """

    case_id: str
    edit: dict[str, Any]
    subject: str
    prompt: str
    target_new: str
    target_old: str | None
    rephrases: tuple[str, ...] = ()
    locality: tuple[str, ...] = ()
    locality_answer: str | None = None
    subject_probe: str | None = None
    portability: tuple[Portability, ...] = field(default_factory=tuple)


def subject_probe(edit_prompt: str, subject: str, seed: int) -> str:
    """A cloze prompt about `subject` on a relation the edit prompt does not name."""
    words = edit_prompt.lower()
    choices = [t for key, t in OTHER_RELATIONS if key not in words]
    return random.Random(seed).choice(choices).format(subject)


def load_cases(path: str | Path, form: str) -> list[EditCase]:
    """Every record of `path` in dataset form `form` (one of FORMATS), in file order.

    Raises FieldError naming the record and field of the first bad record.
    """
    path = Path(path)
    if form not in FORMATS:
        raise FieldError("format", f"{form!r} is not one of {', '.join(FORMATS)}")
    if form == "jsonl":
        return list(_jsonl(path))
    rows = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(rows, list):
        raise FieldError(str(path), "is not a JSON list of records")
    reader = {"counterfact": _counterfact, "zsre": _zsre, "mquake": _mquake_rows}[form]
    out: list[EditCase] = []
    for i, row in enumerate(rows):
        try:
            out.extend(reader(i, row))
        except KeyError as e:
            raise FieldError(f"record {i}.{e.args[0]}", "is missing") from None
    return out


def sample_cases(cases: list[EditCase], limit: int, seed: int) -> list[EditCase]:
    """A seeded sample of `limit` cases (all when limit is 0), with their subject probes set.

    The sample and the probes are drawn as kme_score.py draws them, so that the same --limit and
    --seed score the same records with the same probes.
    """
    asked = random.Random(seed).sample(cases, limit) if limit else list(cases)
    return [_with_probe(c, i) for i, c in enumerate(asked)]


def without_empty_targets(cases: list[EditCase]) -> tuple[list[EditCase], list[EditCase]]:
    """The cases that state an edit, and those whose new target is empty (zsRE dev has one).

    The store rightly refuses an edit without an object, and refuses the whole batch with it, so
    such a record cannot be evaluated. It is set aside after sampling, not before, so that the
    sample stays the one kme_score.py draws.
    """
    kept = [c for c in cases if c.target_new.strip()]
    return kept, [c for c in cases if not c.target_new.strip()]


def _with_probe(case: EditCase, seed: int) -> EditCase:
    return replace(case, subject_probe=subject_probe(case.prompt, case.subject, seed))


def _counterfact(i: int, r: dict) -> Iterable[EditCase]:
    edit = {"prompt": r["prompt"], "subject": r["subject"], "target_new": r["target_new"],
            "ground_truth": r["ground_truth"]}
    yield EditCase(str(r.get("case_id", i)), edit, r["subject"], r["prompt"], r["target_new"], r["ground_truth"],
                   rephrases=(r["rephrase_prompt"],), locality=(r["locality_prompt"],),
                   locality_answer=r.get("locality_ground_truth"))


def _zsre(i: int, r: dict) -> Iterable[EditCase]:
    old = r["answers"][0] if r.get("answers") else None
    edit = {"prompt": r["src"], "subject": r["subject"], "target_new": r["alt"], "ground_truth": old}
    yield EditCase(str(i), edit, r["subject"], r["src"], r["alt"], old, rephrases=(r["rephrase"],),
                   locality=(r["loc"],), locality_answer=r.get("loc_ans"))


def rewrite_request(rewrite: dict) -> dict[str, Any]:
    """One MQuAKE requested rewrite as the edit request the store and the client accept."""
    return {"prompt": rewrite["prompt"].format(rewrite["subject"]), "subject": rewrite["subject"],
            "relation_id": rewrite["relation_id"], "target_new": rewrite["target_new"]["str"],
            "ground_truth": rewrite["target_true"]["str"]}


def _mquake_rows(i: int, case: dict) -> Iterable[EditCase]:
    """MQuAKE's single-hop rewrites: the cloze prompt, its question as the rephrase, an unedited
    hop of the same case as the locality prompt (the set is conflict-free: it keeps its answer)."""
    edited = {(r["subject"], r["relation_id"]) for r in case["requested_rewrite"]}
    hops = zip(case["single_hops"], case["orig"]["triples"], case["orig"]["triples_labeled"])
    unedited = [hop for hop, (_, rid, _), (subject, _, _) in hops if (subject, rid) not in edited]
    portability = tuple(Portability(q, (case["new_answer"], *case["new_answer_alias"])) for q in case["questions"])
    for j, r in enumerate(case["requested_rewrite"]):
        edit = rewrite_request(r)
        prompt = edit["prompt"]
        loc = unedited[0] if unedited else None
        yield EditCase(f"{case['case_id']}.{j}", edit, r["subject"], prompt, r["target_new"]["str"],
                       r["target_true"]["str"], rephrases=(r["question"],) if r.get("question") else (),
                       locality=(loc["cloze"],) if loc else (), locality_answer=loc["answer"] if loc else None,
                       portability=portability if j == 0 else ())


def _jsonl(path: Path) -> Iterable[EditCase]:
    """The project's own form, one JSON object per line:

    {"subject", "prompt", "target_new", "ground_truth"?, "relation_id"?, "rephrase_prompts"?: [...],
     "locality_prompts"?: [...], "portability"?: [{"prompt", "answers": [...]}]}
    """
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                raise FieldError(f"line {n}", f"is not JSON: {e.msg}") from None
            if not isinstance(r, dict):
                raise FieldError(f"line {n}", "is not a JSON object")
            for key in ("subject", "prompt", "target_new"):
                if not isinstance(r.get(key), str) or not r[key].strip():
                    raise FieldError(f"line {n}.{key}", "is missing or empty")
            edit = {k: r[k] for k in ("prompt", "subject", "target_new", "ground_truth", "relation_id",
                                      "relation") if r.get(k) is not None}
            ports = []
            for j, p in enumerate(r.get("portability") or []):
                if not isinstance(p, dict) or not isinstance(p.get("prompt"), str) or not p.get("answers"):
                    raise FieldError(f"line {n}.portability[{j}]", "needs a prompt and a list of answers")
                ports.append(Portability(p["prompt"], tuple(p["answers"])))
            yield EditCase(str(r.get("case_id", n)), edit, r["subject"], r["prompt"], r["target_new"],
                           r.get("ground_truth"), rephrases=tuple(_strings(r, "rephrase_prompts", n)),
                           locality=tuple(_strings(r, "locality_prompts", n)),
                           locality_answer=r.get("locality_ground_truth"), portability=tuple(ports))


def _strings(r: dict, key: str, line: int) -> list[str]:
    value = r.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise FieldError(f"line {line}.{key}", "must be a list of non-empty strings")
    return value


__all__ = ["EditCase", "FORMATS", "OTHER_RELATIONS", "Portability", "load_cases", "rewrite_request", "sample_cases",
           "subject_probe"]
