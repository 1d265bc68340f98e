"""--web-config-file on the status server: real TLS (certificates made by the openssl CLI), real
HTTP clients, bcrypt hashes; plus the CLI end to end over https."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import bcrypt
import childproc
import pytest

from config_reloader.atomic import atomic_write
from config_reloader.metrics import StatusServer
from config_reloader.promtext import Registry as CollectorRegistry
from config_reloader.testing import RecordingEndpoint, atomic_replace
from config_reloader.webconfig import load_web_config

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


def _openssl(*args: str, cwd: Path) -> None:
    childproc.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_cert(d: Path, name: str, san: str, *, ca: str = "ca") -> None:
    """``name.key``/``name.crt`` signed by ``ca`` (EC P-256, 2 days, subjectAltName ``san``)."""
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)  # fmt: skip
    (d / f"{name}.ext").write_text(f"subjectAltName={san}\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.crt", "-days", "2",
             "-extfile", f"{name}.ext", cwd=d)  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    d = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", f"{ca}.key", "-out", f"{ca}.crt", "-days", "2",
                 "-subj", f"/CN={ca}", cwd=d)  # fmt: skip
    make_cert(d, "server", "IP:127.0.0.1,DNS:localhost")
    make_cert(d, "server2", "IP:127.0.0.1,DNS:localhost")
    make_cert(d, "alice", "DNS:alice.example")
    make_cert(d, "mallory", "DNS:mallory.example")
    yield d


def hash_pw(pw: str) -> str:
    return bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$", 1)  # htpasswd style


def auth(user: str, pw: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}


def client_ctx(pki: Path, cert: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if cert is not None:
        ctx.load_cert_chain(str(pki / f"{cert}.crt"), str(pki / f"{cert}.key"))
    return ctx


async def serve(web_config: Path) -> StatusServer:
    server = StatusServer(
        "127.0.0.1:0", CollectorRegistry(), ready=lambda: True, web_config=load_web_config(str(web_config))
    )
    await server.start()
    return server


async def test_tls_basic_auth_headers(tmp_path: Path, pki: Path) -> None:
    web = tmp_path / "web.yml"
    shutil.copy(pki / "server.crt", tmp_path / "server.crt")
    shutil.copy(pki / "server.key", tmp_path / "server.key")
    web.write_text(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"  # relative to web.yml
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    x-content-type-options: nosniff\n"
        f"basic_auth_users:\n  alice: {hash_pw('wonderland')}\n"
    )
    server = await serve(web)
    base = f"https://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ctx(pki))) as s:
            async with s.get(base + "/healthz") as r:
                assert r.status == 401 and r.headers["WWW-Authenticate"] == "Basic"
            for user, pw in (("alice", "wrong"), ("bob", "wonderland"), ("alice", "")):
                async with s.get(base + "/healthz", headers=auth(user, pw)) as r:
                    assert r.status == 401, (user, pw)
            for _ in range(2):  # the second answer comes from the cache of verified passwords
                async with s.get(base + "/healthz", headers=auth("alice", "wonderland")) as r:
                    assert r.status == 200 and await r.json() == {"status": "up"}
                    assert r.headers["X-Frame-Options"] == "deny"
                    assert r.headers["X-Content-Type-Options"] == "nosniff"
            async with s.get(base + "/metrics", headers=auth("alice", "wonderland")) as r:
                assert r.status == 200
        async with aiohttp.ClientSession() as s:  # plain HTTP to the TLS port: no answer
            with pytest.raises(aiohttp.ClientError):
                async with s.get(f"http://127.0.0.1:{server.port}/healthz") as r:
                    await r.read()
        # users are re-read from the file at the next request
        atomic_write(str(web), web.read_bytes().replace(b"alice:", b"carol:"))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ctx(pki))) as s:
            async with s.get(base + "/healthz", headers=auth("carol", "wonderland")) as r:
                assert r.status == 200
            async with s.get(base + "/healthz", headers=auth("alice", "wonderland")) as r:
                assert r.status == 401
    finally:
        await server.stop()


async def test_client_certificates_and_allowed_sans(tmp_path: Path, pki: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: {pki / 'server.crt'}\n  key_file: {pki / 'server.key'}\n"
        f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {pki / 'ca.crt'}\n"
        "  client_allowed_sans: [alice.example]\n"
    )
    server = await serve(web)
    url = f"https://127.0.0.1:{server.port}/healthz"
    try:
        for cert, status in (("alice", 200), ("mallory", 403)):  # mallory: verified, SAN not allowed
            connector = aiohttp.TCPConnector(ssl=client_ctx(pki, cert))
            async with aiohttp.ClientSession(connector=connector) as s, s.get(url) as r:
                assert r.status == status, cert
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ctx(pki))) as s:
            with pytest.raises(aiohttp.ClientError):  # no client certificate: handshake refused
                async with s.get(url) as r:
                    await r.read()
    finally:
        await server.stop()


async def test_rotated_certificate_is_served_without_restart(tmp_path: Path, pki: Path) -> None:
    crt, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    atomic_write(str(crt), (pki / "server.crt").read_bytes())
    atomic_write(str(key), (pki / "server.key").read_bytes())
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {crt}\n  key_file: {key}\n")
    server = await serve(web)

    async def served_cn() -> str:
        """CN of the certificate a new connection is served (verified against the CA)."""
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=client_ctx(pki))
        try:
            cert = writer.get_extra_info("peercert")
        finally:
            writer.close()
            await writer.wait_closed()
        return str(dict(x[0] for x in cert["subject"])["commonName"])

    try:
        assert await served_cn() == "server"
        atomic_write(str(key), (pki / "server2.key").read_bytes())  # cert-manager style rotation
        atomic_write(str(crt), (pki / "server2.crt").read_bytes())
        assert await served_cn() == "server2"
    finally:
        await server.stop()


async def test_rate_limit_answers_429(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text("rate_limit:\n  interval: 1h\n  burst: 2\n")
    server = await serve(web)
    try:
        async with aiohttp.ClientSession() as s:
            statuses = []
            for _ in range(3):
                async with s.get(f"http://127.0.0.1:{server.port}/healthz") as r:
                    statuses.append(r.status)
        assert statuses == [200, 200, 429]
    finally:
        await server.stop()


async def test_cli_serves_https_with_basic_auth(tmp_path: Path, pki: Path) -> None:
    import json

    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"v1")
    web = tmp_path / "web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: {pki / 'server.crt'}\n  key_file: {pki / 'server.key'}\n"
        f"basic_auth_users:\n  prom: {hash_pw('scrape')}\n"
    )
    async with RecordingEndpoint([str(cfg)]) as ep:
        proc = await childproc.exec_async(
            sys.executable, "-m", "config_reloader", "watch", f"--config-file={cfg}",
            f"--reload-url={ep.reload_url}", "--log-format=json", "--listen-address=127.0.0.1:0",
            f"--web-config-file={web}", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert proc.stdout is not None
        try:
            async with asyncio.timeout(30):
                while True:
                    line = await proc.stdout.readline()
                    assert line
                    if b"status server listening" in line:
                        fields = json.loads(line)
                        break
            assert fields["tls"] is True
            url = f"https://127.0.0.1:{fields['port']}/metrics"
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ctx(pki))) as s:
                async with s.get(url) as r:
                    assert r.status == 401
                async with s.get(url, headers=auth("prom", "scrape")) as r:
                    assert r.status == 200 and "reloader_reloads_total" in await r.text()
        finally:
            proc.terminate()
            async with asyncio.timeout(10):
                await proc.wait()
        assert proc.returncode == 0


async def test_cli_refuses_a_broken_web_config_at_start(tmp_path: Path) -> None:
    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"v1")
    web = tmp_path / "web.yml"
    web.write_text("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n")
    proc = await childproc.exec_async(
        sys.executable, "-m", "config_reloader", "watch", f"--config-file={cfg}", f"--web-config-file={web}",
        stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    async with asyncio.timeout(30):
        _, err = await proc.communicate()
    assert proc.returncode == 2
    assert b"web config" in err and b"certificate" in err and os.fspath(web).encode() in err
