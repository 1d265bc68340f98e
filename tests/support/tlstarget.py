"""Real TLS for client tests: certificates made by the openssl CLI, and a reload target served over
HTTPS on 127.0.0.1 that checks basic auth or a bearer token and records every request.

``make_pki(dir)`` writes ``ca``, ``other-ca`` (self-signed CAs) and, signed by ``ca``: ``server``
(SAN ``IP:127.0.0.1, DNS:localhost``), ``named`` (SAN ``DNS:reload.test`` only) and ``client``
(a client certificate). Each as ``NAME.crt`` + ``NAME.key`` (EC P-256, 2 days).
"""

from __future__ import annotations

import base64
import http.server
import shutil
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import childproc

__all__ = ["Request", "TlsTarget", "have_openssl", "make_cert", "make_pki", "tls_target"]


def have_openssl() -> bool:
    return shutil.which("openssl") is not None


def _openssl(*args: str, cwd: Path) -> None:
    childproc.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_ca(d: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}",
             cwd=d)  # fmt: skip


def make_cert(d: Path, name: str, san: str, *, ca: str = "ca", client: bool = False) -> None:
    """``name.key``/``name.crt`` signed by ``ca`` with subjectAltName ``san``."""
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)  # fmt: skip
    ext = f"subjectAltName={san}\n"
    if client:
        ext += "extendedKeyUsage=clientAuth\n"
    (d / f"{name}.ext").write_text(ext)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext",
             cwd=d)  # fmt: skip


def make_pki(d: Path) -> Path:
    for ca in ("ca", "other-ca"):
        _make_ca(d, ca)
    make_cert(d, "server", "IP:127.0.0.1,DNS:localhost")
    make_cert(d, "named", "DNS:reload.test")
    make_cert(d, "client", "DNS:client.test", client=True)
    return d


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    authorization: str | None
    client_cert: bool
    ok: bool


@dataclass
class TlsTarget:
    """What the running target saw; ``expect`` is the Authorization value accepted (``None`` = any)."""

    port: int
    expect: str | None
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def accepted(self, method: str = "POST") -> int:
        with self.lock:
            return sum(1 for r in self.requests if r.method == method and r.ok)

    def set_basic(self, user: str, password: str) -> None:
        with self.lock:
            self.expect = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@contextmanager
def tls_target(
    cert: Path, key: Path, *, expect: str | None = None, client_ca: Path | None = None
) -> Iterator[TlsTarget]:
    """Serve ``POST /-/reload`` (200 when the Authorization header matches, else 401) and
    ``GET /api/v1/status/runtimeinfo`` over TLS on 127.0.0.1 in a thread. With ``client_ca``, a
    client certificate signed by it is required."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=str(client_ca))
    state = TlsTarget(port=0, expect=expect)
    reloads = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _record(self) -> Request:
            sock = self.connection
            has_cert = isinstance(sock, ssl.SSLSocket) and sock.getpeercert() not in (None, {})
            auth = self.headers.get("Authorization")
            with state.lock:
                r = Request(self.command, self.path, auth, has_cert, state.expect in (None, auth))
                state.requests.append(r)
            return r

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            r = self._record()
            if not r.ok:
                self._answer(401, b"Unauthorized\n")
                return
            reloads[0] += 1
            self._answer(200, b"")

        def do_GET(self) -> None:
            r = self._record()
            if not r.ok:
                self._answer(401, b"Unauthorized\n")
                return
            body = (
                '{"status":"success","data":{"reloadConfigSuccess":true,'
                f'"lastConfigTime":"2026-01-01T00:00:{reloads[0] % 60:02d}Z"}}}}'
            )
            self._answer(200, body.encode())

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self) -> tuple[object, object]:
            sock, addr = super().get_request()
            return ctx.wrap_socket(sock, server_side=True), addr

        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a refused handshake is what some tests want

    server = Server(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
