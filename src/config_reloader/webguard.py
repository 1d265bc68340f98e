"""Apply a ``--web-config-file`` to the status server: TLS with certificate rotation, client
certificate SANs, basic auth (bcrypt), the rate limit and the extra headers.

Password checks are the expensive part: bcrypt at the usual cost 10-12 takes 60-250 ms of CPU per
check, by design, and anyone who can reach the port can ask for one. So they run on their own
worker thread (:class:`PasswordChecker`), never on the event loop nor on the worker threads that
read, render and reload, with a lowered CPU priority, and at most :data:`CHECK_BACKLOG` checks may
wait: beyond that a request is answered 429 at once, without hashing. A password that was right
is remembered (keyed by a SHA-256 of user and password, for as long as the user's hash stays the
same), so probes and scrapes that present it cost a hash lookup; a wrong one is remembered too (a
bounded set), so repeating it costs nothing either. ``/healthz`` with the right password and the
engine's reloads therefore stay fast under a flood of wrong passwords.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from config_reloader.httpserve import Request, Response
from config_reloader.webconfig import WebConfig, WebConfigError, build_server_context, load_web_config

if TYPE_CHECKING:
    import ssl
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["CHECK_BACKLOG", "PasswordChecker", "WebGuard"]

log = logging.getLogger(__name__)

CHECK_BACKLOG = 4
"""bcrypt checks allowed to wait behind the running one; more are answered 429 without hashing."""
REMEMBERED_FAILURES = 4096
REMEMBERED_SUCCESSES = 1024
_NICE_INCREMENT = 10

FileIdentity = tuple[int, int, int, int] | None


def _identity(path: str) -> FileIdentity:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


_dummy_hashes: dict[bytes, bytes] = {}


def _dummy(cost: bytes) -> bytes:
    """A bcrypt hash of a random password at ``cost`` (e.g. ``b"12"``): a user that does not
    exist costs as much time as a wrong password, so user names cannot be probed by timing."""
    import bcrypt

    hashed = _dummy_hashes.get(cost)
    if hashed is None:
        hashed = _dummy_hashes[cost] = bcrypt.hashpw(os.urandom(16), bcrypt.gensalt(int(cost)))
    return hashed


def _checkpw(password: bytes, hashed: bytes | None, dummy_cost: bytes) -> bool:
    """bcrypt check (runs on the checker's thread); ``hashed=None`` = unknown user: hash anyway."""
    import bcrypt

    try:
        return bool(bcrypt.checkpw(password, hashed or _dummy(dummy_cost))) and hashed is not None
    except ValueError:
        return False


def _lower_priority() -> None:
    # Linux nice values are per thread: only the bcrypt thread yields to the rest of the process
    # (and of its CPU quota). Raising one's own nice value needs no privilege.
    with contextlib.suppress(OSError, AttributeError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + _NICE_INCREMENT)


class PasswordChecker:
    """Runs bcrypt checks on one dedicated thread, with at most ``backlog`` waiting.

    Args:
        backlog: checks that may wait behind the running one.
    """

    def __init__(self, *, backlog: int = CHECK_BACKLOG) -> None:
        self._limit = 1 + backlog
        self._busy = 0  # submitted and not finished (touched on the loop's thread only)
        self._executor: ThreadPoolExecutor | None = None

    @property
    def busy(self) -> int:
        return self._busy

    async def check(self, password: bytes, hashed: bytes | None, *, dummy_cost: bytes = b"10") -> bool | None:
        """True/False: the password matches ``hashed`` (``None`` = unknown user: always False,
        after the same work). ``None``: too many checks waiting, nothing was hashed."""
        if self._busy >= self._limit:
            return None
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="config-reloader-bcrypt", initializer=_lower_priority
            )
        loop = asyncio.get_running_loop()
        self._busy += 1
        future = self._executor.submit(_checkpw, password, hashed, dummy_cost)

        def release(_: object) -> None:
            # Counted until the thread is done, even if the waiting request was cancelled.
            with contextlib.suppress(RuntimeError):  # loop closed at shutdown
                loop.call_soon_threadsafe(self._release)

        future.add_done_callback(release)
        return await asyncio.wrap_future(future)

    def _release(self) -> None:
        self._busy -= 1

    def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


class WebGuard:
    """Applies a :class:`~config_reloader.webconfig.WebConfig` to the status server, re-reading
    the file when it changes (users, headers, rate limit; a TLS policy change needs a restart)
    and the certificate files at each TLS handshake.

    Args:
        config: the config loaded at start (:func:`~config_reloader.webconfig.load_web_config`).
        clock: monotonic seconds (the rate limiter's clock).
        checker: where bcrypt runs (default: a :class:`PasswordChecker` of its own).
    """

    def __init__(
        self,
        config: WebConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        checker: PasswordChecker | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._config_id = _identity(config.path)
        self._failed_id: FileIdentity = None
        self._tls_ids = {f: _identity(f) for f in config.tls.files()} if config.tls else {}
        self._context: ssl.SSLContext | None = None
        self._ok: dict[tuple[str, bytes], bytes] = {}  # (user, sha256(password)) -> hash
        self._failed: OrderedDict[bytes, None] = OrderedDict()  # sha256(user NUL password)
        self._tokens = float(config.rate_burst)
        self._refilled = clock()
        self.checker = checker if checker is not None else PasswordChecker()

    def close(self) -> None:
        self.checker.close()

    # --- TLS ------------------------------------------------------------------------------------
    def server_context(self) -> ssl.SSLContext | None:
        """The context to give the server (``None`` = plain HTTP). Its SNI callback swaps in a
        fresh context when the certificate, key or CA files changed (rotation without restart).

        Raises:
            WebConfigError: the certificate, key or CA does not load.
        """
        outer = self.config.ssl_context()
        if outer is None:
            return None

        def on_hello(sslobj: Any, server_name: str | None, ctx: ssl.SSLContext) -> None:
            current = self._current_context()
            if current is not ctx:
                sslobj.context = current

        outer.sni_callback = on_hello
        self._context = outer
        return outer

    def _current_context(self) -> ssl.SSLContext:
        assert self._context is not None and self.config.tls is not None
        ids = {f: _identity(f) for f in self.config.tls.files()}
        if ids != self._tls_ids:
            self._tls_ids = ids
            try:
                fresh = build_server_context(self.config.tls, self.config.path)
            except WebConfigError as exc:
                log.error(
                    "reloading TLS certificate failed; serving the previous one", extra={"err": str(exc)}
                )
            else:
                log.info("TLS certificate reloaded", extra={"cfg_path": self.config.path})
                fresh.sni_callback = self._context.sni_callback
                self._context = fresh
        return self._context

    # --- per request ----------------------------------------------------------------------------
    def headers(self) -> Mapping[str, str]:
        """The extra response headers of the current config."""
        return self.config.headers

    async def check(self, request: Request) -> Response | None:
        """``None`` = let the request through; else the answer to send instead (429 rate limit or
        busy password checker, 403 client certificate SAN, 401 authentication)."""
        self._refresh()
        if not self._rate_ok():
            return Response.text(429, "Too Many Requests\n")
        if not self._sans_ok(request):
            return Response.text(403, "client certificate SAN not allowed\n")
        ok = await self._auth_ok(request)
        if ok is None:
            return Response.text(429, "Too Many Requests: password checks busy\n", **{"Retry-After": "1"})
        if not ok:
            return Response.text(401, "Unauthorized\n", **{"WWW-Authenticate": "Basic"})
        return None

    def _refresh(self) -> None:
        ident = _identity(self.config.path)
        if ident == self._config_id or ident == self._failed_id:
            return
        try:
            fresh = load_web_config(self.config.path)
        except WebConfigError as exc:
            self._failed_id = ident
            log.error(
                "web config changed but is invalid; keeping the previous settings", extra={"err": str(exc)}
            )
            return
        if fresh.tls != self.config.tls:
            log.warning(
                "web config: TLS policy changes take effect after a restart", extra={"cfg_path": fresh.path}
            )
            fresh = WebConfig(
                path=fresh.path,
                tls=self.config.tls,
                headers=fresh.headers,
                users=fresh.users,
                rate_interval=fresh.rate_interval,
                rate_burst=fresh.rate_burst,
            )
        self._config_id = ident
        self._failed_id = None
        if fresh.users != self.config.users:
            self._ok.clear()
            self._failed.clear()
        if (fresh.rate_interval, fresh.rate_burst) != (self.config.rate_interval, self.config.rate_burst):
            self._tokens = float(fresh.rate_burst)
            self._refilled = self._clock()
        self.config = fresh

    def _rate_ok(self) -> bool:
        cfg = self.config
        if cfg.rate_interval <= 0:
            return True
        now = self._clock()
        self._tokens = min(float(cfg.rate_burst), self._tokens + (now - self._refilled) / cfg.rate_interval)
        self._refilled = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def _sans_ok(self, request: Request) -> bool:
        tls = self.config.tls
        if tls is None or not tls.client_allowed_sans:
            return True
        cert = request.peer_certificate
        if not cert:
            return False
        sans = cert.get("subjectAltName", ())
        names = {str(value) for _kind, value in sans} if isinstance(sans, tuple) else set()
        return any(s in names for s in tls.client_allowed_sans)

    async def _auth_ok(self, request: Request) -> bool | None:
        users = self.config.users
        if not users:
            return True
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        if not sep:
            return False
        hashed = users.get(user)
        key = (user, hashlib.sha256(password.encode()).digest())
        cached = self._ok.get(key)
        if cached is not None and hashed is not None and hmac.compare_digest(cached, hashed):
            return True
        failure = hashlib.sha256(user.encode() + b"\0" + password.encode()).digest()
        if failure in self._failed:
            self._failed.move_to_end(failure)
            return False
        cost = _cost(hashed) if hashed is not None else _cost(next(iter(users.values())))
        ok = await self.checker.check(password.encode(), hashed, dummy_cost=cost)
        if ok is None:
            return None
        if users is not self.config.users:  # the config was re-read meanwhile: do not cache
            return ok
        if ok and hashed is not None:
            if len(self._ok) >= REMEMBERED_SUCCESSES:
                self._ok.clear()
            self._ok[key] = hashed
        elif not ok:
            self._failed[failure] = None
            if len(self._failed) > REMEMBERED_FAILURES:
                self._failed.popitem(last=False)
        return ok


def _cost(hashed: bytes) -> bytes:
    """The cost field of a ``$2b$12$...`` hash (``b"12"``); ``b"10"`` if unreadable."""
    cost = hashed[4:6]
    return cost if cost.isdigit() else b"10"
