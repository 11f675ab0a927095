"""Typed settings of multi-hop answering (filled by the server's settings, KME_MULTIHOP__...)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

# Noun phrases for relations whose Wikidata label is not a noun ("founded by", "educated at"):
# composed chains read "the founder of the university of X" as a question would.
_NOUNS = {
    "P112": "the founder of {}", "P127": "the owner of {}", "P69": "the university of {}",
    "P131": "the location of {}", "P276": "the location of {}", "P463": "the organization {} is a member of",
    "P1412": "the language spoken by {}", "P407": "the language of {}", "P364": "the original language of {}",
    "P413": "the position played by {}", "P1037": "the director of {}", "P140": "the religion of {}",
    "P19": "the birthplace of {}", "P20": "the place of death of {}", "P937": "the work location of {}",
    "P1308": "the officeholder of {}", "P159": "the headquarters of {}", "P740": "the place where {} was founded",
    "P106": "the occupation of {}", "P35": "the head of state of {}", "P6": "the head of government of {}", "P800": "the notable work of {}", "P264": "the record label of {}",
}


class MultiHopSettings(BaseModel):
    """Where the relation catalogue comes from and how chains are found and walked."""

    # Folder with MQuAKE's cloze_templates.json, question_templates.json and rel-prompts.json;
    # None: only the relations the store itself knows.
    templates_dir: Path | None = None
    # Wikidata SPARQL result mapping property URIs to English labels (relation-labels.json).
    relation_labels: Path | None = None
    # Noun phrase per Wikidata id where the label does not read as one; `{}` is the subject.
    noun_phrases: dict[str, str] = Field(default_factory=lambda: dict(_NOUNS))
    # How chains are extracted: "beam" (embeddings + graph), "lexical" (phrase positions only),
    # or "model" (the language model decomposes the question few-shot).
    extractor: Literal["beam", "lexical", "model"] = "beam"
    # Longest chain considered; MQuAKE goes to four hops.
    max_hops: int = Field(default=4, ge=1, le=8)
    # The words closing a question that a wh-frame opens ("Where did the founder of X's religion
    # work?") name the outermost hop, and are also read with the wh-word ("Where work"). MQuAKE-CF
    # dev questions read as their gold chains: 511 of 933 without, 532 with (beam width 8;
    # bench/chain_reading.py, a diagnostic: gold chains are never used to answer).
    read_frame: bool = True
    # Words after the entity, when a relative clause holds it ("the country where the director of
    # X is a citizen"), name the hop the clause asks, read where the clause opens, and the clause's
    # head noun ("country") names no hop of its own (beam._in_clause). MQuAKE-CF dev questions read
    # as their gold chains: 532 of 933 without, 562 with (bench/chain_reading.py, a diagnostic).
    read_clauses: bool = True
    # Partial chains kept per depth of the beam. Too few, and the best chain's first hops fall out
    # before its last is added: a phrase naming two hops at once ("birthplace of the founder")
    # crowds out the chain that splits it, and each hop's several phrases (phrases_per_hop) fill
    # the beam with variants of one chain. MQuAKE-CF dev's 933 questions read as their gold chains
    # (bench/chain_reading.py, a diagnostic; gold chains are never used to answer), four phrases a
    # hop: 608 at 8, 615 at 12, 618 at 16, 625 at 24, 630 at 32, 638 at 48, 640 at 64; parsing
    # takes about three times as long at 48 as at 8 (72 against 26 ms a question).
    beam_width: int = Field(default=48, ge=1, le=64)
    # Phrases a hop branches over (its best by worth). A long phrase covering another hop's word
    # ("founder of the religion followed" for religion) outranks the short one ("religion
    # followed") and, kept alone, takes the word the next hop needs ("founder").
    phrases_per_hop: int = Field(default=4, ge=1, le=16)
    # Relations tried per hop besides those the store holds for the current entity.
    relations_per_hop: int = Field(default=6, ge=1, le=64)
    # A phrase of the question names a relation when their embedding similarity reaches this.
    min_relation_similarity: float = 0.5
    # How far below that threshold a hop may read when the store can follow it.
    graph_slack: float = Field(default=0.15, ge=0.0)
    # Score added per hop that the store can follow from the entity reached so far: a chain
    # the graph holds is likelier than one that only reads well.
    graph_bonus: float = 0.6
    # Similarity added when a phrase shares a word stem with the relation's phrasings.
    cue_bonus: float = 0.1
    # Extra worth of a phrase per further word it covers (relative).
    phrase_word_bonus: float = Field(default=0.5, ge=0.0)
    # Score lost per hop: a hop must name enough of the question to pay for itself.
    hop_cost: float = 0.2
    # Score lost per hop named out of outside-in order left of the entity.
    order_penalty: float = 0.1
    # AUTO walks a question only when its best chain has at least two hops and its hops' mean
    # phrase similarity reaches this.
    min_confidence: float = 0.6
    # Where the store lacks the asked relation of an entity, a stored relation at least this
    # similar in meaning (RelationSimilarity: noun phrases' embeddings) answers the hop instead:
    # "country" and "country of origin" are 0.67 apart, "head of state" and "head of government"
    # 0.78, "place of birth" and "location" 0.64. Store-only walks on MQuAKE-CF dev give the same
    # accuracy at 0.60 and 0.65 and less at 0.70 (bench/walk_variants.py, docs/BENCHMARKS.md).
    stand_in_similarity: float = Field(default=0.65, ge=0.0, le=1.01)
    # A stored relation whose label only adds words to the asked one's ("country of citizenship"
    # for "country": similarity 0.58) stands in whatever its similarity: the specific fact
    # answers the generic question. Checked store-only on MQuAKE-CF dev: no right walk changed.
    stand_in_narrower: bool = True
    # Where the store lacks the asked relation of an entity but holds the chain's next one, and
    # that leads to the asked one, the two hops are walked in the store's order (Walker._swap).
    swap_from_store: bool = True
    # Unnamed hops the store may insert into one walk to reach an entity that has the asked
    # relation ("the sport played by X" = X's position's sport); 0 turns bridging off.
    bridge_hops: int = Field(default=2, ge=0, le=4)
    # Model hops: greedy, short, cut at punctuation.
    max_new_tokens: int = Field(default=8, ge=1, le=64)
    # "cloze": "The capital of Bulgaria is"; "few_shot": the relation's Q/A examples first (from
    # rel-prompts.json; a cloze where a relation has none). Few-shot: 46.0% of 200 MQuAKE-CF dev
    # hops known and every answer a name, against 32.5% and 76.5% for the cloze, at about 4x the
    # prompt (bench/hop_prompts.py, docs/BENCHMARKS.md). "per_relation": the style `hop_styles`
    # measured better for the relation on a calibration set (multihop/hop_styles.py; few-shot
    # where the file is missing, names another model, or lacks the relation).
    hop_prompt: Literal["cloze", "few_shot", "per_relation"] = "per_relation"
    # Written by `make hop-styles` (python -m kme_server.multihop.hop_styles).
    hop_styles: Path | None = Path(".cache/hop-styles.json")
