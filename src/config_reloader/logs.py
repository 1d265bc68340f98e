"""Log formatting for the CLI: logfmt (default, like prometheus-config-reloader) or JSON.

Libraries log with ``logging.getLogger(__name__)``, a constant message and fields in ``extra=``
(stable keys such as ``cfg_path``, ``digest``, ``attempt``, ``method``, ``cpu``). Only the CLI
calls :func:`setup_logging`. Credentials and query values in URLs must be masked with
:func:`redact_url` before a URL is logged or used as a label.

Importing this module imports neither ``logging`` (~3-5 ms) nor ``json`` nor ``urllib``: they are
imported when a handler is installed or a URL is redacted, so that modules on the start-up path of
``config-reloader condition`` may use it (budget B1 in docs/design.md). The formatter classes are
built on first use and are also reachable as ``logs.LogfmtFormatter`` / ``logs.JsonFormatter``.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing/logging are not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    import logging
    from collections.abc import Iterable, Mapping
    from typing import IO, Any, Protocol
    from urllib.parse import SplitResult

    class FieldLog(Protocol):
        """What the one-shot render logs through: a :class:`logging.Logger` or a :class:`LineLog`
        (constant message, fields in ``extra``)."""

        def isEnabledFor(self, level: int) -> bool: ...
        def debug(self, msg: str, *, extra: Mapping[str, object] | None = None) -> None: ...
        def info(self, msg: str, *, extra: Mapping[str, object] | None = None) -> None: ...
        def warning(self, msg: str, *, extra: Mapping[str, object] | None = None) -> None: ...
        def error(self, msg: str, *, extra: Mapping[str, object] | None = None) -> None: ...


__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "REDACTED",
    "LineLog",
    "install_fallback_handler",
    "redact_text",
    "redact_url",
    "redact_values",
    "setup_logging",
]

REDACTED = "***"
# Values shorter than this are not masked: a 1-3 character value is no secret (it is guessed in
# moments), and masking it mangles what is readable. prometheus-operator sets SHARD=0: masking the
# standalone "0"s turned the reload URL http://127.0.0.1:9090/-/reload of every error into
# http://127.***.***.1:9090/-/reload.
_SHORT_VALUE = 4

LOG_FORMATS = ("logfmt", "json")
LOG_LEVELS = ("debug", "info", "warn", "error")

# logging.DEBUG, INFO, WARNING, ERROR (stable values, documented in the logging module); "none" is
# above CRITICAL (50): nothing passes, as go-kit's level.AllowNone() in prometheus-config-reloader.
_LEVELS = {"debug": 10, "info": 20, "warn": 30, "error": 40, "none": 100}


def redact_url(url: str) -> str:
    """Return ``url`` safe to log: credentials and query values masked, all else kept.

    * ``user:password@`` (or ``user@``) becomes ``***@``; the host and port are kept as written
      (IPv6 brackets, letter case, even an out-of-range port: this is called on rejected URLs too).
    * every query parameter value becomes ``***``, its name is kept: ``?token=s3cret&x=1`` ->
      ``?token=***&x=***``. An empty value stays empty and a bare name (``?debug``) is kept. Only
      ``&`` separates parameters, so with ``;`` (``?a=1;token=s``) everything after the first ``=``
      is one value and masked.
    * a fragment is kept, unless it holds ``name=value`` pairs (``#access_token=...``): those
      values are masked like the query's. The fragment is never sent, but it is still logged.
    * with no ``//authority`` at all (``:pw@host``, or ``user:pw@host`` whose ``user`` reads as
      a scheme: a URL missing its ``http://``), everything before the last ``@`` becomes ``***``.
    * a URL whose port is not a number while an ``@`` follows it (a password with an unescaped
      ``/``, ``?`` or ``#``: ``http://u:pa/ss@h/``) is not shown at all (``"<unparsable url>"``).

    A URL with none of these (``http://127.0.0.1:9090/-/reload``) is returned unchanged. Secrets
    in the path cannot be told apart from the path and are not masked.

    Returns:
        The redacted URL, or ``"<unparsable url>"`` when :func:`urllib.parse.urlsplit` rejects it
        (e.g. an unbalanced ``[`` in the host). Never raises.
    """
    if url.isascii() and not any(c in url for c in "@?#[]"):
        # Nothing to mask, and nothing urlsplit would reject (it refuses only unbalanced or bad
        # brackets and, in a non-ASCII host, what NFKC turns into a delimiter): the sidecar's
        # reload URL needs no urllib.parse (with ipaddress ~11 M instructions).
        return url
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    # Not parts.hostname/parts.port: they lower-case the host, drop IPv6 brackets, and .port
    # raises on an out-of-range port (argparse then printed the raw URL, password included).
    _userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at and parts.netloc and "@" in url.partition(parts.netloc)[2] and not _valid_port(parts):
        # ``http://user:pa/ss@host/``: an unescaped / ? or # in a password ends the authority
        # early, so the password looks like a port and its tail like the path, query or fragment.
        return "<unparsable url>"
    path = parts.path
    if not parts.netloc and "@" in path:
        # No ``//authority`` was recognised: no scheme, or ``user:pw@host`` read as scheme
        # ``user`` (a --reload-url missing its ``http://``). What stands before the last ``@``
        # of the path may be credentials.
        path = "***@" + path.rpartition("@")[2]
    netloc = f"***@{hostport}" if at else parts.netloc
    query = _mask_values(parts.query)
    fragment = _mask_values(parts.fragment) if "=" in parts.fragment else parts.fragment
    if netloc == parts.netloc and path == parts.path and query == parts.query and fragment == parts.fragment:
        return url
    if path != parts.path:
        scheme = f"{parts.scheme}:" if parts.scheme else ""
        return scheme + path + (f"?{query}" if query else "") + (f"#{fragment}" if fragment else "")
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def redact_values(text: str, values: Iterable[str]) -> str:
    """``text`` with every occurrence of each of ``values`` replaced by ``***``.

    For the ``$(VAR)`` values a render put into a candidate: a validator such as ``promtool``
    quotes the offending value in its complaint. Longer values are masked first (a value that
    contains another is masked whole). Each value is also masked in its JSON / Go ``%q`` escaped
    form (``"a\\"b"`` for ``a"b``), as a validator may print it quoted. Values of 0-3 characters
    are not masked (no secret, and ``SHARD=0`` would mask the zeros of every IP address).

    Never raises; with no non-empty value, returns ``text`` unchanged.
    """
    forms: set[str] = set()
    for value in values:
        if len(value) < _SHORT_VALUE:
            continue
        forms.add(value)
        import json

        escaped = json.dumps(value)[1:-1]
        if escaped != value:
            forms.add(escaped)
    if not forms or not text:
        return text
    import re

    alternatives = [re.escape(form) for form in sorted(forms, key=lambda v: (-len(v), v))]
    return re.sub("|".join(alternatives), REDACTED, text)


_TRAILING = ".,:;)]}"


def redact_text(text: str) -> str:
    """Every ``scheme://user:password@`` inside free text (an error message) -> ``scheme://***@``,
    and every http(s) URL in it through :func:`redact_url` (query values -> ``***``, names kept).

    :func:`redact_url` handles one URL; error texts from HTTP libraries may embed one anywhere.
    Punctuation that ends a sentence after a URL is kept out of it.
    """
    import re  # not at the top: this module stays import-free for `condition` (see above)

    def one(m: re.Match[str]) -> str:
        url = m.group(0)
        tail = len(url) - len(url.rstrip(_TRAILING))
        return redact_url(url[: len(url) - tail]) + url[len(url) - tail :]

    credentials = re.sub(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@", r"\1***@", text)
    return re.sub(r"(?i)\bhttps?://[^\s'\"<>]+", one, credentials)


def _valid_port(parts: SplitResult) -> bool:
    try:
        _ = parts.port
    except ValueError:  # not a number, or not 0-65535
        return False
    return True


def _mask_values(pairs: str) -> str:
    """``a=1&b=&c`` -> ``a=***&b=&c`` (names kept, non-empty values masked)."""
    if "=" not in pairs:
        return pairs
    out = []
    for item in pairs.split("&"):
        name, eq, value = item.partition("=")
        out.append(f"{name}=***" if eq and value else item)
    return "&".join(out)


_standard_attrs: set[str] = set()


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    if not _standard_attrs:  # attributes every LogRecord has; anything else came from ``extra=``
        import logging

        _standard_attrs.update(vars(logging.LogRecord("", 0, "", 0, "", (), None)))
        _standard_attrs.update({"message", "asctime", "taskName"})
    extra = {k: v for k, v in vars(record).items() if k not in _standard_attrs and not k.startswith("_")}
    if record.exc_info and record.exc_info[1] is not None:
        extra["err"] = str(record.exc_info[1])
    fields = (record.created, int(record.msecs), record.levelname, record.name, record.getMessage())
    return _line_fields(*fields, extra)


def _line_fields(
    created: float, msecs: int, levelname: str, name: str, msg: str, extra: Mapping[str, Any]
) -> dict[str, Any]:
    """The fields of one line, in order: ``ts``, ``level``, ``caller``, ``msg``, then ``extra``."""
    import time

    return {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{msecs:03d}Z",
        "level": {"WARNING": "warn", "CRITICAL": "error"}.get(levelname, levelname.lower()),
        "caller": name.removeprefix("config_reloader."),
        "msg": msg,
        **extra,
    }


def _line(fields: Mapping[str, Any], fmt: str) -> str:
    """One log line of ``fields`` in ``fmt`` (``"logfmt"`` or ``"json"``)."""
    if fmt == "json":
        import json  # here: logfmt (the default) need not load it

        return json.dumps(fields, default=str)
    return " ".join(f"{k}={_logfmt_value(v)}" for k, v in fields.items())


def _logfmt_value(v: Any) -> str:
    if isinstance(v, bool):  # before int: bool is an int; logfmt (and Go's) spelling is lower case
        return "true" if v else "false"
    if isinstance(v, str):
        s = v
    elif isinstance(v, int | float):
        s = str(v)
    else:
        # Only other values (lists, dicts, ...) need json: logfmt lines of strings and numbers,
        # such as the init container's, do not load it (~1 ms of CPU at start).
        import json

        s = json.dumps(v, default=str)
    if s == "" or any(c in s for c in ' ="\\\n\t'):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return s


_formatters: dict[str, type[logging.Formatter]] = {}


def _formatter_classes() -> dict[str, type[logging.Formatter]]:
    """``{"logfmt": LogfmtFormatter, "json": JsonFormatter}``, defined on first use."""
    if _formatters:
        return _formatters
    import logging

    class LogfmtFormatter(logging.Formatter):
        """``ts=... level=info caller=reconcile msg="reload triggered" key=value ...``"""

        def format(self, record: logging.LogRecord) -> str:
            return _line(_fields(record), "logfmt")

    class JsonFormatter(logging.Formatter):
        """One JSON object per line with the same keys as logfmt."""

        def format(self, record: logging.LogRecord) -> str:
            return _line(_fields(record), "json")

    for cls in (LogfmtFormatter, JsonFormatter):
        cls.__module__ = __name__
    _formatters.update(logfmt=LogfmtFormatter, json=JsonFormatter)
    return _formatters


def __getattr__(name: str) -> type[logging.Formatter]:
    """``LogfmtFormatter`` and ``JsonFormatter``, built on first access."""
    if name == "LogfmtFormatter":
        return _formatter_classes()["logfmt"]
    if name == "JsonFormatter":
        return _formatter_classes()["json"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _check(fmt: str, level: str) -> None:
    if fmt not in LOG_FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; choose one of {', '.join(LOG_FORMATS)}")
    if level not in _LEVELS:
        raise ValueError(f"unknown log level {level!r}; choose one of {', '.join(LOG_LEVELS)}")


def setup_logging(fmt: str = "logfmt", level: str = "info", stream: IO[str] | None = None) -> None:
    """Install one handler on the ``config_reloader`` logger.

    Args:
        fmt: ``"logfmt"`` or ``"json"`` (``--log-format``).
        level: ``"debug"``, ``"info"``, ``"warn"``, ``"error"`` or ``"none"`` (nothing at all)
            (``--log-level``).
        stream: where to write (default stderr; ``watch`` passes stdout, as
            prometheus-config-reloader logs every level to stdout).

    Raises:
        ValueError: unknown format or level.
    """
    _check(fmt, level)
    import logging

    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_formatter_classes()[fmt]())
    logger = logging.getLogger("config_reloader")
    for h in list(logger.handlers):
        logger.removeHandler(h)
    logger.addHandler(handler)
    logger.setLevel(_LEVELS[level])
    logger.propagate = False


class LineLog:
    """The lines :func:`setup_logging`'s handler writes, for a process that logs a few lines and
    exits without loading :mod:`logging` (with traceback, threading, string: ~5 ms of CPU of the
    init container's one-shot render). Same fields, same formatting code, same levels.

    Args:
        name: the logger name (``caller=`` is it without ``config_reloader.``).
        fmt, level, stream: as :func:`setup_logging` (``stream`` default: stderr).

    Raises:
        ValueError: unknown format or level.
    """

    def __init__(
        self, name: str, fmt: str = "logfmt", level: str = "info", stream: IO[str] | None = None
    ) -> None:
        _check(fmt, level)
        self.name = name
        self.fmt = fmt
        self.level = _LEVELS[level]
        self.stream = stream or sys.stderr

    def isEnabledFor(self, level: int) -> bool:
        return level >= self.level

    def _emit(self, level: int, levelname: str, msg: str, extra: Mapping[str, object] | None) -> None:
        if level < self.level:
            return
        import time

        created = time.time()
        msecs = int((created - int(created)) * 1000)  # as logging.LogRecord.msecs (Python 3.11)
        fields = _line_fields(created, msecs, levelname, self.name, msg, extra or {})
        self.stream.write(_line(fields, self.fmt) + "\n")
        self.stream.flush()

    def debug(self, msg: str, *, extra: Mapping[str, object] | None = None) -> None:
        self._emit(10, "DEBUG", msg, extra)

    def info(self, msg: str, *, extra: Mapping[str, object] | None = None) -> None:
        self._emit(20, "INFO", msg, extra)

    def warning(self, msg: str, *, extra: Mapping[str, object] | None = None) -> None:
        self._emit(30, "WARNING", msg, extra)

    def error(self, msg: str, *, extra: Mapping[str, object] | None = None) -> None:
        self._emit(40, "ERROR", msg, extra)


def install_fallback_handler() -> None:
    """Make warnings and errors of ``config_reloader`` readable when the application configured
    no logging (library use; the CLI calls :func:`setup_logging` instead).

    Python then prints only the message (``logging.lastResort``), and our messages are constant:
    the error itself is in a field (``err=``) and would be lost. The handler installed here
    writes such records to stderr in logfmt, fields included, and only while no other handler
    would see them: once the application installs a handler (even a ``NullHandler``) up the
    logger chain, it stays silent. Idempotent.
    """
    import logging

    logger = logging.getLogger("config_reloader")
    if not any(getattr(h, "_config_reloader_fallback", False) for h in logger.handlers):
        logger.addHandler(_fallback_handler())


def _fallback_handler() -> logging.Handler:
    import logging

    formatter = _formatter_classes()["logfmt"]()

    class FallbackHandler(logging.Handler):
        _config_reloader_fallback = True

        def __init__(self) -> None:
            super().__init__(logging.WARNING)

        def emit(self, record: logging.LogRecord) -> None:
            if self._handled_elsewhere(record):
                return
            try:
                sys.stderr.write(formatter.format(record) + "\n")
                sys.stderr.flush()
            except Exception:  # logging must never raise into the engine
                self.handleError(record)

        def _handled_elsewhere(self, record: logging.LogRecord) -> bool:
            """True if a handler other than this one is on the record's way (as Python's
            ``Logger.callHandlers`` walks it)."""
            logger: logging.Logger | None = logging.getLogger(record.name)
            while logger is not None:
                if any(h is not self for h in logger.handlers):
                    return True
                if not logger.propagate:
                    return False
                logger = logger.parent
            return False

    return FallbackHandler()
