"""Convert a preset's GGUF once into a Hugging Face directory in the cache (fast later loads).

Run as `python -m kme_server.models.convert --model gemma3-270m --cache-dir .cache/models`.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from kme_server.models.presets import get_preset

logger = logging.getLogger(__name__)

# Written last into a converted directory: its presence means the conversion finished and passed.
MARKER = "kme-conversion.json"
# A prompt whose logits must agree between the GGUF-loaded and the cached model.
_CHECK_PROMPT = "The capital of France is"
# The dequantized weights are copied bit for bit, so only float summation order may differ.
_MAX_LOGIT_DIFF = 1e-3


def cached_dir(preset_name: str, cache_dir: Path) -> Path:
    """Where the converted preset lives (it may not exist yet)."""
    return Path(cache_dir) / preset_name


def is_converted(preset_name: str, cache_dir: Path) -> bool:
    """True when `cache_dir` holds a finished, verified conversion of the preset."""
    return (cached_dir(preset_name, cache_dir) / MARKER).is_file()


def convert(preset_name: str, cache_dir: Path, *, force: bool = False) -> Path:
    """Dequantize the preset's GGUF into `cache_dir/<preset>` and return that directory.

    A GGUF-loaded model refuses save_pretrained, so a fresh model is built from its config, given
    the dequantized state dict and saved with the tokenizer. The saved copy is reloaded and must
    give the same logits as the GGUF model on a check prompt. The work happens in a temporary
    sibling directory renamed into place at the end, so an interrupted or concurrent conversion
    never leaves a half-written cache behind. Raises KeyError for an unknown preset and
    RuntimeError when the check fails.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    preset = get_preset(preset_name)
    if preset is None:
        raise KeyError(f"unknown preset {preset_name!r}")
    cache_dir = Path(cache_dir)
    target = cached_dir(preset.name, cache_dir)
    if is_converted(preset.name, cache_dir) and not force:
        logger.info("%s is already converted in %s", preset.name, target)
        return target

    started = time.perf_counter()
    gguf_path = preset.locate_gguf(cache_dir)
    logger.info("loading %s (dequantizing %s; this takes a while)", preset.name, gguf_path.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
    ).eval()
    logger.info("dequantized in %.1f s", time.perf_counter() - started)

    config = gguf_model.config
    # the saved weights are plain float32: a leftover GGUF quantization entry would mislead loaders
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    # strict: every weight of the fresh model must come from the GGUF (tied heads share storage).
    fresh.load_state_dict(gguf_model.state_dict(), strict=True)
    fresh.generation_config = gguf_model.generation_config

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{preset.name}-", dir=target.parent))
    try:
        fresh.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        del fresh
        logger.info("saved to %s; checking the saved copy against the GGUF model", staging)
        diff = _max_logit_diff(gguf_model, staging, tokenizer)
        if diff > _MAX_LOGIT_DIFF:
            raise RuntimeError(f"converted {preset.name} differs from its GGUF: max |dlogit| {diff:.2e}")
        marker = {
            "preset": preset.name,
            "gguf": gguf_path.name,
            "gguf_bytes": gguf_path.stat().st_size,
            "check_prompt": _CHECK_PROMPT,
            "max_abs_logit_diff": diff,
        }
        (staging / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        # mkdtemp makes a private directory; the cache is shared by the users of the checkout
        staging.chmod(0o755)
        for path in staging.iterdir():
            path.chmod(0o644)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    logger.info("%s converted in %.1f s (max |dlogit| %.2e)", target, time.perf_counter() - started, diff)
    return target


def _max_logit_diff(reference: object, saved_dir: Path, tokenizer: object) -> float:
    """Largest absolute logit difference between `reference` and the model saved in `saved_dir`."""
    import torch
    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(saved_dir, dtype=torch.float32).eval()
    ids = tokenizer(_CHECK_PROMPT, return_tensors="pt").input_ids
    with torch.inference_mode():
        expected = reference(input_ids=ids).logits  # type: ignore[operator]
        actual = reloaded(input_ids=ids).logits
    return float((expected - actual).abs().max())


def main(argv: list[str] | None = None) -> int:
    """Command line: convert one preset (or all) into the cache directory."""
    from kme_server.models.presets import PRESETS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3-270m", help=f"preset: {', '.join(PRESETS)} or 'all'")
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/models"))
    parser.add_argument("--force", action="store_true", help="convert again even when cached")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    names = list(PRESETS) if args.model == "all" else [args.model]
    for name in names:
        logger.info("ready: %s", convert(name, args.cache_dir, force=args.force))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
