"""The server's one typed settings object: environment (KME_...), then command-line flags."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from kme_server.answering import AnsweringSettings
from kme_server.models.settings import ModelSettings
from kme_server.multihop.settings import MultiHopSettings
from kme_store.settings import StoreSettings


class Settings(BaseSettings):
    """Everything the server can be told. Built once at start-up; nothing reads it at import time.

    Environment variables take the prefix `KME_` and `__` for nesting: `KME_PORT=50052`,
    `KME_STORE__INDEX__DEVICE=cpu`, `KME_MODEL__NAME_OR_PATH=smollm2-135m`,
    `KME_ANSWERING__DEFAULT_MODE=in_context`. Flags given to
    `python -m kme_server` override the environment.
    """

    model_config = SettingsConfigDict(env_prefix="KME_", env_nested_delimiter="__", extra="ignore")

    # Where the store keeps its files (SQLite, index); created if missing.
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = Field(default=50051, ge=0, le=65535)  # 0: any free port (tests)
    # Bearer token every call but health checks must carry; None: no authentication.
    token: str | None = None
    # TLS is on when both paths are set (PEM files).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Largest request or response, in MiB; larger ones fail with RESOURCE_EXHAUSTED.
    max_message_mb: int = Field(default=64, ge=1)
    # Most items in one AddFacts request or one ImportFacts message; clients split larger calls.
    max_batch: int = Field(default=1000, ge=1)
    # Answering calls running or waiting for the engine; more fail with RESOURCE_EXHAUSTED
    # instead of piling up behind a slow CPU model.
    max_queue: int = Field(default=64, ge=1)
    # Threads running the (synchronous) answering engine. The model serializes forward passes
    # itself, so more than a couple only helps when retrieval overlaps with decoding.
    workers: int = Field(default=2, ge=1)
    # Threads running store calls, so that SQLite and embedding work never block the event loop.
    store_workers: int = Field(default=4, ge=1)
    # Seconds in-flight calls get to finish after SIGTERM/SIGINT before they are cancelled.
    grace_s: float = Field(default=10.0, ge=0)
    # "module:function" building the answering engine from (settings, store); see app.py.
    engine_factory: str = "kme_server.engine:build_engine"
    # Default page size of ListFacts, and its ceiling.
    page_size: int = Field(default=100, ge=1)
    max_page_size: int = Field(default=1000, ge=1)
    log_level: str = "INFO"

    store: StoreSettings = Field(default_factory=StoreSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    answering: AnsweringSettings = Field(default_factory=AnsweringSettings)
    multihop: MultiHopSettings = Field(default_factory=MultiHopSettings)

    @property
    def max_message_bytes(self) -> int:
        return self.max_message_mb * 1024 * 1024

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None and self.tls_key is not None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the server's flags to `parser`. Every default is None: only given flags override."""
    parser.add_argument("--data", dest="data_dir", help="data directory of the store (KME_DATA_DIR)")
    parser.add_argument("--host", help="address to listen on (KME_HOST)")
    parser.add_argument("--port", type=int, help="port to listen on, 0 for any (KME_PORT)")
    parser.add_argument("--token", help="bearer token clients must send (KME_TOKEN)")
    parser.add_argument("--tls-cert", help="PEM certificate; TLS when given with --tls-key")
    parser.add_argument("--tls-key", help="PEM private key")
    parser.add_argument("--max-message-mb", type=int)
    parser.add_argument("--max-batch", type=int)
    parser.add_argument("--max-queue", type=int)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--grace-s", type=float)
    parser.add_argument("--model", dest="model_name", help="model preset or local path (KME_MODEL__NAME_OR_PATH)")
    parser.add_argument("--device", dest="model_device", help="cpu, cuda or auto (KME_MODEL__DEVICE)")
    parser.add_argument("--log-level")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="any setting by dotted name, e.g. store.index.device=cpu (JSON values allowed)")


def settings_from_args(args: argparse.Namespace | Sequence[str] | None = None) -> Settings:
    """Settings from the environment, overridden by the flags of `add_arguments` that were given."""
    if args is None or not isinstance(args, argparse.Namespace):
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        args = parser.parse_args(args)
    given: dict[str, Any] = {}
    for key in ("data_dir", "host", "port", "token", "tls_cert", "tls_key", "max_message_mb",
                "max_batch", "max_queue", "workers", "grace_s", "log_level"):
        value = getattr(args, key, None)
        if value is not None:
            given[key] = value
    for dotted, value in _model_flags(args) + [_split_override(o) for o in getattr(args, "overrides", [])]:
        _set_dotted(given, dotted, value)
    if not any(k in given for k in ("store", "model", "answering")):
        return Settings(**given)
    # Nested flags must merge with nested environment values, not replace the whole sub-model,
    # so the environment's view is built first and the flags are laid over it.
    base = Settings().model_dump()
    for key in ("store", "model", "answering"):
        if key in given:
            given[key] = _merge(base[key], given[key])
    return Settings(**given)


def _model_flags(args: argparse.Namespace) -> list[tuple[str, Any]]:
    out = []
    if getattr(args, "model_name", None):
        out.append(("model.name_or_path", args.model_name))
    if getattr(args, "model_device", None):
        out.append(("model.device", args.model_device))
    return out


def _split_override(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise SystemExit(f"--set expects KEY=VALUE, not {text!r}")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw  # a bare word is a string
    return key.strip(), value


def _set_dotted(target: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
