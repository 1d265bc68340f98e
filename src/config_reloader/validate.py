"""``--validate-command``: run a validator on a rendered candidate, mask what it prints.

The validator runs in its own session (process group) so that a timeout, or the reloader's own
stop (:func:`kill_validators`), ends it together with anything it started.
"""

from __future__ import annotations

import os
from _thread import allocate_lock  # threading.Lock itself; `import threading` is ~0.5 ms of the one-shot

from config_reloader import errors  # errors.X at a raise: errors.reloader loads on first use
from config_reloader.logs import redact_values

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Sequence

__all__ = ["DEFAULT_VALIDATE_TIMEOUT", "kill_validators", "run_validate", "validate_argv"]

_OUTPUT_LIMIT = 4096  # characters of validator output kept in ValidationFailed
DEFAULT_VALIDATE_TIMEOUT = 30.0


def validate_argv(command: Sequence[str], candidate: str) -> list[str]:
    """``command`` with every ``{}`` replaced by ``candidate``; appended when there is no ``{}``."""
    if any("{}" in arg for arg in command):
        return [arg.replace("{}", candidate) for arg in command]
    return [*command, candidate]


_children: set[subprocess.Popen[bytes]] = set()
_children_lock = allocate_lock()


def _run_child(argv: Sequence[str], timeout: float) -> tuple[int, bytes]:
    """Run a validator in its own session; ``(exit status, stdout+stderr)``.

    Its own process group, so that a timeout or :func:`kill_validators` also ends what it
    started (``sh -c 'promtool ...'``: a grandchild holding the pipe would make us wait for it).

    Raises:
        subprocess.TimeoutExpired: not done within ``timeout`` seconds (the group was killed;
            ``.output`` holds what it printed).
        OSError: it cannot be started.
    """
    # subprocess and tempfile are imported where a validator runs: render imports this module,
    # and the init container's one-shot render (no --validate-command, most of the time) should
    # not pay for them (config_reloader.reconcile.once says why that counts).
    import subprocess

    with subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    ) as proc:
        with _children_lock:
            _children.add(proc)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, _ = proc.communicate()
            raise subprocess.TimeoutExpired(list(argv), timeout, output=out) from None
        finally:
            with _children_lock:
                _children.discard(proc)
    return proc.returncode, out


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    # signal is imported where a validator is killed: render imports this module, and the
    # init container's one-shot render does not need signal's enum conversion (~1.2 ms)
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_validators() -> int:
    """SIGKILL every running ``--validate-command`` (and what it started); returns how many.

    For shutdown: the worker thread waiting for a validator then returns at once (a
    :class:`ValidationFailed` nobody looks at) instead of holding the process for up to
    ``validate_timeout``. Thread-safe.
    """
    with _children_lock:
        running = [p for p in _children if p.returncode is None]
    for proc in running:
        _kill_group(proc)
    return len(running)


def run_validate(
    command: Sequence[str],
    data: bytes,
    *,
    output_file: str | None,
    source: str,
    timeout: float,
    secrets: Sequence[str] = (),
) -> None:
    """Run the validator on a candidate next to the output.

    Its output is masked (every value in ``secrets``, e.g. one ``promtool`` quotes in its
    complaint) before it is cut to its last 4096 characters, so no cut can keep half a secret.
    """
    import subprocess
    import tempfile

    directory = os.path.dirname(output_file) if output_file else tempfile.gettempdir()
    name = os.path.basename(output_file or source)
    fd, candidate = tempfile.mkstemp(
        dir=directory, prefix=f".{name}.validate-", suffix=os.path.splitext(name)[1]
    )
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        argv = validate_argv(command, candidate)
        try:
            returncode, stdout = _run_child(argv, timeout)
        except subprocess.TimeoutExpired as exc:
            out = redact_values((exc.output or b"").decode(errors="replace"), secrets)
            raise errors.ValidationFailed(
                f"{source}: validate command {argv[0]} did not finish within {timeout:g}s",
                path=source,
                returncode=-1,
                output=out[-_OUTPUT_LIMIT:],
            ) from exc
        except OSError as exc:
            raise errors.ValidationFailed(
                f"{source}: cannot run validate command {argv[0]}: {exc.strerror}",
                path=source,
                returncode=-1,
                output="",
            ) from exc
        if returncode != 0:
            out = redact_values(stdout.decode(errors="replace"), secrets)
            raise errors.ValidationFailed(
                f"{source}: validate command {argv[0]} rejected the rendered config "
                f"(exit status {returncode})",
                path=source,
                returncode=returncode,
                output=out[-_OUTPUT_LIMIT:],
            )
    finally:
        try:
            os.unlink(candidate)
        except OSError:
            pass
