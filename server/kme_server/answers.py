"""Domain types of answering: modes, options, results. No proto and no torch here."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from kme_store.facts import Fact


class Mode(str, Enum):
    """How stored facts are applied to an answer."""

    NONE = "none"  # the untouched base model
    IN_CONTEXT = "in_context"  # retrieved facts and demonstrations in the prompt (IKE)
    SERAC = "serac"  # scope classifier routes in-scope queries to the counterfactual model
    MULTI_HOP = "multi_hop"  # walk the knowledge graph along the question's relation chain
    WEIGHTS = "weights"  # the model with ROME/MEMIT updates applied
    AUTO = "auto"  # the service decides

    @classmethod
    def parse(cls, value: "str | Mode") -> "Mode":
        """Accept a Mode or its name in any case ("in_context", "IN_CONTEXT", "in-context")."""
        if isinstance(value, Mode):
            return value
        key = str(value).strip().lower().replace("-", "_")
        for mode in cls:
            if mode.value == key:
                return mode
        raise ValueError(f"unknown mode {value!r}; one of {', '.join(m.value for m in cls)}")


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    """Decoding options; greedy by default so that answers are reproducible."""

    max_new_tokens: int = 16
    stop: tuple[str, ...] = ("\n",)
    temperature: float = 0.0  # 0: greedy


@dataclass(frozen=True, slots=True)
class Hop:
    """One step of a multi-hop answer: the fact used and where it came from."""

    subject: str
    relation: str
    object: str
    source: str  # "store" or "model"
    fact_id: int | None = None


@dataclass(slots=True)
class AskResult:
    """An answer with the facts used, the mode actually used and where the time went."""

    answer: str
    mode: Mode
    facts: list[Fact] = field(default_factory=list)
    chain: list[Hop] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CandidateScore:
    """Log-probability of one candidate completion given the prompt (sum over its tokens)."""

    candidate: str
    logprob: float
    tokens: int
