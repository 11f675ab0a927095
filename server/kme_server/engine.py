"""Builds the answering engine the server runs: the configured model behind an Answerer."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from kme_server.answering import Answerer
from kme_server.models.base import LanguageModel
from kme_server.editing.ike import InContextEditor
from kme_server.multihop import MultiHop, install

if TYPE_CHECKING:
    from kme_server.settings import Settings
    from kme_store.store import KnowledgeStore

log = logging.getLogger(__name__)


def build_engine(settings: Settings, store: KnowledgeStore, model: LanguageModel | None = None,
                 counterfactual: LanguageModel | None = None) -> Answerer:
    """Load the model of `settings.model` (converting a bundled GGUF once), wrap it, warm it up.

    `model` and `counterfactual` (SERAC's trained counterfactual model), if given, are used instead
    of loading them (an evaluation builds one engine per store around the same models). Returns
    only when the engine answers at full speed, so that health turns SERVING when the first real
    question would not pay for a cold start.
    """
    from kme_server.models.loading import load_model

    start = time.perf_counter()
    model = model if model is not None else load_model(settings.model)
    # IKE selects demonstrations with the shipped MiniLM embeddings; when the store embeds with the
    # same default model, share it rather than load a second copy.
    same_model = settings.store.embedding_model is None and settings.answering.ike.embedding_model is None
    ike = InContextEditor(settings.answering.ike, embedder=store.embedder if same_model else None)
    if counterfactual is None:
        counterfactual = load_counterfactual(settings)
    answerer = Answerer(store, model, settings.answering, ike=ike, counterfactual=counterfactual)
    gate = None
    serac_dir = settings.answering.serac_dir
    if serac_dir is not None:
        # SERAC is on when a trained classifier is there; without one the service answers in context.
        if _has_classifier(serac_dir):
            from kme_server.editing.serac.route import install_serac, scope_gate
            from kme_server.editing.serac.scope import ScopeClassifier

            install_serac(answerer, ScopeClassifier.load(serac_dir))
            gate = scope_gate(answerer)
            log.info("SERAC scope classifier loaded from %s", serac_dir)
        else:
            log.warning("no scope classifier in %s (train one with `make serac`, or set "
                        "KME_ANSWERING__SERAC_DIR): SERAC is off, AUTO answers in context", serac_dir)
    # MULTI_HOP, and AUTO for questions read as a chain of two or more relations that no single
    # edit's scope claims; installed last, so that AUTO reads the chain before anything else.
    install(answerer, MultiHop(store, model, store.embedder, settings.multihop), gate=gate)
    answerer.warm_up()
    log.info("answering engine ready with %s in %.1f s", model.name, time.perf_counter() - start)
    return answerer


def load_counterfactual(settings: Settings) -> LanguageModel | None:
    """SERAC's trained counterfactual model, loaded like the base model (device, dtype), if wanted and there."""
    serac_dir = settings.answering.serac_dir
    # Without a scope classifier SERAC is off, and nothing would ask the counterfactual model.
    if serac_dir is None or not _has_classifier(serac_dir) or settings.answering.counterfactual != "trained":
        return None
    from kme_server.editing.serac.counterfactual import MODEL_DIR, is_trained
    from kme_server.models.loading import load_model

    path = serac_dir / MODEL_DIR
    if not is_trained(path):
        log.warning("no counterfactual model in %s (`make serac` trains it): SERAC's in-scope questions go "
                    "to the base model with the %r prompt", path, settings.answering.serac_prompt)
        return None
    return load_model(settings.model.model_copy(update={"name_or_path": str(path)}))


def _has_classifier(serac_dir: Path) -> bool:
    """Whether a finished training run left a scope classifier in `serac_dir` (scope.json comes last)."""
    return (serac_dir / "scope.json").is_file()
