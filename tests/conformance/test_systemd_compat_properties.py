"""Property-based conformance: random lists of conditions/asserts (triggers, negations, resets,
both kinds mixed) must give the exit status of ``systemd-analyze condition``.

The building blocks are deterministic here: ``Environment=CR_PROP_YES`` is true, ``=CR_PROP_NO``
false, ``PathExists=/`` true, ``PathExists=/nonexistent-cr`` false.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil

import childproc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config_reloader.cli import main

pytestmark = [
    pytest.mark.conformance,
    pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"),
]

_VALUES = {
    "Environment": ("CR_PROP_YES", "CR_PROP_NO"),
    "PathExists": ("/", "/nonexistent-cr"),
}


@st.composite
def assignment(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["Condition", "Assert"]))
    type_ = draw(st.sampled_from(sorted(_VALUES)))
    if draw(st.integers(0, 9)) == 0:
        return f"{kind}{type_}="  # reset of that kind
    prefix = draw(st.sampled_from(["", "!", "|", "|!", "| !" if type_ == "Environment" else "|!"]))
    return f"{kind}{type_}={prefix}{draw(st.sampled_from(_VALUES[type_]))}"


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(assignment(), min_size=1, max_size=7))
def test_random_lists_match_systemd(args: list[str]) -> None:
    env = dict(os.environ, CR_PROP_YES="1")
    env.pop("CR_PROP_NO", None)
    want = childproc.run(
        ["systemd-analyze", "condition", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    old = os.environ.get("CR_PROP_YES")
    os.environ["CR_PROP_YES"] = "1"
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            got = main(["condition", "--systemd-compat", "-q", *args])
    finally:
        if old is None:
            del os.environ["CR_PROP_YES"]
        else:
            os.environ["CR_PROP_YES"] = old
    assert got == want.returncode, (args, want.stderr)
