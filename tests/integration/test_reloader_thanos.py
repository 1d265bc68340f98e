"""Port of Thanos' pkg/reloader tests TestReloader_DirectoriesApply and
TestReloader_DirectoriesApplyBasedOnWatchInterval: the same
file-system steps (atomic renames from a staging dir, 2-hop symlink chains created in an unwatched
dir and renamed in, a symlinked watched dir), a reload endpoint failing every second request,
assertions on reloads, attempts and the content each reload saw - not on event counts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from test_reloader_support import start_reloader_fixture  # noqa: F401  (the start_reloader fixture)

from config_reloader.reconcile import ReloaderOptions
from config_reloader.reload.retry import RetryPolicy
from config_reloader.testing import RecordingEndpoint, write_in_place

Start = Callable[..., Any]


def layout(tmp_path: Path) -> tuple[Path, Path, Path]:
    staging, d, d2 = tmp_path / "staging", tmp_path / "dir", tmp_path / "dir2"
    for p in (staging, d, d2, d2 / "rule-dir"):
        p.mkdir()
    (d / "rule-dir").symlink_to(d2 / "rule-dir")
    (staging / "rule1.yaml").write_bytes(b"rule1-changed")
    (staging / "rule3.yaml").write_bytes(b"rule3-changed")
    (staging / "rule4.yaml").write_bytes(b"rule4-changed")
    (d / "rule1.yaml").write_bytes(b"rule")
    (d2 / "rule3-source.yaml").write_bytes(b"rule3")
    (d2 / "rule3-001.yaml").symlink_to(d2 / "rule3-source.yaml")
    (d2 / "rule-dir" / "rule4.yaml").write_bytes(b"rule4")
    return staging, d, d2


async def test_directories_apply(tmp_path: Path, start_reloader: Start) -> None:
    staging, d, d2 = layout(tmp_path)
    watched = (str(d), str(d / "rule-dir"))
    async with RecordingEndpoint(watched, fail=lambda n: n % 2 == 0) as ep:
        run = await start_reloader(
            ReloaderOptions(
                reload_url=ep.reload_url,
                watched_dirs=watched,
                watch_interval=3600.0,
                delay_interval=0.0,
                reload_timeout=5.0,
            ),
            initial_reload=False,  # Thanos does no initial apply without a config file
            retry=RetryPolicy(initial=0.1, maximum=0.1, jitter=0.0),  # RetryInterval 100ms, fixed
        )

        def last(name: str) -> bytes | None:
            return ep.successful[-1].contents.get(str(d / name)) if ep.successful else None

        # step 0: a plain (non-atomic) write of a new file. Its IN_CREATE and IN_CLOSE_WRITE can
        # settle in two batches on a loaded machine (the settler does not treat IN_CREATE as
        # "open for writing"; reported to the sensing owner), so this step may take one extra
        # reload; it always ends with a successful one (odd request number).
        write_in_place(d / "rule2.yaml", b"rule2")
        await ep.wait_for(lambda: last("rule2.yaml") == b"rule2", timeout=15)
        await run.reloader.wait_applied(timeout=10)
        assert (last("rule1.yaml"), last("rule2.yaml"), last("rule-dir/rule4.yaml")) == (
            b"rule",
            b"rule2",
            b"rule4",
        )
        base_ok, base_requests = len(ep.successful), len(ep.reloads)
        base_attempts = run.metric("reloader_reloads_total")
        base_failed = run.metric("reloader_reloads_failed_total")

        async def step_done(n: int) -> None:
            await ep.wait_for(lambda: len(ep.successful) == base_ok + n, timeout=15)
            await run.reloader.wait_applied(timeout=10)

        # step 1: atomic replace by rename from the staging dir
        os.rename(staging / "rule1.yaml", d / "rule1.yaml")
        await step_done(1)
        assert last("rule1.yaml") == b"rule1-changed"

        # step 2: a 2-hop symlink chain made in the unwatched dir, renamed into the watched one
        (d2 / "rule3.yaml").symlink_to(d2 / "rule3-001.yaml")
        os.rename(d2 / "rule3.yaml", d / "rule3.yaml")
        await step_done(2)
        assert last("rule3.yaml") == b"rule3"

        # step 3: new content behind a new chain, swapped in by rename; old link removed
        os.rename(staging / "rule3.yaml", d2 / "rule3-source.yaml")
        (d2 / "rule3-002.yaml").symlink_to(d2 / "rule3-source.yaml")
        (d2 / "rule3.yaml").symlink_to(d2 / "rule3-002.yaml")
        os.rename(d2 / "rule3.yaml", d / "rule3.yaml")
        (d2 / "rule3-001.yaml").unlink()
        await step_done(3)
        assert last("rule3.yaml") == b"rule3-changed"

        # step 4: a change seen only through the symlinked watched dir
        os.rename(staging / "rule4.yaml", d2 / "rule-dir" / "rule4.yaml")
        await step_done(4)
        assert last("rule-dir/rule4.yaml") == b"rule4-changed"

        # Thanos: 9 attempts, 4 failures, 5 reloads (every 2nd request fails): steps 1-4 took
        # exactly one failed and one successful attempt each
        assert ep.reloads[0].status == 200 and len(ep.reloads) % 2 == 1
        assert [r.status for r in ep.reloads[base_requests:]] == [500, 200] * 4
        assert run.metric("reloader_reloads_total") == base_attempts + 8
        assert run.metric("reloader_reloads_failed_total") == base_failed + 4
        assert run.metric("reloader_watch_errors_total") == 0


async def test_directories_apply_based_on_watch_interval(tmp_path: Path, start_reloader: Start) -> None:
    _staging, d, d2 = layout(tmp_path)
    watched = (str(d), str(d / "rule-dir"))
    async with RecordingEndpoint(watched) as ep:
        await start_reloader(
            ReloaderOptions(
                reload_url=ep.reload_url,
                watched_dirs=watched,
                watch_interval=0.5,
                delay_interval=0.0,
                reload_timeout=5.0,
            ),
            initial_reload=False,
            retry=RetryPolicy(initial=3600.0, maximum=3600.0, jitter=0.0),
        )
        # step 0: a symlink chain appears in the watched dir (event) -> reload 1
        (d2 / "rule3.yaml").symlink_to(d2 / "rule3-001.yaml")
        os.rename(d2 / "rule3.yaml", d / "rule3.yaml")
        await ep.wait_for(lambda: len(ep.successful) == 1, timeout=15)
        assert ep.successful[-1].contents[str(d / "rule3.yaml")] == b"rule3"
        # step 1: content changes behind the link in an unwatched dir: no event, the resync sees it
        (d2 / "rule3-source.yaml").write_bytes(b"rule3-changed-unwatched")
        await ep.wait_for(lambda: len(ep.successful) == 2, timeout=15)
        assert ep.successful[-1].contents[str(d / "rule3.yaml")] == b"rule3-changed-unwatched"
        assert len(ep.reloads) == 2
