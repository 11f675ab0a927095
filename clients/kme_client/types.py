"""Result types of the client: plain dataclasses, independent of the server's packages."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Mode(str, Enum):
    """How stored facts are applied to an answer (the server's kme.v1.Mode)."""

    NONE = "none"
    IN_CONTEXT = "in_context"
    SERAC = "serac"
    MULTI_HOP = "multi_hop"
    WEIGHTS = "weights"
    AUTO = "auto"

    @classmethod
    def parse(cls, value: str | Mode) -> Mode:
        """A Mode from itself or its name in any case ("in-context", "IN_CONTEXT", "MODE_SERAC")."""
        if isinstance(value, Mode):
            return value
        key = str(value).strip().lower().replace("-", "_")
        key = key[len("mode_"):] if key.startswith("mode_") else key
        for mode in cls:
            if mode.value == key:
                return mode
        raise ValueError(f"unknown mode {value!r}; one of {', '.join(m.value for m in cls)}")


@dataclass(frozen=True, slots=True)
class Fact:
    """A stored (subject, relation, object) triple and its place in the store's history."""

    subject: str
    relation: str
    object: str
    id: int = 0
    relation_id: str | None = None
    object_aliases: tuple[str, ...] = ()
    template: str | None = None
    source: str | None = None
    batch_id: str = ""
    status: str = "current"  # current, superseded, deleted, rolled_back
    created_at: float = 0.0
    updated_at: float = 0.0
    supersedes: int | None = None
    text: str = ""  # the fact as one sentence


@dataclass(frozen=True, slots=True)
class EditRequest:
    """An edit in the ROME / EasyEdit form: `prompt` names the relation with the subject in it."""

    prompt: str
    subject: str
    target_new: str
    ground_truth: str | None = None
    relation_id: str | None = None
    relation: str | None = None
    target_aliases: tuple[str, ...] = ()
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved fact with its score and the signals behind it."""

    fact: Fact
    score: float
    subject_match: float = 0.0
    relation_match: float = 0.0
    similarity: float = 0.0
    mention: str = ""


@dataclass(frozen=True, slots=True)
class AddResult:
    """Ids of the stored facts, one per item in order, and the batch they form."""

    ids: list[int]
    batch_id: str


@dataclass(frozen=True, slots=True)
class ItemError:
    """A refused import item: its 0-based position in the stream, or the file's 1-based line."""

    index: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"[{self.index}]" + (f" {self.field}" if self.field else "") + f": {self.reason}"


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did."""

    batch_id: str
    imported: int
    unchanged: int
    skipped: int
    errors: list[ItemError] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class UsedFact:
    """A stored fact an answer relied on."""

    id: int
    text: str
    fact: Fact | None = None


@dataclass(frozen=True, slots=True)
class Hop:
    """One step of a multi-hop answer."""

    subject: str
    relation: str
    object: str
    source: str  # "store" or "model"
    fact_id: int | None = None


@dataclass(frozen=True, slots=True)
class AskResult:
    """An answer, the facts it used, the mode actually used and the time spent (ms per stage)."""

    answer: str
    mode: Mode
    facts: list[UsedFact] = field(default_factory=list)
    chain: list[Hop] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class CandidateScore:
    """Log-probability of a candidate continuation (sum over its tokens)."""

    candidate: str
    logprob: float
    tokens: int


@dataclass(frozen=True, slots=True)
class ServerLimits:
    max_batch: int
    max_message_bytes: int
    max_queue: int


@dataclass(frozen=True, slots=True)
class Stats:
    """The store's statistics (numbers in `counts`, the rest in `info`) and the server's state."""

    counts: dict[str, float]
    info: dict[str, str]
    limits: ServerLimits
    model: str
    engine_ready: bool
