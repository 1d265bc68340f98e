"""Run a call that must not block (a reader handed a FIFO, say) on a daemon thread."""

from __future__ import annotations

import threading
from collections.abc import Callable


def outcome_without_blocking(
    call: Callable[[], object], what: str, timeout: float = 20.0
) -> BaseException | None:
    """Run ``call()`` on a daemon thread; return what it raised (``None`` if it returned).

    Fails the test (AssertionError naming ``what``) if the call is still running after
    ``timeout`` seconds; the daemon thread is left behind, blocked, and dies with the process.
    """
    box: list[BaseException | None] = []

    def target() -> None:
        try:
            call()
        except BaseException as exc:  # handed to the test
            box.append(exc)
        else:
            box.append(None)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout=timeout)
    assert not worker.is_alive(), f"{what} blocked"
    return box[0]
