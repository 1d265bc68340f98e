"""Render the config output: gunzip, ``$(VAR)`` expansion, validate hook, atomic write.

Semantics follow Thanos ``pkg/reloader`` / prometheus-config-reloader (research/reloader-anchors.md
§1.8-§1.10):

* gzip is detected by the magic bytes ``1f 8b`` at the start of the input, never by file name; the
  output is always plain;
* only ``$(NAME)`` with ``NAME`` matching ``[a-zA-Z_0-9]+`` is expanded, in one pass, values
  inserted verbatim; ``$NAME``/``${NAME}`` are left alone and there is no escape (``$$(X)`` still
  expands ``$(X)``);
* unset variables: ``strict_env=True`` fails with every unset name; otherwise the reference is kept
  verbatim and reported in :attr:`Rendered.unset_vars` (the reconciler sets
  ``reloader_config_environment_variable_expansion_errors`` and warns).

Unlike Thanos the output is rewritten only when its bytes differ (no needless rename, so the
service's own watcher sees nothing), and an optional validate command must accept a candidate
first. On any failure the previous output is untouched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import os
import re
import stat
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from config_reloader.atomic import atomic_write
from config_reloader.errors import EnvExpansionError, GzipError, RenderError, ValidationFailed
from config_reloader.fileid import FileIdentity, file_identity

__all__ = [
    "ENV_REFERENCE",
    "GZIP_MAGIC",
    "Rendered",
    "expand_env",
    "render_bytes",
    "render_file",
    "render_file_async",
    "validate_argv",
    "write_output",
]

GZIP_MAGIC = b"\x1f\x8b"
# Source: thanos pkg/reloader/reloader.go (envVarRegexp); Kubernetes' $(VAR) dependent-variable syntax.
ENV_REFERENCE = re.compile(rb"\$\(([a-zA-Z_0-9]+)\)")
_OUTPUT_LIMIT = 4096  # characters of validator output kept in ValidationFailed
DEFAULT_VALIDATE_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Rendered:
    """Result of rendering one config file.

    Attributes:
        data: the rendered (decompressed, expanded) bytes.
        unset_vars: names referenced as ``$(NAME)`` but unset, sorted, each once (tolerant mode).
        source_gzip: the input was gzip-compressed.
        written: :func:`render_file` replaced the output (False: no output file, or same bytes).
        source_digest: SHA-256 of the raw input bytes that were rendered (before gunzip); equal
            to ``Snapshot.files[config_file]`` when the snapshot saw the same content. Compare the
            two to detect a write that landed between rendering and snapshotting.
        source_identity: ``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)`` of the input
            (fstat of the descriptor read), equal before and after the read (:func:`render_file`;
            ``None`` from :func:`render_bytes`).
    """

    data: bytes
    unset_vars: tuple[str, ...]
    source_gzip: bool
    written: bool = False
    source_digest: bytes = b""
    source_identity: FileIdentity | None = None


def expand_env(data: bytes, env: Mapping[str, str]) -> tuple[bytes, tuple[str, ...]]:
    """Expand ``$(NAME)`` references in ``data``; returns ``(expanded, sorted unset names)``.

    Unset references are kept verbatim. Values are encoded with :func:`os.fsencode`.
    """
    unset: set[str] = set()

    def sub(m: re.Match[bytes]) -> bytes:
        name = m.group(1).decode("ascii")
        value = env.get(name)
        if value is None:
            unset.add(name)
            return m.group(0)
        return os.fsencode(value)

    return ENV_REFERENCE.sub(sub, data), tuple(sorted(unset))


def render_bytes(raw: bytes, *, source: str, env: Mapping[str, str], strict_env: bool) -> Rendered:
    """Gunzip (by magic bytes) and expand ``$(VAR)`` references in ``raw``.

    Args:
        raw: the input bytes.
        source: the input's path, for error messages.
        env: variables for expansion (usually ``os.environ``).
        strict_env: unset references are an error instead of being kept verbatim.

    Raises:
        GzipError: ``raw`` starts with ``1f 8b`` but is not a valid gzip stream.
        EnvExpansionError: ``strict_env`` and at least one referenced variable is unset
            (``.names`` lists all of them).
    """
    source_digest = hashlib.sha256(raw).digest()
    is_gzip = raw[:2] == GZIP_MAGIC
    if is_gzip:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise GzipError(
                f"{source}: starts with the gzip magic bytes but does not decompress: {exc}", path=source
            ) from exc
    data, unset = expand_env(raw, env)
    if unset and strict_env:
        names = ", ".join(unset)
        raise EnvExpansionError(
            f"{source}: found reference to unset environment variable(s) {names} "
            "(set them, or run without --strict-env to keep the references verbatim)",
            path=source,
            names=unset,
        )
    return Rendered(data=data, unset_vars=unset, source_gzip=is_gzip, source_digest=source_digest)


def validate_argv(command: Sequence[str], candidate: str) -> list[str]:
    """``command`` with every ``{}`` replaced by ``candidate``; appended when there is no ``{}``."""
    if any("{}" in arg for arg in command):
        return [arg.replace("{}", candidate) for arg in command]
    return [*command, candidate]


def _run_validate(
    command: Sequence[str], data: bytes, *, output_file: str | None, source: str, timeout: float
) -> None:
    # Imported here, with asyncio in render_file_async: this module is on the init container's
    # one-shot path, which runs no validator most of the time (subprocess, selectors) and no
    # event loop (asyncio: ~35 ms CPU); config_reloader.reconcile.once says why that counts.
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
            proc = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            out = (exc.output or b"").decode(errors="replace")
            raise ValidationFailed(
                f"{source}: validate command {argv[0]} did not finish within {timeout:g}s",
                path=source,
                returncode=-1,
                output=out[-_OUTPUT_LIMIT:],
            ) from exc
        except OSError as exc:
            raise ValidationFailed(
                f"{source}: cannot run validate command {argv[0]}: {exc.strerror}",
                path=source,
                returncode=-1,
                output="",
            ) from exc
        if proc.returncode != 0:
            out = proc.stdout.decode(errors="replace")
            raise ValidationFailed(
                f"{source}: validate command {argv[0]} rejected the rendered config "
                f"(exit status {proc.returncode})",
                path=source,
                returncode=proc.returncode,
                output=out[-_OUTPUT_LIMIT:],
            )
    finally:
        with contextlib.suppress(OSError):
            os.unlink(candidate)


_READ_ATTEMPTS = 5


def _read_stable(path: str) -> tuple[bytes, int, FileIdentity]:
    """Read ``path``; returns ``(bytes, permission bits, identity)``. A read during which the
    file's identity (size, mtime, ctime) changed was torn by a writer: read again (at most
    ``_READ_ATTEMPTS`` times; the last read is returned, the caller's race checks catch it).

    Raises:
        RenderError: the file cannot be opened or read.
    """
    try:
        for _ in range(_READ_ATTEMPTS):
            with open(path, "rb") as f:
                before = os.fstat(f.fileno())
                raw = f.read()
                after = os.fstat(f.fileno())
            if file_identity(before) == file_identity(after):
                break
    except OSError as exc:
        raise RenderError(f"cannot read config file {path}: {exc.strerror}", path=path) from exc
    return raw, stat.S_IMODE(after.st_mode), file_identity(after)


def render_file(
    config_file: str,
    output_file: str | None,
    *,
    env: Mapping[str, str],
    strict_env: bool,
    validate_command: Sequence[str] | None = None,
    validate_timeout: float = DEFAULT_VALIDATE_TIMEOUT,
    write: bool = True,
) -> Rendered:
    """Read ``config_file``, render it, validate it, and write ``output_file`` if its bytes changed.

    Blocking (file I/O and maybe a child process); use :func:`render_file_async` from a loop.

    Args:
        config_file: input path (may be gzip-compressed; symlinks followed).
        output_file: where to write; ``None`` = render (and validate) only.
        env, strict_env: see :func:`render_bytes`.
        validate_command: argv run on a candidate temp file written next to the output (``{}`` in
            any argument is replaced by its path; with no ``{}`` the path is appended). Non-zero
            exit rejects the render.
        validate_timeout: seconds before the validator is killed (counts as a rejection).
        write: False = stop after validation (the candidate is still placed next to
            ``output_file``, so relative paths in the config resolve as they will); write later
            with :func:`write_output`.

    Returns:
        :class:`Rendered`; ``written`` tells whether ``output_file`` was replaced. A new output
        gets the input's mode; an existing output keeps its own.

    Raises:
        RenderError: the input cannot be read. GzipError, EnvExpansionError: see
            :func:`render_bytes`. ValidationFailed: the validator rejected the candidate, timed out
            or could not run. AtomicWriteError: the output could not be written.
    """
    raw, in_mode, identity = _read_stable(config_file)
    rendered = dataclasses.replace(
        render_bytes(raw, source=config_file, env=env, strict_env=strict_env), source_identity=identity
    )
    if validate_command:
        _run_validate(
            validate_command,
            rendered.data,
            output_file=output_file,
            source=config_file,
            timeout=validate_timeout,
        )
    if output_file is None or not write:
        return rendered
    return write_output(output_file, rendered, new_mode=in_mode)


def write_output(output_file: str, rendered: Rendered, *, new_mode: int | None = None) -> Rendered:
    """Write ``rendered.data`` to ``output_file`` atomically, only if its bytes differ.

    The second half of :func:`render_file`, separate so that a caller can check for newer
    changes between rendering and writing (the reconciler asks the change source whether a write
    raced the read, and then renders again instead of writing a possibly half-written input).

    Args:
        output_file: where to write.
        rendered: what :func:`render_bytes` / :func:`render_file` returned.
        new_mode: permission bits if the output does not exist yet (``None`` = 0o644); an
            existing output keeps its own mode.

    Returns:
        ``rendered`` with ``written=True`` if the output was replaced, else ``rendered`` unchanged.

    Raises:
        AtomicWriteError: the output could not be written (the previous output is untouched).
    """
    try:
        with open(output_file, "rb") as f:
            current: bytes | None = f.read()
    except FileNotFoundError:
        current = None
    except OSError:
        current = None  # unreadable: rewrite it
    if current == rendered.data:
        return rendered
    atomic_write(output_file, rendered.data, mode=None if current is not None else new_mode)
    return dataclasses.replace(rendered, written=True)


async def render_file_async(
    config_file: str,
    output_file: str | None,
    *,
    env: Mapping[str, str],
    strict_env: bool,
    validate_command: Sequence[str] | None = None,
    validate_timeout: float = DEFAULT_VALIDATE_TIMEOUT,
) -> Rendered:
    """:func:`render_file` in a worker thread (arguments, result and errors are the same)."""
    import asyncio  # see _run_validate

    return await asyncio.to_thread(
        render_file,
        config_file,
        output_file,
        env=env,
        strict_env=strict_env,
        validate_command=validate_command,
        validate_timeout=validate_timeout,
    )
