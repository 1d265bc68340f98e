"""The reload and runtime-info clients over real TLS (certificates from the openssl CLI, a TLS
target on 127.0.0.1) with credentials read from files at every attempt."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import childproc
import pytest

from config_reloader.errors import ReloadError
from config_reloader.reload.client import HttpClientConfig
from config_reloader.reload.http import HttpReload
from config_reloader.reload.runtimeinfo import fetch_runtimeinfo
from config_reloader.reload.verify import VerifiedReload, runtimeinfo_ready

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "support"))
from tlstarget import have_openssl, make_pki, tls_target

pytestmark = pytest.mark.skipif(not have_openssl(), reason="needs the openssl CLI")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield make_pki(tmp_path_factory.mktemp("pki"))


def write(path: Path, text: str) -> str:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return str(path)


async def test_loopback_https_is_not_verified_by_default(pki: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Prometheus served with a self-signed certificate on 127.0.0.1: the Go reloader never
    # verifies; we do not verify loopback hosts (and say so once).
    caplog.set_level(logging.INFO, logger="config_reloader")
    with tls_target(pki / "named.crt", pki / "named.key") as t:
        for host in ("127.0.0.1", "localhost"):
            await HttpReload(f"https://{host}:{t.port}/-/reload", timeout=10).trigger()
        assert t.accepted() == 2
    assert any("certificate not verified" in r.getMessage() for r in caplog.records)


async def test_verification_failure_names_the_flags(pki: Path) -> None:
    with tls_target(pki / "server.crt", pki / "server.key") as t:
        forced = HttpClientConfig(tls_insecure_skip_verify=False)  # verify a loopback host too
        with pytest.raises(ReloadError) as ei:
            await HttpReload(t.base + "/-/reload", timeout=10, client=forced).trigger()
        msg = str(ei.value)
        assert "certificate of 127.0.0.1 rejected" in msg
        for flag in ("--reload-tls-ca-file", "--reload-tls-server-name", "--reload-tls-insecure-skip-verify"):
            assert flag in msg
        wrong_ca = HttpClientConfig(tls_ca_file=str(pki / "other-ca.crt"))
        with pytest.raises(ReloadError, match="rejected"):
            await HttpReload(t.base + "/-/reload", timeout=10, client=wrong_ca).trigger()
        assert t.accepted() == 0
        await HttpReload(
            t.base + "/-/reload", timeout=10, client=HttpClientConfig(tls_ca_file=str(pki / "ca.crt"))
        ).trigger()
        assert t.accepted() == 1


async def test_server_name_is_the_name_checked(pki: Path) -> None:
    ca = str(pki / "ca.crt")
    with tls_target(pki / "named.crt", pki / "named.key") as t:
        with pytest.raises(ReloadError, match="--reload-tls-server-name") as ei:
            await HttpReload(
                t.base + "/-/reload", timeout=10, client=HttpClientConfig(tls_ca_file=ca)
            ).trigger()
        # OpenSSL's "...not valid for '127.0.0.1'." ends one sentence; no ".;" before the fix
        assert "valid for '127.0.0.1'; " in str(ei.value) and ".;" not in str(ei.value)
        named = HttpClientConfig(tls_ca_file=ca, tls_server_name="reload.test")
        await HttpReload(t.base + "/-/reload", timeout=10, client=named).trigger()
        assert t.accepted() == 1


async def test_client_certificate(pki: Path) -> None:
    with tls_target(pki / "server.crt", pki / "server.key", client_ca=pki / "ca.crt") as t:
        with pytest.raises(ReloadError):
            await HttpReload(t.base + "/-/reload", timeout=10).trigger()
        with_cert = HttpClientConfig(
            tls_cert_file=str(pki / "client.crt"), tls_key_file=str(pki / "client.key")
        )
        await HttpReload(t.base + "/-/reload", timeout=10, client=with_cert).trigger()
        assert t.accepted() == 1
        assert t.requests[-1].client_cert


async def test_basic_auth_password_file_reread_at_every_attempt(pki: Path, tmp_path: Path) -> None:
    pw = write(tmp_path / "password", "first-s3cret\n")  # the trailing newline is not the password's
    client = HttpClientConfig(basic_auth_username="reloader", basic_auth_password_file=pw)
    with tls_target(pki / "server.crt", pki / "server.key") as t:
        t.set_basic("reloader", "first-s3cret")
        action = HttpReload(t.base + "/-/reload", timeout=10, client=client)
        await action.trigger()
        # Rotation: the target moves first, the file follows; the attempt in between fails (401)
        # and the next one, after the file changed, succeeds without rebuilding anything.
        t.set_basic("reloader", "second-s3cret")
        with pytest.raises(ReloadError, match="401") as ei:
            await action.trigger()
        assert "s3cret" not in str(ei.value)
        write(tmp_path / "password", "second-s3cret")
        await action.trigger()
        assert t.accepted() == 2
        # A missing file fails the attempt (retried later), names the flag, sends nothing.
        os.unlink(pw)
        sent = len(t.requests)
        with pytest.raises(ReloadError, match=r"--reload-basic-auth-password-file .*cannot read"):
            await action.trigger()
        assert len(t.requests) == sent


async def test_bearer_token_file(pki: Path, tmp_path: Path) -> None:
    token = write(tmp_path / "token", "tok-123\n")
    with tls_target(pki / "server.crt", pki / "server.key", expect="Bearer tok-123") as t:
        await HttpReload(
            t.base + "/-/reload", timeout=10, client=HttpClientConfig(bearer_token_file=token)
        ).trigger()
        assert t.accepted() == 1


async def test_runtimeinfo_uses_the_same_tls_and_credentials(pki: Path, tmp_path: Path) -> None:
    pw = write(tmp_path / "password", "pw")
    client = HttpClientConfig(
        basic_auth_username="u", basic_auth_password_file=pw, tls_ca_file=str(pki / "ca.crt")
    )
    with tls_target(pki / "server.crt", pki / "server.key") as t:
        t.set_basic("u", "pw")
        info_url = t.base + "/api/v1/status/runtimeinfo"
        info = await fetch_runtimeinfo(info_url, timeout=10, client=client)
        assert info.reload_config_success
        with pytest.raises(ReloadError, match="401"):
            await fetch_runtimeinfo(info_url, timeout=10)  # no credentials: refused
        assert await runtimeinfo_ready(info_url, client=client)()
        verified = VerifiedReload(
            HttpReload(t.base + "/-/reload", timeout=10, client=client),
            runtimeinfo_url=info_url,
            timeout=10,
            client=client,
        )
        await verified.trigger()  # read, POST, confirmed by lastConfigTime moving
        assert t.accepted("POST") == 1
        assert t.accepted("GET") >= 3


def test_credentials_in_url_and_files_conflict(tmp_path: Path) -> None:
    pw = write(tmp_path / "password", "pw")
    client = HttpClientConfig(basic_auth_username="u", basic_auth_password_file=pw)
    with pytest.raises(ValueError, match="credentials") as ei:
        HttpReload("https://a:secret@127.0.0.1:1/-/reload", timeout=1, client=client)
    assert "secret" not in str(ei.value)


def test_plain_http_never_imports_the_tls_module() -> None:
    code = (
        "import asyncio, sys\n"
        "from config_reloader.reload.http import HttpReload\n"
        "from config_reloader.reload.client import HttpClientConfig\n"
        "a = HttpReload('http://127.0.0.1:1/-/reload', timeout=1, client=HttpClientConfig())\n"
        "try:\n    asyncio.run(a.trigger())\nexcept Exception:\n    pass\n"
        "print('config_reloader.reload.tls' in sys.modules)\n"
    )
    out = childproc.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def _loopback_hostname() -> str | None:
    """This machine's host name when it resolves to 127.0.0.1 (Debian's /etc/hosts does): a host
    that is not written as a loopback address or ``localhost``, whose traffic stays on loopback."""
    import socket

    name = socket.gethostname()
    try:
        addr = socket.gethostbyname(name)
    except OSError:
        return None
    return name if addr == "127.0.0.1" and name != "localhost" else None


@pytest.mark.skipif(_loopback_hostname() is None, reason="the host name does not resolve to 127.0.0.1")
async def test_a_host_name_is_verified_by_default(pki: Path) -> None:
    host = _loopback_hostname()
    with tls_target(pki / "server.crt", pki / "server.key") as t:
        url = f"https://{host}:{t.port}/-/reload"
        with pytest.raises(ReloadError, match="--reload-tls-ca-file"):
            await HttpReload(url, timeout=10).trigger()  # unknown CA: refused without any flag
        assert t.accepted() == 0
        ok = HttpClientConfig(tls_ca_file=str(pki / "ca.crt"), tls_server_name="localhost")
        await HttpReload(url, timeout=10, client=ok).trigger()
        assert t.accepted() == 1
