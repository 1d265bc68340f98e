"""The library example of docs/watch.md runs as written (paths and URL swapped for temp ones)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path
from typing import Any

from config_reloader.testing import RecordingEndpoint, atomic_replace, wait_until

DOC = Path(__file__).resolve().parents[2] / "docs" / "watch.md"


def first_python_block() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert blocks, "docs/watch.md has no python example"
    return str(blocks[0])


async def test_library_example_reloads(tmp_path: Path) -> None:
    tmpl, out, rules = tmp_path / "prometheus.yml.tmpl", tmp_path / "prometheus.yml", tmp_path / "rules"
    rules.mkdir()
    atomic_replace(tmpl, b"x: 1\n")
    atomic_replace(rules / "r.yml", b"groups: []\n")
    async with RecordingEndpoint([str(out), str(rules)]) as ep:
        code = first_python_block()
        assert "asyncio.run(main())" in code
        code = (
            code.replace("asyncio.run(main())", "")
            .replace("/etc/prometheus/prometheus.yml.tmpl", str(tmpl))
            .replace("/run/prometheus/prometheus.yml", str(out))
            .replace("/etc/prometheus/rules", str(rules))
            .replace("http://127.0.0.1:9090/-/reload", ep.reload_url)
        )
        namespace: dict[str, Any] = {}
        exec(compile(code, str(DOC), "exec"), namespace)
        task = asyncio.create_task(namespace["main"]())
        try:
            await ep.wait_for(lambda: len(ep.successful) == 1, timeout=15)
            assert ep.successful[0].contents[str(out)] == b"x: 1\n"
            atomic_replace(rules / "r.yml", b"groups: [] # v2\n")
            await ep.wait_for(lambda: len(ep.successful) == 2, timeout=15)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_watch_changes_example_runs_as_written(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    (code,) = [b for b in blocks if "watch_changes(" in b]
    compile(code, str(DOC), "exec")  # a top-level `async for` is a SyntaxError here
    cfg, confd = tmp_path / "config.yml", tmp_path / "conf.d"
    confd.mkdir()
    atomic_replace(cfg, b"a: 1\n")
    code = (
        code.replace("asyncio.run(main())", "")
        .replace("/etc/myapp/config.yml", str(cfg))
        .replace("/etc/myapp/conf.d", str(confd))
    )
    printed: list[str] = []
    namespace: dict[str, Any] = {"print": printed.append}
    exec(compile(code, str(DOC), "exec"), namespace)
    task = asyncio.create_task(namespace["main"]())
    try:
        await wait_until(lambda: len(printed) == 1, timeout=15)
        atomic_replace(confd / "extra.yml", b"b: 2\n")
        await wait_until(lambda: len(printed) == 2, timeout=15)
        assert printed[0] != printed[1] and all(len(p) == 64 for p in printed)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
