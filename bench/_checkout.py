"""Imported first by every bench script: run from a checkout, without installing the packages.

Puts the repository root (kme_store, proto, clients) and server/ on sys.path, and keeps Hugging
Face offline (nothing may be downloaded at run time).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "server", ROOT / "clients"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
