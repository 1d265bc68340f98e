"""Render the config output: gunzip, ``$(VAR)`` expansion, validate hook, atomic write.

Semantics follow Thanos ``pkg/reloader`` / prometheus-config-reloader:

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

Bounds: the input, its gunzipped form and its expansion are each limited to ``max_size`` bytes
(``--max-config-size``), checked while decompressing and expanding; the input and the previous
output are read only if they are regular files (:mod:`config_reloader.bounded_read`). The
validator runs from :mod:`config_reloader.validate`.
"""

from __future__ import annotations

import os
import zlib

from config_reloader import errors  # errors.X at a raise: errors.reloader loads on first use
from config_reloader.atomic import DEFAULT_MODE, atomic_write, inherited_mode
from config_reloader.bounded_read import FileTooLarge, NotRegularFile, output_matches, read_stable
from config_reloader.fileid import FileIdentity, file_identity
from config_reloader.record import Record, record
from config_reloader.sizes import DEFAULT_MAX_CONFIG_SIZE, format_size
from config_reloader.validate import DEFAULT_VALIDATE_TIMEOUT, kill_validators, run_validate, validate_argv

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

__all__ = [
    "DEFAULT_MAX_CONFIG_SIZE",
    "DEFAULT_VALIDATE_TIMEOUT",
    "GZIP_MAGIC",
    "Rendered",
    "env_references",
    "expand_env",
    "gunzip",
    "is_empty_config",
    "kill_validators",
    "output_matches",
    "render_bytes",
    "render_file",
    "render_file_async",
    "validate_argv",
    "write_output",
]

GZIP_MAGIC = b"\x1f\x8b"
# The bytes of a $(NAME) name. Source: thanos pkg/reloader/reloader.go (envVarRegexp
# `\$\(([a-zA-Z_0-9]+)\)`); Kubernetes' $(VAR) dependent-variable syntax.
_NAME_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
_NAME_BYTE_SET = frozenset(_NAME_BYTES)  # of ints, as indexing bytes gives
_FEED_CHUNK = 1 << 16  # input bytes per zlib call: its unconsumed tail is copied on every call
_INFLATE_CHUNK = 1 << 20  # output bytes per zlib call: memory stays within the limit + 1 MiB


@record  # not a dataclass: the init container's one-shot render does not load dataclasses (record.py)
class Rendered(Record):
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
        source_mode: permission bits a new output takes from the input
            (:func:`~config_reloader.atomic.inherited_mode`: no group/other write from a file
            another user owns); ``None`` from :func:`render_bytes`.
        expanded_values: the values ``$(VAR)`` expansion put into ``data``, to be masked in
            anything logged (:func:`~config_reloader.logs.redact_values`); not in the repr.
    """

    data: bytes
    unset_vars: tuple[str, ...]
    source_gzip: bool
    written: bool = False
    source_digest: bytes = b""
    source_identity: FileIdentity | None = None
    source_mode: int | None = None
    expanded_values: tuple[str, ...] = ()

    _norepr = frozenset({"expanded_values"})


def expand_env(
    data: bytes, env: Mapping[str, str], *, limit: int | None = None, source: str = "config"
) -> tuple[bytes, tuple[str, ...]]:
    """Expand ``$(NAME)`` references in ``data``; returns ``(expanded, sorted unset names)``.

    Unset references are kept verbatim. Values are encoded with :func:`os.fsencode`.

    Args:
        data: the (decompressed) input.
        env: the variables.
        limit: maximum size of the result in bytes (``None``: unbounded); checked while the
            result is built, so 20,000 references to a 100 KB value fail after ``limit`` bytes.
        source: the input's path, for the error message.

    Raises:
        ConfigTooLarge: the result would exceed ``limit``.
    """
    expanded, unset, _values = _expand(data, env, limit=limit, source=source)
    return expanded, unset


def _skip(data: bytes, pos: int, chars: bytes) -> int:
    """Index of the first byte of ``data`` at or after ``pos`` that is not in ``chars``
    (``len(data)`` when there is none).

    ``bytes.lstrip`` on pieces that double in size from 64 bytes: C speed over a long run, and
    linear in the bytes looked at (a short run copies one small piece, not the rest of ``data``).
    """
    step = 64
    while pos < len(data):
        piece = data[pos : pos + step]
        rest = piece.lstrip(chars)
        pos += len(piece) - len(rest)
        if rest:
            return pos
        step *= 2
    return len(data)


def env_references(data: bytes) -> Iterator[tuple[int, int, str]]:
    """Every ``$(NAME)`` in ``data``, left to right, without overlaps: ``(start, end, NAME)``
    with ``data[start:end] == b"$(NAME)"``.

    Grammar: ``"$(" NAME ")"`` with NAME one or more of ``[A-Za-z0-9_]`` (Thanos'
    ``envVarRegexp``); anything else after ``$(`` is not a reference, and the search goes on at
    the byte after that ``$``.
    """
    pos = data.find(b"$(")
    while pos >= 0:
        start = pos + 2
        # the first byte alone rules most non-references out, without a call
        name_end = (
            _skip(data, start, _NAME_BYTES) if start < len(data) and data[start] in _NAME_BYTE_SET else start
        )
        if name_end > start and data[name_end : name_end + 1] == b")":
            yield pos, name_end + 1, data[start:name_end].decode("ascii")
            pos = data.find(b"$(", name_end + 1)
        else:
            pos = data.find(b"$(", pos + 1)


def _expand(
    data: bytes, env: Mapping[str, str], *, limit: int | None, source: str
) -> tuple[bytes, tuple[str, ...], tuple[str, ...]]:
    """:func:`expand_env` that also returns the values it inserted (sorted, each once)."""
    unset: set[str] = set()
    values: set[str] = set()
    out = bytearray()
    last = 0
    for start, end, name in env_references(data):
        value = env.get(name)
        if value is None:
            unset.add(name)
            continue
        out += data[last:start]
        out += os.fsencode(value)
        last = end
        if value:
            values.add(value)
        if limit is not None and len(out) > limit:
            raise _too_large(source, "the size after $(VAR) expansion", limit)
    if last == 0:
        return data, tuple(sorted(unset)), ()
    out += data[last:]
    if limit is not None and len(out) > limit:
        raise _too_large(source, "the size after $(VAR) expansion", limit)
    return bytes(out), tuple(sorted(unset)), tuple(sorted(values))


def _too_large(source: str, what: str, limit: int) -> errors.ConfigTooLarge:
    return errors.ConfigTooLarge(
        f"{source}: {what} exceeds --max-config-size={format_size(limit)} "
        "(raise the limit if a config this large is intended)",
        path=source,
        limit=limit,
    )


def gunzip(raw: bytes, *, limit: int, source: str = "config") -> bytes:
    """Decompress a gzip stream (all members, zero padding between them allowed, as
    :func:`gzip.decompress` and Go's multistream reader accept), stopping at ``limit`` output bytes.

    Input is fed in 64 KiB pieces and output taken 1 MiB per zlib call, so memory stays within
    ``raw`` + ``limit`` + 1 MiB whatever the compression ratio.

    Raises:
        GzipError: not a valid gzip stream (bad header, corrupt data, truncated, bad CRC/length).
        ConfigTooLarge: more than ``limit`` bytes of output.
    """
    out = bytearray()
    view = memoryview(raw)
    pos = 0
    try:
        while True:
            d = zlib.decompressobj(wbits=31)  # 16 + MAX_WBITS: gzip header and trailer checked
            pending: bytes | memoryview = b""
            while not d.eof:
                if not pending:
                    if pos >= len(raw):
                        break  # the input ended inside this member
                    pending = view[pos : pos + _FEED_CHUNK]
                    pos += len(pending)
                chunk = d.decompress(pending, min(_INFLATE_CHUNK, limit + 1 - len(out)))
                out += chunk
                if len(out) > limit:
                    raise _too_large(source, "the gunzipped size", limit)
                tail = d.unconsumed_tail
                if not chunk and len(tail) == len(pending):
                    break  # no progress (cannot happen with zlib; never loop on it)
                pending = tail
            if not d.eof:
                raise errors.GzipError(
                    f"{source}: starts with the gzip magic bytes but does not decompress: "
                    "truncated gzip stream",
                    path=source,
                )
            pos -= len(d.unused_data) + len(d.unconsumed_tail)
            pos = _skip(raw, pos, b"\x00")
            if pos >= len(raw):
                return bytes(out)
    except zlib.error as exc:
        raise errors.GzipError(
            f"{source}: starts with the gzip magic bytes but does not decompress: {exc}", path=source
        ) from exc


def render_bytes(
    raw: bytes,
    *,
    source: str,
    env: Mapping[str, str],
    strict_env: bool,
    max_size: int = DEFAULT_MAX_CONFIG_SIZE,
    digest: bool = True,
) -> Rendered:
    """Gunzip (by magic bytes) and expand ``$(VAR)`` references in ``raw``.

    Args:
        raw: the input bytes.
        source: the input's path, for error messages.
        env: variables for expansion (usually ``os.environ``).
        strict_env: unset references are an error instead of being kept verbatim.
        max_size: bound in bytes of ``raw``, of its decompressed form and of the expanded result
            (``--max-config-size``).
        digest: compute ``source_digest`` (False: left ``b""``, for a caller that compares
            nothing, such as the one-shot render).

    Raises:
        GzipError: ``raw`` starts with ``1f 8b`` but is not a valid gzip stream.
        ConfigTooLarge: ``raw``, its decompressed form or the expansion exceeds ``max_size``.
        EnvExpansionError: ``strict_env`` and at least one referenced variable is unset
            (``.names`` lists all of them).
    """
    if len(raw) > max_size:
        raise _too_large(source, f"the size ({len(raw)} bytes)", max_size)
    source_digest = _sha256(raw) if digest else b""
    is_gzip = raw[:2] == GZIP_MAGIC
    if is_gzip:
        raw = gunzip(raw, limit=max_size, source=source)
    data, unset, values = _expand(raw, env, limit=max_size, source=source)
    if unset and strict_env:
        names = ", ".join(unset)
        raise errors.EnvExpansionError(
            f"{source}: found reference to unset environment variable(s) {names} "
            "(set them, or run without --strict-env to keep the references verbatim)",
            path=source,
            names=unset,
        )
    return Rendered(
        data=data, unset_vars=unset, source_gzip=is_gzip, source_digest=source_digest, expanded_values=values
    )


def _sha256(data: bytes) -> bytes:
    # hashlib is imported here: it loads OpenSSL's libcrypto (~2.5 ms of CPU), which the
    # init container's one-shot render (digest=False) never needs
    import hashlib

    return hashlib.sha256(data).digest()


def is_empty_config(data: bytes) -> bool:
    """True if ``data`` holds nothing but whitespace and ``#`` comment lines: to Prometheus (and
    any YAML reader) an empty document, so every scrape target and rule would be dropped.

    Linear in ``len(data)``, and stops at the first byte that is neither.
    """
    pos = 0
    while True:
        pos = _skip(data, pos, b" \t\r\n")
        if pos == len(data):
            return True
        if data[pos] != 0x23:  # "#"
            return False
        end = data.find(b"\n", pos)
        if end < 0:
            return True
        pos = end + 1


def render_file(
    config_file: str,
    output_file: str | None,
    *,
    env: Mapping[str, str],
    strict_env: bool,
    validate_command: Sequence[str] | None = None,
    validate_timeout: float = DEFAULT_VALIDATE_TIMEOUT,
    write: bool = True,
    max_size: int = DEFAULT_MAX_CONFIG_SIZE,
    digest: bool = True,
) -> Rendered:
    """Read ``config_file``, render it, validate it, and write ``output_file`` if its bytes changed.

    Blocking (file I/O and maybe a child process); use :func:`render_file_async` from a loop.

    Args:
        config_file: input path (may be gzip-compressed; symlinks followed; must be a regular file).
        output_file: where to write; ``None`` = render (and validate) only.
        env, strict_env, max_size, digest: see :func:`render_bytes`.
        validate_command: argv run on a candidate temp file written next to the output (``{}`` in
            any argument is replaced by its path; with no ``{}`` the path is appended). Non-zero
            exit rejects the render. Its output, kept in :class:`ValidationFailed`, has every
            expanded value masked.
        validate_timeout: seconds before the validator is killed (counts as a rejection).
        write: False = stop after validation (the candidate is still placed next to
            ``output_file``, so relative paths in the config resolve as they will); write later
            with :func:`write_output`.

    Returns:
        :class:`Rendered`; ``written`` tells whether ``output_file`` was replaced. Modes: see
        :func:`write_output`.

    Raises:
        RenderError: the input cannot be read or is not a regular file. GzipError,
            ConfigTooLarge, EnvExpansionError: see :func:`render_bytes`. ValidationFailed: the
            validator rejected the candidate, timed out or could not run. AtomicWriteError: the
            output could not be written.
    """
    try:
        raw, st = read_stable(config_file, max_size)
    except NotRegularFile as exc:
        raise errors.RenderError(
            f"cannot read config file {config_file}: {exc.kind}, not a regular file", path=config_file
        ) from exc
    except FileTooLarge as exc:
        what = f"the size ({exc.size} bytes)" if exc.size >= 0 else "the size (grown while read)"
        raise _too_large(config_file, what, max_size) from exc
    except OSError as exc:
        raise errors.RenderError(
            f"cannot read config file {config_file}: {exc.strerror}", path=config_file
        ) from exc
    rendered = render_bytes(
        raw, source=config_file, env=env, strict_env=strict_env, max_size=max_size, digest=digest
    ).replace(source_identity=file_identity(st), source_mode=inherited_mode(st))
    del raw
    if validate_command:
        run_validate(
            validate_command,
            rendered.data,
            output_file=output_file,
            source=config_file,
            timeout=validate_timeout,
            secrets=rendered.expanded_values,
        )
    if output_file is None or not write:
        return rendered
    return write_output(output_file, rendered)


def write_output(output_file: str, rendered: Rendered, *, new_mode: int | None = None) -> Rendered:
    """Write ``rendered.data`` to ``output_file`` atomically, only if its bytes differ.

    The second half of :func:`render_file`, separate so that a caller can check for newer
    changes between rendering and writing (the reconciler asks the change source whether a write
    raced the read, and then renders again instead of writing a possibly half-written input).

    Modes (see :func:`config_reloader.atomic.atomic_write`): a previous output that is a regular
    file owned by this user keeps its permission bits; otherwise the output gets ``new_mode``, or
    ``rendered.source_mode`` (the input's bits, without group/other write if another user owns
    the input), or 0644; in every case reduced by the umask. Owner and group are never taken from
    a file another user created.

    Args:
        output_file: where to write.
        rendered: what :func:`render_bytes` / :func:`render_file` returned.
        new_mode: permission bits for a new output (before the umask); ``None``: see above.

    Returns:
        ``rendered`` with ``written=True`` if the output was replaced, else ``rendered`` unchanged.

    Raises:
        AtomicWriteError: the output could not be written (the previous output is untouched).
    """
    if output_matches(output_file, rendered.data):
        return rendered
    if new_mode is None:
        new_mode = rendered.source_mode if rendered.source_mode is not None else DEFAULT_MODE
    atomic_write(output_file, rendered.data, new_mode=new_mode)
    return rendered.replace(written=True)


async def render_file_async(
    config_file: str,
    output_file: str | None,
    *,
    env: Mapping[str, str],
    strict_env: bool,
    validate_command: Sequence[str] | None = None,
    validate_timeout: float = DEFAULT_VALIDATE_TIMEOUT,
    max_size: int = DEFAULT_MAX_CONFIG_SIZE,
) -> Rendered:
    """:func:`render_file` in a worker thread (arguments, result and errors are the same)."""
    import asyncio  # here: the init container's one-shot render never loads the event loop

    return await asyncio.to_thread(
        render_file,
        config_file,
        output_file,
        env=env,
        strict_env=strict_env,
        validate_command=validate_command,
        validate_timeout=validate_timeout,
        max_size=max_size,
    )
