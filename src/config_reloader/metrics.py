"""Metrics and the status server (``--listen-address``: ``/metrics``, ``/healthz``, ``/ready``).

Metric names, types and meaning follow Thanos ``pkg/reloader`` exactly (rule R9 in
docs/design.md) so that existing dashboards and the kube-prometheus alert
``ConfigReloaderSidecarErrors`` (``max_over_time(reloader_last_reload_successful[5m]) == 0``) keep
working; our additions use the same ``reloader_`` prefix. ``registry=None`` means a fresh
private :class:`~config_reloader.promtext.Registry`; there is no process-wide registry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from config_reloader.listen import parse_listen_address
from config_reloader.promtext import CONTENT_TYPE, Counter, Gauge, Histogram, Registry, exposition

if TYPE_CHECKING:
    from config_reloader.httpserve import HttpServer, Request, Response
    from config_reloader.webconfig import WebConfig
    from config_reloader.webguard import WebGuard

__all__ = [
    "ReloaderMetrics",
    "StatusServer",
    "SupervisorMetrics",
    "parse_listen_address",
    "register_build_info",
]

log = logging.getLogger(__name__)

WATCH_MODES = ("inotify", "poll")
HEALTHZ_BODY = b'{"status":"up"}\n'
"""Body of ``/healthz``: prometheus-config-reloader's (Go's json.Encoder ends it with a newline)."""

# Reloads range from milliseconds (small config, HTTP) to tens of seconds (prometheus-operator#5346: 34 s).
RELOAD_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class ReloaderMetrics:
    """Every metric of the reloader, registered on one registry.

    Thanos names (counters are exposed with the ``_total`` suffix, the counter class adds it):

    - ``reloader_reloads_total`` (counter): reload attempts, each retry counts.
    - ``reloader_reloads_failed_total`` (counter): failed reload attempts.
    - ``reloader_last_reload_successful`` (gauge): 1 if the last attempt succeeded, else 0 (0 before
      the first attempt).
    - ``reloader_last_reload_success_timestamp_seconds`` (gauge): Unix time of the last success.
    - ``reloader_config_apply_operations_total`` / ``..._failed_total`` (counters): apply passes.
    - ``reloader_config_environment_variable_expansion_errors`` (gauge): unset ``$(VAR)`` references
      in the last expansion.
    - ``reloader_watches`` (gauge), ``reloader_watch_events_total``, ``reloader_watch_errors_total``
      (counters).
    - ``reloader_info{method}`` (gauge, constant 1).

    Ours: ``reloader_watch_mode{mode="inotify"|"poll"}`` (1 for the active mode),
    ``reloader_watch_overflows_total``, ``reloader_config_validation_failures_total``,
    ``reloader_reload_duration_seconds`` (histogram, per attempt), ``reloader_pending_reload``
    (1 while the desired content is not applied), ``reloader_config_empty`` (1 while the last
    rendered output is empty: nothing but whitespace and ``#`` comments). With several reload
    targets, per target (``target`` = the URL with credentials and query values masked):
    ``reloader_target_reloads_total{target}``, ``reloader_target_reloads_failed_total{target}``,
    ``reloader_target_last_reload_successful{target}``; the Thanos metrics stay the aggregate.

    Args:
        registry: where to register; ``None`` = a fresh private ``Registry`` (``.registry``).
        method: reload method for ``reloader_info{method}`` (``"http"``, ``"signal"``, ...).
        clock: Unix time in seconds, for the success timestamp (injectable in tests).

    Raises:
        ValueError: the names are already registered on ``registry``.
    """

    def __init__(
        self, registry: Registry | None, *, method: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.registry = registry if registry is not None else Registry()
        self.clock = clock
        reg = self.registry
        # --- Thanos names --------------------------------------------------------------------
        self.reloads = Counter("reloader_reloads", "Reload attempts (each retry counts).", registry=reg)
        self.reloads_failed = Counter("reloader_reloads_failed", "Reload attempts that failed.", registry=reg)
        self.last_reload_successful = Gauge(
            "reloader_last_reload_successful",
            "1 if the last reload attempt succeeded, 0 otherwise (also 0 before the first attempt).",
            registry=reg,
        )
        self.last_reload_success_timestamp_seconds = Gauge(
            "reloader_last_reload_success_timestamp_seconds",
            "Unix time of the last successful reload.",
            registry=reg,
        )
        self.config_apply_operations = Counter(
            "reloader_config_apply_operations",
            "Passes that re-read and rendered the watched configuration.",
            registry=reg,
        )
        self.config_apply_operations_failed = Counter(
            "reloader_config_apply_operations_failed",
            "Passes that failed to read or render the watched configuration.",
            registry=reg,
        )
        self.config_environment_variable_expansion_errors = Gauge(
            "reloader_config_environment_variable_expansion_errors",
            "References to unset environment variables found by the last $(VAR) expansion.",
            registry=reg,
        )
        self.watches = Gauge("reloader_watches", "Paths currently watched.", registry=reg)
        self.watch_events = Counter(
            "reloader_watch_events", "Raw file-system events received (before filtering).", registry=reg
        )
        self.watch_errors = Counter(
            "reloader_watch_errors", "Errors reported by the file-system watcher.", registry=reg
        )
        self.info = Gauge("reloader_info", "Reloader configuration; constant 1.", ["method"], registry=reg)
        self.info.labels(method=method).set(1)
        # --- ours ------------------------------------------------------------------------------
        self.watch_mode = Gauge(
            "reloader_watch_mode", "1 for the active watch mode (inotify or poll).", ["mode"], registry=reg
        )
        for mode in WATCH_MODES:
            self.watch_mode.labels(mode=mode).set(0)
        self.watch_overflows = Counter(
            "reloader_watch_overflows",
            "inotify queue overflows (IN_Q_OVERFLOW), each followed by a full rescan.",
            registry=reg,
        )
        self.reloads_repeated = Counter(
            "reloader_reloads_repeated",
            "Reloads sent again with unchanged content because the files changed while the "
            "previous reload was in flight (the target may have read a state in between).",
            registry=reg,
        )
        self.config_validation_failures = Counter(
            "reloader_config_validation_failures",
            "Rendered configurations rejected by --validate-command.",
            registry=reg,
        )
        self.reload_duration_seconds = Histogram(
            "reloader_reload_duration_seconds",
            "Duration of one reload attempt in seconds, successful or not.",
            buckets=RELOAD_DURATION_BUCKETS,
            registry=reg,
        )
        self.config_empty = Gauge(
            "reloader_config_empty",
            "1 if the last rendered configuration was empty (only whitespace and # comments), else 0.",
            registry=reg,
        )
        self.pending_reload = Gauge(
            "reloader_pending_reload",
            "1 while the desired configuration differs from the last successfully reloaded one.",
            registry=reg,
        )
        self.target_reloads = Counter(
            "reloader_target_reloads",
            "Reload attempts per target (several --reload-url).",
            ["target"],
            registry=reg,
        )
        self.target_reloads_failed = Counter(
            "reloader_target_reloads_failed",
            "Failed reload attempts per target (several --reload-url).",
            ["target"],
            registry=reg,
        )
        self.target_last_reload_successful = Gauge(
            "reloader_target_last_reload_successful",
            "1 if the last reload attempt of this target succeeded, 0 otherwise (several --reload-url).",
            ["target"],
            registry=reg,
        )

    def set_watch_mode(self, mode: str) -> None:
        """Mark ``mode`` (``"inotify"`` or ``"poll"``) active (1) and the other inactive (0).

        Raises:
            ValueError: another mode name.
        """
        if mode not in WATCH_MODES:
            raise ValueError(f"unknown watch mode {mode!r}; expected one of {WATCH_MODES}")
        for m in WATCH_MODES:
            self.watch_mode.labels(mode=m).set(1 if m == mode else 0)

    def reload_succeeded(self, duration: float) -> None:
        """Record one successful attempt that took ``duration`` seconds."""
        self.reloads.inc()
        self.reload_duration_seconds.observe(duration)
        self.last_reload_successful.set(1)
        self.last_reload_success_timestamp_seconds.set(self.clock())

    def target_result(self, target: str, ok: bool) -> None:
        """Record one attempt of one of several targets (``target`` is already redacted)."""
        self.target_reloads.labels(target=target).inc()
        if not ok:
            self.target_reloads_failed.labels(target=target).inc()
        self.target_last_reload_successful.labels(target=target).set(1 if ok else 0)

    def reload_failed(self, duration: float) -> None:
        """Record one failed attempt that took ``duration`` seconds (a cancelled attempt is neither)."""
        self.reloads.inc()
        self.reloads_failed.inc()
        self.reload_duration_seconds.observe(duration)
        self.last_reload_successful.set(0)


BUILD_INFO_NAME = "prometheus_config_reloader_build_info"
"""The name prometheus-config-reloader registers its build metric under (= buildinfo's)."""


class _BuildInfo:
    """``prometheus_config_reloader_build_info``: its labels are read at the first scrape, not at
    start (files of the dist-info directory and of ``.git``: :mod:`config_reloader.buildinfo`),
    so the sidecar's first reload does not wait for them at the 10m CPU limit of
    prometheus-operator's reloader slot."""

    name = BUILD_INFO_NAME
    type = "gauge"
    documentation = (
        "A metric with a constant '1' value labeled by version, revision and branch from which "
        "config-reloader was built, and the Python version, OS and machine it runs on."
    )

    def __init__(self) -> None:
        self._labels: dict[str, str] | None = None

    def samples(self) -> tuple[tuple[str, dict[str, str], float], ...]:
        if self._labels is None:
            from config_reloader.buildinfo import build_info

            self._labels = build_info()
        return ((self.name, self._labels, 1.0),)


def register_build_info(registry: Registry) -> None:
    """Register ``prometheus_config_reloader_build_info`` (gauge, constant 1, the labels of
    :func:`config_reloader.buildinfo.build_info`) on ``registry``, as prometheus-config-reloader
    does on its own.

    Raises:
        ValueError: already registered on ``registry``.
    """
    registry.register(_BuildInfo())


class SupervisorMetrics:
    """Metrics of ``run`` (the supervisor), same ``reloader_`` prefix.

    - ``reloader_child_running`` (gauge): 1 while the child process runs.
    - ``reloader_child_restarts_total`` (counter): restarts of the child.
    - ``reloader_child_last_exit_status`` (gauge): last exit status (negative = killed by signal N).
    - ``reloader_pin_cpus{cpulist}`` (gauge): 1 for the CPU list the child is pinned to
      (e.g. ``"0-3,8"``); no sample when not pinned.

    Args:
        registry: where to register; ``None`` = a fresh private registry.
    """

    def __init__(self, registry: Registry | None) -> None:
        self.registry = registry if registry is not None else Registry()
        reg = self.registry
        self.child_running = Gauge(
            "reloader_child_running", "1 while the supervised child runs.", registry=reg
        )
        self.child_restarts = Counter(
            "reloader_child_restarts", "Restarts of the supervised child.", registry=reg
        )
        self.child_last_exit_status = Gauge(
            "reloader_child_last_exit_status",
            "Exit status of the last child process (negative: killed by that signal).",
            registry=reg,
        )
        self.pin_cpus = Gauge(
            "reloader_pin_cpus", "1 for the CPU list the child is pinned to.", ["cpulist"], registry=reg
        )

    def set_pin_cpus(self, cpulist: str | None) -> None:
        """Expose ``cpulist`` (kernel list format) as the only ``reloader_pin_cpus`` sample; None clears."""
        self.pin_cpus.clear()
        if cpulist is not None:
            self.pin_cpus.labels(cpulist=cpulist).set(1)

    def child_exited(self, status: int) -> None:
        """Record an exit: running 0 and the exit status."""
        self.child_running.set(0)
        self.child_last_exit_status.set(status)


class StatusServer:
    """HTTP server for ``/metrics``, ``/healthz`` and ``/ready``
    (:class:`~config_reloader.httpserve.HttpServer`).

    - ``/metrics``: the registry in Prometheus text format 0.0.4 (what prometheus-config-reloader
      serves; Prometheus asks for OpenMetrics first and accepts this).
    - ``/healthz``: 200 ``{"status":"up"}`` (JSON) while the process serves: liveness only, body
      and content type as prometheus-config-reloader's.
    - ``/ready``: 200 ``ready`` once ``ready()`` is true, else 503 with the reason.

    Args:
        listen_address: ``HOST:PORT`` (``":8080"`` = all interfaces; port 0 = any free port).
        registry: the registry served on ``/metrics``.
        ready: readiness predicate (e.g. "the first reload succeeded").
        not_ready_reason: text of the 503 answer (default ``"not ready"``).
        web_config: ``--web-config-file`` settings (TLS, basic auth, headers, rate limit;
            :mod:`config_reloader.webguard`); ``None`` = plain HTTP, no auth.
        listener: file descriptor of a socket already listening on ``listen_address``
            (:func:`config_reloader.listener.bind_listener`); :meth:`start` serves on it instead of
            binding, and owns it from then on.

    Raises:
        ValueError: bad ``listen_address``.
        OSError: from :meth:`start` when the address cannot be bound (e.g. EADDRINUSE).
    """

    def __init__(
        self,
        listen_address: str,
        registry: Registry,
        *,
        ready: Callable[[], bool],
        not_ready_reason: Callable[[], str] | None = None,
        web_config: WebConfig | None = None,
        listener: int | None = None,
    ) -> None:
        self.host, self._requested_port = parse_listen_address(listen_address)
        self._listener = listener
        self.web_config = web_config
        self.registry = registry
        self.ready = ready
        self.not_ready_reason = not_ready_reason
        self.port: int = self._requested_port
        self.guard: WebGuard | None = None
        self._server: HttpServer | None = None

    async def _metrics(self, request: Request) -> Response:
        from config_reloader.httpserve import Response

        return Response(200, exposition(self.registry), {"Content-Type": CONTENT_TYPE})

    async def _healthz(self, request: Request) -> Response:
        from config_reloader.httpserve import Response

        return Response(200, HEALTHZ_BODY, {"Content-Type": "application/json"})

    async def _ready(self, request: Request) -> Response:
        from config_reloader.httpserve import Response

        if self.ready():
            return Response.text(200, "ready\n")
        reason = self.not_ready_reason() if self.not_ready_reason else "not ready"
        return Response.text(503, reason + "\n")

    async def start(self) -> None:
        """Bind and serve; afterwards ``.port`` is the bound port.

        Raises:
            OSError: the address cannot be bound.
            RuntimeError: already started.
        """
        # Imported here: ReloaderMetrics is used by every `watch`, the server only with
        # --listen-address (and the guard only with --web-config-file: bcrypt, YAML).
        from config_reloader.httpserve import HttpServer, bind_socket

        if self._server is not None:
            raise RuntimeError("StatusServer already started")
        ssl_context = None
        guard = None
        if self.web_config is not None:
            from config_reloader.webguard import WebGuard

            guard = WebGuard(self.web_config)
            ssl_context = guard.server_context()
        routes = {"/metrics": self._metrics, "/healthz": self._healthz, "/ready": self._ready}
        sock = bind_socket(self.host, self._requested_port, fileno=self._listener)
        self._listener = None  # the socket owns it now
        server = HttpServer(
            sock,
            routes,
            guard=guard.check if guard is not None else None,
            extra_headers=guard.headers if guard is not None else None,
            ssl_context=ssl_context,
        )
        try:
            await server.start()
        except BaseException:
            sock.close()
            if guard is not None:
                guard.close()
            raise
        self._server, self.guard = server, guard
        self.port = server.port
        log.info(
            "status server listening",
            extra={"host": self.host or "*", "port": self.port, "tls": ssl_context is not None},
        )

    async def stop(self) -> None:
        """Stop serving (idempotent)."""
        server, self._server = self._server, None
        guard, self.guard = self.guard, None
        if server is not None:
            await server.stop()
        if guard is not None:
            guard.close()

    async def __aenter__(self) -> StatusServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
