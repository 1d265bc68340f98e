"""Backoff between reload attempts (rule R7 in docs/design.md).

Thanos retries at a fixed ``--retry-interval`` with neither backoff nor jitter; a target
that is slow to reload (prometheus-operator#5346) is then
hit again every interval. This policy starts at the same interval, grows geometrically, is capped
and jittered so several reloaders do not retry in lockstep. It is pure: the loop owner
(``reconcile/worker.py``) runs the attempts and sleeps; the policy only says how long.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """Delays between reload attempts, in seconds.

    The first attempt is immediate and not part of :meth:`delays`. Delay ``k`` (0-based) is
    ``min(maximum, initial * multiplier**k)`` scaled by a uniform factor in
    ``[1 - jitter, 1 + jitter]``, then clamped to ``[0, maximum]``.

    Raises:
        ValueError: a negative or non-finite duration, ``multiplier < 1``, ``maximum < initial``, or
            ``jitter`` outside ``[0, 1)`` (the field is named in the message).
    """

    initial: float = 5.0
    """First delay in seconds (``--retry-interval``, Thanos default 5s)."""
    maximum: float = 60.0
    """Cap of a delay in seconds, before and after jitter."""
    multiplier: float = 2.0
    """Growth factor per attempt (1.0 = fixed interval, like Thanos)."""
    jitter: float = 0.1
    """Relative jitter: each delay is scaled by a factor in ``[1 - jitter, 1 + jitter]``."""

    def __post_init__(self) -> None:
        for name in ("initial", "maximum", "multiplier", "jitter"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"RetryPolicy.{name} must be a finite number >= 0, got {value!r}")
        if self.multiplier < 1:
            raise ValueError(f"RetryPolicy.multiplier must be >= 1, got {self.multiplier!r}")
        if self.maximum < self.initial:
            raise ValueError(f"RetryPolicy.maximum ({self.maximum!r}) must be >= initial ({self.initial!r})")
        if self.jitter >= 1:
            raise ValueError(f"RetryPolicy.jitter must be in [0, 1), got {self.jitter!r}")

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """Yield the delay in seconds before each retry, forever (the caller stops iterating).

        Args:
            rng: source of jitter; ``None`` = a fresh unseeded ``random.Random``. Tests pass a
                seeded one for reproducible sequences.
        """
        rng = rng if rng is not None else random.Random()
        base = self.initial
        while True:
            factor = 1.0 + rng.uniform(-self.jitter, self.jitter) if self.jitter else 1.0
            yield min(self.maximum, max(0.0, base * factor))
            if base < self.maximum:
                base = min(self.maximum, base * self.multiplier)
