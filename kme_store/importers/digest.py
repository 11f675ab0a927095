"""A file's content digest, which lets the store recognise a file it has imported before."""
from __future__ import annotations

import hashlib

from kme_store.importers.base import PathLike

_CHUNK = 1 << 20


def file_digest(path: PathLike) -> str:
    """Return the hex SHA-256 of the file's bytes, read in 1 MiB chunks; raise OSError if unreadable."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
