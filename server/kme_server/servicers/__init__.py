"""Thin gRPC servicers: validate, convert proto to domain, call the core, convert back."""
from __future__ import annotations

from kme_server.servicers.answer import AnswerServicer
from kme_server.servicers.knowledge import KnowledgeServicer
from kme_server.servicers.protocols import AnsweringEngine, EngineSlot, KnowledgeStoreLike

__all__ = ["AnswerServicer", "AnsweringEngine", "EngineSlot", "KnowledgeServicer", "KnowledgeStoreLike"]
