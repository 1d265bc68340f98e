"""The sidecar's first reload, before the event loop: render, snapshot, one ``POST``.

prometheus-operator runs the sidecar under a CPU limit of 10 millicores, where each millisecond
of CPU is a tenth of a second of wall time. The engine (asyncio, the watcher, the status server,
:mod:`logging`) costs more CPU to import than the first reload itself, and the first reload needs
none of it: the inputs are read and rendered by the one-shot's
:class:`~config_reloader.reconcile.apply.Applier`, the watched directories are hashed by its
snapshot, and the reload is one blocking HTTP request. So ``watch`` reloads first and loads the
engine after, handing it what this reload applied (:class:`FirstReload`).

Why it loses no change: the engine sets its watches, then reads everything again (the same
:class:`~config_reloader.watch.snapshot.Snapshotter`, so an unchanged file costs a ``stat``) and
reloads if the content differs from :attr:`FirstReload.applied`. If a file was written after this
path read it but the content is back to what was applied, the target may still have read the
state in between during this reload: the engine reloads once more (the rule the reload worker
applies to every reload in flight). Writes during the read itself: each file's read is checked
against its identity before and after (:func:`~config_reloader.watch.digests.read_record`), and
the whole read is repeated after :data:`~config_reloader.reconcile.guard.RACE_RECHECK`; if any
file's identity or content moved in between, this path steps aside.

Taken only for one HTTP reload URL, no validate command (prometheus-operator's sidecar: no
runtime-info verification in ``watch``) and at most :data:`MAX_FILES` watched files: with more,
hashing them all comes before ``/healthz`` answers, and the engine, which serves it first, takes
the first reload as before. Inputs that cannot be read or rendered, or that move
while they are read, are left to the engine, which starts as if this path had not run. A reload
that fails (connect, timeout, a status other than 200) is logged and counted like any attempt;
the engine's reload worker goes on with the next one.
"""

from __future__ import annotations

import os
import time

from config_reloader.errors import ConfigReloaderError, ReloadError, ReloadTimeout
from config_reloader.logs import redact_text, redact_values
from config_reloader.reconcile.apply import Applier, error_fields
from config_reloader.reconcile.options import expansion_env, input_fields
from config_reloader.record import Record, record
from config_reloader.reload.exchange import post_reload
from config_reloader.watch.digests import moved

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from config_reloader.logs import FieldLog
    from config_reloader.reconcile.options import ReloaderOptions
    from config_reloader.render import Rendered
    from config_reloader.watch.snapshot import Snapshot

__all__ = ["FirstReload", "eligible", "failure_text", "first_reload"]

MAX_FILES = 1000
"""At most this many entries in the watched dirs for the first reload to come before the loop.
The loop starts the status server (``/healthz``) before it hashes anything; this path hashes
everything first. At 10 millicores hashing 10,000 rule files takes ~25 s, long enough for
kubelet's liveness probe of ``/healthz`` to give up on a sidecar that answers nothing yet; 1,000
take ~2.5 s."""

RECHECK = 0.005
"""Seconds between the read and its repetition: a write's effect on a file's identity is visible
at once, but a writer that opened a file just before the first read may still be at it."""


@record
class FirstReload(Record):
    """What the first reload did, for :class:`~config_reloader.reconcile.loop.Reloader`.

    Attributes:
        applied: the desired digest (:meth:`~config_reloader.reconcile.apply.Applier.read`) the
            target reloaded; ``None`` if the reload failed.
        error: why the reload failed, as the reload worker words and logs it (redacted); ``""``
            when it succeeded. The worker goes on from there: its next attempt is immediate and
            the same error is not logged twice.
        snapshot: the snapshot the digest was computed from: its files' identities are what the
            engine compares its own first read with.
        rendered: the output rendered from it (``None``: no config file, or nothing rendered).
        applier: the applier that read it; the engine reuses it (and its snapshot cache).
        duration: seconds the reload request took.
    """

    applied: bytes | None
    error: str
    snapshot: Snapshot
    rendered: Rendered | None
    applier: Applier
    duration: float


def eligible(options: ReloaderOptions, max_files: int = MAX_FILES) -> bool:
    """True if ``options`` reload through one HTTP URL, validate nothing (a validator may run for
    long, and this path has no event loop to stop it on SIGTERM), and watch at most
    ``max_files`` entries (:func:`holds_at_most`)."""
    return (
        options.reloads_enabled
        and options.reload_method == "http"
        and len(options.reload_urls) == 1
        and not options.validate_command
        and holds_at_most(options.watched_dirs, max_files)
    )


def holds_at_most(dirs: Sequence[str], limit: int) -> bool:
    """True if ``dirs`` hold at most ``limit`` entries together, counted recursively without
    following symlinked dirs; names starting with ``..`` (kubelet's) are not counted. Stops at
    the first entry past ``limit``; a dir that cannot be listed counts as empty (the snapshot
    reports it)."""
    seen = 0
    stack = list(dirs)
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    if entry.name.startswith(".."):
                        continue
                    seen += 1
                    if seen > limit:
                        return False
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            continue
    return True


def failure_text(exc: ReloadError) -> str:
    """How a failed reload attempt is worded in the log and in the ``err`` field: the error's
    message; a timeout adds that the next attempts back off."""
    return f"{exc} (backing off)" if isinstance(exc, ReloadTimeout) else str(exc)


def _read_settled(applier: Applier) -> tuple[bytes, Snapshot, Rendered | None] | None:
    """Read, render and write the output; ``None`` if a file moved while it was read."""
    desired, _, snap = applier.read(None)
    time.sleep(RECHECK)
    again, rendered, snap_again = applier.read(None)
    if again != desired or moved(snap.files, snap_again.files):
        return None
    if rendered is not None:
        applier.write(rendered)
    return desired, snap_again, rendered


def first_reload(
    options: ReloaderOptions, log: FieldLog, env: Mapping[str, str] | None = None
) -> FirstReload | None:
    """Render, hash and reload once, synchronously; see the module docstring.

    Args:
        options: the sidecar's options (:func:`eligible`).
        log: where the reload's line goes (the lines the reload worker writes: ``reload
            triggered``, or ``reload failed, retrying`` with the redacted error).
        env: variables for ``$(VAR)`` (default: the process environment).

    Returns:
        What was done (the reload succeeded or failed), or ``None`` when the inputs could not be
        read and rendered, or moved while they were read: the engine then starts from scratch.
        Never raises for a bad input or an unreachable target.
    """
    applier = Applier(options, expansion_env(options, env), options.path_filter)
    try:
        settled = _read_settled(applier)
    except (ConfigReloaderError, OSError) as exc:
        log.debug("first reload left to the engine: read failed", extra=error_fields(exc))
        return None
    if settled is None:
        log.debug("first reload left to the engine: files changed while they were read")
        return None
    desired, snap, rendered = settled
    start = time.monotonic()
    try:
        post_reload(options.reload_url, timeout=options.reload_timeout, client=options.http_client)
    except ValueError as exc:  # the URL was checked at start: only a bug gets here
        log.debug("first reload left to the engine: bad reload URL", extra={"err_type": type(exc).__name__})
        return None
    except ReloadError as exc:
        # Prometheus' answer to a bad config quotes the offending line: it may hold a secret.
        secrets = rendered.expanded_values if rendered is not None else ()
        error = redact_values(redact_text(failure_text(exc)), secrets)
        log.error("reload failed, retrying", extra={"err": error, "attempt": 1, "method": "http"})
        applied = None
    else:
        error = ""
        applied = desired
        log.info("reload triggered", extra={**input_fields(options), "method": "http"})
    return FirstReload(
        applied=applied,
        error=error,
        snapshot=snap,
        rendered=rendered,
        applier=applier,
        duration=time.monotonic() - start,
    )
