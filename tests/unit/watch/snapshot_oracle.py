"""The snapshot digest format, computed by hand for the snapshotter tests (a uniquely named module:
several test directories have helpers, and ``conftest`` imports would clash)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping


def merkle_digest(file_digests: Mapping[str, bytes]) -> bytes:
    """sha256 over sorted dirs (0xFF dir 0xFF sha256 over sorted names (0xFF name 0xFF digest)),
    from ``path -> sha256(content)``."""
    by_dir: dict[str, dict[str, bytes]] = {}
    for path, digest in file_digests.items():
        d, name = os.path.split(path)
        by_dir.setdefault(d, {})[name] = digest
    top = hashlib.sha256()
    for d in sorted(by_dir):
        h = hashlib.sha256()
        for name in sorted(by_dir[d]):
            h.update(b"\xff" + name.encode() + b"\xff" + by_dir[d][name])
        top.update(b"\xff" + d.encode() + b"\xff" + h.digest())
    return top.digest()
