"""Language-model backends: settings, loading (GGUF presets -> cached HF dirs), HFLanguageModel.

torch and transformers load only when a backend module is imported, not with this package.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from kme_server.models.base import LanguageModel
from kme_server.models.settings import ModelSettings

if TYPE_CHECKING:
    from kme_server.models.hf import HFLanguageModel

__all__ = ["LanguageModel", "ModelSettings", "HFLanguageModel", "load_model"]


def load_model(settings: ModelSettings) -> "HFLanguageModel":
    """Load the model named by `settings` (see kme_server.models.loading.load_model)."""
    from kme_server.models.loading import load_model as _load

    return _load(settings)


def __getattr__(name: str) -> object:
    # HFLanguageModel on first use, so that importing the package stays torch-free
    if name == "HFLanguageModel":
        from kme_server.models.hf import HFLanguageModel

        return HFLanguageModel
    raise AttributeError(name)
