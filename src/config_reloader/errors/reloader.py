"""The reloader's and the supervisor's errors (watching, rendering, atomic writes, reloading,
``run``). Import them from :mod:`config_reloader.errors`, which loads this module on first use
(the module docstring there has the whole tree)."""

from __future__ import annotations

from config_reloader.errors import _RELOADER_ERRORS, ConfigReloaderError

TYPE_CHECKING = False  # collections.abc is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = list(_RELOADER_ERRORS)


# --- watching -------------------------------------------------------------------------------------
class WatchError(ConfigReloaderError):
    """inotify or polling failed."""


class InotifyLimitError(WatchError):
    """inotify could not be set up because a kernel limit was reached.

    Attributes:
        sysctl: the sysctl to raise, e.g. ``fs.inotify.max_user_watches`` (ENOSPC) or
            ``fs.inotify.max_user_instances`` (EMFILE).
    """

    def __init__(self, message: str, *, sysctl: str) -> None:
        super().__init__(message)
        self.sysctl = sysctl


class SnapshotError(ConfigReloaderError):
    """A watched path could not be read while taking a content snapshot."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


# --- rendering ------------------------------------------------------------------------------------
class RenderError(ConfigReloaderError):
    """The output file could not be rendered; the previous output is left untouched."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class GzipError(RenderError):
    """The input starts with the gzip magic bytes but does not decompress."""


class ConfigTooLarge(RenderError):
    """The input, its decompressed form or its ``$(VAR)`` expansion exceeds the size limit
    (``--max-config-size``); nothing beyond the limit was kept in memory.

    Attributes:
        limit: the limit in bytes.
    """

    def __init__(self, message: str, *, path: str, limit: int) -> None:
        super().__init__(message, path=path)
        self.limit = limit


class EnvExpansionError(RenderError):
    """``$(VAR)`` references to unset variables under ``--strict-env``.

    Attributes:
        names: the unset variable names, sorted.
    """

    def __init__(self, message: str, *, path: str, names: Sequence[str]) -> None:
        super().__init__(message, path=path)
        self.names = tuple(names)


class ValidationFailed(RenderError):
    """``--validate-command`` exited non-zero on the rendered candidate."""

    def __init__(self, message: str, *, path: str, returncode: int, output: str) -> None:
        super().__init__(message, path=path)
        self.returncode = returncode
        self.output = output


class AtomicWriteError(ConfigReloaderError):
    """An atomic write failed; the target is unchanged and the temp file removed.

    Attributes:
        path: the target path.
        step: ``"create"``, ``"write"``, ``"fsync"``, ``"chmod"``, ``"rename"`` or ``"fsync-dir"``.
    """

    def __init__(self, message: str, *, path: str, step: str) -> None:
        super().__init__(message)
        self.path = path
        self.step = step


# --- reloading ------------------------------------------------------------------------------------
class ReloadError(ConfigReloaderError):
    """A reload attempt failed. ``target`` is printable and never contains credentials."""

    def __init__(self, message: str, *, target: str) -> None:
        super().__init__(message)
        self.target = target


class ReloadTimeout(ReloadError):
    """The target did not answer within the reload timeout (slow, not necessarily broken)."""


class ReloadRejected(ReloadError):
    """The target answered with a non-200 status (e.g. 403 without --web.enable-lifecycle)."""

    def __init__(self, message: str, *, target: str, status: int, body: str = "") -> None:
        super().__init__(message, target=target)
        self.status = status
        self.body = body


class TargetNotFound(ReloadError):
    """No process matched, the pid file is missing/stale, or the connection was refused."""


class TargetNotReady(ReloadError):
    """The target exists but is not ready to receive a reload yet."""


class VerifyFailed(ReloadError):
    """Runtime info did not confirm the reload (reloadConfigSuccess false or lastConfigTime unchanged)."""


class SuperviseError(ConfigReloaderError):
    """``run`` could not start or manage its child."""


# Where they are documented and imported from, and how pickle finds them again.
for _name in __all__:
    globals()[_name].__module__ = "config_reloader.errors"
del _name
