"""Log formatting for the CLI: logfmt (default, like prometheus-config-reloader) or JSON.

Libraries log with ``logging.getLogger(__name__)``, a constant message and fields in ``extra=``
(stable keys such as ``cfg_path``, ``digest``, ``attempt``, ``method``, ``cpu``). Only the CLI
calls :func:`setup_logging`. Credentials in URLs must be removed with :func:`redact_url` before a
URL is logged or used as a label.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["LOG_FORMATS", "LOG_LEVELS", "redact_url", "setup_logging"]

LOG_FORMATS = ("logfmt", "json")
LOG_LEVELS = ("debug", "info", "warn", "error")

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}


def redact_url(url: str) -> str:
    """Return ``url`` with any ``user:password@`` replaced by ``***@`` (safe to log)."""
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


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        + f".{int(record.msecs):03d}Z",
        "level": {"WARNING": "warn", "CRITICAL": "error"}.get(record.levelname, record.levelname.lower()),
        "caller": record.name.removeprefix("config_reloader."),
        "msg": record.getMessage(),
    }
    for k, v in vars(record).items():
        if k not in _STANDARD and not k.startswith("_"):
            out[k] = v
    if record.exc_info and record.exc_info[1] is not None:
        out["err"] = str(record.exc_info[1])
    return out


def _logfmt_value(v: Any) -> str:
    s = v if isinstance(v, str) else json.dumps(v, default=str) if not isinstance(v, int | float) else str(v)
    if s == "" or any(c in s for c in ' ="\\\n\t'):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return s


class LogfmtFormatter(logging.Formatter):
    """``ts=... level=info caller=reconciler msg="reload triggered" key=value ...``"""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in _fields(record).items())


class JsonFormatter(logging.Formatter):
    """One JSON object per line with the same keys as logfmt."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), default=str)


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
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(LogfmtFormatter() if fmt == "logfmt" else JsonFormatter())
    logger = logging.getLogger("config_reloader")
    for h in list(logger.handlers):
        logger.removeHandler(h)
    logger.addHandler(handler)
    logger.setLevel(_LEVELS[level])
    logger.propagate = False
