"""How the program ends: without the interpreter's teardown when nothing needs it, and never at
the cost of output, atexit handlers or a thread's work.

Each case runs the CLI as a program (``main()`` without ``argv``) in a child interpreter.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import childproc

# Runs main() as the program would, with an atexit handler and an optional extra (a thread, a
# tracer). The teardown is observed through an object of __main__ whose __del__ writes straight
# to fd 1 when the interpreter clears the module: it appears only when the ordinary teardown ran.
_CHILD = """
import atexit, os, sys
atexit.register(lambda: print("ATEXIT", flush=False))
class Witness:
    def __del__(self, write=os.write):
        write(1, b"TEARDOWN\\n")
witness = Witness()
EXTRA
from config_reloader.cli import main
sys.argv = ["config-reloader", *sys.argv[1:]]
sys.exit(main())
"""

_THREAD = """
import threading, time
def late():
    time.sleep(0.2)  # still running when main() returns: the exit must wait for it
    print("THREAD DONE")
threading.Thread(target=late).start()
"""


def _run(extra: str, *argv: str) -> tuple[int, str]:
    proc = childproc.run(
        [sys.executable, "-c", _CHILD.replace("EXTRA", extra), *argv],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return proc.returncode, proc.stdout


def test_condition_exits_without_teardown_after_atexit_and_flush() -> None:
    status, out = _run("", "condition", "ConditionArchitecture=|x86-64", "ConditionArchitecture=|arm64")
    assert status == 0, out
    assert "ATEXIT" in out  # handlers ran and their buffered output was flushed
    assert "TEARDOWN" not in out  # the module cleanup did not run


def test_status_is_kept(tmp_path: Path) -> None:
    status, out = _run("", "condition", "ConditionPathExists=" + str(tmp_path / "absent"))
    assert status == 1, out
    assert "ATEXIT" in out and "TEARDOWN" not in out


def test_block_buffered_stdout_is_not_lost() -> None:
    """cpu-features prints tens of lines into a pipe (block-buffered): all of them arrive."""
    status, out = _run("", "cpu-features", "--json")
    assert status == 0, out
    body = out[: out.rindex("ATEXIT")]
    assert body.rstrip().endswith("}"), body[-200:]


def test_one_shot_render_output_and_log_line(tmp_path: Path) -> None:
    config = b"global:\n  external_labels:\n    pod: $(POD_NAME)\n"
    (tmp_path / "p.yaml.gz").write_bytes(gzip.compress(config))
    out_file = tmp_path / "out.yaml"
    proc = childproc.run(
        [sys.executable, "-c", _CHILD.replace("EXTRA", ""), "watch", "--watch-interval=0",
         f"--config-file={tmp_path / 'p.yaml.gz'}", f"--config-envsubst-file={out_file}"],
        capture_output=True, text=True, timeout=60, env={"POD_NAME": "web-0", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert out_file.read_bytes().endswith(b"pod: web-0\n")
    assert "rendered once" in proc.stdout + proc.stderr
    assert "TEARDOWN" not in proc.stdout


def test_a_live_thread_gets_the_ordinary_exit() -> None:
    status, out = _run(_THREAD, "condition", "ConditionArchitecture=x86-64")
    assert status == 0, out
    assert "THREAD DONE" in out and "TEARDOWN" in out, out


def test_a_tracer_gets_the_ordinary_exit() -> None:
    """coverage and profilers report after the program returns: they keep the ordinary exit."""
    status, out = _run("sys.settrace(lambda *a: None)", "condition", "ConditionArchitecture=x86-64")
    assert status == 0, out
    assert "ATEXIT" in out and "TEARDOWN" in out, out
