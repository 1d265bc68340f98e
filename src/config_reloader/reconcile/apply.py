"""One read of the inputs: snapshot -> render -> validate -> desired digest; then the atomic output.

Digest semantics: ``desired = sha256("cr1" 0xFF snapshot.digest 0xFF sha256(rendered output))``.
Without rendering, the snapshot covers the config file and the watched dirs. With rendering
(``config_envsubst_file`` or ``validate_command``), the rendered bytes stand for the config file,
which is left out of the snapshot: hashing the raw file and rendering it are two reads, and a
write in between would mix two versions into one digest and reload unchanged output.

Both steps block (file I/O, the validate command): the loop runs them in a worker thread. The
output is not written by :meth:`Applier.read`: the loop first asks the read-consistency guard
whether the read may have met a write, then calls :meth:`Applier.write`.
"""

from __future__ import annotations

import errno
import os
import stat

from config_reloader import errors  # errors.X at a raise: errors.reloader loads on first use
from config_reloader.render import render_file, write_output

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from config_reloader.logs import FieldLog
    from config_reloader.reconcile.options import ReloaderOptions
    from config_reloader.render import Rendered
    from config_reloader.watch.ignore import PathFilter
    from config_reloader.watch.snapshot import Snapshot, Snapshotter

__all__ = ["VALIDATE_OUTPUT_SHOWN", "Applier", "error_fields", "not_a_file", "warn_about"]

VALIDATE_OUTPUT_SHOWN = 2000
"""Characters of ``--validate-command`` output kept in the log (its end)."""


def not_a_file(path: str, *, watching: bool = True) -> str:
    """Why the config file ``path`` cannot be read as a file (for the apply error).

    ``watching``: the loop goes on watching (it says what happens until the file is back);
    False in init mode (render once), where the caller says what happens next.
    """
    looped = is_dir = False
    try:
        is_dir = stat.S_ISDIR(os.stat(path).st_mode)
    except OSError as exc:
        looped = exc.errno == errno.ELOOP
    if looped:
        why = f"config file {path} is a symlink loop (too many levels of symbolic links)"
        until = "until it points at a file"
    elif is_dir:
        why = f"config file {path} is a directory: give the path of the config file"
        until = "until it is a file"
    else:
        why = f"config file {path} does not exist (or is not a regular file)"
        until = "until it is back"
    # The log line says whether there is a previous output to keep (none before the first apply).
    return f"{why}; no reload {until}" if watching else why


def error_fields(exc: BaseException) -> dict[str, object]:
    """Log fields of an apply error: ``err``, and ``validate_output`` (the end of what
    ``--validate-command`` printed: the only way for the user to learn why it refused)."""
    fields: dict[str, object] = {"err": str(exc)}
    if isinstance(exc, errors.ValidationFailed) and exc.output.strip():
        fields["validate_output"] = exc.output.strip()[-VALIDATE_OUTPUT_SHOWN:]
    return fields


def warn_about(rendered: Rendered, options: ReloaderOptions, log: FieldLog) -> bool:
    """Log what an accepted render should warn about (init mode and watch mode alike): unset
    ``$(VAR)`` references left verbatim, and an empty output. Returns whether it is empty."""
    from config_reloader.render import is_empty_config

    if rendered.unset_vars and log.isEnabledFor(30):  # logging.WARNING (logging is not loaded here)
        log.warning(
            "unset environment variables left verbatim",
            extra={"vars": ",".join(rendered.unset_vars), "cfg_in": options.config_file},
        )
    empty = is_empty_config(rendered.data)
    if empty:
        log.warning(
            "rendered config is empty: the target will run with no configuration",
            extra={"cfg_in": options.config_file, "cfg_out": options.config_envsubst_file},
        )
    return empty


class Applier:
    """Reads the inputs of ``options`` into a desired digest and writes the rendered output.

    Args:
        options: what to read and render.
        env: variables for ``$(VAR)`` expansion (the attribute may be replaced between reads).
        path_filter: the compiled ``watch_ignore`` (shared with the change source's hints).
    """

    def __init__(self, options: ReloaderOptions, env: Mapping[str, str], path_filter: PathFilter) -> None:
        self.options = options
        self.env = env
        self._path_filter = path_filter
        self._snapshotter: Snapshotter | None = None

    @property
    def renders(self) -> bool:
        """True if the config file is rendered (an output file or a validate command is set)."""
        o = self.options
        return o.config_file is not None and (
            o.config_envsubst_file is not None or o.validate_command is not None
        )

    def _derived_paths(self) -> frozenset[str]:
        """Snapshot entries covered by the rendered bytes instead (when rendering): the config file
        and the output, if they live inside a watched dir. Hashing both the raw input (snapshot) and
        the render of it (a separate read) could mix two versions of the file into one digest and
        cause a reload of unchanged output."""
        o = self.options
        paths = {p for p in (o.config_file, o.config_envsubst_file) if p is not None}
        return frozenset(p for p in paths if any(p.startswith(d + os.sep) for d in o.watched_dirs))

    def _make_snapshotter(self) -> Snapshotter:
        # Imported on the first read, not with this module: the init container's one-shot render
        # (reconcile/once.py) never snapshots, and watch.snapshot with its digests costs ~2.5-3 ms
        # of CPU at start.
        from config_reloader.watch.snapshot import Snapshotter

        # When rendering, the rendered bytes stand for the config file (same read, consistent).
        extra = (self.options.config_file,) if self.options.config_file and not self.renders else ()
        return Snapshotter(self.options.watched_dirs, extra_files=extra, path_filter=self._path_filter)

    def render(self, *, validate: bool = True, digest: bool = True) -> Rendered | None:
        """Read, render and (unless ``validate=False``) validate the config file, without a
        snapshot of the watched dirs; blocking. ``digest=False``: no ``source_digest``
        (:func:`~config_reloader.render.render_bytes`), for a caller that compares nothing.

        Returns:
            The rendered output, not written; ``None`` when nothing is rendered (no config file,
            or neither an output file nor a validate command).

        Raises:
            RenderError: missing/unreadable config file, gzip, strict env, validation failure.
            OSError: unexpected filesystem errors.
        """
        o = self.options
        if o.config_file is None:
            return None
        if not os.path.isfile(o.config_file):
            raise errors.RenderError(
                not_a_file(o.config_file, watching=o.reloads_enabled), path=o.config_file
            )
        if not self.renders:
            return None
        return render_file(
            o.config_file,
            o.config_envsubst_file,
            env=self.env,
            strict_env=o.strict_env,
            validate_command=o.validate_command if validate else None,
            write=False,
            max_size=o.max_config_size,
            digest=digest,
        )

    def read(
        self, hinted: Sequence[str] | None, *, validate: bool = True
    ) -> tuple[bytes, Rendered | None, Snapshot]:
        """Snapshot (``hinted`` paths only, or everything for ``None``), render and validate; blocking.

        ``validate=False`` skips ``--validate-command`` (the digest does not depend on it).

        Returns:
            ``(desired digest, rendered output or None, snapshot)``; nothing is written.

        Raises:
            RenderError: missing/unreadable config file, gzip, strict env, validation failure.
            OSError: unexpected filesystem errors.
        """
        if self._snapshotter is None:
            self._snapshotter = self._make_snapshotter()
        rendered = self.render(validate=validate)
        snap = self._snapshotter.snapshot(hinted)
        import hashlib  # loaded by the snapshot's digests by now; kept off the one-shot's path

        h = hashlib.sha256(b"cr1\xff")
        derived = self._derived_paths() if rendered is not None else frozenset()
        if derived:
            for path in sorted(snap.files):
                if path not in derived:
                    h.update(path.encode("utf-8", "surrogateescape") + b"\xff" + snap.files[path] + b"\xff")
        else:
            h.update(snap.digest)
        h.update(b"\xff")
        if rendered is not None:
            h.update(hashlib.sha256(rendered.data).digest())
        return h.digest(), rendered, snap

    def write(self, rendered: Rendered) -> None:
        """Write the rendered output atomically (only if its bytes changed); blocking.

        Raises:
            AtomicWriteError: the output could not be written (the previous one is untouched).
        """
        o = self.options
        if o.config_envsubst_file is None:
            return
        # A new output takes the input's mode (rendered.source_mode, read with the input).
        write_output(o.config_envsubst_file, rendered)
