"""Reload settings: :class:`ReloaderOptions`, the one carrier of what to watch, how to render and
how to reload, checked once when built (each error names the field)."""

from __future__ import annotations

import os

from config_reloader.durations import seconds_problem
from config_reloader.record import Record, record
from config_reloader.sizes import DEFAULT_MAX_CONFIG_SIZE
from config_reloader.watch.ignore import DEFAULT_IGNORE_GLOBS, PathFilter, compile_ignore

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from config_reloader.reload.client import HttpClientConfig
    from config_reloader.reload.retry import RetryPolicy

__all__ = [
    "DEFAULT_RELOAD_SIGNAL",
    "DEFAULT_RELOAD_URL",
    "DEFAULT_RUNTIMEINFO_URL",
    "PROCESS_MATCHES",
    "RELOAD_METHODS",
    "ReloaderOptions",
    "SettingError",
    "expansion_env",
    "glob_escape",
    "input_fields",
    "statefulset_ordinal",
]

DEFAULT_RELOAD_URL = "http://127.0.0.1:9090/-/reload"
"""prometheus-config-reloader's ``--reload-url`` default."""
DEFAULT_RUNTIMEINFO_URL = "http://127.0.0.1:9090/api/v1/status/runtimeinfo"
"""prometheus-config-reloader's ``--runtimeinfo-url`` default."""
RELOAD_METHODS = ("http", "signal", "command")
PROCESS_MATCHES = ("oldest", "all", "single")
"""``process_match`` values (:class:`config_reloader.reload.signal.ProcessName`)."""
DEFAULT_RELOAD_SIGNAL = 1
"""``reload_signal``'s default, ``signal.SIGHUP`` (1 in POSIX' ``kill -1``): a constant, so that
the settings of every run do not import :mod:`signal` (its enum conversion, with ``enum``,
costs ~1.2 ms of the init container's start-up)."""


class SettingError(ValueError):
    """A reload setting is invalid; raised by :class:`ReloaderOptions`.

    The message template names every setting it mentions as ``{field}``: ``str()`` spells them
    ``ReloaderOptions.field``; :meth:`describe` lets a caller spell them its own way (the CLI
    names its flags, from one table: :func:`config_reloader.cli.watch.flag_of`).

    Attributes:
        setting: the field that is wrong.
    """

    def __init__(self, setting: str, template: str, **values: object) -> None:
        self.setting = setting
        self.template = template
        self.values = values
        super().__init__(self.describe(lambda field: f"ReloaderOptions.{field}"))

    def describe(self, spell: Callable[[str], str]) -> str:
        """The message with each setting spelled by ``spell(field)``."""
        return self.template.format_map(_Spelled(spell, self.values))


class _Spelled(dict[str, object]):
    def __init__(self, spell: Callable[[str], str], values: dict[str, object]) -> None:
        super().__init__(values)
        self._spell = spell

    def __missing__(self, key: str) -> str:
        return self._spell(key)


def _check_duration(name: str, value: float, *, positive: bool = False) -> None:
    problem = seconds_problem(value, positive=positive)
    if problem is not None:
        raise SettingError(name, "{%s} {problem}" % name, problem=problem)  # noqa: UP031 - a template


@record  # not a dataclass: `import dataclasses` is ~7 ms of the init container's CPU (record.py)
class ReloaderOptions(Record):
    """What to watch, how to render, how to reload. Fields mirror the ``watch`` flags of
    prometheus-config-reloader (same names with ``_``; Go durations converted to float seconds).

    Paths are made absolute here. ``None`` means "disabled", never "default".

    Raises:
        SettingError: (a ``ValueError``) a negative/NaN/infinite duration, ``retry_interval`` or
            ``reload_timeout`` of 0, an unknown ``reload_method``, ``config_envsubst_file``
            without ``config_file`` or naming the same file, an empty ``validate_command``...;
            ``.setting`` is the field, and the message names it.
    """

    config_file: str | None = None
    """``--config-file``: the config file to watch (and render when ``config_envsubst_file`` is set)."""
    config_envsubst_file: str | None = None
    """``--config-envsubst-file``: output of gunzip + ``$(VAR)`` expansion, written atomically."""
    watched_dirs: tuple[str, ...] = ()
    """``--watched-dir`` (repeatable): directories watched non-recursively (rule files)."""
    watch_interval: float = 180.0
    """``--watch-interval`` seconds: full resync period; 0 = render once, no reload, return."""
    delay_interval: float = 1.0
    """``--delay-interval`` seconds: quiet period (trailing-edge debounce) before applying."""
    retry_interval: float = 5.0
    """``--retry-interval`` seconds: first delay between reload attempts (then backoff, capped)."""
    retry_max_interval: float = 60.0
    """Cap of the backoff between reload attempts in seconds (never below ``retry_interval``)."""
    reload_timeout: float = 30.0
    """``--reload-timeout`` seconds: bound of one reload attempt (HTTP request, signal+verify)."""
    reload_url: str = DEFAULT_RELOAD_URL
    """``--reload-url``: POSTed in ``http`` mode; success only on status 200."""
    extra_reload_urls: tuple[str, ...] = ()
    """More ``--reload-url`` targets (the flag given several times): a change is applied when
    every target answered 200; each target is retried on its own (:attr:`reload_urls`)."""
    reload_method: str = "http"
    """``--reload-method``: ``"http"`` (POST reload_url), ``"signal"`` (send reload_signal) or
    ``"command"`` (run ``reload_command``)."""
    reload_command: tuple[str, ...] | None = None
    """``--reload-command`` argv (``{}`` already replaced): run in ``command`` mode, success = exit 0."""
    http_client: HttpClientConfig | None = None
    """TLS settings and credential files of the reload and runtime-info clients
    (``--reload-tls-*``, ``--reload-basic-auth-*``, ``--reload-bearer-token-file``)."""
    process_executable_name: str = "prometheus"
    """``--process-executable-name``: signal mode target, matched against /proc/PID/comm."""
    process_match: str = "oldest"
    """``--process-match``: several processes with that name: ``"oldest"`` is signalled,
    ``"all"`` are, or ``"single"`` refuses (an error)."""
    pid_file: str | None = None
    """``--pid-file``: signal mode target read from this file (wins over the executable name)."""
    reload_signal: int = DEFAULT_RELOAD_SIGNAL
    """``--reload-signal``: signal number sent in signal mode (default SIGHUP)."""
    runtimeinfo_url: str | None = DEFAULT_RUNTIMEINFO_URL
    """``--runtimeinfo-url``: signal mode readiness gate and verification (Thanos tracker.go);
    ``None`` = no verification."""
    listen_address: str | None = None
    """``--listen-address``: ``host:port`` for /metrics /healthz /ready; ``None`` = off."""
    web_config_file: str | None = None
    """``--web-config-file``: exporter-toolkit web config (TLS, basic auth) for the status server;
    ``None`` = plain HTTP. Read when the server starts (:func:`config_reloader.webconfig.load_web_config`)."""
    statefulset_ordinal_from_envvar: str | None = "POD_NAME"
    """``--statefulset-ordinal-from-envvar``: the trailing digits of this env var are exposed to
    ``$(VAR)`` expansion as ``STATEFULSET_ORDINAL_NUMBER`` (prometheus-operator main.go)."""
    strict_env: bool = False
    """``--strict-env``: an unset ``$(VAR)`` is an error (default: left verbatim and counted, like
    prometheus-operator, which always tolerates)."""
    validate_command: tuple[str, ...] | None = None
    """``--validate-command`` argv; ``{}`` is replaced by the path of the rendered candidate."""
    max_config_size: int = DEFAULT_MAX_CONFIG_SIZE
    """``--max-config-size`` bytes: bound of the config file, of its gunzipped form and of the
    ``$(VAR)``-expanded output (:class:`~config_reloader.errors.ConfigTooLarge` beyond it)."""
    force_polling: bool = False
    """Poll instead of using inotify (also the automatic fallback when inotify limits are hit)."""
    poll_interval: float | None = None
    """Polling period in seconds for the poll fallback; ``None`` = the watcher's default."""
    watch_ignore: tuple[str, ...] = DEFAULT_IGNORE_GLOBS
    """``--watch-ignore``: base-name globs in the watched dirs that are not configuration
    (writers' temp files, editor backups and locks): no hint, not in the digest. Default
    :data:`~config_reloader.watch.ignore.DEFAULT_IGNORE_GLOBS`; ``()`` = Thanos' behaviour
    (every file counts). The config file itself is never ignored."""

    def __post_init__(self) -> None:
        for name in ("watch_interval", "delay_interval", "retry_max_interval"):
            _check_duration(name, getattr(self, name))
        for name in ("retry_interval", "reload_timeout"):
            _check_duration(name, getattr(self, name), positive=True)
        if self.poll_interval is not None:
            _check_duration("poll_interval", self.poll_interval, positive=True)
        if self.reload_method not in RELOAD_METHODS:
            raise SettingError(
                "reload_method",
                "{reload_method} must be one of {methods}, got {value!r}",
                methods=", ".join(RELOAD_METHODS),
                value=self.reload_method,
            )
        if self.config_envsubst_file and not self.config_file:
            raise SettingError(
                "config_envsubst_file", "{config_envsubst_file} needs {config_file} (the input to render)"
            )
        if (self.reload_method == "command") != (self.reload_command is not None):
            raise SettingError(
                "reload_command", "{reload_command} is given exactly when {reload_method} is 'command'"
            )
        if self.reload_command is not None:
            object.__setattr__(self, "reload_command", tuple(self.reload_command))
            if not self.reload_command:
                raise SettingError("reload_command", "{reload_command} must not be empty")
        if self.process_match not in PROCESS_MATCHES:
            raise SettingError(
                "process_match",
                "{process_match} must be one of {matches}, got {value!r}",
                matches=", ".join(PROCESS_MATCHES),
                value=self.process_match,
            )
        object.__setattr__(self, "extra_reload_urls", tuple(self.extra_reload_urls))
        if len(set(self.reload_urls)) != len(self.reload_urls):
            raise SettingError("extra_reload_urls", "{extra_reload_urls}: the same reload URL is given twice")
        if self.validate_command is not None and not self.validate_command:
            raise SettingError("validate_command", "{validate_command} must not be empty")
        if (
            isinstance(self.max_config_size, bool)
            or not isinstance(self.max_config_size, int)
            or self.max_config_size < 1
        ):
            raise SettingError(
                "max_config_size",
                "{max_config_size} must be a positive integer, got {value!r}",
                value=self.max_config_size,
            )
        if not isinstance(self.reload_signal, int) or not (
            self.reload_signal == DEFAULT_RELOAD_SIGNAL or 0 < self.reload_signal < _nsig()
        ):
            raise SettingError(
                "reload_signal",
                "{reload_signal} must be a signal number, got {value!r}",
                value=self.reload_signal,
            )
        # Paths are absolute after option parsing (docs/INTERFACES.md).
        for name in ("config_file", "config_envsubst_file", "pid_file", "web_config_file"):
            value = getattr(self, name)
            if value is not None:
                if not value:
                    raise SettingError(name, "{%s} must not be empty (use None)" % name)  # noqa: UP031
                object.__setattr__(self, name, os.path.abspath(value))
        if (
            self.config_file
            and self.config_envsubst_file
            and _same_file(self.config_file, self.config_envsubst_file)
        ):
            raise SettingError(
                "config_envsubst_file",
                "{config_file} {cfg!r} and {config_envsubst_file} {out!r} are the same file: the "
                "output would overwrite its template",
                cfg=self.config_file,
                out=self.config_envsubst_file,
            )
        dirs: list[str] = []
        for d in self.watched_dirs:
            if not d:
                raise SettingError("watched_dirs", "{watched_dirs} must not contain an empty path")
            a = os.path.abspath(d)
            if a not in dirs:
                dirs.append(a)
        object.__setattr__(self, "watched_dirs", tuple(dirs))
        if self.validate_command is not None:
            object.__setattr__(self, "validate_command", tuple(self.validate_command))
        if self.listen_address == "":
            object.__setattr__(self, "listen_address", None)
        object.__setattr__(self, "watch_ignore", tuple(self.watch_ignore))
        try:
            compile_ignore(self.watch_ignore)
        except ValueError as exc:
            raise SettingError("watch_ignore", "{watch_ignore}: {problem}", problem=str(exc)) from None

    @property
    def path_filter(self) -> PathFilter:
        """``watch_ignore`` compiled: ``(path) -> bool``, False = not configuration.

        Our own ``--validate-command`` candidates (``.<output name>.validate-*``, written next to
        the output) are always ignored, even with ``watch_ignore=()``: each apply writes one, and
        an output inside a watched dir would otherwise hint the next apply forever."""
        globs = self.watch_ignore
        if self.validate_command is not None and self.config_file is not None:
            name = os.path.basename(self.config_envsubst_file or self.config_file)
            globs = (*globs, f".{glob_escape(name)}.validate-*")
        return compile_ignore(globs)

    @property
    def reload_urls(self) -> tuple[str, ...]:
        """Every reload URL: ``reload_url`` first, then ``extra_reload_urls``."""
        return (self.reload_url, *self.extra_reload_urls)

    @property
    def reloads_enabled(self) -> bool:
        """False in init mode (``watch_interval == 0``): render once, never reload."""
        return self.watch_interval > 0

    @property
    def retry_policy(self) -> RetryPolicy:
        """Backoff between attempts: starts at ``retry_interval``, doubles, capped, 10% jitter."""
        from config_reloader.reload.retry import RetryPolicy

        return RetryPolicy(
            initial=self.retry_interval,
            maximum=max(self.retry_interval, self.retry_max_interval),
        )


def _same_file(a: str, b: str) -> bool:
    """The same file by real path (symlinks resolved), or by inode when both exist (hard links)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist (yet)
        return False


def _nsig() -> int:
    """One more than the highest signal number (``signal.NSIG``)."""
    import signal  # only for a --reload-signal other than the default (DEFAULT_RELOAD_SIGNAL)

    return signal.NSIG


def glob_escape(name: str) -> str:
    """``name`` as an fnmatch glob matching itself (``*``, ``?``, ``[`` each put in brackets)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def input_fields(options: ReloaderOptions) -> dict[str, str]:
    """The log fields naming what is watched, as prometheus-config-reloader's lines name them:
    ``cfg_in``, ``cfg_out`` and ``watched_dirs`` (comma-separated), ``""`` when unset."""
    return {
        "cfg_in": options.config_file or "",
        "cfg_out": options.config_envsubst_file or "",
        "watched_dirs": ",".join(options.watched_dirs),
    }


def expansion_env(options: ReloaderOptions, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables ``$(VAR)`` expands from: ``env`` (default: the process environment) plus
    ``STATEFULSET_ORDINAL_NUMBER`` when ``options.statefulset_ordinal_from_envvar`` is set."""
    base = dict(os.environ if env is None else env)
    if options.statefulset_ordinal_from_envvar:
        base["STATEFULSET_ORDINAL_NUMBER"] = statefulset_ordinal(
            base.get(options.statefulset_ordinal_from_envvar)
        )
    return base


def statefulset_ordinal(value: str | None) -> str:
    """Trailing digits of a StatefulSet pod name (``prometheus-k8s-1`` -> ``"1"``), else ``""``.

    Source: prometheus-operator cmd/prometheus-config-reloader/main.go
    (``--statefulset-ordinal-from-envvar``, exported as ``STATEFULSET_ORDINAL_NUMBER``).
    """
    if not value:
        return ""
    # The digits (str.isdecimal) before the end, or before a final "\n" (where the regular
    # expression ``(\d+)$`` this replaces matched too).
    end = len(value) - 1 if value.endswith("\n") else len(value)
    start = end
    while start > 0 and value[start - 1].isdecimal():
        start -= 1
    return value[start:end]
