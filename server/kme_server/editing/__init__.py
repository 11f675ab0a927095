"""How stored facts change answers: in-context editing (IKE) now; SERAC and weight edits beside it."""
from __future__ import annotations

from kme_server.editing.demos import Demo, DemoKind, DemoPool, build_demos
from kme_server.editing.embedding import SentenceEmbedder, TextEmbedder
from kme_server.editing.ike import IKEPrompt, IKESettings, InContextEditor, default_pool_path

__all__ = [
    "Demo", "DemoKind", "DemoPool", "IKEPrompt", "IKESettings", "InContextEditor", "SentenceEmbedder",
    "TextEmbedder", "build_demos", "default_pool_path",
]
