"""Several reload targets behind one action (``--reload-url`` given more than once).

A change counts as applied when every target accepted it. Each target is retried on its own: an
attempt only goes to the targets that have not accepted the current content yet, so a failing
target never makes the healthy ones reload again. When the content changes (the reload worker
calls :meth:`MultiReload.new_round`), every target is due again. The targets of one attempt are
triggered concurrently, each bounded by its own timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..errors import ReloadError, ReloadTimeout, TargetNotFound

if TYPE_CHECKING:
    from . import ReloadAction

__all__ = ["MultiReload"]

log = logging.getLogger(__name__)

ResultHook = Callable[[str, bool], None]
"""``(target, ok)`` after each target's attempt (per-target metrics)."""


class MultiReload:
    """Trigger several actions as one; succeed when all of them accepted the current content.

    Args:
        actions: one action per target, each with a printable, credential-free ``target``.
        on_result: called with ``(target, ok)`` after each target's attempt.

    Raises:
        ValueError: fewer than two actions, or two with the same ``target`` name.
    """

    def __init__(self, actions: Sequence[ReloadAction], *, on_result: ResultHook | None = None) -> None:
        if len(actions) < 2:
            raise ValueError("MultiReload needs at least two actions")
        names = [str(getattr(a, "target", repr(a))) for a in actions]
        if len(set(names)) != len(names):
            raise ValueError(f"the same reload target is given twice: {names}")
        self.actions = tuple(actions)
        self.names = tuple(names)
        self.method = actions[0].method
        self.target = ", ".join(names)
        self._on_result = on_result
        self._pending: set[int] = set(range(len(actions)))

    def __repr__(self) -> str:
        return f"MultiReload({list(self.actions)!r})"

    @property
    def pending(self) -> tuple[str, ...]:
        """Targets that have not accepted the current content yet."""
        return tuple(self.names[i] for i in sorted(self._pending))

    def new_round(self) -> None:
        """New content: every target must reload again."""
        self._pending = set(range(len(self.actions)))

    async def aclose(self) -> None:
        """Close every action that has ``aclose``."""
        for a in self.actions:
            close = getattr(a, "aclose", None)
            if close is not None:
                await close()

    async def trigger(self) -> None:
        """Trigger the pending targets concurrently.

        Raises:
            ReloadTimeout: every failing target timed out (back off).
            TargetNotFound: every failing target was unreachable.
            ReloadError: otherwise, when at least one target failed; the message names each
                failing target with its error, and how many accepted.
        """
        order = sorted(self._pending)
        results = await asyncio.gather(*(self.actions[i].trigger() for i in order), return_exceptions=True)
        failed: list[tuple[int, BaseException]] = []
        for i, res in zip(order, results, strict=True):
            if isinstance(res, asyncio.CancelledError):
                raise res
            ok = not isinstance(res, BaseException)
            if self._on_result is not None:
                self._on_result(self.names[i], ok)
            if ok:
                self._pending.discard(i)
            else:
                assert isinstance(res, BaseException)
                if not isinstance(res, Exception):
                    raise res  # KeyboardInterrupt, SystemExit
                failed.append((i, res))
        if not failed:
            self.new_round()  # all accepted: the next attempt is for new content
            return
        done = len(self.actions) - len(self._pending)
        # Each action's message names its target already ("reload URL: ...").
        detail = "; ".join(
            str(exc) if self.names[i] in str(exc) else f"{self.names[i]}: {exc}" for i, exc in failed
        )
        msg = f"{len(failed)} of {len(self.actions)} reload targets failed ({done} accepted): {detail}"
        kinds = {type(exc) for _, exc in failed}
        if all(issubclass(k, ReloadTimeout) for k in kinds):
            raise ReloadTimeout(msg, target=self.target)
        if all(issubclass(k, TargetNotFound) for k in kinds):
            raise TargetNotFound(msg, target=self.target)
        raise ReloadError(msg, target=self.target)
