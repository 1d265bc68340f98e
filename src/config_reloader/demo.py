"""The engine of ``config-reloader demo``: the reloader against a throwaway reload target.

In a temp dir: the bundled examples (``examples/prometheus.yml.tmpl`` with ``$(VAR)`` references,
``examples/rules/``) are copied, a :class:`~config_reloader.testing.RecordingEndpoint` plays
Prometheus (it reads the files at the moment of each ``POST /-/reload``), and a
:class:`~config_reloader.reconcile.Reloader` with ``--delay-interval=0`` watches them. Files are
then edited the three ways users (and kubelet) do, plus one byte-identical rewrite, and every
reload is printed with the latency from the write to the reload request in milliseconds and what
the target saw. Nothing outside the temp dir is touched; everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import TextIO

__all__ = ["DemoStep", "run_demo"]

_TIMEOUT = 10.0  # seconds to wait for one reload before the demo reports a failure


@dataclass(frozen=True, slots=True)
class DemoStep:
    """One edit and what followed.

    Attributes:
        name: ``"initial"``, ``"atomic rename"``, ``"in-place write"``, ``"kubelet swap"``,
            ``"template change"``, ``"identical rewrite"``.
        reloaded: whether the target got a reload for this edit.
        latency_ms: milliseconds from the end of the write (the writer's close/rename) to the
            reload request arriving at the target; ``None`` without a reload.
        saw: the line of interest as the target read it during that reload.
    """

    name: str
    reloaded: bool
    latency_ms: float | None
    saw: str = ""


def _copy_examples(root: str) -> None:
    src = resources.files("config_reloader") / "examples"
    with resources.as_file(src) as path:
        shutil.copytree(path, root, dirs_exist_ok=True)


def _line(data: bytes | None, needle: str) -> str:
    if data is None:
        return "<missing>"
    for line in data.decode(errors="replace").splitlines():
        if needle in line:
            return line.strip()
    return "<no line with " + needle + ">"


async def run_demo(out: TextIO, *, workdir: str | None = None, keep: bool = False) -> list[DemoStep]:
    """Run the demo, printing to ``out``; returns the steps.

    Args:
        out: where to print (``sys.stdout`` for the CLI).
        workdir: directory to use (default: a fresh temp dir, removed afterwards unless ``keep``).
        keep: keep the temp dir (its path is printed).

    Raises:
        TimeoutError: a reload did not arrive within 10 s (the demo failed).
    """
    from config_reloader.promtext import Registry as CollectorRegistry
    from config_reloader.reconcile import Reloader, ReloaderOptions
    from config_reloader.reload.retry import RetryPolicy
    from config_reloader.testing import KubeletAtomicWriter, RecordingEndpoint, atomic_replace, write_in_place

    own_dir = workdir is None
    root = workdir or tempfile.mkdtemp(prefix="config-reloader-demo-")
    try:
        _copy_examples(root)
        tmpl = os.path.join(root, "prometheus.yml.tmpl")
        rendered = os.path.join(root, "prometheus.yml")
        rules = os.path.join(root, "rules")
        cm = os.path.join(root, "configmap")
        kubelet = KubeletAtomicWriter(cm)
        kubelet.write({"extra.yml": b"groups:\n  - name: from-configmap\n    rules: []\n"})
        alerts = os.path.join(rules, "alerts.yml")
        cm_file = os.path.join(cm, "extra.yml")

        def p(text: str) -> None:
            print(text, file=out, flush=True)

        async with RecordingEndpoint([rendered, rules, cm]) as ep:
            options = ReloaderOptions(
                config_file=tmpl,
                config_envsubst_file=rendered,
                watched_dirs=(rules, cm),
                delay_interval=0.0,
                watch_interval=3600.0,
                reload_url=ep.reload_url,
                reload_timeout=5.0,
            )
            registry = CollectorRegistry()
            reloader = Reloader(
                options,
                registry=registry,
                env={"CLUSTER": "demo", "POD_NAME": "prometheus-demo-0"},
                retry=RetryPolicy(initial=0.1, maximum=1.0),
            )
            p(f"config-reloader demo in {root}")
            p(f"  reload target: {ep.reload_url} (a recording stand-in for Prometheus, 127.0.0.1 only)")
            p("  watching: prometheus.yml.tmpl (rendered to prometheus.yml), rules/, configmap/")
            p("  --delay-interval=0: an atomic rename reloads at once, an in-place write after its close")
            p("")
            task = asyncio.create_task(reloader.run())
            try:
                steps: list[DemoStep] = []

                async def expect_reload(
                    name: str, edit: Callable[[], object], path: str, expect: str, *, in_thread: bool = False
                ) -> None:
                    """Edit, then wait for the reload whose target read the ``expect`` line."""
                    await reloader.wait_applied(timeout=_TIMEOUT)
                    before = len(ep.successful)
                    needle = expect.split(":", 1)[0] + ":"
                    if in_thread:
                        await asyncio.to_thread(edit)
                    else:
                        edit()
                    done = time.monotonic()

                    def arrived() -> bool:
                        return any(
                            _line(r.contents.get(path), needle) == expect for r in ep.successful[before:]
                        )

                    await ep.wait_for(arrived, timeout=_TIMEOUT)
                    for i, rec in enumerate(ep.successful[before:], start=before + 1):
                        latency = max(0.0, (rec.at - done) * 1000.0)
                        saw = _line(rec.contents.get(path), needle)
                        if saw == expect:
                            steps.append(DemoStep(name, True, latency, saw))
                            p(f"  reload #{i}  {name:<18} {latency:7.1f} ms   target saw: {saw}")
                            break
                        # Honest output: with --delay-interval=0 a writer's temp file can be seen
                        # in a watched dir before its rename (see docs/watch.md).
                        p(f"  reload #{i}  {'(intermediate)':<18} {latency:7.1f} ms   target saw: {saw}")

                await ep.wait_for(lambda: len(ep.successful) >= 1, timeout=_TIMEOUT)
                first = ep.successful[0]
                saw = _line(first.contents.get(rendered), "cluster:")
                steps.append(DemoStep("initial", True, None, saw))
                p(f"  reload #1  {'initial':<18}       -      target saw: {saw} (rendered from $(CLUSTER))")

                await expect_reload(
                    "atomic rename",
                    lambda: atomic_replace(alerts, _edit(alerts, b"for: 5m", b"for: 10m")),
                    alerts,
                    "for: 10m",
                )
                new_alerts = _edit(alerts, b"severity: warning", b"severity: critical")
                await expect_reload(
                    "in-place write",
                    lambda: write_in_place(alerts, new_alerts, chunks=3, pause=0.03),
                    alerts,
                    "severity: critical",
                    in_thread=True,
                )
                await expect_reload(
                    "kubelet swap",
                    lambda: kubelet.write(
                        {"extra.yml": b"groups:\n  - name: from-configmap-v2\n    rules: []\n"}
                    ),
                    cm_file,
                    "- name: from-configmap-v2",
                )
                await expect_reload(
                    "template change",
                    lambda: atomic_replace(
                        tmpl, _edit(tmpl, b"cluster: $(CLUSTER)", b"cluster: $(CLUSTER)-eu")
                    ),
                    rendered,
                    "cluster: demo-eu",
                )

                # Byte-identical rewrite: events arrive, an apply pass runs, no reload follows. The
                # new file is staged outside the watched dir and renamed in (one atomic step), so
                # only the digest logic is on show, not a temp file appearing in rules/.
                await reloader.wait_applied(timeout=_TIMEOUT)
                applies = registry.get_sample_value("reloader_config_apply_operations_total") or 0.0
                before = len(ep.reloads)
                staged = os.path.join(root, ".alerts.yml.staged")
                atomic_replace(staged, _edit(alerts, b"", b""))
                os.replace(staged, alerts)

                def applied_again() -> bool:
                    v = registry.get_sample_value("reloader_config_apply_operations_total") or 0.0
                    return v > applies

                await ep.wait_for(applied_again, timeout=_TIMEOUT)
                await reloader.wait_applied(timeout=_TIMEOUT)
                reloaded = len(ep.reloads) > before
                steps.append(DemoStep("identical rewrite", reloaded, None, ""))
                verdict = "reloaded (unexpected!)" if reloaded else "no reload: same content, same digest"
                p(f"  -          {'identical rewrite':<18}       -      {verdict}")
                p("")
                lat = [s.latency_ms for s in steps if s.latency_ms is not None]
                failed = len(ep.reloads) - len(ep.successful)
                p(
                    f"  {len(ep.successful)} reloads, {failed} failed requests; "
                    f"write-to-reload latency {min(lat):.1f}-{max(lat):.1f} ms"
                )
                return steps
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        if own_dir and not keep:
            shutil.rmtree(root, ignore_errors=True)


def _edit(path: str, old: bytes, new: bytes) -> bytes:
    with open(path, "rb") as f:
        data = f.read()
    if old not in data:
        raise RuntimeError(f"demo example {path} lacks {old!r}")
    return data.replace(old, new, 1)
