"""The reload loop: desired vs applied content, forced reload after a failure, supersede.

One asyncio task owns the state (the data flow in docs/design.md). Everything else only sends it hints:

* a pump task moves settled :class:`~config_reloader.watch.watcher.ChangeBatch` es from the
  :class:`~config_reloader.watch.watcher.ChangeSource` into a pending set and wakes the owner;
* the owner re-snapshots (hinted paths only, or everything on a rescan / every
  ``watch_interval``), renders and validates the output, writes it atomically and computes the
  *desired* digest;
* a reload worker task reloads while ``desired != applied`` or the last attempt failed (rollback:
  reverting to the previous content must reload too), with backoff from
  :class:`~config_reloader.reload.retry.RetryPolicy`.
  A newer desired digest cuts a backoff wait short, so the next attempt reloads the newest
  content; watching never waits for retries (rule R7 in docs/design.md).

An attempt that is already in flight is *not* cancelled by newer content: cancelling an HTTP
request does not stop the target's reload, and re-sending at once is exactly how a slow target
gets hammered (prometheus-operator#5346). The worker re-checks right after the attempt
ends and reloads again if the content moved meanwhile.

Digest semantics (rules R1 and R5 in docs/design.md): ``desired = sha256("cr1" 0xFF snapshot.digest 0xFF
sha256(rendered output))``. Without rendering, the snapshot covers the config file and the watched
dirs. With rendering (``config_envsubst_file`` or ``validate_command``), the rendered bytes stand
for the config file, which is left out of the snapshot: hashing the raw file and rendering it are
two reads, and a write in between would mix two versions into one digest and reload unchanged
output. A render or validate failure keeps the previous output and the previous desired digest, so
nothing is reloaded with content we could not render.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import math
import os
import random
import re
import signal as _signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from config_reloader.errors import (
    ConfigReloaderError,
    EnvExpansionError,
    ReloadError,
    ReloadRejected,
    ReloadTimeout,
    RenderError,
    ValidationFailed,
)
from config_reloader.watch.ignore import DEFAULT_IGNORE_GLOBS, PathFilter, compile_ignore

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from config_reloader.metrics import ReloaderMetrics, StatusServer
    from config_reloader.reload import ReloadAction
    from config_reloader.reload.retry import RetryPolicy
    from config_reloader.render import Rendered
    from config_reloader.watch.snapshot import Snapshot, Snapshotter
    from config_reloader.watch.watcher import ChangeBatch

__all__ = [
    "DEFAULT_RELOAD_URL",
    "DEFAULT_RUNTIMEINFO_URL",
    "Clock",
    "Reloader",
    "ReloaderOptions",
    "statefulset_ordinal",
]

log = logging.getLogger(__name__)

DEFAULT_RELOAD_URL = "http://127.0.0.1:9090/-/reload"
"""prometheus-config-reloader's ``--reload-url`` default."""
DEFAULT_RUNTIMEINFO_URL = "http://127.0.0.1:9090/api/v1/status/runtimeinfo"
"""prometheus-config-reloader's ``--runtimeinfo-url`` default."""
RELOAD_METHODS = ("http", "signal")
RACE_RECHECK = 0.005
"""Seconds to wait before acting on new content, for a racing write's event to be queued
(events are queued right after the change is visible; see ``Reloader._apply``)."""
SETTLE_PROBES = 256
"""At most this many changed files are proven settled by a read lease in one pass; a pass with
more (a kubelet swap of a large ConfigMap) waits ``RACE_RECHECK`` instead."""
EMPTY_SHA256 = hashlib.sha256(b"").digest()
FileIdentity = tuple[int, int, int, int, int]


def _max_open_wait(source: Any) -> float:
    """The change source's bound on waiting for a writer's close (5 s for scripted sources)."""
    return float(getattr(source, "max_open_wait", 5.0))


def _not_a_file(path: str) -> str:
    """Why the config file ``path`` cannot be read as a file (for the apply error)."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return (
                f"config file {path} is a symlink loop (too many levels of symbolic links); "
                "keeping the previous output and not reloading until it points at a file"
            )
    return (
        f"config file {path} does not exist (or is not a regular file); "
        "keeping the previous output and not reloading until it is back"
    )


def _kubelet_projection(path: str) -> bool:
    """True if ``path`` is a kubelet AtomicWriter projection: a symlink ``name -> ..data/name``."""
    try:
        target = os.readlink(path)
    except OSError:
        return False
    from config_reloader.watch.snapshot import KUBELET_DATA

    return target.startswith(KUBELET_DATA + os.sep)


def _check_duration(name: str, value: float, *, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or value < 0:
        raise ValueError(f"ReloaderOptions.{name} must be a number of seconds >= 0, got {value!r}")
    if math.isinf(value):
        raise ValueError(f"ReloaderOptions.{name} must be finite, got {value!r}")
    if positive and value == 0:
        raise ValueError(f"ReloaderOptions.{name} must be > 0 seconds, got {value!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class ReloaderOptions:
    """What to watch, how to render, how to reload. Fields mirror the ``watch`` flags of
    prometheus-config-reloader (same names with ``_``; Go durations converted to float seconds).

    Paths are made absolute here. ``None`` means "disabled", never "default".

    Raises:
        ValueError: a negative/NaN/infinite duration, ``retry_interval`` or ``reload_timeout``
            of 0, an unknown ``reload_method``, ``config_envsubst_file`` without ``config_file``,
            an empty ``validate_command`` or one without ``{}``... the field is named in the message.
    """

    config_file: str | None = None
    """``--config-file``: the config file to watch (and render when ``config_envsubst_file`` is set)."""
    config_envsubst_file: str | None = None
    """``--config-envsubst-file``: output of gunzip + ``$(VAR)`` expansion, written atomically."""
    watched_dirs: tuple[str, ...] = ()
    """``--watched-dir`` (repeatable): directories watched non-recursively (rule files)."""
    watch_interval: float = 180.0
    """``--watch-interval`` seconds: full resync period; 0 = render once, no reload, return."""
    delay_interval: float = 1.0
    """``--delay-interval`` seconds: quiet period (trailing-edge debounce) before applying."""
    retry_interval: float = 5.0
    """``--retry-interval`` seconds: first delay between reload attempts (then backoff, capped)."""
    retry_max_interval: float = 60.0
    """Cap of the backoff between reload attempts in seconds (never below ``retry_interval``)."""
    reload_timeout: float = 30.0
    """``--reload-timeout`` seconds: bound of one reload attempt (HTTP request, signal+verify)."""
    reload_url: str = DEFAULT_RELOAD_URL
    """``--reload-url``: POSTed in ``http`` mode; success only on status 200."""
    reload_method: str = "http"
    """``--reload-method``: ``"http"`` (POST reload_url) or ``"signal"`` (send reload_signal)."""
    process_executable_name: str = "prometheus"
    """``--process-executable-name``: signal mode target, matched against /proc/PID/comm."""
    pid_file: str | None = None
    """``--pid-file``: signal mode target read from this file (wins over the executable name)."""
    reload_signal: int = int(_signal.SIGHUP)
    """``--reload-signal``: signal number sent in signal mode (default SIGHUP)."""
    runtimeinfo_url: str | None = DEFAULT_RUNTIMEINFO_URL
    """``--runtimeinfo-url``: signal mode readiness gate and verification (Thanos tracker.go);
    ``None`` = no verification."""
    listen_address: str | None = None
    """``--listen-address``: ``host:port`` for /metrics /healthz /ready; ``None`` = off."""
    web_config_file: str | None = None
    """``--web-config-file``: exporter-toolkit web config (TLS, basic auth) for the status server;
    ``None`` = plain HTTP. Read when the server starts (:func:`config_reloader.webconfig.load_web_config`)."""
    statefulset_ordinal_from_envvar: str | None = "POD_NAME"
    """``--statefulset-ordinal-from-envvar``: the trailing digits of this env var are exposed to
    ``$(VAR)`` expansion as ``STATEFULSET_ORDINAL_NUMBER`` (prometheus-operator main.go)."""
    strict_env: bool = False
    """``--strict-env``: an unset ``$(VAR)`` is an error (default: left verbatim and counted, like
    prometheus-operator, which always tolerates)."""
    validate_command: tuple[str, ...] | None = None
    """``--validate-command`` argv; ``{}`` is replaced by the path of the rendered candidate."""
    force_polling: bool = False
    """Poll instead of using inotify (also the automatic fallback when inotify limits are hit)."""
    poll_interval: float | None = None
    """Polling period in seconds for the poll fallback; ``None`` = the watcher's default."""
    watch_ignore: tuple[str, ...] = DEFAULT_IGNORE_GLOBS
    """``--watch-ignore``: base-name globs in the watched dirs that are not configuration
    (writers' temp files, editor backups and locks): no hint, not in the digest. Default
    :data:`~config_reloader.watch.ignore.DEFAULT_IGNORE_GLOBS`; ``()`` = Thanos' behaviour
    (every file counts). The config file itself is never ignored."""

    def __post_init__(self) -> None:
        for name in ("watch_interval", "delay_interval", "retry_max_interval"):
            _check_duration(name, getattr(self, name))
        for name in ("retry_interval", "reload_timeout"):
            _check_duration(name, getattr(self, name), positive=True)
        if self.poll_interval is not None:
            _check_duration("poll_interval", self.poll_interval, positive=True)
        if self.reload_method not in RELOAD_METHODS:
            raise ValueError(
                f"ReloaderOptions.reload_method must be one of {', '.join(RELOAD_METHODS)}, "
                f"got {self.reload_method!r}"
            )
        if self.config_envsubst_file and not self.config_file:
            raise ValueError("ReloaderOptions.config_envsubst_file needs config_file (the input to render)")
        if self.validate_command is not None and not self.validate_command:
            raise ValueError("ReloaderOptions.validate_command must not be empty")
        if not isinstance(self.reload_signal, int) or not 0 < self.reload_signal < _signal.NSIG:
            raise ValueError(
                f"ReloaderOptions.reload_signal must be a signal number, got {self.reload_signal!r}"
            )
        # Paths are absolute after option parsing (docs/INTERFACES.md).
        for name in ("config_file", "config_envsubst_file", "pid_file", "web_config_file"):
            value = getattr(self, name)
            if value is not None:
                if not value:
                    raise ValueError(f"ReloaderOptions.{name} must not be empty (use None)")
                object.__setattr__(self, name, os.path.abspath(value))
        dirs: list[str] = []
        for d in self.watched_dirs:
            if not d:
                raise ValueError("ReloaderOptions.watched_dirs must not contain an empty path")
            a = os.path.abspath(d)
            if a not in dirs:
                dirs.append(a)
        object.__setattr__(self, "watched_dirs", tuple(dirs))
        if self.validate_command is not None:
            object.__setattr__(self, "validate_command", tuple(self.validate_command))
        if self.listen_address == "":
            object.__setattr__(self, "listen_address", None)
        object.__setattr__(self, "watch_ignore", tuple(self.watch_ignore))
        try:
            compile_ignore(self.watch_ignore)
        except ValueError as exc:
            raise ValueError(f"ReloaderOptions.watch_ignore: {exc}") from None

    @property
    def path_filter(self) -> PathFilter:
        """``watch_ignore`` compiled: ``(path) -> bool``, False = not configuration.

        Our own ``--validate-command`` candidates (``.<output name>.validate-*``, written next to
        the output) are always ignored, even with ``watch_ignore=()``: each apply writes one, and
        an output inside a watched dir would otherwise hint the next apply forever."""
        globs = self.watch_ignore
        if self.validate_command is not None and self.config_file is not None:
            name = os.path.basename(self.config_envsubst_file or self.config_file)
            globs = (*globs, f".{glob_escape(name)}.validate-*")
        return compile_ignore(globs)

    @property
    def reloads_enabled(self) -> bool:
        """False in init mode (``watch_interval == 0``): render once, never reload."""
        return self.watch_interval > 0

    @property
    def retry_policy(self) -> RetryPolicy:
        """Backoff between attempts: starts at ``retry_interval``, doubles, capped, 10% jitter."""
        from config_reloader.reload.retry import RetryPolicy

        return RetryPolicy(
            initial=self.retry_interval,
            maximum=max(self.retry_interval, self.retry_max_interval),
        )


_ORDINAL = re.compile(r"(\d+)$")


_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
_HTTP_URL = re.compile(r"(?i)\bhttps?://[^\s'\"<>]+")
_TRAILING = ".,:;)]}"


def redact_text(text: str) -> str:
    """Every ``scheme://user:password@`` inside free text (an error message) -> ``scheme://***@``,
    and every http(s) URL in it through :func:`config_reloader.logs.redact_url` (query values
    -> ``***``, names kept).

    :func:`config_reloader.logs.redact_url` handles one URL; error texts from HTTP libraries may
    embed one anywhere. Punctuation that ends a sentence after a URL is kept out of it.
    """
    from config_reloader.logs import redact_url

    def one(m: re.Match[str]) -> str:
        url = m.group(0)
        tail = len(url) - len(url.rstrip(_TRAILING))
        return redact_url(url[: len(url) - tail]) + url[len(url) - tail :]

    return _HTTP_URL.sub(one, _URL_CREDENTIALS.sub(r"\1***@", text))


def glob_escape(name: str) -> str:
    """``name`` as an fnmatch glob matching itself (``*``, ``?``, ``[`` escaped)."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def statefulset_ordinal(value: str | None) -> str:
    """Trailing digits of a StatefulSet pod name (``prometheus-k8s-1`` -> ``"1"``), else ``""``.

    Source: prometheus-operator cmd/prometheus-config-reloader/main.go
    (``--statefulset-ordinal-from-envvar``, exported as ``STATEFULSET_ORDINAL_NUMBER``).
    """
    if not value:
        return ""
    m = _ORDINAL.search(value)
    return m.group(1) if m else ""


class Clock(Protocol):
    """Time source: ``monotonic()`` for latencies, ``time()`` (Unix seconds) for timestamps."""

    def monotonic(self) -> float: ...
    def time(self) -> float: ...


class _SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


ChangeSourceFactory = Callable[..., Any]
"""Builds an async-context-manager change source, called like
``ChangeSource(files, dirs, delay=..., poll_interval=..., force_polling=..., on_event=...,
path_filter=...)``."""


@dataclass(slots=True)
class _Pending:
    paths: set[str] = field(default_factory=set)
    rescan: bool = False
    reasons: set[str] = field(default_factory=set)


class Reloader:
    """Watch the config file and watched dirs; render; reload the target when content changed.

    Usage::

        async with Reloader(ReloaderOptions(config_file="/etc/prom/prometheus.yml.gz",
                                            config_envsubst_file="/out/prometheus.yml",
                                            watched_dirs=("/etc/prom/rules",))) as r:
            await r.run()                      # until cancelled

    Args:
        options: what to watch and how to reload.
        action: the reload action; ``None`` = built from ``options`` (HTTP POST to
            ``reload_url``, or a signal wrapped in runtime-info verification).
        registry: prometheus_client registry for the metrics; ``None`` = a fresh private one
            (the global registry is never touched).
        clock: time source (default: ``time.monotonic``/``time.time``).
        env: variables for ``$(VAR)`` expansion (default ``os.environ``), plus
            ``STATEFULSET_ORDINAL_NUMBER`` derived from ``options.statefulset_ordinal_from_envvar``.
        retry: backoff between attempts (default ``options.retry_policy``).
        ready_gate: signal mode: async predicate, the signal is held back until it is true
            (``run`` passes "child ready"); default: runtime info answers.
        change_source_factory: builds the change source (default
            :class:`~config_reloader.watch.watcher.ChangeSource`); tests inject scripted ones.
        rng: jitter source for the backoff (tests pass a seeded one).

    Attributes:
        applied: digest of the content last reloaded successfully (``None`` before).
        desired: digest of the content currently rendered (``None`` before the first apply).
        ready: True after the first successful apply (render + reload; render only in init mode).
        last_rendered: the :class:`~config_reloader.render.Rendered` of the last accepted pass.
        last_snapshot: the :class:`~config_reloader.watch.snapshot.Snapshot` of the last accepted
            pass (``files``: path -> SHA-256 of what ``desired`` stands for); ``None`` before.
        metrics: the :class:`~config_reloader.metrics.ReloaderMetrics`.
        registry: the registry holding them.
    """

    def __init__(
        self,
        options: ReloaderOptions,
        *,
        action: ReloadAction | None = None,
        registry: CollectorRegistry | None = None,
        clock: Clock | None = None,
        env: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        ready_gate: Callable[[], Awaitable[bool]] | None = None,
        change_source_factory: ChangeSourceFactory | None = None,
        rng: random.Random | None = None,
    ) -> None:
        from prometheus_client import CollectorRegistry

        from config_reloader.metrics import ReloaderMetrics

        self.options = options
        self._clock: Clock = clock if clock is not None else _SystemClock()
        self.registry: CollectorRegistry = registry if registry is not None else CollectorRegistry()
        self._action = action
        self._built_action = False  # True when _action came from _build_action (rebuilt per run)
        method = action.method if action is not None else options.reload_method
        self.metrics: ReloaderMetrics = ReloaderMetrics(self.registry, method=method, clock=self._clock.time)
        base_env = dict(os.environ if env is None else env)
        if options.statefulset_ordinal_from_envvar:
            base_env["STATEFULSET_ORDINAL_NUMBER"] = statefulset_ordinal(
                base_env.get(options.statefulset_ordinal_from_envvar)
            )
        self._env: Mapping[str, str] = base_env
        self._retry = retry if retry is not None else options.retry_policy
        self._ready_gate = ready_gate
        self._source_factory = change_source_factory
        self._rng = rng
        self._snapshotter: Snapshotter | None = None
        self._path_filter = options.path_filter  # compiled once; shared by hints and snapshots
        self._closables: list[Any] = []  # objects we built that hold sessions: aclose() on exit
        self._server: StatusServer | None = None

        self.applied: bytes | None = None
        self.desired: bytes | None = None
        self.ready = False
        self.last_rendered: Rendered | None = None
        self.last_snapshot: Snapshot | None = None
        self._adopt_next = False
        self._force = False  # last reload attempt failed: reload even if desired == applied
        # Content generation (ChangeSource.change_gen) when the last accepted pass started reading,
        # and whether a reload finished after content changed since its target was read: the
        # service may have read a state in between (see _reloaded_while_changing).
        self._desired_gen: int | None = None
        self._stale = False
        self._source: Any = None
        self._apply_error: str | None = None  # last apply error message (log once per change)
        self._changed: asyncio.Condition | None = None
        self._pending = _Pending()
        self._wake: asyncio.Event | None = None
        self._desired_at: float | None = None  # monotonic time the desired digest last changed
        self._raced_outcome: bytes | str | None = None  # outcome of the last discarded (raced) pass
        self._repeat_accepted = False  # the last pass raced but repeated the previous raced read
        # The last accepted pass: its snapshot's files (a view of that moment, O(dirs) to keep),
        # the config file's digest and identity when rendered: to tell "emptied" (_emptied).
        self._accepted_files: Mapping[str, bytes] | None = None
        self._accepted_input: tuple[bytes, FileIdentity | None] | None = None
        # Emptied files held back: path -> (identity read, monotonic time first held).
        self._held: dict[str, tuple[FileIdentity | None, float]] = {}
        self.last_reload_latency: float | None = None
        """Seconds from the apply that produced the applied digest to its successful reload."""

    # -- lifecycle --------------------------------------------------------------------------------
    async def __aenter__(self) -> Reloader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the status server and close the HTTP session (idempotent, bounded)."""
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await server.stop()
        closables, self._closables = self._closables, []
        for obj in closables:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await obj.aclose()

    def _cond(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def _notify(self) -> None:
        self.metrics.pending_reload.set(1 if self._needs_reload() else 0)
        cond = self._cond()
        async with cond:
            cond.notify_all()

    # -- building collaborators ---------------------------------------------------------------------
    def _build_action(self) -> ReloadAction:
        o = self.options
        if o.reload_method == "http":
            from config_reloader.reload.http import HttpReload

            http = HttpReload(o.reload_url, timeout=o.reload_timeout)  # one connection per reload
            self._closables.append(http)
            return http
        from config_reloader.reload.signal import PidFile, ProcessName, SignalReload
        from config_reloader.reload.verify import VerifiedReload, runtimeinfo_ready

        target: Any = PidFile(o.pid_file) if o.pid_file else ProcessName(o.process_executable_name)
        gate = self._ready_gate
        if gate is None and o.runtimeinfo_url:
            # Never SIGHUP a target that has not installed its handler yet (rule R8): Prometheus
            # answers runtime info only once it is up.
            check = runtimeinfo_ready(o.runtimeinfo_url, timeout=min(5.0, o.reload_timeout))
            self._closables.append(check)
            gate = check
        inner: ReloadAction = SignalReload(
            signal=o.reload_signal, target=target, timeout=o.reload_timeout, ready=gate
        )
        if o.runtimeinfo_url:
            verified = VerifiedReload(inner, runtimeinfo_url=o.runtimeinfo_url, timeout=o.reload_timeout)
            self._closables.append(verified)
            return verified
        return inner

    @property
    def _renders(self) -> bool:
        o = self.options
        return o.config_file is not None and (
            o.config_envsubst_file is not None or o.validate_command is not None
        )

    def _derived_paths(self) -> frozenset[str]:
        """Snapshot entries covered by the rendered bytes instead (when rendering): the config file
        and the output, if they live inside a watched dir. Hashing both the raw input (snapshot) and
        the render of it (a separate read) could mix two versions of the file into one digest and
        cause a reload of unchanged output."""
        o = self.options
        paths = {p for p in (o.config_file, o.config_envsubst_file) if p is not None}
        return frozenset(p for p in paths if any(p.startswith(d + os.sep) for d in o.watched_dirs))

    def _make_snapshotter(self) -> Snapshotter:
        from config_reloader.watch.snapshot import Snapshotter

        # When rendering, the rendered bytes stand for the config file (same read, consistent).
        extra = (self.options.config_file,) if self.options.config_file and not self._renders else ()
        return Snapshotter(self.options.watched_dirs, extra_files=extra, path_filter=self._path_filter)

    def _make_source(self) -> Any:
        o = self.options
        factory = self._source_factory
        if factory is None:
            from config_reloader.watch.watcher import ChangeSource

            factory = ChangeSource
        files = [o.config_file] if o.config_file else []
        return factory(
            files,
            list(o.watched_dirs),
            delay=o.delay_interval,
            poll_interval=o.poll_interval,
            force_polling=o.force_polling,
            on_event=self._on_watch_event,
            path_filter=self._path_filter,
            own_paths=[o.config_envsubst_file] if o.config_envsubst_file else [],
        )

    def _on_watch_event(self, kind: str) -> None:
        m = self.metrics
        if kind == "event":
            m.watch_events.inc()
        elif kind == "overflow":
            m.watch_errors.inc()
            m.watch_overflows.inc()
        else:
            m.watch_errors.inc()

    # -- apply: snapshot, render, validate, write --------------------------------------------------
    def _apply_sync(self, hinted: Sequence[str] | None) -> tuple[bytes, Rendered | None, Snapshot]:
        """Blocking part of an apply (runs in a worker thread). Returns (desired, rendered, snapshot).

        The output is rendered and validated but not written: the caller first asks the change
        source whether a write raced the read, then calls :meth:`_write_output_sync`.

        Raises:
            RenderError: missing/unreadable config file, gzip, strict env, validation failure.
            AtomicWriteError: the output could not be written.
            OSError: unexpected filesystem errors.
        """
        from config_reloader.render import render_file

        o = self.options
        if self._snapshotter is None:
            self._snapshotter = self._make_snapshotter()
        rendered: Rendered | None = None
        if o.config_file is not None:
            if not os.path.isfile(o.config_file):
                raise RenderError(_not_a_file(o.config_file), path=o.config_file)
            if self._renders:
                rendered = render_file(
                    o.config_file,
                    o.config_envsubst_file,
                    env=self._env,
                    strict_env=o.strict_env,
                    validate_command=o.validate_command,
                    write=False,
                )
        snap = self._snapshotter.snapshot(hinted)
        h = hashlib.sha256(b"cr1\xff")
        derived = self._derived_paths() if rendered is not None else frozenset()
        if derived:
            for path in sorted(snap.files):
                if path not in derived:
                    h.update(path.encode("utf-8", "surrogateescape") + b"\xff" + snap.files[path] + b"\xff")
        else:
            h.update(snap.digest)
        h.update(b"\xff")
        if rendered is not None:
            h.update(hashlib.sha256(rendered.data).digest())
        return h.digest(), rendered, snap

    def _write_output_sync(self, rendered: Rendered) -> None:
        """Write the rendered output (only if its bytes changed); blocking.

        Raises:
            AtomicWriteError: the output could not be written (the previous one is untouched).
        """
        from config_reloader.render import write_output

        o = self.options
        if o.config_envsubst_file is None:
            return
        new_mode: int | None = None
        if o.config_file is not None:
            with contextlib.suppress(OSError):
                new_mode = os.stat(o.config_file).st_mode & 0o7777
        write_output(o.config_envsubst_file, rendered, new_mode=new_mode)

    def _raced(self, source: Any, outcome: bytes | str, mark: int | None = None) -> bool:
        """True if more hints arrived while the apply read the files (``ChangeSource.drain()``),
        or if a file may have been written in place since ``mark`` (``ChangeSource.mark()``,
        taken before the read; ``ChangeSource.writes_since``): the snapshot/render may show a
        half-written file, so it is neither written nor reloaded; the next batch applies again.

        ``outcome`` is the pass's desired digest (or its error text). Two raced passes in a row
        with the same outcome are accepted (the content was read twice identically around changes
        that cannot expose a partial file: touch/chmod storms, renames), but never when either
        read may have met an in-place write: an in-place writer recreates the same transient state
        (an empty file after ``open(O_TRUNC)``) in every cycle, so two such reads can agree on it.
        """
        raced = self._changes_pending(source)
        torn = self._torn(source, mark)
        previous, self._raced_outcome = self._raced_outcome, (outcome if raced and not torn else None)
        # Never while a writer holds a file open (sources without writes_since() too).
        writing = bool(getattr(source, "open_files", ()))
        self._repeat_accepted = (
            raced and not torn and not writing and previous is not None and previous == outcome
        )
        if self._repeat_accepted:
            self._raced_outcome = None
            return False
        return raced or torn

    def _changes_pending(self, source: Any) -> bool:
        """True if hints arrived that no pass has looked at yet. ``drain()`` processes the
        kernel's queued events now; a batch the pump already handed over (the owner has not
        taken it yet) means the same."""
        drain = getattr(source, "drain", None)
        return (drain is not None and bool(drain())) or self._pending.rescan or bool(self._pending.paths)

    @staticmethod
    def _torn(source: Any, mark: int | None) -> bool:
        """True if ``source`` saw a possible in-place write since ``mark`` (or one is open now)."""
        writes_since = getattr(source, "writes_since", None)
        return mark is not None and writes_since is not None and bool(writes_since(mark))

    def _emptied(
        self, rendered: Rendered | None, snap: Snapshot, source: Any, hinted: Sequence[str] | None
    ) -> dict[str, FileIdentity | None]:
        """Inputs read empty that were not empty in the last accepted pass and that no writer was
        seen finishing in that state: path -> identity read. Such a read may be the moment after
        an ``open(O_TRUNC)`` whose ``IN_MODIFY`` is not queued yet; it is held back until the
        writer's close (the next batch), or ``max_open_wait`` of no change.

        The config file counts when emptied in place (same ``st_dev``/``st_ino`` as the last
        accepted read; a renamed-in empty file is finished by its ``IN_MOVED_TO``), or when a
        writer has it open. A file some process still has open for writing (read lease refused)
        is held even when its identity matches: the source may have stat'ed it after the next
        writer's truncate.
        """
        finished = getattr(source, "finished_identity", None)
        accepted = self._accepted_files
        if finished is None or accepted is None:
            return {}
        from config_reloader.watch.lease import probe_writers
        from config_reloader.watch.watcher import file_identity

        def unfinished(path: str, ident: FileIdentity) -> bool:
            return ident != finished(path) or probe_writers(path, ident) is False

        held: dict[str, FileIdentity | None] = {}
        cfg = self.options.config_file
        if rendered is not None and cfg is not None and rendered.source_digest == EMPTY_SHA256:
            ident = rendered.source_identity
            prev = self._accepted_input
            in_place = (
                ident is not None and prev is not None and prev[1] is not None and ident[:2] == prev[1][:2]
            )
            was_empty = prev is None or prev[0] == EMPTY_SHA256
            # A renamed-in file emptied in place before any read of it was accepted is not "in
            # place" by inode; the lease still sees its writer.
            if (
                not was_empty
                and ident is not None
                and ((in_place and ident != finished(cfg)) or probe_writers(cfg, ident) is False)
            ):
                held[cfg] = ident
        # Only hinted files can have changed since the last pass (a rescan looks at all of them).
        files = snap.files
        candidates = files.keys() if hinted is None else [p for p in hinted if p in files]
        for path in candidates:
            if files[path] != EMPTY_SHA256 or accepted.get(path, EMPTY_SHA256) == EMPTY_SHA256:
                continue
            try:
                ident = file_identity(os.stat(path))
            except OSError:
                ident = None
            if ident is None or unfinished(path, ident):
                held[path] = ident
        return held

    def _prove(
        self, rendered: Rendered | None, snap: Snapshot, source: Any, hinted: Sequence[str] | None
    ) -> tuple[bool, dict[str, FileIdentity | None]]:
        """Is the new content of this pass proven to be what finished writers left?

        Returns ``(settled, writing)``. ``writing``: changed inputs that a read lease shows some
        process has open for writing right now (path -> identity read): the read may be a write in
        progress, so the pass is held until that writer closes (bounded by ``max_open_wait``, like
        an emptied file). ``settled``: every changed input was read as a writer seen finishing
        left it and nobody has it open; the ``RACE_RECHECK`` wait is then skipped (an atomic
        rename reaches the reload request about 5 ms sooner). Otherwise the caller waits.

        Proof, per changed file: (1) the identity read (``fstat`` after the read) equals the one
        the change source recorded on the writer's ``IN_MOVED_TO`` or ``IN_CLOSE_WRITE``
        (``ChangeSource.finished_identity``), or the file is a kubelet projection
        (``name -> ..data/name``: the kubelet writes the ``..<timestamp>`` directory completely
        before the swap); and (2) :func:`~config_reloader.watch.lease.probe_writers` can take and
        drop a read lease on it with that identity. (1) alone is not enough: the source stats
        the file when it *processes* the event, which may be after the next writer's
        ``open(O_TRUNC)`` and before that truncate's ``IN_MODIFY`` is queued (found by the long
        property run). Without leases (not the file's owner and no ``CAP_LEASE``, or a
        filesystem without them), for a rescan, a file still being written, a hinted path of
        unknown kind, or past ``SETTLE_PROBES`` changed files, nothing is proven. Deleted files
        cannot be torn.
        """
        writing: dict[str, FileIdentity | None] = {}
        finished = getattr(source, "finished_identity", None)
        accepted = self._accepted_files
        identity = getattr(snap.files, "identity", None)
        if finished is None or identity is None or accepted is None or hinted is None:
            return False, writing
        if getattr(source, "open_files", ()):
            return False, writing
        from config_reloader.watch.lease import probe_writers

        probes = 0
        settled = True

        def check(path: str, ident: FileIdentity | None, *, projection: bool = False) -> None:
            nonlocal probes, settled
            probes += 1  # ~15 us each: past a few hundred, the 5 ms wait is the cheaper proof
            if ident is None or probes > SETTLE_PROBES:
                settled = False
                return
            unwritten = probe_writers(path, ident)
            if unwritten is False:
                writing[path] = ident
            if not unwritten or not (projection or ident == finished(path)):
                settled = False

        cfg = self.options.config_file
        if rendered is not None and cfg is not None:
            prev = self._accepted_input
            if prev is None:
                return False, writing
            if rendered.source_digest != prev[0]:
                check(cfg, rendered.source_identity)
        files = snap.files
        under = getattr(files, "under", None)

        def check_file(path: str, digest: bytes) -> None:
            if digest != accepted.get(path):
                check(path, identity(path), projection=_kubelet_projection(path))

        for path in hinted:
            digest = files.get(path)
            if digest is not None:
                check_file(path, digest)
            elif path == cfg or not os.path.lexists(path):
                continue  # the config file is checked above; a delete is atomic
            elif under is None or not os.path.isdir(path) or os.path.islink(path):
                settled = False  # e.g. kubelet internals (collapsed to their dir: hinted too)
            else:
                for p, d in under(path):
                    check_file(p, d)
        return settled and not writing, writing

    def _hold(self, held: dict[str, FileIdentity | None], source: Any) -> bool:
        """Record the emptied files of this pass; True = hold the pass back. A file held with the
        same identity for ``max_open_wait`` seconds is released (truncate(1): no close follows)."""
        now = self._clock.monotonic()
        bound = _max_open_wait(source)
        previous, self._held = self._held, {}
        for path, ident in held.items():
            before = previous.get(path)
            since = before[1] if before is not None and before[0] == ident else now
            if since + bound > now:
                self._held[path] = (ident, since)
        return bool(self._held)

    @property
    def _hold_deadline(self) -> float | None:
        if not self._held:
            return None
        return min(since for _, since in self._held.values())

    def _requeue(self, hinted: Sequence[str] | None) -> None:
        """Carry the paths of a pass that did not apply (raced, or failed) into the next pass.

        The batch that follows names only what changed *since*: after a failed pass (e.g. the
        config file was missing for a moment while a rule file was created), a pass hinted with the
        config file alone would never look at that rule file again until the next resync, a
        missed change (found by tests/property). No wake-up here: the next batch, hold deadline or
        resync runs the next pass, so a persistent failure does not spin.
        """
        if hinted is None:
            self._pending.rescan = True
        else:
            self._pending.paths.update(hinted)

    async def _apply(self, hinted: Sequence[str] | None, *, reason: str, source: Any = None) -> bool:
        """One apply pass; updates ``desired``. Returns False (logged once, counted) on failure.

        If ``source`` reports (``drain()``) that more changes arrived while the files were read,
        the result is discarded (nothing written, logged or reloaded): the next batch applies again.
        """
        m = self.metrics
        m.config_apply_operations.inc()
        mark_fn = getattr(source, "mark", None)
        mark: int | None = mark_fn() if mark_fn is not None else None
        read_gen: int | None = getattr(source, "change_gen", None)
        try:
            desired, rendered, snap = await asyncio.to_thread(self._apply_sync, hinted)
            raced = self._raced(source, desired, mark)
            held: dict[str, FileIdentity | None] = {}
            if not raced and desired != self.desired and source is not None:
                settled, held = self._prove(rendered, snap, source, hinted)
                if not settled and not held:
                    # The kernel queues a write's event just *after* the write is visible (a
                    # truncate, then IN_MODIFY): a read inside that gap sees no event yet. Before
                    # acting on content nothing vouches for (also content read twice: both reads
                    # may sit in such gaps), give such an event a moment to arrive.
                    repeat = self._repeat_accepted
                    await asyncio.sleep(RACE_RECHECK)
                    raced = self._torn(source, mark) if repeat else self._raced(source, desired, mark)
            if not raced and source is not None:
                held.update(self._emptied(rendered, snap, source, hinted))
                raced = self._hold(held, source)
                if raced:
                    log.debug(
                        "input open for writing or emptied in place; waiting for its writer's close",
                        extra={"cfg_path": ",".join(sorted(self._held)), "reason": reason},
                    )
            if raced:
                log.debug("changes arrived while applying; applying again", extra={"reason": reason})
                self._requeue(hinted)
                return True
            self._held = {}
            self._accepted_files = snap.files
            if rendered is not None:
                self._accepted_input = (rendered.source_digest, rendered.source_identity)
            if rendered is not None:
                await asyncio.to_thread(self._write_output_sync, rendered)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # expected: ConfigReloaderError, OSError; anything else is a bug
            raced = self._raced(source, str(exc), mark)
            self._requeue(hinted)  # after _raced(): pending paths there mean "changed meanwhile"
            if raced:
                log.debug("apply failed while files changed; applying again", extra={"err": str(exc)})
                return False
            m.config_apply_operations_failed.inc()
            if isinstance(exc, EnvExpansionError):
                m.config_environment_variable_expansion_errors.set(len(exc.names))
            if isinstance(exc, ValidationFailed):
                m.config_validation_failures.inc()
            msg = str(exc)
            if msg != self._apply_error:
                self._apply_error = msg
                fields: dict[str, object] = {
                    "err": msg,
                    "reason": reason,
                    "cfg_in": self.options.config_file,
                }
                if isinstance(exc, ValidationFailed) and exc.output.strip():
                    # What the validator said is the only way for the user to learn why.
                    fields["validate_output"] = exc.output.strip()[-2000:]
                log.error(
                    "apply failed: previous output kept, no reload",
                    extra=fields,
                    exc_info=not isinstance(exc, ConfigReloaderError | OSError),
                )
            self._adopt_next = False
            return False
        if self._apply_error is not None:
            self._apply_error = None
            log.info("apply succeeded again", extra={"reason": reason})
        self.last_snapshot = snap
        if rendered is not None:
            self.last_rendered = rendered
            m.config_environment_variable_expansion_errors.set(len(rendered.unset_vars))
            if rendered.unset_vars and log.isEnabledFor(logging.WARNING):
                log.warning(
                    "unset environment variables left verbatim",
                    extra={"vars": ",".join(rendered.unset_vars), "cfg_in": self.options.config_file},
                )
        if desired != self.desired:
            self.desired = desired
            self._desired_at = self._clock.monotonic()
            if self._adopt_next:
                # ``run(initial_reload=False)``: the target was started with this content.
                self._adopt_next = False
                self.applied = desired
                self._mark_ready()
            if log.isEnabledFor(logging.DEBUG):
                log.debug("content changed", extra={"digest": desired.hex()[:16], "reason": reason})
            await self._notify()
        self._desired_gen = read_gen
        if self._stale:
            self._stale = False
            if desired == self.applied and not self._force:
                log.info(
                    "content changed while the last reload was in flight: reloading again",
                    extra={"reason": reason},
                )
                self._force = True
                m.reloads_repeated.inc()
                await self._notify()
        self._adopt_next = False
        return True

    async def render_once(self) -> Snapshot:
        """Render the output once, no reload (init container mode, or ``run`` before the child).

        Returns:
            The snapshot of the config file and watched dirs.

        Raises:
            RenderError / AtomicWriteError / OSError: the output could not be rendered (nothing
                half-written is left behind).
        """
        desired, rendered, snap = await asyncio.to_thread(self._apply_sync, None)
        if rendered is not None:
            await asyncio.to_thread(self._write_output_sync, rendered)
        self.desired = desired
        self.last_snapshot = snap
        if rendered is not None:
            self.last_rendered = rendered
            self.metrics.config_environment_variable_expansion_errors.set(len(rendered.unset_vars))
        if not self.options.reloads_enabled:
            self.ready = True
        return snap

    # -- the loop ----------------------------------------------------------------------------------
    async def run(self, *, initial_reload: bool = True) -> None:
        """Watch and reload until cancelled.

        Args:
            initial_reload: reload once at start even though the target may already run this
                content (Thanos does, and it recovers a target that started with stale content).
                ``run`` passes False: its child was just started with the rendered content.

        With ``watch_interval == 0`` this renders once and returns (no reload, no watching).
        Cancellation (SIGTERM/SIGINT in the CLI) closes the watcher, the HTTP session and the
        status server.
        """
        o = self.options
        if not o.reloads_enabled:
            await self.render_once()
            return
        self._wake = asyncio.Event()
        if self._action is None or self._built_action:
            self._action = self._build_action()
            self._built_action = True
        try:
            if o.listen_address:
                from config_reloader.metrics import StatusServer

                web_config = None
                if o.web_config_file:
                    from config_reloader.webconfig import load_web_config

                    web_config = await asyncio.to_thread(load_web_config, o.web_config_file)
                self._server = StatusServer(
                    o.listen_address, self.registry, ready=lambda: self.ready, web_config=web_config
                )
                await self._server.start()
            if o.config_file is None and not o.watched_dirs:
                log.warning("nothing to be watched: no config file and no watched directory")
                await asyncio.Event().wait()
            async with self._make_source() as source:
                self._source = source
                self.metrics.set_watch_mode(getattr(source, "mode", "inotify"))
                self.metrics.watches.set(int(getattr(source, "watches", 0)))
                log.info(
                    "started watching config file and directories for changes",
                    extra={
                        "cfg_in": o.config_file or "",
                        "cfg_out": o.config_envsubst_file or "",
                        "watched_dirs": ",".join(o.watched_dirs),
                        "mode": str(getattr(source, "mode", "")),
                        "method": self.metrics_method,
                    },
                )
                try:
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self._pump(source), name="reloader-pump")
                        tg.create_task(self._reload_worker(), name="reloader-worker")
                        await self._own(source, initial_reload=initial_reload)
                except BaseExceptionGroup as group:
                    # One of our tasks died (e.g. the watcher): raise that error, not a group.
                    if len(group.exceptions) == 1:
                        raise group.exceptions[0] from None
                    raise
        finally:
            await self.aclose()

    @property
    def metrics_method(self) -> str:
        action = self._action
        return action.method if action is not None else self.options.reload_method

    async def _pump(self, source: AsyncIterator[ChangeBatch]) -> None:
        assert self._wake is not None
        async for batch in source:
            if batch.rescan:
                self._pending.rescan = True
            self._pending.paths.update(batch.paths)
            self._pending.reasons.add(batch.reason)
            self._wake.set()

    async def _own(self, source: Any, *, initial_reload: bool) -> None:
        """The owner task: apply on hints and every ``watch_interval``."""
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        self._adopt_next = not initial_reload and self.applied is None
        if self._adopt_next and self.desired is not None:
            # render_once() already produced the content the target was started with.
            self._adopt_next = False
            self.applied = self.desired
            self._mark_ready()
        # A discarded (raced) initial pass keeps _adopt_next: the first pass that counts adopts.
        await self._apply(None, reason="initial", source=source)
        next_resync = loop.time() + self.options.watch_interval
        while True:
            deadline = next_resync
            hold = self._hold_deadline
            if hold is not None:
                # An emptied file held back (see _emptied): look again when its bound runs out.
                bound = _max_open_wait(source)
                deadline = min(deadline, loop.time() + max(0.0, hold + bound - self._clock.monotonic()))
            timeout = max(0.0, deadline - loop.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            self._wake.clear()
            # The source may have fallen back to polling (inotify limits) or re-armed watches.
            self.metrics.watches.set(int(getattr(source, "watches", 0)))
            self.metrics.set_watch_mode(getattr(source, "mode", "inotify"))
            pending, self._pending = self._pending, _Pending()
            hold = self._hold_deadline
            if hold is not None and self._clock.monotonic() >= hold + _max_open_wait(source):
                pending.paths.update(self._held)
                pending.reasons.add("held")
            if loop.time() >= next_resync:
                pending.rescan = True
                pending.reasons.add("resync")
            if not pending.rescan and not pending.paths:
                continue
            if pending.rescan:
                next_resync = loop.time() + self.options.watch_interval
            hinted = None if pending.rescan else sorted(pending.paths)
            await self._apply(hinted, reason=",".join(sorted(pending.reasons)) or "hint", source=source)

    def _reloaded_while_changing(self, sent_gen: int | None) -> None:
        """After a successful reload: if content changed after its target was read, the service
        may have read a state in between (it reads the files when it reloads, not our snapshot);
        if the files then went back to the target's content, no digest would differ and the
        service would keep that state (found by tests/property: kubelet updates {b} -> {a} while
        the reload for {a} was in flight). The next accepted pass reloads even with unchanged
        content (``_force``), once: the pass the pending hints of those changes bring, or, if
        they were all applied while the reload was in flight, a rescan asked for here."""
        source = self._source
        # A reload whose target was read after the earlier changes settles them: clear the flag
        # (else a later pass with the same content would reload once more for nothing).
        self._stale = (
            sent_gen is not None
            and source is not None
            and getattr(source, "change_gen", sent_gen) != sent_gen
        )
        if not self._stale:
            return
        if not self._changes_pending(source):
            self._pending.rescan = True
            self._pending.reasons.add("changed-during-reload")
            if self._wake is not None:
                self._wake.set()

    def _mark_ready(self) -> None:
        if not self.ready:
            self.ready = True
            log.info("ready: first apply succeeded")

    def _needs_reload(self) -> bool:
        return self.desired is not None and (self._force or self.desired != self.applied)

    async def _reload_worker(self) -> None:
        cond = self._cond()
        while True:
            async with cond:
                await cond.wait_for(self._needs_reload)
            delays = self._retry.delays(self._rng)
            attempt = 0
            first_error: str | None = None
            while self._needs_reload():
                target = self.desired
                assert target is not None
                attempt += 1
                sent_gen = self._desired_gen
                err = await self._attempt(attempt)
                if err is None:
                    self._force = False
                    self.applied = target
                    self._reloaded_while_changing(sent_gen)
                    if self._desired_at is not None:
                        self.last_reload_latency = self._clock.monotonic() - self._desired_at
                    self._mark_ready()
                    if first_error is not None:
                        log.info(
                            "reload succeeded after retries",
                            extra={"attempts": attempt, "method": self.metrics_method},
                        )
                    else:
                        log.info(
                            "reload triggered",
                            extra={
                                "cfg_in": self.options.config_file or "",
                                "cfg_out": self.options.config_envsubst_file or "",
                                "watched_dirs": ",".join(self.options.watched_dirs),
                                "method": self.metrics_method,
                            },
                        )
                    await self._notify()
                    break
                self._force = True
                if first_error is None or err != first_error:
                    if first_error is None:
                        log.error(
                            "reload failed, retrying",
                            extra={"err": err, "attempt": attempt, "method": self.metrics_method},
                        )
                    else:
                        log.warning(
                            "reload still failing, error changed", extra={"err": err, "attempt": attempt}
                        )
                    first_error = err
                await self._notify()
                delay = next(delays)
                log.debug("reload retry scheduled", extra={"delay_s": round(delay, 3), "attempt": attempt})

                # A newer desired digest cuts the wait short (supersede); so does shutdown.
                def superseded(t: bytes = target) -> bool:
                    return self.desired != t

                async with cond:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await cond.wait_for(superseded)

    async def _attempt(self, attempt: int) -> str | None:
        """One reload attempt under ``reload_timeout``. Returns None on success, else the error text."""
        action = self._action
        assert action is not None
        m = self.metrics
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            async with asyncio.timeout(self.options.reload_timeout):
                await action.trigger()
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            err = (
                f"reload attempt timed out after {self.options.reload_timeout:g}s "
                "(the target may be slow to reload; backing off)"
            )
        except ReloadTimeout as exc:
            err = f"{exc} (backing off)"
        except ReloadRejected as exc:
            err = str(exc)
        except ReloadError as exc:
            err = str(exc)
        except Exception as exc:  # a bug in an action must not kill the loop
            log.exception("reload action raised an unexpected error")
            err = f"{type(exc).__name__}: {exc}"
        else:
            m.reload_succeeded(loop.time() - start)
            return None
        m.reload_failed(loop.time() - start)
        return redact_text(err)

    # -- waiting (tests, library users) -----------------------------------------------------------
    async def wait_applied(self, digest: bytes | None = None, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 (interface)
        """Wait until ``digest`` (default: the current desired digest at each check) is applied.

        Args:
            digest: the digest to wait for; ``None`` = whatever is desired when the loop is idle
                (``applied == desired`` and no forced reload pending).
            timeout: seconds; ``None`` = no bound.

        Returns:
            The applied digest.

        Raises:
            TimeoutError: not applied within ``timeout``.
        """
        cond = self._cond()

        def done() -> bool:
            if digest is not None:
                return self.applied == digest and not self._force
            return self.applied is not None and self.applied == self.desired and not self._force

        async with asyncio.timeout(timeout):
            async with cond:
                await cond.wait_for(done)
        assert self.applied is not None
        return self.applied
