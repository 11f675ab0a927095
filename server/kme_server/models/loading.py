"""Load a language model from ModelSettings: a preset (converted once into the cache) or a local directory."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from kme_server.models.convert import cached_dir, convert, is_converted
from kme_server.models.hf import HFLanguageModel
from kme_server.models.presets import get_preset
from kme_server.models.settings import ModelSettings

logger = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(setting: str) -> torch.device:
    """The torch device for a ModelSettings.device value; raises RuntimeError for absent CUDA."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but torch sees no CUDA device")
    return torch.device(setting)


def resolve_dtype(setting: str, device: torch.device, cpu_flags: frozenset[str] | None = None) -> torch.dtype:
    """The dtype for a ModelSettings.dtype value; "auto" is bfloat16 on CUDA and on a CPU with
    bfloat16 instructions (`cpu_flags`, read from /proc/cpuinfo when None), float32 elsewhere.

    On a CPU without them bfloat16 matmuls are emulated and slower than float32; with them (AVX512
    BF16, AMX) Gemma 3 270M generates about twice as fast, with the same SERAC answers on 405 of
    411 prompts (bench/model_dtype.py; docs/BENCHMARKS.md, "bfloat16 on the CPU").
    """
    if setting != "auto":
        return _DTYPES[setting]
    if device.type == "cuda":
        return torch.bfloat16
    flags = cpu_flags if cpu_flags is not None else _cpu_flags()
    return torch.bfloat16 if flags & _BF16_FLAGS else torch.float32


_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def _cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux reports them; empty where /proc/cpuinfo is not there."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def model_dir(settings: ModelSettings) -> Path:
    """The Hugging Face directory to load: the preset's cache (converting it first) or the path.

    Raises FileNotFoundError when `name_or_path` is neither a preset nor an existing directory.
    """
    preset = get_preset(settings.name_or_path)
    if preset is not None:
        if not is_converted(preset.name, settings.cache_dir):
            logger.info("%s is not in %s yet: converting it (once)", preset.name, settings.cache_dir)
            convert(preset.name, settings.cache_dir)
        return cached_dir(preset.name, settings.cache_dir)
    path = Path(settings.name_or_path).expanduser()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"{settings.name_or_path!r} is neither a preset (gemma3-270m, smollm2-135m) "
            "nor a local Hugging Face model directory with a config.json"
        )
    return path


def load_model(settings: ModelSettings) -> HFLanguageModel:
    """Load the model and tokenizer named by `settings`, ready for concurrent use.

    Never reaches the network: presets come from installed packages, paths from disk.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if settings.num_threads is not None:
        torch.set_num_threads(settings.num_threads)
    device = resolve_device(settings.device)
    dtype = resolve_dtype(settings.dtype, device)
    path = model_dir(settings)
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True).to(device)
    logger.info("loaded %s from %s on %s (%s) in %.1f s", settings.name_or_path, path, device, dtype,
                time.perf_counter() - started)
    preset = get_preset(settings.name_or_path)
    name = preset.name if preset is not None else path.name
    return HFLanguageModel(model, tokenizer, name=name, seed=settings.seed,
                           generate_batch_size=settings.generate_batch_size,
                           score_batch_size=settings.score_batch_size)
