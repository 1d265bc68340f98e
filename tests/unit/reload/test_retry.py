"""RetryPolicy: pure, checked with seeded RNGs (no time involved)."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config_reloader.reload.retry import RetryPolicy


def take(policy: RetryPolicy, n: int, seed: int = 1) -> list[float]:
    return list(itertools.islice(policy.delays(random.Random(seed)), n))


def test_without_jitter_delays_double_from_initial_and_cap_at_maximum() -> None:
    assert take(RetryPolicy(initial=5, maximum=60, multiplier=2, jitter=0), 7) == [5, 10, 20, 40, 60, 60, 60]


def test_multiplier_one_is_thanos_fixed_interval() -> None:
    assert take(RetryPolicy(initial=5, maximum=60, multiplier=1, jitter=0), 4) == [5, 5, 5, 5]


def test_same_seed_same_sequence_and_different_seed_differs() -> None:
    p = RetryPolicy()
    assert take(p, 10, seed=42) == take(p, 10, seed=42)
    assert take(p, 10, seed=42) != take(p, 10, seed=43)


def test_jitter_stays_within_fraction_and_cap() -> None:
    p = RetryPolicy(initial=1, maximum=8, multiplier=2, jitter=0.25)
    delays = take(p, 200, seed=7)
    bases = [min(8.0, 2.0**k) for k in range(200)]
    for d, b in zip(delays, bases, strict=True):
        assert b * 0.75 - 1e-9 <= d <= min(8.0, b * 1.25) + 1e-9
    # jitter actually spreads values (not a constant sequence)
    assert len({round(d, 6) for d in delays[10:]}) > 10


@given(
    initial=st.floats(0, 100),
    extra=st.floats(0, 1000),
    multiplier=st.floats(1, 10),
    jitter=st.floats(0, 0.99),
    seed=st.integers(0, 2**32),
)
def test_property_delays_nonnegative_finite_capped(
    initial: float, extra: float, multiplier: float, jitter: float, seed: int
) -> None:
    p = RetryPolicy(initial=initial, maximum=initial + extra, multiplier=multiplier, jitter=jitter)
    for d in take(p, 50, seed):
        assert math.isfinite(d)
        assert 0 <= d <= p.maximum


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"initial": -1}, "initial"),
        ({"initial": math.nan}, "initial"),
        ({"maximum": math.inf}, "maximum"),
        ({"multiplier": 0.5}, "multiplier"),
        ({"jitter": 1.0}, "jitter"),
        ({"initial": 10, "maximum": 5}, "maximum"),
    ],
)
def test_invalid_values_name_the_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
