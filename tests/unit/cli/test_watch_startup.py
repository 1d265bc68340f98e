"""What ``watch`` imports on the paths that run in prometheus-operator's reloader slot (10m CPU,
50Mi): the init container's one-shot render and the sidecar up to its first reload.

Like test_cli_startup.py these pin *what* is imported, never how long it takes (bench/ measures
that): a heavy module creeping back onto a path fails here with its name, on any machine.
"""

from __future__ import annotations

import gzip
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import bcrypt
import childproc
import pytest
from httphead import read_head

# Runs the CLI like the console script does; at exit prints every module it imported that the
# bare interpreter had not, and whether ssl is the real module.
_CHILD = """
import sys
before = set(sys.modules)
from config_reloader.cli import main
try:
    status = main(sys.argv[1:])
finally:
    new = sorted(set(sys.modules) - before)
    real = sorted(m for m in new if sys.modules.get(m) is not None)
    sys.stderr.write("\\n".join("MODULE " + m for m in real) + "\\n")
raise SystemExit(status)
"""

# Never on the one-shot render (init container): the event loop, the HTTP client, TLS, metrics.
ONE_SHOT_NEVER = (
    "asyncio",
    "ssl",
    "_ssl",
    "http.client",
    "email",
    "concurrent.futures",
    "subprocess",
    "prometheus_client",
    "aiohttp",
    "yaml",
    "bcrypt",
    "config_reloader.reconcile.loop",
    "config_reloader.metrics",
    "config_reloader.reload.http",
    "config_reloader.watch.watcher",
    "config_reloader.watch.inotify",
    # The listen address is checked by a scanner: no _socket (a shared library) for a render that
    # opens no socket.
    "_socket",
    # Flag machinery the one-shot does not use: the reload client's settings and URL check (the
    # defaults and an absent TLS/credential flag load nothing), ipaddress for ``:PORT``, typing.
    "typing",
    "urllib.parse",
    "ipaddress",
    "base64",
    "config_reloader.reload",
    "config_reloader.reload.client",
    "config_reloader.reload.urls",
    # Rendering once hashes no watched dir.
    "config_reloader.watch.snapshot",
    "config_reloader.watch.digests",
    # logfmt lines of strings need no json.
    "json",
    # The operator's plain --flag=value command line is read without argparse (cli.watchflags).
    "argparse",
    "gettext",
    "locale",
    # The settings and the render result are records, not dataclasses (config_reloader.record).
    "dataclasses",
    "inspect",
    # Its few log lines go through logs.LineLog: the same lines, without the logging module.
    "logging",
    "traceback",
    # atomic_write makes its temp file itself (mkstemp's contract): no tempfile, shutil, random.
    "tempfile",
    "shutil",
    # Nothing compares the input's digest: OpenSSL's libcrypto is not loaded (render_bytes digest=False).
    "hashlib",
    "_hashlib",
    "threading",
    # Durations, sizes, the listen address, $(VAR) references, the StatefulSet ordinal and the
    # default --watch-ignore globs are read by hand-written scanners: no regular expressions
    # (re with enum, functools, collections, operator: ~11 ms of CPU, most of it compiling them).
    "re",
    "enum",
    "functools",
    "collections",
    "fnmatch",
    # The default reload signal is a constant (reconcile.options.DEFAULT_RELOAD_SIGNAL): no
    # signal module and its enum conversion.
    "signal",
    # try/except instead of contextlib.suppress; NaN and infinity compared without math.
    "contextlib",
    "math",
    # The reloader's exception classes are created when one is raised (errors.X at the raise).
    "config_reloader.errors.reloader",
)
# Never in the sidecar without TLS. The reload client is reload/wire.py, not http.client (with its
# email and datetime).
SIDECAR_NEVER = (
    "ssl",
    "_ssl",
    "prometheus_client",
    "aiohttp",
    "argparse",
    "http.client",
    "email",
)


@pytest.fixture
def slot(tmp_path: Path) -> Path:
    """The operator's layout: a gzipped config, an output dir, a rule dir."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "prometheus.yaml.gz").write_bytes(
        gzip.compress(b"global:\n  external_labels:\n    pod: $(POD_NAME)\n")
    )
    (tmp_path / "config_out").mkdir()
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "a.yaml").write_text("groups: []\n")
    return tmp_path


def _flags(d: Path) -> list[str]:
    return [
        f"--config-file={d / 'config' / 'prometheus.yaml.gz'}",
        f"--config-envsubst-file={d / 'config_out' / 'prometheus.env.yaml'}",
        f"--watched-dir={d / 'rules'}",
    ]


def _modules(stderr: str) -> set[str]:
    return {line[7:] for line in stderr.splitlines() if line.startswith("MODULE ")}


def test_one_shot_render_imports_no_event_loop_http_or_tls(slot: Path) -> None:
    proc = childproc.run(
        [sys.executable, "-c", _CHILD, "watch", "--watch-interval=0", "--listen-address=127.0.0.1:8081",
         *_flags(slot)],
        capture_output=True, text=True, timeout=60,
        env={"POD_NAME": "prometheus-k8s-0", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (slot / "config_out" / "prometheus.env.yaml").read_bytes().endswith(b"pod: prometheus-k8s-0\n")
    mods = _modules(proc.stderr)
    assert "config_reloader.reconcile.once" in mods, proc.stderr
    loaded = sorted(m for m in ONE_SHOT_NEVER if m in mods)
    assert loaded == [], f"the one-shot render imported {loaded}"


def _until_watching(child: str, argv: list[str], env: dict[str, str] | None = None) -> str:
    """Run ``watch ARGV`` under the ``child`` program until it logs "started watching", then
    SIGTERM it; returns everything it wrote (exit status 0 checked)."""
    # Logs go to stdout, the MODULE lines to stderr: one pipe for both, read line by line (the
    # test's timeout bounds a readline that never returns).
    proc = childproc.popen(
        [sys.executable, "-c", child, "watch", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    lines = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "watch exited early:\n" + "".join(lines)
            lines.append(line)
            if "started watching" in line:
                break
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = "".join(lines) + rest
    assert proc.returncode == 0, out
    return out


def _sidecar_modules(argv: list[str]) -> set[str]:
    out = _until_watching(_CHILD, argv)
    mods = _modules(out)
    assert "config_reloader.reconcile.loop" in mods, out
    return mods


def test_sidecar_without_tls_loads_no_ssl_nor_prometheus_client(slot: Path) -> None:
    mods = _sidecar_modules(
        ["--listen-address=127.0.0.1:0", "--reload-url=http://127.0.0.1:1/-/reload", *_flags(slot)]
    )
    assert "config_reloader.httpserve" in mods
    loaded = sorted(m for m in SIDECAR_NEVER if m in mods)
    assert loaded == [], f"the sidecar imported {loaded}"


def test_sidecar_with_basic_auth_only_loads_no_ssl(slot: Path) -> None:
    web = slot / "web.yml"
    web.write_text(f"basic_auth_users:\n  prom: {bcrypt.hashpw(b'pw', bcrypt.gensalt(4)).decode()}\n")
    mods = _sidecar_modules(["--listen-address=127.0.0.1:0", f"--web-config-file={web}", *_flags(slot)])
    loaded = sorted(m for m in SIDECAR_NEVER if m in mods)
    assert loaded == [], f"the sidecar imported {loaded}"


def test_sidecar_with_an_https_reload_url_keeps_ssl(slot: Path) -> None:
    mods = _sidecar_modules(["--reload-url=https://127.0.0.1:1/-/reload", *_flags(slot)])
    assert "ssl" in mods and "_ssl" in mods


def test_prometheus_config_reloader_name_means_watch(slot: Path, tmp_path: Path) -> None:
    """Symlinked as ``prometheus-config-reloader`` (as in the image), the console script takes
    prometheus-config-reloader's bare flags: no ``watch`` word."""
    script = Path(sys.executable).parent / "config-reloader"
    if not script.exists():
        pytest.skip(f"no console script next to {sys.executable}")
    link = tmp_path / "bin" / "prometheus-config-reloader"
    link.parent.mkdir()
    link.symlink_to(script)
    env = {"POD_NAME": "prometheus-k8s-1", "PATH": "/usr/bin:/bin"}
    version = childproc.run([str(link), "--version"], capture_output=True, text=True, timeout=60, env=env)
    assert version.returncode == 0 and version.stdout.strip(), version
    once = childproc.run(
        [str(link), "--watch-interval=0", *_flags(slot)], capture_output=True, text=True, timeout=60, env=env
    )
    assert once.returncode == 0, once.stderr
    assert (slot / "config_out" / "prometheus.env.yaml").read_bytes().endswith(b"pod: prometheus-k8s-1\n")
    # Errors and usage name the program the operator runs, not `config-reloader watch`.
    bad = childproc.run([str(link), "--bogus=1"], capture_output=True, text=True, timeout=60, env=env)
    assert bad.returncode == 2
    assert bad.stderr.startswith("prometheus-config-reloader: error: unknown flag --bogus"), bad.stderr
    assert "config-reloader watch" not in bad.stderr


# Runs the CLI with the first reload's POST wrapped: when it is sent, prints every module imported
# by then that the bare interpreter had not (the sidecar's path to its first reload).
_FIRST_CHILD = """
import sys
before = set(sys.modules)
import config_reloader.reconcile.first as first
real_post = first.post_reload
def post(*args, **kwargs):
    new = sorted(m for m in set(sys.modules) - before if sys.modules.get(m) is not None)
    sys.stderr.write("".join("FIRST " + m + "\\n" for m in new))
    sys.stderr.flush()
    return real_post(*args, **kwargs)
first.post_reload = post
from config_reloader.cli import main
raise SystemExit(main(sys.argv[1:]))
"""

# Never before the sidecar's first reload: the engine and what only it needs.
FIRST_RELOAD_NEVER = (
    "asyncio",
    "concurrent.futures",
    "http.client",
    "email",
    "urllib.parse",
    "ipaddress",
    "typing",
    "threading",
    "logging",
    "dataclasses",
    "inspect",
    "argparse",
    "ssl",
    "_ssl",
    "json",
    "config_reloader.reconcile.loop",
    "config_reloader.reconcile.service",
    "config_reloader.watch.watcher",
    "config_reloader.watch.inotify",
    "config_reloader.metrics",
    "config_reloader.httpserve",
    "config_reloader.promtext",
    # SIGTERM/SIGINT are caught through _signal, the digests' abstract classes come from
    # _collections_abc: no enum, functools or collections (~5 ms of CPU) before the first reload.
    "signal",
    "enum",
    "functools",
    "collections",
)


def test_sidecar_reloads_first_without_the_engine(slot: Path) -> None:
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    answered = threading.Event()

    def answer() -> None:
        conn, _ = srv.accept()
        with conn:
            if not read_head(conn).endswith(b"\r\n\r\n"):
                return
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            answered.set()

    threading.Thread(target=answer, daemon=True).start()
    try:
        out = _until_watching(
            _FIRST_CHILD,
            ["--listen-address=127.0.0.1:0", f"--reload-url=http://127.0.0.1:{port}/-/reload", *_flags(slot)],
            env={"POD_NAME": "prometheus-k8s-0", "PATH": "/usr/bin:/bin"},
        )
    finally:
        srv.close()
    assert answered.is_set(), out
    assert 'msg="reload triggered"' in out
    mods = {line[6:] for line in out.splitlines() if line.startswith("FIRST ")}
    assert "config_reloader.reconcile.first" in mods, out
    loaded = sorted(m for m in FIRST_RELOAD_NEVER if m in mods)
    assert loaded == [], f"the sidecar imported {loaded} before its first reload"
