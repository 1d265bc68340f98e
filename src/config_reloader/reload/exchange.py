"""The reload client's requests without an event loop: one blocking request with its errors
translated into :mod:`config_reloader.errors`, and the reload ``POST`` itself.

:mod:`config_reloader.reload.http` runs the same :class:`Request` in a worker thread for the
engine (one implementation). This module imports neither :mod:`asyncio` nor :mod:`logging` nor
:mod:`http.client`, so a process can send its first reload before it loads the event loop.

Facts: Thanos' ``HTTPReloader`` sends a ``POST`` without a body and counts only status 200 as
success; Prometheus answers 403 (older releases 405) on ``/-/reload`` unless started with
``--web.enable-lifecycle``. Credentials from files are read at every attempt (a rotated file is
used at once) and are never part of an error message.
"""

from __future__ import annotations

from ..errors import ReloadError, ReloadRejected, ReloadTimeout, TargetNotFound
from ..logs import redact_url
from . import _require_positive_seconds
from .answer import ResponseError
from .client import TlsFailure
from .urls import split_credentials
from .wire import Exchange, Unreachable

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Mapping

    from .client import HttpClientConfig

__all__ = [
    "BODY_LIMIT",
    "BODY_SHOWN",
    "Request",
    "check_reload_answer",
    "client_headers",
    "post_reload",
    "reload_request",
]

BODY_LIMIT = 4096
"""Bytes read from the body of an answer that is only shown in a message."""
BODY_SHOWN = 200
"""Characters of such a body kept in a message."""
_STATUS_HINTS = {
    403: "; Prometheus needs --web.enable-lifecycle to serve /-/reload",
    404: "; nothing is served at this path: check the reload URL's path (Prometheus serves /-/reload "
    "under its --web.route-prefix, the operator's routePrefix)",
    405: "; POST is not allowed at this path: check the reload URL's path, or the Prometheus "
    "release needs --web.enable-lifecycle (older releases answer 405 without it)",
}
"""What a refused reload's status says to fix. Prometheus without ``--web.enable-lifecycle``
answers 403 "Lifecycle API is not enabled." (older releases 405); a path it does not serve, 404."""
_TIMEOUT_HINTS = {
    "reload": "; the target may still be loading a large config (raise --reload-timeout rather "
    "than retrying faster)"
}


def client_headers(url: str, client: HttpClientConfig | None) -> tuple[str, dict[str, str]]:
    """:func:`~config_reloader.reload.urls.split_credentials`, refusing credentials both in the
    URL and in ``client``.

    Returns:
        ``(url_without_credentials, headers)`` as ``split_credentials``.

    Raises:
        ValueError: as ``split_credentials``, or credentials given twice.
    """
    bare, headers = split_credentials(url)
    if headers and client is not None and client.has_credentials:
        raise ValueError(
            f"{redact_url(url)!r} holds credentials and credential files are given too: use one "
            "(the files: --reload-basic-auth-password-file or --reload-bearer-token-file)"
        )
    return bare, headers


class Request:
    """One request as the reload clients make it (a new connection, ``Connection: close``).

    Args:
        method, url, headers: the request; ``url`` without credentials (:func:`client_headers`).
        what: names the request in messages (``reload``, ``readiness``, ``runtime info``).
        target: the redacted URL, for messages.
        timeout: seconds for the whole request, connect to last body byte.
        limit: the most body bytes read; ``None``: no bound.
        client: TLS settings and credential files; ``None`` = defaults, no credentials.
    """

    def __init__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        *,
        what: str,
        target: str,
        timeout: float,
        limit: int | None,
        client: HttpClientConfig | None = None,
    ) -> None:
        self.what = what
        self.target = target
        self.timeout = timeout
        self.client = client
        self._exchange = Exchange(method, url, headers, timeout=timeout, limit=limit, client=client)

    def timed_out(self) -> ReloadTimeout:
        """The error for "no complete answer within ``timeout``" (also raised by callers that
        stop waiting themselves)."""
        return ReloadTimeout(
            f"{self.what} {self.target}: no answer within {self.timeout:g}s"
            + _TIMEOUT_HINTS.get(self.what, ""),
            target=self.target,
        )

    def send(self) -> tuple[int, str, bytes]:
        """Blocking: returns ``(status, reason, body)`` of the answer, whatever its status.

        ``client`` credentials are read here, at every attempt.

        Raises:
            ReloadTimeout: no complete answer within ``timeout`` seconds.
            TargetNotFound: connection refused or the host cannot be reached.
            ReloadError: a credential file cannot be read, the TLS handshake failed, or any other
                transport error (reset, malformed answer, ...).
        """
        what, target, ex = self.what, self.target, self._exchange
        if self.client is not None and self.client.has_credentials:
            try:
                ex.headers = {**ex.headers, **self.client.auth_headers()}
            except ReloadError as exc:
                raise ReloadError(f"{what} {target}: {exc}", target=target) from None
        try:
            return ex.run()
        except TimeoutError as exc:
            raise self.timed_out() from exc
        except TlsFailure as exc:
            raise ReloadError(f"{what} {target}: {exc}", target=target) from None
        except Unreachable as exc:
            cause = exc.cause
            why = (
                "connection refused"
                if isinstance(cause, ConnectionRefusedError)
                else f"cannot connect ({cause.strerror or cause})"
            )
            raise TargetNotFound(
                f"{what} {target}: {why}; is the target running and listening?", target=target
            ) from cause
        except ResponseError as exc:
            raise ReloadError(f"{what} {target}: invalid HTTP answer: {exc}", target=target) from exc
        except (OSError, ValueError) as exc:
            raise ReloadError(f"{what} {target}: {type(exc).__name__}: {exc}", target=target) from exc

    def abandon(self) -> None:
        """Make a :meth:`send` blocked in another thread return at once (thread-safe)."""
        self._exchange.abandon()


def check_reload_answer(target: str, status: int, reason: str, body: bytes) -> None:
    """Accept a reload answer: status exactly 200 (Thanos ``HTTPReloader``).

    Raises:
        ReloadRejected: any other status; ``.status`` and ``.body`` (its first
            :data:`BODY_SHOWN` characters). For 403 the message says Prometheus needs
            ``--web.enable-lifecycle``, for 404 to check the URL's path (route prefix), for 405
            either (:data:`_STATUS_HINTS`).
    """
    if status == 200:
        return
    text = body.decode("utf-8", "replace").strip()[:BODY_SHOWN]
    hint = _STATUS_HINTS.get(status, "")
    raise ReloadRejected(
        f"reload {target}: received non-200 response {status} {reason}".rstrip()
        + (f": {text}" if text else "")
        + hint,
        target=target,
        status=status,
        body=text,
    )


def reload_request(
    url: str, headers: Mapping[str, str], *, target: str, timeout: float, client: HttpClientConfig | None
) -> Request:
    """The reload ``POST`` to ``url`` (without credentials; ``headers`` from :func:`client_headers`)."""
    return Request(
        "POST", url, headers, what="reload", target=target, timeout=timeout, limit=BODY_LIMIT, client=client
    )


def post_reload(url: str, *, timeout: float, client: HttpClientConfig | None = None) -> None:
    """Blocking: ``POST`` to the reload URL once; what
    :meth:`config_reloader.reload.http.HttpReload.trigger` does, without an event loop.

    Args:
        url: the reload URL (``--reload-url``); may carry ``user:pass@`` for basic auth.
        timeout: seconds for the whole request (``--reload-timeout``).
        client: TLS settings and credential files; ``None`` = defaults, no credentials.

    Raises:
        ValueError: as :func:`client_headers` (a bad URL, credentials given twice), or ``timeout``
            is not positive.
        ReloadRejected: status != 200 (see :func:`check_reload_answer`).
        TargetNotFound: connection refused or the host cannot be reached.
        ReloadTimeout: no complete answer within ``timeout`` seconds.
        ReloadError: any other transport error (reset, malformed answer, ...).
    """
    _require_positive_seconds("timeout", timeout)
    bare, headers = client_headers(url, client)
    target = redact_url(url)
    request = reload_request(bare, headers, target=target, timeout=timeout, client=client)
    check_reload_answer(target, *request.send())
