"""Budget and input counter shared by the fuzz tests (tests/fuzz).

``FUZZ_BUDGET=ci`` (default): a small number of examples per target, the whole suite in well
under a minute. ``FUZZ_BUDGET=long``: many examples per target (docs/security.md gives the
command); the summary line at the end says how many inputs each target tried.
"""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, settings

BUDGET = os.environ.get("FUZZ_BUDGET", "ci")
_EXAMPLES = {"ci": 150, "long": 15_000}
if BUDGET not in _EXAMPLES:
    raise RuntimeError(f"FUZZ_BUDGET must be one of {', '.join(_EXAMPLES)}, got {BUDGET!r}")

TRIED: Counter[str] = Counter()


def fuzz(scale: float = 1.0) -> settings:
    """Hypothesis settings for one fuzz target; ``scale`` < 1 for targets that touch files."""
    return settings(
        max_examples=max(10, int(_EXAMPLES[BUDGET] * scale)),
        deadline=None,  # a loaded 2-core machine: time per example is not what is tested
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        derandomize=BUDGET == "ci",  # the same inputs in every CI run; the long run explores
        database=None,
    )


def tried(target: str) -> None:
    """Count one input given to ``target``."""
    TRIED[target] += 1
