"""The init container's one-shot render (``watch --watch-interval=0``), without the loop.

prometheus-operator runs the reloader image as an init container that must render the config
before Prometheus may start, under the reloader's default CPU limit of 10 millicores: every
millisecond of CPU spent here delays each Prometheus pod start by a tenth of a second. So this
path is synchronous and imports only what one render needs (:mod:`~config_reloader.reconcile.apply`,
:mod:`~config_reloader.render`, :mod:`~config_reloader.atomic`): no event loop, no metrics, no
HTTP client, no ``ssl``. The loop's own :meth:`~config_reloader.reconcile.loop.Reloader.render_once`
(``run`` before its child starts) reads and writes through the same
:class:`~config_reloader.reconcile.apply.Applier`.

Unlike the loop, the watched directories are not hashed: nothing is compared with the result.
"""

from __future__ import annotations

from config_reloader.errors import ConfigReloaderError
from config_reloader.reconcile.apply import Applier, error_fields, warn_about
from config_reloader.reconcile.options import expansion_env

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Mapping

    from config_reloader.logs import FieldLog
    from config_reloader.reconcile.options import ReloaderOptions
    from config_reloader.render import Rendered

__all__ = ["render_once", "run_once"]


def render_once(options: ReloaderOptions, env: Mapping[str, str] | None = None) -> Rendered | None:
    """Render the output of ``options`` once and write it atomically (only if its bytes changed).

    Args:
        options: what to render; ``watch_interval`` is not looked at.
        env: variables for ``$(VAR)`` (default: the process environment).

    Returns:
        The rendered output, or ``None`` when nothing is rendered (no output file and no
        validate command).

    Raises:
        RenderError / AtomicWriteError / OSError: nothing was written (the previous output, if
            any, is untouched).
    """
    applier = Applier(options, expansion_env(options, env), options.path_filter)
    rendered = applier.render(digest=False)  # nothing compares it: no hashlib (render.py)
    if rendered is not None:
        applier.write(rendered)
    return rendered


def run_once(options: ReloaderOptions, log: FieldLog) -> int:
    """:func:`render_once` for the CLI: logs what happened to ``log`` (a :class:`logging.Logger`,
    or the CLI's :class:`~config_reloader.logs.LineLog`); exit status 0, or 1 on error."""
    try:
        rendered = render_once(options)
    except (ConfigReloaderError, OSError) as exc:
        log.error("render failed (--watch-interval=0): exiting", extra=error_fields(exc))
        return 1
    if rendered is not None:
        warn_about(rendered, options, log)
    log.info("rendered once (--watch-interval=0): exiting", extra={"out": options.config_envsubst_file or ""})
    return 0
