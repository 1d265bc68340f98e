"""Logic of the reload loop (config_reloader.reconcile) with a scripted change source and a fake action.

Real files (tmp_path), real Snapshotter and render; only the hint source and the reload action are
fakes, so the decisions "reload or not, with which content, how often" are tested without inotify
timing. Real inotify and HTTP are in tests/integration/test_reloader*.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from config_reloader.errors import ReloadRejected, TargetNotFound
from config_reloader.fileid import file_identity
from config_reloader.promtext import Registry as CollectorRegistry
from config_reloader.reconcile import (
    Reloader,
    ReloaderOptions,
    ScriptedChangeSource,
    guard,
    statefulset_ordinal,
)
from config_reloader.reconcile.options import DEFAULT_RELOAD_SIGNAL
from config_reloader.reload.retry import RetryPolicy
from config_reloader.testing import wait_until
from config_reloader.watch.watcher import ChangeBatch

FAST = RetryPolicy(initial=0.01, maximum=0.05, jitter=0.0)


class FakeSource(ScriptedChangeSource):
    """Scripted ChangeSource: tests push batches; nothing comes from the file system."""

    instances: list[FakeSource]

    def __init__(self, files: Sequence[str], dirs: Sequence[str], **kw: Any) -> None:
        self.files = list(files)
        self.dirs = list(dirs)
        self.kw = kw
        self.mode = "inotify"
        self.watches = len(files) + len(dirs)
        self.queue: asyncio.Queue[ChangeBatch] = asyncio.Queue()
        self.closed = False

    async def __aenter__(self) -> FakeSource:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.closed = True

    def __aiter__(self) -> AsyncIterator[ChangeBatch]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[ChangeBatch]:
        while True:
            yield await self.queue.get()

    def hint(self, *paths: str, rescan: bool = False) -> None:
        self.queue.put_nowait(ChangeBatch(paths=frozenset(paths), rescan=rescan, reason="test"))

    races: list[bool] = []  # noqa: RUF012 (tests assign a list per instance, or patch the class)

    def drain(self) -> bool:
        """Scripted ``ChangeSource.drain()``: pops ``races`` (True = a write raced the apply)."""
        return self.races.pop(0) if self.races else False


def read_or_empty(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


class FakeAction:
    """Records the config content at each trigger; ``outcome(content) -> Exception | None``."""

    method = "http"

    def __init__(
        self, path: str, outcome: Callable[[bytes], BaseException | None] | None = None, delay: float = 0.0
    ) -> None:
        self.path = path
        self.outcome = outcome
        self.delay = delay
        self.seen: list[tuple[bytes, bool]] = []  # (content, succeeded)
        self.in_flight = 0
        self.max_in_flight = 0
        # Optional pauses around the service's read of the file (tests hold a reload in flight).
        self.before_read: Callable[[], Awaitable[None]] | None = None
        self.after_read: Callable[[], Awaitable[None]] | None = None

    async def trigger(self) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.before_read is not None:
                await self.before_read()
            content = read_or_empty(self.path)
            if self.after_read is not None:
                await self.after_read()
            if self.delay:
                await asyncio.sleep(self.delay)
            err = self.outcome(content) if self.outcome else None
            self.seen.append((content, err is None))
            if err is not None:
                raise err
        finally:
            self.in_flight -= 1

    @property
    def ok(self) -> list[bytes]:
        return [c for c, good in self.seen if good]


def write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class Harness:
    def __init__(
        self,
        tmp_path: Path,
        *,
        outcome: Callable[[bytes], BaseException | None] | None = None,
        delay: float = 0.0,
        retry: RetryPolicy = FAST,
        **opts: Any,
    ) -> None:
        self.cfg = tmp_path / "prometheus.yml"
        self.cfg.write_bytes(b"v1")
        self.sources: list[FakeSource] = []
        self.registry = CollectorRegistry()
        self.action = FakeAction(str(self.cfg), outcome, delay)
        opts.setdefault("watch_interval", 3600.0)
        opts.setdefault("delay_interval", 0.0)
        self.options = ReloaderOptions(config_file=str(self.cfg), **opts)

        def factory(files: Sequence[str], dirs: Sequence[str], **kw: Any) -> FakeSource:
            s = FakeSource(files, dirs, **kw)
            self.sources.append(s)
            return s

        self.reloader = Reloader(
            self.options,
            action=self.action,
            registry=self.registry,
            retry=retry,
            change_source_factory=factory,
        )
        self.task: asyncio.Task[None] | None = None

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        v = self.registry.get_sample_value(name, labels or {})
        return 0.0 if v is None else v

    @property
    def source(self) -> FakeSource:
        return self.sources[-1]

    async def start(self, **kw: Any) -> None:
        self.task = asyncio.create_task(self.reloader.run(**kw))
        await wait_until(lambda: bool(self.sources) or (self.task is not None and self.task.done()))

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(**kw: Any) -> Harness:
        h = Harness(tmp_path, **kw)
        made.append(h)
        return h

    yield make
    for h in made:
        if h.task is not None and not h.task.done():
            await h.stop()


# --- options ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("watch_interval", -1.0),
        ("delay_interval", math.nan),
        ("retry_interval", 0.0),
        ("reload_timeout", 0.0),
        ("retry_interval", math.inf),
    ],
)
def test_options_refuse_bad_durations(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        ReloaderOptions(**{field: value})


def test_options_refuse_bad_method_and_envsubst_without_input() -> None:
    with pytest.raises(ValueError, match="reload_method"):
        ReloaderOptions(reload_method="POST")
    with pytest.raises(ValueError, match=r"config_envsubst_file needs ReloaderOptions\.config_file"):
        ReloaderOptions(config_envsubst_file="/tmp/out.yml")
    with pytest.raises(ValueError, match="validate_command"):
        ReloaderOptions(validate_command=())


def test_options_reload_signal_default_is_sighup_and_others_are_checked() -> None:
    assert DEFAULT_RELOAD_SIGNAL == signal.SIGHUP == ReloaderOptions().reload_signal
    assert ReloaderOptions(reload_signal=signal.SIGUSR1).reload_signal == signal.SIGUSR1
    for bad in (0, -1, signal.NSIG):
        with pytest.raises(ValueError, match=rf"reload_signal must be a signal number, got {bad}"):
            ReloaderOptions(reload_signal=bad)


def test_options_make_paths_absolute_and_dedupe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    o = ReloaderOptions(
        config_file="cfg.yml", watched_dirs=("rules", "./rules", str(tmp_path / "r2")), listen_address=""
    )
    assert o.config_file == str(tmp_path / "cfg.yml")
    assert o.watched_dirs == (str(tmp_path / "rules"), str(tmp_path / "r2"))
    assert o.listen_address is None
    assert o.retry_policy.initial == 5.0 and o.retry_policy.maximum == 60.0
    assert ReloaderOptions(retry_interval=90).retry_policy.maximum == 90


@pytest.mark.parametrize(
    ("name", "ordinal"), [("prometheus-k8s-1", "1"), ("web-12", "12"), ("web", ""), (None, ""), ("", "")]
)
def test_statefulset_ordinal(name: str | None, ordinal: str) -> None:
    assert statefulset_ordinal(name) == ordinal


def test_statefulset_ordinal_is_exposed_to_envsubst(tmp_path: Path) -> None:
    cfg = tmp_path / "in.yml"
    out = tmp_path / "out.yml"
    cfg.write_bytes(b"replica: $(STATEFULSET_ORDINAL_NUMBER) pod: $(POD_NAME)\n")
    r = Reloader(
        ReloaderOptions(config_file=str(cfg), config_envsubst_file=str(out), watch_interval=0),
        env={"POD_NAME": "prometheus-main-3"},
        action=FakeAction(str(cfg)),
    )
    asyncio.run(r.render_once())
    assert out.read_bytes() == b"replica: 3 pod: prometheus-main-3\n"
    assert r.ready


# --- the loop --------------------------------------------------------------------------------------
async def test_initial_reload_then_only_on_content_change(harness: Callable[..., Harness]) -> None:
    h = harness()
    await h.start()
    await h.reloader.wait_applied(timeout=10)
    assert h.action.ok == [b"v1"] and h.reloader.ready
    # touch / chmod / identical rewrite: hints, same content -> no reload
    os.utime(h.cfg)
    os.chmod(h.cfg, 0o600)
    write(h.cfg, b"v1")
    h.source.hint(str(h.cfg))
    h.source.hint(str(h.cfg), rescan=True)
    await wait_until(lambda: h.metric("reloader_config_apply_operations_total") >= 1)
    assert h.action.ok == [b"v1"]
    write(h.cfg, b"v2")
    h.source.hint(str(h.cfg))
    await wait_until(lambda: h.action.ok == [b"v1", b"v2"])
    assert h.metric("reloader_reloads_total") == 2
    assert h.metric("reloader_reloads_failed_total") == 0
    assert h.metric("reloader_last_reload_successful") == 1
    assert h.metric("reloader_pending_reload") == 0
    assert h.metric("reloader_info", {"method": "http"}) == 1
    await h.stop()
    assert h.source.closed


async def test_initial_apply_is_not_an_apply_operation(harness: Callable[..., Harness]) -> None:
    """Thanos counts reloader_config_apply_operations_total in its watch loop only: the initial
    apply (before the loop) is not counted, nor its failure."""
    h = harness()
    await h.start()
    await h.reloader.wait_applied(timeout=10)
    assert h.metric("reloader_config_apply_operations_total") == 0
    write(h.cfg, b"v2")
    h.source.hint(str(h.cfg))
    await wait_until(lambda: h.action.ok == [b"v1", b"v2"])
    assert h.metric("reloader_config_apply_operations_total") >= 1
    await h.stop()


async def test_initial_reload_false_adopts_current_content(harness: Callable[..., Harness]) -> None:
    h = harness()
    await h.start(initial_reload=False)
    await wait_until(lambda: h.reloader.ready)
    assert h.action.seen == []
    write(h.cfg, b"v2")
    h.source.hint(str(h.cfg))
    await wait_until(lambda: h.action.ok == [b"v2"])


async def test_failed_reload_is_retried_and_logged_once(
    harness: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    calls = {"n": 0}

    def outcome(content: bytes) -> BaseException | None:
        calls["n"] += 1
        return TargetNotFound("connection refused", target="t") if calls["n"] <= 4 else None

    h = harness(outcome=outcome)
    with caplog.at_level(logging.INFO, logger="config_reloader"):
        await h.start()
        await h.reloader.wait_applied(timeout=10)
    assert [ok for _, ok in h.action.seen] == [False] * 4 + [True]
    assert h.metric("reloader_reloads_total") == 5
    assert h.metric("reloader_reloads_failed_total") == 4
    assert h.metric("reloader_last_reload_successful") == 1
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs.count("reload failed, retrying") == 1
    assert msgs.count("reload succeeded after retries") == 1
    assert h.action.max_in_flight == 1


async def test_rollback_after_rejected_reload_reloads_old_content(harness: Callable[..., Harness]) -> None:
    """prometheus-operator#4708 / Thanos TestReloader_ConfigRollback."""

    def outcome(c: bytes) -> BaseException | None:
        return ReloadRejected("bad config", target="t", status=500) if c == b"bad" else None

    h = harness(outcome=outcome, retry=RetryPolicy(initial=0.05, maximum=0.2, jitter=0.0))
    await h.start()
    await h.reloader.wait_applied(timeout=10)
    good = h.reloader.applied
    write(h.cfg, b"bad")
    h.source.hint(str(h.cfg))
    await wait_until(lambda: h.metric("reloader_reloads_failed_total") >= 2)
    assert h.reloader.applied == good
    write(h.cfg, b"v1")  # revert: same digest as applied, but the target runs a failed config
    h.source.hint(str(h.cfg))
    await wait_until(lambda: h.action.seen[-1] == (b"v1", True) and len(h.action.ok) == 2)
    await h.reloader.wait_applied(good, timeout=10)
    assert h.metric("reloader_last_reload_successful") == 1


async def test_newer_content_supersedes_backoff_wait(harness: Callable[..., Harness]) -> None:
    h = harness(
        outcome=lambda c: ReloadRejected("nope", target="t", status=500) if c == b"v1" else None,
        retry=RetryPolicy(initial=30.0, maximum=60.0, jitter=0.0),
    )
    await h.start()
    await wait_until(lambda: h.metric("reloader_reloads_failed_total") == 1)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    write(h.cfg, b"v2")
    h.source.hint(str(h.cfg))
    await h.reloader.wait_applied(timeout=10)
    assert loop.time() - t0 < 10  # did not sit out the 30 s backoff
    assert h.action.ok == [b"v2"]


async def test_change_during_slow_attempt_reloads_again_no_overlap(harness: Callable[..., Harness]) -> None:
    h = harness(delay=0.3)
    await h.start()
    await wait_until(lambda: h.action.in_flight == 1)
    write(h.cfg, b"v2")
    h.source.hint(str(h.cfg))
    await wait_until(lambda: b"v2" in h.action.ok)
    await h.reloader.wait_applied(timeout=10)
    assert h.action.max_in_flight == 1
    assert h.action.ok[-1] == b"v2"


async def test_render_failure_keeps_output_and_sends_no_reload(
    tmp_path: Path, harness: Callable[..., Harness]
) -> None:
    out = tmp_path / "out.yml"
    h = harness(config_envsubst_file=str(out), strict_env=True)
    h.reloader._applier.env = {"X": "1"}  # deterministic env
    write(h.cfg, b"x: $(X)\n")
    await h.start()
    await h.reloader.wait_applied(timeout=10)
    assert out.read_bytes() == b"x: 1\n"
    write(h.cfg, b"x: $(X) y: $(UNSET_A) $(UNSET_B)\n")
    h.source.hint(str(h.cfg))
    await wait_until(lambda: h.metric("reloader_config_apply_operations_failed_total") == 1)
    assert h.metric("reloader_config_environment_variable_expansion_errors") == 2
    assert out.read_bytes() == b"x: 1\n"
    assert len(h.action.seen) == 1
    write(h.cfg, b"x: $(X) again\n")
    h.source.hint(str(h.cfg))
    await wait_until(lambda: len(h.action.ok) == 2)
    assert out.read_bytes() == b"x: 1 again\n"
    assert h.metric("reloader_config_environment_variable_expansion_errors") == 0


async def test_missing_config_file_is_apply_error_until_back(harness: Callable[..., Harness]) -> None:
    h = harness()
    await h.start()
    await h.reloader.wait_applied(timeout=10)
    h.cfg.unlink()
    h.source.hint(str(h.cfg))
    await wait_until(lambda: h.metric("reloader_config_apply_operations_failed_total") == 1)
    write(h.cfg, b"v3")
    h.source.hint(str(h.cfg))
    await wait_until(lambda: h.action.ok == [b"v1", b"v3"])


async def test_periodic_resync_finds_unhinted_change(harness: Callable[..., Harness]) -> None:
    h = harness(watch_interval=0.2)
    await h.start()
    await h.reloader.wait_applied(timeout=10)
    write(h.cfg, b"silent")  # no hint at all
    await wait_until(lambda: h.action.ok == [b"v1", b"silent"])


async def test_render_once_writes_output_without_reload(tmp_path: Path) -> None:
    cfg = tmp_path / "in.yml.gz"
    import gzip

    cfg.write_bytes(gzip.compress(b"a: $(A)\n"))
    out = tmp_path / "out.yml"
    action = FakeAction(str(cfg))
    r = Reloader(
        ReloaderOptions(config_file=str(cfg), config_envsubst_file=str(out), watch_interval=0),
        action=action,
        env={"A": "b"},
    )
    await r.run()  # watch_interval=0: render once and return
    assert out.read_bytes() == b"a: b\n"
    assert action.seen == [] and r.ready


async def test_wait_applied_times_out(harness: Callable[..., Harness]) -> None:
    h = harness(
        outcome=lambda c: TargetNotFound("down", target="t"),
        retry=RetryPolicy(initial=0.05, maximum=0.1, jitter=0.0),
    )
    await h.start()
    with pytest.raises(TimeoutError):
        await h.reloader.wait_applied(timeout=0.3)
    assert not h.reloader.ready
    assert h.metric("reloader_last_reload_successful") == 0
    assert h.metric("reloader_pending_reload") == 1


async def test_watcher_failure_surfaces_as_its_own_error(tmp_path: Path) -> None:
    class BrokenSource(FakeSource):
        async def _iter(self) -> AsyncIterator[ChangeBatch]:
            raise OSError("inotify read failed")
            yield  # pragma: no cover

    cfg = tmp_path / "c.yml"
    cfg.write_bytes(b"x")
    r = Reloader(
        ReloaderOptions(config_file=str(cfg), delay_interval=0),
        action=FakeAction(str(cfg)),
        change_source_factory=BrokenSource,
        retry=FAST,
    )
    with pytest.raises(OSError, match="inotify read failed"):
        async with asyncio.timeout(10):
            await r.run()


async def test_config_changing_during_render_never_reloads_unchanged_output(
    tmp_path: Path, harness: Callable[..., Harness]
) -> None:
    """The digest must not mix the raw config (snapshot) with a render of another version of it:
    here the validator itself swaps the config for a broken one right after rendering the old
    one; the output is unchanged, so no reload may follow."""
    out = tmp_path / "out.yml"
    trigger = tmp_path / "TRIGGER"
    script = (
        'grep -q "^v1" "$1" || exit 1; '
        f'if [ -e {trigger} ]; then rm {trigger}; printf "broken" > {tmp_path}/x.tmp && '
        f"mv {tmp_path}/x.tmp {tmp_path}/prometheus.yml; fi"
    )
    h = harness(config_envsubst_file=str(out), validate_command=("sh", "-c", script, "sh", "{}"))
    await h.start()
    await h.reloader.wait_applied(timeout=10)
    assert h.action.ok == [b"v1"] and out.read_bytes() == b"v1"
    trigger.write_bytes(b"")
    h.source.hint(str(h.cfg))  # this apply renders v1, then the validator swaps in "broken"
    await wait_until(lambda: not trigger.exists(), timeout=10)
    await wait_until(lambda: h.metric("reloader_config_apply_operations_total") >= 1, timeout=10)
    h.source.hint(str(h.cfg))  # the next apply sees "broken": validation fails
    await wait_until(lambda: h.metric("reloader_config_validation_failures_total") >= 1, timeout=10)
    assert h.metric("reloader_reloads_total") == 1
    assert out.read_bytes() == b"v1"


async def test_apply_raced_by_a_write_is_neither_written_nor_reloaded(
    tmp_path: Path, harness: Callable[..., Harness]
) -> None:
    """ChangeSource.drain() True after an apply = more hints arrived while the files were read (a
    vim-style save at --delay-interval=0): the output is not written, no reload; the next batch
    applies again."""
    out = tmp_path / "out.yml"
    h = harness(config_envsubst_file=str(out))
    await h.start()
    await h.reloader.wait_applied(timeout=10)
    assert h.action.ok == [b"v1"] and out.read_bytes() == b"v1"
    write(h.cfg, b"v2-half")
    h.source.races = [True]  # the next apply raced a write
    h.source.hint(str(h.cfg))
    await wait_until(lambda: h.metric("reloader_config_apply_operations_total") >= 1, timeout=10)
    await wait_until(lambda: not h.source.races, timeout=10)
    assert out.read_bytes() == b"v1"
    assert h.reloader.desired == h.reloader.applied
    assert h.action.ok == [b"v1"]
    write(h.cfg, b"v2")
    h.source.hint(str(h.cfg))  # the batch that follows a raced apply
    await wait_until(lambda: h.action.ok == [b"v1", b"v2"], timeout=10)
    assert out.read_bytes() == b"v2"


async def test_paths_of_a_raced_pass_are_not_forgotten(
    tmp_path: Path, harness: Callable[..., Harness]
) -> None:
    """The batch that follows a raced pass names only what was written since. A file that only
    the discarded pass named (a rule file created while the config was being rewritten) must still
    count in the next pass, not only at the next resync: otherwise the change is missed. (Today the
    Snapshotter keeps what the discarded pass read; this pins that behaviour.)"""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r0.yaml").write_bytes(b"v: 0\n")
    h = harness(watched_dirs=(str(rules),))
    await h.start()
    await h.reloader.wait_applied(timeout=10)
    before = h.reloader.applied
    write(rules / "r1.yaml", b"v: 1\n")
    h.source.races = [True]  # the pass that looks at r1 is raced by a write to the config
    h.source.hint(str(rules / "r1.yaml"), str(h.cfg))
    await wait_until(lambda: not h.source.races, timeout=10)
    assert h.reloader.applied == before  # discarded: nothing applied yet
    h.source.hint(str(h.cfg))  # the follow-up batch names the config only (its content is unchanged)
    await wait_until(lambda: h.reloader.applied != before, timeout=10)
    assert h.reloader.desired == h.reloader.applied


async def test_paths_of_a_failed_pass_are_retried_with_the_next_one(
    tmp_path: Path, harness: Callable[..., Harness]
) -> None:
    """A pass that fails (the config file missing for a moment) must not forget the other files
    it was told about: the next batch names only the config file, yet a rule file created during
    the failed pass has to be applied. Found by tests/property (a missed change)."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r0.yaml").write_bytes(b"v: 0\n")
    out = tmp_path / "out.yml"
    h = harness(watched_dirs=(str(rules),), config_envsubst_file=str(out))
    await h.start()
    await h.reloader.wait_applied(timeout=10)
    before = h.reloader.applied
    h.cfg.unlink()  # a swap in progress: the config is missing for a moment
    write(rules / "r1.yaml", b"v: 1\n")
    h.source.hint(str(rules / "r1.yaml"), str(h.cfg))
    await wait_until(lambda: h.metric("reloader_config_apply_operations_failed_total") >= 1, timeout=10)
    assert h.reloader.applied == before, "step 1"
    write(h.cfg, b"v1")  # the same content as before: only r1 is new
    h.source.hint(str(h.cfg))  # the follow-up batch names the config file only
    await wait_until(lambda: h.reloader.applied not in (None, before), timeout=10)
    assert h.reloader.desired == h.reloader.applied, "step 2"


async def test_raced_passes_that_read_the_same_content_twice_are_applied(
    harness: Callable[..., Harness],
) -> None:
    """Events that keep coming without changing the content (a touch storm, writes elsewhere)
    cannot starve a change: two raced passes in a row with the same outcome are accepted; a pass
    whose outcome differs from the previous raced one is not."""
    h = harness()
    await h.start()
    await h.reloader.wait_applied(timeout=10)
    write(h.cfg, b"v2-half")
    h.source.races = [True]
    h.source.hint(str(h.cfg))
    await wait_until(lambda: not h.source.races, timeout=10)
    write(h.cfg, b"v2")  # differs from the discarded read: discarded again
    h.source.races = [True]
    h.source.hint(str(h.cfg))
    await wait_until(lambda: not h.source.races, timeout=10)
    assert h.action.ok == [b"v1"]
    h.source.races = [True] * 10_000  # events never stop; the content does not change any more
    h.source.hint(str(h.cfg))
    await wait_until(lambda: h.action.ok == [b"v1", b"v2"], timeout=10)
    assert h.metric("reloader_config_apply_operations_total") <= 5


async def test_initial_reload_false_adopts_even_when_the_first_pass_raced(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """run(initial_reload=False) (``run``'s child was started with this content): a discarded
    first pass must not lose the adoption, or the next pass reloads the unchanged content."""
    first_pass_races: list[bool] = [True]
    monkeypatch.setattr(FakeSource, "races", first_pass_races)  # the initial pass is discarded
    h = harness()
    await h.start(initial_reload=False)
    await wait_until(lambda: not first_pass_races, timeout=10)
    assert not h.reloader.ready
    h.source.hint(str(h.cfg))
    await wait_until(lambda: h.reloader.ready, timeout=10)
    h.source.hint(str(h.cfg), rescan=True)
    await wait_until(lambda: h.metric("reloader_config_apply_operations_total") >= 2, timeout=10)
    assert h.action.seen == []
    write(h.cfg, b"v2")
    h.source.hint(str(h.cfg))
    await wait_until(lambda: h.action.ok == [b"v2"], timeout=10)


async def test_new_content_is_rechecked_for_a_write_whose_event_lags(
    tmp_path: Path, harness: Callable[..., Harness]
) -> None:
    """A write is visible a moment before its inotify event is queued (truncate, then IN_MODIFY):
    new content is acted on only if a second drain(), RACE_RECHECK seconds later, is still quiet."""
    out = tmp_path / "out.yml"
    h = harness(config_envsubst_file=str(out))
    await h.start()
    await h.reloader.wait_applied(timeout=10)
    write(h.cfg, b"")  # what a reader sees right after a truncate
    h.source.races = [False, True]  # quiet at first; the lagging IN_MODIFY shows up on the recheck
    h.source.hint(str(h.cfg))
    await wait_until(lambda: not h.source.races, timeout=10)
    await wait_until(lambda: h.metric("reloader_config_apply_operations_total") >= 1, timeout=10)
    assert out.read_bytes() == b"v1" and h.action.ok == [b"v1"]
    write(h.cfg, b"v2")
    h.source.hint(str(h.cfg))
    await wait_until(lambda: h.action.ok == [b"v1", b"v2"], timeout=10)


async def started_with_finishes(
    tmp_path: Path, harness: Callable[..., Harness]
) -> tuple[Harness, Path, Callable[[], None]]:
    """A started harness rendering to ``out.yml`` whose source answers ``finished_identity``;
    ``finish()`` records the config file's identity now, as ChangeSource does on IN_CLOSE_WRITE."""
    out = tmp_path / "out.yml"
    h = harness(config_envsubst_file=str(out))
    await h.start()
    await h.reloader.wait_applied(timeout=10)
    finished: dict[str, tuple[int, int, int, int, int]] = {}
    h.source.finished_identity = finished.get  # type: ignore[method-assign]
    h.source.tracks_finished = True

    def finish() -> None:
        finished[str(h.cfg)] = file_identity(os.stat(h.cfg))

    return h, out, finish


async def test_content_left_by_a_finished_writer_is_acted_on_without_the_recheck(
    tmp_path: Path, harness: Callable[..., Harness]
) -> None:
    """Read with exactly the identity the source recorded when its writer finished (IN_MOVED_TO,
    IN_CLOSE_WRITE), new content cannot be a torn in-place write: it is acted on at once. With any
    other identity (the file changed since that moment) the RACE_RECHECK drain still decides."""
    h, out, finish = await started_with_finishes(tmp_path, harness)

    write(h.cfg, b"v2")
    finish()
    h.source.races = [False, True]  # a recheck would see a race; none is made
    h.source.hint(str(h.cfg))
    await wait_until(lambda: h.action.ok == [b"v1", b"v2"], timeout=10)
    assert h.source.races == [True] and out.read_bytes() == b"v2"

    write(h.cfg, b"v3")  # the recorded identity is now stale: the recheck runs and sees the race
    h.source.races = [False, True]
    h.source.hint(str(h.cfg))
    await wait_until(lambda: not h.source.races, timeout=10)
    await wait_until(lambda: h.metric("reloader_config_apply_operations_total") >= 2, timeout=10)
    assert h.action.ok == [b"v1", b"v2"] and out.read_bytes() == b"v2"
    h.source.hint(str(h.cfg))
    await wait_until(lambda: h.action.ok == [b"v1", b"v2", b"v3"], timeout=10)


async def test_a_file_emptied_by_a_writer_still_open_is_held_even_if_it_looks_finished(
    tmp_path: Path, harness: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    """The source stats a file when it processes IN_CLOSE_WRITE, which may be after the next
    writer's open(O_TRUNC): the empty file then carries the "finished" identity. A read lease
    shows that writer still has it open, so the empty read is held until it closes."""
    h, out, finish = await started_with_finishes(tmp_path, harness)
    fd = os.open(h.cfg, os.O_WRONLY | os.O_TRUNC)  # the next writer: emptied, still open
    try:
        finish()  # stat'ed late: looks finished
        with caplog.at_level(logging.DEBUG, logger="config_reloader.reconcile"):
            h.source.hint(str(h.cfg))
            await wait_until(
                lambda: any("emptied in place" in r.getMessage() for r in caplog.records), timeout=10
            )
        assert h.action.seen == [(b"v1", True)] and out.read_bytes() == b"v1"
        os.write(fd, b"v2")
    finally:
        os.close(fd)
    finish()
    h.source.hint(str(h.cfg))
    await wait_until(lambda: h.action.ok == [b"v1", b"v2"], timeout=10)
    assert out.read_bytes() == b"v2"


async def test_past_the_probe_budget_new_content_waits_for_the_recheck(
    tmp_path: Path, harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """More changed files than ``SETTLE_PROBES`` (here 0) are not proven one by one: the pass
    waits ``RACE_RECHECK`` and drains again, like content no writer was seen finishing."""
    monkeypatch.setattr(guard, "SETTLE_PROBES", 0)
    h, out, finish = await started_with_finishes(tmp_path, harness)
    write(h.cfg, b"v2")
    finish()  # would be proven settled by a probe
    h.source.races = [False, True]  # the recheck sees a race: the pass is discarded
    h.source.hint(str(h.cfg))
    await wait_until(lambda: not h.source.races, timeout=10)
    await wait_until(lambda: h.metric("reloader_config_apply_operations_total") >= 1, timeout=10)
    assert h.action.ok == [b"v1"] and out.read_bytes() == b"v1"


async def test_content_that_changes_back_while_a_reload_is_in_flight_is_reloaded_again(
    harness: Callable[..., Harness],
) -> None:
    """The service reads the files when it reloads, not our snapshot: a reload of v2 whose
    service read meets an intermediate v3, after which the files go back to v2, leaves the service
    on v3 although no digest differs from the applied one. A content change seen while the reload
    was in flight (``change_gen`` moved) makes the next accepted pass reload once more."""
    h = harness()
    await h.start()
    await h.reloader.wait_applied(timeout=10)
    h.source.change_gen = 0
    reading, read, resume = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def before_read() -> None:
        await reading.wait()

    async def after_read() -> None:
        read.set()
        await resume.wait()

    h.action.before_read, h.action.after_read = before_read, after_read
    write(h.cfg, b"v2")
    h.source.hint(str(h.cfg))
    await wait_until(lambda: h.action.in_flight == 1, timeout=10)  # the reload of v2 is in flight
    write(h.cfg, b"v3")  # another writer, while the service has not read yet
    h.source.change_gen += 1
    reading.set()
    await asyncio.wait_for(read.wait(), 10)  # the service read v3
    write(h.cfg, b"v2")  # back to the content the reload was sent for
    h.source.change_gen += 1
    h.action.before_read = h.action.after_read = None
    resume.set()
    await wait_until(lambda: [c for c, _ in h.action.seen] == [b"v1", b"v3", b"v2"], timeout=10)
    await h.reloader.wait_applied(timeout=10)
    assert h.action.ok == [b"v1", b"v3", b"v2"]
    assert h.metric("reloader_reloads_repeated_total") == 1


# --- what the loop tells its user ------------------------------------------------------------------
async def test_ready_is_logged_as_the_first_reload_not_the_first_apply(
    harness: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    h = harness()
    with caplog.at_level(logging.INFO, logger="config_reloader.reconcile"):
        await h.start()
        await h.reloader.wait_applied(timeout=10)
    messages = [r.getMessage() for r in caplog.records]
    assert "ready: first reload succeeded" in messages
    assert messages.index("ready: first reload succeeded") > messages.index("reload triggered")
    assert not [m for m in messages if "first apply" in m]


async def test_reload_triggered_names_the_files_that_changed(
    tmp_path: Path, harness: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    write(rules / "a.yml", b"a1")
    write(rules / "b.yml", b"b1")
    h = harness(watched_dirs=(str(rules),))
    await h.start()
    await h.reloader.wait_applied(timeout=10)

    def triggered() -> list[logging.LogRecord]:
        # the initial reload names no change; its line may still come after wait_applied returned
        return [r for r in caplog.records if r.getMessage() == "reload triggered" and hasattr(r, "changed")]

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="config_reloader.reconcile"):
        write(rules / "b.yml", b"b2")
        h.source.hint(str(rules / "b.yml"))
        await wait_until(lambda: len(triggered()) == 1, timeout=10)
        assert getattr(triggered()[0], "changed", None) == str(rules / "b.yml")
        write(h.cfg, b"v2")
        (rules / "a.yml").unlink()
        h.source.hint(str(h.cfg), str(rules / "a.yml"))
        await wait_until(lambda: len(triggered()) == 2, timeout=10)
        assert getattr(triggered()[1], "changed", None) == ",".join(
            sorted([str(rules / "a.yml"), str(h.cfg)])
        )


async def test_content_digest_is_what_wait_applied_waits_for(harness: Callable[..., Harness]) -> None:
    h = harness()
    await h.start()
    first = await h.reloader.wait_applied(timeout=10)
    assert await h.reloader.content_digest() == first
    write(h.cfg, b"v2")
    digest = await h.reloader.content_digest()  # the loop has not been told yet
    assert digest != first
    h.source.hint(str(h.cfg))
    assert await h.reloader.wait_applied(digest, timeout=10) == digest
    assert h.action.ok[-1] == b"v2"
