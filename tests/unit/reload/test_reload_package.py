"""The reload package surface: lazy names, protocol conformance, cheap import."""

from __future__ import annotations

import sys

import childproc

import config_reloader.reload as reload
from config_reloader.reload import ReloadAction


def test_every_public_name_resolves() -> None:
    for name in reload.__all__:
        assert getattr(reload, name) is not None, name


def test_actions_satisfy_the_protocol() -> None:
    actions = [
        reload.HttpReload("http://127.0.0.1:9/-/reload", timeout=1),
        reload.SignalReload(signal=1, target=lambda: None, timeout=1),
        reload.CommandReload(["true"], timeout=1),
    ]
    actions.append(reload.VerifiedReload(actions[1], runtimeinfo_url="http://127.0.0.1:9/x", timeout=1))
    assert [a.method for a in actions] == ["http", "signal", "command", "signal"]
    assert all(isinstance(a, ReloadAction) for a in actions)


def test_signal_reload_does_not_import_aiohttp() -> None:
    code = (
        "import sys\n"
        "from config_reloader.reload import SignalReload, CommandReload, RetryPolicy\n"
        "assert 'aiohttp' not in sys.modules, 'aiohttp imported'\n"
    )
    childproc.run([sys.executable, "-c", code], check=True)
