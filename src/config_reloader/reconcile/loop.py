"""The reload loop: desired vs applied content, forced reload after a failure, supersede.

One asyncio task owns the apply side; everything else only sends it hints:

* a pump task moves settled :class:`~config_reloader.watch.watcher.ChangeBatch` es from the
  change source into the pending set and wakes the owner;
* the owner (:mod:`~config_reloader.reconcile.owner`) re-snapshots (hinted paths only, or
  everything on a rescan / every ``watch_interval``), renders and validates the output
  (:mod:`~config_reloader.reconcile.apply`),
  asks the read-consistency guard (:mod:`~config_reloader.reconcile.guard`) whether the read may
  have met a write, writes the output atomically and sets the *desired* digest;
* the reload worker (:mod:`~config_reloader.reconcile.worker`) reloads while ``desired !=
  applied`` or the last attempt failed (rollback: reverting to the old content must still reload).

A render or validate failure keeps the previous output and the previous desired digest, so
nothing is reloaded with content we could not render.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from config_reloader.logs import install_fallback_handler
from config_reloader.reconcile.actions import Closable, build_action
from config_reloader.reconcile.apply import Applier
from config_reloader.reconcile.guard import ReadGuard
from config_reloader.reconcile.options import ReloaderOptions, expansion_env, input_fields
from config_reloader.reconcile.owner import ApplyOwner
from config_reloader.reconcile.source import (
    ChangeSourceFactory,
    ChangeSourceProtocol,
    Clock,
    SystemClock,
)
from config_reloader.reconcile.state import LoopState
from config_reloader.reconcile.worker import ReloadWorker

if TYPE_CHECKING:
    from config_reloader.metrics import ReloaderMetrics, StatusServer
    from config_reloader.promtext import Registry
    from config_reloader.reconcile.first import FirstReload
    from config_reloader.reload import ReloadAction
    from config_reloader.reload.retry import RetryPolicy
    from config_reloader.render import Rendered
    from config_reloader.watch.snapshot import Snapshot

__all__ = ["Reloader"]

log = logging.getLogger("config_reloader.reconcile")


class Reloader:
    """Watch the config file and watched dirs; render; reload the target when content changed.

    Usage::

        async with Reloader(ReloaderOptions(config_file="/etc/prom/prometheus.yml.gz",
                                            config_envsubst_file="/out/prometheus.yml",
                                            watched_dirs=("/etc/prom/rules",))) as r:
            await r.run()                      # until cancelled

    Args:
        options: what to watch and how to reload.
        action: the reload action; ``None`` = built from ``options`` by
            :func:`~config_reloader.reconcile.actions.build_action` (HTTP POST to ``reload_url``,
            or a signal wrapped in runtime-info verification).
        registry: :class:`~config_reloader.promtext.Registry` for the metrics; ``None`` = a fresh
            private one
            (the global registry is never touched).
        clock: time source (default: ``time.monotonic``/``time.time``).
        env: variables for ``$(VAR)`` expansion (default ``os.environ``), plus
            ``STATEFULSET_ORDINAL_NUMBER`` derived from ``options.statefulset_ordinal_from_envvar``.
        retry: backoff between attempts (default ``options.retry_policy``).
        ready_gate: signal mode: async predicate, the signal is held back until it is true
            (``run`` passes "child ready"); default: runtime info answers.
        change_source_factory: builds the change source (default
            :class:`~config_reloader.watch.watcher.ChangeSource`); tests inject scripted ones
            (:class:`~config_reloader.reconcile.source.ChangeSourceProtocol`).
        rng: jitter source for the backoff (tests pass a seeded one).
        first: a reload already tried before the loop
            (:func:`~config_reloader.reconcile.first.first_reload`); its applier (and snapshot
            cache) is reused. If it succeeded, its content counts as applied and :meth:`run`'s
            first pass reloads only if the files changed since it read them; if it failed, it
            counts as the first failed attempt (the next one is immediate).
        listener: file descriptor of a socket already listening on ``options.listen_address``
            (the sidecar binds it before its first reload,
            :func:`config_reloader.listener.bind_listener`); the status server serves on it.

    Attributes:
        applied: digest of the content last reloaded successfully (``None`` before).
        desired: digest of the content currently rendered (``None`` before the first apply).
        ready: True after the first successful apply (render + reload; render only in init mode).
        last_rendered: the :class:`~config_reloader.render.Rendered` of the last accepted pass.
        last_snapshot: the :class:`~config_reloader.watch.snapshot.Snapshot` of the last accepted
            pass (``files``: path -> SHA-256 of what ``desired`` stands for); ``None`` before.
        last_reload_latency: seconds from the apply that produced the applied digest to its
            successful reload (``None`` before).
        metrics: the :class:`~config_reloader.metrics.ReloaderMetrics`.
        registry: the registry holding them.
    """

    def __init__(
        self,
        options: ReloaderOptions,
        *,
        action: ReloadAction | None = None,
        registry: Registry | None = None,
        clock: Clock | None = None,
        env: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        ready_gate: Callable[[], Awaitable[bool]] | None = None,
        change_source_factory: ChangeSourceFactory | None = None,
        rng: random.Random | None = None,
        first: FirstReload | None = None,
        listener: int | None = None,
    ) -> None:
        from config_reloader.metrics import ReloaderMetrics
        from config_reloader.promtext import Registry

        install_fallback_handler()  # errors keep their fields when the application logs nothing
        self.options = options
        self._clock: Clock = clock if clock is not None else SystemClock()
        self.registry: Registry = registry if registry is not None else Registry()
        self._action = action
        self._built_action = False  # True when _action came from build_action (rebuilt per run)
        method = action.method if action is not None else options.reload_method
        self.metrics: ReloaderMetrics = ReloaderMetrics(self.registry, method=method, clock=self._clock.time)
        base_env = expansion_env(options, env)
        self._retry = retry if retry is not None else options.retry_policy
        self._ready_gate = ready_gate
        self._source_factory = change_source_factory
        self._rng = rng
        self._path_filter = options.path_filter  # compiled once; shared by hints and snapshots
        self._applier = first.applier if first is not None else Applier(options, base_env, self._path_filter)
        self._closables: list[Closable] = []  # objects we built that hold sessions: aclose() on exit
        self._server: StatusServer | None = None
        self._listener = listener
        self._state = LoopState(self.metrics)
        self._guard = ReadGuard(options.config_file, self._state.pending, self._clock)
        self._owner = ApplyOwner(options, self._state, self._applier, self._guard, self.metrics, self._clock)
        self._first_error = ""
        if first is not None:
            self._owner.seed(first.snapshot, first.rendered)
            if first.applied is not None:
                self._state.applied = first.applied
                self.metrics.reload_succeeded(first.duration)
                self._state.mark_ready("ready: first reload succeeded")
            else:
                self.metrics.reload_failed(first.duration)
                self._first_error = first.error

    # -- state, read-only from outside -----------------------------------------------------------
    @property
    def applied(self) -> bytes | None:
        """SHA-256 digest of the content last reloaded successfully; ``None`` before."""
        return self._state.applied

    @property
    def desired(self) -> bytes | None:
        """SHA-256 digest of the content rendered now; ``None`` before the first apply."""
        return self._state.desired

    @property
    def ready(self) -> bool:
        """True after the first successful apply (render and reload; render only in init mode)."""
        return self._state.ready

    @property
    def last_reload_latency(self) -> float | None:
        """Seconds from the apply that produced :attr:`applied` to its successful reload."""
        return self._state.last_reload_latency

    @property
    def last_rendered(self) -> Rendered | None:
        """The :class:`~config_reloader.render.Rendered` of the last accepted pass, or ``None``."""
        return self._owner.last_rendered

    @property
    def last_snapshot(self) -> Snapshot | None:
        """The :class:`~config_reloader.watch.snapshot.Snapshot` (path -> SHA-256) of the last
        accepted pass, or ``None``."""
        return self._owner.last_snapshot

    @property
    def metrics_method(self) -> str:
        """The ``method`` label of ``reloader_info`` (the action's, else the option's)."""
        action = self._action
        return action.method if action is not None else self.options.reload_method

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

    # -- building collaborators ---------------------------------------------------------------------
    def _make_source(self) -> ChangeSourceProtocol:
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

    async def render_once(self) -> Snapshot:
        """Render the output once, no reload (init container mode, or ``run`` before the child).

        Returns:
            The snapshot of the config file and watched dirs.

        Raises:
            RenderError / AtomicWriteError / OSError: the output could not be rendered (nothing
                half-written is left behind).
        """
        snap = await self._owner.render_once()
        if not self.options.reloads_enabled:
            self._state.ready = True
        return snap

    def rescan(self, reason: str = "rescan") -> bool:
        """Ask for a full rescan now (every file re-read, output re-rendered; a reload follows
        only if the content changed), as if ``watch_interval`` had run out. Call it from the
        loop's thread (``loop.add_signal_handler``: SIGHUP in the CLI).

        Args:
            reason: shown in the ``reason`` field of the pass's log lines.

        Returns:
            False if :meth:`run` is not watching (yet): nothing was queued.
        """
        wake = self._state.wake
        if wake is None:
            return False
        self._state.pending.rescan = True
        self._state.pending.reasons.add(reason)
        wake.set()
        return True

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
        self._state.wake = asyncio.Event()
        if self._action is None or self._built_action:
            self._action, closables = build_action(
                o, ready=self._ready_gate, on_target_result=self.metrics.target_result
            )
            self._closables.extend(closables)
            self._built_action = True
        try:
            if o.listen_address:
                await self._start_server()
            if o.config_file is None and not o.watched_dirs:
                log.warning("nothing to be watched: no config file and no watched directory")
                await asyncio.Event().wait()
            async with self._make_source() as source:
                self.metrics.set_watch_mode(source.mode)
                self.metrics.watches.set(int(source.watches))
                log.info(
                    "started watching config file and directories for changes",
                    extra={**input_fields(o), "mode": str(source.mode), "method": self.metrics_method},
                )
                worker = ReloadWorker(
                    self._state,
                    self._action,
                    options=o,
                    metrics=self.metrics,
                    retry=self._retry,
                    rng=self._rng,
                    clock=self._clock,
                    source=source,
                    guard=self._guard,
                    failed_before=self._first_error,
                )
                self._first_error = ""
                try:
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self._owner.pump(source), name="reloader-pump")
                        tg.create_task(worker.run(), name="reloader-worker")
                        await self._owner.own(source, initial_reload=initial_reload)
                except BaseExceptionGroup as group:
                    # One of our tasks died (e.g. the watcher): raise that error, not a group.
                    if len(group.exceptions) == 1:
                        raise group.exceptions[0] from None
                    raise
        finally:
            await self.aclose()

    async def _start_server(self) -> None:
        o = self.options
        assert o.listen_address
        # The status server's modules (httpserve; webguard with a web config) load only when a
        # listen address is set.
        from config_reloader.metrics import StatusServer

        web_config = None
        if o.web_config_file:
            from config_reloader.webconfig import load_web_config

            web_config = await asyncio.to_thread(load_web_config, o.web_config_file)
        self._server = StatusServer(
            o.listen_address, self.registry, ready=lambda: self.ready, web_config=web_config,
            listener=self._listener,
        )  # fmt: skip
        self._listener = None
        await self._server.start()

    # -- waiting (tests, library users) -----------------------------------------------------------
    async def content_digest(self) -> bytes:
        """The digest the loop will have applied once it has seen the files as they are now.

        Reads and renders the inputs once more (in a worker thread, without ``validate_command``
        and without writing anything). To wait until content you just wrote is reloaded::

            digest = await reloader.content_digest()
            await reloader.wait_applied(digest, timeout=30)

        Raises:
            RenderError / OSError: the inputs cannot be read or rendered (as an apply would fail).
        """
        applier = Applier(self.options, self._applier.env, self._path_filter)  # its own cache
        desired, _rendered, _snap = await asyncio.to_thread(applier.read, None, validate=False)
        return desired

    async def wait_applied(self, digest: bytes | None = None, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 (interface)
        """Wait until ``digest`` is applied (reloaded successfully, no forced reload pending).

        Args:
            digest: the digest to wait for, e.g. from :meth:`content_digest`. ``None`` = until the
                loop is idle (``applied == desired``): this returns at once when the loop has not
                noticed a change yet (the hint may still be settling, ``delay_interval``); wait
                for a digest to wait for a given content.
            timeout: seconds; ``None`` = no bound.

        Returns:
            The applied digest.

        Raises:
            TimeoutError: not applied within ``timeout``.
        """
        s = self._state
        cond = s.cond()

        def done() -> bool:
            if digest is not None:
                return s.applied == digest and not s.force
            return s.applied is not None and s.applied == s.desired and not s.force

        async with asyncio.timeout(timeout):
            async with cond:
                await cond.wait_for(done)
        assert s.applied is not None
        return s.applied
