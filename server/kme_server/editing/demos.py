"""IKE demonstrations: built from CounterFact training records, stored as JSONL, chosen by similarity.

Build the shipped pool (seeded, so the same command gives the same files):

    python -m kme_server.editing.demos build \\
        --counterfact ../shared/data/counterfact/counterfact-train.json \\
        --out server/kme_server/data/ike_demos.jsonl --n 2000 --seed 0

Besides the JSONL it writes `<out>.npy` (int8 embeddings of the demonstrations' prompts) and
`<out>.meta.json` (how the pool was made). Only training records may go into a pool: a demonstration
drawn from an evaluation record would show the model the answer it is then tested on.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import re
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from kme_store.facts import EditRequest

from kme_server.editing.embedding import SentenceEmbedder, TextEmbedder

log = logging.getLogger(__name__)

# int8 rows of a unit vector, times this scale; cosine ranks survive the rounding, and the file is
# a quarter of float32's size (2,000 x 384 dims: 770 KB instead of 3 MB).
_INT8_SCALE = 127.0
# A sentence break before the subject: CounterFact paraphrases often start with an unrelated
# generated sentence ("... pneumonia. The language used by Michael Winner is").
_SENTENCE_END = re.compile(r"[.!?]\s+")


class DemoKind(str, Enum):
    """The three demonstration kinds of IKE (Zheng et al. 2023)."""

    COPY = "copy"  # the edit's own prompt: answer with the new object
    UPDATE = "update"  # a paraphrase of the edit's prompt: answer with the new object
    RETAIN = "retain"  # another subject, same relation: the new fact does not apply; original answer


@dataclass(frozen=True, slots=True)
class Demo:
    """One demonstration: a new fact, a prompt, and the answer the prompt should get under it."""

    case_id: int
    kind: DemoKind
    subject: str
    fact: str  # the new fact as Fact.sentence() renders it, so demos look like retrieved facts
    prompt: str
    answer: str

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Demo:
        return cls(case_id=int(data["case_id"]), kind=DemoKind(data["kind"]), subject=str(data["subject"]),
                   fact=str(data["fact"]), prompt=str(data["prompt"]), answer=str(data["answer"]))


def clean_paraphrase(prompt: str, subject: str) -> str:
    """Drop an unrelated leading sentence from a CounterFact paraphrase prompt.

    Text before the last sentence break that precedes the subject is cut; the prompt is returned
    unchanged when it does not contain the subject.
    """
    at = prompt.find(subject)
    if at < 0:
        return prompt.strip()
    breaks = [m.end() for m in _SENTENCE_END.finditer(prompt, 0, at)]
    return prompt[breaks[-1]:].strip() if breaks else prompt.strip()


def demo_from_record(record: Mapping[str, Any], kind: DemoKind) -> Demo:
    """The demonstration of `kind` made from one CounterFact record (EasyEdit flat form)."""
    subject = str(record["subject"]).strip()
    target_new = str(record["target_new"]).strip()
    fact = EditRequest(prompt=str(record["prompt"]).strip(), subject=subject, target_new=target_new).to_fact()
    if kind is DemoKind.COPY:
        prompt, answer = str(record["prompt"]).strip(), target_new
    elif kind is DemoKind.UPDATE:
        prompt, answer = clean_paraphrase(str(record["rephrase_prompt"]), subject), target_new
    else:
        prompt, answer = str(record["locality_prompt"]).strip(), str(record["locality_ground_truth"]).strip()
    return Demo(case_id=int(record["case_id"]), kind=kind, subject=subject, fact=fact.sentence(),
                prompt=prompt, answer=answer)


_FIELDS = ("case_id", "prompt", "subject", "target_new", "rephrase_prompt", "locality_prompt",
           "locality_ground_truth")


def _usable(record: Mapping[str, Any]) -> bool:
    if not all(isinstance(record.get(f), (str, int)) and str(record.get(f)).strip() for f in _FIELDS):
        return False
    # The fact's template is cut from the prompt at the subject, so the subject must be in it.
    return str(record["subject"]).strip() in str(record["prompt"])


def build_demos(records: Sequence[Mapping[str, Any]], n: int, seed: int = 0) -> list[Demo]:
    """`n` demonstrations from `n` distinct records, kinds balanced, in a seeded random order."""
    usable = [r for r in records if _usable(r)]
    if n > len(usable):
        raise ValueError(f"asked for {n} demonstrations but only {len(usable)} usable records")
    rng = random.Random(seed)
    chosen = rng.sample(usable, n)
    kinds = [list(DemoKind)[i % len(DemoKind)] for i in range(n)]
    rng.shuffle(kinds)
    return [demo_from_record(r, kind) for r, kind in zip(chosen, kinds)]


@dataclass(frozen=True)
class DemoPool:
    """Demonstrations with the normalized embeddings of their prompts (row i is demos[i])."""

    demos: tuple[Demo, ...]
    embeddings: np.ndarray  # float32, shape (len(demos), dims), unit rows

    def __post_init__(self) -> None:
        if self.embeddings.shape[0] != len(self.demos):
            raise ValueError(f"{len(self.demos)} demonstrations but {self.embeddings.shape[0]} embeddings")

    def __len__(self) -> int:
        return len(self.demos)

    @classmethod
    def from_demos(cls, demos: Sequence[Demo], embedder: TextEmbedder) -> DemoPool:
        vectors = embedder.encode([d.prompt for d in demos]) if demos else np.zeros((0, 1), np.float32)
        return cls(tuple(demos), np.asarray(vectors, dtype=np.float32))

    @classmethod
    def load(cls, path: str | Path, embedder: TextEmbedder | None = None) -> DemoPool:
        """Read a pool; embeddings from `<path>.npy` when present, else computed with `embedder`.

        Raises FileNotFoundError without the JSONL, ValueError when the stored embeddings do not
        match it, or when they are absent and no embedder is given.
        """
        path = Path(path)
        with path.open(encoding="utf-8") as f:
            demos = tuple(Demo.from_json(json.loads(line)) for line in f if line.strip())
        npy = _sibling(path, ".npy")
        if npy.exists():
            stored = np.load(npy)
            vectors = stored.astype(np.float32) / _INT8_SCALE if stored.dtype == np.int8 else stored.astype(np.float32)
            # Rounding to int8 leaves rows slightly off unit length; renormalize for exact cosines.
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            return cls(demos, vectors)
        if embedder is None:
            raise ValueError(f"{npy} is missing and no embedder was given to compute it")
        log.warning("%s is missing; embedding %d demonstrations now", npy, len(demos))
        return cls.from_demos(demos, embedder)

    def save(self, path: str | Path, meta: Mapping[str, Any] | None = None) -> None:
        """Write `<path>` (JSONL), `<path>.npy` (int8 embeddings) and, with `meta`, `<path>.meta.json`."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as f:
            for demo in self.demos:
                f.write(json.dumps(demo.to_json(), ensure_ascii=False) + "\n")
        quantized = np.clip(np.rint(self.embeddings * _INT8_SCALE), -127, 127).astype(np.int8)
        np.save(_sibling(path, ".npy"), quantized)
        if meta is not None:
            _sibling(path, ".meta.json").write_text(json.dumps(dict(meta), indent=2) + "\n", encoding="utf-8")

    def select(self, query: np.ndarray, counts: Mapping[DemoKind, int],
               exclude: Callable[[Demo], bool] | None = None) -> list[tuple[Demo, float]]:
        """The most similar demonstrations of each kind, `counts[kind]` of each, least similar first.

        IKE orders demonstrations by similarity so that the closest one sits next to the query.
        `exclude` drops demonstrations that must not appear (say, about the query's own subject).
        """
        if not self.demos or not any(counts.values()):
            return []
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        if query.shape[0] != self.embeddings.shape[1]:
            raise ValueError(f"query has {query.shape[0]} dims but the pool's embeddings have "
                             f"{self.embeddings.shape[1]}: embed queries with the model that built the pool")
        sims = self.embeddings @ query
        order = np.argsort(-sims, kind="stable")
        wanted = {kind: c for kind, c in counts.items() if c > 0}
        picked: list[tuple[Demo, float]] = []
        for i in order:
            demo = self.demos[int(i)]
            if wanted.get(demo.kind, 0) <= 0 or (exclude is not None and exclude(demo)):
                continue
            picked.append((demo, float(sims[i])))
            wanted[demo.kind] -= 1
            if not any(v > 0 for v in wanted.values()):
                break
        picked.sort(key=lambda pair: pair[1])
        return picked


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_pool_files(counterfact: Path, out: Path, n: int, seed: int, embedder: TextEmbedder) -> DemoPool:
    """Build a pool from a CounterFact training file and write it beside `out`."""
    records: Iterable[Mapping[str, Any]] = json.loads(counterfact.read_text(encoding="utf-8"))
    demos = build_demos(list(records), n, seed)
    pool = DemoPool.from_demos(demos, embedder)
    kinds = {kind.value: sum(d.kind is kind for d in demos) for kind in DemoKind}
    pool.save(out, meta={"source": counterfact.name, "source_sha256": _sha256(counterfact), "n": n,
                         "seed": seed, "kinds": kinds,
                         "embedder": getattr(embedder, "name", type(embedder).__name__),
                         "embedding": f"int8, unit rows times {_INT8_SCALE:g}", "embedded_field": "prompt"})
    return pool


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kme_server.editing.demos", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build a demonstration pool from CounterFact training records")
    build.add_argument("--counterfact", type=Path, required=True, help="counterfact-train.json (training split only)")
    build.add_argument("--out", type=Path, required=True, help="output JSONL; .npy and .meta.json are written beside it")
    build.add_argument("--n", type=int, default=2000, help="demonstrations, one per distinct record")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--embedding-model", default=None, help="sentence-transformers path; default all-MiniLM-L6-v2")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if "val" in args.counterfact.name or "test" in args.counterfact.name:
        parser.error(f"{args.counterfact.name} looks like evaluation data; build demonstrations from training records")
    pool = build_pool_files(args.counterfact, args.out, args.n, args.seed, SentenceEmbedder(args.embedding_model))
    log.info("wrote %d demonstrations to %s", len(pool), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
