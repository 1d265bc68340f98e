"""Property: after any sequence of filesystem operations, a snapshot refreshed only with the hinted
paths equals a fresh full walk, and both equal the digest computed by hand from a model."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st
from snapshot_oracle import merkle_digest

from config_reloader.watch.snapshot import Snapshotter

NAMES = ["a.yaml", "b.yaml", "sub", "..data", "c"]
op = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NAMES), st.sampled_from(["", "sub"]), st.binary(max_size=20)),
    st.tuples(st.just("delete"), st.sampled_from(NAMES), st.sampled_from(["", "sub"]), st.just(b"")),
    st.tuples(st.just("mkdir"), st.just("sub"), st.just(""), st.just(b"")),
    st.tuples(st.just("link"), st.sampled_from(NAMES), st.sampled_from(["", "sub"]), st.just(b"")),
)


def model_digest(root: str) -> bytes:
    """Walk like Thanos minus ``..*`` names: regular files, symlinked files followed, no dir links."""
    entries: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [
            d for d in dirnames if not d.startswith("..") and not os.path.islink(os.path.join(dirpath, d))
        ]
        for name in filenames + [d for d in os.listdir(dirpath) if os.path.islink(os.path.join(dirpath, d))]:
            p = os.path.join(dirpath, name)
            if name.startswith("..") or p in entries or not os.path.isfile(p):
                continue
            with open(p, "rb") as f:
                entries[p] = hashlib.sha256(f.read()).digest()
    return merkle_digest(entries)


@settings(max_examples=60, deadline=None)
@given(st.lists(op, min_size=1, max_size=25))
def test_hinted_equals_full_equals_model(ops: list[tuple[str, str, str, bytes]]) -> None:
    base = tempfile.mkdtemp()
    try:
        root = os.path.join(base, "rules")
        os.mkdir(root)
        outside = os.path.join(base, "outside")
        with open(outside, "wb") as f:
            f.write(b"outside")
        snapper = Snapshotter([root])
        snapper.snapshot()
        for kind, name, where, data in ops:
            d = os.path.join(root, where)
            p = os.path.join(d, name)
            if not os.path.isdir(d):
                continue
            if kind == "write" and not os.path.isdir(p):
                if os.path.islink(p):
                    os.unlink(p)
                with open(p, "wb") as f:
                    f.write(data)
            elif kind == "delete" and os.path.lexists(p):
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p)
                else:
                    os.unlink(p)
            elif kind == "mkdir" and not os.path.lexists(p):
                os.mkdir(p)
            elif kind == "link" and not os.path.lexists(p):
                os.symlink(outside if name != "c" else base, p)  # a file link, or a dir link for "c"
            else:
                continue
            hinted = snapper.snapshot([p])  # what the watcher would hint: the changed name
            full = Snapshotter([root]).snapshot()
            assert hinted.digest == full.digest
            assert dict(hinted.files) == dict(full.files)
            assert full.digest == model_digest(root)
    finally:
        shutil.rmtree(base)
