"""Log formatting for the CLI: logfmt (default, like prometheus-config-reloader) or JSON.

Libraries log with ``logging.getLogger(__name__)``, a constant message and fields in ``extra=``
(stable keys such as ``cfg_path``, ``digest``, ``attempt``, ``method``, ``cpu``). Only the CLI
calls :func:`setup_logging`. Credentials in URLs must be removed with :func:`redact_url` before a
URL is logged or used as a label.

Importing this module imports neither ``logging`` (~3-5 ms) nor ``json`` nor ``urllib``: they are
imported when a handler is installed or a URL is redacted, so that modules on the start-up path of
``config-reloader condition`` may use it (issue 3). The formatter classes are built on first use and
are also reachable as ``logs.LogfmtFormatter`` / ``logs.JsonFormatter``.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing/logging are not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    import logging
    from typing import IO, Any

__all__ = ["LOG_FORMATS", "LOG_LEVELS", "redact_url", "setup_logging"]

LOG_FORMATS = ("logfmt", "json")
LOG_LEVELS = ("debug", "info", "warn", "error")

# logging.DEBUG, INFO, WARNING, ERROR (stable values, documented in the logging module)
_LEVELS = {"debug": 10, "info": 20, "warn": 30, "error": 40}


def redact_url(url: str) -> str:
    """Return ``url`` with any ``user:password@`` replaced by ``***@`` (safe to log)."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


_standard_attrs: set[str] = set()


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    import time

    if not _standard_attrs:  # attributes every LogRecord has; anything else came from ``extra=``
        import logging

        _standard_attrs.update(vars(logging.LogRecord("", 0, "", 0, "", (), None)))
        _standard_attrs.update({"message", "asctime", "taskName"})
    out: dict[str, Any] = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
        "level": {"WARNING": "warn", "CRITICAL": "error"}.get(record.levelname, record.levelname.lower()),
        "caller": record.name.removeprefix("config_reloader."),
        "msg": record.getMessage(),
    }
    for k, v in vars(record).items():
        if k not in _standard_attrs and not k.startswith("_"):
            out[k] = v
    if record.exc_info and record.exc_info[1] is not None:
        out["err"] = str(record.exc_info[1])
    return out


def _logfmt_value(v: Any) -> str:
    import json

    s = v if isinstance(v, str) else json.dumps(v, default=str) if not isinstance(v, int | float) else str(v)
    if s == "" or any(c in s for c in ' ="\\\n\t'):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return s


_formatters: dict[str, type[logging.Formatter]] = {}


def _formatter_classes() -> dict[str, type[logging.Formatter]]:
    """``{"logfmt": LogfmtFormatter, "json": JsonFormatter}``, defined on first use."""
    if _formatters:
        return _formatters
    import json
    import logging

    class LogfmtFormatter(logging.Formatter):
        """``ts=... level=info caller=reconciler msg="reload triggered" key=value ...``"""

        def format(self, record: logging.LogRecord) -> str:
            return " ".join(f"{k}={_logfmt_value(v)}" for k, v in _fields(record).items())

    class JsonFormatter(logging.Formatter):
        """One JSON object per line with the same keys as logfmt."""

        def format(self, record: logging.LogRecord) -> str:
            return json.dumps(_fields(record), default=str)

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


def setup_logging(fmt: str = "logfmt", level: str = "info", stream: IO[str] | None = None) -> None:
    """Install one handler on the ``config_reloader`` logger.

    Args:
        fmt: ``"logfmt"`` or ``"json"`` (``--log-format``).
        level: ``"debug"``, ``"info"``, ``"warn"`` or ``"error"`` (``--log-level``).
        stream: where to write (default stderr).

    Raises:
        ValueError: unknown format or level.
    """
    if fmt not in LOG_FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; choose one of {', '.join(LOG_FORMATS)}")
    if level not in _LEVELS:
        raise ValueError(f"unknown log level {level!r}; choose one of {', '.join(LOG_LEVELS)}")
    import logging

    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_formatter_classes()[fmt]())
    logger = logging.getLogger("config_reloader")
    for h in list(logger.handlers):
        logger.removeHandler(h)
    logger.addHandler(handler)
    logger.setLevel(_LEVELS[level])
    logger.propagate = False
