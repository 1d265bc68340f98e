"""Every error copies and pickles with its message and context attributes (the default
``BaseException.__reduce__`` calls the class with the message alone, which the keyword-only
context arguments refuse)."""

from __future__ import annotations

import copy
import pickle

import pytest

from config_reloader import errors

SAMPLES = [
    errors.ReloadRejected("reload refused", target="http://127.0.0.1:9090/-/reload", status=500, body="x"),
    errors.AtomicWriteError("rename failed", path="/out/p.yaml", step="rename"),
    errors.ConfigTooLarge("too large", path="/in.yaml", limit=10),
    errors.UnknownFeatureError("unknown CPU feature 'avx9'", name="avx9", suggestions=["avx", "avx2"]),
    errors.BackendUnavailable("no stub", backend="cpuid-stub", reason="EPERM"),
    errors.ConditionSyntaxError("bad", text="Condition=", line=3, column=1),
]


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: type(e).__name__)
def test_copy_and_pickle_keep_message_and_context(error: errors.ConfigReloaderError) -> None:
    for clone in (copy.copy(error), copy.deepcopy(error), pickle.loads(pickle.dumps(error))):
        assert type(clone) is type(error)
        assert clone.args == error.args and str(clone) == str(error)
        assert clone.__dict__ == error.__dict__
