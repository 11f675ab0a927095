"""Typed settings of the language-model backend."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class ModelSettings(BaseModel):
    """Which model to load, where, and how; filled by the server's settings (KME_MODEL__...)."""

    # A preset name ("gemma3-270m", "smollm2-135m": GGUF files shipped as Python packages, converted
    # once into `cache_dir`) or the path of a local Hugging Face causal-LM directory.
    name_or_path: str = "gemma3-270m"
    # "cpu" by default so that results do not depend on the machine; "auto" takes CUDA when present;
    # "cuda" fails loudly when no GPU is visible instead of silently falling back.
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    # "auto": bfloat16 on CUDA (Gemma 3 overflows in float16) and on a CPU with bfloat16
    # instructions (AVX512-BF16, AMX: about twice as fast as float32), float32 on other CPUs, where
    # bfloat16 is emulated and slow. Answers may differ between the two: set it to pin one.
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    # Converted presets live in `cache_dir/<preset>`; relative paths resolve against the working
    # directory (the repository root, where `.cache/` is git-ignored).
    cache_dir: Path = Path(".cache/models")
    # torch intra-op threads; None leaves torch's default (all cores).
    num_threads: int | None = Field(default=None, ge=1)
    # Seed of sampled decoding (temperature > 0): the same prompt and options give the same text.
    seed: int = 0
    # Prompts that generate_batch() (evaluations) decodes in one batch; more are chunked. On a CPU
    # a larger batch keeps the matrix units busier, Gemma 3's 262k-word output layer above all. AUTO's
    # prompts, float32 on 2 cores (bench/batch_size.py): 158 / 129 / 108 / 104 ms a prompt at 32 /
    # 64 / 128 / 256, the same answers. Every row costs KV cache, so a large model may want less.
    generate_batch_size: int = Field(default=128, ge=1)
    # Candidates that score() runs in one forward pass; more are chunked. Each candidate holds its
    # positions' logits over the whole vocabulary (1 MB a position for Gemma 3), so this stays small.
    score_batch_size: int = Field(default=32, ge=1)
