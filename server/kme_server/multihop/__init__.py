"""Multi-hop answering: read a question's relation chain and walk it through the store and the model."""
from __future__ import annotations

from kme_server.multihop.chain import ChainParse, StartEntity, compose, find_start
from kme_server.multihop.pipeline import MultiHop
from kme_server.multihop.relations import Relation, RelationCatalogue
from kme_server.multihop.route import install
from kme_server.multihop.settings import MultiHopSettings
from kme_server.multihop.walker import Walk, Walker, normalize_answer

__all__ = ["ChainParse", "MultiHop", "MultiHopSettings", "Relation", "RelationCatalogue", "StartEntity", "Walk",
           "Walker", "compose", "find_start", "install", "normalize_answer"]
